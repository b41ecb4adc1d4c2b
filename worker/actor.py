"""The worker: one Ray actor per task, holding that task's variables across steps.

Contract (the driver, worker.cluster_session, is the only caller):
  register(handle, spec)        once per stage subgraph: imports its GraphDef into a Graph of
                                its own and compiles a plan with the core executor.
  run(handle, step_id, *args)   once per step and stage: the arguments are fed values and
                                packets (tuples of tensors) from earlier stages, which Ray
                                resolves from their ObjectRefs before the call; returns the
                                stage's packets, each its own ObjectRef (`num_returns`), or
                                None when it sends nothing.
  run_traced(...)               the same, with (trace records, wall-clock offset) appended.
  run_compiled(...)             the same inside a Ray Compiled Graph (worker.compiled).
  discard_step(step_id)         forgets what a failed step left behind.
The actor is single-threaded: calls run one at a time in the order the driver submitted them,
which the stage protocol (worker.partition) relies on.

Values a stage hands to a later stage of the same task in the same step are kept here, keyed by
step id, and dropped by the task's last stage of that step (or by discard_step). Variables live
in one KernelContext shared by all the stages this actor registers, keyed by variable name.
"""

from __future__ import annotations

import importlib
import os
import time

from tensorslow.client.executor import KernelContext, compile_plan
from tensorslow.framework import errors
from tensorslow.framework.graph_io import import_graph_def
from tensorslow.framework.ops import Graph


def _as_is(value):
    return value


class _RegisteredStage:
    __slots__ = ("plan", "spec", "packet_sizes", "num_sends", "carry_in", "carry_out",
                 "ends_task")

    def __init__(self, plan, spec, packet_sizes, carry_in, carry_out, ends_task):
        self.plan = plan
        self.spec = spec
        self.packet_sizes = packet_sizes
        self.num_sends = sum(packet_sizes)
        self.carry_in = carry_in
        self.carry_out = carry_out
        self.ends_task = ends_task

    def packets(self, sends: list) -> list[tuple]:
        out, start = [], 0
        for size in self.packet_sizes:
            out.append(tuple(sends[start:start + size]))
            start += size
        return out


class TaskRunner:
    """The actor class (worker.cluster_session makes it a Ray actor)."""

    def __init__(self, task_name: str):
        import tensorslow  # noqa: F401 - registers the core's op types

        self.task_name = task_name
        self._ctx = KernelContext(self)
        self._stages: dict[int, _RegisteredStage] = {}
        self._carried: dict[int, dict] = {}

    # -- setup -----------------------------------------------------------------------------
    def ping(self) -> dict:
        import ray

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                "wall_offset": time.time() - time.perf_counter()}

    def register(self, handle: int, spec: dict) -> None:
        for module in spec["modules"]:
            importlib.import_module(module)
        graph = Graph()
        with graph.as_default():
            import_graph_def(spec["graph_def"], name="",
                             source=f"stage subgraph of {self.task_name}")
        feeds = [graph.get_tensor_by_name(n) for n in spec["feed_names"]]
        feeds += [graph.get_tensor_by_name(n) for n, _ in spec["carry_in"]]
        fetches = [graph.get_tensor_by_name(n) for packet in spec["packets"] for n in packet]
        fetches += [graph.get_tensor_by_name(n) for n, _ in spec["carry_out"]]
        fetches += [graph.get_operation_by_name(n) for n in spec["targets"]]
        plan = compile_plan(graph, self._ctx, fetches, feeds)
        # The driver checked the feeds; Recvs take what the sending kernel produced, untouched.
        plan.feed_slots = [(slot, _as_is) for slot, _ in plan.feed_slots]
        # A stage's outputs go on to other stages: a dead one (a cond's branch not taken)
        # travels as DEAD; the driver checks the step's fetches.
        plan.fetch_ops = None
        self._stages[handle] = _RegisteredStage(
            plan, [tuple(s) for s in spec["spec"]], [len(p) for p in spec["packets"]],
            [key for _, key in spec["carry_in"]], [key for _, key in spec["carry_out"]],
            spec["ends_task"])

    def unregister(self, handles) -> None:
        for handle in handles:
            self._stages.pop(handle, None)

    # -- steps -----------------------------------------------------------------------------
    def _stage(self, handle: int) -> _RegisteredStage:
        try:
            return self._stages[handle]
        except KeyError:
            raise errors.AbortedError(None, None, f"{self.task_name} no longer has this step: "
                                      "the graph grew while it ran. Run it again.") from None

    def run(self, handle: int, step_id: int, *args):
        stage = self._stage(handle)
        values = tuple(args[arg] if entry is None else args[arg][entry]
                       for arg, entry in stage.spec)
        outputs = stage.plan.run(self._with_carried(stage, step_id, values))
        packets = stage.packets(self._after(stage, step_id, outputs))
        if not packets:
            return None
        return packets[0] if len(packets) == 1 else tuple(packets)

    def run_compiled(self, handle: int, spec, step_id: int, *args):
        """The Compiled Graph form of run: an argument is a fed value or everything an
        upstream stage returned (a tuple of its packets); spec entries (argument, packet,
        entry) pick each Recv's value out of them. Returns the tuple of this stage's packets."""
        stage = self._stage(handle)
        values = tuple(args[arg] if packet is None else args[arg][packet][entry]
                       for arg, packet, entry in spec)
        outputs = stage.plan.run(self._with_carried(stage, step_id, values))
        return tuple(stage.packets(self._after(stage, step_id, outputs)))

    def run_traced(self, handle: int, step_id: int, *args):
        stage = self._stage(handle)
        values = tuple(args[arg] if entry is None else args[arg][entry]
                       for arg, entry in stage.spec)
        outputs, stats = stage.plan.run_traced(self._with_carried(stage, step_id, values))
        packets = stage.packets(self._after(stage, step_id, outputs))
        records = [(op.name, op.type, start, end) for op, start, end in stats]
        trace = (records, time.time() - time.perf_counter())
        return tuple(packets) + (trace,) if packets else trace

    def _with_carried(self, stage: _RegisteredStage, step_id: int, values: tuple):
        if not stage.carry_in:
            return values
        carried = self._carried.get(step_id)
        if carried is None:
            raise errors.AbortedError(None, None, f"Step {step_id} on {self.task_name}: an "
                                      "earlier stage of this step did not complete")
        return values + tuple(carried[key] for key in stage.carry_in)

    def _after(self, stage: _RegisteredStage, step_id: int, outputs: list) -> list:
        if stage.carry_out:
            carried = self._carried.setdefault(step_id, {})
            first = stage.num_sends
            for i, key in enumerate(stage.carry_out):
                carried[key] = outputs[first + i]
        if stage.ends_task:
            self._carried.pop(step_id, None)
        return outputs[:stage.num_sends]

    def discard_step(self, step_id: int) -> None:
        self._carried.pop(step_id, None)

    # -- variables -------------------------------------------------------------------------
    def missing_variables(self, names) -> list[str]:
        return [n for n in names if n not in self._ctx.variables]

    def variable_values(self) -> dict:
        return dict(self._ctx.variables)

    def assign_variables(self, values: dict) -> None:
        for name, value in values.items():
            self._ctx.assign_variable(name, value)

    def _initialize_on_first_read(self, var_op):
        """KernelContext's hook: the driver initializes variables before a step reads them
        (ClusterSession._initialize_variables_read_by), so reaching here means there was no
        initializer to run."""
        raise errors.FailedPreconditionError(
            None, var_op, f"Attempting to use uninitialized value {var_op.name}\n\t "
            f"[[node {var_op.name} (on {self.task_name})]]")
