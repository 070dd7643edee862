"""Experience collection through the registered envs, with batched generation and a KV cache.

Every token goes through ``env.step``: the envs decide termination, run the sandbox and return the
reward and the FGO masks. Steps that can end an episode (the end-of-sequence token, or the token
that reaches the env's limit) are deferred and run together on a thread pool once the batch stops
generating, so the sandbox runs of a batch overlap instead of queueing behind the model.
"""

from __future__ import annotations

import inspect
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from codegym.agents.policy import SEPARATOR, ValueHeadModel, build_context, pad_batch

__all__ = ["EpisodeRecord", "collect"]


@dataclass
class EpisodeRecord:
    """One finished episode, as the trainer needs it."""

    problem_id: str
    difficulty: str
    stage: int
    n_stages: int
    context: list[int]
    actions: list[int]
    reward: float
    outcome: str
    passed: bool
    token_mask: np.ndarray
    infra_error: bool
    truncated: bool
    info: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class RolloutTiming:
    generation: float = 0.0
    sandbox: float = 0.0


def _cache_argument(lm: Any) -> str:
    """The keyword a model's forward takes its KV cache by (``cache`` in newer transformers)."""
    params = inspect.signature(lm.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


@torch.no_grad()
def collect(
    model: ValueHeadModel,
    tokenizer: Any,
    envs: list[gym.Env],
    *,
    seeds: list[int | None],
    options: list[dict[str, Any] | None] | None = None,
    max_context: int = 448,
    temperature: float = 1.0,
    greedy: bool = False,
    device: torch.device,
    generator: torch.Generator | None = None,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[list[EpisodeRecord], RolloutTiming]:
    """Run one episode in each env; returns the episodes and where the time went."""
    timing = RolloutTiming()
    start = time.perf_counter()
    lm = model.lm if isinstance(model, ValueHeadModel) else model
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    sep = tokenizer.encode(SEPARATOR, add_special_tokens=False)
    n = len(envs)
    options = options or [None] * n
    contexts, starts = [], []
    for env, seed, opt in zip(envs, seeds, options):
        obs, info = env.reset(seed=seed, options=opt)
        statement = obs["prompt"][: int(obs["prompt_len"][0])].tolist()
        prefix = obs["prefix"][: int(obs["prefix_len"][0])].tolist()
        contexts.append(build_context(statement, prefix, sep, max_context))
        starts.append(info)
    limits = [env.unwrapped.max_steps for env in envs]
    actions: list[list[int]] = [[] for _ in range(n)]
    finished = [False] * n
    results: list[tuple[float, bool, bool, dict[str, Any]] | None] = [None] * n
    deferred: list[tuple[int, int]] = []

    cache_arg = _cache_argument(lm)
    input_ids, attention_mask, position_ids, _ = pad_batch(
        contexts, [[] for _ in range(n)], pad, device
    )
    out = lm(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=True,
    )
    past, logits = _cache_of(out), out.logits[:, -1, :]
    positions = position_ids[:, -1]
    while not all(finished):
        if greedy:
            tokens = logits.argmax(dim=-1)
        else:
            # The same scaling as ``score_sequences(temperature=...)``, which PPO scores with.
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        token_list = tokens.tolist()
        for i, token in enumerate(token_list):
            if finished[i]:
                continue
            actions[i].append(token)
            if token == eos or len(actions[i]) >= limits[i]:
                finished[i] = True
                deferred.append((i, token))
            else:
                envs[i].step(token)
        if all(finished):
            break
        step_mask = torch.tensor(
            [0 if f else 1 for f in finished], device=device, dtype=attention_mask.dtype
        )
        attention_mask = torch.cat([attention_mask, step_mask[:, None]], dim=1)
        positions = positions + 1
        out = lm(
            input_ids=tokens[:, None],
            attention_mask=attention_mask,
            position_ids=positions[:, None],
            use_cache=True,
            **{cache_arg: past},
        )
        past, logits = _cache_of(out), out.logits[:, -1, :]
    timing.generation = time.perf_counter() - start

    start = time.perf_counter()

    def finish(item: tuple[int, int]) -> tuple[int, tuple[float, bool, bool, dict[str, Any]]]:
        i, token = item
        _, reward, terminated, truncated, info = envs[i].step(token)
        return i, (float(reward), terminated, truncated, info)

    mapped = pool.map(finish, deferred) if pool is not None else map(finish, deferred)
    for i, res in mapped:
        results[i] = res
    timing.sandbox = time.perf_counter() - start

    episodes = []
    for i in range(n):
        reward, terminated, truncated, info = results[i]  # type: ignore[misc]
        mask = np.asarray(info["coverage"]["token_mask"], dtype=np.float32)
        assert len(mask) == len(actions[i]), (len(mask), len(actions[i]))
        episodes.append(
            EpisodeRecord(
                problem_id=info["problem_id"],
                difficulty=info["difficulty"],
                stage=info["stage"],
                n_stages=info["n_stages"],
                context=contexts[i],
                actions=actions[i],
                reward=reward,
                outcome=info["outcome"],
                passed=bool(info["passed"]),
                token_mask=mask,
                infra_error=bool(info["infra_error"]),
                truncated=truncated,
                info=info,
            )
        )
    return episodes, timing
