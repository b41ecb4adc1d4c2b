"""ts.while_loop as a functional While (body and cond are library functions): values against
numpy, structures, maximum_iterations, shape invariants (at build and at run time), values
captured from outside, variables made inside, gradients by finite differences (captures,
nesting, conds inside loops and loops inside conds), training, and loops through GraphDef."""

import collections

import numpy as np
import pytest
from op_check import numeric_gradient

import tensorslow as ts
from tensorslow.framework import function
from tensorslow.ops import functional_ops


@pytest.fixture
def graph():
    g = ts.Graph()
    with g.as_default():
        yield g


def _loop_numpy(x, n=5):
    acc = np.ones_like(x)
    for _ in range(n):
        acc = acc * x + np.sin(acc)
    return acc


def test_values_against_numpy(graph):
    x = ts.placeholder(ts.float64, [3], name="x")
    i, acc = ts.while_loop(lambda i, a: i < 5, lambda i, a: (i + 1, a * x + ts.sin(a)),
                           [ts.constant(0), ts.ones([3], ts.float64)])
    xv = np.array([0.5, 1.0, 2.0])
    got_i, got = ts.Session().run([i, acc], {x: xv})
    assert got_i == 5 and got_i.dtype == np.int32
    np.testing.assert_allclose(got, _loop_numpy(xv), rtol=1e-12)
    assert acc.shape.as_list() == [3]
    assert graph.get_operation_by_name("while").type == "While"


def test_structures_single_variables_and_the_returned_structure(graph):
    Pair = collections.namedtuple("Pair", "a b")
    out = ts.while_loop(lambda p: p.a < 10, lambda p: Pair(p.a * 2, p.b + 1),
                        [Pair(ts.constant(1), ts.constant(0.0))])
    assert isinstance(out, Pair)
    d = ts.while_loop(lambda s: s["n"] < 3, lambda s: {"n": s["n"] + 1, "v": s["v"] * 3.0},
                      {"n": ts.constant(0), "v": ts.constant(1.0)})
    single = ts.while_loop(lambda v: v < 100, lambda v: v * 3, ts.constant(1))
    one = ts.while_loop(lambda v: v < 100, lambda v: v * 3, [ts.constant(1)])
    same = ts.while_loop(lambda v: v < 100, lambda v: [v * 3], [ts.constant(1)],
                         return_same_structure=True)
    sess = ts.Session()
    assert sess.run(out) == Pair(16, 4.0)
    assert sess.run(d) == {"n": 3, "v": 27.0}
    assert sess.run(single) == 243 and sess.run(one) == 243
    assert isinstance(same, list) and sess.run(same) == [243]


def test_maximum_iterations_stops_the_loop_there(graph):
    limit = ts.placeholder(ts.int32, [])
    i, v = ts.while_loop(lambda i, v: ts.constant(True), lambda i, v: (i + 1, v * 2),
                         [0, ts.constant(1.0)], maximum_iterations=limit)
    sess = ts.Session()
    assert sess.run([i, v], {limit: 4}) == [4, 16.0]
    assert sess.run([i, v], {limit: 0}) == [0, 1.0]
    # A loop that ends by its own condition first is not affected.
    j = ts.while_loop(lambda j: j < 3, lambda j: j + 1, [0], maximum_iterations=10)
    assert sess.run(j) == 3


def test_a_loop_that_never_starts_returns_its_inputs(graph):
    x = ts.placeholder(ts.float64, [2])
    y = ts.while_loop(lambda v: ts.reduce_sum(v) < 0, lambda v: v * 10, [x])
    np.testing.assert_array_equal(ts.Session().run(y, {x: [1.0, 2.0]}), [1.0, 2.0])


def test_shape_invariants_let_a_loop_variable_grow(graph):
    i, v = ts.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, ts.concat([v, v], 0)),
                         [0, ts.constant([1.0])],
                         shape_invariants=[ts.TensorShape([]), ts.TensorShape([None])])
    assert v.shape.as_list() == [None]
    np.testing.assert_array_equal(ts.Session().run(v), np.ones(8))


