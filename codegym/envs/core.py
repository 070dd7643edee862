"""The episode core shared by the token and line envs: problem choice, curriculum start, scoring,
FGO coverage masks and rendering. The envs only translate actions and observations."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from codegym.curriculum import Curriculum
from codegym.errors import ConfigError, UnknownNameError
from codegym.problems import Problem, resolve_problems
from codegym.rewards import RewardFn, get_reward
from codegym.sandbox import (
    Executor,
    Limits,
    Outcome,
    default_executor,
    statement_map,
)

__all__ = [
    "Coverage",
    "EpisodeCore",
    "Episode",
    "line_mask",
    "stage_label",
]

logger = logging.getLogger(__name__)


def line_mask(
    program: str,
    first_generated_line: int,
    n_generated_lines: int,
    executed: frozenset[int],
    *,
    ran: bool,
) -> np.ndarray:
    """FGO mask over the generated lines: 1 where some test executed the line's code.

    A line that is not a statement itself takes the mask of the code it belongs to: continuation
    lines and decorators their statement's; ``else:``, ``finally:``, comments and blank lines the
    next statement's (the code they introduce or precede; the previous one's at the end of the
    program). ``except ...:`` and ``case ...:`` headers count as executed when their clause ran. When the program never ran (``ran=False``: a compile error),
    every line gets 1: nothing can be singled out, and the whole generation carries the penalty.
    """
    if n_generated_lines <= 0:
        return np.zeros(0, dtype=np.int8)
    if not ran:
        return np.ones(n_generated_lines, dtype=np.int8)
    owners = statement_map(program)
    total = program.count("\n") + 1
    per_line = np.zeros(total + 2, dtype=np.int8)
    known = np.zeros(total + 2, dtype=bool)
    for line, owner in owners.items():
        if line <= total:
            per_line[line] = owner in executed
            known[line] = True
    nxt: int | None = None
    for line in range(total, 0, -1):  # unmapped lines take the next statement's mask
        if known[line]:
            nxt = int(per_line[line])
        elif nxt is not None:
            per_line[line] = nxt
            known[line] = True
    prev = 0
    for line in range(1, total + 1):  # ...or the previous one's at the end
        if known[line]:
            prev = int(per_line[line])
        else:
            per_line[line] = prev
    start = first_generated_line
    return per_line[start : start + n_generated_lines].copy()


@dataclass
class Coverage(Mapping):
    """``info["coverage"]``: read it like a dict (``coverage["line_mask"]``) or by attribute.

    A Mapping rather than a dict on purpose: Gymnasium's vector envs stack dict entries of the
    sub-envs' infos into arrays shaped like the first one, which breaks (or silently repeats)
    masks of different lengths; a Mapping is kept whole, one per sub-env.
    """

    executed_lines: list[int]
    """Program line numbers of the statements some test executed."""
    line_mask: np.ndarray
    """``int8``, one per generated line: 1 if a test executed the line's code."""
    first_generated_line: int
    """Program line number of the first generated line."""
    token_mask: np.ndarray | None = None
    """``int8``, one per action of the token env (end-of-sequence included); None in the line env."""

    def _keys(self) -> list[str]:
        keys = ["executed_lines", "line_mask", "first_generated_line"]
        return keys + (["token_mask"] if self.token_mask is not None else [])

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


@dataclass
class Episode:
    """One episode's fixed context."""

    problem: Problem
    stage: int
    n_stages: int
    start_code: str
    """Code the agent continues: the canonical prefix of the stage, or the starter code at stage 0."""

    @property
    def first_generated_line(self) -> int:
        return self.start_code.count("\n") + 1

    def reset_info(self) -> dict[str, Any]:
        return {
            "problem_id": self.problem.id,
            "difficulty": self.problem.difficulty.value,
            "stage": self.stage,
            "n_stages": self.n_stages,
            "prefix": self.start_code,
        }


def check_settings(**sizes: int) -> None:
    """Raise :class:`ConfigError` for a size that is not a positive int."""
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")


_checked: dict[tuple[str, str], bool] = {}
_checked_lock = threading.Lock()


def check_canonical(problem: Problem, executor: Executor, limits: Limits | None) -> bool | None:
    """Whether ``problem``'s canonical solution passes its own tests, checked once per process
    (per problem id and solution text). A failing one is warned about (``UserWarning`` naming the
    problem) and still served: the warning says what CCCS prefixes and rewards then mean. None
    when there is nothing to check (no canonical solution) or the sandbox failed (not cached)."""
    if not problem.canonical_solution.strip():
        return None
    key = (problem.id, problem.canonical_solution)
    with _checked_lock:
        if key in _checked:
            return _checked[key]
    result = executor.run(problem.canonical_solution, problem, limits=limits, coverage=False)
    if result.outcome is Outcome.INFRA_ERROR:
        return None
    with _checked_lock:
        _checked[key] = result.passed
    if not result.passed:
        first = next((t for t in result.tests if not t.passed), None)
        why = result.outcome.value + (f" ({first.detail})" if first and first.detail else "")
        warnings.warn(
            f"problem {problem.id!r}: its canonical solution fails its own tests ({why}); "
            "CCCS prefixes are cut from it and may be wrong. Served anyway; find such problems "
            "with `codegym problems validate` and fix or drop them",
            stacklevel=4,
        )
    return result.passed


