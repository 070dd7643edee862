"""Programming problems with unit tests: the model, the bundled set, loaders and validation."""

from __future__ import annotations

from codegym.problems.loaders import (
    bundled_split,
    detect_layout,
    load,
    load_path,
    register_source,
    resolve_problems,
    sources,
)
from codegym.problems.model import (
    COMPARATORS,
    Difficulty,
    Problem,
    TestMode,
    apps_call_comparator,
    problem_from_record,
    problem_to_record,
)

__all__ = [
    "COMPARATORS",
    "Difficulty",
    "Problem",
    "TestMode",
    "apps_call_comparator",
    "bundled_split",
    "detect_layout",
    "load",
    "load_path",
    "problem_from_record",
    "problem_to_record",
    "register_source",
    "resolve_problems",
    "sources",
]
