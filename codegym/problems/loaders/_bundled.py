"""The bundled problem set: codegym JSONL shipped in the package, with a fixed split."""

from __future__ import annotations

from importlib import resources
from typing import Any

from codegym.errors import ProblemFormatError
from codegym.problems.loaders._registry import collect, parse_jsonl, register_source, require_object
from codegym.problems.model import Problem, problem_from_record

__all__ = ["bundled_split"]


def bundled_split(problem_id: str) -> str:
    """The fixed split of the bundled set: every fifth problem of each group is a test problem."""
    number = problem_id.rsplit("-", 1)[-1]
    return "test" if number.isdigit() and int(number) % 5 == 0 else "train"


def _load_bundled(split: str | None = None, skip_invalid: bool = False) -> list[Problem]:
    folder = resources.files("codegym.problems") / "data" / "bundled"
    items: list[tuple[str, Any]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            for lineno, record in parse_jsonl(entry.read_text(encoding="utf-8")):
                position = f"{entry.name}:{lineno}"
                if isinstance(record, ProblemFormatError):
                    record = ProblemFormatError(str(record).split(": ", 1)[-1], position=position)
                items.append((position, record))

    def build(record: Any, position: int | str) -> Problem:
        require_object(record, position)
        split_of = bundled_split(str(record.get("id", "")))
        return problem_from_record(
            dict(record, source="bundled"), source="bundled", position=position, split=split_of
        )

    return collect(items, build, "bundled", skip_invalid)


register_source("bundled", _load_bundled)
