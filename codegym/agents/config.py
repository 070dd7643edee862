"""Configuration of the reference PPO agent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from codegym.errors import ConfigError

__all__ = ["PPOConfig"]


@dataclass
class PPOConfig:
    """Everything a training run needs; every field has a default that runs on a laptop CPU."""

    model: str = "tiny"
    """A Hugging Face causal LM name or local path, or ``"tiny"`` for the locally built preset."""
    problems: str = "bundled"
    """Problem source (name or path) for the envs."""
    split: str | None = "train"
    """Split of ``problems`` to train on."""
    problem_limit: int | None = None
    """Train on the first ``problem_limit`` problems of the split (by id); None: all of them."""
    curriculum: str | int = "cccs"
    """``"cccs"`` (StepCoder), ``"none"`` (vanilla PPO, the "w/o CCCS" ablation) or a fixed stage."""
    curriculum_threshold: float = 0.5
    """CCCS: mean success over the window that moves a problem one stage toward the full task."""
    curriculum_window: int = 8
    """CCCS: episodes per moving average (and the least before a move)."""
    curriculum_replay: float = 0.0
    """CCCS: share of episodes started at a stage the problem already passed (never moving it),
    so batches keep some success once problems reach the hard stages; 0 is StepCoder's schedule."""
    fgo: bool = True
    """Fine-grained optimisation: the policy loss counts only tokens whose line some test executed.
    ``False`` uses an all-ones mask (the "w/o FGO" ablation)."""
    reward: str = "stepcoder"
    """Reward name (``codegym.rewards.REWARDS``)."""
    iterations: int = 20
    """PPO iterations (each: one batch of episodes, then ``ppo_epochs`` of updates)."""
    episodes_per_iteration: int = 16
    """Episodes (one per env) collected per iteration: the rollout batch."""
    max_new_tokens: int = 96
    """Token limit of an episode (the env truncates, and still scores, at this length)."""
    max_context_tokens: int = 448
    """Statement + prefix tokens given to the model; longer contexts keep their end."""
    temperature: float = 1.0
    """Sampling temperature during rollouts. PPO scores log-probabilities at the same temperature
    (``softmax(logits / T)``, the distribution actually sampled), and the KL penalty compares the
    tempered policy with the equally tempered reference."""
    learning_rate: float = 5e-5
    """Adam learning rate for the policy and value head."""
    ppo_epochs: int = 2
    """Passes over each rollout batch."""
    minibatch_size: int = 8
    """Episodes per gradient step."""
    clip_range: float = 0.2
    """PPO clipping of the probability ratio."""
    clip_range_value: float = 0.2
    """Clipping of the value update around the rollout's values."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    gamma: float = 1.0
    """Discount over tokens; 1 since the only task reward comes at the end."""
    lam: float = 0.95
    """GAE lambda."""
    center_rewards: bool = False
    """Subtract the batch's mean task reward before computing advantages (a per-batch baseline):
    a batch where every episode failed alike then pushes nothing, instead of pushing probability
    off every sampled token until the value head catches up."""
    whiten_advantages: bool = True
    """Normalise advantages over each batch. Off, advantages keep the reward's scale: better when
    batches are small and rewards mostly equal, where whitening would blow noise up to unit size."""
    negative_advantage_scale: float = 1.0
    """Factor on every negative advantage (after whitening); 1 is plain PPO. When most samples
    fail, pushing probability off their tokens, which they mostly share with the passing ones,
    flattens a peaked policy (entropy rises and long samples fail more); below 1 damps that push,
    0 learns only from tokens that did better than expected."""
    kl_beta: float = 0.05
    """KL penalty to the frozen reference policy, per token (StepCoder uses 0.05)."""
    max_grad_norm: float = 1.0
    """Gradient clipping."""
    seed: int = 0
    """Seed for torch, numpy and the envs."""
    device: str = "auto"
    """``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``."""
    torch_threads: int = 1
    """CPU threads for torch; one per process measured fastest on small CPU runs."""
    lora_r: int = 0
    """LoRA rank through ``peft`` for large models; 0 trains all weights."""
    sft_steps: int = 0
    """Supervised warm-start steps on the training problems' canonical solutions before PPO."""
    sft_learning_rate: float = 1e-3
    """Learning rate of the warm start."""
    eval_every: int = 0
    """The fixed evaluation: every training problem started at every curriculum stage (the full
    task included), the same starts every time, run before PPO, every ``eval_every`` iterations and
    after the last; 0: never. Unlike the rollouts' pass rate, which is measured wherever CCCS has
    moved each problem (and so drops when it moves one to a harder stage), this one can show
    progress. Logged as ``eval/*`` in TensorBoard and kept in ``TrainResult.evaluations``."""
    eval_samples: int = 0
    """Fixed evaluation: 0 decodes greedily (one episode per start); ``n > 0`` samples ``n``
    episodes per start at ``temperature`` from a generator seeded with ``seed``."""
    output_dir: str = "runs/codegym"
    """Where TensorBoard logs and checkpoints go."""
    checkpoint_every: int = 5
    """Save a checkpoint every this many iterations (and at the end)."""
    resume: bool = True
    """Continue from the latest checkpoint in ``output_dir`` when one exists."""
    sandbox_workers: int | None = None
    """Sandbox worker processes (default: one per core; with ``ray_address``, per node)."""
    ray_address: str | None = None
    """Run the sandbox on the Ray cluster at this address (``HOST:PORT``, ``ray://HOST:PORT`` or
    ``auto``), one actor with a warm pool per node, instead of on this machine alone. Needs
    ``pip install "codegym[ray]"``; see the docs' "Past one machine"."""
    cpu_time_limit: float = 2.0
    """CPU seconds per test in the sandbox."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``gymnasium.make("CodeGen-v0", ...)``."""

    def __post_init__(self) -> None:
        for name in (
            "iterations",
            "episodes_per_iteration",
            "max_new_tokens",
            "ppo_epochs",
            "minibatch_size",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"PPOConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "eval_samples", "sft_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"PPOConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ConfigError(f"PPOConfig.temperature must be > 0, got {self.temperature}")
        if not 0 < self.clip_range < 1:
            raise ConfigError(f"PPOConfig.clip_range must be in (0, 1), got {self.clip_range}")
        if not 0 <= self.negative_advantage_scale <= 1:
            raise ConfigError(
                "PPOConfig.negative_advantage_scale must be in [0, 1], got "
                f"{self.negative_advantage_scale}"
            )
        if self.kl_beta < 0:
            raise ConfigError(f"PPOConfig.kl_beta must be >= 0, got {self.kl_beta}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(
                f"PPOConfig.device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
