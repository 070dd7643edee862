"""pass@k of a model on a problem source, sampling through the env from the full task (stage 0)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import gymnasium as gym
import torch

import codegym  # noqa: F401  (registers the env ids)
from codegym.agents.policy import load_policy
from codegym.agents.rollout import collect
from codegym.envs.core import resolve_problems
from codegym.evaluation import EvalReport, evaluate_programs
from codegym.problems import Problem
from codegym.sandbox import Executor

__all__ = ["evaluate_model"]


def evaluate_model(
    model_path: str,
    *,
    problems: str | list[Problem] = "bundled",
    split: str | None = "test",
    n_samples: int = 1,
    ks: Iterable[int] = (1,),
    greedy: bool = True,
    temperature: float = 0.8,
    max_new_tokens: int = 256,
    max_context_tokens: int = 448,
    batch_size: int = 16,
    device: str = "auto",
    seed: int = 0,
) -> EvalReport:
    """Generate ``n_samples`` programs per problem (greedy: one) and compute pass@k by difficulty."""
    dev = torch.device(
        "cuda"
        if device == "auto" and torch.cuda.is_available()
        else ("cpu" if device == "auto" else device)
    )
    model, tokenizer = load_policy(model_path, dev)
    model.eval()
    pool = resolve_problems(problems, split)
    n_samples = 1 if greedy else n_samples
    executor = Executor()
    env_kwargs = {
        "problems": pool,
        "split": None,
        "tokenizer": tokenizer,
        "curriculum": "none",
        "max_new_tokens": max_new_tokens,
        "max_prompt_tokens": max_context_tokens,
        "max_prefix_tokens": max_context_tokens,
        "executor": executor,
    }
    envs = [gym.make("CodeGen-v0", **env_kwargs) for _ in range(batch_size)]
    generator = torch.Generator(device=dev).manual_seed(seed)
    wanted = [p.id for p in pool for _ in range(n_samples)]
    samples: dict[str, list[str]] = defaultdict(list)
    try:
        for lo in range(0, len(wanted), batch_size):
            ids = wanted[lo : lo + batch_size]
            batch_envs = envs[: len(ids)]
            episodes, _ = collect(
                model, tokenizer, batch_envs, seeds=[seed + lo + i for i in range(len(ids))],
                options=[{"problem_id": pid} for pid in ids], max_context=max_context_tokens,
                temperature=temperature, greedy=greedy, device=dev, generator=generator,
            )  # fmt: skip
            for e in episodes:
                samples[e.problem_id].append(e.info["program"])
        return evaluate_programs(pool, samples, ks=ks, executor=executor, coverage=True)
    finally:
        executor.close()
        for env in envs:
            env.close()
