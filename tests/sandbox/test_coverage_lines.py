"""codegym's executed statement lines against coverage.py's, on a corpus of small programs.

Each program runs twice with the same inputs: in the sandbox (``run(...).executed_lines`` and the
per-test ``TestResult.executed_lines``) and, for the reference, in a subprocess under coverage.py's
API, which reports ``statements - missing`` for the program file. On Python 3.12+ the sandbox
records lines with ``sys.monitoring``; below 3.12 by source instrumentation
(``codegym.sandbox._instrument``); this file exercises whichever interpreter runs it.

The two agree on every statement except where codegym deliberately counts statements differently;
those differences are listed in :func:`_comparable` and applied explicitly, never silently.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import coverage
import pytest

from codegym.sandbox import Executor, Outcome, TestCase, TestKind, statement_lines


def stdio(stdin: str = "", *, entry: str | None = None) -> TestCase:
    # Expected outputs are not written by hand: the sandbox's stdout is compared with the
    # reference run's instead (see test_same_behaviour), so outcomes here may be WRONG_ANSWER.
    return TestCase.stdio(stdin, "", entry=entry)


def call(fn_name: str, *args: object) -> TestCase:
    # The expected value is the reference run's return value (see the sandbox fixture).
    return TestCase.call(fn_name, args, None)


@dataclass(frozen=True)
class Program:
    name: str
    source: str
    tests: tuple[TestCase, ...]
    per_test: bool = False
    """Also compare each test's own executed lines with a reference run of that test alone."""
    instrumentation_gap: str | None = None
    """A known gap of the source instrumentation used below Python 3.12: xfail there."""
    gap_per_test_only: bool = False
    """The gap shows in per-test sets only (another test covers the lines in the union)."""


def program(
    name: str,
    source: str,
    *tests: TestCase,
    per_test: bool = False,
    instrumentation_gap: str | None = None,
    gap_per_test_only: bool = False,
) -> Program:
    source = textwrap.dedent(source).lstrip("\n")
    return Program(name, source, tests, per_test, instrumentation_gap, gap_per_test_only)


# Where the sandbox records lines: sys.monitoring LINE events on 3.12+, else source
# instrumentation (codegym.sandbox._instrument: a mark stored before every statement).
INSTRUMENTED = not hasattr(sys, "monitoring")


