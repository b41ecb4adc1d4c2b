"""Checkpoints: round trips into new sessions, TF1's file names and `checkpoint` file, pruning,
validation of damaged files, and atomic writes."""

import json
import os
import pathlib
import zlib

import numpy as np
import pytest

import tensorslow as ts
from tensorslow.train import saver as saver_lib
from tensorslow.train import tensor_bundle


def _build(seed=0):
    """A small model: variables of several dtypes, a loss, an Adam step, the global step."""
    g = ts.Graph()
    with g.as_default():
        ts.set_random_seed(seed)
        x = ts.placeholder(ts.float32, [None, 3], name="x")
        hidden = ts.layers.dense(x, 4, activation=ts.tanh)
        out = ts.layers.dense(hidden, 1)
        offset = ts.Variable(np.array([0.5, -1.5]), name="offset")  # float64
        flags = ts.Variable(np.array([True, False]), name="flags", trainable=False)
        label = ts.Variable(np.array([b"alpha", b"", "βeta".encode()], dtype=object),
                            name="label", trainable=False)
        step = ts.train.get_or_create_global_step()
        loss = ts.reduce_mean(ts.square(out - 1.0)) + ts.cast(ts.reduce_sum(offset ** 2),
                                                              ts.float32)
        train = ts.train.AdamOptimizer(0.05).minimize(loss, global_step=step)
    return g, {"x": x, "out": out, "loss": loss, "train": train, "step": step,
               "flags": flags, "label": label}


XV = np.random.RandomState(0).randn(6, 3).astype(np.float32)


def _trained_session(g, m, steps=3):
    sess = ts.Session(graph=g)
    sess.run(ts.variables_initializer(g.get_collection(ts.GraphKeys.GLOBAL_VARIABLES)))
    for _ in range(steps):
        sess.run(m["train"], {m["x"]: XV})
    return sess


def _values(sess, g):
    variables = g.get_collection(ts.GraphKeys.GLOBAL_VARIABLES)
    return {v.op.name: value for v, value in zip(variables, sess.run(variables), strict=True)}


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_round_trip_into_new_sessions_and_graphs(tmp_path):
    g, m = _build(seed=1)
    with g.as_default():
        saver = ts.train.Saver()
    sess = _trained_session(g, m)
    before = _values(sess, g)
    expected_out = sess.run(m["out"], {m["x"]: XV})
    prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=m["step"])
    assert prefix == str(tmp_path / "model.ckpt-3")
    assert os.path.isfile(prefix + ".index") and os.path.isfile(prefix + ".data-00000-of-00001")

    # A new session on the same graph.
    fresh = ts.Session(graph=g)
    saver.restore(fresh, prefix)
    _assert_same(_values(fresh, g), before)
    np.testing.assert_array_equal(fresh.run(m["out"], {m["x"]: XV}), expected_out)
    # Training continues identically from the restored state.
    sess.run(m["train"], {m["x"]: XV})
    fresh.run(m["train"], {m["x"]: XV})
    _assert_same(_values(fresh, g), _values(sess, g))

    # A new graph built by the same program (other random initial values).
    g2, m2 = _build(seed=99)
    with g2.as_default():
        saver2 = ts.train.Saver()
    other = ts.Session(graph=g2)
    other.run(ts.variables_initializer(g2.get_collection(ts.GraphKeys.GLOBAL_VARIABLES)))
    saver2.restore(other, ts.train.latest_checkpoint(str(tmp_path)))
    _assert_same(_values(other, g2), before)
    np.testing.assert_array_equal(other.run(m2["out"], {m2["x"]: XV}), expected_out)
    assert other.run(m2["label"]).tolist() == [b"alpha", b"", "βeta".encode()]


