"""CCCS segmentation: cut a canonical solution before its conditional statements."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CONDITIONAL_NODES", "Segmentation", "segment"]

CONDITIONAL_NODES: tuple[type[ast.AST], ...] = tuple(
    getattr(ast, name)
    for name in ("If", "For", "AsyncFor", "While", "Try", "TryStar", "With", "AsyncWith", "Match")
    if hasattr(ast, name)
)
"""The statements CCCS cuts before: ``if`` (each ``elif`` counts as its own ``if``), ``for``,
``while``, ``try``, ``with`` (and their async forms), and ``match``. Comprehensions and conditional
expressions are expressions, not statements, and are never cut."""


@dataclass(frozen=True)
class Segmentation:
    """The stages of one canonical solution.

    ``n_stages = ceil(sqrt(E))`` for E conditional statements (at least 1). Stage 0 is the full task
    (no canonical prefix); stage ``s >= 1`` gives the solution's lines before ``cut_lines[s]``.
    Higher stages give longer prefixes; training starts at ``n_stages - 1``.
    """

    source: str
    conditional_lines: tuple[int, ...]
    cut_lines: tuple[int | None, ...]

    @property
    def n_stages(self) -> int:
        return len(self.cut_lines)

    def prefix(self, stage: int) -> str:
        """The canonical solution up to (not including) the cut line of ``stage``; "" for stage 0."""
        if not 0 <= stage < self.n_stages:
            raise IndexError(f"stage {stage} out of range 0..{self.n_stages - 1}")
        cut = self.cut_lines[stage]
        if cut is None:
            return ""
        return "".join(self.source.splitlines(keepends=True)[: cut - 1])

    def start_code(self, stage: int, starter_code: str = "") -> str:
        """The code an episode at ``stage`` starts from, ending in a newline (or ""): the prefix
        of ``stage``, or ``starter_code`` at stage 0 (the full task)."""
        start = self.prefix(stage) if stage > 0 else starter_code
        return start + "\n" if start and not start.endswith("\n") else start


@lru_cache(maxsize=8192)
def segment(source: str) -> Segmentation:
    """Find the conditional statements of ``source`` and place ceil(sqrt(E)) stages among them.

    The longest prefix cuts before the last conditional statement; earlier stages step back by
    about E / n_stages conditional statements each. Unparseable or condition-free sources have a
    single stage (the full task).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Segmentation(source, (), (None,))
    lines = sorted({node.lineno for node in ast.walk(tree) if isinstance(node, CONDITIONAL_NODES)})
    # An ``elif`` shares no line with its parent, so every conditional keeps its own cut point.
    count = len(lines)
    n_stages = max(1, math.ceil(math.sqrt(count)))
    cuts: list[int | None] = [None]
    for stage in range(1, n_stages):
        index = count - 1 - ((n_stages - 1 - stage) * count) // n_stages
        cuts.append(lines[index])
    return Segmentation(source, tuple(lines), tuple(cuts))
