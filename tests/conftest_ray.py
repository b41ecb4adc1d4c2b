"""One local Ray instance for the whole test session.

Test modules that need Ray import the fixture (`from tests.conftest_ray import ray_instance`) and
use it; every such module reuses the same instance. It is shut down at the end of the session only
if this fixture started it. Tests that need a cluster of their own (several nodes, a node
dying) run their own driver in a subprocess instead.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_instance():
    ray = pytest.importorskip("ray")
    started = False
    if not ray.is_initialized():
        # "local": our own instance, even when a `ray start` cluster runs on this machine.
        # Ray runs its workers at niceness 15 by default, behind every other process: on a
        # machine kept busy by other jobs the workers of these tests got a few percent of a
        # core (test modules on Ray took several times as long); at 0 they take their share.
        # On a loaded machine the node can also time out while starting (Ray waits 30 s for
        # it): try again.
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                ray.init(address="local", num_cpus=2, include_dashboard=False,
                         log_to_driver=False, _system_config={"worker_niceness": 0})
                break
            except Exception:  # noqa: BLE001 - Ray raises a bare Exception on this timeout
                ray.shutdown()
                if attempt == attempts:
                    raise
        started = True
    yield ray
    if started:
        ray.shutdown()
