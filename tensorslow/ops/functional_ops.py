"""Ops that call library functions: PartitionedCall and StatefulPartitionedCall, and
functional control flow as TensorFlow 2 writes it, If/StatelessIf, While/StatelessWhile and
Case/StatelessCase; and `while_loop`, which builds a While.

Each kernel compiles the plans of the functions it calls once, when its own plan is built
(`executor.function_plan`), and runs them per call with the values of its inputs: a loop's
iterations are calls of its cond and body plans, with nothing rebuilt between them.

`while_loop` writes its loop as TensorFlow 2 does (so TensorFlow imports and runs it): the
loop variables are [loop counter, maximum iterations, *the user's loop variables, *the values
cond and body capture from outside]; the body returns them in that order, the captures
unchanged.
"""

from __future__ import annotations

import itertools

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework import function as function_lib
from tensorslow.framework.ops import (
    Operation,
    RegisterGradient,
    Tensor,
    _graph_of,
    convert_to_tensor,
    get_default_graph,
    make_op,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape, as_shape
from tensorslow.ops import list_ops

# --------------------------------------------------------------------------------------------
# Calling functions
# --------------------------------------------------------------------------------------------


def _function(op: Operation, attr: str) -> function_lib.Function:
    return function_lib.lookup(op._graph, op._attrs[attr])


def _check_args(op: Operation, fn: function_lib.Function, args, what: str) -> None:
    if len(args) != len(fn.inputs):
        raise ValueError(f"{what} '{fn.name}' takes {len(fn.inputs)} arguments, '{op.name}' "
                         f"passes {len(args)}")
    for i, (t, arg) in enumerate(zip(args, fn.inputs)):
        if t._dtype is not None and arg._dtype is not None and (
                t._dtype.base_dtype != arg._dtype.base_dtype):
            raise TypeError(f"Argument {i} of {what.lower()} '{fn.name}' is "
                            f"{arg._dtype.name}, '{op.name}' passes {t._dtype.name}")


def _caller(fn: function_lib.Function, ctx):
    from tensorslow.client.executor import function_plan

    return function_plan(fn, ctx).call


def _results(n: int, call):
    """A kernel returning `call`'s results as the executor takes them (one value or a
    tuple)."""
    if n == 1:
        return lambda *args: call(args)[0]
    return lambda *args: tuple(call(args))


def _call_infer(op):
    fn = _function(op, "f")
    _check_args(op, fn, op._inputs, "Function")
    return list(zip(fn.output_types, fn.output_shapes))


def _call_kernel(op, ctx):
    return _results(len(op._outputs), _caller(_function(op, "f"), ctx))


_CALL_ATTRS = {"Tin": ("list(type)", []), "Tout": ("list(type)", []), "f": ("func", None),
               "config": ("string", ""), "config_proto": ("string", ""),
               "executor_type": ("string", "")}
register_op("PartitionedCall", infer=_call_infer, kernel=_call_kernel, attrs=_CALL_ATTRS,
            stateful=True)
register_op("StatefulPartitionedCall", infer=_call_infer, kernel=_call_kernel,
            attrs=_CALL_ATTRS, stateful=True)


def partitioned_call(args, f: function_lib.Function, name=None, stateful=None):
    """Calls library function `f` on `args`; its results."""
    args = [convert_to_tensor(a) for a in args]
    stateful = f.stateful if stateful is None else stateful
    op = make_op("StatefulPartitionedCall" if stateful else "PartitionedCall", args,
                 {"Tin": [a._dtype for a in args], "Tout": f.output_types,
                  "f": function_lib.func_attr(f.name)}, name=name)
    return op._outputs


# --------------------------------------------------------------------------------------------
# If and Case
# --------------------------------------------------------------------------------------------


def truthy(value) -> bool:
    """TensorFlow's truth of a predicate: a scalar is true when nonzero (a string when not
    empty); any other tensor when it has elements."""
    if type(value) is not np.ndarray:
        value = np.asarray(value)
    if value.ndim:
        return value.size > 0
    if value.dtype == object:
        return len(value.item()) > 0
    return bool(value)


def _merged_shapes(fns) -> list[TensorShape]:
    from tensorslow.ops.control_flow_ops import _common_shape

    shapes = fns[0].output_shapes
    for fn in fns[1:]:
        shapes = [_common_shape(a, b) for a, b in zip(shapes, fn.output_shapes)]
    return shapes


def _branches_infer(op, fns, args):
    for fn in fns:
        _check_args(op, fn, args, "Branch")
        if fn.output_types != fns[0].output_types:
            raise TypeError(f"The branches of '{op.name}' return different types: "
                            f"{[t.name for t in fns[0].output_types]} and "
                            f"{[t.name for t in fn.output_types]}")
    shapes = op._attrs.get("output_shapes") or _merged_shapes(fns)
    return list(zip(fns[0].output_types, shapes))


def _if_infer(op):
    return _branches_infer(op, [_function(op, "then_branch"), _function(op, "else_branch")],
                           op._inputs[1:])


def _if_kernel(op, ctx):
    then_call = _caller(_function(op, "then_branch"), ctx)
    else_call = _caller(_function(op, "else_branch"), ctx)

    def run_if(cond, *args):
        return (then_call if truthy(cond) else else_call)(args)
    return _results(len(op._outputs), lambda args: run_if(*args))


_IF_ATTRS = {"Tcond": ("type", None), "Tin": ("list(type)", []), "Tout": ("list(type)", []),
             "then_branch": ("func", None), "else_branch": ("func", None),
             "output_shapes": ("list(shape)", [])}
register_op("If", infer=_if_infer, kernel=_if_kernel, attrs=_IF_ATTRS, stateful=True)
register_op("StatelessIf", infer=_if_infer, kernel=_if_kernel, attrs=_IF_ATTRS, stateful=True)


def _case_infer(op):
    fns = [function_lib.lookup(op._graph, b) for b in op._attrs["branches"]]
    if not fns:
        raise ValueError(f"'{op.name}' (Case) has no branches")
    return _branches_infer(op, fns, op._inputs[1:])


def _case_kernel(op, ctx):
    calls = [_caller(function_lib.lookup(op._graph, b), ctx) for b in op._attrs["branches"]]
    last = len(calls) - 1

    def run_case(index, *args):
        i = int(index)
        return calls[i if 0 <= i < last else last](args)  # out of range: the last (default)
    return _results(len(op._outputs), lambda args: run_case(*args))


_CASE_ATTRS = {"Tin": ("list(type)", []), "Tout": ("list(type)", []),
               "branches": ("list(func)", []), "output_shapes": ("list(shape)", [])}
register_op("Case", infer=_case_infer, kernel=_case_kernel, attrs=_CASE_ATTRS, stateful=True)
register_op("StatelessCase", infer=_case_infer, kernel=_case_kernel, attrs=_CASE_ATTRS,
            stateful=True)


# --------------------------------------------------------------------------------------------
# While
# --------------------------------------------------------------------------------------------


def _while_infer(op):
    cond, body = _function(op, "cond"), _function(op, "body")
    args = op._inputs
    _check_args(op, cond, args, "Loop condition")
    _check_args(op, body, args, "Loop body")
    if len(cond.outputs) != 1:
        raise ValueError(f"The condition of '{op.name}' must return one tensor, it returns "
                         f"{len(cond.outputs)}")
    types = [t._dtype for t in args]
    stacked = len(body.outputs) - len(args)  # values the body also returns for the gradient
    if body.output_types[:len(args)] != types or stacked != op._attrs.get("_stacked_outputs",
                                                                          0):
        raise TypeError(f"The body of '{op.name}' must return the types of the loop variables "
                        f"{[t.name for t in types]}, it returns "
                        f"{[t.name for t in body.output_types]}")
    shapes = op._attrs.get("output_shapes") or [
        _loop_shape(t._shape, s) for t, s in zip(args, body.output_shapes)]
    return list(zip(types, shapes)) + [(dtypes.variant, TensorShape([]))] * stacked


def _loop_shape(entering: TensorShape, after_body: TensorShape) -> TensorShape:
    from tensorslow.ops.control_flow_ops import _common_shape

    return _common_shape(entering, after_body)


def _shape_checks(op: Operation, body: function_lib.Function) -> list[tuple[int, tuple]]:
    """(loop variable index, its invariant's dims) for each variable whose shape is
    constrained and not already known to hold (the body's result has that shape whatever
    the iteration): checked after every iteration."""
    checks = []
    for i, shape in enumerate(op._attrs.get("output_shapes") or []):
        dims = shape.as_tuple()
        if dims is None or op._inputs[i]._dtype in (dtypes.resource, dtypes.variant):
            continue
        result = body.outputs[i]._shape.as_tuple() if i < len(body.outputs) else None
        if result is not None and len(result) == len(dims) and all(
                d is None or d == r for d, r in zip(dims, result)):
            continue
        checks.append((i, dims))
    return checks


def _loop_var_name(op: Operation, index: int) -> str:
    names = getattr(op, "_loop_var_names", None)
    if names is not None and names[index]:
        return f"loop variable '{names[index]}'"
    body = _function(op, "body")
    return f"loop variable {index} ('{body.arg_names[index]}' of '{body.name}')"


def _inline_caller(plan):
    """`plan.call` unrolled into its caller's loop: (initial values, argument slots, steps,
    result slots), or None when the plan checks its results for dead values."""
    if plan.fetch_ops is not None:
        return None
    return plan.initial_values, plan.arg_slots, plan.steps, plan.result_slots


def _while_kernel(op, ctx):
    from tensorslow.client.executor import function_plan, kernel_error

    cond_plan = function_plan(_function(op, "cond"), ctx)
    body_fn = _function(op, "body")
    body_plan = function_plan(body_fn, ctx)
    cond_call, body_call = cond_plan.call, body_plan.call
    checks = _shape_checks(op, body_fn)
    n = len(op._inputs)
    stacked = body_fn.outputs[n:]  # values kept from every iteration, for the gradient
    cond_parts, body_parts = _inline_caller(cond_plan), _inline_caller(body_plan)
    if cond_parts is not None and body_parts is not None and not checks:
        return _results(len(op._outputs),
                        _fast_loop(cond_plan, body_plan, kernel_error, stacked))

    def check(values, iteration):
        for i, dims in checks:
            shape = np.shape(values[i])
            if len(shape) != len(dims) or any(d is not None and d != s
                                              for d, s in zip(dims, shape)):
                raise errors.InvalidArgumentError(
                    None, op, f"The body of '{op.name}' changed the shape of "
                    f"{_loop_var_name(op, i)} to {list(shape)} in iteration {iteration}, which "
                    f"its shape invariant {TensorShape(list(dims))} does not allow")

    def run_while(*args):
        values = list(args)
        iteration = 0
        stacks = [[] for _ in stacked]
        while True:
            c = cond_call(values)[0]
            kind = type(c)
            if kind is np.bool_ or kind is np.ndarray and c.dtype == np.bool_ and not c.ndim:
                if not c:
                    break
            elif not truthy(c):
                break
            values = body_call(values)
            if stacks:
                for stack, value in zip(stacks, values[n:]):
                    stack.append(value)
                del values[n:]
            iteration += 1
            if checks:
                check(values, iteration)
        if stacks:
            values += _stacked_lists(stacks, stacked)
        return values

    return _results(len(op._outputs), lambda args: run_while(*args))


def _stacked_lists(stacks: list[list], stacked) -> list:
    """The TensorLists of the values a loop kept from each iteration for its gradient."""
    from tensorslow.ops.list_ops import TensorListValue

    return [TensorListValue(tuple(stack), t._dtype.as_numpy_dtype, t._shape.as_tuple())
            for stack, t in zip(stacks, stacked)]


def _fast_loop(cond_plan, body_plan, kernel_error, stacked=()):
    """The loop of the common case (no shape to check, no value that can be dead): both
    plans' steps run in one Python loop, with no call between them. The body's values in
    `stacked` (its results past the loop variables) are kept from every iteration and come
    out as TensorLists after the loop variables.

    Each plan's slots are set up once per run and reused by every iteration (a step writes
    only its own output slots; constants stay in theirs). A loop variable the body passes
    through unchanged (a captured tensor, the iteration bound) keeps its slot's value, so an
    iteration moves only the variables that change.
    """
    c_init, c_args, c_steps, (c_out,) = _inline_caller(cond_plan)
    b_init, b_args, b_steps, b_outs = _inline_caller(body_plan)
    n = len(b_outs) - len(stacked)
    b_outs, kept = b_outs[:n], tuple(b_outs[n:])
    moving = [i for i, (arg, out) in enumerate(zip(b_args, b_outs)) if arg != out]
    c_moving = tuple(c_args[i] for i in moving)
    b_moving = tuple(b_args[i] for i in moving)
    o_moving = tuple(b_outs[i] for i in moving)

    counted = _counted_loop(cond_plan, body_plan, kernel_error, moving, kept, stacked)

    def run_while(args):
        if counted is not None:
            values = counted(args)
            if values is not None:
                return values
        cv, bv = c_init.copy(), b_init.copy()
        for slot, value in zip(c_args, args):
            cv[slot] = value
        for slot, value in zip(b_args, args):
            bv[slot] = value
        current = [args[i] for i in moving]
        stacks = [[] for _ in kept]
        plan, index = cond_plan, 0
        try:
            while True:
                for slot, value in zip(c_moving, current):
                    cv[slot] = value
                plan = cond_plan
                for index, step in enumerate(c_steps):  # noqa: B007 - names the culprit
                    step(cv)
                c = cv[c_out]
                kind = type(c)
                if kind is np.bool_ or kind is np.ndarray and c.dtype == np.bool_ and \
                        not c.ndim:
                    if not c:
                        break
                elif not truthy(c):
                    break
                for slot, value in zip(b_moving, current):
                    bv[slot] = value
                plan = body_plan
                for index, step in enumerate(b_steps):  # noqa: B007
                    step(bv)
                current = [bv[slot] for slot in o_moving]
                for stack, slot in zip(stacks, kept):
                    stack.append(bv[slot])
        except Exception as e:  # noqa: BLE001 - rewrapped with the op that failed
            raise kernel_error(plan.step_ops[index], e) from e
        values = list(args)
        for i, value in zip(moving, current):
            values[i] = value
        if stacks:
            values += _stacked_lists(stacks, stacked)
        return values

    return run_while


def _integer(value) -> int | None:
    """A scalar integer value as an int, else None."""
    kind = type(value)
    if kind is np.ndarray:
        return int(value) if value.ndim == 0 and value.dtype.kind in "iu" else None
    return int(value) if isinstance(value, np.integer) else None


def _increments(body_plan, moving: list[int]) -> dict[int, int]:
    """The loop variables the body adds 1 to (counters): {loop variable: step adding 1}."""
    args, outs, init = body_plan.arg_slots, body_plan.result_slots, body_plan.initial_values
    producer = {slot: k for k, slots in enumerate(body_plan.step_outputs) for slot in slots}
    found = {}
    for i in moving:
        k = producer.get(outs[i])
        if k is None or body_plan.step_ops[k]._type not in ("AddV2", "Add"):
            continue
        a, b = body_plan.step_inputs[k]
        one = b if a == args[i] else a if b == args[i] else None
        if one is not None and one not in args and isinstance(init[one], np.integer) \
                and init[one] == 1:
            found[i] = k
    return found


def _trip_limits(cond_plan, counters: dict, moving: list[int]):
    """When the condition is `counter < limit` for one or more counters (conjoined with
    LogicalAnd), each limit fixed for the loop (a constant, or a loop variable the body passes
    through): [(counter, loop variable of the limit or None, constant limit or None)]."""
    args = cond_plan.arg_slots
    index = {slot: i for i, slot in enumerate(args)}
    made = set()
    limits = []
    for op, ins, outs in zip(cond_plan.step_ops, cond_plan.step_inputs,
                             cond_plan.step_outputs):
        if op._type == "LogicalAnd":
            if not all(slot in made for slot in ins):
                return None
        elif op._type == "Less":
            counter, limit = (index.get(slot) for slot in ins)
            if counter not in counters:
                return None
            if limit is not None:
                if limit in moving:
                    return None
                limits.append((counter, limit, None))
            elif isinstance(cond_plan.initial_values[ins[1]], np.integer):
                limits.append((counter, None, int(cond_plan.initial_values[ins[1]])))
            else:
                return None
        else:
            return None
        made.update(outs)
    return limits or None


def _counted_loop(cond_plan, body_plan, kernel_error, moving, kept, stacked):
    """A loop whose condition only compares counters with fixed limits runs a number of
    iterations known when it starts: `counted(args)` runs the body that many times, with no
    condition evaluated and the counters set, not computed (their increments run only where
    the body reads their results). None when the loop is not of that form; `counted` returns
    None (run the loop as usual) when the counters or limits are not integer scalars."""
    counters = _increments(body_plan, moving)
    limits = _trip_limits(cond_plan, counters, moving) if counters else None
    if limits is None:
        return None
    b_init, b_args, b_outs = body_plan.initial_values, body_plan.arg_slots, \
        body_plan.result_slots
    read = {slot for ins in body_plan.step_inputs for slot in ins} | set(kept)
    skipped = {k for i, k in counters.items() if b_outs[i] not in read}
    numbered = [(k, step) for k, step in enumerate(body_plan.steps) if k not in skipped]
    others = [i for i in moving if i not in counters]
    read = {slot for k, _ in numbered for slot in body_plan.step_inputs[k]} | set(kept) | {
        b_outs[i] for i in others}
    counter_vars = sorted(counters)
    # The counters the body reads get their value set each iteration; the others only once,
    # after the loop.
    shown = [(pos, b_args[i]) for pos, i in enumerate(counter_vars) if b_args[i] in read]
    shown_slots = tuple(slot for _, slot in shown)
    moves = tuple(zip((b_outs[i] for i in others), (b_args[i] for i in others)))
    (single_out, single_arg), = moves if len(moves) == 1 else ((None, None),)

    def counted(args):
        starts = [_integer(args[i]) for i in counter_vars]
        bounds = [_integer(args[j]) if j is not None else value for _, j, value in limits]
        if None in starts or None in bounds:
            return None
        start = dict(zip(counter_vars, starts))
        count = max(0, min(bound - start[i] for (i, _, _), bound in zip(limits, bounds)))
        kinds = [np.asarray(args[i]).dtype for i in counter_vars]
        shown_values = [np.arange(starts[pos], starts[pos] + count, dtype=kinds[pos])
                        for pos, _ in shown]
        bv = b_init.copy()
        for slot, value in zip(b_args, args):
            bv[slot] = value
        stacks = [[] for _ in kept]
        k = 0
        try:
            for counts in zip(*shown_values) if shown else itertools.repeat((), count):
                for slot, value in zip(shown_slots, counts):
                    bv[slot] = value
                for k, step in numbered:  # noqa: B007 - k names the culprit
                    step(bv)
                for stack, slot in zip(stacks, kept):
                    stack.append(bv[slot])
                if single_out is not None:
                    bv[single_arg] = bv[single_out]
                else:
                    moved = [bv[out] for out, _ in moves]
                    for (_, arg), value in zip(moves, moved):
                        bv[arg] = value
        except Exception as e:  # noqa: BLE001 - rewrapped with the op that failed
            raise kernel_error(body_plan.step_ops[k], e) from e
        values = list(args)
        for i in others:
            values[i] = bv[b_args[i]]
        if count:
            for i, first, kind in zip(counter_vars, starts, kinds):
                values[i] = kind.type(first + count)
        if stacks:
            values += _stacked_lists(stacks, stacked)
        return values

    return counted


_WHILE_ATTRS = {"T": ("list(type)", []), "cond": ("func", None), "body": ("func", None),
                "output_shapes": ("list(shape)", []), "parallel_iterations": ("int", 10)}
register_op("While", infer=_while_infer, kernel=_while_kernel, attrs=_WHILE_ATTRS,
            stateful=True)
register_op("StatelessWhile", infer=_while_infer, kernel=_while_kernel, attrs=_WHILE_ATTRS,
            stateful=True)


# --------------------------------------------------------------------------------------------
# while_loop
# --------------------------------------------------------------------------------------------


def _flatten(structure) -> list:
    from tensorslow.ops.control_flow_ops import _flatten as flatten

    return flatten(structure)


def _pack(structure, flat: list):
    from tensorslow.ops.control_flow_ops import _pack as pack

    return pack(structure, list(flat))


def _call_with(fn, structure, templates: list, flat: list, single: bool):
    packed = _pack(structure, _with_arrays(templates, flat))
    return fn(packed) if single else fn(*packed)


def _tensor_array_class():
    from tensorslow.ops.tensor_array_ops import TensorArray

    return TensorArray


def _flows(values: list) -> list:
    """Loop variables as tensors: a TensorArray is carried as its flow."""
    array = _tensor_array_class()
    return [v.flow if isinstance(v, array) else convert_to_tensor(v) for v in values]


def _with_arrays(templates: list, flat: list) -> list:
    """`flat` with the flows of TensorArray loop variables (per `templates`) made
    TensorArrays again."""
    array = _tensor_array_class()
    return [template._with_flow(t) if isinstance(template, array) else t
            for template, t in zip(templates, flat)]


def _build_body(graph, name: str, entering, shapes, names) -> tuple:
    body = function_lib.FuncGraph(function_lib.unique_function_name(graph, name), graph)
    args = [body.add_input(t._dtype, s, n) for t, s, n in zip(entering, shapes, names)]
    for t, arg in zip(entering, args):
        if t._dtype == dtypes.variant:  # a list: its reads inside know the elements' shape
            data = list_ops.list_handle_data(t)
            if data is not None:
                arg._op._handle_data = data
    return body, args


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
               return_same_structure=False):
    """Repeats `body` while `cond` is true: TensorFlow 1's tf.while_loop.

    `cond(*loop_vars)` returns a scalar bool tensor; `body(*loop_vars)` returns new values of
    the same structure, dtypes and (within `shape_invariants`, default: the entering shapes)
    shapes. `maximum_iterations` bounds the iterations (the loop stops there). Tensors cond and
    body read from outside are passed in; variables they make are made once, outside.
    `parallel_iterations` and `swap_memory` are accepted (iterations run one after another);
    with `back_prop=False` no gradient flows through the loop.
    """
    if not callable(cond) or not callable(body):
        raise TypeError("while_loop needs callables cond and body")
    if parallel_iterations is not None and int(parallel_iterations) < 1:
        raise ValueError("parallel_iterations must be a positive integer.")
    single = not isinstance(loop_vars, (list, tuple))
    if isinstance(loop_vars, (list, tuple)) and not loop_vars:
        raise ValueError("No loop variables provided")
    templates = _flatten(loop_vars)
    flat_in = _flows(templates)
    structure = loop_vars
    if shape_invariants is None:
        invariants = [t._shape for t in flat_in]
    else:
        invariants = [t._shape if t._dtype == dtypes.variant else as_shape(s)
                      for t, s in zip(flat_in, _flatten_like(loop_vars, shape_invariants))]
    for t, inv in zip(flat_in, invariants):
        if not inv.is_compatible_with(t._shape):
            raise ValueError(f"The shape invariant specified for {t.name} is not compatible "
                             f"with the initial shape of the loop variable. It enters the loop "
                             f"with shape {t._shape}, but the specified shape invariant is "
                             f"{inv}.")
    graph = _graph_of(flat_in) if flat_in else get_default_graph()
    with graph.as_default(), graph.name_scope(name or "while") as scope:
        scope_name = scope[:-1] if scope else "while"
        from tensorslow.ops import constant_op, math_ops

        counter = constant_op.constant(0, dtypes.int32, name="loop_counter")
        if maximum_iterations is None:
            limit = constant_op.constant(-1, dtypes.int32, name="maximum_iterations")
        else:
            limit = convert_to_tensor(maximum_iterations, dtype=dtypes.int32,
                                      name="maximum_iterations")
            if limit._shape.ndims not in (None, 0):
                raise ValueError(f"maximum_iterations must be a scalar, got shape "
                                 f"{limit._shape}")
        entering = [counter, limit, *flat_in]
        for t in entering:
            if t._dtype is None:
                raise errors.BuildTypeError(None, t._op, f"Loop variable {t.name} has no dtype")
        shapes = [TensorShape([]), TensorShape([]), *invariants]
        names = ["loop_counter", "maximum_iterations"] + [
            f"placeholder_{i}" if i else "placeholder" for i in range(len(flat_in))]

        cond_graph, cond_args = _build_body(graph, f"{scope_name}_cond", entering, shapes, names)
        with cond_graph.as_default():
            pred = convert_to_tensor(_call_with(cond, structure, templates, cond_args[2:],
                                                 single))
            if pred._dtype != dtypes.bool:
                raise TypeError(f"The loop condition must return a bool tensor, got {pred}")
            if pred._shape.ndims not in (None, 0):
                raise ValueError(f"The loop condition must return a scalar, got shape "
                                 f"{pred._shape}")
            if maximum_iterations is not None:
                pred = math_ops.logical_and(math_ops.less(cond_args[0], cond_args[1]), pred)
            from tensorslow.ops import array_ops

            pred = array_ops.identity(pred, name="identity")

        body_graph, body_args = _build_body(graph, f"{scope_name}_body", entering, shapes, names)
        with body_graph.as_default():
            result = _call_with(body, structure, templates, body_args[2:], single)
            if single and isinstance(result, (list, tuple)) and len(result) == 1:
                result = result[0]
            if not single and isinstance(structure, (list, tuple)) and len(structure) == 1 \
                    and not isinstance(result, (list, tuple)):
                result = [result]
            returned = _flatten(result)
            flat_out = _flows(returned)
            if len(flat_out) != len(flat_in):
                raise ValueError(f"The body of the while loop returns {len(flat_out)} values "
                                 f"for {len(flat_in)} loop variables")
            for i, (t_in, t_out, inv) in enumerate(zip(flat_in, flat_out, invariants)):
                if t_out._dtype != t_in._dtype:
                    raise TypeError(f"Loop variable {i} ({t_in.name}) enters the loop as "
                                    f"{t_in._dtype.name}, but the body returns "
                                    f"{t_out._dtype.name if t_out._dtype else 'an untyped'} "
                                    "tensor")
                if not inv.is_compatible_with(t_out._shape):
                    raise ValueError(
                        f"Input tensor '{t_in.name}' enters the loop with shape {inv}, but has "
                        f"shape {t_out._shape} after one iteration. To allow the shape to vary "
                        "across iterations, use the `shape_invariants` argument of "
                        "tf.while_loop to specify a less-specific shape.")
            next_counter = math_ops.add(body_args[0], 1)
            outputs = [next_counter, body_args[1], *flat_out]
            outputs = [array_ops.identity(t, name="identity") for t in outputs]

        # What either function captured becomes a loop variable of both, passed unchanged.
        captured = []
        for source, _ in [*cond_graph.captures, *body_graph.captures]:
            if source not in captured:
                captured.append(source)
        cond_inputs = [*cond_args, *[cond_graph.capture(t) for t in captured]]
        body_inputs = [*body_args, *[body_graph.capture(t) for t in captured]]
        with body_graph.as_default():
            outputs += [array_ops.identity(p, name="identity") for p in body_inputs[len(
                body_args):]]
        cond_graph.inputs, body_graph.inputs = cond_inputs, body_inputs
        cond_graph.outputs, body_graph.outputs = [pred], outputs
        cond_fn = function_lib.add_function(graph, function_lib.Function(
            cond_graph.name, cond_graph, cond_inputs, [pred]))
        body_fn = function_lib.add_function(graph, function_lib.Function(
            body_graph.name, body_graph, body_inputs, outputs))
        all_inputs = [*entering, *captured]
        op = make_op("While", all_inputs, {
            "T": [t._dtype for t in all_inputs],
            "cond": function_lib.func_attr(cond_fn.name),
            "body": function_lib.func_attr(body_fn.name),
            "output_shapes": [*shapes, *[t._shape for t in captured]],
            "parallel_iterations": int(parallel_iterations or 10)}, name=scope_name + "/")
        op._loop_var_names = [None, None, *[t.name for t in flat_in],
                              *[t.name for t in captured]]
        results = list(op._outputs[2:2 + len(flat_in)])
        if not back_prop:
            results = [array_ops.stop_gradient(t) for t in results]
    array = _tensor_array_class()
    # TensorArrays come out as the body returned them (with what it learned of their shape).
    templates = [r if isinstance(r, array) and isinstance(t, array) else t
                 for t, r in zip(templates, returned)]
    packed = _pack(structure, _with_arrays(templates, results))
    if single:
        return packed
    if not return_same_structure and isinstance(packed, (list, tuple)) and len(packed) == 1:
        return packed[0]
    return packed


