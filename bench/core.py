"""Core engine speed: Session.run overhead and training steps, against numpy and TF1.

The same model-building code runs on `tensorslow` and, when TensorFlow is available, on
`tensorflow.compat.v1` (the APIs match), and a hand-written numpy version of each program is
the floor. TensorFlow runs in a process of its own: this Python when it has TensorFlow, or the
one named by the environment variable TENSORSLOW_BENCH_TF_PYTHON. Its loops take turns with
ours and numpy's (seven each, medians kept), so all three see the same load on a shared machine.

    python -m bench.core
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.harness import (
    Row,
    TensorFlowLoops,
    loop_rates,
    print_table,
    serve_loops,
    tensorflow_python,
    timed_loop,
)

# -- the programs, written once against the TF1 API --------------------------------------------


def affine(tf):
    """(a) z = A·x + b with a feed, as in the seed."""
    g = tf.Graph()
    with g.as_default():
        A = tf.Variable(np.array([[1.0, 0.0], [0.0, -1.0]], np.float32))
        b = tf.Variable(np.array([[1.0], [1.0]], np.float32))
        x = tf.placeholder(tf.float32, [2, 1])
        z = tf.add(tf.matmul(A, x), b)
        sess = tf.Session(graph=g)
        sess.run(tf.global_variables_initializer())
    feed = {x: np.array([[1.0], [2.0]], np.float32)}
    return lambda: sess.run(z, feed)


def mlp(tf, sizes, activation, batch, lr, seed=0):
    """A dense net trained by gradient descent on softmax cross-entropy (float32)."""
    rng = np.random.RandomState(seed)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, sizes[0]])
        labels = tf.placeholder(tf.float32, [None, sizes[-1]])
        h = x
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            w = tf.Variable((rng.randn(n_in, n_out) / np.sqrt(n_in)).astype(np.float32))
            bias = tf.Variable(np.zeros(n_out, np.float32))
            h = tf.add(tf.matmul(h, w), bias)
            if i < len(sizes) - 2:
                h = getattr(tf.nn, activation)(h)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels,
                                                                         logits=h))
        train = tf.train.GradientDescentOptimizer(lr).minimize(loss)
        sess = tf.Session(graph=g)
        sess.run(tf.global_variables_initializer())
    xs, ys = _data(rng, sizes, batch)
    feed = {x: xs, labels: ys}
    return lambda: sess.run(train, feed)


def cnn(tf, batch=32, seed=0):
    """(d) conv 5x5x16 relu, max-pool 2, conv 5x5x32 relu, max-pool 2, dense 10, on 28x28
    images, trained by gradient descent on softmax cross-entropy (float32)."""
    rng = np.random.RandomState(seed)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 28, 28, 1])
        labels = tf.placeholder(tf.float32, [None, 10])
        h = x
        for shape in CNN_FILTERS:
            w = tf.Variable((rng.randn(*shape) / np.sqrt(np.prod(shape[:3]))).astype(np.float32))
            h = tf.nn.relu(tf.nn.conv2d(h, w, [1, 1, 1, 1], "SAME"))
            h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
        w = tf.Variable((rng.randn(7 * 7 * 32, 10) / 40).astype(np.float32))
        logits = tf.matmul(tf.reshape(h, [-1, 7 * 7 * 32]), w)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels,
                                                                         logits=logits))
        train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
        sess = tf.Session(graph=g)
        sess.run(tf.global_variables_initializer())
    xs, ys = _images(rng, batch)
    feed = {x: xs, labels: ys}
    return lambda: sess.run(train, feed)


CNN_FILTERS = [(5, 5, 1, 16), (5, 5, 16, 32)]


def _images(rng, batch):
    xs = rng.rand(batch, 28, 28, 1).astype(np.float32)
    ys = np.eye(10, dtype=np.float32)[rng.randint(0, 10, batch)]
    return xs, ys


def _data(rng, sizes, batch):
    xs = rng.randn(batch, sizes[0]).astype(np.float32)
    ys = np.eye(sizes[-1], dtype=np.float32)[rng.randint(0, sizes[-1], batch)]
    return xs, ys


SMALL = dict(sizes=[2, 16, 16, 16, 2], activation="sigmoid", batch=100, lr=0.1)
LARGE = dict(sizes=[784, 512, 512, 10], activation="relu", batch=256, lr=0.01)

# -- hand-written numpy ------------------------------------------------------------------------


def numpy_affine():
    A = np.array([[1.0, 0.0], [0.0, -1.0]], np.float32)
    b = np.array([[1.0], [1.0]], np.float32)
    x = np.array([[1.0], [2.0]], np.float32)
    return lambda: A @ x + b


def numpy_mlp(sizes, activation, batch, lr, seed=0):
    rng = np.random.RandomState(seed)
    ws, bs = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        ws.append((rng.randn(n_in, n_out) / np.sqrt(n_in)).astype(np.float32))
        bs.append(np.zeros(n_out, np.float32))
    xs, ys = _data(rng, sizes, batch)
    lr = np.float32(lr)
    n_layers = len(ws)

    def step():
        acts = [xs]
        h = xs
        for i in range(n_layers):
            h = h @ ws[i] + bs[i]
            if i < n_layers - 1:
                h = 1 / (1 + np.exp(-h)) if activation == "sigmoid" else np.maximum(h, 0)
            acts.append(h)
        e = np.exp(h - h.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        grad = (p - ys) / np.float32(batch)
        for i in range(n_layers - 1, -1, -1):
            a_in = acts[i]
            gw = a_in.T @ grad
            gb = grad.sum(axis=0)
            if i > 0:
                grad = grad @ ws[i].T
                a = acts[i]
                grad = grad * (a * (1 - a)) if activation == "sigmoid" else grad * (a > 0)
            ws[i] = ws[i] - lr * gw
            bs[i] = bs[i] - lr * gb
    return step


def numpy_cnn(batch=32, seed=0):
    """The CNN of (d) in numpy: convolutions as matmuls over strided window views, 2x2 pooling
    by reshaping, the backward pass by hand."""
    from numpy.lib.stride_tricks import sliding_window_view

    rng = np.random.RandomState(seed)
    ws = [(rng.randn(*shape) / np.sqrt(np.prod(shape[:3]))).astype(np.float32)
          for shape in CNN_FILTERS]
    dense = (rng.randn(7 * 7 * 32, 10) / 40).astype(np.float32)
    xs, ys = _images(rng, batch)
    lr = np.float32(0.01)

    def columns(x, k):  # (N*H*W, k*k*C) windows of a SAME-padded NHWC array
        p = k // 2
        padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        win = sliding_window_view(padded, (k, k), axis=(1, 2))  # N, H, W, C, k, k
        return win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * x.shape[3])

    def step():
        nonlocal dense
        acts, cols, pre, masks = [xs], [], [], []
        h = xs
        for w in ws:
            n, hh, ww, _ = h.shape
            c = columns(h, w.shape[0])
            z = (c @ w.reshape(-1, w.shape[3])).reshape(n, hh, ww, w.shape[3])
            r = np.maximum(z, 0)
            blocks = r.reshape(n, hh // 2, 2, ww // 2, 2, w.shape[3])
            pooled = blocks.max(axis=(2, 4))
            masks.append(blocks == pooled[:, :, None, :, None, :])
            cols.append(c)
            pre.append(z)
            h = pooled
            acts.append(h)
        flat = h.reshape(batch, -1)
        logits = flat @ dense
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        grad = (e / e.sum(axis=1, keepdims=True) - ys) / np.float32(batch)
        g_dense = flat.T @ grad
        g = (grad @ dense.T).reshape(h.shape)
        dense = dense - lr * g_dense
        for i in range(len(ws) - 1, -1, -1):
            w, z, mask = ws[i], pre[i], masks[i]
            n, hh, ww, oc = z.shape
            g = (mask * g[:, :, None, :, None, :]).reshape(n, hh, ww, oc) * (z > 0)
            g2 = g.reshape(-1, oc)
            g_w = (cols[i].T @ g2).reshape(w.shape)
            if i > 0:  # back through the convolution onto its input
                k, cin, p = w.shape[0], w.shape[2], w.shape[0] // 2
                dcols = (g2 @ w.reshape(-1, oc).T).reshape(n, hh, ww, k, k, cin)
                dx = np.zeros((n, hh + 2 * p, ww + 2 * p, cin), np.float32)
                for a in range(k):
                    for b in range(k):
                        dx[:, a:a + hh, b:b + ww] += dcols[:, :, :, a, b]
                g = dx[:, p:p + hh, p:p + ww]
            ws[i] = w - lr * g_w
    return step


# -- measuring ---------------------------------------------------------------------------------

PROGRAMS = {  # key: (what it is, builder on a TF1-style API, numpy builder, seconds per loop)
    "affine": ("(a) Session.run z = A·x + b, fed", affine, numpy_affine, 0.2),
    "mlp_small": ("(b) MLP 2-16-16-16-2 sigmoid GD, batch 100",
                  lambda tf: mlp(tf, **SMALL), lambda: numpy_mlp(**SMALL), 0.3),
    "mlp_large": ("(c) MLP 784-512-512-10 relu GD, batch 256",
                  lambda tf: mlp(tf, **LARGE), lambda: numpy_mlp(**LARGE), 1.0),
    "cnn": ("(d) CNN 2x(conv 5x5, max-pool) + dense, batch 32", cnn, numpy_cnn, 1.0),
}
NUMPY_TARGETS = {"affine": None, "mlp_small": 0.6, "mlp_large": 0.97, "cnn": None}
TF_TARGETS = {"affine": 10.0, "mlp_small": 1.5, "mlp_large": 1.0, "cnn": None}


def serve_tensorflow_loops() -> None:
    """The TensorFlow end of `TensorFlowLoops` for this suite's programs."""
    serve_loops({key: build for key, (_, build, _, _) in PROGRAMS.items()})