CORPUS: list[Program] = [
    program(
        "if_elif_else",
        """
        n = int(input())
        if n < 0:
            print("negative")
        elif n == 0:
            print("zero")
        elif n < 10:
            print("small")
        else:
            print("large")
        if n % 2:
            kind = "odd"
        else:
            kind = "even"
        print(kind)
        """,
        stdio("5\n"),
        stdio("0\n"),
        stdio("-4\n"),
        per_test=True,
    ),
    program(
        "untaken_branches",
        """
        def sign(x):
            if x > 0:
                return 1
            if x < 0:
                return -1
            return 0

        values = [sign(v) for v in (3, 7)]
        if not values:
            print("empty")
        elif len(values) > 100:
            print("huge")
        print(values)
        """,
        stdio(),
    ),
    program(
        "for_break_continue",
        """
        total = 0
        for i in range(10):
            if i % 3 == 0:
                continue
            if i > 7:
                break
            total += i
        print(total)
        j = 0
        while True:
            j += 1
            if j < 3:
                continue
            break
        print(j)
        """,
        stdio(),
    ),
    program(
        "while_else_for_else",
        """
        def find(items, target):
            for i, item in enumerate(items):
                if item == target:
                    break
            else:
                i = -1
                print("not found")
            return i

        def countdown(n):
            while n > 0:
                n -= 1
                if n == 100:
                    break
            else:
                print("done")
            return n

        print(find([1, 2, 3], 2), find([1, 2], 9), countdown(3))
        k = 5
        while k:
            k -= 1
        else:
            print("while else")
        """,
        stdio(),
    ),
    program(
        "try_except_else_finally",
        """
        def parse(s):
            try:
                value = int(s)
            except ValueError:
                value = None
                print("bad", s)
            except (TypeError,
                    OverflowError) as exc:
                print("other", exc)
                raise
            else:
                print("ok", value)
            finally:
                print("finally")
            return value

        def always_finally():
            try:
                return 1
            finally:
                print("cleanup")

        print(parse(input()))
        print(always_finally())
        try:
            parse(None)
        except TypeError:
            print("caught TypeError")
        try:
            pass
        except:
            print("never")
        """,
        stdio("12\n"),
        stdio("x\n"),
        per_test=True,
        gap_per_test_only=True,
    ),
    program(
        "early_return",
        """
        def classify(xs):
            if not xs:
                return "empty"
            for x in xs:
                if x < 0:
                    return "has negative"
            total = sum(xs)
            if total > 100:
                return "big"
            return "small"
        """,
        call("classify", []),
        call("classify", [1, -2, 3]),
        call("classify", [1, 2]),
        per_test=True,
    ),
    program(
        "nested_and_closures",
        """
        def make_counter(start):
            count = start

            def inc(step=1):
                nonlocal count
                count += step
                return count

            def unused():
                return count * 2

            return inc

        def outer(n):
            def square(x):
                return x * x
            def cube(x):
                return x ** 3
            return [square(i) for i in range(n)]

        def run_it(n):
            c = make_counter(n)
            c()
            c(5)
            return c() + sum(outer(n))
        """,
        call("run_it", 3),
    ),
    program(
        "lambdas_and_comprehensions",
        """
        words = input().split()
        key = lambda w: (
            len(w),
            w,
        )
        ordered = sorted(words, key=key)
        lengths = {w: len(w) for w in words if w}
        firsts = {w[0] for w in words}
        nested = [
            (a, b)
            for a in range(3)
            if a != 1
            for b in range(a)
        ]
        total = sum(len(w) for w in words)
        never = [x for x in [] if x]
        print(ordered, lengths, sorted(firsts), nested, total, never)
        print((lambda: "called")(), list(map(lambda v: v * 2, [1, 2])))
        """,
        stdio("pear fig apple fig\n"),
    ),
    program(
        "classes_and_methods",
        """
        class Shape:
            '''A shape.'''
            sides = 0

            def __init__(self, name):
                self.name = name

            def area(self):
                raise NotImplementedError

            def describe(self):
                return f"{self.name} with {self.sides} sides"

            @staticmethod
            def unit():
                return 1

            @classmethod
            def make(cls, *args):
                return cls(*args)

            @property
            def label(self):
                return self.name.upper()

        class Square(Shape):
            sides = 4

            def __init__(self, side):
                super().__init__("square")
                self.side = side

            def area(self):
                return self.side ** 2

            def unused(self):
                return None

        s = Square.make(3)
        print(s.area(), s.describe(), s.label, Shape.unit())
        """,
        stdio(),
    ),
    program(
        "decorators",
        """
        import functools

        def trace(prefix):
            def deco(fn):
                @functools.wraps(fn)
                def wrapper(*args):
                    print(prefix, fn.__name__)
                    return fn(*args)
                return wrapper
            return deco

        def register(cls):
            cls.registered = True
            return cls

        @trace(
            "calling",
        )
        @functools.lru_cache(maxsize=None)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        @register
        class Plugin:
            pass

        @trace("never")
        def never_called():
            return 0

        print(fib(6), Plugin.registered)
        """,
        stdio(),
    ),
    program(
        "multiline_statements",
        """
        def combine(a,
                    b,
                    c=3):
            return (a
                    + b
                    + c)

        table = {
            "a": 1,
            "b": combine(
                1,
                2,
            ),
        }
        items = [
            1,
            2,
            3,
        ]
        message = ("implicit "
                   "concatenation "
                   "of strings")
        total = 1 + \\
            2 + \\
            3
        if (total > 5
                and table["a"] == 1):
            print(message,
                  table,
                  items,
                  total)
        if (total < 0 or
                items == []):
            print("never",
                  "printed")
        text = \"\"\"a
        multi-line
        string\"\"\"
        print(len(text))
        """,
        stdio(),
    ),
    program(
        "with_statements",
        """
        import contextlib
        import io

        class Managed:
            def __init__(self, name):
                self.name = name

            def __enter__(self):
                print("enter", self.name)
                return self

            def __exit__(self, *exc):
                print("exit", self.name)
                return exc[0] is KeyError

        @contextlib.contextmanager
        def tag(name):
            print("<" + name + ">")
            yield name
            print("</" + name + ">")

        with Managed("a") as a, tag("b") as b:
            print(a.name, b)
        with Managed("c"):
            raise KeyError("suppressed")
            print("unreachable")  # dead
        with (
            io.StringIO("x") as f1,
            io.StringIO("y") as f2,
        ):
            print(f1.read() + f2.read())
        print("after")
        """,
        stdio(),
    ),
    program(
        "match_statements",
        """
        def describe(value):
            match value:
                case 0 | 1:
                    return "bit"
                case int(n) if n < 0:
                    return "negative"
                case [x, y]:
                    return f"pair {x} {y}"
                case {"kind": kind,
                      "size": size}:
                    return f"{kind}:{size}"
                case str() as s:
                    return "text " + s
                case _:
                    return "other"

        for v in (1, -3, [1, 2], {"kind": "box", "size": 2}):
            print(describe(v))
        """,
        stdio(),
    ),
    program(
        "clause_headers_multiline_and_one_line",
        """
        def f(v):
            match v:
                case (
                    1
                    | 2
                ):
                    return "small"
                case [
                    a,
                    b,
                ] if a > b:
                    return "desc"
                case _: return "other"

        def g(x):
            try: return 1 / x
            except ZeroDivisionError: return None
            finally: pass

        print(f(2), f([3, 1]), f(0), g(0), g(1))
        """,
        stdio(),
    ),
    program(
        "unmatched_clauses",
        # Clauses tried without matching: the except and case lines ran, their bodies did not.
        """
        def f(v):
            match v:
                case int() if v > 10:
                    return "big"
                case str():
                    return "text"
                case [_, *rest]:
                    return rest
            return "none"

        def g(x):
            try:
                return {"a": 1}[x]
            except (TypeError, ValueError):
                return "type"
            except IndexError:
                return "index"

        print(f(3))
        try:
            g("b")
        except KeyError:
            print("propagated")
        """,
        stdio(),
    ),
    program(
        "generators",
        """
        def count_up(n):
            i = 0
            while i < n:
                yield i
                i += 1
            print("exhausted")

        def first_two():
            yield 1
            yield 2
            yield 3
            print("never reached")

        def chained():
            yield from count_up(2)
            yield from (x * 10 for x in range(2))

        def echo():
            received = yield "ready"
            while received is not None:
                received = yield received.upper()

        print(list(count_up(3)))
        g = first_two()
        print(next(g), next(g))
        print(list(chained()))
        e = echo()
        print(next(e), e.send("hi"))
        """,
        stdio(),
    ),
    program(
        "recursion",
        """
        import sys
        sys.setrecursionlimit(5000)

        def fact(n):
            if n <= 1:
                return 1
            return n * fact(n - 1)

        def is_even(n):
            return True if n == 0 else is_odd(n - 1)

        def is_odd(n):
            return False if n == 0 else is_even(n - 1)

        def hanoi(n, a, b, c, moves):
            if n == 0:
                return moves
            hanoi(n - 1, a, c, b, moves)
            moves.append((a, c))
            hanoi(n - 1, b, a, c, moves)
            return moves

        def solve(n):
            return [fact(n), is_even(n), len(hanoi(n, "a", "b", "c", []))]
        """,
        call("solve", 5),
        call("solve", 1),
        per_test=True,
    ),
    program(
        "global_code_after_defs",
        """
        import sys

        def read_ints():
            return list(map(int, sys.stdin.readline().split()))

        def unused_helper(x):
            y = x + 1
            return y

        def main():
            a, b = read_ints()
            print(a + b)

        COUNTER = 0

        def bump():
            global COUNTER
            COUNTER += 1

        if __name__ == "__main__":
            main()
            bump()
        else:
            print("imported")
        print(COUNTER)
        """,
        stdio("2 3\n"),
    ),
    program(
        "code_after_caught_exception",
        """
        def risky(x):
            if x > 2:
                raise ValueError(x)
            return x

        results = []
        for x in range(5):
            try:
                results.append(risky(x))
                print("no error", x)
            except ValueError as exc:
                print("error", exc)
                continue
            print("after try", x)
        try:
            [][1]
            print("not printed")
        except IndexError:
            pass
        print("done", results)
        """,
        stdio(),
    ),
    program(
        "uncaught_exception",
        """
        def divide(a, b):
            return a // b

        a, b = map(int, input().split())
        print(divide(a, b))
        print("second line")
        """,
        stdio("7 2\n"),
        stdio("1 0\n"),
        per_test=True,
    ),
    program(
        "apps_style_stdio",
        """
        import sys
        from collections import Counter

        def solve(n, arr):
            counts = Counter(arr)
            best = max(counts.values())
            if best * 2 > n:
                return "NO"
            return "YES"

        def main():
            data = sys.stdin.read().split()
            t = int(data[0])
            pos = 1
            out = []
            for _ in range(t):
                n = int(data[pos])
                arr = data[pos + 1 : pos + 1 + n]
                pos += 1 + n
                out.append(solve(n, arr))
            print("\\n".join(out))

        main()
        """,
        stdio("2\n3\n1 2 1\n4\n1 2 3 4\n"),
        stdio("1\n2\n5 5\n"),
        per_test=True,
    ),
    program(
        "stdio_entry_function",
        """
        def main():
            n = int(input())
            if n > 3:
                print("many")
            else:
                print("few")
        """,
        stdio("5\n", entry="main"),
    ),
    program(
        "solution_class_call",
        """
        from typing import List

        class Solution:
            def twoSum(self, nums: List[int], target: int) -> List[int]:
                seen = {}
                for i, v in enumerate(nums):
                    if target - v in seen:
                        return [seen[target - v], i]
                    seen[v] = i
                return []
        """,
        call("twoSum", [2, 7, 11], 9),
        call("twoSum", [1, 2], 10),
    ),
    program(
        "exit_early",
        """
        import sys
        n = int(input())
        if n == 0:
            print("zero")
            sys.exit(0)
        print("nonzero")
        exit()
        print("never")
        """,
        stdio("0\n"),
        stdio("1\n"),
    ),
    program(
        "noop_statements",
        '''
        """Module docstring."""
        X: int
        Y: int = 1


        class Empty:
            """Only a docstring."""


        def documented(a):
            """Function docstring,
            on two lines."""
            b: int
            global Y
            if a:
                pass
            ...
            "a bare string"
            return a


        def dead_code(a):
            return a
            print("dead")  # dead


        def declared_only():
            pass


        print(documented(1), dead_code(2), declared_only(), type(Empty()).__name__)
        ''',
        stdio(),
    ),
    program(
        "late_lines_in_long_loop",
        # Lines reached only after many iterations, and a function first called late: the 3.11
        # tracer stops tracing code objects once all their lines were seen, so it must not stop
        # early.
        """
        def late():
            return "late"

        total = 0
        for i in range(20000):
            if i == 19999:
                print(late())
            elif i % 7 == 0:
                total += 1
            else:
                total -= 1
        print(total)
        """,
        stdio(),
    ),
    program(
        "walrus_ternary_chained",
        """
        import re
        data = [3, 8, 1, 9]
        if (n := len(data)) > 3:
            print("long", n)
        best = (max(data)
                if data
                else None)
        ok = 0 < best <= 10
        while (chunk := data.pop()) != 8:
            print(chunk)
        m = re.match(r"(\\d+)", "42abc")
        assert m, "no match"
        del data
        print(best, ok, m.group(1))
        """,
        stdio(),
    ),
    program(
        "threading_main",
        # The competitive-programming idiom for deep recursion: run main() in a thread with a
        # big stack. Lines executed in other threads count too.
        """
        import sys
        import threading

        def depth(n):
            return 0 if n == 0 else 1 + depth(n - 1)

        def main():
            n = int(input())
            print(depth(n))
            if n > 1000:
                print("deep")

        sys.setrecursionlimit(10000)
        threading.stack_size(1 << 25)
        worker = threading.Thread(target=main)
        worker.start()
        worker.join()
        print("joined")
        """,
        stdio("50\n"),
    ),
    program(
        "dead_code",
        # Statements the compiler drops as unreachable: codegym keeps them as statements that
        # never run, coverage.py does not count them (see test_statement_lines_match_coverage).
        """
        def f(x):
            for i in range(x):
                if i == 2:
                    break
                    print("after break")  # dead
                continue
                print("after continue")  # dead
            if False:
                print("if False")  # dead
            while 0:
                print("while 0")  # dead
            raise ValueError(x)
            return x  # dead

        try:
            f(3)
        except ValueError:
            print("raised")
        """,
        stdio(),
    ),
    program(
        "humaneval_check",
        """
        def below_zero(operations):
            balance = 0
            for op in operations:
                balance += op
                if balance < 0:
                    return True
            return False
        """,
        TestCase.check(
            "def check(candidate):\n"
            "    assert candidate([1, 2]) is False\n"
            "    assert candidate([1, -2]) is True\n",
            "below_zero",
        ),
    ),
    program(
        "async_dataclass_one_liners",
        """
        import asyncio
        from dataclasses import dataclass, field


        @dataclass(
            frozen=True,
        )
        class Point:
            x: int
            y: int = 0
            tags: list = field(default_factory=list)


        async def fetch(n):
            await asyncio.sleep(0)
            if n < 0:
                raise ValueError(n)
            return n * 2


        async def agen(k):
            for i in range(k):
                yield i


        async def main():
            values = [await fetch(i) for i in range(3)]
            async for v in agen(2):
                values.append(v)
            try:
                await fetch(-1)
            except ValueError:
                values.append(-1)
            return values


        a = 1; b = 2; c = a + b
        if c: print("inline")
        def one_liner(x): return x + 1
        from collections import (
            Counter,
            deque,
        )
        assert (
            c == 3
        ), "message"
        print(f"{a=} {b=} {one_liner(c)=}",
              Point(1), sep="|")
        print(asyncio.run(main()))
        x = [
            i
            for i in range(3)
        ]; y = {
            k: v for k, v in zip("ab", "cd")
        }
        print(x, y, Counter("aab"), deque([1]))
        """,
        stdio(),
    ),
    program(
        "exceptions_in_nested_calls",
        """
        class AppError(Exception):
            pass

        def level3(x):
            if x:
                raise AppError("deep")
            return 0

        def level2(x):
            try:
                return level3(x)
            finally:
                print("level2 cleanup")

        def level1(x):
            try:
                level2(x)
            except AppError as exc:
                print("caught", exc)
                try:
                    raise RuntimeError("again") from exc
                except RuntimeError:
                    print("re-caught")
            else:
                print("no error")

        level1(0)
        level1(1)
        """,
        stdio(),
    ),
]

