"""Data types of the sandbox: tests, limits, outcomes and results."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from codegym.errors import ConfigError

__all__ = ["TestKind", "TestCase", "Limits", "Outcome", "TestResult", "ExecutionResult"]


class TestKind(str, enum.Enum):
    """How a test exercises the program."""

    STDIO = "stdio"
    """Feed ``stdin`` to the program, compare what it prints with ``expected_output``."""
    CALL = "call"
    """Run the program, call ``fn_name(*args)``, compare the return value with ``expected``."""
    CHECK = "check"
    """Run the program, then HumanEval-style ``check_code`` defining ``check(candidate)``, called on
    ``fn_name``; the test passes when ``check`` returns without raising."""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class TestCase:
    """One unit test. Build it with :meth:`stdio`, :meth:`call` or :meth:`check`.

    For STDIO tests ``fn_name`` is optional: when set (APPS+ programs whose starter code is
    ``def main():``), that parameterless function is called after the program has run, with the
    test's input on stdin.
    """

    kind: TestKind
    stdin: str = ""
    expected_output: str | None = None
    fn_name: str | None = None
    args: tuple[Any, ...] = ()
    expected: Any = None
    check_code: str | None = None

    __test__ = False

    @classmethod
    def stdio(cls, stdin: str, expected_output: str, *, entry: str | None = None) -> TestCase:
        """A stdin/stdout test; ``entry`` names a parameterless function to call after the program."""
        return cls(TestKind.STDIO, stdin=stdin, expected_output=expected_output, fn_name=entry)

    @classmethod
    def call(cls, fn_name: str, args: tuple[Any, ...] | list[Any], expected: Any) -> TestCase:
        """A function-call test: ``fn_name(*args) == expected``."""
        return cls(TestKind.CALL, fn_name=fn_name, args=tuple(args), expected=expected)

    @classmethod
    def check(cls, check_code: str, entry_point: str) -> TestCase:
        """A HumanEval-style test: ``check_code`` defines ``check(candidate)``."""
        return cls(TestKind.CHECK, check_code=check_code, fn_name=entry_point)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, TestKind):
            object.__setattr__(self, "kind", TestKind(self.kind))
        if self.kind is TestKind.STDIO:
            if not isinstance(self.stdin, str) or not isinstance(self.expected_output, str):
                raise ConfigError("a stdio TestCase needs str stdin and str expected_output")
        elif self.kind is TestKind.CALL:
            if not self.fn_name or not isinstance(self.fn_name, str):
                raise ConfigError("a call TestCase needs fn_name, the function to call")
            if not isinstance(self.args, tuple):
                object.__setattr__(self, "args", tuple(self.args))
        elif not self.check_code or not self.fn_name:
            raise ConfigError("a check TestCase needs check_code and fn_name (the entry point)")


HARD_WALL_FACTOR = 5
"""Backstop periods a test may last in all, whatever its CPU progress."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one test of one program.

    Timeouts are decided by CPU time, so a result does not depend on machine load; ``wall_time`` is
    only a backstop against programs that sleep or block.
    """

    cpu_time: float = 2.0
    """CPU seconds (user + system) a test may use, all its processes and threads together."""
    wall_time: float | None = None
    """Wall-clock backstop period in seconds; default ``3 * cpu_time + 1``. A test that uses
    almost no CPU during a whole period (it sleeps or blocks) is killed as a timeout; one that
    computes is left to its CPU limit, however loaded the machine (up to 5 periods in all)."""
    memory_mb: int = 512
    """Address space the program may add on top of the interpreter, in MiB."""
    output_bytes: int = 1 << 20
    """Largest file the program may write, its stdout and stderr included."""
    processes: int = 32
    """Processes and threads the program may have at once."""
    open_files: int = 64
    """Open file descriptors."""
    program_bytes: int = 256 << 10
    """Largest program accepted; a longer one is a compile error."""
    stop_after_timeout: bool = True
    """After a test times out (or hits a limit), skip the program's remaining tests. This bounds the
    cost of a looping program to one limit instead of one per test; skipped tests count as failed."""
    process_per_test: bool = False
    """Run every test in a process of its own. By default one process runs a program's tests one
    after another, each from a fresh ``__main__`` with its own stdin, stdout, random state and
    CPU limit, and a new process takes over after a test that crashes, is killed or hits a limit;
    what one test leaves behind (files, changed modules, threads) can then reach the program's
    later tests, never another program's. About twice the tests per second on APPS-style
    problems (``benchmarks/sandbox_per_program.py``)."""

    def __post_init__(self) -> None:
        for name in (
            "cpu_time",
            "memory_mb",
            "output_bytes",
            "processes",
            "open_files",
            "program_bytes",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"Limits.{name} must be a positive number, got {value!r}")
        if self.wall_time is not None and not self.wall_time > 0:
            raise ConfigError(f"Limits.wall_time must be positive or None, got {self.wall_time!r}")
        if not math.isfinite(self.cpu_time):
            raise ConfigError("Limits.cpu_time must be finite")

    @property
    def effective_wall_time(self) -> float:
        """The wall-clock backstop in force."""
        return self.wall_time if self.wall_time is not None else 3 * self.cpu_time + 1.0

    @property
    def hard_wall_time(self) -> float:
        """The absolute cap on a test's wall time: ``HARD_WALL_FACTOR`` backstop periods, for a
        program that computes however starved by machine load (the backstop spares it)."""
        return HARD_WALL_FACTOR * self.effective_wall_time


class Outcome(str, enum.Enum):
    """What happened when a program ran against its tests.

    ``INFRA_ERROR`` is not the program's fault: the sandbox itself failed, and such a result must
    not be scored (rewards refuse it; envs mark the episode so trainers can drop it).
    """

    PASSED = "passed"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    COMPILE_ERROR = "compile_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    SKIPPED = "skipped"
    INFRA_ERROR = "infra_error"

    @property
    def is_runtime_failure(self) -> bool:
        """True for failures scored as runtime errors (StepCoder's -0.6 class)."""
        return self in _RUNTIME_CLASS

    @property
    def severity(self) -> int:
        """Rank used to pick a program's overall outcome from its tests' outcomes."""
        return _SEVERITY[self]


_RUNTIME_CLASS = frozenset(
    {Outcome.RUNTIME_ERROR, Outcome.TIMEOUT, Outcome.MEMORY_LIMIT, Outcome.OUTPUT_LIMIT}
)
_SEVERITY = {
    Outcome.PASSED: 0,
    Outcome.SKIPPED: 1,
    Outcome.WRONG_ANSWER: 2,
    Outcome.RUNTIME_ERROR: 3,
    Outcome.TIMEOUT: 3,
    Outcome.MEMORY_LIMIT: 3,
    Outcome.OUTPUT_LIMIT: 3,
    Outcome.COMPILE_ERROR: 4,
    Outcome.INFRA_ERROR: 5,
}


@dataclass(frozen=True)
class TestResult:
    """The result of one test."""

    outcome: Outcome
    cpu_time: float = 0.0
    wall_time: float = 0.0
    stdout: str = ""
    """What the program printed, truncated for reporting."""
    stderr: str = ""
    """The end of what the program wrote to stderr (tracebacks), truncated."""
    exception: str | None = None
    """Exception type name for runtime errors, e.g. ``"ZeroDivisionError"``."""
    exception_line: int | None = None
    """Line of the program where that exception was raised (innermost frame in the program)."""
    detail: str = ""
    """Short human-readable explanation (signal, limit hit, comparison mismatch)."""
    executed_lines: frozenset[int] = frozenset()
    """Statement lines of the program this test executed."""

    __test__ = False

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


@dataclass(frozen=True)
class ExecutionResult:
    """The result of running one program against its tests.

    ``outcome`` is ``PASSED`` when every test passed; otherwise the most severe failure among the
    tests (compile error > runtime-class failures > wrong answer), the first one on ties.
    """

    outcome: Outcome
    tests: tuple[TestResult, ...] = ()
    executed_lines: frozenset[int] = frozenset()
    """Statement lines of the program executed by any test (line numbers of the program text)."""
    compile_error: str | None = None
    """The syntax error message, for compile errors."""
    infra_error: str | None = None
    """What broke inside the sandbox, for ``INFRA_ERROR``."""
    wall_time: float = 0.0
    """Seconds the whole run took on the sandbox server (as the caller saw it, for
    ``INFRA_ERROR``)."""
    cached: bool = False
    """True when this result came from the executor's cache."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """What the executor adds about where the run happened (``RayExecutor``: ``ray_node``)."""

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def pass_fraction(self) -> float:
        """Fraction of tests passed (0.0 when there are none or the program did not compile)."""
        if not self.tests:
            return 0.0
        return sum(t.passed for t in self.tests) / len(self.tests)

    @property
    def cpu_time(self) -> float:
        return sum(t.cpu_time for t in self.tests)
