"""2-D convolution and pooling: Conv2D and its two backprop ops, MaxPool, AvgPool and their
gradients, with TensorFlow's op types, attrs, output sizes and padding.

Padding follows TensorFlow: "VALID" uses no padding, out = ceil((in - k_eff + 1) / stride);
"SAME" gives out = ceil(in / stride) and pads max((out - 1) * stride + k_eff - in, 0) in all,
the smaller half before and the rest after; "EXPLICIT" (Conv2D) takes `explicit_paddings`,
(before, after) per dimension. k_eff = (k - 1) * dilation + 1. Max pooling pads with -inf; a
SAME average divides by the number of elements the window covers inside the input (as TF).
MaxPoolGrad passes each gradient to the first maximum of its window in row-major order.

The kernels work in NHWC (NCHW is transposed in and out) and cost one matmul per op: windows
are gathered with a strided view (no Python loop over positions), and the backprop ops add
window contributions back one kernel offset at a time (kh * kw array additions).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    NotDifferentiable,
    RegisterGradient,
    Tensor,
    convert_to_tensor,
    make_op,
    name_scope,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape
from tensorslow.ops import array_ops, constant_op
from tensorslow.ops.op_util import FLOATS, require_dtype

# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def _padded_size(size: int, k: int, stride: int, dilation: int, padding: str,
                 explicit: tuple[int, int] = (0, 0)) -> tuple[int, int, int]:
    """(output size, padding before, padding after) along one spatial dimension."""
    k_eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return max(0, -(-(size - k_eff + 1) // stride)), 0, 0
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + k_eff - size, 0)
        return out, total // 2, total - total // 2
    before, after = explicit
    return max(0, (size + before + after - k_eff) // stride + 1), before, after


def _static_size(size, k, stride, dilation, padding, explicit=(0, 0)):
    if size is None or k is None:
        return None
    return _padded_size(size, k, stride, dilation, padding, explicit)[0]


def _check_padding(padding, allowed=("SAME", "VALID")) -> str:
    if isinstance(padding, bytes):
        padding = padding.decode()
    if padding not in allowed:
        raise ValueError(f"padding must be one of {', '.join(allowed)}, got {padding!r}")
    return padding


def _check_format(data_format) -> str:
    if data_format is None:
        return "NHWC"
    if isinstance(data_format, bytes):
        data_format = data_format.decode()
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    return data_format


def _four(values, name: str, data_format: str) -> list[int]:
    """A strides/ksize/dilations argument as 4 ints in data_format order (TF accepts an int,
    or 1, 2 or 4 values)."""
    if isinstance(values, int):
        values = [values]
    values = [int(v) for v in values]
    if len(values) == 1:
        values = values * 2
    if len(values) == 2:
        values = [1, *values, 1] if data_format == "NHWC" else [1, 1, *values]
    if len(values) != 4:
        raise ValueError(f"{name} must have 1, 2 or 4 elements, got {values}")
    return values


def _spatial(values: list[int], data_format: str) -> tuple[int, int]:
    return (values[1], values[2]) if data_format == "NHWC" else (values[2], values[3])


def _batch_channel(values: list[int], data_format: str) -> tuple[int, int]:
    return (values[0], values[3]) if data_format == "NHWC" else (values[0], values[1])


def _to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    return x if data_format == "NHWC" else x.transpose(0, 2, 3, 1)


def _from_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    return x if data_format == "NHWC" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _nhwc_shape(shape, data_format: str) -> list:
    shape = list(shape)
    return shape if data_format == "NHWC" else [shape[0], shape[2], shape[3], shape[1]]


def _format_shape(n, h, w, c, data_format: str) -> list:
    return [n, h, w, c] if data_format == "NHWC" else [n, c, h, w]


class _Geometry:
    """Output size and padding of a windowed op over NHWC input of spatial size (h, w)."""

    def __init__(self, h, w, kh, kw, strides, dilations, padding, explicit=((0, 0), (0, 0))):
        self.kh, self.kw = kh, kw
        self.sh, self.sw = strides
        self.dh, self.dw = dilations
        self.oh, self.top, self.bottom = _padded_size(h, kh, self.sh, self.dh, padding,
                                                      explicit[0])
        self.ow, self.left, self.right = _padded_size(w, kw, self.sw, self.dw, padding,
                                                      explicit[1])

    def pad(self, x: np.ndarray, value=0) -> np.ndarray:
        """x (NHWC) with its padding; enough rows and columns for every window."""
        need_h = (self.oh - 1) * self.sh + (self.kh - 1) * self.dh + 1
        need_w = (self.ow - 1) * self.sw + (self.kw - 1) * self.dw + 1
        bottom = max(self.bottom, need_h - x.shape[1] - self.top)
        right = max(self.right, need_w - x.shape[2] - self.left)
        if not (self.top or bottom or self.left or right):
            return x
        return np.pad(x, ((0, 0), (max(self.top, 0), max(bottom, 0)),
                          (max(self.left, 0), max(right, 0)), (0, 0)), constant_values=value)

    def windows(self, padded: np.ndarray) -> np.ndarray:
        """A view (N, OH, OW, C, KH, KW) of the windows of a padded NHWC array."""
        eff_h = (self.kh - 1) * self.dh + 1
        eff_w = (self.kw - 1) * self.dw + 1
        if self.oh == 0 or self.ow == 0:  # the input is smaller than one window
            n, _, _, c = padded.shape
            return np.zeros((n, self.oh, self.ow, c, self.kh, self.kw), padded.dtype)
        view = sliding_window_view(padded, (eff_h, eff_w), axis=(1, 2))
        return view[:, :self.oh * self.sh:self.sh, :self.ow * self.sw:self.sw, :,
                    ::self.dh, ::self.dw]

    def scatter(self, shape, contributions) -> np.ndarray:
        """Adds, for each kernel offset (i, j), contributions(i, j) (N, OH, OW, C) back onto the
        input positions those windows read; returns the unpadded NHWC sum."""
        n, h, w, c = shape
        height = max(h + self.top + self.bottom, (self.oh - 1) * self.sh
                     + (self.kh - 1) * self.dh + 1)
        width = max(w + self.left + self.right, (self.ow - 1) * self.sw
                    + (self.kw - 1) * self.dw + 1)
        out = None
        for i in range(self.kh):
            for j in range(self.kw):
                part = contributions(i, j)
                if out is None:
                    out = np.zeros((n, height, width, c), dtype=part.dtype)
                r, s = i * self.dh, j * self.dw
                out[:, r:r + (self.oh - 1) * self.sh + 1:self.sh,
                    s:s + (self.ow - 1) * self.sw + 1:self.sw, :] += part
        if out is None:
            out = np.zeros((n, height, width, c))
        return out[:, self.top:self.top + h, self.left:self.left + w, :]


def _conv_attrs(op):
    data_format = _attr_text(op._attrs["data_format"])
    strides = _spatial(list(op._attrs["strides"]), data_format)
    dilations = _spatial(list(op._attrs["dilations"]), data_format)
    padding = _attr_text(op._attrs["padding"])
    explicit = list(op._attrs.get("explicit_paddings") or [])
    pairs = ((0, 0), (0, 0))
    if padding == "EXPLICIT":
        if len(explicit) != 8:
            raise errors.InvalidArgumentError(None, op, "explicit_paddings must have 8 values "
                                              f"with padding EXPLICIT, got {explicit}")
        spatial = (1, 2) if data_format == "NHWC" else (2, 3)
        pairs = tuple((explicit[2 * d], explicit[2 * d + 1]) for d in spatial)
    return data_format, strides, dilations, padding, pairs


def _attr_text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --------------------------------------------------------------------------------------------
# Conv2D and its backprop ops
# --------------------------------------------------------------------------------------------


def _conv_output_shape(input_shape, filter_shape, op) -> TensorShape:
    data_format, strides, dilations, padding, pairs = _conv_attrs(op)
    dims = input_shape.as_list() if input_shape.ndims is not None else [None] * 4
    n, h, w, _ = _nhwc_shape(dims, data_format)
    f = filter_shape.as_list() if filter_shape.ndims is not None else [None] * 4
    oh = _static_size(h, f[0], strides[0], dilations[0], padding, pairs[0])
    ow = _static_size(w, f[1], strides[1], dilations[1], padding, pairs[1])
    depth = f[3]
    if op._type == "DepthwiseConv2dNative":  # every input channel times its own multiplier
        depth = None if f[2] is None or f[3] is None else f[2] * f[3]
    return TensorShape(_format_shape(n, oh, ow, depth, data_format))


def _conv_infer(op):
    x, f = op._inputs
    require_dtype(x, FLOATS, op._type, "input")
    if x._shape.ndims not in (None, 4) or f._shape.ndims not in (None, 4):
        raise ValueError(f"Conv2D '{op.name}' needs a 4-D input and a 4-D filter, got shapes "
                         f"{x._shape} and {f._shape}")
    in_c = _nhwc_shape(x._shape.as_list(), _conv_attrs(op)[0])[3] if x._shape.ndims else None
    f_c = f._shape.as_list()[2] if f._shape.ndims else None
    if op._type == "DepthwiseConv2dNative" and None not in (in_c, f_c) and in_c != f_c:
        raise ValueError(f"{op._type} '{op.name}': input depth {in_c} does not match the "
                         f"filter's input depth {f_c}")
    if in_c is not None and f_c is not None and in_c % f_c:
        raise ValueError(f"Conv2D '{op.name}': input depth {in_c} is not a multiple of the "
                         f"filter's depth {f_c}")
    return [(x._dtype, _conv_output_shape(x._shape, f._shape, op))]


def _conv_geometry(op, x_shape_nhwc, filter_shape) -> _Geometry:
    """The windows of a Conv2D or a depthwise convolution (filter [kh, kw, in, out or
    multiplier])."""
    data_format, strides, dilations, padding, pairs = _conv_attrs(op)
    kh, kw, in_c, _ = (int(d) for d in filter_shape)
    if x_shape_nhwc[3] != in_c:
        raise errors.InvalidArgumentError(
            None, op, f"input depth {x_shape_nhwc[3]} does not match the filter's input depth "
            f"{in_c} (grouped convolutions are not supported)")
    return _Geometry(x_shape_nhwc[1], x_shape_nhwc[2], kh, kw, strides, dilations, padding,
                     pairs)


def _columns(geometry: _Geometry, x: np.ndarray) -> np.ndarray:
    """(N * OH * OW, KH * KW * C): each output position's window, in the filter's order."""
    windows = geometry.windows(geometry.pad(x))  # (N, OH, OW, C, KH, KW)
    n, oh, ow, c, kh, kw = windows.shape
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)


def _conv_kernel(op, ctx):
    data_format = _conv_attrs(op)[0]

    def conv2d(x, f):
        x = _to_nhwc(np.asarray(x), data_format)
        f = np.asarray(f)
        if x.ndim != 4 or f.ndim != 4:
            raise errors.InvalidArgumentError(None, op, f"Conv2D needs 4-D input and filter, "
                                              f"got shapes {list(x.shape)} {list(f.shape)}")
        g = _conv_geometry(op, x.shape, f.shape)
        out = _columns(g, x) @ f.reshape(-1, f.shape[3])
        return _from_nhwc(out.reshape(x.shape[0], g.oh, g.ow, f.shape[3]), data_format)
    return conv2d


def _shape_argument(value, op, what: str) -> list[int]:
    shape = [int(d) for d in np.asarray(value).reshape(-1)]
    if len(shape) != 4 or min(shape) < 0:
        raise errors.InvalidArgumentError(None, op, f"{what} must be 4 non-negative sizes, "
                                          f"got {shape}")
    return shape


def _backprop_input_kernel(op, ctx):
    data_format = _conv_attrs(op)[0]

    def conv2d_backprop_input(input_sizes, f, dy):
        shape = _nhwc_shape(_shape_argument(input_sizes, op, "input_sizes"), data_format)
        f = np.asarray(f)
        dy = _to_nhwc(np.asarray(dy), data_format)
        g = _conv_geometry(op, shape, f.shape)
        if dy.shape[1:3] != (g.oh, g.ow):
            raise errors.InvalidArgumentError(
                None, op, f"out_backprop has spatial size {list(dy.shape[1:3])}, the "
                f"convolution gives {[g.oh, g.ow]}")
        # d(columns) = dy @ F^T, as (N, OH, OW, KH, KW, C), then back onto the input.
        cols = (dy.reshape(-1, f.shape[3]) @ f.reshape(-1, f.shape[3]).T).reshape(
            dy.shape[0], g.oh, g.ow, g.kh, g.kw, f.shape[2])
        dx = g.scatter(shape, lambda i, j: cols[:, :, :, i, j, :])
        return _from_nhwc(dx.astype(dy.dtype, copy=False), data_format)
    return conv2d_backprop_input


def _backprop_filter_kernel(op, ctx):
    data_format = _conv_attrs(op)[0]

    def conv2d_backprop_filter(x, filter_sizes, dy):
        x = _to_nhwc(np.asarray(x), data_format)
        f_shape = _shape_argument(filter_sizes, op, "filter_sizes")
        dy = _to_nhwc(np.asarray(dy), data_format)
        g = _conv_geometry(op, x.shape, f_shape)
        return (_columns(g, x).T @ dy.reshape(-1, f_shape[3])).reshape(f_shape)
    return conv2d_backprop_filter


def _sizes_infer(index: int, dtype_from: int):
    """Shape from a sizes input (known when it is constant), dtype from another input."""
    def infer(op):
        from tensorslow.framework.ops import static_value

        sizes = static_value(op._inputs[index])
        shape = TensorShape([int(d) for d in np.asarray(sizes).reshape(-1)]
                            if sizes is not None else [None] * 4)
        return [(op._inputs[dtype_from]._dtype, shape)]
    return infer


_CONV_ATTRS = {"T": ("type", None), "strides": ("list(int)", REQUIRED),
               "padding": ("string", REQUIRED), "data_format": ("string", "NHWC"),
               "dilations": ("list(int)", [1, 1, 1, 1]), "use_cudnn_on_gpu": ("bool", True),
               "explicit_paddings": ("list(int)", [])}
register_op("Conv2D", infer=_conv_infer, kernel=_conv_kernel, attrs=_CONV_ATTRS)
register_op("Conv2DBackpropInput", infer=_sizes_infer(0, 1), kernel=_backprop_input_kernel,
            attrs=_CONV_ATTRS)
register_op("Conv2DBackpropFilter", infer=_sizes_infer(1, 0), kernel=_backprop_filter_kernel,
            attrs=_CONV_ATTRS)


def _same_attrs(op) -> dict:
    return {k: op._attrs[k] for k in _CONV_ATTRS if k in op._attrs}


@RegisterGradient("Conv2D")
def _conv_gradient(op, grad):
    x, f = op._inputs
    attrs = _same_attrs(op)
    dx = make_op("Conv2DBackpropInput", [array_ops.shape(x), f, grad], attrs)._outputs[0]
    df = make_op("Conv2DBackpropFilter", [x, array_ops.shape(f), grad], attrs)._outputs[0]
    return dx, df


@RegisterGradient("Conv2DBackpropInput")
def _backprop_input_gradient(op, grad):
    _, f, dy = op._inputs
    attrs = _same_attrs(op)
    df = make_op("Conv2DBackpropFilter", [grad, array_ops.shape(f), dy], attrs)._outputs[0]
    ddy = make_op("Conv2D", [grad, f], attrs)._outputs[0]
    return None, df, ddy


@RegisterGradient("Conv2DBackpropFilter")
def _backprop_filter_gradient(op, grad):
    x, _, dy = op._inputs
    attrs = _same_attrs(op)
    dx = make_op("Conv2DBackpropInput", [array_ops.shape(x), grad, dy], attrs)._outputs[0]
    ddy = make_op("Conv2D", [x, grad], attrs)._outputs[0]
    return dx, None, ddy


# --------------------------------------------------------------------------------------------
# Depthwise convolution: each input channel c with its own filters f[:, :, c, :]
# --------------------------------------------------------------------------------------------


def _depthwise_kernel(op, ctx):
    data_format = _conv_attrs(op)[0]

    def depthwise_conv2d(x, f):
        x = _to_nhwc(np.asarray(x), data_format)
        f = np.asarray(f)
        g = _conv_geometry(op, x.shape, f.shape)
        out = np.einsum("nhwcij,ijcm->nhwcm", g.windows(g.pad(x)), f, optimize=True)
        return _from_nhwc(out.reshape(x.shape[0], g.oh, g.ow, -1), data_format)
    return depthwise_conv2d


def _depthwise_input_kernel(op, ctx):
    data_format = _conv_attrs(op)[0]

    def depthwise_backprop_input(input_sizes, f, dy):
        shape = _nhwc_shape(_shape_argument(input_sizes, op, "input_sizes"), data_format)
        f = np.asarray(f)
        g = _conv_geometry(op, shape, f.shape)
        dy = _to_nhwc(np.asarray(dy), data_format).reshape(shape[0], g.oh, g.ow, *f.shape[2:])
        dx = g.scatter(shape, lambda i, j: np.einsum("nhwcm,cm->nhwc", dy, f[i, j]))
        return _from_nhwc(dx.astype(dy.dtype, copy=False), data_format)
    return depthwise_backprop_input


def _depthwise_filter_kernel(op, ctx):
    data_format = _conv_attrs(op)[0]

    def depthwise_backprop_filter(x, filter_sizes, dy):
        x = _to_nhwc(np.asarray(x), data_format)
        f_shape = _shape_argument(filter_sizes, op, "filter_sizes")
        g = _conv_geometry(op, x.shape, f_shape)
        dy = _to_nhwc(np.asarray(dy), data_format).reshape(x.shape[0], g.oh, g.ow,
                                                           *f_shape[2:])
        return np.einsum("nhwcij,nhwcm->ijcm", g.windows(g.pad(x)), dy, optimize=True)
    return depthwise_backprop_filter


register_op("DepthwiseConv2dNative", infer=_conv_infer, kernel=_depthwise_kernel,
            attrs=_CONV_ATTRS)
register_op("DepthwiseConv2dNativeBackpropInput", infer=_sizes_infer(0, 1),
            kernel=_depthwise_input_kernel, attrs=_CONV_ATTRS)
register_op("DepthwiseConv2dNativeBackpropFilter", infer=_sizes_infer(1, 0),
            kernel=_depthwise_filter_kernel, attrs=_CONV_ATTRS)
NotDifferentiable("DepthwiseConv2dNativeBackpropInput")
NotDifferentiable("DepthwiseConv2dNativeBackpropFilter")


@RegisterGradient("DepthwiseConv2dNative")
def _depthwise_gradient(op, grad):
    x, f = op._inputs
    attrs = _same_attrs(op)
    dx = make_op("DepthwiseConv2dNativeBackpropInput", [array_ops.shape(x), f, grad],
                 attrs)._outputs[0]
    df = make_op("DepthwiseConv2dNativeBackpropFilter", [x, array_ops.shape(f), grad],
                 attrs)._outputs[0]
    return dx, df


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


def _pool_attrs(op):
    data_format = _attr_text(op._attrs["data_format"])
    ksize = list(op._attrs["ksize"])
    strides = list(op._attrs["strides"])
    if _batch_channel(ksize, data_format) != (1, 1) or _batch_channel(
            strides, data_format) != (1, 1):
        raise errors.UnimplementedError(None, op, "Pooling over the batch or depth dimension "
                                        "is not supported")
    return (data_format, _spatial(ksize, data_format), _spatial(strides, data_format),
            _attr_text(op._attrs["padding"]))


def _pool_geometry(op, shape_nhwc) -> _Geometry:
    _, (kh, kw), strides, padding = _pool_attrs(op)
    return _Geometry(shape_nhwc[1], shape_nhwc[2], kh, kw, strides, (1, 1), padding)


def _pool_infer(op):
    x = op._inputs[0]
    if x._shape.ndims not in (None, 4):
        raise ValueError(f"{op._type} '{op.name}' needs a 4-D input, got shape {x._shape}")
    data_format, (kh, kw), (sh, sw), padding = _pool_attrs(op)
    dims = x._shape.as_list() if x._shape.ndims else [None] * 4
    n, h, w, c = _nhwc_shape(dims, data_format)
    shape = _format_shape(n, _static_size(h, kh, sh, 1, padding),
                          _static_size(w, kw, sw, 1, padding), c, data_format)
    return [(x._dtype, TensorShape(shape))]


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _tiles(g: _Geometry, x: np.ndarray) -> np.ndarray | None:
    """When the windows tile the input without overlap or padding (stride == window size;
    VALID drops the rows and columns no window reaches): x as (N, OH, KH, OW, KW, C), a view.
    None otherwise."""
    if (g.sh, g.sw) != (g.kh, g.kw) or g.top or g.bottom or g.left or g.right:
        return None
    n, _, _, c = x.shape
    return x[:, :g.oh * g.kh, :g.ow * g.kw].reshape(n, g.oh, g.kh, g.ow, g.kw, c)


def _tile_max(tiles: np.ndarray) -> np.ndarray:
    """The maximum of each tile, by elementwise maxima of its positions' strided views."""
    _, _, kh, _, kw, _ = tiles.shape
    out = tiles[:, :, 0, :, 0].copy()
    for a in range(kh):
        for b in range(kw):
            if a or b:
                np.maximum(out, tiles[:, :, a, :, b], out=out)
    return out


