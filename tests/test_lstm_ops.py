"""BlockLSTM, TensorFlow's fused LSTM over a sequence, and dynamic_rnn's use of it for LSTM
cells: the same outputs, final states and gradients as the loop over time (which every other
cell and case keeps), TensorFlow's variable names, the op's errors; live, TensorFlow runs our
graphs holding the op and its gradient, and its own BlockLSTM gives our values."""

import numpy as np
import pytest
from tf_live import requires_tensorflow, run_tf

import tensorslow as ts
from tensorslow.ops import lstm_ops

rnn_cell = ts.nn.rnn_cell
BATCH, STEPS, DEPTH, UNITS = 3, 6, 4, 5


def _op_types(graph) -> set:
    return {op.type for op in graph.get_operations()}


def _weights(rng, names_and_shapes) -> dict:
    return {name: (rng.randn(*shape) * 0.4).astype(np.float32)
            for name, shape in names_and_shapes}


def _flat(structure) -> list:
    if isinstance(structure, (tuple, list)):
        return [t for part in structure for t in _flat(part)]
    return [structure]


def _tanh(x):
    return ts.tanh(x)  # the same math as the default activation, which BlockLSTM cannot see


def _run_rnn(make_cell, xs, weights=None, *, loop=False, time_major=False, initial=None,
             lengths=None):
    """dynamic_rnn of make_cell() over xs (float32): op types, variable names, and the values
    of the outputs, final state, a loss and its gradients (inputs, initial state, variables).
    `loop` gives the cell an activation of its own (tanh, as the default), which keeps the
    loop over time."""
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, xs.shape, name="x")
        cell = make_cell(activation=_tanh) if loop else make_cell()
        state0 = None
        if initial is not None:
            parts = [ts.constant(v) for v in initial]
            if isinstance(cell, rnn_cell.MultiRNNCell):
                batch = initial[0].shape[0]
                parts += [ts.constant(np.full((batch, 3), 0.25, np.float32))] * 2
                state0 = (rnn_cell.LSTMStateTuple(*parts[:2]),
                          rnn_cell.LSTMStateTuple(*parts[2:]))
            else:
                state0 = rnn_cell.LSTMStateTuple(*parts) if cell._state_is_tuple else \
                    ts.concat(parts, 1)
        outputs, state = ts.nn.dynamic_rnn(cell, x, sequence_length=lengths,
                                           initial_state=state0, dtype=ts.float32,
                                           time_major=time_major)
        flat_state = _flat(state)
        loss = ts.reduce_sum(ts.sin(outputs)) + sum(ts.reduce_sum(s * s) for s in flat_state)
        variables = ts.trainable_variables()
        wrt = [x] + (list(parts) if initial is not None else []) + variables
        grads = ts.gradients(loss, wrt)
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            for v in variables:
                if weights is not None:
                    v.load(weights[v.op.name], sess)
            names = [v.op.name for v in variables]
            values = sess.run([outputs, *flat_state, loss, *grads], {x: xs})
            current = dict(zip(names, sess.run(variables)))
    return _op_types(g), names, values, current


CELLS = {
    "basic": lambda **kw: rnn_cell.BasicLSTMCell(UNITS, **kw),
    "lstm": lambda **kw: rnn_cell.LSTMCell(UNITS, **kw),
    "peepholes_forget_bias": lambda **kw: rnn_cell.LSTMCell(UNITS, use_peepholes=True,
                                                            forget_bias=0.5, **kw),
    "state_not_tuple": lambda **kw: rnn_cell.LSTMCell(UNITS, state_is_tuple=False, **kw),
    "stacked": lambda **kw: rnn_cell.MultiRNNCell([rnn_cell.LSTMCell(UNITS, **kw),
                                                   rnn_cell.BasicLSTMCell(3, **kw)]),
}


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_dynamic_rnn_over_an_lstm_cell_is_one_block_lstm_with_the_loops_values(cell,
                                                                              time_major):
    rng = np.random.RandomState(1)
    shape = (STEPS, BATCH, DEPTH) if time_major else (BATCH, STEPS, DEPTH)
    xs = rng.randn(*shape).astype(np.float32)
    initial = [rng.randn(BATCH, UNITS).astype(np.float32) for _ in range(2)]
    types, names, fused, weights = _run_rnn(CELLS[cell], xs, time_major=time_major,
                                            initial=initial)
    assert "BlockLSTM" in types and "BlockLSTMGrad" in types and "While" not in types
    weights = {k: (rng.randn(*v.shape) * 0.4).astype(np.float32) for k, v in weights.items()}
    _, _, fused, _ = _run_rnn(CELLS[cell], xs, weights, time_major=time_major, initial=initial)
    loop_types, loop_names, looped, _ = _run_rnn(CELLS[cell], xs, weights, loop=True,
                                                 time_major=time_major, initial=initial)
    assert "While" in loop_types and "BlockLSTM" not in loop_types
    assert names == loop_names  # the same variables, by TensorFlow's names
    scope = {"basic": "rnn/basic_lstm_cell", "stacked": "rnn/multi_rnn_cell/cell_0/lstm_cell"
             }.get(cell, "rnn/lstm_cell")
    assert names[:2] == [f"{scope}/kernel", f"{scope}/bias"]
    assert len(fused) == len(looped)
    for k, (a, b) in enumerate(zip(fused, looped)):
        assert a.shape == b.shape, k
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5, err_msg=f"value {k}")


