"""The sandbox API: outcomes, test kinds, comparison, coverage, cache, parallel runs."""

from __future__ import annotations

import os
import pickle
import signal

import pytest

from codegym.errors import ConfigError, SandboxError
from codegym.sandbox import (
    ExecutionResult,
    Executor,
    Limits,
    Outcome,
    TestCase,
    compare_stdout,
    compare_values,
    run,
    run_many,
)

ADD = [
    TestCase.stdio("3 4\n", "7\n"),
    TestCase.stdio("-1 1\n", "0\n"),
    TestCase.stdio("10 5\n", "15\n"),
]
ADD_OK = "a, b = map(int, input().split())\nprint(a + b)\n"


def test_pass_and_pass_fraction(executor):
    result = executor.run(ADD_OK, ADD)
    assert isinstance(result, ExecutionResult)
    assert result.outcome is Outcome.PASSED and result.passed
    assert result.pass_fraction == 1.0
    assert len(result.tests) == 3 and all(t.passed for t in result.tests)
    assert result.executed_lines == frozenset({1, 2})
    assert result.tests[0].stdout == "7\n"


def test_wrong_answer_on_some_tests(executor):
    program = "a, b = map(int, input().split())\nprint(a + b if a > 0 else 99)\n"
    result = executor.run(program, ADD)
    assert result.outcome is Outcome.WRONG_ANSWER
    assert [t.outcome for t in result.tests] == [
        Outcome.PASSED,
        Outcome.WRONG_ANSWER,
        Outcome.PASSED,
    ]
    assert result.pass_fraction == pytest.approx(2 / 3)


def test_runtime_error_reports_exception_and_line(executor):
    result = executor.run("x = 1\ny = x / 0\nprint(y)\n", ADD)
    assert result.outcome is Outcome.RUNTIME_ERROR
    test = result.tests[0]
    assert test.exception == "ZeroDivisionError" and test.exception_line == 2
    assert "ZeroDivisionError" in test.stderr
    assert result.executed_lines == frozenset({1, 2})


def test_compile_error(executor):
    result = executor.run("print(\n", ADD)
    assert result.outcome is Outcome.COMPILE_ERROR
    assert result.compile_error and "SyntaxError" in result.compile_error
    assert result.pass_fraction == 0.0 and result.executed_lines == frozenset()


def test_timeout_by_cpu_time_skips_remaining_tests(executor):
    result = executor.run("while True:\n    pass\n", ADD, limits=Limits(cpu_time=0.3))
    assert result.outcome is Outcome.TIMEOUT
    assert result.tests[0].outcome is Outcome.TIMEOUT
    # The CPU-time timer ended it; rusage's CPU time is sampled and can read a little under the limit.
    assert "CPU time limit" in result.tests[0].detail and result.tests[0].cpu_time > 0.2
    assert [t.outcome for t in result.tests[1:]] == [Outcome.SKIPPED, Outcome.SKIPPED]


def test_timeouts_can_run_every_test(executor):
    limits = Limits(cpu_time=0.2, stop_after_timeout=False)
    result = executor.run("while True:\n    pass\n", ADD[:2], limits=limits)
    assert [t.outcome for t in result.tests] == [Outcome.TIMEOUT, Outcome.TIMEOUT]


def test_exit_zero_after_output_counts_output(executor):
    program = "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)\n"
    assert executor.run(program, ADD).passed


def test_nonzero_exit_is_runtime_error(executor):
    assert executor.run("import sys\nsys.exit(3)\n", ADD).outcome is Outcome.RUNTIME_ERROR


def test_function_call_tests(executor):
    tests = [TestCase.call("pair", [2], [2, 2]), TestCase.call("pair", [0.1], (0.1, 0.1 + 1e-9))]
    assert executor.run("def pair(x):\n    return (x, x)\n", tests).passed
    wrong = executor.run("def pair(x):\n    return [x]\n", tests)
    assert wrong.outcome is Outcome.WRONG_ANSWER
    missing = executor.run("def other(x):\n    return x\n", tests)
    assert missing.outcome is Outcome.RUNTIME_ERROR and missing.tests[0].exception == "NameError"


def test_leetcode_style_solution_class(executor):
    program = "class Solution:\n    def twice(self, x):\n        return 2 * x\n"
    assert executor.run(program, [TestCase.call("twice", [4], 8)]).passed