def _max_pool_kernel(op, ctx):
    data_format = _pool_attrs(op)[0]

    def max_pool(x):
        x = _to_nhwc(np.asarray(x), data_format)
        g = _pool_geometry(op, x.shape)
        tiles = _tiles(g, x)
        if tiles is not None:
            return _from_nhwc(_tile_max(tiles), data_format)
        windows = g.windows(g.pad(x, _lowest(x.dtype)))
        return _from_nhwc(windows.max(axis=(4, 5)), data_format)
    return max_pool


def _max_pool_grad_kernel(op, ctx):
    data_format = _pool_attrs(op)[0]

    def max_pool_grad(x, pooled, grad):
        x = _to_nhwc(np.asarray(x), data_format)
        grad = _to_nhwc(np.asarray(grad), data_format)
        g = _pool_geometry(op, x.shape)
        tiles = _tiles(g, x)
        if tiles is not None:
            # Position by position in row-major order, the gradient goes where the tile's
            # maximum is and no earlier position has taken it.
            n, oh, kh, ow, kw, c = tiles.shape
            pooled = _to_nhwc(np.asarray(pooled), data_format)
            if pooled.shape != grad.shape:
                pooled = _tile_max(tiles)
            dx = np.zeros(x.shape, dtype=grad.dtype)
            free = None
            for a in range(kh):
                for b in range(kw):
                    hit = tiles[:, :, a, :, b] == pooled
                    if free is None:
                        free = ~hit
                    else:
                        hit &= free
                        free &= ~hit
                    np.multiply(grad, hit, out=dx[:, a:oh * kh:kh, b:ow * kw:kw])
            return _from_nhwc(dx, data_format)
        windows = g.windows(g.pad(x, _lowest(x.dtype)))
        n, oh, ow, c, kh, kw = windows.shape
        first = windows.reshape(n, oh, ow, c, kh * kw).argmax(axis=4)
        dx = g.scatter(x.shape, lambda i, j: np.where(first == i * kw + j, grad, 0))
        return _from_nhwc(dx.astype(grad.dtype, copy=False), data_format)
    return max_pool_grad


