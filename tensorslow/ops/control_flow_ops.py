"""NoOp, group and tuple: ops that exist to order other ops; and cond, with its Switch and
Merge ops (the executor's side of them is in tensorslow/client/executor.py)."""

from __future__ import annotations

import builtins
import contextlib

import numpy as np

from tensorslow.framework import dtypes
from tensorslow.framework.ops import (
    NotDifferentiable,
    Operation,
    RegisterGradient,
    Tensor,
    _as_control_op,
    _graph_of,
    control_dependencies,
    convert_to_tensor,
    make_op,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape

register_op("NoOp", infer=lambda op: [], kernel=lambda op, ctx: (lambda: None))
NotDifferentiable("NoOp")


def no_op(name=None) -> Operation:
    return make_op("NoOp", [], name=name)


def group(*inputs, name=None) -> Operation:
    """An op that runs after all of `inputs` (ops or tensors) ran."""
    flat = []
    for x in inputs:
        if isinstance(x, (list, builtins.tuple, set)):
            flat.extend(x)
        elif isinstance(x, dict):
            flat.extend(x.values())
        else:
            flat.append(x)
    flat = [x for x in flat if x is not None]
    graph = _graph_of(flat)
    deps = []
    for x in flat:
        op = _as_control_op(x, graph)
        if op not in deps:
            deps.append(op)
    with graph.as_default(), graph.control_dependencies(deps):
        return make_op("NoOp", [], name=name or "group_deps", graph=graph)


def tuple(tensors, name=None, control_inputs=None):  # noqa: A001 - TensorFlow's name
    """Tensors equal to `tensors`, each available only after all of them are computed."""
    from tensorslow.ops import array_ops

    gate = group(*[t for t in tensors if t is not None], *(control_inputs or []))
    out = []
    with control_dependencies([gate]):
        for t in tensors:
            out.append(None if t is None else array_ops.identity(t))
    return out


def with_dependencies(dependencies, output_tensor, name=None) -> Tensor:
    from tensorslow.ops import array_ops

    with control_dependencies(dependencies):
        return array_ops.identity(output_tensor, name=name)


# --------------------------------------------------------------------------------------------
# cond: Switch and Merge
# --------------------------------------------------------------------------------------------


def _switch_infer(op):
    data, pred = op._inputs
    if pred._dtype is not None and pred._dtype != dtypes.bool:
        raise TypeError(f"The predicate of '{op.name}' must be a bool tensor, got "
                        f"{pred._dtype.name}")
    if pred._shape.ndims not in (None, 0):
        raise ValueError(f"The predicate of '{op.name}' must be a scalar, got shape "
                         f"{pred._shape}")
    return [(data._dtype, data._shape), (data._dtype, data._shape)]


def _switch_kernel(op, ctx):
    from tensorslow.client.executor import DEAD

    def switch(data, pred):
        return (DEAD, data) if pred else (data, DEAD)
    return switch


def _merge_infer(op):
    first = op._inputs[0]
    shape = first._shape
    for t in op._inputs[1:]:
        if t._dtype != first._dtype:
            raise TypeError(f"Inputs of '{op.name}' must have one dtype, got "
                            f"{first._dtype} and {t._dtype}")
        shape = _common_shape(shape, t._shape)
    return [(first._dtype, shape), (dtypes.int32, TensorShape([]))]


def _common_shape(a: TensorShape, b: TensorShape) -> TensorShape:
    """What both shapes have in common (unknown where they differ)."""
    if a.ndims is None or b.ndims is None or a.ndims != b.ndims:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a.as_list(), b.as_list(),
                                                               strict=True)])


register_op("Switch", infer=_switch_infer, kernel=_switch_kernel, attrs={"T": ("type", None)})
# Merge has no kernel of its own: the executor's conditional steps pick its first live input.
register_op("Merge", infer=_merge_infer,
            kernel=lambda op, ctx: (lambda *inputs: (inputs[0], np.int32(0))),
            attrs={"T": ("type", None), "N": ("int", None)})


def switch(data, pred, name=None) -> builtins.tuple[Tensor, Tensor]:
    """(output_false, output_true): `data` on the side `pred` selects; the other is dead."""
    data, pred = convert_to_tensor(data), convert_to_tensor(pred, dtype=dtypes.bool)
    op = make_op("Switch", [data, pred], {"T": data._dtype}, name=name or "Switch")
    return op._outputs[0], op._outputs[1]