def test_saver_ops_and_saver_def(tmp_path):
    g, m = _build()
    with g.as_default():
        saver = ts.train.Saver(max_to_keep=3)
    names = {op.name: op.type for op in g.get_operations()}
    assert names["save/Const"] == "PlaceholderWithDefault"
    assert names["save/SaveV2"] == "SaveV2" and names["save/RestoreV2"] == "RestoreV2"
    assert names["save/restore_all"] == "NoOp" and "save/control_dependency" in names
    sd = saver.saver_def
    assert (sd.filename_tensor_name, sd.save_tensor_name, sd.restore_op_name) == (
        "save/Const:0", "save/control_dependency:0", "save/restore_all")
    assert sd.max_to_keep == 3 and sd.version == 2
    # The saver's ops run through any session, by name, as TF's SaverDef says.
    sess = _trained_session(g, m, steps=1)
    path = str(tmp_path / "by-name")
    sess.run(sd.save_tensor_name, {sd.filename_tensor_name: path})
    assert ts.train.checkpoint_exists(path)
    restore_op = g.get_operation_by_name("save/RestoreV2")
    assert restore_op.get_attr("dtypes")[0] == ts.float32


def test_checkpoint_state_file_and_pruning(tmp_path):
    g = ts.Graph()
    with g.as_default():
        v = ts.Variable(1.0, name="v")
        bump = v.assign_add(1.0)
        saver = ts.train.Saver(max_to_keep=2)
    sess = ts.Session(graph=g)
    base = str(tmp_path / "model.ckpt")
    paths = []
    for step in range(1, 5):
        sess.run(bump)
        paths.append(saver.save(sess, base, global_step=step))
    assert saver.last_checkpoints == paths[-2:]
    for old in paths[:2]:
        assert not ts.train.checkpoint_exists(old)
        assert not os.path.exists(old + ".data-00000-of-00001")
    state_text = (tmp_path / "checkpoint").read_text()
    assert state_text == ('model_checkpoint_path: "model.ckpt-4"\n'
                          'all_model_checkpoint_paths: "model.ckpt-3"\n'
                          'all_model_checkpoint_paths: "model.ckpt-4"\n')
    state = ts.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == paths[-1]
    assert state.all_model_checkpoint_paths == paths[-2:]
    assert ts.train.latest_checkpoint(str(tmp_path)) == paths[-1]
    saver.restore(sess, paths[-2])
    assert sess.run(v) == 4.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint", "model.ckpt-3.data-00000-of-00001", "model.ckpt-3.index",
        "model.ckpt-3.meta", "model.ckpt-4.data-00000-of-00001", "model.ckpt-4.index",
        "model.ckpt-4.meta"]


def test_save_without_step_pad_and_relative_dirs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("run")
    g = ts.Graph()
    with g.as_default():
        v = ts.Variable(np.arange(3), name="v")
        plain = ts.train.Saver()
        padded = ts.train.Saver(pad_step_numbers=True)
    sess = ts.Session(graph=g)
    assert plain.save(sess, "run/model") == "run/model"
    assert ts.train.latest_checkpoint("run") == os.path.join("run", "model")
    assert padded.save(sess, "run/model", global_step=7) == "run/model-00000007"
    assert 'model_checkpoint_path: "model-00000007"' in pathlib.Path("run/checkpoint").read_text()
    assert ts.train.list_variables("run") == [("v", [3])]
    np.testing.assert_array_equal(ts.train.load_variable("run", "v"), [0, 1, 2])
    assert sess.run(v).dtype == np.int64
    with pytest.raises(ValueError, match="Parent directory"):
        plain.save(sess, "missing/model")
    with pytest.raises(ValueError, match="collides"):
        plain.save(sess, "run/checkpoint")


def test_uninitialized_variables_are_saved_at_their_initial_values(tmp_path):
    g = ts.Graph()
    with g.as_default():
        ts.Variable([1.0, 2.0], name="w")  # the seed's style: never initialized explicitly
        saver = ts.train.Saver()
    prefix = saver.save(ts.Session(graph=g), str(tmp_path / "m"))
    assert saver_lib.read_variables(prefix)["w"].tolist() == [1.0, 2.0]


