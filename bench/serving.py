"""Model server speed, against a raw gRPC echo server measured in the same run.

    python -m bench.serving [--plot out/serving_latency.png] [--duration 2] [--quick]

Three comparisons, each printed as a ratio:
  1. one call at a time, a small model: Predict p50 latency against the echo's (target <= 1.2x,
     shown as the calls/s those latencies allow, target >= 0.83x);
  2. 32 concurrent callers, the same model: Predict throughput against the echo's (>= 0.8x);
  3. a heavy model (784-4096-4096-10, float32) at 32 callers: throughput with --enable_batching
     against without (>= 2x);
  4. memory: the server as it ships against one keeping what a large request took
     (--memory_release_threshold_bytes=0): ordinary requests at 1 and 32 callers (>= 0.95x),
     and each one's RSS after three 32 MB requests (`--memory-only` runs just this);
  5. --num_workers=2 against 1 under 4 client processes of 8 callers each (`--workers-only`).
p50/p99 latencies are printed for each, and latency against load is plotted to a PNG.

The echo server is a generic bytes-in, bytes-out unary handler with the model server's gRPC
settings (sync server, same thread count and message limits), in its own process, echoing a
payload of the size of the Predict request. Both are driven by the same client: pre-serialized
request bytes on a raw channel, so the client's own cost is the same for both.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import numpy as np

from bench.harness import Row, print_table

PREDICT = "/tensorflow.serving.PredictionService/Predict"
ECHO = "/bench.Echo/Echo"
MAX_MESSAGE = (1 << 31) - 1
GRPC_THREADS = 8
HEAVY_SIZES = (784, 4096, 4096, 10)
LOAD_LEVELS = (1, 2, 4, 8, 16, 32, 64)


# -- servers in their own processes ------------------------------------------------------------
def run_echo_server(max_threads: int) -> None:
    """The baseline: echoes request bytes. Prints its port, serves until killed."""
    import grpc

    def echo(request: bytes, context) -> bytes:
        return request

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_threads),
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                  ("grpc.max_send_message_length", MAX_MESSAGE)])
    handler = grpc.unary_unary_rpc_method_handler(echo)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"Running echo at 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


class ServerProcess:
    def __init__(self, args: list[str]):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.port = None
        self.lines: list[str] = []
        pattern = re.compile(r"Running (?:gRPC ModelServer|echo) at [^:]+:(\d+)")
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                match = pattern.search(line)
                if match:
                    self.port = int(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(120) or self.port is None:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.lines))

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after `timeout` s, for a server process still running."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def model_server(base_path: str, *flags: str) -> ServerProcess:
    return ServerProcess(["-m", "serving.main", f"--model_base_path={base_path}",
                          "--model_name=m", "--host=127.0.0.1", "--port=-1", *flags])


# -- models ------------------------------------------------------------------------------------
def export_mlp(export_dir: str, sizes: tuple[int, ...], seed: int = 0) -> None:
    import tensorslow as ts
    from tensorslow.saved_model import signature_def_utils

    rng = np.random.default_rng(seed)
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, sizes[0]], name="x")
        h = x
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
            w = ts.Variable((rng.standard_normal((n_in, n_out)) / np.sqrt(n_in))
                            .astype(np.float32), name=f"w{i}")
            b = ts.Variable(np.zeros(n_out, np.float32), name=f"b{i}")
            h = ts.add(ts.matmul(h, w), b)
            if i < len(sizes) - 2:
                h = ts.nn.relu(h)
        y = ts.identity(h, name="y")
        sess = ts.Session(graph=g)
        sess.run(ts.global_variables_initializer())
        builder = ts.saved_model.builder.SavedModelBuilder(export_dir)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": signature_def_utils.predict_signature_def({"x": x}, {"y": y})})
        builder.save()


def predict_bytes(rows: int, width: int, seed: int = 0) -> bytes:
    from tensorslow import proto
    from tensorslow.framework import tensor_util

    request = proto.serving.PredictRequest()
    request.model_spec.name = "m"
    x = np.random.default_rng(seed).standard_normal((rows, width)).astype(np.float32)
    request.inputs["x"].CopyFrom(tensor_util.make_tensor_proto(x))
    return request.SerializeToString()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc status")


SPIKE_ROWS = 2_000_000  # a 32 MB float32 request to the small model


def measure_memory(small_dir: str, duration: float, repeats: int) -> tuple[list[Row], str]:
    """The server as it ships (memory released after large requests) against the same server
    keeping it (--memory_release_threshold_bytes=0): ordinary requests at 1 and 32 callers,
    taking turns, then each one's RSS after three 32 MB requests."""
    flags = [f"--grpc_max_threads={GRPC_THREADS}"]
    servers = {"release": model_server(small_dir, *flags),
               "keep": model_server(small_dir, *flags, "--memory_release_threshold_bytes=0")}
    payload, spike = predict_bytes(1, 4), predict_bytes(SPIKE_ROWS, 4)
    report = []
    try:
        calls = {k: make_call(s.port, PREDICT) for k, s in servers.items()}
        loads: dict[str, dict[int, list[Load]]] = {k: {1: [], 32: []} for k in servers}
        for _ in range(repeats):
            for level in (1, 32):
                for name, (_, call) in calls.items():
                    loads[name][level].append(measure(call, payload, level, duration))
        median = {k: {level: _median_load(v, level) for level, v in by.items()}
                  for k, by in loads.items()}
        returned = {}
        for name, server in servers.items():
            _, call = calls[name]
            for _ in range(50):
                call(payload, timeout=30)
            before = rss_bytes(server.proc.pid)
            for _ in range(3):
                call(spike, timeout=300)
            done = time.monotonic()
            peak = rss_bytes(server.proc.pid)
            back = None
            while time.monotonic() < done + 10:
                if rss_bytes(server.proc.pid) < before + 50 * 2**20:
                    back = time.monotonic() - done
                    break
                time.sleep(0.05)
            after = rss_bytes(server.proc.pid)
            returned[name] = back
            report.append(f"{name}: RSS {before / 2**20:.0f} MB before, {peak / 2**20:.0f} MB "
                          f"after three 32 MB requests, {after / 2**20:.0f} MB "
                          + (f"{back:.1f} s later (within +50 MB)" if back is not None else
                             "10 s later (not back within +50 MB)"))
        for channel, _ in calls.values():
            channel.close()
    finally:
        for server in servers.values():
            server.stop()
    rows = [Row("Predict p50 1 caller (1/p50): memory released vs kept",
                1e3 / median["release"][1].p50_ms, 1e3 / median["keep"][1].p50_ms,
                "memory kept", "/s", target=0.95),
            Row("Predict 32 callers: memory released vs kept", median["release"][32].throughput,
                median["keep"][32].throughput, "memory kept", "/s", target=0.95)]
    return rows, "\n".join(report)


