"""`ts.Session("ray")`: a TF1 session whose graph runs on Ray worker actors.

    with ts.Session("ray") as sess:            # RAY_ADDRESS, else an embedded local Ray
    with ts.Session("ray://head:10001") as s:  # Ray Client; "host:port" joins a cluster's GCS
    ts.Session("ray", config={"auto_partition": 2})

Per (fetches, feed keys), as the in-process session caches its plan, this session places the
graph (worker.placer), partitions the step (worker.partition), starts one actor per task it
needs (worker.actor; actors reserve no CPU) and registers each stage subgraph once. A step then
submits every stage call at once, in the order the partitioner gives (a topological order, so
no step can deadlock: see worker.partition), passing the ObjectRefs one call returns as
arguments of the calls that receive them, and waits for the fetched values with a deadline.

`config` is None, a ts.ConfigProto (its `cluster_def` and `operation_timeout_in_ms` are used)
or a dict with any of:
    cluster            the cluster: {"ps": 1, "worker": 2}, a ts.train.ClusterSpec or a
                       ClusterDef; tasks outside it are errors (default: the tasks the graph
                       names)
    auto_partition     N: place unplaced nodes over N worker tasks (worker.auto_partition)
    step_timeout       seconds a step may take (default 600; RunOptions.timeout_in_ms wins)
    setup_timeout      seconds for starting actors and registering subgraphs (default 120)
    num_cpus           CPUs of an embedded Ray started by this session (default: all)
    worker_num_cpus    CPUs each worker actor reserves (default 0)
    runtime_env        Ray runtime_env for the workers, for clusters without this package
    scheduling         Ray scheduling strategy of the worker actors (default "SPREAD")
    compiled_graphs    (default True) a step run several times in a row becomes a Ray
                       Compiled Graph (worker.compiled), with no driver round trip between
                       its stages; a step it cannot take (a packet of tensors between
                       processes over 16 MB or of unknown size, a failed compile) runs as
                       plain actor calls, the reason logged once. False: always plain
                       actor calls

Faults: every wait on Ray has a deadline. A worker actor that dies (its process killed, its node
lost) surfaces as ts.errors.UnavailableError naming its task, within the time Ray takes to
notice (the session also polls the actors' state while it waits); the session is then unusable
and a new one can be made on the remaining cluster, its variables restored from a checkpoint.
This session never shuts down a Ray instance (other sessions of the process may use it).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import statistics
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from tensorslow.client.executor import DEAD, dead_fetch_error, feed_converter
from tensorslow.client.session import Session, _initializer_of
from tensorslow.framework import errors
from worker import placer
from worker.actor import TaskRunner
from worker.compiled import (
    IDLE_SECONDS,
    JUDGE_MIN_SECONDS,
    JUDGE_RUNS,
    JUDGE_SKIP,
    KEEP_RATIO,
    PACE_RUNS,
    keep_compiled,
    needs_judging,
)
from worker.partition import Partition, partition

_log = logging.getLogger("tensorslow.worker")

STARTUP_ATTEMPTS = 3  # tries to start the actors of a session
LIVENESS_POLL_SECONDS = 2.0
INLINE_BYTES = 100 * 1024  # Ray inlines smaller arguments into the call itself
_CONFIG_KEYS = ("cluster", "auto_partition", "step_timeout", "setup_timeout", "num_cpus",
                "worker_num_cpus", "runtime_env", "scheduling", "compiled_graphs")


@dataclass
class ClusterOptions:
    cluster: object = None
    auto_partition: int = 0
    step_timeout: float = 600.0
    setup_timeout: float = 120.0
    num_cpus: int | None = None
    worker_num_cpus: float = 0.0
    runtime_env: dict | None = None
    scheduling: object = "SPREAD"
    compiled_graphs: bool = True


def options_from(config) -> ClusterOptions:
    """ClusterOptions from a session's `config` (None, a dict or a ConfigProto)."""
    options = ClusterOptions()
    if config is None:
        return options
    if isinstance(config, ClusterOptions):
        return config
    if isinstance(config, dict):
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise ValueError(f"Unknown Ray session option(s) {unknown}; the options are "
                             f"{list(_CONFIG_KEYS)}")
        for key, value in config.items():
            setattr(options, key, value)
        if int(options.auto_partition) < 0:
            raise ValueError("auto_partition must be a number of worker tasks >= 0")
        return options
    if hasattr(config, "DESCRIPTOR") and hasattr(config, "cluster_def"):
        if len(config.cluster_def.job):
            options.cluster = config.cluster_def
        if config.operation_timeout_in_ms > 0:
            options.step_timeout = config.operation_timeout_in_ms / 1000.0
        return options
    raise TypeError(f"config must be None, a dict or a ts.ConfigProto, not "
                    f"{type(config).__name__}")


