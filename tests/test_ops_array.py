"""Every op of array_ops.py: forward against numpy, gradient against finite differences, static
shapes, build-time and run-time errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_check import check_op, check_op_untyped, randn

import tensorslow as ts


def run(fetches, feed=None, graph=None):
    with ts.Session(graph=graph or ts.get_default_graph()) as sess:
        return sess.run(fetches, feed)


@pytest.fixture
def graph():
    g = ts.Graph()
    with g.as_default():
        yield g


# -- existing ops: identity, shapes, reshape, broadcast_to, fill, like, range, where ---------------


def test_identity_and_stop_gradient():
    rng = np.random.RandomState(0)
    x = randn(rng, (2, 3))
    check_op(ts.identity, [x], lambda a: a)
    _, (p,), (out,), _ = check_op(ts.stop_gradient, [x], lambda a: a, grad=False)
    assert ts.gradients(ts.reduce_sum(out), p) == [None]


def test_placeholder_with_default(graph):
    d = ts.constant([1.0, 2.0])
    p = ts.placeholder_with_default(d, [2])
    (g,) = ts.gradients(ts.reduce_sum(p * 3.0), d)
    np.testing.assert_allclose(run(p), [1, 2])
    np.testing.assert_allclose(run(p, {p: [5.0, 6.0]}), [5, 6])
    np.testing.assert_allclose(run(g), [3, 3])


def test_shape_size_rank(graph):
    x = ts.placeholder(ts.float32, [None, 3])
    s, n, r = ts.shape(x), ts.size(x), ts.rank(x)
    s64 = ts.shape(x, out_type=ts.int64)
    assert s.shape.as_list() == [2] and n.shape.as_list() == [] and s.dtype == ts.int32
    out = run([s, n, r, s64], {x: np.zeros((4, 3), np.float32)})
    np.testing.assert_array_equal(out[0], [4, 3])
    assert out[1] == 12 and out[2] == 2 and out[3].dtype == np.int64


@pytest.mark.parametrize("target", [[6], [3, 2], [-1, 2], [1, -1, 3], [2, 3, 1]], ids=str)
def test_reshape(target):
    rng = np.random.RandomState(1)
    x = randn(rng, (2, 3))
    _, _, (out,), (value,) = check_op(lambda t: ts.reshape(t, target), [x],
                                      lambda a: a.reshape(target))
    assert out.shape.as_list() == list(value.shape)
    check_op_untyped(lambda t: ts.reshape(t, target), [x], lambda a: a.reshape(target))


def test_reshape_errors_and_dynamic_shape(graph):
    x = ts.placeholder(ts.float32, [2, 3])
    with pytest.raises(ValueError):
        ts.reshape(x, [4, 2])
    with pytest.raises(ValueError):
        ts.reshape(x, [-1, -1])
    y = ts.placeholder(ts.float32, [None, 3])
    z = ts.reshape(x, ts.shape(y))
    assert z.shape.as_list() == [None, None] or z.shape.ndims == 2
    np.testing.assert_array_equal(run(z, {x: np.ones((2, 3)), y: np.ones((2, 3))}).shape, (2, 3))
    flat = ts.reshape(y, [ts.shape(y)[0], -1])  # a shape list holding a tensor
    assert run(flat, {y: np.ones((4, 3))}).shape == (4, 3)


@pytest.mark.parametrize("shapes", [((3,), (2, 3)), ((2, 1), (2, 4)), ((), (2, 2)),
                                    ((1, 3), (2, 2, 3))], ids=str)
def test_broadcast_to(shapes):
    rng = np.random.RandomState(2)
    x = randn(rng, shapes[0])
    check_op(lambda t: ts.broadcast_to(t, shapes[1]), [x],
             lambda a: np.broadcast_to(a, shapes[1]))


def test_fill_zeros_ones_like(graph):
    x = ts.placeholder(ts.float32, [2, 3])
    v = ts.placeholder(ts.float32, [])
    f = ts.fill([2, 2], v)
    (dv,) = ts.gradients(ts.reduce_sum(f), v)
    outs = run([f, dv, ts.zeros_like(x), ts.ones_like(x), ts.zeros([2, 1]), ts.ones(3, ts.int32),
                ts.zeros_like(x, dtype=ts.int32)], {x: np.ones((2, 3)), v: 2.5})
    np.testing.assert_array_equal(outs[0], np.full((2, 2), 2.5))
    assert outs[1] == 4.0
    assert outs[2].dtype == np.float32 and not outs[2].any()
    assert outs[3].dtype == np.float32 and outs[3].all()
    assert outs[4].shape == (2, 1) and outs[4].dtype == np.float32
    assert outs[5].dtype == np.int32
    assert outs[6].dtype == np.int32 and outs[6].shape == (2, 3)


@pytest.mark.parametrize("args,dtype", [((5,), None), ((2, 10, 3), None), ((1.0, 2.0, 0.25),
                                        None), ((0, 5), ts.float64)], ids=str)
def test_range(graph, args, dtype):
    r = ts.range(*args, dtype=dtype) if dtype else ts.range(*args)
    value = run(r)
    np.testing.assert_allclose(value, np.arange(*args))
    assert r.shape.as_list() == [len(np.arange(*args))]


def test_where_select_and_indices():
    rng = np.random.RandomState(3)
    cond = np.array([[True, False, True], [False, False, True]])
    x, y = randn(rng, (2, 3)), randn(rng, (2, 3))
    check_op(lambda c, a, b: ts.where(c, a, b), [cond, x, y], np.where)
    # TF1's Select picks whole rows by a vector condition
    check_op(lambda c, a, b: ts.where(c, a, b), [np.array([True, False]), x, y],
             lambda c, a, b: np.where(c[:, None], a, b))
    # SelectV2 broadcasts all three
    check_op(lambda c, a, b: ts.where_v2(c, a, b), [cond, randn(rng, (3,)), randn(rng, (2, 1))],
             np.where)
    check_op(lambda c: ts.where(c), [cond], lambda c: np.argwhere(c), grad=False)


# -- ExpandDims, Squeeze ---------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_expand_dims(axis):
    rng = np.random.RandomState(4)
    x = randn(rng, (2, 3))
    _, _, (out,), (value,) = check_op(lambda t: ts.expand_dims(t, axis), [x],
                                      lambda a: np.expand_dims(a, axis))
    assert out.shape.as_list() == list(value.shape)
    check_op_untyped(lambda t: ts.expand_dims(t, axis), [x], lambda a: np.expand_dims(a, axis))


def test_expand_dims_dim_alias_and_errors(graph):
    x = ts.placeholder(ts.float32, [2, 3])
    assert ts.expand_dims(x, dim=1).shape.as_list() == [2, 1, 3]
    assert ts.expand_dims(x, 1).op.type == "ExpandDims"
    with pytest.raises(ValueError):
        ts.expand_dims(x, 3)
    with pytest.raises(ValueError):
        ts.expand_dims(x)


@pytest.mark.parametrize("axis", [None, [1], [-1], [1, 3], 3], ids=str)
def test_squeeze(axis):
    rng = np.random.RandomState(5)
    x = randn(rng, (2, 1, 3, 1))
    ref_axis = tuple(axis) if isinstance(axis, list) else axis
    _, _, (out,), (value,) = check_op(lambda t: ts.squeeze(t, axis), [x],
                                      lambda a: np.squeeze(a, ref_axis))
    assert out.shape.as_list() == list(value.shape)
    assert out.op.get_attr("squeeze_dims") == ([] if axis is None else np.atleast_1d(axis)
                                               .tolist())
    check_op_untyped(lambda t: ts.squeeze(t, axis), [x], lambda a: np.squeeze(a, ref_axis))


def test_squeeze_errors(graph):
    x = ts.placeholder(ts.float32, [2, 1, 3])
    assert ts.squeeze(x, squeeze_dims=[1]).shape.as_list() == [2, 3]
    with pytest.raises(ValueError):
        ts.squeeze(x, [0])
    with pytest.raises(ValueError):
        ts.squeeze(x, [3])
    u = ts.placeholder(ts.float32, [None, 3])
    s = ts.squeeze(u, [0])
    assert s.shape.as_list() == [3]
    with pytest.raises(ts.errors.InvalidArgumentError):
        run(s, {u: np.ones((2, 3))})


# -- Transpose -------------------------------------------------------------------------------------


@pytest.mark.parametrize("perm", [None, [0, 1, 2], [2, 0, 1], [1, 0, 2], [0, 2, 1]], ids=str)
def test_transpose(perm):
    rng = np.random.RandomState(6)
    x = randn(rng, (2, 3, 4))
    _, _, (out,), (value,) = check_op(lambda t: ts.transpose(t, perm), [x],
                                      lambda a: np.transpose(a, perm))
    assert out.shape.as_list() == list(value.shape) and out.op.type == "Transpose"
    check_op_untyped(lambda t: ts.transpose(t, perm), [x], lambda a: np.transpose(a, perm))


def test_transpose_dynamic_perm_and_errors(graph):
    x = ts.placeholder(ts.float64, [2, 3, 4])
    perm = ts.placeholder(ts.int32, [3])
    y = ts.transpose(x, perm)
    assert y.shape.as_list() == [None, None, None]
    (dx,) = ts.gradients(ts.reduce_sum(y * ts.constant(np.arange(24.0).reshape(4, 2, 3))), x)
    xv = np.ones((2, 3, 4))
    got, grad = run([y, dx], {x: xv, perm: [2, 0, 1]})
    assert got.shape == (4, 2, 3)
    np.testing.assert_allclose(grad, np.transpose(np.arange(24.0).reshape(4, 2, 3), [1, 2, 0]))
    with pytest.raises(ValueError):
        ts.transpose(x, [0, 1])
    with pytest.raises(ValueError):
        ts.transpose(x, [0, 1, 1])


def test_invert_permutation(graph):
    p = ts.invert_permutation(ts.constant([2, 0, 3, 1]))
    np.testing.assert_array_equal(run(p), [1, 3, 0, 2])


# -- ConcatV2, Pack, Unpack ------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_concat(axis, n):
    rng = np.random.RandomState(7)
    shapes = [(2, 3), (2, 3), (2, 3)]
    if axis == 0:
        shapes = [(1, 3), (2, 3), (3, 3)]
    elif axis in (1, -1):
        shapes = [(2, 1), (2, 3), (2, 2)]
    xs = [randn(rng, s) for s in shapes[:n]]
    _, _, (out,), (value,) = check_op(lambda *t: ts.concat(list(t), axis), xs,
                                      lambda *a: np.concatenate(a, axis))
    assert out.shape.as_list() == list(value.shape)
    assert out.op.type == ("ConcatV2" if n > 1 else "Identity")
    check_op_untyped(lambda *t: ts.concat(list(t), axis), xs,
                     lambda *a: np.concatenate(a, axis))


def test_concat_attrs_dynamic_axis_and_errors(graph):
    a = ts.placeholder(ts.float64, [2, 3])
    b = ts.placeholder(ts.float64, [2, None])
    c = ts.concat([a, b], 1)
    assert c.op.get_attr("N") == 2 and c.op.inputs[2].dtype == ts.int32
    assert c.shape.as_list() == [2, None]
    axis = ts.placeholder(ts.int32, [])
    d = ts.concat([a, a], axis)
    (da,) = ts.gradients(ts.reduce_sum(d * d), a)  # ConcatOffset + Slice at run time
    av = np.arange(6.0).reshape(2, 3)
    out, grad = run([d, da], {a: av, axis: 0})
    np.testing.assert_allclose(out, np.concatenate([av, av]))
    np.testing.assert_allclose(grad, 4 * av)
    with pytest.raises(ValueError):
        ts.concat([a, ts.placeholder(ts.float64, [3, 3])], 1)
    with pytest.raises(TypeError):
        ts.concat([a, ts.placeholder(ts.float32, [2, 3])], 0)
    with pytest.raises(ValueError):
        ts.concat([a, a], 2)
    with pytest.raises(ValueError):
        ts.concat([ts.constant(1.0), ts.constant(2.0)], 0)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_unstack(axis):
    rng = np.random.RandomState(8)
    xs = [randn(rng, (2, 3)) for _ in range(3)]
    _, _, (out,), (value,) = check_op(lambda *t: ts.stack(list(t), axis), xs,
                                      lambda *a: np.stack(a, axis))
    assert out.shape.as_list() == list(value.shape) and out.op.type == "Pack"
    x = randn(rng, (2, 3, 4))
    n = x.shape[axis]
    _, _, outs, _ = check_op(lambda t: ts.unstack(t, axis=axis), [x],
                             lambda a: [np.take(a, i, axis) for i in range(n)])
    assert len(outs) == n and outs[0].op.type == "Unpack"
    assert outs[0].op.get_attr("num") == n


def test_stack_of_python_values_is_a_constant(graph):
    s = ts.stack([[1, 2], [3, 4]])
    assert s.op.type == "Const"
    x = ts.placeholder(ts.float32, [2])
    p = ts.stack([x, [1.0, 2.0]])
    assert p.op.type == "Pack" and p.shape.as_list() == [2, 2]
    with pytest.raises(ValueError):
        ts.stack([x, ts.placeholder(ts.float32, [3])])


def test_unstack_errors_and_iteration(graph):
    x = ts.placeholder(ts.float64, [3, 2])
    rows = list(x)
    assert len(rows) == 3 and rows[0].shape.as_list() == [2]
    with pytest.raises(ValueError):
        ts.unstack(ts.placeholder(ts.float64, [None, 2]))
    with pytest.raises(ValueError):
        ts.unstack(x, num=2)
    u = ts.unstack(ts.placeholder(ts.float64), num=2)
    assert len(u) == 2
    np.testing.assert_allclose(run(rows[2], {x: np.arange(6.0).reshape(3, 2)}), [4, 5])
    # An unused output gets a zero gradient.
    (dx,) = ts.gradients(rows[1], x)
    np.testing.assert_allclose(run(dx, {x: np.ones((3, 2))}), [[0, 0], [1, 1], [0, 0]])


# -- Split, SplitV ---------------------------------------------------------------------------------


@pytest.mark.parametrize("num,axis", [(2, 0), (3, 1), (4, -1), (1, 0)])
def test_split(num, axis):
    rng = np.random.RandomState(9)
    x = randn(rng, (2, 3, 4))
    _, _, outs, values = check_op(lambda t: ts.split(t, num, axis), [x],
                                  lambda a: np.split(a, num, axis))
    assert outs[0].op.type == "Split" and outs[0].op.get_attr("num_split") == num
    assert outs[0].op.inputs[0].op.type == "Const"  # axis is the first input
    assert [o.shape.as_list() for o in outs] == [list(v.shape) for v in values]


@pytest.mark.parametrize("sizes,axis", [([1, 3], 2), ([2, -1], 1), ([1, 1, 2], -1),
                                        ([3], 1)], ids=str)
def test_split_v(sizes, axis):
    rng = np.random.RandomState(10)
    x = randn(rng, (2, 3, 4))
    dim = x.shape[axis]
    resolved = [dim - sum(s for s in sizes if s != -1) if s == -1 else s for s in sizes]
    _, _, outs, values = check_op(lambda t: ts.split(t, sizes, axis), [x],
                                  lambda a: np.split(a, np.cumsum(resolved)[:-1], axis))
    assert outs[0].op.type == "SplitV" and outs[0].op.get_attr("num_split") == len(sizes)
    assert [o.shape.as_list() for o in outs] == [list(v.shape) for v in values]


def test_split_errors(graph):
    x = ts.placeholder(ts.float32, [2, 3])
    with pytest.raises(ValueError):
        ts.split(x, 2, axis=1)
    with pytest.raises(ValueError):
        ts.split(x, [1, 1], axis=1)
    with pytest.raises(ValueError):
        ts.split(x, [-1, -1, 1], axis=1)
    u = ts.placeholder(ts.float32, [None, 3])
    parts = ts.split(u, 2, axis=0, name="halves")
    with pytest.raises(ts.errors.InvalidArgumentError, match="(?s)evenly divide.*node halves"):
        run(parts, {u: np.ones((3, 3))})
    axis = ts.placeholder(ts.int32, [])
    with pytest.raises(ts.errors.InvalidArgumentError, match="split_dim"):
        run(ts.split(u, 3, axis=axis), {u: np.ones((3, 3)), axis: 2})
    halves = run(ts.split(u, 3, axis=axis), {u: np.arange(9.0).reshape(3, 3), axis: -1})
    np.testing.assert_array_equal(halves[2], [[2.0], [5.0], [8.0]])


# -- Tile ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("multiples", [[1, 1], [2, 1], [1, 3], [2, 2]], ids=str)
def test_tile(multiples):
    rng = np.random.RandomState(11)
    x = randn(rng, (2, 3))
    _, _, (out,), (value,) = check_op(lambda t: ts.tile(t, multiples), [x],
                                      lambda a: np.tile(a, multiples))
    assert out.shape.as_list() == list(value.shape)
    check_op_untyped(lambda t: ts.tile(t, multiples), [x], lambda a: np.tile(a, multiples))


def test_tile_errors(graph):
    x = ts.placeholder(ts.float32, [2, 3])
    with pytest.raises(ValueError):
        ts.tile(x, [2])
    with pytest.raises(ValueError):
        ts.tile(x, [-1, 1])


# -- OneHot ----------------------------------------------------------------------------------------


def _np_one_hot(indices, depth, on=1.0, off=0.0, axis=-1, dtype=np.float32):
    out = np.where(np.asarray(indices)[..., None] == np.arange(depth), on, off).astype(dtype)
    return np.moveaxis(out, -1, axis) if axis != -1 else out


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_one_hot(graph, axis):
    indices = np.array([[0, 2, -1], [1, 3, 2]], dtype=np.int32)
    t = ts.one_hot(indices, 3, axis=axis)
    value = run(t)
    expected = _np_one_hot(indices, 3, axis=-1 if axis is None else axis)
    np.testing.assert_array_equal(value, expected)
    assert t.dtype == ts.float32 and value.dtype == np.float32
    assert t.shape.as_list() == list(expected.shape)
    assert t.op.get_attr("TI") == ts.int32


def test_one_hot_values_dtypes_and_errors(graph):
    i = ts.placeholder(ts.int64, [None])
    t = ts.one_hot(i, 4, on_value=5, off_value=-1)
    assert t.dtype == ts.int32 and t.shape.as_list() == [None, 4]
    np.testing.assert_array_equal(run(t, {i: [3, 0]}), [[-1, -1, -1, 5], [5, -1, -1, -1]])
    d = ts.one_hot([1], 2, dtype=ts.float64)
    assert d.dtype == ts.float64 and run(d).dtype == np.float64
    with pytest.raises(TypeError):
        ts.one_hot([1], 2, on_value=ts.constant(1.0), off_value=ts.constant(0))
    with pytest.raises(TypeError):
        ts.one_hot([1], 2, on_value=ts.constant(1.0), dtype=ts.float64)
    with pytest.raises(TypeError):
        ts.one_hot(ts.constant([1.0]), 2)
    (g,) = ts.gradients(ts.reduce_sum(ts.one_hot(i, 3)), i)
    assert g is None


# -- GatherV2 and UnsortedSegmentSum -----------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("indices", [[2, 0, 2], [[1, 0], [0, 1]], 1], ids=str)
def test_gather(axis, indices):
    rng = np.random.RandomState(12)
    x = randn(rng, (3, 4, 3))
    idx = np.array(indices, dtype=np.int32)
    _, _, (out,), (value,) = check_op(lambda t, i: ts.gather(t, i, axis=axis), [x, idx],
                                      lambda a, i: np.take(a, i, axis=axis))
    assert out.shape.as_list() == list(value.shape) and out.op.type == "GatherV2"


def test_gather_untyped_and_errors(graph):
    rng = np.random.RandomState(13)
    check_op_untyped(lambda t, i: ts.gather(t, i), [randn(rng, (4, 2)), np.array([3, 1, 3])],
                     lambda a, i: np.take(a, i, axis=0), wrt=[0])
    x = ts.placeholder(ts.float32, [3, 2])
    i = ts.placeholder(ts.int32, [None])
    g = ts.gather(x, i)
    with pytest.raises(ts.errors.InvalidArgumentError):
        run(g, {x: np.ones((3, 2)), i: [3]})
    with pytest.raises(ts.errors.InvalidArgumentError):
        run(g, {x: np.ones((3, 2)), i: [-1]})
    with pytest.raises(TypeError):
        ts.gather(x, ts.constant([0.5]))
    with pytest.raises(ValueError):
        ts.gather(x, [0], axis=2)


def test_unsorted_segment_sum():
    rng = np.random.RandomState(14)
    data = randn(rng, (4, 3))
    ids = np.array([0, 2, 0, -1], dtype=np.int32)

    def ref(d, i):
        out = np.zeros((3, 3))
        for k, s in enumerate(i):
            if s >= 0:
                out[s] += d[k]
        return out
    check_op(lambda d, i: ts.unsorted_segment_sum(d, i, 3), [data, ids], ref)


# -- Slice, Pad ------------------------------------------------------------------------------------


@pytest.mark.parametrize("begin,size", [([0, 0], [2, 3]), ([1, 1], [1, 2]), ([0, 1], [-1, -1]),
                                        ([1, 0], [1, -1]), ([0, 2], [2, 0])], ids=str)
def test_slice(begin, size):
    rng = np.random.RandomState(15)
    x = randn(rng, (2, 3))

    def ref(a):
        return a[tuple(slice(b, None if s == -1 else b + s)
                       for b, s in zip(begin, size, strict=True))]
    _, _, (out,), (value,) = check_op(lambda t: ts.slice(t, begin, size), [x], ref)
    assert out.shape.as_list() == list(value.shape)
    check_op_untyped(lambda t: ts.slice(t, begin, size), [x], ref)


def test_slice_dynamic_begin_and_errors(graph):
    x = ts.placeholder(ts.float64, [3, 4])
    b = ts.placeholder(ts.int32, [2])
    s = ts.slice(x, b, [2, 2])
    assert s.shape.as_list() == [2, 2]
    (dx,) = ts.gradients(ts.reduce_sum(s), x)
    out, grad = run([s, dx], {x: np.arange(12.0).reshape(3, 4), b: [1, 2]})
    np.testing.assert_allclose(out, [[6, 7], [10, 11]])
    np.testing.assert_allclose(grad, np.pad(np.ones((2, 2)), [[1, 0], [2, 0]]))
    with pytest.raises(ValueError):
        ts.slice(x, [2, 0], [2, 1])
    with pytest.raises(ValueError):
        ts.slice(x, [0], [1])
    with pytest.raises(ts.errors.InvalidArgumentError):
        run(s, {x: np.ones((3, 4)), b: [2, 0]})


@pytest.mark.parametrize("paddings", [[[0, 0], [0, 0]], [[1, 0], [0, 2]], [[2, 1], [1, 1]]],
                         ids=str)
@pytest.mark.parametrize("value", [0, 1.5])
def test_pad(paddings, value):
    rng = np.random.RandomState(16)
    x = randn(rng, (2, 3))
    _, _, (out,), (v,) = check_op(lambda t: ts.pad(t, paddings, constant_values=value), [x],
                                  lambda a: np.pad(a, paddings, constant_values=value))
    assert out.op.type == ("Pad" if value == 0 else "PadV2")
    assert out.shape.as_list() == list(v.shape)
    check_op_untyped(lambda t: ts.pad(t, paddings), [x], lambda a: np.pad(a, paddings))


def test_pad_errors(graph):
    x = ts.placeholder(ts.float32, [2, 3])
    with pytest.raises(ValueError):
        ts.pad(x, [[1, 1]])
    with pytest.raises(ValueError):
        ts.pad(x, [[-1, 0], [0, 0]])
    with pytest.raises(ValueError):
        ts.pad(x, [[1, 1], [1, 1]], mode="REFLECT")


# -- StridedSlice and __getitem__ --------------------------------------------------------------

KEYS = [
    0, -1, 2, slice(1, 3), slice(None, None, -1), slice(-2, None), slice(10, None),
    slice(None, 100), slice(2, 0, -1), (slice(None), slice(1, 3)), (Ellipsis, None),
    (-1, slice(None, None, -2)), (None, 0), (Ellipsis, 1), (0, Ellipsis, None, slice(1, None)),
    (1, 2, 3), (slice(None), None, 1), (Ellipsis,), (slice(0, 3, 2), slice(None), -2),
    (None, Ellipsis, None),
]


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_getitem_like_numpy(key):
    rng = np.random.RandomState(17)
    x = randn(rng, (3, 4, 5))
    _, _, (out,), (value,) = check_op(lambda t: t[key], [x], lambda a: np.asarray(a[key]))
    assert out.op.type == "StridedSlice"
    assert out.shape.as_list() == list(value.shape)
    check_op_untyped(lambda t: t[key], [x], lambda a: np.asarray(a[key]))


def test_getitem_masks_as_tf_encodes_them(graph):
    x = ts.placeholder(ts.float32, [3, 4, 5])
    y = x[1:, ..., None, 2]
    op = y.op
    assert op.get_attr("begin_mask") == 0 and op.get_attr("end_mask") == 1
    assert op.get_attr("ellipsis_mask") == 2 and op.get_attr("new_axis_mask") == 4
    assert op.get_attr("shrink_axis_mask") == 8
    assert [t.op.type for t in op.inputs[1:]] == ["Const"] * 3
    assert y.shape.as_list() == [2, 4, 1]


def test_getitem_with_tensor_index(graph):
    x = ts.placeholder(ts.float64, [4, 2])
    i = ts.placeholder(ts.int32, [])
    row = x[i]
    part = x[i:, 1]
    assert row.shape.as_list() == [2] and part.shape.as_list() == [None]
    xv = np.arange(8.0).reshape(4, 2)
    got_row, got_part = run([row, part], {x: xv, i: 2})
    np.testing.assert_allclose(got_row, [4, 5])
    np.testing.assert_allclose(got_part, [5, 7])
    (dx,) = ts.gradients(ts.reduce_sum(row), x)
    np.testing.assert_allclose(run(dx, {x: xv, i: -1}), [[0, 0]] * 3 + [[1, 1]])


def test_getitem_errors(graph):
    x = ts.placeholder(ts.float32, [3, 4])
    with pytest.raises(ValueError):
        x[3]
    with pytest.raises(ValueError):
        x[0, 0, 0]
    with pytest.raises(ValueError):
        x[..., ...]
    with pytest.raises(ValueError):
        x[::0]
    with pytest.raises(TypeError):
        x[0.5]
    with pytest.raises(TypeError):
        x["a"]
    u = ts.placeholder(ts.float32, [None])
    with pytest.raises(ts.errors.InvalidArgumentError):
        run(u[5], {u: np.ones(3)})


def test_getitem_on_variables_and_scalar_result_is_0d(graph):
    v = ts.Variable(np.arange(6.0).reshape(2, 3))
    s = v[1, 2]
    out = run(s)
    assert isinstance(out, np.ndarray) and out.shape == () and out == 5.0


def test_strided_slice_function_and_second_derivative(graph):
    x = ts.placeholder(ts.float64, [5, 4])
    y = ts.strided_slice(x, [1, 0], [5, 4], [2, 1])
    assert y.shape.as_list() == [2, 4]
    z = ts.strided_slice(x, [0, 1], [0, 3], [1, 1], begin_mask=1, end_mask=1,
                         shrink_axis_mask=2)
    assert z.shape.as_list() == [5]
    np.testing.assert_allclose(run(z, {x: np.arange(20.0).reshape(5, 4)}), [1, 5, 9, 13, 17])
    # the gradient of StridedSliceGrad is a StridedSlice of the incoming gradient
    w = ts.placeholder(ts.float64, [2, 4])
    (gx,) = ts.gradients(ts.reduce_sum(y * w), x)
    (gw,) = ts.gradients(ts.reduce_sum(gx * ts.constant(np.arange(20.0).reshape(5, 4))), w)
    out = run(gw, {x: np.zeros((5, 4)), w: np.zeros((2, 4))})
    np.testing.assert_allclose(out, np.arange(20.0).reshape(5, 4)[1::2])


_slice_part = st.one_of(st.none(), st.integers(-6, 6))


@st.composite
def _index(draw):
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["int", "slice", "new", "ellipsis"]))
        if kind == "int":
            parts.append(draw(st.integers(-3, 2)))
        elif kind == "slice":
            step = draw(st.one_of(st.none(), st.sampled_from([-3, -2, -1, 1, 2, 3])))
            parts.append(slice(draw(_slice_part), draw(_slice_part), step))
        elif kind == "new":
            parts.append(None)
        elif Ellipsis not in parts:
            parts.append(Ellipsis)
    return tuple(parts)


@settings(max_examples=60, deadline=None)
@given(_index())
def test_getitem_matches_numpy_on_random_indices(key):
    x = np.arange(60.0).reshape(3, 4, 5)
    try:
        expected = np.asarray(x[key])
    except IndexError:
        expected = None
    g = ts.Graph()
    with g.as_default():
        p = ts.placeholder(ts.float64, [3, 4, 5])
        if expected is None:
            with pytest.raises((ValueError, IndexError)):
                p[key]
            return
        y = p[key]
        (dx,) = ts.gradients(ts.reduce_sum(y), p)
    assert y.shape.as_list() == list(expected.shape)
    got, grad = run([y, dx], {p: x}, graph=g)
    np.testing.assert_array_equal(got, expected)
    mask = np.zeros_like(x)
    if expected.size:
        np.add.at(mask, key, 1.0)
    np.testing.assert_array_equal(grad, mask)


# -- ClipByValue -----------------------------------------------------------------------------------


def test_clip_by_value():
    rng = np.random.RandomState(18)
    x = randn(rng, (3, 4), away_from=(-0.5, 0.7))
    lo, hi = np.array(-0.5), np.array(0.7)
    _, _, (out,), _ = check_op(lambda t, a, b: ts.clip_by_value(t, a, b), [x, lo, hi],
                               lambda t, a, b: np.clip(t, a, b))
    assert out.op.type == "ClipByValue" and out.shape.as_list() == [3, 4]
    # per-element bounds that broadcast
    lo2 = np.array([-1.0, -0.2, 0.1, -0.6])
    x2 = randn(rng, (3, 4), away_from=tuple(lo2) + (0.7,))
    check_op(lambda t, a, b: ts.clip_by_value(t, a, b), [x2, lo2, hi],
             lambda t, a, b: np.clip(t, a, b))
    check_op_untyped(lambda t: ts.clip_by_value(t, -0.5, 0.7), [x], lambda t: np.clip(t, -0.5,
                                                                                       0.7))


def test_clip_by_value_dtypes_and_errors(graph):
    x = ts.placeholder(ts.float32, [2, 3])
    y = ts.clip_by_value(x, 0.0, 1.0)
    assert y.dtype == ts.float32
    assert run(y, {x: np.full((2, 3), 3.0)}).dtype == np.float32
    with pytest.raises(TypeError):
        ts.clip_by_value(x, ts.constant(0.0, ts.float64), 1.0)
    with pytest.raises(ValueError):
        ts.clip_by_value(x, ts.zeros([4, 2, 3]), 1.0)


# -- ArgMax, ArgMin ------------------------------------------------------------------------------


@pytest.mark.parametrize("fn,ref", [(ts.argmax, np.argmax), (ts.argmin, np.argmin)])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_argmax_argmin(fn, ref, axis):
    rng = np.random.RandomState(19)
    x = randn(rng, (3, 4))
    _, (p,), (out,), (value,) = check_op(lambda t: fn(t, axis), [x],
                                         lambda a: ref(a, axis).astype(np.int64), grad=False)
    assert out.dtype == ts.int64 and out.shape.as_list() == list(value.shape)
    assert ts.gradients(ts.reduce_sum(ts.cast(out, ts.float64)), p) == [None]


def test_argmax_aliases_output_type_and_errors(graph):
    x = ts.placeholder(ts.float32, [3, 4])
    a = ts.argmax(x, dimension=1, output_type=ts.int32)
    assert a.dtype == ts.int32 and a.op.get_attr("output_type") == ts.int32
    b = ts.argmax(x)
    assert b.shape.as_list() == [4]
    xv = np.random.RandomState(0).rand(3, 4).astype(np.float32)
    av, bv = run([a, b], {x: xv})
    np.testing.assert_array_equal(av, xv.argmax(1))
    assert av.dtype == np.int32 and bv.dtype == np.int64
    with pytest.raises(ValueError):
        ts.argmax(x, 2)
    with pytest.raises(TypeError):
        ts.argmax(x, 1, output_type=ts.float32)


@pytest.mark.parametrize("axis", [[0], [1], [-1], [0, 2], [2, 0, 1], []])
def test_reverse_against_numpy(axis):
    x = randn(np.random.RandomState(3), (2, 3, 4))
    _, _, (out,), _ = check_op(lambda t: ts.reverse(t, axis), [x],
                               lambda a: np.flip(a, axis) if axis else a)
    assert out.op.type == "ReverseV2"


def test_reverse_with_a_fed_axis_and_its_errors():
    x = ts.placeholder(ts.float64, [2, 3])
    axis = ts.placeholder(ts.int32, [None])
    y = ts.reverse_v2(x, axis)
    xv = np.arange(6.0).reshape(2, 3)
    with ts.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: xv, axis: [1]}), xv[:, ::-1])
        with pytest.raises(ts.errors.InvalidArgumentError, match="axis 1 specified more"):
            sess.run(y, {x: xv, axis: [1, -1]})
        with pytest.raises(ts.errors.InvalidArgumentError, match=r"'axis'\[0\] = 2 is out"):
            sess.run(y, {x: xv, axis: [2]})
    with pytest.raises(ValueError, match="specified more than once"):
        ts.reverse(x, [0, 0])


def _reverse_sequence_numpy(x, lengths, seq, batch):
    out = np.array(x, copy=True)
    for b, n in enumerate(lengths):
        index = [slice(None)] * x.ndim
        index[batch], index[seq] = b, slice(0, n)
        out[tuple(index)] = np.flip(x[tuple(index)], axis=seq - (seq > batch))
    return out


@pytest.mark.parametrize("seq,batch", [(1, 0), (0, 1), (2, 0), (0, 2)])
def test_reverse_sequence_against_numpy(seq, batch):
    rng = np.random.RandomState(seq * 3 + batch)
    x = randn(rng, (3, 4, 3))
    lengths = rng.randint(0, x.shape[seq] + 1, size=x.shape[batch]).astype(np.int64)
    _, _, (out,), _ = check_op(
        lambda t, n: ts.reverse_sequence(t, n, seq_axis=seq, batch_axis=batch), [x, lengths],
        lambda a, n: _reverse_sequence_numpy(a, n, seq, batch), wrt=[0])
    assert out.op.type == "ReverseSequence"
    assert out.op.get_attr("seq_dim") == seq and out.op.get_attr("batch_dim") == batch


def test_reverse_sequence_errors():
    x = ts.placeholder(ts.float64, [2, 3])
    n = ts.placeholder(ts.int32, [None])
    y = ts.reverse_sequence(x, n, seq_dim=1)
    with ts.Session() as sess:
        xv = np.arange(6.0).reshape(2, 3)
        np.testing.assert_array_equal(sess.run(y, {x: xv, n: [3, 2]}), [[2, 1, 0], [4, 3, 5]])
        with pytest.raises(ts.errors.InvalidArgumentError, match=r"seq_lens\(1\) > input"):
            sess.run(y, {x: xv, n: [1, 4]})
        with pytest.raises(ts.errors.InvalidArgumentError, match="Length of seq_lengths"):
            sess.run(y, {x: xv, n: [1, 1, 1]})
    with pytest.raises(ValueError, match="Length of seq_lengths"):
        ts.reverse_sequence(x, [1, 1, 1], seq_axis=1)
    with pytest.raises(ValueError, match="must differ"):
        ts.reverse_sequence(x, [1, 1], seq_axis=0, batch_axis=0)
    with pytest.raises(ValueError, match="needs seq_axis"):
        ts.reverse_sequence(x, [1, 1])
    with pytest.raises(TypeError, match="int32 or int64"):
        ts.reverse_sequence(x, [1.0, 1.0], seq_axis=1)
