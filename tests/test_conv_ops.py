"""Convolution and pooling (conv_ops.py, ts.nn.conv2d/max_pool/avg_pool/conv2d_transpose,
ts.layers.conv2d and the pooling layers): forward against direct loops written here, gradients
against finite differences, TF's output sizes and padding, errors, and, when TensorFlow is
available, agreement with it to float64 round-off."""

import numpy as np
import pytest
from op_check import check_op
from tf_live import requires_tensorflow, run_tf

import tensorslow as ts


# -- references: direct loops over output positions -------------------------------------------
def _same_or_valid(size, k_eff, stride, padding):
    if padding == "VALID":
        return max(0, -(-(size - k_eff + 1) // stride)), 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + k_eff - size, 0) // 2


def ref_conv2d(x, f, strides, padding, dilations=(1, 1), explicit=None):
    n, h, w, c = x.shape
    kh, kw, _, oc = f.shape
    (sh, sw), (dh, dw) = strides, dilations
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if explicit is None:
        oh, top = _same_or_valid(h, eh, sh, padding)
        ow, left = _same_or_valid(w, ew, sw, padding)
    else:
        (top, bottom), (left, right) = explicit
        oh, ow = (h + top + bottom - eh) // sh + 1, (w + left + right - ew) // sw + 1
    out = np.zeros((n, oh, ow, oc))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    r, s = i * sh + a * dh - top, j * sw + b * dw - left
                    if 0 <= r < h and 0 <= s < w:
                        out[:, i, j, :] += x[:, r, s, :] @ f[a, b]
    return out


def ref_pool(x, ksize, strides, padding, kind):
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = ksize, strides
    oh, top = _same_or_valid(h, kh, sh, padding)
    ow, left = _same_or_valid(w, kw, sw, padding)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, s0 = i * sh - top, j * sw - left
            window = x[:, max(r0, 0):r0 + kh, max(s0, 0):s0 + kw, :]
            out[:, i, j, :] = (window.max(axis=(1, 2)) if kind == "max"
                               else window.mean(axis=(1, 2)))
    return out


def nchw(x):
    return np.transpose(x, (0, 3, 1, 2))


def nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


CONV_CASES = [  # (input shape NHWC, filter shape, strides, padding, dilations)
    ((2, 5, 5, 2), (3, 3, 2, 3), (1, 1), "SAME", (1, 1)),
    ((1, 6, 7, 3), (3, 2, 3, 2), (2, 2), "SAME", (1, 1)),
    ((2, 7, 6, 1), (2, 3, 1, 2), (2, 3), "VALID", (1, 1)),
    ((1, 8, 7, 2), (3, 2, 2, 2), (1, 1), "SAME", (2, 3)),
    ((1, 4, 4, 2), (4, 4, 2, 1), (3, 3), "SAME", (1, 1)),
    ((2, 2, 2, 1), (3, 3, 1, 2), (1, 1), "VALID", (1, 1)),  # smaller than the filter: empty
]


@pytest.mark.parametrize("shape,fshape,strides,padding,dilations", CONV_CASES)
def test_conv2d_forward_and_gradients(shape, fshape, strides, padding, dilations):
    rng = np.random.RandomState(sum(shape) + sum(fshape))
    x, f = rng.randn(*shape), rng.randn(*fshape)
    check_op(lambda a, b: ts.nn.conv2d(a, b, strides=[1, *strides, 1], padding=padding,
                                       dilations=[1, *dilations, 1]),
             [x, f], lambda a, b: ref_conv2d(a, b, strides, padding, dilations), atol=1e-9,
             grad_rtol=1e-5)


def test_conv2d_nchw_and_explicit_padding():
    rng = np.random.RandomState(1)
    x, f = rng.randn(2, 5, 6, 3), rng.randn(3, 2, 3, 2)
    check_op(lambda a, b: ts.nn.conv2d(a, b, strides=[1, 1, 2, 1], padding="SAME",
                                       data_format="NCHW"),
             [nchw(x), f], lambda a, b: nchw(ref_conv2d(nhwc(a), b, (2, 1), "SAME")),
             atol=1e-9)
    explicit = ((1, 2), (0, 3))
    check_op(lambda a, b: ts.nn.conv2d(a, b, strides=[1, 2, 1, 1],
                                       padding=[[0, 0], [1, 2], [0, 3], [0, 0]]),
             [x, f], lambda a, b: ref_conv2d(a, b, (2, 1), None, explicit=explicit),
             atol=1e-9)


def ref_depthwise(x, f, strides, padding, dilations=(1, 1)):
    c, m = f.shape[2:]
    per_channel = [ref_conv2d(x[..., [k]], f[:, :, [k], :], strides, padding, dilations)
                   for k in range(c)]  # each (N, OH, OW, M)
    return np.concatenate(per_channel, axis=-1)  # channel k's outputs at k*M .. k*M+M-1


@pytest.mark.parametrize("shape,fshape,strides,padding,dilations", [
    ((2, 5, 5, 2), (3, 3, 2, 2), (1, 1), "SAME", (1, 1)),
    ((1, 6, 7, 3), (2, 3, 3, 1), (2, 1), "VALID", (1, 1)),
    ((1, 7, 6, 2), (2, 2, 2, 3), (1, 1), "SAME", (2, 2)),
])
def test_depthwise_conv2d_forward_and_gradients(shape, fshape, strides, padding, dilations):
    rng = np.random.RandomState(sum(shape))
    x, f = rng.randn(*shape), rng.randn(*fshape)
    check_op(lambda a, b: ts.nn.depthwise_conv2d(a, b, [1, *strides, 1], padding,
                                                 dilations=list(dilations)),
             [x, f], lambda a, b: ref_depthwise(a, b, strides, padding, dilations), atol=1e-9)


def test_separable_and_1d_convolutions():
    rng = np.random.RandomState(6)
    x, depthwise, pointwise = rng.randn(2, 6, 6, 2), rng.randn(3, 3, 2, 2), rng.randn(1, 1, 4, 3)
    check_op(lambda a, b, c: ts.nn.separable_conv2d(a, b, c, [1, 1, 1, 1], "SAME"),
             [x, depthwise, pointwise],
             lambda a, b, c: ref_conv2d(ref_depthwise(a, b, (1, 1), "SAME"), c, (1, 1),
                                        "VALID"), atol=1e-9)
    signal, filters = rng.randn(2, 9, 3), rng.randn(4, 3, 5)
    check_op(lambda a, b: ts.nn.conv1d(a, b, stride=2, padding="SAME"), [signal, filters],
             lambda a, b: ref_conv2d(a[:, None], b[None], (1, 2), "SAME")[:, 0], atol=1e-9)
    check_op(lambda a, b: ts.nn.conv1d(a, b, stride=[1, 1, 1], padding="VALID",
                                       data_format="NCW"),
             [signal.transpose(0, 2, 1), filters],
             lambda a, b: ref_conv2d(a.transpose(0, 2, 1)[:, None], b[None], (1, 1),
                                     "VALID")[:, 0].transpose(0, 2, 1), atol=1e-9)


def test_conv2d_transpose_is_the_input_gradient_of_conv2d():
    rng = np.random.RandomState(2)
    x, f = rng.randn(2, 6, 5, 3), rng.randn(3, 3, 3, 4)
    g = ts.Graph()
    with g.as_default():
        xt, ft = ts.constant(x), ts.constant(f)
        y = ts.nn.conv2d(xt, ft, strides=[1, 2, 2, 1], padding="SAME")
        dy = ts.constant(rng.randn(2, 3, 3, 4))
        (dx,) = ts.gradients(y, xt, grad_ys=dy)
        transposed = ts.nn.conv2d_transpose(dy, ft, output_shape=[2, 6, 5, 3],
                                            strides=[1, 2, 2, 1], padding="SAME")
        assert transposed.shape.as_list() == [2, 6, 5, 3]
        got, want = ts.Session().run([transposed, dx])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_conv2d_transpose_gradients_and_layer():
    rng = np.random.RandomState(7)
    dy, f = rng.randn(2, 3, 3, 4), rng.randn(3, 3, 2, 4)

    def numpy_transpose(a, b):  # the adjoint of the (linear) convolution, basis by basis
        out = np.zeros((2, 6, 5, 2))
        for index in np.ndindex(1, 6, 5, 2):
            basis = np.zeros((1, 6, 5, 2))
            basis[index] = 1.0
            column = ref_conv2d(basis, b, (2, 2), "SAME")[0]  # d conv / d x[index]
            out[(slice(None), *index[1:])] = np.tensordot(a, column, axes=3)
        return out

    check_op(lambda a, b: ts.nn.conv2d_transpose(a, b, [2, 6, 5, 2], [1, 2, 2, 1], "SAME"),
             [dy, f], numpy_transpose, atol=1e-9)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 5, 6, 3])
        same = ts.layers.conv2d_transpose(x, 4, 3, strides=2, padding="same", use_bias=False)
        valid = ts.layers.conv2d_transpose(x, 2, (3, 2), strides=(2, 3), name="up")
        assert same.shape.as_list() == [None, 10, 12, 4]
        assert valid.shape.as_list() == [None, 11, 18, 2]
        kernel = g.get_tensor_by_name("conv2d_transpose/kernel:0")
        assert kernel.shape.as_list() == [3, 3, 4, 3]
        direct = ts.nn.conv2d_transpose(x, kernel, ts.stack([ts.shape(x)[0], 10, 12, 4]),
                                        [1, 2, 2, 1], "SAME")
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        xv = rng.rand(2, 5, 6, 3).astype(np.float32)
        got, want, up = sess.run([same, direct, valid], {x: xv})
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert up.shape == (2, 11, 18, 2)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape,ksize,strides,padding", [
    ((2, 5, 5, 2), (2, 2), (2, 2), "SAME"), ((1, 6, 7, 3), (3, 2), (1, 2), "VALID"),
    ((2, 4, 5, 1), (3, 3), (2, 1), "SAME"), ((1, 3, 3, 2), (3, 3), (1, 1), "SAME"),
    ((2, 6, 4, 3), (2, 2), (2, 2), "VALID"), ((1, 7, 6, 2), (3, 2), (3, 2), "VALID"),
    ((1, 4, 6, 2), (2, 3), (2, 3), "SAME"),  # windows that tile the input
])
def test_pooling_forward_and_gradients(kind, shape, ksize, strides, padding):
    rng = np.random.RandomState(sum(shape))
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1  # distinct: no ties for max
    pool = ts.nn.max_pool if kind == "max" else ts.nn.avg_pool
    check_op(lambda a: pool(a, ksize=[1, *ksize, 1], strides=[1, *strides, 1],
                            padding=padding),
             [x], lambda a: ref_pool(a, ksize, strides, padding, kind), atol=1e-12)
    check_op(lambda a: pool(a, ksize=ksize, strides=strides, padding=padding,
                            data_format="NCHW"),
             [nchw(x)], lambda a: nchw(ref_pool(nhwc(a), ksize, strides, padding, kind)),
             atol=1e-12)


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[3.0, 3.0], [1.0, 3.0]]).reshape(1, 2, 2, 1)
    g = ts.Graph()
    with g.as_default():
        xt = ts.constant(x)
        (dx,) = ts.gradients(ts.nn.max_pool(xt, 2, 2, "VALID"), xt)
        assert ts.Session().run(dx).reshape(2, 2).tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_second_order_gradients_match_finite_differences():
    rng = np.random.RandomState(3)
    x0, f0 = rng.randn(1, 4, 4, 2), rng.randn(2, 2, 2, 2)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float64, x0.shape)
        f = ts.placeholder(ts.float64, f0.shape)
        y = ts.nn.conv2d(x, f, strides=[1, 2, 1, 1], padding="SAME")
        (dx,) = ts.gradients(ts.reduce_sum(ts.square(y)), x)
        inner = ts.reduce_sum(dx * ts.constant(rng.randn(*x0.shape)))
        (dinner_df,) = ts.gradients(inner, f)
        sess = ts.Session()
    got = sess.run(dinner_df, {x: x0, f: f0})
    numeric = np.zeros_like(f0)
    for i in np.ndindex(*f0.shape):
        up, down = f0.copy(), f0.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        numeric[i] = (sess.run(inner, {x: x0, f: up}) - sess.run(inner, {x: x0, f: down})) / 2e-6
    np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-7)