# --------------------------------------------------------------------------------------------
# Connecting to Ray
# --------------------------------------------------------------------------------------------


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise errors.UnimplementedError(
            None, None, f"Ray sessions need Ray: pip install 'ray[default]' ({e})") from None
    return ray


def ray_address(target: str) -> str | None:
    """The Ray address a session target names; None for an embedded local Ray."""
    if target == "ray":
        return os.environ.get("RAY_ADDRESS") or None
    if target.startswith("ray://"):
        return target
    host, sep, port = target.rpartition(":")
    if sep and host and port.isdigit() and "/" not in target:
        return target
    raise errors.InvalidArgumentError(
        None, None, f"Session target {target!r} is not one this runtime knows: use \"\" "
        "(in-process), \"ray\" (RAY_ADDRESS or an embedded Ray), \"ray://host:port\" (Ray "
        "Client) or \"host:port\" (a Ray cluster's GCS).")


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        if address.startswith("ray://"):
            host, port = hostport, "10001"
        else:
            return  # "auto" and friends: Ray resolves them
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise errors.UnavailableError(None, None, f"Cannot reach the Ray cluster at {address}: "
                                      f"{e}") from None


def connect(target: str, options: ClusterOptions) -> None:
    """Joins the Ray cluster `target` names (for "ray" without RAY_ADDRESS, a new local one)
    unless this process has joined one already."""
    ray = _import_ray()
    address = ray_address(target)
    if ray.is_initialized():
        if address is not None and not _connected_to(ray, address):
            _check_reachable(address)
            raise errors.FailedPreconditionError(
                None, None, f"This process is already connected to another Ray cluster; a "
                f"driver joins one cluster at a time (session target {target!r}).")
        return
    if address is not None and address not in ("auto", "local"):
        _check_reachable(address)
    try:
        if address is None:
            # "local": a new instance, never a cluster some `ray start` left on this machine
            ray.init(address="local", num_cpus=options.num_cpus or os.cpu_count(),
                     include_dashboard=False, runtime_env=options.runtime_env,
                     ignore_reinit_error=True)
        else:
            ray.init(address=address, runtime_env=options.runtime_env,
                     ignore_reinit_error=True)
    except (ConnectionError, TimeoutError, RuntimeError) as e:
        raise errors.UnavailableError(None, None, f"Cannot connect to the Ray cluster at "
                                      f"{address or 'a new local instance'}: {e}") from None


def _connected_to(ray, address: str) -> bool:
    """Whether the Ray this process joined is the one at `address` (as far as one can tell)."""
    if address in ("auto", "local") or address == os.environ.get("RAY_ADDRESS"):
        return True
    if address.startswith("ray://"):
        return ray.util.client.ray.is_connected()
    return address == ray.get_runtime_context().gcs_address


_remote_runner = None


def _runner_class():
    global _remote_runner
    if _remote_runner is None:
        _remote_runner = _import_ray().remote(TaskRunner)
    return _remote_runner


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------