def _window_counts(g: _Geometry, shape) -> np.ndarray:
    """(1, OH, OW, 1): how many input elements each window covers (SAME edges cover fewer)."""
    ones = np.ones((1, shape[1], shape[2], 1))
    return g.windows(g.pad(ones)).sum(axis=(4, 5))


def _avg_pool_kernel(op, ctx):
    data_format = _pool_attrs(op)[0]

    def avg_pool(x):
        x = _to_nhwc(np.asarray(x), data_format)
        g = _pool_geometry(op, x.shape)
        sums = g.windows(g.pad(x)).sum(axis=(4, 5))
        return _from_nhwc((sums / _window_counts(g, x.shape)).astype(x.dtype, copy=False),
                          data_format)
    return avg_pool


def _avg_pool_grad_kernel(op, ctx):
    data_format = _pool_attrs(op)[0]

    def avg_pool_grad(orig_input_shape, grad):
        shape = _nhwc_shape(_shape_argument(orig_input_shape, op, "orig_input_shape"),
                            data_format)
        grad = _to_nhwc(np.asarray(grad), data_format)
        g = _pool_geometry(op, shape)
        share = grad / _window_counts(g, shape)
        dx = g.scatter(shape, lambda i, j: share)
        return _from_nhwc(dx.astype(grad.dtype, copy=False), data_format)
    return avg_pool_grad


