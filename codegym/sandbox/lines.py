"""Map source lines to the statements they belong to.

Python reports line events for every line that carries bytecode, including continuation lines of a
multi-line statement and some header lines. Coverage is reported per *statement*, identified by its
first line, as coverage.py reports it; :func:`statement_map` gives that mapping. The envs use the
same map to give non-statement lines (``else:``, comments, blank and continuation lines) the mask of
the code they belong to.
"""

from __future__ import annotations

import ast
from functools import lru_cache

__all__ = ["statement_map", "statement_lines", "normalise_lines"]


def _body_fields(node: ast.stmt) -> list[list[ast.stmt]]:
    out = []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(node, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            out.append(block)
    for handler in getattr(node, "handlers", []) or []:
        out.append(handler.body)
    for case in getattr(node, "cases", []) or []:
        out.append(case.body)
    return out


@lru_cache(maxsize=4096)
def statement_map(source: str) -> dict[int, int]:
    """``{line: first line of the innermost statement containing it}`` for the statement lines.

    A compound statement owns its header lines (``if`` condition, ``def`` signature and decorators);
    lines of its blocks belong to the statements inside them. Returns ``{}`` when the source does
    not parse.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    mapping: dict[int, int] = {}

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            first = node.lineno
            decorators = getattr(node, "decorator_list", None) or []
            start = min([first] + [d.lineno for d in decorators])
            blocks = _body_fields(node)
            if blocks:
                header_end = min(block[0].lineno for block in blocks) - 1
                header_end = max(header_end, first)
                header_end = min(header_end, node.end_lineno or first)
            else:
                header_end = node.end_lineno or first
            for line in range(start, header_end + 1):
                mapping[line] = first
            for block in blocks:
                visit(block)

    visit(tree.body)
    return mapping


def statement_lines(source: str) -> frozenset[int]:
    """First lines of every statement in ``source`` (the lines coverage can report)."""
    return frozenset(statement_map(source).values())


def normalise_lines(source: str, raw_lines: frozenset[int] | set[int]) -> frozenset[int]:
    """Turn raw line events into the statements they belong to."""
    mapping = statement_map(source)
    return frozenset(mapping[line] for line in raw_lines if line in mapping)
