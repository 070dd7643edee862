"""A program's tests run one after another in one process (the default): each from a fresh
``__main__``, stdin, stdout, random state and CPU limit, and a new process after a test that
ends the one it ran in. ``Limits(process_per_test=True)`` gives every test a process of its own."""

from __future__ import annotations

import pytest

from codegym.sandbox import Limits, Outcome, TestCase

PER_TEST = Limits(process_per_test=True)


def _stdio(*pairs: tuple[str, str]) -> list[TestCase]:
    return [TestCase.stdio(i, o) for i, o in pairs]


def test_every_test_starts_from_fresh_globals_streams_random_state_and_builtins(executor):
    program = (
        "import builtins\nimport random\n\n"
        "try:\n    runs += 1\nexcept NameError:\n    runs = 1\n"
        "print(runs, len(input()), random.randint(0, 10**9))\n"
        "builtins.len = lambda x: -1\nrandom.seed(99)\n"
    )
    first = executor.run(program, _stdio(("ab\n", "")), limits=PER_TEST).tests[0].stdout
    draw = first.split()[2]
    tests = _stdio(("ab\n", f"1 2 {draw}\n"), ("abc\n", f"1 3 {draw}\n"), ("a\n", f"1 1 {draw}\n"))
    result = executor.run(program, tests)
    assert result.passed, [(t.stdout, t.stderr[-200:]) for t in result.tests]


def _pids(result) -> list[str]:  # noqa: ANN001
    return [t.stdout.strip() for t in result.tests]


PID_OR_CRASH = "import os\n\nprint(os.getpid())\nif input() == 'crash':\n    os._exit(3)\n"


def test_a_test_that_ends_its_process_hands_the_rest_to_a_new_one(executor):
    tests = _stdio(("a\n", ""), ("b\n", ""), ("crash\n", ""), ("c\n", ""), ("d\n", ""))
    result = executor.run(PID_OR_CRASH, tests)
    outcomes = [t.outcome for t in result.tests]
    assert (
        outcomes
        == [Outcome.WRONG_ANSWER] * 2 + [Outcome.RUNTIME_ERROR] + [Outcome.WRONG_ANSWER] * 2
    )
    assert "exited with status 3" in result.tests[2].detail
    pids = _pids(result)
    assert pids[0] == pids[1] == pids[2] and pids[3] == pids[4] and pids[3] != pids[0]

    apart = executor.run(PID_OR_CRASH + "# apart\n", tests, limits=PER_TEST)
    assert [t.outcome for t in apart.tests] == outcomes
    assert len(set(_pids(apart))) == 5


def test_the_cpu_limit_is_per_test_and_a_timeout_ends_only_its_own_test(executor):
    spin = (
        "import time\n\nseconds = float(input())\nend = time.process_time() + seconds\n"
        "while time.process_time() < end:\n    pass\nprint('done')\n"
    )
    limits = Limits(cpu_time=0.5, stop_after_timeout=False)
    tests = _stdio(("0.3\n", "done\n"), ("0.3\n", "done\n"), ("5\n", "done\n"), ("0.3\n", "done\n"))
    result = executor.run(spin, tests, limits=limits)
    outcomes = [t.outcome for t in result.tests]
    assert outcomes == [Outcome.PASSED] * 2 + [Outcome.TIMEOUT, Outcome.PASSED], result.tests
    assert result.tests[0].cpu_time >= 0.25 and result.tests[2].cpu_time >= 0.45


def test_more_tests_than_one_process_takes(executor):
    program = "print(input())\n"
    tests = _stdio(*[(f"{i}\n", f"{i}\n") for i in range(45)])
    result = executor.run(program, tests)
    assert result.passed and len(result.tests) == 45


@pytest.mark.parametrize("limits", [Limits(), PER_TEST], ids=["one process", "per test"])
def test_coverage_is_per_test_either_way(executor, limits):
    program = "x = int(input())\nif x > 0:\n    print('pos')\nelse:\n    print('neg')\n"
    result = executor.run(program, _stdio(("1\n", "pos\n"), ("-1\n", "neg\n")), limits=limits)
    assert result.passed
    assert [t.executed_lines for t in result.tests] == [frozenset({1, 2, 3}), frozenset({1, 2, 5})]


def test_a_limit_survived_in_process_still_skips_the_rest(executor):
    """A MemoryError the program raised counts as the memory limit; with ``stop_after_timeout``
    the later tests are skipped, as when every test had its own process."""
    program = "if input() == 'big':\n    x = bytearray(2 << 30)\nprint('ok')\n"
    tests = _stdio(("small\n", "ok\n"), ("big\n", "ok\n"), ("small\n", "ok\n"))
    result = executor.run(program, tests, limits=Limits(memory_mb=256))
    assert [t.outcome for t in result.tests] == [
        Outcome.PASSED,
        Outcome.MEMORY_LIMIT,
        Outcome.SKIPPED,
    ]
