"""SavedModel export and load, MetaGraph export and import."""

import os
import re

import numpy as np
import pytest

import tensorslow as ts
from tensorslow import proto
from tensorslow.train import tensor_bundle


def _model():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None, 4], name="x")
        w = ts.Variable(np.random.RandomState(0).randn(4, 3).astype(np.float32), name="w")
        b = ts.Variable(np.linspace(-1, 1, 3).astype(np.float32), name="b")
        y = ts.nn.softmax(ts.matmul(x, w) + b, name="y")
        sess = ts.Session(graph=g)
        sess.run(ts.global_variables_initializer())
        sess.run(w.assign(w * 2.0))  # a value that differs from the initial one
    return g, sess, x, y


def test_simple_save_layout_and_proto(tmp_path):
    g, sess, x, y = _model()
    export = tmp_path / "1"
    ts.saved_model.simple_save(sess, str(export), inputs={"x": x}, outputs={"y": y})
    assert sorted(os.listdir(export)) == ["saved_model.pb", "variables"]
    assert sorted(os.listdir(export / "variables")) == [
        "variables.data-00000-of-00001", "variables.index"]
    saved = proto.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    assert saved.saved_model_schema_version == 1
    (meta,) = saved.meta_graphs
    assert list(meta.meta_info_def.tags) == ["serve"]
    sig = meta.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert sig.inputs["x"].name == "x:0" and sig.outputs["y"].name == "y:0"
    assert sig.inputs["x"].dtype == proto.DataType.Value("DT_FLOAT")
    assert [d.size for d in sig.inputs["x"].tensor_shape.dim] == [-1, 4]
    assert any(n.op == "VariableV2" for n in meta.graph_def.node)
    # TensorFlow's loader parses tensorflow_version as a version number: it must be one
    assert re.fullmatch(r"1\.\d+\.\d+", meta.meta_info_def.tensorflow_version)
    assert meta.meta_info_def.tensorflow_git_version.startswith("tensorslow-")
    # the variables are a TensorBundle TensorFlow reads
    assert b"w" in dict(tensor_bundle.read_table(
        (export / "variables" / "variables.index").read_bytes()))
    # nothing is left behind in the parent but the version itself
    assert os.listdir(tmp_path) == ["1"]


def test_load_restores_graph_and_values_in_a_new_session(tmp_path):
    g, sess, x, y = _model()
    xv = np.random.RandomState(1).randn(5, 4).astype(np.float32)
    expected = sess.run(y, {x: xv})
    ts.saved_model.simple_save(sess, str(tmp_path / "m"), inputs={"x": x}, outputs={"y": y})
    with ts.Graph().as_default() as g2:
        sess2 = ts.Session(graph=g2)
        meta = ts.saved_model.loader.load(sess2, [ts.saved_model.tag_constants.SERVING],
                                          str(tmp_path / "m"))
        sig = meta.signature_def["serving_default"]
        got = sess2.run(sig.outputs["y"].name, {sig.inputs["x"].name: xv})
        assert [v.op.name for v in ts.trainable_variables()] == ["w", "b"]
    np.testing.assert_array_equal(got, expected)


def test_builder_refuses_a_non_empty_export_dir(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ts.errors.AlreadyExistsError):
        ts.saved_model.builder.SavedModelBuilder(str(tmp_path / "taken"))


def test_builder_with_several_signatures_and_tags(tmp_path):
    g, sess, x, y = _model()
    with g.as_default():
        scores = ts.identity(y, name="scores")
        builder = ts.saved_model.builder.SavedModelBuilder(str(tmp_path / "m"))
        sigs = {"serving_default": ts.saved_model.signature_def_utils.predict_signature_def(
                    {"x": x}, {"y": y}),
                "scores": ts.saved_model.signature_def_utils.build_signature_def(
                    {"x": ts.saved_model.utils.build_tensor_info(x)},
                    {"s": ts.saved_model.utils.build_tensor_info(scores)},
                    ts.saved_model.signature_constants.PREDICT_METHOD_NAME)}
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=sigs)
        builder.add_meta_graph(["train"])
        builder.save()
    saved = proto.SavedModel.FromString((tmp_path / "m" / "saved_model.pb").read_bytes())
    assert sorted(saved.meta_graphs[0].signature_def) == ["scores", "serving_default"]
    assert [list(m.meta_info_def.tags) for m in saved.meta_graphs] == [["serve"], ["train"]]


def test_load_errors_name_the_problem(tmp_path):
    g, sess, x, y = _model()
    ts.saved_model.simple_save(sess, str(tmp_path / "m"), inputs={"x": x}, outputs={"y": y})
    with ts.Graph().as_default():
        with pytest.raises(ts.errors.NotFoundError, match="tags"):
            ts.saved_model.loader.load(ts.Session(), ["train"], str(tmp_path / "m"))
        with pytest.raises(RuntimeError):  # TF1 raises RuntimeError for unknown tags
            ts.saved_model.loader.load(ts.Session(), ["train"], str(tmp_path / "m"))
        with pytest.raises(ts.errors.NotFoundError, match="does not exist"):
            ts.saved_model.loader.load(ts.Session(), ["serve"], str(tmp_path / "absent"))
    pb = tmp_path / "m" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:40])
    with ts.Graph().as_default():
        with pytest.raises(ts.errors.DataLossError, match="saved_model.pb"):
            ts.saved_model.loader.load(ts.Session(), ["serve"], str(tmp_path / "m"))


def test_signature_naming_a_missing_tensor_is_refused(tmp_path):
    g, sess, x, y = _model()
    bad = proto.SignatureDef()
    bad.inputs["x"].name = "nope:0"
    with g.as_default():
        builder = ts.saved_model.builder.SavedModelBuilder(str(tmp_path / "m"))
        with pytest.raises(ts.errors.InvalidArgumentError, match="nope:0"):
            builder.add_meta_graph_and_variables(sess, ["serve"], {"serving_default": bad})


def test_meta_graph_export_and_import_keeps_variables_and_collections(tmp_path):
    g, sess, x, y = _model()
    with g.as_default():
        ts.add_to_collection("outputs", y)
        path = str(tmp_path / "model.meta")
        ts.train.export_meta_graph(path)
    with ts.Graph().as_default() as g2:
        ts.train.import_meta_graph(path)
        assert [v.op.name for v in ts.global_variables()] == ["w", "b"]
        assert ts.get_collection("outputs")[0] is g2.get_tensor_by_name("y:0")
        sess2 = ts.Session()
        sess2.run(ts.global_variables_initializer())
        np.testing.assert_array_equal(
            sess2.run("w:0"), np.random.RandomState(0).randn(4, 3).astype(np.float32))
