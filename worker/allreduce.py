"""All-reduce among worker tasks, built as graph ops that the partitioner turns into
actor-to-actor transfers.

    reduced = all_reduce([grads_on_w0, grads_on_w1], ["/job:worker/task:0", ...])
    # reduced[i][k]: the mean over workers of gradient k, on worker i

Why ops and not a kernel that talks to its neighbours: a worker actor runs one call at a
time, so a kernel that blocked waiting for its neighbour's chunk while the neighbour's actor
was busy waiting for ours would deadlock. Expressed as ops, every hop is a data edge from one
task to another; the partitioner (worker.partition) cuts each such edge into a _Send/_Recv
pair and splits each task's work into stages by how many hops separate them from the inputs.
The driver submits all stages of a step at once in an order that cannot deadlock (see
worker.partition), and each value travels from actor to actor as a Ray ObjectRef (through the
object store when large), never through the driver. Deadlines are the session's: a step that
does not finish within its step timeout (RunOptions.timeout_in_ms or the session's
step_timeout) fails with DeadlineExceededError, and a lost worker with UnavailableError,
which MonitoredTrainingSession recovers from.

Two algorithms; a round is one stage (actor call) per worker and step, about a millisecond
of Ray's overhead (its floor, the actor round trip, is 0.7 ms):

ring_all_reduce, the classic one for N workers: each worker flattens its gradients into one
vector and cuts it into N chunks. Reduce-scatter: in N-1 rounds, worker i sends its running
sum of chunk (i - r) mod N to worker i+1, which adds its own; afterwards worker i holds the
complete sum of chunk (i + 1) mod N (which it scales by 1/N for a mean). All-gather: in N-1
more rounds the complete chunks go around the ring. Each worker sends and receives 2(N-1)/N of
the gradient bytes, whatever N; the price is 2(N-1) rounds.

direct_all_reduce: one round. Every worker sends its gradients, as they are (no flattening),
to all the others as one object, and each worker adds all N lists itself. Each worker
receives (N-1) times the gradient bytes: at N = 2 that is what the ring moves too, in half
the rounds, and on one node every reader maps the same object from the shared object store.

all_reduce picks direct_all_reduce for 2 workers and for small gradients (at most
DIRECT_MAX_BYTES, where rounds cost more than bytes), the ring otherwise.
"""

from __future__ import annotations

import numpy as np

from tensorslow.framework.ops import device as device_scope
from tensorslow.ops import array_ops, math_ops

DIRECT_MAX_BYTES = 1 << 20
ALGORITHMS = ("auto", "direct", "ring")


def all_reduce(tensors_per_worker: list[list], devices: list[str], average: bool = True,
               algorithm: str = "auto", name: str = "all_reduce") -> list[list]:
    """All-reduces lists of tensors across workers (arguments and result as
    ring_all_reduce) with `algorithm`: "direct", "ring", or "auto" (see the module
    docstring)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "auto":
        algorithm = "direct" if direct_is_cheaper(tensors_per_worker, devices) else "ring"
    reduce = direct_all_reduce if algorithm == "direct" else ring_all_reduce
    return reduce(tensors_per_worker, devices, average=average, name=name)


def direct_is_cheaper(tensors_per_worker: list[list], devices: list[str]) -> bool:
    """Whether all_reduce's "auto" takes the direct algorithm for these tensors."""
    shapes = _check(tensors_per_worker, devices, "all_reduce")
    nbytes = sum(int(np.prod(s.as_list(), dtype=np.int64)) * t.dtype.size
                 for s, t in zip(shapes, tensors_per_worker[0], strict=True))
    return len(devices) <= 2 or nbytes <= DIRECT_MAX_BYTES


def _chunk_sizes(total: int, n: int) -> list[int]:
    return [len(part) for part in np.array_split(np.arange(total), n)]


def _check(tensors_per_worker: list[list], devices: list[str], who: str) -> list:
    """The common shapes of every worker's tensors (errors name `who`)."""
    n = len(devices)
    if n != len(tensors_per_worker) or n == 0:
        raise ValueError(f"{who} needs one list of tensors per device")
    shapes = [t.shape for t in tensors_per_worker[0]]
    for tensors in tensors_per_worker:
        if len(tensors) != len(shapes) or any(
                t.shape.as_list() != s.as_list() for t, s in zip(tensors, shapes, strict=True)):
            raise ValueError(f"{who}: every worker must give tensors of the same shapes")
    for s in shapes:
        if not s.is_fully_defined():
            raise ValueError(f"{who} needs fully known shapes, got {s}")
    return shapes


