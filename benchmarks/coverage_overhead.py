"""Coverage overhead of the sandbox: CPU time of programs run with line coverage on vs off.

Runs a loop-heavy, a call-heavy and a typical APPS-style program through ``Executor(workers=1)``
with ``coverage=True`` and ``coverage=False``, alternating which goes first, several repetitions.
Each repetition appends a comment to the program so the executor's result cache is never hit. The
CPU time of a run is ``sum(t.cpu_time for t in result.tests)`` (user + system time of the forked
test processes); the ratio on/off is taken per repetition and the median reported, per program and
over all repetitions of all programs.

Targets: <= 1.5x below Python 3.12 (source instrumentation, ``codegym.sandbox._instrument``),
<= 1.15x on 3.12+ (``sys.monitoring``). CPU time still varies with machine load (shared caches,
hypervisor steal on small VMs): on a busy machine use more repetitions and read the printed range.

    python benchmarks/coverage_overhead.py [--reps 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import textwrap

from codegym.sandbox import ExecutionResult, Executor, Limits, Outcome, TestCase

LOOP_HEAVY = textwrap.dedent(
    """
    n = int(input())
    total = 0
    for i in range(n):
        if i % 3 == 0:
            total += i
        elif i % 3 == 1:
            total -= 1
        else:
            total ^= i
        j = i & 7
        while j:
            j >>= 1
            total += 1
    if total < 0:
        print("negative")
    print(total)
    """
)

CALL_HEAVY = textwrap.dedent(
    """
    import sys

    sys.setrecursionlimit(10000)


    def fib(n):
        if n < 2:
            return n
        return fib(n - 1) + fib(n - 2)


    class Vec:
        __slots__ = ("x", "y")

        def __init__(self, x, y):
            self.x = x
            self.y = y

        def add(self, other):
            return Vec(self.x + other.x, self.y + other.y)

        def norm1(self):
            return abs(self.x) + abs(self.y)


    def step(v, i):
        return v.add(Vec(i % 3 - 1, i % 5 - 2))


    n = int(input())
    print(fib(n))
    v = Vec(0, 0)
    for i in range(100000):
        v = step(v, i)
    print(v.norm1(), sorted(range(50), key=lambda k: (k % 7, -k))[:3])
    """
)

APPS_STYLE = textwrap.dedent(
    """
    import sys
    from bisect import bisect_left, bisect_right
    from collections import Counter, defaultdict


    def read():
        return sys.stdin.readline().split()


    def prefix_sums(values):
        out = [0]
        for v in values:
            out.append(out[-1] + v)
        return out


    def count_in_range(sorted_values, lo, hi):
        return bisect_right(sorted_values, hi) - bisect_left(sorted_values, lo)


    def main():
        n, q = map(int, read())
        arr = list(map(int, read()))
        if len(arr) != n:
            raise ValueError("bad input")
        ordered = sorted(arr)
        sums = prefix_sums(ordered)
        freq = Counter(arr)
        by_digit = defaultdict(list)
        for a in arr:
            by_digit[a % 10].append(a)
        answers = []
        for _ in range(q):
            lo, hi = map(int, read())
            if lo > hi:
                lo, hi = hi, lo
            k = count_in_range(ordered, lo, hi)
            if k == 0:
                answers.append("0 0")
                continue
            i = bisect_left(ordered, lo)
            answers.append(f"{k} {sums[i + k] - sums[i]}")
        best = max(freq.items(), key=lambda kv: (kv[1], -kv[0]))
        print("\\n".join(answers))
        print(best[0], len(by_digit))


    main()
    """
)


def _apps_input(n: int, q: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    arr = [rng.randint(1, 10**6) for _ in range(n)]
    queries = [f"{rng.randint(1, 10**6)} {rng.randint(1, 10**6)}" for _ in range(q)]
    return f"{n} {q}\n{' '.join(map(str, arr))}\n" + "\n".join(queries) + "\n"


def _programs() -> dict[str, tuple[str, list[TestCase]]]:
    # Expected outputs are irrelevant here: a run only has to complete (passed or wrong answer).
    return {
        "loop_heavy": (
            LOOP_HEAVY,
            [TestCase.stdio("300000\n", ""), TestCase.stdio("200000\n", "")],
        ),
        "call_heavy": (CALL_HEAVY, [TestCase.stdio("24\n", ""), TestCase.stdio("22\n", "")]),
        "apps_style": (
            APPS_STYLE,
            [TestCase.stdio(_apps_input(50000, 30000, s), "") for s in (1, 2)],
        ),
    }


def _cpu(result: ExecutionResult) -> float:
    if result.outcome not in (Outcome.PASSED, Outcome.WRONG_ANSWER):
        raise RuntimeError(f"benchmark program failed: {result.outcome} {result.tests[0].detail}")
    if result.cached:
        raise RuntimeError("a result came from the cache; the repetitions must differ")
    return sum(t.cpu_time for t in result.tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="repetitions per program (default 7)")
    args = parser.parse_args()

    print(f"Python {platform.python_version()} ({sys.executable})")
    all_ratios: list[float] = []
    limits = Limits(cpu_time=20.0)
    with Executor(workers=1, limits=limits) as executor:
        for name, (source, tests) in _programs().items():
            executor.run(source + "# warm-up\n", tests, coverage=False)
            on_times, off_times, ratios = [], [], []
            for rep in range(args.reps):
                text = f"{source}# repetition {rep}\n"
                cpu = {}
                for coverage in (True, False) if rep % 2 else (False, True):
                    cpu[coverage] = _cpu(executor.run(text, tests, coverage=coverage))
                on_times.append(cpu[True])
                off_times.append(cpu[False])
                ratios.append(cpu[True] / cpu[False])
            all_ratios += ratios
            print(
                f"{name:<12} off {statistics.median(off_times):6.3f} s  "
                f"on {statistics.median(on_times):6.3f} s  "
                f"coverage overhead (cpu, median): {statistics.median(ratios):.2f}x  "
                f"(range {min(ratios):.2f}-{max(ratios):.2f})"
            )
    print(f"{'overall':<12} coverage overhead (cpu, median): {statistics.median(all_ratios):.2f}x")


if __name__ == "__main__":
    main()
