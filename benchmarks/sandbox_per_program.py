"""Tests per second on the bundled stdio problems: one process per program, each test from a
fresh ``__main__`` (codegym's default), against a process per test (``Limits(process_per_test=
True)``), with an upper bound for the first.

    python benchmarks/sandbox_per_program.py [--rounds 5] [--workers 2] [--problems 40]

The upper bound ("harness") wraps each program in a harness that runs every test of the problem
inside the one test the sandbox runs (the tests' inputs arrive as its stdin, a JSON list), with
what running tests in one process needs per test (a fresh ``__main__`` module, stdin and stdout,
the random seed, a CPU timer) and nothing the sandbox adds (per-test coverage, records, files,
the server's bookkeeping). All tests' outputs come back as one stdout, judged as one.

First checks that every way gives each program the same outcome, on the canonical solutions and
on wrong ones; then prints, per round and as medians, tests/s each way and the ratio of one
process per program to one per test (codegym adopted it as the default at 2x; issue 13 set the
bar at 1.5x). Each round runs every way in turn on fresh executors; the cache is off and
programs differ by a comment, so every run executes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from codegym.problems import load
from codegym.sandbox import Executor, Limits, TestCase, TestKind

SEPARATOR = "<<codegym-next-test>>"

HARNESS = """\
import io, json, random, signal, sys, types

class _CpuLimit(BaseException):
    pass

def _on_cpu_limit(signum, frame):
    raise _CpuLimit()

signal.signal(signal.SIGPROF, _on_cpu_limit)
_code = compile({solution!r}, "<solution>", "exec")
_inputs = json.loads(sys.stdin.read())
_stdout = sys.stdout
_outputs = []
for _stdin in _inputs:
    _main = types.ModuleType("__main__")
    _main.__builtins__ = __builtins__
    sys.modules["__main__"] = _main
    sys.stdin = io.TextIOWrapper(io.BytesIO(_stdin.encode()), encoding="utf-8")
    _buffer = io.BytesIO()
    sys.stdout = io.TextIOWrapper(_buffer, encoding="utf-8")
    random.seed(0)
    signal.setitimer(signal.ITIMER_PROF, {cpu_time})
    try:
        exec(_code, _main.__dict__)
    except SystemExit as _exc:
        if _exc.code not in (None, 0):
            sys.stdout.write("<exit>")
    except BaseException:
        sys.stdout.write("<error>")
    signal.setitimer(signal.ITIMER_PROF, 0)
    sys.stdout.flush()
    _outputs.append(_buffer.getvalue().decode())
sys.stdout = _stdout
print("\\n{separator}\\n".join(_outputs))
"""


def stdio_problems(count: int) -> list:
    """The first ``count`` bundled problems (by id) whose tests are all stdin/stdout."""
    problems = [
        p
        for p in load("bundled")
        if not p.fn_name and all(t.kind is TestKind.STDIO for t in p.tests)
    ]
    return sorted(problems, key=lambda p: p.id)[:count]


def wrong(program: str) -> str:
    """A program that fails every test: it prints one line too many."""
    return program + "\nprint('one line too many')\n"


def harness(program: str, problem, cpu_time: float) -> tuple[str, list[TestCase]]:  # noqa: ANN001
    """``program`` wrapped to run all of ``problem``'s tests, and the one test that judges them."""
    source = HARNESS.format(
        solution=program,
        cpu_time=cpu_time,
        separator=SEPARATOR,
    )
    expected = f"\n{SEPARATOR}\n".join(t.expected_output for t in problem.tests)
    inputs = json.dumps([t.stdin for t in problem.tests])
    return source, [TestCase.stdio(inputs, expected)]


WAYS = ("per test", "per program", "harness")


def one_round(problems: list, programs: list[str], workers: int, tag: str) -> dict[str, object]:
    """Every way once over ``programs`` (one per problem): ``{way: (tests/s, outcomes)}``."""
    tests = sum(len(p.tests) for p in problems)
    out: dict[str, object] = {}
    for way in WAYS:
        limits = Limits(process_per_test=way == "per test")
        jobs = []
        for problem, program in zip(problems, programs):
            program = f"{program}\n# {tag}\n"
            if way == "harness":
                jobs.append(harness(program, problem, limits.cpu_time))
            else:
                jobs.append((program, problem))
        with Executor(workers=workers, cache_size=0, limits=limits) as ex:
            ex.run_many(jobs[:workers])  # start the servers
            start = time.perf_counter()
            results = ex.run_many(jobs)
            wall = time.perf_counter() - start
        out[way] = (tests / wall, [r.outcome for r in results])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--problems", type=int, default=40)
    args = parser.parse_args()
    problems = stdio_problems(args.problems)
    tests = sum(len(p.tests) for p in problems)
    print(f"{len(problems)} bundled stdio problems, {tests} tests, {args.workers} workers")

    # Same outcome every way, program by program: canonical solutions and wrong ones.
    programs = [p.canonical_solution for p in problems]
    check = one_round(problems * 2, programs + [wrong(p) for p in programs], args.workers, "check")
    reference = check["per test"][1]  # type: ignore[index]
    for way in WAYS[1:]:
        same = sum(a is b for a, b in zip(reference, check[way][1]))  # type: ignore[index]
        print(f"same outcome as per test, {way}: {same} of {len(reference)} programs")

    rates: dict[str, list[float]] = {way: [] for way in WAYS}
    ratios: list[float] = []
    for i in range(args.rounds):
        r = one_round(problems, programs, args.workers, f"round {i}")
        for way in WAYS:
            rates[way].append(r[way][0])  # type: ignore[index]
        ratios.append(rates["per program"][-1] / rates["per test"][-1])
        cells = ", ".join(f"{way} {rates[way][-1]:6.0f}" for way in WAYS)
        print(f"round {i}: tests/s {cells}; per program / per test {ratios[-1]:.2f}")
    cells = ", ".join(f"{way} {statistics.median(rates[way]):.0f}" for way in WAYS)
    print(f"median: tests/s {cells}; per program / per test {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
