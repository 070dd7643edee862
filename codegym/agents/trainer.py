"""The StepCoder training loop: PPO on a causal LM through the codegym envs, with CCCS and FGO.

Reads top to bottom: ``train`` sets up, then each iteration runs the five numbered phases.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import codegym  # noqa: F401  (registers the env ids)
from codegym.agents.config import PPOConfig
from codegym.agents.evaluate import (
    StageEvaluation,
    evaluation_envs,
    stage_evaluation,
    stage_tasks,
)
from codegym.agents.policy import ValueHeadModel, load_policy, resolve_device, score_sequences
from codegym.agents.ppo import (
    approx_kl,
    damp_negative,
    gae,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)
from codegym.agents.rollout import EpisodeRecord, collect
from codegym.agents.stats import (
    IterationStats,
    iteration_stats,
    log_evaluation,
    log_iteration,
    make_writer,
)
from codegym.agents.tiny import build_tiny, supervised_warm_start
from codegym.curriculum import Curriculum
from codegym.problems import Difficulty, Problem, resolve_problems
from codegym.sandbox import Limits
from codegym.sandbox.ray import executor_for

__all__ = [
    "train",
    "training_problems",
    "TrainResult",
    "IterationStats",
]  # IterationStats: stats.py

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    config: PPOConfig
    history: list[IterationStats]
    output_dir: str
    model_path: str
    evaluations: list[tuple[int, StageEvaluation]] = field(default_factory=list)
    """The fixed evaluation (``eval_every``) as ``(PPO iterations done, result)``: the first entry
    is the starting policy, the last the trained one."""
    resumed_from: int | None = None
    """The iteration a resumed run started at (None: a fresh run). When it is at least
    ``config.iterations``, the checkpoint had finished every iteration and nothing was trained."""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _progress(
    total: int, initial: int, enabled: bool, desc: str = "PPO", unit: str = "it", leave: bool = True
) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total, initial=initial, desc=desc, disable=not enabled, unit=unit, leave=leave
    )


def train(
    config: PPOConfig,
    *,
    progress: bool = True,
    on_iteration: Any = None,
    on_evaluation: Any = None,
) -> TrainResult:
    """Train ``config.model`` with PPO through ``CodeGen-v0``; returns the per-iteration history.

    ``on_iteration(stats)`` is called after every iteration and ``on_evaluation(iterations_done,
    result)`` after every fixed evaluation (see ``PPOConfig.eval_every``).
    """
    cfg = config
    _seed_everything(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)
    device = resolve_device(cfg.device)
    os.makedirs(cfg.output_dir, exist_ok=True)
    checkpoint = os.path.join(cfg.output_dir, "checkpoint")
    problems = training_problems(cfg)

    # -- 0. Models: the policy (with a value head), its frozen reference, the optimizer ------------
    resuming = cfg.resume and os.path.exists(os.path.join(checkpoint, "trainer_state.pt"))
    if resuming:
        state = torch.load(
            os.path.join(checkpoint, "trainer_state.pt"), map_location="cpu", weights_only=False
        )
        if state["iteration"] + 1 >= cfg.iterations:
            logger.warning(
                "nothing to train: %s has finished %d iterations already (iterations=%d); raise "
                "iterations (--iterations) to train further, or pass resume=False (--no-resume) "
                "to start afresh",
                checkpoint,
                state["iteration"] + 1,
                cfg.iterations,
            )
            done = state["iteration"] + 1
            return TrainResult(cfg, [], cfg.output_dir, checkpoint, resumed_from=done)
        model_path = checkpoint
    elif cfg.model == "tiny":
        model_path = build_tiny(
            resolve_problems(cfg.problems, "train"),
            os.path.join(cfg.output_dir, "tiny-init"),
            seed=cfg.seed,
        )
    else:
        model_path = cfg.model
    model, tokenizer = load_policy(model_path, device, lora_r=cfg.lora_r if not resuming else 0)
    if not resuming and cfg.sft_steps > 0:
        logger.info("supervised warm start: %d steps", cfg.sft_steps)
        sft_bar = _progress(cfg.sft_steps, 0, progress, "warm start", "step", leave=False)
        supervised_warm_start(
            model, tokenizer, problems, steps=cfg.sft_steps, learning_rate=cfg.sft_learning_rate,
            max_context=cfg.max_context_tokens, seed=cfg.seed, device=device,
            on_step=None if sft_bar is None else lambda step, loss: sft_bar.update(1),
        )  # fmt: skip
        if sft_bar is not None:
            sft_bar.close()
    model.eval()  # no dropout in RL: rollout and update must agree on log-probs
    reference = _reference_of(model, cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)

    # -- 0. Envs: one per episode of a batch, sharing one curriculum and one sandbox pool ----------
    curriculum = Curriculum(
        problems,
        mode=cfg.curriculum,
        threshold=cfg.curriculum_threshold,
        window=cfg.curriculum_window,
        replay=cfg.curriculum_replay,
    )
    executor = executor_for(
        cfg.ray_address, workers=cfg.sandbox_workers, limits=Limits(cpu_time=cfg.cpu_time_limit)
    )
    env_kwargs = {
        "problems": problems,
        "split": None,
        "tokenizer": tokenizer,
        "curriculum": curriculum,
        "reward": cfg.reward,
        "max_new_tokens": cfg.max_new_tokens,
        "max_prompt_tokens": cfg.max_context_tokens,
        "max_prefix_tokens": cfg.max_context_tokens,
        "executor": executor,
        **cfg.env_kwargs,
    }
    envs = [gym.make("CodeGen-v0", **env_kwargs) for _ in range(cfg.episodes_per_iteration)]
    eval_envs = evaluation_envs(env_kwargs, len(envs)) if cfg.eval_every > 0 else []
    start_iteration = 0
    if resuming:
        optimizer.load_state_dict(state["optimizer"])
        curriculum.load_state_dict(state["curriculum"])
        start_iteration = state["iteration"] + 1
        torch.set_rng_state(state["torch_rng"])
        logger.info("resumed from %s at iteration %d", checkpoint, start_iteration)
    writer = make_writer(os.path.join(cfg.output_dir, "tensorboard"))
    bar = _progress(cfg.iterations, start_iteration, progress)
    generator = torch.Generator(device=device).manual_seed(cfg.seed * 1000 + start_iteration)
    pool = ThreadPoolExecutor(max_workers=len(envs), thread_name_prefix="codegym-episode")
    history: list[IterationStats] = []
    seed_rng = np.random.default_rng(cfg.seed + start_iteration)
    # One generator for the minibatch order that advances from iteration to iteration (a fresh
    # one per update would give every iteration the same order).
    shuffle_rng = np.random.default_rng([cfg.seed, start_iteration, 1])
    evaluations: list[tuple[int, StageEvaluation]] = []
    n_eval_episodes = len(stage_tasks(problems)) * max(cfg.eval_samples, 1)

    def evaluate(done: int) -> None:
        eval_bar = _progress(
            n_eval_episodes, 0, progress, f"fixed evaluation ({done} it)", "ep", leave=False
        )
        result = stage_evaluation(
            model, tokenizer, eval_envs, problems, samples=cfg.eval_samples,
            temperature=cfg.temperature, seed=cfg.seed,
            max_context=cfg.max_context_tokens, device=device, pool=pool,
            on_progress=None if eval_bar is None else lambda n: eval_bar.update(n),
        )  # fmt: skip
        if eval_bar is not None:
            eval_bar.close()
        evaluations.append((done, result))
        log_evaluation(writer, done, result)
        if on_evaluation is not None:
            on_evaluation(done, result)

    try:
        if cfg.eval_every > 0:
            evaluate(start_iteration)  # the starting policy, before any PPO update of this run
        for iteration in range(start_iteration, cfg.iterations):
            # -- 1. Rollout: one episode per env, sampled from the current policy ----------------
            seeds = [int(s) for s in seed_rng.integers(0, 2**31 - 1, size=len(envs))]
            episodes, timing = collect(
                model, tokenizer, envs, seeds=seeds, max_context=cfg.max_context_tokens,
                temperature=cfg.temperature, device=device, generator=generator, pool=pool,
            )  # fmt: skip
            usable = [e for e in episodes if not e.infra_error]  # sandbox failures are not scored
            t_update = time.perf_counter()
            if usable:
                batch, returns, stats = _update(
                    model, reference, optimizer, tokenizer, usable, cfg, device, shuffle_rng
                )
            else:  # nothing to learn from; the next iteration tries again
                logger.warning(
                    "iteration %d: all %d episodes were sandbox infrastructure errors; no update",
                    iteration,
                    len(episodes),
                )
                batch, returns, stats = None, None, {}
            t_update = time.perf_counter() - t_update

            # -- 5. Log and checkpoint ------------------------------------------------------------
            item = iteration_stats(iteration, episodes, usable, curriculum, stats, batch, returns)
            item.seconds = {
                "generation": timing.generation,
                "sandbox": timing.sandbox,
                "update": t_update,
            }
            history.append(item)
            log_iteration(writer, item)
            if on_iteration is not None:
                on_iteration(item)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    reward=f"{item.reward_mean:+.2f}", pass_rate=f"{item.pass_rate:.2f}"
                )
            last = iteration == cfg.iterations - 1
            if cfg.eval_every > 0 and ((iteration + 1) % cfg.eval_every == 0 or last):
                evaluate(iteration + 1)
            if (iteration + 1) % cfg.checkpoint_every == 0 or last:
                _save_checkpoint(
                    checkpoint, model, tokenizer, optimizer, curriculum, iteration, cfg
                )
    finally:
        pool.shutdown()
        executor.close()
        for env in envs + eval_envs:
            env.close()
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    resumed_from = start_iteration if resuming else None
    return TrainResult(cfg, history, cfg.output_dir, checkpoint, evaluations, resumed_from)


def training_problems(cfg: PPOConfig) -> list[Problem]:
    """The problems a run trains on: the split, easiest difficulty first, then by id, cut to
    ``cfg.problem_limit``."""
    order = {d: i for i, d in enumerate(Difficulty)}
    problems = sorted(
        resolve_problems(cfg.problems, cfg.split), key=lambda p: (order[p.difficulty], p.id)
    )
    return problems[: cfg.problem_limit]


def _reference_of(model: ValueHeadModel, cfg: PPOConfig) -> torch.nn.Module:
    """The frozen reference policy for the KL penalty: a copy of the starting policy (with LoRA,
    the same weights with the adapters switched off, so no second copy is held)."""
    if cfg.lora_r > 0:
        return model  # _score_batch disables the adapters for the reference pass
    reference = copy.deepcopy(model.lm).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    return reference


def _update(
    model: ValueHeadModel,
    reference: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    tokenizer: Any,
    usable: list[EpisodeRecord],
    cfg: PPOConfig,
    device: torch.device,
    shuffle_rng: np.random.Generator,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, float]]:
    """Phases 2-4 of an iteration on its scored episodes; returns the batch, returns and stats."""
    # -- 2. Score: log-probs and values under the policy, log-probs under the reference ----------
    batch = _score_batch(model, reference, tokenizer, usable, cfg, device)

    # -- 3. Advantages: KL-shaped token rewards, GAE, whitening, damping of negatives ------------
    final = batch["reward"] - batch["reward"].mean() if cfg.center_rewards else batch["reward"]
    rewards = token_rewards(
        final, batch["old_logprobs"], batch["ref_logprobs"], batch["mask"], cfg.kl_beta
    )
    advantages, returns = gae(rewards, batch["old_values"], batch["mask"], cfg.gamma, cfg.lam)
    if cfg.whiten_advantages:
        advantages = masked_whiten(advantages, batch["mask"])
    if cfg.negative_advantage_scale != 1.0:
        advantages = damp_negative(advantages, cfg.negative_advantage_scale)

    # -- 4. PPO update: clipped surrogate on FGO-masked tokens, clipped value loss ---------------
    # (eval mode throughout: dropout would make these log-probs differ from the rollout's)
    stats = _ppo_update(
        model, optimizer, tokenizer, usable, batch, advantages, returns, cfg, device, shuffle_rng
    )
    return batch, returns, stats


def _score_batch(
    model: ValueHeadModel,
    reference: torch.nn.Module,
    tokenizer: Any,
    episodes: list[EpisodeRecord],
    cfg: PPOConfig,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    contexts = [e.context for e in episodes]
    actions = [e.actions for e in episodes]
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        # At the rollout's temperature: the behaviour policy is softmax(logits / T), and the KL
        # penalty compares the tempered policy with the equally tempered reference.
        t = cfg.temperature
        now = score_sequences(model, contexts, actions, pad, device, temperature=t)
        if reference is model:  # LoRA: the reference is the base model without adapters
            with model.lm.disable_adapter():
                ref = score_sequences(
                    model, contexts, actions, pad, device, with_values=False, temperature=t
                )
        else:
            ref = score_sequences(
                reference, contexts, actions, pad, device, with_values=False, temperature=t
            )
    mask = now["mask"]  # (B, T)
    fgo = torch.zeros_like(mask)
    for i, e in enumerate(episodes):
        fgo[i, : len(e.actions)] = torch.as_tensor(
            e.token_mask if cfg.fgo else np.ones(len(e.actions)), dtype=mask.dtype
        )
    return {
        "old_logprobs": now["logprobs"],
        "old_values": now["values"],
        "ref_logprobs": ref["logprobs"],
        "mask": mask,
        "fgo_mask": fgo * mask,
        "reward": torch.tensor([e.reward for e in episodes], dtype=mask.dtype, device=device),
    }


def _ppo_update(
    model: ValueHeadModel,
    optimizer: torch.optim.Optimizer,
    tokenizer: Any,
    episodes: list[EpisodeRecord],
    batch: dict[str, torch.Tensor],
    advantages: torch.Tensor,
    returns: torch.Tensor,
    cfg: PPOConfig,
    device: torch.device,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Minibatch updates; ``rng`` shuffles the minibatches and advances across iterations."""
    sums: Counter[str] = Counter()
    steps = 0
    order = np.arange(len(episodes))
    for _ in range(cfg.ppo_epochs):
        rng.shuffle(order)
        for lo in range(0, len(order), cfg.minibatch_size):
            idx = order[lo : lo + cfg.minibatch_size]
            sub = [episodes[i] for i in idx]
            width = max(len(e.actions) for e in sub)
            cur = score_sequences(
                model,
                [e.context for e in sub],
                [e.actions for e in sub],
                tokenizer.pad_token_id,
                device,
                temperature=cfg.temperature,
            )
            t = torch.as_tensor(idx, device=device)
            old_lp = batch["old_logprobs"][t, :width]
            mask = batch["mask"][t, :width]
            pg_mask = batch["fgo_mask"][t, :width]
            pg, clip_frac = policy_loss(
                cur["logprobs"], old_lp, advantages[t, :width], pg_mask, cfg.clip_range
            )
            vf = value_loss(
                cur["values"],
                batch["old_values"][t, :width],
                returns[t, :width],
                mask,
                cfg.clip_range_value,
            )
            loss = pg + cfg.vf_coef * vf
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                sums["policy_loss"] += float(pg)
                sums["value_loss"] += float(vf)
                sums["entropy"] += float(masked_mean(cur["entropy"], mask))
                sums["approx_kl"] += float(approx_kl(cur["logprobs"], old_lp, mask))
                sums["clip_fraction"] += float(clip_frac)
            steps += 1
    return {k: v / max(steps, 1) for k, v in sums.items()}


def _save_checkpoint(
    path: str,
    model: ValueHeadModel,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer,
    curriculum: Curriculum,
    iteration: int,
    cfg: PPOConfig,
) -> None:
    tmp = path + ".tmp"
    model.save(tmp, tokenizer)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "curriculum": curriculum.state_dict(),
            "iteration": iteration,
            "torch_rng": torch.get_rng_state(),
        },
        os.path.join(tmp, "trainer_state.pt"),
    )
    with open(os.path.join(tmp, "config.codegym.json"), "w", encoding="utf-8") as f:
        # (env_kwargs may hold objects, an executor say: those are written as their repr)
        json.dump(cfg.to_dict(), f, indent=2, default=repr)
    if os.path.exists(path):
        import shutil

        shutil.rmtree(path)
    os.replace(tmp, path)