if sys.version_info >= (3, 11):
    CORPUS.append(
        program(
            "except_star",
            """
            def groups(excs):
                try:
                    raise ExceptionGroup("eg", excs)
                except* ValueError as eg:
                    print("values", len(eg.exceptions))
                except* TypeError:
                    print("types")
                except* KeyError:
                    print("never")

            groups([ValueError(1), TypeError(2)])
            groups([ValueError(3)])
            """,
            stdio(),
        )
    )

# --------------------------------------------------------------------------------------------
# The reference: coverage.py in a subprocess, one Coverage per test, only the program measured.
# --------------------------------------------------------------------------------------------

REFERENCE_DRIVER = r"""
import io, json, sys
import coverage

jobs = json.load(open(sys.argv[1]))
sys.setrecursionlimit(10000)
results = []
for job in jobs:
    path = job["path"]
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    per_test = []
    for test in job["tests"]:
        cov = coverage.Coverage(data_file=None, include=[path], config_file=False)
        cov.clear_exclude()  # no regex exclusions (coverage.py excludes `...` lines by default)
        real_in, real_out = sys.stdin, sys.stdout
        sys.stdin, sys.stdout = io.StringIO(test["stdin"]), io.StringIO()
        namespace = {"__name__": "__main__", "__file__": path}
        returned = None
        cov.start()
        try:
            try:
                exec(code, namespace)
            except SystemExit as exc:
                if test["kind"] != "stdio" or exc.code not in (None, 0):
                    raise
            if test["kind"] == "check":
                exec(compile(test["check"], "<check>", "exec"), namespace)
                namespace["check"](namespace[test["fn"]])
            elif test["fn"]:
                fn = namespace.get(test["fn"])
                if fn is None:
                    fn = getattr(namespace["Solution"](), test["fn"])
                returned = fn(*test["args"])
        except BaseException:
            pass
        finally:
            cov.stop()
            stdout = sys.stdout.getvalue()
            sys.stdin, sys.stdout = real_in, real_out
        _, statements, _, missing, _ = cov.analysis2(path)
        lines = sorted(set(statements) - set(missing))
        per_test.append({"lines": lines, "stdout": stdout, "returned": returned})
    results.append(per_test)
json.dump(results, sys.stdout, default=repr)
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    root = tmp_path_factory.mktemp("coverage_reference")
    jobs = []
    for prog in CORPUS:
        path = root / f"{prog.name}.py"
        path.write_text(prog.source, encoding="utf-8")
        tests = [
            {
                "kind": t.kind.value,
                "stdin": t.stdin,
                "fn": t.fn_name,
                "args": list(t.args),
                "check": t.check_code,
            }
            for t in prog.tests
        ]
        jobs.append({"path": str(path), "tests": tests})
    (root / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    (root / "driver.py").write_text(REFERENCE_DRIVER, encoding="utf-8")
    # coverage.py's C tracer (sys.settrace), independent of the sys.monitoring path under test.
    env = {**os.environ, "COVERAGE_CORE": "ctrace"}
    proc = subprocess.run(
        [sys.executable, str(root / "driver.py"), str(root / "jobs.json")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return {prog.name: runs for prog, runs in zip(CORPUS, json.loads(proc.stdout))}


@pytest.fixture(scope="module")
def sandbox(reference: dict[str, list[dict]]) -> dict[str, object]:
    jobs = []
    for prog in CORPUS:
        # Function-call tests expect what the function returned in the reference run.
        tests = [
            replace(t, expected=ref["returned"]) if t.kind is TestKind.CALL else t
            for t, ref in zip(prog.tests, reference[prog.name])
        ]
        jobs.append((prog.source, tests))
    with Executor(workers=2, cache_size=0) as executor:
        results = executor.run_many(jobs)
    return {p.name: r for p, r in zip(CORPUS, results)}


# --------------------------------------------------------------------------------------------
# Deliberate differences between codegym's statements and coverage.py's.
# --------------------------------------------------------------------------------------------


def _decorator_lines(source: str) -> set[int]:
    """First lines of decorator expressions."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        for deco in getattr(node, "decorator_list", None) or []:
            out.add(deco.lineno)
    return out


