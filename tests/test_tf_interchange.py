"""Live interchange with real TensorFlow, when a Python with TensorFlow is available.

TensorFlow is not a dependency. These tests run when `tensorflow` is importable here, or when
TENSORSLOW_TF_PYTHON names a Python that has it; TensorFlow then runs in a subprocess, reading
files this library wrote (and writing files this library reads).
"""

import os
import subprocess

import numpy as np
from tf_live import TF_PYTHON, requires_tensorflow
from tf_live import run_tf as _run_tf

import tensorslow as ts

pytestmark = requires_tensorflow


def test_tensorflow_runs_our_frozen_graph(tmp_path):
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 4], name="x")
        w = ts.Variable(np.random.RandomState(0).randn(4, 8).astype(np.float32))
        h = ts.nn.relu(ts.nn.bias_add(ts.matmul(x, w), ts.constant(np.ones(8, np.float32))))
        h = ts.concat([ts.tanh(h), ts.sigmoid(h)], axis=1)
        h = ts.transpose(ts.reshape(h, [-1, 4, 4]), [0, 2, 1])
        y = ts.nn.softmax(ts.reduce_mean(ts.square(h), axis=2) - ts.abs(ts.reduce_sum(h, 1)),
                         name="y")
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        frozen = ts.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["y"])
        xv = np.random.RandomState(1).randn(3, 4).astype(np.float32)
        ours = sess.run(y, {x: xv})
    (tmp_path / "g.pb").write_bytes(frozen.SerializeToString())
    np.save(tmp_path / "x.npy", xv)
    _run_tf("""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        gd = tf.GraphDef.FromString(open(sys.argv[1] + "/g.pb", "rb").read())
        with tf.Graph().as_default() as g:
            tf.import_graph_def(gd, name="")
            with tf.Session() as s:
                out = s.run("y:0", {"x:0": np.load(sys.argv[1] + "/x.npy")})
        np.save(sys.argv[1] + "/tf_out.npy", out)
    """, str(tmp_path))
    np.testing.assert_allclose(np.load(tmp_path / "tf_out.npy"), ours, rtol=1e-5, atol=1e-6)


def test_tensorflow_parses_our_saved_model(tmp_path):
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 2], name="x")
        w = ts.Variable(np.ones((2, 2), np.float32), name="w")
        y = ts.matmul(x, w, name="y")
        sess = ts.Session()
        ts.saved_model.simple_save(sess, str(tmp_path / "1"), {"x": x}, {"y": y})
    out = _run_tf("""
        import sys
        from tensorflow.core.protobuf import saved_model_pb2
        sm = saved_model_pb2.SavedModel()
        sm.ParseFromString(open(sys.argv[1] + "/1/saved_model.pb", "rb").read())
        mg = sm.meta_graphs[0]
        sig = mg.signature_def["serving_default"]
        print(list(mg.meta_info_def.tags), sig.method_name, sig.inputs["x"].name,
              sorted({n.op for n in mg.graph_def.node}))
    """, str(tmp_path))
    assert "['serve'] tensorflow/serving/predict x:0" in out
    assert "VariableV2" in out and "MatMul" in out


def test_our_import_of_a_graph_tensorflow_writes_now(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "fixtures", "make_tf_fixtures.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([TF_PYTHON, script, str(tmp_path)], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    expected = np.load(tmp_path / "tf_dense_expected.npz", allow_pickle=False)
    with ts.Graph().as_default():
        ts.import_graph_def((tmp_path / "tf_dense_frozen.pb").read_bytes(), name="")
        got = ts.Session().run("probs:0", {"x:0": expected["x"]})
    np.testing.assert_allclose(got, expected["probs"], rtol=1e-5, atol=1e-6)
    # The checkpoint TensorFlow writes now is the bytes this library writes for its tensors.
    from tensorslow.train import saver as saver_lib
    from tensorslow.train import tensor_bundle

    prefix = str(tmp_path / "tf_bundle" / "ckpt")
    values = saver_lib.read_variables(prefix)
    index, data = tensor_bundle.encode_bundle(
        [(name, values[name], ts.as_dtype(values[name].dtype)) for name in sorted(values)])
    assert index == (tmp_path / "tf_bundle" / "ckpt.index").read_bytes()
    assert data == (tmp_path / "tf_bundle" / "ckpt.data-00000-of-00001").read_bytes()
    for kind in ("ref", "resource"):
        with ts.Graph().as_default(), ts.Session() as sess:
            ts.saved_model.loader.load(sess, ["serve"], str(tmp_path / f"tf_saved_model_{kind}/1"))
            assert sess.run("y:0", {"x:0": np.ones((1, 3), np.float32)}).tolist() == [[6.5, 8.0]]


def test_tensorflow_loads_and_runs_our_saved_model_with_variables(tmp_path):
    rng = np.random.RandomState(3)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 4], name="x")
        w = ts.Variable(rng.randn(4, 3).astype(np.float32), name="w")
        b = ts.Variable(rng.randn(3), name="b", dtype=ts.float32)
        y = ts.nn.softmax(ts.matmul(x, w) + b, name="y")
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        ts.saved_model.simple_save(sess, str(tmp_path / "1"), {"x": x}, {"y": y})
        xv = rng.randn(5, 4).astype(np.float32)
        ours = sess.run(y, {x: xv})
    np.save(tmp_path / "x.npy", xv)
    _run_tf("""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        with tf.Graph().as_default(), tf.Session() as s:
            tf.saved_model.loader.load(s, ["serve"], sys.argv[1] + "/1")
            out = s.run("y:0", {"x:0": np.load(sys.argv[1] + "/x.npy")})
            np.save(sys.argv[1] + "/tf_out.npy", out)
    """, str(tmp_path))
    np.testing.assert_allclose(np.load(tmp_path / "tf_out.npy"), ours, rtol=1e-5, atol=1e-6)


