"""Batch normalization: `nn.batch_normalization` (TF's formula, from primitive ops),
`nn.fused_batch_norm` with TF's FusedBatchNorm/V2/V3 ops and their gradients, and the layer
(tensorslow/layers.py's batch_normalization builds on these).

FusedBatchNormV3(x, scale, offset, mean, variance) -> (y, batch_mean, batch_variance,
reserve_space_1, reserve_space_2, reserve_space_3), over every axis but the channel axis
(NHWC or NCHW):
  is_training=True:  y = (x - m) / sqrt(v + epsilon) * scale + offset with m, v the batch's
                     mean and (biased) variance; batch_variance is v * n / (n - 1), the
                     unbiased estimate TF reports for moving averages; with
                     exponential_avg_factor f < 1 the batch outputs are blended into the
                     `mean` and `variance` inputs: (1 - f) * input + f * batch.
  is_training=False: y uses the `mean` and `variance` inputs; batch outputs repeat them.
reserve_space_1 and _2 hold the batch mean and the biased variance (what the gradient needs);
FusedBatchNormGradV3 takes them back.
"""

from __future__ import annotations

import numpy as np

from tensorslow.framework import errors
from tensorslow.framework.ops import (
    NotDifferentiable,
    RegisterGradient,
    convert_to_tensor,
    make_op,
    name_scope,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape
from tensorslow.ops import math_ops
from tensorslow.ops.op_util import FLOATS, require_dtype


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """(x - mean) * scale / sqrt(variance + variance_epsilon) + offset, computed as TF does:
    x * inv + (offset - mean * inv) with inv = rsqrt(variance + epsilon) * scale."""
    with name_scope(name, "batchnorm", [x, mean, variance, scale, offset]):
        x = convert_to_tensor(x)
        inv = math_ops.rsqrt(variance + variance_epsilon)
        if scale is not None:
            inv = inv * scale
        shift = (offset - mean * inv) if offset is not None else -mean * inv
        return x * math_ops.cast(inv, x.dtype) + math_ops.cast(shift, x.dtype)


def _channel_axis(op) -> int:
    data_format = op._attrs["data_format"]
    if isinstance(data_format, bytes):
        data_format = data_format.decode()
    return 1 if data_format in ("NCHW", "NCDHW") else -1


def _reduce_axes(ndim: int, channel: int) -> tuple[int, ...]:
    return tuple(a for a in range(ndim) if a != channel % ndim)


def _per_channel(values: np.ndarray, ndim: int, channel: int) -> np.ndarray:
    shape = [1] * ndim
    shape[channel % ndim] = -1
    return values.reshape(shape)


def _fused_infer(op):
    x, scale = op._inputs[0], op._inputs[1]
    require_dtype(x, FLOATS, op._type, "x")
    if x._shape.ndims not in (None, 4, 5):
        raise ValueError(f"{op._type} '{op.name}' needs a 4-D (or 5-D) input, got shape "
                         f"{x._shape}")
    channels = TensorShape([scale._shape.as_list()[0] if scale._shape.ndims == 1 else None])
    stat = scale._dtype
    outputs = [(x._dtype, x._shape)] + [(stat, channels)] * 4
    if op._type == "FusedBatchNormV3":
        outputs.append((stat, TensorShape(None)))
    return outputs


def _fused_kernel(op, ctx):
    epsilon = float(op._attrs["epsilon"])
    training = bool(op._attrs["is_training"])
    factor = float(op._attrs.get("exponential_avg_factor", 1.0))
    channel = _channel_axis(op)
    v3 = op._type == "FusedBatchNormV3"

    def fused_batch_norm(x, scale, offset, mean, variance):
        x = np.asarray(x)
        scale, offset = np.asarray(scale), np.asarray(offset)
        ndim = x.ndim
        if ndim not in (4, 5):
            raise errors.InvalidArgumentError(None, op, f"input must be 4-D or 5-D, got shape "
                                              f"{list(x.shape)}")
        depth = x.shape[channel]
        for what, value in (("scale", scale), ("offset", offset)):
            if value.shape != (depth,):
                raise errors.InvalidArgumentError(
                    None, op, f"{what} must have shape [{depth}] (the channel depth), got "
                    f"{list(value.shape)}")
        compute = np.float32 if x.dtype == np.float16 else x.dtype
        xc = x.astype(compute, copy=False)
        axes = _reduce_axes(ndim, channel)
        if training:
            batch_mean = xc.mean(axis=axes)
            batch_var = np.square(xc - _per_channel(batch_mean, ndim, channel)).mean(axis=axes)
            count = xc.size // depth
            unbiased = batch_var * (count / max(count - 1, 1))
            used_mean, used_var = batch_mean, batch_var
            if factor != 1.0:
                out_mean = (1 - factor) * np.asarray(mean) + factor * batch_mean
                out_var = (1 - factor) * np.asarray(variance) + factor * unbiased
            else:
                out_mean, out_var = batch_mean, unbiased
        else:
            used_mean = np.asarray(mean, dtype=compute)
            used_var = np.asarray(variance, dtype=compute)
            out_mean, out_var = used_mean, used_var
        inv = scale.astype(compute) / np.sqrt(used_var + epsilon)
        y = (xc * _per_channel(inv, ndim, channel)
             + _per_channel(offset - used_mean * inv, ndim, channel))
        stat = scale.dtype
        outs = [y.astype(x.dtype, copy=False), out_mean.astype(stat), out_var.astype(stat),
                used_mean.astype(stat), used_var.astype(stat)]
        if v3:
            outs.append(np.zeros(0, stat))
        return tuple(outs)
    return fused_batch_norm


def _fused_grad_infer(op):
    dy, x, scale = op._inputs[:3]
    channels = scale._shape
    outputs = [(x._dtype, x._shape), (scale._dtype, channels), (scale._dtype, channels),
               (scale._dtype, TensorShape([0])), (scale._dtype, TensorShape([0]))]
    return outputs


def _fused_grad_kernel(op, ctx):
    epsilon = float(op._attrs["epsilon"])
    training = bool(op._attrs["is_training"])
    channel = _channel_axis(op)

    def fused_batch_norm_grad(dy, x, scale, mean, variance, *_):
        dy, x = np.asarray(dy), np.asarray(x)
        compute = np.float32 if x.dtype == np.float16 else x.dtype
        dyc, xc = dy.astype(compute, copy=False), x.astype(compute, copy=False)
        ndim = x.ndim
        axes = _reduce_axes(ndim, channel)
        mean = np.asarray(mean, dtype=compute)
        inv_std = 1 / np.sqrt(np.asarray(variance, dtype=compute) + epsilon)
        centered = xc - _per_channel(mean, ndim, channel)
        x_hat = centered * _per_channel(inv_std, ndim, channel)
        d_offset = dyc.sum(axis=axes)
        d_scale = (dyc * x_hat).sum(axis=axes)
        gain = _per_channel(np.asarray(scale, dtype=compute) * inv_std, ndim, channel)
        if training:
            count = xc.size // xc.shape[channel]
            dx = gain * (dyc - _per_channel(d_offset / count, ndim, channel)
                         - x_hat * _per_channel(d_scale / count, ndim, channel))
        else:
            dx = gain * dyc
        stat = np.asarray(scale).dtype
        empty = np.zeros(0, stat)
        return (dx.astype(x.dtype, copy=False), d_scale.astype(stat), d_offset.astype(stat),
                empty, empty)
    return fused_batch_norm_grad


_FUSED_ATTRS = {"T": ("type", None), "U": ("type", None), "epsilon": ("float", 1e-4),
                "exponential_avg_factor": ("float", 1.0), "data_format": ("string", "NHWC"),
                "is_training": ("bool", True)}
for _type in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
    register_op(_type, infer=_fused_infer, kernel=_fused_kernel, attrs=_FUSED_ATTRS)
for _type in ("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3"):
    register_op(_type, infer=_fused_grad_infer, kernel=_fused_grad_kernel, attrs=_FUSED_ATTRS)
    NotDifferentiable(_type)


def _fused_gradient(op, dy, *_):
    grad_type = {"FusedBatchNorm": "FusedBatchNormGrad",
                 "FusedBatchNormV2": "FusedBatchNormGradV2",
                 "FusedBatchNormV3": "FusedBatchNormGradV3"}[op._type]
    x, scale = op._inputs[0], op._inputs[1]
    if op._attrs["is_training"]:
        mean, variance = op._outputs[3], op._outputs[4]
    else:
        mean, variance = op._inputs[3], op._inputs[4]
    inputs = [dy, x, scale, mean, variance]
    if grad_type == "FusedBatchNormGradV3":
        inputs.append(op._outputs[5])
    attrs = {k: op._attrs[k] for k in _FUSED_ATTRS if k in op._attrs}
    grads = make_op(grad_type, inputs, attrs)._outputs
    return grads[0], grads[1], grads[2], None, None


for _type in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
    RegisterGradient(_type)(_fused_gradient)


def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001,
                     data_format="NHWC", is_training=True, name=None,
                     exponential_avg_factor=1.0):
    """(y, batch_mean, batch_variance) of TF's fused batch normalization (FusedBatchNormV3)."""
    x = convert_to_tensor(x)
    scale = convert_to_tensor(scale)
    offset = convert_to_tensor(offset, dtype=scale.dtype)
    if not is_training and (mean is None or variance is None):
        raise ValueError("fused_batch_norm needs mean and variance when is_training is False")
    if mean is None:
        mean = convert_to_tensor(np.zeros(0), dtype=scale.dtype)
    if variance is None:
        variance = convert_to_tensor(np.zeros(0), dtype=scale.dtype)
    mean = convert_to_tensor(mean, dtype=scale.dtype)
    variance = convert_to_tensor(variance, dtype=scale.dtype)
    if data_format not in ("NHWC", "NCHW", "NDHWC", "NCDHW"):
        raise ValueError(f"data_format must be NHWC or NCHW, got {data_format!r}")
    attrs = {"T": x.dtype, "U": scale.dtype, "epsilon": float(max(epsilon, 1.001e-5)),
             "exponential_avg_factor": float(exponential_avg_factor),
             "data_format": data_format, "is_training": bool(is_training)}
    outputs = make_op("FusedBatchNormV3", [x, scale, offset, mean, variance], attrs,
                      name=name or "FusedBatchNormV3")._outputs
    return outputs[0], outputs[1], outputs[2]


