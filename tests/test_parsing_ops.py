"""ParseExample / ParseExampleV2 and ts.io.parse_example: dense and sparse features, defaults,
errors, GraphDef round trips, and (when TensorFlow is available) TF's own graph run here."""

import numpy as np
import pytest
from tf_live import requires_tensorflow, run_tf

import tensorslow as ts
from tensorslow import proto
from tensorslow.framework import errors
from tensorslow.ops import parsing_ops


def make_example(**features) -> bytes:
    """A serialized tf.Example: float lists, int lists, and bytes lists by the value type."""
    example = proto.Example()
    for key, values in features.items():
        feature = example.features.feature[key]
        if values and isinstance(values[0], float):
            feature.float_list.value.extend(values)
        elif values and isinstance(values[0], int):
            feature.int64_list.value.extend(values)
        elif values:
            feature.bytes_list.value.extend(values)
    return example.SerializeToString()


def batch(*examples) -> np.ndarray:
    arr = np.empty(len(examples), dtype=object)
    arr[:] = list(examples)
    return arr


def run_parse(features, examples, **kwargs):
    """(result dict of parse_example, fetched values: dense arrays and SparseTensorValues)."""
    g = ts.Graph()
    with g.as_default():
        serialized = ts.placeholder(ts.string, [None], name="serialized")
        parsed = ts.io.parse_example(serialized, features, **kwargs)
        with ts.Session(graph=g) as sess:
            values = {key: (t.eval({serialized: examples}, session=sess)
                            if isinstance(t, ts.SparseTensor)
                            else sess.run(t, {serialized: examples}))
                      for key, t in parsed.items()}
    return parsed, values


# --------------------------------------------------------------------------------------------
# Dense features
# --------------------------------------------------------------------------------------------


def test_dense_float_int_string_features():
    examples = batch(make_example(f=[1.0, 2.0], i=[7], s=[b"a", b"bc", b"d"]),
                     make_example(f=[3.5, -1.0], i=[-2], s=[b"", b"x", b"y"]))
    parsed, values = run_parse({"f": ts.io.FixedLenFeature([2], ts.float32),
                                "i": ts.io.FixedLenFeature([], ts.int64),
                                "s": ts.io.FixedLenFeature([3], ts.string)}, examples)
    assert parsed["f"].dtype == ts.float32 and parsed["f"].shape.as_list() == [None, 2]
    assert parsed["i"].dtype == ts.int64 and parsed["i"].shape.as_list() == [None]
    assert parsed["s"].dtype == ts.string and parsed["s"].shape.as_list() == [None, 3]
    np.testing.assert_array_equal(values["f"], np.array([[1, 2], [3.5, -1]], np.float32))
    assert values["f"].dtype == np.float32
    np.testing.assert_array_equal(values["i"], np.array([7, -2], np.int64))
    assert values["i"].dtype == np.int64
    assert values["s"].dtype == object
    assert values["s"].tolist() == [[b"a", b"bc", b"d"], [b"", b"x", b"y"]]


def test_dense_matrix_shape_and_defaults():
    features = {"m": ts.io.FixedLenFeature([2, 3], ts.float32,
                                           default_value=np.arange(6, dtype=np.float32)),
                "k": ts.io.FixedLenFeature([], ts.int64, default_value=-1),
                "w": ts.io.FixedLenFeature([1], ts.string, default_value=[b"none"])}
    examples = batch(make_example(m=[float(v) for v in range(10, 16)], k=[3], w=[b"yes"]),
                     make_example())
    parsed, values = run_parse(features, examples)
    assert parsed["m"].shape.as_list() == [None, 2, 3]
    np.testing.assert_array_equal(values["m"], [np.arange(10, 16).reshape(2, 3),
                                                np.arange(6).reshape(2, 3)])
    np.testing.assert_array_equal(values["k"], [3, -1])
    assert values["w"].tolist() == [[b"yes"], [b"none"]]


