"""Higher-order functions over the first dimension of tensors, each one while_loop with its
elements and results in TensorArrays: `map_fn`, `scan`, `foldl`, `foldr` (TF1's semantics and
arguments). `elems` may be a structure (tuple, list, dict) of tensors with the same first
dimension; `fn` gets the same structure of their slices."""

from __future__ import annotations

from tensorslow.framework import dtypes
from tensorslow.framework.ops import convert_to_tensor, name_scope
from tensorslow.framework.tensor_shape import TensorShape, dimension_value
from tensorslow.ops import array_ops, constant_op
from tensorslow.ops.control_flow_ops import _flatten, _pack
from tensorslow.ops.functional_ops import while_loop
from tensorslow.ops.tensor_array_ops import TensorArray


def _elements(elems):
    flat = [convert_to_tensor(e) for e in _flatten(elems)]
    if not flat:
        raise ValueError("elems must be a Tensor or a non-empty structure of Tensors")
    for t in flat:
        if t.shape.ndims == 0:
            raise ValueError(f"Elements in elems must be 1+ dimensional Tensors, not scalars: "
                             f"{t}")
    n = dimension_value(flat[0].shape[0]) if flat[0].shape.ndims else None
    for t in flat[1:]:
        m = dimension_value(t.shape[0]) if t.shape.ndims else None
        if n is not None and m is not None and m != n:
            raise ValueError(f"All elements of elems must have the same first dimension: "
                             f"{n} and {m}")
    count = n if n is not None else array_ops.shape(flat[0])[0]
    arrays = [TensorArray(t.dtype, size=count, element_shape=t.shape[1:]).unstack(t)
              for t in flat]
    return flat, n, count, arrays


def _read(arrays, flat, structure, i):
    values = [ta.read(i) for ta in arrays]
    for v, t in zip(values, flat):
        v.set_shape(t.shape[1:])
    return _pack(structure, values)


def _stacked(arrays, n):
    out = [ta.stack() for ta in arrays]
    if n is not None:
        for t in out:
            t.set_shape(TensorShape([n]).concatenate(t.shape[1:]))
    return out


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None, fn_output_signature=None):
    """[fn(elems[0]), fn(elems[1]), ...] stacked: `fn`'s results must have the structure and
    dtypes of `dtype` (default: those of `elems`)."""
    if not callable(fn):
        raise TypeError(f"fn must be callable: {fn!r}")
    signature = fn_output_signature if fn_output_signature is not None else dtype
    with name_scope(name or "map"):
        flat, n, count, arrays = _elements(elems)
        out_structure = signature if signature is not None else elems
        out_dtypes = [dtypes.as_dtype(d) for d in _flatten(signature)] if signature is not None \
            else [t.dtype for t in flat]
        results = [TensorArray(d, size=count, infer_shape=infer_shape) for d in out_dtypes]

        def body(i, results):
            value = fn(_read(arrays, flat, elems, i))
            values = [convert_to_tensor(v) for v in _flatten(value)]
            if len(values) != len(results):
                raise ValueError(f"fn returned {len(values)} values for a dtype structure of "
                                 f"{len(results)}: {value!r}")
            return i + 1, [ta.write(i, v) for ta, v in zip(results, values)]

        _, results = while_loop(lambda i, _: i < count, body,
                                (constant_op.constant(0, dtypes.int32), results),
                                parallel_iterations=parallel_iterations or 10,
                                back_prop=back_prop, swap_memory=swap_memory,
                                maximum_iterations=count)
        return _pack(out_structure, _stacked(results, n))


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """The accumulators a = fn(a, x) after each element x, stacked; without `initializer`
    the first element is the first accumulator. `reverse` scans from the last element."""
    if not callable(fn):
        raise TypeError(f"fn must be callable: {fn!r}")
    with name_scope(name or "scan"):
        flat, n, count, arrays = _elements(elems)
        if initializer is None:
            structure = elems
            first = count - 1 if reverse else 0
            accumulator = [ta.read(first) for ta in arrays]
            start = 1
        else:
            structure = initializer
            accumulator = [convert_to_tensor(a) for a in _flatten(initializer)]
            start = 0
        results = [TensorArray(a.dtype, size=count, infer_shape=infer_shape,
                               element_shape=a.shape) for a in accumulator]
        if initializer is None:
            index = count - 1 if reverse else 0
            results = [ta.write(index, a) for ta, a in zip(results, accumulator)]

        def body(i, a, results):
            index = count - 1 - i if reverse else i
            value = fn(_pack(structure, list(a)), _read(arrays, flat, elems, index))
            values = [convert_to_tensor(v) for v in _flatten(value)]
            if len(values) != len(a):
                raise ValueError(f"fn returned {len(values)} values for an accumulator of "
                                 f"{len(a)}")
            return i + 1, values, [ta.write(index, v) for ta, v in zip(results, values)]

        _, _, results = while_loop(
            lambda i, a, r: i < count, body,
            (constant_op.constant(start, dtypes.int32), accumulator, results),
            parallel_iterations=parallel_iterations, back_prop=back_prop,
            swap_memory=swap_memory)
        return _pack(structure, _stacked(results, n))


def _fold(fn, elems, initializer, parallel_iterations, back_prop, swap_memory, name,
          reverse: bool, default_name: str):
    if not callable(fn):
        raise TypeError(f"fn must be callable: {fn!r}")
    with name_scope(name or default_name):
        flat, n, count, arrays = _elements(elems)
        if initializer is None:
            structure = elems
            accumulator = [ta.read(count - 1 if reverse else 0) for ta in arrays]
            start = 1
        else:
            structure = initializer
            accumulator = [convert_to_tensor(a) for a in _flatten(initializer)]
            start = 0

        def body(i, a):
            index = count - 1 - i if reverse else i
            value = fn(_pack(structure, list(a)), _read(arrays, flat, elems, index))
            return i + 1, [convert_to_tensor(v) for v in _flatten(value)]

        _, accumulator = while_loop(lambda i, a: i < count, body,
                                    (constant_op.constant(start, dtypes.int32), accumulator),
                                    parallel_iterations=parallel_iterations,
                                    back_prop=back_prop, swap_memory=swap_memory)
        return _pack(structure, list(accumulator))


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """fn(...fn(fn(initializer, elems[0]), elems[1])..., elems[n-1])."""
    return _fold(fn, elems, initializer, parallel_iterations, back_prop, swap_memory, name,
                 False, "foldl")


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """fn(...fn(fn(initializer, elems[n-1]), elems[n-2])..., elems[0])."""
    return _fold(fn, elems, initializer, parallel_iterations, back_prop, swap_memory, name,
                 True, "foldr")


__all__ = ["foldl", "foldr", "map_fn", "scan"]
