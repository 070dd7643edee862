"""What every codegym env shares: the episode core, the state guards, the step limit, rendering
and the end of an episode (run, score, render). Subclasses translate actions and observations."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

import gymnasium as gym

from codegym.envs.core import Episode, EpisodeCore, registered_limit
from codegym.errors import ConfigError, EnvStateError

__all__ = ["CodeEnv", "RENDER_MODES"]

ObsType = TypeVar("ObsType")
ActType = TypeVar("ActType")

RENDER_MODES = ["ansi", "human"]
"""Render modes codegym's envs implement."""


class CodeEnv(gym.Env[ObsType, ActType]):
    """Base class of the codegym envs (not registered itself).

    Holds the :class:`EpisodeCore`, refuses ``step`` before ``reset`` and after the end, computes
    the episode's step limit once (:attr:`max_steps`), ends episodes (run, score, render)
    and renders. A ``render_mode`` the envs do not implement (Stable-Baselines3's ``make_vec_env``
    asks for ``"rgb_array"``) is not an error, as in Gymnasium: it warns and turns rendering off
    (``render_mode`` None, ``render()`` returns None).
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 4}
    _limit_name = "the step limit"  # the keyword that sets the env's own limit, for messages

    core: EpisodeCore
    _episode: Episode | None
    _done: bool
    _last_info: dict[str, Any] | None

    def _setup(self, core: EpisodeCore, render_mode: str | None, own_limit: int) -> None:
        """Common ``__init__`` part; call it after the subclass checked its own settings."""
        if render_mode is not None and not isinstance(render_mode, str):
            raise ConfigError(
                f"render_mode must be one of {RENDER_MODES}, another str or None, got {render_mode!r}"
            )
        if render_mode is not None and render_mode not in RENDER_MODES:
            warnings.warn(
                f"render_mode={render_mode!r} is not one of {RENDER_MODES}; rendering is off",
                stacklevel=3,
            )
            render_mode = None
        self.core = core
        self.render_mode = render_mode
        self._own_limit = own_limit
        self._limit = own_limit
        self._warned_limit = False
        self._episode = None
        self._done = False
        self._last_info = None

    @property
    def max_steps(self) -> int:
        """Steps after which the env itself ends (truncates) an episode and scores the program:
        the env's own limit, or the registered ``max_episode_steps`` when that is smaller (so the
        program is scored on the step Gymnasium's ``TimeLimit`` would cut)."""
        spec_limit = registered_limit(self.spec)
        return min(self._own_limit, spec_limit or self._own_limit)

    def _begin(self, options: dict[str, Any] | None) -> Episode:
        """Start an episode (call after ``super().reset(seed=seed)``)."""
        self._episode = self.core.begin(self.np_random, options)
        self._done, self._last_info = False, None
        self._limit = self.max_steps
        if self._limit < self._own_limit and not self._warned_limit:
            self._warned_limit = True
            assert self.spec is not None
            warnings.warn(
                f"{self._limit_name}={self._own_limit} exceeds {self.spec.id}'s registered "
                f"max_episode_steps={self._limit}; episodes end at {self._limit} steps "
                "(register an id with a larger limit)",
                stacklevel=3,
            )
        return self._episode

    def _check_step(self) -> Episode:
        if self._episode is None:
            raise EnvStateError("step() called before reset()")
        if self._done:
            raise EnvStateError("step() called after the episode ended; call reset()")
        return self._episode

    def _finish(self, generated: str, *, terminated: bool) -> tuple[float, dict[str, Any]]:
        """End the episode: run and score ``generated`` (after the episode's start code), render
        in human mode; returns ``(reward, info)``."""
        assert self._episode is not None
        reward, info = self.core.finish(self._episode, generated)
        self._close(info, terminated=terminated)
        return reward, info

    def _close(self, info: dict[str, Any], *, terminated: bool) -> None:
        """Mark the episode ended with the terminal ``info`` of :meth:`EpisodeCore.finish`."""
        self._done = True
        info["truncated_program"] = not terminated
        self._last_info = info
        if self.render_mode == "human":
            self.render()

    def render(self) -> str | None:
        """Text in ``"ansi"`` mode, printed in ``"human"`` mode, None otherwise."""
        if self.render_mode is None:
            return None
        text = self._render_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def _render_text(self) -> str:
        raise NotImplementedError
