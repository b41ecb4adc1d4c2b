"""ModelServer: the source, manager, batching and both transports, wired together.

    server = ModelServer(ServerOptions(model_name="m", model_base_path="/models/m", port=0,
                                       rest_api_port=0))
    server.start()            # returns once the configured models finished their first load
    server.grpc_port, server.rest_port
    server.stop()             # stops accepting, drains requests in flight, unloads

Contract: start() once, then stop() once, from any threads; reload_config() and is_ready() are
thread-safe in between.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from serving import classify_regress, config, kserve_v2, predict, status
from serving.batching import BatchingOptions, BatchPool
from serving.grpc_server import (
    MODEL_SERVICE,
    PREDICTION_SERVICE,
    GrpcOptions,
    GrpcServer,
    parse_channel_arguments,
)
from serving.loader import LoaderOptions, SavedModelLoader
from serving.manager import Manager
from serving.memory import MemoryReleaser, limit_arenas
from serving.metrics import Metrics
from serving.model_service import get_model_status
from serving.rest import RestApi, RestOptions, RestServer
from serving.source import FileSystemSource, ModelSource, VersionPolicy
from tensorslow import proto

logger = logging.getLogger("serving.server")


@dataclass
class ServerOptions:
    """tensorflow_model_server's flags (same names and defaults), plus a few of our own.

    A port of 0 turns that API off, as in TensorFlow Serving; -1 picks a free port (read it
    back from ModelServer.grpc_port / rest_port).
    """

    port: int = 8500
    rest_api_port: int = 0
    rest_api_timeout_in_ms: int = 30000
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    file_system_poll_wait_seconds: float = 1
    enable_batching: bool = False
    batching_parameters_file: str = ""
    monitoring_config_file: str = ""
    ssl_config_file: str = ""
    grpc_max_threads: int = field(default_factory=lambda: 4 * (os.cpu_count() or 1))
    grpc_channel_arguments: str = ""
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    enable_grpc_healthcheck_service: bool = False
    enable_serialization_as_tensor_content: bool = False
    saved_model_tags: str = "serve"
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    num_load_threads: int = 0
    tensorflow_inter_op_parallelism: int = 0
    # Ours:
    host: str = "0.0.0.0"
    shutdown_grace_seconds: float = 5.0
    memory_release_threshold_bytes: int = 16 << 20
    max_request_rows: int = 0
    num_workers: int = 0  # 0: serving.workers.default_num_workers()
    reuse_port: bool = False
    initial_load_timeout_seconds: float | None = None


_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def default_parallel_runs() -> int:
    """Heavy runs at once when --tensorflow_inter_op_parallelism is 0: one, when numpy's BLAS
    spreads each matmul over every core (its default), so runs do not compete for the same
    cores (two at a time on 2 cores, each with 2 BLAS threads, served the heavy MLP at half
    the rate of one at a time); one per core when BLAS is told to use one thread."""
    cores = os.cpu_count() or 1
    for name in _BLAS_THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return max(1, cores // int(value))
    return 1


class ModelServer:
    """See the module docstring."""

    def __init__(self, options: ServerOptions):
        self.options = options
        if options.memory_release_threshold_bytes > 0:
            limit_arenas()  # before the server's threads start (see serving/memory.py)
        self._lock = threading.RLock()
        self._models: dict[str, ModelSource] = {}
        self._config = None
        self._config_text: str | None = None
        self.batch_pool: BatchPool | None = None
        self._grpc: GrpcServer | None = None
        self._rest: RestServer | None = None
        self._releaser: MemoryReleaser | None = None
        # Told each config a client reloads over the API (a worker tells its supervisor).
        self.on_api_reload: Callable[[object], None] | None = None
        self._stopped = threading.Event()
        self._config_poller: threading.Thread | None = None
        self.grpc_port = 0
        self.rest_port = 0

        loader_options = LoaderOptions(
            tags=tuple(t.strip() for t in options.saved_model_tags.split(",") if t.strip()),
            enable_warmup=options.enable_model_warmup,
            warmup_iterations=max(1, options.num_request_iterations_for_warmup),
            batching=self._batching_options(),
            max_request_rows=options.max_request_rows)
        if loader_options.batching is not None:
            self.batch_pool = BatchPool(loader_options.batching.num_batch_threads)

        parallel_runs = options.tensorflow_inter_op_parallelism or default_parallel_runs()
        run_slots = threading.BoundedSemaphore(parallel_runs)

        def make_loader(name, aspired):
            return SavedModelLoader(name, aspired, loader_options, self.batch_pool, run_slots)

        self.manager = Manager(
            make_loader, num_load_threads=max(1, options.num_load_threads),
            max_num_load_retries=options.max_num_load_retries,
            load_retry_interval_seconds=max(0, options.load_retry_interval_micros) / 1e6,
            on_change=self._on_state_change)
        self.v2 = kserve_v2.V2Api(self.manager, self.readiness)
        self.metrics = Metrics(
            self._model_names, lambda n: len(self.manager.available_versions(n)),
            self.batch_pool.stats if self.batch_pool is not None else None)
        self.source = FileSystemSource(self.manager.set_aspired_versions,
                                       options.file_system_poll_wait_seconds)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Loads the configured models, then opens the ports. Raises ServingError for a bad
        configuration (bad file, missing base path, port in use)."""
        options = self.options
        for flag in ("max_request_rows", "memory_release_threshold_bytes", "num_workers"):
            if getattr(options, flag) < 0:
                raise status.invalid_argument(f"--{flag} must be 0 or more, got "
                                              f"{getattr(options, flag)}")
        monitoring = (config.read_text_proto(options.monitoring_config_file, "MonitoringConfig")
                      if options.monitoring_config_file else None)
        ssl = (config.read_text_proto(options.ssl_config_file, "SSLConfig")
               if options.ssl_config_file else None)
        self.source.start()
        self.reload_config(self._initial_config(),
                           wait_timeout=options.initial_load_timeout_seconds)
        if options.memory_release_threshold_bytes > 0:
            self._releaser = MemoryReleaser(options.memory_release_threshold_bytes)
        releaser = self._releaser
        on_request, on_answered = ((releaser.note, releaser.answered) if releaser is not None
                                   else (None, None))
        if options.port:
            grpc_options = GrpcOptions(on_request=on_request, on_answered=on_answered,
                reuse_port=options.reuse_port,
                host=options.host, port=max(0, options.port), max_threads=options.grpc_max_threads,
                channel_arguments=parse_channel_arguments(options.grpc_channel_arguments),
                ssl_config=ssl, enable_health=options.enable_grpc_healthcheck_service)
            self._grpc = GrpcServer(self._grpc_handlers(), grpc_options, self.metrics)
            self.grpc_port = self._grpc.start()
            logger.info("Running gRPC ModelServer at %s:%d ...", options.host, self.grpc_port)
        if options.rest_api_port:
            if options.rest_api_port == options.port and options.port > 0:
                raise status.invalid_argument("--rest_api_port cannot be same as --port")
            rest_options = RestOptions(
                host=options.host, port=max(0, options.rest_api_port),
                timeout_in_ms=options.rest_api_timeout_in_ms,
                metrics_path=config.metrics_path(monitoring),
                tensor_content=options.enable_serialization_as_tensor_content,
                on_request=on_request, on_answered=on_answered, reuse_port=options.reuse_port)
            api = RestApi(self.manager, rest_options, self.metrics, self.readiness, self.v2)
            try:
                self._rest = RestServer(api, rest_options)
            except OSError as e:
                raise status.unavailable(f"Cannot listen for HTTP on port "
                                         f"{options.rest_api_port}: {e}") from None
            self.rest_port = self._rest.start()
            logger.info("Exporting HTTP/REST API at %s:%d ...", options.host, self.rest_port)
        self._on_state_change()
        if options.model_config_file and options.model_config_file_poll_wait_seconds > 0:
            self._config_poller = threading.Thread(target=self._poll_config_file,
                                                   name="serving-config", daemon=True)
            self._config_poller.start()

    def stop(self, grace: float | None = None) -> bool:
        """Stops accepting requests, lets those in flight finish within `grace` seconds
        (default: --shutdown_grace_seconds), then unloads. True when nothing was cut off."""
        if self._stopped.is_set():
            return True
        self._stopped.set()
        grace = self.options.shutdown_grace_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        results = []
        stoppers = []
        if self._grpc is not None:
            stoppers.append(threading.Thread(target=lambda: results.append(
                self._grpc.stop(grace))))
        if self._rest is not None:
            stoppers.append(threading.Thread(target=lambda: results.append(
                self._rest.shutdown(grace))))
        for thread in stoppers:  # both stop accepting at once, then drain together
            thread.start()
        for thread in stoppers:
            thread.join()
        drained = all(results)
        self.source.stop()
        self.manager.stop(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
        if self.batch_pool is not None:
            self.batch_pool.stop()
        if self._releaser is not None:
            self._releaser.stop()
        return drained

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # -- configuration -----------------------------------------------------------------------
    def _batching_options(self) -> BatchingOptions | None:
        if not self.options.enable_batching:
            return None
        if not self.options.batching_parameters_file:
            return BatchingOptions()
        params = config.read_text_proto(self.options.batching_parameters_file,
                                        "BatchingParameters")
        return BatchingOptions.from_proto(params)

    def _initial_config(self):
        if self.options.model_config_file:
            self._config_text = _read(self.options.model_config_file)
            return config.read_text_proto(self.options.model_config_file, "ModelServerConfig")
        if not self.options.model_base_path:
            raise status.invalid_argument(
                "Both --model_base_path and --model_config_file are empty: nothing to serve")
        return config.single_model_config(self.options.model_name,
                                          self.options.model_base_path)

    def reload_config(self, model_server_config, wait_timeout: float | None = None) -> None:
        """Serves exactly the models of `model_server_config` from now on.

        New models' base paths must exist (NOT_FOUND otherwise, and nothing changes). Returns
        once every model of the new config finished its first load attempt, at once when
        `wait_timeout` is 0, or after `wait_timeout` seconds with DEADLINE_EXCEEDED (the new
        config applies all the same).
        """
        config.check_model_server_config(model_server_config)
        models = {}
        for model in model_server_config.model_config_list.config:
            if not os.path.isdir(model.base_path):
                raise status.not_found(f"Could not find base path {model.base_path} for "
                                       f"servable {model.name}")
            policy = VersionPolicy.from_proto(model.model_version_policy)
            models[model.name] = ModelSource(model.name, model.base_path, policy)
        with self._lock:
            for model in model_server_config.model_config_list.config:
                self.manager.set_version_labels(model.name, dict(model.version_labels))
            self._models = models
            self._config = model_server_config
            self.source.set_models(models.values())
        if wait_timeout is not None and wait_timeout <= 0:
            return
        names = list(models)
        settled = self.manager.wait_until(
            lambda: all(self.manager.is_settled(n) and not self.source.has_pending(n)
                        for n in names), wait_timeout)
        self._on_state_change()
        if not settled:
            raise status.deadline_exceeded("The new models did not finish loading in time")

    def _poll_config_file(self) -> None:
        path = self.options.model_config_file
        while not self._stopped.wait(self.options.model_config_file_poll_wait_seconds):
            try:
                text = _read(path)
                if text == self._config_text:
                    continue
                new_config = config.read_text_proto(path, "ModelServerConfig")
                self._config_text = text
                self.reload_config(new_config, wait_timeout=0)
                logger.info("Reloaded model config from %s", path)
            except status.ServingError as e:
                logger.error("Cannot reload model config from %s: %s", path, e)
            except OSError as e:
                logger.error("Cannot read model config %s: %s", path, e)

    def _model_names(self):
        return self._models.keys()

    # -- readiness ---------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, dict[str, bool]]:
        """(every configured model has an available version, per-model readiness)."""
        models = {name: bool(self.manager.available_versions(name)) for name in self._models}
        return bool(models) and all(models.values()), models

    def is_ready(self) -> bool:
        return self.readiness()[0]

    def _on_state_change(self) -> None:
        grpc_server = self._grpc
        if grpc_server is not None and grpc_server.health is not None:
            ready, models = self.readiness()
            grpc_server.set_serving(ready, models)

    # -- gRPC handlers -----------------------------------------------------------------------
    def _grpc_handlers(self):
        manager = self.manager
        self.grpc_predict = predict.GrpcPredict(
            manager, self.options.enable_serialization_as_tensor_content)

        def reload(request, deadline):
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.reload_config(request.config, wait_timeout=timeout)
            if self.on_api_reload is not None:
                self.on_api_reload(request.config)
            return proto.serving.ReloadConfigResponse(status={"error_code": 0})

        return {
            kserve_v2.SERVICE: kserve_v2.grpc_handlers(self.v2),
            PREDICTION_SERVICE: {
                "Predict": self.grpc_predict,
                "GetModelMetadata": lambda r, d: predict.get_model_metadata(manager, r),
                "Classify": lambda r, d: classify_regress.classify(manager, r, deadline=d),
                "Regress": lambda r, d: classify_regress.regress(manager, r, deadline=d),
                "MultiInference": lambda r, d: classify_regress.multi_inference(
                    manager, r, deadline=d),
            },
            MODEL_SERVICE: {
                "GetModelStatus": lambda r, d: get_model_status(manager, r),
                "HandleReloadConfigRequest": reload,
            },
        }


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
