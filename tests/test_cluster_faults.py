"""A whole node dies under MonitoredTrainingSession (slow, about a minute; `-m "not cluster"`
skips it). A driver of its own (a subprocess: a driver joins one cluster at a time) starts a
three-node cluster with ray.cluster_utils.Cluster, trains once undisturbed, then again while a
node hosting one of the training's tasks is removed at a given step: the training recovers on
the remaining nodes, reaches its last step, re-runs at most a checkpoint interval of steps,
and computes the same loss at every step as the undisturbed run."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.cluster

DRIVER = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    import ray
    from ray.cluster_utils import Cluster
    import tensorslow as ts

    LAST_STEP, SAVE_EVERY, KILL_AT = 12, 4, 6
    out_dir = sys.argv[1]
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        # A node is declared dead after about 5 s without answers: quick enough for the test,
        # slow enough that a loaded machine does not lose one.
        "_system_config": {"health_check_period_ms": 1000, "health_check_timeout_ms": 1000,
                           "health_check_failure_threshold": 5}})
    # Every training task reserves a CPU and the head has none: the tasks always sit on a node
    # the test can remove, and either node alone has room for all of them.
    nodes = [cluster.add_node(num_cpus=3) for _ in range(2)]
    cluster.wait_for_nodes()
    # The actors start on one of the added nodes (soft affinity: after it is lost, they start
    # again elsewhere), so there is always a task on the node the hook removes; SPREAD alone
    # may leave them all on the head node, which cannot be removed.
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    ON_ONE_NODE = NodeAffinitySchedulingStrategy(nodes[0].node_id, soft=True)

    rng = np.random.RandomState(0)
    X = rng.randn(16, 3).astype(np.float32)
    Y = X @ np.array([[1.0], [-1.0], [2.0]], np.float32)

    def model_fn(batch):
        x, y = batch
        h = ts.layers.dense(x, 4, activation=ts.nn.tanh, name="hidden",
                            kernel_initializer=ts.constant_initializer(np.ones((3, 4)) * 0.1))
        out = ts.layers.dense(h, 1, name="out", kernel_initializer=ts.zeros_initializer())
        return ts.reduce_mean(ts.square(out - y))

    def input_fn(index, count):
        ds = ts.data.Dataset.from_tensor_slices((X, Y)).shard(count, index)
        return ds.shuffle(8, seed=2).batch(2).repeat().make_one_shot_iterator().get_next()

    class RemoveNode(ts.train.SessionRunHook):
        def __init__(self, step):
            self.step, self.victim, self.seen = step, None, {}
        def before_run(self, run_context):
            return ts.train.SessionRunArgs(ts.train.get_global_step())
        def after_run(self, run_context, run_values):
            if self.victim is not None or int(run_values.results) < self.step:
                return
            sess = run_context.session
            where = {t: sess._wait([a.ping.remote()], 30, "ping")[0]["node_id"]
                     for t, a in sess._actors.items()}
            self.seen = {t.name: node for t, node in where.items()}
            for task in sorted(where, key=lambda t: (t.job != "worker", t.index)):
                node = next((n for n in nodes if n.node_id == where[task]), None)
                if node is not None:
                    self.victim = task.name
                    cluster.remove_node(node, allow_graceful=False)
                    # Wait until Ray has noticed: the next step then meets a dead task.
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        try:
                            sess._wait([sess._actors[task].ping.remote()], 2, "ping")
                        except ts.errors.OpError:
                            return
                        time.sleep(0.5)
                    return

    def train(checkpoint_dir, kill_at=None):
        g = ts.Graph()
        with g.as_default():
            rep = ts.train.replicate(model_fn, input_fn,
                                     ts.train.GradientDescentOptimizer(0.1), num_replicas=2)
            hooks = [ts.train.StopAtStepHook(last_step=LAST_STEP)]
            killer = RemoveNode(kill_at) if kill_at else None
            hooks += [killer] if killer else []
            losses = []
            with ts.train.MonitoredTrainingSession(
                    master=cluster.address, checkpoint_dir=checkpoint_dir,
                    save_checkpoint_steps=SAVE_EVERY, save_summaries_steps=None,
                    config={"step_timeout": 60, "scheduling": ON_ONE_NODE,
                            "worker_num_cpus": 1},
                    hooks=hooks) as sess:
                while not sess.should_stop():
                    _, loss, step = sess.run([rep.train_op, rep.loss, rep.global_step])
                    losses.append([int(step), float(loss)])
                stats = sess.recovery_stats
        return {"losses": losses, "recoveries": stats.recoveries,
                "rerun_steps": stats.rerun_steps, "error": stats.last_error,
                "victim": killer.victim if killer else None,
                "placements": killer.seen if killer else None,
                "removable": [n.node_id for n in nodes]}

    report = {}
    try:
        report["clean"] = train(out_dir + "/clean")
        report["crashed"] = train(out_dir + "/crashed", kill_at=KILL_AT)
    finally:
        print("REPORT " + json.dumps(report), flush=True)
        ray.shutdown()
        cluster.shutdown()
''')


def test_training_survives_a_lost_node(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path)], capture_output=True,
                            text=True, timeout=280, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT "):])
    assert "crashed" in report, result.stderr[-3000:]
    clean, crashed = report["clean"], report["crashed"]
    # No victim: no task was on a node the test can remove (placements say where they were).
    assert crashed["victim"] is not None, (crashed["placements"], crashed["removable"])
    assert crashed["recoveries"] >= 1 and "Unavailable" in crashed["error"]
    assert 0 < crashed["rerun_steps"] <= 4
    assert crashed["losses"][-1][0] == clean["losses"][-1][0] == 12
    by_step = dict((s, loss) for s, loss in clean["losses"])
    for step, loss in crashed["losses"]:
        assert loss == pytest.approx(by_step[step], rel=1e-6), step
