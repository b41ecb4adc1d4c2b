"""Summaries and event files: CRC-32C and TFRecord framing, the summary ops, FileWriter's event
files (version record first, graph, summaries, session logs) and the reader that checks them."""

import glob
import os
import struct

import numpy as np
import pytest

import tensorslow as ts
from tensorslow import proto
from tensorslow.summary import record_io
from tensorslow.summary.summary_ops import histogram_proto

# --------------------------------------------------------------------------------------------
# CRC-32C and framing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, expected", [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),          # the CRC catalogue's check value
    (bytes(32), 0x8A9136AA),             # RFC 3720, B.4
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
])
def test_crc32c_known_vectors(data, expected):
    assert record_io.crc32c(data) == expected


def test_crc32c_continues_and_masks():
    data = bytes(range(200)) * 3
    assert record_io.crc32c(data[100:], record_io.crc32c(data[:100])) == record_io.crc32c(data)
    crc = record_io.crc32c(data)
    assert record_io.unmask_crc32c(record_io.masked_crc32c(data)) == crc
    assert record_io.masked_crc32c(data) != crc


def test_record_framing_round_trip_and_layout(tmp_path):
    path = tmp_path / "records"
    records = [b"", b"x", bytes(range(256)) * 5]
    with record_io.TFRecordWriter(str(path)) as writer:
        for r in records:
            writer.write(r)
    raw = path.read_bytes()
    length, length_crc = struct.unpack("<QI", raw[:12])
    assert length == 0 and length_crc == record_io.masked_crc32c(raw[:8])
    assert list(record_io.tf_record_iterator(str(path))) == records


@pytest.mark.parametrize("damage", ["flip_data", "flip_length", "truncate"])
def test_reader_rejects_damaged_records(tmp_path, damage):
    path = tmp_path / "records"
    with record_io.TFRecordWriter(str(path)) as writer:
        writer.write(b"first record")
        writer.write(b"second record")
    raw = bytearray(path.read_bytes())
    second = 12 + len(b"first record") + 4
    if damage == "flip_data":
        raw[second + 12 + 3] ^= 0x01
    elif damage == "flip_length":
        raw[second] ^= 0x01
    else:
        raw = raw[:-2]
    path.write_bytes(bytes(raw))
    it = record_io.tf_record_iterator(str(path))
    assert next(it) == b"first record"
    with pytest.raises(ts.errors.DataLossError, match="record 1"):
        next(it)


def test_reader_names_a_missing_file(tmp_path):
    with pytest.raises(ts.errors.NotFoundError):
        list(record_io.tf_record_iterator(str(tmp_path / "nope")))


# --------------------------------------------------------------------------------------------
# Summary ops
# --------------------------------------------------------------------------------------------


def _parse(serialized) -> proto.Summary:
    summary = proto.Summary()
    summary.ParseFromString(serialized.item() if hasattr(serialized, "item") else serialized)
    return summary


def test_scalar_tags_follow_name_scopes_and_collect():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [])
        a = ts.summary.scalar("loss", x)
        b = ts.summary.scalar("loss", x * 2.0)
        with ts.name_scope("tower"):
            c = ts.summary.scalar("loss", x, family="train")
        d = ts.summary.scalar("bad name!", x, collections=["mine"])
        assert g.get_collection(ts.GraphKeys.SUMMARIES) == [a, b, c]
        assert g.get_collection("mine") == [d]
        assert a.op.type == "ScalarSummary" and a.dtype == ts.string
    with ts.Session(graph=g) as sess:
        values = sess.run([a, b, c, d], {x: 1.5})
    tags = [(_parse(v).value[0].tag, _parse(v).value[0].simple_value) for v in values]
    assert tags == [("loss", 1.5), ("loss_1", 3.0), ("train/tower/train/loss", 1.5),
                    ("bad_name_", 1.5)]


def test_scalar_rejects_non_scalars():
    with ts.Graph().as_default():
        with pytest.raises(ValueError, match="scalar"):
            ts.summary.scalar("v", ts.constant([1.0, 2.0]))


