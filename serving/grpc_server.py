"""The gRPC transport: PredictionService and ModelService, health and reflection.

Handlers are built generically from the service descriptors (the message classes live in a
private descriptor pool, so there are no generated _pb2_grpc modules). Each handler turns a
ServingError into the gRPC status with the same code and message, records the request in the
metrics, and passes the call's deadline down so queued work is abandoned when it expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc

from serving import status
from serving.metrics import Metrics
from serving.status import ServingError
from tensorslow import proto

logger = logging.getLogger("serving.grpc")

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
MAX_MESSAGE_BYTES = (1 << 31) - 1  # TensorFlow Serving's limit (INT32_MAX), not gRPC's 4 MB

_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}

# A handler: (request, deadline or None) -> response message or its bytes; raises ServingError.
# A handler with a `parse` method (bytes -> request) parses its method's requests itself.
Handler = Callable[[object, float | None], object]


@dataclass(frozen=True)
class GrpcOptions:
    host: str = "0.0.0.0"
    port: int = 8500
    max_threads: int = 8
    channel_arguments: tuple[tuple[str, object], ...] = ()
    ssl_config: object | None = None  # a tensorflow.serving.SSLConfig
    enable_health: bool = False
    # Told each request's size in bytes; when it returns True, on_answered() is called once
    # that request's handler returns.
    on_request: Callable[[int], bool] | None = None
    on_answered: Callable[[], None] | None = None
    reuse_port: bool = False  # share the port with other processes (SO_REUSEPORT)


def grpc_code(code: status.Code) -> grpc.StatusCode:
    return _GRPC_CODES.get(int(code), grpc.StatusCode.UNKNOWN)


def parse_channel_arguments(text: str) -> tuple[tuple[str, object], ...]:
    """`--grpc_channel_arguments`: "key=value,key=value", integer values as ints."""
    arguments = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise status.invalid_argument(f"Bad gRPC channel argument {item!r}: expected "
                                          "key=value")
        try:
            arguments.append((key, int(value)))
        except ValueError:
            arguments.append((key, value))
    return tuple(arguments)


def server_credentials(ssl_config) -> grpc.ServerCredentials:
    if not ssl_config.server_key or not ssl_config.server_cert:
        raise status.invalid_argument("SSLConfig needs server_key and server_cert")
    if ssl_config.client_verify and not ssl_config.custom_ca:
        raise status.invalid_argument("SSLConfig client_verify needs custom_ca")
    return grpc.ssl_server_credentials(
        [(ssl_config.server_key.encode(), ssl_config.server_cert.encode())],
        root_certificates=ssl_config.custom_ca.encode() or None,
        require_client_auth=ssl_config.client_verify)


class _Unparsable:
    """What the deserializer returns for bytes that are not a valid request message.

    Raising from a deserializer makes grpcio log and answer INTERNAL (and costs memory on
    every such call); the handler answers INVALID_ARGUMENT instead.
    """

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class _Large:
    """A parsed request `on_request` called large: its handler tells `on_answered` when done.

    grpcio deserializes on a thread of its own, not the handler's, so the mark travels with
    the request.
    """

    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request


def _deserializer(request_class, parse_bytes=None, on_request=None):
    """The method's deserializer: `parse_bytes` (a handler's own parser) or the message
    class's, with failures turned into _Unparsable; `on_request` is told each request's
    size, and a request it calls large comes wrapped in _Large."""
    name = request_class.DESCRIPTOR.full_name
    parse_bytes = parse_bytes or request_class.FromString

    def parse(data: bytes):
        large = on_request is not None and on_request(len(data))
        try:
            request = parse_bytes(data)
        except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
            request = _Unparsable(f"Could not parse the request as a {name}: {e}")
        return _Large(request) if large else request

    return parse


def _serialize(response) -> bytes:
    """Handlers answer with a message, or with its bytes already (Predict's fast path)."""
    return response if type(response) is bytes else response.SerializeToString()


def _model_name(request) -> str:
    if type(request) is _Unparsable:
        return ""
    spec = getattr(request, "model_spec", None)
    if spec is not None:
        return spec.name
    name = getattr(request, "model_name", None)  # the Open Inference Protocol's ModelInfer
    if isinstance(name, str):
        return name
    tasks = getattr(request, "tasks", None)
    return tasks[0].model_spec.name if tasks else ""


def _api_name(method: str) -> str:
    names = {"GetModelMetadata": "get_model_metadata", "MultiInference": "multi_inference",
             "GetModelStatus": "get_model_status",
             "HandleReloadConfigRequest": "reload_config"}
    return names.get(method, method.lower())


class GrpcServer:
    """Serves `handlers` (service -> method -> Handler) on one port.

    Contract: start() once, then stop() once (from any thread); stop stops accepting calls at
    once and lets the calls in flight finish within the grace period.
    """

    def __init__(self, handlers: dict[str, dict[str, Handler]], options: GrpcOptions,
                 metrics: Metrics | None = None):
        self._options = options
        self._metrics = metrics
        self._on_request = options.on_request
        self._on_answered = options.on_answered
        arguments = dict(options.channel_arguments)
        arguments.setdefault("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)
        arguments.setdefault("grpc.max_send_message_length", MAX_MESSAGE_BYTES)
        # A port another process listens on is an error, as in TensorFlow Serving, unless the
        # workers of one server share it.
        arguments.setdefault("grpc.so_reuseport", 1 if options.reuse_port else 0)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=options.max_threads,
                                       thread_name_prefix="serving-grpc"),
            options=list(arguments.items()))
        names = []
        for service, methods in handlers.items():
            self._server.add_generic_rpc_handlers((self._service_handler(service, methods),))
            names.append(service)
        self.health = None
        if options.enable_health:
            from grpc_health.v1 import health, health_pb2, health_pb2_grpc

            self.health = health.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
            names.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
            for name in ("", *handlers):
                self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        from grpc_reflection.v1alpha import reflection

        names.append(reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self._server, pool=proto.pool)
        self._service_names = list(handlers)
        self.port = 0
        # Calls running in handlers (gRPC's own stop() only tracks calls it has not given up
        # on; a handler may still be running after its call was cancelled).
        self._in_flight = 0
        self._idle = threading.Condition(threading.Lock())

    def _begin(self) -> None:
        with self._idle:
            self._in_flight += 1

    def _end(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def _service_handler(self, service: str, methods: dict[str, Handler]):
        rpc_handlers = {}
        for method, request_class, response_class in proto.service_methods(service):
            handler = methods.get(method)
            if handler is None:
                continue
            rpc_handlers[method] = grpc.unary_unary_rpc_method_handler(
                self._wrap(method, handler, response_class),
                request_deserializer=_deserializer(request_class,
                                                   getattr(handler, "parse", None),
                                                   self._on_request),
                response_serializer=_serialize)
        return grpc.method_handlers_generic_handler(service, rpc_handlers)

    def _wrap(self, method: str, handler: Handler, response_class):
        api = _api_name(method)
        metrics = self._metrics
        on_answered = self._on_answered

        def call(request, context):
            large = type(request) is _Large
            if large:
                request = request.request
            started = time.perf_counter()
            remaining = context.time_remaining()
            deadline = None if remaining is None else time.monotonic() + remaining
            self._begin()
            try:
                if type(request) is _Unparsable:
                    raise status.invalid_argument(request.message)
                response = handler(request, deadline)
                code_name = "OK"
            except Exception as e:  # noqa: BLE001 - every failure becomes a gRPC status
                error = e if isinstance(e, ServingError) else status.from_exception(e)
                if not isinstance(e, ServingError):
                    logger.exception("%s failed", method)
                context.set_code(grpc_code(error.code))
                context.set_details(error.message)
                response = response_class()
                code_name = error.code.name
            finally:
                self._end()
                if large:
                    on_answered()
            if metrics is not None:
                metrics.record(_model_name(request), api, "GRPC", code_name,
                               time.perf_counter() - started)
            return response

        return call

    def start(self) -> int:
        """Binds and starts; returns the bound port (useful with port 0)."""
        address = f"{self._options.host}:{self._options.port}"
        try:
            if self._options.ssl_config is not None:
                port = self._server.add_secure_port(
                    address, server_credentials(self._options.ssl_config))
            else:
                port = self._server.add_insecure_port(address)
        except RuntimeError:  # grpcio raises when the port is taken
            port = 0
        if not port:
            raise status.unavailable(f"Cannot listen for gRPC on {address}")
        self._server.start()
        self.port = port
        return port

    def set_serving(self, serving: bool, models: dict[str, bool]) -> None:
        """Health: the whole server (and each service) SERVING when every model is ready;
        each model name SERVING when it has an available version."""
        if self.health is None:
            return
        from grpc_health.v1 import health_pb2

        def state(ok: bool):
            return (health_pb2.HealthCheckResponse.SERVING if ok
                    else health_pb2.HealthCheckResponse.NOT_SERVING)

        for name in ("", *self._service_names):
            self.health.set(name, state(serving))
        for name, ok in models.items():
            self.health.set(name, state(ok))

    def stop(self, grace: float | None) -> bool:
        """Stops accepting calls at once, waits up to `grace` s for the handlers still
        running; True when none was left running."""
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        stopped = self._server.stop(grace)
        with self._idle:
            drained = self._idle.wait_for(lambda: self._in_flight == 0, grace)
        stopped.wait(1.0)
        return drained
