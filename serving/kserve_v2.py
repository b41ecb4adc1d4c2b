"""The Open Inference Protocol (KServe V2) beside TF Serving's APIs, on the same models.

gRPC: `inference.GRPCInferenceService` (protos/inference/grpc_predict_v2.proto): ServerLive,
ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer (typed `contents` or
`raw_input_contents`; a request with raw inputs is answered with `raw_output_contents`).

REST, on the REST port:

    GET  /v2/health/live                     200 {"live": true}
    GET  /v2/health/ready                    200 {"ready": true}, 400 while not ready
    GET  /v2                                 server metadata
    GET  /v2/models/{m}[/versions/{v}]       model metadata
    GET  /v2/models/{m}[/versions/{v}]/ready 200 when it serves, 400 when not, 404 unknown
    POST /v2/models/{m}[/versions/{v}]/infer JSON tensors, or the binary tensor extension

A V2 model is a TF Serving model: its V2 inputs and outputs are those of its
"serving_default" signature (V2 has no signatures), its versions the available versions, as
strings. Errors carry the protocol's codes: 400 / INVALID_ARGUMENT for bad input (datatype,
shape, names, JSON), 404 / NOT_FOUND for an unknown model or version; REST bodies are
{"error": "..."}.

The binary tensor extension: a request whose header `Inference-Header-Content-Length` is N
has N bytes of JSON, then the raw values of each input whose parameters give
`binary_data_size`, in order. An output asked for with parameters {"binary_data": true} (or
all, with request parameter "binary_data_output": true) comes back the same way.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable

import numpy as np

from serving import predict, status
from serving.manager import Manager
from serving.servable import PREDICT_METHOD, Signature
from tensorslow import proto

SERVICE = "inference.GRPCInferenceService"
SERVER_NAME = "tensorslow"
PLATFORM = "tensorflow_savedmodel"
DEFAULT_SIGNATURE = "serving_default"
HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ("binary_tensor_data",)

_DATATYPES = {
    np.dtype(np.bool_): "BOOL", np.dtype(np.uint8): "UINT8", np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint32): "UINT32", np.dtype(np.uint64): "UINT64", np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16", np.dtype(np.int32): "INT32", np.dtype(np.int64): "INT64",
    np.dtype(np.float16): "FP16", np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64",
    np.dtype(object): "BYTES",
}
_NUMPY = {name: dtype for dtype, name in _DATATYPES.items()}
# The InferTensorContents field of each datatype (FP16 has none: raw or JSON only).
_CONTENTS = {"BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
             "UINT32": "uint_contents", "UINT64": "uint64_contents", "INT8": "int_contents",
             "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
             "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def datatype_of(np_dtype) -> str:
    name = _DATATYPES.get(np_dtype)  # a numpy dtype: found without converting it
    if name is not None:
        return name
    if np_dtype is None or np.dtype(np_dtype) not in _DATATYPES:
        raise status.invalid_argument(f"dtype {np_dtype} has no Open Inference Protocol "
                                      "datatype")
    return _DATATYPES[np.dtype(np_dtype)]


def _version(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise status.invalid_argument(f"Model version must be an integer, got {text!r}") from None


class V2Api:
    """The protocol's calls, independent of gRPC and HTTP."""

    def __init__(self, manager: Manager, readiness: Callable[[], tuple[bool, dict]]):
        self._manager = manager
        self._readiness = readiness

    def server_ready(self) -> bool:
        return self._readiness()[0]

    def server_metadata(self) -> dict:
        from serving.main import VERSION

        return {"name": SERVER_NAME, "version": VERSION, "extensions": list(EXTENSIONS)}

    def _acquire(self, name: str, version: str):
        if not name:
            raise status.invalid_argument("Missing model name")
        return self._manager.acquire(name, version=_version(version))

    def _known(self, name: str) -> bool:
        return bool(self._manager.version_states(name))

    def model_ready(self, name: str, version: str) -> bool:
        """Whether the model (version) serves; NOT_FOUND for a model never configured."""
        if not self._known(name):
            raise status.not_found(f"Model {name!r} is not known")
        try:
            with self._acquire(name, version):
                return True
        except status.ServingError as e:
            if e.code == status.Code.NOT_FOUND:
                return False
            raise

    def model_metadata(self, name: str, version: str) -> dict:
        with self._acquire(name, version) as handle:
            signature = _signature(handle.servable)

            def tensors(specs) -> list[dict]:
                return [{"name": alias, "datatype": datatype_of(spec.np_dtype),
                         "shape": [-1] if spec.shape is None else list(spec.shape)}
                        for alias, spec in specs.items()]
            return {"name": name,
                    "versions": [str(v) for v in self._manager.available_versions(name)],
                    "platform": PLATFORM, "inputs": tensors(signature.inputs),
                    "outputs": tensors(signature.outputs)}

    def infer(self, name: str, version: str, inputs: list[tuple[str, str, list, object]],
              outputs: list[str], deadline: float | None = None):
        """Runs the model on `inputs` ((name, datatype, shape, flat values or raw bytes)):
        (the version that ran, [(name, datatype, array)])."""
        with self._acquire(name, version) as handle:
            servable = handle.servable
            signature = _signature(servable)
            arrays = {}
            for input_name, datatype, shape, values in inputs:
                if input_name in arrays:
                    raise status.invalid_argument(f"Input '{input_name}' is given twice")
                spec = signature.inputs.get(input_name)
                if spec is None:
                    signature.check_input_names([n for n, *_ in inputs])
                expected = datatype_of(spec.np_dtype)
                if datatype != expected:
                    raise status.invalid_argument(
                        f"Input '{input_name}' has datatype {datatype}, but the model expects "
                        f"{expected}")
                array = _array(input_name, datatype, shape, values)
                signature.check_shape(input_name, array.shape)
                arrays[input_name] = array
            if len(arrays) != len(signature.inputs):
                signature.check_input_names(arrays)
            for output_name in outputs:
                if output_name not in signature.outputs:
                    raise status.invalid_argument(
                        f"Output '{output_name}' is not one of the model's outputs "
                        f"{sorted(signature.outputs)}")
            aliases, values = predict.run_signature(servable, signature, arrays, outputs,
                                                    deadline)
            results = [(alias, datatype_of(signature.outputs[alias].np_dtype),
                        np.asarray(value)) for alias, value in zip(aliases, values, strict=True)]
            return servable.version, results


