"""Data parallelism built as graphs (in this process; tests/test_data_parallel_ray.py runs the
same graphs on Ray): N synchronous replicas on N shards make the same updates as one replica
on the whole batch, with parameter servers or all-reduce; the all-reduce graphs' shapes."""

import numpy as np
import pytest

import tensorslow as ts
from worker.allreduce import all_reduce, direct_all_reduce, ring_all_reduce

RNG = np.random.RandomState(0)
X = RNG.randn(8, 4).astype(np.float32)
Y = RNG.randn(8, 1).astype(np.float32)
K1 = RNG.randn(4, 6).astype(np.float32)
K2 = RNG.randn(6, 1).astype(np.float32)


def model_fn(batch):
    x, y = batch
    h = ts.layers.dense(x, 6, activation=ts.nn.tanh, name="hidden",
                        kernel_initializer=ts.constant_initializer(K1))
    out = ts.layers.dense(h, 1, name="out", kernel_initializer=ts.constant_initializer(K2))
    return ts.reduce_mean(ts.square(out - y))


def train_replicated(num_replicas, aggregation, target="", steps=3, optimizer=None,
                     inputs=None, config=None):
    g = ts.Graph()
    with g.as_default():
        opt = optimizer() if optimizer else ts.train.GradientDescentOptimizer(0.1)
        rep = ts.train.replicate(model_fn, inputs or (ts.constant(X), ts.constant(Y)), opt,
                                 num_replicas=num_replicas, aggregation=aggregation)
        init = ts.global_variables_initializer()
    with ts.Session(target, graph=g, config=config) as sess:
        sess.run(init)
        losses = [float(sess.run([rep.train_op, rep.loss])[1]) for _ in range(steps)]
        return sess.run(rep.variables), int(sess.run(rep.global_step)), losses, rep, g


def reference(steps=3, optimizer=None):
    variables, step, losses, _, _ = train_replicated(1, "ps", steps=steps, optimizer=optimizer)
    return variables[0], step, losses


@pytest.mark.parametrize("num_replicas, aggregation", [(2, "ps"), (4, "ps"), (2, "ring"),
                                                       (4, "ring")])
def test_replicas_make_the_same_updates_as_one_full_batch(num_replicas, aggregation):
    expected, _, expected_losses = reference()
    variables, step, losses, _, _ = train_replicated(num_replicas, aggregation)
    assert step == 3
    for tower in variables:  # the ring's copies all match too
        for got, want in zip(tower, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)


def test_ring_replicas_keep_their_own_adam_state():
    adam = lambda: ts.train.AdamOptimizer(0.05)  # noqa: E731
    expected, _, _ = reference(steps=4, optimizer=adam)
    variables, _, _, _, g = train_replicated(2, "ring", steps=4, optimizer=adam)
    for tower in variables:
        for got, want in zip(tower, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    names = {v.op.name for v in g.get_collection(ts.GraphKeys.GLOBAL_VARIABLES)}
    assert {"beta1_power", "beta1_power_1", "replica_1/hidden/kernel",
            "replica_1/hidden/kernel/Adam"} <= names
    assert all(not n.startswith("replica_") for n in
               (v.op.name for v in g.get_collection(ts.GraphKeys.TRAINABLE_VARIABLES)))


def test_replicate_places_towers_variables_and_inputs():
    shards = [(X[i::2], Y[i::2]) for i in range(2)]
    seen_devices = []

    def input_fn(index, count):
        seen_devices.append(ts.get_default_graph()._device_stack[-1])
        ds = ts.data.Dataset.from_tensor_slices(shards[index]).batch(4).repeat()
        return ds.make_one_shot_iterator().get_next()

    _, _, _, rep, g = train_replicated(2, "ps", inputs=input_fn)
    assert len(seen_devices) == 2
    by_name = {op.name: op for op in g.get_operations()}
    assert by_name["hidden/kernel"].device.startswith("/job:ps/task:0")
    get_next = [op for op in g.get_operations() if op.type == "DatasetIteratorGetNext"]
    assert sorted(op.device for op in get_next) == ["/job:worker/task:0", "/job:worker/task:1"]
    assert rep.tower_losses[1].device == "/job:worker/task:1"
    _, _, _, ring, rg = train_replicated(2, "ring")
    ring_ops = {op.name: op for op in rg.get_operations()}
    assert ring_ops["hidden/kernel"].device == "/job:worker/task:0"
    assert ring_ops["replica_1/hidden/kernel"].device == "/job:worker/task:1"


def test_replicate_rejects_models_that_do_not_share_variables():
    def private_variables(batch):
        x, _ = batch
        w = ts.Variable(np.ones((4, 1), np.float32))
        return ts.reduce_mean(ts.matmul(x, w))

    with ts.Graph().as_default():
        with pytest.raises(ValueError, match="ts.get_variable or ts.layers"):
            ts.train.replicate(private_variables, (ts.constant(X), ts.constant(Y)),
                               ts.train.GradientDescentOptimizer(0.1), num_replicas=2)
        with pytest.raises(ValueError, match="aggregation"):
            ts.train.replicate(model_fn, (ts.constant(X), ts.constant(Y)),
                               ts.train.GradientDescentOptimizer(0.1), 2, aggregation="tree")
        with pytest.raises(ValueError, match="divide"):
            ts.train.replicate(model_fn, (ts.constant(X[:7]), ts.constant(Y[:7])),
                               ts.train.GradientDescentOptimizer(0.1), 2)


def in_graph_replication_tf1_style(num_workers):
    """TF1's in-graph replication, written out by hand: a tower per worker, variables on the
    ps task, gradients averaged with add_n, one apply_gradients."""
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:ps/task:0"):
            w1 = ts.Variable(K1, name="w1")
            w2 = ts.Variable(K2, name="w2")
            step = ts.train.get_or_create_global_step()
        opt = ts.train.GradientDescentOptimizer(0.1)
        tower_grads, losses = [], []
        for i, (xs, ys) in enumerate(zip(np.split(X, num_workers), np.split(Y, num_workers),
                                         strict=True)):
            with ts.device(f"/job:worker/task:{i}"):
                h = ts.tanh(ts.matmul(ts.constant(xs), w1))
                loss = ts.reduce_mean(ts.square(ts.matmul(h, w2) - ys))
                tower_grads.append(opt.compute_gradients(loss, [w1, w2]))
                losses.append(loss)
        with ts.device("/job:ps/task:0"):
            averaged = [(ts.add_n([tg[k][0] for tg in tower_grads]) / float(num_workers), v)
                        for k, v in enumerate([w1, w2])]
            train = opt.apply_gradients(averaged, global_step=step)
        loss = ts.add_n(losses) / float(num_workers)
    return g, train, loss, [w1, w2]


def run_tf1_style(num_workers, target="", steps=3):
    g, train, loss, variables = in_graph_replication_tf1_style(num_workers)
    with ts.Session(target, graph=g) as sess:
        sess.run(ts.variables_initializer(g.get_collection(ts.GraphKeys.GLOBAL_VARIABLES)))
        losses = [float(sess.run([train, loss])[1]) for _ in range(steps)]
        return sess.run(variables), losses


def test_tf1_in_graph_replication_as_written():
    expected, expected_losses = run_tf1_style(1)
    got, losses = run_tf1_style(2)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)


