"""Typed errors raised by codegym.

Every user-facing error derives from :class:`CodegymError`, so callers can catch the whole family in
one place. Messages say what was wrong, where (problem id, field, action) and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CodegymError",
    "ConfigError",
    "ProblemFormatError",
    "ProblemLoadError",
    "UnknownNameError",
    "SandboxError",
    "EnvStateError",
    "InvalidActionError",
    "MissingDependencyError",
    "suggest",
]


class CodegymError(Exception):
    """Base class of every error codegym raises on purpose."""


class ConfigError(CodegymError, ValueError):
    """A configuration value (limits, env arguments, agent config) is invalid."""


class UnknownNameError(ConfigError, KeyError):
    """A name (problem source, reward, curriculum mode, problem id...) is not registered."""

    def __init__(self, kind: str, name: object, valid: Iterable[str]) -> None:
        valid = sorted(valid)
        hint = suggest(str(name), valid)
        msg = f"unknown {kind} {name!r}"
        msg += f"; did you mean {hint!r}?" if hint else ""
        shown = ", ".join(repr(v) for v in valid[:20]) + (" ..." if len(valid) > 20 else "")
        msg += f" Valid: {shown}" if valid else ""
        super().__init__(msg)
        self.kind, self.name, self.valid = kind, name, valid

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class ProblemFormatError(CodegymError, ValueError):
    """A problem record is missing a field or has a malformed one.

    ``problem_id`` and ``field`` say where; ``position`` is the record's index in its file, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        problem_id: str | None = None,
        field: str | None = None,
        position: int | str | None = None,
    ) -> None:
        where = []
        if position is not None:
            where.append(f"record {position}")
        if problem_id is not None:
            where.append(f"problem {problem_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.problem_id, self.field, self.position = problem_id, field, position


class ProblemLoadError(CodegymError):
    """A problem file could not be loaded; ``errors`` lists every bad record found in it."""

    def __init__(
        self, source: str, errors: list[ProblemFormatError] | None = None, message: str = ""
    ) -> None:
        self.source = source
        self.errors = list(errors or [])
        lines = [message or f"{len(self.errors)} bad record(s) in {source}"]
        lines += [f"  - {e}" for e in self.errors[:50]]
        if len(self.errors) > 50:
            lines.append(f"  ... and {len(self.errors) - 50} more")
        super().__init__("\n".join(lines))


class SandboxError(CodegymError):
    """The sandbox itself failed (not the program under test)."""


class EnvStateError(CodegymError, RuntimeError):
    """An env method was called in the wrong state (``step`` before ``reset`` or after the end)."""


class InvalidActionError(CodegymError, ValueError):
    """An action is outside the env's action space."""


class MissingDependencyError(CodegymError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f'{package} is required for this feature; install it with: pip install "codegym[{extra}]"'
        )


def suggest(name: str, valid: Iterable[str]) -> str | None:
    """Return the valid name closest to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return matches[0] if matches else None