def test_humaneval_style_check(executor):
    check = "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n"
    tests = [TestCase.check(check, "square")]
    assert executor.run("def square(x):\n    return x * x\n", tests).passed
    wrong = executor.run("def square(x):\n    return x + x\n", tests)
    assert wrong.outcome is Outcome.WRONG_ANSWER
    crash = executor.run("def square(x):\n    return x / 0\n", tests)
    assert crash.outcome is Outcome.RUNTIME_ERROR


def test_entry_point_called_with_stdin(executor):
    program = "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n"
    tests = [TestCase.stdio(t.stdin, t.expected_output, entry="main") for t in ADD]
    assert executor.run(program, tests).passed


def test_custom_comparator_through_problem_like_object(executor):
    class Loose:
        tests = (TestCase.stdio("", "YES\n"),)

        @staticmethod
        def comparator(test, produced):
            return produced.strip().lower() == test.expected_output.strip().lower()

    assert executor.run("print('yes')\n", Loose()).passed
    assert not executor.run("print('yes')\n", list(Loose.tests)).passed


def test_cache_hits_are_marked_and_equal(executor):
    program = ADD_OK + "# cache probe\n"
    first = executor.run(program, ADD)
    second = executor.run(program, ADD)
    assert not first.cached and second.cached
    assert second.outcome is first.outcome and second.executed_lines == first.executed_lines


def test_coverage_can_be_switched_off(executor):
    result = executor.run(ADD_OK + "# no coverage\n", ADD, coverage=False)
    assert result.passed and result.executed_lines == frozenset()


def test_per_test_lines_and_union(executor):
    program = "n = int(input())\nif n > 0:\n    print('pos')\nelse:\n    print('neg')\n"
    tests = [TestCase.stdio("1\n", "pos\n"), TestCase.stdio("-1\n", "neg\n")]
    result = executor.run(program, tests)
    assert result.passed
    assert result.tests[0].executed_lines == frozenset({1, 2, 3})
    assert result.tests[1].executed_lines == frozenset({1, 2, 5})
    assert result.executed_lines == frozenset({1, 2, 3, 5})


def test_run_many_keeps_order(executor):
    jobs = [(f"print({i})\n", [TestCase.stdio("", f"{i}\n")]) for i in range(12)]
    jobs[5] = ("print('x')\n", jobs[5][1])
    results = executor.run_many(jobs)
    assert [r.passed for r in results] == [i != 5 for i in range(12)]


def test_one_shot_functions():
    assert run(ADD_OK, ADD).passed
    results = run_many([(ADD_OK, ADD), ("print(0)\n", ADD)])
    assert [r.outcome for r in results] == [Outcome.PASSED, Outcome.WRONG_ANSWER]


def test_deterministic_results(executor):
    program = "s = {str(i) for i in range(50)}\nprint(' '.join(s))\n"
    tests = [TestCase.stdio("", "x\n")]
    outs = {executor.run(program + f"# {i}\n", tests).tests[0].stdout for i in range(3)}
    assert len(outs) == 1


def test_executor_pickles_as_configuration():
    with Executor(workers=1, limits=Limits(cpu_time=1.5)) as ex:
        clone = pickle.loads(pickle.dumps(ex))
        try:
            assert clone.limits == ex.limits and clone.workers == 1
            assert clone.run(ADD_OK, ADD).passed
        finally:
            clone.close()


AFFINITY = "import os\nprint(*sorted(os.sched_getaffinity(0)))\n"


def _cpus_seen(executor: Executor, runs: int) -> list[str]:
    jobs = [(AFFINITY + f"# {i}\n", [TestCase.stdio("", "")]) for i in range(runs)]
    return [r.tests[0].stdout.strip() for r in executor.run_many(jobs)]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_run_many_runs_each_worker_on_a_cpu_of_its_own():
    cpus = {str(c) for c in os.sched_getaffinity(0)}
    everywhere = " ".join(sorted(cpus, key=int))
    with Executor(workers=2, cache_size=0) as ex:
        seen = set(_cpus_seen(ex, 8))
        assert len(seen) == 2 and seen <= cpus, seen  # one CPU each, a different one
        # Single runs are never pinned: envs in many processes would pile onto the same CPUs.
        assert ex.run(AFFINITY, [TestCase.stdio("", "")]).tests[0].stdout.strip() == everywhere
        # A replacement server takes the CPU its predecessor left.
        victim = ex._idle.queue[0]
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait()
        assert set(_cpus_seen(ex, 8)) == seen
    with Executor(workers=2, cache_size=0, pin_workers=False) as ex:
        assert set(_cpus_seen(ex, 4)) == {everywhere}
        clone = pickle.loads(pickle.dumps(ex))
        try:
            assert not clone.pin_workers
        finally:
            clone.close()