def test_var_list_dict_maps_names(tmp_path):
    g = ts.Graph()
    with g.as_default():
        a = ts.Variable(3.0, name="a")
        b = ts.Variable(0.0, name="b")
        save_a_as_x = ts.train.Saver({"x": a})
        restore_b_from_x = ts.train.Saver({"x": b})
        with pytest.raises(ValueError, match="same name"):
            ts.train.Saver([a, a])
        with pytest.raises(ValueError, match="No variables"):
            ts.train.Saver([])
        empty = ts.train.Saver([], allow_empty=True)
        assert empty.save(ts.Session(graph=g), str(tmp_path / "x")) is None
    sess = ts.Session(graph=g)
    prefix = save_a_as_x.save(sess, str(tmp_path / "m"))
    restore_b_from_x.restore(sess, prefix)
    assert sess.run(b) == 3.0


def test_recover_last_checkpoints(tmp_path):
    g = ts.Graph()
    with g.as_default():
        ts.Variable(1.0, name="v")
        saver = ts.train.Saver(max_to_keep=2)
    sess = ts.Session(graph=g)
    for step in range(2):
        saver.save(sess, str(tmp_path / "m"), global_step=step)
    with g.as_default():
        restarted = ts.train.Saver(max_to_keep=2)
    state = ts.train.get_checkpoint_state(str(tmp_path))
    restarted.recover_last_checkpoints(state.all_model_checkpoint_paths)
    assert restarted.last_checkpoints == state.all_model_checkpoint_paths
    restarted.save(sess, str(tmp_path / "m"), global_step=2)
    assert not ts.train.checkpoint_exists(str(tmp_path / "m-0"))


# -- damaged and missing files -----------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    g = ts.Graph()
    with g.as_default():
        w = ts.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
        b = ts.Variable(np.array([7.0, 8.0]), name="b")
        saver = ts.train.Saver()
    sess = ts.Session(graph=g)
    prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=1)
    sess.run([w.assign(np.zeros((2, 3), np.float32)), b.assign([0.0, 0.0])])
    return g, sess, saver, prefix, w, b


def test_missing_checkpoint_files(saved, tmp_path):
    g, sess, saver, prefix, w, b = saved
    with pytest.raises(ts.errors.NotFoundError, match="nothing-here"):
        saver.restore(sess, str(tmp_path / "nothing-here"))
    with pytest.raises(ValueError, match="not a valid checkpoint"):  # TF1's exception type too
        saver.restore(sess, str(tmp_path / "nothing-here"))
    os.remove(prefix + ".data-00000-of-00001")
    with pytest.raises(ts.errors.NotFoundError, match="data-00000-of-00001"):
        saver.restore(sess, prefix)
    assert sess.run(b).tolist() == [0.0, 0.0]


def _write_first_format(prefix, values):
    """A checkpoint in this library's first format (JSON index), as its first versions wrote
    them."""
    entries, chunks, offset = [], [], 0
    for name in sorted(values):
        value = np.asarray(values[name])
        if value.dtype == object:
            raw = b"".join(np.array(len(x), "<u8").tobytes() + x for x in value.reshape(-1))
            dtype = "string"
        else:
            raw = np.ascontiguousarray(value, value.dtype.newbyteorder("<")).tobytes()
            dtype = ts.as_dtype(value.dtype).name
        entries.append({"name": name, "dtype": dtype, "shape": list(value.shape),
                        "offset": offset, "length": len(raw), "crc32": zlib.crc32(raw)})
        chunks.append(raw)
        offset += len(raw)
    base = os.path.basename(prefix)
    pathlib.Path(prefix + ".data-00000-of-00001").write_bytes(b"".join(chunks))
    pathlib.Path(prefix + ".index").write_text(json.dumps({
        "format": "tensorslow-checkpoint", "version": 1,
        "data_file": base + ".data-00000-of-00001", "data_length": offset, "tensors": entries}))


def _corrupt_json_index(prefix, edit):
    path = prefix + ".index"
    index = json.loads(pathlib.Path(path).read_text())
    edit(index)
    pathlib.Path(path).write_text(json.dumps(index))