def test_a_shape_change_against_the_invariant_is_refused_when_built(graph):
    with pytest.raises(ValueError, match="after one iteration.*shape_invariants"):
        ts.while_loop(lambda v: ts.size(v) < 8, lambda v: ts.concat([v, v], 0),
                      [ts.constant([1.0])])
    with pytest.raises(ValueError, match="not compatible with the initial shape"):
        ts.while_loop(lambda v: v[0] < 8, lambda v: v, [ts.constant([1.0])],
                      shape_invariants=[ts.TensorShape([2])])


def test_a_shape_change_against_the_invariant_is_an_error_naming_the_loop_variable(graph):
    k = ts.placeholder(ts.int32, [], name="k")
    start = ts.constant([1.0, 2.0], name="start")
    out = ts.while_loop(lambda i, v: i < 2,
                        lambda i, v: (i + 1, ts.reshape(ts.tile(v, [k]), [-1])),
                        [0, start])
    sess = ts.Session()
    np.testing.assert_array_equal(sess.run(out[1], {k: 1}), [1.0, 2.0])
    with pytest.raises(ts.errors.InvalidArgumentError,
                       match=r"'start:0' to \[4\] in iteration 1.*invariant"):
        sess.run(out, {k: 2})


def test_bad_cond_and_body_are_clear_errors(graph):
    with pytest.raises(TypeError, match="bool"):
        ts.while_loop(lambda v: v, lambda v: v + 1, [ts.constant(1)])
    with pytest.raises(ValueError, match="returns 1 values for 2 loop variables"):
        ts.while_loop(lambda a, b: a < 2, lambda a, b: a + 1, [ts.constant(0), ts.constant(0)])
    with pytest.raises(TypeError, match="enters the loop as int32"):
        ts.while_loop(lambda v: v < 2, lambda v: ts.cast(v, ts.float32), [ts.constant(0)])
    with pytest.raises(ValueError, match="No loop variables"):
        ts.while_loop(lambda: True, lambda: (), [])


def test_tensors_from_outside_and_variables_made_inside(graph):
    scale = ts.placeholder(ts.float32, [], name="scale")

    def body(i, v):
        w = ts.get_variable("w", [], initializer=ts.constant_initializer(0.5))
        return i + 1, v * scale + w

    with ts.variable_scope("loop"):
        _, v = ts.while_loop(lambda i, v: i < 3, body, [0, ts.constant(1.0)])
    variables = ts.global_variables()
    assert [x.name for x in variables] == ["loop/w:0"]
    assert variables[0].op.graph is graph  # made once, in the program's graph
    sess = ts.Session()
    sess.run(ts.global_variables_initializer())
    expected = 1.0
    for _ in range(3):
        expected = expected * 2.0 + 0.5
    assert sess.run(v, {scale: 2.0}) == pytest.approx(expected)



def test_ops_on_outside_tensors_are_built_in_the_body(graph):
    # Indexing, cond, concat, one_hot and reductions of tensors captured from the program's
    # graph build their ops in the loop body, not in the graph the tensor came from.
    table = ts.placeholder(ts.float64, [4, 3], name="table")
    flag = ts.placeholder(ts.bool, [], name="flag")
    labels = ts.constant([2, 0, 1, 3])

    def body(i, acc):
        row = table[i]
        picked = ts.cond(flag, lambda: row * 2.0, lambda: row - 1.0)
        both = ts.concat([table[i], picked], axis=0)
        hot = ts.one_hot(labels[i], 3, dtype=ts.float64)
        # Shape-taking ops make their shape constants in the body too.
        shaped = ts.reshape(ts.transpose(ts.tile(ts.expand_dims(table, 0), [2, 1, 1]),
                                         [0, 2, 1]), [2, 12])
        padded = ts.pad(table, [[0, 1], [0, 0]])
        extra = ts.reduce_sum(shaped) * 0.0 + ts.reduce_sum(ts.split(padded, 5)[4])
        return i + 1, acc + ts.reduce_sum(both) + ts.reduce_sum(hot * table[i]) + extra

    start = [ts.constant(0), ts.constant(0.0, ts.float64)]
    n_before = len(graph.get_operations())
    _, acc = ts.while_loop(lambda i, a: i < 4, body, start)
    # Only the loop itself was added to the program's graph, and it captures only the
    # tensors the body reads.
    added = graph.get_operations()[n_before:]
    assert [op.type for op in added] == ["Const", "Const", "While"]
    assert [op.name for op in added[:2]] == ["while/loop_counter", "while/maximum_iterations"]
    # The counter, the bound, the two loop variables, and table, flag and labels.
    assert len(added[2].inputs) == 2 + 2 + 3

    tv = np.arange(12, dtype=np.float64).reshape(4, 3) / 7.0
    for fv in (True, False):
        expected = 0.0
        for i in range(4):
            row = tv[i]
            picked = row * 2.0 if fv else row - 1.0
            hot = np.eye(3)[[2, 0, 1, 3][i]] if [2, 0, 1, 3][i] < 3 else np.zeros(3)
            expected += row.sum() + picked.sum() + (hot * row).sum()
        got = ts.Session().run(acc, {table: tv, flag: fv})
        assert got == pytest.approx(expected, rel=1e-12)

