"""Problem-set validation (``validate_problems``) and the ``codegym problems`` commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegym.cli import main
from codegym.problems import Problem, TestMode, bundled_split, load
from codegym.problems.validate import (
    IssueKind,
    ValidationReport,
    count_tests,
    trivial_programs,
    validate_problems,
)
from codegym.sandbox import Executor, Limits, TestCase

FIXTURES = Path(__file__).parent / "fixtures"
LIMITS = Limits(cpu_time=2)


# -- validate_problems ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_report(problems_executor: Executor) -> tuple[list[Problem], ValidationReport]:
    problems = load(FIXTURES / "validate" / "mixed.jsonl")
    progress: list[tuple[int, int]] = []
    report = validate_problems(
        problems,
        min_tests=2,
        executor=problems_executor,
        limits=LIMITS,
        progress=lambda done, total: progress.append((done, total)),
        batch=4,
    )
    assert progress == [(4, 7), (7, 7)]  # one call per batch
    return problems, report


def kinds_of(report: ValidationReport, problem_id: str) -> set[IssueKind]:
    return {i.kind for i in report.issues if i.problem_id == problem_id}


def test_validate_good_problem_passes(mixed_report: tuple[list[Problem], ValidationReport]) -> None:
    problems, report = mixed_report
    assert report.checked == len(problems) == 7
    assert kinds_of(report, "good") == set()
    assert not report.ok
    assert report.bad_ids() == sorted(p.id for p in problems if p.id != "good")


@pytest.mark.parametrize(
    ("problem_id", "kinds"),
    [
        ("wrong-solution", {IssueKind.SOLUTION_FAILS}),
        ("constant-output", {IssueKind.ACCEPTS_CONSTANT}),
        ("empty-output", {IssueKind.ACCEPTS_EMPTY, IssueKind.ACCEPTS_CONSTANT}),
        # one test: too few, and a program always printing that test's output passes it
        ("too-few-tests", {IssueKind.TOO_FEW_TESTS, IssueKind.ACCEPTS_CONSTANT}),
        ("no-solution", {IssueKind.NO_SOLUTION}),
        ("call-constant", {IssueKind.ACCEPTS_CONSTANT}),
    ],
)
def test_validate_reports_each_bad_problem(
    mixed_report: tuple[list[Problem], ValidationReport],
    problem_id: str,
    kinds: set[IssueKind],
) -> None:
    assert kinds_of(mixed_report[1], problem_id) == kinds


def test_validate_issue_details(mixed_report: tuple[list[Problem], ValidationReport]) -> None:
    details = {(i.problem_id, i.kind): i.detail for i in mixed_report[1].issues}
    assert details[("wrong-solution", IssueKind.SOLUTION_FAILS)].startswith("test 0: wrong_answer")
    assert details[("too-few-tests", IssueKind.TOO_FEW_TESTS)] == "1 tests, fewer than 2"
    assert (
        "trivially wrong program passes" in details[("constant-output", IssueKind.ACCEPTS_CONSTANT)]
    )


def test_validate_all_good_fixture_problems(problems_executor: Executor) -> None:
    problems = load(FIXTURES / "codegym" / "problems.jsonl")
    report = validate_problems(problems, min_tests=1, executor=problems_executor, limits=LIMITS)
    assert report.ok and report.issues == [] and report.checked == 4


def test_validate_default_min_tests_is_five(
    mixed_report: tuple[list[Problem], ValidationReport], problems_executor: Executor
) -> None:
    (p,) = [p for p in mixed_report[0] if p.id == "good"]  # its runs are cached by now
    report = validate_problems([p], executor=problems_executor, limits=LIMITS)
    assert [(i.kind, i.detail) for i in report.issues] == [
        (IssueKind.TOO_FEW_TESTS, "3 tests, fewer than 5")
    ]


def test_count_tests_counts_asserts_of_check_code() -> None:
    problems = {p.id: p for p in load(FIXTURES / "codegym" / "problems.jsonl")}
    assert count_tests(problems["sum-two"]) == 3
    assert count_tests(problems["is-even"]) == 3  # one check test holding three asserts


def test_trivial_programs_per_mode() -> None:
    problems = {p.id: p for p in load(FIXTURES / "codegym" / "problems.jsonl")}
    stdio = trivial_programs(problems["sum-two"])
    assert stdio[IssueKind.ACCEPTS_EMPTY] == "pass\n"
    assert "'3\\n'" in stdio[IssueKind.ACCEPTS_CONSTANT]  # the first test's expected output
    entry = trivial_programs(problems["double-main"])
    assert all(program.count("def main():") == 1 for program in entry.values())
    call = trivial_programs(problems["reverse-words"])
    assert "return 'c b a'" in call[IssueKind.ACCEPTS_CONSTANT]
    check = trivial_programs(problems["is-even"])
    assert set(check) == {IssueKind.ACCEPTS_EMPTY}  # no constant answer for check tests
    assert problems["is-even"].mode is TestMode.CHECK


def test_validate_empty_problem_list(problems_executor: Executor) -> None:
    report = validate_problems([], executor=problems_executor)
    assert report.ok and report.checked == 0 and report.bad_ids() == []


def test_validation_report_bad_ids_are_sorted_and_unique() -> None:
    from codegym.problems.validate import ValidationIssue

    report = ValidationReport(
        checked=3,
        issues=[
            ValidationIssue("b", IssueKind.TOO_FEW_TESTS),
            ValidationIssue("a", IssueKind.NO_SOLUTION),
            ValidationIssue("b", IssueKind.ACCEPTS_EMPTY),
        ],
    )
    assert report.bad_ids() == ["a", "b"] and not report.ok


def test_validate_stdio_entry_problem_rejects_programs_without_main(
    problems_executor: Executor,
) -> None:
    p = Problem(
        id="entry",
        statement="Print 2n.",
        tests=(
            TestCase.stdio("3\n", "6\n", entry="main"),
            TestCase.stdio("1\n", "2\n", entry="main"),
        ),
        canonical_solution="def main():\n    print(2 * int(input()))\n",
        fn_name="main",
        starter_code="def main():\n",
    )
    report = validate_problems([p], min_tests=2, executor=problems_executor, limits=LIMITS)
    assert report.issues == []


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_validate_good_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "codegym" / "problems.jsonl"
    args = ["problems", "validate", str(path), "--min-tests", "1", "--cpu-time", "2"]
    assert main(args + ["--workers", "1"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "4 problems checked, 0 with issues" in err


def test_cli_validate_bad_file_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "validate" / "bad_solution.jsonl"
    args = ["problems", "validate", str(path), "--min-tests", "1", "--cpu-time", "2"]
    assert main(args + ["--workers", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("wrong-solution\tsolution_fails\ttest 0: wrong_answer")
    assert "1 problems checked, 1 with issues" in err


def test_cli_validate_unloadable_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "codegym" / "bad.jsonl"
    assert main(["problems", "validate", str(path), "--min-tests", "1"]) == 2
    assert "7 bad record(s)" in capsys.readouterr().err


def test_cli_list_test_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["problems", "list", "--split", "test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines, "no test problems listed"
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == 6 and fields[3] == "test" and fields[4].endswith(" tests")
        assert bundled_split(fields[0]) == "test"
    assert len({line.split("\t")[0] for line in lines}) == len(lines)


def test_cli_list_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "apps_dir" / "train"
    assert main(["problems", "list", "--source", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "train/0000\tinterview\tstdio\ttrain\t3 tests\t",
        "train/0001\tintroductory\tcall\ttrain\t3 tests\t",
    ]


def test_cli_show_unknown_id_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["problems", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codegym: error: unknown problem id 'nope'")


def test_cli_show_suggests_the_nearest_id(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "codegym" / "problems.jsonl"
    assert main(["problems", "show", "sum-tow", "--source", str(path)]) == 2
    assert "did you mean 'sum-two'?" in capsys.readouterr().err


def test_cli_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = FIXTURES / "codegym" / "problems.jsonl"
    assert main(["problems", "show", "reverse-words", "--json", "--source", str(path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["id"] == "reverse-words" and record["fn_name"] == "reverse_words"
