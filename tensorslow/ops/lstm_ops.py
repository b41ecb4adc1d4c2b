"""TensorFlow's fused LSTM over a whole sequence: BlockLSTM and its gradient BlockLSTMGrad.

One op computes what `dynamic_rnn` over an LSTMCell computes with a while loop, with the same
gates (i, ci, f, o in the kernel's columns, `forget_bias` added to f, optional peepholes wci,
wcf, wco) and TensorFlow's op definitions, so TensorFlow runs these graphs too. For t past
`seq_len_max` every output is zero.

Per time step the kernels do only what depends on the step before: the input half of the
gate projection (x_t W_x for every t) is one matrix product before the recurrence, and the
gradients of the weights and of the inputs are one each after it.
"""

from __future__ import annotations

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    RegisterGradient,
    convert_to_tensor,
    is_tensor_like,
    make_op,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape, dimension_value

_FUSED_DTYPES = (dtypes.float16, dtypes.float32)  # TensorFlow's kernels: half and float
_INPUTS = ("seq_len_max", "x", "cs_prev", "h_prev", "w", "wci", "wcf", "wco", "b")
_GATES = ("i", "cs", "f", "o", "ci", "co", "h")


def _dim(shape: TensorShape, i: int):
    return dimension_value(shape[i]) if shape.ndims is not None else None


def _check_rank(op, index: int, rank: int) -> TensorShape:
    shape = op._inputs[index]._shape
    if shape.ndims is not None and shape.ndims != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {shape.ndims} for "
                         f"'{op._name}' (op: '{op._type}') input '{_INPUTS[index]}' with "
                         f"shape {shape}.")
    return shape


def _block_lstm_shapes(op):
    """(T, batch, units) from the inputs' static shapes, checking their ranks and dtype."""
    dtype = op._attrs["T"]
    if dtype not in _FUSED_DTYPES:
        raise TypeError(f"Value for attr 'T' of {dtype.name} is not in the list of allowed "
                        f"values: half, float; NodeDef: '{op._name}' (op: '{op._type}')")
    for index, t in enumerate(op._inputs[1:], 1):
        if t._dtype is not None and t._dtype.base_dtype != dtype:
            raise TypeError(f"Input '{_INPUTS[index]}' of '{op._type}' Op has type "
                            f"{t._dtype.base_dtype.name} that does not match type {dtype.name} "
                            f"of argument 'x'.")
    _check_rank(op, 0, 0)
    x = _check_rank(op, 1, 3)
    cs = _check_rank(op, 2, 2)
    _check_rank(op, 3, 2)
    w = _check_rank(op, 4, 2)
    for index in (5, 6, 7, 8):
        _check_rank(op, index, 1)
    units = _dim(cs, 1)
    if units is None and _dim(w, 1) is not None:
        units = _dim(w, 1) // 4
    return _dim(x, 0), _dim(x, 1) if _dim(x, 1) is not None else _dim(cs, 0), units


def _block_lstm_infer(op):
    steps, batch, units = _block_lstm_shapes(op)
    shape = TensorShape([steps, batch, units])
    return [(op._attrs["T"], shape)] * len(_GATES)


def _sigmoid_into(out, z):
    """out = 1 / (1 + exp(-z)); an exp that overflows gives exactly 0 (the caller ignores
    the overflow warning)."""
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


def _check_operands(x, cs_prev, h_prev, w, wci, wcf, wco, b):
    if np.ndim(x) != 3 or np.ndim(cs_prev) != 2:
        raise errors.InvalidArgumentError(
            None, None, f"x must be rank 3 ([time, batch, depth]) and cs_prev rank 2, but "
            f"their shapes are {list(np.shape(x))} and {list(np.shape(cs_prev))}")
    steps, batch, depth = x.shape
    units = cs_prev.shape[-1]
    expected = {"cs_prev": (cs_prev.shape, (batch, units)),
                "h_prev": (h_prev.shape, (batch, units)),
                "w": (w.shape, (depth + units, 4 * units)), "wci": (wci.shape, (units,)),
                "wcf": (wcf.shape, (units,)), "wco": (wco.shape, (units,)),
                "b": (b.shape, (4 * units,))}
    for name, (got, want) in expected.items():
        if tuple(got) != want:
            raise errors.InvalidArgumentError(
                None, None, f"{name} must be of shape {list(want)} for x of shape "
                f"{list(x.shape)} and {units} units, but is {list(got)}")
    return steps, batch, depth, units


def _steps_run(seq_len_max, steps: int) -> int:
    n = int(seq_len_max)
    if not 0 <= n <= steps:
        raise errors.InvalidArgumentError(
            None, None, f"seq_len_max must be in [0, {steps}] (the time steps of x), got {n}")
    return n