class ClusterSession(Session):
    """A Session on Ray (see the module docstring). Thread-safe as the in-process session."""

    def __init__(self, target: str = "ray", graph=None, config=None):
        super().__init__(target, graph, config)
        self._options = options_from(config)
        self._cluster = placer.parse_cluster(self._options.cluster)
        connect(target, self._options)
        self._ctx = _ClusterVariables(self)
        self._actors: dict = {}             # Task -> actor handle
        self._task_of_actor: dict = {}      # actor id (hex) -> Task
        self._placement: placer.Placement | None = None
        self._steps = itertools.count(1)
        self._handles = itertools.count(1)
        self._registered: dict = {}         # Task -> [stage handles] of this graph version
        self._registered_version = None
        self._failure: errors.OpError | None = None
        self._run_options = threading.local()
        self._setup_lock = threading.RLock()
        self._compiled = None               # the compiled step (worker.compiled), if any
        self._compiled_lock = threading.RLock()
        self._streak_plan, self._streak = None, 0
        self._last_end = float("-inf")      # when the last step ended (time.monotonic)
        self._idle_seconds = IDLE_SECONDS   # a compiled step unused this long is torn down
        self._judge_min_seconds = JUDGE_MIN_SECONDS  # see worker.compiled: the judge
        self._keep_ratio = KEEP_RATIO       # see worker.compiled.keep_compiled

    # -- running -------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        if self._failure is not None and not self._closed:
            raise type(self._failure)(None, None, self._failure.message)
        previous = getattr(self._run_options, "value", None)
        self._run_options.value = options
        try:
            return super().run(fetches, feed_dict, options, run_metadata)
        finally:
            self._run_options.value = previous

    def _step_timeout(self) -> float:
        options = getattr(self._run_options, "value", None)
        timeout_ms = getattr(options, "timeout_in_ms", 0) if options is not None else 0
        return timeout_ms / 1000.0 if timeout_ms > 0 else float(self._options.step_timeout)

    def _compile(self, elements, feed_tensors):
        with self._setup_lock:
            placement = self.placement()
            part = partition(self._graph, placement, elements, feed_tensors)
            if self._registered_version != self._graph.version:
                self._drop_compiled()
                self._unregister_all()
                self._registered_version = self._graph.version
            actors = self._ensure_actors(part.tasks)
            handles = [next(self._handles) for _ in part.stages]
            refs = [actors[stage.task].register.remote(handle, stage.registration())
                    for handle, stage in zip(handles, part.stages, strict=True)]
            self._wait(refs, self._options.setup_timeout, "registering the step's subgraphs")
            for handle, stage in zip(handles, part.stages, strict=True):
                self._registered.setdefault(stage.task, []).append(handle)
        plan = ClusterPlan(self, part, actors, handles)
        self._initialize_variables_read_by(part)
        return plan

    def placement(self) -> placer.Placement:
        """The placement of the current graph version (nodes placed before never move)."""
        with self._setup_lock:
            if self._placement is None or self._placement.graph_version != self._graph.version:
                pinned = self._placement.by_name() if self._placement is not None else None
                self._placement = placer.place(
                    self._graph, self._cluster, int(self._options.auto_partition or 0), pinned)
            return self._placement

    def _initialize_variables_read_by(self, part: Partition) -> None:
        """Seed style, as in-process: a variable read before any initializer ran starts at its
        initial value. The owners are asked once per compiled step which of its variables they
        lack; the initializers of those run first, as a step of their own."""
        tasks = sorted(part.variable_reads)
        if not tasks:
            return
        refs = [self._actors[t].missing_variables.remote(part.variable_reads[t]) for t in tasks]
        missing = [name for names in self._wait(refs, self._options.setup_timeout,
                                                "checking variables") for name in names]
        with self._init_lock:
            names = [n for n in missing if n not in self._initializing]
            inits = []
            for name in names:
                init = _initializer_of(self._graph.get_operation_by_name(name))
                if init is not None and init not in inits:
                    inits.append(init)
            if not inits:
                return  # the step fails on the worker, naming the uninitialized variable
            self._initializing.update(names)
            try:
                self.run(inits)
            finally:
                self._initializing.difference_update(names)

    # -- the compiled fast path ---------------------------------------------------------------
    def _run_plan(self, plan, feed_values, traced: bool):
        """Runs a plan, through its Compiled Graph when it has one (or earns one now)."""
        if not self._options.compiled_graphs:
            return plan._run(feed_values, traced)
        from worker.compiled import COMPILE_AFTER, MAX_PACKET_BYTES, CompiledStep

        with self._compiled_lock:
            if traced:
                return plan._run(feed_values, traced)
            soon = time.monotonic() - self._last_end < self._idle_seconds
            if plan is self._streak_plan and soon:
                self._streak += 1
            else:
                self._streak_plan, self._streak = plan, 1
            current = self._compiled
            if (current is None or current.plan is not plan) and not plan.compile_failed \
                    and self._streak >= COMPILE_AFTER:
                largest = plan.partition.largest_transfer
                if largest > MAX_PACKET_BYTES:
                    plan.compile_failed = True
                    _log.info("Running this step as plain actor calls, not a Compiled Graph: "
                              "what it moves between processes in one packet is %s "
                              "(Compiled Graphs take up to %d bytes)", "of unknown size"
                              if largest == float("inf") else f"{int(largest):,} bytes",
                              MAX_PACKET_BYTES)
                elif plan.timed_enough(self._judge_min_seconds):
                    self._drop_compiled()
                    try:
                        self._compiled = CompiledStep(plan)
                    except Exception as e:  # noqa: BLE001 - the classic path still works
                        plan.compile_failed = True
                        _log.warning("Running this step as plain actor calls, not a Compiled "
                                     "Graph: %s", e)
                    else:
                        self._watch_idle(self._compiled)
            compiled = self._compiled if self._compiled is not None and \
                self._compiled.plan is plan else None
            start = time.monotonic()
            try:
                result = compiled.run(self, feed_values) if compiled is not None \
                    else plan._run(feed_values, traced)[0]
            finally:
                self._last_end = time.monotonic()
            if compiled is None:
                plan.timed_plain(self._last_end - start)
            elif plan.judged is None:
                self._judge(compiled, self._last_end - start)
            return result, None

    def _judge(self, compiled, seconds: float) -> None:
        """Judges a step, once, whose plain runs are long enough for its compiled graph to be
        slower (worker.compiled: JUDGE_MIN_SECONDS): kept compiled if its steady compiled runs
        are not slower than its plain runs, else run as plain actor calls from now on, saying
        why once."""
        plan = compiled.plan
        if not needs_judging(plan.plain_seconds, self._judge_min_seconds):
            plan.judged = True
            return
        compiled.seconds.append(seconds)
        if len(compiled.seconds) < JUDGE_SKIP + JUDGE_RUNS:
            return
        judged = compiled.seconds[JUDGE_SKIP:]
        plan.judged = keep_compiled(plan.plain_seconds, judged, self._keep_ratio)
        if plan.judged:
            return
        plan.compile_failed = True
        self._drop_compiled()
        _log.info("Running this step as plain actor calls, not a Compiled Graph: compiled it "
                  "took %.1f ms a step against %.1f ms as plain calls (medians; a compiled "
                  "graph's waiting processes spin, taking cores from the computing ones)",
                  statistics.median(judged) * 1e3, statistics.median(plan.plain_seconds) * 1e3)

    def _watch_idle(self, compiled) -> None:
        """Tears `compiled` down once no step has run for the session's idle time
        (worker.compiled.IDLE_SECONDS): its actors spin on their channels while they wait
        (about a core each), which an idle session must not take from the rest of the
        machine."""
        idle = self._idle_seconds

        def watch():
            while not compiled.dropped.wait(idle / 2):
                with self._compiled_lock:
                    if self._compiled is not compiled:
                        return
                    if time.monotonic() - self._last_end >= idle:
                        _log.debug("tearing down the compiled step: idle for %g s", idle)
                        self._drop_compiled()
                        return

        threading.Thread(target=watch, name="tensorslow-compiled-idle", daemon=True).start()

    def _drop_compiled(self) -> None:
        with self._compiled_lock:
            if self._compiled is not None:
                self._compiled.teardown()
                self._compiled = None

    # -- actors --------------------------------------------------------------------------------
    def _ensure_actors(self, tasks) -> dict:
        """Starts an actor for each task that has none. An actor that dies while starting is
        started again, a few times within setup_timeout: right after a node is lost, Ray may
        still place actors on it until it has declared the node dead."""
        new = [t for t in tasks if t not in self._actors]
        if not new:
            return self._actors
        options = {"num_cpus": self._options.worker_num_cpus, "max_restarts": 0,
                   "max_task_retries": 0}
        if self._options.scheduling is not None:
            options["scheduling_strategy"] = self._options.scheduling
        deadline = time.monotonic() + self._options.setup_timeout
        for attempt in range(1, STARTUP_ATTEMPTS + 1):
            for task in new:
                actor = _runner_class().options(**options).remote(task.name)
                self._actors[task] = actor
                self._task_of_actor[actor._actor_id.hex()] = task
            try:
                self._wait([self._actors[t].ping.remote() for t in new],
                           max(1.0, deadline - time.monotonic()), "starting worker actors")
                return self._actors
            except errors.UnavailableError:
                if attempt == STARTUP_ATTEMPTS or time.monotonic() >= deadline:
                    raise
                self._failure = None  # nothing ran on these actors yet: start them again
                ray = _import_ray()
                for task in new:
                    actor = self._actors.pop(task)
                    self._task_of_actor.pop(actor._actor_id.hex(), None)
                    ray.kill(actor, no_restart=True)
                time.sleep(min(2.0 * attempt, max(0.0, deadline - time.monotonic())))
        return self._actors

    def _unregister_all(self) -> None:
        for task, handles in self._registered.items():
            actor = self._actors.get(task)
            if actor is not None and handles:
                actor.unregister.remote(handles)
        self._registered = {}

    def _dead_tasks(self) -> list:
        try:
            from ray._private import state
        except ImportError:
            return []
        dead = []
        for task, actor in list(self._actors.items()):
            try:
                info = state.actors(actor_id=actor._actor_id.hex())
            except Exception:  # noqa: BLE001 - a best-effort probe; the deadline still holds
                return []
            if isinstance(info, dict) and info.get("State") == "DEAD":
                dead.append(task)
        return dead

    # -- waiting -------------------------------------------------------------------------------
    def _wait(self, refs: list, timeout: float, what: str) -> list:
        """ray.get with a deadline; Ray's failures as ts.errors."""
        ray = _import_ray()
        from ray import exceptions as rex

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return ray.get(refs, timeout=max(0.0, min(remaining, LIVENESS_POLL_SECONDS)))
            except rex.GetTimeoutError:
                dead = self._dead_tasks()
                if dead:
                    raise self._fail(errors.UnavailableError(
                        None, None, f"{_task_list(dead)} unavailable: worker actor died "
                        f"while {what}. Create a new session (and restore the variables from "
                        "a checkpoint).")) from None
                if time.monotonic() >= deadline:
                    raise errors.DeadlineExceededError(
                        None, None, f"Timed out after {timeout:g} s {what} (step_timeout, or "
                        "RunOptions.timeout_in_ms)") from None
            except rex.RayError as e:
                raise self._translate(e, what) from None

    def _translate(self, e: BaseException, what: str) -> errors.OpError:
        from ray import exceptions as rex

        cause = e
        while isinstance(cause, rex.RayTaskError) and cause.cause is not None \
                and cause.cause is not cause:
            cause = cause.cause
        if isinstance(cause, errors.OpError):
            return cause
        if isinstance(cause, rex.RayActorError):
            task = self._task_of_actor.get(getattr(cause, "actor_id", None) or "")
            tasks = [task] if task is not None else self._dead_tasks()
            who = _task_list(tasks) if tasks else "A worker task is"
            reason = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            return self._fail(errors.UnavailableError(
                None, None, f"{who} unavailable: its worker actor died while {what} "
                f"({reason}). Create a new session (and restore the variables from a "
                "checkpoint)."))
        if isinstance(cause, rex.RayChannelError) and self._dead_tasks():
            return self._fail(errors.UnavailableError(
                None, None, f"{_task_list(self._dead_tasks())} unavailable: worker actor died "
                f"while {what}. Create a new session (and restore the variables from a "
                "checkpoint)."))
        if isinstance(cause, (rex.ObjectLostError, rex.NodeDiedError, rex.WorkerCrashedError,
                              rex.LocalRayletDiedError)):
            return self._fail(errors.UnavailableError(
                None, None, f"Lost a worker while {what}: {type(cause).__name__}: {cause}"))
        return errors.UnknownError(None, None, f"Ray failed while {what}: "
                                   f"{type(cause).__name__}: {cause}")

    def _fail(self, error: errors.OpError) -> errors.OpError:
        self._failure = error
        return error

    # -- variables, tracing, devices ------------------------------------------------------
    def _variable_values(self) -> dict[str, np.ndarray]:
        """Every variable value the workers hold (name -> read-only array), for savers."""
        tasks = sorted(self._actors)
        values = self._wait([self._actors[t].variable_values.remote() for t in tasks],
                            self._options.setup_timeout, "reading variables")
        merged = {}
        for held in values:
            merged.update(held)
        return merged

    def _assign_variables(self, values: dict) -> None:
        """Sets variables (name -> value) on the tasks that own them."""
        placement = self.placement()
        by_task: dict = {}
        for name, value in values.items():
            op = self._graph.get_operation_by_name(name)
            by_task.setdefault(placement.task_of(op), {})[name] = np.asarray(value)
        actors = self._ensure_actors(sorted(by_task))
        self._wait([actors[t].assign_variables.remote(v) for t, v in by_task.items()],
                   self._options.setup_timeout, "assigning variables")

    def _fill_run_metadata(self, run_metadata, stats, options) -> None:
        from tensorslow.client import timeline

        records_by_device, partition_graphs = stats
        timeline.fill_step_stats(run_metadata, records_by_device)
        if getattr(options, "output_partition_graphs", False):
            for graph_def in partition_graphs:
                run_metadata.partition_graphs.add().CopyFrom(graph_def)

    def list_devices(self):
        tasks = set(self._actors)
        if self._cluster is not None:
            tasks |= {placer.Task(job, i) for job, n in self._cluster.items() for i in range(n)}
        else:
            tasks |= set(self.placement().tasks)
        return [t.device for t in sorted(tasks)]

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._drop_compiled()
        ray = _import_ray()
        for actor in self._actors.values():
            try:
                ray.kill(actor, no_restart=True)
            except Exception as e:  # noqa: BLE001 - a dead actor or a lost cluster: gone anyway
                _log.debug("killing a worker actor: %s", e)
        self._actors = {}
        self._registered = {}


