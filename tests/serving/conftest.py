"""Fixtures for the serving tests: models on disk, in-process servers on free ports, stubs.

Every wait has a deadline (wait_for); servers are stopped at teardown.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import serving_models  # noqa: E402  (registers the test ops in this process)

from serving.client import MODEL_SERVICE, PREDICTION_SERVICE, make_stub  # noqa: E402
from serving.server import ModelServer, ServerOptions  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float = 10.0, what: str = "condition", interval: float = 0.02):
    """Polls `predicate` until it returns something true; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def config_text(models: list[dict]) -> str:
    """ModelServerConfig text for [{name, base_path, policy (text), labels {label: v}}]."""
    parts = []
    for model in models:
        body = [f'name: "{model["name"]}"', f'base_path: "{model["base_path"]}"',
                'model_platform: "tensorflow"']
        if model.get("policy"):
            body.append(f"model_version_policy {{ {model['policy']} }}")
        for label, version in model.get("labels", {}).items():
            body.append(f'version_labels {{ key: "{label}" value: {version} }}')
        parts.append("config { " + " ".join(body) + " }")
    return "model_config_list { " + " ".join(parts) + " }"


class ServerHandle:
    """An in-process server with stubs and a REST helper."""

    def __init__(self, server: ModelServer):
        self.server = server
        self.target = f"127.0.0.1:{server.grpc_port}"
        self.channel = grpc.insecure_channel(self.target, options=[
            ("grpc.max_receive_message_length", 1 << 30),
            ("grpc.max_send_message_length", 1 << 30)])
        self.predict = make_stub(self.channel, PREDICTION_SERVICE)
        self.models = make_stub(self.channel, MODEL_SERVICE)

    def rest(self, method: str, path: str, body=None, raw: bytes | None = None,
             headers: dict | None = None):
        """(HTTP status, parsed JSON or text) of one REST call."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.rest_port, timeout=30)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body))
            conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            text = response.read().decode("utf-8")
            content_type = response.getheader("Content-Type", "")
        finally:
            conn.close()
        if content_type.startswith("application/json"):
            return response.status, json.loads(text)
        return response.status, text

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def start_server():
    """start_server(**ServerOptions fields) -> ServerHandle; stopped at teardown."""
    started = []

    def start(**options) -> ServerHandle:
        defaults = dict(port=-1, rest_api_port=-1, host="127.0.0.1",
                        file_system_poll_wait_seconds=0.2, max_num_load_retries=0,
                        grpc_max_threads=16, initial_load_timeout_seconds=60)
        defaults.update(options)
        server = ModelServer(ServerOptions(**defaults))
        try:
            server.start()
        except BaseException:
            server.stop(0)
            raise
        handle = ServerHandle(server)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.close()
        handle.server.stop(grace=2)


@pytest.fixture(scope="session")
def model_root(tmp_path_factory) -> Path:
    """Read-only models shared by the API tests."""
    root = tmp_path_factory.mktemp("models")
    serving_models.export_half_plus(str(root / "half"), 1, offset=2.0)
    serving_models.export_half_plus(str(root / "half"), 2, offset=3.0)
    serving_models.export_two_inputs(str(root / "two"))
    serving_models.export_strings(str(root / "strings"))
    serving_models.export_examples_model(str(root / "examples"))
    serving_models.export_slow(str(root / "slow"))
    return root


@pytest.fixture(scope="session")
def api_server(model_root, tmp_path_factory):
    """One server for the read-only API tests: "half" (versions 1 and 2, labels stable=1 and
    canary=2), "two", "strings", "examples", "slow"."""
    config_path = tmp_path_factory.mktemp("config") / "models.config"
    config_path.write_text(config_text([
        {"name": "half", "base_path": str(model_root / "half"), "policy": "all {}",
         "labels": {"stable": 1, "canary": 2}},
        {"name": "two", "base_path": str(model_root / "two")},
        {"name": "strings", "base_path": str(model_root / "strings")},
        {"name": "examples", "base_path": str(model_root / "examples")},
        {"name": "slow", "base_path": str(model_root / "slow")},
    ]))
    server = ModelServer(ServerOptions(
        port=-1, rest_api_port=-1, host="127.0.0.1", model_config_file=str(config_path),
        enable_grpc_healthcheck_service=True, grpc_max_threads=16,
        initial_load_timeout_seconds=60, max_num_load_retries=0))
    server.start()
    handle = ServerHandle(server)
    yield handle
    handle.close()
    server.stop(grace=2)


class ServerProcess:
    """tensorslow-model-server (with the test ops) in its own process, on free ports."""

    def __init__(self, flags: list[str], env: dict | None = None):
        import re
        import subprocess
        import threading

        command = [sys.executable, str(REPO / "tests" / "serving" / "run_server.py"),
                   "--host=127.0.0.1", "--port=-1", "--rest_api_port=-1", *flags]
        full_env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        full_env.update(env or {})
        self.proc = subprocess.Popen(command, cwd=REPO, env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.grpc_port = self.rest_port = None
        grpc_line = re.compile(r"Running gRPC ModelServer at [^:]+:(\d+)")
        rest_line = re.compile(r"Exporting HTTP/REST API at [^:]+:(\d+)")

        def read() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                if match := grpc_line.search(line):
                    self.grpc_port = int(match.group(1))
                if match := rest_line.search(line):
                    self.rest_port = int(match.group(1))

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 60) -> ServerProcess:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n"
                                     f"{self.output}")
            return self.grpc_port and self.rest_port

        try:
            wait_for(ready, timeout=timeout, what="the server to listen")
        except AssertionError as e:
            raise AssertionError(f"{e}; its output so far:\n{self.output}") from None
        return self

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def wait_exit(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def server_process():
    """server_process(flags, env) -> a started ServerProcess; killed at teardown if alive."""
    started = []

    def start(flags: list[str], env: dict | None = None) -> ServerProcess:
        process = ServerProcess(flags, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
