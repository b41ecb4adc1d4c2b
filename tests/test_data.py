"""ts.data: sources, transformations, iterators, the end of the data, and iterator positions
that checkpoints save and restore."""

import numpy as np
import pytest

import tensorslow as ts


def _drain(sess, element, limit=1000):
    out = []
    with pytest.raises(ts.errors.OutOfRangeError, match="End of sequence"):
        for _ in range(limit):
            out.append(sess.run(element))
    return out


def test_slices_batch_and_end_of_sequence():
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    y = np.arange(7)
    with ts.Graph().as_default():
        ds = ts.data.Dataset.from_tensor_slices((x, y)).batch(3)
        assert ds.output_types == (ts.float32, ts.int64)
        assert [s.as_list() for s in ds.output_shapes] == [[None, 2], [None]]
        xb, yb = ds.make_one_shot_iterator().get_next()
        assert xb.shape.as_list() == [None, 2]
        with ts.Session() as sess:
            batches = _drain(sess, (xb, yb))
            # the end stays the end
            with pytest.raises(ts.errors.OutOfRangeError):
                sess.run(xb)
    assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    np.testing.assert_array_equal(batches[0][0], x[:3])


def test_drop_remainder_repeat_take_skip_range():
    with ts.Graph().as_default():
        ds = ts.data.Dataset.range(7).batch(3, drop_remainder=True).repeat(2)
        assert ds.output_shapes.as_list() == [3]
        a = ts.data.make_one_shot_iterator(ds).get_next()
        b = ts.data.make_one_shot_iterator(ts.data.Dataset.range(2, 20, 3).skip(1).take(3)
                                           ).get_next()
        with ts.Session() as sess:
            assert [v.tolist() for v in _drain(sess, a)] == [[0, 1, 2], [3, 4, 5]] * 2
            assert [int(v) for v in _drain(sess, b)] == [5, 8, 11]


def test_shard_partitions_the_data():
    with ts.Graph().as_default():
        shards = [ts.data.Dataset.range(10).shard(3, i).make_one_shot_iterator().get_next()
                  for i in range(3)]
        with ts.Session() as sess:
            got = [[int(v) for v in _drain(sess, s)] for s in shards]
    assert got == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError):
        ts.data.Dataset.range(3).shard(2, 2)


@pytest.mark.parametrize("stages", [
    lambda ds: ds.batch(4),
    lambda ds: ds.batch(4, drop_remainder=True),
    lambda ds: ds.shard(3, 1).batch(2).repeat(2),
    lambda ds: ds.skip(2).take(7).shard(2, 0).batch(3),
    lambda ds: ds.take(-1).skip(-1).batch(3),          # skip(-1): nothing left
    lambda ds: ds.shard(2, 1).repeat(2).batch(4),      # batches across the epoch boundary
    lambda ds: ds.shuffle(5, seed=3).batch(4),
    lambda ds: ds.batch(4).shard(2, 1),
])
def test_slices_batched_as_blocks_equal_rows_stacked_one_by_one(stages):
    # from_tensor_slices(...).shard/take/skip(...).batch(...) runs as array slicing; the
    # batches must be the rows a Python reference selects, stacked.
    from tensorslow.data import pipeline

    x = np.arange(11 * 3, dtype=np.float32).reshape(11, 3)
    y = np.arange(11) * 10
    with ts.Graph().as_default():
        ds = stages(ts.data.Dataset.from_tensor_slices((x, y)))
        e = ds.make_one_shot_iterator().get_next()
        with ts.Session() as sess:
            got = _drain(sess, e)
        spec = pipeline.decode_spec(ds._spec())
    rows = pipeline._slices((x, y))

    def row_by_row(factory, stage):  # the reference: every stage on rows
        kind = stage["kind"]
        if kind == "batch":
            return pipeline._batch(factory, stage["batch_size"], stage["drop_remainder"])
        if kind == "shard":
            return pipeline._shard(factory, stage["num_shards"], stage["index"])
        if kind == "shuffle":
            return pipeline._shuffle(factory, stage["buffer_size"], stage.get("seed"),
                                     stage.get("reshuffle", True))
        return getattr(pipeline, f"_{kind}")(factory, stage["count"])

    factory = rows
    for stage in spec["stages"]:
        factory = row_by_row(factory, stage)
    expected = list(factory(()))
    assert len(got) == len(expected)
    for (gx, gy), (ex, ey) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(gx, ex)
        np.testing.assert_array_equal(gy, ey)
        assert gx.dtype == ex.dtype and gx.shape == ex.shape


def _shuffled(seed, epochs=2, graph_seed=None):
    g = ts.Graph()
    with g.as_default():
        if graph_seed is not None:
            ts.set_random_seed(graph_seed)
        ds = ts.data.Dataset.range(20).shuffle(5, seed=seed).repeat(epochs)
        e = ds.make_one_shot_iterator().get_next()
    with ts.Session(graph=g) as sess:
        return [int(v) for v in _drain(sess, e)]


def test_shuffle_is_deterministic_with_a_seed_and_reshuffles_each_epoch():
    first = _shuffled(seed=3)
    assert first == _shuffled(seed=3)
    assert first != _shuffled(seed=4)
    assert sorted(first[:20]) == list(range(20)) and sorted(first[20:]) == list(range(20))
    assert first[:20] != first[20:]  # a new order each epoch
    assert first[:20] != list(range(20))
    assert _shuffled(seed=None, graph_seed=5) == _shuffled(seed=None, graph_seed=5)