def test_static_shapes_with_an_unknown_batch():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 28, 28, 1])
        y = ts.nn.conv2d(x, ts.zeros([5, 5, 1, 8]), strides=[1, 2, 2, 1], padding="VALID")
        assert y.shape.as_list() == [None, 12, 12, 8]
        assert ts.nn.max_pool(y, 3, 2, "SAME").shape.as_list() == [None, 6, 6, 8]
        z = ts.nn.conv2d(ts.placeholder(ts.float32, [None, 3, None, None]),
                         ts.zeros([3, 3, 3, 4]), strides=1, padding="SAME", data_format="NCHW")
        assert z.shape.as_list() == [None, 4, None, None]


def test_bad_arguments_are_refused_with_the_reason():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [1, 5, 5, 2])
        with pytest.raises(ValueError, match="padding"):
            ts.nn.conv2d(x, ts.zeros([3, 3, 2, 1]), strides=1, padding="FULL")
        with pytest.raises(ValueError, match="depth 2 is not a multiple"):
            ts.nn.conv2d(x, ts.zeros([3, 3, 3, 1]), strides=1, padding="SAME")
        with pytest.raises(ValueError, match="4-D"):
            ts.nn.conv2d(ts.zeros([5, 5]), ts.zeros([3, 3, 2, 1]), strides=1, padding="SAME")
        with pytest.raises(ValueError, match="strides"):
            ts.nn.max_pool(x, 2, [1, 2, 2], "SAME")
        with pytest.raises(ValueError, match="data_format"):
            ts.nn.avg_pool(x, 2, 2, "SAME", data_format="NHCW")
        with pytest.raises(ts.errors.UnimplementedError, match="depth"):
            ts.Session().run(ts.nn.max_pool(x, [1, 1, 1, 2], [1, 1, 1, 2], "VALID"),
                             {x: np.zeros((1, 5, 5, 2))})