def merge(inputs, name=None) -> builtins.tuple[Tensor, Tensor]:
    """(output, value_index): the first of `inputs` that is live, and its index."""
    inputs = [convert_to_tensor(t) for t in inputs]
    op = make_op("Merge", inputs, {"T": inputs[0]._dtype, "N": len(inputs)},
                 name=name or "Merge")
    return op._outputs[0], op._outputs[1]


class CondContext:
    """One branch of a cond while it is being built (Graph._cond_context).

    Every tensor from outside the branch that an op of the branch reads goes through a
    Switch on the predicate (one per tensor, made outside the branch), so the op, and all that
    follows it in the branch, runs only when the branch is taken. Ops with no inputs (constants)
    get a control input on the branch's pivot, a tensor alive only when the branch is taken.
    Reference inputs (a variable an Assign writes) are the variable itself, never switched.
    """

    def __init__(self, graph, pred: Tensor, branch: int):
        self.graph = graph
        self.pred = pred
        self.branch = branch
        self.outer = graph._cond_context
        self.ops: set[Operation] = set()
        self.captured: dict[Tensor, Tensor] = {}
        with self._outside():
            self.pivot = _identity(switch(pred, pred)[branch],
                                   name="switch_t" if branch else "switch_f")
        self.ops.add(self.pivot._op)  # read directly inside the branch, never switched again

    @contextlib.contextmanager
    def _outside(self):
        """Building in the enclosing branch (or none), with no control dependencies: where
        this branch's Switches go."""
        graph = self.graph
        saved = graph._cond_context
        try:
            with graph.control_dependencies(None):  # (which also leaves the branch)
                graph._cond_context = self.outer
                yield
        finally:
            graph._cond_context = saved

    def capture(self, t: Tensor) -> Tensor:
        if t._op in self.ops:
            return t
        switched = self.captured.get(t)
        if switched is None:
            with self._outside():
                switched = switch(t, self.pred)[self.branch]
            self.captured[t] = switched
        return switched

    def enter_op(self, tensors: list, control_inputs: list, refs=()):
        tensors = [t if i in refs else self.capture(t) for i, t in enumerate(tensors)]
        if not [t for i, t in enumerate(tensors) if i not in refs]:
            control_inputs = [*control_inputs, self.pivot._op]
        return tensors, control_inputs

    def __enter__(self):
        self._saved = self.graph._cond_context
        self.graph._cond_context = self
        return self

    def __exit__(self, *exc):
        self.graph._cond_context = self._saved


def _identity(x, name=None) -> Tensor:
    from tensorslow.ops import array_ops

    return array_ops.identity(x, name=name)


def _flatten(structure) -> list:
    if isinstance(structure, (list, builtins.tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key])]
    return [structure]


def _pack(structure, flat: list):
    """`structure` with its leaves replaced, in order, by the items of `flat` (consumed)."""
    if isinstance(structure, (list, builtins.tuple)):
        items = [_pack(item, flat) for item in structure]
        if hasattr(structure, "_fields"):  # a namedtuple
            return type(structure)(*items)
        return type(structure)(items)
    if isinstance(structure, dict):
        return {key: _pack(structure[key], flat) for key in sorted(structure)}
    return flat.pop(0)


def _branch_outputs(context: CondContext, fn, which: str):
    with context:
        result = fn()
        if result is None:
            raise ValueError(f"{which} must return at least one result (a tensor, an op, or a "
                             "structure of them); it returned None")
        flat = []
        for value in _flatten(result):
            if isinstance(value, Operation):
                with context.graph.control_dependencies([value]):
                    value = _identity(context.pivot)
            else:
                value = context.capture(convert_to_tensor(value))
            flat.append(value)
    return result, flat


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """`true_fn()` if `pred` else `false_fn()`, deciding when the graph runs: only the taken
    branch's ops run. Both functions must return the same structure of tensors (ops become
    tensors that are computed after them). Ops made in a branch that read tensors from outside
    reach them through Switch ops; variables made in a branch belong to no branch.
    Gradients flow through the branch that ran.
    """
    true_fn = fn1 if true_fn is None else true_fn
    false_fn = fn2 if false_fn is None else false_fn
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("cond needs callables true_fn and false_fn")
    pred = convert_to_tensor(pred, dtype=dtypes.bool)
    graph = _graph_of([pred])
    with graph.as_default(), graph.name_scope(name or "cond"):
        true_context = CondContext(graph, pred, 1)
        true_result, true_flat = _branch_outputs(true_context, true_fn, "true_fn")
        false_context = CondContext(graph, pred, 0)
        false_result, false_flat = _branch_outputs(false_context, false_fn, "false_fn")
        if len(true_flat) != len(false_flat):
            raise ValueError(f"true_fn and false_fn must return the same structure: "
                             f"{len(true_flat)} against {len(false_flat)} results")
        merged = []
        for t, f in zip(true_flat, false_flat, strict=True):
            if t._dtype != f._dtype:
                raise ValueError(f"Outputs of true_fn and false_fn must have the same type: "
                                 f"{t._dtype.name}, {f._dtype.name}")
            value, _ = merge([f, t])
            value._op._cond_pred = pred  # what the Merge's gradient switches on
            merged.append(value)
    result = _pack(true_result, merged)
    if not strict and isinstance(result, (list, builtins.tuple)) and len(result) == 1:
        return result[0]
    return result


