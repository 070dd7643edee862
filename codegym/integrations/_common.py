"""What the trainer adapters share: build prompts, pull the code out of a completion, put it after
the curriculum prefix, run a batch in one pool pass, and spread the FGO line mask over the
completion's tokens.

A completion may be bare code, code inside a Markdown fence, or prose around a fence. When the
prompt itself ended inside an open fence (the plain prompt style), the completion *continues*
that code up to its closing fence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codegym.envs.core import line_mask
from codegym.errors import ConfigError
from codegym.problems import Problem, TestMode
from codegym.sandbox import ExecutionResult, Executor, Limits, Outcome

__all__ = [
    "PROMPT_STYLES",
    "Scored",
    "build_prompt",
    "ends_in_open_fence",
    "extract_code",
    "score_batch",
    "token_mask",
]

PROMPT_STYLES = ("plain", "chat")
"""``plain``: one text that ends inside an open ```` ```python ```` fence holding the starting code,
so the model continues the program (base models). ``chat``: one user message asking for the
program in a fenced block (instruction-tuned models; the trainer applies the chat template)."""


def _task_line(problem: Problem) -> str:
    if problem.mode is TestMode.STDIO and not problem.fn_name:
        return "Write a Python 3 program that reads standard input and writes standard output."
    return f"Write the Python 3 function `{problem.fn_name}`."


def build_prompt(
    problem: Problem,
    start_code: str = "",
    *,
    style: str = "plain",
    system_prompt: str | None = None,
) -> str | list[dict[str, str]]:
    """The prompt for ``problem`` when the program starts with ``start_code`` (see :data:`PROMPT_STYLES`)."""
    statement = problem.statement.rstrip()
    if style == "plain":
        head = f"{system_prompt.rstrip()}\n\n" if system_prompt else ""
        return f"{head}{statement}\n\n{_task_line(problem)}\n\n```python\n{start_code}"
    if style == "chat":
        text = f"{statement}\n\n{_task_line(problem)}"
        if start_code:
            text += (
                " The program begins with the code below; reply with the code that follows it, in "
                f"one ```python block.\n\n```python\n{start_code}```"
            )
        else:
            text += " Reply with the whole program in one ```python block."
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        return messages + [{"role": "user", "content": text}]
    raise ConfigError(f"prompt_style must be one of {list(PROMPT_STYLES)}, got {style!r}")


_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*$", re.MULTILINE)
_PYTHON_TAGS = ("", "python", "py", "python3", "py3")


def ends_in_open_fence(text: str) -> bool:
    """True when ``text`` ends inside a Markdown code fence (an odd number of fence lines)."""
    return len(_FENCE.findall(text)) % 2 == 1


def extract_code(completion: str, *, open_fence: bool) -> tuple[str, int]:
    """``(code, start)``: the code to run and its character offset in ``completion``.

    With ``open_fence`` the completion continues a fenced block the prompt opened: the code runs up
    to the first fence line. Otherwise the code is the first Python (or untagged) fenced block, up
    to its closing fence or the end; with no such block, the whole completion.
    """
    if open_fence:
        end = _FENCE.search(completion)
        return completion[: end.start() if end else len(completion)], 0
    fences = list(_FENCE.finditer(completion))
    for opening, closing in zip(fences[::2], fences[1::2] + [None]):  # fences pair up in order
        if opening.group(1).lower() in _PYTHON_TAGS:
            start = min(opening.end() + 1, len(completion))
            return completion[start : closing.start() if closing else len(completion)], start
    return completion, 0


@dataclass
class Scored:
    """One completion, run."""

    result: ExecutionResult
    program: str
    """The program that ran: curriculum prefix + extracted code."""
    code_start: int
    """Character offset of the code in the completion."""
    first_generated_line: int
    """Program line number of the first line of the extracted code."""
    line_mask: np.ndarray
    """FGO mask over the code's lines (all 0 for an infrastructure error)."""

    @property
    def infra(self) -> bool:
        return self.result.outcome is Outcome.INFRA_ERROR


def assemble(prefix: str, code: str) -> tuple[str, int]:
    """``(program, first generated line)``. A completion that repeats the given prefix (chat models
    often reply with the whole program) is the whole program itself."""
    if prefix and not prefix.endswith("\n"):
        prefix += "\n"
    if prefix and code.lstrip().startswith(prefix.strip()):
        return code, 1
    return prefix + code, prefix.count("\n") + 1


def score_batch(
    executor: Executor,
    jobs: Sequence[tuple[Problem, str, str, bool]],
    *,
    limits: Limits | None = None,
) -> list[Scored]:
    """Run ``(problem, prefix, completion, open_fence)`` jobs in one :meth:`Executor.run_many`."""
    prepared = []
    for problem, prefix, completion, open_fence in jobs:
        code, start = extract_code(completion, open_fence=open_fence)
        program, first = assemble(prefix, code)
        prepared.append((problem, program, code, start, first))
    results = executor.run_many(
        [(program, problem) for problem, program, *_ in prepared], limits=limits
    )
    out = []
    for (_, program, code, start, first), result in zip(prepared, results):
        lines = code.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        infra = result.outcome is Outcome.INFRA_ERROR
        ran = result.outcome is not Outcome.COMPILE_ERROR and not infra
        mask = line_mask(program, first, len(lines), result.executed_lines, ran=ran)
        if infra:
            mask[:] = 0
        out.append(Scored(result, program, start, first, mask))
    return out


def token_mask(newlines: Sequence[int], completion: str, scored: Scored) -> list[int]:
    """FGO mask over a completion's tokens, given how many newlines each token decodes to.

    A token on a line of the extracted code takes that line's mask; tokens outside the code (prose,
    fences, end of sequence) keep 1, since they carry the outcome like the rest of the answer. An
    infrastructure error masks everything. Lines are found by counting newlines, which every
    tokenizer decodes exactly even when a token is part of a multi-byte character.
    """
    if scored.infra:
        return [0] * len(newlines)
    first_line = completion[: scored.code_start].count("\n")
    mask, line = [], 0
    for n in newlines:
        j = line - first_line
        mask.append(int(scored.line_mask[j]) if 0 <= j < len(scored.line_mask) else 1)
        line += n
    return mask
