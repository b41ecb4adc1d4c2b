"""The model server against the Python servers users would pick instead: MLServer and KServe's
Python model server, on the same model, driven by the same client.

    python -m bench.peers [--duration 2] [--repeats 3] [--venvs DIR]

Each peer is installed by this benchmark into a venv of its own (under --venvs, default
`out/peer-venvs`; made once, reused after) and serves a custom model computing the same numpy
function as our SavedModel: the small MLP 4-8-2 of bench.serving (relu between layers). All
three speak the Open Inference Protocol over gRPC, so the client sends the same
ModelInferRequest bytes (raw_input_contents) to each; the outputs are checked equal first.
Printed: p50 at 1 caller and throughput at 32 callers, ours against each peer, and for the
heavy MLP 784-4096-4096-10 at 32 callers our best (batching on or off) against each peer with
its batching off and on (MLServer's adaptive batching, 32 requests or 2 ms; KServe's Python
server has no batching of its own). Higher is better. A peer that cannot be installed or
started here is reported and skipped.
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
    HEAVY_SIZES,
    _median_load,
    export_mlp,
    make_call,
    measure,
    model_server,
    stop_process,
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
        stop_process(self.proc, timeout=20)


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


def start_peer(name: str, python: str, workdir: str, weights_path: str,
               batching: bool = False) -> PeerProcess:
    """`name` (MLServer or KServe) serving the MLP of `weights_path`; with `batching`,
    MLServer's adaptive batching (32 requests or 2 ms, as our batching file says)."""
    port = free_port()
    model_dir = os.path.join(workdir, f"{name}-{os.path.basename(weights_path)}-{batching}")
    os.makedirs(model_dir, exist_ok=True)
    if name == "MLServer":
        with open(os.path.join(model_dir, "peer_model.py"), "w") as f:
            f.write(textwrap.dedent(_MLSERVER_MODEL))
        settings = {"name": "m", "implementation": "peer_model.NumpyMLP",
                    "parameters": {"uri": weights_path}}
        if batching:
            settings.update(max_batch_size=32, max_batch_time=0.002)
        with open(os.path.join(model_dir, "model-settings.json"), "w") as f:
            json.dump(settings, f)
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
def compare(servers: dict, payload: bytes, levels, duration: float, repeats: int) -> dict:
    """Checks every server computes what the first does, then measures each at `levels`
    callers, taking turns: {server: {level: median Load}}."""
    calls = {k: make_call(s.port, INFER) for k, s in servers.items()}
    try:
        first = next(iter(calls))
        expected = output_of(calls[first][1](payload, timeout=60))
        for name, (_, call) in calls.items():
            np.testing.assert_allclose(output_of(call(payload, timeout=60)), expected,
                                       rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} computes another function")
        loads: dict = {k: {level: [] for level in levels} for k in servers}
        for _ in range(repeats):
            for level in levels:
                for name, (_, call) in calls.items():
                    loads[name][level].append(measure(call, payload, level, duration))
    finally:
        for channel, _ in calls.values():
            channel.close()
    return {k: {level: _median_load(v, level) for level, v in by.items()}
            for k, by in loads.items()}