# TensorFlow's column blocks are i, ci, f, o; the kernels keep the gates gate-major in the
# order i, f, o, ci, so the three sigmoid gates are one contiguous block.
_GATE_ORDER = (0, 2, 3, 1)


def _gate_major(w, depth: int, units: int):
    """The kernel [depth + units, 4 units] as [4, depth + units, units] in _GATE_ORDER."""
    return np.ascontiguousarray(
        w.reshape(depth + units, 4, units)[:, _GATE_ORDER].transpose(1, 0, 2))


def block_lstm_forward(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b, *, forget_bias,
                       cell_clip, use_peephole):
    """BlockLSTM's seven outputs, each [time, batch, units]."""
    steps, batch, depth, u = _check_operands(x, cs_prev, h_prev, w, wci, wcf, wco, b)
    n = _steps_run(seq_len_max, steps)
    dtype = x.dtype
    sig = np.empty((steps, 3, batch, u), dtype)       # i, f, o
    cs, ci, co, h = (np.empty((steps, batch, u), dtype) for _ in range(4))
    for array in (sig, cs, ci, co, h):
        array[n:] = 0
    outputs = (sig[:, 0], cs, sig[:, 1], sig[:, 2], ci, co, h)
    if n == 0:
        return outputs
    w4 = _gate_major(w, depth, u)
    bias = b.reshape(4, u)[list(_GATE_ORDER)].reshape(4, 1, u)
    bias[1] += forget_bias
    # Every step's input projection and bias at once; the recurrence adds h_{t-1} W_h.
    gates = np.matmul(x[:n].reshape(n * batch, depth), w4[:, :depth])   # [4, n batch, u]
    gates += bias
    w_h = w4[:, depth:]
    c_prev, hp = cs_prev, h_prev
    with np.errstate(over="ignore"):
        for t in range(n):
            z = np.matmul(hp, w_h)
            z += gates[:, t * batch:(t + 1) * batch]
            s = sig[t]
            np.tanh(z[3], out=ci[t])
            if use_peephole:
                z[0] += c_prev * wci
                z[1] += c_prev * wcf
                _sigmoid_into(s[:2], z[:2])
            else:
                _sigmoid_into(s, z[:3])
            c = np.multiply(ci[t], s[0], out=cs[t])
            c += s[1] * c_prev
            if cell_clip > 0:
                np.clip(c, -cell_clip, cell_clip, out=c)
            if use_peephole:
                z[2] += c * wco
                _sigmoid_into(s[2], z[2])
            np.tanh(c, out=co[t])
            hp = np.multiply(co[t], s[2], out=h[t])
            c_prev = c
    return outputs


def block_lstm_backward(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci,
                        co, h, cs_grad, h_grad, *, use_peephole):
    """BlockLSTMGrad's eight outputs: the gradients of x, cs_prev, h_prev, w, wci, wcf, wco
    and b, given those of the outputs cs and h."""
    steps, batch, depth, units = _check_operands(x, cs_prev, h_prev, w, wci, wcf, wco, b)
    n = _steps_run(seq_len_max, steps)
    dtype, u = x.dtype, units
    x_grad = np.zeros_like(x)
    dcs_next = np.zeros((batch, u), dtype)
    dh_next = np.zeros((batch, u), dtype)
    wci_grad, wcf_grad, wco_grad = (np.zeros(u, dtype) for _ in range(3))
    if n == 0:
        return (x_grad, dcs_next, dh_next, np.zeros_like(w), wci_grad, wcf_grad, wco_grad,
                np.zeros(4 * u, dtype))
    dicfo = np.empty((n, batch, 4 * u), dtype)
    w_h_t = np.ascontiguousarray(w[depth:].T)      # [4u, u]: dh_{t-1} = dicfo_t W_h^T
    for t in range(n - 1, -1, -1):
        c_prev = cs[t - 1] if t else cs_prev
        it, ft, ot, cit, cot = i[t], f[t], o[t], ci[t], co[t]
        dh = h_grad[t] + dh_next
        # Each gate's gradient in a contiguous array of its own, then all four into dicfo.
        do = np.subtract(1, ot)                  # do = dh * co * o (1 - o)
        do *= ot
        do *= dh
        do *= cot
        dcs = np.multiply(cot, cot)              # dcs = dh * o (1 - co^2) + cs_grad + step t+1's
        np.subtract(1, dcs, out=dcs)
        dcs *= dh
        dcs *= ot
        dcs += cs_grad[t]
        dcs += dcs_next
        if use_peephole:
            dcs += do * wco
        dci = np.multiply(cit, cit)              # dci = dcs * i (1 - ci^2)
        np.subtract(1, dci, out=dci)
        dci *= dcs
        dci *= it
        df = np.subtract(1, ft)                  # df = dcs * c_prev * f (1 - f)
        df *= ft
        df *= dcs
        df *= c_prev
        di = np.subtract(1, it)                  # di = dcs * ci * i (1 - i)
        di *= it
        di *= dcs
        di *= cit
        d = np.concatenate((di, dci, df, do), axis=1, out=dicfo[t])
        dcs_next = np.multiply(dcs, ft, out=dcs)
        if use_peephole:
            dcs_next += di * wci
            dcs_next += df * wcf
            wci_grad += (di * c_prev).sum(axis=0)
            wcf_grad += (df * c_prev).sum(axis=0)
            wco_grad += (do * cs[t]).sum(axis=0)
        dh_next = np.matmul(d, w_h_t)
    flat = dicfo.reshape(n * batch, 4 * u)
    x_grad[:n] = np.matmul(flat, w[:depth].T).reshape(n, batch, depth)
    h_seq = np.concatenate([h_prev[None], h[:n - 1]]) if n > 1 else h_prev[None]
    w_grad = np.empty_like(w)
    np.matmul(x[:n].reshape(n * batch, depth).T, flat, out=w_grad[:depth])
    np.matmul(h_seq.reshape(n * batch, u).T, flat, out=w_grad[depth:])
    b_grad = flat.sum(axis=0)
    return x_grad, dcs_next, dh_next, w_grad, wci_grad, wcf_grad, wco_grad, b_grad


