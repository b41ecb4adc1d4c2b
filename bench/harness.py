"""Timing helpers: medians of repeated timed loops, and a printed table of ratios.

The machine is shared and noisy, so each measurement is the median of several repeats of a
loop long enough to dwarf the timer's resolution, and only ratios between measurements taken
in the same run are reported.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A loop: runs the measured thing n times and returns the seconds it took. Loops let a
# measurement in another process (TensorFlow's, say) take turns with ours.
Loop = Callable[[int], float]


def timed_loop(fn: Callable[[], object]) -> Loop:
    """The loop of calling `fn` in this process."""
    def loop(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - start
    return loop


def _loop_size(loop: Loop, min_time: float) -> int:
    """How many calls take about `min_time` seconds (after a warm-up call for plan
    compilation and caches)."""
    loop(1)
    n = 1
    while True:
        elapsed = loop(n)
        if elapsed >= min_time / 4:
            break
        n *= 4
    return max(1, int(n * (min_time / max(elapsed, 1e-9))))


def rate(fn: Callable[[], object], *, min_time: float = 0.2, repeats: int = 5) -> float:
    """Calls per second of `fn`: the median over `repeats` loops of at least `min_time` s."""
    return loop_rates({"fn": timed_loop(fn)}, min_time=min_time, repeats=repeats)["fn"]


def rates_interleaved(fns: dict[str, Callable[[], object]], *, min_time: float = 0.2,
                      repeats: int = 7) -> dict[str, float]:
    """Calls per second of each function, measured in alternating loops so that a burst of
    load on a shared machine hits all of them alike; the median per function."""
    return loop_rates({name: timed_loop(fn) for name, fn in fns.items()},
                      min_time=min_time, repeats=repeats)


def loop_rates(loops: dict[str, Loop], *, min_time: float = 0.2,
               repeats: int = 7) -> dict[str, float]:
    """Calls per second of each loop, the loops taking turns `repeats` times; medians."""
    sizes = {name: _loop_size(loop, min_time) for name, loop in loops.items()}
    samples: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):
        for name, loop in loops.items():
            samples[name].append(sizes[name] / loop(sizes[name]))
    return {name: statistics.median(values) for name, values in samples.items()}


def median_seconds(fn: Callable[[], object], *, repeats: int = 5) -> float:
    """Median wall time of one call of `fn` (for long operations)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Row:
    name: str
    ours: float
    baseline: float
    baseline_name: str
    unit: str
    target: float | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n## {title}")
    print(f"| {'benchmark':<48} | {'ours':>12} | {'baseline':>22} | {'ratio':>7} | target |")
    print(f"|{'-' * 50}|{'-' * 14}|{'-' * 24}|{'-' * 9}|--------|")
    for r in rows:
        target = f">= {r.target:.2g}x" if r.target is not None else ""
        base = f"{_num(r.baseline)} {r.unit} ({r.baseline_name})"
        print(f"| {r.name:<48} | {_num(r.ours):>8} {r.unit} | {base:>22} | "
              f"{r.ratio:>6.2f}x | {target:<6} |")


# -- TensorFlow's loops, in a process of its own -----------------------------------------------

def tensorflow_python() -> str | None:
    """A Python with TensorFlow: TENSORSLOW_BENCH_TF_PYTHON, else this one if it has it."""
    python = os.environ.get("TENSORSLOW_BENCH_TF_PYTHON")
    if python:
        return python
    return sys.executable if importlib.util.find_spec("tensorflow") else None


class TensorFlowLoops:
    """A suite's programs built on TensorFlow in a process of their own, each timed on request,
    so that its loops take turns with ours (both then see the same load on a shared machine).

    `module` is the suite (`bench.core`, say): run with `--serve-tensorflow-loops` (and
    `args`) it calls `serve_loops` with its programs. Keras 2 is asked for (TF_USE_LEGACY_KERAS)
    so that the tf.compat.v1 layers and RNN cells are TF1's.
    """

    def __init__(self, python: str, module: str, args: Sequence[str] = ()):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        self.proc = subprocess.Popen([python, "-m", module, "--serve-tensorflow-loops", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=root, env=env)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.close()
            raise RuntimeError(f"TensorFlow programs failed to build:\n{line}"
                               f"{self.proc.stderr.read()[-2000:]}")

    def loop(self, key: str) -> Loop:
        def run(n: int) -> float:
            self.proc.stdin.write(f"{key} {n}\n")
            self.proc.stdin.flush()
            return float(self.proc.stdout.readline())
        return run

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def serve_loops(builders: dict[str, Callable], *, v1_control_flow: bool = False) -> None:
    """The other end of TensorFlowLoops: builds each program on `tensorflow.compat.v1` in
    graph mode (`builders[key](tf)` returns the call to time), then answers "key n" lines
    with the seconds n calls took. `v1_control_flow` builds while_loop/cond as TF1 did
    (Enter/Exit/Switch/Merge) rather than as While/If functions."""
    import tensorflow.compat.v1 as tf

    tf.disable_eager_execution()
    if v1_control_flow:
        tf.disable_control_flow_v2()
    loops = {key: timed_loop(build(tf)) for key, build in builders.items()}
    print("ready", flush=True)
    for line in sys.stdin:
        key, n = line.split()
        print(loops[key](int(n)), flush=True)
