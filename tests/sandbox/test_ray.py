"""``RayExecutor`` on a local Ray cluster of logical nodes (``ray.cluster_utils.Cluster``).

Every node here is a logical node of one CPU on this machine; each runs one actor with one sandbox
server. The cluster is shared by the module and shut down at its end.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time

import gymnasium as gym
import pytest

import codegym
from codegym.errors import ConfigError, MissingDependencyError, SandboxError
from codegym.problems import Problem
from codegym.sandbox import Limits, Outcome, TestCase

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from codegym.sandbox.ray import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow

SMALL_STORE = 80 << 20  # the object store of a node, in bytes (Ray's minimum is 75 MiB)
FAST = Limits(cpu_time=2)

SQUARE = Problem(
    id="square",
    statement="Read n; print n squared.",
    tests=tuple(TestCase.stdio(f"{n}\n", f"{n * n}\n") for n in range(3)),
    canonical_solution="n = int(input())\nprint(n * n)\n",
)
WRONG = "n = int(input())\nprint(n + n)\n"


def busy(i: int) -> str:
    """A correct SQUARE program that computes for a while (about 0.1 s a test here); ``i``
    makes it a distinct program, so no result comes from the cache."""
    return f"s = sum(range(4_000_000))  # {i}\n" + SQUARE.canonical_solution


@pytest.fixture(scope="module")
def cluster():
    head = {
        "num_cpus": 1,
        "include_dashboard": False,
        "object_store_memory": SMALL_STORE,
        # A removed node is declared dead in about a second, not Ray's default 15 s.
        "_system_config": {"health_check_period_ms": 300, "health_check_failure_threshold": 3},
    }
    c = Cluster(initialize_head=True, head_node_args=head)
    c.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
    c.wait_for_nodes()
    yield c
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


@pytest.fixture
def executor(cluster):
    with RayExecutor(cluster.address, workers_per_node=1, limits=FAST) as ex:
        yield ex


def test_work_spreads_over_nodes_in_job_order(executor: RayExecutor) -> None:
    assert len(executor.nodes) == 2 and executor.workers == 2
    jobs = [(busy(i) if i % 3 else WRONG, SQUARE) for i in range(12)]
    results = executor.run_many(jobs)
    assert [r.outcome for r in results] == [
        Outcome.PASSED if i % 3 else Outcome.WRONG_ANSWER for i in range(12)
    ]
    assert {r.extra["ray_node"] for r in results} == set(executor.nodes)
    assert all(r.executed_lines for r in results)  # coverage comes back
    # Cached in the caller: the same batch again runs nothing.
    again = executor.run_many(jobs)
    assert all(r.cached for r in again) and executor.stats["runs"] == 12


def test_larger_pools_get_jobs_in_chunks_in_job_order(cluster) -> None:
    # actor_cpus=0: these actors fit next to the other tests' on the 1-CPU nodes.
    with RayExecutor(cluster.address, workers_per_node=4, actor_cpus=0, limits=FAST) as ex:
        assert ex.workers == 8
        jobs = [(f"{WRONG if i % 4 == 0 else SQUARE.canonical_solution}# {i}\n", SQUARE)
                for i in range(20)]  # fmt: skip
        results = ex.run_many(jobs)
    assert [r.outcome for r in results] == [
        Outcome.WRONG_ANSWER if i % 4 == 0 else Outcome.PASSED for i in range(20)
    ]
    assert len({r.extra["ray_node"] for r in results}) == 2


def test_threads_share_one_executor(executor: RayExecutor) -> None:
    out: dict[int, list] = {}

    def batch(t: int) -> None:
        out[t] = executor.run_many([(busy(100 * t + i), SQUARE) for i in range(4)])

    threads = [threading.Thread(target=batch, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(r.passed for t in range(3) for r in out[t])


def test_a_node_lost_mid_batch_loses_no_job_and_blames_no_program(cluster) -> None:
    extra = cluster.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
    cluster.wait_for_nodes()
    with RayExecutor(cluster.address, workers_per_node=1, limits=FAST) as ex:
        assert len(ex.nodes) == 3  # the node that joined is used
        jobs = [(busy(1000 + i), SQUARE) for i in range(30)]
        done: list = []
        runner = threading.Thread(target=lambda: done.append(ex.run_many(jobs)))
        runner.start()
        time.sleep(1.0)
        cluster.remove_node(extra, allow_graceful=False)
        runner.join(timeout=120)
        assert done, "run_many did not return after a node was lost"
        results = done[0]
        assert len(results) == 30
        # Every program is correct: a lost node may give an infrastructure error, never a score.
        assert {r.outcome for r in results} <= {Outcome.PASSED, Outcome.INFRA_ERROR}
        assert sum(r.passed for r in results) >= 28
        assert ex.stats["reruns"] >= 1, ex.stats
        # The executor carries on with the nodes that are left.
        after = ex.run_many([(busy(2000 + i), SQUARE) for i in range(4)])
        assert all(r.passed for r in after)
        assert len(ex.nodes) == 2


def test_a_failing_comparator_is_raised_here_as_locally(executor: RayExecutor) -> None:
    def broken(test: TestCase, produced: object) -> bool:
        raise KeyError("boom")

    with pytest.raises(SandboxError, match="raised KeyError"):
        executor.run(SQUARE.canonical_solution, SQUARE, comparator=broken)
    assert executor.run(SQUARE.canonical_solution, SQUARE).passed  # and it carries on


def test_an_env_accepts_it(executor: RayExecutor) -> None:
    env = gym.make(
        "CodeGenLine-v0",
        problems=[SQUARE],
        split=None,
        curriculum="none",
        max_lines=8,
        limits=FAST,
        executor=executor,
    )
    env.reset(seed=0)
    for line in SQUARE.canonical_solution.splitlines():
        env.step(line)
    _, reward, terminated, _, info = env.step(codegym.SUBMIT)
    assert terminated and reward == 1.0 and info["outcome"] == "passed"
    env.close()


def test_pickles_as_its_configuration(cluster) -> None:
    original = RayExecutor(cluster.address, workers_per_node=1, limits=FAST)
    copy = pickle.loads(pickle.dumps(original))
    assert (copy.address, copy.workers_per_node, copy.limits) == (cluster.address, 1, FAST)
    original.close()  # its actors free the CPUs, and Ray's connection closes with it
    try:
        assert copy.run(WRONG, SQUARE).outcome is Outcome.WRONG_ANSWER  # reconnects
    finally:
        copy.close()


def test_no_node_with_room_is_an_error_not_a_hang(cluster) -> None:
    with RayExecutor(cluster.address, actor_cpus=2, start_timeout=2) as ex:
        start = time.monotonic()
        with pytest.raises(SandboxError, match="no Ray node started a sandbox actor"):
            ex.run(SQUARE.canonical_solution, SQUARE)
        assert time.monotonic() - start < 10


def test_unreachable_address_is_one_clear_error() -> None:
    code = (
        "from codegym.sandbox.ray import RayExecutor\n"
        "from codegym.errors import ConfigError\n"
        "try:\n"
        "    RayExecutor('127.0.0.1:9', connect_timeout=2)\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "cannot reach a Ray cluster at '127.0.0.1:9'" in out.stdout
    assert time.monotonic() - start < 30


def test_bad_arguments(executor: RayExecutor) -> None:
    with pytest.raises(ConfigError, match="workers_per_node"):
        RayExecutor(workers_per_node=0)
    with pytest.raises(ConfigError, match="'nowhere' is not HOST:PORT"):
        RayExecutor("nowhere")
    with pytest.raises(ConfigError, match="already connected to the Ray cluster"):
        RayExecutor("127.0.0.1:9")


def test_cli_validates_problems_on_the_cluster(cluster, capsys) -> None:
    from codegym.cli import main

    argv = ["problems", "validate", "--split", "test", "--difficulty", "competition"]
    assert main([*argv, "--ray-address", cluster.address, "--workers", "1"]) == 0
    assert "3 problems checked, 0 with issues" in capsys.readouterr().err


def test_a_missing_ray_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the package
    with pytest.raises(MissingDependencyError, match=r'pip install "codegym\[ray\]"'):
        RayExecutor()
