"""Loader: turns one version directory into a warmed-up Servable.

Building a SavedModelLoader costs nothing; `load()` reads the SavedModel into its own Graph and
Session (nothing shared with other versions, so unloading frees everything), prepares each
signature, and warms it up before the manager lets any request in:

  - with `assets.extra/tf_serving_warmup_requests` (a TFRecord file of PredictionLog, as
    TensorFlow Serving reads it), every request in it is replayed `warmup_iterations` times;
    a failing request fails the load, as in TensorFlow Serving;
  - otherwise each signature runs twice on zeros of its input shapes (unknown dimensions as 1),
    which compiles and caches its plan; failures here are only logged, since zeros need not be
    a valid input.

Contract: see manager.Loader. load() and unload() are called from manager threads, never
concurrently for one loader.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from serving import status
from serving.servable import Servable, Signature
from serving.source import AspiredVersion

logger = logging.getLogger("serving.loader")

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000
SYNTHETIC_WARMUP_RUNS = 2


@dataclass(frozen=True)
class LoaderOptions:
    tags: tuple[str, ...] = ("serve",)
    enable_warmup: bool = True
    warmup_iterations: int = 1
    batching: object | None = None  # a batching.BatchingOptions, or None for no batching
    max_request_rows: int = 0  # --max_request_rows; 0: no limit


class SavedModelLoader:
    """Loads `aspired.path` as version `aspired.version` of model `name`."""

    def __init__(self, name: str, aspired: AspiredVersion, options: LoaderOptions,
                 batch_pool=None, run_slots=None):
        self.name = name
        self.version = aspired.version
        self.path = aspired.path
        self.options = options
        self._batch_pool = batch_pool
        self._run_slots = run_slots
        self._servable: Servable | None = None

    def load(self) -> Servable:
        import tensorslow as ts
        from tensorslow.saved_model import loader as saved_model_loader

        session = ts.Session(graph=ts.Graph())
        try:
            meta_graph_def = saved_model_loader.load(session, list(self.options.tags),
                                                     self.path)
            servable = Servable(self.name, self.version, session, meta_graph_def,
                                self._run_slots)
            servable.max_request_rows = self.options.max_request_rows
        except Exception:
            session.close()
            raise
        if not servable.signatures:
            session.close()
            raise status.invalid_argument(f"SavedModel at {self.path} has no signatures")
        if self.options.enable_warmup:
            try:
                self._warm_up(servable)
            except Exception:
                session.close()
                raise
        if self.options.batching is not None:
            from serving.batching import ServableBatcher

            servable.batcher = ServableBatcher(servable, self.options.batching,
                                               self._batch_pool)
        self._servable = servable
        return servable

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()

    # -- warmup ----------------------------------------------------------------------------
    def _warm_up(self, servable: Servable) -> None:
        warmup_path = os.path.join(self.path, WARMUP_FILE)
        if os.path.isfile(warmup_path):
            count = replay_warmup_file(servable, warmup_path,
                                       max(1, self.options.warmup_iterations))
            logger.info("Warmed up %s version %d with %d requests", self.name, self.version,
                        count)
            return
        for signature in servable.signatures.values():
            arrays = synthetic_inputs(signature)
            if arrays is None:
                continue
            _, fetch_names = signature.select_outputs()
            for _ in range(SYNTHETIC_WARMUP_RUNS):
                try:
                    servable.run(signature, arrays, fetch_names)
                except status.ServingError as e:
                    logger.debug("Warmup of signature %s on zeros failed: %s", signature.key, e)
                    break


def synthetic_inputs(signature: Signature) -> dict[str, np.ndarray] | None:
    """Zeros (empty strings) of each input's shape, unknown dims as 1; None if not possible."""
    arrays = {}
    for alias, spec in signature.inputs.items():
        if spec.np_dtype is None or spec.shape is None:
            return None
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        if spec.np_dtype == np.dtype(object):
            arrays[alias] = np.full(shape, b"", dtype=object)
        else:
            arrays[alias] = np.zeros(shape, dtype=spec.np_dtype)
    return arrays


def replay_warmup_file(servable: Servable, path: str, iterations: int) -> int:
    """Runs each PredictionLog request in the file on `servable`; returns how many ran."""
    from serving import classify_regress, predict, tfrecord
    from tensorslow import proto

    try:
        records = list(tfrecord.read_records(path, MAX_WARMUP_RECORDS))
    except (OSError, ValueError) as e:
        raise status.invalid_argument(f"Bad warmup file: {e}") from None
    count = 0
    for data in records:
        try:
            log = proto.serving.PredictionLog.FromString(data)
        except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise status.invalid_argument(f"{path}: record {count} is not a PredictionLog: "
                                          f"{e}") from None
        kind = log.WhichOneof("log_type")
        for _ in range(iterations):
            if kind == "predict_log":
                predict.predict_on(servable, log.predict_log.request)
            elif kind == "classify_log":
                classify_regress.classify_on(servable, log.classify_log.request)
            elif kind == "regress_log":
                classify_regress.regress_on(servable, log.regress_log.request)
            elif kind == "multi_inference_log":
                classify_regress.multi_inference_on(servable,
                                                    log.multi_inference_log.request)
            else:
                raise status.invalid_argument(
                    f"{path}: record {count}: unsupported warmup log type {kind}")
        count += 1
    return count