def _signature(servable) -> Signature:
    signature = servable.signatures.get(DEFAULT_SIGNATURE)
    if signature is None or signature.method_name != PREDICT_METHOD:
        raise status.failed_precondition(
            f"The model has no '{DEFAULT_SIGNATURE}' predict signature, which the Open "
            "Inference Protocol serves")
    return signature


def _array(name: str, datatype: str, shape, values) -> np.ndarray:
    """The input's values as an array of its shape: from raw bytes, or from a flat (or
    nested) list of values."""
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise status.invalid_argument(f"Input '{name}' has a bad shape {shape!r}") from None
    if any(d < 0 for d in shape):
        raise status.invalid_argument(f"Input '{name}' has a negative dimension in {list(shape)}")
    count = math.prod(shape)
    dtype = _NUMPY[datatype]
    if isinstance(values, (bytes, bytearray, memoryview)):
        if datatype == "BYTES":
            array = np.array(_split_bytes(name, bytes(values)), dtype=object)
        else:
            if len(values) != count * dtype.itemsize:
                raise status.invalid_argument(
                    f"Input '{name}' has {len(values)} bytes of raw data; shape {list(shape)} "
                    f"of {datatype} takes {count * dtype.itemsize}")
            array = np.frombuffer(values, dtype=dtype.newbyteorder("<")).astype(dtype)
    else:
        try:
            if datatype == "BYTES":
                flat = [v.encode() if isinstance(v, str) else bytes(v)
                        for v in np.asarray(values, dtype=object).reshape(-1)]
                array = np.array(flat, dtype=object)
            else:
                array = np.asarray(values, dtype=dtype).reshape(-1)
        except (TypeError, ValueError) as e:
            raise status.invalid_argument(f"Input '{name}' has values that are not "
                                          f"{datatype}: {e}") from None
    if array.size != count:
        raise status.invalid_argument(f"Input '{name}' has {array.size} values; its shape "
                                      f"{list(shape)} holds {count}")
    return array.reshape(shape)


