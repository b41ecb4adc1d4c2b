"""The input pipeline at run time: a dataset's stages as Python iterators over numpy elements.

A pipeline is described by plain data (so it travels inside a GraphDef attr and a worker can
rebuild it without running code from it): a source and a list of stages,

    {"source": {"kind": "slices"},                      the components, row by row
     "stages": [{"kind": "shuffle", "buffer_size": 100, "seed": [1, 2], "reshuffle": true},
                {"kind": "repeat", "count": -1},
                {"kind": "batch", "batch_size": 32, "drop_remainder": false}, ...]}

source kinds: "slices" (rows of the components), "tensors" (the components, once), "range"
(start, stop, step). Stage kinds: shuffle, repeat, batch, shard, take, skip, map (by index into
the list of serialized function graphs). An element is a tuple of numpy arrays, one per
component.

Determinism: a seeded shuffle draws from numpy's PCG64 seeded by (seeds..., epoch path), so
the same pipeline yields the same elements in the same order in every process, and
`Pipeline.skip_to(n)` can rebuild the state after n elements by replaying (what restoring an
iterator's position from a checkpoint does). The random orders are not TensorFlow's.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator

import numpy as np

from tensorslow.framework import errors

Element = tuple
Factory = Callable[[tuple], Iterator[Element]]  # epoch path -> a fresh iterator


def encode_spec(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def decode_spec(text) -> dict:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise errors.InvalidArgumentError(None, None, f"bad dataset spec: {e}") from None
    if not isinstance(spec, dict) or "source" not in spec or "stages" not in spec:
        raise errors.InvalidArgumentError(None, None, "bad dataset spec: needs source and "
                                          "stages")
    return spec


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _slices(components: tuple) -> Factory:
    return _rows(_slice_arrays(components))


def _rows(arrays: list[np.ndarray]) -> Factory:
    n = arrays[0].shape[0]

    def rows(path):
        return (tuple(a[i] for a in arrays) for i in range(n))
    return rows


def _slice_arrays(components: tuple) -> list[np.ndarray]:
    if not components:
        raise errors.InvalidArgumentError(None, None, "from_tensor_slices needs a component")
    arrays = [np.asarray(c) for c in components]
    for a in arrays:
        if a.ndim == 0:
            raise errors.InvalidArgumentError(None, None, "from_tensor_slices: a component "
                                              "is a scalar; each needs a first dimension")
    n = arrays[0].shape[0]
    for a in arrays[1:]:
        if a.shape[0] != n:
            raise errors.InvalidArgumentError(
                None, None, f"from_tensor_slices: dimension 0 of the components differs "
                f"({n} != {a.shape[0]})")
    return arrays


def _sliced_blocks(arrays: list[np.ndarray], batch_size: int, drop_remainder: bool
                   ) -> Factory:
    """from_tensor_slices(...).batch(...) as whole blocks of rows: the same batches as
    stacking the rows one by one, without a Python step per row."""
    if batch_size < 1:
        raise errors.InvalidArgumentError(None, None, "batch: batch_size must be >= 1")
    n = arrays[0].shape[0]
    stop = n - n % batch_size if drop_remainder else n

    def blocks(path):
        return (tuple(np.array(a[i:i + batch_size]) for a in arrays)
                for i in range(0, stop, batch_size))
    return blocks


def _select_rows(arrays: list[np.ndarray], stage: dict) -> list[np.ndarray] | None:
    """The rows a shard, take or skip stage keeps of a slices source, as views of its arrays;
    None for any other stage."""
    kind = stage.get("kind")
    if kind == "shard":
        num_shards, index = int(stage["num_shards"]), int(stage["index"])
        if num_shards < 1 or not 0 <= index < num_shards:
            return None  # the row-by-row stage says what is wrong
        rows = slice(index, None, num_shards)
    elif kind == "take":
        count = int(stage["count"])
        rows = slice(None) if count < 0 else slice(0, count)
    elif kind == "skip":
        count = int(stage["count"])
        rows = slice(0, 0) if count < 0 else slice(count, None)
    else:
        return None
    return [a[rows] for a in arrays]


def _tensors(components: tuple) -> Factory:
    element = tuple(np.asarray(c) for c in components)

    def once(path):
        return iter((element,))
    return once


def _range(start: int, stop: int, step: int) -> Factory:
    if step == 0:
        raise errors.InvalidArgumentError(None, None, "range: step must not be 0")

    def numbers(path):
        return ((np.array(i, dtype=np.int64),) for i in range(start, stop, step))
    return numbers


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------


def _shuffle(upstream: Factory, buffer_size: int, seed, reshuffle: bool) -> Factory:
    if buffer_size < 1:
        raise errors.InvalidArgumentError(None, None, "shuffle: buffer_size must be >= 1")
    entropy = None if seed is None else list(seed)
    if entropy is None:
        entropy = [int(np.random.SeedSequence().entropy % (1 << 63))]

    def shuffled(path):
        key = entropy + (list(path) if reshuffle else [])
        rng = np.random.default_rng(key)
        buffer: list = []
        for element in upstream(path):
            if len(buffer) < buffer_size:
                buffer.append(element)
                continue
            i = int(rng.integers(len(buffer)))
            yield buffer[i]
            buffer[i] = element
        while buffer:
            i = int(rng.integers(len(buffer)))
            buffer[i], buffer[-1] = buffer[-1], buffer[i]
            yield buffer.pop()
    return shuffled


def _repeat(upstream: Factory, count: int) -> Factory:
    def repeated(path):
        epochs = itertools.count() if count < 0 else range(count)
        for epoch in epochs:
            produced = False
            for element in upstream(path + (epoch,)):
                produced = True
                yield element
            if not produced:
                return  # an empty dataset repeated forever is still empty
    return repeated


def _batch(upstream: Factory, batch_size: int, drop_remainder: bool) -> Factory:
    if batch_size < 1:
        raise errors.InvalidArgumentError(None, None, "batch: batch_size must be >= 1")

    def batched(path):
        it = upstream(path)
        while True:
            rows = list(itertools.islice(it, batch_size))
            if not rows or (drop_remainder and len(rows) < batch_size):
                return
            yield tuple(_stack([row[k] for row in rows], k) for k in range(len(rows[0])))
    return batched


def _stack(values: list, component: int) -> np.ndarray:
    try:
        return np.stack(values)
    except ValueError:
        shapes = sorted({np.shape(v) for v in values})
        raise errors.InvalidArgumentError(
            None, None, f"Cannot batch tensors with different shapes in component "
            f"{component}: {shapes[:3]}") from None


def _shard(upstream: Factory, num_shards: int, index: int) -> Factory:
    if num_shards < 1 or not 0 <= index < num_shards:
        raise errors.InvalidArgumentError(
            None, None, f"shard: index {index} is not in [0, num_shards={num_shards})")

    def sharded(path):
        return itertools.islice(upstream(path), index, None, num_shards)
    return sharded


def _take(upstream: Factory, count: int) -> Factory:
    def taken(path):
        it = upstream(path)
        return it if count < 0 else itertools.islice(it, count)
    return taken


def _skip(upstream: Factory, count: int) -> Factory:
    def skipped(path):
        it = upstream(path)
        return itertools.islice(it, count, None) if count >= 0 else iter(())
    return skipped


def _map(upstream: Factory, fn: Callable[[Element], Element]) -> Factory:
    def mapped(path):
        return (fn(element) for element in upstream(path))
    return mapped


# --------------------------------------------------------------------------------------------
# A pipeline
# --------------------------------------------------------------------------------------------


class Pipeline:
    """The running state of one iterator: the element iterator and how many it produced."""

    def __init__(self, spec: dict, components: tuple, functions: list[Callable]):
        self._spec = spec
        self._components = components
        self._functions = functions
        self._factory = build_factory(spec, components, functions)
        self._iterator = self._factory(())
        self.position = 0

    def next(self) -> Element:
        """The next element; OutOfRangeError at the end."""
        try:
            element = next(self._iterator)
        except StopIteration:
            raise errors.OutOfRangeError(None, None, "End of sequence") from None
        self.position += 1
        return element

    def restarted(self) -> Pipeline:
        return Pipeline(self._spec, self._components, self._functions)

    def skip_to(self, position: int) -> None:
        """Replays from the start until `position` elements were produced."""
        if position < self.position:
            fresh = self.restarted()
            self._iterator, self.position = fresh._iterator, 0
        while self.position < position:
            try:
                self.next()
            except errors.OutOfRangeError:
                return


def build_factory(spec: dict, components: tuple, functions: list[Callable]) -> Factory:
    source = spec["source"]
    kind = source.get("kind")
    stages = list(spec["stages"])
    if kind == "slices":
        factory = _slices_prefix(components, stages)
    elif kind == "tensors":
        factory = _tensors(components)
    elif kind == "range":
        factory = _range(int(source["start"]), int(source["stop"]), int(source["step"]))
    else:
        raise errors.InvalidArgumentError(None, None, f"unknown dataset source {kind!r}")
    for stage in stages:
        kind = stage.get("kind")
        if kind == "shuffle":
            factory = _shuffle(factory, int(stage["buffer_size"]), stage.get("seed"),
                               bool(stage.get("reshuffle", True)))
        elif kind == "repeat":
            factory = _repeat(factory, int(stage["count"]))
        elif kind == "batch":
            factory = _batch(factory, int(stage["batch_size"]),
                             bool(stage.get("drop_remainder", False)))
        elif kind == "shard":
            factory = _shard(factory, int(stage["num_shards"]), int(stage["index"]))
        elif kind == "take":
            factory = _take(factory, int(stage["count"]))
        elif kind == "skip":
            factory = _skip(factory, int(stage["count"]))
        elif kind == "map":
            index = int(stage["function"])
            if not 0 <= index < len(functions):
                raise errors.InvalidArgumentError(None, None, f"map stage names function "
                                                  f"{index}, which does not exist")
            factory = _map(factory, functions[index])
        else:
            raise errors.InvalidArgumentError(None, None, f"unknown dataset stage {kind!r}")
    return factory


def _slices_prefix(components: tuple, stages: list) -> Factory:
    """The factory of a slices source and the stages it can run as array slicing (shard,
    take and skip, then a batch), which it removes from `stages`; the others run row by
    row."""
    arrays = _slice_arrays(components)
    selected = arrays
    used = 0
    for stage in stages:
        if stage.get("kind") == "batch":
            del stages[:used + 1]
            # a shard's rows are gathered once here, not out of strided rows at every batch
            # (which costs about six times a contiguous copy)
            selected = [np.ascontiguousarray(a) for a in selected]
            return _sliced_blocks(selected, int(stage["batch_size"]),
                                  bool(stage.get("drop_remainder", False)))
        selected = _select_rows(selected, stage)
        if selected is None:
            break
        used += 1
    return _rows(arrays)
