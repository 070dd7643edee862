"""``CodeRepair-v0`` as a TRL ``environment_factory``: tools a model calls to test and submit code.

TRL's ``GRPOTrainer(environment_factory=RepairTools)`` (experimental in TRL 1.16) builds one
object per rollout with no arguments, calls ``reset(**row)`` with the dataset row's columns and
appends what it returns to the prompt, offers the object's public methods as tools (their type
hints and docstrings become the JSON tool schema), and reads ``get_reward()`` at the end. This
module needs no TRL: the protocol is plain Python. The row needs a ``problem_id`` column.

To change the settings, hand TRL a factory: ``functools.partial(RepairTools, max_turns=2)`` or a
subclass.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from codegym.envs.repair_env import CodeRepairEnv
from codegym.errors import ConfigError, InvalidActionError
from codegym.problems import Problem
from codegym.rewards import RewardFn
from codegym.sandbox import ExecutionResult, Executor, Limits, Outcome

__all__ = ["RepairTools"]

logger = logging.getLogger(__name__)


class RepairTools:
    """Multi-turn program repair as tools: ``run_tests(code)`` runs a program on the problem's
    visible tests and returns the feedback; ``submit(code)`` ends the episode, scoring the program
    on all tests, hidden ones included; ``get_reward()`` is that score.

    The episode also ends when a program passes every visible test in ``run_tests`` (that
    program is then the one scored), or when ``max_turns`` programs were run (the last one is
    scored); later calls return a note and change nothing. A rollout that submitted nothing
    earns what the reward function gives a program that does not compile (StepCoder's -1).
    A sandbox failure is never charged to the model: the call says so and does not count, and a
    rollout whose only scoring attempt failed that way earns 0 (and logs a warning).

    Args:
        problems: a problem source name, a path, or a list of ``Problem``.
        split: ``"train"``, ``"test"`` or None (all): rows may name any problem of it.
        reward: the reward of the scored program, as for the envs.
        limits: sandbox limits per test.
        executor: the sandbox executor (default: the shared one).
        visible_tests: how many of a problem's tests are visible (its first ones).
        max_turns: programs run per rollout, ``submit`` included.
        feedback: ``("tests",)`` or ``("tests", "coverage")``.
    """

    def __init__(
        self,
        problems: str | os.PathLike[str] | Sequence[Problem] | None = "bundled",
        split: str | None = None,
        reward: str | RewardFn = "stepcoder",
        limits: Limits | None = None,
        executor: Executor | None = None,
        visible_tests: int = 2,
        max_turns: int = 4,
        feedback: Sequence[str] = ("tests",),
    ) -> None:
        self._env = CodeRepairEnv(
            problems=problems,
            split=split,
            reward=reward,
            limits=limits,
            executor=executor,
            visible_tests=visible_tests,
            max_turns=max_turns,
            feedback=feedback,
        )
        self._reward: float | None = None
        self._state = "idle"  # then "running", then "over"
        self._infra_failed = False

    def reset(self, **row: Any) -> str:
        """Start a rollout on the row's ``problem_id``; returns the problem statement (and starter
        code) with how the tools work, for TRL to append to the prompt."""
        problem_id = row.get("problem_id")
        if not isinstance(problem_id, str):
            raise ConfigError(
                f"RepairTools.reset needs a 'problem_id' column (a str) in the dataset row, got "
                f"columns {sorted(row)}"
            )
        obs, info = self._env.reset(options={"problem_id": problem_id})
        self._reward, self._state, self._infra_failed = None, "running", False
        return (
            f"{obs}\n"
            f"Tools: run_tests(code) runs a whole program on {info['visible_tests']} visible "
            f"tests and shows what failed; submit(code) hands in your final program, which is "
            f"scored on all tests, hidden ones included. At most {info['max_turns']} programs.\n"
        )

    def run_tests(self, code: str) -> str:
        """Run a complete Python program on the problem's visible tests.

        Args:
            code: The whole program, as it would be submitted.

        Returns:
            The feedback: all visible tests passed, or the first failing test with its input,
            the expected and the actual output, or the error and its line.
        """
        return self._turn(code, submit=False)

    def submit(self, code: str) -> str:
        """Submit the final program; it is scored on all tests, hidden ones included.

        Args:
            code: The whole program.

        Returns:
            A confirmation, or why the submission did not count.
        """
        return self._turn(code, submit=True)

    def get_reward(self) -> float:
        """The scored program's reward (see the class docstring for rollouts without one)."""
        if self._reward is not None:
            return self._reward
        if self._infra_failed:
            logger.warning("rollout not scored: the sandbox failed; its reward is 0")
            return 0.0
        return float(self._env.core.reward_fn(ExecutionResult(Outcome.COMPILE_ERROR)))

    def _turn(self, code: Any, *, submit: bool) -> str:
        if self._state == "idle":
            return "No problem is set: call reset() first."
        if self._state == "over":
            return "The episode is over: a program was already scored. Further calls do not count."
        if not isinstance(code, str):
            return f"code must be a string holding the whole program, got {type(code).__name__}."
        try:
            _, reward, terminated, truncated, info = (
                self._env.submit(code) if submit else self._env.step(code)
            )
        except InvalidActionError as exc:  # too long, or NUL characters
            return f"Not run: {exc}."
        self._infra_failed = self._infra_failed or info["infra_error"]
        if terminated or truncated:
            self._state, self._reward = "over", float(reward)
            if submit:
                return "Submitted. The program has been scored on all tests."
            why = "it passed every visible test" if terminated else "no turns are left"
            return (
                f"{info['feedback']}\nThe episode is over ({why}): this program is the one scored."
            )
        return str(info["feedback"])
