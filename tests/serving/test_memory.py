"""Memory and size limits under large requests: the server gives back what a large request's
step took (RSS returns near its level before the spike, over real sockets, in its own process),
the releaser's own behaviour, and --max_request_rows refusing oversized requests over gRPC and
REST while the server keeps serving."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
import serving_models
from conftest import wait_for
from test_grpc_api import X, outputs_of, predict_request, rpc_error

from serving import memory
from serving.client import make_channel, make_stub
from tensorslow.client import allocator


def test_rss_returns_after_a_large_request(server_process, tmp_path):
    base = tmp_path / "mlp"
    serving_models.export_mlp(str(base), 1, (4, 16, 3))
    server = server_process([f"--model_base_path={base}", "--model_name=m"]).wait_ready()
    stub = make_stub(make_channel(f"127.0.0.1:{server.grpc_port}"),
                     "tensorflow.serving.PredictionService")
    small = predict_request("m", {"x": np.ones((4, 4), np.float32)})
    big = predict_request("m", {"x": np.ones((2_000_000, 4), np.float32)})  # 32 MB
    for _ in range(50):  # warm up allocators and caches before the baseline
        stub.Predict(small, timeout=30)
    baseline = server.rss_bytes()
    for _ in range(3):
        response = stub.Predict(big, timeout=120)
        assert response.outputs["y"].tensor_shape.dim[0].size == 2_000_000
    del response
    for _ in range(20):
        stub.Predict(small, timeout=30)
    limit = baseline + 50 * 2**20
    wait_for(lambda: server.rss_bytes() < limit, timeout=10,
             what=f"RSS back under {limit / 2**20:.0f} MB (baseline "
                  f"{baseline / 2**20:.0f} MB)")
    np.testing.assert_allclose(outputs_of(stub.Predict(small, timeout=30))["y"].shape, (4, 3))


def test_the_releaser_releases_after_large_requests_only(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "release", lambda: calls.append(time.monotonic()) or True)
    releaser = memory.MemoryReleaser(1000, delays=(0.05, 0.2))
    try:
        releaser.note(999)
        time.sleep(0.3)  # nothing may happen: a negative check needs a wait
        assert calls == []
        noted = time.monotonic()
        releaser.note(1000)
        wait_for(lambda: len(calls) == 2, timeout=10, what="two releases")
        assert calls[0] >= noted + 0.05 and calls[1] >= noted + 0.2
        assert releaser.releases == 2
    finally:
        releaser.stop()
    assert not releaser._thread.is_alive()


def test_a_large_request_answered_after_the_releases_is_released_after_its_answer(
        monkeypatch):
    # On a busy machine a large request's step can outlast both releases timed from its
    # arrival; its buffers are freed only once it is answered, and must be given back then.
    calls = []
    monkeypatch.setattr(allocator, "release", lambda: calls.append(time.monotonic()) or True)
    releaser = memory.MemoryReleaser(1000, delays=(0.05, 0.2))
    try:
        assert releaser.note(5000) is True and releaser.note(10) is False
        wait_for(lambda: len(calls) == 2, timeout=10, what="the releases after arrival")
        answered = time.monotonic()
        releaser.answered()
        wait_for(lambda: len(calls) == 4, timeout=10, what="the releases after the answer")
        assert calls[2] >= answered + 0.05 and calls[3] >= answered + 0.2
    finally:
        releaser.stop()


def test_grpc_tells_when_a_large_request_is_answered(start_server, model_root, monkeypatch):
    # grpcio parses a request on another thread than its handler's: the mark must travel
    # with the request, so each large request is answered() exactly once, after its handler.
    answered = []
    original = memory.MemoryReleaser.answered
    monkeypatch.setattr(memory.MemoryReleaser, "answered",
                        lambda self: answered.append(time.monotonic()) or original(self))
    handle = start_server(model_name="half", model_base_path=str(model_root / "half"),
                          memory_release_threshold_bytes=4096)
    small = predict_request(inputs={"x": np.ones((3, 3), np.float32)})
    for _ in range(3):
        handle.predict.Predict(small, timeout=10)
    assert answered == []
    big = predict_request(inputs={"x": np.ones((1000, 3), np.float32)})
    before = time.monotonic()
    assert outputs_of(handle.predict.Predict(big, timeout=10))["y"].shape == (1000, 3)
    assert len(answered) == 1 and answered[0] >= before
    code, _ = handle.rest("POST", "/v1/models/half:predict",
                          {"instances": np.ones((1000, 3)).tolist()})
    assert code == 200  # the reply is written before its handler returns: wait for that
    wait_for(lambda: len(answered) == 2, timeout=10, what="the REST request answered")


def test_max_request_rows_refuses_larger_requests_over_grpc_and_rest(start_server,
                                                                      model_root):
    handle = start_server(model_name="half", model_base_path=str(model_root / "half"),
                          max_request_rows=3)
    ok = handle.predict.Predict(predict_request(inputs={"x": np.ones((3, 3), np.float32)}),
                                timeout=10)
    assert outputs_of(ok)["y"].shape == (3, 3)
    error = rpc_error(handle.predict.Predict,
                      predict_request(inputs={"x": np.ones((4, 3), np.float32)}))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "has 4 rows" in error.details() and "--max_request_rows" in error.details()
    assert "limit of 3" in error.details()
    code, body = handle.rest("POST", "/v1/models/half:predict",
                             {"instances": np.ones((5, 3)).tolist()})
    assert code == 429 and "has 5 rows" in body["error"]
    # The server keeps answering requests within the limit.
    np.testing.assert_allclose(outputs_of(handle.predict.Predict(predict_request(),
                                                                 timeout=10))["y"], X / 2 + 3)
    code, body = handle.rest("POST", "/v1/models/half:predict", {"instances": X.tolist()})
    assert code == 200
    np.testing.assert_allclose([row["y"] for row in body["predictions"]], X / 2 + 3)


@pytest.mark.parametrize("flag", ["max_request_rows", "memory_release_threshold_bytes"])
def test_memory_flags_parse(flag):
    from serving.main import build_parser, options_from_args

    options = options_from_args(build_parser().parse_args([f"--{flag}=7"]))
    assert getattr(options, flag) == 7


@pytest.mark.parametrize("flag", ["max_request_rows", "memory_release_threshold_bytes"])
def test_negative_memory_flags_are_refused_at_start(start_server, model_root, flag):
    from serving.status import ServingError

    with pytest.raises(ServingError, match=f"--{flag} must be 0 or more"):
        start_server(model_name="half", model_base_path=str(model_root / "half"),
                     **{flag: -1})

