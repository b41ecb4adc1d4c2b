"""Symbolic differentiation: `gradients(ys, xs)` adds the backward pass INTO the graph.

Only ops that lie on a path from some x to some y take part (so a second loss or a metric
sharing a variable is not visited). They are visited in reverse creation order, which is a
reverse topological order: every consumer's gradient is complete before its producer is
differentiated, and the gradients of all consumers of a tensor are summed (AddN). No recursion.
"""

from __future__ import annotations

from tensorslow.framework import errors
from tensorslow.framework.ops import (
    Operation,
    Tensor,
    _graph_of,
    convert_to_tensor,
    get_gradient_function,
)
from tensorslow.ops import array_ops, math_ops


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _x_tensor(x) -> Tensor:
    """A variable is differentiated through its ref (the VariableV2 output), as in TF1."""
    ref = getattr(x, "_ref", None)
    if callable(ref):
        return ref()
    return convert_to_tensor(x)


def _between(ys: list[Tensor], xs: list[Tensor]) -> set[Operation]:
    """Ops on some path from an x to a y (through data edges)."""
    reach_forward: set[Operation] = set()
    stack = [x._op for x in xs]
    while stack:
        op = stack.pop()
        if op in reach_forward:
            continue
        reach_forward.add(op)
        for t in op._outputs:
            for consumer in t._consumers:
                if consumer not in reach_forward:
                    stack.append(consumer)
    between: set[Operation] = set()
    stack = [y._op for y in ys if y._op in reach_forward]
    while stack:
        op = stack.pop()
        if op in between:
            continue
        between.add(op)
        for t in op._inputs:
            if t._op in reach_forward and t._op not in between:
                stack.append(t._op)
    return between


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None,
              unconnected_gradients="none"):
    """d(sum of ys)/dx for each x in xs; None for an x that no y depends on."""
    ys = [convert_to_tensor(y) for y in _as_list(ys)]
    xs_in = _as_list(xs)
    xs = [_x_tensor(x) for x in xs_in]
    grad_ys = _as_list(grad_ys) if grad_ys is not None else [None] * len(ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"Passed {len(grad_ys)} grad_ys for {len(ys)} ys")
    stop = {_x_tensor(s)._op for s in _as_list(stop_gradients)} if stop_gradients else set()
    source = (ys + xs)[0].graph if ys + xs else None
    for t in ys + xs:
        if t.graph is not source:
            raise errors.InvalidGraphElementError(None, t.op, f"{t.name} is from a different "
                                                  "graph than the other tensors.")
    # The gradient goes into the tensors' graph, or into the function body being built (a
    # loop's gradient body differentiates the forward body from there).
    graph = _graph_of(ys + xs)

    with graph.as_default(), graph.name_scope(name):
        between = _between(ys, xs)
        x_set = set(xs)
        # Gradients arriving at each tensor, to be summed.
        pending: dict[Tensor, list[Tensor]] = {}
        for y, gy in zip(ys, grad_ys):
            if gy is None:
                gy = array_ops.ones_like(y, name=None)
            else:
                gy = convert_to_tensor(gy, dtype=y.dtype)
            pending.setdefault(y, []).append(gy)

        for op in sorted(between, key=lambda o: o._id, reverse=True):
            out_grads = [_sum(pending.get(t)) for t in op._outputs]
            for t, g in zip(op._outputs, out_grads):
                if g is not None:
                    pending[t] = [g]
            if op in stop or all(g is None for g in out_grads):
                continue
            if all(t in x_set for t in op._outputs) and not any(
                    t._op in between for t in op._inputs):
                continue  # an x's own producer, nothing upstream to reach
            try:
                grad_fn = get_gradient_function(op)
            except LookupError:
                if not any(t._op in between for t in op._inputs):
                    continue
                raise
            if grad_fn is None:
                continue
            if not getattr(grad_fn, "accepts_none", False):
                out_grads = [g if g is not None else array_ops.zeros_like(t)
                             for t, g in zip(op._outputs, out_grads)]
            # As TensorFlow's tape tells gradient functions: the inputs no x reaches, whose
            # gradients would be dropped (a loop's gradient then carries none for them).
            op._skip_input_indices = tuple(i for i, t in enumerate(op._inputs)
                                           if t._op not in between)
            with graph.name_scope(op.name + "_grad"):
                in_grads = grad_fn(op, *out_grads)
            if not isinstance(in_grads, (list, tuple)):
                in_grads = [in_grads]
            in_grads = list(in_grads)
            if len(in_grads) != len(op._inputs):
                raise ValueError(f"Num gradients {len(in_grads)} generated for op "
                                 f"{op.name} ({op.type}) do not match num inputs "
                                 f"{len(op._inputs)}")
            for t, g in zip(op._inputs, in_grads):
                if g is None or t._op not in between:
                    continue
                g = convert_to_tensor(g)
                pending.setdefault(t, []).append(g)

        results = []
        for x in xs:
            g = _sum(pending.get(x))
            if g is None and unconnected_gradients == "zero":
                g = array_ops.zeros_like(x)
            results.append(g)
        return results


def _sum(grads: list[Tensor] | None) -> Tensor | None:
    if not grads:
        return None
    if len(grads) == 1:
        return grads[0]
    return math_ops.add_n(grads)


def hessians(ys, xs, name="hessians", **kwargs):
    """Second derivatives, one matrix per x, built from gradients of gradients."""
    from tensorslow.ops import array_ops as a

    xs = _as_list(xs)
    out = []
    for x, g in zip(xs, gradients(ys, xs, name=name)):
        if g is None:
            out.append(None)
            continue
        flat = a.reshape(g, [-1])
        n = flat.shape.as_tuple()[0]
        if n is None:
            raise ValueError("hessians needs the size of each x to be known statically")
        rows = [gradients(flat[i], x)[0] for i in range(n)]
        out.append(a.reshape(a.stack(rows), [n, n]))
    return out