@RegisterGradient("Switch")
def _switch_gradient(op, grad_false, grad_true):
    # Both are live only on their side (a missing one is zeros_like of that output, which is
    # dead when its side is): the merge is the gradient of whichever side ran.
    return merge([grad_false, grad_true])[0], None


@RegisterGradient("Merge")
def _merge_gradient(op, grad, _):
    pred = getattr(op, "_cond_pred", None)
    if pred is None or len(op._inputs) != 2:
        raise LookupError(f"The gradient of '{op.name}' (Merge) needs the cond that built it; "
                          "Merge ops of imported graphs have no gradient here")
    return switch(grad, pred)


def _format_data(values, summarize: int) -> str:
    parts = []
    for value in values:
        value = np.asarray(value)
        if value.dtype == object:
            value = np.vectorize(lambda v: v.decode(errors="replace")
                                 if isinstance(v, bytes) else v, otypes=[object])(value)
        flat = value.reshape(-1)
        text = " ".join(str(v) for v in flat[:summarize])
        if value.ndim == 0:
            parts.append(text)
        else:
            parts.append(f"[{text}{'...' if flat.size > summarize else ''}]")
    return "[" + "] [".join(parts) + "]" if parts else ""


def _assert_kernel(op, ctx):
    from tensorslow.framework import errors

    summarize = int(op._attrs["summarize"])

    def check(condition, *data):
        if not np.all(condition):
            raise errors.InvalidArgumentError(
                None, op, f"assertion failed: {_format_data(data, summarize)}")
    return check


register_op("Assert", infer=lambda op: [], kernel=_assert_kernel, stateful=True,
            attrs={"T": ("list(type)", []), "summarize": ("int", 3)})
NotDifferentiable("Assert")


def Assert(condition, data, summarize=None, name=None) -> Operation:  # noqa: N802 - TF's name
    """An op that fails the run with InvalidArgumentError (showing `data`, `summarize`
    elements of each) when `condition` is False."""
    condition = convert_to_tensor(condition, dtype=dtypes.bool)
    data = [convert_to_tensor(d) for d in data]
    return make_op("Assert", [condition, *data],
                   {"T": [d._dtype for d in data], "summarize": 3 if summarize is None
                    else int(summarize)}, name=name or "Assert")


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The result of the first fn whose pred is True (in order), else of `default` (the last
    pair's fn when there is no default). With `exclusive`, a run where more than one pred is
    True fails (InvalidArgumentError)."""
    pairs = list(pred_fn_pairs.items() if isinstance(pred_fn_pairs, dict) else pred_fn_pairs)
    for pair in pairs:
        if not (isinstance(pair, builtins.tuple) and len(pair) == 2 and callable(pair[1])):
            raise TypeError(f"case takes (predicate, callable) pairs, got {pair!r}")
    if not pairs and default is None:
        raise ValueError("case needs pred_fn_pairs or a default")
    if default is None:
        *pairs, (_, default) = pairs
    if not callable(default):
        raise TypeError("default must be a callable")
    preds = [convert_to_tensor(p, dtype=dtypes.bool) for p, _ in pairs]
    graph = _graph_of(preds) if preds else None

    def chain(index: int):
        if index == len(pairs):
            return default()
        return cond(preds[index], pairs[index][1], lambda: chain(index + 1), strict=strict)

    if graph is None:
        return default()
    with graph.as_default(), graph.name_scope(name):
        if exclusive and len(preds) > 1:
            from tensorslow.ops import array_ops, math_ops

            count = math_ops.reduce_sum(math_ops.cast(array_ops.stack(preds), dtypes.int32))
            check = Assert(count <= 1, ["More than one condition evaluated as True but "
                                        "exclusive=True. Conditions:", array_ops.stack(preds)])
            with control_dependencies([check]):
                return chain(0)
        return chain(0)