def _worker_values(n):
    """Two arrays per worker, for n workers."""
    rng = np.random.RandomState(n)
    return [[rng.randn(3, 2).astype(np.float32), rng.randn(7).astype(np.float32)]
            for _ in range(n)]


def _on_workers(values):
    """The workers' devices, and their values as constants in the default graph."""
    devices = [f"/job:worker/task:{i}" for i in range(len(values))]
    return devices, [[ts.constant(v) for v in vs] for vs in values]


@pytest.mark.parametrize("n", [2, 3, 5])
def test_ring_all_reduce_sums_and_means(n):
    values = _worker_values(n)
    with ts.Graph().as_default() as g:
        devices, tensors = _on_workers(values)
        summed = ring_all_reduce(tensors, devices, average=False)
        meaned = ring_all_reduce(tensors, devices)
        hops = [op for op in g.get_operations() if "/reduce_" in op.name or "/gather_" in op.name]
        with ts.Session() as sess:
            got_sum, got_mean = sess.run([summed, meaned])
    assert len(hops) == 2 * 2 * n * (n - 1)  # both calls: n sends per round, 2(n-1) rounds
    for i in range(n):
        for k in range(2):
            total = sum(v[k] for v in values)
            np.testing.assert_allclose(got_sum[i][k], total, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got_mean[i][k], total / n, rtol=1e-5, atol=1e-6)
            assert summed[i][k].device == devices[i]


def test_ring_all_reduce_checks_its_inputs():
    with ts.Graph().as_default():
        a, b = ts.constant(np.zeros(3, np.float32)), ts.constant(np.zeros(4, np.float32))
        with pytest.raises(ValueError, match="same shapes"):
            ring_all_reduce([[a], [b]], ["/job:worker/task:0", "/job:worker/task:1"])
        p = ts.placeholder(ts.float32, [None])
        with pytest.raises(ValueError, match="fully known"):
            ring_all_reduce([[p], [p]], ["/job:worker/task:0", "/job:worker/task:1"])


@pytest.mark.parametrize("n", [2, 3, 5])
def test_direct_all_reduce_gives_every_worker_the_same_sums_and_means(n):
    values = _worker_values(n)
    with ts.Graph().as_default() as g:
        devices, tensors = _on_workers(values)
        summed = direct_all_reduce(tensors, devices, average=False)
        meaned = direct_all_reduce(tensors, devices)
        ring = ring_all_reduce(tensors, devices)
        sums = [op for op in g.get_operations() if op.type == "AddN"]
        with ts.Session() as sess:
            got_sum, got_mean, got_ring = sess.run([summed, meaned, ring])
    assert len(sums) == 2 * 2 * n  # both calls: one add_n per worker and tensor
    for i in range(n):
        for k in range(2):
            total = sum(v[k] for v in values)
            np.testing.assert_allclose(got_sum[i][k], total, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(got_sum[i][k], got_sum[0][k])
            np.testing.assert_array_equal(got_mean[i][k], got_mean[0][k])
            np.testing.assert_allclose(got_mean[i][k], total / n, rtol=1e-5, atol=1e-6)
            if n == 2:  # a + b is b + a: the ring's bits exactly
                np.testing.assert_array_equal(got_mean[i][k], got_ring[i][k])
            assert meaned[i][k].device == devices[i]


@pytest.mark.parametrize("n, elements, expected", [(2, 1 << 20, "direct"),
                                                   (3, 1000, "direct"),
                                                   (3, 1 << 20, "ring")])
def test_all_reduce_goes_direct_at_two_workers_and_for_small_gradients(n, elements, expected):
    with ts.Graph().as_default() as g:
        devices = [f"/job:worker/task:{i}" for i in range(n)]
        tensors = [[ts.zeros([elements], ts.float32)] for _ in devices]
        all_reduce(tensors, devices)
        ring_hops = [op for op in g.get_operations() if "/reduce_" in op.name]
    assert bool(ring_hops) == (expected == "ring")
    with ts.Graph().as_default(), pytest.raises(ValueError, match="algorithm"):
        all_reduce([[ts.zeros([2])], [ts.zeros([2])]], devices[:2], algorithm="tree")
