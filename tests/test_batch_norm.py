"""Batch normalization: nn.batch_normalization, nn.fused_batch_norm (FusedBatchNormV3 and its
gradient) in training and inference, and layers.batch_normalization with its moving averages
and a training tensor; against numpy and finite differences, and, when TensorFlow is
available, against TensorFlow's layer and a frozen graph it wrote."""

import numpy as np
import pytest
from op_check import check_op
from tf_live import requires_tensorflow, run_tf

import tensorslow as ts


def np_normalize(x, mean, var, offset, scale, eps, axis=-1):
    shape = [1] * x.ndim
    shape[axis] = -1
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape)
            + offset.reshape(shape))


def test_batch_normalization_formula_and_gradients():
    rng = np.random.RandomState(0)
    x, mean, var = rng.randn(4, 3), rng.randn(3), rng.rand(3) + 0.5
    offset, scale = rng.randn(3), rng.randn(3)
    check_op(lambda *a: ts.nn.batch_normalization(*a, variance_epsilon=1e-3),
             [x, mean, var, offset, scale],
             lambda *a: np_normalize(*a, 1e-3))


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_fused_batch_norm_training_forward_and_gradients(data_format):
    rng = np.random.RandomState(1)
    x = rng.randn(3, 4, 2, 5) * 2 + 1 if data_format == "NHWC" else rng.randn(3, 5, 4, 2)
    scale, offset = rng.randn(5), rng.randn(5)
    axis = -1 if data_format == "NHWC" else 1
    axes = tuple(a for a in range(4) if a != axis % 4)

    def numpy_fn(a, s, o):
        mean, var = a.mean(axis=axes), a.var(axis=axes)
        return np_normalize(a, mean, var, o, s, 0.001, axis)

    check_op(lambda a, s, o: ts.nn.fused_batch_norm(a, s, o, data_format=data_format)[0],
             [x, scale, offset], numpy_fn, grad_rtol=1e-4)
    g = ts.Graph()
    with g.as_default():
        _, mean, var = ts.nn.fused_batch_norm(x, scale, offset, data_format=data_format)
        got_mean, got_var = ts.Session().run([mean, var])
    n = x.size // 5
    np.testing.assert_allclose(got_mean, x.mean(axis=axes))
    np.testing.assert_allclose(got_var, x.var(axis=axes) * n / (n - 1))  # Bessel-corrected


def test_fused_batch_norm_inference_and_average_factor():
    rng = np.random.RandomState(2)
    x, scale, offset = rng.randn(2, 3, 3, 4), rng.randn(4), rng.randn(4)
    mean, var = rng.randn(4), rng.rand(4) + 0.1
    check_op(lambda a, s, o: ts.nn.fused_batch_norm(a, s, o, mean=mean, variance=var,
                                                    is_training=False, epsilon=1e-4)[0],
             [x, scale, offset], lambda a, s, o: np_normalize(a, mean, var, o, s, 1e-4))
    g = ts.Graph()
    with g.as_default():
        _, m, v = ts.nn.fused_batch_norm(x, scale, offset, mean=mean, variance=var,
                                         exponential_avg_factor=0.25)
        got_m, got_v = ts.Session().run([m, v])
    n = x.size // 4
    np.testing.assert_allclose(got_m, 0.75 * mean + 0.25 * x.mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(got_v, 0.75 * var + 0.25 * x.var(axis=(0, 1, 2)) * n / (n - 1))
    with pytest.raises(ValueError, match="mean and variance"):
        ts.nn.fused_batch_norm(x, scale, offset, is_training=False)


def test_layer_moving_averages_and_training_tensor():
    rng = np.random.RandomState(3)
    xv = (rng.randn(16, 5) * 3 + 2).astype(np.float32)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 5])
        training = ts.placeholder_with_default(False, [])
        y = ts.layers.batch_normalization(x, training=training, momentum=0.9, epsilon=1e-3,
                                          name="bn")
        updates = ts.get_collection(ts.GraphKeys.UPDATE_OPS)
        assert [v.op.name for v in ts.trainable_variables()] == ["bn/gamma", "bn/beta"]
        assert [v.op.name for v in ts.global_variables()][2:] == ["bn/moving_mean",
                                                                  "bn/moving_variance"]
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        out = sess.run([y, *updates], {x: xv, training: True})[0]
        np.testing.assert_allclose(out, (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-3),
                                   rtol=1e-4, atol=1e-4)
        moving_mean, moving_var = sess.run(["bn/moving_mean:0", "bn/moving_variance:0"])
        np.testing.assert_allclose(moving_mean, 0.1 * xv.mean(0), rtol=1e-5)
        np.testing.assert_allclose(moving_var, 0.9 + 0.1 * xv.var(0), rtol=1e-5)  # 2-D: biased
        inference = sess.run(y, {x: xv})  # the moving averages, and no update
        np.testing.assert_allclose(inference, (xv - moving_mean) / np.sqrt(moving_var + 1e-3),
                                   rtol=1e-4, atol=1e-5)
        sess.run(updates, {x: xv})  # not training: the updates' branch does not run
        assert sess.run("bn/moving_mean:0").tolist() == moving_mean.tolist()


