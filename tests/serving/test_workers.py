"""--num_workers: server processes sharing the ports under a supervisor, over real sockets.
Both workers answer (each is killed in turn while the other keeps answering and is restarted),
a config reload one worker gets reaches the other, metrics count both, SIGTERM drains both;
a port another process listens on is refused when workers are not sharing it; and how many
heavy runs go at once by default."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket

import grpc
import pytest
import serving_models
from conftest import config_text, wait_for
from test_grpc_api import predict_request

from serving import workers
from serving.client import ModelServiceClient, make_channel, make_stub
from serving.status import ServingError


def _predict_on_fresh_channels(port: int, count: int) -> None:
    """`count` Predicts, each on a connection of its own (the kernel spreads connections over
    the workers listening on the port)."""
    for _ in range(count):
        channel = make_channel(f"127.0.0.1:{port}")
        try:
            stub = make_stub(channel, "tensorflow.serving.PredictionService")
            response = stub.Predict(predict_request("half"), timeout=30)
            assert list(response.outputs["y"].float_val) == [2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
        finally:
            channel.close()


def _started(server, index: int) -> list[int]:
    return [int(pid) for pid in re.findall(rf"worker {index} started \(pid (\d+)\)",
                                           server.output)]


def _listening_count(server, index: int) -> int:
    return len(re.findall(rf"worker {index}: .*Exporting HTTP/REST API at", server.output))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_workers_answer_restart_and_drain(server_process, tmp_path):
    base = tmp_path / "half"
    serving_models.export_half_plus(str(base), 1, offset=2.0)
    server = server_process([f"--model_base_path={base}", "--model_name=half",
                             "--num_workers=2"]).wait_ready(timeout=120)
    wait_for(lambda: "2 workers serving" in server.output, timeout=120, what="both workers")
    first = [_started(server, i)[0] for i in (0, 1)]
    _predict_on_fresh_channels(server.grpc_port, 10)
    for index in (0, 1):
        # Killing one worker leaves the other answering every request at once; the
        # supervisor starts the killed one again.
        os.kill(_started(server, index)[-1], signal.SIGKILL)
        wait_for(lambda i=index: _gone(_started(server, i)[-1]), timeout=30,
                 what=f"worker {index} to die")
        _predict_on_fresh_channels(server.grpc_port, 20)
        wait_for(lambda i=index: len(_started(server, i)) == 2 and
                 _listening_count(server, i) == 2, timeout=120,
                 what=f"worker {index} restarted and listening")
    # Each was killed in turn while the other answered: both served requests.
    _predict_on_fresh_channels(server.grpc_port, 10)
    current = [_started(server, i)[-1] for i in (0, 1)]
    assert set(current).isdisjoint(first)
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_exit(timeout=60) == 0
    assert all(_gone(pid) for pid in current)
    assert "Stopping 2 workers" in server.output


def test_a_reload_one_worker_gets_reaches_the_other(server_process, tmp_path):
    for name, offset in (("half", 2.0), ("other", 5.0)):
        serving_models.export_half_plus(str(tmp_path / name), 1, offset=offset)
    config = tmp_path / "models.config"
    config.write_text(config_text([{"name": "half", "base_path": str(tmp_path / "half")}]))
    server = server_process([f"--model_config_file={config}", "--num_workers=2"]
                            ).wait_ready(timeout=120)
    wait_for(lambda: "2 workers serving" in server.output, timeout=120, what="both workers")
    both = config_text([{"name": "half", "base_path": str(tmp_path / "half")},
                        {"name": "other", "base_path": str(tmp_path / "other")}])
    ModelServiceClient(f"127.0.0.1:{server.grpc_port}").reload_config(both, timeout=60)
    wait_for(lambda: "forwarding it to the others" in server.output, timeout=30,
             what="the supervisor to forward the reload")

    def other_serves_everywhere() -> bool:
        # Fresh connections land on either worker: every one must know the new model.
        for _ in range(20):
            channel = make_channel(f"127.0.0.1:{server.grpc_port}")
            try:
                stub = make_stub(channel, "tensorflow.serving.PredictionService")
                stub.Predict(predict_request("other"), timeout=30)
            except grpc.RpcError:
                return False
            finally:
                channel.close()
        return True

    wait_for(other_serves_everywhere, timeout=60, interval=0.2,
             what="the reloaded model on every worker")
    # A metrics scrape, whichever worker answers it, counts the requests of both.
    _predict_on_fresh_channels(server.grpc_port, 30)
    pattern = re.compile(r':tensorflow:serving:request_count\{model_name="half",API="predict",'
                         r'entrypoint="GRPC",status="OK"\} (\d+)')

    def counted_everywhere() -> bool:
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
            try:
                conn.request("GET", "/monitoring/prometheus/metrics")
                match = pattern.search(conn.getresponse().read().decode())
            finally:
                conn.close()
            if not match or int(match.group(1)) != 30:
                return False
        return True

    wait_for(counted_everywhere, timeout=30, interval=0.3, what="30 Predicts in the metrics")
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_exit(timeout=60) == 0


def test_default_worker_count(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert workers.default_num_workers() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert workers.default_num_workers() == 8


def test_a_port_another_process_listens_on_is_refused(start_server, model_root):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ServingError, match="Cannot listen for gRPC"):
            start_server(model_name="half", model_base_path=str(model_root / "half"),
                         port=taken.getsockname()[1], rest_api_port=0)
    finally:
        taken.close()


def test_heavy_runs_at_once_follow_the_blas_threads(monkeypatch):
    from serving.server import default_parallel_runs

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert default_parallel_runs() == 1  # BLAS spreads each run over every core
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert default_parallel_runs() == 8
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert default_parallel_runs() == 4