def _split_bytes(name: str, data: bytes) -> list[bytes]:
    items, pos = [], 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise status.invalid_argument(f"Input '{name}': truncated BYTES element length")
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + size > len(data):
            raise status.invalid_argument(f"Input '{name}': truncated BYTES element")
        items.append(data[pos:pos + size])
        pos += size
    return items


def raw_bytes(array: np.ndarray, datatype: str) -> bytes:
    """An array as the protocol's raw bytes (little-endian; BYTES length-prefixed)."""
    if datatype == "BYTES":
        out = bytearray()
        for item in array.reshape(-1):
            item = item.encode() if isinstance(item, str) else bytes(item)
            out += struct.pack("<I", len(item)) + item
        return bytes(out)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _json_value(array: np.ndarray, datatype: str) -> list:
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


# -- gRPC ------------------------------------------------------------------------------------
def grpc_handlers(api: V2Api) -> dict[str, Callable]:
    """GRPCInferenceService's methods as GrpcServer handlers (request, deadline) -> reply."""
    classes = {}

    def v2(full_name: str):
        cls = classes.get(full_name)
        if cls is None:
            cls = classes[full_name] = proto.message_class(full_name)
        return cls

    def model_infer(request, deadline):
        raw = list(request.raw_input_contents)
        if raw and len(raw) != len(request.inputs):
            raise status.invalid_argument(
                f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs")
        inputs = []
        for i, tensor in enumerate(request.inputs):
            if tensor.datatype not in _NUMPY:
                raise status.invalid_argument(
                    f"Input '{tensor.name}' has an unknown datatype {tensor.datatype!r}")
            if raw:
                if tensor.HasField("contents"):
                    raise status.invalid_argument(
                        f"Input '{tensor.name}' has contents and raw_input_contents")
                values = raw[i]
            else:
                field = _CONTENTS.get(tensor.datatype)
                if field is None:
                    raise status.invalid_argument(
                        f"Input '{tensor.name}' ({tensor.datatype}) must be sent in "
                        "raw_input_contents")
                values = list(getattr(tensor.contents, field))
            inputs.append((tensor.name, tensor.datatype, list(tensor.shape), values))
        model_version, results = api.infer(request.model_name, request.model_version,
                                           inputs, [o.name for o in request.outputs], deadline)
        response = v2("inference.ModelInferResponse")(
            model_name=request.model_name, model_version=str(model_version), id=request.id)
        for name, datatype, array in results:
            out = response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
            if raw or datatype not in _CONTENTS:
                response.raw_output_contents.append(raw_bytes(array, datatype))
            elif datatype == "BYTES":
                out.contents.bytes_contents.extend(
                    v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1))
            else:
                getattr(out.contents, _CONTENTS[datatype]).extend(array.reshape(-1).tolist())
        return response

    def model_metadata(request, deadline):
        meta = api.model_metadata(request.name, request.version)
        return v2("inference.ModelMetadataResponse")(**meta)

    return {
        "ServerLive": lambda r, d: v2("inference.ServerLiveResponse")(live=True),
        "ServerReady": lambda r, d: v2("inference.ServerReadyResponse")(
            ready=api.server_ready()),
        "ModelReady": lambda r, d: v2("inference.ModelReadyResponse")(
            ready=api.model_ready(r.name, r.version)),
        "ServerMetadata": lambda r, d: v2("inference.ServerMetadataResponse")(
            **api.server_metadata()),
        "ModelMetadata": model_metadata,
        "ModelInfer": model_infer,
    }


# -- REST ------------------------------------------------------------------------------------
def _json_reply(code: int, value: dict) -> tuple[int, str, bytes, dict]:
    return code, "application/json", json.dumps(value).encode(), {}