def test_map_with_ts_ops_and_dict_elements():
    with ts.Graph().as_default():
        ds = ts.data.Dataset.from_tensor_slices({"x": np.arange(6.0, dtype=np.float32),
                                                 "label": np.arange(6)})
        ds = ds.map(lambda e: {"x2": ts.square(e["x"]) + 1.0, "label": e["label"] * 10})
        ds = ds.batch(4)
        assert ds.output_types == {"label": ts.int64, "x2": ts.float32}
        e = ds.make_one_shot_iterator().get_next()
        pairs = ts.data.Dataset.from_tensor_slices((np.ones(3, np.float32), np.arange(3.0))).map(
            lambda a, b: (a + ts.cast(b, ts.float32), b)).make_one_shot_iterator().get_next()
        with ts.Session() as sess:
            first = sess.run(e)
            assert first["x2"].tolist() == [1.0, 2.0, 5.0, 10.0]
            assert first["label"].tolist() == [0, 10, 20, 30]
            assert sess.run(pairs)[0] == 1.0 and sess.run(pairs)[0] == 2.0


def test_map_rejects_variables_and_outer_tensors():
    with ts.Graph().as_default():
        outer = ts.constant(2.0)
        ds = ts.data.Dataset.range(3)
        with pytest.raises(ts.errors.InvalidArgumentError):
            ds.map(lambda v: ts.cast(v, ts.float32) * outer)
        with pytest.raises(ValueError, match="variables"):
            ds.map(lambda v: ts.Variable(1.0) + 1.0)


def test_initializable_iterator_with_fed_placeholder():
    with ts.Graph().as_default():
        p = ts.placeholder(ts.float32, [None])
        it = ts.data.make_initializable_iterator(ts.data.Dataset.from_tensor_slices(p).batch(2))
        nxt = it.get_next()
        with ts.Session() as sess:
            with pytest.raises(ts.errors.FailedPreconditionError, match="not been initialized"):
                sess.run(nxt)
            sess.run(it.initializer, {p: [1, 2, 3]})
            assert sess.run(nxt).tolist() == [1.0, 2.0]
            sess.run(it.initializer, {p: [7, 8]})  # restarts on new data
            assert [v.tolist() for v in _drain(sess, nxt)] == [[7.0, 8.0]]
        with pytest.raises(ValueError, match="placeholder"):
            ts.data.Dataset.from_tensor_slices(p).make_one_shot_iterator()


def test_reinitializable_iterator_from_structure():
    with ts.Graph().as_default():
        train = ts.data.Dataset.range(3)
        test = ts.data.Dataset.range(10, 12)
        it = ts.data.Iterator.from_structure(train.output_types, train.output_shapes)
        nxt = it.get_next()
        init_train, init_test = it.make_initializer(train), it.make_initializer(test)
        with pytest.raises(TypeError):
            it.make_initializer(ts.data.Dataset.from_tensors(np.float32(1.0)))
        with ts.Session() as sess:
            sess.run(init_train)
            assert int(sess.run(nxt)) == 0
            sess.run(init_test)
            assert [int(v) for v in _drain(sess, nxt)] == [10, 11]


def test_from_tensors_and_bad_inputs():
    with ts.Graph().as_default():
        ds = ts.data.Dataset.from_tensors(np.eye(2, dtype=np.float32)).repeat(2)
        e = ds.make_one_shot_iterator().get_next()
        with ts.Session() as sess:
            assert len(_drain(sess, e)) == 2
    with pytest.raises(ValueError, match="different first dimensions"):
        ts.data.Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="scalar"):
        ts.data.Dataset.from_tensor_slices(np.float32(1.0))
    with pytest.raises(ValueError):
        ts.data.Dataset.range(3).batch(0)


def test_iterator_position_is_saved_and_restored(tmp_path):
    """Restoring a checkpoint resumes the input where it was when the checkpoint was saved."""
    def build():
        g = ts.Graph()
        with g.as_default():
            ds = ts.data.Dataset.range(100).shuffle(10, seed=1).batch(4).repeat()
            e = ds.make_one_shot_iterator().get_next()
            saver = ts.train.Saver()
        return g, e, saver

    g, e, saver = build()
    with ts.Session(graph=g) as sess:
        for _ in range(5):
            sess.run(e)
        path = saver.save(sess, str(tmp_path / "ckpt"))
        expected = [sess.run(e).tolist() for _ in range(3)]
        saver.restore(sess, path)  # the same session goes back too
        assert [sess.run(e).tolist() for _ in range(3)] == expected
    g2, e2, saver2 = build()
    with ts.Session(graph=g2) as fresh:
        saver2.restore(fresh, path)
        assert [fresh.run(e2).tolist() for _ in range(3)] == expected
        [position] = g2.get_collection(ts.GraphKeys.GLOBAL_VARIABLES)
        assert position.op.name == "OneShotIterator/position"
        fresh.run(position.initializer)
        first = fresh.run(e2).tolist()
    g3, e3, _ = build()
    with ts.Session(graph=g3) as other:
        assert other.run(e3).tolist() == first  # re-initializing restarts from the beginning


def test_iterator_is_placed_on_its_device_scope():
    with ts.Graph().as_default() as g:
        with ts.device("/job:worker/task:1"):
            it = ts.data.Dataset.range(4).batch(2).make_one_shot_iterator()
        with ts.device("/job:worker/task:0"):
            e = it.get_next()  # the GetNext op joins its iterator's task
        ops = [op for op in g.get_operations() if op.type.startswith("DatasetIterator")]
        assert ops and all("task:1" in op.device or op.get_attr("_class") for op in ops)
        with ts.Session() as sess:
            assert sess.run(e).tolist() == [0, 1]