def _semicolon_merged(source: str) -> set[int]:
    """First lines of statements that continue a logical line begun on an earlier physical line.

    In ``x = [\n1,\n]; y = 2`` the statement ``y = 2`` starts on line 3, after a ``;``.
    """
    out = set()
    for node in ast.walk(ast.parse(source)):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not (isinstance(block, list) and block and isinstance(block[0], ast.stmt)):
                continue
            logical_start = block[0].lineno
            for prev, cur in zip(block, block[1:]):
                logical_start = logical_start if prev.end_lineno == cur.lineno else cur.lineno
                if logical_start < cur.lineno:
                    out.add(cur.lineno)
    return out


def _comparable(source: str, ours: set[int], theirs: set[int]) -> tuple[set[int], set[int]]:
    """codegym's and coverage.py's line sets, less the lines where they count statements differently.

    * Decorators: coverage.py reports each decorator expression as a statement of its own;
      codegym counts a decorated ``def``/``class`` as one statement, identified by its ``def`` or
      ``class`` line as in the AST (a decorator is an expression of that statement and runs with
      it). Decorator lines are dropped from coverage.py's set; the ``def`` line stays in both.
    * Statements after a ``;`` that continues a multi-line logical line: coverage.py groups lines
      by tokenizer logical line, so it reports them as part of the statement the logical line
      began with; codegym, by the AST, as statements of their own. Dropped from codegym's set.

    Everything else agrees with coverage.py as is: ``except`` and ``case`` clauses are statements of
    their own, docstrings and declarations (``global``, ``nonlocal``, local bare annotations) are
    not statements, and ``...`` is a statement (the reference clears coverage.py's default
    exclusion of ``...`` lines).
    """
    return ours - _semicolon_merged(source), theirs - _decorator_lines(source)