def direct_all_reduce(tensors_per_worker: list[list], devices: list[str],
                      average: bool = True, name: str = "direct_all_reduce") -> list[list]:
    """All-reduces lists of tensors by sending every worker's tensors to every other worker,
    each of which sums all of them itself (arguments and result as ring_all_reduce).

    Every worker adds the n lists in worker order, so all of them get the same bits.
    """
    _check(tensors_per_worker, devices, "direct_all_reduce")
    n = len(devices)
    if n == 1:
        return [list(tensors_per_worker[0])]
    out = []
    for i, dev in enumerate(devices):
        reduced = []
        with device_scope(dev):
            for k, parts in enumerate(zip(*tensors_per_worker, strict=True)):
                total = math_ops.add_n(list(parts), name=f"{name}/sum_{i}_{k}")
                if average:
                    total = math_ops.multiply(
                        total, np.array(1.0 / n, dtype=total.dtype.as_numpy_dtype),
                        name=f"{name}/mean_{i}_{k}")
                reduced.append(total)
        out.append(reduced)
    return out


def ring_all_reduce(tensors_per_worker: list[list], devices: list[str],
                    average: bool = True, name: str = "ring_all_reduce") -> list[list]:
    """All-reduces lists of tensors across workers along a ring.

    tensors_per_worker[i] are worker i's tensors (same shapes and dtypes on every worker,
    shapes fully known); devices[i] is worker i's device. Returns, for each worker, its list
    of reduced tensors (sums, or means with `average`), computed on its device.
    """
    shapes = _check(tensors_per_worker, devices, "ring_all_reduce")
    n = len(devices)
    if n == 1:
        return [list(tensors_per_worker[0])]
    sizes = [int(np.prod(s.as_list(), dtype=np.int64)) for s in shapes]
    total = sum(sizes)
    chunk_sizes = _chunk_sizes(total, n)

    # acc[i][c]: worker i's current value of chunk c (a tensor on worker i).
    acc = []
    for i, (tensors, dev) in enumerate(zip(tensors_per_worker, devices, strict=True)):
        with device_scope(dev):
            flat = array_ops.concat([array_ops.reshape(t, [-1]) for t in tensors], 0,
                                    name=f"{name}/flatten_{i}")
            acc.append(list(array_ops.split(flat, chunk_sizes, 0, name=f"{name}/chunks_{i}")))

    for r in range(n - 1):  # reduce-scatter
        sends = [(i, (i - r) % n) for i in range(n)]
        for i, c in sends:
            j = (i + 1) % n
            with device_scope(devices[j]):
                acc[j][c] = math_ops.add(acc[j][c], acc[i][c], name=f"{name}/reduce_{r}_{j}")
    if average:  # each worker scales the chunk it completed: 1/n of the data each
        for i, dev in enumerate(devices):
            c = (i + 1) % n
            with device_scope(dev):
                acc[i][c] = math_ops.multiply(
                    acc[i][c], np.array(1.0 / n, dtype=acc[i][c].dtype.as_numpy_dtype),
                    name=f"{name}/mean_{i}")
    for r in range(n - 1):  # all-gather
        sends = [(i, (i + 1 - r) % n) for i in range(n)]
        for i, c in sends:
            j = (i + 1) % n
            with device_scope(devices[j]):
                acc[j][c] = array_ops.identity(acc[i][c], name=f"{name}/gather_{r}_{j}")

    out = []
    for i, dev in enumerate(devices):
        with device_scope(dev):
            flat = array_ops.concat(acc[i], 0, name=f"{name}/joined_{i}")
            parts = array_ops.split(flat, sizes, 0, name=f"{name}/parts_{i}")
            out.append([array_ops.reshape(p, s.as_list(), name=f"{name}/out_{i}_{k}")
                        for k, (p, s) in enumerate(zip(parts, shapes, strict=True))])
    return out
