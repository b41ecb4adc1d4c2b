"""The protos are wire-identical to TensorFlow's and TF Serving's; the loader keeps them private."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format, wrappers_pb2
from google.protobuf.message import Message

import tensorslow.proto as proto
from tensorslow.proto import build, serving

REPO = Path(__file__).resolve().parents[1]


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def field_numbers(full_name: str) -> dict[str, int]:
    return {f.name: f.number for f in proto.message_class(full_name).DESCRIPTOR.fields}


# ---------------------------------------------------------------------------------------------
# Hand-computed wire bytes


def test_node_def_wire_bytes():
    assert proto.NodeDef(name="a", op="Const").SerializeToString() == b"\n\x01a\x12\x05Const"


def test_node_def_inputs_device_and_attr_bytes():
    node = proto.NodeDef(name="m", op="MatMul", input=["x", "^c"], device="/cpu:0")
    node.attr["T"].type = 1
    expected = (
        b"\n\x01m" + b"\x12\x06MatMul" + b"\x1a\x01x" + b"\x1a\x02^c" + b"\"\x06/cpu:0"
        # attr map entry: key "T" (field 1), value AttrValue{type: 1} (field 2, AttrValue.type=6)
        + b"*\x07" + b"\n\x01T" + b"\x12\x02" + b"0\x01"
    )
    assert node.SerializeToString() == expected


def test_tensor_proto_wire_bytes():
    tensor = proto.TensorProto(dtype=1, float_val=[1.0])
    tensor.tensor_shape.dim.add(size=1)
    # dtype=1 varint; tensor_shape=2 {dim=2 {size=1 1}}; float_val=5 packed: tag 0x2a.
    expected = b"\x08\x01" + b"\x12\x04\x12\x02\x08\x01" + b"\x2a\x04" + struct.pack("<f", 1.0)
    assert tensor.SerializeToString() == expected
    content = proto.TensorProto(dtype=3, tensor_content=b"\x01\x00\x00\x00")
    assert content.SerializeToString() == b"\x08\x03" + b"\x22\x04\x01\x00\x00\x00"


def test_tensor_shape_wire_bytes():
    assert proto.TensorShapeProto(dim=[{"size": 3}]).SerializeToString() == b"\x12\x02\x08\x03"
    assert proto.TensorShapeProto(dim=[{"size": -1}]).SerializeToString() == (
        b"\x12\x0b\x08" + b"\xff" * 9 + b"\x01"
    )
    assert proto.TensorShapeProto(unknown_rank=True).SerializeToString() == b"\x18\x01"


def test_model_spec_version_is_int64_value_at_field_2():
    spec = serving.ModelSpec(name="m", version={"value": 7})
    assert spec.SerializeToString() == b"\n\x01m" + b"\x12\x02\x08\x07"
    assert spec.version.DESCRIPTOR.full_name == "google.protobuf.Int64Value"
    assert spec.WhichOneof("version_choice") == "version"
    labelled = serving.ModelSpec(name="m", version_label="stable", signature_name="s")
    assert labelled.SerializeToString() == b"\n\x01m" + b"\x1a\x01s" + b"\"\x06stable"
    assert labelled.WhichOneof("version_choice") == "version_label"


def test_predict_request_inputs_is_map_field_2():
    request = serving.PredictRequest()
    request.inputs["x"].dtype = 1
    entry = b"\n\x01x" + b"\x12\x02\x08\x01"
    assert request.SerializeToString() == b"\x12" + bytes([len(entry)]) + entry
    assert field_numbers("tensorflow.serving.PredictRequest")["output_filter"] == 3
    response = serving.PredictResponse()
    response.outputs["y"].dtype = 1
    response.model_spec.name = "m"
    # outputs=1 is written before model_spec=2.
    assert response.SerializeToString().startswith(b"\n\x07\n\x01y\x12\x02\x08\x01\x12\x03\n\x01m")


def test_status_proto_json_names_and_error_codes_match_grpc():
    fields = {f.name: f for f in serving.StatusProto.DESCRIPTOR.fields}
    assert fields["error_code"].number == 1 and fields["error_code"].json_name == "error_code"
    assert fields["error_message"].number == 2
    assert fields["error_message"].json_name == "error_message"
    code = proto.enum_wrapper("tensorflow.error.Code")
    for status in grpc.StatusCode:
        assert code.Value(status.name) == status.value[0]


# ---------------------------------------------------------------------------------------------
# Enum values and field numbers from the facts


DATA_TYPES = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5,
    "DT_INT8": 6, "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10,
    "DT_QINT8": 11, "DT_QUINT8": 12, "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15,
    "DT_QUINT16": 16, "DT_UINT16": 17, "DT_COMPLEX128": 18, "DT_HALF": 19, "DT_RESOURCE": 20,
    "DT_VARIANT": 21, "DT_UINT32": 22, "DT_UINT64": 23,
}  # fmt: skip


def test_data_type_enum_numbers():
    for name, number in DATA_TYPES.items():
        assert proto.DataType.Value(name) == number
        if number:
            assert proto.DataType.Value(name + "_REF") == number + 100
    assert proto.DataType.Name(19) == "DT_HALF"


FIELDS = {
    "tensorflow.TensorShapeProto": {"dim": 2, "unknown_rank": 3},
    "tensorflow.TensorShapeProto.Dim": {"size": 1, "name": 2},
    "tensorflow.TensorProto": {
        "dtype": 1, "tensor_shape": 2, "version_number": 3, "tensor_content": 4, "float_val": 5,
        "double_val": 6, "int_val": 7, "string_val": 8, "scomplex_val": 9, "int64_val": 10,
        "bool_val": 11, "dcomplex_val": 12, "half_val": 13, "resource_handle_val": 14,
        "variant_val": 15, "uint32_val": 16, "uint64_val": 17,
    },
    "tensorflow.AttrValue": {
        "list": 1, "s": 2, "i": 3, "f": 4, "b": 5, "type": 6, "shape": 7, "tensor": 8,
        "placeholder": 9, "func": 10,
    },
    "tensorflow.AttrValue.ListValue": {
        "s": 2, "i": 3, "f": 4, "b": 5, "type": 6, "shape": 7, "tensor": 8, "func": 9,
    },
    "tensorflow.NameAttrList": {"name": 1, "attr": 2},
    "tensorflow.NodeDef": {"name": 1, "op": 2, "input": 3, "device": 4, "attr": 5},
    "tensorflow.GraphDef": {"node": 1, "library": 2, "version": 3, "versions": 4},
    "tensorflow.VersionDef": {"producer": 1, "min_consumer": 2, "bad_consumers": 3},
    "tensorflow.SavedModel": {"saved_model_schema_version": 1, "meta_graphs": 2},
    "tensorflow.BundleHeaderProto": {"num_shards": 1, "endianness": 2, "version": 3},
    "tensorflow.BundleEntryProto": {
        "dtype": 1, "shape": 2, "shard_id": 3, "offset": 4, "size": 5, "crc32c": 6, "slices": 7,
    },
    "tensorflow.TensorSliceProto": {"extent": 1},
    "tensorflow.TensorSliceProto.Extent": {"start": 1, "length": 2},
    "tensorflow.MetaGraphDef": {
        "meta_info_def": 1, "graph_def": 2, "saver_def": 3, "collection_def": 4,
        "signature_def": 5, "asset_file_def": 6,
    },
    "tensorflow.MetaGraphDef.MetaInfoDef": {
        "meta_graph_version": 1, "stripped_op_list": 2, "tags": 4, "tensorflow_version": 5,
    },
    "tensorflow.SignatureDef": {"inputs": 1, "outputs": 2, "method_name": 3, "defaults": 4},
    "tensorflow.TensorInfo": {"name": 1, "dtype": 2, "tensor_shape": 3},
    "tensorflow.SaverDef": {
        "filename_tensor_name": 1, "save_tensor_name": 2, "restore_op_name": 3,
        "max_to_keep": 4, "sharded": 5, "keep_checkpoint_every_n_hours": 6, "version": 7,
    },
    "tensorflow.RunOptions": {"trace_level": 1, "timeout_in_ms": 2, "output_partition_graphs": 5},
    "tensorflow.RunMetadata": {"step_stats": 1, "partition_graphs": 3},
    "tensorflow.StepStats": {"dev_stats": 1},
    "tensorflow.DeviceStepStats": {"device": 1, "node_stats": 2},
    "tensorflow.NodeExecStats": {
        "node_name": 1, "all_start_micros": 2, "op_start_rel_micros": 3,
        "op_end_rel_micros": 4, "all_end_rel_micros": 5, "output": 7, "timeline_label": 8,
        "thread_id": 10,
    },
    "tensorflow.ConfigProto": {
        "device_count": 1, "intra_op_parallelism_threads": 2, "inter_op_parallelism_threads": 5,
        "allow_soft_placement": 7, "log_device_placement": 8,
    },
    "tensorflow.Example": {"features": 1},
    "tensorflow.Features": {"feature": 1},
    "tensorflow.Feature": {"bytes_list": 1, "float_list": 2, "int64_list": 3},
    "tensorflow.Event": {"wall_time": 1, "step": 2, "file_version": 3, "graph_def": 4,
                         "summary": 5},
    "tensorflow.Summary.Value": {"tag": 1, "simple_value": 2, "histo": 5},
    "tensorflow.serving.ModelSpec": {
        "name": 1, "version": 2, "signature_name": 3, "version_label": 4,
    },
    "tensorflow.serving.PredictRequest": {"model_spec": 1, "inputs": 2, "output_filter": 3},
    "tensorflow.serving.PredictResponse": {"outputs": 1, "model_spec": 2},
    "tensorflow.serving.GetModelMetadataRequest": {"model_spec": 1, "metadata_field": 2},
    "tensorflow.serving.GetModelMetadataResponse": {"model_spec": 1, "metadata": 2},
    "tensorflow.serving.SignatureDefMap": {"signature_def": 1},
    "tensorflow.serving.GetModelStatusRequest": {"model_spec": 1},
    "tensorflow.serving.GetModelStatusResponse": {"model_version_status": 1},
    "tensorflow.serving.ModelVersionStatus": {"version": 1, "state": 2, "status": 3},
    "tensorflow.serving.StatusProto": {"error_code": 1, "error_message": 2},
    "tensorflow.serving.ClassificationRequest": {"model_spec": 1, "input": 2},
    "tensorflow.serving.ClassificationResponse": {"result": 1, "model_spec": 2},
    "tensorflow.serving.Class": {"label": 1, "score": 2},
    "tensorflow.serving.RegressionResponse": {"result": 1, "model_spec": 2},
    "tensorflow.serving.Regression": {"value": 1},
    "tensorflow.serving.Input": {"example_list": 1, "example_list_with_context": 2},
    "tensorflow.serving.ExampleListWithContext": {"examples": 1, "context": 2},
    "tensorflow.serving.MultiInferenceRequest": {"tasks": 1, "input": 2},
    "tensorflow.serving.InferenceTask": {"model_spec": 1, "method_name": 2},
    "tensorflow.serving.InferenceResult": {
        "model_spec": 1, "classification_result": 2, "regression_result": 3,
    },
    "tensorflow.serving.ReloadConfigRequest": {"config": 1, "metric_names": 2},
    "tensorflow.serving.ReloadConfigResponse": {"status": 1, "metric": 2},
    "tensorflow.serving.Metric": {"name": 1, "int64_value_increase": 2},
    "tensorflow.serving.ModelServerConfig": {"model_config_list": 1, "custom_model_config": 2},
    "tensorflow.serving.ModelConfig": {
        "name": 1, "base_path": 2, "model_platform": 4, "model_version_policy": 7,
        "version_labels": 8,
    },
    "tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy": {
        "latest": 100, "all": 101, "specific": 102,
    },
    "tensorflow.serving.BatchingParameters": {
        "max_batch_size": 1, "batch_timeout_micros": 2, "max_enqueued_batches": 3,
        "num_batch_threads": 4, "thread_pool_name": 5, "allowed_batch_sizes": 6,
        "pad_variable_length_inputs": 7,
    },
    "tensorflow.serving.PrometheusConfig": {"enable": 1, "path": 2},
    "tensorflow.serving.MonitoringConfig": {"prometheus_config": 1},
}  # fmt: skip


@pytest.mark.parametrize("full_name", sorted(FIELDS))
def test_field_numbers(full_name):
    numbers = field_numbers(full_name)
    for name, number in FIELDS[full_name].items():
        assert numbers[name] == number, f"{full_name}.{name}"


def test_enum_values():
    assert [proto.RunOptions.NO_TRACE, proto.RunOptions.SOFTWARE_TRACE,
            proto.RunOptions.HARDWARE_TRACE, proto.RunOptions.FULL_TRACE] == [0, 1, 2, 3]
    assert proto.RunOptions.TraceLevel.Value("FULL_TRACE") == 3
    state = serving.ModelVersionStatus.State
    assert [(name, number) for name, number in state.items()] == [
        ("UNKNOWN", 0), ("START", 10), ("LOADING", 20), ("AVAILABLE", 30), ("UNLOADING", 40),
        ("END", 50)]
    assert proto.SaverDef.V2 == 2
    assert [proto.BundleHeaderProto.LITTLE, proto.BundleHeaderProto.BIG] == [0, 1]


def test_packed_repeated_fields():
    packed = {f.name: f.is_packed for f in proto.TensorProto.DESCRIPTOR.fields}
    for name in ["float_val", "double_val", "int_val", "int64_val", "bool_val", "half_val",
                 "scomplex_val", "dcomplex_val", "uint32_val", "uint64_val"]:
        assert packed[name], name
    assert not packed["string_val"]


def test_services_and_methods():
    def names(service):
        return [(name, req.DESCRIPTOR.full_name, resp.DESCRIPTOR.full_name)
                for name, req, resp in proto.service_methods(service)]

    s = "tensorflow.serving."
    assert names(s + "PredictionService") == [
        ("Classify", s + "ClassificationRequest", s + "ClassificationResponse"),
        ("Regress", s + "RegressionRequest", s + "RegressionResponse"),
        ("Predict", s + "PredictRequest", s + "PredictResponse"),
        ("MultiInference", s + "MultiInferenceRequest", s + "MultiInferenceResponse"),
        ("GetModelMetadata", s + "GetModelMetadataRequest", s + "GetModelMetadataResponse"),
    ]
    assert names(s + "ModelService") == [
        ("GetModelStatus", s + "GetModelStatusRequest", s + "GetModelStatusResponse"),
        ("HandleReloadConfigRequest", s + "ReloadConfigRequest", s + "ReloadConfigResponse"),
    ]
    descriptor = proto.service_descriptor(s + "PredictionService")
    assert descriptor.full_name == s + "PredictionService"
    assert all(not m.client_streaming and not m.server_streaming for m in descriptor.methods)
    request_class = proto.service_methods(s + "PredictionService")[2][1]
    assert request_class is serving.PredictRequest


# ---------------------------------------------------------------------------------------------
# Well-known types, Any, text format


def test_any_pack_unpack_signature_def_map():
    signatures = serving.SignatureDefMap()
    signature = signatures.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    signature.inputs["x"].name = "x:0"
    signature.inputs["x"].dtype = proto.DataType.Value("DT_FLOAT")
    response = serving.GetModelMetadataResponse()
    response.model_spec.name = "m"
    response.metadata["signature_def"].Pack(signatures)
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    assert packed.Is(serving.SignatureDefMap.DESCRIPTOR)
    parsed = serving.GetModelMetadataResponse.FromString(response.SerializeToString())
    unpacked = serving.SignatureDefMap()
    assert parsed.metadata["signature_def"].Unpack(unpacked)
    assert unpacked == signatures
    assert not parsed.metadata["signature_def"].Unpack(proto.GraphDef())


def test_int64_value_comes_from_the_private_pool():
    spec = serving.ModelSpec(name="m")
    spec.version.value = 3
    assert spec.HasField("version") and spec.version.value == 3
    assert type(spec.version) is not wrappers_pb2.Int64Value
    spec.version.CopyFrom(proto.message_class("google.protobuf.Int64Value")(value=4))
    assert spec.version.value == 4


def test_text_format_model_server_config():
    text = textwrap.dedent("""
        model_config_list {
          config {
            name: "half_plus_two"
            base_path: "/models/half_plus_two"
            model_platform: "tensorflow"
            model_version_policy { specific { versions: 1 versions: 3 } }
            version_labels { key: "stable" value: 1 }
          }
          config { name: "other" base_path: "/models/other" }
        }
    """)
    config = proto.parse_text(text, serving.ModelServerConfig)
    first, second = config.model_config_list.config
    assert first.name == "half_plus_two" and first.model_platform == "tensorflow"
    assert first.model_version_policy.WhichOneof("policy_choice") == "specific"
    assert list(first.model_version_policy.specific.versions) == [1, 3]
    assert dict(first.version_labels) == {"stable": 1}
    assert second.model_version_policy.WhichOneof("policy_choice") is None
    # Plain text_format works with these classes too.
    assert text_format.Parse(text, serving.ModelServerConfig()) == config
    with pytest.raises(text_format.ParseError):
        proto.parse_text("model_config_list { config { nme: 'x' } }", serving.ModelServerConfig)


def test_text_format_batching_parameters():
    text = textwrap.dedent("""
        max_batch_size { value: 128 }
        batch_timeout_micros { value: 1000 }
        max_enqueued_batches { value: 100 }
        num_batch_threads { value: 4 }
        thread_pool_name { value: "batch_threads" }
        allowed_batch_sizes: 32
        allowed_batch_sizes: 128
        pad_variable_length_inputs: true
    """)
    params = proto.parse_text(text, "tensorflow.serving.BatchingParameters")
    assert params.max_batch_size.value == 128
    assert params.batch_timeout_micros.value == 1000
    assert params.num_batch_threads.value == 4
    assert params.thread_pool_name.value == "batch_threads"
    assert list(params.allowed_batch_sizes) == [32, 128]
    assert params.pad_variable_length_inputs
    assert not serving.BatchingParameters().HasField("max_batch_size")


def test_text_format_any_expansion_uses_private_pool():
    text = """custom_model_config {
      [type.googleapis.com/tensorflow.serving.MonitoringConfig] {
        prometheus_config { enable: true path: "/metrics" }
      }
    }"""
    config = proto.parse_text(text, serving.ModelServerConfig())
    monitoring = serving.MonitoringConfig()
    assert config.custom_model_config.Unpack(monitoring)
    assert monitoring.prometheus_config.path == "/metrics"


# ---------------------------------------------------------------------------------------------
# Round trips of TensorFlow-written messages


def _meta_graph_def() -> Message:
    meta = proto.MetaGraphDef()
    info = meta.meta_info_def
    info.meta_graph_version = "v2.21.0"
    info.tags.append("serve")
    info.tensorflow_version = "2.21.0"
    info.tensorflow_git_version = "unknown"
    info.stripped_default_attrs = True
    op = info.stripped_op_list.op.add(name="MatMul")
    op.input_arg.add(name="a", type_attr="T")
    op.input_arg.add(name="b", type_attr="T")
    op.output_arg.add(name="product", type_attr="T")
    attr = op.attr.add(name="transpose_a", type="bool")
    attr.default_value.b = False
    allowed = op.attr.add(name="T", type="type").allowed_values.list
    allowed.type.extend([1, 2, 3])
    graph = meta.graph_def
    graph.versions.producer = 1882
    node = graph.node.add(name="x", op="Placeholder")
    node.attr["dtype"].type = 1
    node.attr["shape"].shape.dim.add(size=-1)
    node.attr["shape"].shape.dim.add(size=2)
    node.experimental_debug_info.original_node_names.append("x")
    function = graph.library.function.add()
    function.signature.name = "f"
    function.ret["out"] = "x:0"
    function.arg_attr[0].attr["_user_specified_name"].s = b"x"
    graph.debug_info.files.append("model.py")
    meta.saver_def.filename_tensor_name = "save/Const:0"
    meta.saver_def.version = proto.SaverDef.V2
    meta.collection_def["variables"].bytes_list.value.append(b"\n\x03w:0")
    meta.collection_def["train_op"].node_list.value.append("train")
    signature = meta.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    signature.inputs["x"].name = "x:0"
    signature.inputs["x"].dtype = 1
    signature.outputs["y"].coo_sparse.values_tensor_name = "y:0"
    meta.asset_file_def.add(filename="vocab.txt").tensor_info.name = "asset:0"
    return meta


def test_meta_graph_def_round_trip_is_byte_identical():
    data = _meta_graph_def().SerializeToString(deterministic=True)
    # Field 7 (object_graph_def) is not declared: it must survive as an unknown field.
    data += b"\x3a\x04\x0a\x02\x08\x01"
    saved_model = proto.SavedModel(saved_model_schema_version=1)
    saved_model_bytes = saved_model.SerializeToString() + b"\x12" + varint(len(data)) + data
    parsed = proto.SavedModel.FromString(saved_model_bytes)
    assert parsed.meta_graphs[0].meta_info_def.tags == ["serve"]
    assert parsed.SerializeToString(deterministic=True) == saved_model_bytes


def test_unknown_fields_are_kept():
    data = proto.NodeDef(name="a").SerializeToString() + b"\xf8\x06\x05"  # field 111 = 5
    assert proto.NodeDef.FromString(data).SerializeToString() == data


def test_messages_pickle_by_full_name():
    meta = _meta_graph_def()
    for message in [meta, meta.meta_info_def, proto.RunOptions(trace_level=3),
                    serving.PredictRequest(output_filter=["y"])]:
        copy = pickle.loads(pickle.dumps(message))
        assert type(copy) is type(message) and copy == message
    assert proto.RunOptions.Experimental.__qualname__ == "RunOptions.Experimental"
    assert serving.PredictRequest.__module__ == "tensorslow.proto.serving"


# ---------------------------------------------------------------------------------------------
# The loader


def test_lookup_by_name():
    assert proto.message_class("tensorflow.GraphDef") is proto.GraphDef
    assert proto.lookup("tensorflow.serving", "PredictRequest") is serving.PredictRequest
    assert proto.lookup("tensorflow", "NoSuchMessage") is None
    with pytest.raises(KeyError):
        proto.message_class("tensorflow.NoSuchMessage")
    with pytest.raises(AttributeError):
        proto.NoSuchMessage  # noqa: B018
    with pytest.raises(AttributeError):
        serving.NoSuchMessage  # noqa: B018
    assert "GraphDef" in dir(proto) and "PredictRequest" in dir(serving)
    assert proto.pool is proto.load() and proto.pool is not descriptor_pool.Default()


def test_private_pool_leaves_default_pool_alone():
    proto.load()
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("tensorflow.GraphDef")
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("tensorflow.serving.PredictRequest")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_import_is_lazy_and_never_imports_grpc():
    result = run_python("""
        import sys
        import tensorslow  # what the package itself imports is not this module's concern
        before = set(sys.modules)
        import tensorslow.proto as proto
        imported = set(sys.modules) - before
        assert not [m for m in imported if m.startswith("google")], "protobuf imported eagerly"
        assert proto.GraphDef().DESCRIPTOR.full_name == "tensorflow.GraphDef"
        assert proto.serving.PredictRequest
        assert not [m for m in set(sys.modules) - before if m.split(".")[0] == "grpc"]
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_coexists_with_tensorflow_messages_in_the_default_pool():
    # Stands in for real TensorFlow: the same full names, registered in the default pool first.
    result = run_python("""
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        file = descriptor_pb2.FileDescriptorProto(
            name="tensorflow/core/framework/graph.proto", package="tensorflow", syntax="proto3")
        file.message_type.add(name="GraphDef").field.add(
            name="version", number=3, type=5, label=1)
        descriptor_pool.Default().Add(file)
        theirs = message_factory.GetMessageClass(
            descriptor_pool.Default().FindMessageTypeByName("tensorflow.GraphDef"))
        import tensorslow.proto as proto
        ours = proto.GraphDef(version=7)
        assert theirs.FromString(ours.SerializeToString()).version == 7
        assert proto.GraphDef is not theirs
        print("ok")
    """)
    assert result.returncode == 0, result.stderr


