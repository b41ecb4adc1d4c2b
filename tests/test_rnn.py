"""Recurrent cells, dynamic_rnn and static_rnn, map_fn/scan/foldl/foldr: values against
hand-written numpy, gradients by finite differences, TensorFlow's variable names, sequence
lengths; live against TensorFlow 1's own dynamic_rnn where TensorFlow is installed."""

import json
import textwrap

import numpy as np
import pytest
from op_check import check_op
from tf_live import requires_tensorflow, run_tf

import tensorslow as ts

rnn_cell = ts.nn.rnn_cell


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lstm_numpy(xs, kernel, bias, lengths=None, forget_bias=1.0):
    """TensorFlow's LSTM (gates i, j, f, o) over xs [batch, time, depth]."""
    batch, steps, _ = xs.shape
    units = bias.shape[0] // 4
    c, h = np.zeros((batch, units)), np.zeros((batch, units))
    outputs = np.zeros((batch, steps, units))
    for t in range(steps):
        i, j, f, o = np.split(np.concatenate([xs[:, t], h], 1) @ kernel + bias, 4, axis=1)
        new_c = c * _sigmoid(f + forget_bias) + _sigmoid(i) * np.tanh(j)
        new_h = np.tanh(new_c) * _sigmoid(o)
        live = np.ones(batch, bool) if lengths is None else t < np.asarray(lengths)
        c = np.where(live[:, None], new_c, c)
        h = np.where(live[:, None], new_h, h)
        outputs[:, t] = np.where(live[:, None], new_h, 0.0)
    return outputs, c, h


def _gru_numpy(xs, gate_kernel, gate_bias, cand_kernel, cand_bias):
    batch, steps, _ = xs.shape
    h = np.zeros((batch, cand_bias.shape[0]))
    outputs = []
    for t in range(steps):
        r, u = np.split(_sigmoid(np.concatenate([xs[:, t], h], 1) @ gate_kernel + gate_bias), 2,
                        axis=1)
        cand = np.tanh(np.concatenate([xs[:, t], r * h], 1) @ cand_kernel + cand_bias)
        h = u * h + (1 - u) * cand
        outputs.append(h)
    return np.stack(outputs, 1), h


def _variables_by_name(sess):
    return {v.op.name: value for v, value in zip(
        ts.global_variables(), sess.run(ts.global_variables()))}


def test_lstm_dynamic_rnn_against_numpy_with_tensorflows_variable_names():
    rng = np.random.RandomState(0)
    xs = rng.randn(3, 6, 4)
    with ts.Graph().as_default():
        x = ts.placeholder(ts.float64, [None, 6, 4])
        lengths = ts.placeholder(ts.int32, [None])
        outputs, state = ts.nn.dynamic_rnn(rnn_cell.LSTMCell(5), x, sequence_length=lengths,
                                           dtype=ts.float64)
        assert outputs.shape.as_list() == [None, 6, 5]
        assert isinstance(state, rnn_cell.LSTMStateTuple)
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            got, c, h = sess.run([outputs, state.c, state.h], {x: xs, lengths: [6, 3, 0]})
            weights = _variables_by_name(sess)
    assert sorted(weights) == ["rnn/lstm_cell/bias", "rnn/lstm_cell/kernel"]
    assert weights["rnn/lstm_cell/kernel"].shape == (9, 20)
    want, want_c, want_h = _lstm_numpy(xs, weights["rnn/lstm_cell/kernel"],
                                       weights["rnn/lstm_cell/bias"], lengths=[6, 3, 0])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, want_c, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h, want_h, rtol=1e-12, atol=1e-14)
    assert not got[2].any() and not got[1, 3:].any()  # past a row's length: zeros


def _reversed_rows(xs, lengths):
    """xs [batch, time, ...] with each row's first lengths[b] steps reversed."""
    out = xs.copy()
    for b, n in enumerate(lengths):
        out[b, :n] = xs[b, :n][::-1]
    return out