def test_missing_required_feature_names_key_and_index():
    examples = batch(make_example(x=[1.0]), make_example(y=[2.0]))
    with pytest.raises(errors.InvalidArgumentError) as info:
        run_parse({"x": ts.io.FixedLenFeature([1], ts.float32)}, examples)
    message = info.value.message
    assert "Key: x, Index: 1" in message and "is required but could not be found" in message


def test_example_names_appear_in_errors():
    examples = batch(make_example(x=[1.0]), make_example())
    with pytest.raises(errors.InvalidArgumentError, match="Name: second, Key: x, Index: 1"):
        run_parse({"x": ts.io.FixedLenFeature([1], ts.float32)}, examples,
                  example_names=["first", "second"])


def test_wrong_number_of_values():
    examples = batch(make_example(x=[1.0, 2.0]), make_example(x=[1.0, 2.0, 3.0]))
    with pytest.raises(errors.InvalidArgumentError) as info:
        run_parse({"x": ts.io.FixedLenFeature([2], ts.float32)}, examples)
    assert "Key: x, Index: 1" in info.value.message
    assert "Number of float values != expected" in info.value.message
    assert "Values size: 3 but output shape: [2]" in info.value.message


def test_wrong_value_type():
    with pytest.raises(errors.InvalidArgumentError) as info:
        run_parse({"x": ts.io.FixedLenFeature([1], ts.float32)}, batch(make_example(x=[5])))
    assert "Key: x, Index: 0" in info.value.message
    assert "Data type: int64 but expected type: float" in info.value.message


def test_malformed_serialized_example():
    examples = batch(make_example(x=[1.0]), b"\xff\xff not a proto")
    with pytest.raises(errors.InvalidArgumentError) as info:
        run_parse({"x": ts.io.FixedLenFeature([1], ts.float32)}, examples)
    assert "Could not parse example input, value:" in info.value.message
    assert "example index 1" in info.value.message


def test_batch_of_zero_examples():
    _, values = run_parse({"x": ts.io.FixedLenFeature([2], ts.float32),
                           "s": ts.io.VarLenFeature(ts.int64)}, batch())
    assert values["x"].shape == (0, 2) and values["x"].dtype == np.float32
    assert values["s"].indices.shape == (0, 2)
    assert values["s"].values.shape == (0,) and values["s"].values.dtype == np.int64
    np.testing.assert_array_equal(values["s"].dense_shape, [0, 0])


def test_default_with_wrong_size_is_a_build_error():
    with pytest.raises(ValueError, match="Cannot reshape"):
        with ts.Graph().as_default():
            ts.io.parse_example(ts.placeholder(ts.string, [None]),
                                {"x": ts.io.FixedLenFeature([2], ts.float32, [1.0])})


def test_unknown_dimension_in_fixed_len_feature_is_rejected():
    with pytest.raises(ValueError, match="need to be known"):
        with ts.Graph().as_default():
            ts.io.parse_example(ts.placeholder(ts.string, [None]),
                                {"x": ts.io.FixedLenFeature([None], ts.float32)})


def test_fixed_len_sequence_feature_pads_with_default():
    examples = batch(make_example(x=[1.0, 2.0, 3.0, 4.0]), make_example(),
                     make_example(x=[5.0, 6.0]))
    parsed, values = run_parse({"x": ts.io.FixedLenSequenceFeature(
        [2], ts.float32, allow_missing=True, default_value=-1.0)}, examples)
    assert parsed["x"].shape.as_list() == [None, None, 2]
    np.testing.assert_array_equal(values["x"], [[[1, 2], [3, 4]], [[-1, -1], [-1, -1]],
                                                [[5, 6], [-1, -1]]])


# --------------------------------------------------------------------------------------------
# Sparse features
# --------------------------------------------------------------------------------------------


