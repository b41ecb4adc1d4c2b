"""A loaded model version and its signatures, ready to run requests.

A Signature is prepared once at load: its inputs in a fixed order (so every run feeds the same
keys in the same order and hits the session's cached plan), the expected dtype and shape of
each input, and the fetch list for each output selection. `Signature.read_inputs` checks a
request's tensors against the SignatureDef with TensorFlow Serving's error codes and messages,
each naming the tensor.

Thread-safety: a Servable is immutable after construction except for the small cache of fetch
lists (filled under a lock); `run` may be called from many threads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from serving import status, wire
from serving.status import ServingError, invalid_argument
from tensorslow import proto
from tensorslow.framework import tensor_util

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

MAX_CACHED_OUTPUT_SELECTIONS = 64
HEAVY_RUN_SECONDS = 0.001  # signatures whose runs take longer on average share run slots


def dtype_name(datatype: int) -> str:
    try:
        return proto.DataType.Name(datatype)
    except ValueError:
        return f"DataType {datatype}"


def shape_str(shape: Iterable[int] | None) -> str:
    if shape is None:
        return "<unknown>"
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: its alias, graph tensor name, dtype and shape
    (None for an unknown rank, -1 for an unknown dimension)."""

    alias: str
    name: str
    dtype: int
    np_dtype: np.dtype | None
    shape: tuple[int, ...] | None

    @classmethod
    def from_tensor_info(cls, alias: str, info) -> TensorSpec:
        shape = None
        if info.HasField("tensor_shape") and not info.tensor_shape.unknown_rank:
            shape = tuple(int(d.size) for d in info.tensor_shape.dim)
        try:
            np_dtype = tensor_util.proto_dtype_to_numpy(info.dtype)
        except TypeError:
            np_dtype = None
        return cls(alias, info.name, int(info.dtype), np_dtype, shape)

    def shape_matches(self, shape: tuple[int, ...]) -> bool:
        if self.shape is None:
            return True
        if len(shape) != len(self.shape):
            return False
        return all(want < 0 or want == got for want, got in zip(self.shape, shape, strict=False))


class Signature:
    """A SignatureDef prepared for running. Built once per loaded version."""

    def __init__(self, key: str, signature_def):
        self.key = key
        self.method_name = signature_def.method_name
        self.signature_def = signature_def
        self.inputs = {alias: TensorSpec.from_tensor_info(alias, info)
                       for alias, info in sorted(signature_def.inputs.items())}
        self.outputs = {alias: TensorSpec.from_tensor_info(alias, info)
                        for alias, info in sorted(signature_def.outputs.items())}
        self.input_aliases = tuple(self.inputs)
        self.defaults = {}
        for alias, tensor in signature_def.defaults.items():
            if alias in self.inputs:
                self.defaults[alias] = tensor_util.make_ndarray(tensor)
        self._all_outputs = (tuple(self.outputs),
                             tuple(spec.name for spec in self.outputs.values()))
        self._selections: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._lock = threading.Lock()
        # Moving average of run times, updated without a lock (a lost update is harmless).
        self.mean_run_seconds = 0.0

    # -- inputs ----------------------------------------------------------------------------
    def read_inputs(self, tensors: Mapping) -> dict[str, np.ndarray]:
        """The request's TensorProtos (alias -> TensorProto) as arrays, checked against the
        signature: the set of names, then each tensor's dtype, encoding and shape."""
        inputs = self.inputs
        if len(tensors) != len(inputs):
            self.check_input_names(tensors.keys())
        arrays = {}
        for alias, tensor in tensors.items():
            spec = inputs.get(alias)
            if spec is None:
                self.check_input_names(tensors.keys())
            if tensor.dtype != spec.dtype:
                raise invalid_argument(
                    f"Input tensor \"{alias}\" ({spec.name}) has dtype "
                    f"{dtype_name(tensor.dtype)}, but the signature expects "
                    f"{dtype_name(spec.dtype)}")
            array = wire.decode_tensor_content(tensor, spec.np_dtype)
            if array is None:
                try:
                    array = tensor_util.make_ndarray(tensor)
                except (ValueError, TypeError) as e:
                    raise invalid_argument(f"tensor parsing error: {alias}: {e}") from None
            if not spec.shape_matches(array.shape):
                self.check_shape(alias, array.shape)
            arrays[alias] = array
        return self.with_defaults(arrays) if self.defaults else arrays

    def check_input_names(self, names: Iterable[str]) -> None:
        names = set(names)
        expected = set(self.inputs)
        if names == expected:
            return
        if len(names) > len(expected) or (len(names) < len(expected) and not self.defaults):
            raise invalid_argument(
                f"input size does not match signature: {len(names)}!={len(expected)} "
                f"len({{{_join(names)}}}) != len({{{_join(expected)}}}). "
                f"Sent extra: {{{_join(names - expected)}}}. Missing but required: "
                f"{{{_join(expected - names)}}}.")
        extra = names - expected
        if extra:
            raise invalid_argument(
                f"input tensor alias not found in signature: {sorted(extra)[0]}. Inputs "
                f"expected to be in the set {{{_join(expected)}}}.")
        missing = expected - names - set(self.defaults)
        if missing:
            raise invalid_argument(f"Request inputs do not match required inputs. Missing but "
                                   f"required: {{{_join(missing)}}}.")

    def check_shape(self, alias: str, shape: tuple[int, ...]) -> None:
        spec = self.inputs[alias]
        if not spec.shape_matches(shape):
            raise invalid_argument(
                f"Input tensor \"{alias}\" ({spec.name}) has shape {shape_str(shape)}, which "
                f"does not match the signature's shape {shape_str(spec.shape)}")

    def with_defaults(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for alias, value in self.defaults.items():
            arrays.setdefault(alias, value)
        return arrays

    # -- outputs ---------------------------------------------------------------------------
    def select_outputs(self, output_filter: Iterable[str] = ()) -> tuple[tuple[str, ...],
                                                                         tuple[str, ...]]:
        """(output aliases, graph tensor names) for an output_filter; all outputs when empty."""
        key = tuple(output_filter)
        if not key:
            return self._all_outputs
        selection = self._selections.get(key)
        if selection is not None:
            return selection
        seen = set()
        for alias in key:
            if alias not in self.outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to "
                    f"be in the set {{{_join(self.outputs)}}}.")
            if alias in seen:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        selection = (key, tuple(self.outputs[a].name for a in key))
        with self._lock:
            if len(self._selections) < MAX_CACHED_OUTPUT_SELECTIONS:
                self._selections[key] = selection
        return selection


