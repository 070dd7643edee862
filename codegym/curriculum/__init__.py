"""CCCS, the Curriculum of Code Completion Subtasks: segmentation, schedule, problem samplers."""

from __future__ import annotations

from codegym.curriculum.schedule import Curriculum
from codegym.curriculum.segment import CONDITIONAL_NODES, Segmentation, segment

__all__ = ["CONDITIONAL_NODES", "Curriculum", "Segmentation", "segment"]
