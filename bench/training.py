"""Training on Ray: data-parallel steps/s, the cost of synchronous aggregation, checkpoints.

    python -m bench.training                  # every table
    python -m bench.training --only checkpoint --checkpoint-mb 100

1. Steps/s of synchronous data-parallel training (ts.train.replicate) of a compute-heavy MLP
   on Ray over 1, 2 (and 4 when the machine has the cores) worker tasks, the global batch
   fixed and split across them; parameter servers against ring all-reduce; and one worker on
   Ray against the same program in this process.
2. The per-step cost of aggregating the model's gradients across 2 workers (a graph that only
   aggregates: each worker holds gradient-sized arrays), against a raw Ray reduce of the same
   arrays (each worker actor returns its arrays, a third actor sums them), ring all-reduce
   against the parameter server.
3. Saver.save / Saver.restore of 100 MB of variables against np.save (+ fsync, as the Saver
   makes its files durable) / np.load of the same arrays, without pickle.

Every figure is a median of repeated runs; only the ratios mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from bench.harness import Row, median_seconds, print_table, rates_interleaved

LAYERS = (512, 1024, 1024, 10)
GLOBAL_BATCH = 512


# --------------------------------------------------------------------------------------------
# 1. Data-parallel training
# --------------------------------------------------------------------------------------------


def _mlp_data(seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(GLOBAL_BATCH, LAYERS[0]).astype(np.float32)
    labels = rng.randint(0, LAYERS[-1], GLOBAL_BATCH).astype(np.int64)
    kernels = [(rng.randn(a, b) / np.sqrt(a)).astype(np.float32)
               for a, b in zip(LAYERS[:-1], LAYERS[1:], strict=True)]
    return x, labels, kernels


def build_training(ts, num_workers: int, aggregation: str):
    """A graph training the MLP with `num_workers` replicas; returns (graph, train_op)."""
    x_all, labels_all, kernels = _mlp_data()

    def model_fn(batch):
        x, labels = batch
        h = x
        for i, k in enumerate(kernels):
            h = ts.layers.dense(h, k.shape[1], name=f"dense_{i}",
                                kernel_initializer=ts.constant_initializer(k),
                                activation=ts.nn.relu if i < len(kernels) - 1 else None)
        return ts.losses.sparse_softmax_cross_entropy(labels, h)

    def input_fn(index, count):
        # Each worker's shard is a constant on its own task: no input crosses the driver.
        per = GLOBAL_BATCH // count
        return (ts.constant(x_all[index * per:(index + 1) * per]),
                ts.constant(labels_all[index * per:(index + 1) * per]))

    g = ts.Graph()
    with g.as_default():
        rep = ts.train.replicate(model_fn, input_fn, ts.train.GradientDescentOptimizer(0.01),
                                 num_replicas=num_workers, aggregation=aggregation)
        init = ts.global_variables_initializer()
    return g, rep.train_op, init


def training_rates(ts, worker_counts) -> dict:
    sessions = {}
    fns = {}
    g, train, init = build_training(ts, 1, "ps")
    local = ts.Session(graph=g)
    local.run(init)
    fns["in-process"] = (lambda s=local, t=train: s.run(t))
    for n in worker_counts:
        for aggregation in ("ps", "ring"):
            if n == 1 and aggregation == "ring":
                continue
            g, train, init = build_training(ts, n, aggregation)
            sess = ts.Session("ray", graph=g)
            sess.run(init)
            sessions[(n, aggregation)] = sess
            fns[f"{aggregation} x{n}"] = (lambda s=sess, t=train: s.run(t))
    try:
        return rates_interleaved(fns, min_time=1.0, repeats=3)
    finally:
        for sess in sessions.values():
            sess.close()
        local.close()


# --------------------------------------------------------------------------------------------
# 2. Aggregation against raw Ray
# --------------------------------------------------------------------------------------------


def _gradient_shapes():
    shapes = []
    for a, b in zip(LAYERS[:-1], LAYERS[1:], strict=True):
        shapes += [(a, b), (b,)]
    return shapes


def gradient_variables(ts, devices, arrays_per_worker) -> list[list]:
    """Per worker, its gradient arrays as variables ("g<worker>_<k>") on its device."""
    grads = []
    for i, (dev, arrays) in enumerate(zip(devices, arrays_per_worker, strict=True)):
        with ts.device(dev):
            grads.append([ts.Variable(a, name=f"g{i}_{k}") for k, a in enumerate(arrays)])
    return grads


def build_aggregation(ts, aggregation: str):
    """Only the aggregation: gradient-sized variables on 2 workers, summed (ps) or
    all-reduced (all_reduce: direct at 2 workers); the step fetches one scalar so nothing
    large reaches the driver."""
    from worker.allreduce import all_reduce

    rng = np.random.RandomState(1)
    shapes = _gradient_shapes()
    devices = ["/job:worker/task:0", "/job:worker/task:1"]
    g = ts.Graph()
    with g.as_default():
        grads = gradient_variables(ts, devices, [[rng.randn(*s).astype(np.float32)
                                                  for s in shapes] for _ in devices])
        if aggregation == "ps":
            with ts.device("/job:ps/task:0"):
                sums = [ts.add_n([grads[0][k], grads[1][k]]) for k in range(len(shapes))]
                out = ts.add_n([ts.reduce_sum(s) for s in sums])
        else:
            reduced = all_reduce([[v.value() for v in vs] for vs in grads], devices)
            finals = []
            for dev, tensors in zip(devices, reduced, strict=True):
                with ts.device(dev):
                    finals.append(ts.add_n([ts.reduce_sum(t) for t in tensors]))
            with ts.device(devices[0]):
                out = ts.add_n(finals)
        init = ts.global_variables_initializer()
    return g, out, init


class _Holder:
    """A raw Ray actor holding gradient-sized arrays (the baseline's worker)."""

    def __init__(self, seed):
        rng = np.random.RandomState(seed)
        self.arrays = [rng.randn(*s).astype(np.float32) for s in _gradient_shapes()]

    def grads(self):
        return self.arrays


class _Reducer:
    def reduce(self, a, b):
        return float(sum(float(np.sum(x + y)) for x, y in zip(a, b, strict=True)))


def aggregation_rates(ts) -> dict:
    import ray

    fns, sessions = {}, []
    for aggregation in ("ps", "ring"):
        g, out, init = build_aggregation(ts, aggregation)
        sess = ts.Session("ray", graph=g)
        sess.run(init)
        sessions.append(sess)
        fns[aggregation] = (lambda s=sess, o=out: s.run(o))
    holder = ray.remote(num_cpus=0)(_Holder)
    reducer = ray.remote(num_cpus=0)(_Reducer).remote()
    workers = [holder.remote(1), holder.remote(2)]

    def raw_reduce():
        a, b = (w.grads.remote() for w in workers)
        return ray.get(reducer.reduce.remote(a, b))

    fns["raw ray"] = raw_reduce
    try:
        return rates_interleaved(fns, min_time=1.0, repeats=5)
    finally:
        for sess in sessions:
            sess.close()
        for actor in [reducer, *workers]:
            ray.kill(actor)


# --------------------------------------------------------------------------------------------
# 3. Checkpoints
# --------------------------------------------------------------------------------------------


def checkpoint_rates(ts, megabytes: int) -> dict:
    """MB/s of Saver.save / Saver.restore and of np.save (+fsync) / np.load."""
    count = 4
    per = megabytes * 1_000_000 // (4 * count)
    rng = np.random.RandomState(2)
    arrays = [rng.rand(per).astype(np.float32) for _ in range(count)]
    total_mb = sum(a.nbytes for a in arrays) / 1e6
    g = ts.Graph()
    with g.as_default():
        variables = [ts.Variable(a, name=f"v{i}") for i, a in enumerate(arrays)]
        saver = ts.train.Saver(variables, max_to_keep=1)
    sess = ts.Session(graph=g)
    sess.run([v.initializer for v in variables])
    directory = tempfile.mkdtemp(prefix="bench-checkpoint-")
    prefix = os.path.join(directory, "model.ckpt")
    paths = [os.path.join(directory, f"a{i}.npy") for i in range(count)]

    def numpy_save():
        for a, path in zip(arrays, paths, strict=True):
            with open(path, "wb") as f:
                np.save(f, a, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())

    def numpy_load():
        return [np.load(path, allow_pickle=False) for path in paths]

    try:
        save = median_seconds(lambda: saver.save(sess, prefix, write_meta_graph=False),
                              repeats=3)
        restore = median_seconds(lambda: saver.restore(sess, prefix), repeats=3)
        np_save = median_seconds(numpy_save, repeats=3)
        np_load = median_seconds(numpy_load, repeats=3)
    finally:
        sess.close()
        shutil.rmtree(directory, ignore_errors=True)
    return {"save": total_mb / save, "restore": total_mb / restore,
            "np_save": total_mb / np_save, "np_load": total_mb / np_load, "mb": total_mb}


# --------------------------------------------------------------------------------------------


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["training", "aggregation", "checkpoint"],
                        default=None)
    parser.add_argument("--workers", default=None,
                        help="worker counts, e.g. 1,2,4 (default: 1,2, and 4 with 4+ cores)")
    parser.add_argument("--checkpoint-mb", type=int, default=100)
    args = parser.parse_args(argv)
    import tensorslow as ts

    if args.workers:
        counts = [int(n) for n in args.workers.split(",")]
    else:
        counts = [1, 2] + ([4] if (os.cpu_count() or 1) >= 4 else [])
    started = time.perf_counter()
    if args.only in (None, "training"):
        r = training_rates(ts, counts)
        rows = [Row("1 worker on Ray (ps)", r["ps x1"], r["in-process"], "in-process",
                    "steps/s")]
        for n in counts[1:]:
            rows.append(Row(f"ps, {n} workers (scaling vs 1 worker)", r[f"ps x{n}"],
                            r["ps x1"], "1 worker", "steps/s"))
            rows.append(Row(f"ring all-reduce, {n} workers (vs ps)", r[f"ring x{n}"],
                            r[f"ps x{n}"], f"ps x{n}", "steps/s"))
        print_table(f"Data-parallel training, MLP {'-'.join(map(str, LAYERS))}, global "
                    f"batch {GLOBAL_BATCH} (steps/s; {os.cpu_count()} cores)", rows)
    if args.only in (None, "aggregation"):
        r = aggregation_rates(ts)
        size_mb = sum(int(np.prod(s)) for s in _gradient_shapes()) * 4 / 1e6
        print_table(f"Synchronous aggregation of {size_mb:.1f} MB of gradients over 2 workers "
                    "(steps/s)",
                    [Row("parameter server (add_n on ps)", r["ps"], r["raw ray"],
                         "raw Ray reduce", "steps/s"),
                     Row("all-reduce (direct at 2 workers)", r["ring"], r["raw ray"],
                         "raw Ray reduce",
                         "steps/s")])
        print(f"   per step: ps {1e3 / r['ps']:.1f} ms, all-reduce {1e3 / r['ring']:.1f} ms, "
              f"raw Ray reduce {1e3 / r['raw ray']:.1f} ms")
    if args.only in (None, "checkpoint"):
        r = checkpoint_rates(ts, args.checkpoint_mb)
        print_table(f"Checkpoints of {r['mb']:.0f} MB of variables (MB/s)",
                    [Row("Saver.save", r["save"], r["np_save"], "np.save+fsync", "MB/s",
                         target=0.8),
                     Row("Saver.restore", r["restore"], r["np_load"], "np.load", "MB/s",
                         target=0.8)])
    print(f"\n(bench.training took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