def _flatten_like(structure, shapes) -> list:
    """The shapes of `shapes`, a structure like `structure` (loop_vars) with a shape where it
    has a tensor, in the order of `_flatten(structure)`."""
    if isinstance(structure, dict):
        if not isinstance(shapes, dict) or set(shapes) != set(structure):
            raise ValueError("shape_invariants must have the structure of loop_vars")
        return [s for k in sorted(structure) for s in _flatten_like(structure[k], shapes[k])]
    if isinstance(structure, (list, tuple)):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != len(structure):
            raise ValueError(f"shape_invariants must have the structure of loop_vars: "
                             f"{shapes!r} for {len(structure)} loop variables")
        return [s for item, sh in zip(structure, shapes) for s in _flatten_like(item, sh)]
    return [shapes]


# --------------------------------------------------------------------------------------------
# The gradient of While
# --------------------------------------------------------------------------------------------
#
# As TensorFlow 2 does it: the gradient is another While that runs the body's gradient once per
# forward iteration, last iteration first. What the body's gradient needs of the forward values
# of an iteration (an op's inputs, a loop variable's value) the forward loop keeps, one value
# per iteration, as extra results of its body that the While stacks into TensorLists
# (`_stacked_outputs`); the gradient body reads item `iterations - 1 - i` in its iteration i.
# Loop-invariant values (the captures) and constants are read directly, never stacked.


