"""Problem sources and file layouts: the registry (``_registry``) and one module per layout.

Importing this package registers the built-in sources (``bundled``, ``humaneval``, ``apps``) and
layouts. To add a layout, write a module that calls ``register_layout`` (or
``register_dir_layout``) and import it below.
"""

from __future__ import annotations

from codegym.problems.loaders import _apps, _bundled, _humaneval, _verl  # noqa: F401  (register)
from codegym.problems.loaders._apps import load_apps_dir
from codegym.problems.loaders._bundled import bundled_split
from codegym.problems.loaders._registry import (
    detect_layout,
    load,
    load_path,
    register_dir_layout,
    register_layout,
    register_source,
    resolve_problems,
    sources,
)
from codegym.problems.model import apps_call_comparator

__all__ = [
    "apps_call_comparator",
    "bundled_split",
    "detect_layout",
    "load",
    "load_apps_dir",
    "load_path",
    "register_dir_layout",
    "register_layout",
    "register_source",
    "resolve_problems",
    "sources",
]
