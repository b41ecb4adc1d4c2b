"""`--num_workers N`: N server processes sharing the gRPC and REST ports, and a supervisor.

One Python process serves one request's Python at a time (the GIL). With N > 1 the process
started becomes a supervisor that serves nothing itself: it starts N workers, each a whole
model server (its own loaded models, its own batching) listening on the same ports with
SO_REUSEPORT, so the kernel spreads connections over them. The supervisor

- chooses the ports once (a -1 port is resolved to a free one, held while it runs) and prints
  the usual "Running gRPC ModelServer at ..." lines when every worker listens;
- forwards a config reload one worker got over the API (ModelService's
  HandleReloadConfigRequest) to the others, and to any worker it starts later; versions on
  disk each worker finds itself (each polls the base paths);
- restarts a worker that dies (requests on the others are unaffected), waiting longer
  between restarts while a worker keeps dying right after it starts;
- on SIGTERM or SIGINT, passes it to every worker, lets them drain, and exits 0 when they all
  did.

Workers talk to the supervisor over a pipe (file descriptor in TENSORSLOW_SUPERVISOR_FD) and
take its messages on their standard input: one JSON object per line. Metrics are summed over
the workers through files in a directory the supervisor makes (serving/metrics.py).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from serving import metrics

logger = logging.getLogger(__name__)

SUPERVISOR_FD = "TENSORSLOW_SUPERVISOR_FD"
_READY_LINES = ("Running gRPC ModelServer at", "Exporting HTTP/REST API at")
_QUICK_DEATH_S = 10.0      # a worker dying sooner than this after its start backs off
_MAX_BACKOFF_S = 30.0


def default_num_workers() -> int:
    """1 on a machine of 2 cores or fewer (a second process would only compete with the
    first and with the clients), else one per core."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else cores


def reserve_port(host: str) -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket on a free port: the port stays ours while
    it is open, and workers binding it with SO_REUSEPORT share it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock


class _Worker:
    def __init__(self, index: int):
        self.index = index
        self.proc: subprocess.Popen | None = None
        self.ready = threading.Event()
        self.started_at = 0.0
        self.backoff = 1.0
        self.restarts = 0


