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
        "sft_steps": 300,
        "sft_learning_rate": 2e-3,
        "iterations": 30,
        "episodes_per_iteration": 16,
        "max_new_tokens": 96,
        "max_context_tokens": 128,
        "learning_rate": 1e-4,
        "center_rewards": True,
        "whiten_advantages": False,
        "minibatch_size": 8,
        "ppo_epochs": 2,
    }
}
"""Named configurations. ``tiny`` runs on 2 CPU cores in minutes: 16 training problems (each is
seen often enough for the curriculum to move within 30 iterations), a short context, and a
supervised warm start on those problems' canonical completions."""


def train(config: PPOConfig, **kwargs: object):  # noqa: ANN201
    """Train with PPO; see :func:`codegym.agents.trainer.train`."""
    from codegym.agents.trainer import train as _train

    return _train(config, **kwargs)
