"""Values dropped after their last use, and elementwise ops writing into inputs that die at
their step (tensorslow.client.forwarding): the memory a step holds goes down, and no value
anything else can see is ever written into."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import tensorslow as ts
from tensorslow.client import forwarding

N = 1 << 20  # elements: 4 MB of float32, well above forwarding.MIN_ELEMENTS


@pytest.fixture
def without_forwarding(monkeypatch):
    """Plans built inside keep every value to the end of the step, as before."""
    def disable():
        monkeypatch.setattr(forwarding, "dying_slots",
                            lambda step_inputs, *_: [()] * len(step_inputs))
    return disable


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _chain(x, depth=8):
    t = x
    for i in range(depth):
        t = ts.nn.relu(t + float(i)) * 0.5
    return t


def test_a_chain_of_elementwise_ops_holds_one_buffer_not_one_per_op(without_forwarding):
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [N])
        y = _chain(x)
    value = np.random.RandomState(0).randn(N).astype(np.float32)
    with ts.Session(graph=g) as sess:
        sess.run(y, {x: value})
        forwarded = _peak_bytes(lambda: sess.run(y, {x: value}))
        result = sess.run(y, {x: value})
    without_forwarding()
    with ts.Session(graph=g) as sess:
        sess.run(y, {x: value})
        kept = _peak_bytes(lambda: sess.run(y, {x: value}))
        expected = sess.run(y, {x: value})
    np.testing.assert_array_equal(result, expected)  # bitwise: the same ufuncs
    # 24 values of 4 MB kept to the end against a couple live at a time.
    assert kept > 20 * value.nbytes
    assert forwarded < 3 * value.nbytes, (forwarded, kept)


def test_fed_arrays_variables_and_fetched_values_are_never_written_into():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [N])
        v = ts.Variable(np.ones(N, np.float32))
        a = x + 1.0            # fed input: its array belongs to the caller
        b = ts.nn.relu(a)      # a is fetched too: it must survive b
        c = b * v              # a variable's value
        d = ts.tanh(c) - c     # c is read twice: Tanh must not overwrite it
    value = np.linspace(-2, 2, N).astype(np.float32)
    original = value.copy()
    with ts.Session(graph=g) as sess:
        sess.run(v.initializer)
        for _ in range(2):
            got_a, got_d = sess.run([a, d], {x: value})
        np.testing.assert_array_equal(value, original)
        np.testing.assert_array_equal(sess.run(v), np.ones(N, np.float32))
    np.testing.assert_array_equal(got_a, original + 1)
    relu = np.maximum(original + 1, 0)
    np.testing.assert_array_equal(got_d, np.tanh(relu) - relu)


def test_training_is_bitwise_the_same_with_and_without_forwarding(without_forwarding):
    def train():
        rng = np.random.RandomState(1)
        images = rng.randn(512, 64).astype(np.float32)
        labels = rng.randint(0, 10, 512).astype(np.int64)
        g = ts.Graph()
        with g.as_default():
            ts.set_random_seed(3)
            x = ts.placeholder(ts.float32, [None, 64])
            y = ts.placeholder(ts.int64, [None])
            h = ts.layers.dense(x, 256, activation=ts.nn.relu)
            h = ts.layers.dense(h, 256, activation=ts.nn.tanh)
            logits = ts.layers.dense(h, 10)
            loss = ts.losses.sparse_softmax_cross_entropy(y, logits)
            step = ts.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
            with ts.Session(graph=g) as sess:
                sess.run(ts.global_variables_initializer())
                losses = [sess.run([step, loss], {x: images, y: labels})[1] for _ in range(5)]
                weights = sess.run(ts.trainable_variables())
        return losses, weights

    losses, weights = train()
    without_forwarding()
    expected_losses, expected_weights = train()
    assert losses == expected_losses
    for got, want in zip(weights, expected_weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_loop_body_reuses_its_buffers_and_keeps_its_loop_invariant_values():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [N])
        scale = ts.placeholder(ts.float32, [N])  # captured: the same value every iteration

        def body(i, t):
            return i + 1, ts.nn.relu(t * scale + 1.0) - 0.5

        _, out = ts.while_loop(lambda i, t: i < 4, body, [ts.constant(0), x])
    value = np.linspace(-1, 1, N).astype(np.float32)
    factor = np.full(N, 0.5, np.float32)
    with ts.Session(graph=g) as sess:
        got = sess.run(out, {x: value, scale: factor})
    want = value
    for _ in range(4):
        want = np.maximum(want * factor + 1.0, 0) - 0.5
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(factor, np.full(N, 0.5, np.float32))


def test_small_values_of_known_shape_are_left_alone():
    g = ts.Graph()
    with g.as_default():
        small = ts.placeholder(ts.float32, [8, 8])
        unknown = ts.placeholder(ts.float32, [None, 8])
        large = ts.placeholder(ts.float32, [N])
    assert not forwarding.worth_freeing(small)
    assert forwarding.worth_freeing(unknown) and forwarding.worth_freeing(large)


def test_dying_slots_are_the_last_reads_and_the_unread_writes():
    # step 0 writes 1 and 2, step 1 reads 1 and writes 3, step 2 reads 1 and 3.
    step_inputs = [(), (1,), (1, 3)]
    step_outputs = [(1, 2), (3,), (4,)]
    frees = forwarding.dying_slots(step_inputs, step_outputs, kept={4},
                                   candidates={1, 2, 3, 4})
    assert frees == [(2,), (), (1, 3)]
    assert forwarding.dying_slots(step_inputs, step_outputs, kept={4},
                                  candidates={3}) == [(), (), (3,)]