@pytest.mark.parametrize("cell", ["lstm", "state_not_tuple", "stacked"])
def test_with_sequence_lengths_block_lstm_gives_the_loops_values(cell):
    # Rows past their length output zeros and keep the state of their last step (a length
    # of 0 keeps the initial state; one past the sequence, the last step's).
    rng = np.random.RandomState(5)
    xs = rng.randn(5, STEPS, DEPTH).astype(np.float32)
    initial = [rng.randn(5, UNITS).astype(np.float32) for _ in range(2)]
    lengths = [STEPS, 3, 0, 1, STEPS + 2]
    types, _, _, weights = _run_rnn(CELLS[cell], xs, initial=initial, lengths=lengths)
    assert "BlockLSTM" in types and "While" not in types
    weights = {k: (rng.randn(*v.shape) * 0.4).astype(np.float32) for k, v in weights.items()}
    _, _, fused, _ = _run_rnn(CELLS[cell], xs, weights, initial=initial, lengths=lengths)
    loop_types, _, looped, _ = _run_rnn(CELLS[cell], xs, weights, loop=True, initial=initial,
                                        lengths=lengths)
    assert "While" in loop_types
    for k, (a, b) in enumerate(zip(fused, looped, strict=True)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5, err_msg=f"value {k}")
    assert not fused[0][1, 3:].any() and not fused[0][2].any()
    # All rows shorter than the sequence: the op runs only up to the longest.
    _, _, short, _ = _run_rnn(CELLS[cell], xs, weights, initial=initial, lengths=[2, 1, 0, 2, 1])
    _, _, short_loop, _ = _run_rnn(CELLS[cell], xs, weights, loop=True, initial=initial,
                                   lengths=[2, 1, 0, 2, 1])
    for k, (a, b) in enumerate(zip(short, short_loop, strict=True)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5, err_msg=f"short value {k}")


def test_lstm_cells_block_lstm_cannot_compute_keep_the_loop():
    rng = np.random.RandomState(2)
    xs = rng.randn(BATCH, STEPS, DEPTH).astype(np.float32)
    for make in (lambda: rnn_cell.LSTMCell(UNITS, cell_clip=0.5),
                 lambda: rnn_cell.LSTMCell(UNITS, num_proj=3),
                 lambda: rnn_cell.LSTMCell(UNITS, activation=ts.nn.relu),
                 lambda: rnn_cell.LSTMCell(UNITS, activation=_tanh),
                 lambda: rnn_cell.MultiRNNCell([rnn_cell.LSTMCell(UNITS),
                                                rnn_cell.GRUCell(UNITS)]),
                 lambda: rnn_cell.GRUCell(UNITS)):
        types, *_ = _run_rnn(make, xs)
        assert "While" in types and "BlockLSTM" not in types
    for dtype, shape in ((ts.float64, [BATCH, STEPS, DEPTH]), (ts.float32, [BATCH, None, DEPTH])):
        g = ts.Graph()
        with g.as_default():
            x = ts.placeholder(dtype, shape)
            ts.nn.dynamic_rnn(rnn_cell.LSTMCell(UNITS), x, dtype=dtype)
        assert "While" in _op_types(g) and "BlockLSTM" not in _op_types(g), (dtype, shape)


