"""Problem-set validation: run every canonical solution, and check the tests can tell wrong
programs apart. This automates the refinement that turned APPS into APPS+, for any dataset."""

from __future__ import annotations

import ast
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from codegym.problems.model import Problem, TestMode
from codegym.sandbox import Executor, Limits, Outcome, default_executor

__all__ = [
    "IssueKind",
    "ValidationIssue",
    "ValidationReport",
    "trivial_programs",
    "validate_problems",
    "count_tests",
]


class IssueKind(str, enum.Enum):
    NO_SOLUTION = "no_solution"
    SOLUTION_FAILS = "solution_fails"
    ACCEPTS_EMPTY = "accepts_empty_program"
    ACCEPTS_CONSTANT = "accepts_constant_program"
    TOO_FEW_TESTS = "too_few_tests"
    INFRA_ERROR = "infra_error"


@dataclass(frozen=True)
class ValidationIssue:
    problem_id: str
    kind: IssueKind
    detail: str = ""


@dataclass
class ValidationReport:
    checked: int = 0
    issues: list[ValidationIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def bad_ids(self) -> list[str]:
        return sorted({i.problem_id for i in self.issues})


def count_tests(problem: Problem) -> int:
    """Number of unit tests; for HumanEval-style check code, the number of ``assert`` statements."""
    if problem.mode is not TestMode.CHECK:
        return len(problem.tests)
    total = 0
    for test in problem.tests:
        try:
            total += sum(
                isinstance(n, ast.Assert) for n in ast.walk(ast.parse(test.check_code or ""))
            )
        except SyntaxError:
            pass
    return total


def trivial_programs(problem: Problem) -> dict[IssueKind, str]:
    """Programs that must fail: one that produces nothing, one that always answers the first
    test's expected output (where there is one)."""
    first = problem.tests[0]
    if problem.mode is TestMode.STDIO:
        head = f"def {problem.fn_name}():\n    pass\n" if problem.fn_name else ""
        constant = f"import sys\nsys.stdout.write({first.expected_output!r})\n"
        if problem.fn_name:
            constant = f"import sys\ndef {problem.fn_name}():\n    sys.stdout.write({first.expected_output!r})\n"
        return {IssueKind.ACCEPTS_EMPTY: head or "pass\n", IssueKind.ACCEPTS_CONSTANT: constant}
    empty = f"def {problem.fn_name}(*args, **kwargs):\n    return None\n"
    empty = (
        f"class Solution:\n    def {problem.fn_name}(self, *args, **kwargs):\n        return None\n"
        + empty
    )
    programs = {IssueKind.ACCEPTS_EMPTY: empty}
    if problem.mode is TestMode.CALL:
        programs[IssueKind.ACCEPTS_CONSTANT] = (
            f"def {problem.fn_name}(*args, **kwargs):\n    return {first.expected!r}\n"
            f"class Solution:\n    def {problem.fn_name}(self, *args, **kwargs):\n        return {first.expected!r}\n"
        )
    return programs


def validate_problems(
    problems: Sequence[Problem],
    *,
    min_tests: int = 5,
    executor: Executor | None = None,
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 64,
) -> ValidationReport:
    """Check every problem; the report lists each problem that fails a check and why."""
    executor = executor or default_executor()
    report = ValidationReport()
    for start in range(0, len(problems), batch):
        chunk = problems[start : start + batch]
        jobs, owners = [], []
        for p in chunk:
            if count_tests(p) < min_tests:
                report.issues.append(
                    ValidationIssue(
                        p.id,
                        IssueKind.TOO_FEW_TESTS,
                        f"{count_tests(p)} tests, fewer than {min_tests}",
                    )
                )
            if not p.canonical_solution.strip():
                report.issues.append(ValidationIssue(p.id, IssueKind.NO_SOLUTION))
            else:
                jobs.append((p.canonical_solution, p))
                owners.append((p, None))
            for kind, program in trivial_programs(p).items():
                jobs.append((program, p))
                owners.append((p, kind))
        results = executor.run_many(jobs, limits=limits, coverage=False)
        for (p, kind), result in zip(owners, results):
            if result.outcome is Outcome.INFRA_ERROR:
                report.issues.append(
                    ValidationIssue(p.id, IssueKind.INFRA_ERROR, result.infra_error or "")
                )
            elif kind is None and not result.passed:
                bad = next((i, t) for i, t in enumerate(result.tests) if not t.passed)
                detail = f"test {bad[0]}: {bad[1].outcome.value}: {bad[1].detail or result.compile_error or ''}"
                report.issues.append(
                    ValidationIssue(p.id, IssueKind.SOLUTION_FAILS, detail.strip())
                )
            elif kind is not None and result.passed:
                report.issues.append(
                    ValidationIssue(p.id, kind, "a trivially wrong program passes every test")
                )
        report.checked += len(chunk)
        if progress is not None:
            progress(report.checked, len(problems))
    return report
