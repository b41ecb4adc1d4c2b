"""The Open Inference Protocol (KServe V2) on the shared API server, over real sockets: every
REST route and gRPC method, JSON tensors and the binary tensor extension, typed and raw gRPC
contents, the protocol's status codes for bad input, and the same numbers as TF Serving's
Predict for the same model."""

from __future__ import annotations

import http.client
import json
import struct

import grpc
import numpy as np
import pytest
from test_grpc_api import X, outputs_of, predict_request

from serving.client import make_stub
from tensorslow import proto

V2 = "inference.GRPCInferenceService"


def v2(message: str, **fields):
    return proto.message_class(f"inference.{message}")(**fields)


@pytest.fixture(scope="module")
def stub(api_server):
    return make_stub(api_server.channel, V2)


def rest(api_server, method, path, body=None, raw=None, headers=None):
    """(status, headers, body bytes) of one call."""
    conn = http.client.HTTPConnection("127.0.0.1", api_server.server.rest_port, timeout=30)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def rest_json(api_server, method, path, body=None, raw=None):
    code, _, data = rest(api_server, method, path, body, raw)
    return code, json.loads(data)


# -- health and metadata -----------------------------------------------------------------------
def test_rest_health_and_server_metadata(api_server):
    assert rest_json(api_server, "GET", "/v2/health/live") == (200, {"live": True})
    assert rest_json(api_server, "GET", "/v2/health/ready") == (200, {"ready": True})
    code, meta = rest_json(api_server, "GET", "/v2")
    assert code == 200 and meta["name"] == "tensorslow"
    assert "binary_tensor_data" in meta["extensions"]


def test_rest_model_metadata_and_readiness(api_server):
    code, meta = rest_json(api_server, "GET", "/v2/models/half")
    assert code == 200
    assert meta["name"] == "half" and meta["versions"] == ["2", "1"]
    assert meta["platform"] == "tensorflow_savedmodel"
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    assert {o["name"]: (o["datatype"], o["shape"]) for o in meta["outputs"]} == {
        "y": ("FP32", [-1, 3]), "total": ("FP32", [-1])}
    assert rest_json(api_server, "GET", "/v2/models/half/versions/1/ready") == (
        200, {"name": "half", "ready": True})
    assert rest_json(api_server, "GET", "/v2/models/half/versions/7/ready")[0] == 400
    assert rest_json(api_server, "GET", "/v2/models/nope/ready")[0] == 404
    code, body = rest_json(api_server, "GET", "/v2/models/nope")
    assert code == 404 and "nope" in body["error"]
    assert rest_json(api_server, "GET", "/v2/models/half/versions/x")[0] == 400
    assert rest_json(api_server, "GET", "/v2/nowhere")[0] == 404


def test_grpc_health_and_metadata(stub):
    assert stub.ServerLive(v2("ServerLiveRequest"), timeout=10).live
    assert stub.ServerReady(v2("ServerReadyRequest"), timeout=10).ready
    meta = stub.ServerMetadata(v2("ServerMetadataRequest"), timeout=10)
    assert meta.name == "tensorslow" and list(meta.extensions) == ["binary_tensor_data"]
    assert stub.ModelReady(v2("ModelReadyRequest", name="half"), timeout=10).ready
    assert not stub.ModelReady(v2("ModelReadyRequest", name="half", version="9"),
                               timeout=10).ready
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelReady(v2("ModelReadyRequest", name="nope"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    model = stub.ModelMetadata(v2("ModelMetadataRequest", name="two"), timeout=10)
    assert list(model.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [
        ("a", "FP32", [-1, 2]), ("b", "FP32", [-1, 2])]


# -- inference ---------------------------------------------------------------------------------
def test_rest_infer_json_matches_predict(api_server):
    body = {"id": "r1", "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                                    "data": X.reshape(-1).tolist()}]}
    code, reply = rest_json(api_server, "POST", "/v2/models/half/infer", body)
    assert code == 200 and reply["id"] == "r1" and reply["model_version"] == "2"
    outputs = {o["name"]: o for o in reply["outputs"]}
    predicted = outputs_of(api_server.predict.Predict(predict_request(), timeout=10))
    for name in ("y", "total"):
        got = np.array(outputs[name]["data"], np.float32).reshape(outputs[name]["shape"])
        np.testing.assert_array_equal(got, predicted[name])
        assert outputs[name]["datatype"] == "FP32"
    # Nested data, a chosen version and a chosen output.
    body = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": X.tolist()}],
            "outputs": [{"name": "y"}]}
    code, reply = rest_json(api_server, "POST", "/v2/models/half/versions/1/infer", body)
    assert code == 200 and [o["name"] for o in reply["outputs"]] == ["y"]
    np.testing.assert_allclose(np.reshape(reply["outputs"][0]["data"], (2, 3)), X / 2 + 2)


def test_rest_infer_binary_extension(api_server):
    head = json.dumps({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                                   "parameters": {"binary_data_size": X.nbytes}}],
                       "outputs": [{"name": "y", "parameters": {"binary_data": True}},
                                   {"name": "total"}]}).encode()
    code, headers, data = rest(api_server, "POST", "/v2/models/half/infer",
                               raw=head + X.tobytes(),
                               headers={"Inference-Header-Content-Length": str(len(head)),
                                        "Content-Type": "application/octet-stream"})
    assert code == 200
    split = int(headers["Inference-Header-Content-Length"])
    reply = json.loads(data[:split])
    y, total = reply["outputs"]
    assert y["parameters"]["binary_data_size"] == 24 and "data" not in y
    np.testing.assert_allclose(np.frombuffer(data[split:], "<f4").reshape(2, 3), X / 2 + 3)
    np.testing.assert_allclose(total["data"], X.sum(axis=1))


def test_grpc_infer_typed_and_raw_match_predict(stub, api_server):
    predicted = outputs_of(api_server.predict.Predict(predict_request(), timeout=10))
    request = v2("ModelInferRequest", model_name="half", id="g1")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[2, 3])
    tensor.contents.fp32_contents.extend(X.reshape(-1).tolist())
    response = stub.ModelInfer(request, timeout=10)
    assert response.model_version == "2" and response.id == "g1"
    got = {o.name: np.array(o.contents.fp32_contents).reshape(o.shape)
           for o in response.outputs}
    for name in ("y", "total"):
        np.testing.assert_array_equal(got[name], predicted[name])
    raw = v2("ModelInferRequest", model_name="half")
    raw.inputs.add(name="x", datatype="FP32", shape=[2, 3])
    raw.raw_input_contents.append(X.tobytes())
    raw.outputs.add(name="y")
    response = stub.ModelInfer(raw, timeout=10)
    assert [o.name for o in response.outputs] == ["y"]
    np.testing.assert_array_equal(
        np.frombuffer(response.raw_output_contents[0], "<f4").reshape(2, 3), predicted["y"])


