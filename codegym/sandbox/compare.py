"""Output comparison, APPS conventions.

A comparator decides whether what a program produced for a test is right. Stdout is compared
exactly after normalising trailing whitespace, then token by token with numeric tolerance; return
values are compared structurally with float tolerance and lists equal to tuples. Problems may name
their own comparator (any callable ``(test, produced) -> bool``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from codegym.sandbox.types import TestCase, TestKind

__all__ = [
    "Comparator",
    "compare_stdout",
    "compare_values",
    "default_comparator",
    "REL_TOL",
    "ABS_TOL",
]

REL_TOL = 1e-6
ABS_TOL = 1e-6

Comparator = Callable[[TestCase, Any], bool]
"""``comparator(test, produced)``: ``produced`` is the stdout text (STDIO) or the decoded return
value (CALL)."""


def _normalise(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value


_INT = re.compile(r"[+-]?[0-9]+")


def _is_int(token: str) -> bool:
    return _INT.fullmatch(token) is not None


def _canonical_int(token: str) -> str:
    """Sign and digits without leading zeros ("-0" is "0"); no int() so any length works."""
    negative = token.startswith("-")
    digits = token.lstrip("+-").lstrip("0") or "0"
    return ("-" if negative and digits != "0" else "") + digits


def _tokens_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    if _is_int(a) and _is_int(b):  # integers compare exactly, however large
        return _canonical_int(a) == _canonical_int(b)
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def compare_stdout(expected: str, produced: str) -> bool:
    """True when ``produced`` matches ``expected``.

    First exact after stripping trailing whitespace of each line and trailing blank lines; failing
    that, line by line and token by token, tokens equal as strings or as numbers within tolerance.
    """
    if expected.rstrip() == produced.rstrip():  # the usual pass: no line-by-line work
        return True
    exp, got = _normalise(expected), _normalise(produced)
    if exp == got:
        return True
    if len(exp) != len(got):
        return False
    for e_line, g_line in zip(exp, got):
        e_tok, g_tok = e_line.split(), g_line.split()
        if len(e_tok) != len(g_tok) or not all(map(_tokens_equal, e_tok, g_tok)):
            return False
    return True


def compare_values(expected: Any, produced: Any) -> bool:
    """Structural equality with float tolerance; lists and tuples are interchangeable.

    ``True``/``False`` never equal the integers 1/0 here: a function asked for a bool must return one.
    """
    if isinstance(expected, bool) or isinstance(produced, bool):
        return isinstance(expected, bool) and isinstance(produced, bool) and expected == produced
    if isinstance(expected, (int, float)) and isinstance(produced, (int, float)):
        if isinstance(expected, int) and isinstance(produced, int):
            return expected == produced
        if math.isnan(expected) or math.isnan(produced):
            return math.isnan(expected) and math.isnan(produced)
        return math.isclose(expected, produced, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(expected, (list, tuple)) and isinstance(produced, (list, tuple)):
        return len(expected) == len(produced) and all(map(compare_values, expected, produced))
    if isinstance(expected, dict) and isinstance(produced, dict):
        return expected.keys() == produced.keys() and all(
            compare_values(v, produced[k]) for k, v in expected.items()
        )
    return type(expected) is type(produced) and expected == produced


def default_comparator(test: TestCase, produced: Any) -> bool:
    """The APPS-style comparison for ``test``'s kind."""
    if test.kind is TestKind.STDIO:
        return compare_stdout(test.expected_output or "", produced)
    if test.kind is TestKind.CALL:
        return compare_values(test.expected, produced)
    return bool(produced)