def _flip_index_byte(prefix, position):
    path = pathlib.Path(prefix + ".index")
    data = bytearray(path.read_bytes())
    data[position] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage,match", [
    (lambda p: pathlib.Path(p + ".index").write_bytes(b"\x00" * 100), r"\.index.*magic"),
    (lambda p: pathlib.Path(p + ".index").write_bytes(b""), r"\.index.*too short"),
    (lambda p: _flip_index_byte(p, 3), r"\.index.*checksum mismatch"),
    (lambda p: pathlib.Path(p + ".index").write_bytes(
        pathlib.Path(p + ".index").read_bytes()[10:]), r"\.index"),
])
def test_corrupt_index_is_data_loss(saved, damage, match):
    g, sess, saver, prefix, w, b = saved
    damage(prefix)
    with pytest.raises(ts.errors.DataLossError, match=match):
        saver.restore(sess, prefix)
    with pytest.raises(ts.errors.DataLossError):
        saver_lib.read_variables(prefix)


@pytest.mark.parametrize("damage,match", [
    (lambda p: pathlib.Path(p + ".index").write_text("{not json"), r"\.index.*not valid JSON"),
    (lambda p: _corrupt_json_index(p, lambda i: i["tensors"][0].update(dtype="float128")),
     r"tensor 'b'.*unknown dtype"),
    (lambda p: _corrupt_json_index(p, lambda i: i.update(version=99)), "version"),
    (lambda p: _corrupt_json_index(p, lambda i: i["tensors"][1].update(length=10**6)),
     r"tensor 'w'.*corrupt entry"),
])
def test_corrupt_first_format_index_is_data_loss(saved, damage, match):
    g, sess, saver, prefix, w, b = saved
    _write_first_format(prefix, {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                                 "b": np.array([7.0, 8.0])})
    damage(prefix)
    with pytest.raises(ts.errors.DataLossError, match=match):
        saver.restore(sess, prefix)
    with pytest.raises(ts.errors.DataLossError):
        saver_lib.read_variables(prefix)


def test_checkpoints_of_the_first_format_still_restore(saved, tmp_path):
    g, sess, saver, prefix, w, b = saved
    old = str(tmp_path / "old.ckpt")
    _write_first_format(old, {"w": np.full((2, 3), 4.0, np.float32),
                              "b": np.array([1.0, 2.0])})
    saver.restore(sess, old)
    assert sess.run(b).tolist() == [1.0, 2.0]
    values = {"s": np.array([b"a", b""], dtype=object), "i": np.array([[1, 2]], np.int64)}
    _write_first_format(old, values)
    _assert_same(saver_lib.read_variables(old), values)
    data = pathlib.Path(old + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:-1])
    with pytest.raises(ts.errors.DataLossError, match="truncated or corrupt"):
        saver_lib.read_variables(old)


def test_truncated_or_flipped_data_is_data_loss_and_restores_nothing(saved):
    g, sess, saver, prefix, w, b = saved
    data_path = prefix + ".data-00000-of-00001"
    data = pathlib.Path(data_path).read_bytes()
    pathlib.Path(data_path).write_bytes(data[:-3])
    with pytest.raises(ts.errors.DataLossError, match=r"data-00000-of-00001.*truncated"):
        saver.restore(sess, prefix)
    flipped = bytearray(data)
    flipped[-1] ^= 0xFF  # inside "w", stored after "b"
    pathlib.Path(data_path).write_bytes(bytes(flipped))
    with pytest.raises(ts.errors.DataLossError, match=r"tensor 'w'.*checksum"):
        saver.restore(sess, prefix)
    assert sess.run(b).tolist() == [0.0, 0.0]  # nothing was assigned
    pathlib.Path(data_path).write_bytes(data)
    saver.restore(sess, prefix)
    assert sess.run(b).tolist() == [7.0, 8.0]


