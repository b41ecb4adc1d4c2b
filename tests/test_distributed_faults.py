"""A node of a multi-node Ray cluster dies under a running session (in a driver of its own).

The driver below starts a three-node cluster (ray.cluster_utils.Cluster: one head, two more
nodes), joins it with a "host:port" session target, trains a little, checkpoints, removes a
node that hosts worker tasks, and checks that the next step (by then a Ray Compiled Graph,
the default for a repeated step) fails within a bounded time with UnavailableError naming a
task of that node; then it makes a new session on the remaining nodes and restores the
checkpoint.
It runs in a subprocess because a driver joins one cluster at a time (and this one must not
join the tests' shared instance).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

DRIVER = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    import ray
    from ray.cluster_utils import Cluster
    import tensorslow as ts
    from tensorslow import train

    checkpoint = sys.argv[1]
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        # A node is declared dead after about 5 s without answers: quick enough for the test,
        # slow enough that a loaded machine (the whole suite on 2 cores) does not lose one.
        "_system_config": {"health_check_period_ms": 1000, "health_check_timeout_ms": 1000,
                           "health_check_failure_threshold": 5}})
    # Every task reserves a CPU and the head has none: the tasks always sit on a node the test
    # can remove, and either added node alone has room for all three.
    nodes = [cluster.add_node(num_cpus=3) for _ in range(2)]
    cluster.wait_for_nodes()
    # The actors start on one added node when Ray can place them there (soft affinity: after
    # it is lost they start again elsewhere).
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    config = {"scheduling": NodeAffinitySchedulingStrategy(nodes[0].node_id, soft=True),
              "worker_num_cpus": 1}
    report = {"phase": "build and train"}
    try:
        rng = np.random.RandomState(0)
        g = ts.Graph()
        with g.as_default():
            x = ts.placeholder(ts.float32, [4, 3])
            with ts.device("/job:ps/task:0"):
                w = ts.Variable(rng.randn(3, 3).astype(np.float32), name="w")
            with ts.device("/job:worker/task:0"):
                h = ts.tanh(ts.matmul(x, w))
            with ts.device("/job:worker/task:1"):
                loss = ts.reduce_sum(ts.square(h))
            step = train.GradientDescentOptimizer(0.1).minimize(loss)
            saver = train.Saver()
        feed = {x: rng.randn(4, 3).astype(np.float32)}
        sess = ts.Session(cluster.address, graph=g, config=config)
        sess._idle_seconds = 600  # however slow the steps below: the compiled step stays
        sess._judge_min_seconds = float("inf")  # and compiles after 3 runs, not judged
        sess.run(w.initializer)
        for _ in range(3):
            sess.run(step, feed)
        saver.save(sess, checkpoint)
        saved = sess.run(w)
        where = {t: sess._wait([a.ping.remote()], 30, "ping")[0]["node_id"]
                 for t, a in sess._actors.items()}
        victim = next(n for n in nodes if n.node_id in where.values())
        # Every task on the removed node is lost; the error names whichever is noticed first.
        report["victims"] = [t.name for t, nid in where.items() if nid == victim.node_id]
        report["compiled"] = sess._compiled is not None  # the step runs as a Compiled Graph
        report["phase"] = "after removing a node"
        cluster.remove_node(victim, allow_graceful=False)
        start = time.monotonic()
        report["error"] = None
        while time.monotonic() - start < 90:  # steps may finish until the node's processes end
            try:
                sess.run(step, feed)
            except ts.errors.OpError as e:
                report["error"] = type(e).__name__
                report["message"] = e.message
                break
        report["seconds"] = time.monotonic() - start
        sess.close()
        with ts.Session(cluster.address, graph=g, config=config) as fresh:
            saver.restore(fresh, checkpoint)
            report["restored"] = bool(np.array_equal(fresh.run(w), saved))
            fresh.run(step, feed)
            report["trains_again"] = True
    except BaseException as e:
        report["failed"] = f"{type(e).__name__}: {e}"
        raise
    finally:
        print("REPORT " + json.dumps(report), flush=True)
        ray.shutdown()
        cluster.shutdown()
''')


def test_a_lost_node_surfaces_as_unavailable_and_a_new_session_recovers(tmp_path):
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "model.ckpt")],
                            capture_output=True, text=True, timeout=240, env=env, cwd=root)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, f"driver failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads(lines[-1][len("REPORT "):])
    assert report.get("error") == "UnavailableError", (
        f"{report}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    assert report["compiled"]
    assert any(task in report["message"] for task in report["victims"]), report
    assert report["seconds"] < 60
    assert report["restored"] and report["trains_again"], report