def test_side_effects_in_the_body_run_every_iteration(graph):
    hits = ts.Variable(0, name="hits")

    def body(i):
        with ts.control_dependencies([ts.assign_add(hits, 1)]):
            return i + 1

    i = ts.while_loop(lambda i: i < 4, body, [0])
    sess = ts.Session()
    sess.run(ts.global_variables_initializer())
    assert sess.run(i) == 4
    assert sess.run(hits) == 4


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------


def _check_gradients(build, numpy_fn, inputs, rtol=1e-6, wrt=None):
    """ts.gradients of sum(build(*placeholders)) against central differences of numpy_fn,
    for the inputs at indices `wrt` (default: all)."""
    wrt = range(len(inputs)) if wrt is None else wrt
    g = ts.Graph()
    with g.as_default():
        phs = [ts.placeholder(ts.float64, np.shape(a)) for a in inputs]
        y = ts.reduce_sum(build(*phs))
        grads = ts.gradients(y, [phs[i] for i in wrt])
        got_y, *got = ts.Session().run([y, *grads], dict(zip(phs, inputs)))
    np.testing.assert_allclose(got_y, np.sum(numpy_fn(*inputs)), rtol=1e-12)
    weights = [np.ones(np.shape(numpy_fn(*inputs)))]
    for index, grad in zip(wrt, got):
        expected = numeric_gradient(lambda *a: numpy_fn(*a), inputs, index, weights)
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=1e-7)


def test_gradient_of_a_loop_against_finite_differences():
    def build(x, a0):
        return ts.while_loop(lambda i, a: i < 5, lambda i, a: (i + 1, a * x + ts.sin(a)),
                             [0, a0])[1]

    def numpy_fn(x, a0):
        a = a0
        for _ in range(5):
            a = a * x + np.sin(a)
        return a

    _check_gradients(build, numpy_fn, [np.array([0.5, 1.0, 2.0]), np.array([0.3, -1.0, 0.1])])


def test_the_gradient_loop_carries_only_what_the_xs_need(graph):
    # A sequence read in the loop and passed through unchanged gets no gradient loop
    # variable when only the weights are differentiated; asked for, it gets its gradient.
    seq_value = np.random.RandomState(0).randn(4, 3)
    seq = ts.placeholder(ts.float64, [4, 3])
    w = ts.Variable(np.full(3, 0.5), name="w")
    ta = ts.TensorArray(ts.float64, size=4).unstack(seq)
    _, acc = ts.while_loop(lambda i, a: i < 4, lambda i, a: (i + 1, a * w + ta.read(i)),
                           [0, ts.zeros([3], ts.float64)])
    loss = ts.reduce_sum(acc * acc)
    def gradient_loop_ops(scope):
        (loop,) = [op for op in graph.get_operations()
                   if op.type == "While" and op.name.startswith(scope)]
        return {op.type for op in functional_ops._function(loop, "body").graph.get_operations()}

    (g_w,) = ts.gradients(loss, [w], name="only_w")
    assert "TensorListReserve" not in gradient_loop_ops("only_w/")  # no list gradient built
    g_w2, g_seq = ts.gradients(loss, [w, seq], name="w_and_seq")
    assert "TensorListReserve" in gradient_loop_ops("w_and_seq/")
    with ts.Session() as sess:
        sess.run(ts.global_variables_initializer())
        got_w, got_w2, got_seq = sess.run([g_w, g_w2, g_seq], {seq: seq_value})

    def numpy_loss(w_value, s):
        a = np.zeros(3)
        for t in range(4):
            a = a * w_value + s[t]
        return np.sum(a * a)
    want_w = numeric_gradient(numpy_loss, [np.full(3, 0.5), seq_value], 0, [1.0])
    want_seq = numeric_gradient(numpy_loss, [np.full(3, 0.5), seq_value], 1, [1.0])
    np.testing.assert_allclose(got_w, want_w, rtol=1e-6)
    np.testing.assert_allclose(got_w2, want_w, rtol=1e-6)
    np.testing.assert_allclose(got_seq, want_seq, rtol=1e-6)


