"""Predict and GetModelMetadata, independent of the transport.

Each handler takes a request message and returns the response message, or raises ServingError
with TensorFlow Serving's code and message. `deadline` is a `time.monotonic()` time after which
the caller no longer waits (None: no deadline).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import numpy as np

from serving import status, wire
from serving.manager import Manager, ServableHandle
from serving.request_forms import FormRequest, RequestForms
from serving.servable import PREDICT_METHOD, Servable, Signature
from tensorslow import proto

SIGNATURE_DEF_FIELD = "signature_def"


def version_choice(model_spec) -> tuple[int | None, str | None]:
    """(version, version_label) asked for by a ModelSpec; (None, None) means the latest."""
    which = model_spec.WhichOneof("version_choice")
    if which == "version":
        return model_spec.version.value, None
    if which == "version_label":
        return None, model_spec.version_label
    return None, None


def acquire(manager: Manager, model_spec) -> ServableHandle:
    version, label = version_choice(model_spec)
    return manager.acquire(model_spec.name, version=version, label=label)


def check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise status.deadline_exceeded("Deadline exceeded before the model ran")


def check_rows(arrays: Mapping[str, np.ndarray], limit: int) -> None:
    """RESOURCE_EXHAUSTED when an input holds more rows (its first dimension) than `limit`,
    before any of the request's step runs."""
    for alias, array in arrays.items():
        shape = np.shape(array)
        rows = shape[0] if shape else 1
        if rows > limit:
            raise status.resource_exhausted(
                f"Input '{alias}' has {rows} rows, more than the server's limit of {limit} "
                f"(--max_request_rows)")


def run_signature(servable: Servable, signature: Signature, arrays: Mapping[str, np.ndarray],
                  output_filter: Iterable[str] = (), deadline: float | None = None
                  ) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    """Runs `signature` on checked inputs, through the batcher when batching is on.

    Returns (output aliases, output arrays) in the same order.
    """
    aliases, fetch_names = signature.select_outputs(output_filter)
    if servable.max_request_rows:
        check_rows(arrays, servable.max_request_rows)
    check_deadline(deadline)
    batcher = servable.batcher
    if batcher is not None and signature.method_name == PREDICT_METHOD:
        outputs = batcher.run(signature, arrays, fetch_names, deadline)
    else:
        outputs = servable.run(signature, arrays, fetch_names)
    return aliases, outputs


def predict(manager: Manager, request, *, deadline: float | None = None,
            tensor_content: bool = False):
    """PredictionService.Predict."""
    return proto.serving.PredictResponse.FromString(
        predict_bytes(manager, request, deadline=deadline, tensor_content=tensor_content))


def predict_bytes(manager: Manager, request, *, deadline: float | None = None,
                  tensor_content: bool = False) -> bytes:
    """Predict, answering with the serialized PredictResponse (the gRPC fast path)."""
    with acquire(manager, request.model_spec) as handle:
        return predict_on(handle.servable, request, deadline=deadline,
                          tensor_content=tensor_content, serialized=True)


def predict_on(servable: Servable, request, *, deadline: float | None = None,
               tensor_content: bool = False, serialized: bool = False):
    """Predict on one servable (the request's model_spec has chosen it already). Returns a
    PredictResponse, or its bytes when `serialized`. `request` is a PredictRequest or a
    FormRequest."""
    spec = request.model_spec
    signature = servable.signature(spec.signature_name)
    if type(request) is FormRequest:
        arrays = request.read_inputs(signature)
    else:
        arrays = signature.read_inputs(request.inputs)
    aliases, outputs = run_signature(servable, signature, arrays, request.output_filter,
                                     deadline)
    data = wire.encode_predict_response(spec.name or servable.name, servable.version,
                                        signature.key, aliases, outputs, tensor_content)
    return data if serialized else proto.serving.PredictResponse.FromString(data)


class GrpcPredict:
    """PredictionService.Predict over gRPC: parses its own requests (`parse`, the method's
    deserializer) so that requests repeating an earlier one's form skip parsing and checks
    (serving/request_forms.py), and answers with the response's bytes."""

    def __init__(self, manager: Manager, tensor_content: bool = False):
        self.manager = manager
        self.tensor_content = tensor_content
        self.forms = RequestForms()

    def parse(self, data: bytes):
        return self.forms.parse(data)

    def __call__(self, request, deadline: float | None):
        return predict_bytes(self.manager, request, deadline=deadline,
                             tensor_content=self.tensor_content)


def get_model_metadata(manager: Manager, request):
    """PredictionService.GetModelMetadata: the signature_def map, packed in an Any."""
    if not request.HasField("model_spec"):
        raise status.invalid_argument("Missing ModelSpec")
    if not request.metadata_field:
        raise status.invalid_argument(
            "GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise status.invalid_argument(f"Metadata field {field} is not supported")
    with acquire(manager, request.model_spec) as handle:
        servable = handle.servable
        signature_map = proto.serving.SignatureDefMap()
        for key, signature in servable.meta_graph_def.signature_def.items():
            signature_map.signature_def[key].CopyFrom(signature)
    response = proto.serving.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response
