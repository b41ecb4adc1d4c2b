"""Element-wise math, reductions and matrix products: kernel, shape rule and gradient together.

Binary ops broadcast as numpy does. Their gradients sum each incoming gradient back down to the
shape of its operand (`unbroadcast`), from static shapes when those settle it and with
Shape/BroadcastGradientArgs/Sum/Reshape at run time when they do not.
"""

from __future__ import annotations

import operator

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    NotDifferentiable,
    RegisterGradient,
    Tensor,
    _graph_of,
    convert_to_tensor,
    make_op,
    make_tensor,
    register_op,
    static_value,
)
from tensorslow.framework.tensor_shape import TensorShape, broadcast_shapes
from tensorslow.ops import constant_op
from tensorslow.ops.op_util import (
    FLOATS,
    axis_tensor,
    common_dtype,
    np_axes,
    operands,
    static_axes,
)

# --------------------------------------------------------------------------------------------
# Binary element-wise ops
# --------------------------------------------------------------------------------------------


def _binary_infer(out_bool=False):
    def infer(op):
        x, y = op._inputs
        # dtypes are interned: `is not` is inequality, without a call to DType.__eq__
        if x._dtype is not y._dtype and x._dtype is not None and y._dtype is not None:
            raise TypeError(f"Input 'y' of '{op._type}' Op has type {y._dtype.name} that does "
                            f"not match type {x._dtype.name} of argument 'x'.")
        shape = broadcast_shapes(x._shape, y._shape)
        dtype = dtypes.bool if out_bool else common_dtype(x, y)
        return [(dtype, shape)]
    return infer


def _np_kernel(fn):
    """A kernel builder for ops whose kernel is one numpy function of the inputs."""
    def build(op, ctx):
        return fn
    return build


def _floordiv(x, y):
    return np.floor_divide(x, y)


def _realdiv(x, y):
    return np.true_divide(x, y)


_BINARY = {
    "AddV2": np.add, "Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "RealDiv": _realdiv, "FloorDiv": _floordiv, "FloorMod": np.mod,
    "Pow": np.power, "Maximum": np.maximum, "Minimum": np.minimum,
    "SquaredDifference": lambda x, y: np.square(np.subtract(x, y)),
}
_COMPARE = {
    "Equal": np.equal, "NotEqual": np.not_equal, "Less": np.less, "Greater": np.greater,
    "LessEqual": np.less_equal, "GreaterEqual": np.greater_equal,
    "LogicalAnd": np.logical_and, "LogicalOr": np.logical_or,
}
# Python's operators give the ufunc's result (value and dtype) for numpy operands, and on two
# numpy scalars they take numpy's scalar fast path: a twentieth of a ufunc call's cost, which
# is what a loop's counter and condition pay per iteration.
_SCALAR = {"AddV2": operator.add, "Add": operator.add, "Sub": operator.sub,
           "Mul": operator.mul, "Less": operator.lt, "Greater": operator.gt,
           "LessEqual": operator.le, "GreaterEqual": operator.ge}


def _binary_kernel(op_type: str, fn):
    """`fn`, or for two numeric scalars (static shape []) the operator of the same result."""
    scalar_fn = _SCALAR.get(op_type)

    def build(op, ctx):
        if scalar_fn is not None and all(
                t._shape.as_tuple() == () and t._dtype is not None
                and (t._dtype.is_floating or t._dtype.is_integer) for t in op._inputs):
            return scalar_fn
        return fn
    return build


for _type, _fn in _BINARY.items():
    register_op(_type, infer=_binary_infer(), kernel=_binary_kernel(_type, _fn),
                attrs={"T": ("type", None)})
for _type, _fn in _COMPARE.items():
    register_op(_type, infer=_binary_infer(out_bool=True), kernel=_binary_kernel(_type, _fn),
                attrs={"T": ("type", None)})
    NotDifferentiable(_type)


def _div_kernel(op, ctx):
    """TF's `Div` op: C-style integer division (rounding toward zero) for ints, true division
    for floats."""
    def div(x, y):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind in "iu" and y.dtype.kind in "iu":
            if np.any(y == 0):
                raise errors.InvalidArgumentError(None, op, "Integer division by zero")
            q = np.floor_divide(x, y)
            inexact = (q * y != x) & ((x < 0) != (y < 0))
            return q + inexact.astype(q.dtype)
        return np.true_divide(x, y)
    return div


register_op("Div", infer=_binary_infer(), kernel=_div_kernel, attrs={"T": ("type", None)})


def binary(op_type: str, x, y, name=None) -> Tensor:
    x, y = operands(x, y, op_type)
    return make_op(op_type, [x, y], {"T": common_dtype(x, y)}, name=name)._outputs[0]


def add(x, y, name=None):
    return binary("AddV2", x, y, name)


def subtract(x, y, name=None):
    return binary("Sub", x, y, name)


def multiply(x, y, name=None):
    return binary("Mul", x, y, name)


def truediv(x, y, name=None):
    """x / y in floating point (ints are cast to float64 first, as TF's truediv does)."""
    x, y = operands(x, y, "truediv")
    dt = common_dtype(x, y)
    if dt is not None and dt.is_integer:
        target = dtypes.float64 if dt.size > 2 else dtypes.float32
        x, y = cast(x, target), cast(y, target)
    return binary("RealDiv", x, y, name)


