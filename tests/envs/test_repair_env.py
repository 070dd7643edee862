"""``CodeRepair-v0``: multi-turn repair with visible-test feedback, scored on all tests.

Problems are built here, with hidden tests whose inputs and outputs appear nowhere else, so a leak
into an observation is detectable by plain substring search.
"""

from __future__ import annotations

import pickle
import tempfile
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from faults import kill_server_during
from gymnasium.utils.env_checker import check_env
from sample_problems import CLASSIFY

import codegym  # noqa: F401
from codegym.errors import ConfigError, EnvStateError, InvalidActionError, UnknownNameError
from codegym.problems import Problem
from codegym.sandbox import Executor, Limits, TestCase

FAST = Limits(cpu_time=1)

SQUARE_SOLUTION = "n = int(input())\nif n < 0:\n    n = -n\nprint(n * n)\n"
SQUARE = Problem(
    id="square",
    statement="Read an integer n and print n squared.",
    tests=(
        TestCase.stdio("3\n", "9\n"),
        TestCase.stdio("5\n", "25\n"),
        TestCase.stdio("-4817\n", "23203489\n"),  # hidden from here on
        TestCase.stdio("90731\n", "8232114361\n"),
        TestCase.stdio("-66\n", "4356\n"),
    ),
    canonical_solution=SQUARE_SOLUTION,
)
HIDDEN_STRINGS = ["4817", "23203489", "90731", "8232114361", "66", "4356"]

# Prints the visible tests' answers verbatim: passes them, fails every hidden one.
LOOKUP = 'n = input().strip()\nprint({"3": 9, "5": 25}.get(n, 0))\n'


@pytest.fixture(scope="module")
def warm_executor(executor: Executor) -> Executor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor.run("print(1)\n", [TestCase.stdio("", "1\n")], limits=FAST)
    return executor


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def make(executor: Executor, problems=None, **kwargs: Any) -> gym.Env:
    kwargs = {"limits": FAST, **kwargs}
    return gym.make(
        "CodeRepair-v0",
        problems=problems or [SQUARE, CLASSIFY],
        split=None,
        executor=executor,
        **kwargs,
    )


# -- the Gymnasium contract ---------------------------------------------------------------------


