"""Versions on a real server: policies, hot swap under load, failed and half-written versions,
config reloads, warmup files."""

from __future__ import annotations

import gc
import json
import shutil
import threading
import time
import weakref

import grpc
import numpy as np
import pytest
import serving_models
from conftest import config_text, wait_for

from serving import tfrecord
from serving.client import model_spec
from serving.status import ServingError
from tensorslow import proto
from tensorslow.framework import tensor_util

X = np.array([[2.0, 4.0, 6.0]], np.float32)
AVAILABLE = proto.serving.ModelVersionStatus.AVAILABLE
END = proto.serving.ModelVersionStatus.END


def predict(handle, model="m", timeout=10, **spec):
    request = proto.serving.PredictRequest()
    request.model_spec.CopyFrom(model_spec(model, **spec))
    request.inputs["x"].CopyFrom(tensor_util.make_tensor_proto(X))
    return handle.predict.Predict(request, timeout=timeout)


def version_states(handle, model="m") -> dict[int, int]:
    request = proto.serving.GetModelStatusRequest()
    request.model_spec.name = model
    try:
        response = handle.models.GetModelStatus(request, timeout=10)
    except grpc.RpcError:
        return {}
    return {s.version: s.state for s in response.model_version_status}


def test_version_policies(start_server, tmp_path):
    base = tmp_path / "m"
    for version in (1, 2, 3):
        serving_models.export_half_plus(str(base), version, offset=version)
    (base / "tmp-export").mkdir()
    (base / "4x").mkdir()
    config = tmp_path / "models.config"
    config.write_text(config_text([
        {"name": "latest2", "base_path": str(base), "policy": "latest { num_versions: 2 }"},
        {"name": "all", "base_path": str(base), "policy": "all {}"},
        {"name": "specific", "base_path": str(base),
         "policy": "specific { versions: 1 versions: 3 }"},
        {"name": "default", "base_path": str(base)}]))
    handle = start_server(model_config_file=str(config))
    assert version_states(handle, "latest2") == {3: AVAILABLE, 2: AVAILABLE}
    assert version_states(handle, "all") == {3: AVAILABLE, 2: AVAILABLE, 1: AVAILABLE}
    assert version_states(handle, "specific") == {3: AVAILABLE, 1: AVAILABLE}
    assert version_states(handle, "default") == {3: AVAILABLE}
    assert predict(handle, "specific", version=1).model_spec.version.value == 1