def _block_lstm_kernel(op, ctx):
    attrs = op._attrs
    options = {"forget_bias": float(attrs["forget_bias"]), "cell_clip": float(attrs["cell_clip"]),
               "use_peephole": bool(attrs["use_peephole"])}
    return lambda *args: block_lstm_forward(*args, **options)


_ATTRS = {"forget_bias": ("float", 1.0), "cell_clip": ("float", 3.0),
          "use_peephole": ("bool", False), "T": ("type", None)}
register_op("BlockLSTM", infer=_block_lstm_infer, kernel=_block_lstm_kernel, attrs=_ATTRS)


def _block_lstm_grad_infer(op):
    _block_lstm_shapes(op)
    ins = op._inputs
    dtype = op._attrs["T"]
    return [(dtype, ins[k]._shape) for k in (1, 2, 3, 4, 5, 6, 7, 8)]


def _block_lstm_grad_kernel(op, ctx):
    use_peephole = bool(op._attrs["use_peephole"])
    return lambda *args: block_lstm_backward(*args, use_peephole=use_peephole)


register_op("BlockLSTMGrad", infer=_block_lstm_grad_infer, kernel=_block_lstm_grad_kernel,
            attrs={"use_peephole": ("bool", None), "T": ("type", None)})


@RegisterGradient("BlockLSTM")
def _block_lstm_grad(op, *grads):
    """TensorFlow's rule: the gradients of cs and h flow back (those of the gate outputs are
    not taken); seq_len_max has none."""
    from tensorslow.ops import array_ops

    cs, h = op._outputs[1], op._outputs[6]
    cs_grad = grads[1] if grads[1] is not None else array_ops.zeros_like(cs)
    h_grad = grads[6] if grads[6] is not None else array_ops.zeros_like(h)
    grad_op = make_op("BlockLSTMGrad", list(op._inputs) + list(op._outputs) + [cs_grad, h_grad],
                      {"use_peephole": op._attrs["use_peephole"], "T": op._attrs["T"]},
                      name=None)
    return [None] + list(grad_op._outputs)


def block_lstm(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias=1.0,
               cell_clip=-1.0, use_peephole=False, name=None):
    """The BlockLSTM op: (i, cs, f, o, ci, co, h), each [time, batch, units].
    `cell_clip` <= 0 leaves the cell state unclipped."""
    seq_len_max = convert_to_tensor(seq_len_max, dtype=dtypes.int64)
    x = convert_to_tensor(x)
    operands = [convert_to_tensor(v, dtype=x.dtype) if not is_tensor_like(v) else v
                for v in (cs_prev, h_prev, w, wci, wcf, wco, b)]
    op = make_op("BlockLSTM", [seq_len_max, x, *operands],
                 {"forget_bias": float(forget_bias), "cell_clip": float(cell_clip),
                  "use_peephole": bool(use_peephole), "T": x.dtype.base_dtype}, name=name)
    return tuple(op._outputs)