def test_gradient_through_a_captured_matrix_and_nested_loops_and_conds():
    def build(w, x):
        def outer(i, h):
            _, h = ts.while_loop(lambda j, h2: j < 2,
                                 lambda j, h2: (j + 1, ts.tanh(ts.matmul(h2, w))), [0, h])
            h = ts.cond(ts.reduce_sum(h) > 0, lambda: h * 2.0, lambda: h - 1.0)
            return i + 1, h
        return ts.square(ts.while_loop(lambda i, h: i < 3, outer, [0, x])[1])

    def numpy_fn(w, x):
        h = x
        for _ in range(3):
            for _ in range(2):
                h = np.tanh(h @ w)
            h = h * 2 if h.sum() > 0 else h - 1
        return h * h

    rng = np.random.RandomState(3)
    _check_gradients(build, numpy_fn, [rng.randn(2, 2) * 0.5, rng.randn(3, 2)])


def test_gradient_of_an_inner_loop_that_reads_the_outer_loops_variable():
    # The inner loop captures the outer loop's variable, and a cond reads it too: the inner
    # gradient body reads the value the outer loop kept of it (this once built that read in
    # the inner gradient body instead of the outer one).
    def build(w, x):
        def outer(i, h):
            _, inner = ts.while_loop(lambda j, v: j < 2,
                                     lambda j, v: (j + 1, ts.sin(v) * h), [0, h])
            return i + 1, ts.tanh(ts.matmul(inner, w)) + ts.cond(
                ts.reduce_sum(h) > 0, lambda: h * 0.5, lambda: -h)
        return ts.while_loop(lambda i, h: i < 3, outer, [0, x])[1]

    def numpy_fn(w, x):
        h = x
        for _ in range(3):
            v = h
            for _ in range(2):
                v = np.sin(v) * h
            h = np.tanh(v @ w) + (h * 0.5 if h.sum() > 0 else -h)
        return h

    rng = np.random.RandomState(5)
    _check_gradients(build, numpy_fn, [rng.randn(2, 2) * 0.5, rng.randn(3, 2) * 0.5])


def test_gradient_of_a_loop_inside_a_cond():
    def build(x, flag):
        return ts.cond(flag[0] > 0,
                       lambda: ts.while_loop(lambda v: ts.reduce_sum(v) < 50.0,
                                             lambda v: v * 1.5 + x, [x]),
                       lambda: x * -3.0)

    def numpy_fn(x, flag):
        if flag[0] <= 0:
            return x * -3.0
        v = x
        while v.sum() < 50.0:
            v = v * 1.5 + x
        return v

    for flag in (1.0, -1.0):
        _check_gradients(build, numpy_fn, [np.array([1.0, 2.0]), np.array([flag])], wrt=[0])


def test_gradient_with_a_data_dependent_number_of_iterations():
    def build(x):
        return ts.while_loop(lambda v: ts.reduce_max(v) < 10.0, lambda v: v * v + 0.5, [x])

    def numpy_fn(x):
        v = x
        while v.max() < 10.0:
            v = v * v + 0.5
        return v

    _check_gradients(build, numpy_fn, [np.array([1.1, 0.7])])


def test_back_prop_false_stops_the_gradient(graph):
    x = ts.placeholder(ts.float64, [])
    y = ts.while_loop(lambda v: v < 10.0, lambda v: v * 2, [x], back_prop=False)
    assert ts.gradients(y, [x]) == [None]


