"""Resource variables (VarHandleOp, ReadVariableOp, AssignVariableOp, ...): TensorFlow's graphs
that use them import and run (tensorslow/ops/resource_variable_ops.py)."""

import numpy as np
import pytest
from tf_live import requires_tensorflow, run_tf

import tensorslow as ts
from tensorslow.framework.ops import make_op


def handle(name, dtype=ts.float32, shape=(2,), shared_name=""):
    return make_op("VarHandleOp", [], {"dtype": dtype, "shape": ts.TensorShape(shape),
                                       "shared_name": shared_name}, name=name)._outputs[0]


def read(h, dtype=ts.float32):
    return make_op("ReadVariableOp", [h], {"dtype": dtype})._outputs[0]


def update(op_type, h, value, dtype=ts.float32):
    return make_op(op_type, [h, ts.constant(value, dtype=dtype)], {"dtype": dtype})


def test_assign_read_update_and_is_initialized():
    with ts.Graph().as_default():
        h = handle("v")
        initialized = make_op("VarIsInitializedOp", [h], {})._outputs[0]
        assign = update("AssignVariableOp", h, [1.0, 2.0])
        with ts.Session() as sess:
            assert not sess.run(initialized)
            with pytest.raises(ts.errors.FailedPreconditionError,
                               match="Error while reading resource variable v"):
                sess.run(read(h))
            sess.run(assign)
            assert sess.run(initialized)
            np.testing.assert_array_equal(sess.run(read(h)), [1.0, 2.0])
            sess.run(update("AssignAddVariableOp", h, [10.0, 10.0]))
            sess.run(update("AssignSubVariableOp", h, [1.0, 0.5]))
            value = sess.run(read(h))
            np.testing.assert_array_equal(value, [10.0, 11.5])
            value[0] = 99  # a fetched value is the caller's own
            np.testing.assert_array_equal(sess.run(read(h)), [10.0, 11.5])
            with pytest.raises(ts.errors.InvalidArgumentError, match="wrong shape"):
                sess.run(update("AssignVariableOp", h, [1.0, 2.0, 3.0]))
            with pytest.raises(ts.errors.InvalidArgumentError, match="wrong dtype"):
                sess.run(read(h, ts.int32))


def test_reads_follow_assignments_in_graph_order_and_shared_names_share_state():
    with ts.Graph().as_default():
        a, b = handle("a", shared_name="state"), handle("b", shared_name="state")
        assign = update("AssignVariableOp", a, [3.0, 4.0])
        with ts.control_dependencies([assign]):
            after = read(b)
        with ts.Session() as sess:
            np.testing.assert_array_equal(sess.run(after), [3.0, 4.0])
            assert set(sess._variable_values()) == {"state"}


def test_gradients_flow_through_reads():
    with ts.Graph().as_default():
        h = handle("w")
        w = read(h)
        loss = ts.reduce_sum(ts.square(w))
        grad, = ts.gradients(loss, [w])
        with ts.Session() as sess:
            sess.run(update("AssignVariableOp", h, [1.0, -3.0]))
            np.testing.assert_allclose(sess.run(grad), [2.0, -6.0])


@requires_tensorflow
def test_a_tensorflow_graph_with_resource_variables_imports_and_trains(tmp_path):
    script = """
        import sys, numpy as np, tensorflow.compat.v1 as tf
        tf.disable_eager_execution()  # variables stay resource variables (TF2's default)
        rng = np.random.RandomState(0)
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.get_variable("w", initializer=rng.randn(3, 2).astype(np.float32))
        b = tf.get_variable("b", initializer=np.zeros(2, np.float32))
        y = tf.identity(tf.matmul(x, w) + b, name="y")
        step = tf.assign_add(b, [0.5, -0.5], name="step")
        init = tf.global_variables_initializer()
        xs = rng.randn(4, 3).astype(np.float32)
        with tf.Session() as s:
            s.run(init)
            before = s.run(y, {x: xs})
            s.run(step)
            after = s.run(y, {x: xs})
        ops = sorted({n.op for n in tf.get_default_graph().as_graph_def().node})
        open(sys.argv[1] + "/g.pb", "wb").write(tf.get_default_graph().as_graph_def()
                                                .SerializeToString())
        np.savez(sys.argv[1] + "/out.npz", xs=xs, before=before, after=after,
                 init=np.array(init.name.encode()), step=np.array(step.name.encode()),
                 ops=np.array([o.encode() for o in ops]))
    """
    run_tf(script, str(tmp_path))
    data = np.load(tmp_path / "out.npz", allow_pickle=False)
    assert b"VarHandleOp" in data["ops"].tolist() and b"ReadVariableOp" in data["ops"].tolist()
    graph_def = ts.GraphDef.FromString((tmp_path / "g.pb").read_bytes())
    with ts.Graph().as_default() as g:
        ts.import_graph_def(graph_def, name="")
        with ts.Session() as sess:
            sess.run(g.get_operation_by_name(data["init"].item().decode()))
            np.testing.assert_allclose(sess.run("y:0", {"x:0": data["xs"]}), data["before"],
                                       rtol=1e-6)
            sess.run(g.get_operation_by_name(data["step"].item().decode().split(":")[0]))
            np.testing.assert_allclose(sess.run("y:0", {"x:0": data["xs"]}), data["after"],
                                       rtol=1e-6)
