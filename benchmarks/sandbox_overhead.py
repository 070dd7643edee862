"""Per-test overhead of the sandbox, against a bare fork + wait measured in the same run.

    python benchmarks/sandbox_overhead.py [--runs 300] [--rounds 5] [--tests 10]

Prints medians, in milliseconds, of:
- a bare ``os.fork()`` + ``os._exit(0)`` + ``waitpid`` of a Python process that has imported the
  same standard-library modules as the sandbox server (``PRELOAD``) and frozen them with
  ``gc.freeze()``: the least a forked test can cost on this machine;
- one trivial program (``pass``) with one STDIO test through ``Executor.run`` with one worker,
  coverage on, as the caller sees it (pickle round trip, server, fork, reap, judging);
- the same program with ``--tests`` tests in one run, per test (the per-program costs spread);
- the server's CPU time per test (server plus its reaped children, from ``/proc``), which the
  machine's load affects less than wall time.
The baseline and the sandbox alternate in ``--rounds`` rounds, so both see the same load; each
program differs by a comment, so no result comes from the cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

BARE_FORK = """
import gc, os, resource, sys, time
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
for name in sys.argv[2:]:
    __import__(name)
gc.collect()
gc.freeze()
out = []
cpu0 = cpu()
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out.append(time.perf_counter() - t)
print(repr((cpu() - cpu0) / len(out)), " ".join(repr(x) for x in out))
"""


def bare_fork(n: int) -> tuple[float, list[float]]:
    """CPU seconds per fork (parent + child) and fork + wait wall times (s), in a fresh
    interpreter that has imported the server's preloads."""
    from codegym.sandbox._server import PRELOAD

    out = subprocess.run(
        [sys.executable, "-c", BARE_FORK, str(n), *PRELOAD],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu, *walls = (float(x) for x in out.stdout.split())
    return cpu, walls


def server_cpu(ex) -> float:  # noqa: ANN001
    """CPU seconds of the executor's (single) server and its reaped children, from /proc."""
    (server,) = list(ex._idle.queue)
    with open(f"/proc/{server.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=300, help="runs per round and measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=10, help="tests per program, second case")
    parser.add_argument("--no-coverage", action="store_true")
    args = parser.parse_args()

    from codegym.sandbox import Executor, TestCase

    one = [TestCase.stdio("", "")]
    many = [TestCase.stdio(f"{i}\n", "") for i in range(args.tests)]
    fork_s: list[float] = []
    fork_cpu: list[float] = []
    run_s: list[float] = []
    per_test_s: list[float] = []
    cpu_per_test: list[float] = []
    tag = 0
    with Executor(workers=1, coverage=not args.no_coverage, cache_size=0) as ex:
        ex.run("pass\n", one)  # start the server outside the timed region
        for _ in range(args.rounds):
            cpu, walls = bare_fork(args.runs)
            fork_s += walls
            fork_cpu.append(cpu)
            cpu0 = server_cpu(ex)
            for _ in range(args.runs):
                tag += 1
                t = time.perf_counter()
                r = ex.run(f"pass  # {tag}\n", one)
                run_s.append(time.perf_counter() - t)
                assert r.passed, r
            cpu1 = server_cpu(ex)
            cpu_per_test.append((cpu1 - cpu0) / args.runs)
            for _ in range(max(1, args.runs // args.tests)):
                tag += 1
                t = time.perf_counter()
                r = ex.run(f"pass  # {tag}\n", many)
                per_test_s.append((time.perf_counter() - t) / args.tests)
                assert r.passed, r
        features = ex.features

    def ms(xs: list[float]) -> float:
        return 1e3 * statistics.median(xs)

    load = os.getloadavg()
    print(
        f"sandbox per-test overhead, {args.rounds} rounds x {args.runs} runs, "
        f"coverage {'off' if args.no_coverage else 'on'}, features {features}, "
        f"{len(os.sched_getaffinity(0))} cores, load average {load[0]:.1f} {load[1]:.1f}"
    )
    base, base_cpu = ms(fork_s), ms(fork_cpu)
    rows = [
        ("wall: bare fork + wait of a Python process", base, base),
        ("wall: codegym, 1 trivial test per run (caller)", ms(run_s), base),
        (f"wall: codegym, {args.tests} trivial tests per run, per test", ms(per_test_s), base),
        ("CPU:  bare fork + wait (parent + child)", base_cpu, base_cpu),
        ("CPU:  codegym server + children, per 1-test run", ms(cpu_per_test), base_cpu),
    ]
    for name, value, ref in rows:
        print(f"  {name:50s} {value:8.3f} ms   {value / ref:6.1f}x bare fork")


if __name__ == "__main__":
    main()