def divide(x, y, name=None):
    return truediv(x, y, name)


def div(x, y, name=None):
    """TF1's `tf.div`: floor division for integers, true division otherwise."""
    x, y = operands(x, y, "div")
    dt = common_dtype(x, y)
    if dt is not None and dt.is_integer:
        return binary("FloorDiv", x, y, name)
    return binary("RealDiv", x, y, name)


def floordiv(x, y, name=None):
    return binary("FloorDiv", x, y, name)


def floormod(x, y, name=None):
    return binary("FloorMod", x, y, name)


mod = floormod


def pow(x, y, name=None):  # noqa: A001 - TensorFlow's name
    return binary("Pow", x, y, name)


def maximum(x, y, name=None):
    return binary("Maximum", x, y, name)


def minimum(x, y, name=None):
    return binary("Minimum", x, y, name)


def squared_difference(x, y, name=None):
    return binary("SquaredDifference", x, y, name)


def equal(x, y, name=None):
    return binary("Equal", x, y, name)


def not_equal(x, y, name=None):
    return binary("NotEqual", x, y, name)


def less(x, y, name=None):
    return binary("Less", x, y, name)


def greater(x, y, name=None):
    return binary("Greater", x, y, name)


def less_equal(x, y, name=None):
    return binary("LessEqual", x, y, name)


def greater_equal(x, y, name=None):
    return binary("GreaterEqual", x, y, name)


def logical_and(x, y, name=None):
    return binary("LogicalAnd", x, y, name)


def logical_or(x, y, name=None):
    return binary("LogicalOr", x, y, name)


# -- broadcasting gradients -------------------------------------------------------------------

register_op("BroadcastGradientArgs",
            infer=lambda op: [(op._inputs[0]._dtype, TensorShape([None]))] * 2,
            kernel=_np_kernel(lambda sx, sy: _broadcast_gradient_args(sx, sy)),
            attrs={"T": ("type", dtypes.int32)})
NotDifferentiable("BroadcastGradientArgs")


def _broadcast_gradient_args(sx, sy):
    """The axes to sum a broadcast result over to get back to each input's shape."""
    sx, sy = [int(d) for d in np.asarray(sx)], [int(d) for d in np.asarray(sy)]
    n = max(len(sx), len(sy))
    px, py = [1] * (n - len(sx)) + sx, [1] * (n - len(sy)) + sy
    rx, ry = [], []
    for i, (a, b) in enumerate(zip(px, py, strict=True)):
        if a == b:
            if a == 1:  # both 1: TF reduces both (a no-op sum)
                rx.append(i)
                ry.append(i)
            continue
        if a == 1:
            rx.append(i)
        elif b == 1:
            ry.append(i)
        else:
            raise ValueError(f"Incompatible shapes: {sx} vs. {sy}")
    return np.array(rx, dtype=np.int32), np.array(ry, dtype=np.int32)


def _static_reduction(x_shape: TensorShape, y_shape: TensorShape):
    """(axes to sum and drop, axes to sum and keep) taking the gradient of x∘y back to x's
    shape, or None when the static shapes do not settle it."""
    sx, sy = x_shape.as_tuple(), y_shape.as_tuple()
    if sx is None or sy is None:
        return None
    n = max(len(sx), len(sy))
    lead = n - len(sx)
    py = (1,) * (n - len(sy)) + sy
    drop = list(range(lead))
    keep = []
    for i, xd in enumerate(sx):
        yd = py[lead + i]
        if xd == 1:
            if yd != 1:  # summing a dim that turns out to be 1 is harmless
                keep.append(lead + i)
        elif xd is None and yd != 1:
            return None  # x's dim may be 1 and broadcast at run time: decide then
    return drop, keep