@pytest.mark.parametrize("time_major", [False, True])
def test_bidirectional_dynamic_rnn_against_numpy(time_major):
    rng = np.random.RandomState(2)
    xs, lengths = rng.randn(3, 6, 4), [6, 2, 0]
    with ts.Graph().as_default():
        x = ts.placeholder(ts.float64, [6, 3, 4] if time_major else [3, 6, 4])
        (out_fw, out_bw), (state_fw, state_bw) = ts.nn.bidirectional_dynamic_rnn(
            rnn_cell.LSTMCell(5), rnn_cell.LSTMCell(2), x, sequence_length=lengths,
            dtype=ts.float64, time_major=time_major)
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            feed = {x: xs.transpose(1, 0, 2) if time_major else xs}
            got_fw, got_bw, c_fw, c_bw = sess.run([out_fw, out_bw, state_fw.c, state_bw.c],
                                                  feed)
            weights = _variables_by_name(sess)
    assert sorted(weights) == [f"bidirectional_rnn/{d}/lstm_cell/{w}"
                               for d in ("bw", "fw") for w in ("bias", "kernel")]
    if time_major:
        got_fw, got_bw = got_fw.transpose(1, 0, 2), got_bw.transpose(1, 0, 2)
    want_fw, want_c_fw, _ = _lstm_numpy(xs, weights["bidirectional_rnn/fw/lstm_cell/kernel"],
                                        weights["bidirectional_rnn/fw/lstm_cell/bias"],
                                        lengths=lengths)
    reversed_out, want_c_bw, _ = _lstm_numpy(
        _reversed_rows(xs, lengths), weights["bidirectional_rnn/bw/lstm_cell/kernel"],
        weights["bidirectional_rnn/bw/lstm_cell/bias"], lengths=lengths)
    np.testing.assert_allclose(got_fw, want_fw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_bw, _reversed_rows(reversed_out, lengths), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(c_fw, want_c_fw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_bw, want_c_bw, rtol=1e-12, atol=1e-14)
    # The backward cell's output at a row's first step has seen the whole row.
    assert np.abs(got_bw[1, 0]).sum() > 0 and not got_bw[1, 2:].any()


def test_bidirectional_dynamic_rnn_gradients_against_finite_differences():
    rng = np.random.RandomState(4)
    xs, lengths = rng.randn(2, 4, 3), [4, 2]
    kernels = [rng.randn(7, 16) * 0.5, rng.randn(5, 8) * 0.5]
    biases = [rng.randn(16) * 0.1, rng.randn(8) * 0.1]

    def build(x, k_fw, b_fw, k_bw, b_bw):
        init = {"bidirectional_rnn/fw/basic_lstm_cell/kernel": k_fw,
                "bidirectional_rnn/fw/basic_lstm_cell/bias": b_fw,
                "bidirectional_rnn/bw/basic_lstm_cell/kernel": k_bw,
                "bidirectional_rnn/bw/basic_lstm_cell/bias": b_bw}

        def getter(getter, name, **kwargs):  # the variables are the placeholders
            return init[name]

        with ts.variable_scope("", custom_getter=getter):
            (fw, bw), (state_fw, state_bw) = ts.nn.bidirectional_dynamic_rnn(
                rnn_cell.BasicLSTMCell(4), rnn_cell.BasicLSTMCell(2), x,
                sequence_length=lengths, dtype=ts.float64)
        return [fw, bw, state_bw.c]

    def numpy_fn(x, k_fw, b_fw, k_bw, b_bw):
        fw, _, _ = _lstm_numpy(x, k_fw, b_fw, lengths=lengths)
        bw, c_bw, _ = _lstm_numpy(_reversed_rows(x, lengths), k_bw, b_bw, lengths=lengths)
        return [fw, _reversed_rows(bw, lengths), c_bw]

    check_op(build, [xs, kernels[0], biases[0], kernels[1], biases[1]], numpy_fn,
             grad_rtol=1e-5)


def test_cell_gradients_through_dynamic_rnn_against_finite_differences():
    rng = np.random.RandomState(1)
    xs, kernel, bias = rng.randn(2, 4, 3), rng.randn(7, 16) * 0.5, rng.randn(16) * 0.1

    def build(x, k, b):
        cell = rnn_cell.BasicLSTMCell(4)
        init = {"rnn/basic_lstm_cell/kernel": k, "rnn/basic_lstm_cell/bias": b}

        def getter(getter, name, **kwargs):  # the variables are the placeholders
            return init[name]

        with ts.variable_scope("", custom_getter=getter):
            outputs, state = ts.nn.dynamic_rnn(cell, x, dtype=ts.float64, time_major=False)
        return [outputs, state.c]

    def numpy_fn(x, k, b):
        outputs, c, _ = _lstm_numpy(x, k, b)
        return [outputs, c]

    check_op(build, [xs, kernel, bias], numpy_fn, grad_rtol=1e-5)


def test_gru_and_multi_rnn_cell_names_and_values():
    rng = np.random.RandomState(2)
    xs = rng.randn(2, 5, 3)
    with ts.Graph().as_default():
        cells = [rnn_cell.GRUCell(4), rnn_cell.BasicRNNCell(3)]
        outputs, states = ts.nn.dynamic_rnn(rnn_cell.MultiRNNCell(cells), ts.constant(xs),
                                            dtype=ts.float64, scope="enc")
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            got, gru_state = sess.run([outputs, states[0]])
            w = _variables_by_name(sess)
    prefix = "enc/multi_rnn_cell/cell_"
    assert sorted(w) == [prefix + "0/gru_cell/candidate/bias",
                         prefix + "0/gru_cell/candidate/kernel",
                         prefix + "0/gru_cell/gates/bias", prefix + "0/gru_cell/gates/kernel",
                         prefix + "1/basic_rnn_cell/bias", prefix + "1/basic_rnn_cell/kernel"]
    np.testing.assert_array_equal(w[prefix + "0/gru_cell/gates/bias"], np.ones(8))
    gru_out, gru_h = _gru_numpy(xs, *(w[prefix + "0/gru_cell/" + n] for n in (
        "gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias")))
    np.testing.assert_allclose(gru_state, gru_h, rtol=1e-12)
    h, want = np.zeros((2, 3)), []
    for t in range(5):
        h = np.tanh(np.concatenate([gru_out[:, t], h], 1) @ w[prefix + "1/basic_rnn_cell/kernel"]
                    + w[prefix + "1/basic_rnn_cell/bias"])
        want.append(h)
    np.testing.assert_allclose(got, np.stack(want, 1), rtol=1e-12)


def test_static_rnn_equals_dynamic_rnn_and_shares_its_variables():
    rng = np.random.RandomState(3)
    xs = rng.randn(2, 4, 3)
    with ts.Graph().as_default():
        x = ts.constant(xs)
        cell = rnn_cell.LSTMCell(5, use_peepholes=True, num_proj=2, cell_clip=0.5)
        dynamic, _ = ts.nn.dynamic_rnn(cell, x, dtype=ts.float64)
        static, _ = ts.nn.static_rnn(cell, ts.unstack(x, axis=1), dtype=ts.float64)
        assert len(ts.global_variables()) == 6  # kernel, bias, 3 peepholes, projection
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            got_dynamic, got_static = sess.run([dynamic, ts.stack(static, axis=1)])
    assert got_dynamic.shape == (2, 4, 2)
    np.testing.assert_allclose(got_static, got_dynamic, rtol=1e-12)


def test_rnn_argument_errors():
    with ts.Graph().as_default():
        x = ts.placeholder(ts.float32, [None, 5, 3])
        with pytest.raises(ValueError, match="you must give a dtype"):
            ts.nn.dynamic_rnn(rnn_cell.BasicRNNCell(2), x)
        with pytest.raises(ValueError, match="same cell object twice"):
            cell = rnn_cell.BasicRNNCell(2)
            rnn_cell.MultiRNNCell([cell, cell])
        with pytest.raises(ValueError, match="sequence_length must be a vector"):
            ts.nn.dynamic_rnn(rnn_cell.BasicRNNCell(2), x, sequence_length=[[1]],
                              dtype=ts.float32)
        with pytest.raises(ValueError, match="must be between 0 and 1"):
            rnn_cell.DropoutWrapper(rnn_cell.BasicRNNCell(2), output_keep_prob=1.5)


def test_map_fn_scan_and_folds_against_numpy():
    rng = np.random.RandomState(4)
    xs, ws = rng.randn(5, 3), rng.randn(5, 3)

    def build(x, w):
        pairs = ts.map_fn(lambda xw: (ts.sin(xw[0]) * xw[1], ts.reduce_sum(xw[0])), (x, w),
                          dtype=(ts.float64, ts.float64))
        running = ts.scan(lambda a, v: a * 0.5 + v, x)
        backwards = ts.scan(lambda a, v: a + v * v, w, initializer=ts.zeros([3], ts.float64),
                            reverse=True)
        left = ts.foldl(lambda a, v: a * v, x, initializer=ts.ones([3], ts.float64))
        right = ts.foldr(lambda a, xw: (a[0] - xw[0] * xw[1], a[1] + xw[1]), (x, w))
        return [pairs[0], pairs[1], running, backwards, left, right]

    def numpy_fn(x, w):
        running, a = [], x[0]
        running.append(a)
        for v in x[1:]:
            a = a * 0.5 + v
            running.append(a)
        backwards, a = [None] * 5, np.zeros(3)
        for k in range(4, -1, -1):
            a = a + w[k] ** 2
            backwards[k] = a
        acc = x[4], w[4]  # a structure accumulator, from the last element
        for k in range(3, -1, -1):
            acc = (acc[0] - x[k] * w[k], acc[1] + w[k])
        return [np.sin(x) * w, x.sum(1), np.array(running), np.array(backwards),
                np.prod(x, 0), acc[0], acc[1]]

    def build_flat(x, w):
        *rest, right = build(x, w)
        return [*rest, right[0], right[1]]

    check_op(build_flat, [xs, ws], numpy_fn)


def test_map_fn_errors():
    with ts.Graph().as_default():
        with pytest.raises(ValueError, match="same first dimension"):
            ts.map_fn(lambda ab: ab[0], (ts.zeros([3]), ts.zeros([4])))
        with pytest.raises(ValueError, match="not scalars"):
            ts.map_fn(lambda a: a, ts.constant(1.0))
        with pytest.raises(TypeError, match="callable"):
            ts.scan(None, ts.zeros([2]))


@requires_tensorflow
def test_dynamic_rnn_lstm_matches_tensorflow_outputs_and_gradients(tmp_path):
    rng = np.random.RandomState(5)
    xs, lengths = rng.randn(3, 7, 4), [7, 4, 1]
    with ts.Graph().as_default():
        x = ts.placeholder(ts.float64, [None, 7, 4])
        cells = rnn_cell.MultiRNNCell([rnn_cell.LSTMCell(6, use_peepholes=True),
                                       rnn_cell.GRUCell(3)])
        outputs, state = ts.nn.dynamic_rnn(cells, x, sequence_length=lengths,
                                           dtype=ts.float64)
        loss = ts.reduce_sum(outputs * outputs) + ts.reduce_sum(state[0].c)
        grads = ts.gradients(loss, [x, *ts.trainable_variables()])
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            weights = _variables_by_name(sess)
            got = sess.run([loss, *grads], {x: xs})
    np.savez(tmp_path / "in.npz", x=xs, **weights)
    (tmp_path / "names.json").write_text(json.dumps(list(weights)))  # creation order
    _compare_with_tf1(tmp_path, got, """
        x = tf.placeholder(tf.float64, [None, 7, 4])
        cells = tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.LSTMCell(6, use_peepholes=True),
                                             tf.nn.rnn_cell.GRUCell(3)])
        outputs, state = tf.nn.dynamic_rnn(cells, x, sequence_length=[7, 4, 1],
                                           dtype=tf.float64)
        loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(state[0].c)
        names = json.load(open(sys.argv[1] + "/names.json"))
        by_name = {v.op.name: v for v in tf.global_variables()}
        assert [v.op.name for v in tf.trainable_variables()] == names, (list(by_name), names)
        grads = tf.gradients(loss, [x] + tf.trainable_variables())
        with tf.Session() as sess:
            for name, v in by_name.items():
                v.load(d[name], sess)
            got = sess.run([loss] + grads, {x: d["x"]})
        np.savez(sys.argv[1] + "/out.npz", *got)
    """)


@requires_tensorflow
def test_bidirectional_dynamic_rnn_matches_tensorflow_outputs_and_gradients(tmp_path):
    rng = np.random.RandomState(6)
    xs, lengths = rng.randn(3, 5, 4), [5, 3, 1]
    with ts.Graph().as_default():
        x = ts.placeholder(ts.float64, [None, 5, 4])
        (fw, bw), (state_fw, state_bw) = ts.nn.bidirectional_dynamic_rnn(
            rnn_cell.LSTMCell(4), rnn_cell.GRUCell(3), x, sequence_length=lengths,
            dtype=ts.float64)
        loss = ts.reduce_sum(fw * fw) + ts.reduce_sum(ts.sin(bw)) + ts.reduce_sum(state_bw)
        grads = ts.gradients(loss, [x, *ts.trainable_variables()])
        with ts.Session() as sess:
            sess.run(ts.global_variables_initializer())
            weights = _variables_by_name(sess)
            got = sess.run([fw, bw, state_fw.c, loss, *grads], {x: xs})
    np.savez(tmp_path / "in.npz", x=xs, **weights)
    (tmp_path / "names.json").write_text(json.dumps(list(weights)))
    _compare_with_tf1(tmp_path, got, """
        x = tf.placeholder(tf.float64, [None, 5, 4])
        (fw, bw), (state_fw, state_bw) = tf.nn.bidirectional_dynamic_rnn(
            tf.nn.rnn_cell.LSTMCell(4), tf.nn.rnn_cell.GRUCell(3), x,
            sequence_length=[5, 3, 1], dtype=tf.float64)
        loss = tf.reduce_sum(fw * fw) + tf.reduce_sum(tf.sin(bw)) + tf.reduce_sum(state_bw)
        names = json.load(open(sys.argv[1] + "/names.json"))
        assert [v.op.name for v in tf.trainable_variables()] == names, names
        grads = tf.gradients(loss, [x] + tf.trainable_variables())
        with tf.Session() as sess:
            for v in tf.global_variables():
                v.load(d[v.op.name], sess)
            got = sess.run([fw, bw, state_fw.c, loss] + grads, {x: d["x"]})
        np.savez(sys.argv[1] + "/out.npz", *got)
    """)


_TF1_PREAMBLE = """
import importlib.util, json, os, sys
if importlib.util.find_spec("tf_keras") is None:
    print("no tf_keras")
    sys.exit(0)
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # TF1's rnn cells live in tf_keras now
import numpy as np
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()
d = np.load(sys.argv[1] + "/in.npz")
"""


def _compare_with_tf1(tmp_path, got: list, script: str) -> None:
    """Runs `script` (after TF1's imports, with `d` the inputs in tmp_path/in.npz; it saves its
    results as out.npz) on TensorFlow and compares them with `got`, to 1e-9."""
    answer = run_tf(_TF1_PREAMBLE + textwrap.dedent(script), str(tmp_path))
    if "no tf_keras" in answer:
        pytest.skip("TensorFlow releases with Keras 3 keep TF1's rnn cells in the tf_keras "
                    "package; install it beside TensorFlow to run this comparison")
    expected = np.load(tmp_path / "out.npz")
    assert len(expected.files) == len(got)
    for k, value in enumerate(got):
        np.testing.assert_allclose(value, expected[f"arr_{k}"], rtol=1e-9, atol=1e-12,
                                   err_msg=f"output {k}")
