"""verl-style code datasets: rows with ``data_source``, ``prompt`` (chat messages or text),
``reward_model.ground_truth`` and ``extra_info``, in parquet or JSON(L).

``ground_truth`` is JSON (or an already-decoded object) in one of two forms: APPS-style
``{"inputs": [...], "outputs": [...], "fn_name": ...}``, as verl's APPS, TACO and CodeContests
preparations write it (stdin/stdout tests, or call tests when ``fn_name`` is set); or a codegym
problem record (``{"id", "statement", "tests", ...}``), as :func:`codegym.integrations.verl.export`
writes it, so exported sets load back unchanged. The statement is the text of the prompt's last
user message; the id is ``extra_info.problem_id``, else ``<data_source>/<extra_info.index>``, else
the row number.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from codegym.errors import MissingDependencyError, ProblemFormatError
from codegym.problems.model import Problem, problem_from_record

__all__ = ["is_verl_record", "load_verl", "problem_from_io", "verl_problem"]


def is_verl_record(keys: set[str]) -> bool:
    """Whether a record with these keys is a verl dataset row."""
    return {"prompt", "reward_model"} <= keys


def read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow (to read parquet)", "verl") from exc
    return pq.read_table(path).to_pylist()


def problem_from_io(
    pid: str, statement: str, io: Any, *, position: int | str, split: str | None = None
) -> Problem:
    """A problem from an APPS-style ``{"inputs", "outputs", "fn_name"?}`` test record."""
    from codegym.problems.loaders._apps import _apps_problem

    return _apps_problem(pid, statement, [], io, "", None, position, split)


def _statement(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        content = users[-1].get("content") if users else None
        return content if isinstance(content, str) else None
    return None


def verl_problem(record: Any, position: int | str) -> Problem:
    """One verl row as a :class:`Problem`."""
    if not isinstance(record, dict):
        raise ProblemFormatError(
            f"must be an object, got {type(record).__name__}", position=position
        )
    extra = record.get("extra_info") if isinstance(record.get("extra_info"), dict) else {}
    source = str(record.get("data_source") or "verl")
    pid = extra.get("problem_id")
    if not isinstance(pid, str) or not pid:
        pid = f"{source}/{extra['index']}" if extra.get("index") is not None else f"verl-{position}"
    split = extra.get("split") if extra.get("split") in ("train", "test") else None
    reward_model = record.get("reward_model")
    truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    if isinstance(truth, str):
        try:
            truth = json.loads(truth)
        except json.JSONDecodeError as exc:
            raise ProblemFormatError(
                f"is not JSON: {exc}",
                problem_id=pid,
                field="reward_model.ground_truth",
                position=position,
            ) from exc
    if not isinstance(truth, dict):
        raise ProblemFormatError(
            "must be a JSON object with the tests ('inputs' and 'outputs', or codegym 'tests')",
            problem_id=pid,
            field="reward_model.ground_truth",
            position=position,
        )
    if "tests" in truth and "statement" in truth:  # a codegym record, from our own export
        return problem_from_record(truth, source=source, position=position, split=split)
    statement = _statement(record.get("prompt"))
    if not statement or not statement.strip():
        raise ProblemFormatError(
            "has no user message with text", problem_id=pid, field="prompt", position=position
        )
    problem = problem_from_io(pid, statement, truth, position=position, split=split)
    difficulty = extra.get("difficulty")
    if difficulty in ("introductory", "interview", "competition"):
        problem = dataclasses.replace(problem, difficulty=difficulty)
    return dataclasses.replace(problem, source=source)


def load_verl(path: Path, *, skip_invalid: bool = False) -> list[Problem]:
    """Load a verl dataset file (parquet, JSONL or a JSON list)."""
    from codegym.problems.loaders._registry import collect, read_json_records

    records = read_parquet(path) if path.suffix == ".parquet" else read_json_records(path)
    return collect(enumerate(records), verl_problem, str(path), skip_invalid)