CLIENT_PROCESSES = 4
CALLERS_PER_CLIENT = 8


def run_load_client(spec: str) -> None:
    """One client process of measure_workers: PORT,CALLERS,DURATION,START (a time.time() to
    start at, so the clients load the server together); prints its throughput and p50."""
    import json

    port, callers, duration, start = spec.split(",")
    channel, call = make_call(int(port), PREDICT)
    payload = predict_bytes(1, 4)
    for _ in range(100):
        call(payload, timeout=60)
    time.sleep(max(0.0, float(start) - time.time()))
    load = measure(call, payload, int(callers), float(duration))
    channel.close()
    print(json.dumps({"throughput": load.throughput, "p50_ms": load.p50_ms}))


def measure_workers(small_dir: str, duration: float, repeats: int) -> Row:
    """Throughput of the small model with --num_workers=2 against 1, loaded by
    CLIENT_PROCESSES client processes (each its own connection, CALLERS_PER_CLIENT callers)."""
    import json

    def load(port: int) -> float:
        start = time.time() + 3.0
        spec = f"{port},{CALLERS_PER_CLIENT},{duration},{start}"
        clients = [subprocess.Popen([sys.executable, "-m", "bench.serving", "--load-client",
                                     spec], stdout=subprocess.PIPE, text=True)
                   for _ in range(CLIENT_PROCESSES)]
        results = [json.loads(c.communicate(timeout=duration + 120)[0]) for c in clients]
        return sum(r["throughput"] for r in results)

    rates: dict[int, list[float]] = {1: [], 2: []}
    for count in (1, 2):
        server = model_server(small_dir, f"--grpc_max_threads={GRPC_THREADS}",
                              f"--num_workers={count}")
        try:
            for _ in range(repeats):
                rates[count].append(load(server.port))
        finally:
            server.stop()
    median = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
    return Row(f"Predict, {CLIENT_PROCESSES} client processes x {CALLERS_PER_CLIENT} callers: "
               "2 workers vs 1", median[2], median[1], "1 worker", "/s")


