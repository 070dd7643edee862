"""APPS in its three layouts (APPS+ ``data.json``, ``codeparrot/apps`` rows, the original folder
per problem) and the ``"apps"`` source, which reads ``codeparrot/apps`` through ``datasets``."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from codegym.errors import MissingDependencyError, ProblemFormatError, ProblemLoadError
from codegym.problems.loaders._registry import (
    ID_KEYS,
    SOLUTION_KEYS,
    STATEMENT_KEYS,
    collect,
    first_of,
    register_dir_layout,
    register_layout,
    register_source,
    require_object,
    subdirs,
)
from codegym.problems.model import Problem, TestMode, apps_call_comparator
from codegym.sandbox import TestCase

__all__ = ["load_apps_dir"]

# -- APPS+ ------------------------------------------------------------------------------------------


def _parameterless_entry(starter_code: str) -> str | None:
    """``main`` for starter code like ``def main():``; None for anything else."""
    try:
        tree = ast.parse(starter_code.rstrip() + "\n    pass\n")
    except SyntaxError:
        return None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if (
        len(funcs) == 1
        and not funcs[0].args.args
        and not funcs[0].args.vararg
        and not funcs[0].args.kwonlyargs
    ):
        return funcs[0].name
    return None


def _as_text(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value) + ("\n" if value and not value[-1].endswith("\n") else "")
    return value


def _apps_plus_problem(record: Any, position: int | str) -> Problem:
    require_object(record, position)
    pid = first_of(record, ID_KEYS)
    pid = str(pid) if pid is not None else None
    statement = first_of(record, STATEMENT_KEYS)
    if not isinstance(statement, str):
        raise ProblemFormatError(
            f"no statement (looked for {', '.join(STATEMENT_KEYS)})",
            problem_id=pid,
            field="statement",
            position=position,
        )
    solution = first_of(record, SOLUTION_KEYS)
    if isinstance(solution, list):
        solution = solution[0] if solution else None
    if not isinstance(solution, str):
        raise ProblemFormatError(
            "missing or not a string", problem_id=pid, field="canonical_solution", position=position
        )
    inputs, outputs = record.get("inputs"), record.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ProblemFormatError(
            "'inputs' and 'outputs' must be lists",
            problem_id=pid,
            field="inputs",
            position=position,
        )
    if len(inputs) != len(outputs):
        raise ProblemFormatError(
            f"{len(inputs)} inputs but {len(outputs)} outputs",
            problem_id=pid,
            field="outputs",
            position=position,
        )
    starter = record.get("starter_code") or ""
    entry = _parameterless_entry(starter) if starter else None
    tests = []
    for i, (stdin, out) in enumerate(zip(inputs, outputs)):
        stdin, out = _as_text(stdin), _as_text(out)
        if not isinstance(stdin, str) or not isinstance(out, str):
            raise ProblemFormatError(
                "stdin/stdout tests must be strings",
                problem_id=pid,
                field=f"inputs[{i}]",
                position=position,
            )
        tests.append(TestCase.stdio(stdin, out, entry=entry))
    return Problem(
        id=pid or f"apps-plus-{position}",
        statement=statement,
        tests=tuple(tests),
        canonical_solution=solution,
        difficulty=record.get("difficulty") or "interview",
        mode=TestMode.STDIO,
        starter_code=starter,
        fn_name=entry,
        source="apps+",
    )


# -- APPS ------------------------------------------------------------------------------------------


def _loads_maybe(value: Any, pid: str | None, field: str, position: int | str) -> Any:
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ProblemFormatError(
                f"invalid JSON string: {exc}", problem_id=pid, field=field, position=position
            ) from exc
    return value


def _apps_problem(
    pid: str,
    question: str,
    solutions: Any,
    io: Any,
    starter: str,
    difficulty: Any,
    position: int | str,
    split: str | None,
) -> Problem:
    if (
        not isinstance(io, dict)
        or not isinstance(io.get("inputs"), list)
        or not isinstance(io.get("outputs"), list)
    ):
        raise ProblemFormatError(
            "needs 'inputs' and 'outputs' lists",
            problem_id=pid,
            field="input_output",
            position=position,
        )
    if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
        raise ProblemFormatError(
            "must be a list of strings", problem_id=pid, field="solutions", position=position
        )
    fn_name = io.get("fn_name")
    inputs, outputs = io["inputs"], io["outputs"]
    if len(inputs) != len(outputs):
        raise ProblemFormatError(
            f"{len(inputs)} inputs but {len(outputs)} outputs",
            problem_id=pid,
            field="input_output",
            position=position,
        )
    if fn_name:
        tests = tuple(
            TestCase.call(fn_name, a if isinstance(a, list) else [a], o)
            for a, o in zip(inputs, outputs)
        )
        mode, comparator = TestMode.CALL, apps_call_comparator
    else:
        tests = tuple(TestCase.stdio(_as_text(a), _as_text(o)) for a, o in zip(inputs, outputs))
        mode, comparator = TestMode.STDIO, None
    return Problem(
        id=pid,
        statement=question,
        tests=tests,
        canonical_solution=solutions[0] if solutions else "",
        difficulty=difficulty or "interview",
        mode=mode,
        starter_code=starter or "",
        fn_name=fn_name,
        source="apps",
        split=split,
        comparator=comparator,
    )


def _apps_row_problem(record: Any, position: int | str, split: str | None) -> Problem:
    require_object(record, position)
    raw_id = first_of(record, ID_KEYS)
    pid = str(raw_id) if raw_id is not None else f"apps-{position}"
    if split:  # codeparrot/apps numbers each split from 0
        pid = f"{split}/{pid}"
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ProblemFormatError(
            "missing or empty", problem_id=pid, field="question", position=position
        )
    solutions = _loads_maybe(record.get("solutions", "[]"), pid, "solutions", position) or []
    io = _loads_maybe(record.get("input_output"), pid, "input_output", position)
    return _apps_problem(
        pid,
        question,
        solutions,
        io,
        record.get("starter_code") or "",
        record.get("difficulty"),
        position,
        split,
    )


def load_apps_dir(path: Path, *, skip_invalid: bool = False) -> list[Problem]:
    """The original APPS layout: one folder per problem (``question.txt``, ``input_output.json``,
    ``solutions.json``, ``metadata.json``, optional ``starter_code.py``)."""
    folders = (
        [path]
        if (path / "question.txt").exists()
        else [d for d in subdirs(path) if (d / "question.txt").exists()]
    )
    split = path.name if path.name in ("train", "test") else None

    def build(folder: Path, position: int | str) -> Problem:
        pid = f"{split}/{folder.name}" if split else folder.name
        question = (folder / "question.txt").read_text(encoding="utf-8")

        def read_json(name: str, default: Any) -> Any:
            file = folder / name
            if not file.exists():
                return default
            try:
                return json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ProblemFormatError(
                    f"invalid JSON: {exc}", problem_id=pid, field=name, position=position
                ) from exc

        io = read_json("input_output.json", None)
        if io is None:
            raise ProblemFormatError(
                "is missing", problem_id=pid, field="input_output.json", position=position
            )
        solutions = read_json("solutions.json", [])
        meta = read_json("metadata.json", {})
        starter_file = folder / "starter_code.py"
        starter = starter_file.read_text(encoding="utf-8") if starter_file.exists() else ""
        difficulty = meta.get("difficulty") if isinstance(meta, dict) else None
        return _apps_problem(pid, question, solutions, io, starter, difficulty, position, split)

    return collect(
        ((str(f.relative_to(path.parent)), f) for f in folders),
        lambda f, pos: build(f, pos),
        str(path),
        skip_invalid,
    )


def _load_apps_hub(split: str | None = None, skip_invalid: bool = False) -> list[Problem]:
    try:
        import datasets  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "datasets (for the 'apps' source from the hub)", "apps"
        ) from exc
    from datasets import load_dataset

    splits = [split] if split else ["train", "test"]
    problems: list[Problem] = []
    for name in splits:
        try:
            rows = load_dataset("codeparrot/apps", split=name, trust_remote_code=True)
        except Exception as exc:
            raise ProblemLoadError(
                "apps",
                message=f"could not load codeparrot/apps from the hub ({type(exc).__name__}: {exc}); "
                "download it where a hub is reachable and pass the local path instead: "
                "codegym.problems.load('path/to/apps/train') or a rows .jsonl",
            ) from exc
        problems += collect(
            ((i, dict(r)) for i, r in enumerate(rows)),
            lambda r, pos, s=name: _apps_row_problem(r, pos, split=s),
            f"apps/{name}",
            skip_invalid,
        )
    return problems


register_layout(
    "apps_rows",
    lambda keys: "input_output" in keys and bool({"question", "solutions"} & keys),
    lambda record, position: _apps_row_problem(record, position, split=None),
    expects="question, solutions, input_output",
    title="APPS rows",
    priority=20,
)
register_layout(
    "apps_plus",
    lambda keys: {"inputs", "outputs"} <= keys and bool(set(SOLUTION_KEYS) & keys),
    _apps_plus_problem,
    expects="canonical_solution, inputs, outputs, a statement, difficulty, id",
    title="APPS+ data.json",
    priority=40,
)
register_dir_layout(
    "apps_dir",
    lambda path: (
        (path / "question.txt").exists()
        or any((child / "question.txt").exists() for child in subdirs(path))
    ),
    load_apps_dir,
)
register_source("apps", _load_apps_hub)