def test_stale_or_missing_descriptor_set_is_rebuilt(tmp_path, monkeypatch):
    out = tmp_path / "descriptors.binpb"
    monkeypatch.setattr(proto, "_DESCRIPTOR_SET", out)
    assert proto._needs_build()
    data = proto._descriptor_set_bytes()
    assert out.exists() and data == out.read_bytes()
    assert not proto._needs_build()
    newest = max(p.stat().st_mtime_ns for p in build.PROTO_ROOT.rglob("*.proto"))
    os.utime(out, ns=(newest - 10**9, newest - 10**9))
    assert proto._needs_build()


def test_a_fresh_process_builds_a_missing_descriptor_set_on_first_use(tmp_path):
    # The first message a process asks for builds the set (this once deadlocked: the build
    # module was looked up through the lazy attributes, under the load lock).
    missing = tmp_path / "descriptors.binpb"
    result = run_python(f"""
        from pathlib import Path
        import tensorslow.proto as proto
        proto._DESCRIPTOR_SET = Path({str(missing)!r})
        print(proto.GraphDef().DESCRIPTOR.full_name)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tensorflow.GraphDef"
    assert missing.exists()


def test_unbuildable_descriptor_set_raises_import_error(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise build.ProtoBuildError("protoc is broken")

    monkeypatch.setattr(proto, "_DESCRIPTOR_SET", tmp_path / "missing.binpb")
    monkeypatch.setattr(build, "build", fail)
    with pytest.raises(ImportError, match="make protos"):
        proto._descriptor_set_bytes()


# ---------------------------------------------------------------------------------------------
# The build


def test_build_writes_one_descriptor_set_with_imports(tmp_path):
    out = build.build(tmp_path / "set.binpb")
    names = [f.name for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file]
    assert "google/protobuf/any.proto" in names and "google/protobuf/wrappers.proto" in names
    for path in build.proto_files():
        assert path.as_posix() in names
    # Dependency order: every file comes after its imports.
    seen = set()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        assert set(file.dependency) <= seen, file.name
        seen.add(file.name)
    assert [p.name for p in tmp_path.iterdir()] == ["set.binpb"]
    assert build.build(tmp_path / "again.binpb").read_bytes() == out.read_bytes()


def test_build_reports_protoc_errors(tmp_path, capsys):
    root = tmp_path / "protos"
    root.mkdir()
    (root / "bad.proto").write_text('syntax = "proto3";\nmessage A { Missing b = 1; }\n')
    out = tmp_path / "set.binpb"
    out.write_bytes(b"old")
    with pytest.raises(build.ProtoBuildError, match='"Missing" is not defined'):
        build.build(out, proto_root=root)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["protos", "set.binpb"]
    with pytest.raises(build.ProtoBuildError, match="no .proto files"):
        build.build(out, proto_root=tmp_path / "empty")


def test_build_command_line(tmp_path):
    out = tmp_path / "cli.binpb"
    result = subprocess.run([sys.executable, "-m", "tensorslow.proto.build", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.exists()


def test_build_command_line_fails_with_protoc_message(tmp_path, monkeypatch, capsys):
    root = tmp_path / "protos"
    root.mkdir()
    (root / "bad.proto").write_text('syntax = "proto3";\nmessage A { Missing b = 1; }\n')
    monkeypatch.setattr(build, "PROTO_ROOT", root)
    assert build.main([str(tmp_path / "out.binpb")]) == 1
    assert '"Missing" is not defined' in capsys.readouterr().err
