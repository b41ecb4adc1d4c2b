"""Buffers of a step given back early, and reused by the elementwise ops that follow.

A plan's slot list holds every value a step computes until the step ends, so a training
step of an MLP at batch 8192 keeps each layer's matmul output, its biased sum and its
activation alive at once (16 MB apiece), and every op writes into memory it has just taken
from malloc. Two things change that, both decided when the plan is built:

- `dying_slots`: after the step that reads a slot last, the slot is emptied, so the value is
  freed there (when nothing else holds it) and malloc hands the same, cache-warm memory to the
  next op that asks. Fetched values, feeds (a loop body's arguments too) and constants are
  never emptied; nor are small values of a fully known shape, where emptying costs more than
  it gives back.
- `in_place_kernel`: an elementwise op whose input dies at its step writes its result into
  that input's buffer when nothing else can see it: the array owns its memory, is writable,
  and the step holds the only reference (a variable's value is read-only, a fed array is
  referenced by its feed dict, a value in two slots by both). The result is computed by the
  same ufunc as the op's kernel, only with `out=`, so it is bitwise the same. This is
  TensorFlow's input forwarding, decided here by reference count.
"""

from __future__ import annotations

import sys

import numpy as np

from tensorslow.framework.ops import Operation, Tensor

# Values of fewer elements than this are left to the end of the step and never forwarded.
MIN_ELEMENTS = 1 << 15

_getrefcount = sys.getrefcount


def worth_freeing(t: Tensor) -> bool:
    """A value that may be large: a shape not fully known, or at least MIN_ELEMENTS."""
    dims = t._shape.as_tuple()
    if dims is None or None in dims:
        return True
    size = 1
    for d in dims:
        size *= d
    return size >= MIN_ELEMENTS


def dying_slots(step_inputs, step_outputs, kept: set, candidates: set) -> list[tuple]:
    """Per step, the slots of `candidates` (minus `kept`) to empty after it: those it reads
    last, and those it writes that no step reads."""
    last: dict[int, int] = {}
    for index, ins in enumerate(step_inputs):
        for slot in ins:
            last[slot] = index
    for index, outs in enumerate(step_outputs):
        for slot in outs:
            last.setdefault(slot, index)
    frees: list[list[int]] = [[] for _ in step_inputs]
    for slot, index in last.items():
        if slot in candidates and slot not in kept:
            frees[index].append(slot)
    return [tuple(sorted(f)) for f in frees]


def _relu_into(x, out):
    return np.maximum(x, 0, out=out)


def _relu_grad_into(gradients, features, out):
    return np.multiply(gradients, features > 0, out=out)


def _binary(ufunc):
    return lambda x, y, out: ufunc(x, y, out=out)


def _unary(ufunc):
    return lambda x, out: ufunc(x, out=out)


# op type -> (the inputs whose buffer may take the result, fn(*inputs, out), the op's plain
# kernel): each fn computes exactly what that kernel computes. In-place is used only when the
# op's kernel is that one (a scalar fast path or another data format keeps its own); a kernel
# given as a string is a function of that name.
_IN_PLACE = {
    "Relu": ((0,), _relu_into, "_relu"),
    "ReluGrad": ((0,), _relu_grad_into, "_relu_grad"),
    "Tanh": ((0,), _unary(np.tanh), np.tanh),
    "Neg": ((0,), _unary(np.negative), np.negative),
    "BiasAdd": ((0,), _binary(np.add), np.add),
    "AddV2": ((0, 1), _binary(np.add), np.add),
    "Add": ((0, 1), _binary(np.add), np.add),
    "Sub": ((0, 1), _binary(np.subtract), np.subtract),
    "Mul": ((0, 1), _binary(np.multiply), np.multiply),
    "Maximum": ((0, 1), _binary(np.maximum), np.maximum),
    "Minimum": ((0, 1), _binary(np.minimum), np.minimum),
}


def _is_plain_kernel(fn, plain) -> bool:
    return fn is plain if not isinstance(plain, str) else getattr(fn, "__name__", None) == plain


def in_place_kernel(op: Operation, fn, ins: tuple, frees: tuple):
    """(positions of the inputs that may take the result, fn(*inputs, out)) when `op` can
    write into an input that dies at its step, else None."""
    entry = _IN_PLACE.get(op._type)
    if entry is None or len(op._outputs) != 1 or not _is_plain_kernel(fn, entry[2]):
        return None
    positions, into, _ = entry
    dtype = op._outputs[0]._dtype
    if dtype is None or not (dtype.is_floating or dtype.is_integer):
        return None
    positions = tuple(p for p in positions if p < len(ins) and ins[p] in frees
                      and ins.count(ins[p]) == 1)
    return (positions, into) if positions else None


def _owned(x) -> bool:
    """`x` (a local of the calling step, read out of a slot that is now empty) is a large
    array nothing else references, over memory it owns."""
    return (type(x) is np.ndarray and _getrefcount(x) == _SOLE_REFERENCES and x.base is None
            and x.flags.writeable and x.size >= MIN_ELEMENTS)


def _references(x) -> int:
    return _getrefcount(x)


def _sole_references() -> int:
    """What getrefcount says inside _owned of an array only the caller's local holds (the
    interpreter decides which of its own references it counts: measured, not assumed)."""
    x = np.empty(0)
    return _references(x)


_SOLE_REFERENCES = _sole_references()


def unary_step(fn, into, a: int, o: int, frees: tuple):
    """The step of a one-input op whose input slot `a` dies here (and is in `frees`)."""
    rest = tuple(s for s in frees if s != a)

    def step(v):
        x = v[a]
        v[a] = None
        v[o] = into(x, x) if _owned(x) else fn(x)
        for s in rest:
            v[s] = None
    return step


def binary_step(fn, into, ins: tuple, positions: tuple, o: int, frees: tuple):
    """The step of a two-input op whose inputs at `positions` (their slots die here) may
    take the result."""
    a, b = ins
    first, second = 0 in positions, 1 in positions
    rest = tuple(s for s in frees if not (s == a and first or s == b and second))

    def step(v):
        x, y = v[a], v[b]
        if first:
            v[a] = None
        if second:
            v[b] = None
        if first and _owned(x) and _fits(x, y):
            v[o] = into(x, y, x)
        elif second and _owned(y) and _fits(y, x):
            v[o] = into(x, y, y)
        else:
            v[o] = fn(x, y)
        for s in rest:
            v[s] = None
    return step


def _fits(buffer: np.ndarray, other) -> bool:
    """The result of an elementwise op of `buffer` and `other` has buffer's shape and dtype."""
    if getattr(other, "dtype", None) != buffer.dtype:
        return False
    shape = getattr(other, "shape", ())
    return len(shape) <= buffer.ndim and np.broadcast_shapes(buffer.shape, shape) == \
        buffer.shape
