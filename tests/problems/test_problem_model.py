"""The problem model: Problem construction and validation, the JSONL record format, round trips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from codegym import sandbox
from codegym.errors import ProblemFormatError
from codegym.problems import (
    Difficulty,
    Problem,
    TestMode,
    load,
    problem_from_record,
    problem_to_record,
)
from codegym.sandbox import Limits, Outcome, TestCase, TestKind

FIXTURES = Path(__file__).parent / "fixtures"
LIMITS = Limits(cpu_time=2)

STDIO_TEST = TestCase.stdio("1\n", "2\n")
CALL_TEST = TestCase.call("f", [1], 2)
CHECK_TEST = TestCase.check("def check(candidate):\n    assert candidate(1) == 2\n", "f")


def make(**overrides: Any) -> Problem:
    fields: dict[str, Any] = {
        "id": "p1",
        "statement": "Print n + 1.",
        "tests": (STDIO_TEST,),
        "canonical_solution": "print(int(input()) + 1)\n",
    }
    fields.update(overrides)
    return Problem(**fields)


# -- Problem ----------------------------------------------------------------------------------------


def test_problem_defaults_and_normalisation() -> None:
    p = make(tests=[STDIO_TEST], difficulty=" Interview ", mode="STDIO")
    assert p.tests == (STDIO_TEST,)  # any iterable becomes a tuple
    assert p.difficulty is Difficulty.INTERVIEW  # strings are stripped and lower-cased
    assert p.mode is TestMode.STDIO
    assert (p.starter_code, p.fn_name, p.source, p.title, p.split) == ("", None, "custom", "", None)
    assert p.comparator is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.id = "other"  # type: ignore[misc]


def test_problem_prompt_joins_statement_and_starter_code() -> None:
    assert make(statement="Do it.\n\n").prompt == "Do it.\n"
    p = make(statement="Do it.", starter_code="def main():\n")
    assert p.prompt == "Do it.\n\ndef main():\n"


def test_problem_each_mode_accepts_its_own_kind_of_test() -> None:
    assert make(mode="call", fn_name="f", tests=(CALL_TEST,)).tests[0].kind is TestKind.CALL
    assert make(mode="check", fn_name="f", tests=(CHECK_TEST,)).tests[0].kind is TestKind.CHECK
    entry = make(fn_name="main", tests=(TestCase.stdio("", "", entry="main"),))
    assert entry.fn_name == "main"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"statement": "   "}, "statement", "is empty"),
        ({"statement": None}, "statement", "must be a string, got NoneType"),
        ({"canonical_solution": 3}, "canonical_solution", "must be a string, got int"),
        ({"starter_code": None}, "starter_code", "must be a string"),
        ({"title": 1.5}, "title", "must be a string"),
        ({"difficulty": "hard"}, "difficulty", "'hard' is not one of 'introductory'"),
        ({"difficulty": 2}, "difficulty", "2 is not one of"),
        ({"mode": "interactive"}, "mode", "'interactive' is not one of 'stdio', 'call', 'check'"),
        ({"split": "validation"}, "split", "'validation' is not 'train', 'test' or None"),
        ({"fn_name": "not an identifier"}, "fn_name", "is not a Python identifier"),
        ({"fn_name": 7}, "fn_name", "is not a Python identifier"),
        ({"mode": "call", "tests": (CALL_TEST,)}, "fn_name", "is required for call problems"),
        ({"mode": "check", "tests": (CHECK_TEST,)}, "fn_name", "is required for check problems"),
        ({"tests": ()}, "tests", "has no tests"),
        ({"tests": "1\n"}, "tests", "must be a sequence of TestCase"),
        ({"tests": 5}, "tests", "must be a sequence of TestCase"),
        ({"tests": ({"input": "", "output": ""},)}, "tests", "tests[0] is a dict, not a TestCase"),
        (
            {"mode": "call", "fn_name": "f", "tests": (CALL_TEST, STDIO_TEST)},
            "tests",
            "tests[1] is a stdio test in a call problem",
        ),
        ({"comparator": "exact"}, "comparator", "must be callable"),
    ],
)
def test_problem_construction_errors_name_id_and_field(
    overrides: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ProblemFormatError) as info:
        make(**overrides)
    err = info.value
    assert (err.problem_id, err.field, err.position) == ("p1", field, None)
    assert str(err).startswith(f"problem 'p1', field '{field}': ")
    assert words in str(err)


@pytest.mark.parametrize("bad_id", ["", "   ", None, 12])
def test_problem_id_must_be_a_non_empty_string(bad_id: Any) -> None:
    with pytest.raises(ProblemFormatError, match="field 'id': must be a non-empty string") as info:
        make(id=bad_id)
    assert info.value.field == "id"


def test_problem_equality_ignores_the_comparator() -> None:
    assert make(comparator=lambda test, produced: True) == make()


# -- problem_from_record ----------------------------------------------------------------------------


def fixture_records() -> list[dict[str, Any]]:
    text = (FIXTURES / "codegym" / "problems.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_problem_from_record_builds_each_mode() -> None:
    stdio, call, check, entry = (problem_from_record(r) for r in fixture_records())

    assert stdio.id == "sum-two" and stdio.mode is TestMode.STDIO and stdio.split == "train"
    assert stdio.title == "Sum of Two" and stdio.source == "jsonl"
    assert stdio.tests[1] == TestCase.stdio("10 -4\n", "6\n")

    assert call.mode is TestMode.CALL and call.fn_name == "reverse_words"
    assert call.difficulty is Difficulty.INTERVIEW and call.split == "test"
    assert call.tests[0] == TestCase.call("reverse_words", ("a b c",), "c b a")

    assert check.mode is TestMode.CHECK and check.difficulty is Difficulty.COMPETITION
    assert check.tests[0].fn_name == "is_even" and "assert candidate(3) is False" in (
        check.tests[0].check_code or ""
    )

    # No difficulty given: introductory. fn_name on a stdio problem: the entry every test calls.
    assert entry.difficulty is Difficulty.INTRODUCTORY and entry.split is None
    assert entry.fn_name == "main" and all(t.fn_name == "main" for t in entry.tests)


def test_problem_from_record_source_and_split_arguments() -> None:
    record = {"id": "x", "statement": "s", "tests": [{"input": "", "output": "1\n"}]}
    p = problem_from_record(record, source="mine", split="test")
    assert (p.source, p.split, p.canonical_solution, p.starter_code) == ("mine", "test", "", "")
    # Values in the record win over the arguments.
    p = problem_from_record(
        dict(record, source="theirs", split="train"), source="mine", split="test"
    )
    assert (p.source, p.split) == ("theirs", "train")


@pytest.mark.parametrize(
    ("record", "problem_id", "field", "words"),
    [
        (["not", "a", "dict"], None, None, "must be a JSON object, got list"),
        ({"statement": "s", "tests": []}, None, "id", "is missing"),
        ({"id": 5, "statement": "s", "tests": []}, None, "id", "must be str, got int"),
        ({"id": "r", "tests": []}, "r", "statement", "is missing"),
        ({"id": "r", "statement": 3, "tests": []}, "r", "statement", "must be str, got int"),
        ({"id": "r", "statement": "s"}, "r", "tests", "is missing"),
        ({"id": "r", "statement": "s", "tests": "1 2"}, "r", "tests", "must be list, got str"),
        ({"id": "r", "statement": "s", "tests": []}, "r", "tests", "has no tests"),
        ({"id": "r", "statement": "s", "tests": [7]}, "r", "tests[0]", "must be an object"),
        (
            {"id": "r", "statement": "s", "tests": [{"input": "1\n"}]},
            "r",
            "tests[0]",
            "a stdio test needs string 'input' and 'output'",
        ),
        (
            {"id": "r", "statement": "s", "tests": [{"input": 1, "output": "1"}]},
            "r",
            "tests[0]",
            "a stdio test needs string 'input' and 'output'",
        ),
        (
            {"id": "r", "statement": "s", "mode": "call", "fn_name": "f", "tests": [{"args": 1}]},
            "r",
            "tests[0]",
            "a call test needs a list 'args' and an 'expected' value",
        ),
        (
            {"id": "r", "statement": "s", "mode": "check", "fn_name": "f", "tests": [{}]},
            "r",
            "tests[0]",
            "a check test needs a string 'check'",
        ),
        (
            {
                "id": "r",
                "statement": "s",
                "difficulty": "easy",
                "tests": [{"input": "", "output": ""}],
            },
            "r",
            "difficulty",
            "'easy' is not one of",
        ),
    ],
)
def test_problem_from_record_errors_name_id_field_and_position(
    record: Any, problem_id: str | None, field: str | None, words: str
) -> None:
    with pytest.raises(ProblemFormatError) as info:
        problem_from_record(record, position=7)
    err = info.value
    assert (err.problem_id, err.field, err.position) == (problem_id, field, 7)
    assert str(err).startswith("record 7")
    assert words in str(err)


def test_problem_from_record_call_problem_without_fn_name_is_an_error() -> None:
    record = {"id": "c", "statement": "s", "mode": "call", "tests": [{"args": [1], "expected": 2}]}
    with pytest.raises(ProblemFormatError, match="fn_name") as info:
        problem_from_record(record, position=0)
    assert info.value.problem_id == "c"


@pytest.mark.parametrize(
    "record",
    [
        {"id": "c", "statement": "s", "mode": "call", "tests": [{"args": [1], "expected": 2}]},
        {"id": "c", "statement": "s", "mode": "check", "tests": [{"check": "def check(c): pass"}]},
    ],
)
def test_problem_from_record_missing_fn_name_names_the_fn_name_field(record: dict) -> None:
    with pytest.raises(ProblemFormatError) as info:
        problem_from_record(record, position=0)
    assert info.value.field == "fn_name"


def test_problem_from_record_bad_mode_error_has_the_position() -> None:
    record = {"id": "r", "statement": "s", "mode": "bogus", "tests": [{"input": "", "output": ""}]}
    with pytest.raises(ProblemFormatError) as info:
        problem_from_record(record, position=7)
    assert (info.value.field, info.value.position) == ("mode", 7)


# -- problem_to_record round trips ------------------------------------------------------------------


def round_trip(p: Problem) -> Problem:
    record = json.loads(json.dumps(problem_to_record(p)))  # through JSON text, as a file would
    return problem_from_record(record)


@pytest.mark.parametrize(
    "path",
    [
        "codegym/problems.jsonl",
        "apps_plus/data.json",
        "apps_rows/rows.jsonl",
        "apps_dir/train",
        "humaneval/HumanEval_tiny.jsonl",
    ],
)
def test_problem_to_record_round_trips_through_problem_from_record(path: str) -> None:
    problems = load(FIXTURES / path)
    assert problems
    for p in problems:
        record = problem_to_record(p)
        assert problem_from_record(record) == p
        assert round_trip(p) == p
        assert record["difficulty"] == p.difficulty.value and record["mode"] == p.mode.value
        assert ("split" in record) == bool(p.split)


def test_problem_to_record_writes_the_documented_schema() -> None:
    p = problem_from_record(fixture_records()[1])
    assert problem_to_record(p) == {
        "id": "reverse-words",
        "source": "jsonl",
        "difficulty": "interview",
        "title": "Reverse Words",
        "statement": p.statement,
        "mode": "call",
        "fn_name": "reverse_words",
        "starter_code": "def reverse_words(s):\n",
        "canonical_solution": p.canonical_solution,
        "tests": [
            {"args": ["a b c"], "expected": "c b a"},
            {"args": ["hello"], "expected": "hello"},
            {"args": ["  two   words "], "expected": "words two"},
        ],
        "split": "test",
    }


def test_round_trip_keeps_apps_call_problems_solvable() -> None:
    (add,) = [p for p in load(FIXTURES / "apps_rows" / "rows.jsonl") if p.id == "1"]
    assert sandbox.run(add.canonical_solution, add, limits=LIMITS).outcome is Outcome.PASSED
    again = round_trip(add)
    assert sandbox.run(again.canonical_solution, again, limits=LIMITS).outcome is Outcome.PASSED
