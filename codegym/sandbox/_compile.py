"""A program's compile step in the server: once per program, before its tests run."""

from __future__ import annotations

import ast
import sys
from typing import Any

from codegym.sandbox._child import CHECK_FILENAME, SOLUTION_FILENAME
from codegym.sandbox._instrument import instrument
from codegym.sandbox.lines import statement_map

COMPILE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)
"""What compiling untrusted source may raise: the program's compile error, never the server's."""
CHECK_CACHE_SIZE = 256


def compile_program(program: str, job: dict[str, Any]) -> Any:
    """The program's code object; records in ``job`` what its tests' processes need to know
    (which entry points it calls itself, and on Python < 3.12 its coverage marks). Raises one of
    :data:`COMPILE_ERRORS` for a program that does not compile or is over the size limit."""
    limits = job["limits"]
    if len(program.encode("utf-8", "surrogatepass")) > limits.program_bytes:
        raise SyntaxError(f"program longer than the limit of {limits.program_bytes} bytes")
    # A tree only where one is needed: compiling source directly is about twice as fast as
    # parsing and then compiling the tree.
    entry_points = {t.fn_name for t in job["tests"] if t.kind.value == "stdio" and t.fn_name}
    instrumented = job["coverage"] and not hasattr(sys, "monitoring")
    tree = ast.parse(program, SOLUTION_FILENAME) if instrumented or entry_points else None
    job["calls_itself"] = {n for n in entry_points if _calls_at_top_level(tree, n)}
    if instrumented:
        code, job["marked_lines"] = _compile_instrumented(program, tree, job["max_line"])
        job["instrumented"] = True
        return code
    return compile(tree or program, SOLUTION_FILENAME, "exec", dont_inherit=True)


def _compile_instrumented(program: str, tree: ast.Module, max_line: int) -> tuple[Any, list[int]]:
    """Compile ``tree`` with coverage marks (``tree`` is modified); the code and the lines
    marked.

    One parse and one compile. Only when that fails is the plain program compiled as well, so
    that a compile error is reported as the program's own, exactly as without marks.
    """
    try:
        marked, lines = instrument(tree, max_line, program)
        return compile(marked, SOLUTION_FILENAME, "exec", dont_inherit=True), lines
    except COMPILE_ERRORS:
        compile(program, SOLUTION_FILENAME, "exec", dont_inherit=True)  # raises the program's
        raise


def _calls_at_top_level(tree: ast.Module, name: str) -> bool:
    """True when the module itself calls ``name()`` (directly or under ``if __name__ == ...``),
    so the harness must not call the entry point a second time."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If):
            stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id == name:
                return True
    return False


def map_to_statements(program: str, results: list[dict[str, Any]]) -> bool:
    """Replace the line events in each test's raw result by the statements they belong to; False
    where the program's statements cannot be mapped (the caller then tries, and reports it)."""
    try:
        mapping = statement_map.__wrapped__(program)  # once per program: no cache
    except COMPILE_ERRORS:
        return False
    for raw in results:
        if raw.get("lines"):
            raw["lines"] = sorted({mapping[n] for n in raw["lines"] if n in mapping})
    return True


class CheckCodes:
    """Compiled check code of CHECK tests, cached by text: RL runs many programs against the same
    tests."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, test: Any) -> Any:
        """The test's compiled check code; None for other tests, or when it does not compile
        (the test's process then compiles it again and reports the error as the test's)."""
        if test.kind.value != "check":
            return None
        source = test.check_code
        if source in self._cache:
            return self._cache[source]
        try:
            compiled = compile(source, CHECK_FILENAME, "exec", dont_inherit=True)
        except COMPILE_ERRORS:
            return None
        if len(self._cache) >= CHECK_CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        self._cache[source] = compiled
        return compiled
