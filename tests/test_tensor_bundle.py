"""TensorBundle, TensorFlow's checkpoint format: byte-identical writing, reading TensorFlow's
files (tests/fixtures, written by TensorFlow: see make_tf_fixtures.py), every kind of damage
reported as DataLossError, sharded saves merged, and TensorFlow's SavedModels with reference
and resource variables loaded, run, re-saved and served."""

import os
import pathlib
import random
import shutil

import numpy as np
import pytest
from fixtures.bundle_tensors import bundle_tensors

import tensorslow as ts
from tensorslow.framework.ops import make_op
from tensorslow.saved_model import loader
from tensorslow.train import saver as saver_lib
from tensorslow.train import tensor_bundle

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
TF_BUNDLE = FIXTURES / "tf_bundle" / "ckpt"


def _assert_same(got: dict, want: dict):
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def _stored(items):
    return [(name, value, ts.as_dtype(value.dtype)) for name, value in items]


# -- TensorFlow's bytes ------------------------------------------------------------------------
def test_reads_the_checkpoint_tensorflow_wrote():
    _assert_same(saver_lib.read_variables(str(TF_BUNDLE)), dict(bundle_tensors()))
    assert ts.train.list_variables(str(TF_BUNDLE))[0] == ("a", [2, 3])


def test_writes_the_same_bytes_as_tensorflow(tmp_path):
    index, data = tensor_bundle.encode_bundle(_stored(bundle_tensors()))
    assert index == (TF_BUNDLE.parent / "ckpt.index").read_bytes()
    assert data == (TF_BUNDLE.parent / "ckpt.data-00000-of-00001").read_bytes()
    prefix = str(tmp_path / "ckpt")
    saver_lib.write_variables(prefix, dict(bundle_tensors()))
    assert pathlib.Path(prefix + ".index").read_bytes() == index


def test_a_table_of_many_blocks_round_trips_in_order():
    items = [(f"k{i:06d}".encode(), bytes([i % 251]) * (i % 40)) for i in range(3000)]
    table = tensor_bundle.build_table(items, block_size=512)
    assert table.count(tensor_bundle.TABLE_MAGIC.to_bytes(8, "little")) == 1
    assert tensor_bundle.read_table(table) == items
    with pytest.raises(ValueError, match="increase"):
        tensor_bundle.build_table([(b"b", b""), (b"a", b"")])


def test_separators_are_leveldbs():
    assert tensor_bundle._shortest_separator(b"abc1xyz", b"abc3") == b"abc2"
    assert tensor_bundle._shortest_separator(b"abc1", b"abc2") == b"abc1"  # no room between
    assert tensor_bundle._shortest_separator(b"ab", b"abc") == b"ab"  # a prefix stays
    assert tensor_bundle._short_successor(b"\xff\xffa\x05") == b"\xff\xffb"
    assert tensor_bundle._short_successor(b"\xff") == b"\xff"


def test_masked_crc32c_matches_known_values():
    assert tensor_bundle.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    for value in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert tensor_bundle.unmask(tensor_bundle.mask(value)) == value
    assert tensor_bundle.mask(0) == 0xA282EAD8


def test_every_dtype_and_long_strings_round_trip(tmp_path):
    values = {
        "f16": np.array([1.5, -2.0], np.float16), "f64": np.array(3.25),
        "i8": np.array([[-1, 2]], np.int8), "u16": np.array([65535], np.uint16),
        "u32": np.array([7], np.uint32), "u64": np.array([2**63], np.uint64),
        "c64": np.array([1 - 1j], np.complex64), "c128": np.array([1 + 2j]),
        "str": np.array([[b"a", b"bc" * 200], [b"", b"\x00\xff"]], dtype=object),
        "empty_str": np.zeros((2, 0), dtype=object), "big": np.arange(300_000, dtype=np.float32),
    }
    prefix = str(tmp_path / "all")
    saver_lib.write_variables(prefix, values)
    _assert_same(saver_lib.read_variables(prefix), values)


# -- damage -----------------------------------------------------------------------------------
def _copy_bundle(tmp_path) -> str:
    for path in TF_BUNDLE.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    return str(tmp_path / "ckpt")