def test_training_through_a_loop_matches_a_numpy_step(graph):
    rng = np.random.RandomState(0)
    x0, target = rng.randn(4, 3), rng.randn(4, 3)
    w = ts.Variable(np.eye(3) * 0.9, name="w")
    x = ts.placeholder(ts.float64, [4, 3])
    _, h = ts.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, ts.tanh(ts.matmul(h, w))),
                         [0, x])
    loss = ts.reduce_sum(ts.square(h - target))
    train = ts.train.GradientDescentOptimizer(0.05).minimize(loss)
    sess = ts.Session()
    sess.run(ts.global_variables_initializer())

    def numpy_loss(wv):
        h = x0
        for _ in range(3):
            h = np.tanh(h @ wv)
        return np.sum((h - target) ** 2)

    wv = np.eye(3) * 0.9
    grad = numeric_gradient(numpy_loss, [wv], 0, [np.ones(())])
    losses = [sess.run([loss, train], {x: x0})[0] for _ in range(20)]
    assert losses[-1] < losses[0] * 0.7
    sess2 = ts.Session()
    sess2.run(ts.global_variables_initializer())
    sess2.run(train, {x: x0})
    np.testing.assert_allclose(sess2.run(w), wv - 0.05 * grad, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------------------------
# Through GraphDef
# --------------------------------------------------------------------------------------------


def _program():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float64, [3], name="x")
        w = ts.constant([0.5, -0.25, 2.0], ts.float64, name="w")
        _, acc = ts.while_loop(lambda i, a: i < 4, lambda i, a: (i + 1, a * w + ts.cos(x)),
                               [0, x])
        y = ts.identity(ts.reduce_sum(acc), name="y")
        ts.identity(ts.gradients(y, [x], name="grads")[0], name="dy_dx")
    return g