def _lstm_reference(xs, w, b, forget_bias=1.0):
    """The LSTM by hand in float64 over time-major xs, from zero state: (cs, h) per step."""
    steps, batch, _ = xs.shape
    units = b.shape[0] // 4
    c, h = np.zeros((batch, units)), np.zeros((batch, units))
    cs, hs = [], []
    for t in range(steps):
        i, j, f, o = np.split(np.concatenate([xs[t], h], 1) @ w + b, 4, axis=1)
        c = c / (1 + np.exp(-(f + forget_bias))) + np.tanh(j) / (1 + np.exp(-i))
        h = np.tanh(c) / (1 + np.exp(-o))
        cs.append(c)
        hs.append(h)
    return np.stack(cs), np.stack(hs)


def test_block_lstm_against_numpy_and_past_seq_len_max():
    rng = np.random.RandomState(3)
    xs = rng.randn(STEPS, BATCH, DEPTH).astype(np.float32)
    w = (rng.randn(DEPTH + UNITS, 4 * UNITS) * 0.4).astype(np.float32)
    b = (rng.randn(4 * UNITS) * 0.4).astype(np.float32)
    zeros = np.zeros((BATCH, UNITS), np.float32)
    peep = np.zeros(UNITS, np.float32)
    with ts.Graph().as_default():
        n = ts.placeholder(ts.int64, [])
        x = ts.constant(xs)
        out = lstm_ops.block_lstm(n, x, zeros, zeros, ts.constant(w), peep, peep, peep,
                                  ts.constant(b), forget_bias=0.7)
        assert [t.shape.as_list() for t in out] == [[STEPS, BATCH, UNITS]] * 7
        cs, h = out[1], out[6]
        grads = ts.gradients(ts.reduce_sum(h), [x])
        with ts.Session() as sess:
            got_cs, got_h, dx = sess.run([cs, h, grads[0]], {n: 4})
            full = sess.run(h, {n: STEPS})
    want_cs, want_h = _lstm_reference(xs.astype(np.float64), w, b, forget_bias=0.7)
    np.testing.assert_allclose(full, want_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_cs[:4], want_cs[:4], rtol=1e-5, atol=1e-6)
    assert not got_h[4:].any() and not got_cs[4:].any()  # past seq_len_max: zeros
    assert not dx[4:].any() and dx[:4].any()   # and no gradient flows from there


def test_block_lstm_errors():
    f32 = np.float32
    zeros = np.zeros((BATCH, UNITS), f32)
    peep = np.zeros(UNITS, f32)
    x = np.zeros((STEPS, BATCH, DEPTH), f32)
    w = np.zeros((DEPTH + UNITS, 4 * UNITS), f32)
    b = np.zeros(4 * UNITS, f32)
    with ts.Graph().as_default():
        n = ts.placeholder(ts.int64, [])
        wp = ts.placeholder(ts.float32, [None, None])
        h = lstm_ops.block_lstm(n, x, zeros, zeros, wp, peep, peep, peep, b, name="cell")[6]
        with ts.Session() as sess:
            with pytest.raises(ts.errors.InvalidArgumentError, match=r"seq_len_max.*\[0, 6\]"):
                sess.run(h, {n: STEPS + 1, wp: w})
            with pytest.raises(ts.errors.InvalidArgumentError, match="seq_len_max"):
                sess.run(h, {n: -1, wp: w})
            with pytest.raises(ts.errors.InvalidArgumentError,
                               match=r"w must be of shape \[9, 20\].*\[8, 20\](.|\n)*cell"):
                sess.run(h, {n: STEPS, wp: w[1:]})
            assert sess.run(h, {n: STEPS, wp: w}).shape == (STEPS, BATCH, UNITS)
        xp = ts.placeholder(ts.float32)
        h = lstm_ops.block_lstm(n, xp, zeros, zeros, w, peep, peep, peep, b)[6]
        with ts.Session() as sess, pytest.raises(ts.errors.InvalidArgumentError,
                                                 match=r"x must be rank 3.*\[3, 4\]"):
            sess.run(h, {n: 1, xp: x[0]})
        with pytest.raises(TypeError, match="allowed values: half, float"):
            d = np.float64
            lstm_ops.block_lstm(n, x.astype(d), zeros.astype(d), zeros.astype(d), w.astype(d),
                                peep.astype(d), peep.astype(d), peep.astype(d), b.astype(d))
        with pytest.raises(TypeError, match="'cs_prev'.*float64.*float32"):
            lstm_ops.block_lstm(n, x, ts.constant(zeros, ts.float64), zeros, w, peep, peep, peep,
                                b)
        with pytest.raises(ValueError, match="rank 3 but is rank 2.*'x'"):
            lstm_ops.block_lstm(n, x[0], zeros, zeros, w, peep, peep, peep, b)


