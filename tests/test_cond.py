"""ts.cond with Switch and Merge: only the taken branch runs (side effects included), values
and gradients of both branches, constants and variables made in branches, nesting,
structures, ops as results, errors, and graphs with conds through GraphDef."""

import numpy as np
import pytest
from op_check import check_op

import tensorslow as ts


@pytest.fixture
def graph():
    g = ts.Graph()
    with g.as_default():
        yield g


def test_only_the_taken_branch_runs(graph):
    pred = ts.placeholder(ts.bool, [])
    hits = ts.Variable([0, 0], name="hits")
    out = ts.cond(pred, lambda: ts.identity(ts.assign_add(hits, [0, 1])),
                  lambda: ts.identity(ts.assign_add(hits, [1, 0])))
    sess = ts.Session()
    sess.run(hits.initializer)
    for p in (True, True, False):
        sess.run(out, {pred: p})
    assert sess.run(hits).tolist() == [1, 2]


@pytest.mark.parametrize("taken", [True, False])
def test_values_and_gradients_of_each_branch(taken):
    rng = np.random.RandomState(0)
    x, w = rng.randn(3, 4), rng.randn(4, 2)

    def build(a, b):
        return ts.cond(ts.constant(taken), lambda: ts.tanh(ts.matmul(a, b)),
                       lambda: ts.matmul(ts.square(a), b) * 0.5)

    def numpy_fn(a, b):
        return np.tanh(a @ b) if taken else (a * a) @ b * 0.5

    check_op(build, [x, w], numpy_fn)


def test_constants_and_outside_tensors_as_branch_results(graph):
    pred = ts.placeholder(ts.bool, [])
    outside = ts.constant(7.0)
    a = ts.cond(pred, lambda: ts.constant(1.0), lambda: ts.constant(2.0))
    b = ts.cond(pred, lambda: outside, lambda: outside * 2)
    sess = ts.Session()
    assert sess.run([a, b], {pred: True}) == [1.0, 7.0]
    assert sess.run([a, b], {pred: False}) == [2.0, 14.0]


def test_nested_conds(graph):
    p, q = ts.placeholder(ts.bool, []), ts.placeholder(ts.bool, [])
    x = ts.placeholder(ts.float32, [])
    y = ts.cond(p, lambda: ts.cond(q, lambda: x + 1, lambda: x + 2), lambda: x * 10)
    (dx,) = ts.gradients(y * y, [x])
    sess = ts.Session()
    for pv, qv, want in [(True, True, 4.0), (True, False, 5.0), (False, True, 30.0)]:
        value, grad = sess.run([y, dx], {p: pv, q: qv, x: 3.0})
        assert value == want
        assert grad == pytest.approx(2 * want * (10 if not pv else 1))


def test_structures_ops_and_strict(graph):
    pred = ts.placeholder(ts.bool, [])
    x = ts.constant([1.0, 2.0])
    pair = ts.cond(pred, lambda: (x, {"s": ts.reduce_sum(x)}),
                   lambda: (-x, {"s": ts.reduce_max(x)}))
    assert isinstance(pair, tuple) and set(pair[1]) == {"s"}
    single = ts.cond(pred, lambda: [x], lambda: [x * 3])
    assert isinstance(single, ts.Tensor)  # a one-element list is unpacked unless strict
    kept = ts.cond(pred, lambda: [x], lambda: [x * 3], strict=True)
    assert isinstance(kept, list)
    counter = ts.Variable(0, name="counter")
    ran = ts.cond(pred, lambda: counter.assign_add(1).op, lambda: ts.no_op())
    sess = ts.Session()
    sess.run(counter.initializer)
    got = sess.run(pair, {pred: False})
    assert got[0].tolist() == [-1.0, -2.0] and got[1]["s"] == 2.0
    assert sess.run(single, {pred: False}).tolist() == [3.0, 6.0]
    sess.run(ran, {pred: True})
    sess.run(ran, {pred: False})
    assert sess.run(counter) == 1


def test_variables_made_in_a_branch_belong_to_no_branch(graph):
    pred = ts.placeholder(ts.bool, [])
    x = ts.ones([2, 3])
    y = ts.cond(pred, lambda: ts.layers.dense(x, 4, name="inner"), lambda: ts.zeros([2, 4]))
    sess = ts.Session()
    sess.run(ts.global_variables_initializer())  # initializes inner/kernel either way
    assert sess.run(y, {pred: False}).tolist() == [[0.0] * 4] * 2
    kernel = graph.get_tensor_by_name("inner/kernel:0")
    np.testing.assert_allclose(sess.run(y, {pred: True}),
                               np.ones((2, 3)) @ sess.run(kernel), rtol=1e-6)


