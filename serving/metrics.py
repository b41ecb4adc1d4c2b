"""Per-model request metrics, exported in Prometheus' text format under TF Serving's names.

    :tensorflow:serving:request_count{model_name, API, entrypoint, status}   counter
    :tensorflow:serving:request_latency{model_name, API, entrypoint}         histogram, in us
    :tensorflow:serving:model_available_versions{model_name}                 gauge
    :tensorflow:serving:batching_session:{batches,batched_requests,batched_rows,padded_rows}
                                                  {model_name}  counters, with batching on

The model_name label only takes the names of configured models (others count as
"<unknown>"), so clients sending arbitrary names cannot grow the exported series.

Thread-safety: record() and exposition() may be called from any thread.

Across worker processes (`--num_workers`), each worker writes its counts to a JSON file of
its own in a directory they share (TENSORSLOW_METRICS_DIR, made by the supervisor) when it
answers a scrape and once a second, and a scrape sums every worker's file: the counts of all
workers, those of a worker that died included (counters never go back), each at most a second
old but for the worker answering.
"""

from __future__ import annotations

import bisect
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Collection

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
AVAILABLE_VERSIONS = ":tensorflow:serving:model_available_versions"
UNKNOWN_MODEL = "<unknown>"
SHARED_DIR_ENV = "TENSORSLOW_METRICS_DIR"
BATCH_COUNTERS = (":tensorflow:serving:batching_session:batches",
                  ":tensorflow:serving:batching_session:batched_requests",
                  ":tensorflow:serving:batching_session:batched_rows",
                  ":tensorflow:serving:batching_session:padded_rows")

# Microseconds: 10 us to about 20 min, growing by 1.8 (TensorFlow Serving's buckets).
LATENCY_BUCKETS_US = tuple(10 * 1.8**i for i in range(33))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=False)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


class _Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self):
        self.counts = [0] * (len(LATENCY_BUCKETS_US) + 1)
        self.total = 0.0
        self.count = 0


class Metrics:
    """The server's request metrics. `known_models` says which model names are labels."""

    def __init__(self, known_models: Callable[[], Collection[str]],
                 available_versions: Callable[[str], int],
                 batch_stats: Callable[[], dict[str, tuple[int, ...]]] | None = None):
        self._known_models = known_models
        self._available_versions = available_versions
        self._batch_stats = batch_stats
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, str], int] = {}
        self._latency: dict[tuple[str, str, str], _Histogram] = {}
        self._shared_dir = os.environ.get(SHARED_DIR_ENV) or None
        if self._shared_dir is not None:
            threading.Thread(target=self._write_periodically, name="serving-metrics",
                             daemon=True).start()

    # -- sharing across worker processes -------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        with self._lock:
            counts = dict(self._counts)
            latency = {k: (list(h.counts), h.total, h.count) for k, h in self._latency.items()}
        return counts, latency

    def _write_snapshot(self) -> None:
        counts, latency = self._state()
        data = json.dumps({"counts": [[*k, v] for k, v in counts.items()],
                           "latency": [[*k, *v] for k, v in latency.items()]})
        path = os.path.join(self._shared_dir, f"worker-{os.getpid()}.json")
        fd, tmp = tempfile.mkstemp(dir=self._shared_dir, prefix=".metrics-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            try:
                os.remove(tmp)
            except OSError:
                pass

    def _write_periodically(self) -> None:
        while True:
            time.sleep(1.0)
            self._write_snapshot()

    def _merged_state(self) -> tuple[dict, dict]:
        """Every worker's counts summed (this one's as they are now)."""
        self._write_snapshot()
        counts: dict = {}
        latency: dict = {}
        try:
            names = os.listdir(self._shared_dir)
        except OSError:
            return self._state()
        for name in names:
            if not (name.startswith("worker-") and name.endswith(".json")):
                continue
            try:
                with open(os.path.join(self._shared_dir, name), encoding="utf-8") as f:
                    data = json.load(f)
                for *key, value in data["counts"]:
                    counts[tuple(key)] = counts.get(tuple(key), 0) + int(value)
                for *key, buckets, total, count in data["latency"]:
                    mine = latency.setdefault(tuple(key), [[0] * len(buckets), 0.0, 0])
                    mine[0] = [a + int(b) for a, b in zip(mine[0], buckets, strict=False)]
                    mine[1] += float(total)
                    mine[2] += int(count)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a file being replaced, or not one of ours: skipped this scrape
        return counts, {k: tuple(v) for k, v in latency.items()}

    def record(self, model_name: str, api: str, entrypoint: str, status: str,
               seconds: float) -> None:
        if model_name not in self._known_models():
            model_name = UNKNOWN_MODEL
        micros = seconds * 1e6
        bucket = bisect.bisect_left(LATENCY_BUCKETS_US, micros)
        count_key = (model_name, api, entrypoint, status)
        latency_key = (model_name, api, entrypoint)
        with self._lock:
            self._counts[count_key] = self._counts.get(count_key, 0) + 1
            histogram = self._latency.get(latency_key)
            if histogram is None:
                histogram = self._latency[latency_key] = _Histogram()
            histogram.counts[bucket] += 1
            histogram.total += micros
            histogram.count += 1

    def exposition(self) -> str:
        counts, latency = self._merged_state() if self._shared_dir else self._state()
        lines = [f"# TYPE {REQUEST_COUNT} counter"]
        count_labels = ("model_name", "API", "entrypoint", "status")
        for key, value in sorted(counts.items()):
            lines.append(f"{REQUEST_COUNT}{_labels(count_labels, key)} {value}")
        lines.append(f"# TYPE {REQUEST_LATENCY} histogram")
        latency_labels = ("model_name", "API", "entrypoint")
        for key, (buckets, total, count) in sorted(latency.items()):
            cumulative = 0
            for bound, n in zip(LATENCY_BUCKETS_US, buckets, strict=False):
                cumulative += n
                le = f'le="{bound:.6g}"'
                lines.append(f"{REQUEST_LATENCY}_bucket{_labels(latency_labels, key, le)} "
                             f"{cumulative}")
            inf = 'le="+Inf"'
            lines.append(f"{REQUEST_LATENCY}_bucket{_labels(latency_labels, key, inf)} {count}")
            lines.append(f"{REQUEST_LATENCY}_sum{_labels(latency_labels, key)} {total:.6g}")
            lines.append(f"{REQUEST_LATENCY}_count{_labels(latency_labels, key)} {count}")
        lines.append(f"# TYPE {AVAILABLE_VERSIONS} gauge")
        for name in sorted(self._known_models()):
            lines.append(f"{AVAILABLE_VERSIONS}{_labels(('model_name',), (name,))} "
                         f"{self._available_versions(name)}")
        if self._batch_stats is not None:
            stats = self._batch_stats()
            for index, metric in enumerate(BATCH_COUNTERS):
                lines.append(f"# TYPE {metric} counter")
                for name, values in sorted(stats.items()):
                    lines.append(f"{metric}{_labels(('model_name',), (name,))} {values[index]}")
        return "\n".join(lines) + "\n"