def start_all(specs: dict, venvs: str, payload: bytes) -> dict:
    """{label: PeerProcess or ServerProcess} of `specs` ({label: a function starting it}),
    leaving out (and saying so) the peers that cannot be installed or started here."""
    servers = {}
    for label, start in specs.items():
        try:
            server = start()
            servers[label] = server
            if isinstance(server, PeerProcess):
                server.wait_ready(payload)
        except (OSError, RuntimeError, subprocess.SubprocessError, KeyError) as e:
            print(f"{label}: not measured: {e}", file=sys.stderr)
            server = servers.pop(label, None)
            if server is not None:
                server.stop()
    return servers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--venvs", default=os.path.join("out", "peer-venvs"))
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated")
    parser.add_argument("--no-heavy", action="store_true", help="skip the heavy model")
    args = parser.parse_args(argv)
    peers = [p for p in args.peers.split(",") if p]
    workdir = tempfile.mkdtemp(prefix="bench-peers-")
    pythons = {}
    for name in peers:
        try:
            pythons[name] = peer_python(args.venvs, PEERS[name])
        except (OSError, subprocess.SubprocessError, KeyError) as e:
            print(f"{name}: cannot be installed here: {e}", file=sys.stderr)
    rows = []

    # The small model, 1 and 32 callers.
    weights_path = os.path.join(workdir, "small.npz")
    np.savez(weights_path, **mlp_weights(SIZES))
    ours_dir = os.path.join(workdir, "ours-small")
    export_mlp(os.path.join(ours_dir, "1"), SIZES)
    payload = infer_bytes(np.random.default_rng(1).standard_normal((1, SIZES[0])))
    specs = {"ours": lambda: model_server(ours_dir, f"--grpc_max_threads={GRPC_THREADS}")}
    for name, python in pythons.items():
        specs[name] = lambda n=name, p=python: start_peer(n, p, workdir, weights_path)
    servers = start_all(specs, args.venvs, payload)
    try:
        small = compare(servers, payload, (1, 32), args.duration, args.repeats)
    finally:
        for server in servers.values():
            server.stop()
    for name in small:
        if name != "ours":
            rows += [Row(f"small model, 1 caller (1/p50) vs {name}",
                         1e3 / small["ours"][1].p50_ms, 1e3 / small[name][1].p50_ms, name,
                         "/s", target=1.0),
                     Row(f"small model, 32 callers vs {name}", small["ours"][32].throughput,
                         small[name][32].throughput, name, "/s", target=1.0)]

    heavy = {}
    if not args.no_heavy:
        # The heavy model at 32 callers, each server with its batching off and on (KServe's
        # Python server has none of its own).
        weights_path = os.path.join(workdir, "heavy.npz")
        np.savez(weights_path, **mlp_weights(HEAVY_SIZES))
        heavy_dir = os.path.join(workdir, "ours-heavy")
        export_mlp(os.path.join(heavy_dir, "1"), HEAVY_SIZES)
        batching_file = os.path.join(workdir, "batching.config")
        with open(batching_file, "w") as f:
            f.write("max_batch_size { value: 32 } batch_timeout_micros { value: 2000 } "
                    "num_batch_threads { value: 1 } max_enqueued_batches { value: 1000 }")
        payload = infer_bytes(np.random.default_rng(1).standard_normal((1, HEAVY_SIZES[0])))
        threads = "--grpc_max_threads=64"
        specs = {"ours": lambda: model_server(heavy_dir, threads),
                 "ours, batching": lambda: model_server(
                     heavy_dir, threads, "--enable_batching",
                     f"--batching_parameters_file={batching_file}")}
        for name, python in pythons.items():
            specs[name] = lambda n=name, p=python: start_peer(n, p, workdir, weights_path)
            if name == "MLServer":
                specs[f"{name}, batching"] = lambda p=python: start_peer(
                    "MLServer", p, workdir, weights_path, batching=True)
        for label, start in specs.items():  # one heavy server at a time: they are large
            servers = start_all({label: start}, args.venvs, payload)
            try:
                if servers:
                    heavy.update(compare(servers, payload, (32,), max(args.duration, 3.0),
                                         args.repeats))
            finally:
                for server in servers.values():
                    server.stop()
        for label in heavy:
            if not label.startswith("ours"):
                best_ours = max(heavy[k][32].throughput for k in heavy if k.startswith("ours"))
                rows.append(Row(f"heavy {'-'.join(map(str, HEAVY_SIZES))}, 32 callers: our "
                                f"best vs {label}", best_ours, heavy[label][32].throughput,
                                label, "/s", target=1.0))

    print_table("Against the Python servers users would pick instead (higher is better)", rows)
    for name, by in small.items():
        print(f"small, {name}: p50 {by[1].p50_ms:.3f} ms at 1 caller; {by[32].throughput:.0f}/s "
              f"and p50 {by[32].p50_ms:.2f} ms at 32 callers")
    for name, by in heavy.items():
        print(f"heavy, {name}: {by[32].throughput:.0f}/s and p50 {by[32].p50_ms:.1f} ms at 32 "
              "callers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
