"""The default fast path: a registered step run as a Ray Compiled Graph.

In a Ray session (unless its config says `"compiled_graphs": False`), a step that runs
COMPILE_AFTER times in a row is compiled (`experimental_compile`): its stage calls become one
static DAG whose actors pass tensors through shared-memory channels, with no driver round trip
between stages. That pays for latency-bound steps (small tensors: measured about three times the
classic path's steps per second here) and for moderate ones: one tensor from actor to actor
took 1.3 ms compiled against 5.8 ms as plain calls at 1 MB, 9-11 ms against 20-22 ms at 16 MB,
about the same at 32-48 MB, and 129 ms against 72 ms at 64 MB, where the object store wins. So
a step is compiled only when every packet (the tensors one stage sends to the same
destinations, which travel as one value) and every feed it moves between processes is known,
from static shapes, to be at most MAX_PACKET_BYTES.

The stage protocol is the classic one (worker.partition: same stages, same order, same
subgraphs); only the transport changes. Each stage returns one tuple of its packets, and `spec`
tells the receiving stage which (packet, entry) feeds which Recv.

A compiled graph's actors wait for their next input spinning on their channels, about a core
each even while no step runs; so a step compiles only when it runs COMPILE_AFTER times in a row
with less than IDLE_SECONDS between runs, and a compiled step unused for IDLE_SECONDS is torn
down (about 20 ms; compiling again takes about 0.6 s and another such streak). A training
loop keeps its step compiled; a session left waiting gives the machine its cores back.

Spinning also costs a running step when its processes outnumber the free cores: two workers
computing while their driver (and a parameter server) spin on two cores ran 1.3-2.4 times
slower compiled than as plain calls (a data-parallel step of 1,024-4,096 examples, 40-150 ms as
plain calls). What compiling saves is about a millisecond a stage, so only a step whose plain
runs take JUDGE_MIN_SECONDS or more can lose. Such a step compiles only after JUDGE_RUNS plain
runs (its first run, which registers it on the workers, not counted) and is judged once, on
its compiled runs after the first JUDGE_SKIP (a new compiled graph's first runs are slow while
its channels and actors warm up: an all-reduce of 2.7 MB took 20-120 ms a run for its first ten
compiled runs, then 5 ms, against 13 ms as plain calls): the median of the next JUDGE_RUNS
against the median of those plain runs (keep_compiled). If slower, its plan runs as plain actor
calls from then on, the reason logged once; if not, it stays compiled, also when it compiles
again after idling.

The driver's wait is paced, not only spun: Ray's channel read spins while it waits, so a driver
reading a step's outputs as soon as it starts it takes a core from the actors computing the step
for as long as the step lasts (a data-parallel step of 16,384 examples on 2 workers and 2 cores:
710-850 ms compiled against 420-470 ms as plain calls, the driver at 93% of a core, the workers
niced by Ray). So the driver first sleeps PACE_FRACTION of the step's expected length, the
shortest of its last PACE_RUNS compiled runs, and reads (spinning) only after that. A run that
turns out shorter than that estimate waits at most the difference; a run whose outputs are there
as soon as the driver wakes (read within OVERSLEPT_SECONDS) counts as half its sleep, so an
estimate taken from a slow run (the first runs of a new compiled graph are: 230 ms, then 4 ms, for
an all-reduce of 2.7 MB) halves each run rather than shrinking by 1 - PACE_FRACTION. Steps shorter
than PACE_MIN_SECONDS are read at once: their spin is short and their latency what compiling is
for.

An actor takes part in one compiled graph at a time, so a session keeps at most one step
compiled; other steps keep running the classic way, one at a time with the compiled one (the
compiled graph's loop waits on its channels between steps, so the two never overlap). A
compiled graph is dropped when another step takes its place, when the graph grows, on any
timeout or worker death, and when the session closes. Steps with tracing always run the
classic way.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time

_log = logging.getLogger("tensorslow.worker")

COMPILE_AFTER = 3    # runs in a row, each within IDLE_SECONDS of the one before
IDLE_SECONDS = 1.0   # a compiled step unused this long is torn down
MAX_PACKET_BYTES = 16 << 20
JUDGE_MIN_SECONDS = 0.010  # plain steps faster than this stay compiled unjudged
JUDGE_SKIP = 10      # compiled runs left out of the judgement (warming up)
JUDGE_RUNS = 8       # compiled runs judged, after those
KEEP_RATIO = 1.0     # kept if the compiled median is at most this times the plain one
PACE_FRACTION = 0.8  # of a step's expected length the driver sleeps before reading its outputs
PACE_MIN_SECONDS = 0.050  # steps expected shorter than this are read at once
PACE_RUNS = 5        # compiled runs the expected length is taken from (their shortest)
CHANNEL_SLACK = 1.05   # channel room per byte of the largest packet (see channel_bytes)
CHANNEL_HEADER_BYTES = 64 << 10
OVERSLEPT_SECONDS = 0.001  # a read after the sleep this short: the step ended during the sleep


def keep_compiled(plain_seconds, compiled_seconds, ratio: float = KEEP_RATIO) -> bool:
    """Whether a step stays compiled: the median of its judged compiled runs against the
    median of its plain runs (medians: one run disturbed by the machine decides nothing)."""
    return statistics.median(compiled_seconds) <= ratio * statistics.median(plain_seconds)


def channel_bytes(largest_packet: float) -> int:
    """The size a compiled step's channels start with: room for its largest packet (known
    from static shapes) and what pickling adds, or Ray's default when that is larger. A
    channel written a larger value is first resized on its writer and every reader; sized
    up front, none is. (The slow first runs of a new compiled graph remained with it, for
    reasons of Ray's own: see JUDGE_SKIP.)"""
    from ray.dag.context import DAGContext

    default = DAGContext.get_current().buffer_size_bytes
    return max(default, int(largest_packet * CHANNEL_SLACK) + CHANNEL_HEADER_BYTES)


def paced_sleep(recent_seconds, fraction: float = PACE_FRACTION,
                min_seconds: float = PACE_MIN_SECONDS) -> float:
    """How long the driver sleeps after starting a compiled step before reading its outputs:
    `fraction` of the shortest of its `recent_seconds` compiled runs, or 0 while there are
    none or the step is shorter than `min_seconds`."""
    if not recent_seconds:
        return 0.0
    expected = min(recent_seconds)
    return fraction * expected if expected >= min_seconds else 0.0


def paced_seconds(nap: float, slept_until: float, started: float, done: float) -> float:
    """What a paced run counts as for the next estimates (`paced_sleep`): its length, or half
    its sleep when its outputs were read as soon as the driver woke (the run ended during the
    sleep, by how much is not known)."""
    if nap and done - slept_until < OVERSLEPT_SECONDS:
        return 0.5 * nap
    return done - started


def needs_judging(plain_seconds, min_seconds: float = JUDGE_MIN_SECONDS) -> bool:
    """Whether a step's plain runs are long enough for compiling to possibly lose."""
    return bool(plain_seconds) and statistics.median(plain_seconds) >= min_seconds


class CompiledStep:
    """One partitioned step (a ClusterPlan's calls) compiled into a Ray Compiled Graph."""

    def __init__(self, plan):
        from ray.dag import InputNode, MultiOutputNode

        self.plan = plan
        self.dropped = threading.Event()  # set once torn down
        self.seconds: list[float] = []  # this graph's runs, while its plan is being judged
        part = plan.partition
        num_feeds = len(part.feed_tensors)
        produced_by = {}  # packet or status slot -> (stage index, packet index)
        for i, stage in enumerate(part.stages):
            for p, slot in enumerate(stage.packet_slots):
                produced_by[slot] = (i, p)
            if stage.status_slot is not None:
                produced_by[stage.status_slot] = (i, None)
        nodes = []
        with InputNode() as inputs:
            for stage, call in zip(part.stages, plan._calls, strict=True):
                args, position, spec = [], {}, []
                for slot, entry in stage.inputs:
                    if slot < num_feeds:
                        source, node, packet = ("feed", slot), inputs[1 + slot], None
                    else:
                        producer, packet = produced_by[slot]
                        source, node = ("stage", producer), nodes[producer]
                    if source not in position:
                        position[source] = len(args)
                        args.append(node)
                    spec.append((position[source], packet, entry))
                nodes.append(call.actor.run_compiled.bind(call.handle, spec, inputs[0], *args))
        owners = []   # stages whose returns the driver waits for
        self._wait = []  # per waited slot of the plan: (output index, packet index)
        for slot in plan._wait_slots:
            producer, packet = produced_by[slot]
            if producer not in owners:
                owners.append(producer)
            self._wait.append((owners.index(producer), packet))
        self._dag = MultiOutputNode([nodes[i] for i in owners]).experimental_compile(
            _buffer_size_bytes=channel_bytes(part.largest_transfer))

    def run(self, session, feed_values) -> list:
        import ray
        from ray import exceptions as rex

        plan = self.plan
        feeds = [convert(v) for convert, v in zip(plan._converters, feed_values, strict=True)]
        step = next(session._steps)
        timeout = session._step_timeout()
        try:
            started = time.monotonic()
            refs = self._dag.execute(step, *feeds)
            nap = paced_sleep(plan.compiled_seconds)
            if nap:
                time.sleep(nap)
            slept_until = time.monotonic()
            outputs = ray.get(refs, timeout=max(timeout - nap, 0.001))
            plan.compiled_seconds.append(
                paced_seconds(nap, slept_until, started, time.monotonic()))
        except rex.RayChannelTimeoutError:
            session._drop_compiled()
            from tensorslow.framework import errors

            raise errors.DeadlineExceededError(
                None, None, f"Timed out after {timeout:g} s running step "
                f"{step} (step_timeout, or RunOptions.timeout_in_ms)") from None
        except rex.RayError as e:
            error = session._translate(e, f"running step {step}")
            if session._failure is not None:
                session._drop_compiled()
            elif plan._carries:
                for call in plan._calls:
                    call.actor.discard_step.remote(step)
            raise error from None
        results = [None if packet is None else outputs[out][packet]
                   for out, packet in self._wait]
        return plan.fetched(feeds, results)

    def teardown(self) -> None:
        self.dropped.set()
        try:
            self._dag.teardown()
        except Exception as e:  # noqa: BLE001 - dead actors: nothing left to tear down
            _log.debug("tearing down a compiled step: %s", e)
