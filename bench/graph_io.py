"""Graph and tensor serialization against what protobuf itself costs.

- A 10,000-node graph: as_graph_def + SerializeToString + parse + import_graph_def, against
  protobuf alone serializing and parsing the same GraphDef (the floor: no conversion); then
  each half on its own: export (as_graph_def + SerializeToString) against SerializeToString,
  and import (parse + import_graph_def into a new graph) against parsing. Export is measured
  as repeated (each op's NodeDef is kept once made) and first (nothing kept yet). And the
  floor under import: making the graph's ops and tensors alone, nothing read or checked.
- The same round trip in TensorFlow's tf.compat.v1, in a process of its own (this Python when
  it has TensorFlow, or the one named by TENSORSLOW_BENCH_TF_PYTHON), its loop taking turns
  with ours.
- A 64 MB float32 array: make_tensor_proto against `tobytes()` + assigning tensor_content,
  and make_ndarray against `bytes(tensor_content)` + `np.frombuffer`.

    python -m bench.graph_io
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.harness import (
    Row,
    TensorFlowLoops,
    loop_rates,
    median_seconds,
    print_table,
    serve_loops,
    tensorflow_python,
    timed_loop,
)


def _chain_graph(tf, n: int):
    """relu(t·W + 1) chained until the graph has n ops (in TensorSlow or TensorFlow)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 8], name="x")
        w = tf.constant(np.ones((8, 8), np.float32))
        t = x
        while len(g.get_operations()) < n:
            t = tf.nn.relu(tf.matmul(t, w) + 1.0)
    return g


def _import(tf, blob: bytes) -> None:
    with tf.Graph().as_default():
        tf.import_graph_def(tf.GraphDef.FromString(blob), name="")


def round_trip(tf, g):
    """The call to time: graph `g` to bytes and into a new graph."""
    return lambda: _import(tf, g.as_graph_def().SerializeToString())


def objects_alone(g):
    """The call to time: just the Python objects an import of `g` makes (an Operation and
    its output Tensors for each op, wired to their inputs and named in a dict), with the
    collector paused as import pauses it, and nothing read or checked: the floor under any
    import written in Python that makes its ops at once."""
    from tensorslow.framework.graph_io import _collection_paused
    from tensorslow.framework.ops import Operation, Tensor

    plan = [(op._type, op._name, [(t._op._id, t._value_index) for t in op._inputs],
             [(t._dtype, t._shape) for t in op._outputs]) for op in g._ops]

    def make():
        with _collection_paused():
            ops, by_name = [], {}
            for op_type, name, inputs, outputs in plan:
                op = Operation.__new__(Operation)
                op._type, op._name = op_type, name
                op._inputs = tuple([ops[i]._outputs[k] for i, k in inputs])
                op._outputs = tuple([Tensor(op, k, dtype, shape)
                                     for k, (dtype, shape) in enumerate(outputs)])
                op._id = len(ops)
                ops.append(op)
                by_name[name] = op

    return make


def _tensorflow_loop(n: int):
    python = tensorflow_python()
    if not python:
        print("\n(no TensorFlow here and TENSORSLOW_BENCH_TF_PYTHON unset: no TensorFlow row "
              "this run)")
        return None
    try:
        return TensorFlowLoops(python, "bench.graph_io", ["--nodes", str(n)])
    except (OSError, RuntimeError) as e:
        print(f"TensorFlow baseline failed: {e}", file=sys.stderr)
        return None


def measure_graph(n: int = 10_000) -> list[Row]:
    import tensorslow as ts

    g = _chain_graph(ts, n)
    graph_def = g.as_graph_def()
    blob = graph_def.SerializeToString()
    nodes = len(graph_def.node)

    def first_export():
        for op in g._ops:
            op._node_def_encoding = None  # as just built (or imported): nothing kept
        g.as_graph_def().SerializeToString()

    loops = {
        "round trip": timed_loop(round_trip(ts, g)),
        "protobuf round trip": timed_loop(
            lambda: ts.GraphDef.FromString(graph_def.SerializeToString())),
        "export": timed_loop(lambda: g.as_graph_def().SerializeToString()),
        "first export": timed_loop(first_export),
        "serialize": timed_loop(graph_def.SerializeToString),
        "import": timed_loop(lambda: _import(ts, blob)),
        "parse": timed_loop(lambda: ts.GraphDef.FromString(blob)),
        "objects alone": timed_loop(objects_alone(g)),
    }
    tf_loops = _tensorflow_loop(n)
    try:
        if tf_loops is not None:
            loops["TensorFlow round trip"] = tf_loops.loop("round_trip")
        rates = loop_rates(loops, min_time=0.3, repeats=5)
    finally:
        if tf_loops is not None:
            tf_loops.close()
    print(f"\n{nodes:,}-node graph, us per node: " + ", ".join(
        f"{key} {1e6 / (rate * nodes):.2f}" for key, rate in rates.items()))
    what = f"graph of {nodes:,} nodes"
    rows = [Row(f"{what}: to bytes and back (graphs/s)", rates["round trip"],
                rates["protobuf round trip"], f"protobuf, {len(blob) / 1e6:.1f} MB", "/s", 0.1),
            Row(f"{what}: export (graphs/s)", rates["export"], rates["serialize"],
                "SerializeToString", "/s"),
            Row(f"{what}: first export (graphs/s)", rates["first export"], rates["serialize"],
                "SerializeToString", "/s"),
            Row(f"{what}: import (graphs/s)", rates["import"], rates["parse"], "FromString",
                "/s"),
            Row(f"{what}: its ops' objects alone, the floor (graphs/s)",
                rates["objects alone"], rates["parse"], "FromString", "/s")]
    if "TensorFlow round trip" in rates:
        rows.append(Row(f"{what}: to bytes and back (graphs/s)", rates["round trip"],
                        rates["TensorFlow round trip"], "tf.compat.v1", "/s"))
    return rows


def measure_tensors(megabytes: int = 64) -> list[Row]:
    from tensorslow import proto
    from tensorslow.framework.tensor_util import make_ndarray, make_tensor_proto

    arr = np.random.RandomState(0).rand(megabytes * 2**20 // 4).astype(np.float32)
    arr = arr.reshape(-1, 1024)
    encoded = make_tensor_proto(arr)

    def floor_write():
        msg = proto.TensorProto()
        msg.tensor_content = arr.tobytes()

    def floor_read():
        np.frombuffer(bytes(encoded.tensor_content), dtype="<f4")

    rows = []
    for name, ours, floor in (("make_tensor_proto", lambda: make_tensor_proto(arr),
                               floor_write),
                              ("make_ndarray", lambda: make_ndarray(encoded), floor_read)):
        t_ours, t_floor = median_seconds(ours, repeats=5), median_seconds(floor, repeats=5)
        rows.append(Row(f"{name}, {megabytes} MB float32 (calls/s)", 1 / t_ours,
                        1 / t_floor, "protobuf floor", "/s", 1 / 1.1))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--serve-tensorflow-loops", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_tensorflow_loops:
        serve_loops({"round_trip": lambda tf: round_trip(tf, _chain_graph(tf, args.nodes))})
        return
    rows = measure_graph(args.nodes) + measure_tensors()
    print_table("Serialization against protobuf's own cost (higher ratio is better)", rows)


if __name__ == "__main__":
    main()