def test_hot_swap_under_load_has_no_failed_requests(start_server, tmp_path):
    base = tmp_path / "m"
    serving_models.export_half_plus(str(base), 1, offset=1.0)
    handle = start_server(model_name="m", model_base_path=str(base))
    stop = threading.Event()
    failures, seen = [], []

    def grpc_client() -> None:
        versions = []
        while not stop.is_set():
            try:
                response = predict(handle)
                version = response.model_spec.version.value
                y = tensor_util.make_ndarray(response.outputs["y"])
                np.testing.assert_allclose(y, X / 2 + version)  # offset == version
                versions.append(version)
            except Exception as e:  # noqa: BLE001 - counted as a failed request
                failures.append(e)
        seen.append(versions)

    def rest_client() -> None:
        while not stop.is_set():
            status, body = handle.rest("POST", "/v1/models/m:predict",
                                       {"inputs": X.tolist()})
            if status != 200:
                failures.append((status, body))

    threads = [threading.Thread(target=grpc_client) for _ in range(6)]
    threads += [threading.Thread(target=rest_client) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for version in (2, 3):
            serving_models.export_half_plus(str(base), version, offset=version)
            wait_for(lambda v=version: version_states(handle) .get(v) == AVAILABLE
                     and all(s == END for w, s in version_states(handle).items() if w < v),
                     timeout=15, what=f"version {version} to replace the old ones")
        time.sleep(0.2)  # let the clients run on the last version too
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
    assert not failures, failures[:3]
    for versions in seen:
        assert versions == sorted(versions), "a client went back to an older version"
        assert versions[-1] == 3
    assert sum(len(v) for v in seen) > 50


def test_new_version_serves_within_seconds_with_one_second_polling(start_server, tmp_path):
    base = tmp_path / "m"
    serving_models.export_half_plus(str(base), 1, offset=1.0)
    handle = start_server(model_name="m", model_base_path=str(base),
                          file_system_poll_wait_seconds=1)
    started = time.monotonic()
    serving_models.export_half_plus(str(base), 2, offset=2.0)
    wait_for(lambda: predict(handle).model_spec.version.value == 2, timeout=10,
             what="version 2")
    assert time.monotonic() - started < 3.5


def test_in_flight_request_finishes_on_its_version(start_server, tmp_path):
    base = tmp_path / "slow"
    serving_models.export_slow(str(base), 1)
    handle = start_server(model_name="slow", model_base_path=str(base))
    result = {}

    def slow_call() -> None:
        request = proto.serving.PredictRequest()
        request.model_spec.name = "slow"
        request.inputs["x"].CopyFrom(tensor_util.make_tensor_proto(X))
        request.inputs["delay"].CopyFrom(tensor_util.make_tensor_proto(np.float32(1.5)))
        result["response"] = handle.predict.Predict(request, timeout=20)

    thread = threading.Thread(target=slow_call)
    thread.start()
    # The call holds version 1 (and sleeps 1.5 s in it) before version 2 appears.
    wait_for(lambda: handle.server.manager._harnesses["slow"][1].refs > 0,
             what="the call to hold version 1")
    serving_models.export_slow(str(base), 2)
    wait_for(lambda: version_states(handle, "slow").get(1) == proto.serving.ModelVersionStatus
             .UNLOADING, timeout=10, what="version 1 to wait for its request")
    assert version_states(handle, "slow")[2] == AVAILABLE
    thread.join(timeout=20)
    assert result["response"].model_spec.version.value == 1
    wait_for(lambda: version_states(handle, "slow").get(1) == END, what="version 1 to end")


def test_unloaded_versions_are_freed(start_server, tmp_path):
    base = tmp_path / "m"
    serving_models.export_half_plus(str(base), 1, offset=1.0)
    handle = start_server(model_name="m", model_base_path=str(base))
    with handle.server.manager.acquire("m") as held:
        servable = weakref.ref(held.servable)
        graph = weakref.ref(held.servable.session.graph)
    serving_models.export_half_plus(str(base), 2, offset=2.0)
    wait_for(lambda: version_states(handle).get(1) == END, timeout=10, what="version 1 to end")
    gc.collect()
    assert servable() is None and graph() is None, "an unloaded version is still referenced"


def test_failed_load_is_reported_while_the_old_version_serves(start_server, tmp_path):
    base = tmp_path / "m"
    serving_models.export_half_plus(str(base), 1, offset=1.0)
    handle = start_server(model_name="m", model_base_path=str(base))
    broken = base / "2"
    (broken / "variables").mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"\x08\x01\x12\xff\xff\xff garbage")
    wait_for(lambda: version_states(handle).get(2) == END, timeout=10, what="the failed load")
    request = proto.serving.GetModelStatusRequest()
    request.model_spec.name = "m"
    request.model_spec.version.value = 2
    (failed,) = handle.models.GetModelStatus(request, timeout=10).model_version_status
    assert failed.status.error_code == grpc.StatusCode.DATA_LOSS.value[0]
    assert "saved_model.pb" in failed.status.error_message
    assert predict(handle).model_spec.version.value == 1
    status, body = handle.rest("GET", "/v1/models/m/versions/2")
    assert body["model_version_status"][0]["status"]["error_code"] == "DATA_LOSS"
    # Fixed files are tried again.
    shutil.rmtree(broken)
    serving_models.export_half_plus(str(tmp_path / "good"), 2, offset=2.0)
    shutil.copytree(tmp_path / "good" / "2", broken)
    wait_for(lambda: predict(handle).model_spec.version.value == 2, timeout=10,
             what="the fixed version 2")


