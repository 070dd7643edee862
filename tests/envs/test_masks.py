"""FGO coverage masks delivered by the envs: which generated lines and tokens some test executed."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import codegym
from codegym.problems import Problem
from codegym.sandbox import Executor, Limits, TestCase

TOKEN = "CodeGen-v0"
LINE = "CodeGenLine-v0"
ENV_IDS = [TOKEN, LINE]

# The tests only give positive n: the `else` branch never runs. Per line, the mask we expect.
ELSE_PROGRAM = [
    ("n = int(input())", 1),
    ("total = (", 1),  # a multi-line statement that runs: every line 1
    ("    n", 1),
    ("    + 1", 1),
    (")", 1),
    ("if n > 0:", 1),
    ("    print(total)", 1),
    ("else:", 0),  # the header of a branch that never runs
    ("    # negative input: never tested", 0),  # a comment in it
    ("", 0),  # a blank line in it
    ("    total = (", 0),  # a multi-line statement that never runs: every line 0
    ("        -n", 0),
    ("        + 1", 0),
    ("    )", 0),
    ("    print(total)", 0),
    ("def unused():", 1),  # the definition runs...
    ("    return 1", 0),  # ...its body does not
    ("print('done')", 1),
]
ELSE_SOURCE = "".join(line + "\n" for line, _ in ELSE_PROGRAM)
ELSE_MASK = [mask for _, mask in ELSE_PROGRAM]
ELSE = Problem(
    id="else-never",
    statement="Print n + 1, then 'done'. n is positive.",
    tests=(TestCase.stdio("3\n", "4\ndone\n"), TestCase.stdio("1\n", "2\ndone\n")),
    canonical_solution=ELSE_SOURCE,
)

# 4 conditional statements: 2 stages; stage 1 cuts before line 7, after a prefix holding lines that
# never run (3 and 6).
PREFIXED_SOURCE = """\
n = int(input())
if n < 0:
    n = -n
for i in range(2):
    if i == 5:
        n += 100
if n > 1000:
    n = 0
print(n)
"""
PREFIXED = Problem(
    id="prefixed",
    statement="Print |n| for small non-negative n.",
    tests=(TestCase.stdio("3\n", "3\n"), TestCase.stdio("8\n", "8\n")),
    canonical_solution=PREFIXED_SOURCE,
)


@pytest.fixture(scope="module")
def warm_executor(executor: Executor) -> Executor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor.run("print(1)\n", [TestCase.stdio("", "1\n")])
    return executor


def make(env_id: str, executor: Executor) -> gym.Env:
    size = {"max_new_tokens": 400} if env_id == TOKEN else {"max_lines": 40}
    return gym.make(
        env_id,
        problems=[ELSE, PREFIXED],
        split=None,
        executor=executor,
        limits=Limits(cpu_time=1),
        **size,
    )


def write(env: gym.Env, code: str, **options: Any) -> tuple[list[Any], float, dict[str, Any]]:
    """Reset with ``options``, write ``code`` and submit; returns the actions, reward and info."""
    env.reset(options=options)
    if env.unwrapped.spec.id == TOKEN:
        tokenizer = env.unwrapped.tokenizer
        actions: list[Any] = tokenizer.encode(code) + [tokenizer.eos_token_id]
    else:
        actions = code.splitlines() + [codegym.SUBMIT]
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    return actions, reward, info


def expected_token_mask(env: gym.Env, tokens: list[int], line_mask: np.ndarray) -> list[int]:
    """Each token takes the mask of the line it is on (a newline ends its line); eos takes 1."""
    tokenizer = env.unwrapped.tokenizer
    out = []
    for i in range(len(tokens)):
        line = tokenizer.decode(tokens[:i]).count("\n")
        out.append(int(line_mask[line]))
    return out + [1]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_unexecuted_else_branch_is_masked(env_id, warm_executor):
    env = make(env_id, warm_executor)
    _, reward, info = write(env, ELSE_SOURCE, problem_id=ELSE.id)
    assert reward == 1.0
    coverage = info["coverage"]
    assert coverage["first_generated_line"] == 1
    mask = coverage["line_mask"]
    assert mask.dtype == np.int8
    assert mask.tolist() == ELSE_MASK
    # executed_lines are statement lines of the program: the first line of each statement that ran
    assert coverage["executed_lines"] == [1, 2, 6, 7, 16, 18]


def test_token_mask_follows_the_line_mask(warm_executor):
    env = make(TOKEN, warm_executor)
    actions, _, info = write(env, ELSE_SOURCE, problem_id=ELSE.id)
    token_mask = info["coverage"]["token_mask"]
    assert token_mask.dtype == np.int8
    assert len(token_mask) == len(actions)  # one entry per action taken, the eos included
    assert token_mask.tolist() == expected_token_mask(
        env, actions[:-1], info["coverage"]["line_mask"]
    )
    assert 0 in token_mask.tolist() and token_mask[-1] == 1


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_masks_cover_only_the_generated_lines(env_id, warm_executor):
    env = make(env_id, warm_executor)
    _, info = env.reset(options={"problem_id": PREFIXED.id, "stage": 1})
    prefix = info["prefix"]
    assert prefix == "".join(PREFIXED_SOURCE.splitlines(keepends=True)[:6])
    actions, reward, info = write(
        env, PREFIXED_SOURCE[len(prefix) :], problem_id=PREFIXED.id, stage=1
    )
    assert reward == 1.0
    coverage = info["coverage"]
    assert coverage["first_generated_line"] == 7
    # Program line numbers, prefix included: lines 3, 6 (prefix) and 8 (generated) never ran.
    assert coverage["executed_lines"] == [1, 2, 4, 5, 7, 9]
    assert coverage["line_mask"].tolist() == [1, 0, 1]  # lines 7, 8, 9 only
    if env_id == TOKEN:
        assert len(coverage["token_mask"]) == len(actions)
        assert coverage["token_mask"].tolist() == expected_token_mask(
            env, actions[:-1], coverage["line_mask"]
        )


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_compile_error_gives_all_ones(env_id, warm_executor):
    env = make(env_id, warm_executor)
    code = "n = int(input())\nif n > 0\n    print(n)\nelse:\n    print(-n)\n"
    actions, reward, info = write(env, code, problem_id=ELSE.id)
    assert (reward, info["outcome"]) == (-1.0, "compile_error")
    coverage = info["coverage"]
    assert coverage["executed_lines"] == []
    assert coverage["line_mask"].tolist() == [1] * 5
    if env_id == TOKEN:
        assert coverage["token_mask"].tolist() == [1] * len(actions)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_runtime_error_masks_the_lines_after_it(env_id, warm_executor):
    env = make(env_id, warm_executor)
    code = "n = int(input())\nprint(n // 0)\nprint(n)\n"
    _, reward, info = write(env, code, problem_id=ELSE.id)
    assert (reward, info["outcome"]) == (-0.6, "runtime_error")
    assert info["coverage"]["line_mask"].tolist() == [1, 1, 0]


def test_submitting_nothing_gives_empty_masks(warm_executor):
    env = make(TOKEN, warm_executor)
    env.reset(options={"problem_id": PREFIXED.id, "stage": 1})
    *_, info = env.step(env.unwrapped.tokenizer.eos_token_id)
    assert info["coverage"]["line_mask"].tolist() == []
    assert info["coverage"]["token_mask"].tolist() == [1]
