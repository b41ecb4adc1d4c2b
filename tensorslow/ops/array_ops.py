"""Placeholders, identity, shapes, reshaping, filling and selecting: kernel, shape rule and
gradient of each op side by side."""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Callable

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    NotDifferentiable,
    RegisterGradient,
    Tensor,
    _graph_of,
    convert_to_tensor,
    get_default_graph,
    is_tensor_like,
    make_op,
    register_op,
    static_value,
)
from tensorslow.framework.tensor_shape import TensorShape, as_shape, broadcast_shapes
from tensorslow.ops import constant_op
from tensorslow.ops.op_util import common_dtype

# --------------------------------------------------------------------------------------------
# Placeholder
# --------------------------------------------------------------------------------------------


def _placeholder_kernel(op, ctx):
    def unfed():
        raise errors.InvalidArgumentError(None, op, f"You must feed a value for placeholder "
                                          f"tensor '{op.name}'")
    return unfed


register_op("Placeholder",
            infer=lambda op: [(op._attrs.get("dtype"),
                               op._attrs.get("shape") or TensorShape(None))],
            kernel=_placeholder_kernel,
            attrs={"dtype": ("type", None), "shape": ("shape", None)})
NotDifferentiable("Placeholder")


def placeholder(dtype=None, shape=None, name=None) -> Tensor:
    """A value fed at run time. Without a dtype (the seed's style) it takes the fed value's."""
    attrs = {"dtype": None if dtype is None else dtypes.as_dtype(dtype).base_dtype,
             "shape": None if shape is None else as_shape(shape)}
    return make_op("Placeholder", [], attrs, name=name or "Placeholder",
                   graph=get_default_graph())._outputs[0]


def _placeholder_with_default_infer(op):
    x = op._inputs[0]
    return [(x._dtype, op._attrs.get("shape") or TensorShape(None))]


register_op("PlaceholderWithDefault", infer=_placeholder_with_default_infer,
            kernel=lambda op, ctx: (lambda x: x),
            attrs={"dtype": ("type", None), "shape": ("shape", None)})