_POOL_ATTRS = {"T": ("type", None), "ksize": ("list(int)", REQUIRED),
               "strides": ("list(int)", REQUIRED), "padding": ("string", REQUIRED),
               "data_format": ("string", "NHWC")}
register_op("MaxPool", infer=_pool_infer, kernel=_max_pool_kernel, attrs=_POOL_ATTRS)
register_op("AvgPool", infer=_pool_infer, kernel=_avg_pool_kernel, attrs=_POOL_ATTRS)
register_op("MaxPoolGrad", infer=lambda op: [(op._inputs[0]._dtype, op._inputs[0]._shape)],
            kernel=_max_pool_grad_kernel, attrs=_POOL_ATTRS)
register_op("AvgPoolGrad", infer=_sizes_infer(0, 1), kernel=_avg_pool_grad_kernel,
            attrs=_POOL_ATTRS)
NotDifferentiable("MaxPoolGrad")


def _pool_op_attrs(op) -> dict:
    return {k: op._attrs[k] for k in _POOL_ATTRS}


@RegisterGradient("MaxPool")
def _max_pool_gradient(op, grad):
    return make_op("MaxPoolGrad", [op._inputs[0], op._outputs[0], grad],
                   _pool_op_attrs(op))._outputs[0]


@RegisterGradient("AvgPool")
def _avg_pool_gradient(op, grad):
    return make_op("AvgPoolGrad", [array_ops.shape(op._inputs[0]), grad],
                   _pool_op_attrs(op))._outputs[0]