def test_var_len_features_are_sparse_tensors():
    examples = batch(make_example(t=[b"a", b"b"], n=[1, 2, 3]), make_example(n=[4]),
                     make_example(t=[b"c"]))
    parsed, values = run_parse({"t": ts.io.VarLenFeature(ts.string),
                                "n": ts.VarLenFeature(ts.int64)}, examples)
    assert isinstance(parsed["t"], ts.SparseTensor)
    assert parsed["t"].dtype == ts.string and parsed["n"].dtype == ts.int64
    t, n = values["t"], values["n"]
    assert isinstance(t, ts.SparseTensorValue)
    np.testing.assert_array_equal(t.indices, [[0, 0], [0, 1], [2, 0]])
    assert t.values.tolist() == [b"a", b"b", b"c"]
    np.testing.assert_array_equal(t.dense_shape, [3, 2])
    np.testing.assert_array_equal(n.indices, [[0, 0], [0, 1], [0, 2], [1, 0]])
    np.testing.assert_array_equal(n.values, [1, 2, 3, 4])
    assert n.indices.dtype == np.int64 and n.dense_shape.dtype == np.int64
    np.testing.assert_array_equal(n.dense_shape, [3, 3])


def test_sparse_float_with_all_missing():
    _, values = run_parse({"v": ts.io.VarLenFeature(ts.float32)},
                          batch(make_example(), make_example(other=[1])))
    assert values["v"].indices.shape == (0, 2)
    assert values["v"].values.dtype == np.float32
    np.testing.assert_array_equal(values["v"].dense_shape, [2, 0])


def test_parse_single_example():
    g = ts.Graph()
    with g.as_default():
        serialized = ts.placeholder(ts.string, [])
        parsed = ts.io.parse_single_example(serialized, {
            "x": ts.io.FixedLenFeature([2], ts.float32),
            "v": ts.io.VarLenFeature(ts.int64)})
        assert parsed["x"].shape.as_list() == [2]
        with ts.Session(graph=g) as sess:
            feed = {serialized: make_example(x=[1.0, 2.0], v=[5, 6, 7])}
            x = sess.run(parsed["x"], feed)
            v = parsed["v"].eval(feed, session=sess)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(v.indices, [[0], [1], [2]])
    np.testing.assert_array_equal(v.values, [5, 6, 7])
    np.testing.assert_array_equal(v.dense_shape, [3])


def test_feature_descriptions_are_tf_namedtuples():
    assert ts.io.FixedLenFeature([2], ts.float32) == ([2], ts.float32, None)
    assert ts.io.FixedLenFeature._fields == ("shape", "dtype", "default_value")
    assert ts.io.VarLenFeature._fields == ("dtype",)
    assert ts.FixedLenFeature is ts.io.FixedLenFeature and ts.VarLenFeature is ts.io.VarLenFeature
    assert ts.parse_example is ts.io.parse_example
    assert ts.io.FixedLenSequenceFeature([1], ts.int64).allow_missing is False


def test_ops_are_not_differentiable():
    from tensorslow.framework.ops import get_gradient_function

    g = ts.Graph()
    with g.as_default():
        parsed = ts.io.parse_example(ts.placeholder(ts.string, [None]),
                                     {"x": ts.io.FixedLenFeature([1], ts.float32, [0.0])})
        assert get_gradient_function(parsed["x"].op) is None


# --------------------------------------------------------------------------------------------
# GraphDef round trips: the op and attr names survive, for both ops
# --------------------------------------------------------------------------------------------


ROUND_TRIP_EXAMPLES = batch(make_example(a=[1.0, 2.0], b=[3], c=[b"p", b"q"]),
                            make_example(b=[4]))


def _run_imported(graph_def, fetch_names):
    g = ts.Graph()
    with g.as_default():
        ts.import_graph_def(graph_def, name="")
        with ts.Session(graph=g) as sess:
            return sess.run(fetch_names, {"serialized:0": ROUND_TRIP_EXAMPLES})


