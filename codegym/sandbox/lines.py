"""Map source lines to the statements they belong to.

Python reports line events for every line that carries bytecode, including continuation lines of a
multi-line statement and some header lines. Coverage is reported per *statement*, identified by its
first line, as coverage.py reports it; :func:`statement_map` gives that mapping. The envs use the
same map to give non-statement lines (``else:``, comments, blank and continuation lines) the mask of
the code they belong to.

What counts as a statement (checked against coverage.py in ``tests/sandbox/test_coverage_lines.py``):

* every ``ast.stmt`` that runs code, by its first line (``node.lineno``); a compound statement owns
  its header lines (an ``if`` condition, a ``def`` signature *and its decorators*: a decorated
  definition is one statement, identified by its ``def``/``class`` line);
* the clause headers that run code of their own: ``except``/``except*`` (the exception match) and
  ``case`` (the pattern match), each by its keyword line. Their bodies are statements as usual;
* *not* statements, because they never run any code: docstrings (the first string of a module,
  class or function body), ``global`` and ``nonlocal`` declarations, and annotations without a
  value in a function (never evaluated, PEP 526; from Python 3.14 also not at module or class
  level, where they are evaluated lazily, PEP 649). coverage.py does not count these either;
* statements the compiler drops as unreachable (code after ``return``, under ``if False:``) *are*
  statements here, ones that never execute; coverage.py leaves them out. Their tokens should be
  masked as unexecuted, not treated as comments.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache

__all__ = ["statement_map", "statement_lines", "normalise_lines"]

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (*_FUNCTIONS, ast.ClassDef)
_LAZY_ANNOTATIONS = sys.version_info >= (3, 14)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_codeless(node: ast.stmt, in_function: bool) -> bool:
    """True for statements that never run any code (declarations)."""
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return True
    if isinstance(node, ast.AnnAssign) and node.value is None:
        return in_function or _LAZY_ANNOTATIONS
    return False


def _case_line(case: ast.match_case, lines: list[str], earliest: int) -> int:
    """The line of a ``case`` keyword: its pattern may start on a later line, inside brackets."""
    line = case.pattern.lineno
    for candidate in range(line, earliest - 1, -1):
        text = lines[candidate - 1].lstrip() if candidate <= len(lines) else ""
        if text.startswith("case") and text[4:5] in (" ", "\t", "(", "[", "{", "\\", ""):
            return candidate
    return line


@lru_cache(maxsize=4096)
def statement_map(source: str) -> dict[int, int]:
    """``{line: first line of the innermost statement containing it}`` for the statement lines.

    A compound statement owns its header lines (``if`` condition, ``def`` signature and decorators);
    lines of its blocks belong to the statements inside them; ``except`` and ``case`` clause headers
    are statements of their own. Lines of docstrings and declarations map to nothing (see the module
    docstring). Returns ``{}`` when the source does not parse. The dict is shared: do not modify it.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    source_lines = source.splitlines()
    mapping: dict[int, int] = {}

    def claim(start: int, end: int, first: int) -> None:
        for line in range(start, end + 1):
            mapping[line] = first

    def header_end(first: int, end: int, blocks: list[list[ast.stmt]]) -> int:
        if not blocks:
            return end
        return min(max(min(block[0].lineno for block in blocks) - 1, first), end)

    def visit(stmts: list[ast.stmt], owner: ast.AST | None, in_function: bool) -> None:
        for index, node in enumerate(stmts):
            if index == 0 and isinstance(owner, (ast.Module, *_SCOPES)) and _is_docstring(node):
                continue
            if _is_codeless(node, in_function):
                continue
            first = node.lineno
            end = node.end_lineno or first
            decorators = getattr(node, "decorator_list", None) or []
            start = min([first] + [d.lineno for d in decorators])
            blocks = [
                block
                for block in (getattr(node, name, None) for name in ("body", "orelse", "finalbody"))
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt)
            ]
            handlers = getattr(node, "handlers", None) or []
            cases = getattr(node, "cases", None) or []
            claim(
                start,
                header_end(
                    first, end, blocks + [h.body for h in handlers] + [c.body for c in cases]
                ),
                first,
            )
            inner = isinstance(node, _FUNCTIONS) or (
                in_function and not isinstance(node, ast.ClassDef)
            )
            for block in blocks:
                visit(block, node, inner)
            for handler in handlers:
                h_first = handler.lineno
                claim(
                    h_first,
                    header_end(h_first, handler.end_lineno or h_first, [handler.body]),
                    h_first,
                )
                visit(handler.body, handler, inner)
            earliest = first
            for case in cases:
                c_first = _case_line(case, source_lines, earliest + 1)
                claim(
                    c_first,
                    header_end(c_first, case.body[-1].end_lineno or c_first, [case.body]),
                    c_first,
                )
                visit(case.body, case, inner)
                earliest = case.body[-1].end_lineno or c_first

    visit(tree.body, tree, False)
    return mapping


def statement_lines(source: str) -> frozenset[int]:
    """First lines of every statement in ``source`` (the lines coverage can report)."""
    return frozenset(statement_map(source).values())


def normalise_lines(source: str, raw_lines: frozenset[int] | set[int]) -> frozenset[int]:
    """Turn raw line events into the statements they belong to."""
    mapping = statement_map(source)
    return frozenset(mapping[line] for line in raw_lines if line in mapping)
