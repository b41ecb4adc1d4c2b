"""The in-process executor: a graph pruned to what the fetches need, compiled to a flat plan.

A `Plan` is built once per (fetches, feed keys) and then run many times. Building it:

1. Walk back from the fetched tensors and target ops (an explicit stack, never recursion) and
   stop at fed tensors, so only the needed ops remain and a fed tensor's producer never runs.
2. Order them by creation index, which is a topological order because an op's inputs and
   control inputs always exist before the op.
3. Give every tensor a slot in one flat list and turn every op into one small closure that reads
   its input slots, calls the op's kernel, and writes its output slots.

Running is then a loop over closures. Values of shared subgraphs are computed once (each op
runs once per step). Kernels never write into their inputs; a large value is dropped after
the step that reads it last, and an elementwise op may write its result into an input that
dies at its step when nothing else can see that input (tensorslow.client.forwarding).

Variables are read where they are used: a variable's value is loaded into its slot right before
each op that consumes it, so an op ordered after an assignment (by a control dependency) sees
the new value, as TF1's reference variables do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from tensorslow.client import forwarding
from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import Graph, Operation, Tensor


class _Dead:
    """The value of a tensor in a cond branch that was not taken (see `conditional_ops`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<dead>"

    def __reduce__(self):
        return "DEAD"  # unpickles (e.g. across Ray workers) as this module's one DEAD


DEAD = _Dead()


class KernelContext:
    """What kernels may reach beyond their inputs: the session's state.

    variables: name -> ndarray (read-only arrays; assignment replaces them, never mutates).
    """

    def __init__(self, session):
        self.session = session
        self.variables: dict[str, np.ndarray] = {}
        self.rngs: dict[str, np.random.Generator] = {}
        self.resources: dict[str, object] = {}

    def rng(self, op: Operation, seed: int | None, seed2: int | None) -> np.random.Generator:
        """The generator of one random op: reproducible from its seeds, kept across steps."""
        gen = self.rngs.get(op.name)
        if gen is None:
            if seed is None and seed2 is None:
                gen = np.random.default_rng()
            else:
                gen = np.random.default_rng([seed or 0, seed2 or 0])
            self.rngs[op.name] = gen
        return gen

    def read_variable(self, op: Operation) -> np.ndarray:
        try:
            return self.variables[op.name]
        except KeyError:
            return self.session._initialize_on_first_read(op)

    def assign_variable(self, name: str, value, fresh: bool = False) -> np.ndarray:
        """Stores `value` as the variable's new (read-only) value. A kernel passes fresh=True
        for an array it has just made and shares with nothing; others are copied."""
        if not (type(value) is np.ndarray and (fresh or _immutable(value))):
            value = np.array(value)  # a private copy the variable owns
        value.flags.writeable = False
        self.variables[name] = value
        return value


def _immutable(value: np.ndarray) -> bool:
    """True when nothing can change `value`'s data: it and every array it views are
    read-only, over a bytes object (np.frombuffer of bytes read from a file)."""
    base = value
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return type(base) is bytes


def ref_variable_op(op: Operation, index: int) -> Operation:
    """The variable op an input of a stateful op names (through Identity/RefIdentity links)."""
    src = op._inputs[index]._op
    while src._type in ("Identity", "RefIdentity") and src._inputs:
        if src._inputs[0]._op._type in ("VariableV2", "Variable"):
            src = src._inputs[0]._op
            break
        src = src._inputs[0]._op
    if src._type not in ("VariableV2", "Variable"):
        raise errors.InvalidArgumentError(
            None, op, f"Input {index} of '{op.name}' ({op.type}) must be a variable, but it is "
            f"'{src.name}' ({src.type}).")
    return src


# --------------------------------------------------------------------------------------------
# Feeds
# --------------------------------------------------------------------------------------------


def feed_converter(t: Tensor) -> Callable:
    """A function that turns a fed value into the array the tensor expects, or raises
    InvalidFeedError naming the tensor (checked before any kernel runs)."""
    want = t._dtype
    np_dtype = None if want is None else np.dtype(want.as_numpy_dtype)
    dims = t._shape.as_tuple()
    name = t.name

    def check_shape(arr):
        if arr.ndim != len(dims) or any(d is not None and d != s for d, s in zip(dims, arr.shape)):
            raise errors.InvalidFeedError(
                None, t._op, f"Cannot feed value of shape {arr.shape} for Tensor '{name}', "
                f"which has shape {t._shape}")

    def convert(value):
        if type(value) is np.ndarray and (np_dtype is None or value.dtype == np_dtype):
            arr = value
        elif isinstance(value, (Tensor, Operation)):
            raise errors.InvalidFeedError(
                None, t._op, f"The value of a feed cannot be a ts.Tensor object ({value!r}); "
                f"feed numpy arrays, lists or numbers for '{name}'.")
        else:
            try:
                arr = np.asarray(value)
            except (ValueError, TypeError) as e:
                raise errors.InvalidFeedError(None, t._op, f"Cannot convert the value fed for "
                                              f"'{name}' to an array: {e}") from None
            if arr.dtype.kind in "US":
                arr = arr.astype(object)
            if np_dtype is not None and arr.dtype != np_dtype:
                if arr.dtype.kind == "O" and np_dtype.kind != "O" or (
                        arr.dtype.kind != "O" and np_dtype.kind == "O") or not (
                        np.can_cast(arr.dtype, np_dtype, "same_kind")):
                    raise errors.InvalidFeedError(
                        None, t._op, f"Cannot feed a value of dtype {arr.dtype} for Tensor "
                        f"'{name}', which has dtype {want.name}")
                arr = arr.astype(np_dtype)
        if dims is not None:
            check_shape(arr)
        return arr

    return convert


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


def _make_step(fn: Callable, ins: tuple, outs: tuple, frees: tuple = ()) -> Callable:
    """One closure per op, specialized on arity so the hot loop does the least work; it
    empties the slots in `frees` after the op (see tensorslow.client.forwarding)."""
    if frees:
        return _freeing(_make_step(fn, ins, outs), frees)
    if len(outs) == 1:
        (o,) = outs
        if not ins:
            def step(v):
                v[o] = fn()
        elif len(ins) == 1:
            (a,) = ins

            def step(v):
                v[o] = fn(v[a])
        elif len(ins) == 2:
            a, b = ins

            def step(v):
                v[o] = fn(v[a], v[b])
        else:
            def step(v):
                v[o] = fn(*[v[i] for i in ins])
    elif not outs:
        def step(v):
            fn(*[v[i] for i in ins])
    else:
        def step(v):
            for o, value in zip(outs, fn(*[v[i] for i in ins])):
                v[o] = value
    return step


def _freeing(step: Callable, frees: tuple) -> Callable:
    """`step`, then the slots in `frees` emptied."""
    if len(frees) == 1:
        (f,) = frees

        def freeing(v):
            step(v)
            v[f] = None
    else:
        def freeing(v):
            step(v)
            for f in frees:
                v[f] = None
    return freeing


class Plan:
    """A compiled, reusable step: feed converters, op closures, and where the fetches are.

    `initial_values` is the slot list a run starts from: constants (and whatever was folded
    from them when the plan was built) are already in place. `elided_ops` ran once, when the
    plan was built (folded), or need no step at all (an Identity shares its input's slot, a
    NoOp only orders); traces report them with no duration.
    """

    __slots__ = ("graph_version", "num_slots", "feed_slots", "steps", "step_ops", "fetch_slots",
                 "step_inputs", "step_outputs", "initial_values", "elided_ops", "fetch_ops",
                 "arg_slots", "result_slots")

    def __init__(self, graph_version, num_slots, feed_slots, steps, step_ops, fetch_slots,
                 step_inputs, initial_values=None, elided_ops=(), fetch_ops=None,
                 step_outputs=None):
        self.graph_version = graph_version
        self.num_slots = num_slots
        self.feed_slots = feed_slots      # [(slot, converter)] in feed-key order
        self.steps = steps                # [closure(values)]
        self.step_ops = step_ops          # the Operation behind each step (errors, traces)
        self.fetch_slots = fetch_slots    # [slot or None] per flat fetch (None: an op target)
        self.step_inputs = step_inputs    # [input slots] per step (traces)
        self.step_outputs = step_outputs or [()] * len(steps)  # [output slots] per step
        self.initial_values = initial_values or [None] * num_slots
        self.elided_ops = list(elided_ops)
        # With cond branches: the op behind each fetch, to name a fetch whose branch was not
        # taken (None: the plan has no Switch, no value can be dead).
        self.fetch_ops = fetch_ops
        self.arg_slots = [slot for slot, _ in feed_slots]
        self.result_slots = [slot for slot in fetch_slots if slot is not None]

    def run(self, feed_values: Sequence) -> list:
        values = self.initial_values.copy()
        for (slot, convert), value in zip(self.feed_slots, feed_values):
            values[slot] = convert(value)
        index = 0
        try:
            for index, step in enumerate(self.steps):  # noqa: B007 - index names the culprit
                step(values)
        except Exception as e:  # noqa: BLE001 - rewrapped with the op that failed
            raise kernel_error(self.step_ops[index], e) from e
        out = [None if s is None else values[s] for s in self.fetch_slots]
        if self.fetch_ops is not None:
            self._check_live(out)
        return out

    def call(self, args: Sequence) -> list:
        """As run(), for a function body: the arguments are values ops computed (of the
        types the body was built for), so they are not converted or checked as feeds are."""
        values = self.initial_values.copy()
        for slot, value in zip(self.arg_slots, args):
            values[slot] = value
        index = 0
        try:
            for index, step in enumerate(self.steps):  # noqa: B007 - index names the culprit
                step(values)
        except Exception as e:  # noqa: BLE001 - rewrapped with the op that failed
            raise kernel_error(self.step_ops[index], e) from e
        out = [values[s] for s in self.result_slots]
        if self.fetch_ops is not None:
            self._check_live(out)
        return out

    def _check_live(self, out: list) -> None:
        for i, value in enumerate(out):
            if value is DEAD and self.fetch_ops[i] is not None:
                raise dead_fetch_error(i, self.fetch_ops[i])

    def run_traced(self, feed_values: Sequence, clock=time.perf_counter) -> tuple[list, list]:
        """As run(), also returning [(op, start_seconds, end_seconds)] per op."""
        values = self.initial_values.copy()
        for (slot, convert), value in zip(self.feed_slots, feed_values):
            values[slot] = convert(value)
        begin = clock()
        stats = [(op, begin, begin) for op in self.elided_ops]
        index = 0
        try:
            for index, step in enumerate(self.steps):
                start = clock()
                step(values)
                stats.append((self.step_ops[index], start, clock()))
        except Exception as e:  # noqa: BLE001
            raise kernel_error(self.step_ops[index], e) from e
        out = [None if s is None else values[s] for s in self.fetch_slots]
        if self.fetch_ops is not None:
            self._check_live(out)
        return out, stats


def dead_fetch_error(index: int, op: Operation) -> errors.OpError:
    return errors.InvalidArgumentError(
        None, op, f"Retval[{index}] does not have value: '{op.name}' is in a cond branch that "
        "this run did not take")


def kernel_error(op: Operation, e: BaseException) -> errors.OpError:
    """An exception raised by a kernel, as the matching OpError naming the node."""
    if isinstance(e, errors.OpError):
        if e.op is None:
            e.op = op
        if op.name not in e.message:
            e.message = f"{e.message}\n\t [[node {op.name} (op type {op.type})]]"
            e.args = (e.message,)
        return e
    if isinstance(e, (ValueError, TypeError, IndexError, ArithmeticError)):
        cls = errors.InvalidArgumentError
    else:
        cls = errors.UnknownError
    return cls(None, op, f"{type(e).__name__}: {e}\n\t [[node {op.name} (op type {op.type})]]")


def prune(targets: Sequence[Operation], fed: set) -> list[Operation]:
    """The ops needed to compute `targets`, given the fed tensors, in execution order."""
    needed: set[Operation] = set()
    stack = list(targets)
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed.add(op)
        refs = op._info.ref_inputs
        for i, t in enumerate(op._inputs):
            if t in fed or i in refs:
                continue
            src = t._op
            if src not in needed:
                stack.append(src)
        for c in op._control_inputs:
            if c not in needed:
                stack.append(c)
    return sorted(needed, key=_creation_index)


def _creation_index(op: Operation) -> int:
    return op._id


_VARIABLE_OPS = ("VariableV2", "Variable")
# Ops whose value follows from their input's static shape (and dtype) alone.
_SHAPE_OPS = ("Shape", "Size", "Rank", "ZerosLike", "OnesLike")


def _static_shape_value(op: Operation):
    """The value of Shape/Size/Rank/ZerosLike/OnesLike of a tensor whose static shape (and
    dtype) is fully known, else None."""
    shape = op._inputs[0]._shape
    if not shape.is_fully_defined():
        return None
    dims = shape.as_list()
    if op._type in ("ZerosLike", "OnesLike"):
        dtype = op._inputs[0]._dtype
        if dtype is None or dtype in (dtypes.variant, dtypes.resource):
            return None
        fill = np.zeros if op._type == "ZerosLike" else np.ones
        return fill(dims, dtype=dtype.as_numpy_dtype)
    out_type = op._attrs.get("out_type")
    np_type = out_type.as_numpy_dtype if out_type is not None else np.int32
    if op._type == "Shape":
        return np.array(dims, dtype=np_type)
    if op._type == "Size":
        return np.array(int(np.prod(dims)), dtype=np_type)
    return np.array(len(dims), dtype=np.int32)


def _foldable(op: Operation) -> bool:
    """A pure op: no state, no randomness, nothing fed at run time."""
    info = op._info
    return not (info.stateful or info.ref_inputs or op._type in ("Placeholder", "NoOp")
                or type(op).compute is not None)


def compile_plan(graph: Graph, ctx: KernelContext, fetch_elements: Sequence,
                 feed_tensors: Sequence[Tensor]) -> Plan:
    """Builds the plan that fetches `fetch_elements` (Tensors or Operations) given feeds.

    Besides pruning and ordering, three things make the per-step loop short: ops whose inputs
    are all constant run once here and their values start in their slots (constant folding,
    including Shape/Size/Rank of statically known shapes); an Identity shares its input's slot
    instead of running; and NoOps, which only order other ops, take no step.
    """
    fed = set(feed_tensors)
    targets = []
    for e in fetch_elements:
        if isinstance(e, Tensor):
            if e not in fed:
                targets.append(e._op)
        else:
            targets.append(e)
    order = prune(targets, fed)

    slots: dict[Tensor, int] = {}
    extra_slots: list[int] = []  # slots of variable reads, one per consumer

    def slot_of(t: Tensor) -> int:
        s = slots.get(t)
        if s is None:
            s = slots[t] = len(slots) + len(extra_slots)
        return s

    feed_slots = [(slot_of(t), feed_converter(t)) for t in feed_tensors]
    conditional = conditional_ops(order, fed)
    live_slots: dict[Operation, int] = {}  # conditional op -> slot of its liveness
    constants: dict[int, object] = {}
    steps, step_ops, step_inputs, step_outputs, elided = [], [], [], [], []
    kernels = []  # per step: the op's kernel when the step is _make_step's, else None

    def add_step(step, op, ins: tuple, outs: tuple, kernel=None) -> None:
        steps.append(step)
        step_ops.append(op)
        step_inputs.append(ins)
        step_outputs.append(outs)
        kernels.append(kernel)

    fetched_variables = []
    fetched_ops = {e for e in fetch_elements if isinstance(e, Operation)}
    for op in order:
        if op._type in _VARIABLE_OPS:
            # Loaded on use (below); when fetched, it is read after every other step.
            if any(e is op or (isinstance(e, Tensor) and e._op is op) for e in fetch_elements):
                fetched_variables.append(op)
            continue
        if op._type == "NoOp" and op not in conditional:
            elided.append(op)
            continue
        refs = op._info.ref_inputs
        ins = []
        for i, t in enumerate(op._inputs):
            if i in refs:
                continue
            if t._op._type in _VARIABLE_OPS and t not in fed:
                # Each read gets a slot of its own: a later read (after an assignment) must
                # not overwrite the value an earlier consumer saw.
                s = len(slots) + len(extra_slots)
                extra_slots.append(s)
                add_step(_make_step(_variable_reader(ctx, t._op), (), (s,)), t._op, (), (s,))
            else:
                s = slot_of(t)
            ins.append(s)
        if op in conditional:
            live = live_slots[op] = len(slots) + len(extra_slots)
            extra_slots.append(live)
            outs = tuple(slot_of(t) for t in op._outputs)
            controls = tuple(live_slots[c] for c in op._control_inputs if c in live_slots)
            fn = None if op._type in ("Merge", "NoOp") else _build_kernel(op, ctx)
            add_step(_conditional_step(op._type, fn, tuple(ins), outs, controls, live), op,
                     tuple(ins), outs)
            continue
        if (op._type == "Identity" and len(ins) == 1 and op not in fetched_ops
                and op._outputs[0] not in fed and op._outputs[0] not in slots):
            slots[op._outputs[0]] = ins[0]  # the same value under another name
            elided.append(op)
            continue
        fn = _build_kernel(op, ctx)
        outs = tuple(slot_of(t) for t in op._outputs)
        if _foldable(op) and (op._type in _SHAPE_OPS or all(s in constants for s in ins)):
            folded = _fold(op, fn, ins, constants)
            if folded is not None:
                constants.update(zip(outs, folded))
                elided.append(op)
                continue
        add_step(_make_step(fn, tuple(ins), outs), op, tuple(ins), outs, fn)
    for op in fetched_variables:
        s = slot_of(op._outputs[0])
        add_step(_make_step(_variable_reader(ctx, op), (), (s,)), op, (), (s,))
    fetch_slots = [slot_of(e) if isinstance(e, Tensor) else None for e in fetch_elements]
    kept = {*fetch_slots, *(slot for slot, _ in feed_slots), *constants, *live_slots.values()}
    candidates = {slot for t, slot in slots.items() if forwarding.worth_freeing(t)}
    _free_dying_values(steps, step_ops, step_inputs, step_outputs, kernels, kept, candidates)
    num_slots = len(slots) + len(extra_slots)
    initial = [None] * num_slots
    for s, value in constants.items():
        if type(value) is np.ndarray and value.ndim == 0 and value.dtype.kind in "biuf":
            value = value[()]  # a numpy scalar: arithmetic on two of them skips the ufunc
        initial[s] = value
    fetch_ops = None
    if conditional:
        fetch_ops = [e._op if isinstance(e, Tensor) else e for e in fetch_elements]
    return Plan(graph.version, num_slots, feed_slots, steps, step_ops, fetch_slots,
                step_inputs, initial, elided, fetch_ops, step_outputs)


def _free_dying_values(steps, step_ops, step_inputs, step_outputs, kernels, kept: set,
                       candidates: set) -> None:
    """Rebuilds the steps after which a value dies so that they empty its slot, and those of
    elementwise ops whose input dies there so that they may write into it (see
    tensorslow.client.forwarding)."""
    dying = forwarding.dying_slots(step_inputs, step_outputs, kept, candidates)
    for index, frees in enumerate(dying):
        if not frees:
            continue
        kernel, ins, outs = kernels[index], step_inputs[index], step_outputs[index]
        if kernel is None:
            steps[index] = _freeing(steps[index], frees)
            continue
        in_place = forwarding.in_place_kernel(step_ops[index], kernel, ins, frees)
        if in_place is not None and len(ins) == 1:
            steps[index] = forwarding.unary_step(kernel, in_place[1], ins[0], outs[0], frees)
        elif in_place is not None and len(ins) == 2:
            steps[index] = forwarding.binary_step(kernel, in_place[1], ins, in_place[0],
                                                  outs[0], frees)
        else:
            steps[index] = _make_step(kernel, ins, outs, frees)


def conditional_ops(order: Sequence[Operation], fed=()) -> set[Operation]:
    """The ops of `order` whose inputs may be dead: Switch ops and everything after one along
    data or control edges. Only their steps check for DEAD values (a plan without a Switch
    pays nothing), and they are never folded or elided.

    A Switch forwards its input to the output its predicate selects and makes the other
    DEAD; an op with a dead input or a dead control input does not run and its outputs are
    DEAD; a Merge outputs its first live input (and its index), and is dead only when all its
    inputs are. That is how a cond runs only the branch its predicate takes. Across Ray tasks
    a dead value travels as DEAD (a stage's outputs are not checked, worker/actor.py), and a
    `_Recv` the partitioner marked `may_be_dead` starts the same checks on the receiving side.
    """
    conditional: set[Operation] = set()
    # Fed tensors that may be dead: those of _Recvs the partitioner marked (a stage's feeds).
    dead_feeds = {t for t in fed if t._op._type == "_Recv" and t._op._attrs.get("may_be_dead")}
    for op in order:
        if (op._type == "Switch" or "_may_be_dead" in op._attrs
                or any(t._op in conditional or t in dead_feeds for t in op._inputs)
                or any(c in conditional for c in op._control_inputs)):
            conditional.add(op)
    return conditional


def _conditional_step(op_type: str, fn: Callable | None, ins: tuple, outs: tuple,
                      controls: tuple, live: int) -> Callable:
    """The step of an op that may see DEAD inputs: see `conditional_ops`."""
    run = _make_step(fn, ins, outs) if fn is not None else None
    merge = op_type == "Merge"

    def step(v):
        dead = any(v[s] is DEAD for s in controls)
        if not dead:
            if merge:
                for index, s in enumerate(ins):
                    if v[s] is not DEAD:
                        v[outs[0]] = v[s]
                        v[outs[1]] = np.int32(index)
                        v[live] = True
                        return
                dead = True
            else:
                dead = any(v[s] is DEAD for s in ins)
        if dead:
            for o in outs:
                v[o] = DEAD
            v[live] = DEAD
            return
        if run is not None:
            run(v)
        v[live] = True
    return step


def _build_kernel(op: Operation, ctx: KernelContext) -> Callable:
    try:
        return op._info.kernel(op, ctx)
    except errors.OpError as e:
        if e.op is None:
            e.op = op
        raise
    except (TypeError, ValueError, KeyError) as e:
        raise errors.InvalidArgumentError(
            None, op, f"Cannot build the kernel of '{op.name}' (op type {op.type}): {e}"
        ) from e


def _fold(op: Operation, fn: Callable, ins: list, constants: dict):
    """The op's outputs computed now from constant inputs, or None to leave it a step (a
    failure then surfaces at run time, as an error of that step)."""
    if op._type in _SHAPE_OPS:
        value = _static_shape_value(op)
        return None if value is None else (value,)
    try:
        result = fn(*[constants[s] for s in ins])
    except Exception:  # noqa: BLE001 - the step will raise it, named, when it runs
        return None
    results = (result,) if len(op._outputs) == 1 else tuple(result)
    for r in results:
        if isinstance(r, np.ndarray):
            r.flags.writeable = False  # shared by every run of the plan
    return results


def function_plan(fn, ctx: KernelContext) -> Plan:
    """The plan of a library function's body: it computes the results from the arguments and
    runs the control outputs, and the side-effect ops no result needs (as TensorFlow keeps
    stateful ops when it prunes a function). `plan.call(args)` returns the results."""
    inputs = {t._op for t in fn.inputs}
    targets = list(fn.control_outputs)
    for op in fn.graph._ops:
        if op._info.stateful and not op._outputs and op not in inputs and op not in targets:
            targets.append(op)
    plan = compile_plan(fn.graph, ctx, [*fn.outputs, *targets], fn.inputs)
    if fn.stacked and plan.fetch_ops is not None:
        # A loop body's values kept for the gradient may be dead (a cond branch not taken):
        # the gradient's matching branch does not run either.
        n = len(fn.outputs)
        plan.fetch_ops[n - fn.stacked:n] = [None] * fn.stacked
    return plan


def _variable_reader(ctx: KernelContext, op: Operation) -> Callable:
    variables = ctx.variables
    name = op.name
    read = ctx.read_variable

    def read_variable():
        try:
            return variables[name]
        except KeyError:
            return read(op)

    return read_variable