def _task_list(tasks) -> str:
    names = [t.name for t in tasks]
    if len(names) == 1:
        return f"Task {names[0]} is"
    return f"Tasks {', '.join(names)} are"


class _ClusterVariables:
    """What savers reach through `session._ctx`: the variables, wherever their tasks are."""

    def __init__(self, session: ClusterSession):
        self._session = session

    @property
    def variables(self) -> dict[str, np.ndarray]:
        return self._session._variable_values()

    def assign_variable(self, name: str, value) -> None:
        self._session._assign_variables({name: value})


# --------------------------------------------------------------------------------------------
# A partitioned step, ready to run
# --------------------------------------------------------------------------------------------


class _Call:
    """One stage's actor call: which slots it reads, and where its packets go."""

    __slots__ = ("task", "actor", "handle", "run", "run_traced", "arg_slots", "out_slots",
                 "num_packets")

    def __init__(self, task, actor, handle, stage):
        self.task = task
        self.actor = actor
        self.handle = handle
        self.num_packets = len(stage.packet_slots)
        self.run = actor.run.options(num_returns=max(self.num_packets, 1)).remote
        self.run_traced = actor.run_traced.options(num_returns=self.num_packets + 1).remote
        self.arg_slots = tuple(stage.arg_slots)
        self.out_slots = (tuple(stage.packet_slots) if self.num_packets
                          else (stage.status_slot,))


