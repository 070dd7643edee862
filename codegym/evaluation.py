"""pass@k evaluation of generated programs, by difficulty.

Works on samples from anywhere (a JSONL file of completions) with no torch; the reference agent
uses the same functions for models (``codegym.agents.evaluate``).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from codegym.errors import ConfigError, ProblemFormatError, ProblemLoadError, UnknownNameError
from codegym.problems import Problem
from codegym.sandbox import Executor, Limits, default_executor

__all__ = ["pass_at_k", "EvalReport", "evaluate_programs", "read_samples", "program_for"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` passed: ``1 - C(n-c, k) / C(n, k)``.

    Computed as a product, stable for large ``n`` (Chen et al., 2021).
    """
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@dataclass
class EvalReport:
    """pass@k per difficulty and overall, plus per-problem pass counts."""

    ks: tuple[int, ...]
    by_difficulty: dict[str, dict[int, float]]
    overall: dict[int, float]
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    """``problem id -> (samples, passed)``."""

    def table(self) -> str:
        head = "difficulty     problems  " + "  ".join(f"pass@{k:<4d}" for k in self.ks)
        lines = [head]
        for name, scores in [*sorted(self.by_difficulty.items()), ("overall", self.overall)]:
            n = self._n.get(name, 0)
            lines.append(
                f"{name:14s} {n:8d}  " + "  ".join(f"{100 * scores[k]:8.1f}" for k in self.ks)
            )
        return "\n".join(lines)

    _n: dict[str, int] = field(default_factory=dict, repr=False)


def program_for(problem: Problem, completion: str) -> str:
    """The program a completion stands for: as is when it already holds the starter code,
    otherwise appended to it (HumanEval convention)."""
    if not problem.starter_code or completion.startswith(problem.starter_code):
        return completion
    return problem.starter_code + completion


def evaluate_programs(
    problems: Sequence[Problem],
    samples: dict[str, list[str]],
    *,
    ks: Iterable[int] = (1,),
    executor: Executor | None = None,
    limits: Limits | None = None,
    coverage: bool = False,
) -> EvalReport:
    """Run every sample program against its problem's tests and compute pass@k.

    ``coverage=True`` lets runs hit the cache of an executor that envs already used."""
    ks = tuple(sorted(set(ks)))
    by_id = {p.id: p for p in problems}
    unknown = sorted(set(samples) - set(by_id))
    if unknown:
        raise UnknownNameError("problem id in samples", unknown[0], by_id)
    jobs = [
        (program_for(by_id[pid], prog), by_id[pid])
        for pid, progs in samples.items()
        for prog in progs
    ]
    results = (executor or default_executor()).run_many(jobs, limits=limits, coverage=coverage)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (_, problem), result in zip(jobs, results):
        counts[problem.id][0] += 1
        counts[problem.id][1] += int(result.passed)
    groups: dict[str, list[str]] = defaultdict(list)
    for pid in samples:
        groups[by_id[pid].difficulty.value].append(pid)
    usable = [k for k in ks if all(counts[p][0] >= k for p in samples)]

    def mean_pass(ids: list[str]) -> dict[int, float]:
        return {
            k: float(np.mean([pass_at_k(*counts[p], k) for p in ids])) if ids else 0.0
            for k in usable
        }

    report = EvalReport(
        ks=tuple(usable),
        by_difficulty={name: mean_pass(ids) for name, ids in groups.items()},
        overall=mean_pass(list(samples)),
        counts={p: (c[0], c[1]) for p, c in counts.items()},
    )
    report._n = {name: len(ids) for name, ids in groups.items()} | {"overall": len(samples)}
    return report


def read_samples(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Samples from JSONL: one ``{"problem_id" (or "task_id"): ..., "completion": ...}`` per line."""
    samples: dict[str, list[str]] = defaultdict(list)
    errors = []
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115  (closed by the with below)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the samples file {os.fspath(path)!r}: {exc.strerror or exc}; "
            "pass a JSONL file of {problem_id, completion} lines"
        ) from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(ProblemFormatError(f"invalid JSON: {exc}", position=f"line {lineno}"))
                continue
            pid = (
                record.get("problem_id", record.get("task_id"))
                if isinstance(record, dict)
                else None
            )
            completion = record.get("completion") if isinstance(record, dict) else None
            if not isinstance(pid, str) or not isinstance(completion, str):
                errors.append(
                    ProblemFormatError(
                        "needs string 'problem_id' (or 'task_id') and 'completion'",
                        position=f"line {lineno}",
                    )
                )
                continue
            samples[pid].append(completion)
    if errors:
        raise ProblemLoadError(str(path), errors)
    return dict(samples)
