"""Statement coverage by source instrumentation, for Pythons without ``sys.monitoring`` (< 3.12).

``sys.settrace`` calls a Python function on every line event of traced code; on loop-heavy
programs that costs 5x or more, and a code object with one line that never runs stays traced
forever. Instead, before every statement, insert ``__codegym_cov__[LINE] = 1``, a store into the
shared coverage page, copying the statement's location so tracebacks and line numbers are
unchanged. Each executed statement costs one subscript store. Docstrings and ``from __future__``
imports keep their required first place: their marks go right after them.
"""

from __future__ import annotations

import ast

MARK = "__codegym_cov__"


def _mark(stmt: ast.stmt, line: int) -> ast.stmt:
    node = ast.Assign(
        targets=[
            ast.Subscript(
                value=ast.Name(MARK, ast.Load()), slice=ast.Constant(line), ctx=ast.Store()
            )
        ],
        value=ast.Constant(1),
    )
    return ast.copy_location(node, stmt)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_future(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


class _Instrumenter(ast.NodeTransformer):
    def __init__(self, max_line: int) -> None:
        self.max_line = max_line

    def _block(self, body: list[ast.stmt], *, may_have_docstring: bool) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        held: list[int] = []  # lines of leading statements that must stay first
        for i, stmt in enumerate(body):
            self.visit(stmt)
            leading = (i == 0 and may_have_docstring and _is_docstring(stmt)) or (
                _is_future(stmt) and all(_is_future(s) or _is_docstring(s) for s in body[:i])
            )
            if leading:
                out.append(stmt)
                held.append(stmt.lineno)
                continue
            for line in held:
                out.append(_mark(stmt, line))
            held = []
            if 0 < stmt.lineno < self.max_line:
                out.append(_mark(stmt, stmt.lineno))
            out.append(stmt)
        if held:  # a body made only of a docstring / future imports
            out += [_mark(body[-1], line) for line in held]
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        may_doc = isinstance(
            node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        )
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                setattr(
                    node, field, self._block(block, may_have_docstring=may_doc and field == "body")
                )
        # ``except ...:`` and ``case ...:`` headers run when their clause is entered.
        for handler in getattr(node, "handlers", None) or []:
            first = handler.body[0]
            handler.body = [_mark(first, handler.lineno)] + self._block(
                handler.body, may_have_docstring=False
            )
        for case in getattr(node, "cases", None) or []:
            first = case.body[0]
            case.body = [_mark(first, case.pattern.lineno)] + self._block(
                case.body, may_have_docstring=False
            )
        return node


def instrument(tree: ast.Module, max_line: int) -> ast.Module:
    """Return ``tree`` with a coverage mark before each statement (the tree is modified)."""
    tree = _Instrumenter(max_line).visit(tree)
    return ast.fix_missing_locations(tree)
