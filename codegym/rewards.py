"""Reward functions: map a sandbox :class:`~codegym.sandbox.ExecutionResult` to a scalar.

All are pure functions of the result. None scores an ``INFRA_ERROR`` (a failure of the sandbox,
not of the program): they raise :class:`~codegym.errors.SandboxError`, and the envs never call
them for such results (they mark the episode instead, see the env docs).
"""

from __future__ import annotations

from collections.abc import Callable

from codegym.errors import ConfigError, SandboxError, UnknownNameError
from codegym.sandbox import ExecutionResult, Outcome

__all__ = [
    "RewardFn",
    "STEPCODER_TABLE",
    "stepcoder_reward",
    "pass_fraction_reward",
    "binary_reward",
    "get_reward",
    "REWARDS",
]

RewardFn = Callable[[ExecutionResult], float]

STEPCODER_TABLE: dict[Outcome, float] = {
    Outcome.PASSED: 1.0,
    Outcome.WRONG_ANSWER: -0.3,
    Outcome.SKIPPED: -0.3,
    Outcome.RUNTIME_ERROR: -0.6,
    Outcome.TIMEOUT: -0.6,
    Outcome.MEMORY_LIMIT: -0.6,
    Outcome.OUTPUT_LIMIT: -0.6,
    Outcome.COMPILE_ERROR: -1.0,
}
"""StepCoder's reward by outcome: +1 pass, -0.3 wrong answer, -0.6 runtime error (timeouts and
resource limits included), -1 compile error."""


def _refuse_infra(result: ExecutionResult) -> None:
    if result.outcome is Outcome.INFRA_ERROR:
        raise SandboxError(
            f"refusing to score a sandbox infrastructure error: {result.infra_error}"
        )


def stepcoder_reward(result: ExecutionResult) -> float:
    """StepCoder's table (:data:`STEPCODER_TABLE`)."""
    _refuse_infra(result)
    return STEPCODER_TABLE[result.outcome]


def pass_fraction_reward(result: ExecutionResult) -> float:
    """The fraction of tests passed, in [0, 1]."""
    _refuse_infra(result)
    return result.pass_fraction


def binary_reward(result: ExecutionResult) -> float:
    """1 when every test passes, else 0."""
    _refuse_infra(result)
    return 1.0 if result.passed else 0.0


REWARDS: dict[str, RewardFn] = {
    "stepcoder": stepcoder_reward,
    "pass_fraction": pass_fraction_reward,
    "binary": binary_reward,
}


def get_reward(reward: str | RewardFn) -> RewardFn:
    """A reward function by name (see :data:`REWARDS`), or ``reward`` itself when callable."""
    if callable(reward):
        return reward
    if isinstance(reward, str):
        if reward in REWARDS:
            return REWARDS[reward]
        raise UnknownNameError("reward", reward, REWARDS)
    raise ConfigError(
        f"reward must be a name or a callable(ExecutionResult) -> float, got {reward!r}"
    )
