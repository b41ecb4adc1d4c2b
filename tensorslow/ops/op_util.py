"""Small helpers shared by the op modules: dtype rules for operands, axis handling, attrs."""

from __future__ import annotations

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import Tensor, _graph_of, convert_to_tensor, static_value
from tensorslow.framework.tensor_shape import TensorShape
from tensorslow.ops import constant_op


def operands(x, y, op_name: str):
    """Converts a binary op's operands with TF1's rules.

    A Python or numpy value paired with a tensor takes the tensor's dtype; paired with an
    untyped (seed-style) tensor, a Python number stays weak so numpy's promotion decides at run
    time. Two typed tensors must have the same dtype.
    """
    x_t = isinstance(x, Tensor) or _tensor_like(x)
    y_t = isinstance(y, Tensor) or _tensor_like(y)
    if x_t:
        x = convert_to_tensor(x)
    if y_t:
        y = convert_to_tensor(y)
    graph = _graph_of([v for v in (x, y) if isinstance(v, Tensor)])
    if not x_t:
        x = _pair_constant(x, y if y_t else None, graph, op_name, "x")
    if not y_t:
        y = _pair_constant(y, x, graph, op_name, "y")
    if x._dtype is not None and y._dtype is not None and x._dtype != y._dtype:
        raise errors.BuildTypeError(
            None, None, f"Input 'y' of '{op_name}' Op has type {y._dtype.name} that does not "
            f"match type {x._dtype.name} of argument 'x'.")
    return x, y


def _tensor_like(v) -> bool:
    from tensorslow.framework.ops import is_tensor_like

    return is_tensor_like(v)


def _pair_constant(value, other: Tensor | None, graph, op_name: str, arg: str) -> Tensor:
    if other is None:
        return constant_op.constant(value, graph=graph)
    if other._dtype is None:
        if constant_op.is_python_number(value):
            return constant_op.weak_scalar(value, graph=graph)
        return constant_op.constant(value, graph=graph)
    try:
        return constant_op.constant(value, dtype=other._dtype, graph=graph)
    except (TypeError, ValueError) as e:
        raise errors.BuildTypeError(None, None, f"Cannot convert {value!r} to the dtype "
                                    f"{other._dtype.name} of '{op_name}''s other input: {e}"
                                    ) from None


def common_dtype(*tensors: Tensor):
    """The dtype shared by typed inputs, or None when any input is untyped."""
    out = None
    for t in tensors:
        if t._dtype is None:
            return None
        out = t._dtype
    return out


def require_dtype(t: Tensor, allowed, op_name: str, arg: str = "x") -> None:
    """Raises BuildTypeError when a typed tensor's dtype is not one the op takes."""
    if t._dtype is None:
        return
    if t._dtype.base_dtype not in allowed:
        names = ", ".join(a.name for a in allowed)
        raise errors.BuildTypeError(None, None, f"Value passed to parameter '{arg}' has DataType "
                                    f"{t._dtype.name} not in list of allowed values: {names}")


FLOATS = (dtypes.float16, dtypes.float32, dtypes.float64)
NUMBERS = FLOATS + (dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8,
                    dtypes.uint16, dtypes.uint32, dtypes.uint64, dtypes.complex64,
                    dtypes.complex128)


def axis_tensor(axis, graph, name="axis") -> Tensor:
    if isinstance(axis, Tensor):
        return axis
    arr = np.asarray(axis)
    if arr.size == 0:
        arr = arr.astype(np.int32)
    if arr.dtype.kind not in "iu":
        raise errors.BuildTypeError(None, None, f"axis must be an integer or a list of "
                                    f"integers, not {axis!r}")
    return constant_op.constant(arr.astype(np.int32), graph=graph, name=name)


def static_axes(axis_t: Tensor, rank: int | None):
    """The normalized (non-negative, sorted) axes of a constant axis tensor, else None."""
    value = static_value(axis_t)
    if value is None or rank is None:
        return None
    axes = np.atleast_1d(value).astype(int).tolist()
    out = []
    for a in axes:
        if not -rank <= a < max(rank, 1):
            raise errors.BuildShapeError(None, None, f"Invalid reduction dimension {a} for "
                                         f"input with {rank} dimensions.")
        out.append(a % rank if rank else 0)
    return sorted(set(out))


def np_axes(value):
    """A kernel-side axis value as numpy wants it (tuple for lists, int for scalars)."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return int(arr)
    return tuple(int(a) for a in arr.reshape(-1))


def unknown() -> TensorShape:
    return TensorShape(None)
