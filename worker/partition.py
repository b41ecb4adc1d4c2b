"""Partitioning: one subgraph per task for a given (fetches, feeds), split into stages.

As in TensorFlow, every node has a task (worker.placer); a data edge between two tasks is cut:
the producing side gets a `_Send` of the tensor, the consuming side a `_Recv` whose output
replaces the edge, consumers in one subgraph sharing it. A control edge between two tasks
becomes a tiny dummy tensor (a Const that waits for the source node) sent across, feeding an
Identity that the destination waits for. Feeds enter as `_Recv`s in the subgraphs that consume
them; fetches leave through `_Send`s of the subgraphs that produce them. User nodes keep their
names; helper nodes are named `_send/...`, `_recv/...`, `_carry/...`, `_ctrl/...`.

On Ray a stage's `_Send`s are return values of an actor call, which become ObjectRefs, and a
`_Recv` is an argument of a later call, to which the driver passes that ObjectRef; Ray resolves
it before the call runs, and the tensor moves from actor to actor. One `_Send` per source tensor
is enough: its ObjectRef is handed to every destination (one Recv per tensor and destination).
Sends of one stage that go to the same destinations travel together as one PACKET (a tuple,
one ObjectRef): Ray's cost per object dominates for small and mid-sized tensors, so a ps stage
sending twenty variables to a worker sends one object, not twenty.

Stages, and why a step cannot deadlock
--------------------------------------
An actor runs one call at a time. If task A's subgraph were one call, a step A -> B -> A (A
computes x, B computes y from x, A computes z from y) could not run: A's call would need y
before returning x. So each task's part is split into STAGES, each one call:

    level(n) = max over the inputs m of n (data and control) of
                 level(m)       when m runs on the same task,
                 level(m) + 1   when m runs on another task (its value arrives by a Recv),
               0 for a node without inputs (feeds are available from the start).

A stage is the set of nodes of one task with one level. Every cross-task edge goes from a lower
level to a strictly higher one, and same-task edges never go down, so ordering the calls by
(level, task) is a topological order of the calls. The driver submits all calls of a step at
once in that order. Ray runs the calls one caller submits to one actor in submission order,
and a call starts once its ObjectRef arguments exist. By induction over that order, every call
runs: its arguments come from calls submitted before it (which run, by induction), and the
calls queued before it on its actor were submitted before it too. So no step waits on itself.
Values a stage needs from an earlier stage of its own task are kept in the actor between the
two calls ("carried"); variables are never carried: each stage reads them when it uses them,
as the in-process executor does.

To keep calls few, a node that costs nothing to run late (a constant, a variable, a read of a
variable, a NoOp) then sinks to the latest level its task already has that is still below
every consumer (at or below, for consumers on its own task): it joins the stage that uses it
instead of making one of its own. Other nodes stay at their level: a stage's call starts once
all its inputs have arrived, so work sunk into a later stage would wait for values it does not
need, and two tasks' independent work (two replicas' gradients) would run one after the
other instead of at once. A fetched variable is read in its task's last stage, after the
step's updates, as the in-process session reads it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from tensorslow.client.executor import conditional_ops, prune, ref_variable_op
from tensorslow.framework import errors
from tensorslow.framework.graph_io import attr_to_proto, node_def_of
from tensorslow.framework.ops import (
    Graph,
    Operation,
    Tensor,
    get_op_info,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape
from worker.placer import Placement, Task

# --------------------------------------------------------------------------------------------
# The helper ops
# --------------------------------------------------------------------------------------------


def _recv_infer(op):
    return [(op._attrs.get("dtype"), op._attrs.get("shape") or TensorShape(None))]


def _recv_kernel(op, ctx):
    def unfed():
        raise errors.InternalError(None, op, f"'{op.name}' ran without its value: a _Recv is "
                                   "always fed by the step that runs it")
    return unfed


def _send_kernel(op, ctx):
    return lambda value: value


# A `_Recv` is fed with the value that crossed; a `_Send` passes its input through, and the
# stage returns its output (TensorFlow's `_Send` has no output: its runtime sends the input).
register_op("_Recv", infer=_recv_infer, kernel=_recv_kernel,
            attrs={"dtype": ("type", None), "shape": ("shape", None),
                   "tensor_name": ("string", ""), "send_device": ("string", ""),
                   "recv_device": ("string", ""), "may_be_dead": ("bool", False)})
register_op("_Send", infer=lambda op: [(op._inputs[0]._dtype, op._inputs[0]._shape)],
            kernel=_send_kernel,
            attrs={"T": ("type", None), "tensor_name": ("string", ""),
                   "send_device": ("string", "")})

_VARIABLE_OPS = ("VariableV2", "Variable")
# Ops whose variable input is written without being read first.
_WRITE_ONLY_OPS = ("Assign", "IsVariableInitialized")


def _is_variable(op: Operation) -> bool:
    return op._type in _VARIABLE_OPS


def _free_to_sink(op: Operation) -> bool:
    """Whether running `op` in a later stage than its level costs nothing: it has no data
    inputs (constants, variables, NoOps), or it only reads a variable."""
    refs = op._info.ref_inputs
    inputs = [t for i, t in enumerate(op._inputs) if i not in refs]
    if not inputs:
        return True
    return op._type == "Identity" and _is_variable(inputs[0]._op)


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One call of one task per step: its subgraph and how its values flow.

    Slots number the values of a step on the driver: feeds first (slot i is feed i), then one
    per packet a stage returns. `inputs[i]` = (slot, entry) says where `feed_names[i]` comes
    from: a feed (entry None) or entry `entry` of a packet. The stage returns `packets` (lists
    of tensor names) into `packet_slots`; a stage that returns none returns None into
    `status_slot`, so the driver can wait for it.
    """

    task: Task
    level: int
    graph_def: object
    feed_names: list[str] = field(default_factory=list)
    inputs: list[tuple[int, int | None]] = field(default_factory=list)
    packets: list[list[str]] = field(default_factory=list)
    packet_slots: list[int] = field(default_factory=list)
    carry_in: list[tuple[str, str]] = field(default_factory=list)
    carry_out: list[tuple[str, str]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    ends_task: bool = False
    modules: list[str] = field(default_factory=list)
    status_slot: int | None = None

    @property
    def key(self) -> tuple[int, Task]:
        return (self.level, self.task)

    @property
    def arg_slots(self) -> list[int]:
        """The call's arguments: each feed or packet the stage reads, once."""
        return list(dict.fromkeys(slot for slot, _ in self.inputs))

    @property
    def spec(self) -> list[tuple[int, int | None]]:
        """Per feed name: (argument index, entry in that packet or None for a feed)."""
        position = {slot: i for i, slot in enumerate(self.arg_slots)}
        return [(position[slot], entry) for slot, entry in self.inputs]

    def registration(self) -> dict:
        """What the actor needs to register this stage (plain strings and bytes only)."""
        return {"graph_def": self.graph_def.SerializeToString(),
                "feed_names": list(self.feed_names), "spec": self.spec,
                "packets": [list(p) for p in self.packets],
                "carry_in": list(self.carry_in), "carry_out": list(self.carry_out),
                "targets": list(self.targets), "ends_task": self.ends_task,
                "modules": list(self.modules)}


@dataclass
class Partition:
    stages: list[Stage]                      # in submission order: by (level, task)
    num_slots: int
    feed_tensors: list[Tensor]
    fetch_sources: list                      # per fetch element: None (an op target),
                                             # ("feed", i) or (packet slot, entry)
    driver_slots: list[int]                  # packets that come back to the driver
    largest_transfer: float                  # bytes of the largest packet (or feed) that
                                             # moves between processes (static shapes; inf
                                             # when unknown)
    task_graphs: dict[Task, object]          # one GraphDef per task (for run_metadata)
    variable_reads: dict[Task, list[str]]    # variables the step reads, by owning task
    fetch_ops: list = field(default_factory=list)  # the op behind each fetch (errors)

    @property
    def tasks(self) -> list[Task]:
        return sorted({s.task for s in self.stages})


# --------------------------------------------------------------------------------------------
# Partitioning
# --------------------------------------------------------------------------------------------


def partition(graph: Graph, placement: Placement, fetch_elements, feed_tensors) -> Partition:
    """Splits the step that fetches `fetch_elements` given `feed_tensors` into stages."""
    feed_tensors = list(feed_tensors)
    fed = {t: i for i, t in enumerate(feed_tensors)}
    targets = []
    for e in fetch_elements:
        if isinstance(e, Tensor):
            if e not in fed:
                targets.append(e._op)
        else:
            targets.append(e)
    order = prune(targets, set(fed))
    for op in order:
        if get_op_info(op._type) is not op._info:
            raise errors.UnimplementedError(
                None, op, f"'{op.name}' is a Python op ({op._type}) defined in the driver: "
                "Ray workers run registered op types only (ts.framework.ops.register_op in an "
                "importable module).")
    plan = _StepAnalysis(order, placement, fed, fetch_elements)
    return plan.build(graph, feed_tensors, fetch_elements)


class _StepAnalysis:
    """Levels, stages and the values that cross between them, for one step."""

    def __init__(self, order, placement: Placement, fed: dict, fetch_elements):
        self.order = order
        self.fed = fed
        self.task = {op: placement.task_of(op) for op in order}
        # producer -> [(consumer, tensor)] over data edges that carry a value, and
        # producer -> [consumer] over control edges
        self.data_consumers: dict[Operation, list] = {op: [] for op in order}
        self.control_consumers: dict[Operation, list] = {op: [] for op in order}
        for op in order:
            refs = op._info.ref_inputs
            for i, t in enumerate(op._inputs):
                if i not in refs and t not in fed:
                    self.data_consumers[t._op].append((op, t))
            for c in op._control_inputs:
                self.control_consumers[c].append(op)
        # Ops after a cond's Switch: their values may be dead, and a _Recv of one says so.
        self.conditional = conditional_ops(order)
        self.fetched_tensors = {e for e in fetch_elements
                                if isinstance(e, Tensor) and e not in fed}
        self.fetched_ops = {e._op if isinstance(e, Tensor) else e for e in fetch_elements
                            if not (isinstance(e, Tensor) and e in fed)}
        self._assign_levels()

    def consumers(self, op: Operation):
        yield from (c for c, _ in self.data_consumers[op])
        yield from self.control_consumers[op]

    def is_sent(self, op: Operation) -> bool:
        """A variable is a stage member only when its value leaves its task."""
        return any(self.task[c] != self.task[op] for c in self.consumers(op))

    def _assign_levels(self) -> None:
        task, level = self.task, {}
        for op in self.order:
            lvl = 0
            refs = op._info.ref_inputs
            producers = [t._op for i, t in enumerate(op._inputs)
                         if i not in refs and t not in self.fed]
            for p in producers + list(op._control_inputs):
                lvl = max(lvl, level[p] + (task[p] != task[op]))
            level[op] = lvl
        existing: dict[Task, set[int]] = {}
        for op in self.order:
            existing.setdefault(task[op], set()).add(level[op])
        options_of = {t: sorted(levels) for t, levels in existing.items()}
        for op in reversed(self.order):
            if not _free_to_sink(op):
                continue
            options = options_of[task[op]]
            bound = None
            for c in self.consumers(op):
                if task[c] == task[op]:
                    if _is_variable(op):
                        continue  # a variable is read where it is used, never carried
                    b = level[c]
                else:
                    b = level[c] - 1
                bound = b if bound is None else min(bound, b)
            if bound is None:
                bound = options[-1]
            level[op] = options[bisect.bisect_right(options, bound) - 1]
        self.level = level

    def stage_of(self, op: Operation) -> tuple[int, Task]:
        return (self.level[op], self.task[op])

    # -- stages --------------------------------------------------------------------------------
    def build(self, graph: Graph, feed_tensors, fetch_elements) -> Partition:
        task = self.task
        members: dict[tuple[int, Task], list[Operation]] = {}
        for op in self.order:
            if _is_variable(op) and not self.is_sent(op):
                continue
            members.setdefault(self.stage_of(op), []).append(op)
        last_level: dict[Task, int] = {}
        for lvl, t in members:
            last_level[t] = max(lvl, last_level.get(t, lvl))
        fetched_variables = []
        for op in self.order:
            if _is_variable(op) and op in self.fetched_ops:
                key = (last_level.setdefault(task[op], 0), task[op])
                members.setdefault(key, [])
                fetched_variables.append((key, op))
        keys = sorted(members)

        builders = {key: _StageBuilder(self, key, members[key]) for key in keys}
        for key in keys:  # what each stage receives, and from which stage
            builders[key].plan_inputs(builders)
        for key, op in fetched_variables:
            builders[key].sends.setdefault(op._outputs[0], set()).add(DRIVER)
        for key in keys:
            for t in self.fetched_tensors:
                if not _is_variable(t._op) and self.stage_of(t._op) == key:
                    builders[key].sends.setdefault(t, set()).add(DRIVER)
        slots = _Slots(len(feed_tensors))
        for key in keys:
            builders[key].allocate(slots)
        stages = [builders[key].finish(last_level, slots) for key in keys]

        fetch_sources = []
        for e in fetch_elements:
            if not isinstance(e, Tensor):
                fetch_sources.append(None)
            elif e in self.fed:
                fetch_sources.append(("feed", self.fed[e]))
            elif _is_variable(e._op):
                key = (last_level[task[e._op]], task[e._op])
                fetch_sources.append(builders[key].location[e])
            else:
                fetch_sources.append(builders[self.stage_of(e._op)].location[e])
        driver_slots = sorted({b.location[t][0] for b in builders.values()
                               for t, destinations in b.sends.items() if DRIVER in destinations})
        packets: dict = {}  # (builder, destinations) -> bytes
        for key, b in builders.items():
            for t, destinations in b.sends.items():
                where = (key, frozenset(destinations))
                packets[where] = packets.get(where, 0.0) + _static_bytes(t)
        moving = list(packets.values())
        moving += [_static_bytes(t) for t in feed_tensors
                   if any(t in b.recvs for b in builders.values())]
        largest = max(moving, default=0.0)
        return Partition(stages, slots.count, feed_tensors, fetch_sources, driver_slots,
                         largest, self._task_graphs(), self._variable_reads(),
                         [e._op if isinstance(e, Tensor) else e for e in fetch_elements])

    def _variable_reads(self) -> dict[Task, list[str]]:
        """Variables the step reads, by owning task: those the session initializes first when
        a worker lacks them (seed style). A variable whose initializer this step runs itself
        (global_variables_initializer, an initialized_value() read) is left to the step, so a
        random initial value is drawn once, as in-process."""
        from tensorslow.client.session import _initializer_of

        in_step = set(self.order)
        reads: dict[Task, set[str]] = {}
        for op in self.order:
            refs = op._info.ref_inputs
            for i, t in enumerate(op._inputs):
                if i in refs:
                    if op._type not in _WRITE_ONLY_OPS:
                        var = ref_variable_op(op, i)
                        reads.setdefault(self.task[op], set()).add(var.name)
                elif t not in self.fed and _is_variable(t._op):
                    reads.setdefault(self.task[t._op], set()).add(t._op.name)
            if _is_variable(op) and op in self.fetched_ops:
                reads.setdefault(self.task[op], set()).add(op.name)
        graph = self.order[0].graph if self.order else None
        initialized_here = {name for names in reads.values() for name in names
                            if _initializer_of(graph.get_operation_by_name(name)) in in_step}
        return {t: sorted(n for n in names if n not in initialized_here)
                for t, names in reads.items()}

    def _task_graphs(self) -> dict[Task, object]:
        """One GraphDef per task, every cut edge as a Send/Recv pair (what TF shows)."""
        by_task: dict[Task, list[Operation]] = {}
        for op in self.order:
            by_task.setdefault(self.task[op], []).append(op)
        return {t: _StageBuilder(self, None, ops, whole_task=t).task_graph()
                for t, ops in sorted(by_task.items())}


DRIVER = "driver"  # the destination of fetched tensors


class _Slots:
    def __init__(self, first: int):
        self.count = first

    def new(self) -> int:
        self.count += 1
        return self.count - 1


class _StageBuilder:
    """Builds the subgraph of one stage or, with `whole_task`, a task's whole partition graph
    (every same-task edge local; for run_metadata and pictures)."""

    def __init__(self, step: _StepAnalysis, key, ops, whole_task: Task | None = None):
        self.step = step
        self.key = key
        self.level, self.task = key if key is not None else (None, whole_task)
        self.ops = ops
        self.member_set = set(ops)
        self.sends: dict[Tensor, set] = {}              # tensor -> destination stages
        self.control_sends: dict[Operation, set] = {}   # op -> destination stages
        self.location: dict = {}      # tensor, or ("control", op) -> (packet slot, entry)
        self.packet_slots: list[int] = []
        self.carry_out: set[Tensor] = set()
        self.recvs: dict[Tensor, tuple] = {}   # tensor -> (kind, feed slot or source builder)
        self.control_recvs: dict[Operation, object] = {}       # op -> source builder

    def _is_local(self, op: Operation) -> bool:
        if self.key is None:
            return self.step.task[op] == self.task
        return op in self.member_set

    # -- planning ------------------------------------------------------------------------
    def plan_inputs(self, builders: dict) -> None:
        """Records this stage's Recvs, and the matching Sends and carries of its sources."""
        step = self.step
        for op in self.ops:
            refs = op._info.ref_inputs
            for i, t in enumerate(op._inputs):
                if i in refs:
                    continue
                p = t._op
                if t in step.fed:
                    self.recvs[t] = ("feed", step.fed[t])
                elif self._is_local(p) or (step.task[p] == self.task and _is_variable(p)):
                    continue
                elif step.task[p] == self.task:
                    self.recvs[t] = ("carry", None)
                    builders[step.stage_of(p)].carry_out.add(t)
                else:
                    source = builders[step.stage_of(p)]
                    source.sends.setdefault(t, set()).add(self.key)
                    self.recvs[t] = ("cross", source)
            for c in op._control_inputs:
                if step.task[c] != self.task:
                    source = builders[step.stage_of(c)]
                    source.control_sends.setdefault(c, set()).add(self.key)
                    self.control_recvs[c] = source

    def allocate(self, slots: _Slots) -> None:
        """One packet per set of destinations; a slot per packet."""
        packet_of: dict[frozenset, int] = {}
        sizes: list[int] = []
        outputs = [(t, d) for t, d in self.sends.items()]
        outputs += [(("control", c), d) for c, d in self.control_sends.items()]
        for key, destinations in outputs:
            index = packet_of.setdefault(frozenset(destinations), len(packet_of))
            if index == len(sizes):
                sizes.append(0)
                self.packet_slots.append(slots.new())
            self.location[key] = (self.packet_slots[index], sizes[index])
            sizes[index] += 1

    def finish(self, last_level: dict, slots: _Slots) -> Stage:
        stage = Stage(self.task, self.level, None)
        stage.graph_def = _graph_def(self._nodes(stage), self.ops)
        stage.ends_task = self.level == last_level[self.task]
        if not stage.packets:
            stage.status_slot = slots.new()
        stage.modules = _modules_of(stage.graph_def)
        return stage

    def task_graph(self):
        step = self.step
        for op in self.ops:
            refs = op._info.ref_inputs
            for i, t in enumerate(op._inputs):
                if i in refs:
                    continue
                if t in step.fed:
                    self.recvs[t] = ("feed", None)
                elif step.task[t._op] != self.task:
                    self.recvs[t] = ("cross", None)
            for c in op._control_inputs:
                if step.task[c] != self.task:
                    self.control_recvs[c] = None
            for c, t in step.data_consumers[op]:
                if step.task[c] != self.task:
                    self.sends.setdefault(t, set())
            for t in op._outputs:
                if t in step.fetched_tensors:
                    self.sends.setdefault(t, set())
            if any(step.task[c] != self.task for c in step.control_consumers[op]):
                self.control_sends.setdefault(op, set())
        return _graph_def(self._nodes(None), self.ops)

    # -- the nodes ---------------------------------------------------------------------------
    def _nodes(self, stage: Stage | None) -> list:
        """NodeDefs of this subgraph: Recvs first, user nodes in creation order (so a worker
        runs them in the in-process order), Sends last. Fills `stage`'s lists when given."""
        step, device = self.step, self.task.device
        head, body, tail = [], {}, []
        recv_name: dict[Tensor, str] = {}
        for t, (kind, source) in self.recvs.items():
            name = f"{'_carry' if kind == 'carry' else '_recv'}/{t._op.name}/{t._value_index}"
            recv_name[t] = name
            source_task = None if kind == "feed" else step.task[t._op]
            head.append(_recv_node(name, t, source_task, self.task,
                                   may_be_dead=t._op in step.conditional))
            if stage is None:
                continue
            if kind == "carry":
                stage.carry_in.append((name + ":0", t.name))
            else:
                stage.feed_names.append(name + ":0")
                stage.inputs.append((source, None) if kind == "feed" else source.location[t])
        control_wait: dict[Operation, str] = {}
        for c, source in self.control_recvs.items():
            recv, wait = f"_ctrl_recv/{c.name}", f"_ctrl_wait/{c.name}"
            control_wait[c] = wait
            head.append(_recv_node(recv, None, step.task[c], self.task, control_of=c,
                                   may_be_dead=c in step.conditional))
            head.append(_make_node(wait, "Identity", [recv], device, {},
                                   dtype_attr=("T", _bool())))
            if stage is not None:
                stage.feed_names.append(recv + ":0")
                stage.inputs.append(source.location[("control", c)])

        def include(op: Operation) -> None:
            """A node present for its name (a variable an op reads or updates)."""
            if op.name not in body:
                node = node_def_of(op)
                del node.input[:]
                node.input.extend(_plain_input(t) for t in op._inputs)
                node.device = device
                body[op.name] = (op._id, node)

        for op in self.ops:
            node = node_def_of(op)
            del node.input[:]
            refs = op._info.ref_inputs
            for i, t in enumerate(op._inputs):
                if i in refs:
                    for link in _ref_chain(op, i):
                        include(link)
                    node.input.append(_plain_input(t))
                elif t in recv_name:
                    node.input.append(recv_name[t] + ":0")
                else:
                    if _is_variable(t._op):
                        include(t._op)
                    node.input.append(_plain_input(t))
            for c in op._control_inputs:
                if c in control_wait:
                    node.input.append("^" + control_wait[c])
                elif self._is_local(c):
                    node.input.append("^" + c.name)
                elif _is_variable(c) and step.task[c] == self.task:
                    include(c)
                    node.input.append("^" + c.name)
                # else: a node of an earlier stage of this task, which has already run
            node.device = device
            body[op.name] = (op._id, node)

        # Sends come after every user node of the subgraph (the worker imports nodes in this
        # order when dependencies allow), so a fetched variable is read after the updates.
        outputs = []  # (tensor name, where it goes)
        for t in self.sends:
            name = f"_send/{t._op.name}/{t._value_index}"
            if _is_variable(t._op):
                include(t._op)
            tail.append(_make_node(name, "_Send", [_plain_input(t)], device,
                                   {"tensor_name": t.name, "send_device": device},
                                   dtype_attr=("T", t._dtype)))
            outputs.append((name + ":0", self.location.get(t)))
        for c in self.control_sends:
            const, name = f"_ctrl/{c.name}", f"_send/_ctrl/{c.name}"
            if _is_variable(c):
                include(c)
            tail.append(_make_node(const, "Const", ["^" + c.name], device,
                                   {"dtype": _bool(), "value": _false()}))
            tail.append(_make_node(name, "_Send", [const], device,
                                   {"tensor_name": const + ":0", "send_device": device},
                                   dtype_attr=("T", _bool())))
            outputs.append((name + ":0", self.location.get(("control", c))))
        nodes = head + [node for _, node in sorted(body.values(), key=lambda item: item[0])]
        nodes += tail
        if stage is not None:
            stage.packet_slots = list(self.packet_slots)
            stage.packets = [[] for _ in self.packet_slots]
            index_of = {slot: i for i, slot in enumerate(self.packet_slots)}
            for name, (slot, entry) in outputs:
                packet = stage.packets[index_of[slot]]
                assert entry == len(packet)
                packet.append(name)
            stage.carry_out = [(t.name, t.name) for t in sorted(self.carry_out,
                                                                 key=_tensor_order)]
            consumed = {name.lstrip("^").split(":")[0] for node in nodes for name in node.input}
            stage.targets = [op.name for op in self.ops
                             if not _is_variable(op) and op.name not in consumed]
        return nodes


# --------------------------------------------------------------------------------------------
# NodeDef helpers
# --------------------------------------------------------------------------------------------


def _plain_input(t: Tensor) -> str:
    return t._op.name if t._value_index == 0 else f"{t._op.name}:{t._value_index}"


def _static_bytes(t: Tensor) -> float:
    dims = t._shape.as_tuple()
    if t._dtype is None or dims is None or any(d is None for d in dims):
        return float("inf")
    count = 1
    for d in dims:
        count *= d
    import numpy as np

    return float(count * np.dtype(t._dtype.as_numpy_dtype).itemsize)


def _tensor_order(t: Tensor) -> tuple[int, int]:
    return (t._op._id, t._value_index)


def _ref_chain(op: Operation, index: int) -> list[Operation]:
    """The variable an update op names, and the Identity links on the way to it."""
    chain = []
    src = op._inputs[index]._op
    variable = ref_variable_op(op, index)
    while src is not variable:
        chain.append(src)
        src = src._inputs[0]._op
    chain.append(variable)
    return chain


def _pb():
    from tensorslow import proto

    return proto


def _bool():
    from tensorslow.framework import dtypes

    return dtypes.bool


def _false():
    import numpy as np

    value = np.array(False)
    value.flags.writeable = False
    return value


def _make_node(name: str, op_type: str, inputs: list[str], device: str, attrs: dict,
               dtype_attr: tuple | None = None):
    node = _pb().NodeDef(name=name, op=op_type, device=device)
    node.input.extend(inputs)
    declared = get_op_info(op_type).attrs
    if dtype_attr is not None and dtype_attr[1] is not None:
        attr_to_proto("type", dtype_attr[1], node.attr[dtype_attr[0]])
    for key, value in attrs.items():
        attr_to_proto(declared[key][0], value, node.attr[key])
    return node


def _recv_node(name: str, t: Tensor | None, source_task: Task | None, task: Task,
               control_of: Operation | None = None, may_be_dead: bool = False):
    if t is None:
        dtype, shape, tensor_name = _bool(), TensorShape([]), f"_ctrl/{control_of.name}:0"
    else:
        dtype, shape, tensor_name = t._dtype, t._shape, t.name
    attrs = {"shape": shape, "tensor_name": tensor_name, "recv_device": task.device,
             "send_device": source_task.device if source_task is not None else "client"}
    if may_be_dead:
        attrs["may_be_dead"] = True
    return _make_node(name, "_Recv", [], task.device, attrs, dtype_attr=("dtype", dtype))


def _graph_def(nodes, ops=()):
    """A subgraph's GraphDef: its nodes, and the library functions its ops call (a loop runs
    inside one task, its body and cond functions with it)."""
    from tensorslow.framework import function
    from tensorslow.framework.graph_io import GRAPH_DEF_VERSION

    graph_def = _pb().GraphDef()
    graph_def.versions.producer = GRAPH_DEF_VERSION
    graph_def.node.extend(nodes)
    for fn in function.functions_used(ops):
        graph_def.library.function.append(function.function_to_def(fn))
    return graph_def


def _modules_of(graph_def) -> list[str]:
    """The modules that register the op types of a subgraph and of the functions it calls (a
    worker imports them first)."""
    modules = set()
    nodes = [*graph_def.node, *[n for f in graph_def.library.function for n in f.node_def]]
    for node in nodes:
        info = get_op_info(node.op)
        if info is None:
            raise errors.NotFoundError(None, None, f"Op type not registered '{node.op}'")
        for fn in (info.kernel, info.infer):
            module = getattr(fn, "__module__", None)
            if module == "__main__":
                raise errors.UnimplementedError(
                    None, None, f"Op type '{node.op}' (node '{node.name}') is registered in "
                    "__main__: Ray workers cannot import it. Register it in an importable "
                    "module.")
            if module:
                modules.add(module)
    return sorted(modules)