def measure() -> dict[str, dict[str, float]]:
    """key -> {"ours", "numpy" and, when TensorFlow is at hand, "TF1": calls per second},
    each program's loops taking turns (medians of 7)."""
    import tensorslow as ts

    python = tensorflow_python()
    tf_loops = None
    if python:
        try:
            tf_loops = TensorFlowLoops(python, "bench.core")
        except (OSError, RuntimeError) as e:
            print(f"TensorFlow baseline failed: {e}", file=sys.stderr)
    results = {}
    try:
        for key, (_, build, build_numpy, min_time) in PROGRAMS.items():
            loops = {"ours": timed_loop(build(ts)), "numpy": timed_loop(build_numpy())}
            if tf_loops is not None:
                loops["TF1"] = tf_loops.loop(key)
            results[key] = loop_rates(loops, min_time=min_time)
    finally:
        if tf_loops is not None:
            tf_loops.close()
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-tensorflow-loops", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_tensorflow_loops:
        serve_tensorflow_loops()
        return
    results = measure()
    print_table("Core engine against hand-written numpy (runs or steps per second)",
                [Row(name, results[k]["ours"], results[k]["numpy"], "numpy", "/s",
                     NUMPY_TARGETS[k]) for k, (name, *_) in PROGRAMS.items()])
    if all("TF1" in r for r in results.values()):
        print_table("Core engine against TensorFlow 1.x graph mode (loops taking turns)",
                    [Row(name, results[k]["ours"], results[k]["TF1"], "TF1", "/s",
                         TF_TARGETS[k]) for k, (name, *_) in PROGRAMS.items()])
    else:
        print("\n(no TensorFlow here and TENSORSLOW_BENCH_TF_PYTHON unset: "
              "no TF1 baseline this run)")


if __name__ == "__main__":
    main()
