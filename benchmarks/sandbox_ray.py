"""Programs/s of a local Executor against RayExecutor on a local Ray cluster of K logical nodes.

    python benchmarks/sandbox_ray.py [--nodes 2] [--programs 60] [--reps 3] [--latency 100]
                                     [--caller 2 8 16]

The workload is the bundled problems' canonical solutions with all their tests (stdio, 2 to 20
tests each), coverage on, each program made distinct by a comment and both caches off, so every
run executes. The local executor has K workers; the cluster has K logical nodes of one CPU on this
machine, each with one actor of one worker, so both run K programs at a time on the same cores and
the ratio is the price of going through Ray. Their batches alternate, so both see the same load.
Prints the median over ``--reps`` batches of ``--programs`` programs, then the latency of single
``run`` calls (one trivial program, one test, ``--latency`` calls) and the caller's CPU per call,
for both. With ``--caller W [W ...]``, also the caller's CPU per program of a ``run_many`` with W
workers per node, where jobs go in chunks. Needs ``pip install "codegym[ray]"``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from codegym.problems import load
from codegym.sandbox import Executor, TestCase
from codegym.sandbox.ray import RayExecutor

SMALL_STORE = 80 << 20  # bytes of object store per logical node (Ray's minimum is 75 MiB)


def batch_rate(executor, jobs, tag: str) -> float:
    """Programs/s of one ``run_many`` of ``jobs``, each program made distinct by ``tag``."""
    batch = [(f"{p}\n# {tag} {i}\n", t) for i, (p, t) in enumerate(jobs)]
    start = time.perf_counter()
    results = executor.run_many(batch)
    seconds = time.perf_counter() - start
    failed = sum(not r.passed for r in results)
    if failed:
        print(f"  ({failed} of {len(batch)} canonical programs did not pass)")
    return len(batch) / seconds


def latency(executor, calls: int) -> tuple[float, float]:
    """Median wall ms of one ``run`` of a trivial program, and the caller's CPU ms per call."""
    tests = [TestCase.stdio("", "1\n")]
    executor.run("print(1)\n# warm\n", tests)
    walls = []
    cpu = time.process_time()
    for i in range(calls):
        start = time.perf_counter()
        executor.run(f"print(1)\n# {i}\n", tests)
        walls.append(time.perf_counter() - start)
    return 1000 * statistics.median(walls), 1000 * (time.process_time() - cpu) / calls


def caller_cpu(executor, programs: int) -> float:
    """The caller's CPU ms per program of one ``run_many`` of ``programs`` trivial programs."""
    tests = [TestCase.stdio("", "1\n")]
    executor.run_many([(f"print(1)\n# warm {i}\n", tests) for i in range(16)])
    cpu = time.process_time()
    executor.run_many([(f"print(1)\n# {i}\n", tests) for i in range(programs)])
    return 1000 * (time.process_time() - cpu) / programs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2, help="logical nodes, and local workers")
    parser.add_argument("--programs", type=int, default=60, help="programs per batch")
    parser.add_argument("--reps", type=int, default=3, help="batches measured")
    parser.add_argument("--latency", type=int, default=100, help="single run calls timed")
    parser.add_argument(
        "--caller",
        type=int,
        nargs="*",
        default=[],
        metavar="W",
        help="also the caller's CPU per program of run_many (300 trivial programs) with W "
        "workers per node, for each W (more workers than cores: only the caller is measured)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the sandbox's one-time note on what this OS isolates

    import ray
    from ray.cluster_utils import Cluster

    problems = [p for p in load("bundled") if p.canonical_solution]
    jobs = [(problems[i % len(problems)].canonical_solution, problems[i % len(problems)])
            for i in range(args.programs)]  # fmt: skip
    tests = sum(len(t.tests) for _, t in jobs)
    print(f"{args.programs} bundled canonical programs ({tests} tests) per batch, coverage on, "
          f"median of {args.reps} batches")  # fmt: skip

    start = time.perf_counter()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "object_store_memory": SMALL_STORE,
        },
    )
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
    cluster.wait_for_nodes()
    local = Executor(args.nodes, cache_size=0)
    try:
        with RayExecutor(cluster.address, workers_per_node=1, cache_size=0) as remote:
            assert len(remote.nodes) == args.nodes
            up = time.perf_counter() - start
            # Batches alternate, so both executors see the same load on the machine (and the
            # idle cluster's own CPU use weighs on both).
            local_rates, ray_rates = [], []
            for rep in range(-1, args.reps):  # -1: a warm-up round
                local_rates.append(batch_rate(local, jobs[: 8 if rep < 0 else None], f"L{rep}"))
                ray_rates.append(batch_rate(remote, jobs[: 8 if rep < 0 else None], f"R{rep}"))
            local_ms, local_cpu = latency(local, args.latency)
            ray_ms, ray_cpu = latency(remote, args.latency)
        callers = []
        for w in args.caller:
            with RayExecutor(cluster.address, workers_per_node=w, actor_cpus=0, cache_size=0) as ex:
                callers.append((w, caller_cpu(ex, 300)))
    finally:
        local.close()
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    local_rate = statistics.median(local_rates[1:])
    ray_rate = statistics.median(ray_rates[1:])
    print(f"local Executor, {args.nodes} workers:           {local_rate:8.1f} programs/s")
    print(f"RayExecutor, {args.nodes} logical nodes x 1 worker: {ray_rate:8.1f} programs/s "
          f"(cluster and actors up in {up:.1f} s)")  # fmt: skip
    print(f"ratio RayExecutor / local Executor: {ray_rate / local_rate:.2f}x")
    print(f"one run, trivial program (median of {args.latency}): local {local_ms:.2f} ms, "
          f"Ray {ray_ms:.2f} ms (+{ray_ms - local_ms:.2f} ms); caller CPU per run: local "
          f"{local_cpu:.2f} ms, Ray {ray_cpu:.2f} ms")  # fmt: skip

    for w, ms in callers:
        print(f"caller CPU per program of run_many, {w} workers per node: {ms:.2f} ms")


if __name__ == "__main__":
    main()
