"""Placement, partitioning, automatic partitioning and pictures: plain Python, no Ray."""

from __future__ import annotations

import numpy as np
import pytest

import tensorslow as ts
from tensorslow.train import MomentumOptimizer
from tensorslow.train.device_setter import ClusterSpec, replica_device_setter
from worker import auto_partition, placer
from worker.graph_cli import demo_mlp
from worker.graph_cli import run as graph_cli_run
from worker.partition import partition
from worker.placer import Task
from worker.visualize import render_partition

PS0, PS1 = Task("ps", 0), Task("ps", 1)
W0, W1 = Task("worker", 0), Task("worker", 1)


def test_explicit_devices_and_partial_specs_are_completed():
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:ps"):
            a = ts.constant(1.0, name="a")
        with ts.device("/job:worker/replica:0/task:1/device:CPU:0"):
            b = ts.identity(a, name="b")
        with ts.device("/job:worker"), ts.device("/task:1"):
            c = ts.identity(b, name="c")
    p = placer.place(g)
    assert p.task_of(a.op) == PS0
    assert p.task_of(b.op) == W1
    assert p.task_of(c.op) == W1
    assert W1.device == "/job:worker/replica:0/task:1/device:CPU:0"


def test_unplaced_nodes_follow_inputs_then_consumers_then_default():
    g = ts.Graph()
    with g.as_default():
        k = ts.constant(2.0, name="k")                 # no input: goes to its consumer
        x = ts.placeholder(ts.float32, [], name="x")
        with ts.device("/job:worker/task:1"):
            y = ts.multiply(x, k, name="y")
        z = ts.square(y, name="z")                     # follows its input
        lonely = ts.constant(0.0, name="lonely")       # nothing placed around it
    p = placer.place(g)
    assert p.task_of(k.op) == W1 and p.task_of(x.op) == W1
    assert p.task_of(z.op) == W1
    assert p.task_of(lonely.op) == W0


def test_variables_move_with_their_assign_read_and_optimizer_slots():
    g = ts.Graph()
    with g.as_default():
        with ts.device(replica_device_setter(ps_tasks=2)):
            w = ts.Variable(np.ones((3, 2), np.float32), name="w")
            b = ts.Variable(np.zeros(2, np.float32), name="b")
            x = ts.placeholder(ts.float32, [4, 3])
            loss = ts.reduce_sum(ts.square(ts.matmul(x, w) + b))
            train = MomentumOptimizer(0.1, 0.9).minimize(loss)
    p = placer.place(g)
    assert p.task_of(w.op) == PS0 and p.task_of(b.op) == PS1   # round robin
    for op in g.get_operations():
        if op.type == "ApplyMomentum":
            var = op.inputs[0].op
            assert p.task_of(op) == p.task_of(var)
            assert p.task_of(op.inputs[1].op) == p.task_of(var)  # the slot variable
    assert p.task_of(w.initializer) == PS0
    assert p.task_of(g.get_operation_by_name("w/read")) == PS0
    assert p.task_of(train) == W0  # the device function put it on /job:worker
    assert p.task_of(loss.op) == W0


def test_colocate_with_ignores_outer_device_scopes():
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:ps/task:0"):
            v = ts.Variable(1.0, name="v")
        with ts.device("/job:worker/task:1"):
            with ts.colocate_with(v.op):
                update = ts.assign_add(v, 1.0)
            other = ts.identity(v, name="other")
    assert update.op.device == "/job:ps/task:0"
    assert other.op.device == "/job:worker/task:1"


def test_an_update_runs_with_its_variable_whatever_device_it_asks_for():
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:ps/task:0"):
            v = ts.Variable(1.0, name="v")
        with ts.device("/job:worker/task:1"):
            update = ts.assign_add(v, 1.0, name="update")
    assert placer.place(g).task_of(update.op) == PS0


def test_conflicting_colocation_is_an_error_naming_both_nodes():
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:ps/task:0"):
            anchor = ts.constant(1.0, name="anchor")
        with ts.colocate_with(anchor.op), ts.device("/job:worker/task:1"):
            ts.identity(anchor, name="elsewhere")
    with pytest.raises(ts.errors.InvalidArgumentError, match="'anchor'.*'elsewhere'"):
        placer.place(g)


def test_a_task_outside_the_configured_cluster_is_an_error_naming_the_node():
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:worker/task:5"):
            ts.constant(1.0, name="far_away")
    with pytest.raises(ts.errors.InvalidArgumentError, match="far_away.*task:5"):
        placer.place(g, cluster={"worker": 2})
    with pytest.raises(ts.errors.InvalidArgumentError, match="far_away"):
        placer.place(g, cluster=ClusterSpec({"ps": ["a:1"], "worker": ["b:1", "c:1"]}))
    assert placer.place(g, cluster={"worker": 6}).tasks == [Task("worker", 5)]