# --------------------------------------------------------------------------------------------
# The tests.
# --------------------------------------------------------------------------------------------


def test_corpus_size_and_kinds() -> None:
    assert len(CORPUS) >= 20
    kinds = {t.kind for p in CORPUS for t in p.tests}
    assert {TestKind.STDIO, TestKind.CALL} <= kinds
    assert len({p.name for p in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("prog", CORPUS, ids=lambda p: p.name)
def test_same_behaviour(prog: Program, sandbox: dict, reference: dict) -> None:
    """Both runs saw the same program behaviour, so their line sets are comparable."""
    result = sandbox[prog.name]
    assert result.outcome not in (Outcome.INFRA_ERROR, Outcome.COMPILE_ERROR), result
    for test, res, ref in zip(prog.tests, result.tests, reference[prog.name]):
        if test.kind is TestKind.STDIO:
            assert res.stdout == ref["stdout"], (prog.name, test)
        else:  # call tests expect the reference's return value; check tests must pass
            assert res.outcome is Outcome.PASSED, res


def _with_known_gaps(programs: list[Program], *, per_test: bool = False) -> list:
    return [
        pytest.param(
            p,
            id=p.name,
            marks=pytest.mark.xfail(INSTRUMENTED, reason=p.instrumentation_gap, strict=False),
        )
        if p.instrumentation_gap and (per_test or not p.gap_per_test_only)
        else pytest.param(p, id=p.name)
        for p in programs
    ]


@pytest.mark.parametrize("prog", _with_known_gaps(CORPUS))
def test_union_matches_coverage(prog: Program, sandbox: dict, reference: dict) -> None:
    union = set().union(*(set(r["lines"]) for r in reference[prog.name]))
    ours, theirs = _comparable(prog.source, set(sandbox[prog.name].executed_lines), union)
    assert ours == theirs, _diff(prog.source, ours, theirs)


@pytest.mark.parametrize("prog", _with_known_gaps([p for p in CORPUS if p.per_test], per_test=True))
def test_per_test_matches_coverage(prog: Program, sandbox: dict, reference: dict) -> None:
    result = sandbox[prog.name]
    for i, (res, ref) in enumerate(zip(result.tests, reference[prog.name])):
        ours, theirs = _comparable(prog.source, set(res.executed_lines), set(ref["lines"]))
        assert ours == theirs, f"test {i}: " + _diff(prog.source, ours, theirs)
    per_test = [t.executed_lines for t in result.tests]
    assert len(set(per_test)) > 1, "the per-test programs should execute different lines per test"
    assert result.executed_lines == frozenset().union(*per_test)


@pytest.mark.parametrize("prog", CORPUS, ids=lambda p: p.name)
def test_executed_lines_are_statements(prog: Program, sandbox: dict) -> None:
    assert sandbox[prog.name].executed_lines <= statement_lines(prog.source)


def test_statement_lines_match_coverage_statements(tmp_path: Path) -> None:
    """Which lines are statements at all, compared with coverage.py's parser (no execution)."""
    for prog in CORPUS:
        path = tmp_path / f"{prog.name}.py"
        path.write_text(prog.source, encoding="utf-8")
        cov = coverage.Coverage(data_file=None, config_file=False)
        cov.clear_exclude()
        _, statements, _, _, _ = cov.analysis2(str(path))
        ours, theirs = _comparable(prog.source, set(statement_lines(prog.source)), set(statements))
        assert theirs <= ours, (prog.name, _diff(prog.source, ours, theirs))
        # coverage.py drops statements the compiler removed as unreachable; codegym keeps them as
        # statements that never run (their tokens must get mask 0, not the mask of a neighbour).
        # The corpus marks each such line with "# dead".
        dead = {n for n, text in enumerate(prog.source.splitlines(), 1) if text.endswith("# dead")}
        assert ours - theirs <= dead, (prog.name, _diff(prog.source, ours, theirs))


def _diff(source: str, ours: set[int], theirs: set[int]) -> str:
    lines = source.splitlines()

    def show(nums: set[int]) -> str:
        return "".join(
            f"\n  {n:3d}: {lines[n - 1] if 0 < n <= len(lines) else ''}" for n in sorted(nums)
        )

    return f"only codegym:{show(ours - theirs)}\nonly coverage.py:{show(theirs - ours)}"
