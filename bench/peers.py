"""The model server against the Python servers users would pick instead: MLServer and KServe's
Python model server, on the same model, driven by the same client.

    python -m bench.peers [--duration 2] [--repeats 3] [--venvs DIR]

Each peer is installed by this benchmark into a venv of its own (under --venvs, default
`out/peer-venvs`; made once, reused after) and serves a custom model computing the same numpy
function as our SavedModel: the small MLP 4-8-2 of bench.serving (relu between layers). All
three speak the Open Inference Protocol over gRPC, so the client sends the same
ModelInferRequest bytes (raw_input_contents) to each; the outputs are checked equal first.
Printed: p50 at 1 caller and throughput at 32 callers, ours against each peer (higher is
better). A peer that cannot be installed or started here is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import numpy as np

from bench.harness import Row, print_table
from bench.serving import (
    GRPC_THREADS,
    _median_load,
    export_mlp,
    make_call,
    measure,
    model_server,
)

SIZES = (4, 8, 2)
INFER = "/inference.GRPCInferenceService/ModelInfer"
PEERS = {"MLServer": "mlserver", "KServe": "kserve"}
# What each venv installs: MLServer 1.7's inference workers need an event loop that uvloop
# 0.22 and later no longer make implicitly.
INSTALL = {"mlserver": ["mlserver", "uvloop<0.22"], "kserve": ["kserve"]}


def mlp_weights(sizes=SIZES, seed: int = 0) -> dict[str, np.ndarray]:
    """The weights bench.serving.export_mlp draws for `sizes`, in the same order."""
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        weights[f"w{i}"] = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(
            np.float32)
        weights[f"b{i}"] = np.zeros(n_out, np.float32)
    return weights


def infer_bytes(x: np.ndarray) -> bytes:
    from tensorslow import proto

    request = proto.message_class("inference.ModelInferRequest")(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.astype("<f4").tobytes())
    return request.SerializeToString()


def output_of(reply: bytes) -> np.ndarray:
    from tensorslow import proto

    response = proto.message_class("inference.ModelInferResponse").FromString(reply)
    out = response.outputs[0]
    if response.raw_output_contents:
        return np.frombuffer(response.raw_output_contents[0], "<f4").reshape(out.shape)
    return np.array(out.contents.fp32_contents, np.float32).reshape(out.shape)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the peers' models -------------------------------------------------------------------------
_MLSERVER_MODEL = '''
import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceResponse


class NumpyMLP(MLModel):
    async def load(self):
        with np.load(self.settings.parameters.uri, allow_pickle=False) as d:
            self.layers = [(d[f"w{i}"], d[f"b{i}"]) for i in range(len(d.files) // 2)]
        return True

    async def predict(self, payload):
        h = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        return InferenceResponse(model_name=self.name,
                                 outputs=[NumpyCodec.encode_output("y", h)])
'''

_KSERVE_MODEL = '''
import sys
import numpy as np
import kserve
from kserve import InferOutput, InferResponse


class NumpyMLP(kserve.Model):
    def __init__(self, name, path):
        super().__init__(name)
        with np.load(path, allow_pickle=False) as d:
            self.layers = [(d[f"w{i}"], d[f"b{i}"]) for i in range(len(d.files) // 2)]
        self.ready = True

    def predict(self, payload, headers=None):
        h = payload.inputs[0].as_numpy().astype(np.float32)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        out = InferOutput(name="y", shape=list(h.shape), datatype="FP32")
        out.set_data_from_numpy(h)
        return InferResponse(model_name=self.name, infer_outputs=[out], response_id=None)


if __name__ == "__main__":
    grpc_port, http_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    kserve.ModelServer(grpc_port=grpc_port, http_port=http_port).start(
        [NumpyMLP("m", path)])
'''


class PeerProcess:
    def __init__(self, command: list[str], cwd: str, port: int):
        self.port = port
        self.proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True
                         ).start()

    def wait_ready(self, payload: bytes, timeout: float = 120) -> None:
        import grpc

        deadline = time.monotonic() + timeout
        channel, call = make_call(self.port, INFER)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("exited:\n" + "".join(self.lines[-30:]))
                try:
                    call(payload, timeout=5)
                    return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("did not answer:\n" + "".join(self.lines[-30:])
                                           ) from None
                    time.sleep(0.5)
        finally:
            channel.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def peer_python(venvs: str, package: str) -> str:
    """The Python of a venv holding `package`, made (and `package` installed) on first use."""
    venv = os.path.join(venvs, package)
    python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, ".installed")
    if not os.path.exists(marker):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *INSTALL[package]], check=True,
                       timeout=1800)
        open(marker, "w").close()
    return python


def start_peer(name: str, python: str, workdir: str, weights_path: str) -> PeerProcess:
    port = free_port()
    model_dir = os.path.join(workdir, name)
    os.makedirs(model_dir, exist_ok=True)
    if name == "MLServer":
        with open(os.path.join(model_dir, "peer_model.py"), "w") as f:
            f.write(textwrap.dedent(_MLSERVER_MODEL))
        with open(os.path.join(model_dir, "model-settings.json"), "w") as f:
            json.dump({"name": "m", "implementation": "peer_model.NumpyMLP",
                       "parameters": {"uri": weights_path}}, f)
        with open(os.path.join(model_dir, "settings.json"), "w") as f:
            json.dump({"grpc_port": port, "http_port": free_port(),
                       "metrics_port": free_port(), "host": "127.0.0.1"}, f)
        mlserver = os.path.join(os.path.dirname(python), "mlserver")
        return PeerProcess([mlserver, "start", "."], model_dir, port)
    script = os.path.join(model_dir, "peer_model.py")
    with open(script, "w") as f:
        f.write(textwrap.dedent(_KSERVE_MODEL))
    return PeerProcess([python, script, str(port), str(free_port()), weights_path], model_dir,
                       port)


# -- the comparison ----------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--venvs", default=os.path.join("out", "peer-venvs"))
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="bench-peers-")
    weights = mlp_weights()
    weights_path = os.path.join(workdir, "weights.npz")
    np.savez(weights_path, **weights)
    ours_dir = os.path.join(workdir, "ours")
    export_mlp(os.path.join(ours_dir, "1"), SIZES)
    x = np.random.default_rng(1).standard_normal((1, SIZES[0])).astype(np.float32)
    payload = infer_bytes(x)

    servers = {"ours": model_server(ours_dir, f"--grpc_max_threads={GRPC_THREADS}")}
    try:
        for name in args.peers.split(","):
            try:
                python = peer_python(args.venvs, PEERS[name])
                peer = start_peer(name, python, workdir, weights_path)
                servers[name] = peer
                peer.wait_ready(payload)
            except (OSError, RuntimeError, subprocess.SubprocessError, KeyError) as e:
                print(f"{name}: not measured: {e}", file=sys.stderr)
                servers.pop(name, None)
        calls = {k: make_call(s.port, INFER) for k, s in servers.items()}
        expected = output_of(calls["ours"][1](payload, timeout=30))
        for name, (_, call) in calls.items():
            got = output_of(call(payload, timeout=30))
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6,
                                       err_msg=f"{name} computes another function")
        loads: dict[str, dict[int, list]] = {k: {1: [], 32: []} for k in servers}
        for _ in range(args.repeats):
            for level in (1, 32):
                for name, (_, call) in calls.items():  # servers take turns
                    loads[name][level].append(measure(call, payload, level, args.duration))
        for channel, _ in calls.values():
            channel.close()
    finally:
        for server in servers.values():
            server.stop()
    median = {k: {level: _median_load(v, level) for level, v in by.items()}
              for k, by in loads.items()}
    rows = []
    for name in servers:
        if name == "ours":
            continue
        rows += [Row(f"V2 ModelInfer, 1 caller (1/p50) vs {name}",
                     1e3 / median["ours"][1].p50_ms, 1e3 / median[name][1].p50_ms, name, "/s",
                     target=1.0),
                 Row(f"V2 ModelInfer, 32 callers vs {name}", median["ours"][32].throughput,
                     median[name][32].throughput, name, "/s", target=1.0)]
    print_table("Against the Python servers users would pick instead (higher is better)", rows)
    for name in servers:
        print(f"{name}: p50 {median[name][1].p50_ms:.3f} ms at 1 caller, "
              f"{median[name][32].throughput:.0f}/s and p50 {median[name][32].p50_ms:.2f} ms "
              "at 32 callers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
