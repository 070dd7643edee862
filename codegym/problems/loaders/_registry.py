"""Problem sources: one registry of named sources, and layout detection for paths.

``load(source)`` accepts a registered name (``"bundled"``, ``"humaneval"``, ``"apps"``) or a path to
a file or directory whose layout is detected: codegym JSONL, APPS+ ``data.json``, APPS rows
(``codeparrot/apps``: ``question``, ``solutions``, ``input_output``), the original APPS directory
layout, or HumanEval JSONL(.gz). Bad records are all reported together with their positions;
``skip_invalid=True`` drops them instead, with a warning that counts them.

Each layout lives in a module of its own next to this one and registers itself here:
:func:`register_layout` for files of records (a test on a record's keys and a builder of one
problem), :func:`register_dir_layout` for folder layouts. A new layout needs only its module and
an import in ``codegym/problems/loaders/__init__.py``.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codegym.errors import ConfigError, ProblemFormatError, ProblemLoadError, UnknownNameError
from codegym.problems.model import Problem, problem_from_record

__all__ = [
    "load",
    "resolve_problems",
    "register_source",
    "sources",
    "detect_layout",
    "load_path",
    "register_layout",
    "register_dir_layout",
]

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


def resolve_problems(
    problems: str | os.PathLike[str] | Sequence[Problem] | None, split: str | None
) -> list[Problem]:
    """What an env or trainer is given as its problems, as a list: a source name or a path
    (:func:`load`), or a list of problems; filtered to ``split`` (problems without one stay).

    Raises :class:`ConfigError` for an item that is not a :class:`Problem` or an empty result.
    """
    if problems is None or isinstance(problems, (str, os.PathLike)):
        out = load(problems, split=split)
    else:
        out = list(problems)
        for i, p in enumerate(out):
            if not isinstance(p, Problem):
                raise ConfigError(
                    f"problems[{i}] is a {type(p).__name__}, not a codegym.problems.Problem"
                )
        if split is not None:
            out = [p for p in out if p.split in (split, None)]
    if not out:
        raise ConfigError(f"no problems to train on (problems={problems!r}, split={split!r})")
    return out


# -- layouts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A file layout: which records it claims, how it builds a problem, what it expects."""

    name: str
    match: Callable[[set[str]], bool]
    """True for the key set of a record of this layout."""
    build: Callable[[Any, int | str], Problem]
    """``build(record, position)``: one problem, or :class:`ProblemFormatError`."""
    expects: str
    """The keys it needs, for the error that names no layout."""
    title: str
    """What people call it (``"APPS+ data.json"``), for that error."""
    priority: int
    """Lower first where several layouts match a record."""


@dataclass(frozen=True)
class DirLayout:
    name: str
    match: Callable[[Path], bool]
    load: Callable[..., list[Problem]]
    """``load(path, *, skip_invalid)``."""


_LAYOUTS: list[Layout] = []
_DIR_LAYOUTS: list[DirLayout] = []


def register_layout(
    name: str,
    match: Callable[[set[str]], bool],
    build: Callable[[Any, int | str], Problem],
    *,
    expects: str,
    title: str | None = None,
    priority: int = 100,
) -> None:
    """Add (or replace) a file layout that :func:`detect_layout` and :func:`load_path` know.

    Every record of a file votes for the first layout, by ``priority``, whose ``match`` accepts
    its keys; the layout with most votes reads the file. The built-in layouts have priorities
    10-40, so a new one is tried after them unless it says otherwise.
    """
    _LAYOUTS[:] = [layout for layout in _LAYOUTS if layout.name != name]
    _LAYOUTS.append(Layout(name, match, build, expects, title or name, priority))
    _LAYOUTS.sort(key=lambda layout: layout.priority)


def register_dir_layout(
    name: str, match: Callable[[Path], bool], load: Callable[..., list[Problem]]
) -> None:
    """Add (or replace) a folder layout: ``match(path)`` claims a folder, ``load`` reads it."""
    _DIR_LAYOUTS[:] = [layout for layout in _DIR_LAYOUTS if layout.name != name]
    _DIR_LAYOUTS.append(DirLayout(name, match, load))


def detect_layout(path: Path) -> str:
    """Name the layout of ``path`` (``codegym``, ``apps_plus``, ``apps_rows``, ``apps_dir``,
    ``humaneval``, or one registered since)."""
    for dir_layout in _DIR_LAYOUTS:  # folders, and files a suffix names (parquet)
        try:
            if dir_layout.match(path):
                return dir_layout.name
        except OSError:  # a folder layout asked about a file
            continue
    if path.is_dir():
        for name in ("data.json", "problems.jsonl"):
            if (path / name).exists():
                return detect_layout(path / name)
        raise ProblemLoadError(
            str(path),
            message=f"{path}: no known layout: expected APPS problem folders with question.txt, or a data.json",
        )
    records = read_json_records(path)
    votes = Counter(_match_layout(set(r)) for r in records if isinstance(r, dict))
    votes.pop(None, None)
    if votes:  # every record votes, so one malformed record does not hide the layout
        return votes.most_common(1)[0][0]
    return _unknown_layout(path, set(next((r for r in records if isinstance(r, dict)), {})))


def _match_layout(keys: set[str]) -> str | None:
    return next((layout.name for layout in _LAYOUTS if layout.match(keys)), None)


def _unknown_layout(path: Path, keys: set[str]) -> str:
    lines = "; ".join(f"{layout.title}: {layout.expects}" for layout in _LAYOUTS)
    raise ProblemLoadError(
        str(path),
        message=f"{path}: unknown layout; found keys {sorted(keys) or 'none'}; expected one of {lines}",
    )


def subdirs(path: Path) -> Iterator[Path]:
    return (p for p in sorted(path.iterdir()) if p.is_dir())


def load_path(path: Path, *, skip_invalid: bool = False) -> list[Problem]:
    """Load a file or directory of any supported layout."""
    layout = detect_layout(path)
    for dir_layout in _DIR_LAYOUTS:
        if dir_layout.name == layout:
            return dir_layout.load(path, skip_invalid=skip_invalid)
    if path.is_dir():
        path = path / ("data.json" if (path / "data.json").exists() else "problems.jsonl")
    build = next(x.build for x in _LAYOUTS if x.name == layout)
    return collect(enumerate(read_json_records(path)), build, str(path), skip_invalid)


# -- reading records --------------------------------------------------------------------------------


def read_json_records(path: Path) -> list[Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        text = f.read()
    stem = path.name[:-3] if path.suffix == ".gz" else path.name
    if stem.endswith(".jsonl"):
        return [record for _, record in parse_jsonl(text)]
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


def parse_jsonl(text: str) -> list[tuple[int, Any]]:
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


def collect(
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


def first_of(record: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in record and record[key] not in (None, ""):
            return record[key]
    return None


def require_object(record: Any, position: int | str) -> dict[str, Any]:
    """``record`` if it is a JSON object; otherwise the error every layout gives."""
    if not isinstance(record, dict):
        raise ProblemFormatError(
            f"must be a JSON object, got {type(record).__name__}", position=position
        )
    return record


register_layout(
    "codegym",
    lambda keys: "tests" in keys and "statement" in keys,
    lambda record, position: problem_from_record(record, source="jsonl", position=position),
    expects="id, statement, tests",
    title="codegym JSONL",
    priority=30,
)
