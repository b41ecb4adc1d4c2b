"""TensorFlow Serving's own Python client (tensorflow-serving-api) against this server:
Predict, Classify, GetModelStatus, GetModelMetadata and an unknown model's error code.

The client runs in a process of its own: this Python when it has tensorflow-serving-api, else
the TENSORSLOW_TF_PYTHON of the live TensorFlow tests (tests/tf_live.py) when that Python has
it. It calls the server over gRPC on its port and prints what it got, checked here."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tf_live import TF_PYTHON, run_tf  # noqa: E402


def _client_python() -> str | None:
    if importlib.util.find_spec("tensorflow_serving") is not None:
        return sys.executable
    if TF_PYTHON is None or TF_PYTHON == sys.executable:
        return None
    probe = subprocess.run(
        [TF_PYTHON, "-c", "import importlib.util, sys; "
         "sys.exit(importlib.util.find_spec('tensorflow_serving') is None)"],
        capture_output=True, timeout=60)
    return TF_PYTHON if probe.returncode == 0 else None


CLIENT_PYTHON = _client_python()

pytestmark = pytest.mark.skipif(
    CLIENT_PYTHON is None,
    reason="tensorflow-serving-api is not installed (optional: it pulls in TensorFlow); "
           "set TENSORSLOW_TF_PYTHON to a Python that has it to run this test")

_CLIENT = """
import json, sys

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)

channel = grpc.insecure_channel(sys.argv[1])
stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
out = {}

request = predict_pb2.PredictRequest()
request.model_spec.name = "half"
request.model_spec.version.value = 1
request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(json.loads(sys.argv[2]), np.float32)))
response = stub.Predict(request, 10)
out["y"] = tf.make_ndarray(response.outputs["y"]).tolist()
out["version"] = response.model_spec.version.value

status_request = get_model_status_pb2.GetModelStatusRequest()
status_request.model_spec.name = "half"
models = model_service_pb2_grpc.ModelServiceStub(channel)
out["versions"] = sorted(s.version for s in models.GetModelStatus(status_request, 10)
                         .model_version_status)

metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(
    metadata_field=["signature_def"])
metadata_request.model_spec.name = "half"
metadata = stub.GetModelMetadata(metadata_request, 10)
signatures = get_model_metadata_pb2.SignatureDefMap()
metadata.metadata["signature_def"].Unpack(signatures)
out["signatures"] = sorted(signatures.signature_def)

classify = classification_pb2.ClassificationRequest()
classify.model_spec.name = "examples"
classify.model_spec.signature_name = "classify"
for x in ([1.0, 3.0], [0.0, 0.0]):
    example = classify.input.example_list.examples.add()
    example.features.feature["x"].float_list.value.extend(x)
out["classes"] = [[[c.label, c.score] for c in result.classes]
                  for result in stub.Classify(classify, 10).result.classifications]

missing = predict_pb2.PredictRequest()
missing.model_spec.name = "no-such-model"
missing.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 3), np.float32)))
try:
    stub.Predict(missing, 10)
    out["missing"] = "OK"
except grpc.RpcError as e:
    out["missing"] = e.code().name
channel.close()
print(json.dumps(out))
"""


def test_official_client_predict_status_and_metadata(api_server):
    x = [[1.0, 2.0, 3.0]]
    out = json.loads(run_tf(_CLIENT, api_server.target, json.dumps(x), timeout=120,
                            python=CLIENT_PYTHON).strip().splitlines()[-1])
    np.testing.assert_allclose(out["y"], np.array(x) / 2 + 2)
    assert out["version"] == 1
    assert out["versions"] == [1, 2]
    assert "serving_default" in out["signatures"]
    assert out["missing"] == "NOT_FOUND"
    first, second = out["classes"]
    assert [label for label, _ in first] == ["neg", "pos"]
    assert first[1][1] == pytest.approx(1 / (1 + np.exp(-2)), rel=1e-6)
    assert [score for _, score in second] == pytest.approx([0.5, 0.5])