@RegisterGradient("AvgPoolGrad")
def _avg_pool_grad_gradient(op, grad):
    return None, make_op("AvgPool", [grad], _pool_op_attrs(op))._outputs[0]


# --------------------------------------------------------------------------------------------
# The Python API (ts.nn)
# --------------------------------------------------------------------------------------------


def conv2d(input=None, filter=None, strides=None, padding=None,  # noqa: A002 - TF's names
           use_cudnn_on_gpu=True, data_format="NHWC", dilations=(1, 1, 1, 1), name=None,
           filters=None, explicit_paddings=None):
    """A 2-D convolution (cross-correlation, as TF's) of a 4-D input with a
    [height, width, in_channels, out_channels] filter."""
    filter = filters if filter is None else filter  # noqa: A001
    if input is None or filter is None or strides is None or padding is None:
        raise TypeError("conv2d needs input, filter, strides and padding")
    data_format = _check_format(data_format)
    padding = _attr_text(padding)
    if isinstance(padding, (list, tuple)):
        explicit_paddings = [int(v) for pair in padding for v in pair]
        padding = "EXPLICIT"
    padding = _check_padding(padding, ("SAME", "VALID", "EXPLICIT"))
    x = convert_to_tensor(input)
    f = convert_to_tensor(filter, dtype=x._dtype)
    attrs = {"T": x._dtype, "strides": _four(strides, "strides", data_format),
             "padding": padding, "data_format": data_format,
             "dilations": _four(dilations, "dilations", data_format),
             "use_cudnn_on_gpu": bool(use_cudnn_on_gpu),
             "explicit_paddings": list(explicit_paddings or [])}
    return make_op("Conv2D", [x, f], attrs, name=name or "Conv2D")._outputs[0]


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None,  # noqa: A002
                     padding="SAME", data_format="NHWC", name=None, input=None, filters=None,
                     dilations=None):
    """The gradient of conv2d with respect to its input, as an op (a "deconvolution"):
    `filter` is [height, width, output_channels, in_channels]."""
    value = input if value is None else value
    filter = filters if filter is None else filter  # noqa: A001
    data_format = _check_format(data_format)
    with name_scope(name, "conv2d_transpose", [value, filter, output_shape]) as scope:
        x = convert_to_tensor(value)
        f = convert_to_tensor(filter, dtype=x._dtype)
        sizes = (output_shape if isinstance(output_shape, Tensor)
                 else constant_op.constant(list(output_shape), dtype=dtypes.int32))
        attrs = _conv_op_attrs(x, strides, padding, data_format, dilations)
        return make_op("Conv2DBackpropInput", [sizes, f, x], attrs, name=scope)._outputs[0]


