"""Loops and function graphs: while_loop's per-iteration cost, an LSTM training step, and
serving a Keras export, each against the baseline a user would compare it with.

- (a) A while_loop of 1,000 iterations of a small body (x = tanh(x·W + b), x 1×16): against the
  same body unrolled 1,000 times in one plan (the floor: what a loop costs beyond its body),
  and against TensorFlow 1.x's while_loop (Enter/Exit/NextIteration, as TF1 builds it).
- (b) An LSTM training step (dynamic_rnn over LSTMCell, batch 32, 20 steps, 64 units, a
  dense head, gradient descent): against TF1 graph mode and a hand-written numpy LSTM with
  backpropagation through time. Ours builds one BlockLSTM op for it (TensorFlow's fused LSTM;
  TF1's dynamic_rnn loops over time). (b, loop) is the same step with the cell's activation
  given as a function of its own (tanh, as the default), which keeps the while loop on both
  sides: what the loop machinery costs.
- (c) Serving a Keras `model.export` (function graphs: StatefulPartitionedCall and its
  library) against the same architecture exported TF1-style: Predict p50 over gRPC, one
  caller, the two servers taking turns.

TensorFlow runs in a process of its own (this Python when it has TensorFlow, or the one named
by TENSORSLOW_BENCH_TF_PYTHON); its loops take turns with ours.

    python -m bench.function_graphs
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

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

ITERATIONS = 1000
WIDTH = 16
LSTM = dict(batch=32, steps=20, features=32, units=64, lr=0.05)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERAS_MLP = os.path.join(ROOT, "tests", "fixtures", "tf2_saved_models", "keras_mlp")


# -- (a) a loop against its body unrolled -------------------------------------------------------

def _loop_constants():
    rng = np.random.RandomState(0)
    w = (rng.randn(WIDTH, WIDTH) * 0.3).astype(np.float32)
    b = (rng.randn(WIDTH) * 0.1).astype(np.float32)
    x = rng.randn(1, WIDTH).astype(np.float32)
    return w, b, x


def while_loop(tf):
    """x = tanh(x·W + b), ITERATIONS times, in a while_loop with a counter (as TF1 code is)."""
    w_value, b_value, x_value = _loop_constants()
    g = tf.Graph()
    with g.as_default():
        x0 = tf.placeholder(tf.float32, [1, WIDTH], name="x0")
        w, b = tf.constant(w_value), tf.constant(b_value)
        _, x = tf.while_loop(lambda i, x: i < ITERATIONS,
                             lambda i, x: (i + 1, tf.tanh(tf.matmul(x, w) + b)),
                             [tf.constant(0), x0])
        sess = tf.Session(graph=g)
    return lambda: sess.run(x, {x0: x_value})


def unrolled(tf):
    """The same ITERATIONS bodies, one after another in one graph."""
    w_value, b_value, x_value = _loop_constants()
    g = tf.Graph()
    with g.as_default():
        x0 = tf.placeholder(tf.float32, [1, WIDTH], name="x0")
        w, b = tf.constant(w_value), tf.constant(b_value)
        x = x0
        for _ in range(ITERATIONS):
            x = tf.tanh(tf.matmul(x, w) + b)
        sess = tf.Session(graph=g)
    return lambda: sess.run(x, {x0: x_value})


# -- (b) an LSTM training step ------------------------------------------------------------------

def _lstm_data(batch, steps, features, units, lr):
    rng = np.random.RandomState(1)
    x = rng.randn(batch, steps, features).astype(np.float32)
    y = rng.randn(batch, 1).astype(np.float32)
    kernel = (rng.randn(features + units, 4 * units) / np.sqrt(features + units)).astype(np.float32)
    head = (rng.randn(units, 1) / np.sqrt(units)).astype(np.float32)
    return x, y, kernel, head


def lstm_step(tf, loop: bool = False):
    """One gradient-descent step of dynamic_rnn(LSTMCell) + a dense head on a squared loss
    (with `loop`, the activation a function of its own: the loop over time on both sides)."""
    x_value, y_value, kernel, head = _lstm_data(**LSTM)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, x_value.shape, name="x")
        y = tf.placeholder(tf.float32, y_value.shape, name="y")
        activation = (lambda z: tf.tanh(z)) if loop else None
        cell = tf.nn.rnn_cell.LSTMCell(LSTM["units"], initializer=tf.constant_initializer(kernel),
                                       activation=activation)
        outputs, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
        w = tf.Variable(head, name="head")
        loss = tf.reduce_mean(tf.square(tf.matmul(outputs[:, -1], w) - y))
        train = tf.train.GradientDescentOptimizer(LSTM["lr"]).minimize(loss)
        sess = tf.Session(graph=g)
        sess.run(tf.global_variables_initializer())
    feed = {x: x_value, y: y_value}
    return lambda: sess.run(train, feed)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_lstm_step():
    """The same step by hand: the LSTM forward over time, then backpropagation through time."""
    x, y, kernel, head = _lstm_data(**LSTM)
    batch, steps, _ = x.shape
    units, lr = LSTM["units"], LSTM["lr"]
    params = {"kernel": kernel.copy(), "bias": np.zeros(4 * units, np.float32),
              "head": head.copy()}

    def step():
        k, bias, w = params["kernel"], params["bias"], params["head"]
        h = np.zeros((batch, units), np.float32)
        c = np.zeros((batch, units), np.float32)
        saved = []
        for t in range(steps):
            inp = np.concatenate([x[:, t], h], axis=1)
            z = inp @ k + bias
            i, j, f, o = (z[:, n * units:(n + 1) * units] for n in range(4))
            si, tj, sf, so = _sigmoid(i), np.tanh(j), _sigmoid(f + 1.0), _sigmoid(o)
            c_prev = c
            c = c_prev * sf + si * tj
            tc = np.tanh(c)
            h = so * tc
            saved.append((inp, c_prev, si, tj, sf, so, tc))
        err = h @ w - y
        d_pred = 2.0 * err / err.size
        d_w = h.T @ d_pred
        dh = d_pred @ w.T
        dc = np.zeros_like(c)
        d_k = np.zeros_like(k)
        d_b = np.zeros_like(bias)
        for inp, c_prev, si, tj, sf, so, tc in reversed(saved):
            d_o = dh * tc * so * (1 - so)
            dc = dc + dh * so * (1 - tc * tc)
            d_i = dc * tj * si * (1 - si)
            d_j = dc * si * (1 - tj * tj)
            d_f = dc * c_prev * sf * (1 - sf)
            dz = np.concatenate([d_i, d_j, d_f, d_o], axis=1)
            d_k += inp.T @ dz
            d_b += dz.sum(axis=0)
            dh = (dz @ k.T)[:, -units:]
            dc = dc * sf
        params["kernel"] = k - lr * d_k
        params["bias"] = bias - lr * d_b
        params["head"] = w - lr * d_w
    return step


PROGRAMS = {"while": while_loop, "lstm": lstm_step,
            "lstm_loop": lambda tf: lstm_step(tf, loop=True)}


# -- (c) a Keras export against a TF1-style export of the same model ------------------------------

def export_tf1_mlp(export_dir: str) -> None:
    """The Keras fixture's architecture (Dense 16 relu, BatchNormalization, Dropout, Dense 3
    softmax) exported TF1-style: one graph, variables, a predict signature over "features"."""
    import tensorslow as ts
    from tensorslow.saved_model import signature_def_utils

    rng = np.random.RandomState(2)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 6], name="features")
        training = ts.placeholder_with_default(False, [], name="training")
        h = ts.layers.dense(x, 16, activation=ts.nn.relu,
                            kernel_initializer=ts.constant_initializer(rng.randn(6, 16)))
        h = ts.layers.batch_normalization(h, training=training)
        h = ts.layers.dropout(h, 0.3, training=training)
        y = ts.nn.softmax(ts.layers.dense(h, 3), name="output_0")
        sess = ts.Session(graph=g)
        sess.run(ts.global_variables_initializer())
        builder = ts.saved_model.builder.SavedModelBuilder(export_dir)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": signature_def_utils.predict_signature_def(
                {"features": x}, {"output_0": y})})
        builder.save()


def _features_request(rows: int = 4) -> bytes:
    from tensorslow import proto
    from tensorslow.framework import tensor_util

    request = proto.serving.PredictRequest()
    request.model_spec.name = "m"
    x = np.random.RandomState(3).randn(rows, 6).astype(np.float32)
    request.inputs["features"].CopyFrom(tensor_util.make_tensor_proto(x))
    return request.SerializeToString()


def measure_serving(rounds: int = 5, duration: float = 1.5) -> Row:
    """Predict p50 of the Keras export against the TF1-style one (servers taking turns)."""
    from bench.serving import PREDICT, make_call, measure, model_server

    payload = _features_request()
    with tempfile.TemporaryDirectory() as tmp:
        tf1_base = os.path.join(tmp, "tf1_mlp")
        export_tf1_mlp(os.path.join(tf1_base, "1"))
        servers = {"keras": model_server(KERAS_MLP), "tf1": model_server(tf1_base)}
        try:
            calls = {key: make_call(server.port, PREDICT) for key, server in servers.items()}
            p50 = {key: [] for key in servers}
            for _ in range(rounds):
                for key, (_, call) in calls.items():
                    p50[key].append(measure(call, payload, 1, duration).p50_ms)
            for channel, _ in calls.values():
                channel.close()
        finally:
            for server in servers.values():
                server.stop()
    keras, tf1 = statistics.median(p50["keras"]), statistics.median(p50["tf1"])
    # Rows compare rates (higher is better): predictions per second at p50.
    return Row("(c) Keras export Predict, 1 caller (1/p50)", 1e3 / keras, 1e3 / tf1,
               "TF1-style export", "/s", 1 / 1.1)


# -- running ----------------------------------------------------------------------------------

def measure_loops() -> dict[str, dict[str, float]]:
    import tensorslow as ts

    python = tensorflow_python()
    tf_loops = None
    if python:
        try:
            tf_loops = TensorFlowLoops(python, "bench.function_graphs")
        except (OSError, RuntimeError) as e:
            print(f"TensorFlow baseline failed: {e}", file=sys.stderr)
    try:
        loops = {"ours": timed_loop(while_loop(ts)), "unrolled": timed_loop(unrolled(ts))}
        if tf_loops is not None:
            loops["TF1"] = tf_loops.loop("while")
        results = {"while": loop_rates(loops, min_time=0.3)}
        loops = {"ours": timed_loop(lstm_step(ts)), "numpy": timed_loop(numpy_lstm_step())}
        if tf_loops is not None:
            loops["TF1"] = tf_loops.loop("lstm")
        results["lstm"] = loop_rates(loops, min_time=0.5)
        loops = {"ours": timed_loop(lstm_step(ts, loop=True))}
        if tf_loops is not None:
            loops["TF1"] = tf_loops.loop("lstm_loop")
        results["lstm_loop"] = loop_rates(loops, min_time=0.5)
    finally:
        if tf_loops is not None:
            tf_loops.close()
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-tensorflow-loops", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-serving", action="store_true", help="skip (c), the servers")
    args = parser.parse_args(argv)
    if args.serve_tensorflow_loops:
        serve_loops(PROGRAMS, v1_control_flow=True)
        return
    results = measure_loops()
    loop, lstm = results["while"], results["lstm"]
    per_iteration = {k: 1e6 / (v * ITERATIONS) for k, v in loop.items()}
    print("\nwhile_loop per iteration (µs): "
          + ", ".join(f"{k} {v:.2f}" for k, v in per_iteration.items()))
    rows = [Row(f"(a) while_loop, {ITERATIONS} iterations (runs/s)", loop["ours"],
                loop["unrolled"], "body unrolled", "/s", 0.5),
            Row("(b) LSTM training step, numpy baseline", lstm["ours"], lstm["numpy"],
                "numpy LSTM", "/s")]
    if "TF1" in loop:
        rows += [Row(f"(a) while_loop, {ITERATIONS} iterations (runs/s)", loop["ours"],
                     loop["TF1"], "TF1 while_loop", "/s", 3.0),
                 Row("(b) LSTM training step (steps/s)", lstm["ours"], lstm["TF1"],
                     "TF1 dynamic_rnn", "/s", 1.0),
                 Row("(b, loop) LSTM step, loop over time (steps/s)",
                     results["lstm_loop"]["ours"], results["lstm_loop"]["TF1"],
                     "TF1 dynamic_rnn", "/s")]
    else:
        print("\n(no TensorFlow here and TENSORSLOW_BENCH_TF_PYTHON unset: "
              "no TF1 baseline this run)")
    if not args.no_serving:
        rows.append(measure_serving())
    print_table("Loops and function graphs (higher is better)", rows)


if __name__ == "__main__":
    main()
