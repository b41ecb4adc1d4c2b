"""The REST transport on --rest_api_port, with TensorFlow Serving's URLs and JSON.

    GET  /v1/models/NAME[/versions/N|/labels/L]            model status
    GET  /v1/models/NAME[/versions/N|/labels/L]/metadata   signature defs
    POST /v1/models/NAME[/versions/N|/labels/L]:predict|:classify|:regress
    GET  <metrics path>   Prometheus metrics (default /monitoring/prometheus/metrics)
    GET  /v1/ready        200 once every configured model has an available version, else 503
    GET  /healthz         200 while the server runs (liveness)

Errors are {"error": "<message>"} with TensorFlow Serving's HTTP status for the code.

Threading: one thread per connection (the standard library's ThreadingHTTPServer); handlers
share nothing but the thread-safe manager and metrics. shutdown() stops accepting connections
and waits, up to a grace period, for the requests in flight.
"""

from __future__ import annotations

import http.server
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from serving import classify_regress, predict, rest_json, status
from serving.manager import Manager
from serving.metrics import Metrics
from serving.model_service import get_model_status
from serving.status import ServingError
from tensorslow import proto

logger = logging.getLogger("serving.rest")

_PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE)
READY_PATH = "/v1/ready"
LIVENESS_PATH = "/healthz"
MAX_BODY_BYTES = (1 << 31) - 1


@dataclass(frozen=True)
class RestOptions:
    host: str = "0.0.0.0"
    port: int = 8501
    timeout_in_ms: int = 30000
    metrics_path: str | None = "/monitoring/prometheus/metrics"
    tensor_content: bool = False
    # Told each request body's size; when it returns True, on_answered() is called once that
    # request is answered.
    on_request: Callable[[int], bool] | None = None
    on_answered: Callable[[], None] | None = None
    reuse_port: bool = False  # share the port with other processes (SO_REUSEPORT)


def _serving_error(e: Exception, method: str, path: str) -> ServingError:
    """The ServingError a failed call answers with; an unexpected one is logged."""
    if isinstance(e, ServingError):
        return e
    logger.exception("REST %s %s failed", method, path)
    return status.from_exception(e)


class RestApi:
    """The REST handlers, independent of the HTTP server: (method, path, body) -> reply."""

    def __init__(self, manager: Manager, options: RestOptions, metrics: Metrics | None,
                 readiness: Callable[[], tuple[bool, dict[str, bool]]], v2=None):
        self._manager = manager
        self._options = options
        self._metrics = metrics
        self._readiness = readiness
        self._v2 = v2  # a kserve_v2.V2Api: the Open Inference Protocol's /v2 routes

    def handle(self, method: str, path: str, body: bytes,
               headers=None) -> tuple[int, str, bytes] | tuple[int, str, bytes, dict]:
        """Returns (HTTP status, content type, body), and the reply's extra headers for
        some /v2 replies."""
        path = path.split("?", 1)[0]
        if self._v2 is not None and (path == "/v2" or path.startswith("/v2/")):
            return self._handle_v2(method, path, body, headers)
        if method == "GET" and path == self._options.metrics_path and self._metrics:
            return 200, "text/plain; version=0.0.4", self._metrics.exposition().encode()
        if method == "GET" and path == READY_PATH:
            ready, models = self._readiness()
            return (200 if ready else 503), "application/json", rest_json.dumps(
                {"ready": ready, "models": models})
        if method == "GET" and path == LIVENESS_PATH:
            return 200, "application/json", rest_json.dumps({"alive": True})
        if not path.lower().startswith("/v1/"):
            return 404, "application/json", rest_json.error_body(f"Not found: {path}")
        started = time.perf_counter()
        model_name, api = "", "unknown"
        try:
            model_name, api, run = self._route(method, path, body)
            reply = run()
            code_name, http_status = "OK", 200
        except Exception as e:  # noqa: BLE001 - every failure becomes an error body
            error = _serving_error(e, method, path)
            reply = rest_json.error_body(error.message)
            code_name, http_status = error.code.name, error.http_status
        if self._metrics is not None and model_name:
            self._metrics.record(model_name, api, "REST", code_name,
                                 time.perf_counter() - started)
        return http_status, "application/json", reply

    def _handle_v2(self, method: str, path: str, body: bytes, headers):
        from serving import kserve_v2

        parts = [unquote(p) for p in path.split("/")[2:] if p]
        started = time.perf_counter()
        model = parts[1] if len(parts) >= 2 and parts[0] == "models" else ""
        try:
            reply = kserve_v2.rest(self._v2, method, parts, body, headers, self._deadline())
            code_name = "OK"
        except Exception as e:  # noqa: BLE001 - every failure becomes an error body
            error = _serving_error(e, method, path)
            reply = (error.http_status, "application/json", rest_json.error_body(error.message),
                     {})
            code_name = error.code.name
        if self._metrics is not None and model and parts[-1] == "infer":
            self._metrics.record(model, "v2_infer", "REST", code_name,
                                 time.perf_counter() - started)
        return reply

    def _route(self, method: str, path: str,
               body: bytes) -> tuple[str, str, Callable[[], bytes]]:
        """(model name, API name, the call making the reply body) for a /v1/ request."""
        if method == "POST":
            match = _PREDICTION_PATH.fullmatch(path)
            if match:
                spec = _model_spec(*match.groups()[:3])
                verb = match.group(4).lower()
                return spec.name, verb, lambda: self._post(verb, spec, body)
        elif method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if match:
                name, version, label, metadata = match.groups()
                if not name:
                    raise status.invalid_argument("Missing model name in request.")
                spec = _model_spec(name, version, label)
                if metadata:
                    return spec.name, "get_model_metadata", lambda: self._metadata(spec)
                return spec.name, "get_model_status", lambda: self._status(spec)
        raise status.invalid_argument(f"Malformed request: {method} {path}")

    def _metadata(self, spec) -> bytes:
        request = proto.serving.GetModelMetadataRequest(
            metadata_field=[predict.SIGNATURE_DEF_FIELD])
        request.model_spec.CopyFrom(spec)
        return rest_json.metadata_json(predict.get_model_metadata(self._manager, request))

    def _status(self, spec) -> bytes:
        request = proto.serving.GetModelStatusRequest()
        request.model_spec.CopyFrom(spec)
        return rest_json.message_json(get_model_status(self._manager, request))

    def _deadline(self) -> float | None:
        timeout = self._options.timeout_in_ms
        return time.monotonic() + timeout / 1000 if timeout > 0 else None

    def _post(self, verb: str, spec, body: bytes) -> bytes:
        doc = rest_json.parse_body(body)
        spec.signature_name = rest_json.signature_name(doc)
        deadline = self._deadline()
        if verb == "predict":
            return self._predict(spec, doc, deadline)
        if verb == "classify":
            request = proto.serving.ClassificationRequest()
            request.model_spec.CopyFrom(spec)
            rest_json.fill_examples_input(doc, request.input)
            response = classify_regress.classify(self._manager, request, deadline=deadline)
            return rest_json.classify_response(response.result)
        request = proto.serving.RegressionRequest()
        request.model_spec.CopyFrom(spec)
        rest_json.fill_examples_input(doc, request.input)
        response = classify_regress.regress(self._manager, request, deadline=deadline)
        return rest_json.regress_response(response.result)

    def _predict(self, spec, doc: dict, deadline: float | None) -> bytes:
        with predict.acquire(self._manager, spec) as handle:
            servable = handle.servable
            try:
                signature = servable.signature(spec.signature_name)
            except ServingError as e:
                raise status.invalid_argument(
                    f'Serving signature name: "{spec.signature_name or "serving_default"}" '
                    "not found in signature def") from e
            arrays, row_format = rest_json.predict_inputs(doc, signature)
            aliases, outputs = predict.run_signature(servable, signature, arrays, (),
                                                     deadline)
        return rest_json.predict_response(aliases, outputs, row_format)


