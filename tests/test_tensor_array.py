"""TensorLists and TensorArray: the TensorList ops against their semantics, their errors, their
gradients by finite differences (directly and through while_loop), TensorArray's API, and
TensorArray loops through GraphDef."""

import numpy as np
import pytest
from op_check import check_op

import tensorslow as ts
from tensorslow.ops import list_ops


@pytest.fixture
def graph():
    g = ts.Graph()
    with g.as_default():
        yield g


def _run(*fetches, feed=None):
    return ts.Session().run(list(fetches), feed)


def test_list_ops_build_read_and_change_lists(graph):
    x = ts.constant(np.arange(6.0).reshape(3, 2))
    lst = list_ops.tensor_list_from_tensor(x, [2])
    changed = list_ops.tensor_list_set_item(lst, 1, ts.constant([10.0, 20.0], ts.float64))
    longer = list_ops.tensor_list_push_back(changed, ts.constant([7.0, 8.0], ts.float64))
    popped, last = list_ops.tensor_list_pop_back(longer, ts.float64)
    reserved = list_ops.tensor_list_reserve([2], 2, ts.float64)
    half = list_ops.tensor_list_set_item(reserved, 1, ts.constant([1.0, 2.0], ts.float64))
    scattered = list_ops.tensor_list_scatter(ts.constant([[5.0, 6.0]], ts.float64), [3])
    split = list_ops.tensor_list_split(ts.constant(np.arange(10.0).reshape(5, 2)), [-1, 2],
                                       [2, 3])
    got = _run(list_ops.tensor_list_stack(lst, ts.float64),
               list_ops.tensor_list_stack(longer, ts.float64),
               list_ops.tensor_list_get_item(longer, 3, ts.float64), last,
               list_ops.tensor_list_length(popped),
               list_ops.tensor_list_gather(longer, [3, 0], ts.float64),
               list_ops.tensor_list_stack(half, ts.float64),
               list_ops.tensor_list_length(scattered),
               list_ops.tensor_list_concat(split, ts.float64),
               list_ops.tensor_list_get_item(split, 1, ts.float64),
               list_ops.tensor_list_element_shape(lst),
               list_ops.tensor_list_length(list_ops.tensor_list_resize(lst, 5)))
    np.testing.assert_array_equal(got[0], np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(got[1], [[0, 1], [10, 20], [4, 5], [7, 8]])
    np.testing.assert_array_equal(got[2], [7, 8])
    np.testing.assert_array_equal(got[3], [7, 8])
    assert got[4] == 3
    np.testing.assert_array_equal(got[5], [[7, 8], [0, 1]])
    np.testing.assert_array_equal(got[6], [[0, 0], [1, 2]])  # unset elements read as zeros
    assert got[7] == 4
    np.testing.assert_array_equal(got[8], np.arange(10.0).reshape(5, 2))
    np.testing.assert_array_equal(got[9], [[4, 5], [6, 7], [8, 9]])
    np.testing.assert_array_equal(got[10], [2])
    assert got[11] == 5
    # What the graph knows of the elements' shape reaches the reads.
    assert list_ops.tensor_list_get_item(longer, 0, ts.float64).shape.as_list() == [2]


def test_list_ops_errors_name_the_op_and_the_problem(graph):
    lst = list_ops.tensor_list_reserve(None, 2, ts.float32)
    cases = [
        (list_ops.tensor_list_get_item(lst, 5, ts.float32), "index 5 is out of range"),
        (list_ops.tensor_list_stack(lst, ts.float32), "not fully defined"),
        (list_ops.tensor_list_set_item(lst, 0, ts.constant([1], ts.int32)),
         "does not match the list's element dtype"),
        (list_ops.tensor_list_pop_back(list_ops.empty_tensor_list([], ts.float32),
                                       ts.float32)[1], "pop from an empty list"),
        (list_ops.tensor_list_split(ts.constant([1.0, 2.0]), [-1], [3]), "do not split"),
    ]
    for fetch, message in cases:
        with pytest.raises(ts.errors.InvalidArgumentError, match=message):
            ts.Session().run(fetch)
    shaped = list_ops.tensor_list_reserve([2], 1, ts.float32)
    with pytest.raises(ts.errors.InvalidArgumentError, match="incompatible element shapes"):
        ts.Session().run(list_ops.tensor_list_set_item(shaped, 0, ts.constant([1.0, 2, 3])))


def test_list_op_gradients_against_finite_differences():
    rng = np.random.RandomState(0)
    x, item = rng.randn(4, 3), rng.randn(3)

    def set_and_read(x, item):
        lst = list_ops.tensor_list_from_tensor(x, [3])
        lst = list_ops.tensor_list_set_item(lst, 2, item * 2.0)
        lst = list_ops.tensor_list_push_back(lst, ts.sin(item))
        gathered = list_ops.tensor_list_gather(lst, [4, 0, 0], ts.float64)
        stacked = list_ops.tensor_list_stack(lst, ts.float64)
        _, last = list_ops.tensor_list_pop_back(lst, ts.float64)
        return [stacked * stacked, gathered, list_ops.tensor_list_get_item(lst, 1, ts.float64)
                * last]

    def numpy_fn(x, item):
        rows = [x[0], x[1], item * 2.0, x[3], np.sin(item)]
        stacked = np.array(rows)
        return [stacked * stacked, stacked[[4, 0, 0]], rows[1] * rows[4]]

    check_op(set_and_read, [x, item], numpy_fn)

    def scatter_split(x):
        lst = list_ops.tensor_list_scatter(x, [2, 0, 1, 3])
        lst = list_ops.tensor_list_scatter(x[:2] * 3.0, [1, 2], input_handle=lst)
        parts = list_ops.tensor_list_split(list_ops.tensor_list_stack(lst, ts.float64),
                                           [-1, 3], [1, 3])
        return list_ops.tensor_list_concat(parts, ts.float64) ** 2

    def scatter_split_numpy(x):
        rows = np.empty_like(x)
        rows[[2, 0, 1, 3]] = x
        rows[[1, 2]] = x[:2] * 3.0
        return rows ** 2

    check_op(scatter_split, [x], scatter_split_numpy)


def _rnn_numpy(xs, w):
    h, out = np.zeros((1, w.shape[1])), []
    for x in xs:
        h = np.tanh((x[None] + h) @ w)
        out.append(h[0])
    return np.array(out)


def _rnn_loop(xs, w, steps):
    inputs = ts.TensorArray(ts.float64, size=steps).unstack(xs)
    outputs = ts.TensorArray(ts.float64, size=steps)

    def body(i, h, out):
        h = ts.tanh(ts.matmul(ts.expand_dims(inputs.read(i), 0) + h, w))
        return i + 1, h, out.write(i, h[0])

    _, _, out = ts.while_loop(lambda i, h, out: i < steps, body,
                              [0, ts.zeros([1, 3], ts.float64), outputs])
    return out.stack()


def test_tensor_arrays_in_a_loop_and_their_gradients():
    rng = np.random.RandomState(1)
    xs, w = rng.randn(5, 3), rng.randn(3, 3) * 0.5
    graph, _, outputs, _ = check_op(lambda xs, w: _rnn_loop(xs, w, 5), [xs, w], _rnn_numpy)
    assert outputs[0].shape.as_list() == [None, 3]
    types = {op.type for op in graph.get_operations()}
    assert {"TensorListReserve", "TensorListFromTensor", "TensorListStack", "While"} <= types


def test_tensor_array_api(graph):
    ta = ts.TensorArray(ts.float32, size=0, dynamic_size=True)
    for i in range(3):
        ta = ta.write(i, ts.fill([2], float(i)))
    assert ta.element_shape.as_list() == [2]
    split = ts.TensorArray(ts.float32, size=2).split(ts.constant([1.0, 2, 3, 4, 5]), [2, 3])
    scattered = ts.TensorArray(ts.float32, size=3).scatter([2, 0], ts.constant([[1.0], [2.0]]))
    stacked, read, size, gathered, concat, split_read, scattered_all = _run(
        ta.stack(), ta.read(1), ta.size(), ta.gather([2, 0]), ta.concat(),
        split.read(1), scattered.stack())
    np.testing.assert_array_equal(stacked, [[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(read, [1, 1])
    assert size == 3
    np.testing.assert_array_equal(gathered, [[2, 2], [0, 0]])
    np.testing.assert_array_equal(concat, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(split_read, [3, 4, 5])
    np.testing.assert_array_equal(scattered_all, [[2], [0], [1]])
    with pytest.raises(ts.errors.InvalidArgumentError, match="out of range"):
        ts.Session().run(ts.TensorArray(ts.float32, size=1).write(3, 1.0).stack())
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        ta.write(3, ts.constant([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="dtype"):
        ta.write(3, ts.constant([1, 2], ts.int32))
    with pytest.raises(ValueError, match="Size must be provided"):
        ts.TensorArray(ts.float32)


def test_a_dynamically_sized_tensor_array_grows_in_a_loop(graph):
    n = ts.placeholder(ts.int32, [])

    def body(i, ta):
        return i + 1, ta.write(i, ts.cast(i * i, ts.float32))

    _, ta = ts.while_loop(lambda i, ta: i < n, body,
                          [0, ts.TensorArray(ts.float32, size=0, dynamic_size=True)])
    got = ts.Session().run(ta.stack(), {n: 6})
    np.testing.assert_array_equal(got, np.arange(6.0) ** 2)


def test_a_tensor_array_loop_through_graph_def():
    rng = np.random.RandomState(2)
    xs, w = rng.randn(4, 3), rng.randn(3, 3) * 0.5
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float64, [4, 3], name="x")
        y = ts.identity(_rnn_loop(x, ts.constant(w), 4), name="y")
        expected = ts.Session().run(y, {x: xs})
    graph_def = g.as_graph_def()
    g2 = ts.Graph()
    with g2.as_default():
        ts.import_graph_def(graph_def, name="")
        got = ts.Session().run("y:0", {"x:0": xs})
    np.testing.assert_allclose(got, _rnn_numpy(xs, w), rtol=1e-12)
    np.testing.assert_array_equal(got, expected)
    assert g2.as_graph_def().SerializeToString(deterministic=True) == \
        graph_def.SerializeToString(deterministic=True)