def test_checkpoints_cross_both_ways(tmp_path):
    g = ts.Graph()
    with g.as_default():
        w = ts.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="layer/w")
        s = ts.Variable(np.array([b"tok", b""], dtype=object), name="vocab")
        saver = ts.train.Saver()
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        saver.save(sess, str(tmp_path / "ours.ckpt"))
    _run_tf("""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        with tf.Graph().as_default(), tf.Session() as s:
            w = tf.Variable(np.zeros((2, 3), np.float32), name="layer/w")
            v = tf.Variable([b"", b""], name="vocab")
            saver = tf.train.Saver()
            saver.restore(s, sys.argv[1] + "/ours.ckpt")
            assert s.run(w).tolist() == [[0, 1, 2], [3, 4, 5]], s.run(w)
            assert s.run(v).tolist() == [b"tok", b""], s.run(v)
            s.run([w.assign(w * 10), v.assign([b"a", b"bc"])])
            saver.save(s, sys.argv[1] + "/theirs.ckpt")
    """, str(tmp_path))
    saver.restore(sess, str(tmp_path / "theirs.ckpt"))
    assert sess.run(w).tolist() == [[0, 10, 20], [30, 40, 50]]
    assert sess.run(s).tolist() == [b"a", b"bc"]


def test_a_cnn_tensorflow_froze_imports_and_gives_its_outputs(tmp_path):
    _run_tf("""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        rng = np.random.RandomState(0)
        with tf.Graph().as_default() as g, tf.Session() as s:
            x = tf.placeholder(tf.float32, [None, 12, 12, 2], name="x")
            w1 = tf.Variable(rng.randn(3, 3, 2, 4).astype(np.float32))
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME"),
                                          rng.randn(4).astype(np.float32)))
            h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
            w2 = tf.Variable(rng.randn(2, 2, 4, 3).astype(np.float32))
            h = tf.nn.conv2d(h, w2, [1, 2, 2, 1], "SAME", dilations=[1, 1, 1, 1])
            h = tf.nn.avg_pool(h, [1, 3, 3, 1], [1, 1, 1, 1], "SAME")
            y = tf.identity(tf.reshape(h, [-1, 27]), name="y")
            s.run(tf.global_variables_initializer())
            frozen = tf.graph_util.convert_variables_to_constants(s, g.as_graph_def(), ["y"])
            xv = rng.randn(3, 12, 12, 2).astype(np.float32)
            np.savez(sys.argv[1] + "/cnn.npz", x=xv, y=s.run(y, {x: xv}))
        open(sys.argv[1] + "/cnn.pb", "wb").write(frozen.SerializeToString())
    """, str(tmp_path))
    expected = np.load(tmp_path / "cnn.npz")
    with ts.Graph().as_default():
        ts.import_graph_def((tmp_path / "cnn.pb").read_bytes(), name="")
        got = ts.Session().run("y:0", {"x:0": expected["x"]})
    np.testing.assert_allclose(got, expected["y"], rtol=1e-4, atol=1e-5)