@requires_tensorflow
def test_tensorflow_runs_our_block_lstm_graphs_and_its_own_gives_our_values(tmp_path):
    # Our dynamic_rnn (BlockLSTM) and its gradient (BlockLSTMGrad), frozen, run in TensorFlow;
    # TensorFlow's own BlockLSTM and tf.gradients on it give the same numbers.
    rng = np.random.RandomState(4)
    xs = rng.randn(BATCH, STEPS, DEPTH).astype(np.float32)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, xs.shape, name="x")
        cell = rnn_cell.LSTMCell(UNITS, use_peepholes=True, forget_bias=0.8)
        outputs, state = ts.nn.dynamic_rnn(cell, x, dtype=ts.float32)
        loss = ts.reduce_sum(ts.sin(outputs)) + ts.reduce_sum(state.c * state.c)
        variables = ts.trainable_variables()
        grads = ts.gradients(loss, [x] + variables)
        for k, grad in enumerate(grads):
            ts.identity(grad, name=f"grad{k}")
        ts.identity(outputs, name="out")
        ts.identity(loss, name="loss")
        fetches = ["out", "loss"] + [f"grad{k}" for k in range(len(grads))]
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            weights = dict(zip([v.op.name for v in variables], sess.run(variables)))
            ours = sess.run([f + ":0" for f in fetches], {x: xs})
            frozen = ts.graph_util.convert_variables_to_constants(sess, g.as_graph_def(),
                                                                  fetches)
    assert "BlockLSTMGrad" in {n.op for n in frozen.node}
    (tmp_path / "g.pb").write_bytes(frozen.SerializeToString())
    np.savez(tmp_path / "in.npz", x=xs, **{k.replace("/", "."): v for k, v in weights.items()})
    run_tf(f"""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        d = np.load(sys.argv[1] + "/in.npz")
        fetches = {fetches!r}
        gd = tf.GraphDef.FromString(open(sys.argv[1] + "/g.pb", "rb").read())
        with tf.Graph().as_default():
            tf.import_graph_def(gd, name="")
            with tf.Session() as s:
                imported = s.run([f + ":0" for f in fetches], {{"x:0": d["x"]}})
        with tf.Graph().as_default():
            x = tf.constant(d["x"])
            w = {{k: tf.constant(d["rnn.lstm_cell." + k])
                 for k in ("kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag")}}
            zeros = tf.zeros([{BATCH}, {UNITS}])
            out = tf.raw_ops.BlockLSTM(
                seq_len_max=tf.constant({STEPS}, tf.int64), x=tf.transpose(x, [1, 0, 2]),
                cs_prev=zeros, h_prev=zeros, w=w["kernel"], wci=w["w_i_diag"],
                wcf=w["w_f_diag"], wco=w["w_o_diag"], b=w["bias"], forget_bias=0.8,
                cell_clip=-1.0, use_peephole=True)
            outputs = tf.transpose(out.h, [1, 0, 2])
            loss = tf.reduce_sum(tf.sin(outputs)) + tf.reduce_sum(out.cs[-1] * out.cs[-1])
            names = ["kernel", "bias", "w_f_diag", "w_i_diag", "w_o_diag"]
            grads = tf.gradients(loss, [x] + [w[k] for k in names])
            with tf.Session() as s:
                own = s.run([outputs, loss] + grads)
        np.savez(sys.argv[1] + "/tf_out.npz", *imported, *own)
    """, str(tmp_path))
    theirs = np.load(tmp_path / "tf_out.npz")
    order = [v.op.name.split("/")[-1] for v in variables]
    assert order == ["kernel", "bias", "w_f_diag", "w_i_diag", "w_o_diag"]
    count = len(fetches)
    for k, value in enumerate(ours):
        np.testing.assert_allclose(theirs[f"arr_{k}"], value, rtol=1e-5, atol=1e-5,
                                   err_msg=f"imported {fetches[k]}")
        np.testing.assert_allclose(theirs[f"arr_{count + k}"], value, rtol=1e-4, atol=1e-4,
                                   err_msg=f"TensorFlow's own {fetches[k]}")
