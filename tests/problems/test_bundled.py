"""The embedded default problem set: size, shape, and every problem validated in the sandbox."""

from __future__ import annotations

import ast
from collections import Counter

import pytest

from codegym.curriculum import CONDITIONAL_NODES, segment
from codegym.problems import Difficulty, TestMode, load
from codegym.problems.validate import validate_problems
from codegym.sandbox import Limits


@pytest.fixture(scope="module")
def bundled():
    return load()


def test_counts_by_difficulty(bundled):
    counts = Counter(p.difficulty for p in bundled)
    assert len(bundled) >= 120
    assert counts[Difficulty.INTRODUCTORY] >= 60
    assert counts[Difficulty.INTERVIEW] >= 45
    assert counts[Difficulty.COMPETITION] >= 15


def test_both_test_modes_and_a_fixed_split(bundled):
    modes = Counter(p.mode for p in bundled)
    assert modes[TestMode.STDIO] > 0 and modes[TestMode.CALL] > 0
    train, test = load(split="train"), load(split="test")
    assert {p.id for p in train} | {p.id for p in test} == {p.id for p in bundled}
    assert not {p.id for p in train} & {p.id for p in test}
    assert 0.15 <= len(test) / len(bundled) <= 0.25
    assert all(p.split in ("train", "test") for p in bundled)


def test_every_problem_is_complete(bundled):
    for p in bundled:
        assert len(p.statement) > 80, p.id
        assert len(p.tests) >= 10, p.id
        conditionals = sum(
            isinstance(n, CONDITIONAL_NODES) for n in ast.walk(ast.parse(p.canonical_solution))
        )
        assert conditionals >= 1, p.id
        if p.starter_code:
            assert p.canonical_solution.startswith(p.starter_code), p.id


def test_most_problems_have_curriculum_stages(bundled):
    staged = [p for p in bundled if segment(p.canonical_solution).n_stages >= 2]
    assert len(staged) >= 0.75 * len(bundled)


def test_every_solution_passes_and_trivial_programs_fail(bundled, executor):
    report = validate_problems(
        bundled, min_tests=10, executor=executor, limits=Limits(cpu_time=4.0)
    )
    assert report.checked == len(bundled)
    assert report.issues == []