def test_absent_variable_and_shape_or_dtype_mismatch(saved, tmp_path):
    g, sess, saver, prefix, w, b = saved
    with g.as_default():
        extra = ts.Variable(1.0, name="extra")
        bigger = ts.train.Saver()
    with pytest.raises(ts.errors.NotFoundError, match="extra"):
        bigger.restore(sess, prefix)
    g2 = ts.Graph()
    with g2.as_default():
        ts.Variable(np.zeros((3, 2), np.float32), name="w")
        ts.Variable(np.zeros(2), name="b")
        wrong_shape = ts.train.Saver()
        reshaping = ts.train.Saver(reshape=True)
    other = ts.Session(graph=g2)
    with pytest.raises(ts.errors.InvalidArgumentError, match=r"'w'.*\[2, 3\]"):
        wrong_shape.restore(other, prefix)
    reshaping.restore(other, prefix)
    assert other.run("w:0").tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    g3 = ts.Graph()
    with g3.as_default():
        ts.Variable(np.zeros((2, 3), np.float64), name="w")
        ts.Variable(np.zeros(2), name="b")
        wrong_dtype = ts.train.Saver()
    with pytest.raises(ts.errors.InvalidArgumentError, match="expected dtype double|float64"):
        wrong_dtype.restore(ts.Session(graph=g3), prefix)
    assert extra.dtype == ts.float32


def test_a_crash_while_saving_keeps_the_previous_checkpoint(saved, monkeypatch, tmp_path):
    g, sess, saver, prefix, w, b = saved
    real_replace = os.replace

    def crash_on_index(src, dst):
        if str(dst).endswith(".index"):
            raise OSError("simulated crash before the index was renamed")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_index)
    with pytest.raises(ts.errors.OpError, match="simulated crash"):
        saver.save(sess, str(tmp_path / "model.ckpt"), global_step=2)
    monkeypatch.setattr(os, "replace", real_replace)
    assert not ts.train.checkpoint_exists(str(tmp_path / "model.ckpt-2"))
    assert ts.train.latest_checkpoint(str(tmp_path)) == prefix
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    saver.restore(sess, ts.train.latest_checkpoint(str(tmp_path)))
    assert sess.run(b).tolist() == [7.0, 8.0]


def test_a_crash_while_writing_the_state_file_keeps_it_whole(saved, monkeypatch, tmp_path):
    g, sess, saver, prefix, w, b = saved
    real_replace = os.replace

    def crash_on_state(src, dst):
        if os.path.basename(str(dst)) == "checkpoint":
            raise OSError("simulated crash before the state file was renamed")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_state)
    with pytest.raises(OSError, match="simulated crash"):
        saver.save(sess, str(tmp_path / "model.ckpt"), global_step=2)
    monkeypatch.setattr(os, "replace", real_replace)
    assert ts.train.latest_checkpoint(str(tmp_path)) == prefix


def test_file_format_is_tensorflows_tensor_bundle(saved):
    g, sess, saver, prefix, w, b = saved
    table = dict(tensor_bundle.read_table(pathlib.Path(prefix + ".index").read_bytes()))
    header = ts.proto.BundleHeaderProto.FromString(table[b""])
    assert (header.num_shards, header.endianness, header.version.producer) == (1, 0, 1)
    entry = ts.proto.BundleEntryProto.FromString(table[b"w"])
    assert entry.dtype == ts.float32.as_datatype_enum
    assert [d.size for d in entry.shape.dim] == [2, 3] and entry.size == 24
    data = pathlib.Path(prefix + ".data-00000-of-00001").read_bytes()
    raw = data[entry.offset:entry.offset + entry.size]
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4").reshape(2, 3),
                                  np.arange(6).reshape(2, 3))
    assert tensor_bundle.unmask(entry.crc32c) == tensor_bundle.crc32c(raw)
    assert sorted(table) == [b"", b"b", b"w"]


