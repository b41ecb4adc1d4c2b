"""TensorFlow 2 function graphs written by TensorFlow (tests/fixtures, see
make_tf2_fixtures.py): SavedModels of a tf.Module and of Keras exports load through
ts.saved_model.loader and give TensorFlow's outputs; a tf.function's while_v2 GraphDef, with the
TensorList accumulators of its gradient loop, imports and gives TensorFlow's outputs and
gradients."""

from pathlib import Path

import numpy as np
import pytest

import tensorslow as ts

FIXTURES = Path(__file__).parent / "fixtures"


def _expected():
    with np.load(FIXTURES / "tf2_expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("model", ["module", "half_plus_two", "keras_mlp", "keras_cnn",
                                   "keras_lstm"])
def test_tf2_saved_models_load_and_give_tensorflows_outputs(model):
    expected = _expected()
    signatures = sorted({k.split("/")[1] for k in expected if k.startswith(model + "/")})
    with ts.Graph().as_default() as g, ts.Session(graph=g) as sess:
        meta_graph = ts.saved_model.loader.load(
            sess, ["serve"], str(FIXTURES / "tf2_saved_models" / model / "1"))
        types = {op.type for op in g.get_operations()}
        assert "StatefulPartitionedCall" in types
        checked = 0
        for name in signatures:
            signature = meta_graph.signature_def[name]
            prefix = f"{model}/{name}/"
            feed = {signature.inputs[k[len(prefix) + 3:]].name: v for k, v in expected.items()
                    if k.startswith(prefix + "in/") and k[len(prefix) + 3:] in signature.inputs}
            if not feed:
                continue  # over serialized tf.Examples: tests/serving/test_tf2_models.py
            outputs = {k: signature.outputs[k].name for k in signature.outputs}
            for key, value in sess.run(outputs, feed).items():
                want = expected[prefix + "out/" + key]
                assert value.dtype == want.dtype and value.shape == want.shape
                np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5)
                checked += 1
        assert checked


def test_a_tf2_while_v2_graph_with_its_gradient_loop_gives_tensorflows_numbers():
    graph_def = ts.GraphDef.FromString((FIXTURES / "tf_while_v2.pb").read_bytes())
    data = np.load(FIXTURES / "tf_while_v2.npz")
    body_ops = {n.op for f in graph_def.library.function for n in f.node_def}
    assert {"TensorListPushBack", "TensorListPopBack", "StatelessIf"} <= body_ops
    with ts.Graph().as_default():
        ts.import_graph_def(graph_def, name="")
        feed = {k[3:]: data[k] for k in data.files if k.startswith("in/")}
        fetches = [k[4:] for k in data.files if k.startswith("out/")]
        assert len(fetches) == 3
        for name, got in zip(fetches, ts.Session().run(fetches, feed)):
            np.testing.assert_allclose(got, data["out/" + name], rtol=1e-9, atol=1e-12)