def test_a_loop_graph_round_trips_through_graph_def_with_its_library():
    g = _program()
    graph_def = g.as_graph_def()
    names = sorted(f.signature.name for f in graph_def.library.function)
    assert "while_body" in names and "while_cond" in names
    data = graph_def.SerializeToString(deterministic=True)
    g2 = ts.Graph()
    with g2.as_default():
        ts.import_graph_def(graph_def, name="")
    assert g2.as_graph_def().SerializeToString(deterministic=True) == data
    feed = {"x:0": np.array([0.1, 0.2, 0.3])}
    fetches = ["y:0", "dy_dx:0"]
    for got, expected in zip(ts.Session(graph=g2).run(fetches, feed),
                             ts.Session(graph=g).run(fetches, feed), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_an_unsupported_op_in_a_function_is_refused_at_import_naming_it():
    graph_def = _program().as_graph_def()
    body = next(f for f in graph_def.library.function if f.signature.name == "while_body")
    next(n for n in body.node_def if n.op == "Cos").op = "NoSuchOp"
    with ts.Graph().as_default() as g:
        with pytest.raises(ts.errors.NotFoundError,
                           match="function 'while_body'.*Op type not registered 'NoSuchOp'"):
            ts.import_graph_def(graph_def, name="")
        assert g.get_operations() == []


def test_function_def_inputs_name_outputs_by_argument():
    fdef = function.function_to_def(function.lookup(_program(), "while_body"))
    inputs = [i for n in fdef.node_def for i in n.input]
    assert any(i.startswith("Mul:z:0") or ":z:0" in i for i in inputs)
    assert fdef.signature.input_arg[0].name == "loop_counter"
    assert set(fdef.ret) == {a.name for a in fdef.signature.output_arg}


def _counted_loops_run(monkeypatch) -> list:
    """Records whether each While built from here on runs as a counted loop."""
    made = []
    build = functional_ops._counted_loop

    def recording(*args):
        counted = build(*args)
        made.append(counted is not None)
        return counted

    monkeypatch.setattr(functional_ops, "_counted_loop", recording)
    return made


def test_loops_counted_to_fixed_limits_give_the_loops_values(graph, monkeypatch):
    # A condition that only compares counters (loop variables the body adds 1 to) with fixed
    # limits runs a known number of iterations, without evaluating it: the values must be
    # those of the loop evaluated step by step, whatever the start, limit, dtype or count.
    made = _counted_loops_run(monkeypatch)
    start = ts.placeholder(ts.int32, [], name="start")
    limit = ts.placeholder(ts.int64, [], name="limit")
    x = ts.placeholder(ts.float64, [3], name="x")
    rows = ts.placeholder(ts.float64, [None, 3], name="rows")
    # The counter's value is read by the body and becomes another variable's value.
    i, last, acc = ts.while_loop(lambda i, last, a: i < 6,
                                 lambda i, last, a: (i + 1, i, a * x + ts.cast(i, ts.float64)),
                                 [start, ts.constant(-1), ts.zeros([3], ts.float64)])
    # The counter's value read by nothing but the move into another variable.
    _, previous = ts.while_loop(lambda i, last: i < 6, lambda i, last: (i + 1, i), [start, -1])
    # Two counters, one of them int64 against a fed limit, the other against a constant.
    j, k, total = ts.while_loop(
        lambda j, k, t: ts.logical_and(j < limit, k < 100),
        lambda j, k, t: (j + 1, k + 1, t + rows[ts.cast(j, ts.int32)]),
        [ts.constant(0, ts.int64), ts.constant(97), ts.zeros([3], ts.float64)])
    sess = ts.Session()
    xv, table = np.array([0.5, -1.0, 2.0]), np.arange(15.0).reshape(5, 3)
    for s in (0, 4, 6, 9):
        got_i, got_last, got_acc, got_previous = sess.run([i, last, acc, previous],
                                                          {start: s, x: xv})
        a, want_last = np.zeros(3), -1
        for step in range(s, 6):
            a, want_last = a * xv + step, step
        assert (got_i, got_last, got_previous) == (max(s, 6), want_last, want_last)
        assert got_i.dtype == np.int32
        np.testing.assert_allclose(got_acc, a, rtol=1e-12)
    for n in (-2, 0, 2, 5):
        got_j, got_k, got_total = sess.run([j, k, total], {limit: n, rows: table})
        count = max(0, min(n, 3))
        assert (got_j, got_k) == (count, 97 + count) and got_j.dtype == np.int64
        np.testing.assert_allclose(got_total, table[:count].sum(axis=0))
    assert made[:3] == [True, True, True]
    with pytest.raises(ts.errors.InvalidArgumentError, match="rows|StridedSlice|index"):
        sess.run(total, {limit: 5, rows: table[:2]})  # the third iteration reads past rows


def test_loops_not_counted_run_as_loops(graph, monkeypatch):
    # The limit changes in the body, the step is not 1, the condition reads another value:
    # these loops evaluate their condition every iteration.
    made = _counted_loops_run(monkeypatch)
    shrinking = ts.while_loop(lambda i, n: i < n, lambda i, n: (i + 1, n - 1), [0, 10])
    stepping = ts.while_loop(lambda i: i < 10, lambda i: i + 3, [0])
    summing = ts.while_loop(lambda i, s: ts.logical_and(i < 10, s < 12.0),
                            lambda i, s: (i + 1, s + 5.0), [0, 0.0])
    got = ts.Session().run([shrinking, stepping, summing])
    assert [list(got[0]), got[1], list(got[2])] == [[5, 5], 12, [3, 15.0]]
    assert made == [False, False, False]


def test_the_gradient_of_a_loop_with_conds_inside_runs_from_its_graph_def():
    # Written out, the values the loop keeps from cond branches are always live (TensorFlow
    # lets no dead value out of a function) and dead again where the gradient reads them;
    # the graph read back gives the same values, and writes the same bytes again.
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float64, [3], name="x")

        def body(i, h):
            def positive():
                return ts.cond(i % 2 > 0, lambda: ts.sin(h) * x, lambda: ts.exp(h) - x)
            return i + 1, ts.cond(ts.reduce_sum(h) > 0, positive, lambda: ts.cos(h) * 2.0)

        _, h = ts.while_loop(lambda i, h: i < 5, body, [0, x])
        ts.identity(ts.gradients(ts.reduce_sum(h * h), [x])[0], name="dx")
        ts.identity(h, name="y")
    graph_def = g.as_graph_def()
    merges = [n for f in graph_def.library.function for n in f.node_def
              if n.op == "Merge" and n.name.startswith("kept_live/")]
    assert merges  # the kept branch values are merged with stand-ins
    data = graph_def.SerializeToString(deterministic=True)
    g2 = ts.Graph()
    with g2.as_default():
        ts.import_graph_def(graph_def, name="")
    assert g2.as_graph_def().SerializeToString(deterministic=True) == data
    for xv in (np.array([0.3, -0.2, 0.5]), np.array([-0.4, 0.1, -0.3])):
        feed = {"x:0": xv}
        ours = ts.Session(graph=g).run(["y:0", "dx:0"], feed)
        read_back = ts.Session(graph=g2).run(["y:0", "dx:0"], feed)
        for got, expected in zip(read_back, ours, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-12)