def test_histogram_matches_tensorflows_bucketing():
    values = np.array([-3.0, -0.5, 0.0, 0.0, 1e-13, 2.0, 2.05, 1e30])
    h = proto.HistogramProto()
    histogram_proto(values, h)
    assert (h.min, h.max, h.num) == (-3.0, 1e30, 8.0)
    assert h.sum == pytest.approx(values.sum())
    assert h.sum_squares == pytest.approx(np.dot(values, values))
    assert sum(h.bucket) == 8
    limits = np.array(h.bucket_limit)
    assert np.all(np.diff(limits) > 0)
    # Each value falls in the first bucket whose limit exceeds it.
    for v in values:
        k = int(np.searchsorted(limits, v, side="right"))
        assert h.bucket[k] > 0
    assert limits[-1] == np.finfo(np.float64).max  # the last edge is DBL_MAX
    empty = proto.HistogramProto()
    histogram_proto(np.array([]), empty)
    assert list(empty.bucket) == [0.0] and empty.num == 0


def test_histogram_op_and_nan_error():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None])
        h = ts.summary.histogram("weights", x)
    with ts.Session(graph=g) as sess:
        value = _parse(sess.run(h, {x: [1.0, 2.0, 3.0]})).value[0]
        assert value.tag == "weights" and value.histo.num == 3 and value.histo.sum == 6.0
        with pytest.raises(ts.errors.InvalidArgumentError, match="Nan in summary histogram "
                           "for: weights"):
            sess.run(h, {x: [1.0, np.nan]})


def test_merge_all_and_duplicate_tags():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [])
        assert ts.summary.merge_all() is None
        a = ts.summary.scalar("a", x)
        ts.summary.histogram("h", ts.stack([x, x]))
        merged = ts.summary.merge_all()
        dup = ts.summary.merge([a, a])
    with ts.Session(graph=g) as sess:
        summary = _parse(sess.run(merged, {x: 2.0}))
        assert [v.tag for v in summary.value] == ["a", "h"]
        with pytest.raises(ts.errors.InvalidArgumentError, match="Duplicate tag a"):
            sess.run(dup, {x: 2.0})


# --------------------------------------------------------------------------------------------
# Event files
# --------------------------------------------------------------------------------------------


def _events(logdir):
    files = sorted(glob.glob(os.path.join(str(logdir), "events.out.tfevents.*")))
    assert files, f"no event file in {logdir}"
    return files, [list(ts.train.summary_iterator(f)) for f in files]


def test_file_writer_writes_version_graph_and_summaries(tmp_path):
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [], name="x")
        loss = ts.square(x, name="sq")
        s = ts.summary.scalar("loss", loss)
    writer = ts.summary.FileWriter(str(tmp_path), g)
    with ts.Session(graph=g) as sess:
        for step in range(3):
            writer.add_summary(sess.run(s, {x: float(step)}), global_step=step)
    handmade = proto.Summary()
    handmade.value.add(tag="lr", simple_value=0.5)
    writer.add_summary(handmade, 10)
    writer.add_session_log(proto.SessionLog(status=proto.SessionLog.START), 11)
    writer.close()

    files, [events] = _events(tmp_path)
    name = os.path.basename(files[0])
    assert name.startswith("events.out.tfevents.") and name.split(".")[3].isdigit()
    assert events[0].file_version == "brain.Event:2"
    kinds = [e.WhichOneof("what") for e in events]
    assert kinds == ["file_version", "graph_def", "meta_graph_def", "summary", "summary",
                     "summary", "summary", "session_log"]
    graph_def = proto.GraphDef()
    graph_def.ParseFromString(events[1].graph_def)
    assert {n.name for n in graph_def.node} >= {"x", "sq", "loss"}
    scalars = [(e.step, e.summary.value[0].tag, e.summary.value[0].simple_value)
               for e in events if e.HasField("summary")]
    assert scalars == [(0, "loss", 0.0), (1, "loss", 1.0), (2, "loss", 4.0), (10, "lr", 0.5)]
    assert events[-1].session_log.status == proto.SessionLog.START and events[-1].step == 11
    assert all(e.wall_time > 0 for e in events)