def test_a_cond_tensorflow_wrote_runs_the_branch_its_predicate_takes(tmp_path):
    _run_tf("""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        tf.disable_control_flow_v2()  # TF1's Switch/Merge conds, as tf.compat.v1 graphs had them
        with tf.Graph().as_default() as g:
            p = tf.placeholder(tf.bool, [], name="p")
            x = tf.placeholder(tf.float32, [None], name="x")
            inner = tf.cond(p, lambda: tf.square(x) + 1.0, lambda: tf.constant(3.0) * x)
            tf.identity(tf.cond(tf.reduce_sum(x) > 0, lambda: inner, lambda: -inner), name="y")
            with tf.Session() as s:
                xv = np.array([1.5, -0.5], np.float32)
                outs = [s.run("y:0", {p: pv, x: sign * xv}) for pv in (True, False)
                        for sign in (1, -1)]
            np.save(sys.argv[1] + "/outs.npy", np.array(outs))
            open(sys.argv[1] + "/cond.pb", "wb").write(g.as_graph_def().SerializeToString())
            print(sorted({n.op for n in g.as_graph_def().node}))
    """, str(tmp_path))
    expected = np.load(tmp_path / "outs.npy")
    with ts.Graph().as_default():
        ts.import_graph_def((tmp_path / "cond.pb").read_bytes(), name="")
        sess = ts.Session()
        xv = np.array([1.5, -0.5], np.float32)
        got = [sess.run("y:0", {"p:0": pv, "x:0": sign * xv}) for pv in (True, False)
               for sign in (1, -1)]
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-6)


def test_tensorflow_runs_our_while_loops(tmp_path):
    # A loop with a TensorArray, a cond inside and a nested loop, and a dynamic_rnn LSTM:
    # TensorFlow imports the While/If ops and their function library and gives our outputs.
    rng = np.random.RandomState(0)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float64, [5, 3], name="x")
        ta = ts.TensorArray(ts.float64, size=5)

        def body(i, acc, ta):
            row = x[i]
            inner = ts.while_loop(lambda j, v: j < i, lambda j, v: (j + 1, v * 0.5 + row),
                                  [0, row])[1]
            acc = ts.cond(ts.reduce_sum(inner) > 0, lambda: acc + inner, lambda: acc - inner)
            return i + 1, acc, ta.write(i, ts.tanh(acc))

        _, acc, ta = ts.while_loop(lambda i, acc, ta: i < 5, body,
                                   [0, ts.zeros([3], ts.float64), ta], maximum_iterations=4)
        ts.identity(acc, name="acc")
        ts.identity(ta.stack(), name="rows")
        seq = ts.placeholder(ts.float64, [2, 6, 3], name="seq")
        lengths = ts.placeholder(ts.int32, [2], name="lengths")
        cell = ts.nn.rnn_cell.LSTMCell(4, initializer=ts.constant_initializer(
            rng.randn(7, 16) * 0.3))
        outputs, _ = ts.nn.dynamic_rnn(cell, seq, sequence_length=lengths, dtype=ts.float64)
        ts.identity(outputs, name="rnn_out")
        (_, backward), _ = ts.nn.bidirectional_dynamic_rnn(
            ts.nn.rnn_cell.GRUCell(2), ts.nn.rnn_cell.BasicRNNCell(3), seq,
            sequence_length=lengths, dtype=ts.float64)  # ReverseSequence
        ts.identity(ts.reverse(backward, [2]), name="bidi")  # ReverseV2
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        frozen = ts.graph_util.convert_variables_to_constants(
            sess, g.as_graph_def(), ["acc", "rows", "rnn_out", "bidi"])
        feed = {"x": rng.randn(5, 3), "seq": rng.randn(2, 6, 3),
                "lengths": np.array([6, 3], np.int32)}
        ours = sess.run(["acc:0", "rows:0", "rnn_out:0", "bidi:0"],
                        {f"{k}:0": v for k, v in feed.items()})
    (tmp_path / "g.pb").write_bytes(frozen.SerializeToString())
    np.savez(tmp_path / "in.npz", **feed)
    _run_tf("""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        gd = tf.GraphDef.FromString(open(sys.argv[1] + "/g.pb", "rb").read())
        feed = dict(np.load(sys.argv[1] + "/in.npz"))
        with tf.Graph().as_default() as g:
            tf.import_graph_def(gd, name="")
            with tf.Session() as s:
                out = s.run(["acc:0", "rows:0", "rnn_out:0", "bidi:0"],
                            {k + ":0": v for k, v in feed.items()})
        np.savez(sys.argv[1] + "/tf_out.npz", acc=out[0], rows=out[1], rnn_out=out[2],
                 bidi=out[3])
    """, str(tmp_path))
    theirs = np.load(tmp_path / "tf_out.npz")
    for name, value in zip(["acc", "rows", "rnn_out", "bidi"], ours, strict=True):
        np.testing.assert_allclose(theirs[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


def _tensorflow_gives_ours(tmp_path, graph_def, feed: dict, names: list, ours: list) -> None:
    """TensorFlow imports `graph_def`, runs the tensors `names` (":0") fed `feed` (by
    placeholder name) and gets `ours`, to 1e-9."""
    (tmp_path / "g.pb").write_bytes(graph_def.SerializeToString())
    np.savez(tmp_path / "in.npz", **feed)
    (tmp_path / "names.txt").write_text(",".join(names))
    _run_tf("""
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        gd = tf.GraphDef.FromString(open(sys.argv[1] + "/g.pb", "rb").read())
        feed = dict(np.load(sys.argv[1] + "/in.npz"))
        names = open(sys.argv[1] + "/names.txt").read().split(",")
        with tf.Graph().as_default() as g:
            tf.import_graph_def(gd, name="")
            with tf.Session() as s:
                out = s.run([n + ":0" for n in names], {k + ":0": v for k, v in feed.items()})
        np.savez(sys.argv[1] + "/tf_out.npz", *out)
    """, str(tmp_path))
    theirs = np.load(tmp_path / "tf_out.npz")
    for k, (name, value) in enumerate(zip(names, ours, strict=True)):
        np.testing.assert_allclose(theirs[f"arr_{k}"], value, rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_tensorflow_runs_the_gradients_of_our_while_loops(tmp_path):
    # The gradient loops read what the forward loops kept of each iteration; written out,
    # the forward loops keep it in TensorList loop variables, as TensorFlow's do.
    rng = np.random.RandomState(1)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float64, [3, 4], name="x")
        w = ts.placeholder(ts.float64, [4, 4], name="w")

        def body(i, h):
            inner = ts.while_loop(lambda j, v: j < 2, lambda j, v: (j + 1, ts.sin(v) * h),
                                  [0, h])[1]
            return i + 1, ts.tanh(ts.matmul(inner, w)) + h * 0.5

        _, h = ts.while_loop(lambda i, h: i < 3, body, [0, x])
        seq = ts.placeholder(ts.float64, [2, 5, 3], name="seq")
        cell = ts.nn.rnn_cell.LSTMCell(3, initializer=ts.constant_initializer(
            rng.randn(6, 12) * 0.4))
        outputs, _ = ts.nn.dynamic_rnn(cell, seq, sequence_length=[5, 2], dtype=ts.float64)
        loss = ts.identity(ts.reduce_sum(h * h) + ts.reduce_sum(ts.sin(outputs)), name="loss")
        kernel = [v for v in ts.trainable_variables() if "kernel" in v.name][0]
        grads = ts.gradients(loss, [x, w, seq, kernel])
        names = ["loss"] + [ts.identity(t, name=f"grad_{i}").op.name
                            for i, t in enumerate(grads)]
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        frozen = ts.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), names)
        feed = {"x": rng.randn(3, 4) * 0.5, "w": rng.randn(4, 4) * 0.5,
                "seq": rng.randn(2, 5, 3)}
        ours = sess.run([f"{n}:0" for n in names], {f"{k}:0": v for k, v in feed.items()})
    _tensorflow_gives_ours(tmp_path, frozen, feed, names, ours)