def test_half_written_version_is_not_loaded(start_server, tmp_path):
    base = tmp_path / "m"
    serving_models.export_half_plus(str(base), 1, offset=1.0)
    source = tmp_path / "export"
    serving_models.export_half_plus(str(source), 2, offset=2.0)
    handle = start_server(model_name="m", model_base_path=str(base))
    target = base / "2"
    (target / "variables").mkdir(parents=True)
    graph = (source / "2" / "saved_model.pb").read_bytes()
    with open(target / "saved_model.pb", "wb") as f:  # a slow copy, in pieces
        for start in range(0, len(graph), len(graph) // 4 + 1):
            f.write(graph[start:start + len(graph) // 4 + 1])
            f.flush()
            time.sleep(0.2)
            assert version_states(handle).get(2) is None
    for name in ("variables.index", "variables.data-00000-of-00001"):
        time.sleep(0.2)
        shutil.copy(source / "2" / "variables" / name, target / "variables" / name)
        assert version_states(handle).get(2) is None
    wait_for(lambda: predict(handle).model_spec.version.value == 2, timeout=10,
             what="version 2 once copied")
    request = proto.serving.GetModelStatusRequest()
    request.model_spec.name = "m"
    request.model_spec.version.value = 2
    (loaded,) = handle.models.GetModelStatus(request, timeout=10).model_version_status
    assert loaded.status.error_code == 0  # loaded once, complete


def test_reload_config_over_grpc(start_server, model_root, tmp_path):
    handle = start_server(model_name="half", model_base_path=str(model_root / "half"))
    request = proto.serving.ReloadConfigRequest()
    proto.parse_text(config_text([
        {"name": "two", "base_path": str(model_root / "two")},
        {"name": "half", "base_path": str(model_root / "half"), "policy": "all {}",
         "labels": {"old": 1}}]), request.config)
    response = handle.models.HandleReloadConfigRequest(request, timeout=30)
    assert response.status.error_code == 0
    assert version_states(handle, "two") == {1: AVAILABLE}
    assert predict(handle, "half", version_label="old").model_spec.version.value == 1
    # Removing a model unloads it.
    request.config.Clear()
    proto.parse_text(config_text([{"name": "two", "base_path": str(model_root / "two")}]),
                     request.config)
    handle.models.HandleReloadConfigRequest(request, timeout=30)
    wait_for(lambda: all(s == END for s in version_states(handle, "half").values()),
             what="half to unload")
    with pytest.raises(grpc.RpcError) as info:
        predict(handle, "half")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("models, code, message", [
    ([{"name": "x", "base_path": "/does/not/exist"}], grpc.StatusCode.NOT_FOUND,
     "Could not find base path /does/not/exist for servable x"),
    ([{"name": "x", "base_path": "/tmp"}, {"name": "x", "base_path": "/tmp"}],
     grpc.StatusCode.INVALID_ARGUMENT, "Illegal to list model x multiple times"),
])
def test_reload_config_errors_keep_the_old_config(start_server, model_root, models, code,
                                                  message):
    handle = start_server(model_name="half", model_base_path=str(model_root / "half"))
    request = proto.serving.ReloadConfigRequest()
    proto.parse_text(config_text(models), request.config)
    with pytest.raises(grpc.RpcError) as info:
        handle.models.HandleReloadConfigRequest(request, timeout=30)
    assert info.value.code() == code and message in info.value.details()
    assert predict(handle, "half").model_spec.version.value == 2


def test_model_config_file_is_polled(start_server, model_root, tmp_path):
    config = tmp_path / "models.config"
    config.write_text(config_text([{"name": "half", "base_path": str(model_root / "half")}]))
    handle = start_server(model_config_file=str(config),
                          model_config_file_poll_wait_seconds=0.2)
    config.write_text(config_text([{"name": "renamed", "base_path": str(model_root / "half")}]))
    wait_for(lambda: version_states(handle, "renamed").get(2) == AVAILABLE, timeout=10,
             what="the new config")
    wait_for(lambda: version_states(handle, "half").get(2) == END, timeout=10,
             what="the old model to go")


def _warmup_file(version_dir, requests) -> None:
    assets = version_dir / "assets.extra"
    assets.mkdir()
    logs = []
    for request in requests:
        log = proto.serving.PredictionLog()
        log.predict_log.request.CopyFrom(request)
        logs.append(log.SerializeToString())
    tfrecord.write_records(str(assets / "tf_serving_warmup_requests"), logs)


def test_warmup_requests_are_replayed_and_a_bad_one_fails_the_load(start_server, tmp_path):
    base = tmp_path / "m"
    good = proto.serving.PredictRequest()
    good.inputs["x"].CopyFrom(tensor_util.make_tensor_proto(X))
    bad = proto.serving.PredictRequest()
    bad.inputs["nope"].CopyFrom(tensor_util.make_tensor_proto(X))
    version_dir = tmp_path / "staging"
    serving_models.export_half_plus(str(version_dir), 1)
    _warmup_file(version_dir / "1", [good, good])
    shutil.move(str(version_dir / "1"), str(base / "1"))
    handle = start_server(model_name="m", model_base_path=str(base))
    assert predict(handle).model_spec.version.value == 1
    serving_models.export_half_plus(str(version_dir), 2)
    _warmup_file(version_dir / "2", [good, bad])
    shutil.move(str(version_dir / "2"), str(base / "2"))
    wait_for(lambda: version_states(handle).get(2) == END, timeout=10, what="version 2 fails")
    status, body = handle.rest("GET", "/v1/models/m/versions/2")
    assert "input tensor alias not found in signature: nope" in json.dumps(body)
    assert predict(handle).model_spec.version.value == 1


def test_startup_fails_for_a_missing_base_path(start_server):
    with pytest.raises(ServingError) as info:
        start_server(model_name="m", model_base_path="/does/not/exist")
    assert "Could not find base path /does/not/exist for servable m" in str(info.value)