def test_parse_example_v2_graph_def_round_trip():
    g = ts.Graph()
    with g.as_default():
        serialized = ts.placeholder(ts.string, [None], name="serialized")
        parsed = ts.io.parse_example(serialized, {
            "a": ts.io.FixedLenFeature([2], ts.float32, [0.5, 0.5]),
            "b": ts.io.FixedLenFeature([], ts.int64),
            "c": ts.io.VarLenFeature(ts.string)})
        fetches = [parsed["a"], parsed["b"], parsed["c"].indices, parsed["c"].values,
                   parsed["c"].dense_shape]
        with ts.Session(graph=g) as sess:
            expected = sess.run(fetches, {serialized: ROUND_TRIP_EXAMPLES})
    graph_def = ts.GraphDef.FromString(g.as_graph_def().SerializeToString())
    node = next(n for n in graph_def.node if n.op == "ParseExampleV2")
    assert set(node.attr) >= {"Tdense", "num_sparse", "sparse_types", "ragged_value_types",
                              "ragged_split_types", "dense_shapes"}
    got = _run_imported(graph_def, [t.name for t in fetches])
    for e, v in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, v)
    np.testing.assert_array_equal(got[0], [[1, 2], [0.5, 0.5]])
    np.testing.assert_array_equal(got[2], [[0, 0], [0, 1]])


def test_parse_example_v1_graph_def_round_trip():
    g = ts.Graph()
    with g.as_default():
        serialized = ts.placeholder(ts.string, [None], name="serialized")
        outputs = parsing_ops.parse_example_raw(
            serialized, names=[], sparse_keys=["c"], dense_keys=["a", "b"],
            dense_defaults=[np.array([9.0, 9.0], np.float32), np.empty([0], np.int64)],
            sparse_types=[ts.string], dense_shapes=[[2], []])
        assert len(outputs) == 5  # indices, values, shapes (one sparse), two dense
        with ts.Session(graph=g) as sess:
            expected = sess.run(outputs, {serialized: ROUND_TRIP_EXAMPLES})
    graph_def = ts.GraphDef.FromString(g.as_graph_def().SerializeToString())
    node = next(n for n in graph_def.node if n.op == "ParseExample")
    assert set(node.attr) == {"Nsparse", "Ndense", "sparse_types", "Tdense", "dense_shapes"}
    assert node.attr["Nsparse"].i == 1 and node.attr["Ndense"].i == 2
    got = _run_imported(graph_def, [t.name for t in outputs])
    for e, v in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, v)
    np.testing.assert_array_equal(got[0], [[0, 0], [0, 1]])
    assert got[1].tolist() == [b"p", b"q"]
    np.testing.assert_array_equal(got[2], [2, 2])
    np.testing.assert_array_equal(got[3], [[1, 2], [9, 9]])
    np.testing.assert_array_equal(got[4], [3, 4])


def test_ragged_keys_are_unsupported_with_a_clear_error():
    from tensorslow.framework.ops import make_op

    g = ts.Graph()
    with g.as_default():
        serialized = ts.placeholder(ts.string, [None])
        empty = np.empty([0], object)
        op = make_op("ParseExampleV2",
                     [serialized, ts.constant(empty, ts.string), ts.constant(empty, ts.string),
                      ts.constant(empty, ts.string),
                      ts.constant(np.array([b"r"], object), ts.string)],
                     {"Tdense": [], "num_sparse": 0, "sparse_types": [],
                      "ragged_value_types": [ts.int64], "ragged_split_types": [ts.int64],
                      "dense_shapes": []})
        with ts.Session(graph=g) as sess, pytest.raises(errors.UnimplementedError,
                                                        match="ragged"):
            sess.run(op.outputs[0], {serialized: batch(make_example())})


# --------------------------------------------------------------------------------------------
# Live: TensorFlow's own parse_example graph, imported and run here
# --------------------------------------------------------------------------------------------