# -- the load generator ----------------------------------------------------------------------
class Load:
    """Throughput and latencies of `concurrency` callers for `duration` seconds."""

    def __init__(self, throughput: float, latencies: list[float]):
        self.throughput = throughput
        self.latencies = sorted(latencies)

    def percentile(self, q: float) -> float:
        values = self.latencies
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    @property
    def p50_ms(self) -> float:
        return self.percentile(0.5) * 1e3

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99) * 1e3


def make_call(port: int, method: str):
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE)])
    return channel, channel.unary_unary(method)  # bytes in, bytes out


def measure(call, payload: bytes, concurrency: int, duration: float) -> Load:
    for _ in range(min(200, 20 * concurrency)):  # warm up connections and caches
        call(payload, timeout=60)
    if concurrency == 1:
        latencies = []
        stop = time.perf_counter() + duration
        while True:
            start = time.perf_counter()
            call(payload, timeout=60)
            end = time.perf_counter()
            latencies.append(end - start)
            if end >= stop:
                return Load(len(latencies) / sum(latencies), latencies)
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    done = threading.Event()
    active = [concurrency]
    stop_at = time.perf_counter() + duration
    began = time.perf_counter()

    def issue() -> None:
        started = time.perf_counter()
        future = call.future(payload, timeout=60)
        future.add_done_callback(lambda f: finished(f, started))

    def finished(future, started: float) -> None:
        now = time.perf_counter()
        exception = future.exception()
        with lock:
            if exception is not None:
                errors.append(exception)
            else:
                latencies.append(now - started)
        if now < stop_at and not errors:
            issue()
            return
        with lock:
            active[0] -= 1
            if active[0] == 0:
                done.set()

    for _ in range(concurrency):
        issue()
    if not done.wait(duration + 120):
        raise RuntimeError("load generator timed out")
    if errors:
        raise RuntimeError(f"{len(errors)} calls failed, first: {errors[0]}")
    return Load(len(latencies) / (time.perf_counter() - began), latencies)