def unbroadcast(grad: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Sums `grad` (the gradient of x∘y) down to the shapes of x and of y."""
    sx, sy = x._shape.as_tuple(), y._shape.as_tuple()
    if sx is not None and sx == sy and None not in sx:
        return grad, grad
    rx, ry = _static_reduction(x._shape, y._shape), _static_reduction(y._shape, x._shape)
    if rx is not None and ry is not None:
        return _reduce_static(grad, rx), _reduce_static(grad, ry)
    from tensorslow.ops import array_ops

    shape_x, shape_y = array_ops.shape(x), array_ops.shape(y)
    bx, by = make_op("BroadcastGradientArgs", [shape_x, shape_y],
                     {"T": dtypes.int32})._outputs
    gx = array_ops.reshape(reduce_sum(grad, bx), shape_x)
    gy = array_ops.reshape(reduce_sum(grad, by), shape_y)
    return gx, gy


def _reduce_static(grad: Tensor, reduction) -> Tensor:
    drop, keep = reduction
    if keep:
        grad = reduce_sum(grad, keep, keepdims=True)
    if drop:
        grad = reduce_sum(grad, drop)
    return grad


@RegisterGradient("AddV2")
@RegisterGradient("Add")
def _add_grad(op, grad):
    x, y = op._inputs
    return unbroadcast(grad, x, y)


@RegisterGradient("Sub")
def _sub_grad(op, grad):
    x, y = op._inputs
    gx, gy = unbroadcast(grad, x, y)
    return gx, negative(gy)


@RegisterGradient("Mul")
def _mul_grad(op, grad):
    x, y = op._inputs
    gx, _ = unbroadcast(multiply(grad, y), x, y)
    _, gy = unbroadcast(multiply(x, grad), x, y)
    return gx, gy


@RegisterGradient("RealDiv")
@RegisterGradient("Div")
def _realdiv_grad(op, grad):
    x, y = op._inputs
    gx, _ = unbroadcast(binary("RealDiv", grad, y), x, y)
    _, gy = unbroadcast(multiply(grad, binary("RealDiv", binary("RealDiv", negative(x), y), y)),
                        x, y)
    return gx, gy


@RegisterGradient("Pow")
def _pow_grad(op, grad):
    x, y = op._inputs
    z = op._outputs[0]
    gx, _ = unbroadcast(multiply(grad, multiply(y, pow(x, subtract(y, 1)))), x, y)
    from tensorslow.ops import array_ops

    safe_log = array_ops.where(greater(x, 0), log(x), array_ops.zeros_like(x))
    _, gy = unbroadcast(multiply(grad, multiply(z, safe_log)), x, y)
    return gx, gy


def _select_grad(op, grad, x_wins):
    from tensorslow.ops import array_ops

    x, y = op._inputs
    zeros = array_ops.zeros_like(grad)
    gx, _ = unbroadcast(array_ops.where(x_wins, grad, zeros), x, y)
    _, gy = unbroadcast(array_ops.where(x_wins, zeros, grad), x, y)
    return gx, gy


@RegisterGradient("Maximum")
def _maximum_grad(op, grad):
    x, y = op._inputs
    return _select_grad(op, grad, greater_equal(x, y))


@RegisterGradient("Minimum")
def _minimum_grad(op, grad):
    x, y = op._inputs
    return _select_grad(op, grad, less_equal(x, y))


@RegisterGradient("SquaredDifference")
def _squared_difference_grad(op, grad):
    x, y = op._inputs
    g = multiply(multiply(grad, 2), subtract(x, y))
    gx, gy = unbroadcast(g, x, y)
    return gx, negative(gy)


@RegisterGradient("FloorMod")
def _floormod_grad(op, grad):
    x, y = op._inputs
    gx, _ = unbroadcast(grad, x, y)
    _, gy = unbroadcast(multiply(grad, negative(floordiv(x, y))), x, y)
    return gx, gy


NotDifferentiable("FloorDiv")


# --------------------------------------------------------------------------------------------
# Unary element-wise ops
# --------------------------------------------------------------------------------------------


def _unary_infer(op):
    x = op._inputs[0]
    return [(x._dtype, x._shape)]


def _logical_infer(op):
    return [(dtypes.bool, op._inputs[0]._shape)]


# Below these arguments exp() cannot overflow, per float dtype.
_EXP_LIMIT = {np.dtype(np.float16): 11.0, np.dtype(np.float32): 88.0,
              np.dtype(np.float64): 709.0}


def _sigmoid(x):
    t = np.negative(x)
    limit = _EXP_LIMIT.get(t.dtype) if type(t) is np.ndarray else None
    if limit is not None and (t.size == 0 or t.max() < limit):
        # The fast path: 1 / (1 + exp(-x)) computed in one buffer.
        np.exp(t, out=t)
        t += 1
        np.reciprocal(t, out=t)
        return t
    return _stable_sigmoid(np.asarray(x))


def _stable_sigmoid(x):
    # exp of a non-positive argument only, so large |x| never overflows.
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out.astype(x.dtype, copy=False) if x.dtype.kind in "fc" else out


NotDifferentiable("Const")


def _np_sign_safe_log(x):
    with np.errstate(divide="ignore"):
        return np.log(x)


def _rsqrt(x):
    return 1 / np.sqrt(x)


_UNARY = {
    "Neg": np.negative, "Square": np.square, "Sqrt": np.sqrt, "Rsqrt": _rsqrt, "Exp": np.exp,
    "Log": _np_sign_safe_log, "Log1p": np.log1p, "Expm1": np.expm1, "Abs": np.abs,
    "Sign": np.sign, "Reciprocal": np.reciprocal, "Inv": np.reciprocal,
    "Sigmoid": _sigmoid, "Tanh": np.tanh, "Floor": np.floor, "Ceil": np.ceil,
    "Round": np.round, "Rint": np.rint, "Sin": np.sin, "Cos": np.cos,
}
for _type, _fn in _UNARY.items():
    register_op(_type, infer=_unary_infer, kernel=_np_kernel(_fn), attrs={"T": ("type", None)})
register_op("LogicalNot", infer=_logical_infer, kernel=_np_kernel(np.logical_not))
register_op("IsNan", infer=_logical_infer, kernel=_np_kernel(np.isnan),
            attrs={"T": ("type", None)})
register_op("IsFinite", infer=_logical_infer, kernel=_np_kernel(np.isfinite),
            attrs={"T": ("type", None)})
for _type in ("Sign", "Floor", "Ceil", "Round", "Rint", "LogicalNot", "IsNan", "IsFinite"):
    NotDifferentiable(_type)


def unary(op_type: str, x, name=None) -> Tensor:
    x = convert_to_tensor(x)
    return make_op(op_type, [x], {"T": x._dtype}, name=name)._outputs[0]


def negative(x, name=None):
    return unary("Neg", x, name)


def square(x, name=None):
    return unary("Square", x, name)


def sqrt(x, name=None):
    return unary("Sqrt", x, name)


def rsqrt(x, name=None):
    return unary("Rsqrt", x, name)


def exp(x, name=None):
    return unary("Exp", x, name)


def log(x, name=None):
    return unary("Log", x, name)


def log1p(x, name=None):
    return unary("Log1p", x, name)


def expm1(x, name=None):
    return unary("Expm1", x, name)


def abs(x, name=None):  # noqa: A001 - TensorFlow's name
    return unary("Abs", x, name)


def sign(x, name=None):
    return unary("Sign", x, name)


def reciprocal(x, name=None):
    return unary("Reciprocal", x, name)


def sigmoid(x, name=None):
    return unary("Sigmoid", x, name)


def tanh(x, name=None):
    return unary("Tanh", x, name)


def floor(x, name=None):
    return unary("Floor", x, name)


def ceil(x, name=None):
    return unary("Ceil", x, name)


def round(x, name=None):  # noqa: A001 - TensorFlow's name
    return unary("Round", x, name)


def sin(x, name=None):
    return unary("Sin", x, name)


def cos(x, name=None):
    return unary("Cos", x, name)


def logical_not(x, name=None):
    x = convert_to_tensor(x)
    return make_op("LogicalNot", [x], name=name)._outputs[0]


def is_nan(x, name=None):
    return unary("IsNan", x, name)


def is_finite(x, name=None):
    return unary("IsFinite", x, name)


def _times_into(fresh, *factors):
    """fresh * factors..., computed in `fresh` (an array this kernel just made) when every
    factor has its shape and dtype, else with new arrays."""
    for f in factors:
        if not (type(f) is np.ndarray and type(fresh) is np.ndarray and f.shape == fresh.shape
                and f.dtype == fresh.dtype):
            for g in factors:
                fresh = np.multiply(fresh, g)
            return fresh
    for f in factors:
        np.multiply(fresh, f, out=fresh)
    return fresh


# Gradient helper ops, as TF names them: grad_op(y, dy) with y the forward op's output.
_GRAD_KERNELS = {
    "SigmoidGrad": lambda y, dy: _times_into(np.subtract(1, y), y, dy),
    "TanhGrad": lambda y, dy: _times_into(np.subtract(1, np.multiply(y, y)), dy),
    "SqrtGrad": lambda y, dy: dy * 0.5 / y,
    "RsqrtGrad": lambda y, dy: dy * (-0.5 * y * y * y),
    "ReciprocalGrad": lambda y, dy: dy * (-y * y),
}
for _type, _fn in _GRAD_KERNELS.items():
    register_op(_type, infer=_binary_infer(), kernel=_np_kernel(_fn), attrs={"T": ("type", None)})


@RegisterGradient("Neg")
def _neg_grad(op, grad):
    return negative(grad)


@RegisterGradient("Square")
def _square_grad(op, grad):
    x = op._inputs[0]
    return multiply(grad, multiply(x, 2))


@RegisterGradient("Sqrt")
def _sqrt_grad(op, grad):
    return binary("SqrtGrad", op._outputs[0], grad)


@RegisterGradient("Rsqrt")
def _rsqrt_grad(op, grad):
    return binary("RsqrtGrad", op._outputs[0], grad)


@RegisterGradient("Exp")
def _exp_grad(op, grad):
    return multiply(grad, op._outputs[0])


@RegisterGradient("Expm1")
def _expm1_grad(op, grad):
    return multiply(grad, exp(op._inputs[0]))


@RegisterGradient("Log")
def _log_grad(op, grad):
    return multiply(grad, reciprocal(op._inputs[0]))


@RegisterGradient("Log1p")
def _log1p_grad(op, grad):
    return multiply(grad, reciprocal(add(op._inputs[0], 1)))


@RegisterGradient("Abs")
def _abs_grad(op, grad):
    return multiply(grad, sign(op._inputs[0]))


@RegisterGradient("Reciprocal")
@RegisterGradient("Inv")
def _reciprocal_grad(op, grad):
    return binary("ReciprocalGrad", op._outputs[0], grad)


@RegisterGradient("Sigmoid")
def _sigmoid_grad(op, grad):
    return binary("SigmoidGrad", op._outputs[0], grad)


@RegisterGradient("Tanh")
def _tanh_grad(op, grad):
    return binary("TanhGrad", op._outputs[0], grad)


@RegisterGradient("Sin")
def _sin_grad(op, grad):
    return multiply(grad, cos(op._inputs[0]))


@RegisterGradient("Cos")
def _cos_grad(op, grad):
    return negative(multiply(grad, sin(op._inputs[0])))


@RegisterGradient("SigmoidGrad")
def _sigmoid_grad_grad(op, grad):
    y, dy = op._inputs
    gy = multiply(multiply(grad, dy), subtract(1, multiply(y, 2)))
    return gy, binary("SigmoidGrad", y, grad)


@RegisterGradient("TanhGrad")
def _tanh_grad_grad(op, grad):
    y, dy = op._inputs
    return multiply(multiply(grad, dy), multiply(y, -2)), binary("TanhGrad", y, grad)


@RegisterGradient("SqrtGrad")
def _sqrt_grad_grad(op, grad):
    y = op._inputs[0]
    ga = binary("RealDiv", grad, y)
    return negative(multiply(ga, op._outputs[0])), multiply(ga, 0.5)


@RegisterGradient("RsqrtGrad")
def _rsqrt_grad_grad(op, grad):
    y, dy = op._inputs
    return multiply(multiply(multiply(grad, -1.5), dy), square(y)), binary("RsqrtGrad", y, grad)


@RegisterGradient("ReciprocalGrad")
def _reciprocal_grad_grad(op, grad):
    y, dy = op._inputs
    return multiply(multiply(multiply(grad, -2), dy), y), binary("ReciprocalGrad", y, grad)


# --------------------------------------------------------------------------------------------
# Cast
# --------------------------------------------------------------------------------------------


def _cast_infer(op):
    return [(op._attrs["DstT"], op._inputs[0]._shape)]


def _cast_kernel(op, ctx):
    target = np.dtype(op._attrs["DstT"].as_numpy_dtype)
    truncate = op._attrs.get("Truncate", False)

    def cast_value(x):
        x = np.asarray(x)
        if target.kind in "iu" and x.dtype.kind == "f" and not truncate:
            x = np.trunc(x)  # TF casts float to int toward zero
        return x.astype(target, copy=False)
    return cast_value


register_op("Cast", infer=_cast_infer, kernel=_cast_kernel,
            attrs={"SrcT": ("type", None), "DstT": ("type", REQUIRED), "Truncate": ("bool", False)})


def cast(x, dtype, name=None):
    x = convert_to_tensor(x)
    dtype = dtypes.as_dtype(dtype).base_dtype
    if x._dtype is not None and x._dtype.base_dtype == dtype:
        return x
    return make_op("Cast", [x], {"SrcT": x._dtype, "DstT": dtype}, name=name)._outputs[0]


def to_float(x, name="ToFloat"):
    return cast(x, dtypes.float32, name)


def to_int32(x, name="ToInt32"):
    return cast(x, dtypes.int32, name)


def to_int64(x, name="ToInt64"):
    return cast(x, dtypes.int64, name)


@RegisterGradient("Cast")
def _cast_grad(op, grad):
    src = op._attrs.get("SrcT")
    if src is None or src.is_floating or src.is_complex:
        return cast(grad, src) if src is not None else grad
    return None


# --------------------------------------------------------------------------------------------
# MatMul
# --------------------------------------------------------------------------------------------


def _matmul_infer(op):
    a, b = op._inputs
    ta, tb = op._attrs["transpose_a"], op._attrs["transpose_b"]
    if a._dtype is not b._dtype and a._dtype is not None and b._dtype is not None:
        raise TypeError(f"Input 'b' of 'MatMul' Op has type {b._dtype.name} that does not "
                        f"match type {a._dtype.name} of argument 'a'.")
    sa, sb = a._shape.as_tuple(), b._shape.as_tuple()
    dtype = common_dtype(a, b)
    if sa is None or sb is None:
        return [(dtype, TensorShape(None))]
    if len(sa) == 2 and len(sb) == 2:
        m, ka = (sa[1], sa[0]) if ta else sa
        kb, n = (sb[1], sb[0]) if tb else sb
        if ka is not None and kb is not None and ka != kb:
            raise ValueError(f"Dimensions must be equal, but are {ka} and {kb} for "
                             f"'{op._name}' (op: 'MatMul') with input shapes: {a._shape}, "
                             f"{b._shape}.")
        return [(dtype, TensorShape([m, n]))]
    if len(sa) in (1, 2) and len(sb) in (1, 2):  # the seed's matrix-vector products
        ka = sa[-1] if not (ta and len(sa) == 2) else sa[0]
        kb = sb[0] if not (tb and len(sb) == 2) else sb[1]
        if ka is not None and kb is not None and ka != kb:
            raise ValueError(f"Dimensions must be equal, but are {ka} and {kb} for "
                             f"'{op._name}' (op: 'MatMul') with input shapes: {a._shape}, "
                             f"{b._shape}.")
        out = []
        if len(sa) == 2:
            out.append(sa[1] if ta else sa[0])
        if len(sb) == 2:
            out.append(sb[0] if tb else sb[1])
        return [(dtype, TensorShape(out))]
    raise ValueError(f"Shape must be rank 2 but is rank {max(len(sa), len(sb))} for "
                     f"'{op._name}' (op: 'MatMul') with input shapes: {a._shape}, {b._shape}.")


def _matmul_kernel(op, ctx):
    ta, tb = op._attrs["transpose_a"], op._attrs["transpose_b"]
    if ta and tb:
        return lambda a, b: np.matmul(a.T, b.T)
    if ta:
        return lambda a, b: np.matmul(a.T, b)
    if tb:
        return lambda a, b: np.matmul(a, b.T)
    return np.matmul


register_op("MatMul", infer=_matmul_infer, kernel=_matmul_kernel,
            attrs={"transpose_a": ("bool", False), "transpose_b": ("bool", False),
                   "T": ("type", None)})


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    a, b = operands(a, b, "MatMul")
    attrs = {"transpose_a": bool(transpose_a or adjoint_a),
             "transpose_b": bool(transpose_b or adjoint_b), "T": common_dtype(a, b)}
    return make_op("MatMul", [a, b], attrs, name=name)._outputs[0]


def _matmul_backprop_kernel(op, ctx):
    """Gradient of a MatMul whose operands may be vectors (numpy's dot semantics)."""
    which = op._attrs["which"]
    ta, tb = op._attrs["transpose_a"], op._attrs["transpose_b"]

    def backprop(a, b, g):
        a, b, g = np.asarray(a), np.asarray(b), np.asarray(g)
        a2 = a.T if (ta and a.ndim == 2) else a
        b2 = b.T if (tb and b.ndim == 2) else b
        a2 = a2.reshape(1, -1) if a2.ndim == 1 else a2
        b2 = b2.reshape(-1, 1) if b2.ndim == 1 else b2
        g2 = g.reshape(a2.shape[0], b2.shape[1])
        if which == "a":
            ga = np.matmul(g2, b2.T)
            ga = ga.reshape(a.shape) if a.ndim == 1 else (ga.T if ta else ga)
            return ga
        gb = np.matmul(a2.T, g2)
        return gb.reshape(b.shape) if b.ndim == 1 else (gb.T if tb else gb)
    return backprop


register_op("_MatMulBackprop",
            infer=lambda op: [(common_dtype(*op._inputs), op._inputs[0 if op._attrs["which"] ==
                                                                    "a" else 1]._shape)],
            kernel=_matmul_backprop_kernel,
            attrs={"which": ("string", REQUIRED), "transpose_a": ("bool", False),
                   "transpose_b": ("bool", False)})


@RegisterGradient("MatMul")
def _matmul_grad(op, grad):
    a, b = op._inputs
    ta, tb = op._attrs["transpose_a"], op._attrs["transpose_b"]
    if a._shape.ndims != 2 or b._shape.ndims != 2:
        attrs = {"transpose_a": ta, "transpose_b": tb}
        ga = make_tensor("_MatMulBackprop", [a, b, grad], dict(attrs, which="a"))
        gb = make_tensor("_MatMulBackprop", [a, b, grad], dict(attrs, which="b"))
        return ga, gb
    if not ta and not tb:
        return matmul(grad, b, transpose_b=True), matmul(a, grad, transpose_a=True)
    if not ta and tb:
        return matmul(grad, b), matmul(grad, a, transpose_a=True)
    if ta and not tb:
        return matmul(b, grad, transpose_b=True), matmul(a, grad)
    return (matmul(b, grad, transpose_a=True, transpose_b=True),
            matmul(grad, a, transpose_a=True, transpose_b=True))


# --------------------------------------------------------------------------------------------
# Reductions (the axis is a second input, as in TF)
# --------------------------------------------------------------------------------------------


def _reduce_infer(out_dtype=None):
    def infer(op):
        x, axis = op._inputs
        keep = op._attrs["keep_dims"]
        rank = x._shape.ndims
        axes = static_axes(axis, rank)
        dtype = out_dtype if out_dtype is not None else x._dtype
        if axes is None:
            return [(dtype, TensorShape(None) if not keep or rank is None
                     else TensorShape([None] * rank))]
        dims = x._shape.as_tuple()
        if keep:
            return [(dtype, TensorShape([1 if i in axes else d for i, d in enumerate(dims)]))]
        return [(dtype, TensorShape([d for i, d in enumerate(dims) if i not in axes]))]
    return infer


def _reduce_kernel(fn, mean=False):
    """A reduction kernel; with a constant axis input (the usual case) the axes are resolved
    once, when the plan is built, not at every step."""
    def build(op, ctx):
        keep = op._attrs["keep_dims"]
        static_axis = static_value(op._inputs[1])

        def reduce_axes(x, axes):
            x = np.asarray(x)
            if axes == ():
                return x  # TF: reducing over no axes is the identity
            if mean:
                total = np.add.reduce(x, axis=axes, keepdims=keep)
                count = _count(x.shape, axes)
                if x.dtype.kind in "iu":  # TF's integer mean truncates
                    return (total // count).astype(x.dtype)
                return np.true_divide(total, count)
            out = fn(x, axis=axes, keepdims=keep)
            return out.astype(x.dtype, copy=False) if x.dtype.kind in "iub" else out

        if static_axis is not None:
            axes = np_axes(static_axis)
            dtype = op._inputs[0]._dtype
            if axes != () and not mean and dtype is not None and dtype.is_floating:
                def reduce_floats(x, axis):  # the common case, with the least work per step
                    return fn(x, axis=axes, keepdims=keep)
                return reduce_floats
            return lambda x, axis: reduce_axes(x, axes)
        return lambda x, axis: reduce_axes(x, np_axes(axis))
    return build


def _count(shape, axes):
    if isinstance(axes, int):
        axes = (axes,)
    n = 1
    for a in axes:
        n *= shape[a]
    return n


_REDUCE_ATTRS = {"keep_dims": ("bool", False), "T": ("type", None), "Tidx": ("type", dtypes.int32)}
register_op("Sum", infer=_reduce_infer(), kernel=_reduce_kernel(np.add.reduce),
            attrs=_REDUCE_ATTRS)
register_op("Mean", infer=_reduce_infer(), kernel=_reduce_kernel(None, mean=True),
            attrs=_REDUCE_ATTRS)
register_op("Max", infer=_reduce_infer(), kernel=_reduce_kernel(np.maximum.reduce),
            attrs=_REDUCE_ATTRS)
register_op("Min", infer=_reduce_infer(), kernel=_reduce_kernel(np.minimum.reduce),
            attrs=_REDUCE_ATTRS)
register_op("Prod", infer=_reduce_infer(), kernel=_reduce_kernel(np.multiply.reduce),
            attrs=_REDUCE_ATTRS)
register_op("All", infer=_reduce_infer(dtypes.bool), kernel=_reduce_kernel(np.logical_and.reduce),
            attrs={"keep_dims": ("bool", False), "Tidx": ("type", dtypes.int32)})
register_op("Any", infer=_reduce_infer(dtypes.bool), kernel=_reduce_kernel(np.logical_or.reduce),
            attrs={"keep_dims": ("bool", False), "Tidx": ("type", dtypes.int32)})
NotDifferentiable("All")
NotDifferentiable("Any")


def _reduction(op_type, input_tensor, axis, keepdims, name, reduction_indices=None,
               keep_dims=None):
    if reduction_indices is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'reduction_indices'")
        axis = reduction_indices
    if keep_dims is not None:
        if keepdims is not None and keepdims != keep_dims:
            raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'")
        keepdims = keep_dims
    x = convert_to_tensor(input_tensor)
    graph = _graph_of([x])
    if axis is None:
        rank = x._shape.ndims
        if rank is not None:
            axis_t = axis_tensor(list(range(rank)), graph, name="Const")
        else:
            from tensorslow.ops import array_ops

            axis_t = array_ops.range(0, array_ops.rank(x))
    else:
        axis_t = axis_tensor(axis, graph, name="Const")
    attrs = {"keep_dims": bool(keepdims), "T": x._dtype, "Tidx": axis_t._dtype}
    return make_op(op_type, [x, axis_t], attrs, name=name)._outputs[0]


def reduce_sum(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None):
    return _reduction("Sum", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_mean(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                keep_dims=None):
    return _reduction("Mean", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_max(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None):
    return _reduction("Max", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_min(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None):
    return _reduction("Min", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_prod(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                keep_dims=None):
    return _reduction("Prod", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_all(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None):
    return _reduction("All", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_any(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None):
    return _reduction("Any", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def _reduced_shape_kernel(op, ctx):
    def reduced_shape(shape, axes):
        shape = np.array(shape, dtype=np.int32)
        axes = np.atleast_1d(np.asarray(axes)).astype(int)
        out = shape.copy()
        out[axes % max(len(shape), 1)] = 1
        return out
    return reduced_shape


register_op("_ReducedShape", infer=lambda op: [(dtypes.int32, TensorShape([None]))],
            kernel=_reduced_shape_kernel)
NotDifferentiable("_ReducedShape")


def _grad_to_input_shape(op, grad):
    """A reduction's output gradient, reshaped with kept dims and broadcast to the input."""
    from tensorslow.ops import array_ops

    x, axis = op._inputs
    rank = x._shape.ndims
    axes = static_axes(axis, rank)
    dims = x._shape.as_tuple()
    if not op._attrs["keep_dims"]:
        kept = None
        if axes is not None:
            kept = [1 if i in axes else d for i, d in enumerate(dims)]
            if kept.count(None) > 1:
                kept = None
        if kept is not None:
            grad = array_ops.reshape(grad, [-1 if d is None else d for d in kept])
        else:
            shape_x = array_ops.shape(x)
            grad = array_ops.reshape(grad, make_tensor("_ReducedShape", [shape_x, axis]))
    if x._shape.is_fully_defined():
        target = list(dims)
    else:
        target = array_ops.shape(x)
    return array_ops.broadcast_to(grad, target)


@RegisterGradient("Sum")
def _sum_grad(op, grad):
    return _grad_to_input_shape(op, grad), None


@RegisterGradient("Mean")
def _mean_grad(op, grad):
    from tensorslow.ops import array_ops

    x = op._inputs[0]
    y = op._outputs[0]
    sum_grad = _grad_to_input_shape(op, grad)
    nx, ny = x._shape.num_elements(), y._shape.num_elements()
    if nx is not None and ny is not None:
        factor = nx // max(ny, 1)
        if x._dtype is not None:
            return truediv_same(sum_grad, constant_op.constant(factor, dtype=x._dtype)), None
        return binary("RealDiv", sum_grad, factor), None
    count = binary("RealDiv", array_ops.size(x), maximum(array_ops.size(y), 1))
    dtype = x._dtype or sum_grad._dtype
    if dtype is not None:
        count = cast(count, dtype)
    return binary("RealDiv", sum_grad, count), None


def truediv_same(x, y):
    return binary("RealDiv", x, y)


def _minmax_grad(op, grad):
    from tensorslow.ops import array_ops

    x = op._inputs[0]
    y = op._outputs[0]
    y_full = _grad_to_input_shape(op, y)
    g_full = _grad_to_input_shape(op, grad)
    indicators = cast(equal(x, y_full), x._dtype) if x._dtype else cast(
        equal(x, y_full), dtypes.float64)
    num_selected = _grad_to_input_shape(
        op, reduce_sum(indicators, op._inputs[1], keepdims=op._attrs["keep_dims"]))
    del array_ops
    return multiply(binary("RealDiv", indicators, num_selected), g_full), None


RegisterGradient("Max")(_minmax_grad)
RegisterGradient("Min")(_minmax_grad)


@RegisterGradient("Prod")
def _prod_grad(op, grad):
    # prod / x per element: exact for the nonzero inputs this library's users differentiate.
    x = op._inputs[0]
    return multiply(_grad_to_input_shape(op, grad),
                    binary("RealDiv", _grad_to_input_shape(op, op._outputs[0]), x)), None


# --------------------------------------------------------------------------------------------
# AddN
# --------------------------------------------------------------------------------------------


def _add_n_infer(op):
    shape = op._inputs[0]._shape
    for t in op._inputs[1:]:
        shape = shape.merge_with(t._shape) if shape.is_compatible_with(t._shape) else shape
    return [(common_dtype(*op._inputs), shape)]


def _add_n_kernel(op, ctx):
    if op._attrs.get("T") == dtypes.variant:
        from tensorslow.ops.list_ops import add_lists

        return lambda *lists: add_lists(lists)

    if op._attrs.get("N") == 2:
        return np.add  # the common case (a gradient summed from two consumers)

    def add_n_values(*xs):
        out = np.add(xs[0], xs[1]) if len(xs) > 1 else np.asarray(xs[0])
        for x in xs[2:]:
            out = np.add(out, x)
        return out
    return add_n_values


register_op("AddN", infer=_add_n_infer, kernel=_add_n_kernel,
            attrs={"N": ("int", None), "T": ("type", None)})


def add_n(inputs, name=None):
    if not inputs:
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype "
                         "and shape")
    inputs = [convert_to_tensor(t) for t in inputs]
    typed = {t._dtype for t in inputs if t._dtype is not None}
    if len(typed) > 1:
        raise errors.BuildTypeError(None, None, f"add_n inputs must share one dtype, got "
                                    f"{sorted(d.name for d in typed)}")
    if len(inputs) == 1:
        from tensorslow.ops import array_ops

        return array_ops.identity(inputs[0], name=name)
    return make_op("AddN", inputs, {"N": len(inputs), "T": common_dtype(*inputs)},
                   name=name)._outputs[0]


@RegisterGradient("AddN")
def _add_n_grad(op, grad):
    return [grad] * len(op._inputs)


# --------------------------------------------------------------------------------------------
# DivNoNan (x / y, and 0 where y is 0: the losses' safe mean)
# --------------------------------------------------------------------------------------------


def _div_no_nan(x, y):
    x, y = np.asarray(x), np.asarray(y)
    zero = y == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(x, y)
    if zero.any():
        out = np.where(zero, np.zeros((), dtype=out.dtype), out)
    return out


register_op("DivNoNan", infer=_binary_infer(), kernel=_np_kernel(_div_no_nan),
            attrs={"T": ("type", None)})


@RegisterGradient("DivNoNan")
def _div_no_nan_grad(op, grad):
    x, y = op._inputs
    gx, _ = unbroadcast(div_no_nan(grad, y), x, y)
    _, gy = unbroadcast(multiply(grad, div_no_nan(div_no_nan(negative(x), y), y)), x, y)
    return gx, gy


def div_no_nan(x, y, name=None):
    return binary("DivNoNan", x, y, name)


# --------------------------------------------------------------------------------------------
# Operators on Tensor
# --------------------------------------------------------------------------------------------


def _install_operators():
    from tensorslow.framework.ops import Operation

    def binary_op(fn):
        def forward(self, other):
            return fn(self, other)

        def reverse(self, other):
            return fn(other, self)
        return forward, reverse

    def floordiv_op(x, y):
        return floordiv(x, y)

    def truediv_op(x, y):
        x, y = operands(x, y, "truediv")
        dt = common_dtype(x, y)
        if dt is not None and dt.is_integer:
            return truediv(x, y)
        return binary("RealDiv", x, y)

    table = {"add": add, "sub": subtract, "mul": multiply, "truediv": truediv_op,
             "floordiv": floordiv_op, "mod": floormod, "pow": pow, "matmul": matmul,
             "and": logical_and, "or": logical_or}
    for cls in (Tensor, Operation):
        for name, fn in table.items():
            forward, reverse = binary_op(fn)
            setattr(cls, f"__{name}__", forward)
            setattr(cls, f"__r{name}__", reverse)
        cls.__lt__ = lambda self, other: less(self, other)
        cls.__le__ = lambda self, other: less_equal(self, other)
        cls.__gt__ = lambda self, other: greater(self, other)
        cls.__ge__ = lambda self, other: greater_equal(self, other)
        cls.__neg__ = lambda self: negative(self)
        cls.__abs__ = lambda self: abs(self)
        cls.__invert__ = lambda self: logical_not(self)


_install_operators()

FLOAT_TYPES = FLOATS
