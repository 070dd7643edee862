"""CodeGenLine-v0: line-level code generation."""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from typing import Any

from gymnasium import spaces
from gymnasium.error import CustomSpaceError
from gymnasium.vector.utils import create_shared_memory

from codegym.curriculum import Curriculum
from codegym.envs.base import CodeEnv
from codegym.envs.core import EpisodeCore, check_settings, render_ansi
from codegym.errors import InvalidActionError
from codegym.problems import Problem
from codegym.rewards import RewardFn
from codegym.sandbox import Executor, Limits

__all__ = ["CodeGenLineEnv", "LineSpace", "SUBMIT", "LINE_CHARSET"]

SUBMIT = "\x04"
"""The line env's submit action: ASCII end-of-transmission, alone as the action."""

LINE_CHARSET = "".join(c for c in string.printable if c not in "\n\r\x0b\x0c")
"""Characters a line action may contain: printable ASCII and tab (no newline)."""


class LineSpace(spaces.Text):
    """Lines of code over :data:`LINE_CHARSET`, plus the one-character action :data:`SUBMIT`.

    ``sample()`` returns SUBMIT with probability ``submit_probability`` (so random agents end
    their episodes), else a random line.
    """

    def __init__(
        self, max_length: int, submit_probability: float = 0.1, seed: int | None = None
    ) -> None:
        super().__init__(max_length=max_length, min_length=0, charset=LINE_CHARSET, seed=seed)
        self.submit_probability = submit_probability

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if (
            mask is None
            and probability is None
            and self.np_random.random() < self.submit_probability
        ):
            return SUBMIT
        return super().sample(mask=mask, probability=probability)

    def contains(self, x: Any) -> bool:
        return x == SUBMIT or super().contains(x)


class AnyText(spaces.Text):
    """A `Text` space that samples from its charset but contains any str up to ``max_length``
    without NUL (statements and code may hold any Unicode character)."""

    def contains(self, x: Any) -> bool:
        return (
            isinstance(x, str) and self.min_length <= len(x) <= self.max_length and "\x00" not in x
        )


@create_shared_memory.register(AnyText)
def _no_shared_memory(space: AnyText, n: int = 1, ctx: Any = None) -> Any:
    raise CustomSpaceError(
        "CodeGenLine-v0 and CodeRepair-v0 observations are text; run them in AsyncVectorEnv "
        "with shared_memory=False"
    )