def placeholder_with_default(input, shape, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    return make_op("PlaceholderWithDefault", [x], {"dtype": x._dtype, "shape": as_shape(shape)},
                   name=name)._outputs[0]


# --------------------------------------------------------------------------------------------
# Identity and StopGradient
# --------------------------------------------------------------------------------------------


def _same_infer(op):
    x = op._inputs[0]
    return [(x._dtype.base_dtype if x._dtype is not None else None, x._shape)]


def _identity_kernel(op, ctx):
    return _pass


def _pass(x):
    return x


register_op("Identity", infer=_same_infer, kernel=_identity_kernel, attrs={"T": ("type", None)})
register_op("StopGradient", infer=_same_infer, kernel=_identity_kernel,
            attrs={"T": ("type", None)})
register_op("PreventGradient", infer=_same_infer, kernel=_identity_kernel,
            attrs={"T": ("type", None), "message": ("string", "")})
NotDifferentiable("StopGradient")


@RegisterGradient("Identity")
@RegisterGradient("PlaceholderWithDefault")
def _identity_grad(op, grad):
    return grad


def identity(input, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    return make_op("Identity", [x], {"T": x._dtype}, name=name)._outputs[0]


def stop_gradient(input, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    return make_op("StopGradient", [x], {"T": x._dtype}, name=name)._outputs[0]


# --------------------------------------------------------------------------------------------
# Shape, Size, Rank
# --------------------------------------------------------------------------------------------


def _shape_infer(op):
    rank = op._inputs[0]._shape.ndims
    return [(op._attrs["out_type"], TensorShape([rank]))]


def _shape_kernel(op, ctx):
    np_type = op._attrs["out_type"].as_numpy_dtype
    return lambda x: np.array(np.shape(x), dtype=np_type)


def _size_kernel(op, ctx):
    np_type = op._attrs["out_type"].as_numpy_dtype
    return lambda x: np.array(np.size(x), dtype=np_type)


register_op("Shape", infer=_shape_infer, kernel=_shape_kernel,
            attrs={"T": ("type", None), "out_type": ("type", dtypes.int32)})
register_op("Size", infer=lambda op: [(op._attrs["out_type"], TensorShape([]))],
            kernel=_size_kernel, attrs={"T": ("type", None), "out_type": ("type", dtypes.int32)})
register_op("Rank", infer=lambda op: [(dtypes.int32, TensorShape([]))],
            kernel=lambda op, ctx: (lambda x: np.array(np.ndim(x), dtype=np.int32)),
            attrs={"T": ("type", None)})
for _type in ("Shape", "Size", "Rank"):
    NotDifferentiable(_type)


def shape(input, name=None, out_type=dtypes.int32) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    return make_op("Shape", [x], {"T": x._dtype, "out_type": dtypes.as_dtype(out_type)},
                   name=name)._outputs[0]


def size(input, name=None, out_type=dtypes.int32) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    return make_op("Size", [x], {"T": x._dtype, "out_type": dtypes.as_dtype(out_type)},
                   name=name)._outputs[0]


def rank(input, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    return make_op("Rank", [x], {"T": x._dtype}, name=name)._outputs[0]


# --------------------------------------------------------------------------------------------
# Reshape and BroadcastTo (the target shape is a second input)
# --------------------------------------------------------------------------------------------


def _static_target(shape_t: Tensor):
    """What the graph tells of the value of shape tensor `shape_t`: a list of ints with None
    where a dimension is only known at run time, or None (TF's constant_value_as_shape)."""
    value = static_value(shape_t)
    if value is not None:
        return [int(d) for d in np.asarray(value).reshape(-1)]
    op = shape_t._op
    if op._type == "Shape" and op._inputs[0]._shape.ndims is not None:
        return op._inputs[0]._shape.as_list()
    if op._type == "ConcatV2":
        parts = [_static_target(t) for t in op._inputs[:-1]]
        if all(p is not None for p in parts):
            return [d for p in parts for d in p]
    if op._type == "Pack" and op._attrs.get("axis", 0) == 0:
        return [_static_scalar(t) for t in op._inputs]
    if op._type == "Reshape" and op._inputs[0]._shape.ndims == 0:
        return [_static_scalar(op._inputs[0])]
    dims = shape_t._shape.as_tuple()
    if dims is not None and len(dims) == 1 and dims[0] is not None:
        return [None] * dims[0]
    return None


def _static_scalar(t: Tensor):
    value = static_value(t)
    return None if value is None or np.ndim(value) else int(value)


def _reshape_infer(op):
    x, shape_t = op._inputs
    target = _static_target(shape_t)
    if target is None:
        return [(x._dtype, TensorShape(None))]
    if target.count(-1) > 1:
        raise ValueError(f"Cannot infer the shape of '{op._name}': more than one -1 in "
                         f"{target}")
    n = x._shape.num_elements()
    known = [d for d in target if d is not None and d != -1]
    if -1 in target:
        if n is not None and None not in target:
            prod = int(np.prod(known)) if known else 1
            if prod == 0 or n % prod:
                raise ValueError(f"Cannot reshape a tensor with {n} elements to shape "
                                 f"{target} for '{op._name}'")
            target = [n // prod if d == -1 else d for d in target]
        else:
            target = [None if d == -1 else d for d in target]
    elif n is not None and None not in target and int(np.prod(target)) != n:
        raise ValueError(f"Cannot reshape a tensor with {n} elements to shape {target} "
                         f"(requested {int(np.prod(target))} elements) for '{op._name}'")
    return [(x._dtype, TensorShape(target))]


def _shape_tuple(value) -> tuple:
    return tuple(int(d) for d in np.asarray(value).reshape(-1))


def _reshape_kernel(op, ctx):
    static = static_value(op._inputs[1])
    if static is not None:
        target = _shape_tuple(static)
        return lambda x, shape_value: np.reshape(x, target)
    return lambda x, shape_value: np.reshape(x, _shape_tuple(shape_value))


register_op("Reshape", infer=_reshape_infer, kernel=_reshape_kernel,
            attrs={"T": ("type", None), "Tshape": ("type", dtypes.int32)})


def _shape_input(shape, graph) -> Tensor:
    if isinstance(shape, Tensor):
        return shape
    if isinstance(shape, (list, builtins.tuple)) and any(is_tensor_like(d) for d in shape):
        return stack(shape, name="shape")  # e.g. [ts.shape(x)[0], -1]
    dims = [-1 if d is None else int(d) for d in
            (shape.as_list() if isinstance(shape, TensorShape) else list(np.asarray(shape)
                                                                           .reshape(-1)))]
    return constant_op.constant(np.array(dims, dtype=np.int32), graph=graph, name="shape")


def reshape(tensor, shape, name=None) -> Tensor:
    x = convert_to_tensor(tensor)
    shape_t = _shape_input(shape, _graph_of([x]))
    return make_op("Reshape", [x, shape_t], {"T": x._dtype, "Tshape": shape_t._dtype},
                   name=name)._outputs[0]


@RegisterGradient("Reshape")
def _reshape_grad(op, grad):
    x = op._inputs[0]
    target = x._shape.as_list() if x._shape.is_fully_defined() else shape(x)
    return reshape(grad, target), None


def _broadcast_to_infer(op):
    x, shape_t = op._inputs
    target = _static_target(shape_t)
    if target is None:
        return [(x._dtype, TensorShape(None))]
    out = TensorShape([None if d is None or d < 0 else d for d in target])
    broadcast_shapes(x._shape, out)  # raises when they cannot broadcast
    return [(x._dtype, out)]


def _broadcast(x, target: tuple):
    x = np.asarray(x)
    if x.shape == target:
        return x
    if len(x.shape) > len(target):
        raise ValueError(f"Unable to broadcast tensor of shape {x.shape} to {target}")
    out = np.empty(target, dtype=x.dtype)  # a plain array: cheaper than a strided view
    out[...] = x
    return out


def _broadcast_to_kernel(op, ctx):
    static = static_value(op._inputs[1])
    if static is not None:
        target = _shape_tuple(static)
        return lambda x, shape_value: _broadcast(x, target)
    return lambda x, shape_value: _broadcast(x, _shape_tuple(shape_value))


register_op("BroadcastTo", infer=_broadcast_to_infer, kernel=_broadcast_to_kernel,
            attrs={"T": ("type", None), "Tidx": ("type", dtypes.int32)})


def broadcast_to(input, shape, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    shape_t = _shape_input(shape, _graph_of([x]))
    return make_op("BroadcastTo", [x, shape_t], {"T": x._dtype, "Tidx": shape_t._dtype},
                   name=name)._outputs[0]


@RegisterGradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    from tensorslow.ops import math_ops

    x = op._inputs[0]
    gx, _ = math_ops.unbroadcast(grad, x, op._outputs[0])
    return gx, None


# --------------------------------------------------------------------------------------------
# Filling: Fill, ZerosLike, OnesLike, zeros, ones
# --------------------------------------------------------------------------------------------


def _fill_infer(op):
    dims_t, value = op._inputs
    target = _static_target(dims_t)
    return [(value._dtype, TensorShape(None) if target is None else TensorShape(target))]


def _fill_kernel(op, ctx):
    def fill_value(dims, value):
        value = np.asarray(value)
        return np.full(tuple(int(d) for d in np.asarray(dims).reshape(-1)), value,
                       dtype=value.dtype)
    return fill_value


register_op("Fill", infer=_fill_infer, kernel=_fill_kernel,
            attrs={"T": ("type", None), "index_type": ("type", dtypes.int32)})


@RegisterGradient("Fill")
def _fill_grad(op, grad):
    from tensorslow.ops import math_ops

    return None, math_ops.reduce_sum(grad)


def fill(dims, value, name=None) -> Tensor:
    value_t = convert_to_tensor(value)
    dims_t = _shape_input(dims, _graph_of([value_t]))
    return make_op("Fill", [dims_t, value_t], {"T": value_t._dtype,
                                               "index_type": dims_t._dtype},
                   name=name)._outputs[0]


def _like_kernel(value):
    def build(op, ctx):
        if op._attrs.get("T") == dtypes.variant and value == 0:
            from tensorslow.ops.list_ops import zeros_like_list

            return zeros_like_list
        like = np.zeros_like if value == 0 else np.ones_like
        return lambda x: like(np.asarray(x))
    return build


register_op("ZerosLike", infer=_same_infer, kernel=_like_kernel(0), attrs={"T": ("type", None)})
register_op("OnesLike", infer=_same_infer, kernel=_like_kernel(1), attrs={"T": ("type", None)})
NotDifferentiable("ZerosLike")
NotDifferentiable("OnesLike")


def zeros_like(tensor, dtype=None, name=None, optimize=True) -> Tensor:
    x = convert_to_tensor(tensor)
    if dtype is not None and x._dtype != dtypes.as_dtype(dtype):
        return zeros(shape(x), dtype=dtype, name=name)
    return make_op("ZerosLike", [x], {"T": x._dtype}, name=name)._outputs[0]


def ones_like(tensor, dtype=None, name=None, optimize=True) -> Tensor:
    x = convert_to_tensor(tensor)
    if dtype is not None and x._dtype != dtypes.as_dtype(dtype):
        return ones(shape(x), dtype=dtype, name=name)
    return make_op("OnesLike", [x], {"T": x._dtype}, name=name)._outputs[0]


def _filled(shape_, value, dtype, name):
    dtype = dtypes.as_dtype(dtype)
    if isinstance(shape_, Tensor):
        return fill(shape_, constant_op.constant(value, dtype=dtype), name=name)
    dims = [int(d) for d in (shape_.as_list() if isinstance(shape_, TensorShape)
                             else np.asarray(shape_).reshape(-1))] if np.ndim(shape_) or (
        isinstance(shape_, TensorShape)) else [int(shape_)]
    return constant_op.constant(np.full(dims, value, dtype=dtype.as_numpy_dtype), dtype=dtype,
                                name=name or ("zeros" if value == 0 else "ones"))


def zeros(shape, dtype=dtypes.float32, name=None) -> Tensor:  # noqa: A002
    return _filled(shape, 0, dtype, name)


def ones(shape, dtype=dtypes.float32, name=None) -> Tensor:  # noqa: A002
    return _filled(shape, 1, dtype, name)


# --------------------------------------------------------------------------------------------
# Range
# --------------------------------------------------------------------------------------------


def _range_infer(op):
    start, limit, delta = (static_value(t) for t in op._inputs)
    dtype = op._attrs["Tidx"]
    if start is not None and limit is not None and delta is not None:
        n = len(np.arange(start, limit, delta))
        return [(dtype, TensorShape([n]))]
    return [(dtype, TensorShape([None]))]


def _range_kernel(op, ctx):
    np_type = op._attrs["Tidx"].as_numpy_dtype
    return lambda start, limit, delta: np.arange(start, limit, delta, dtype=np_type)


register_op("Range", infer=_range_infer, kernel=_range_kernel,
            attrs={"Tidx": ("type", dtypes.int32)})
NotDifferentiable("Range")


def range(start, limit=None, delta=1, dtype=None, name="range") -> Tensor:  # noqa: A001
    if limit is None:
        start, limit = 0, start
    values = [start, limit, delta]
    typed = [v for v in values if isinstance(v, Tensor)]
    if dtype is None:
        if typed:
            dtype = typed[0].dtype or dtypes.int32
        elif any(isinstance(v, float) for v in values):
            dtype = dtypes.float32
        else:
            dtype = dtypes.int32
    dtype = dtypes.as_dtype(dtype)
    from tensorslow.ops import math_ops

    graph = typed[0].graph if typed else get_default_graph()
    inputs = [math_ops.cast(v, dtype) if isinstance(v, Tensor) else
              constant_op.constant(v, dtype=dtype, graph=graph) for v in values]
    return make_op("Range", inputs, {"Tidx": dtype}, name=name)._outputs[0]


# --------------------------------------------------------------------------------------------
# Select (where with three arguments)
# --------------------------------------------------------------------------------------------


def _select_infer(op):
    cond, x, y = op._inputs
    dtype = common_dtype(x, y)
    if x._dtype is not None and y._dtype is not None and x._dtype != y._dtype:
        raise TypeError(f"Inputs of '{op._type}' must share a dtype: {x._dtype.name} vs "
                        f"{y._dtype.name}")
    cond_shape = cond._shape
    if op._type == "Select" and cond_shape.ndims == 1 and (x._shape.ndims or 0) > 1:
        # TF1's Select: a vector condition picks whole rows (its length is x's first dim).
        if not cond_shape.is_compatible_with(x._shape[:1]):
            raise ValueError(f"The condition of '{op._name}' has shape {cond_shape}, which "
                             f"does not match the first dimension of {x._shape}")
        cond_shape = TensorShape([1] * x._shape.ndims)
    return [(dtype, broadcast_shapes(broadcast_shapes(cond_shape, x._shape), y._shape))]


register_op("SelectV2", infer=_select_infer, kernel=lambda op, ctx: np.where,
            attrs={"T": ("type", None)})
register_op("Select", infer=_select_infer, kernel=lambda op, ctx: _select_v1,
            attrs={"T": ("type", None)})


def _select_v1(cond, x, y):
    cond = np.asarray(cond)
    x = np.asarray(x)
    if cond.ndim == 1 and x.ndim > 1:  # TF1's Select picks whole rows by a vector condition
        cond = cond.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.where(cond, x, y)


@RegisterGradient("SelectV2")
@RegisterGradient("Select")
def _select_grad(op, grad):
    from tensorslow.ops import math_ops

    cond, x, y = op._inputs
    zeros_ = zeros_like(grad)
    gx = make_op(op._type, [cond, grad, zeros_], {"T": grad._dtype})._outputs[0]
    gy = make_op(op._type, [cond, zeros_, grad], {"T": grad._dtype})._outputs[0]
    gx, _ = math_ops.unbroadcast(gx, x, op._outputs[0])
    gy, _ = math_ops.unbroadcast(gy, y, op._outputs[0])
    return None, gx, gy


def _where_indices_kernel(op, ctx):
    return lambda cond: np.argwhere(np.asarray(cond)).astype(np.int64)


register_op("Where", infer=lambda op: [(dtypes.int64, TensorShape(
    [None, op._inputs[0]._shape.ndims]))], kernel=_where_indices_kernel,
    attrs={"T": ("type", dtypes.bool)})
NotDifferentiable("Where")


def where(condition, x=None, y=None, name=None) -> Tensor:
    """TF1's where: elements of x or y by condition (rows by a vector condition), or with x and
    y both None, the indices of the true elements."""
    cond = convert_to_tensor(condition)
    if x is None and y is None:
        return make_op("Where", [cond], {"T": cond._dtype}, name=name)._outputs[0]
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    from tensorslow.ops.op_util import operands

    x, y = operands(x, y, "Select")
    return make_op("Select", [cond, x, y], {"T": common_dtype(x, y)}, name=name)._outputs[0]


def where_v2(condition, x=None, y=None, name=None) -> Tensor:
    cond = convert_to_tensor(condition)
    if x is None and y is None:
        return make_op("Where", [cond], {"T": cond._dtype}, name=name)._outputs[0]
    from tensorslow.ops.op_util import operands

    x, y = operands(x, y, "SelectV2")
    return make_op("SelectV2", [cond, x, y], {"T": common_dtype(x, y)}, name=name)._outputs[0]


# ============================================================================================
# Rearranging ops: the axis, permutation, multiples and slice bounds are inputs (Const tensors
# when given as Python values), while Squeeze's dims, Pack's axis and Split's count are attrs,
# as in TensorFlow's op definitions.
# ============================================================================================

_range = builtins.range
_slice = builtins.slice


def _int_input(value, graph, name) -> Tensor:
    """An integer input given as a Python/numpy value, a Tensor, or a list holding Tensors."""
    if isinstance(value, Tensor) or is_tensor_like(value):
        return convert_to_tensor(value)
    if isinstance(value, (list, builtins.tuple)) and any(is_tensor_like(v) for v in value):
        return stack(value, name=name)
    if isinstance(value, TensorShape):
        value = value.as_list()
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            arr = arr.astype(np.int32)
        else:
            raise TypeError(f"Expected an integer value or list for '{name}', got {value!r}")
    fits = arr.size == 0 or (arr.min() >= np.iinfo(np.int32).min and
                             arr.max() <= np.iinfo(np.int32).max)
    arr = arr.astype(np.int32 if fits else np.int64)
    return constant_op.constant(arr, graph=graph, name=name)


def _static_ints(t: Tensor):
    """The value of a constant integer tensor as a list of ints (or an int for a scalar)."""
    value = static_value(t)
    if value is None:
        return None
    value = np.asarray(value)
    if value.ndim == 0:
        return int(value)
    return [int(v) for v in value.reshape(-1)]


def _runtime_int(value) -> int:
    """A scalar (or one-element) integer input's value as an int."""
    if np.ndim(value) == 0:
        return int(value)
    return int(np.asarray(value).reshape(-1)[0])


def _check_axis(axis: int, rank: int, what: str = "axis") -> int:
    """`axis` normalized to [0, rank); ValueError when it is out of [-rank, rank)."""
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of range for a tensor of rank {rank} "
                         f"(expected [{-rank}, {rank}))")
    return axis % rank


def _dims(t: Tensor):
    return t._shape.as_tuple()


def _shape_of(t: Tensor):
    """The static shape as a list of ints when fully known, else a Shape tensor."""
    if t._shape.is_fully_defined():
        return t._shape.as_list()
    return shape(t)


def _deprecated_alias(new_name, new, old_name, old):
    if old is not None:
        if new is not None and new != old:
            raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'")
        return old
    return new


# --------------------------------------------------------------------------------------------
# ExpandDims and Squeeze
# --------------------------------------------------------------------------------------------


def _expand_dims_infer(op):
    x, dim_t = op._inputs
    dims = _dims(x)
    axis = _static_ints(dim_t)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise ValueError(f"'dim' input must be a tensor with a single value, got {axis}")
        axis = axis[0]
    if dims is None:
        return [(x._dtype, TensorShape(None))]
    rank = len(dims)
    if axis is None:
        return [(x._dtype, TensorShape([None] * (rank + 1)))]
    if not -rank - 1 <= axis <= rank:
        raise ValueError(f"Tried to expand dim index {axis} for tensor with {rank} dimensions.")
    axis = axis % (rank + 1)
    return [(x._dtype, TensorShape(dims[:axis] + (1,) + dims[axis:]))]


def _expand_dims_kernel(op, ctx):
    def expand(x, dim):
        x = np.asarray(x)
        axis = _runtime_int(dim)
        if axis < 0:
            axis += x.ndim + 1
        if not 0 <= axis <= x.ndim:
            raise ValueError(f"Tried to expand dim index {_runtime_int(dim)} for tensor with "
                             f"{x.ndim} dimensions.")
        return x.reshape(x.shape[:axis] + (1,) + x.shape[axis:])
    return expand


register_op("ExpandDims", infer=_expand_dims_infer, kernel=_expand_dims_kernel,
            attrs={"T": ("type", None), "Tdim": ("type", dtypes.int32)})


@RegisterGradient("ExpandDims")
def _expand_dims_grad(op, grad):
    return reshape(grad, _shape_of(op._inputs[0])), None


def expand_dims(input, axis=None, name=None, dim=None) -> Tensor:  # noqa: A002
    axis = _deprecated_alias("axis", axis, "dim", dim)
    if axis is None:
        raise ValueError("Must specify an axis argument to ts.expand_dims()")
    x = convert_to_tensor(input)
    dim_t = _int_input(axis, _graph_of([x]), "dim")
    return make_op("ExpandDims", [x, dim_t], {"T": x._dtype, "Tdim": dim_t._dtype},
                   name=name or "ExpandDims")._outputs[0]


def _squeeze_infer(op):
    x = op._inputs[0]
    dims = _dims(x)
    squeeze_dims = list(op._attrs["squeeze_dims"])
    if dims is None:
        return [(x._dtype, TensorShape(None))]
    rank = len(dims)
    if not squeeze_dims:
        if None in dims:
            return [(x._dtype, TensorShape(None))]
        return [(x._dtype, TensorShape([d for d in dims if d != 1]))]
    axes = set()
    for a in squeeze_dims:
        a = _check_axis(a, rank, "squeeze dim")
        if dims[a] is not None and dims[a] != 1:
            raise ValueError(f"Can not squeeze dim[{a}], expected a dimension of 1, got "
                             f"{dims[a]} for '{op._name}' with input shape {x._shape}")
        axes.add(a)
    return [(x._dtype, TensorShape([d for i, d in enumerate(dims) if i not in axes]))]


def _squeeze_kernel(op, ctx):
    squeeze_dims = builtins.tuple(op._attrs["squeeze_dims"])

    def squeeze_value(x):
        x = np.asarray(x)
        if squeeze_dims:
            return np.squeeze(x, axis=squeeze_dims)
        return np.squeeze(x)
    return squeeze_value


register_op("Squeeze", infer=_squeeze_infer, kernel=_squeeze_kernel,
            attrs={"T": ("type", None), "squeeze_dims": ("list(int)", [])})


@RegisterGradient("Squeeze")
def _squeeze_grad(op, grad):
    return reshape(grad, _shape_of(op._inputs[0]))


def squeeze(input, axis=None, name=None, squeeze_dims=None) -> Tensor:  # noqa: A002
    axis = _deprecated_alias("axis", axis, "squeeze_dims", squeeze_dims)
    if axis is None:
        axis = []
    elif np.ndim(axis) == 0:
        axis = [axis]
    x = convert_to_tensor(input)
    return make_op("Squeeze", [x], {"T": x._dtype, "squeeze_dims": [int(a) for a in axis]},
                   name=name or "Squeeze")._outputs[0]


# --------------------------------------------------------------------------------------------
# Transpose
# --------------------------------------------------------------------------------------------


def _check_permutation(perm, rank):
    if sorted(perm) != list(_range(rank)):
        raise ValueError(f"transpose expects a permutation of 0..{rank - 1}, got {perm}")


def _transpose_infer(op):
    x, perm_t = op._inputs
    dims = _dims(x)
    perm = _static_ints(perm_t)
    if perm is None:
        perm_len = _dims(perm_t)
        if dims is None and perm_len is not None and perm_len[0] is not None:
            return [(x._dtype, TensorShape([None] * perm_len[0]))]
        return [(x._dtype, TensorShape(None if dims is None else [None] * len(dims)))]
    perm = [perm] if isinstance(perm, int) else perm
    if dims is None:
        _check_permutation(perm, len(perm))
        return [(x._dtype, TensorShape([None] * len(perm)))]
    if len(perm) != len(dims):
        raise ValueError(f"Dimension must be {len(dims)} but is {len(perm)} for "
                         f"'{op._name}' (op: 'Transpose') with input shape {x._shape}")
    _check_permutation(perm, len(dims))
    return [(x._dtype, TensorShape([dims[p] for p in perm]))]


def _transpose_kernel(op, ctx):
    def transpose_value(x, perm):
        return np.transpose(x, builtins.tuple(int(p) for p in np.asarray(perm).reshape(-1)))
    return transpose_value


register_op("Transpose", infer=_transpose_infer, kernel=_transpose_kernel,
            attrs={"T": ("type", None), "Tperm": ("type", dtypes.int32)})


def _invert_permutation_kernel(op, ctx):
    def invert(perm):
        perm = np.asarray(perm)
        out = np.empty_like(perm)
        out[perm] = np.arange(perm.size, dtype=perm.dtype)
        return out
    return invert


register_op("InvertPermutation", infer=lambda op: [(op._inputs[0]._dtype, op._inputs[0]._shape)],
            kernel=_invert_permutation_kernel, attrs={"T": ("type", dtypes.int32)})
NotDifferentiable("InvertPermutation")


def invert_permutation(x, name=None) -> Tensor:
    x = convert_to_tensor(x)
    return make_op("InvertPermutation", [x], {"T": x._dtype}, name=name)._outputs[0]


@RegisterGradient("Transpose")
def _transpose_grad(op, grad):
    perm_t = op._inputs[1]
    perm = _static_ints(perm_t)
    if perm is not None:
        inverse = [0] * len(perm)
        for i, p in enumerate(perm):
            inverse[p] = i
        return transpose(grad, inverse), None
    return transpose(grad, invert_permutation(perm_t)), None


def transpose(a, perm=None, name="transpose", conjugate=False) -> Tensor:
    x = convert_to_tensor(a)
    if perm is None:
        rank_ = x._shape.ndims
        if rank_ is None:
            from tensorslow.ops import math_ops

            r = rank(x)
            perm = math_ops.subtract(math_ops.subtract(r, 1), range(0, r, 1))
        else:
            perm = list(_range(rank_ - 1, -1, -1))
    perm_t = _int_input(perm, _graph_of([x]), "perm")
    return make_op("Transpose", [x, perm_t], {"T": x._dtype, "Tperm": perm_t._dtype},
                   name=name)._outputs[0]


# --------------------------------------------------------------------------------------------
# ConcatV2, Pack, Unpack
# --------------------------------------------------------------------------------------------


def _shared_dtype(tensors, op_name):
    typed = [t._dtype for t in tensors if t._dtype is not None]
    if any(d != typed[0] for d in typed):
        raise TypeError(f"Inputs of '{op_name}' must all have the same dtype, got "
                        f"{[d.name for d in typed]}")
    return common_dtype(*tensors)


def _concat_infer(op):
    values, axis_t = op._inputs[:-1], op._inputs[-1]
    dtype = _shared_dtype(values, op._name)
    known = [_dims(v) for v in values if _dims(v) is not None]
    if not known:
        return [(dtype, TensorShape(None))]
    rank_ = len(known[0])
    if rank_ == 0:
        raise ValueError(f"Can't concatenate scalars (use ts.stack instead) for '{op._name}'")
    if any(len(d) != rank_ for d in known):
        raise ValueError(f"Shape must be rank {rank_} for all inputs of '{op._name}' "
                         f"(op: 'ConcatV2'), got shapes {[str(v._shape) for v in values]}")
    axis = _static_ints(axis_t)
    if axis is None:
        return [(dtype, TensorShape([None] * rank_))]
    axis = _check_axis(axis, rank_)
    out = []
    for i in _range(rank_):
        column = [d[i] for d in known]
        if i == axis:
            total = None if len(known) < len(values) or None in column else sum(column)
            out.append(total)
            continue
        sizes = {c for c in column if c is not None}
        if len(sizes) > 1:
            raise ValueError(f"Dimension {i} in both shapes must be equal, but are "
                             f"{sorted(sizes)} for '{op._name}' (op: 'ConcatV2') with input "
                             f"shapes: {', '.join(str(v._shape) for v in values)}")
        out.append(sizes.pop() if sizes else None)
    return [(dtype, TensorShape(out))]


def _concat_kernel(op, ctx):
    axis = _static_ints(op._inputs[-1])
    if isinstance(axis, int):
        return lambda *args: np.concatenate(args[:-1], axis=axis)

    def concat_values(*args):
        return np.concatenate(args[:-1], axis=_runtime_int(args[-1]))
    return concat_values


register_op("ConcatV2", infer=_concat_infer, kernel=_concat_kernel,
            attrs={"N": ("int", REQUIRED), "T": ("type", None), "Tidx": ("type", dtypes.int32)})


def _concat_offset_infer(op):
    shapes = op._inputs[1:]
    return [(dtypes.int32, s._shape) for s in shapes]


def _concat_offset_kernel(op, ctx):
    def offsets(axis, *shapes):
        axis = _runtime_int(axis) % len(shapes[0])
        out, start = [], 0
        for s in shapes:
            offset = np.zeros(len(s), dtype=np.int32)
            offset[axis] = start
            start += int(s[axis])
            out.append(offset)
        return builtins.tuple(out) if len(out) > 1 else out[0]
    return offsets


register_op("ConcatOffset", infer=_concat_offset_infer, kernel=_concat_offset_kernel,
            attrs={"N": ("int", REQUIRED)})
NotDifferentiable("ConcatOffset")


@RegisterGradient("ConcatV2")
def _concat_grad(op, grad):
    values, axis_t = op._inputs[:-1], op._inputs[-1]
    axis = _static_ints(axis_t)
    rank_ = grad._shape.ndims
    if axis is not None and rank_ is not None:
        axis = axis % rank_
        sizes = [v._shape.as_tuple()[axis] for v in values]
        if None not in sizes:
            return list(split(grad, sizes, axis=axis, num=len(sizes))) + [None]
    shapes = [shape(v) for v in values]
    offsets = make_op("ConcatOffset", [axis_t] + shapes, {"N": len(values)})._outputs
    return [slice(grad, begin, size_)
            for begin, size_ in zip(offsets, shapes, strict=False)] + [None]


def concat(values, axis, name="concat") -> Tensor:
    if not isinstance(values, (list, builtins.tuple)):
        values = [values]
    values = [convert_to_tensor(v) for v in values]
    if not values:
        raise ValueError("concat needs at least one value")
    graph = _graph_of(values)
    if len(values) == 1:
        axis_t = _int_input(axis, graph, "concat_dim")
        if axis_t._shape.ndims not in (None, 0):
            raise ValueError(f"axis of concat must be a scalar, got shape {axis_t._shape}")
        return identity(values[0], name=name)
    axis_t = _int_input(axis, graph, "axis")
    attrs = {"N": len(values), "T": _shared_dtype(values, name), "Tidx": axis_t._dtype}
    return make_op("ConcatV2", values + [axis_t], attrs, name=name)._outputs[0]


def _pack_infer(op):
    values = op._inputs
    dtype = _shared_dtype(values, op._name)
    merged = TensorShape(None)
    for v in values:
        if not merged.is_compatible_with(v._shape):
            raise ValueError(f"Shapes must be equal rank and compatible to stack in "
                             f"'{op._name}': {merged} vs {v._shape}")
        merged = merged.merge_with(v._shape)
    dims = merged.as_tuple()
    if dims is None:
        return [(dtype, TensorShape(None))]
    axis = op._attrs["axis"]
    if not -len(dims) - 1 <= axis <= len(dims):
        raise ValueError(f"axis = {axis} not in [{-len(dims) - 1}, {len(dims) + 1})")
    axis = axis % (len(dims) + 1)
    return [(dtype, TensorShape(dims[:axis] + (len(values),) + dims[axis:]))]


def _pack_kernel(op, ctx):
    axis = op._attrs["axis"]

    def pack(*values):
        return np.stack(values, axis=axis)
    return pack


register_op("Pack", infer=_pack_infer, kernel=_pack_kernel,
            attrs={"N": ("int", REQUIRED), "T": ("type", None), "axis": ("int", 0)})


@RegisterGradient("Pack")
def _pack_grad(op, grad):
    return unstack(grad, num=op._attrs["N"], axis=op._attrs["axis"])


def stack(values, axis=0, name="stack") -> Tensor:
    if not isinstance(values, (list, builtins.tuple)):
        values = [values]
    if axis == 0 and not any(is_tensor_like(v) or (isinstance(v, (list, builtins.tuple)) and
                                                   any(is_tensor_like(u) for u in v))
                             for v in values):
        # A list of plain values is a constant, as in TF.
        return constant_op.constant(values, name=name)
    values = [convert_to_tensor(v) for v in values]
    if not values:
        raise ValueError("stack needs at least one value")
    attrs = {"N": len(values), "T": _shared_dtype(values, name), "axis": int(axis)}
    return make_op("Pack", values, attrs, name=name)._outputs[0]


def _unpack_infer(op):
    x = op._inputs[0]
    num, axis = op._attrs["num"], op._attrs["axis"]
    dims = _dims(x)
    if dims is None:
        return [(x._dtype, TensorShape(None))] * num
    axis = _check_axis(axis, len(dims))
    if dims[axis] is not None and dims[axis] != num:
        raise ValueError(f"Dimension must be {num} but is {dims[axis]} for '{op._name}' "
                         f"(op: 'Unpack') with input shape {x._shape}")
    out = TensorShape(dims[:axis] + dims[axis + 1:])
    return [(x._dtype, out)] * num


def _unpack_kernel(op, ctx):
    num, axis = op._attrs["num"], op._attrs["axis"]

    def unpack(x):
        x = np.asarray(x)
        if x.shape[axis] != num:
            raise ValueError(f"Input shape axis {axis} must equal {num}, got shape "
                             f"{list(x.shape)}")
        moved = np.moveaxis(x, axis, 0) if axis not in (0, -x.ndim) else x
        if num == 1:
            return moved[0, ...]
        return builtins.tuple(moved[i, ...] for i in _range(num))
    return unpack


register_op("Unpack", infer=_unpack_infer, kernel=_unpack_kernel,
            attrs={"num": ("int", REQUIRED), "T": ("type", None), "axis": ("int", 0)})


@RegisterGradient("Unpack")
def _unpack_grad(op, *grads):
    return stack(list(grads), axis=op._attrs["axis"])


def unstack(value, num=None, axis=0, name="unstack") -> list[Tensor]:
    x = convert_to_tensor(value)
    if num is None:
        dims = _dims(x)
        if dims is None:
            raise ValueError(f"Cannot infer num from shape {x._shape}")
        num = dims[_check_axis(axis, len(dims))]
        if num is None:
            raise ValueError(f"Cannot infer num from shape {x._shape}")
    attrs = {"num": int(num), "T": x._dtype, "axis": int(axis)}
    return list(make_op("Unpack", [x], attrs, name=name)._outputs)


# --------------------------------------------------------------------------------------------
# Split and SplitV
# --------------------------------------------------------------------------------------------


def _split_infer(op):
    axis_t, x = op._inputs
    num = op._attrs["num_split"]
    dims = _dims(x)
    axis = _static_ints(axis_t)
    if dims is None:
        return [(x._dtype, TensorShape(None))] * num
    if axis is None:
        return [(x._dtype, TensorShape([None] * len(dims)))] * num
    axis = _check_axis(axis, len(dims))
    d = dims[axis]
    if d is not None and d % num:
        raise ValueError(f"Dimension size must be evenly divisible by {num} but is {d} for "
                         f"'{op._name}' (op: 'Split') with input shape {x._shape}")
    out = TensorShape(dims[:axis] + (None if d is None else d // num,) + dims[axis + 1:])
    return [(x._dtype, out)] * num


def _split_axis(op, x: np.ndarray, axis) -> int:
    """A split's runtime axis, normalized; InvalidArgumentError when out of range."""
    axis = _runtime_int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise errors.InvalidArgumentError(
            None, op, f"-input rank(-{x.ndim}) <= split_dim < input rank ({x.ndim}), but got "
                      f"{axis}")
    return axis % x.ndim


def _split_slices(axis: int, bounds) -> list:
    """The index of each part between consecutive `bounds` along `axis`."""
    lead = (builtins.slice(None),) * axis
    return [lead + (builtins.slice(a, b),) for a, b in zip(bounds, bounds[1:])]


def _split_parts(x: np.ndarray, axis: int, bounds) -> list:
    """Views of `x` between consecutive `bounds` along `axis`: np.split's result, by basic
    slicing (np.split pays several microseconds of Python per call)."""
    return [x[s] for s in _split_slices(axis, bounds)]


def _static_split_kernel(axis: int, bounds) -> Callable:
    """A Split/SplitV kernel whose parts' bounds were known when the plan was built."""
    slices = _split_slices(axis, bounds)
    return lambda x: [x[s] for s in slices] if type(x) is np.ndarray else \
        [np.asarray(x)[s] for s in slices]


def _static_split(op, x: Tensor, axis_t: Tensor, sizes):
    """(axis, bounds) of a split whose axis and sizes are known when the plan is built (the
    sizes resolved against the input's static dimension), else None."""
    axis, dims = _static_ints(axis_t), x._shape.as_tuple()
    if not isinstance(axis, int) or dims is None or not -len(dims) <= axis < len(dims):
        return None
    axis %= len(dims)
    d = dims[axis]
    if d is None or sizes is None:
        return None
    try:
        sizes = _resolve_sizes(sizes, d, op._name)
    except ValueError:
        return None  # the kernel raises it, named, when it runs
    return axis, [0, *itertools.accumulate(sizes)]


def _split_kernel(op, ctx):
    num = op._attrs["num_split"]
    axis_t, x_t = op._inputs
    dims = x_t._shape.as_tuple()
    known = None
    if num > 1 and dims is not None:
        axis = _static_ints(axis_t)
        d = dims[axis] if isinstance(axis, int) and -len(dims) <= axis < len(dims) else None
        if d is not None and d % num == 0:
            known = _static_split(op, x_t, axis_t, [d // num] * num)
    if known is not None:
        parts = _static_split_kernel(*known)
        return lambda _, x: parts(x)

    def split_value(axis, x):
        x = np.asarray(x)
        if num == 1:
            return x
        axis = _split_axis(op, x, axis)
        d = x.shape[axis]
        if d % num:
            raise errors.InvalidArgumentError(
                None, op, f"Number of ways to split should evenly divide the split dimension, "
                          f"but got split_dim {axis} (size = {d}) and num_split {num}")
        return _split_parts(x, axis, [i * (d // num) for i in builtins.range(num + 1)])
    return split_value


register_op("Split", infer=_split_infer, kernel=_split_kernel,
            attrs={"num_split": ("int", REQUIRED), "T": ("type", None)})


@RegisterGradient("Split")
def _split_grad(op, *grads):
    return None, concat(list(grads), op._inputs[0])


def _resolve_sizes(sizes, total, name):
    """Size splits with at most one -1 filled in; ValueError when they do not add up."""
    sizes = list(sizes)
    if sizes.count(-1) > 1:
        raise ValueError(f"Only one dimension of size_splits of '{name}' can be -1")
    if -1 in sizes:
        rest = total - sum(s for s in sizes if s != -1)
        if rest < 0:
            raise ValueError(f"size_splits {sizes} of '{name}' exceed the dimension {total}")
        sizes[sizes.index(-1)] = rest
    elif sum(sizes) != total:
        raise ValueError(f"Determined shape must either match input shape along split_dim "
                         f"exactly if fully specified, or be less than the size of the input "
                         f"along split_dim if not fully specified. Got: {sum(sizes)} vs "
                         f"{total} for '{name}'")
    return sizes


def _split_v_infer(op):
    x, sizes_t, axis_t = op._inputs
    num = op._attrs["num_split"]
    dims = _dims(x)
    if dims is None:
        return [(x._dtype, TensorShape(None))] * num
    axis = _static_ints(axis_t)
    sizes = _static_ints(sizes_t)
    if axis is None:
        return [(x._dtype, TensorShape([None] * len(dims)))] * num
    axis = _check_axis(axis, len(dims))
    if sizes is None:
        return [(x._dtype, TensorShape(dims[:axis] + (None,) + dims[axis + 1:]))] * num
    sizes = [sizes] if isinstance(sizes, int) else sizes
    if len(sizes) != num:
        raise ValueError(f"num_split {num} does not match {len(sizes)} size_splits")
    if dims[axis] is not None:
        sizes = _resolve_sizes(sizes, dims[axis], op._name)
    return [(x._dtype, TensorShape(dims[:axis] + (None if s == -1 else s,) + dims[axis + 1:]))
            for s in sizes]


def _split_v_kernel(op, ctx):
    x_t, sizes_t, axis_t = op._inputs
    sizes = _static_ints(sizes_t)
    known = _static_split(op, x_t, axis_t, [sizes] if isinstance(sizes, int) else sizes)
    if known is not None and len(known[1]) > 2:
        parts = _static_split_kernel(*known)
        return lambda x, _, __: parts(x)

    def split_value(x, size_splits, axis):
        x = np.asarray(x)
        axis = _split_axis(op, x, axis)
        sizes = _resolve_sizes([int(s) for s in np.asarray(size_splits).reshape(-1)],
                               x.shape[axis], op._name)
        if len(sizes) == 1:
            return x
        return _split_parts(x, axis, [0, *itertools.accumulate(sizes)])
    return split_value


register_op("SplitV", infer=_split_v_infer, kernel=_split_v_kernel,
            attrs={"num_split": ("int", REQUIRED), "T": ("type", None),
                   "Tlen": ("type", dtypes.int64)})


@RegisterGradient("SplitV")
def _split_v_grad(op, *grads):
    return concat(list(grads), op._inputs[2]), None, None


def split(value, num_or_size_splits, axis=0, num=None, name="split") -> list[Tensor]:
    """Split(num_split) for an integer count, SplitV for a list of sizes (TF's dispatch)."""
    x = convert_to_tensor(value)
    if isinstance(num_or_size_splits, (int, np.integer)) and not isinstance(
            num_or_size_splits, bool):
        axis_t = _int_input(axis, _graph_of([x]), "split_dim")
        op = make_op("Split", [axis_t, x], {"num_split": int(num_or_size_splits),
                                            "T": x._dtype}, name=name)
        return list(op._outputs)
    sizes_t = _int_input(num_or_size_splits, _graph_of([x]), "size_splits")
    if sizes_t._shape.ndims == 0:
        raise ValueError("Rank-0 tensors are not supported as the num_or_size_splits argument "
                         f"to split. Argument provided: {num_or_size_splits!r}")
    if num is None:
        num = sizes_t._shape.as_tuple()[0] if sizes_t._shape.ndims else None
        if num is None:
            raise ValueError(f"Cannot infer num from shape {num_or_size_splits!r}")
    axis_t = _int_input(axis, _graph_of([x]), "split_dim")
    op = make_op("SplitV", [x, sizes_t, axis_t], {"num_split": int(num), "T": x._dtype,
                                                  "Tlen": sizes_t._dtype}, name=name)
    return list(op._outputs)


# --------------------------------------------------------------------------------------------
# Tile
# --------------------------------------------------------------------------------------------


def _tile_infer(op):
    x, multiples_t = op._inputs
    dims = _dims(x)
    multiples = _static_ints(multiples_t)
    if dims is None:
        n = _dims(multiples_t)
        rank_ = n[0] if n else None
        return [(x._dtype, TensorShape(None if rank_ is None else [None] * rank_))]
    if multiples is None:
        return [(x._dtype, TensorShape([None] * len(dims)))]
    multiples = [multiples] if isinstance(multiples, int) else multiples
    if len(multiples) != len(dims):
        raise ValueError(f"Shape must be rank {len(dims)} but is rank {len(multiples)}: "
                         f"multiples of '{op._name}' must have one entry per input dimension")
    if any(m < 0 for m in multiples):
        raise ValueError(f"Expected multiples >= 0, got {multiples} for '{op._name}'")
    return [(x._dtype, TensorShape([None if d is None else d * m
                                    for d, m in zip(dims, multiples, strict=False)]))]


def _tile_kernel(op, ctx):
    def tile_value(x, multiples):
        x = np.asarray(x)
        reps = builtins.tuple(int(m) for m in np.asarray(multiples).reshape(-1))
        if len(reps) != x.ndim:
            raise ValueError(f"Expected multiples argument to be a vector of length {x.ndim} "
                             f"but got length {len(reps)}")
        return np.tile(x, reps)
    return tile_value


register_op("Tile", infer=_tile_infer, kernel=_tile_kernel,
            attrs={"T": ("type", None), "Tmultiples": ("type", dtypes.int32)})


@RegisterGradient("Tile")
def _tile_grad(op, grad):
    from tensorslow.ops import math_ops

    x, multiples_t = op._inputs
    multiples = _static_ints(multiples_t)
    if multiples is not None and x._shape.is_fully_defined():
        split_shape = []
        for m, d in zip(multiples, x._shape.as_list(), strict=False):
            split_shape += [m, d]
        axes = list(_range(0, len(split_shape), 2))
        return math_ops.reduce_sum(reshape(grad, split_shape), axes), None
    input_shape = shape(x, out_type=multiples_t._dtype or dtypes.int32)
    split_shape = reshape(transpose(stack([multiples_t, input_shape])), [-1])
    axes = range(0, size(split_shape), 2)
    input_grad = math_ops.reduce_sum(reshape(grad, split_shape), axes)
    input_grad.set_shape(x._shape)
    return input_grad, None


def tile(input, multiples, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    multiples_t = _int_input(multiples, _graph_of([x]), "multiples")
    return make_op("Tile", [x, multiples_t], {"T": x._dtype, "Tmultiples": multiples_t._dtype},
                   name=name or "Tile")._outputs[0]


# --------------------------------------------------------------------------------------------
# OneHot
# --------------------------------------------------------------------------------------------


def _one_hot_infer(op):
    indices, depth_t, on, off = op._inputs
    if on._dtype is not None and off._dtype is not None and on._dtype != off._dtype:
        raise TypeError(f"on_value ({on._dtype.name}) and off_value ({off._dtype.name}) of "
                        f"'{op._name}' must have the same dtype")
    if indices._dtype is not None and not indices._dtype.is_integer:
        raise TypeError(f"indices of '{op._name}' must be integers, not {indices._dtype.name}")
    dims = _dims(indices)
    axis = op._attrs["axis"]
    if dims is None:
        return [(common_dtype(on, off), TensorShape(None))]
    if not -1 <= axis <= len(dims):
        raise ValueError(f"Expected axis to be -1 or between [0, {len(dims)}), but got {axis}")
    depth = _static_ints(depth_t)
    pos = len(dims) if axis == -1 else axis
    out = dims[:pos] + (depth,) + dims[pos:]
    return [(common_dtype(on, off), TensorShape(out))]


def _one_hot_kernel(op, ctx):
    axis = op._attrs["axis"]
    np_type = op._attrs["T"].as_numpy_dtype if op._attrs.get("T") is not None else None

    def one_hot_value(indices, depth, on_value, off_value):
        indices = np.asarray(indices)
        depth = _runtime_int(depth)
        if depth < 0:
            raise ValueError(f"depth must be non-negative, got: {depth}")
        hot = indices[..., None] == np.arange(depth)
        out = np.where(hot, on_value, off_value)
        if np_type is not None:
            out = out.astype(np_type, copy=False)
        if axis != -1 and axis != indices.ndim:
            out = np.moveaxis(out, -1, axis)
        return out
    return one_hot_value


register_op("OneHot", infer=_one_hot_infer, kernel=_one_hot_kernel,
            attrs={"axis": ("int", -1), "T": ("type", None), "TI": ("type", dtypes.int64)})
NotDifferentiable("OneHot")


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None,
            name=None) -> Tensor:
    indices_t = convert_to_tensor(indices)
    graph = _graph_of([indices_t])
    dtype = dtypes.as_dtype(dtype).base_dtype if dtype is not None else None

    def value_tensor(value, name_):
        if isinstance(value, Tensor) or is_tensor_like(value):
            t = convert_to_tensor(value)
            if dtype is not None and t._dtype is not None and t._dtype != dtype:
                raise TypeError(f"dtype {t._dtype.name} of {name_} does not match dtype "
                                f"parameter {dtype.name}")
            return t
        return constant_op.constant(value, dtype=dtype, graph=graph, name=name_)

    on = value_tensor(on_value, "on_value") if on_value is not None else None
    off = value_tensor(off_value, "off_value") if off_value is not None else None
    if dtype is None:
        given = on if on is not None else off
        dtype = given._dtype if given is not None else dtypes.float32
    if on is None:
        on = constant_op.constant(1, dtype=dtype or dtypes.float32, graph=graph,
                                  name="on_value")
    if off is None:
        off = constant_op.constant(0, dtype=dtype or dtypes.float32, graph=graph,
                                   name="off_value")
    if on._dtype is not None and off._dtype is not None and on._dtype != off._dtype:
        raise TypeError(f"dtype {on._dtype.name} of on_value does not match dtype "
                        f"{off._dtype.name} of off_value")
    depth_t = _int_input(depth, graph, "depth")
    attrs = {"axis": -1 if axis is None else int(axis), "T": common_dtype(on, off),
             "TI": indices_t._dtype or dtypes.int64}
    return make_op("OneHot", [indices_t, depth_t, on, off], attrs,
                   name=name or "one_hot")._outputs[0]


# --------------------------------------------------------------------------------------------
# GatherV2 (and UnsortedSegmentSum, which its gradient needs)
# --------------------------------------------------------------------------------------------


def _gather_infer(op):
    params, indices, axis_t = op._inputs
    if indices._dtype is not None and not indices._dtype.is_integer:
        raise TypeError(f"indices of '{op._name}' must be integers, not {indices._dtype.name}")
    if op._attrs["batch_dims"] != 0:
        raise ValueError("GatherV2 with batch_dims != 0 is not supported")
    pdims, idims = _dims(params), _dims(indices)
    axis = _static_ints(axis_t)
    if pdims is None or idims is None or axis is None:
        return [(params._dtype, TensorShape(None))]
    axis = _check_axis(axis, len(pdims))
    return [(params._dtype, TensorShape(pdims[:axis] + idims + pdims[axis + 1:]))]


def _check_indices(indices: np.ndarray, limit: int, what: str = "indices") -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= limit):
        bad = indices[(indices < 0) | (indices >= limit)].reshape(-1)[0]
        raise ValueError(f"{what} contains {int(bad)}, which is not in [0, {limit})")


def _gather_kernel(op, ctx):
    def gather_value(params, indices, axis):
        params = np.asarray(params)
        indices = np.asarray(indices)
        axis = _runtime_int(axis) % max(params.ndim, 1)
        _check_indices(indices, params.shape[axis])
        return np.take(params, indices, axis=axis)
    return gather_value


register_op("GatherV2", infer=_gather_infer, kernel=_gather_kernel,
            attrs={"batch_dims": ("int", 0), "Tparams": ("type", None),
                   "Tindices": ("type", dtypes.int32), "Taxis": ("type", dtypes.int32)})


def _unsorted_segment_sum_infer(op):
    data, ids, num_t = op._inputs
    ddims, idims = _dims(data), _dims(ids)
    num = _static_ints(num_t)
    if ddims is None or idims is None:
        return [(data._dtype, TensorShape(None))]
    return [(data._dtype, TensorShape((num,) + ddims[len(idims):]))]


def _unsorted_segment_sum_kernel(op, ctx):
    def segment_sum(data, ids, num_segments):
        data, ids = np.asarray(data), np.asarray(ids)
        num = _runtime_int(num_segments)
        flat_ids = ids.reshape(-1)
        rows = data.reshape((flat_ids.size,) + data.shape[ids.ndim:])
        out = np.zeros((num,) + data.shape[ids.ndim:], dtype=data.dtype)
        keep = flat_ids >= 0  # negative ids are dropped, as in TF
        _check_indices(flat_ids[keep], num, "segment_ids")
        np.add.at(out, flat_ids[keep], rows[keep])
        return out
    return segment_sum


register_op("UnsortedSegmentSum", infer=_unsorted_segment_sum_infer,
            kernel=_unsorted_segment_sum_kernel,
            attrs={"T": ("type", None), "Tindices": ("type", dtypes.int32),
                   "Tnumsegments": ("type", dtypes.int32)})


def unsorted_segment_sum(data, segment_ids, num_segments, name=None) -> Tensor:
    data_t, ids = convert_to_tensor(data), convert_to_tensor(segment_ids)
    num_t = _int_input(num_segments, _graph_of([data_t]), "num_segments")
    attrs = {"T": data_t._dtype, "Tindices": ids._dtype or dtypes.int32,
             "Tnumsegments": num_t._dtype}
    return make_op("UnsortedSegmentSum", [data_t, ids, num_t], attrs,
                   name=name or "UnsortedSegmentSum")._outputs[0]


@RegisterGradient("UnsortedSegmentSum")
def _unsorted_segment_sum_grad(op, grad):
    from tensorslow.ops import math_ops

    ids, num_segments = op._inputs[1], op._inputs[2]
    # Rows with a negative id were dropped: point them at an extra zero row of the gradient.
    padded = concat([grad, zeros_like(grad[0:1])], 0)
    safe_ids = where_v2(math_ops.greater_equal(ids, 0), ids,
                        math_ops.cast(num_segments, ids._dtype) if ids._dtype else num_segments)
    return gather(padded, safe_ids), None, None


def _axis_size(x: Tensor, axis: int):
    d = x._shape.as_tuple()[axis] if x._shape.ndims is not None else None
    if d is not None:
        return d
    return gather(shape(x), axis)


@RegisterGradient("GatherV2")
def _gather_grad(op, grad):
    params, indices, axis_t = op._inputs
    axis = _static_ints(axis_t)
    pdims = _dims(params)
    flat_indices = reshape(indices, [-1])
    if axis == 0 and pdims is None:
        params_shape = shape(params)
        inner_shape = _slice_vector(params_shape, 1, None)
        values = reshape(grad, concat([[-1], inner_shape], 0))
        num = gather(params_shape, 0)
        return unsorted_segment_sum(values, flat_indices, num), None, None
    if axis is None or pdims is None:
        raise ValueError(f"The gradient of '{op.name}' needs a constant axis and a params "
                         "tensor of known rank")
    axis = axis % len(pdims)
    num = _axis_size(params, axis)
    outer, inner = list(pdims[:axis]), list(pdims[axis + 1:])
    if axis == 0:
        values = reshape(grad, [-1] + [-1 if d is None else d for d in inner])
        return unsorted_segment_sum(values, flat_indices, num), None, None
    # Bring the gathered axis to the front, sum rows by index, and move it back.
    if None in outer or None in inner:
        grad_shape = shape(grad)
        n_idx = size(indices)
        values_shape = concat([_slice_vector(grad_shape, 0, axis), reshape(n_idx, [1]),
                               _slice_vector(grad_shape, axis + indices._shape.ndims, None)],
                              0)
    else:
        values_shape = outer + [-1] + inner
    values = reshape(grad, values_shape)
    rank_ = len(pdims)
    to_front = [axis] + list(_range(axis)) + list(_range(axis + 1, rank_))
    summed = unsorted_segment_sum(transpose(values, to_front), flat_indices, num)
    back = list(_range(1, axis + 1)) + [0] + list(_range(axis + 1, rank_))
    return transpose(summed, back), None, None


def _slice_vector(vector: Tensor, start: int, stop):
    """vector[start:stop] of a 1-D tensor."""
    return strided_slice(vector, [start], [0 if stop is None else stop], [1],
                         end_mask=1 if stop is None else 0)


def gather(params, indices, validate_indices=None, name=None, axis=None,
           batch_dims=0) -> Tensor:
    params_t = convert_to_tensor(params)
    indices_t = convert_to_tensor(indices)
    axis_t = _int_input(0 if axis is None else axis, _graph_of([params_t]), "axis")
    attrs = {"batch_dims": int(batch_dims), "Tparams": params_t._dtype,
             "Tindices": indices_t._dtype or dtypes.int32, "Taxis": axis_t._dtype}
    return make_op("GatherV2", [params_t, indices_t, axis_t], attrs,
                   name=name or "GatherV2")._outputs[0]


# --------------------------------------------------------------------------------------------
# Slice and Pad
# --------------------------------------------------------------------------------------------


def _slice_infer(op):
    x, begin_t, size_t = op._inputs
    dims = _dims(x)
    begin, sizes = _static_ints(begin_t), _static_ints(size_t)
    n = _dims(size_t)
    if dims is None:
        rank_ = n[0] if n else None
        return [(x._dtype, TensorShape(None if rank_ is None else [None] * rank_))]
    if begin is None or sizes is None:
        if sizes is not None:
            return [(x._dtype, TensorShape([None if s == -1 else s for s in sizes]))]
        return [(x._dtype, TensorShape([None] * len(dims)))]
    if len(begin) != len(dims) or len(sizes) != len(dims):
        raise ValueError(f"Slice of '{op._name}': begin and size must have one entry per "
                         f"dimension of the input {x._shape}, got {begin} and {sizes}")
    out = []
    for d, b, s in zip(dims, begin, sizes, strict=False):
        if b < 0 or s < -1 or (d is not None and (b > d or (s != -1 and b + s > d))):
            raise ValueError(f"Expected begin and size arguments to be in bounds: begin "
                             f"{begin}, size {sizes}, input shape {x._shape}")
        out.append((None if d is None else d - b) if s == -1 else s)
    return [(x._dtype, TensorShape(out))]


def _slice_index(x_shape, begin, sizes):
    index = []
    for d, b, s in zip(x_shape, begin, sizes, strict=False):
        end = d if s == -1 else b + s
        if b < 0 or s < -1 or end > d or b > d:
            raise ValueError(f"Expected begin and size arguments to be in bounds: begin "
                             f"{list(begin)}, size {list(sizes)}, input shape {list(x_shape)}")
        index.append(_slice(b, end))
    return builtins.tuple(index)


def _slice_kernel(op, ctx):
    def slice_value(x, begin, sizes):
        x = np.asarray(x)
        begin = [int(b) for b in np.asarray(begin).reshape(-1)]
        sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
        if len(begin) != x.ndim or len(sizes) != x.ndim:
            raise ValueError(f"begin and size must have length {x.ndim}")
        return x[_slice_index(x.shape, begin, sizes)]
    return slice_value


register_op("Slice", infer=_slice_infer, kernel=_slice_kernel,
            attrs={"T": ("type", None), "Index": ("type", dtypes.int32)})


@RegisterGradient("Slice")
def _slice_grad(op, grad):
    x, begin_t, _ = op._inputs
    y = op._outputs[0]
    begin = _static_ints(begin_t)
    if begin is not None and x._shape.is_fully_defined() and y._shape.is_fully_defined():
        after = [d - b - s for d, b, s in zip(x._shape.as_list(), begin, y._shape.as_list(),
                                              strict=False)]
        return pad(grad, [[b, a] for b, a in zip(begin, after, strict=False)]), None, None
    from tensorslow.ops import math_ops

    index_type = begin_t._dtype or dtypes.int32
    x_shape = shape(x, out_type=index_type)
    pad_shape = stack([rank(x), 1])
    before = reshape(begin_t, pad_shape)
    after = reshape(math_ops.subtract(math_ops.subtract(x_shape, shape(y, out_type=index_type)),
                                      begin_t), pad_shape)
    return pad(grad, concat([before, after], 1)), None, None


def slice(input_, begin, size, name=None) -> Tensor:  # noqa: A001 - TensorFlow's name
    x = convert_to_tensor(input_)
    begin_t = _int_input(begin, _graph_of([x]), "begin")
    size_t = _int_input(size, _graph_of([x]), "size")
    return make_op("Slice", [x, begin_t, size_t], {"T": x._dtype, "Index": begin_t._dtype},
                   name=name or "Slice")._outputs[0]


def _pad_infer(op):
    x, paddings_t = op._inputs[:2]
    if len(op._inputs) == 3:
        c = op._inputs[2]
        if c._shape.ndims not in (None, 0):
            raise ValueError(f"constant_values of '{op._name}' must be a scalar")
        if x._dtype is not None and c._dtype is not None and x._dtype != c._dtype:
            raise TypeError(f"constant_values of '{op._name}' has dtype {c._dtype.name}, the "
                            f"input {x._dtype.name}")
    dims = _dims(x)
    paddings = static_value(paddings_t)
    pshape = _dims(paddings_t)
    if pshape is not None and (len(pshape) != 2 or pshape[1] not in (None, 2)):
        raise ValueError(f"paddings of '{op._name}' must be a matrix with 2 columns, got "
                         f"shape {paddings_t._shape}")
    if dims is None:
        rank_ = pshape[0] if pshape else None
        return [(x._dtype, TensorShape(None if rank_ is None else [None] * rank_))]
    if pshape is not None and pshape[0] is not None and pshape[0] != len(dims):
        raise ValueError(f"The first dimension of paddings must be the rank of inputs "
                         f"{len(dims)}, got shape {paddings_t._shape} for '{op._name}'")
    if paddings is None:
        return [(x._dtype, TensorShape([None] * len(dims)))]
    paddings = np.asarray(paddings).reshape(len(dims), 2)
    if (paddings < 0).any():
        raise ValueError(f"paddings of '{op._name}' must be non-negative: {paddings.tolist()}")
    return [(x._dtype, TensorShape([None if d is None else d + int(a) + int(b)
                                    for d, (a, b) in zip(dims, paddings, strict=False)]))]


def _pad_kernel(op, ctx):
    def pad_value(x, paddings, constant_values=0):
        x = np.asarray(x)
        paddings = np.asarray(paddings).reshape(x.ndim, 2)
        if (paddings < 0).any():
            raise ValueError(f"paddings must be non-negative: {paddings.tolist()}")
        return np.pad(x, paddings, mode="constant", constant_values=constant_values)
    return pad_value


register_op("Pad", infer=_pad_infer, kernel=_pad_kernel,
            attrs={"T": ("type", None), "Tpaddings": ("type", dtypes.int32)})
register_op("PadV2", infer=_pad_infer, kernel=_pad_kernel,
            attrs={"T": ("type", None), "Tpaddings": ("type", dtypes.int32)})


@RegisterGradient("Pad")
@RegisterGradient("PadV2")
def _pad_grad(op, grad):
    x, paddings_t = op._inputs[:2]
    paddings = static_value(paddings_t)
    extra = [None] * (len(op._inputs) - 1)
    if paddings is not None and x._shape.is_fully_defined():
        begin = [int(p) for p in np.asarray(paddings).reshape(-1, 2)[:, 0]]
        return [slice(grad, begin, x._shape.as_list())] + extra
    before = slice(paddings_t, [0, 0], stack([rank(x), 1]))
    begin = reshape(before, [-1])
    return [slice(grad, begin, shape(x, out_type=begin._dtype or dtypes.int32))] + extra


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0) -> Tensor:
    if str(mode).upper() != "CONSTANT":
        raise ValueError(f"Unsupported padding mode {mode!r}: only 'CONSTANT' is implemented")
    x = convert_to_tensor(tensor)
    paddings_t = _int_input(paddings, _graph_of([x]), "paddings")
    attrs = {"T": x._dtype, "Tpaddings": paddings_t._dtype}
    if not is_tensor_like(constant_values) and np.all(np.asarray(constant_values) == 0):
        return make_op("Pad", [x, paddings_t], attrs, name=name or "Pad")._outputs[0]
    if is_tensor_like(constant_values):
        c = convert_to_tensor(constant_values)
    else:
        c = constant_op.constant(constant_values, dtype=x._dtype, graph=_graph_of([x]),
                                 name="constant_values")
    return make_op("PadV2", [x, paddings_t, c], attrs, name=name or "PadV2")._outputs[0]


# --------------------------------------------------------------------------------------------
# StridedSlice and Tensor.__getitem__
# --------------------------------------------------------------------------------------------


def _strided_index(rank_: int, begin, end, strides, masks, dims=None):
    """The numpy basic index equivalent to a StridedSlice, and its output shape when `dims`
    (the input's static dims, ints or None) are given. At build time any begin, end or stride
    may be None (known only at run time); the dims it decides are then None.

    Follows TF's dense-spec rules: an ellipsis (or, when there is none, the end of the spec)
    stands for all dimensions the other entries leave out; a new axis entry inserts a 1; a
    shrink entry takes one index and drops its dimension; masked begins/ends are open.
    """
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = masks
    n = len(begin)
    if len(end) != n or len(strides) != n:
        raise ValueError(f"begin, end and strides must have the same length, got {len(begin)}, "
                         f"{len(end)} and {len(strides)}")
    entries = []
    seen_ellipsis = False
    for i in _range(n):
        bit = 1 << i
        if ellipsis_mask & bit:
            if seen_ellipsis:
                raise ValueError("Multiple ellipses in slice spec not allowed")
            seen_ellipsis = True
            entries.append(("ellipsis",))
        elif new_axis_mask & bit:
            entries.append(("new",))
        elif strides[i] is not None and strides[i] == 0:
            raise ValueError(f"strides[{i}] must be non-zero")
        elif shrink_mask & bit:
            entries.append(("index", begin[i]))
        else:
            b = None if begin_mask & bit else begin[i]
            e = None if end_mask & bit else end[i]
            unknown = strides[i] is None or (b is None and not begin_mask & bit) or (
                e is None and not end_mask & bit)
            entries.append(("range", b, e, strides[i], unknown))
    if not seen_ellipsis:
        entries.append(("ellipsis",))
    used = sum(1 for e in entries if e[0] in ("index", "range"))
    if used > rank_:
        raise ValueError(f"Index out of range using input dim {used - 1}; input has only "
                         f"{rank_} dims")
    index, out_dims = [], []
    dim = 0
    for e in entries:
        kind = e[0]
        if kind == "ellipsis":
            for _ in _range(rank_ - used):
                index.append(_slice(None))
                out_dims.append(dims[dim] if dims is not None else None)
                dim += 1
        elif kind == "new":
            index.append(None)
            out_dims.append(1)
        elif kind == "index":
            b = e[1]
            d = dims[dim] if dims is not None else None
            if d is not None and b is not None and not -d <= b < d:
                raise ValueError(f"slice index {b} of dimension {dim} out of bounds.")
            index.append(b)
            dim += 1
        else:
            sl = _slice(e[1], e[2], e[3])
            index.append(sl)
            d = dims[dim] if dims is not None else None
            out_dims.append(None if d is None or e[4] else len(_range(*sl.indices(d))))
            dim += 1
    return builtins.tuple(index), out_dims


_MASK_ATTRS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def _masks(op):
    return builtins.tuple(op._attrs[m] for m in _MASK_ATTRS)


def _strided_slice_shape(op, x_shape: TensorShape, begin_t, end_t, strides_t) -> TensorShape:
    dims = x_shape.as_tuple()
    begin, end, strides = (_partial_ints(t) for t in (begin_t, end_t, strides_t))
    if dims is None or begin is None or end is None or strides is None:
        return TensorShape(None)
    _, out = _strided_index(len(dims), begin, end, strides, _masks(op), dims)
    return TensorShape(out)


def _partial_ints(t: Tensor):
    """The elements of a 1-D integer tensor known at build time (None for the others), or
    None when even its length is unknown. A Pack of constants and tensors counts."""
    value = static_value(t)
    if value is not None:
        return _ints(value)
    op = t._op
    if op._type == "Pack" and op._attrs["axis"] == 0:
        out = []
        for v in op._inputs:
            known = static_value(v)
            out.append(int(known) if known is not None and np.ndim(known) == 0 else None)
        return out
    n = _dims(t)
    if n is not None and len(n) == 1 and n[0] is not None:
        return [None] * n[0]
    return None


def _strided_slice_infer(op):
    x, begin_t, end_t, strides_t = op._inputs
    return [(x._dtype, _strided_slice_shape(op, x._shape, begin_t, end_t, strides_t))]


def _ints(value):
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _strided_slice_kernel(op, ctx):
    masks = _masks(op)

    def strided_slice_value(x, begin, end, strides):
        x = np.asarray(x)
        index, _ = _strided_index(x.ndim, _ints(begin), _ints(end), _ints(strides), masks,
                                  x.shape)
        out = x[index]
        return out if isinstance(out, np.ndarray) else np.asarray(out)
    return strided_slice_value


_STRIDED_ATTRS = {"T": ("type", None), "Index": ("type", dtypes.int32),
                  "begin_mask": ("int", 0), "end_mask": ("int", 0), "ellipsis_mask": ("int", 0),
                  "new_axis_mask": ("int", 0), "shrink_axis_mask": ("int", 0)}
register_op("StridedSlice", infer=_strided_slice_infer, kernel=_strided_slice_kernel,
            attrs=_STRIDED_ATTRS)


def _strided_slice_grad_infer(op):
    shape_t, _, _, _, dy = op._inputs
    return [(dy._dtype, TensorShape(_static_target(shape_t)))]


def _strided_slice_grad_kernel(op, ctx):
    masks = _masks(op)

    def scatter(shape_value, begin, end, strides, dy):
        dy = np.asarray(dy)
        target = builtins.tuple(_ints(shape_value))
        index, _ = _strided_index(len(target), _ints(begin), _ints(end), _ints(strides), masks,
                                  target)
        out = np.zeros(target, dtype=dy.dtype)
        out[index] = dy
        return out
    return scatter


register_op("StridedSliceGrad", infer=_strided_slice_grad_infer,
            kernel=_strided_slice_grad_kernel, attrs=_STRIDED_ATTRS)


@RegisterGradient("StridedSlice")
def _strided_slice_grad(op, grad):
    x, begin_t, end_t, strides_t = op._inputs
    index_type = begin_t._dtype or dtypes.int32
    if x._shape.is_fully_defined():
        x_shape = constant_op.constant(np.array(x._shape.as_list(),
                                                dtype=index_type.as_numpy_dtype), name="Shape")
    else:
        x_shape = shape(x, out_type=index_type)
    attrs = dict(op._attrs)
    attrs["T"] = grad._dtype
    attrs.pop("_class", None)
    attrs.pop("_gradient_op_type", None)
    dx = make_op("StridedSliceGrad", [x_shape, begin_t, end_t, strides_t, grad],
                 attrs)._outputs[0]
    return dx, None, None, None


@RegisterGradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, grad):
    _, begin_t, end_t, strides_t, _ = op._inputs
    attrs = {m: op._attrs[m] for m in _MASK_ATTRS}
    return None, None, None, None, strided_slice(grad, begin_t, end_t, strides_t, **attrs)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None) -> Tensor:
    x = convert_to_tensor(input_)
    graph = _graph_of([x])
    begin_t = _int_input(begin, graph, "begin")
    end_t = _int_input(end, graph, "end")
    if strides is None:
        n = _dims(begin_t)
        if n is None or n[0] is None:
            raise ValueError("strided_slice needs strides when the length of begin is unknown")
        strides = [1] * n[0]
    strides_t = _int_input(strides, graph, "strides")
    attrs = {"T": x._dtype, "Index": begin_t._dtype, "begin_mask": int(begin_mask),
             "end_mask": int(end_mask), "ellipsis_mask": int(ellipsis_mask),
             "new_axis_mask": int(new_axis_mask), "shrink_axis_mask": int(shrink_axis_mask)}
    return make_op("StridedSlice", [x, begin_t, end_t, strides_t], attrs,
                   name=name or "StridedSlice")._outputs[0]


def _is_index(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    if isinstance(value, Tensor):
        return value._dtype is None or value._dtype.is_integer
    return False


def _slice_helper(tensor, slice_spec):
    """`tensor[slice_spec]` as one StridedSlice, with TF's encoding of the spec in masks."""
    x = convert_to_tensor(tensor)
    if not isinstance(slice_spec, builtins.tuple):
        slice_spec = (slice_spec,)
    begin, end, strides = [], [], []
    masks = dict.fromkeys(_MASK_ATTRS, 0)
    for i, s in enumerate(slice_spec):
        bit = 1 << i
        if isinstance(s, _slice):
            for part in (s.start, s.stop, s.step):
                if part is not None and not _is_index(part):
                    raise TypeError(f"Slice indices must be integers or None, got {part!r}")
            if s.start is None:
                begin.append(0)
                masks["begin_mask"] |= bit
            else:
                begin.append(s.start)
            if s.stop is None:
                end.append(0)
                masks["end_mask"] |= bit
            else:
                end.append(s.stop)
            strides.append(1 if s.step is None else s.step)
        elif s is Ellipsis:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["ellipsis_mask"] |= bit
        elif s is None:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["new_axis_mask"] |= bit
        elif _is_index(s):
            begin.append(s)
            if isinstance(s, Tensor):
                from tensorslow.ops import math_ops

                end.append(math_ops.add(s, 1))
            else:
                end.append(int(s) + 1)
            strides.append(1)
            masks["shrink_axis_mask"] |= bit
        else:
            raise TypeError("Only integers, slices (`:`), ellipsis (`...`), ts.newaxis (`None`) "
                            f"and scalar int32/int64 tensors are valid indices, got {s!r}")
    graph = _graph_of([x])
    with graph.as_default(), graph.name_scope("strided_slice") as scope:
        if begin:
            packed = [_pack_indices(v, graph, n) for v, n in
                      ((begin, "stack"), (end, "stack_1"), (strides, "stack_2"))]
        else:
            empty = constant_op.constant(np.zeros([0], dtype=np.int32), graph=graph)
            packed = [empty, empty, empty]
        return strided_slice(x, *packed, name=scope, **masks)


def _pack_indices(values, graph, name):
    if any(isinstance(v, Tensor) for v in values):
        return stack([v if isinstance(v, Tensor) else constant_op.constant(int(v), graph=graph)
                      for v in values], name=name)
    return constant_op.constant(np.array([int(v) for v in values], dtype=np.int32),
                                graph=graph, name=name)


Tensor.__getitem__ = _slice_helper
newaxis = None


# --------------------------------------------------------------------------------------------
# ReverseV2 and ReverseSequence
# --------------------------------------------------------------------------------------------


def _reverse_axes(axes, rank: int, error) -> builtins.tuple:
    """The distinct axes, normalized, of a ReverseV2; `error(message)` raises for a bad one."""
    axes = [axes] if isinstance(axes, int) else list(axes)
    seen = []
    for i, a in enumerate(axes):
        if not -rank <= a < rank:
            error(f"'axis'[{i}] = {a} is out of valid range [0, {rank - 1}]")
        a %= rank
        if a in seen:
            error(f"axis {a} specified more than once")
        seen.append(a)
    return builtins.tuple(seen)


def _raise_value_error(message):
    raise ValueError(message)


def _reverse_infer(op):
    x, axis_t = op._inputs
    dims, axes = _dims(x), _static_ints(axis_t)
    if dims is not None and axes is not None:
        _reverse_axes(axes, len(dims), _raise_value_error)
    return [(x._dtype, x._shape)]


def _flip_index(axes, rank: int) -> builtins.tuple:
    reverse = builtins.slice(None, None, -1)
    return builtins.tuple(reverse if a in axes else builtins.slice(None)
                          for a in builtins.range(rank))


def _reverse_kernel(op, ctx):
    def error(message):
        raise errors.InvalidArgumentError(None, op, message)

    x_t, axis_t = op._inputs
    dims, axes = _dims(x_t), _static_ints(axis_t)
    if dims is not None and axes is not None:
        index = _flip_index(_reverse_axes(axes, len(dims), error), len(dims))
        return lambda x, _: np.asarray(x)[index]

    def reverse_value(x, axis):
        x = np.asarray(x)
        axes_ = _reverse_axes([int(a) for a in np.asarray(axis).reshape(-1)], x.ndim, error)
        return x[_flip_index(axes_, x.ndim)]
    return reverse_value


register_op("ReverseV2", infer=_reverse_infer, kernel=_reverse_kernel,
            attrs={"T": ("type", None), "Tidx": ("type", dtypes.int32)})


@RegisterGradient("ReverseV2")
def _reverse_grad(op, grad):
    return reverse(grad, op._inputs[1]), None


def reverse(tensor, axis, name=None) -> Tensor:
    """`tensor` with the dimensions in `axis` (a list of distinct axes) reversed."""
    x = convert_to_tensor(tensor)
    axis_t = _int_input(axis, _graph_of([x]), "axis")
    return make_op("ReverseV2", [x, axis_t], {"T": x._dtype, "Tidx": axis_t._dtype},
                   name=name or "ReverseV2")._outputs[0]


reverse_v2 = reverse


def _reverse_sequence_dims(op, rank: int, error) -> builtins.tuple[int, int]:
    seq, batch = op._attrs["seq_dim"], op._attrs["batch_dim"]
    if seq == batch:
        error(f"seq_dim ({seq}) and batch_dim ({batch}) of '{op._name}' must differ")
    for what, d in (("seq_dim", seq), ("batch_dim", batch)):
        if not 0 <= d < rank:
            error(f"Invalid {what} {d} for '{op._name}': the input has rank {rank}")
    return seq, batch


def _reverse_sequence_infer(op):
    x, lengths = op._inputs
    if lengths._shape.ndims not in (None, 1):
        raise ValueError(f"seq_lengths of '{op._name}' must be a vector, got shape "
                         f"{lengths._shape}")
    dims = _dims(x)
    if dims is not None:
        _, batch = _reverse_sequence_dims(op, len(dims), _raise_value_error)
        n = lengths._shape.as_tuple()
        if n and n[0] is not None and dims[batch] is not None and n[0] != dims[batch]:
            raise ValueError(f"Length of seq_lengths != input.dims({batch}), ({n[0]} vs. "
                             f"{dims[batch]}) for '{op._name}'")
    return [(x._dtype, x._shape)]


def _reverse_sequence_kernel(op, ctx):
    def error(message):
        raise errors.InvalidArgumentError(None, op, message)

    def reverse_sequence_value(x, lengths):
        x, lengths = np.asarray(x), np.asarray(lengths).reshape(-1)
        seq, batch = _reverse_sequence_dims(op, x.ndim, error)
        if lengths.shape[0] != x.shape[batch]:
            error(f"Length of seq_lengths != input.dims({batch}), ({lengths.shape[0]} vs. "
                  f"{x.shape[batch]})")
        steps = x.shape[seq]
        for i, n in enumerate(lengths):
            if n < 0 or n > steps:
                error(f"seq_lens({i}) > input.dims({seq})" if n > steps else
                      f"seq_lens({i}) < 0")
        # Per batch row b, position t < lengths[b] reads lengths[b] - 1 - t; the rest stay.
        t = np.arange(steps)
        n = lengths.astype(np.int64)[:, None]
        source = np.where(t < n, n - 1 - t, t)
        rows = np.moveaxis(x, (batch, seq), (0, 1))
        out = rows[np.arange(x.shape[batch])[:, None], source]
        return np.moveaxis(out, (0, 1), (batch, seq))
    return reverse_sequence_value


register_op("ReverseSequence", infer=_reverse_sequence_infer, kernel=_reverse_sequence_kernel,
            attrs={"seq_dim": ("int", REQUIRED), "batch_dim": ("int", 0), "T": ("type", None),
                   "Tlen": ("type", dtypes.int64)})


@RegisterGradient("ReverseSequence")
def _reverse_sequence_grad(op, grad):
    return reverse_sequence(grad, op._inputs[1], seq_axis=op._attrs["seq_dim"],
                            batch_axis=op._attrs["batch_dim"]), None


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None,  # noqa: A002
                     name=None, seq_dim=None, batch_dim=None) -> Tensor:
    """Reverses the first seq_lengths[b] entries along `seq_axis` of each batch row b (rows
    along `batch_axis`); entries past a row's length stay where they are."""
    seq_axis = _deprecated_alias("seq_axis", seq_axis, "seq_dim", seq_dim)
    batch_axis = _deprecated_alias("batch_axis", batch_axis, "batch_dim", batch_dim)
    if seq_axis is None:
        raise ValueError("reverse_sequence needs seq_axis (or seq_dim)")
    x = convert_to_tensor(input)
    lengths = convert_to_tensor(seq_lengths)
    if lengths._dtype not in (dtypes.int32, dtypes.int64):
        raise TypeError(f"seq_lengths must be int32 or int64, got {lengths._dtype.name}")
    return make_op("ReverseSequence", [x, lengths],
                   {"seq_dim": int(seq_axis), "batch_dim": int(batch_axis or 0), "T": x._dtype,
                    "Tlen": lengths._dtype}, name=name or "ReverseSequence")._outputs[0]


# --------------------------------------------------------------------------------------------
# ClipByValue
# --------------------------------------------------------------------------------------------


def _clip_infer(op):
    x, lo, hi = op._inputs
    for t, arg in ((lo, "clip_value_min"), (hi, "clip_value_max")):
        if x._dtype is not None and t._dtype is not None and t._dtype != x._dtype:
            raise TypeError(f"{arg} of '{op._name}' has dtype {t._dtype.name}, but t has "
                            f"{x._dtype.name}")
        if broadcast_shapes(x._shape, t._shape).is_compatible_with(x._shape) is False:
            raise ValueError(f"{arg} of '{op._name}' with shape {t._shape} would change the "
                             f"shape {x._shape} of t")
    return [(common_dtype(x, lo, hi), x._shape)]


def _clip_kernel(op, ctx):
    def clip(x, lo, hi):
        return np.maximum(np.minimum(x, hi), lo)
    return clip


register_op("ClipByValue", infer=_clip_infer, kernel=_clip_kernel, attrs={"T": ("type", None)})


@RegisterGradient("ClipByValue")
def _clip_grad(op, grad):
    from tensorslow.ops import math_ops

    x, lo, hi = op._inputs
    zeros_ = zeros_like(grad)
    below = math_ops.less(x, lo)
    above = math_ops.greater(x, hi)
    x_grad = where_v2(math_ops.logical_or(below, above), zeros_, grad)
    lo_grad = where_v2(below, grad, zeros_)
    hi_grad = where_v2(above, grad, zeros_)
    _, lo_grad = math_ops.unbroadcast(lo_grad, x, lo)
    _, hi_grad = math_ops.unbroadcast(hi_grad, x, hi)
    return x_grad, lo_grad, hi_grad


def clip_by_value(t, clip_value_min, clip_value_max, name=None) -> Tensor:
    from tensorslow.ops.op_util import operands

    x, lo = operands(t, clip_value_min, "ClipByValue")
    x, hi = operands(x, clip_value_max, "ClipByValue")
    return make_op("ClipByValue", [x, lo, hi], {"T": common_dtype(x, lo, hi)},
                   name=name or "clip_by_value")._outputs[0]


# --------------------------------------------------------------------------------------------
# ArgMax and ArgMin
# --------------------------------------------------------------------------------------------


def _arg_infer(op):
    x, axis_t = op._inputs
    out_type = op._attrs["output_type"]
    dims = _dims(x)
    axis = _static_ints(axis_t)
    if dims is None:
        return [(out_type, TensorShape(None))]
    if axis is None:
        return [(out_type, TensorShape([None] * max(len(dims) - 1, 0)))]
    if isinstance(axis, list):
        if len(axis) != 1:
            raise ValueError(f"dimension of '{op._name}' must be a scalar, got {axis}")
        axis = axis[0]
    axis = _check_axis(axis, max(len(dims), 1), "dimension")
    return [(out_type, TensorShape(dims[:axis] + dims[axis + 1:]))]


def _arg_kernel(fn):
    def build(op, ctx):
        np_type = op._attrs["output_type"].as_numpy_dtype

        def arg(x, axis):
            x = np.asarray(x)
            axis = _runtime_int(axis)
            if x.shape[axis] == 0:
                raise ValueError(f"Reduction axis {axis} is empty in shape {list(x.shape)}")
            return fn(x, axis=axis).astype(np_type)
        return arg
    return build


_ARG_ATTRS = {"T": ("type", None), "Tidx": ("type", dtypes.int32),
              "output_type": ("type", dtypes.int64)}
register_op("ArgMax", infer=_arg_infer, kernel=_arg_kernel(np.argmax), attrs=_ARG_ATTRS)
register_op("ArgMin", infer=_arg_infer, kernel=_arg_kernel(np.argmin), attrs=_ARG_ATTRS)
NotDifferentiable("ArgMax")
NotDifferentiable("ArgMin")


def _arg(op_type, input, axis, name, dimension, output_type):  # noqa: A002
    axis = _deprecated_alias("axis", axis, "dimension", dimension)
    if axis is None:
        axis = 0
    x = convert_to_tensor(input)
    axis_t = _int_input(axis, _graph_of([x]), "dimension")
    output_type = dtypes.as_dtype(output_type)
    if output_type not in (dtypes.int32, dtypes.int64):
        raise TypeError(f"output_type of {op_type} must be int32 or int64, not "
                        f"{output_type.name}")
    attrs = {"T": x._dtype, "Tidx": axis_t._dtype, "output_type": output_type}
    return make_op(op_type, [x, axis_t], attrs, name=name or op_type)._outputs[0]


def argmax(input, axis=None, name=None, dimension=None,  # noqa: A002
           output_type=dtypes.int64) -> Tensor:
    return _arg("ArgMax", input, axis, name, dimension, output_type)


def argmin(input, axis=None, name=None, dimension=None,  # noqa: A002
           output_type=dtypes.int64) -> Tensor:
    return _arg("ArgMin", input, axis, name, dimension, output_type)