class EpisodeCore:
    """Problems, curriculum, sandbox and reward for one env."""

    def __init__(
        self,
        problems: str | os.PathLike[str] | Sequence[Problem] | None = "bundled",
        split: str | None = "train",
        curriculum: str | int | Curriculum = "cccs",
        reward: str | RewardFn = "stepcoder",
        limits: Limits | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.problems = resolve_problems(problems, split)
        self.by_id = {p.id: p for p in self.problems}
        if isinstance(curriculum, Curriculum):
            self.curriculum = curriculum
        else:
            self.curriculum = Curriculum(self.problems, mode=curriculum)
        self.reward_fn = get_reward(reward)
        self.limits = limits  # None: the executor's own limits
        self._executor = executor

    @property
    def executor(self) -> Executor:
        return self._executor if self._executor is not None else default_executor()

    def begin(self, rng: np.random.Generator, options: dict[str, Any] | None) -> Episode:
        options = options or {}
        unknown = set(options) - {"problem_id", "stage"}
        if unknown:
            raise ConfigError(
                f"unknown reset option(s) {sorted(unknown)}; valid: 'problem_id', 'stage'"
            )
        pid = options.get("problem_id")
        if pid is None:
            problem = self.problems[int(rng.integers(len(self.problems)))]
        elif pid in self.by_id:
            problem = self.by_id[pid]
        else:
            raise UnknownNameError("problem_id", pid, self.by_id)
        check_canonical(problem, self.executor, self.limits)
        n_stages = self.curriculum.n_stages(problem.id)
        stage = options.get("stage")
        if stage is None:
            stage = self.curriculum.start_stage(problem.id, rng)
        elif not isinstance(stage, (int, np.integer)) or not 0 <= stage < n_stages:
            raise ConfigError(
                f"stage must be an int in 0..{n_stages - 1} for problem {problem.id!r}, got {stage!r}"
            )
        stage = int(stage)
        start = self.curriculum.prefix(problem.id, stage) if stage > 0 else problem.starter_code
        if start and not start.endswith("\n"):
            start += "\n"
        return Episode(problem, stage, n_stages, start)

    def finish(self, episode: Episode, generated: str) -> tuple[float, dict[str, Any]]:
        """Run the program, score it, update the curriculum; returns ``(reward, info)``."""
        program = episode.start_code + generated
        result = self.executor.run(program, episode.problem, limits=self.limits)
        infra = result.outcome is Outcome.INFRA_ERROR
        lines = generated.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        ran = result.outcome is not Outcome.COMPILE_ERROR and not infra
        mask = line_mask(
            program, episode.first_generated_line, len(lines), result.executed_lines, ran=ran
        )
        if infra:
            mask[:] = 0
            reward = 0.0
            new_stage = self.curriculum.stage(episode.problem.id)
        else:
            reward = float(self.reward_fn(result))
            new_stage = self.curriculum.record(episode.problem.id, episode.stage, result.passed)
        info = {
            **episode.reset_info(),
            "outcome": result.outcome.value,
            "passed": result.passed,
            "pass_fraction": result.pass_fraction,
            "infra_error": infra,
            "infra_error_message": result.infra_error,
            "tests": [
                {
                    "outcome": t.outcome.value,
                    "cpu_time": t.cpu_time,
                    "detail": t.detail,
                    "exception": t.exception,
                }
                for t in result.tests
            ],
            "program": program,
            "generated": generated,
            "coverage": Coverage(sorted(result.executed_lines), mask, episode.first_generated_line),
            "curriculum": {
                "stage": episode.stage,
                "n_stages": episode.n_stages,
                "next_stage": new_stage,
            },
            "result": result,
        }
        return reward, info


def registered_limit(spec: Any) -> int | None:
    """The ``max_episode_steps`` an env id was registered with (Gymnasium >= 1.0 hides it from
    ``env.unwrapped.spec``), so the env can score the program on the step TimeLimit truncates."""
    if spec is None:
        return None
    from gymnasium.envs.registration import registry

    registered = registry.get(spec.id)
    return registered.max_episode_steps if registered is not None else None


def stage_label(stage: int, n_stages: int) -> str:
    """``"stage k/K"``: the episode's curriculum stage over the problem's last one, ``K =
    n_stages - 1`` (the longest prefix; 0 is the whole task). The one way codegym writes a stage."""
    return f"stage {stage}/{n_stages - 1}"


def render_ansi(episode: Episode | None, generated: str, info: dict[str, Any] | None) -> str:
    """Statement, prefix, generated code marked by coverage (``+`` executed, ``-`` not), outcome."""
    if episode is None:
        return "(no episode: call reset())\n"
    p = episode.problem
    out = [
        f"== {p.id} [{p.difficulty.value}] {stage_label(episode.stage, episode.n_stages)} ==",
        p.statement.rstrip(),
        "",
    ]
    out.append("-- prefix --")
    out += [f"    {line}" for line in episode.start_code.splitlines()]
    out.append("-- generated --")
    mask = info["coverage"]["line_mask"] if info else None
    for i, line in enumerate(generated.split("\n")):
        if i == len(generated.split("\n")) - 1 and line == "":
            break
        mark = " " if mask is None or i >= len(mask) else ("+" if mask[i] else "-")
        out.append(f"  {mark} {line}")
    if info:
        out.append(f"-- outcome: {info['outcome']} (pass fraction {info['pass_fraction']:.2f}) --")
    return "\n".join(out) + "\n"
