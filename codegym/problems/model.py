"""The problem model: a programming problem with its unit tests."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from codegym.errors import ConfigError, ProblemFormatError
from codegym.sandbox import Comparator, TestCase, TestKind, compare_values

__all__ = [
    "COMPARATORS",
    "Difficulty",
    "TestMode",
    "Problem",
    "apps_call_comparator",
    "problem_from_record",
    "problem_to_record",
]


class Difficulty(str, enum.Enum):
    """APPS difficulty levels."""

    INTRODUCTORY = "introductory"
    INTERVIEW = "interview"
    COMPETITION = "competition"


TestMode = TestKind
"""How a problem's tests exercise a program: all tests of a problem share one kind, so a
problem's mode is its tests' :class:`codegym.sandbox.TestKind`."""


def apps_call_comparator(test: TestCase, produced: Any) -> bool:
    """APPS call-based comparison: expected values are often wrapped in a one-element list."""
    expected = test.expected
    if compare_values(expected, produced):
        return True
    return (
        isinstance(expected, list) and len(expected) == 1 and compare_values(expected[0], produced)
    )


COMPARATORS: dict[str, Comparator] = {"apps_call": apps_call_comparator}
"""Named comparators a JSONL record may refer to (``"comparator": "apps_call"``)."""


def _parse_enum(
    enum_cls: type[enum.Enum], value: Any, problem_id: str | None, field_name: str
) -> Any:
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        try:
            return enum_cls(value.strip().lower())
        except ValueError:
            pass
    valid = ", ".join(repr(m.value) for m in enum_cls)
    raise ProblemFormatError(
        f"{value!r} is not one of {valid}", problem_id=problem_id, field=field_name
    )


@dataclass(frozen=True)
class Problem:
    """A programming problem: statement, starter code, canonical solution and unit tests.

    When ``starter_code`` is set, ``canonical_solution`` is a complete program that begins with it
    (the curriculum cuts prefixes from the canonical solution, and the last stage is the starter
    code alone). Construction validates every field and raises :class:`ProblemFormatError` naming
    the problem and the field.
    """

    id: str
    statement: str
    tests: tuple[TestCase, ...]
    canonical_solution: str
    difficulty: Difficulty = Difficulty.INTRODUCTORY
    mode: TestMode = TestMode.STDIO
    starter_code: str = ""
    fn_name: str | None = None
    """Function called by CALL and CHECK tests; for STDIO, an optional parameterless entry point."""
    source: str = "custom"
    title: str = ""
    split: str | None = None
    """``"train"`` or ``"test"`` where the source defines a split."""
    comparator: Comparator | None = field(default=None, compare=False, repr=False)
    """Optional custom output comparison, ``comparator(test, produced) -> bool``."""

    def __post_init__(self) -> None:
        pid = self.id if isinstance(self.id, str) else None
        if not isinstance(self.id, str) or not self.id.strip():
            raise ProblemFormatError("must be a non-empty string", problem_id=pid, field="id")
        for name in ("statement", "canonical_solution", "starter_code", "source", "title"):
            if not isinstance(getattr(self, name), str):
                raise ProblemFormatError(
                    f"must be a string, got {type(getattr(self, name)).__name__}",
                    problem_id=pid,
                    field=name,
                )
        if not self.statement.strip():
            raise ProblemFormatError("is empty", problem_id=pid, field="statement")
        object.__setattr__(
            self, "difficulty", _parse_enum(Difficulty, self.difficulty, pid, "difficulty")
        )
        object.__setattr__(self, "mode", _parse_enum(TestMode, self.mode, pid, "mode"))
        if self.split not in (None, "train", "test"):
            raise ProblemFormatError(
                f"{self.split!r} is not 'train', 'test' or None", problem_id=pid, field="split"
            )
        if self.fn_name is not None and (
            not isinstance(self.fn_name, str) or not self.fn_name.isidentifier()
        ):
            raise ProblemFormatError(
                f"{self.fn_name!r} is not a Python identifier", problem_id=pid, field="fn_name"
            )
        if self.mode is not TestMode.STDIO and not self.fn_name:
            raise ProblemFormatError(
                f"is required for {self.mode.value} problems", problem_id=pid, field="fn_name"
            )
        tests = self.tests
        if isinstance(tests, (str, bytes)) or not hasattr(tests, "__iter__"):
            raise ProblemFormatError(
                "must be a sequence of TestCase", problem_id=pid, field="tests"
            )
        tests = tuple(tests)
        if not tests:
            raise ProblemFormatError("has no tests", problem_id=pid, field="tests")
        kind = self.mode
        for i, test in enumerate(tests):
            if not isinstance(test, TestCase):
                raise ProblemFormatError(
                    f"tests[{i}] is a {type(test).__name__}, not a TestCase",
                    problem_id=pid,
                    field="tests",
                )
            if test.kind is not kind:
                raise ProblemFormatError(
                    f"tests[{i}] is a {test.kind.value} test in a {self.mode.value} problem",
                    problem_id=pid,
                    field="tests",
                )
        object.__setattr__(self, "tests", tests)
        if self.comparator is not None and not callable(self.comparator):
            raise ProblemFormatError("must be callable", problem_id=pid, field="comparator")

    @property
    def prompt(self) -> str:
        """Statement and starter code as one text, the way a model would be asked."""
        text = self.statement.rstrip() + "\n"
        if self.starter_code:
            text += "\n" + self.starter_code
        return text


# -- codegym's JSONL record format ----------------------------------------------------------------


def _require(
    record: dict[str, Any],
    key: str,
    pid: str | None,
    position: int | str | None,
    types: type | tuple,
) -> Any:
    if key not in record:
        raise ProblemFormatError("is missing", problem_id=pid, field=key, position=position)
    value = record[key]
    if not isinstance(value, types):
        names = (
            types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        )
        raise ProblemFormatError(
            f"must be {names}, got {type(value).__name__}",
            problem_id=pid,
            field=key,
            position=position,
        )
    return value


def _test_from_record(
    raw: Any,
    mode: TestMode,
    fn_name: str | None,
    pid: str | None,
    i: int,
    position: int | str | None,
) -> TestCase:
    where = f"tests[{i}]"
    if not isinstance(raw, dict):
        raise ProblemFormatError(
            f"must be an object, got {type(raw).__name__}",
            problem_id=pid,
            field=where,
            position=position,
        )
    try:
        if mode is TestMode.STDIO:
            stdin, out = raw.get("input"), raw.get("output")
            if not isinstance(stdin, str) or not isinstance(out, str):
                raise ProblemFormatError(
                    "a stdio test needs string 'input' and 'output'",
                    problem_id=pid,
                    field=where,
                    position=position,
                )
            return TestCase.stdio(stdin, out, entry=fn_name)
        if mode is TestMode.CALL:
            if "args" not in raw or "expected" not in raw or not isinstance(raw["args"], list):
                raise ProblemFormatError(
                    "a call test needs a list 'args' and an 'expected' value",
                    problem_id=pid,
                    field=where,
                    position=position,
                )
            return TestCase.call(fn_name or "", raw["args"], raw["expected"])
        code = raw.get("check")
        if not isinstance(code, str):
            raise ProblemFormatError(
                "a check test needs a string 'check'",
                problem_id=pid,
                field=where,
                position=position,
            )
        return TestCase.check(code, fn_name or "")
    except ConfigError as exc:
        raise ProblemFormatError(str(exc), problem_id=pid, field=where, position=position) from exc


def problem_from_record(
    record: Any,
    *,
    source: str = "jsonl",
    position: int | str | None = None,
    split: str | None = None,
) -> Problem:
    """Build a :class:`Problem` from one record of codegym's JSONL format (see ``docs/datasets.md``)."""
    if not isinstance(record, dict):
        raise ProblemFormatError(
            f"must be a JSON object, got {type(record).__name__}", position=position
        )
    raw_id = record.get("id")
    pid = raw_id if isinstance(raw_id, str) else None
    _require(record, "id", pid, position, str)
    statement = _require(record, "statement", pid, position, str)
    tests_raw = _require(record, "tests", pid, position, list)
    try:
        mode = _parse_enum(TestMode, record.get("mode", "stdio"), pid, "mode")
    except ProblemFormatError as exc:
        raise ProblemFormatError(
            str(exc).split(": ", 1)[-1], problem_id=pid, field="mode", position=position
        ) from exc
    fn_name = record.get("fn_name")
    if mode is not TestMode.STDIO and not fn_name:
        raise ProblemFormatError(
            f"is required for {mode.value} problems",
            problem_id=pid,
            field="fn_name",
            position=position,
        )
    comparator = record.get("comparator")
    if comparator is not None and comparator not in COMPARATORS:
        raise ProblemFormatError(
            f"unknown comparator {comparator!r}; known: {sorted(COMPARATORS)}",
            problem_id=pid,
            field="comparator",
            position=position,
        )
    tests = tuple(
        _test_from_record(t, mode, fn_name, pid, i, position) for i, t in enumerate(tests_raw)
    )
    try:
        return Problem(
            id=raw_id,
            statement=statement,
            tests=tests,
            canonical_solution=record.get("canonical_solution", ""),
            difficulty=record.get("difficulty", "introductory"),
            mode=mode,
            starter_code=record.get("starter_code") or "",
            fn_name=fn_name,
            source=record.get("source", source),
            title=record.get("title", ""),
            split=record.get("split", split),
            comparator=COMPARATORS.get(comparator) if comparator else None,
        )
    except ProblemFormatError as exc:
        if exc.position is None and position is not None:
            raise ProblemFormatError(
                str(exc).split(": ", 1)[-1],
                problem_id=exc.problem_id,
                field=exc.field,
                position=position,
            ) from exc
        raise


def problem_to_record(problem: Problem) -> dict[str, Any]:
    """The JSONL record of ``problem`` (inverse of :func:`problem_from_record`)."""
    if problem.mode is TestMode.STDIO:
        tests = [{"input": t.stdin, "output": t.expected_output} for t in problem.tests]
    elif problem.mode is TestMode.CALL:
        tests = [{"args": list(t.args), "expected": t.expected} for t in problem.tests]
    else:
        tests = [{"check": t.check_code} for t in problem.tests]
    record = {
        "id": problem.id,
        "source": problem.source,
        "difficulty": problem.difficulty.value,
        "title": problem.title,
        "statement": problem.statement,
        "mode": problem.mode.value,
        "fn_name": problem.fn_name,
        "starter_code": problem.starter_code,
        "canonical_solution": problem.canonical_solution,
        "tests": tests,
    }
    if problem.split:
        record["split"] = problem.split
    if problem.comparator is not None:
        names = [name for name, fn in COMPARATORS.items() if fn is problem.comparator]
        if not names:
            raise ProblemFormatError(
                "a custom comparator cannot be written to JSONL; register it in codegym.problems.COMPARATORS",
                problem_id=problem.id,
                field="comparator",
            )
        record["comparator"] = names[0]
    return record
