"""Isolated, resource-limited, coverage-aware execution of untrusted Python programs.

``run(program, tests)`` runs a program against unit tests and returns an :class:`ExecutionResult`
with an :class:`Outcome`, per-test results, the pass fraction and the executed statement lines of
the program. See ``docs/sandbox.md`` for the threat model. This package knows nothing of problems,
envs or torch. :class:`RayExecutor` runs the same on every node of a Ray cluster (ray is
imported only when one is made).
"""

from __future__ import annotations

from codegym.sandbox.compare import Comparator, compare_stdout, compare_values, default_comparator
from codegym.sandbox.executor import Executor, default_executor, run, run_many
from codegym.sandbox.lines import normalise_lines, statement_lines, statement_map
from codegym.sandbox.ray import RayExecutor
from codegym.sandbox.types import ExecutionResult, Limits, Outcome, TestCase, TestKind, TestResult

__all__ = [
    "Comparator",
    "ExecutionResult",
    "Executor",
    "Limits",
    "Outcome",
    "RayExecutor",
    "TestCase",
    "TestKind",
    "TestResult",
    "compare_stdout",
    "compare_values",
    "default_comparator",
    "default_executor",
    "normalise_lines",
    "run",
    "run_many",
    "statement_lines",
    "statement_map",
]