class CodeGenLineEnv(CodeEnv[dict[str, str], str]):
    """
    ## Description

    Write a Python program one line at a time, then submit it. The same problems, CCCS
    curriculum, sandbox, rewards and coverage masks as `CodeGen-v0`, for agents (LLM-based, most
    often) that act on whole lines.

    ## Action Space

    `LineSpace(max_line_chars)`, a `Text` space over `LINE_CHARSET`: one line of code without its newline
    (printable ASCII and tab), or `codegym.SUBMIT` (`"\\x04"`) to submit the program. Leading
    whitespace is the line's indentation. Non-string actions, newlines, other control characters
    and lines longer than `max_line_chars` raise `InvalidActionError`.

    ## Observation Space

    `Dict(prompt=Text, code=Text)`: the problem statement, and the code so far (the episode's
    starting code followed by the lines written).

    ## Rewards

    As `CodeGen-v0`: zero until the end, then the reward of the sandbox result (StepCoder's table
    by default). Sandbox failures are never scored (`info["infra_error"]`).

    ## Starting State

    As `CodeGen-v0`: a problem drawn with `self.np_random` (or `options={"problem_id": ...}`) at
    its current curriculum stage (or `options={"stage": k}`).

    ## Episode End

    Terminates on `SUBMIT`. Truncates after `max_lines` lines (or the registered
    `max_episode_steps`, whichever is smaller); the program is then run and scored as written.

    ## Arguments

    `gymnasium.make("CodeGenLine-v0", problems="bundled", split="train", curriculum="cccs",
    reward="stepcoder", limits=None, max_lines=64, max_line_chars=200, max_prompt_chars=8192,
    max_code_chars=16384, render_mode=None, executor=None)`; see `CodeGen-v0` for the shared ones.

    ## Info

    As `CodeGen-v0`, without `token_mask`: `coverage["line_mask"]` has one entry per line written.
    Under `gymnasium.vector.AsyncVectorEnv`, pass `shared_memory=False` (text observations do not
    fit shared memory; the env says so if you forget).

    ## Examples

    ```pycon
    >>> import gymnasium as gym
    >>> import codegym
    >>> env = gym.make("CodeGenLine-v0", curriculum="none")  # always the whole task
    >>> obs, info = env.reset(seed=0, options={"problem_id": "intro-a-001"})
    >>> for line in ["k = int(input())", "print(input())"]:
    ...     obs, reward, terminated, truncated, info = env.step(line)
    >>> obs["code"]
    'k = int(input())\\nprint(input())\\n'
    >>> obs, reward, terminated, truncated, info = env.step(codegym.SUBMIT)
    >>> reward, info["outcome"], info["coverage"]["line_mask"].tolist()
    (-0.3, 'wrong_answer', [1, 1])

    ```

    ## Version History

    - v0: Initial version.
    """

    _limit_name = "max_lines"

    def __init__(
        self,
        problems: str | os.PathLike[str] | Sequence[Problem] | None = "bundled",
        split: str | None = "train",
        curriculum: str | int | Curriculum = "cccs",
        reward: str | RewardFn = "stepcoder",
        limits: Limits | None = None,
        max_lines: int = 64,
        max_line_chars: int = 200,
        max_prompt_chars: int = 8192,
        max_code_chars: int = 16384,
        render_mode: str | None = None,
        executor: Executor | None = None,
    ) -> None:
        check_settings(max_lines=max_lines, max_line_chars=max_line_chars)
        self._setup(
            EpisodeCore(problems, split, curriculum, reward, limits, executor),
            render_mode,
            own_limit=max_lines,
        )
        self.max_lines = max_lines
        self.max_line_chars = max_line_chars
        self.max_prompt_chars = max_prompt_chars
        self.max_code_chars = max_code_chars
        self.action_space = LineSpace(max_line_chars)
        self.observation_space = spaces.Dict(
            {
                "prompt": AnyText(max_length=max_prompt_chars, min_length=0, charset=LINE_CHARSET),
                "code": AnyText(max_length=max_code_chars, min_length=0, charset=LINE_CHARSET),
            }
        )
        self._lines: list[str] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        super().reset(seed=seed)
        episode = self._begin(options)
        self._lines = []
        return self._obs(), episode.reset_info()

    def step(self, action: Any) -> tuple[dict[str, str], float, bool, bool, dict[str, Any]]:
        self._check_step()
        if not isinstance(action, str):
            raise InvalidActionError(
                f"action must be a str (one line of code or codegym.SUBMIT), got {type(action).__name__}"
            )
        if action == SUBMIT:
            return self._end(terminated=True)
        if len(action) > self.max_line_chars:
            raise InvalidActionError(
                f"line of {len(action)} characters exceeds max_line_chars={self.max_line_chars}"
            )
        bad = next((c for c in action if c not in LINE_CHARSET), None)
        if bad is not None:
            raise InvalidActionError(
                f"line contains {bad!r}; a line holds printable ASCII and tabs only (one line per step, no newline; "
                "codegym.SUBMIT alone submits)"
            )
        self._lines.append(action)
        if len(self._lines) >= self._limit:
            return self._end(terminated=False)
        return self._obs(), 0.0, False, False, {}

    def _render_text(self) -> str:
        return render_ansi(self._episode, self._generated(), self._last_info)

    def _generated(self) -> str:
        return "".join(line + "\n" for line in self._lines)

    def _obs(self) -> dict[str, str]:
        assert self._episode is not None
        code = (self._episode.start_code + self._generated())[-self.max_code_chars :]
        return {"prompt": self._episode.problem.statement[: self.max_prompt_chars], "code": code}

    def _end(self, *, terminated: bool) -> tuple[dict[str, str], float, bool, bool, dict[str, Any]]:
        reward, info = self._finish(self._generated(), terminated=terminated)
        return self._obs(), reward, terminated, not terminated, info