def test_layer_trains_with_its_gradients():
    rng = np.random.RandomState(4)
    xv = rng.randn(32, 4, 4, 2).astype(np.float32)
    labels = (xv[:, :2].sum(axis=(1, 2, 3)) > 0).astype(np.int64)
    g = ts.Graph()
    with g.as_default():
        ts.set_random_seed(0)
        x = ts.placeholder(ts.float32, [None, 4, 4, 2])
        h = ts.layers.conv2d(x, 4, 3, padding="same")
        h = ts.nn.relu(ts.layers.batch_normalization(h, training=True))
        logits = ts.layers.dense(ts.layers.flatten(h), 2)
        loss = ts.losses.sparse_softmax_cross_entropy(labels, logits)
        with ts.control_dependencies(ts.get_collection(ts.GraphKeys.UPDATE_OPS)):
            step = ts.train.AdamOptimizer(0.02).minimize(loss)
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        first = sess.run(loss, {x: xv})
        for _ in range(40):
            sess.run(step, {x: xv})
        assert sess.run(loss, {x: xv}) < 0.3 * first


@requires_tensorflow
def test_agrees_with_tensorflow(tmp_path):
    rng = np.random.RandomState(5)
    xv = (rng.randn(6, 5, 5, 3) * 2 + 1).astype(np.float32)  # TF's fused kernel: float32
    dy = rng.randn(6, 5, 5, 3).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=xv, dy=dy)
    script = """
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        data = np.load(sys.argv[1] + "/in.npz")
        out = {}
        with tf.Graph().as_default() as g, tf.Session() as s:
            # What TF1's layers.batch_normalization builds for a 4-D input (its fused path).
            x = tf.placeholder(tf.float32, [None, 5, 5, 3], name="x")
            gamma = tf.Variable(np.ones(3, np.float32), name="bn/gamma")
            beta = tf.Variable(np.zeros(3, np.float32), name="bn/beta")
            moving_mean = tf.Variable(np.zeros(3, np.float32), name="bn/moving_mean",
                                      trainable=False)
            moving_var = tf.Variable(np.ones(3, np.float32), name="bn/moving_variance",
                                     trainable=False)
            y, mean, var = tf.nn.fused_batch_norm(x, gamma, beta, epsilon=1e-3)
            grads = tf.gradients(y, [x, gamma, beta], grad_ys=data["dy"])
            updates = [tf.assign_sub(moving_mean, (moving_mean - mean) * 0.2),
                       tf.assign_sub(moving_var, (moving_var - var) * 0.2)]
            s.run(tf.global_variables_initializer())
            values = s.run([y] + grads + updates, {x: data["x"]})
            out.update(zip(["y", "dx", "dgamma", "dbeta"], values[:4]))
            out["moving"] = np.stack(s.run([moving_mean, moving_var]))
            inference, _, _ = tf.nn.fused_batch_norm(x, gamma, beta, moving_mean, moving_var,
                                                     epsilon=1e-3, is_training=False,
                                                     name="inference")
            out["inference"] = s.run(inference, {x: data["x"]})
            frozen = tf.graph_util.convert_variables_to_constants(
                s, g.as_graph_def(), [inference.op.name])
            out["y_name"] = np.array(inference.name)
        open(sys.argv[1] + "/frozen.pb", "wb").write(frozen.SerializeToString())
        np.savez(sys.argv[1] + "/tf.npz", **out)
    """
    run_tf(script, str(tmp_path))
    theirs = np.load(tmp_path / "tf.npz")
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 5, 5, 3])
        t = ts.placeholder_with_default(False, [])
        y = ts.layers.batch_normalization(x, training=t, momentum=0.8, name="bn")
        grads = ts.gradients(y, [x, g.get_tensor_by_name("bn/gamma:0"),
                                 g.get_tensor_by_name("bn/beta:0")], grad_ys=dy)
        updates = ts.get_collection(ts.GraphKeys.UPDATE_OPS)
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        values = sess.run([y, *grads, *updates], {x: xv, t: True})
        for name, value in zip(["y", "dx", "dgamma", "dbeta"], values[:4], strict=True):
            np.testing.assert_allclose(value, theirs[name], rtol=1e-4, atol=1e-5, err_msg=name)
        moving = np.stack(sess.run(["bn/moving_mean:0", "bn/moving_variance:0"]))
        np.testing.assert_allclose(moving, theirs["moving"], rtol=1e-5)
        np.testing.assert_allclose(sess.run(y, {x: xv}), theirs["inference"], rtol=1e-5,
                                   atol=1e-6)
    with ts.Graph().as_default():  # TF's frozen graph: FusedBatchNormV3, at inference
        ts.import_graph_def((tmp_path / "frozen.pb").read_bytes(), name="")
        got = ts.Session().run(str(theirs["y_name"]), {"x:0": xv})
    np.testing.assert_allclose(got, theirs["inference"], rtol=1e-5, atol=1e-6)
