"""The CCCS schedule: per-problem start stages that move toward the full task as the agent succeeds.

State can live in memory or in a JSON file guarded by ``flock``. File-backed state is how envs in
several processes (``gymnasium.vector.AsyncVectorEnv``) share one curriculum: each reset reads the
file (re-parsed only when it changed), each finished episode updates it under an exclusive lock.
Pickling an in-memory curriculum moves its state to a temporary file first, so every copy (the
original included) shares it.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from codegym.curriculum.segment import Segmentation, segment
from codegym.errors import ConfigError, UnknownNameError

__all__ = ["Curriculum"]


@dataclass
class _ProblemState:
    stage: int
    history: list[int]


def _states_to_json(states: dict[str, _ProblemState]) -> dict[str, dict[str, Any]]:
    """The per-problem states as JSON data: what ``state_dict`` and the shared file both hold."""
    return {k: {"stage": v.stage, "history": list(v.history)} for k, v in states.items()}


def _states_from_json(data: dict[str, Any]) -> dict[str, _ProblemState]:
    return {
        k: _ProblemState(int(v["stage"]), [int(x) for x in v.get("history", [])])
        for k, v in data.items()
    }


class Curriculum:
    """Per-problem stage schedule.

    Args:
        problems: the problems (anything with ``id`` and ``canonical_solution``).
        mode: ``"cccs"`` (default): start at the longest prefix and move toward the full task;
            ``"none"``: always the full task (vanilla RL); an ``int`` s: always stage
            ``min(s, n_stages - 1)``.
        threshold: CCCS moves a problem's start one stage toward the full task once the mean
            success over its last ``window`` episodes at the current stage reaches this. The
            default 0.5 advances once the agent solves a stage at least half the time: a lower
            value leaves stages before they are learned (the next one then yields almost no
            positive reward), a higher one spends samples on solved stages, and a success rate
            of 0.5 is where pass/fail rewards carry the most variance for the policy gradient.
        window: episodes per moving average (and the least before a move).
        replay: CCCS: the share of episodes that start at a stage the problem has already passed
            (one of the longer prefixes, uniformly), drawn by :meth:`start_stage`. Such episodes
            never move the problem. Without replay, once problems reach the hard stages almost no
            rollout passes and PPO has little to reinforce; replay keeps some success in every
            batch (with the tiny preset it did not raise the full task: see docs/agent.md).
            0 (default) is StepCoder's schedule.
        state_path: JSON file for shared, persistent state; ``None`` keeps state in memory.
    """

    def __init__(
        self,
        problems: Iterable[Any],
        mode: str | int = "cccs",
        *,
        threshold: float = 0.5,
        window: int = 8,
        replay: float = 0.0,
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(mode, bool) or not (isinstance(mode, int) or mode in ("cccs", "none")):
            if isinstance(mode, str):
                raise UnknownNameError("curriculum mode", mode, ["cccs", "none"])
            raise ConfigError(f"curriculum must be 'cccs', 'none' or a stage number, got {mode!r}")
        if isinstance(mode, int) and mode < 0:
            raise ConfigError(f"a fixed curriculum stage must be >= 0, got {mode}")
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
        if window < 1:
            raise ConfigError(f"window must be >= 1, got {window}")
        if not 0.0 <= replay < 1.0:
            raise ConfigError(f"replay must be in [0, 1), got {replay}")
        self.mode = mode
        self.replay = replay
        self.threshold = threshold
        self.window = window
        self._segments: dict[str, Segmentation] = {
            p.id: segment(p.canonical_solution) for p in problems
        }
        self._states: dict[str, _ProblemState] = {}
        self._lock = threading.Lock()
        self.state_path = os.fspath(state_path) if state_path is not None else None
        self._file_sig: tuple[int, int] | None = None
        if self.state_path and os.path.exists(self.state_path):
            self._refresh()

    # -- queries ------------------------------------------------------------------------------------

    def segmentation(self, problem_id: str) -> Segmentation:
        try:
            return self._segments[problem_id]
        except KeyError:
            raise UnknownNameError("problem id", problem_id, self._segments) from None

    def n_stages(self, problem_id: str) -> int:
        return self.segmentation(problem_id).n_stages

    def stage(self, problem_id: str) -> int:
        """The stage an episode of this problem starts at now."""
        n = self.n_stages(problem_id)
        if self.mode == "none":
            return 0
        if isinstance(self.mode, int):
            return min(self.mode, n - 1)
        with self._lock:
            self._refresh()
            state = self._states.get(problem_id)
            return n - 1 if state is None else min(state.stage, n - 1)

    def start_stage(self, problem_id: str, rng: np.random.Generator) -> int:
        """The stage a new episode of this problem starts at: :meth:`stage`, or with probability
        ``replay`` one of the stages the problem has already passed."""
        stage = self.stage(problem_id)
        passed = self.n_stages(problem_id) - 1 - stage  # stages stage+1 .. n-1
        if self.mode == "cccs" and passed > 0 and self.replay > 0 and rng.random() < self.replay:
            return stage + 1 + int(rng.integers(passed))
        return stage

    def prefix(self, problem_id: str, stage: int) -> str:
        return self.segmentation(problem_id).prefix(stage)

    # -- updates ------------------------------------------------------------------------------------

    def record(self, problem_id: str, stage: int, success: bool) -> int:
        """Count an episode's result; returns the problem's (possibly moved) start stage.

        Only CCCS mode learns, and only from episodes run at the problem's current stage.
        """
        n = self.n_stages(problem_id)
        if self.mode != "cccs":
            return self.stage(problem_id)
        with self._lock, self._file_lock():
            self._refresh(force=True)
            state = self._states.setdefault(problem_id, _ProblemState(n - 1, []))
            if stage == state.stage and state.stage > 0:
                state.history = (state.history + [int(success)])[-self.window :]
                if (
                    len(state.history) >= self.window
                    and sum(state.history) / len(state.history) >= self.threshold
                ):
                    state.stage -= 1
                    state.history = []
                self._write()
            return state.stage

    # -- persistence --------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        with self._lock:
            self._refresh()
            return {
                "mode": self.mode,
                "threshold": self.threshold,
                "window": self.window,
                "replay": self.replay,
                "problems": _states_to_json(self._states),
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        problems = state.get("problems", {})
        with self._lock, self._file_lock():
            self._states = {
                k: v for k, v in _states_from_json(problems).items() if k in self._segments
            }
            self._write()

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.state_dict(), f)

    def load(self, path: str | os.PathLike[str]) -> None:
        with open(path, encoding="utf-8") as f:
            self.load_state_dict(json.load(f))

    def stage_histogram(self) -> dict[int, int]:
        """How many problems start at each stage now."""
        hist: dict[int, int] = {}
        for pid in self._segments:
            s = self.stage(pid)
            hist[s] = hist.get(s, 0) + 1
        return dict(sorted(hist.items()))

    def share(self) -> str:
        """Move the state to a file (if it is not in one yet) and return its path."""
        if self.state_path is None:
            fd, path = tempfile.mkstemp(prefix="codegym-curriculum-", suffix=".json")
            os.close(fd)
            with self._lock:
                self.state_path = path
                self._write()
            # The process that made the file removes it when it exits (it outlives its copies).
            atexit.register(_remove_quietly, path, path + ".lock")
        return self.state_path

    def __getstate__(self) -> dict[str, Any]:
        self.share()
        state = self.__dict__.copy()
        del state["_lock"]
        state["_file_sig"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- file backing -------------------------------------------------------------------------------

    class _NoLock:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    def _file_lock(self) -> Any:
        if self.state_path is None:
            return Curriculum._NoLock()
        return _FileLock(self.state_path + ".lock")

    def _refresh(self, force: bool = False) -> None:
        if self.state_path is None:
            return
        try:
            st = os.stat(self.state_path)
        except FileNotFoundError:
            return
        sig = (st.st_mtime_ns, st.st_size)
        if not force and sig == self._file_sig:
            return
        try:
            with open(self.state_path, encoding="utf-8") as f:
                text = f.read()
            data = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return
        self._states = _states_from_json(data.get("problems", {}))
        self._file_sig = sig

    def _write(self) -> None:
        if self.state_path is None:
            return
        data = {"problems": _states_to_json(self._states)}
        tmp = f"{self.state_path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, self.state_path)
        st = os.stat(self.state_path)
        self._file_sig = (st.st_mtime_ns, st.st_size)


def _remove_quietly(*paths: str) -> None:
    for path in paths:
        try:
            os.remove(path)
        except OSError:
            pass


class _FileLock:
    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
