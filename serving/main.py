"""`tensorslow-model-server`: tensorflow_model_server's command line.

    tensorslow-model-server --port=8500 --rest_api_port=8501 \\
        --model_name=my_model --model_base_path=/models/my_model

Flags have tensorflow_model_server's names and defaults (`--flag=value`; a boolean flag alone
means true). Flags of tensorflow_model_server that do not apply here (TPU, GPU memory, TF
session threads, ...) are accepted and ignored with a warning. SIGTERM or SIGINT stop accepting
requests, let those in flight finish within --shutdown_grace_seconds, and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from serving.server import ModelServer, ServerOptions
from serving.status import ServingError
from serving.workers import Supervisor, connect_worker, default_num_workers

VERSION = "0.1.0"

# tensorflow_model_server flags that have no meaning here; accepted so command lines carry over.
IGNORED_FLAGS = (
    "grpc_socket_path", "rest_api_num_threads", "rest_api_enable_cors_support",
    "allow_version_labels_for_unavailable_models", "enable_per_model_batching_parameters",
    "num_unload_threads", "flush_filesystem_caches", "tensorflow_session_parallelism",
    "tensorflow_session_config_file", "tensorflow_intra_op_parallelism",
    "use_alts_credentials", "platform_config_file",
    "per_process_gpu_memory_fraction", "remove_unused_fields_from_bundle_metagraph",
    "prefer_tflite_model", "num_tflite_pools", "num_tflite_interpreters_per_pool",
    "enable_signature_method_name_check", "xla_cpu_compilation_enabled",
    "xla_gpu_compilation_enabled", "enable_profiler", "thread_pool_factory_config_file",
    "mixed_precision", "skip_initialize_tpu",
)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "t", "yes", "y"):
        return True
    if value in ("0", "false", "f", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    defaults = ServerOptions()
    parser = argparse.ArgumentParser(
        prog="tensorslow-model-server",
        description="Serves SavedModels over TensorFlow Serving's gRPC and REST APIs.")

    def flag(name: str, kind, help_text: str) -> None:
        default = getattr(defaults, name)
        if kind is bool:
            parser.add_argument(f"--{name}", type=_bool, nargs="?", const=True,
                                default=default, metavar="BOOL",
                                help=f"{help_text} (default: {str(default).lower()})")
        else:
            parser.add_argument(f"--{name}", type=kind, default=default,
                                help=f"{help_text} (default: {default!r})")

    flag("port", int, "TCP port for the gRPC API; 0 turns gRPC off")
    flag("rest_api_port", int, "TCP port for the HTTP/REST API; 0 turns REST off")
    flag("rest_api_timeout_in_ms", int, "Timeout of a REST call, in milliseconds")
    flag("model_name", str, "Name of the model (ignored with --model_config_file)")
    flag("model_base_path", str, "Directory holding the model's numbered version directories")
    flag("model_config_file", str, "A ModelServerConfig text proto listing the models")
    flag("model_config_file_poll_wait_seconds", int,
         "Seconds between reads of --model_config_file; 0 reads it once")
    flag("file_system_poll_wait_seconds", float,
         "Seconds between polls of the base paths for new versions; 0 polls once")
    flag("enable_batching", bool, "Merge concurrent Predict calls into batches")
    flag("batching_parameters_file", str, "A BatchingParameters text proto")
    flag("monitoring_config_file", str, "A MonitoringConfig text proto (Prometheus metrics)")
    flag("ssl_config_file", str, "An SSLConfig text proto: serve gRPC over TLS")
    flag("grpc_max_threads", int, "Threads handling gRPC calls")
    flag("grpc_channel_arguments", str, "gRPC server arguments: key=value,key=value")
    flag("enable_model_warmup", bool,
         "Warm each version up before it serves (assets.extra/tf_serving_warmup_requests)")
    flag("num_request_iterations_for_warmup", int, "Times each warmup request is replayed")
    flag("enable_grpc_healthcheck_service", bool, "Serve the standard gRPC health service")
    flag("enable_serialization_as_tensor_content", bool,
         "Reply with tensor_content rather than typed fields")
    flag("saved_model_tags", str, "Comma-separated tags of the MetaGraph to load")
    flag("max_num_load_retries", int, "Retries of a failed load before giving up")
    flag("load_retry_interval_micros", int, "Microseconds between load retries")
    flag("num_load_threads", int, "Threads loading versions (0 means 1)")
    flag("tensorflow_inter_op_parallelism", int,
         "Model runs at once, across all models (0: one per CPU core)")
    flag("host", str, "Address to listen on (ours)")
    flag("shutdown_grace_seconds", float,
         "On SIGTERM, seconds to let requests in flight finish (ours)")
    flag("memory_release_threshold_bytes", int,
         "After a request of at least this many bytes, give the memory its step freed back "
         "to the kernel; 0 never does (ours)")
    flag("num_workers", int,
         "Server processes sharing the ports, under one supervisor; 0: 1 on a machine of 2 "
         "cores or fewer, else one per core (ours)")
    flag("reuse_port", bool, "Share the ports with other processes: SO_REUSEPORT (ours)")
    flag("max_request_rows", int,
         "Refuse (RESOURCE_EXHAUSTED) a request whose inputs hold more rows (first "
         "dimension) than this; 0 sets no limit (ours)")
    parser.add_argument("--version", action="store_true", help="Print the version and exit")
    for name in IGNORED_FLAGS:
        parser.add_argument(f"--{name}", nargs="?", const="true", default=None,
                            help=argparse.SUPPRESS)
    return parser


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    fields = ServerOptions.__dataclass_fields__
    return ServerOptions(**{name: getattr(args, name) for name in fields
                            if hasattr(args, name)})


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("TENSORSLOW_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        print(f"TensorSlow ModelServer: {VERSION}")
        return 0
    for name in IGNORED_FLAGS:
        if getattr(args, name) is not None:
            logging.warning("--%s has no effect in this server; ignored", name)
    options = options_from_args(args)
    workers = options.num_workers or default_num_workers()
    if workers > 1:
        return _supervise(argv, options, workers)
    server = ModelServer(options)
    connect_worker(server)
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        logging.info("Received signal %d: shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except ServingError as e:
        print(f"Failed to start server. Error: {e}", file=sys.stderr)
        server.stop(0)
        return 1
    while not stop.wait(1.0):
        pass
    drained = server.stop()
    if not drained:
        # Calls still running past the grace period would keep the interpreter from exiting
        # (it joins worker threads at exit); they were given their time.
        logging.warning("Server stopped; requests still running after the grace period were "
                        "cut off")
        logging.shutdown()
        os._exit(0)
    logging.info("Server stopped")
    return 0


def _supervise(argv: list[str] | None, options: ServerOptions, workers: int) -> int:
    """Runs `workers` copies of this server's command line under a Supervisor."""
    flags = sys.argv[1:] if argv is None else list(argv)
    launcher = sys.orig_argv[1:len(sys.orig_argv) - len(sys.argv[1:])] if argv is None else \
        ["-m", "serving.main"]
    supervisor = Supervisor([sys.executable, *launcher, *flags], workers, options.host,
                            options.port, options.rest_api_port, options.shutdown_grace_seconds)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
