"""PPO maths as pure tensor functions.

Shapes: ``B`` episodes, ``T`` generated-token positions (right-padded). ``mask`` marks real
tokens (1) and padding (0); every mean below is over real tokens only.
"""

from __future__ import annotations

import torch

__all__ = [
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "token_rewards",
    "gae",
    "damp_negative",
    "policy_loss",
    "value_loss",
    "approx_kl",
    "explained_variance",
]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is 1; 0 when the mask is empty."""  # x, mask: (B, T)
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(x, mask)
    return masked_mean((x - mean) ** 2, mask)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit variance over the masked entries; padding stays 0."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask.to(x.dtype)


def token_rewards(
    final_reward: torch.Tensor,  # (B,)
    logprobs: torch.Tensor,  # (B, T) policy at rollout time
    ref_logprobs: torch.Tensor,  # (B, T) frozen reference
    mask: torch.Tensor,  # (B, T)
    kl_beta: float,
) -> torch.Tensor:
    """Per-token rewards: ``-beta * (log pi - log pi_ref)`` everywhere, plus the task reward on
    each episode's last real token."""
    rewards = -kl_beta * (logprobs - ref_logprobs) * mask  # (B, T)
    last = mask.sum(dim=1).long() - 1  # (B,)
    has_tokens = last >= 0
    rows = torch.arange(mask.shape[0], device=mask.device)[has_tokens]
    rewards[rows, last[has_tokens]] += final_reward[has_tokens]
    return rewards


def gae(
    rewards: torch.Tensor,  # (B, T)
    values: torch.Tensor,  # (B, T)
    mask: torch.Tensor,  # (B, T)
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation; returns ``(advantages, returns)``, both (B, T).

    The value after an episode's last real token is 0 (the episode ends there).
    """
    mask = mask.to(values.dtype)
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])  # (B,)
    running = torch.zeros_like(values[:, 0])  # (B,)
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        running = running * mask[:, t]  # padding carries nothing backwards
        advantages[:, t] = running
        next_value = values[:, t] * mask[:, t]
    returns = advantages + values
    return advantages * mask, returns * mask


def damp_negative(advantages: torch.Tensor, scale: float) -> torch.Tensor:
    """``advantages`` (B, T) with every negative entry multiplied by ``scale`` (positives
    unchanged): ``scale < 1`` weakens the push off the tokens of worse-than-expected samples."""
    return torch.where(advantages < 0, advantages * scale, advantages)


def policy_loss(
    logprobs: torch.Tensor,  # (B, T) current policy
    old_logprobs: torch.Tensor,  # (B, T) rollout policy
    advantages: torch.Tensor,  # (B, T)
    mask: torch.Tensor,  # (B, T): real tokens times the FGO mask
    clip_range: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate loss over masked tokens; returns ``(loss, clip_fraction)``."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clip_fraction = masked_mean((torch.abs(ratio - 1.0) > clip_range).to(logprobs.dtype), mask)
    return loss, clip_fraction


def value_loss(
    values: torch.Tensor,  # (B, T) current value head
    old_values: torch.Tensor,  # (B, T) at rollout time
    returns: torch.Tensor,  # (B, T)
    mask: torch.Tensor,  # (B, T)
    clip_range_value: float,
) -> torch.Tensor:
    """Clipped value loss (half squared error), over real tokens."""
    clipped = old_values + torch.clamp(values - old_values, -clip_range_value, clip_range_value)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def approx_kl(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The low-variance estimator ``E[(r - 1) - log r]`` of KL(old || new)."""
    log_ratio = logprobs - old_logprobs
    return masked_mean(torch.exp(log_ratio) - 1.0 - log_ratio, mask)


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) over real tokens."""
    var = masked_var(returns, mask)
    if var.item() == 0:
        return float("nan")
    return float(1.0 - masked_var(returns - values, mask) / var)