def test_write_and_read_variables_round_trip_all_dtypes(tmp_path):
    values = {
        "f16": np.array([1.5, -2.0], np.float16), "f64": np.array(3.25),
        "i8": np.array([[-1, 2]], np.int8), "u16": np.array([65535], np.uint16),
        "i64": np.array([2**40], np.int64), "bool": np.array([True, False]),
        "c128": np.array([1 + 2j]), "empty": np.zeros((0, 3), np.float32),
        "str": np.array([[b"a", b"bc"], [b"", b"\x00\xff"]], dtype=object),
    }
    prefix = str(tmp_path / "all")
    saver_lib.write_variables(prefix, values)
    back = saver_lib.read_variables(prefix)
    _assert_same(back, values)


def test_no_pickle_or_eval_in_the_checkpoint_code():
    root = pathlib.Path(saver_lib.__file__).parent
    for path in [*root.glob("*.py"), pathlib.Path(saver_lib.__file__)]:
        text = path.read_text()
        for word in ("pickle", "eval(", "exec(", "np.load", "allow_pickle"):
            assert word not in text, f"{word} in {path}"


def _peak_bytes(fn) -> int:
    """The most memory (numpy arrays and Python objects) `fn` held at once beyond its start."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def test_save_and_restore_copy_a_large_variable_at_most_once(tmp_path):
    value = np.random.RandomState(0).rand(4_000_000).astype(np.float32)  # 16 MB
    g = ts.Graph()
    with g.as_default():
        v = ts.Variable(value, name="big")
        saver = ts.train.Saver([v])
    sess = ts.Session(graph=g)
    sess.run(v.initializer)
    prefix = str(tmp_path / "model.ckpt")
    # Saving writes the variable's own memory: no copy of it is made.
    assert _peak_bytes(lambda: saver.save(sess, prefix, write_meta_graph=False)) < \
        0.25 * value.nbytes
    sess.run(v.assign(ts.zeros_like(v)))
    # Restoring reads the tensor once; the variable keeps what was read.
    assert _peak_bytes(lambda: saver.restore(sess, prefix)) < 1.25 * value.nbytes
    restored = sess.run(v)
    np.testing.assert_array_equal(restored, value)
    sess.run(v.assign_add(ts.ones_like(v)))  # the restored value updates as any other
    np.testing.assert_array_equal(sess.run(v), value + 1)
    # What read_variables gives the caller is writable, as TensorFlow's reader's arrays are.
    read = saver_lib.read_variables(prefix)["big"]
    read[0] = -1.0
    np.testing.assert_array_equal(saver_lib.read_variables(prefix)["big"], value)


def test_crc32c_of_buffers_equals_that_of_bytes():
    data = np.random.RandomState(1).randint(0, 256, 3 * 2**18 + 17)
    data = data.astype(np.uint8)
    expected = tensor_bundle.crc32c(data.tobytes())
    assert tensor_bundle.crc32c(memoryview(data)) == expected
    floats = np.linspace(-1, 1, 70_001, dtype=np.float32)
    assert tensor_bundle.crc32c(memoryview(floats)) == tensor_bundle.crc32c(floats.tobytes())
    head = tensor_bundle.crc32c(data[:100].tobytes())
    assert tensor_bundle.crc32c(memoryview(data)[100:], head) == expected


def test_a_flipped_byte_in_a_large_tensor_is_data_loss_naming_it(tmp_path):
    # Large tensors are checked on a thread beside the reads: a damaged one is still caught.
    values = {"a": np.arange(600_000, dtype=np.float32), "b": np.ones(700_000, np.float64)}
    prefix = str(tmp_path / "ckpt")
    saver_lib.write_variables(prefix, values)
    index = saver_lib.read_index(prefix)
    data_path = prefix + saver_lib.DATA_SUFFIX
    raw = bytearray(pathlib.Path(data_path).read_bytes())
    raw[index.entries["b"].offset + 12345] ^= 0x40
    pathlib.Path(data_path).write_bytes(bytes(raw))
    with pytest.raises(ts.errors.DataLossError, match="tensor 'b': checksum mismatch"):
        saver_lib.read_tensors(index, ["a", "b"], writable=False)
    np.testing.assert_array_equal(saver_lib.read_tensors(index, ["a"])["a"], values["a"])
