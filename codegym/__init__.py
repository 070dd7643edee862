"""codegym: Gymnasium environments for reinforcement learning on code generation.

``import codegym`` registers ``CodeGen-v0`` (token level), ``CodeGenLine-v0`` (line level) and
``CodeRepair-v0`` (whole programs, repaired over turns of test feedback)::

    import gymnasium as gym
    import codegym

    env = gym.make("CodeGen-v0")
"""

from __future__ import annotations

from codegym.envs import SUBMIT, CodeGenEnv, CodeGenLineEnv, CodeRepairEnv, register_envs

__version__ = "0.1.0"  # the only place the version is set: pyproject.toml reads it here
__all__ = ["SUBMIT", "CodeGenEnv", "CodeGenLineEnv", "CodeRepairEnv", "__version__"]

register_envs()
