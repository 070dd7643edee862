"""What the training loop reports: each iteration's statistics, and their TensorBoard log."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from codegym.agents.evaluate import StageEvaluation
from codegym.agents.ppo import explained_variance
from codegym.agents.rollout import EpisodeRecord
from codegym.curriculum import Curriculum

logger = logging.getLogger(__name__)

__all__ = ["IterationStats", "iteration_stats", "log_evaluation", "log_iteration", "make_writer"]


@dataclass
class IterationStats:
    iteration: int
    reward_mean: float
    pass_rate: float
    pass_rate_by_difficulty: dict[str, float]
    pass_rate_by_stage: dict[int, tuple[float, int]]
    """Rollout pass rate and episode count at each start stage (0: the full task). The overall
    rollout pass rate falls whenever CCCS moves problems to harder stages; this shows where."""
    stage_histogram: dict[int, int]
    policy_loss: float
    value_loss: float
    entropy: float
    approx_kl: float
    clip_fraction: float
    explained_variance: float
    fgo_masked_fraction: float
    """Share of the batch's generated tokens left out of the policy loss (0 when ``fgo`` is off)."""
    fgo_masked_by_outcome: dict[str, tuple[float, int]]
    """Per episode outcome (``passed``, ``wrong_answer``, ...): the share of generated tokens whose
    env ``token_mask`` is 0, i.e. on lines no test executed, and the token count. This is what FGO
    masks when on, and what it would mask when off, so the variants can be compared. Compile
    errors never ran and get all-ones masks (share 0)."""
    dropped_infra_errors: int
    seconds: dict[str, float] = field(default_factory=dict)


def make_writer(path: str) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard missing: log to the console only
        logger.warning(
            "tensorboard is not installed; scalars are not written (pip install tensorboard)"
        )
        return None
    return SummaryWriter(path)


def iteration_stats(
    iteration: int,
    episodes: list[EpisodeRecord],
    usable: list[EpisodeRecord],
    curriculum: Curriculum,
    stats: dict[str, float],
    batch: dict[str, torch.Tensor] | None,
    returns: torch.Tensor | None,
) -> IterationStats:
    """The iteration's figures; ``batch`` and ``returns`` are None when nothing was scored."""
    by_difficulty: dict[str, list[bool]] = {}
    by_stage: dict[int, list[bool]] = {}
    for e in usable:
        by_difficulty.setdefault(e.difficulty, []).append(e.passed)
        by_stage.setdefault(e.stage, []).append(e.passed)
    tokens: Counter[str] = Counter()
    unexecuted: Counter[str] = Counter()
    for e in usable:
        tokens[e.outcome] += len(e.token_mask)
        unexecuted[e.outcome] += int((e.token_mask == 0).sum())
    masked, explained = 0.0, 0.0
    if batch is not None and returns is not None:
        mask = batch["mask"]
        masked = 1.0 - float(batch["fgo_mask"].sum() / mask.sum().clamp(min=1))
        explained = explained_variance(batch["old_values"], returns, mask)
    return IterationStats(
        iteration=iteration,
        reward_mean=float(np.mean([e.reward for e in usable])) if usable else 0.0,
        pass_rate=float(np.mean([e.passed for e in usable])) if usable else 0.0,
        pass_rate_by_difficulty={k: float(np.mean(v)) for k, v in sorted(by_difficulty.items())},
        pass_rate_by_stage={k: (float(np.mean(v)), len(v)) for k, v in sorted(by_stage.items())},
        stage_histogram=curriculum.stage_histogram(),
        policy_loss=stats.get("policy_loss", 0.0),
        value_loss=stats.get("value_loss", 0.0),
        entropy=stats.get("entropy", 0.0),
        approx_kl=stats.get("approx_kl", 0.0),
        clip_fraction=stats.get("clip_fraction", 0.0),
        explained_variance=explained,
        fgo_masked_fraction=masked,
        fgo_masked_by_outcome={
            k: (unexecuted[k] / n if n else 0.0, n) for k, n in sorted(tokens.items())
        },
        dropped_infra_errors=len(episodes) - len(usable),
    )


def log_iteration(writer: Any, s: IterationStats) -> None:
    logger.info(
        "iteration %d: reward %+.3f pass rate %.2f kl %.4f stages %s",
        s.iteration,
        s.reward_mean,
        s.pass_rate,
        s.approx_kl,
        s.stage_histogram,
    )
    if writer is None:
        return
    step = s.iteration
    for name in (
        "reward_mean",
        "pass_rate",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "fgo_masked_fraction",
    ):
        writer.add_scalar(f"train/{name}", getattr(s, name), step)
    for outcome, (share, _) in s.fgo_masked_by_outcome.items():
        writer.add_scalar(f"fgo/masked_fraction_{outcome}", share, step)
    for difficulty, rate in s.pass_rate_by_difficulty.items():
        writer.add_scalar(f"pass_rate/{difficulty}", rate, step)
    for stage, (rate, _) in s.pass_rate_by_stage.items():
        writer.add_scalar(f"pass_rate/stage_{stage}", rate, step)
    for stage, count in s.stage_histogram.items():
        writer.add_scalar(f"curriculum/problems_at_stage_{stage}", count, step)
    stages = [stage for stage, count in s.stage_histogram.items() for _ in range(count)]
    if stages:
        writer.add_histogram("curriculum/stage", np.asarray(stages), step)
    for part, seconds in s.seconds.items():
        writer.add_scalar(f"time/{part}_seconds", seconds, step)


def log_evaluation(writer: Any, done: int, result: StageEvaluation) -> None:
    """The fixed evaluation, at step = PPO iterations done (0: the starting policy)."""
    logger.info("fixed evaluation after %d iterations: %s", done, result.summary())
    if writer is None:
        return
    writer.add_scalar("eval/pass_rate", result.pass_rate, done)
    writer.add_scalar("eval/pass_rate_full_task", result.full_task, done)
    for stage, rate in result.by_stage.items():
        writer.add_scalar(f"eval/pass_rate_stage_{stage}", rate, done)
    for difficulty, rate in result.by_difficulty.items():
        writer.add_scalar(f"eval/pass_rate_{difficulty}", rate, done)
