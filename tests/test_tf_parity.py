"""One TF1 program, run by TensorFlow and by tensorslow: the numbers must agree.

The program text is the same for both, with only the import changed. It trains a small model
with every optimizer in float64 and float32 and prints its losses and final weights; the
float64 runs must agree to round-off. Runs when a Python with TensorFlow is available (see
test_tf_interchange.py); skipped otherwise.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from tf_live import TF_PYTHON, requires_tensorflow

PROGRAM = textwrap.dedent("""
    import json, sys
    import numpy as np
    if sys.argv[1] == "tensorflow":
        import tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
    else:
        import tensorslow as tf

    def run(optimizer_name, dtype):
        rng = np.random.RandomState(0)
        xs = rng.randn(32, 5).astype(dtype)
        ys = np.eye(3)[rng.randint(0, 3, 32)].astype(dtype)
        w1_0 = rng.randn(5, 8).astype(dtype)
        w2_0 = rng.randn(8, 3).astype(dtype)
        with tf.Graph().as_default():
            x = tf.placeholder(dtype, [None, 5])
            y = tf.placeholder(dtype, [None, 3])
            w1 = tf.Variable(w1_0)
            b1 = tf.Variable(np.zeros(8, dtype))
            w2 = tf.Variable(w2_0)
            h = tf.nn.tanh(tf.nn.bias_add(tf.matmul(x, w1), b1))
            logits = tf.matmul(h, w2)
            loss = tf.reduce_mean(
                tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
            loss = loss + 0.01 * tf.nn.l2_loss(w1)
            step = tf.train.get_or_create_global_step()
            opt = {
                "sgd": lambda: tf.train.GradientDescentOptimizer(0.1),
                "momentum": lambda: tf.train.MomentumOptimizer(0.1, 0.9),
                "nesterov": lambda: tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
                "adam": lambda: tf.train.AdamOptimizer(0.05),
                "rmsprop": lambda: tf.train.RMSPropOptimizer(0.01, momentum=0.5),
                "adagrad": lambda: tf.train.AdagradOptimizer(0.1),
            }[optimizer_name]()
            train = opt.minimize(loss, global_step=step)
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                losses = [float(sess.run(train_and_loss, {x: xs, y: ys})[1])
                          for train_and_loss in [[train, loss]] * 20]
                return {"losses": losses, "w1": sess.run(w1).tolist(),
                        "step": int(sess.run(step))}

    out = {}
    for name in ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"]:
        for dtype in ["float64", "float32"]:
            out[name + "/" + dtype] = run(name, np.dtype(dtype).type)
    print(json.dumps(out))
""")


@requires_tensorflow
def test_training_matches_tensorflow(tmp_path):
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    theirs = subprocess.run([TF_PYTHON, str(script), "tensorflow"], capture_output=True,
                            text=True, timeout=600, env=env)
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    ours = subprocess.run([sys.executable, str(script), "tensorslow"], capture_output=True,
                          text=True, timeout=600)
    assert ours.returncode == 0, ours.stderr[-3000:]
    tf_out = json.loads(theirs.stdout.strip().splitlines()[-1])
    ts_out = json.loads(ours.stdout.strip().splitlines()[-1])
    for key, expected in tf_out.items():
        got = ts_out[key]
        assert got["step"] == expected["step"] == 20
        tol = dict(rtol=1e-9, atol=1e-12) if key.endswith("float64") else dict(rtol=2e-4,
                                                                                 atol=1e-5)
        np.testing.assert_allclose(got["losses"], expected["losses"], err_msg=key, **tol)
        np.testing.assert_allclose(got["w1"], expected["w1"], err_msg=key, **tol)