class ClusterPlan:
    """A partitioned step, registered on its actors; `run(feed_values)` as executor.Plan."""

    def __init__(self, session: ClusterSession, part: Partition, actors: dict, handles: list):
        self._session = session
        self.partition = part
        self._converters = [feed_converter(t) for t in part.feed_tensors]
        self._num_feeds = len(part.feed_tensors)
        self._num_slots = part.num_slots
        self._calls = [_Call(stage.task, actors[stage.task], handle, stage)
                       for stage, handle in zip(part.stages, handles, strict=True)]
        # The driver waits for what comes back to it and for the stages that send nothing:
        # every other stage sends to one of those, so the step is over when they are.
        waits = set(part.driver_slots)
        waits |= {s.status_slot for s in part.stages if s.status_slot is not None}
        self._wait_slots = sorted(waits)
        position = {slot: i for i, slot in enumerate(self._wait_slots)}
        # per fetch: None, ("feed", feed index) or (index among the waited packets, entry)
        self._fetch_positions = [source if source is None or source[0] == "feed"
                                 else (position[source[0]], source[1])
                                 for source in part.fetch_sources]
        uses = Counter(s for stage in part.stages for s in stage.arg_slots
                       if s < self._num_feeds)
        self._shared_feeds = [slot for slot, n in uses.items() if n > 1]
        self._carries = any(stage.carry_in for stage in part.stages)
        self.compile_failed = False   # runs as plain actor calls for good
        self.plain_runs = 0
        self.plain_seconds = deque(maxlen=JUDGE_RUNS)  # its last plain runs but the first
        self.judged = None            # None until judged (or found too short to need it)
        self.compiled_seconds = deque(maxlen=PACE_RUNS)  # its last compiled runs (pacing)

    def timed_plain(self, seconds: float) -> None:
        self.plain_runs += 1
        if self.plain_runs > 1:  # the first run also registers the step on its workers
            self.plain_seconds.append(seconds)

    def timed_enough(self, min_seconds: float) -> bool:
        """Whether the plan's plain runs are timed well enough to compile it: a step long
        enough to be judged compiles once JUDGE_RUNS plain runs give a median to judge by."""
        return self.judged is not None or not needs_judging(self.plain_seconds, min_seconds) \
            or len(self.plain_seconds) >= JUDGE_RUNS

    def run(self, feed_values) -> list:
        return self._session._run_plan(self, feed_values, traced=False)[0]

    def run_traced(self, feed_values) -> tuple[list, tuple]:
        return self._session._run_plan(self, feed_values, traced=True)

    def _run(self, feed_values, traced: bool):
        feeds = [convert(v) for convert, v in zip(self._converters, feed_values, strict=True)]
        values = feeds + [None] * (self._num_slots - self._num_feeds)
        if self._shared_feeds:
            ray = _import_ray()
            for slot in self._shared_feeds:
                if getattr(values[slot], "nbytes", 0) > INLINE_BYTES:
                    values[slot] = ray.put(values[slot])
        session = self._session
        step = next(session._steps)
        traces = []
        for call in self._calls:
            args = [values[s] for s in call.arg_slots]
            if traced:
                refs = call.run_traced(call.handle, step, *args)
                refs = list(refs) if call.num_packets else [refs]
                traces.append((call, refs[-1]))
                outs = refs[:-1] if call.num_packets else refs
            else:
                refs = call.run(call.handle, step, *args)
                outs = refs if call.num_packets > 1 else (refs,)
            for slot, ref in zip(call.out_slots, outs, strict=True):
                values[slot] = ref
        waits = [values[s] for s in self._wait_slots] + [ref for _, ref in traces]
        try:
            results = session._wait(waits, session._step_timeout(), f"running step {step}")
        except BaseException:
            if self._carries:
                for actor in {call.actor for call in self._calls}:
                    actor.discard_step.remote(step)
            raise
        fetched = self.fetched(feeds, results)
        if not traced:
            return fetched, None
        return fetched, (self._trace_records(traces, results[len(self._wait_slots):]),
                         list(self.partition.task_graphs.values()))

    def fetched(self, feeds: list, results: list) -> list:
        """The step's fetches, from the feeds and the packets that came back. A fetch in a
        cond branch that did not run is an error, as in-process."""
        fetched = [None if p is None else feeds[p[1]] if p[0] == "feed"
                   else results[p[0]][p[1]] for p in self._fetch_positions]
        for i, value in enumerate(fetched):
            if value is DEAD:
                raise dead_fetch_error(i, self.partition.fetch_ops[i])
        return fetched

    @staticmethod
    def _trace_records(traces, trace_values) -> dict:
        """Per task device, [(name, type, start, end)] in this process's perf_counter time."""
        here = time.time() - time.perf_counter()
        out: dict[str, list] = {}
        for (call, _), (records, wall_offset) in zip(traces, trace_values, strict=True):
            shift = wall_offset - here
            out.setdefault(call.task.device, []).extend(
                (name, op_type, start + shift, end + shift)
                for name, op_type, start, end in records)
        return out