def test_every_flipped_index_byte_is_data_loss_or_harmless(tmp_path):
    prefix = _copy_bundle(tmp_path)
    original = pathlib.Path(prefix + ".index").read_bytes()
    want = dict(bundle_tensors())
    outcomes = set()
    for position in range(len(original)):
        damaged = bytearray(original)
        damaged[position] ^= 0x41
        pathlib.Path(prefix + ".index").write_bytes(bytes(damaged))
        try:
            got = saver_lib.read_variables(prefix)
        except ts.errors.DataLossError as e:
            assert "ckpt.index" in e.message or "ckpt.data" in e.message
            outcomes.add("data loss")
            continue
        _assert_same(got, want)  # only the footer's padding is free to change
        outcomes.add("harmless")
    assert outcomes == {"data loss", "harmless"}


def test_flipped_or_truncated_data_names_the_tensor(tmp_path):
    prefix = _copy_bundle(tmp_path)
    data_path = pathlib.Path(prefix + ".data-00000-of-00001")
    data = data_path.read_bytes()
    entries = saver_lib.read_index(prefix).entries
    for name, entry in entries.items():
        if entry.size == 0:
            continue
        damaged = bytearray(data)
        damaged[entry.offset + entry.size - 1] ^= 0x01
        data_path.write_bytes(bytes(damaged))
        with pytest.raises(ts.errors.DataLossError, match=f"tensor '{name}'"):
            saver_lib.read_variables(prefix)
    data_path.write_bytes(data[:-1])
    with pytest.raises(ts.errors.DataLossError, match="truncated"):
        saver_lib.read_variables(prefix)
    os.remove(data_path)
    with pytest.raises(ts.errors.NotFoundError, match="data-00000-of-00001"):
        saver_lib.read_variables(prefix)


def test_a_newer_format_version_is_refused(tmp_path):
    header = ts.proto.BundleHeaderProto(num_shards=1)
    header.version.producer = 2
    header.version.min_consumer = 2
    pathlib.Path(tmp_path / "new.index").write_bytes(
        tensor_bundle.build_table([(b"", header.SerializeToString())]))
    with pytest.raises(ts.errors.DataLossError, match="version"):
        saver_lib.read_index(str(tmp_path / "new"))


def _one_entry_bundle(tmp_path, entry, data: bytes, big_endian=False) -> str:
    header = ts.proto.BundleHeaderProto(num_shards=1, endianness=int(big_endian))
    header.version.producer = 1
    prefix = str(tmp_path / "one")
    pathlib.Path(prefix + ".index").write_bytes(tensor_bundle.build_table(
        [(b"", header.SerializeToString()), (b"t", entry.SerializeToString())]))
    pathlib.Path(prefix + ".data-00000-of-00001").write_bytes(data)
    return prefix


def test_big_endian_bundles_and_sliced_tensors(tmp_path):
    data = np.array([1.0, -2.0], ">f4").tobytes()
    entry = ts.proto.BundleEntryProto(dtype=1, size=8, crc32c=tensor_bundle.mask(
        tensor_bundle.crc32c(data)))
    entry.shape.dim.add(size=2)
    prefix = _one_entry_bundle(tmp_path, entry, data, big_endian=True)
    assert saver_lib.read_variables(prefix)["t"].tolist() == [1.0, -2.0]
    entry.slices.add().extent.add(start=0, length=1)
    prefix = _one_entry_bundle(tmp_path, entry, data)
    with pytest.raises(ts.errors.UnimplementedError, match="slices"):
        saver_lib.read_variables(prefix)