def _differentiable(dtype) -> bool:
    return dtype is not None and (dtype.is_floating or dtype.is_complex
                                  or dtype == dtypes.variant)


def _passes_through(body: function_lib.Function, index: int) -> bool:
    """Whether the body returns loop variable `index` unchanged (a loop invariant)."""
    out, arg = body.outputs[index], body.inputs[index]
    while out is not arg and out._op._type == "Identity":
        out = out._op._inputs[0]
    return out is arg


def _root_of(graph):
    while graph._outer_graph is not None:
        graph._version += 1
        graph = graph._outer_graph
    return graph


def _stack_values(op: Operation, tensors: list[Tensor]) -> list[Tensor]:
    """The outputs of While `op` that stack `tensors` (of its body) over its iterations,
    adding them to the loop (a new body function that also returns them) where needed."""
    kept = list(getattr(op, "_stacked", []))
    new = [t for t in tensors if t not in kept]
    if new:
        n = len(op._inputs)
        body = _function(op, "body")
        kept += new
        graph = op._graph
        fn = function_lib.Function(
            function_lib.unique_function_name(graph, body.name.split("_stacked")[0]
                                              + "_stacked"),
            body.graph, body.inputs, [*body.outputs[:n], *kept],
            arg_names=body.arg_names,
            ret_names=[*body.ret_names[:n], *[f"stacked_{i}" for i in range(len(kept))]])
        fn.stacked = len(kept)
        function_lib.add_function(graph, fn)
        op._set_attr("body", function_lib.func_attr(fn.name))
        op._set_attr("_stacked_outputs", len(kept))
        op._outputs = (*op._outputs, *[Tensor(op, len(op._outputs) + i, dtypes.variant,
                                              TensorShape([])) for i in range(len(new))])
        op._stacked = kept
        op._graph._version += 1
        _root_of(op._graph)._version += 1
    n = len(op._inputs)
    return [op._outputs[n + kept.index(t)] for t in tensors]


