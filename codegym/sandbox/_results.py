"""The caller's side of a finished run: the server's raw reply turned into an
:class:`ExecutionResult`, judged against the expected answers that never left the caller."""

from __future__ import annotations

import json
from typing import Any

from codegym.errors import SandboxError
from codegym.sandbox.compare import Comparator
from codegym.sandbox.lines import normalise_lines
from codegym.sandbox.types import ExecutionResult, Outcome, TestCase, TestKind, TestResult

_STATUS = {
    "completed": None,
    "wrong": Outcome.WRONG_ANSWER,
    "runtime": Outcome.RUNTIME_ERROR,
    "timeout": Outcome.TIMEOUT,
    "memory": Outcome.MEMORY_LIMIT,
    "output": Outcome.OUTPUT_LIMIT,
    "skipped": Outcome.SKIPPED,
}


def build_result(
    program: str,
    tests: tuple[TestCase, ...],
    reply: dict[str, Any],
    comparator: Comparator,
    wall: float,
) -> ExecutionResult:
    if "infra_error" in reply:
        return ExecutionResult(
            Outcome.INFRA_ERROR, infra_error=reply["infra_error"], wall_time=wall
        )
    if "compile_error" in reply:
        line = reply.get("compile_line")
        failed = TestResult(
            Outcome.COMPILE_ERROR, detail=reply["compile_error"], exception_line=line
        )
        return ExecutionResult(
            Outcome.COMPILE_ERROR,
            tests=tuple(failed for _ in tests),
            compile_error=reply["compile_error"],
            wall_time=wall,
        )
    results = []
    union: set[int] = set()
    for test, raw in zip(tests, reply["tests"]):
        raw_lines = frozenset(raw.get("lines") or ())
        # Lines of sys.monitoring need mapping to their statements (a parse of the program);
        # coverage marks and runs without coverage give statement lines, or none, already.
        if raw_lines and not reply.get("statement_lines"):
            lines = normalise_lines(program, raw_lines)
        else:
            lines = raw_lines
        union |= lines
        outcome = _STATUS.get(raw["status"], Outcome.RUNTIME_ERROR)
        detail = raw.get("detail", "")
        if outcome is None:
            outcome, detail = _judge(test, raw, comparator)
        results.append(
            TestResult(
                outcome=outcome,
                cpu_time=raw.get("cpu", 0.0),
                wall_time=raw.get("wall", 0.0),
                stdout=raw.get("stdout", "")[:4096],
                stderr=raw.get("stderr", ""),
                exception=raw.get("exc_type") if outcome.is_runtime_failure else None,
                exception_line=raw.get("exc_line") if outcome.is_runtime_failure else None,
                detail=detail,
                executed_lines=lines,
            )
        )
    overall = Outcome.PASSED
    for r in results:
        if r.outcome.severity > overall.severity:
            overall = r.outcome
    if overall is Outcome.SKIPPED:
        overall = Outcome.WRONG_ANSWER
    return ExecutionResult(
        overall, tests=tuple(results), executed_lines=frozenset(union), wall_time=wall
    )


def _judge(test: TestCase, raw: dict[str, Any], comparator: Comparator) -> tuple[Outcome, str]:
    if test.kind is TestKind.STDIO:
        produced: Any = raw.get("stdout", "")
    elif test.kind is TestKind.CALL:
        try:
            produced = json.loads(raw.get("returned", "null"))
        except ValueError:
            return Outcome.RUNTIME_ERROR, "the return value could not be decoded"
    else:
        produced = raw.get("returned") == "true"
    try:
        ok = comparator(test, produced)
    except Exception as exc:
        raise SandboxError(f"comparator {comparator!r} raised {type(exc).__name__}: {exc}") from exc
    return (
        (Outcome.PASSED, "")
        if ok
        else (Outcome.WRONG_ANSWER, "output differs from the expected output")
    )
