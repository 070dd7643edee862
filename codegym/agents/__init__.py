"""The reference agent: StepCoder PPO (CCCS + FGO) for Hugging Face causal LMs.

The only codegym package that imports torch and transformers (``pip install "codegym[agents]"``).
"""

from __future__ import annotations

from codegym.agents.config import PPOConfig

__all__ = ["PPOConfig", "train", "PRESETS"]

PRESETS: dict[str, dict[str, object]] = {
    "tiny": {
        "model": "tiny",
        "problem_limit": 16,
        "curriculum_window": 4,
        "sft_steps": 250,
        "sft_learning_rate": 2e-3,
        "iterations": 12,
        "episodes_per_iteration": 64,
        "max_new_tokens": 256,
        "max_context_tokens": 128,
        "temperature": 0.3,
        "reward": "binary",
        "learning_rate": 5e-5,
        "lam": 1.0,
        "center_rewards": True,
        "whiten_advantages": False,
        "negative_advantage_scale": 0.0,
        "vf_coef": 0.0,
        "minibatch_size": 16,
        "ppo_epochs": 2,
        "eval_every": 4,
        "eval_samples": 8,
    }
}
"""Named configurations. ``tiny`` runs on 2 CPU cores in minutes: 16 training problems, a short
context, and a supervised warm start on those problems' canonical completions (250 steps: enough
that some full-task samples pass, so PPO has full-task successes to learn from; after 200, seeds
1 and 2 passed one full-task sample in 128, after 300 seed 0 passed 86%). Rollouts sample at
temperature 0.3, and PPO scores at the same temperature. 256 new tokens fit every full solution.
PPO learns from what passed: the binary reward centred on the batch's mean, the value head off
(``vf_coef = 0``, so each token's advantage is its episode's centred reward plus the KL terms)
and negative advantages dropped (``negative_advantage_scale = 0``). With every advantage kept,
the many failed samples push down tokens they share with the passing ones, the policy flattens
and the full task gains least or falls; with the value head trained, dropping the negatives
collapsed the policy. Batches of 64 episodes at 5e-5, 12 iterations. See docs/agent.md for the
figures."""


def train(config: PPOConfig, **kwargs: object):  # noqa: ANN201
    """Train with PPO; see :func:`codegym.agents.trainer.train`."""
    from codegym.agents.trainer import train as _train

    return _train(config, **kwargs)