def _conv_op_attrs(x: Tensor, strides, padding, data_format, dilations) -> dict:
    return {"T": x._dtype, "strides": _four(strides, "strides", data_format),
            "padding": _check_padding(padding), "data_format": data_format,
            "dilations": _four(dilations or 1, "dilations", data_format),
            "use_cudnn_on_gpu": True, "explicit_paddings": []}


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """Each input channel convolved with its own `channel_multiplier` filters: `filter` is
    [height, width, in_channels, channel_multiplier], the output has in_channels *
    channel_multiplier channels."""
    data_format = _check_format(data_format)
    x = convert_to_tensor(input)
    f = convert_to_tensor(filter, dtype=x._dtype)
    attrs = _conv_op_attrs(x, strides, padding, data_format, dilations or rate)
    return make_op("DepthwiseConv2dNative", [x, f], attrs,
                   name=name or "depthwise")._outputs[0]


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,  # noqa: A002
                     rate=None, name=None, data_format=None, dilations=None):
    """A depthwise convolution followed by a 1x1 convolution that mixes the channels."""
    data_format = _check_format(data_format)
    with name_scope(name, "separable_conv2d", [input, depthwise_filter, pointwise_filter]):
        depthwise = depthwise_conv2d(input, depthwise_filter, strides, padding, rate=rate,
                                     data_format=data_format, dilations=dilations)
        return conv2d(depthwise, pointwise_filter, strides=1, padding="VALID",
                      data_format=data_format, name="pointwise")


