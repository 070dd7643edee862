"""Statement coverage by source instrumentation, for Pythons without ``sys.monitoring`` (< 3.12).

``sys.settrace`` calls a Python function on every line event of traced code; on loop-heavy
programs that costs 5x or more, and a code object with one line that never runs stays traced
forever. Instead, before every statement, insert a mark, ``if not __codegym_LINE__: HIT(LINE)``
(see :func:`recorder`), with the statement's location so tracebacks and line numbers are
unchanged. Each executed statement costs one global lookup and a branch. ``from __future__``
imports keep their required first place: their marks go right after them.

Marks go exactly where :func:`codegym.sandbox.lines.statement_map` finds statements, at their first
lines (so a ``case`` is marked at its keyword's line), and nowhere else: no docstrings, no
declarations. The lines a run records are then statement lines already, and need no mapping.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from codegym.sandbox.lines import _FUNCTIONS, _case_line, _is_codeless, _is_docstring

HIT = "__codegym_hit__"


_LOAD, _NOT, _OR = ast.Load(), ast.Not(), ast.Or()


def _loc(node: ast.AST) -> dict[str, int]:
    """``node``'s location as keyword arguments for a new node (one dict instead of ``ast.walk``
    plus ``copy_location`` on every new node: instrumenting is a large part of a short run)."""
    return {
        "lineno": node.lineno,
        "col_offset": node.col_offset,
        "end_lineno": node.end_lineno,
        "end_col_offset": node.end_col_offset,
    }


def flag(line: int) -> str:
    """The global that says whether ``line`` has run."""
    return f"__codegym_{line}__"


def _mark(stmt: ast.AST, line: int) -> ast.stmt:
    """``if not __codegym_LINE__: HIT(LINE)``, located at ``stmt`` (see :func:`recorder`)."""
    loc = _loc(stmt)
    seen = ast.Name(flag(line), _LOAD, **loc)
    call = ast.Call(ast.Name(HIT, _LOAD, **loc), [ast.Constant(line, **loc)], [], **loc)
    return ast.If(ast.UnaryOp(_NOT, seen, **loc), [ast.Expr(call, **loc)], [], **loc)


def _mark_expr(expr: ast.expr, line: int) -> ast.expr:
    """``HIT(LINE)``: a mark inside an expression (its value is None)."""
    loc = _loc(expr)
    return ast.Call(ast.Name(HIT, _LOAD, **loc), [ast.Constant(line, **loc)], [], **loc)


def recorder(namespace: dict[str, Any], page: memoryview, lines: Iterable[int]) -> None:
    """Give the program's ``namespace`` the globals its marks use.

    A flag per marked line, false until the line runs: the check every mark makes is one global
    lookup (CPython specialises it) and a branch, a third of the cost of indexing a list. ``HIT``
    runs on a line's first hit only: it sets the flag and records the line in ``page``, the
    shared coverage page, which survives a killed process.
    """
    for line in lines:
        namespace[flag(line)] = False

    def hit(line: int) -> None:
        namespace[flag(line)] = True
        page[line] = 1

    namespace[HIT] = hit


def _irrefutable(pattern: ast.pattern) -> bool:
    """True for a pattern that always matches: ``_``, a capture name, an or-pattern with one."""
    if isinstance(pattern, ast.MatchAs):
        return pattern.pattern is None or _irrefutable(pattern.pattern)
    if isinstance(pattern, ast.MatchOr):
        return any(_irrefutable(p) for p in pattern.patterns)
    return False


_COMPOUND = tuple(
    cls
    for cls in vars(ast).values()
    if isinstance(cls, type)
    and issubclass(cls, ast.stmt)
    and any(f in cls._fields for f in ("body", "handlers", "cases"))
)


def _is_future(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


class _Instrumenter:
    """Walks the statements of a tree (never its expressions, which hold none) and marks them."""

    def __init__(self, max_line: int, source_lines: list[str]) -> None:
        self.max_line = max_line
        self.source_lines = source_lines
        self.in_function = False  # as lines.statement_map judges declarations
        self.lines: set[int] = set()

    def _mark(self, stmt: ast.AST, line: int) -> ast.stmt:
        self.lines.add(line)
        return _mark(stmt, line)

    def _mark_expr(self, expr: ast.expr, line: int) -> ast.expr:
        self.lines.add(line)
        return _mark_expr(expr, line)

    def _block(self, body: list[ast.stmt], *, may_have_docstring: bool) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        held: list[int] = []  # lines of leading statements that must stay first
        for i, stmt in enumerate(body):
            if isinstance(stmt, _COMPOUND):  # only these hold statements of their own
                self.visit(stmt)
            if i == 0 and may_have_docstring and _is_docstring(stmt):
                out.append(stmt)  # not a statement, and it has to stay first
                continue
            if _is_future(stmt) and all(_is_future(s) or _is_docstring(s) for s in body[:i]):
                out.append(stmt)
                held.append(stmt.lineno)
                continue
            for line in held:
                out.append(self._mark(stmt, line))
            held = []
            if 0 < stmt.lineno < self.max_line and not _is_codeless(stmt, self.in_function):
                out.append(self._mark(stmt, stmt.lineno))
            out.append(stmt)
        if held:  # a body made only of a docstring and future imports
            out += [self._mark(body[-1], line) for line in held]
        return out

    def visit(self, node: ast.AST) -> ast.AST:
        """Mark the statements in ``node``'s blocks, clauses and cases (the module, or a compound
        statement); ``node`` is modified and returned."""
        may_doc = isinstance(
            node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        )
        outer = self.in_function
        self.in_function = isinstance(node, _FUNCTIONS) or (
            outer and not isinstance(node, ast.ClassDef)
        )
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                setattr(
                    node, field, self._block(block, may_have_docstring=may_doc and field == "body")
                )
        # An ``except`` line runs whenever a raised exception is matched against it, matching or
        # not: mark it from its type expression, evaluated just then (``mark(...) or T``). A bare
        # ``except:`` always matches, so its body marks it.
        for handler in getattr(node, "handlers", None) or []:
            first = handler.body[0]
            handler.body = self._block(handler.body, may_have_docstring=False)
            if not 0 < handler.lineno < self.max_line:
                pass
            elif handler.type is None:
                handler.body.insert(0, self._mark(first, handler.lineno))
            else:
                handler.type = ast.BoolOp(
                    _OR,
                    [self._mark_expr(handler.type, handler.lineno), handler.type],
                    **_loc(handler.type),
                )
        # A ``case`` line runs whenever its pattern is tried. Patterns hold no statements, so a
        # case body marks its own line and those of the cases before it (tried, failed), and a
        # final ``case _:`` marks them all when no case matches.
        cases = getattr(node, "cases", None) or []
        tried: list[int] = []
        earliest = getattr(node, "lineno", 0)
        for case in cases:
            first = case.body[0]
            line = _case_line(case, self.source_lines, earliest + 1)
            if 0 < line < self.max_line:
                tried.append(line)
            earliest = case.body[-1].end_lineno or line
            body = self._block(case.body, may_have_docstring=False)
            case.body = [self._mark(first, line) for line in tried] + body
        if tried and not (cases[-1].guard is None and _irrefutable(cases[-1].pattern)):
            last = cases[-1]
            wildcard = ast.MatchAs(**_loc(last.pattern))
            marks = [self._mark(last.body[-1], line) for line in tried]
            cases.append(ast.match_case(pattern=wildcard, body=marks))
        self.in_function = outer
        return node


def instrument(tree: ast.Module, max_line: int, source: str) -> tuple[ast.Module, list[int]]:
    """``tree`` (parsed from ``source``) with a coverage mark before each statement (the tree is
    modified), and the lines marked (for :func:`recorder`)."""
    instrumenter = _Instrumenter(max_line, source.splitlines())
    return instrumenter.visit(tree), sorted(instrumenter.lines)