def _while_grad(op, *grads):
    from tensorslow.ops import array_ops, list_ops, math_ops
    from tensorslow.ops.gradients import gradients

    body = _function(op, "body")
    n = len(op._inputs)
    if n < 2 or op._inputs[0]._dtype != dtypes.int32 or op._inputs[1]._dtype != dtypes.int32:
        raise LookupError(f"No gradient for '{op.name}' (While): its first two loop variables "
                          "must be the loop counter and the maximum iterations, as "
                          "tf.while_loop writes them")
    # A loop variable no x reaches that the body passes through unchanged (an input sequence,
    # say) carries no gradient another variable needs: its gradient loop var is left out.
    # One that changes must stay: the gradients of the others flow back through it.
    skip = {i for i in getattr(op, "_skip_input_indices", ()) if _passes_through(body, i)}
    diff = [i for i in range(2, n) if _differentiable(op._inputs[i]._dtype) and i not in skip]
    if not diff or all(grads[i] is None for i in diff):
        return [None] * n
    graph = get_default_graph()
    base = body.name.split("_stacked")[0]
    grad_body = function_lib.FuncGraph(function_lib.unique_function_name(
        graph, f"{base}_grad_body"), graph)
    counter = grad_body.add_input(dtypes.int32, [], "counter")
    total = grad_body.add_input(dtypes.int32, [], "iterations")
    incoming = [grad_body.add_input(op._outputs[i]._dtype, op._outputs[i]._shape, f"grad_{i}")
                for i in diff]
    forward_args = {t: i for i, t in enumerate(body.inputs)}
    dead_in_body: list = []

    def conditional() -> set:
        if not dead_in_body:
            from tensorslow.client.executor import conditional_ops

            dead_in_body.append(conditional_ops(body.graph._ops))
        return dead_in_body[0]
    stacked: list[Tensor] = []        # forward values the gradient reads, in order
    stacked_args: list[Tensor] = []   # their TensorLists, arguments of the gradient body

    with grad_body.as_default():
        position = math_ops.subtract(math_ops.subtract(total, 1), counter, name="position")

        def forward_value(t: Tensor):
            # Called for a capture into this gradient body, also while a loop nested in it
            # builds its own gradient body: what it makes goes into this one.
            with grad_body.as_default():
                return forward_read(t)

        def forward_read(t: Tensor):
            if t._op._graph is not body.graph:
                return None
            if t._op._type == "Const":
                from tensorslow.ops import constant_op

                return constant_op.constant(t._op._attrs["value"], name="forward_const")
            index = forward_args.get(t)
            if index is not None and _passes_through(body, index):
                return grad_body.capture(op._inputs[index])
            if t._dtype is None:
                raise errors.BuildTypeError(None, t._op, f"The gradient of '{op.name}' needs "
                                            f"{t.name}, which has no dtype")
            stacked.append(t)
            arg = grad_body._placeholder(dtypes.variant, [], f"stacked_{len(stacked) - 1}")
            stacked_args.append(arg)
            with grad_body.control_dependencies(None):
                value = list_ops.tensor_list_get_item(arg, position, element_dtype=t._dtype,
                                                      element_shape=t._shape)
            value.set_shape(t._shape)
            if t._op in conditional():
                value._op._set_attr("_may_be_dead", True)  # kept from a cond branch
            return value

        grad_body.capture_hook = forward_value
        outgoing = gradients([body.outputs[i] for i in diff], [body.inputs[i] for i in diff],
                             grad_ys=incoming, name="body_grad")
        outgoing = [array_ops.zeros_like(g_in) if g is None else g
                    for g, g_in in zip(outgoing, incoming)]
        grad_body.capture_hook = None
        captured = grad_body.captures
        outputs = [math_ops.add(counter, 1), total, *outgoing, *stacked_args,
                   *[inner for _, inner in captured]]
        outputs = [array_ops.identity(t, name="identity") for t in outputs]
    inputs = [counter, total, *incoming, *stacked_args, *[inner for _, inner in captured]]
    grad_body.inputs, grad_body.outputs = inputs, outputs

    grad_cond = function_lib.FuncGraph(function_lib.unique_function_name(
        graph, f"{base}_grad_cond"), graph)
    cond_inputs = [grad_cond.add_input(t._dtype, t._shape, t._op._name) for t in inputs]
    with grad_cond.as_default():
        go = array_ops.identity(math_ops.less(cond_inputs[0], cond_inputs[1]), name="identity")
    grad_cond.outputs = [go]
    cond_fn = function_lib.add_function(graph, function_lib.Function(
        grad_cond.name, grad_cond, cond_inputs, [go]))
    body_fn = function_lib.add_function(graph, function_lib.Function(
        grad_body.name, grad_body, inputs, outputs))

    from tensorslow.ops import constant_op

    start = [constant_op.constant(0, dtypes.int32, name="grad_counter"), op._outputs[0],
             *[grads[i] if grads[i] is not None else array_ops.zeros_like(op._outputs[i])
               for i in diff],
             *_stack_values(op, stacked), *[source for source, _ in captured]]
    grad_op = make_op("While", start, {
        "T": [t._dtype for t in start],
        "cond": function_lib.func_attr(cond_fn.name),
        "body": function_lib.func_attr(body_fn.name),
        "output_shapes": [t._shape for t in inputs],
        "parallel_iterations": op._attrs.get("parallel_iterations", 10)}, name="while_grad")
    result = [None] * n
    for k, i in enumerate(diff):
        result[i] = grad_op._outputs[2 + k]
    return result


_while_grad.accepts_none = True  # unconnected outputs get None, not zeros
RegisterGradient("While")(_while_grad)
RegisterGradient("StatelessWhile")(_while_grad)


__all__ = ["while_loop", "partitioned_call", "truthy"]