def test_layers_build_a_small_cnn_that_trains():
    rng = np.random.RandomState(4)
    images = rng.rand(16, 8, 8, 1).astype(np.float32)
    labels = (images[:, :4].mean(axis=(1, 2, 3)) > images[:, 4:].mean(axis=(1, 2, 3)))
    g = ts.Graph()
    with g.as_default():
        ts.set_random_seed(0)
        x = ts.placeholder(ts.float32, [None, 8, 8, 1])
        y = ts.placeholder(ts.int64, [None])
        h = ts.layers.conv2d(x, 4, 3, padding="same", activation=ts.tanh)
        h = ts.layers.max_pooling2d(h, 2, 2)
        h = ts.layers.conv2d(h, 4, (2, 2), strides=2, activation=ts.tanh, name="second")
        h = ts.layers.average_pooling2d(h, 2, 1, padding="same")
        logits = ts.layers.dense(ts.layers.flatten(h), 2)
        loss = ts.losses.sparse_softmax_cross_entropy(y, logits)
        step = ts.train.AdamOptimizer(0.05).minimize(loss)
        names = [v.op.name for v in ts.trainable_variables()]
        assert names[:4] == ["conv2d/kernel", "conv2d/bias", "second/kernel", "second/bias"]
        assert h.shape.as_list() == [None, 2, 2, 4]
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        feed = {x: images, y: labels.astype(np.int64)}
        first = sess.run(loss, feed)
        for _ in range(60):
            sess.run(step, feed)
        assert sess.run(loss, feed) < 0.1 * first