def rest(api: V2Api, method: str, parts: list[str], body: bytes, headers,
         deadline: float | None) -> tuple[int, str, bytes, dict]:
    """A /v2 request (path split at "/" after "v2"): (HTTP status, content type, body,
    extra headers). Raises ServingError for the caller to answer."""
    if method == "GET" and parts == []:
        return _json_reply(200, api.server_metadata())
    if method == "GET" and parts == ["health", "live"]:
        return _json_reply(200, {"live": True})
    if method == "GET" and parts == ["health", "ready"]:
        ready = api.server_ready()
        return _json_reply(200 if ready else 400, {"ready": ready})
    if len(parts) >= 2 and parts[0] == "models":
        name, rest_parts, version = parts[1], parts[2:], ""
        if len(rest_parts) >= 2 and rest_parts[0] == "versions":
            version, rest_parts = rest_parts[1], rest_parts[2:]
        if method == "GET" and rest_parts == []:
            return _json_reply(200, api.model_metadata(name, version))
        if method == "GET" and rest_parts == ["ready"]:
            ready = api.model_ready(name, version)
            return _json_reply(200 if ready else 400, {"name": name, "ready": ready})
        if method == "POST" and rest_parts == ["infer"]:
            return _rest_infer(api, name, version, body, headers, deadline)
    raise status.not_found(f"Not found: {method} /v2/{'/'.join(parts)}")


def _rest_infer(api: V2Api, name: str, version: str, body: bytes, headers,
                deadline: float | None):
    header_length = headers.get(HEADER_LENGTH) if headers is not None else None
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError:
            raise status.invalid_argument(f"Bad {HEADER_LENGTH}: {header_length!r}") from None
        if not 0 <= split <= len(body):
            raise status.invalid_argument(f"{HEADER_LENGTH} {split} is beyond the body's "
                                          f"{len(body)} bytes")
        text, binary = body[:split], memoryview(body)[split:]
    else:
        text, binary = body, memoryview(b"")
    try:
        request = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise status.invalid_argument(f"Malformed JSON request: {e}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise status.invalid_argument("The request must be a JSON object with a list 'inputs'")
    inputs, offset = [], 0
    for tensor in request["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise status.invalid_argument("Each input must be an object with a 'name'")
        for key in ("shape", "datatype"):
            if key not in tensor:
                raise status.invalid_argument(f"Input '{tensor['name']}' has no '{key}'")
        datatype = tensor["datatype"]
        if datatype not in _NUMPY:
            raise status.invalid_argument(
                f"Input '{tensor['name']}' has an unknown datatype {datatype!r}")
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise status.invalid_argument(
                    f"Input '{tensor['name']}': binary_data_size {size!r} is beyond the "
                    "binary data sent")
            values = bytes(binary[offset:offset + size])
            offset += size
        elif "data" in tensor:
            values = tensor["data"]
            if datatype == "BYTES" and isinstance(values, str):
                values = [values]
        else:
            raise status.invalid_argument(f"Input '{tensor['name']}' has no 'data'")
        if not isinstance(values, (bytes, list)):
            raise status.invalid_argument(f"Input '{tensor['name']}': 'data' must be a list")
        inputs.append((tensor["name"], datatype, tensor["shape"], values))
    if offset != len(binary):
        raise status.invalid_argument(f"{len(binary) - offset} bytes of binary data belong to "
                                      "no input")
    wanted = request.get("outputs") or []
    binary_all = bool((request.get("parameters") or {}).get("binary_data_output"))
    binary_outputs = {o.get("name") for o in wanted if isinstance(o, dict)
                      and (o.get("parameters") or {}).get("binary_data")}
    model_version, results = api.infer(
        name, version, inputs, [o.get("name") for o in wanted if isinstance(o, dict)],
        deadline)
    outputs, chunks = [], []
    for output_name, datatype, array in results:
        entry = {"name": output_name, "datatype": datatype, "shape": list(array.shape)}
        if binary_all or output_name in binary_outputs:
            data = raw_bytes(array, datatype)
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = _json_value(array, datatype)
        outputs.append(entry)
    reply = {"model_name": name, "model_version": str(model_version), "outputs": outputs}
    if "id" in request:
        reply["id"] = request["id"]
    text = json.dumps(reply).encode()
    if not chunks:
        return 200, "application/json", text, {}
    return (200, "application/octet-stream", text + b"".join(chunks),
            {HEADER_LENGTH: str(len(text))})