def _median_load(loads: list[Load], level: int) -> Load:
    """The run with the median throughput (1 caller: the median p50)."""
    key = (lambda load: -load.p50_ms) if level == 1 else (lambda load: load.throughput)
    return sorted(loads, key=key)[len(loads) // 2]


def sweep(call, payload: bytes, levels, duration: float) -> dict[int, Load]:
    return {level: measure(call, payload, level, duration) for level in levels}


# -- the report --------------------------------------------------------------------------------
def plot(path: str, curves: dict[str, dict[int, Load]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, loads in curves.items():
        levels = sorted(loads)
        throughput = [loads[c].throughput for c in levels]
        for ax, key in zip(axes, ("p50_ms", "p99_ms"), strict=True):
            ax.plot(throughput, [getattr(loads[c], key) for c in levels], marker="o",
                    label=name)
            for c in levels:
                ax.annotate(str(c), (loads[c].throughput, getattr(loads[c], key)),
                            fontsize=7, textcoords="offset points", xytext=(3, 3))
    for ax, title in zip(axes, ("p50 latency", "p99 latency"), strict=True):
        ax.set_xlabel("throughput (calls/s); points labelled by concurrent callers")
        ax.set_ylabel(f"{title} (ms)")
        ax.set_yscale("log")
        ax.set_title(f"{title} against load")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def latency_table(results: dict[str, Load]) -> None:
    print(f"\n| {'run':<52} | {'calls/s':>9} | {'p50 ms':>8} | {'p99 ms':>8} |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 10}|{'-' * 10}|")
    for name, load in results.items():
        print(f"| {name:<52} | {load.throughput:>9,.0f} | {load.p50_ms:>8.3f} | "
              f"{load.p99_ms:>8.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("--plot", default="out/serving_latency.png", help="PNG to write")
    parser.add_argument("--duration", type=float, default=2.0,
                        help="seconds per measurement (default 2)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of the 1- and 32-caller points; medians kept (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer load levels and shorter runs")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the memory comparison (release after large requests)")
    parser.add_argument("--workers-only", action="store_true",
                        help="only --num_workers=2 against 1, under client processes")
    parser.add_argument("--echo-server", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    parser.add_argument("--load-client", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_server:
        run_echo_server(args.echo_server)
        return 0
    if args.load_client:
        run_load_client(args.load_client)
        return 0
    duration = 1.0 if args.quick else args.duration
    levels = (1, 8, 32) if args.quick else LOAD_LEVELS

    workdir = tempfile.mkdtemp(prefix="bench-serving-")
    small_dir = os.path.join(workdir, "small")
    heavy_dir = os.path.join(workdir, "heavy")
    export_mlp(os.path.join(small_dir, "1"), (4, 8, 2))
    export_mlp(os.path.join(heavy_dir, "1"), HEAVY_SIZES)
    small_payload = predict_bytes(1, 4)
    heavy_payload = predict_bytes(1, HEAVY_SIZES[0])
    if args.workers_only:
        print_table("Model server worker processes",
                    [measure_workers(small_dir, duration, args.repeats)])
        return 0
    if args.memory_only:
        rows, report = measure_memory(small_dir, duration, args.repeats)
        print_table("Model server memory (ratios against the same server keeping memory)", rows)
        print("\n" + report)
        return 0
    batching_file = os.path.join(workdir, "batching.config")
    with open(batching_file, "w") as f:
        f.write("max_batch_size { value: 32 } batch_timeout_micros { value: 2000 } "
                "num_batch_threads { value: 1 } max_enqueued_batches { value: 1000 }")

    servers = []
    try:
        echo = ServerProcess(["-m", "bench.serving", "--echo-server", str(GRPC_THREADS)])
        servers.append(echo)
        small = model_server(small_dir, f"--grpc_max_threads={GRPC_THREADS}")
        servers.append(small)
        echo_channel, echo_call = make_call(echo.port, ECHO)
        small_channel, small_call = make_call(small.port, PREDICT)
        # Interleave the two, so drift on a shared machine hits both alike; the two points
        # the targets use are measured `repeats` times and the medians kept.
        echo_loads, predict_loads = {}, {}
        for level in levels:
            runs = args.repeats if level in (1, 32) else 1
            pairs = [(measure(echo_call, small_payload, level, duration),
                      measure(small_call, small_payload, level, duration))
                     for _ in range(runs)]
            echo_loads[level] = _median_load([e for e, _ in pairs], level)
            predict_loads[level] = _median_load([p for _, p in pairs], level)
        echo_channel.close()
        small_channel.close()
        for server in (echo, small):
            server.stop()

        heavy_levels = (1, 8, 32)
        heavy_threads = "--grpc_max_threads=64"  # enough threads for 32 callers to meet
        plain = model_server(heavy_dir, heavy_threads)
        servers.append(plain)
        channel, call = make_call(plain.port, PREDICT)
        plain_loads = sweep(call, heavy_payload, heavy_levels, max(duration, 3.0))
        channel.close()
        plain.stop()
        batched = model_server(heavy_dir, heavy_threads, "--enable_batching",
                               f"--batching_parameters_file={batching_file}")
        servers.append(batched)
        channel, call = make_call(batched.port, PREDICT)
        batched_loads = sweep(call, heavy_payload, heavy_levels, max(duration, 3.0))
        channel.close()
        batched.stop()
    finally:
        for server in servers:
            server.stop()

    one_echo, one_predict = echo_loads[1], predict_loads[1]
    rows = [
        Row("Predict, 1 call at a time (1/p50), small model", 1e3 / one_predict.p50_ms,
            1e3 / one_echo.p50_ms, "gRPC echo", "/s", target=1 / 1.2),
        Row("Predict, 32 callers, small model", predict_loads[32].throughput,
            echo_loads[32].throughput, "gRPC echo", "/s", target=0.8),
        Row("Heavy 784-4096-4096-10, 32 callers, batching", batched_loads[32].throughput,
            plain_loads[32].throughput, "no batching", "/s", target=2.0),
    ]
    memory_rows, memory_report = measure_memory(small_dir, duration, args.repeats)
    rows += [*memory_rows, measure_workers(small_dir, duration, args.repeats)]
    print_table("Model server (ratios against baselines measured in this run)", rows)
    print("\n" + memory_report)
    print(f"\nPredict p50 latency, 1 call at a time: {one_predict.p50_ms:.3f} ms against "
          f"{one_echo.p50_ms:.3f} ms for the echo = "
          f"{one_predict.p50_ms / one_echo.p50_ms:.2f}x (target <= 1.2x)")
    latency_table({
        "echo, 1 caller": one_echo, "Predict small, 1 caller": one_predict,
        "echo, 32 callers": echo_loads[32], "Predict small, 32 callers": predict_loads[32],
        "heavy, no batching, 1 caller": plain_loads[1],
        "heavy, batching, 1 caller": batched_loads[1],
        "heavy, no batching, 32 callers": plain_loads[32],
        "heavy, batching, 32 callers": batched_loads[32],
    })
    plot(args.plot, {"gRPC echo": echo_loads, "Predict, small model": predict_loads,
                     "heavy model, no batching": plain_loads,
                     "heavy model, batching": batched_loads})
    print(f"\nlatency against load: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