def test_file_writer_flushes_and_reopens(tmp_path):
    writer = ts.summary.FileWriter(str(tmp_path), max_queue=100, flush_secs=3600)
    summary = proto.Summary()
    summary.value.add(tag="v", simple_value=1.0)
    writer.add_summary(summary, 1)
    writer.flush()  # readable before close
    _, [events] = _events(tmp_path)
    assert [e.step for e in events if e.HasField("summary")] == [1]
    writer.close()
    writer.add_summary(summary, 2)  # dropped with a warning: closed
    writer.reopen()
    writer.add_summary(summary, 3)
    writer.close()
    files, all_events = _events(tmp_path)
    assert len(files) == 2
    assert [e.step for evs in all_events for e in evs if e.HasField("summary")] == [1, 3]


def test_add_summary_rejects_garbage(tmp_path):
    with ts.summary.FileWriter(str(tmp_path)) as writer:
        with pytest.raises(ts.errors.InvalidArgumentError):
            writer.add_summary(b"\xff\xff\xff not a summary")
        with pytest.raises(TypeError):
            writer.add_summary(3.0)


def test_file_writer_cache_shares_one_writer(tmp_path):
    try:
        a = ts.summary.FileWriterCache.get(str(tmp_path))
        b = ts.summary.FileWriterCache.get(str(tmp_path) + "/")
        assert a is b
    finally:
        ts.summary.FileWriterCache.clear()


def test_summary_iterator_detects_corruption(tmp_path):
    with ts.summary.FileWriter(str(tmp_path)) as writer:
        writer.add_summary(proto.Summary(), 1)
    [path] = glob.glob(str(tmp_path / "events.*"))
    raw = bytearray(open(path, "rb").read())
    raw[-6] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(raw))
    with pytest.raises(ts.errors.DataLossError):
        list(ts.train.summary_iterator(path))


_TENSORBOARD_CHECK = """
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={"histograms": 0})
acc.Reload()
print(json.dumps({"loss": [e.value for e in acc.Scalars("loss")],
                  "histo": acc.Histograms("w")[-1].histogram_value.num,
                  "graph_nodes": len(acc.Graph().node)}))
"""


def _tensorboard_python():
    """This interpreter when it has tensorboard, else TENSORSLOW_TENSORBOARD_PYTHON when set,
    else the TENSORSLOW_TF_PYTHON of the interchange tests when it has tensorboard (recent
    TensorFlow releases no longer install it), else None."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("tensorboard") is not None:
        return sys.executable
    if os.environ.get("TENSORSLOW_TENSORBOARD_PYTHON"):
        return os.environ["TENSORSLOW_TENSORBOARD_PYTHON"]
    python = os.environ.get("TENSORSLOW_TF_PYTHON")
    if python and subprocess.run([python, "-c", "import tensorboard"], capture_output=True,
                                 timeout=120).returncode == 0:
        return python
    return None


def test_tensorboard_reads_our_event_files(tmp_path):
    import json
    import subprocess

    python = _tensorboard_python()
    if python is None:
        pytest.skip("tensorboard is not installed here (set TENSORSLOW_TENSORBOARD_PYTHON to a "
                    "Python that has it)")
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [None])
        ts.summary.scalar("loss", ts.reduce_mean(x))
        ts.summary.histogram("w", x)
        merged = ts.summary.merge_all()
    with ts.summary.FileWriter(str(tmp_path), g) as writer, ts.Session(graph=g) as sess:
        for step in range(3):
            writer.add_summary(sess.run(merged, {x: [step * 0.5, 1.0, 2.0]}), step)
    done = subprocess.run([python, "-c", _TENSORBOARD_CHECK, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"tensorboard ({python}) failed:\n{done.stderr}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["loss"] == pytest.approx([1.0, 7 / 6, 4 / 3])
    assert seen["histo"] == 3.0 and seen["graph_nodes"] > 3