# -- TensorFlow, when available -----------------------------------------------------------------
@requires_tensorflow
def test_agrees_with_tensorflow(tmp_path):
    rng = np.random.RandomState(5)
    cases = [(rng.randn(*shape), rng.randn(*fshape), strides, padding, dilations)
             for shape, fshape, strides, padding, dilations in CONV_CASES[:5]]
    np.savez(tmp_path / "in.npz", **{f"{k}{i}": v for i, c in enumerate(cases)
                                     for k, v in zip("xf", c[:2], strict=True)})
    script = """
        import json, sys, numpy as np, tensorflow as tf
        data, cases = np.load(sys.argv[1] + "/in.npz"), json.loads(sys.argv[2])
        out = {}
        for i, (strides, padding, dilations) in enumerate(cases):
            x, f = tf.constant(data[f"x{i}"]), tf.constant(data[f"f{i}"])
            with tf.GradientTape() as tape:
                tape.watch([x, f])
                y = tf.nn.conv2d(x, f, [1, *strides, 1], padding, dilations=[1, *dilations, 1])
                mp = tf.nn.max_pool2d(y, [1, 2, 2, 1], [1, 2, 1, 1], padding)
                ap = tf.nn.avg_pool2d(y, [1, 3, 2, 1], [1, 1, 2, 1], padding)
                loss = tf.reduce_sum(mp * 1.5) + tf.reduce_sum(ap * ap) + tf.reduce_sum(y)
            out.update({f"y{i}": y, f"mp{i}": mp, f"ap{i}": ap})
            if strides[0] == strides[1]:  # TF's depthwise kernel wants equal strides
                out[f"dw{i}"] = tf.nn.depthwise_conv2d(x, f, [1, *strides, 1], padding,
                                                       dilations=dilations)
            if dilations == [1, 1]:  # TF's CPU kernels have no dilated backprop
                out.update(zip([f"gx{i}", f"gf{i}"], tape.gradient(loss, [x, f])))
        np.savez(sys.argv[1] + "/tf.npz", **{k: v.numpy() for k, v in out.items()})
    """
    run_tf(script, str(tmp_path),
           str([[list(c[2]), c[3], list(c[4])] for c in cases]).replace("'", '"'))
    theirs = np.load(tmp_path / "tf.npz")
    for i, (x0, f0, strides, padding, dilations) in enumerate(cases):
        g = ts.Graph()
        with g.as_default():
            x, f = ts.constant(x0), ts.constant(f0)
            y = ts.nn.conv2d(x, f, [1, *strides, 1], padding, dilations=[1, *dilations, 1])
            mp = ts.nn.max_pool2d(y, [1, 2, 2, 1], [1, 2, 1, 1], padding)
            ap = ts.nn.avg_pool2d(y, [1, 3, 2, 1], [1, 1, 2, 1], padding)
            loss = ts.reduce_sum(mp * 1.5) + ts.reduce_sum(ap * ap) + ts.reduce_sum(y)
            gx, gf = ts.gradients(loss, [x, f])
            dw = ts.nn.depthwise_conv2d(x, f, [1, *strides, 1], padding, dilations=dilations)
            ours = dict(zip([f"y{i}", f"mp{i}", f"ap{i}", f"gx{i}", f"gf{i}", f"dw{i}"],
                            ts.Session().run([y, mp, ap, gx, gf, dw]), strict=True))
        for key, value in ours.items():
            if key in theirs:
                np.testing.assert_allclose(value, theirs[key], rtol=1e-9, atol=1e-9,
                                           err_msg=key)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_layer_is_nn_conv1d_plus_bias(data_format):
    rng = np.random.RandomState(8)
    g = ts.Graph()
    with g.as_default():
        shape = [None, 9, 3] if data_format == "channels_last" else [None, 3, 9]
        x = ts.placeholder(ts.float32, shape)
        y = ts.layers.conv1d(x, 4, 3, strides=2, padding="same", data_format=data_format,
                             bias_initializer=ts.constant_initializer(0.5))
        assert g.get_tensor_by_name("conv1d/kernel:0").shape.as_list() == [3, 3, 4]
        nwc = data_format == "channels_last"
        assert y.shape.as_list() == ([None, 5, 4] if nwc else [None, 4, 5])
        sess = ts.Session()
        sess.run(ts.global_variables_initializer())
        xv = rng.rand(2, *shape[1:]).astype(np.float32)
        got, kernel = sess.run([y, "conv1d/kernel:0"], {x: xv})
    signal = xv if nwc else xv.transpose(0, 2, 1)
    want = ref_conv2d(signal[:, None].astype(np.float64), kernel[None], (1, 2), "SAME")[:, 0]
    want = want + 0.5
    np.testing.assert_allclose(got, want if nwc else want.transpose(0, 2, 1), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="ndim=3"):
        ts.layers.conv1d(ts.zeros([2, 4, 4, 1]), 2, 3)