def test_a_closed_executor_refuses_runs():
    ex = Executor(workers=1)
    assert ex.run(ADD_OK, ADD).passed
    ex.close()
    with pytest.raises(SandboxError, match="closed"):
        ex.run(ADD_OK + "# again\n", ADD)


def test_bad_arguments_are_typed_errors(executor):
    with pytest.raises(ConfigError, match="program must be a str"):
        executor.run(b"print(1)", ADD)
    with pytest.raises(ConfigError, match="tests\\[0\\]"):
        executor.run("print(1)", ["not a test"])
    with pytest.raises(ConfigError, match="cpu_time"):
        Limits(cpu_time=0)


def test_compare_stdout_apps_conventions():
    assert compare_stdout("1 2\n3\n", "1 2   \n3\n\n")
    assert compare_stdout("0.3333333\n", "0.33333333333\n")
    assert not compare_stdout("1 2\n", "1 3\n")
    assert not compare_stdout("1\n2\n", "1\n")
    assert compare_stdout("YES\n", "YES")


def test_compare_values():
    assert compare_values([1, (2, 3)], [1, [2, 3]])
    assert compare_values(0.1 + 0.2, 0.3)
    assert not compare_values(True, 1)
    assert compare_values({"a": [1.0]}, {"a": [1]})
    assert not compare_values("1", 1)


def test_large_integers_compare_exactly():
    assert not compare_stdout("4000000000000000001\n", "4000000000000000000\n")
    assert compare_stdout("+5\n", "5\n")


def test_sleeping_program_is_stopped_by_the_wall_clock_backstop(executor):
    limits = Limits(cpu_time=0.5, wall_time=0.5)
    result = executor.run("import time\ntime.sleep(60)\n", ADD[:1], limits=limits)
    assert result.outcome is Outcome.TIMEOUT
    assert result.tests[0].wall_time < 3.0
    assert "wall-clock" in result.tests[0].detail


def test_entry_point_not_called_twice_when_the_program_calls_it(executor):
    program = "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n\nif __name__ == '__main__':\n    main()\n"
    tests = [TestCase.stdio(t.stdin, t.expected_output, entry="main") for t in ADD]
    assert executor.run(program, tests).passed


def test_a_program_cannot_pose_as_a_sandbox_failure(executor):
    forge = (
        "import json, struct, sys\n"
        "f = sys._getframe(0)\n"
        "while f is not None and 'shm' not in f.f_locals:\n"
        "    f = f.f_back\n"
        "shm = f.f_locals['shm']\n"
        "data = json.dumps({'status': 'setup', 'exc_msg': 'forged'}).encode()\n"
        "shm[4:4 + len(data)] = data\n"
        "shm[0:4] = struct.pack('!I', len(data))\n"
        "import os\n"
        "os._exit(3)\n"
    )
    result = executor.run(forge, ADD)
    assert result.outcome is Outcome.RUNTIME_ERROR


def test_an_empty_test_list_is_refused(executor):
    with pytest.raises(ConfigError, match="no tests"):
        executor.run("print(1)\n", [])


def test_odd_integer_like_output_never_crashes_the_comparison(executor):
    for printed in ("+-5", "\u00b2", "9" * 5000):
        result = executor.run(f"print({printed!r})\n", [TestCase.stdio("", "5\n")])
        assert result.outcome is Outcome.WRONG_ANSWER


def test_lambda_comparators_do_not_share_cache_entries(executor):
    class P:
        tests = (TestCase.stdio("", "x\n"),)

    yes, no = P(), P()
    yes.comparator = lambda test, produced: True
    no.comparator = lambda test, produced: False
    assert executor.run("print('cache-lambda')\n", yes).passed
    assert not executor.run("print('cache-lambda')\n", no).passed