def test_tensorflow_runs_the_gradients_of_loops_with_conds_inside(tmp_path):
    # A cond in a loop keeps, for the gradient, values of the branch each iteration took;
    # written out, each is merged with a stand-in from the other branch, so what leaves the
    # body is always live, as TensorFlow requires. Nested conds and a cond whose branches
    # keep values of different shapes.
    rng = np.random.RandomState(2)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float64, [4], name="x")
        w = ts.placeholder(ts.float64, [4], name="w")

        def body(i, h):
            def positive():
                inner = ts.cond(i % 2 > 0, lambda: ts.sin(h * w), lambda: ts.exp(h) * w)
                return ts.tanh(inner) * h

            def negative():
                outer = ts.reshape(ts.matmul(ts.reshape(h, [1, 4]), ts.reshape(w, [4, 1])), [])
                return ts.cos(h) * outer
            return i + 1, ts.cond(ts.reduce_sum(h) > 0, positive, negative)

        _, h = ts.while_loop(lambda i, h: i < 6, body, [0, x])
        loss = ts.identity(ts.reduce_sum(h * h), name="loss")
        grads = ts.gradients(loss, [x, w])
        names = ["loss"] + [ts.identity(t, name=f"grad_{i}").op.name
                            for i, t in enumerate(grads)]
        sess = ts.Session()
        feed = {"x": np.array([0.3, -0.2, 0.5, 0.1]), "w": rng.randn(4) * 0.8}
        ours = sess.run([f"{n}:0" for n in names], {f"{k}:0": v for k, v in feed.items()})
        graph_def = g.as_graph_def()
    _tensorflow_gives_ours(tmp_path, graph_def, feed, names, ours)
