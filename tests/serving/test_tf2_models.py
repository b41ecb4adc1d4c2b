"""TensorFlow 2 SavedModels (tf.saved_model.save of a tf.Module, Keras model.export, a
half_plus_two like TF Serving's TF2 test model), written by TensorFlow into tests/fixtures, served
over gRPC and REST: every signature answers TensorFlow's outputs, Classify and Regress run the
TF2 signatures over tf.Examples, and metadata describes the signatures as TensorFlow wrote
them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import config_text
from test_classify_regress import examples_input
from test_grpc_api import metadata_request, outputs_of, predict_request

from tensorslow import proto

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODELS = ["module", "half_plus_two", "keras_mlp", "keras_cnn", "keras_lstm"]


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "tf2_expected.npz") as data:
        return {k: data[k] for k in data.files}


def _cases(expected, model):
    """{signature: (inputs, outputs)} TensorFlow recorded for `model`."""
    cases: dict = {}
    for key, value in expected.items():
        name, signature, kind, tensor = key.split("/")
        if name == model:
            cases.setdefault(signature, ({}, {}))[kind == "out"][tensor] = value
    return cases


@pytest.fixture(scope="module")
def tf2_server(tmp_path_factory):
    from conftest import ServerHandle

    from serving.server import ModelServer, ServerOptions

    config = tmp_path_factory.mktemp("tf2") / "models.config"
    config.write_text(config_text([
        {"name": m, "base_path": str(FIXTURES / "tf2_saved_models" / m)} for m in MODELS]))
    server = ModelServer(ServerOptions(
        port=-1, rest_api_port=-1, host="127.0.0.1", model_config_file=str(config),
        grpc_max_threads=8, initial_load_timeout_seconds=60, max_num_load_retries=0))
    server.start()
    handle = ServerHandle(server)
    yield handle
    handle.close()
    server.stop(grace=2)


def _predict_cases(expected):
    for model in MODELS:
        for signature, (inputs, outputs) in sorted(_cases(expected, model).items()):
            if model != "half_plus_two" or signature == "serving_default":
                yield model, signature, inputs, outputs


def test_every_predict_signature_gives_tensorflows_outputs_over_grpc(tf2_server, expected):
    cases = list(_predict_cases(expected))
    assert len(cases) == 6
    for model, signature, inputs, outputs in cases:
        response = tf2_server.predict.Predict(predict_request(
            model, inputs, signature_name=signature), timeout=30)
        got = outputs_of(response)
        assert set(got) == set(outputs), (model, signature)
        for key, value in outputs.items():
            assert got[key].dtype == value.dtype and got[key].shape == value.shape
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{model} {signature} {key}")


def test_every_predict_signature_gives_tensorflows_outputs_over_rest(tf2_server, expected):
    for model, signature, inputs, outputs in _predict_cases(expected):
        body = {"signature_name": signature,
                "inputs": {k: v.tolist() for k, v in inputs.items()}}
        status, reply = tf2_server.rest("POST", f"/v1/models/{model}:predict", body)
        assert status == 200, (model, reply)
        got = reply["outputs"]
        if len(outputs) == 1:  # one output: TF Serving's columnar reply is the bare value
            got = {next(iter(outputs)): got}
        for key, value in outputs.items():
            np.testing.assert_allclose(np.asarray(got[key], np.float64), value, rtol=1e-5,
                                       atol=1e-5, err_msg=f"{model} {signature} {key}")


def test_half_plus_two_regress_and_classify_over_grpc(tf2_server, expected):
    cases = _cases(expected, "half_plus_two")
    for signature, call, make in [
            ("regress_x_to_y", tf2_server.predict.Regress, proto.serving.RegressionRequest),
            ("regress_x_to_y2", tf2_server.predict.Regress, proto.serving.RegressionRequest),
            ("classify_x_to_y", tf2_server.predict.Classify,
             proto.serving.ClassificationRequest)]:
        inputs, outputs = cases[signature]
        request = make()
        request.model_spec.name = "half_plus_two"
        request.model_spec.signature_name = signature
        examples_input(request.input, [{"x": [float(v)]} for v in inputs["x"]])
        response = call(request, timeout=30)
        assert response.model_spec.version.value == 1
        if signature.startswith("regress"):
            got = [r.value for r in response.result.regressions]
            want = outputs["outputs"].reshape(-1)
        else:
            got = [c.classes[0].score for c in response.result.classifications]
            want = outputs["scores"].reshape(-1)
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert [r.value for r in tf2_server.predict.Regress(_regress_request(), timeout=30)
            .result.regressions] == [3.0]  # TF Serving's own check: 0.5 * 2 + 2


def _regress_request():
    request = proto.serving.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    examples_input(request.input, [{"x": [2.0]}])
    return request


def test_half_plus_two_over_rest_as_tf_serving_answers(tf2_server):
    status, reply = tf2_server.rest("POST", "/v1/models/half_plus_two:predict",
                                    {"instances": [1.0, 2.0, 5.0]})
    assert (status, reply) == (200, {"predictions": [2.5, 3.0, 4.5]})
    status, reply = tf2_server.rest("POST", "/v1/models/half_plus_two:regress", {
        "signature_name": "regress_x_to_y2", "examples": [{"x": 1.0}, {"x": 4.0}]})
    assert (status, reply) == (200, {"results": [3.5, 5.0]})
    status, reply = tf2_server.rest("POST", "/v1/models/half_plus_two:classify", {
        "signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]})
    assert status == 200 and reply["results"][0][0][1] == pytest.approx(3.0)


def test_metadata_describes_the_signatures_tensorflow_wrote(tf2_server):
    response = tf2_server.predict.GetModelMetadata(metadata_request("keras_lstm"), timeout=30)
    signatures = proto.serving.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    default = signatures.signature_def["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert set(default.inputs) == {"sequence"}
    assert [d.size for d in default.inputs["sequence"].tensor_shape.dim] == [-1, 5, 3]
    assert set(default.outputs) == {"output_0"}
    response = tf2_server.predict.GetModelMetadata(metadata_request("half_plus_two"),
                                                   timeout=30)
    response.metadata["signature_def"].Unpack(signatures)
    # As TF Serving lists them: with the init op TensorFlow 2 keeps as a signature.
    assert set(signatures.signature_def) == {"serving_default", "regress_x_to_y",
                                             "regress_x_to_y2", "classify_x_to_y",
                                             "__saved_model_init_op"}
    assert signatures.signature_def["classify_x_to_y"].method_name == \
        "tensorflow/serving/classify"