def test_a_tensor_of_the_branch_not_taken_has_no_value(graph):
    pred = ts.placeholder(ts.bool, [])
    inside = []

    def true_fn():
        inside.append(ts.constant(5.0) * 2)
        return inside[-1]

    ts.cond(pred, true_fn, lambda: ts.constant(0.0))
    sess = ts.Session()
    assert sess.run(inside[0], {pred: True}) == 10.0
    with pytest.raises(ts.errors.InvalidArgumentError, match="does not have value"):
        sess.run(inside[0], {pred: False})


def test_bad_conds_are_refused(graph):
    pred = ts.placeholder(ts.bool, [])
    with pytest.raises(ValueError, match="same structure"):
        ts.cond(pred, lambda: (ts.constant(1.0), ts.constant(2.0)), lambda: ts.constant(1.0))
    with pytest.raises(ValueError, match="same type"):
        ts.cond(pred, lambda: ts.constant(1.0), lambda: ts.constant(1))
    with pytest.raises(ValueError, match="returned None"):
        ts.cond(pred, lambda: None, lambda: ts.constant(1.0))
    with pytest.raises(TypeError, match="callables"):
        ts.cond(pred, ts.constant(1.0), lambda: ts.constant(1.0))
    with pytest.raises(ts.errors.OpError, match="bool"):
        ts.cond(ts.constant(1.0), lambda: ts.constant(1.0), lambda: ts.constant(2.0))


def test_a_graph_with_a_cond_round_trips_through_graph_def(graph):
    pred = ts.placeholder(ts.bool, [], name="pred")
    x = ts.placeholder(ts.float32, [None], name="x")
    ts.identity(ts.cond(pred, lambda: x * 2, lambda: x - 1), name="y")
    data = graph.as_graph_def().SerializeToString()
    with ts.Graph().as_default():
        ts.import_graph_def(data, name="")
        sess = ts.Session()
        assert sess.run("y:0", {"pred:0": True, "x:0": [1.0, 2.0]}).tolist() == [2.0, 4.0]
        assert sess.run("y:0", {"pred:0": False, "x:0": [1.0, 2.0]}).tolist() == [0.0, 1.0]


def test_dropout_layer_takes_a_training_tensor(graph):
    training = ts.placeholder_with_default(False, [])
    x = ts.ones([100, 100])
    y = ts.layers.dropout(x, rate=0.5, training=training, seed=1)
    sess = ts.Session()
    assert sess.run(y).tolist() == np.ones((100, 100)).tolist()
    dropped = sess.run(y, {training: True})
    assert 0.4 < (dropped == 0).mean() < 0.6 and set(np.unique(dropped)) <= {0.0, 2.0}


def test_case_takes_the_first_true_predicate(graph):
    x = ts.placeholder(ts.int32, [])
    out = ts.case([(ts.less(x, 0), lambda: ts.constant(-1)),
                   (ts.equal(x, 0), lambda: ts.constant(0))], default=lambda: ts.constant(1))
    no_default = ts.case([(ts.less(x, 0), lambda: ts.constant(-1)),
                          (ts.less(x, 10), lambda: ts.constant(5))])
    exclusive = ts.case({ts.less(x, 5): lambda: ts.constant(1),
                         ts.less(x, 3): lambda: ts.constant(2)},
                        default=lambda: ts.constant(3), exclusive=True)
    sess = ts.Session()
    assert [sess.run(out, {x: v}) for v in (-4, 0, 9)] == [-1, 0, 1]
    assert [sess.run(no_default, {x: v}) for v in (-4, 50)] == [-1, 5]  # the last fn is default
    assert sess.run(exclusive, {x: 4}) == 1 and sess.run(exclusive, {x: 7}) == 3
    with pytest.raises(ts.errors.InvalidArgumentError, match="More than one condition"):
        sess.run(exclusive, {x: 1})
    with pytest.raises(TypeError, match="pairs"):
        ts.case([ts.less(x, 0)], default=lambda: ts.constant(1))


def test_assert_fails_the_run_with_its_data(graph):
    x = ts.placeholder(ts.float32, [None])
    check = ts.Assert(ts.reduce_all(x > 0), ["x must be positive:", x], summarize=2)
    with ts.control_dependencies([check]):
        y = ts.sqrt(x)
    sess = ts.Session()
    assert sess.run(y, {x: [4.0]}).tolist() == [2.0]
    with pytest.raises(ts.errors.InvalidArgumentError,
                       match=r"assertion failed: \[x must be positive:\] \[\[-1.0 2.0\.\.\.\]\]"):
        sess.run(y, {x: [-1.0, 2.0, 3.0]})