class Supervisor:
    """Runs `count` workers of `command` (the server's own command line and flags; each worker
    gets `--port`, `--rest_api_port`, `--num_workers=1` and `--reuse_port` appended, which
    argparse lets override what came before)."""

    def __init__(self, command: list[str], count: int, host: str, port: int, rest_port: int,
                 grace_seconds: float):
        self.command = command
        self.host = host
        self._reserved = []
        self.port = self._resolve(port)
        self.rest_port = self._resolve(rest_port)
        self.grace_seconds = grace_seconds
        self.workers = [_Worker(i) for i in range(count)]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._latest_config: str | None = None  # base64 ModelServerConfig bytes
        self._metrics_dir = tempfile.mkdtemp(prefix="tensorslow-metrics-")

    def _resolve(self, port: int) -> int:
        if port != -1:
            return port
        sock = reserve_port(self.host)
        self._reserved.append(sock)
        return sock.getsockname()[1]

    # -- running -----------------------------------------------------------------------------
    def run(self) -> int:
        """Starts the workers and supervises them until SIGTERM/SIGINT; the exit code."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda s, f: self._stopping.set())
        for worker in self.workers:
            self._start(worker)
        self._announce()
        while not self._stopping.wait(0.1):
            for worker in self.workers:
                if worker.proc.poll() is not None and not self._stopping.is_set():
                    self._restart(worker)
        return self._stop_all()

    def _announce(self) -> None:
        deadline = time.monotonic() + 600
        for worker in self.workers:
            while not worker.ready.wait(0.1):
                if self._stopping.is_set() or time.monotonic() > deadline:
                    return
                if worker.proc.poll() is not None:
                    self._restart(worker)
        logger.info("%d workers serving", len(self.workers))
        if self.port:
            logger.info("Running gRPC ModelServer at %s:%d ...", self.host, self.port)
        if self.rest_port:
            logger.info("Exporting HTTP/REST API at %s:%d ...", self.host, self.rest_port)

    def _start(self, worker: _Worker) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, **{SUPERVISOR_FD: str(write_fd),
                                  metrics.SHARED_DIR_ENV: self._metrics_dir})
        command = [*self.command, f"--port={self.port}", f"--rest_api_port={self.rest_port}",
                   "--num_workers=1", "--reuse_port"]
        worker.ready.clear()
        worker.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, env=env, pass_fds=(write_fd,),
                                       text=True, bufsize=1)
        os.close(write_fd)
        worker.started_at = time.monotonic()
        logger.info("worker %d started (pid %d)", worker.index, worker.proc.pid)
        threading.Thread(target=self._relay_output, args=(worker, worker.proc),
                         name=f"worker-{worker.index}-output", daemon=True).start()
        threading.Thread(target=self._read_messages, args=(worker, read_fd),
                         name=f"worker-{worker.index}-messages", daemon=True).start()

    def _restart(self, worker: _Worker) -> None:
        code = worker.proc.returncode
        quick = time.monotonic() - worker.started_at < _QUICK_DEATH_S
        delay = worker.backoff if quick else 1.0
        worker.backoff = min(_MAX_BACKOFF_S, delay * 2) if quick else 1.0
        worker.restarts += 1
        logger.warning("worker %d (pid %d) exited with code %s; starting it again in %.0f s",
                       worker.index, worker.proc.pid, code, delay)
        if self._stopping.wait(delay):
            return
        self._start(worker)

    def _stop_all(self) -> int:
        logger.info("Stopping %d workers", len(self.workers))
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds + 15
        drained = True
        for worker in self.workers:
            try:
                code = worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                code = worker.proc.wait()
            # A worker stopped while it was still starting had nothing to drain.
            drained &= code == 0 or (code == -signal.SIGTERM and not worker.ready.is_set())
        for sock in self._reserved:
            sock.close()
        shutil.rmtree(self._metrics_dir, ignore_errors=True)
        return 0 if drained else 1

    # -- messages ----------------------------------------------------------------------------
    def _relay_output(self, worker: _Worker, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            sys.stdout.write(f"worker {worker.index}: {line}")
            sys.stdout.flush()
            if self._listening(line):
                if not worker.ready.is_set():
                    worker.ready.set()
                    self._send_latest_config(worker)

    def _listening(self, line: str) -> bool:
        """Ready once the last of the APIs it serves says it listens."""
        last = _READY_LINES[1] if self.rest_port else _READY_LINES[0]
        return last in line

    def _read_messages(self, worker: _Worker, fd: int) -> None:
        with os.fdopen(fd, encoding="utf-8") as pipe:
            for line in pipe:
                try:
                    message = json.loads(line)
                except ValueError:
                    logger.warning("worker %d sent a line that is not JSON", worker.index)
                    continue
                if isinstance(message, dict) and isinstance(message.get("reload_config"), str):
                    self._forward_config(worker, message["reload_config"])

    def _forward_config(self, source: _Worker, config: str) -> None:
        with self._lock:
            self._latest_config = config
        logger.info("worker %d reloaded its config: forwarding it to the others", source.index)
        for worker in self.workers:
            if worker is not source:
                self._send(worker, {"reload_config": config})

    def _send_latest_config(self, worker: _Worker) -> None:
        with self._lock:
            config = self._latest_config
        if config is not None:
            self._send(worker, {"reload_config": config})

    @staticmethod
    def _send(worker: _Worker, message: dict) -> None:
        try:
            worker.proc.stdin.write(json.dumps(message) + "\n")
            worker.proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the worker is gone: it gets the latest config when it starts again


# -- the worker's side -------------------------------------------------------------------------
def connect_worker(server) -> None:
    """In a worker: reloads `server` got over its API go to the supervisor; reloads the
    supervisor forwards (read from standard input) are applied without going back."""
    fd = os.environ.get(SUPERVISOR_FD)
    if not fd:
        return
    pipe = os.fdopen(int(fd), "w", encoding="utf-8", buffering=1)
    lock = threading.Lock()

    def reloaded(config) -> None:
        data = base64.b64encode(config.SerializeToString()).decode()
        with lock:
            pipe.write(json.dumps({"reload_config": data}) + "\n")

    server.on_api_reload = reloaded

    def read_commands() -> None:
        from tensorslow import proto

        for line in sys.stdin:
            try:
                message = json.loads(line)
                config = proto.serving.ModelServerConfig.FromString(
                    base64.b64decode(message["reload_config"]))
            except (ValueError, KeyError, TypeError) as e:
                logger.warning("Ignoring a message from the supervisor: %s", e)
                continue
            try:
                server.reload_config(config)
            except Exception as e:  # noqa: BLE001 - a bad config leaves the old one serving
                logger.error("A config reload forwarded by the supervisor failed: %s", e)

    threading.Thread(target=read_commands, name="serving-supervisor", daemon=True).start()
