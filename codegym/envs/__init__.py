"""The Gymnasium envs: ``CodeGen-v0`` (token level), ``CodeGenLine-v0`` (line level) and
``CodeRepair-v0`` (whole programs, repaired over turns of test feedback)."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from codegym.envs.base import CodeEnv
from codegym.envs.core import Coverage, EpisodeCore, line_mask
from codegym.envs.line_env import LINE_CHARSET, SUBMIT, CodeGenLineEnv
from codegym.envs.repair_env import CodeRepairEnv
from codegym.envs.token_env import CodeGenEnv
from codegym.envs.tokenizer import CodeTokenizer, HFTokenizer, Tokenizer, as_tokenizer

__all__ = [
    "Coverage",
    "CodeEnv",
    "CodeGenEnv",
    "CodeGenLineEnv",
    "CodeRepairEnv",
    "CodeTokenizer",
    "EpisodeCore",
    "HFTokenizer",
    "LINE_CHARSET",
    "SUBMIT",
    "Tokenizer",
    "as_tokenizer",
    "line_mask",
    "register_envs",
]

ENV_IDS: dict[str, tuple[str, int | None]] = {
    "CodeGen-v0": ("codegym.envs.token_env:CodeGenEnv", 1024),
    "CodeGenLine-v0": ("codegym.envs.line_env:CodeGenLineEnv", 64),
    # No max_episode_steps: a TimeLimit would count the turns a sandbox failure voids.
    "CodeRepair-v0": ("codegym.envs.repair_env:CodeRepairEnv", None),
}


def register_envs() -> None:
    """Register codegym's env ids with Gymnasium (idempotent; done on ``import codegym``)."""
    for env_id, (entry_point, steps) in ENV_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point, max_episode_steps=steps)
