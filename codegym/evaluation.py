"""pass@k evaluation of generated programs, by difficulty.

Works on samples from anywhere (a JSONL file of completions) with no torch; the reference agent
uses the same functions for models (``codegym.agents.evaluate``).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from codegym.errors import ConfigError, ProblemFormatError, ProblemLoadError, UnknownNameError
from codegym.problems import Problem
from codegym.sandbox import Executor, Limits, default_executor

__all__ = [
    "pass_at_k",
    "EvalReport",
    "evaluate_programs",
    "read_samples",
    "program_for",
    "PairedDifference",
    "paired_difference",
    "t_quantile",
]


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


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``, by its continued fraction
    (modified Lentz), for ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below this point
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(log_front + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * result


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``t_quantile(0.975, 7)``
    is 2.3646), by bisection on the distribution function: no scipy needed."""
    if not 0.0 < p < 1.0:
        raise ConfigError(f"t_quantile: p must be in (0, 1), got {p}")
    if df <= 0:
        raise ConfigError(f"t_quantile: df must be > 0, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


@dataclass(frozen=True)
class PairedDifference:
    """The mean of paired differences ``a - b`` (one pair per seed) with a t-interval."""

    mean: float
    low: float
    """Lower end of the interval (``nan`` with a single pair: no spread to go on)."""
    high: float
    """Upper end of the interval (``nan`` with a single pair)."""
    positive: int
    """Pairs where ``a > b``."""
    n: int
    """Number of pairs."""
    confidence: float = 0.95

    def __str__(self) -> str:
        interval = (
            f"[{self.low:+.1f}, {self.high:+.1f}]" if self.n > 1 else "[no interval from one seed]"
        )
        return (
            f"{self.mean:+.1f} {interval} ({100 * self.confidence:.0f}% CI), "
            f"positive in {self.positive} of {self.n} seeds"
        )


def paired_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95
) -> PairedDifference:
    """Mean difference ``a[i] - b[i]`` over paired runs (the same seed, two variants) with a
    Student-t interval over the pairs, and how many pairs came out positive.

    Pairing removes what the seeds share (the warm start, the problem order): the interval is
    that of the differences, narrower than two unpaired spreads would give."""
    if len(a) != len(b):
        raise ConfigError(
            f"paired_difference needs one value of each side per pair, got {len(a)} and {len(b)}"
        )
    if not a:
        raise ConfigError("paired_difference needs at least one pair, got none")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"paired_difference: confidence must be in (0, 1), got {confidence}")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(diffs)
    mean = sum(diffs) / n
    if n > 1:
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        half = t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    else:
        low = high = math.nan
    return PairedDifference(mean, low, high, sum(d > 0 for d in diffs), n, confidence)