def _model_spec(name: str, version: str | None, label: str | None):
    spec = proto.serving.ModelSpec(name=unquote(name))
    if version is not None:
        try:
            spec.version.value = int(version)
        except ValueError:
            raise status.invalid_argument(f"Failed to convert version: {version} to "
                                          "numeric.") from None
    elif label is not None:
        spec.version_label = unquote(label)
    return spec


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TensorSlowModelServer"
    api: RestApi  # set on the subclass made by RestServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle's algorithm holds the
        # body back until the client's delayed ACK (~40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self._serve("GET", b"")

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = self._read_body()
        except ServingError as e:
            self._reply(e.http_status, "application/json", rest_json.error_body(e.message))
            self.close_connection = True
            return
        options = self.api._options
        large = options.on_request is not None and options.on_request(len(body))
        try:
            self._serve("POST", body)
        finally:
            if large:
                options.on_answered()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise status.invalid_argument(f"Bad Content-Length: {length!r}") from None
        if size < 0 or size > MAX_BODY_BYTES:
            raise status.invalid_argument(f"Bad Content-Length: {length!r}")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        parts = []
        total = 0
        while True:
            line = self.rfile.readline(1024).strip()
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                raise status.invalid_argument("Bad chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise status.invalid_argument("Request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _serve(self, method: str, body: bytes) -> None:
        server = self.server
        server.begin_request()
        try:
            code, content_type, reply, *extra = self.api.handle(method, self.path, body,
                                                                self.headers)
            self._reply(code, content_type, reply, extra[0] if extra else None)
        finally:
            server.end_request()

    def _reply(self, code: int, content_type: str, body: bytes,
               headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        logger.debug("%s - " + format, self.address_string(), *args)


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler_class, reuse_port: bool = False):
        self._reuse_port = reuse_port
        super().__init__(address, handler_class)
        self._in_flight = 0
        self._idle = threading.Condition()

    def server_bind(self) -> None:
        if self._reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def begin_request(self) -> None:
        with self._idle:
            self._in_flight += 1

    def end_request(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)


class RestServer:
    """Serves a RestApi over HTTP/1.1. Contract: start() once, then shutdown() once."""

    def __init__(self, api: RestApi, options: RestOptions):
        handler = type("RestHandler", (_Handler,), {"api": api})
        self._httpd = _HttpServer((options.host, options.port), handler, options.reuse_port)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="serving-rest",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    def start(self) -> int:
        self._thread.start()
        return self.port

    def shutdown(self, grace: float | None) -> bool:
        """Stops accepting connections, then waits up to `grace` s for requests in flight.
        Returns True when none was left running."""
        self._httpd.shutdown()
        self._httpd.socket.close()
        drained = self._httpd.wait_idle(grace)
        self._thread.join(timeout=1)
        return drained