# -- sharded saves ----------------------------------------------------------------------------
def test_sharded_save_ops_write_and_merge_one_checkpoint(tmp_path):
    g = ts.Graph()
    with g.as_default():
        temp = ts.constant(str(tmp_path / "model_temp" / "part"))
        parts = [ts.placeholder(ts.float32, name=f"v{i}") for i in range(2)]
        saves = []
        for i, value in enumerate(parts):
            name = make_op("ShardedFilename", [temp, i, 2]).outputs[0]
            saves.append(make_op(
                "SaveV2", [name, ts.constant([f"v{i}"]), ts.constant([""]), value],
                {"dtypes": [ts.float32]}))
        with ts.control_dependencies(saves):
            prefixes = ts.stack([make_op("ShardedFilename", [temp, i, 2])
                                .outputs[0] for i in range(2)])
            merge = make_op("MergeV2Checkpoints",
                            [prefixes, ts.constant(str(tmp_path / "model"))])
        spec = make_op("ShardedFilespec", [temp, 2]).outputs[0]
        joined = ts.strings.join([temp, ts.constant("x")], separator="_")
        temp_pattern = ts.strings.regex_full_match(joined, "^.*_temp/part_x$")
    os.makedirs(tmp_path / "model_temp")
    with ts.Session(graph=g) as sess:
        sess.run(merge, {parts[0]: [1.0, 2.0], parts[1]: [[3.0]]})
        assert sess.run(spec).item().decode().endswith("part-?????-of-00002")
        assert sess.run(temp_pattern)
    assert not (tmp_path / "model_temp").exists()  # merged away, emptied, removed
    assert sorted(os.listdir(tmp_path)) == [
        "model.data-00000-of-00002", "model.data-00001-of-00002", "model.index"]
    got = saver_lib.read_variables(str(tmp_path / "model"))
    assert got["v0"].tolist() == [1.0, 2.0] and got["v1"].tolist() == [[3.0]]


# -- TensorFlow's SavedModels ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ref", "resource"])
def test_tensorflows_saved_models_load_run_and_save(kind, tmp_path):
    export_dir = str(FIXTURES / f"tf_saved_model_{kind}" / "1")
    g = ts.Graph()
    with ts.Session(graph=g) as sess:
        meta = loader.load(sess, ["serve"], export_dir)
        x = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, -1.0]], np.float32)
        want = x @ np.arange(6, dtype=np.float32).reshape(3, 2) + np.array([0.5, -1.0])
        np.testing.assert_allclose(sess.run("y:0", {"x:0": x}), want)
        assert meta.signature_def["serving_default"].inputs["x"].name == "x:0"
        with g.as_default():
            variables = {v.op.name: v for v in ts.global_variables()}
            assert sorted(variables) == ["b", "w"]
            update = variables["b"].assign([10.0, 20.0])
            saver = ts.train.Saver()
        sess.run(update)
        prefix = saver.save(sess, str(tmp_path / "model.ckpt"))
        sess.run(variables["b"].assign([0.0, 0.0]))
        saver.restore(sess, prefix)
        assert sess.run(variables["b"].value()).tolist() == [10.0, 20.0]
        assert saver_lib.read_variables(prefix)["b"].tolist() == [10.0, 20.0]


def test_a_tensorflow_saved_model_is_served(tmp_path):
    from serving.client import PredictionServiceClient
    from serving.server import ModelServer, ServerOptions

    shutil.copytree(FIXTURES / "tf_saved_model_resource", tmp_path / "m")
    server = ModelServer(ServerOptions(model_name="m", model_base_path=str(tmp_path / "m"),
                                       port=-1, host="127.0.0.1"))
    server.start()  # returns once the model is loaded
    try:
        with PredictionServiceClient(f"127.0.0.1:{server.grpc_port}", timeout=30) as client:
            outputs = client.predict("m", {"x": np.ones((1, 3), np.float32)})
        np.testing.assert_allclose(outputs["y"], [[6.5, 8.0]])
    finally:
        server.stop(1)


def test_randomly_damaged_bundles_are_data_loss_never_a_crash(tmp_path):
    """Bytes changed, cut or inserted in the index or the data (bounded: 1,500 cases): every
    read is the right values or a DataLossError, nothing else."""
    prefix = _copy_bundle(tmp_path)
    index_path, data_path = pathlib.Path(prefix + ".index"), pathlib.Path(
        prefix + ".data-00000-of-00001")
    index0, data0 = index_path.read_bytes(), data_path.read_bytes()
    want = dict(bundle_tensors())
    rng = random.Random(0)
    losses = 0
    for _ in range(1500):
        index, data = bytearray(index0), bytearray(data0)
        target = index if rng.random() < 0.8 else data
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.6:
                target[rng.randrange(len(target))] = rng.randrange(256)
            elif kind < 0.8:
                del target[rng.randrange(len(target) + 1):]
            else:
                at = rng.randrange(len(target) + 1)
                target[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            if not target:
                break
        index_path.write_bytes(bytes(index))
        data_path.write_bytes(bytes(data))
        try:
            got = saver_lib.read_variables(prefix)
        except ts.errors.DataLossError:
            losses += 1
            continue
        _assert_same(got, want)  # the damage fell where nothing is read (padding, spare bytes)
    assert losses > 1400