def test_session_options_from_a_config_proto_or_a_dict():
    from worker.cluster_session import options_from

    spec = ClusterSpec({"ps": ["a:1"], "worker": ["b:1", "c:1"]})
    options = options_from(ts.ConfigProto(cluster_def=spec.as_cluster_def(),
                                          operation_timeout_in_ms=2500))
    assert placer.parse_cluster(options.cluster) == {"ps": 1, "worker": 2}
    assert options.step_timeout == 2.5
    assert options_from({"auto_partition": 2}).auto_partition == 2
    assert options_from(None).cluster is None and options_from(ts.ConfigProto()).cluster is None
    with pytest.raises(ValueError, match="auto_partitoin"):
        options_from({"auto_partitoin": 2})


def test_replica_device_setter_and_cluster_spec_match_tensorflow():
    cluster = ClusterSpec({"ps": ["ps0:2222", "ps1:2222", "ps2:2222"], "worker": ["w0:2222"]})
    assert cluster.num_tasks("ps") == 3 and cluster.job_tasks("worker") == ["w0:2222"]
    assert ClusterSpec(cluster.as_cluster_def()) == cluster
    assert replica_device_setter(ps_tasks=0) is None
    g = ts.Graph()
    with g.as_default(), ts.device(replica_device_setter(cluster=cluster)):
        vs = [ts.Variable(float(i), name=f"v{i}") for i in range(4)]
        y = ts.add_n(vs)
    assert [v.op.device for v in vs] == ["/job:ps/task:0", "/job:ps/task:1", "/job:ps/task:2",
                                         "/job:ps/task:0"]
    assert y.op.device == "/job:worker"
    assert vs[1].initializer.device == "/job:ps/task:1"


def test_pinned_nodes_keep_their_task_when_the_graph_grows():
    g = ts.Graph()
    with g.as_default():
        v = ts.Variable(1.0, name="v")
        first = placer.place(g)
        with ts.device("/job:worker/task:1"):
            ts.identity(v, name="reader")
    assert first.task_of(v.op) == W0
    assert placer.place(g).task_of(v.op) == Task("worker", 1)  # unpinned: follows the reader
    assert placer.place(g, pinned=first.by_name()).task_of(v.op) == W0


def _round_trip_graph():
    g = ts.Graph()
    with g.as_default():
        x = ts.placeholder(ts.float32, [2, 2], name="x")
        with ts.device("/job:worker/task:0"):
            a = ts.square(x, name="a")
            k = ts.constant(3.0, name="k")
        with ts.device("/job:worker/task:1"):
            b = ts.add(a, 1.0, name="b")
            b2 = ts.multiply(a, 2.0, name="b2")
        with ts.device("/job:worker/task:0"):
            c = ts.multiply(b, k, name="c")
            d = ts.add(c, b2, name="d")
            e = ts.add(d, a, name="e")  # a, from stage 0, is kept on the worker until stage 2
    return g, x, a, b, c, d, e


def test_a_round_trip_becomes_three_ordered_stages_with_shared_recvs():
    g, x, a, b, c, d, e = _round_trip_graph()
    part = partition(g, placer.place(g), [e, b], [x])
    assert [(s.task, s.level) for s in part.stages] == [(W0, 0), (W1, 1), (W0, 2)]
    first, middle, last = part.stages
    assert first.feed_names == ["_recv/x/0:0"] and first.arg_slots == [0]
    assert first.packets == [["_send/a/0:0"]]          # one Send, though two nodes use it
    assert middle.arg_slots == first.packet_slots
    assert sorted(n.name for n in middle.graph_def.node if n.op == "_Recv") == ["_recv/a/0"]
    assert last.carry_in == [("_carry/a/0:0", "a:0")] and first.carry_out == [("a:0", "a:0")]
    assert first.ends_task is False and last.ends_task is True
    assert "k" in {n.name for n in last.graph_def.node}
    names = {n.name for s in part.stages for n in s.graph_def.node}
    assert {"a", "b", "b2", "c", "d"} <= names                  # user nodes keep their names
    # b goes to worker 0 and to the driver, b2 to worker 0 only: two packets
    assert middle.packets == [["_send/b/0:0"], ["_send/b2/0:0"]]
    assert part.fetch_sources[1] == (middle.packet_slots[0], 0)
    devices = {n.device for n in middle.graph_def.node}
    assert devices == {W1.device}
    assert set(part.task_graphs) == {W0, W1}