def test_check_env_passes_without_warnings(warm_executor):
    env = make(warm_executor, max_code_chars=64, max_turns=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def _episode_trace(env: gym.Env, seed: int, programs: list[str]) -> list[Any]:
    obs, info = env.reset(seed=seed)
    trace: list[Any] = [obs, info]
    for program in programs:
        obs, reward, terminated, truncated, info = env.step(program)
        kept = {k: v for k, v in info.items() if k not in ("result", "tests", "coverage")}
        trace.append((obs, reward, terminated, truncated, kept))
        if terminated or truncated:
            break
    return trace


def test_seeded_episodes_repeat(warm_executor):
    programs = ["print(1)\n", "def f(:\n", SQUARE_SOLUTION]
    first = [_episode_trace(make(warm_executor), 3, programs) for _ in range(2)]
    assert first[0] == first[1]
    seen = {_episode_trace(make(warm_executor), seed, [])[1]["problem_id"] for seed in range(8)}
    assert seen == {SQUARE.id, CLASSIFY.id}  # the seed decides the problem


def test_the_env_pickles_and_the_copy_plays_on(warm_executor):
    env = make(warm_executor)
    env.reset(options={"problem_id": SQUARE.id})
    env.step("print(0)\n")
    copy = pickle.loads(pickle.dumps(env))
    _, reward, terminated, _, info = copy.step(SQUARE_SOLUTION)
    assert (reward, terminated, info["turn"]) == (1.0, True, 2)
    copy.close()


def _square_env() -> gym.Env:
    return gym.make(
        "CodeRepair-v0", problems=[SQUARE], split=None, executor=Executor(workers=1), limits=FAST
    )


def test_the_env_runs_under_async_vector_env():
    envs = gym.vector.AsyncVectorEnv([_square_env, _square_env], shared_memory=False)
    try:
        obs, info = envs.reset(seed=0)
        assert all(SQUARE.statement in o for o in obs)
        obs, reward, terminated, truncated, info = envs.step(("print(9)\n", SQUARE_SOLUTION))
        assert list(terminated) == [False, True] and list(reward) == [0.0, 1.0]
        assert "Wrong answer" in obs[0] and list(info["turn"]) == [1, 1]
    finally:
        envs.close()


# -- hidden tests ---------------------------------------------------------------------------------


def test_hidden_tests_never_appear_in_an_observation(warm_executor):
    """A scripted repairer's episodes, every kind of feedback on: nothing of a hidden test shows."""
    env = make(warm_executor, feedback=("tests", "coverage"), max_turns=6)
    square_programs = [
        "n = int(input()\n",  # compile error
        "n = int(input())\nprint(1 // (n - n))\n",  # runtime error
        "while True:\n    pass\n",  # timeout
        "n = int(input())\nprint(n + n)\n",  # wrong answer
        LOOKUP,  # passes the visible tests
    ]
    classify_programs = [
        "def classify(n):\n    return 'prime'\n",  # wrong return value
        "def classify(n):\n    return n.upper()\n",  # runtime error
    ]
    observations: list[str] = []
    for pid, programs in ((SQUARE.id, square_programs), (CLASSIFY.id, classify_programs)):
        obs, _ = env.reset(options={"problem_id": pid})
        observations.append(obs)
        for program in programs:
            obs, _, terminated, truncated, info = env.step(program)
            observations += [obs, info["feedback"]]
            if terminated or truncated:
                break
    text = "\n".join(observations)
    for kind in ("does not compile", "Runtime error", "Time limit exceeded", "Wrong answer"):
        assert kind in text  # the episodes did exercise every kind of feedback
    assert "Your return value: 'prime'" in text
    for hidden in HIDDEN_STRINGS:
        assert hidden not in text, hidden
    for test in CLASSIFY.tests[2:]:
        assert f"classify({test.args[0]!r})" not in text
        # the statement names every possible answer: look for them as expected values
        assert f"Expected return value: {test.expected!r}" not in text


def test_fitting_the_visible_tests_earns_the_hidden_score(warm_executor):
    env = make(warm_executor)
    env.reset(options={"problem_id": SQUARE.id})
    obs, reward, terminated, truncated, info = env.step(LOOKUP)
    assert (terminated, truncated) == (True, False)
    assert info["visible_outcome"] == "passed" and info["visible_pass_fraction"] == 1.0
    assert info["outcome"] == "wrong_answer"
    assert info["pass_fraction"] == pytest.approx(2 / 5)
    assert reward == pytest.approx(-0.3)
    assert "passed all 2 visible tests" in obs
    env = make(warm_executor, reward="pass_fraction")
    env.reset(options={"problem_id": SQUARE.id})
    assert env.step(LOOKUP)[1] == pytest.approx(2 / 5)


# -- feedback ------------------------------------------------------------------------------------


def _feedback(env: gym.Env, program: str) -> str:
    return env.step(program)[4]["feedback"]


def test_feedback_names_the_first_failing_visible_test(warm_executor):
    env = make(warm_executor, max_turns=10)
    env.reset(options={"problem_id": SQUARE.id})
    text = _feedback(env, "n = int(input())\n\nprint(n +* n)\n")
    assert text.startswith("Your program does not compile (line 3):") and "SyntaxError" in text
    text = _feedback(env, "n = int(input())\nprint(n * n if n != 5 else 0)\n")
    assert text.startswith("Visible test 2 of 2 failed (1 of 2 passed). Wrong answer.")
    assert "Input:\n5\nExpected output:\n25\nYour output:\n0" in text
    text = _feedback(env, "n = int(input())\nprint(n // 0)\n")
    assert "Runtime error (line 2): ZeroDivisionError" in text and "Input:\n3" in text
    text = _feedback(env, "import sys\nn = sys.stdin.read()\nwhile n:\n    pass\n")
    assert text.startswith("Visible test 1 of 2 failed") and "Time limit exceeded" in text
    assert _feedback(env, "print(1)\n" + "x = 1\n" * 300 + "print(2)\n").count("\n") < 20

    env.reset(options={"problem_id": CLASSIFY.id})
    wrong = "def classify(n):\n    return 'zero' if n else 'one'\n"
    for _ in range(2):  # the second run comes from the executor's cache: same feedback
        text = _feedback(env, wrong)
        assert "Call: classify(-3)" in text
        assert "Expected return value: 'negative'\nYour return value: 'zero'" in text


def test_feedback_names_the_limit_a_program_hit(warm_executor):
    env = make(warm_executor, limits=Limits(cpu_time=1, output_bytes=1000))
    env.reset(options={"problem_id": SQUARE.id})
    text = _feedback(env, "print('x' * 100000)\n")
    assert text.startswith("Visible test 1 of 2 failed") and "Output limit exceeded" in text
    assert "Input:\n3" in text


def test_feedback_is_capped(warm_executor):
    env = make(warm_executor, max_feedback_chars=200)
    env.reset(options={"problem_id": SQUARE.id})
    text = _feedback(env, "print('x' * 5000)\n")
    assert len(text) <= 200 and text.endswith("(feedback cut)")
    env = make(warm_executor)
    env.reset(options={"problem_id": SQUARE.id})
    text = _feedback(env, "print('x' * 5000)\n")
    assert "more characters)" in text and len(text) < 1500


def test_coverage_feedback_lists_the_lines_no_visible_test_ran(warm_executor):
    env = make(warm_executor, feedback=("tests", "coverage"))
    env.reset(options={"problem_id": SQUARE.id})
    text = _feedback(env, "n = int(input())\nif n < 0:\n    n = -n\n# done\nprint(n)\n")
    assert "Lines no visible test ran:\n     3  n = -n" in text
    assert "# done" not in text.split("Lines no visible test ran:")[1]


# -- episode end, rewards, info -------------------------------------------------------------------


def test_truncation_after_max_turns_scores_the_last_program(warm_executor):
    env = make(warm_executor, max_turns=3, render_mode="ansi")
    _, info = env.reset(options={"problem_id": SQUARE.id})
    assert info == {
        "problem_id": SQUARE.id,
        "difficulty": "introductory",
        "visible_tests": 2,
        "hidden_tests": 3,
        "max_turns": 3,
    }
    for turn in (1, 2):
        _, reward, terminated, truncated, info = env.step("print(9)\n")
        assert (reward, terminated, truncated, info["turn"]) == (0.0, False, False, turn)
        assert info["visible_pass_fraction"] == 0.5 and "outcome" not in info
    last = "n = int(input())\nprint(n * n if n != 3 else 0)\n"  # fails visible test 1 only
    _, reward, terminated, truncated, info = env.step(last)
    assert (terminated, truncated, info["turn"]) == (False, True, 3)
    assert info["truncated_program"] is True and info["program"] == last
    assert info["visible_pass_fraction"] == 0.5
    assert info["outcome"] == "wrong_answer" and info["pass_fraction"] == pytest.approx(0.8)
    assert reward == pytest.approx(-0.3)
    assert info["coverage"]["first_generated_line"] == 1
    np.testing.assert_array_equal(info["coverage"]["line_mask"], [1, 1])
    assert "outcome on all tests: wrong_answer" in env.render()
    with pytest.raises(EnvStateError, match="after the episode ended"):
        env.step("print(1)\n")


def test_turn_reward_shapes_the_earlier_turns_only(warm_executor):
    env = make(warm_executor, turn_reward="pass_fraction", max_turns=2)
    env.reset(options={"problem_id": SQUARE.id})
    assert env.step("print(9)\n")[1] == 0.5
    assert env.step("print(9)\n")[1] == pytest.approx(-0.3)  # the last: all tests, StepCoder


# -- infrastructure errors ------------------------------------------------------------------------


def test_infra_errors_end_nothing_and_score_nothing():
    sleepy = "import time\ntime.sleep(3)\nprint(9)\n"
    # Answers the visible tests at once, sleeps on the hidden ones.
    sleepy_hidden = 'import time\nn = input().strip()\nif n not in ("3", "5"):\n    time.sleep(3)\nprint(int(n) ** 2)\n'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor = Executor(workers=1, cache_size=0, limits=FAST)
        executor.run("print(1)\n", [TestCase.stdio("", "1\n")])
    with executor:
        env = make(executor, max_turns=2)
        env.reset(options={"problem_id": SQUARE.id})
        # 1. the run on the visible tests fails: the turn is void
        obs, reward, terminated, truncated, info = kill_server_during(
            executor, lambda: env.step(sleepy)
        )
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert info["infra_error"] is True and info["turn"] == 0
        assert "infrastructure reasons" in obs and "does not count" in obs
        assert "Wrong answer" not in obs and "Time limit" not in obs
        # 2. a judged turn still counts from 1
        _, _, _, _, info = env.step("print(9)\n")
        assert info["turn"] == 1 and info["infra_error"] is False
        # 3. the scoring run of the last turn fails: void too, the episode goes on
        obs, reward, terminated, truncated, info = kill_server_during(
            executor, lambda: env.step(sleepy_hidden), after_runs=1
        )
        assert info["visible_outcome"] == "infra_error"
        assert (reward, terminated, truncated, info["turn"]) == (0.0, False, False, 1)
        assert "infrastructure reasons" in obs
        # 4. the same program, resubmitted on a healthy sandbox, is judged and scored
        _, reward, terminated, truncated, info = env.step(SQUARE_SOLUTION)
        assert (reward, terminated, info["turn"], info["outcome"]) == (1.0, True, 2, "passed")


# -- bad input -------------------------------------------------------------------------------------


def test_bad_actions(warm_executor):
    env = make(warm_executor, max_code_chars=100, limits=Limits(cpu_time=1, program_bytes=64))
    with pytest.raises(EnvStateError, match="before reset"):
        env.unwrapped.step("print(1)\n")  # (Gymnasium's wrapper would refuse it first)
    env.reset(options={"problem_id": SQUARE.id})
    with pytest.raises(InvalidActionError, match="action must be a str .* got int"):
        env.step(5)
    with pytest.raises(
        InvalidActionError, match="program of 101 characters exceeds max_code_chars=100"
    ):
        env.step("#" * 101)
    with pytest.raises(InvalidActionError, match="NUL"):
        env.step("print(1)\x00\n")
    # an empty program is an ordinary (wrong) attempt; one over the sandbox's size limit does not compile
    _, _, _, _, info = env.step("")
    assert info["turn"] == 1 and "Your output:\n(nothing)" in info["feedback"]
    _, _, _, _, info = env.step("x = 1\n" * 12)
    assert info["visible_outcome"] == "compile_error" and info["turn"] == 2


def test_bad_arguments(warm_executor):
    with pytest.raises(
        UnknownNameError, match="unknown feedback 'coverag'; did you mean 'coverage'"
    ):
        make(warm_executor, feedback=("tests", "coverag"))
    with pytest.raises(ConfigError, match="feedback must include 'tests'"):
        make(warm_executor, feedback=("coverage",))
    with pytest.raises(ConfigError, match="visible_tests must be a positive int, got 0"):
        make(warm_executor, visible_tests=0)
    with pytest.raises(ConfigError, match="max_turns must be a positive int"):
        make(warm_executor, max_turns=1.5)
    with pytest.raises(UnknownNameError, match="unknown reward"):
        make(warm_executor, turn_reward="binry")
    env = make(warm_executor)
    with pytest.raises(ConfigError, match=r"unknown reset option\(s\) \['stage'\]"):
        env.reset(options={"stage": 0})
    with pytest.raises(UnknownNameError, match="unknown problem_id"):
        env.reset(options={"problem_id": "sqare"})


def test_a_problem_with_few_tests_keeps_one_hidden(warm_executor):
    one = Problem(
        id="one",
        statement="Print 1.",
        tests=(TestCase.stdio("", "1\n"), TestCase.stdio("x\n", "1\n")),
        canonical_solution="print(1)\n",
    )
    _, info = make(warm_executor, problems=[one], visible_tests=5).reset()
    assert (info["visible_tests"], info["hidden_tests"]) == (1, 1)


def test_submit_ends_the_episode_with_the_program_scored_on_all_tests(warm_executor):
    env = make(warm_executor)
    env.reset(options={"problem_id": SQUARE.id})
    env.step("print(9)\n")
    obs, reward, terminated, truncated, info = env.unwrapped.submit(LOOKUP)
    assert (reward, terminated, truncated, info["turn"]) == (pytest.approx(-0.3), True, False, 2)
    assert info["visible_outcome"] == "passed" and info["visible_pass_fraction"] == 1.0
    assert info["pass_fraction"] == pytest.approx(2 / 5) and "Program submitted" in obs
    with pytest.raises(EnvStateError, match="after the episode ended"):
        env.unwrapped.submit(LOOKUP)