def test_bytes_tensors_json_and_raw(stub, api_server):
    body = {"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["ab", "c"]}],
            "outputs": [{"name": "text"}]}
    code, reply = rest_json(api_server, "POST", "/v2/models/strings/infer", body)
    assert code == 200 and reply["outputs"][0]["data"] == ["ab", "c"]
    request = v2("ModelInferRequest", model_name="strings")
    request.inputs.add(name="s", datatype="BYTES", shape=[2])
    request.raw_input_contents.append(struct.pack("<I", 2) + b"ab" + struct.pack("<I", 1) +
                                      b"c")
    request.outputs.add(name="out_bytes")
    response = stub.ModelInfer(request, timeout=10)
    assert response.raw_output_contents[0] == request.raw_input_contents[0]


@pytest.mark.parametrize("body,code,message", [
    ({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [0] * 6}]},
     400, "datatype FP64, but the model expects FP32"),
    ({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [0] * 5}]},
     400, "has 5 values; its shape [2, 3] holds 6"),
    ({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [0] * 4}]},
     400, "does not match the signature's shape"),
    ({"inputs": [{"name": "z", "shape": [1], "datatype": "FP32", "data": [0]}]},
     400, "not found in signature"),
    ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP99", "data": [0] * 3}]},
     400, "unknown datatype"),
    ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": ["a", 1, 2]}]},
     400, "not FP32"),
    ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [0] * 3}],
      "outputs": [{"name": "nope"}]}, 400, "not one of the model's outputs"),
    ({"nothing": 1}, 400, "list 'inputs'"),
])
def test_rest_infer_errors(api_server, body, code, message):
    got_code, reply = rest_json(api_server, "POST", "/v2/models/half/infer", body)
    assert got_code == code and message in reply["error"], reply


def test_rest_infer_malformed_json_and_unknown_model(api_server):
    code, reply = rest_json(api_server, "POST", "/v2/models/half/infer", raw=b"{nope")
    assert code == 400 and "Malformed JSON" in reply["error"]
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [0] * 3}]}
    assert rest_json(api_server, "POST", "/v2/models/nope/infer", body)[0] == 404
    # The server keeps answering.
    assert rest_json(api_server, "POST", "/v2/models/half/infer", body)[0] == 200


def test_grpc_infer_errors(stub):
    def error(request) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request, timeout=10)
        return info.value

    request = v2("ModelInferRequest", model_name="half")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 3])
    request.raw_input_contents.append(b"\0" * 8)
    e = error(request)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "8 bytes of raw data" in e.details()
    request = v2("ModelInferRequest", model_name="nope")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 3]).contents.fp32_contents.extend(
        [0, 0, 0])
    assert error(request).code() == grpc.StatusCode.NOT_FOUND
    request = v2("ModelInferRequest", model_name="half")
    request.inputs.add(name="x", datatype="INT32", shape=[1, 3]).contents.int_contents.extend(
        [0, 0, 0])
    e = error(request)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "expects FP32" in e.details()