_TF_SCRIPT = """
    import sys, numpy as np, tensorflow.compat.v1 as tf
    tf.disable_eager_execution()
    out_dir = sys.argv[1]

    examples = [bytes.fromhex(line) for line in open(out_dir + "/examples.txt").read().split()]
    with tf.Graph().as_default() as g:
        serialized = tf.placeholder(tf.string, [None], name="serialized")
        parsed = tf.io.parse_example(serialized, {
            "f": tf.io.FixedLenFeature([2], tf.float32, default_value=[9.0, 8.0]),
            "i": tf.io.FixedLenFeature([], tf.int64),
            "s": tf.io.VarLenFeature(tf.string)})
        names = [parsed["f"], parsed["i"], parsed["s"].indices, parsed["s"].values,
                 parsed["s"].dense_shape]
        v1 = tf.raw_ops.ParseExample(  # TF1's op, as TF 1.x graphs hold it
            serialized=serialized, names=tf.constant([], tf.string), sparse_keys=["s"],
            dense_keys=["f", "i"], sparse_types=[tf.string], dense_shapes=[[2], []],
            dense_defaults=[tf.constant([9.0, 8.0]), tf.constant([], tf.int64)], name="v1")
        names += [v1.dense_values[0], v1.dense_values[1], v1.sparse_indices[0],
                  v1.sparse_values[0], v1.sparse_shapes[0]]
        with tf.Session() as sess:
            f, i, idx, vals, shape, *v1_out = sess.run(names, {serialized: examples})
        for ours, theirs in zip([f, i, idx, vals, shape], v1_out):
            assert (np.asarray(ours) == np.asarray(theirs)).all()
    open(out_dir + "/graph.pb", "wb").write(g.as_graph_def().SerializeToString())
    open(out_dir + "/ops.txt", "w").write(
        " ".join(n.op for n in g.as_graph_def().node) + "\\n"
        + "\\n".join(t.name for t in names))
    np.savez(out_dir + "/tf_out.npz", f=f, i=i, indices=idx,
             values=np.array(list(vals), dtype="S"), dense_shape=shape)
"""


@requires_tensorflow
def test_tensorflow_parse_example_graph_runs_here(tmp_path):
    examples = batch(make_example(f=[1.5, 2.5], i=[7], s=[b"a", b"bc"]), make_example(i=[-3]),
                     make_example(f=[0.0, -1.0], i=[11], s=[b"zz"]))
    (tmp_path / "examples.txt").write_text("\n".join(e.hex() for e in examples))
    run_tf(_TF_SCRIPT, str(tmp_path))
    op_types, *fetch_names = (tmp_path / "ops.txt").read_text().splitlines()
    assert {"ParseExampleV2", "ParseExample"} <= set(op_types.split())
    with np.load(tmp_path / "tf_out.npz", allow_pickle=False) as data:
        tf_out = {key: data[key] for key in data.files}
    graph_def = ts.GraphDef.FromString((tmp_path / "graph.pb").read_bytes())
    g = ts.Graph()
    with g.as_default():
        ts.import_graph_def(graph_def, name="")
        with ts.Session(graph=g) as sess:
            f, i, indices, values, dense_shape, *v1_out = sess.run(
                fetch_names, {"serialized:0": examples})
    for ours_v2, ours_v1 in zip([f, i, indices, values, dense_shape], v1_out, strict=True):
        np.testing.assert_array_equal(ours_v1, ours_v2)
    np.testing.assert_array_equal(f, tf_out["f"])
    assert f.dtype == np.float32
    np.testing.assert_array_equal(i, tf_out["i"])
    assert i.dtype == np.int64
    np.testing.assert_array_equal(indices, tf_out["indices"])
    assert [bytes(v) for v in values] == [bytes(v) for v in tf_out["values"]]
    np.testing.assert_array_equal(dense_shape, tf_out["dense_shape"])
    np.testing.assert_array_equal(f, [[1.5, 2.5], [9.0, 8.0], [0.0, -1.0]])