def _join(names: Iterable[str]) -> str:
    return ",".join(sorted(names))


class Servable:
    """One loaded version of a model: its session, MetaGraphDef and prepared signatures.

    `run` is thread-safe. `close` is called once by the loader when no request holds the
    servable any more.
    """

    def __init__(self, name: str, version: int, session, meta_graph_def,
                 run_slots: threading.Semaphore | None = None):
        self.name = name
        self.version = version
        self.session = session
        self.meta_graph_def = meta_graph_def
        self.signatures = {key: Signature(key, sig)
                           for key, sig in sorted(meta_graph_def.signature_def.items())}
        self.batcher = None  # set by the loader when batching is on
        self.max_request_rows = 0  # set by the loader: --max_request_rows (0: no limit)
        # Shared by every servable of a server: at most that many runs of heavy signatures
        # at once, so concurrent requests do not oversubscribe the cores with numpy's BLAS
        # threads. Light runs skip it: they hold the GIL throughout, and waiting on a
        # semaphore would only add thread switches.
        self._run_slots = run_slots
        self._graph = session.graph
        self._plans: dict[tuple[str, tuple[str, ...]], object] = {}
        self._plans_lock = threading.Lock()

    def signature(self, key: str) -> Signature:
        key = key or DEFAULT_SIGNATURE
        signature = self.signatures.get(key)
        if signature is None:
            raise status.failed_precondition(f'Serving signature key "{key}" not found.')
        return signature

    def run(self, signature: Signature, arrays: Mapping[str, np.ndarray],
            fetch_names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        """Runs the graph on `arrays` (alias -> array, every input of the signature)."""
        plan = self._plans.get((signature.key, fetch_names))
        if plan is None or plan.graph_version != self._graph.version:
            plan = self._compile(signature, fetch_names)
        feed_values = [arrays[alias] for alias in signature.input_aliases]
        slots = self._run_slots if signature.mean_run_seconds > HEAVY_RUN_SECONDS else None
        if slots is not None:
            slots.acquire()
        started = time.perf_counter()
        try:
            return tuple([np.asarray(value) for value in plan.run(feed_values)])
        except ServingError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure becomes a status for the caller
            raise status.from_exception(e) from None
        finally:
            if slots is not None:
                slots.release()
            elapsed = time.perf_counter() - started
            signature.mean_run_seconds += 0.1 * (elapsed - signature.mean_run_seconds)

    def _compile(self, signature: Signature, fetch_names: tuple[str, ...]):
        """The session's compiled plan for one signature and output selection, run directly
        (its outputs may be read-only arrays: they are only read, encoded or split)."""
        feed_names = [signature.inputs[alias].name for alias in signature.input_aliases]
        try:
            plan = self.session.compiled_plan(fetch_names, feed_names)
        except Exception as e:  # noqa: BLE001 - a bad signature is the caller's error status
            raise status.from_exception(e) from None
        with self._plans_lock:
            if len(self._plans) < MAX_CACHED_OUTPUT_SELECTIONS * len(self.signatures):
                self._plans[(signature.key, fetch_names)] = plan
        return plan

    def close(self) -> None:
        self._plans.clear()
        if self.batcher is not None:
            self.batcher.stop()
        self.session.close()
        self.session = None
