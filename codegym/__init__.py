"""codegym: Gymnasium environments for reinforcement learning on code generation."""

from __future__ import annotations

__version__ = "0.1.0"