def conv1d(value=None, filters=None, stride=None, padding=None, use_cudnn_on_gpu=None,  # noqa
           data_format=None, name=None, input=None, dilations=None):  # noqa: A002
    """A 1-D convolution of [batch, width, channels] ("NWC", or "NCW") with filters [width,
    in_channels, out_channels], computed as TF does: a Conv2D over a height of one."""
    value = input if value is None else value
    data_format = data_format or "NWC"
    if data_format not in ("NWC", "NCW"):
        raise ValueError(f"data_format must be 'NWC' or 'NCW', got {data_format!r}")
    spatial = 1 if data_format == "NWC" else 2
    with name_scope(name, "conv1d", [value, filters]):
        x = array_ops.expand_dims(convert_to_tensor(value), spatial)
        f = array_ops.expand_dims(convert_to_tensor(filters), 0)
        def width(value, what: str) -> int:  # an int, or 1 or 3 values in data_format order
            values = [value] if isinstance(value, int) else [int(v) for v in value]
            if len(values) not in (1, 3):
                raise ValueError(f"{what} must be an int or have 1 or 3 values, got {value!r}")
            return values[0] if len(values) == 1 else values[spatial]

        stride = width(stride, "stride")
        dilation = 1 if dilations is None else width(dilations, "dilations")
        out = conv2d(x, f, strides=[1, stride], padding=padding,
                     data_format="NHWC" if data_format == "NWC" else "NCHW",
                     dilations=[1, dilation])
        return array_ops.squeeze(out, [spatial])


def _pool(op_type: str, value, ksize, strides, padding, data_format, name):
    data_format = _check_format(data_format)
    x = convert_to_tensor(value)
    require_dtype(x, FLOATS, op_type, "input")
    attrs = {"T": x._dtype, "ksize": _four(ksize, "ksize", data_format),
             "strides": _four(strides, "strides", data_format),
             "padding": _check_padding(padding), "data_format": data_format}
    return make_op(op_type, [x], attrs, name=name or op_type)._outputs[0]


def max_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC",
             name=None, input=None):  # noqa: A002
    """Max pooling over spatial windows of a 4-D input."""
    return _pool("MaxPool", input if value is None else value, ksize, strides, padding,
                 data_format, name)


def avg_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC",
             name=None, input=None):  # noqa: A002
    """Average pooling over spatial windows of a 4-D input (SAME edges average what they
    cover)."""
    return _pool("AvgPool", input if value is None else value, ksize, strides, padding,
                 data_format, name)