def test_independent_work_of_two_tasks_runs_at_once():
    # Two replicas' gradients, exchanged and summed on both. Work sunk into a later stage
    # would wait there for the other task's values: w1's gradient once ran in the stage that
    # receives w0's, after it.
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:worker/task:0"):
            g0 = ts.square(ts.constant([1.0, 2.0]), name="g0")
        with ts.device("/job:worker/task:1"):
            g1 = ts.square(ts.constant([3.0, 4.0]), name="g1")
            s1 = ts.add(g0, g1, name="s1")
        with ts.device("/job:worker/task:0"):
            s0 = ts.add(g0, g1, name="s0")
            out = ts.add(s0, s1, name="out")
    part = partition(g, placer.place(g), [out], [])
    level_of = {n.name: s.level for s in part.stages for n in s.graph_def.node}
    assert level_of["g0"] == level_of["g1"] == 0
    assert level_of["s0"] == level_of["s1"] == 1
    assert [(s.task, s.level) for s in part.stages] == [(W0, 0), (W1, 0), (W0, 1), (W1, 1),
                                                        (W0, 2)]
    assert {n.name for n in part.stages[1].graph_def.node if n.op == "Const"} == {"Const_1"}


def test_sends_to_the_same_destinations_travel_as_one_packet():
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:ps/task:0"):
            ws = [ts.Variable(np.full((2, 2), i, np.float32), name=f"w{i}") for i in range(4)]
        with ts.device("/job:worker/task:0"):
            total = ts.add_n([w.value() for w in ws[:3]], name="total")
        with ts.device("/job:worker/task:1"):
            other = ts.identity(ws[3].value(), name="other")
    part = partition(g, placer.place(g), [total, other], [])
    ps, w0, w1 = part.stages
    assert ps.packets == [[f"_send/w{i}/read/0:0" for i in range(3)], ["_send/w3/read/0:0"]]
    assert w0.inputs == [(ps.packet_slots[0], i) for i in range(3)]
    assert w0.spec == [(0, 0), (0, 1), (0, 2)] and w1.spec == [(0, 0)]


def test_control_edges_across_tasks_become_dummy_sends():
    g = ts.Graph()
    with g.as_default():
        with ts.device("/job:ps/task:0"):
            v = ts.Variable(1.0, name="v")
            bump = ts.assign_add(v, 1.0, name="bump")
        with ts.device("/job:worker/task:0"):
            with ts.control_dependencies([bump]):
                out = ts.constant(5.0, name="out") * 2.0
    part = partition(g, placer.place(g), [out], [])
    assert [(s.task, s.level) for s in part.stages] == [(PS0, 0), (W0, 1)]
    ps_nodes = {n.name: n for n in part.stages[0].graph_def.node}
    assert ps_nodes["_ctrl/bump"].input == ["^bump"]
    worker_nodes = {n.name: n for n in part.stages[1].graph_def.node}
    assert "^_ctrl_wait/bump" in list(worker_nodes["out"].input)
    assert part.variable_reads == {PS0: ["v"]}


def test_python_ops_defined_in_the_driver_cannot_be_partitioned():
    class Doubler(ts.Operation):
        def compute(self, value):
            return 2 * value

    g = ts.Graph()
    with g.as_default():
        out = Doubler([ts.constant(1.0)])
    with pytest.raises(ts.errors.UnimplementedError, match="Python op"):
        partition(g, placer.place(g), [out], [])


def test_auto_partition_splits_the_demo_mlp_by_layers():
    graph, loss, train_op, x, y = demo_mlp()
    placement = placer.place(graph, auto_partition=2)
    task = placement.task_of

    def op(name):
        return graph.get_operation_by_name(name)

    assert {task(op) for op in graph.get_operations()} == {W0, W1}
    # The first layer (its weights, forward matmul and weight gradient) is one task's, the
    # two other layers and the loss the other's: two tensors of 256x512 cross per step.
    first = task(op("layer1/W"))
    assert task(op("layer1/MatMul")) == first
    assert task(op("gradients/layer1/MatMul_grad/MatMul_1")) == first
    second = task(op("layer2/W"))
    assert second != first
    assert task(op("layer3/W")) == second and task(loss.op) == second
    flops, cut_bytes, step = auto_partition.estimated_step_seconds(graph, task)
    assert cut_bytes <= 2 * 256 * 512 * 4 + 1024
    everything_on_one = auto_partition.estimated_step_seconds(graph, lambda op: W0)[2]
    assert step < everything_on_one
    assert min(flops.values()) > 0.3 * max(flops.values())


def test_auto_partition_leaves_explicit_devices_alone():
    graph, loss, train_op, x, y = demo_mlp(sizes=(64, 64, 4), batch=16)
    graph.get_operation_by_name("layer1/W")._set_device("/job:ps/task:0")
    placement = placer.place(graph, auto_partition=2)
    assert placement.task_of(graph.get_operation_by_name("layer1/W")) == PS0


def test_the_partition_picture_is_written(tmp_path):
    g = _round_trip_graph()[0]
    png = render_partition(g, placer.place(g), str(tmp_path / "round_trip.png"))
    svg = tmp_path / "mlp.svg"
    assert graph_cli_run(_cli_args(output=str(svg))) == 0
    for path in (png, svg):
        with open(path, "rb") as f:
            assert len(f.read()) > 1000


def _cli_args(output):
    import argparse

    from worker.graph_cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--partition", "--demo", "--auto-partition", "2", "-o", output])
