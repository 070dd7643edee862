"""CodeRepair-v0: write a whole program, read what the visible tests say about it, fix it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from codegym.envs.base import CodeEnv
from codegym.envs.core import EpisodeCore, check_settings, line_mask
from codegym.envs.line_env import LINE_CHARSET, AnyText
from codegym.errors import ConfigError, InvalidActionError, UnknownNameError
from codegym.problems import Problem
from codegym.rewards import RewardFn, get_reward
from codegym.sandbox import (
    Comparator,
    ExecutionResult,
    Executor,
    Limits,
    Outcome,
    TestCase,
    TestKind,
    TestResult,
    default_comparator,
)

__all__ = ["CodeRepairEnv", "FEEDBACK", "feedback_text"]

FEEDBACK = ("tests", "coverage")
"""What the feedback may hold: ``"tests"`` (the first failing visible test, always on) and
``"coverage"`` (the program lines no visible test ran)."""

_FIELD_CHARS = 600  # one input, expected or actual output in the feedback
_RECORDED_MAX = 1024  # return values kept for call-test feedback
_UNKNOWN = object()  # a return value the recorder did not see
_LIMITS = {
    Outcome.TIMEOUT: "Time limit exceeded",
    Outcome.MEMORY_LIMIT: "Memory limit exceeded",
    Outcome.OUTPUT_LIMIT: "Output limit exceeded",
}


class _Recorder:
    """A comparator that remembers what the program produced for each test (the sandbox result
    keeps stdout, but not the return value of a call test), keyed by program and test, so that
    feedback can show it, cached runs included. One per env: the executor's cache keys a callable
    object by its identity."""

    def __init__(self) -> None:
        self.inner: Comparator = default_comparator
        self.program = ""
        self.values: dict[tuple[str, int], Any] = {}

    def __call__(self, test: TestCase, produced: Any) -> bool:
        if len(self.values) >= _RECORDED_MAX:
            self.values.clear()
        self.values[(self.program, id(test))] = produced
        return self.inner(test, produced)

    def produced(self, program: str, test: TestCase) -> Any:
        return self.values.get((program, id(test)), _UNKNOWN)


def _cap(text: str, limit: int = _FIELD_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text) - limit} more characters)"


def _block(label: str, text: str) -> str:
    body = _cap(text).rstrip("\n")
    return f"{label}:\n{body if body else '(nothing)'}"


def _call_input(test: TestCase) -> str:
    return f"{test.fn_name}({', '.join(repr(a) for a in test.args)})"


def _failure_text(test: TestCase, tr: TestResult, produced: Any) -> str:
    """What went wrong on one failing test, with its input (the test is visible)."""
    if test.kind is TestKind.STDIO:
        given = _block("Input", test.stdin)
    elif test.kind is TestKind.CALL:
        given = f"Call: {_cap(_call_input(test))}"
    else:
        given = _block("Check code", test.check_code or "")
    where = f" (line {tr.exception_line})" if tr.exception_line else ""
    if tr.outcome is Outcome.WRONG_ANSWER:
        if test.kind is TestKind.STDIO:
            got = _block("Your output", tr.stdout)
            return f"Wrong answer.\n{given}\n{_block('Expected output', test.expected_output or '')}\n{got}"
        if test.kind is TestKind.CALL:
            actual = "(not known)" if produced is _UNKNOWN else _cap(repr(produced))
            expected = _cap(repr(test.expected))
            return f"Wrong answer.\n{given}\nExpected return value: {expected}\nYour return value: {actual}"
        return f"The check failed.\n{given}"
    if tr.outcome in _LIMITS:
        detail = f" ({tr.detail})" if tr.detail else ""
        return f"{_LIMITS[tr.outcome]}{detail}.\n{given}"
    message = tr.detail or tr.exception or "the program failed"
    return f"Runtime error{where}: {_cap(message)}\n{given}"


def feedback_text(
    program: str,
    tests: Sequence[TestCase],
    result: ExecutionResult,
    *,
    produced: Callable[[TestCase], Any] | None = None,
    coverage: bool = False,
    max_chars: int = 2000,
) -> str:
    """The feedback on one run of ``program`` on visible ``tests``: the first failing test (with
    its input, expected and actual output), or a compile error, or that all passed; with
    ``coverage``, the program lines no test ran. At most ``max_chars`` characters.
    ``produced(test)`` gives the return value of a call test, when known."""
    n = len(tests)
    if result.outcome is Outcome.INFRA_ERROR:
        text = (
            "The tests could not be run: the sandbox failed for infrastructure reasons, which is "
            "not your program's fault. This attempt does not count; submit the program again."
        )
    elif result.outcome is Outcome.COMPILE_ERROR:
        line = result.tests[0].exception_line if result.tests else None
        where = f" (line {line})" if line else ""
        message = re.sub(r" \(<\w+>, line \d+\)$", "", result.compile_error or "")
        text = f"Your program does not compile{where}: {_cap(message)}"
    elif result.passed:
        text = f"Your program passed all {n} visible test{'s' * (n != 1)}."
    else:
        i, (test, tr) = next(
            (i, pair) for i, pair in enumerate(zip(tests, result.tests)) if not pair[1].passed
        )
        value = produced(test) if produced is not None else _UNKNOWN
        passed = sum(t.passed for t in result.tests)
        text = f"Visible test {i + 1} of {n} failed ({passed} of {n} passed). " + _failure_text(
            test, tr, value
        )
    if coverage and result.outcome not in (Outcome.COMPILE_ERROR, Outcome.INFRA_ERROR):
        lines = program.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        mask = line_mask(program, 1, len(lines), result.executed_lines, ran=True)
        idle = [
            f"  {no:4d}  {code.strip()}"
            for no, code in enumerate(lines, 1)
            if not mask[no - 1] and code.strip() and not code.lstrip().startswith("#")
        ]
        if idle:
            text += "\nLines no visible test ran:\n" + "\n".join(idle)
        else:
            text += "\nThe visible tests ran every line of the program."
    if len(text) > max_chars:
        cut = "\n... (feedback cut)"
        text = text[: max_chars - len(cut)] + cut
    return text


class CodeRepairEnv(CodeEnv[str, str]):
    """
    ## Description

    Multi-turn program repair. Each episode poses one programming problem; each step submits a
    whole program, which runs on the problem's **visible** tests, and the observation shows the
    feedback on it, the way a programmer reads a failing test run and fixes the code (as in
    LiveCodeBench's self-repair scenario, InterCode and ConvCodeWorld). The episode ends when a
    program passes every visible test, or after `max_turns` programs; the last program is then
    scored on **all** tests, hidden ones included, so a program fitted to the visible tests earns
    what it earns on the rest.

    Problems carry no separate list of public tests: the first `visible_tests` tests of a problem
    are visible (the bundled problems list their statement's examples first), the others are
    hidden and never appear in an observation, neither their inputs nor their outputs. A problem
    with no more tests than that keeps its last test hidden.

    ## Action Space

    `AnyText(max_code_chars)`, a `Text` space: the whole program, starter code included. A
    non-string action, a NUL character or a program longer than `max_code_chars` raises
    `InvalidActionError`. An empty program is an ordinary attempt (it prints nothing); a program
    over the sandbox's `Limits.program_bytes` is a compile error.

    ## Observation Space

    `AnyText`, a `Text` space. At reset: the problem statement (first `max_prompt_chars`
    characters) and its starter code. After each turn: the same, then the program just run and
    the feedback on it: all visible tests passed; or the compile error with its message and line;
    or, for the first failing visible test, its input, the expected and the actual output (wrong
    answer), the exception and the line (runtime error), or the limit hit (time, memory,
    output); each part capped, the feedback at `max_feedback_chars`. With
    `feedback=("tests", "coverage")` the feedback also lists the program lines no visible test ran.

    ## Rewards

    The last program's score on all tests: `reward(result)`, StepCoder's table by default (+1
    all pass, -0.3 wrong answer, -0.6 runtime error, -1 compile error), `"pass_fraction"`,
    `"binary"` or a callable. Earlier turns earn 0, unless `turn_reward` (a reward name or
    callable) shapes them: it then scores each earlier turn's visible-test result.

    ## Starting State

    A problem drawn uniformly with `self.np_random` (or `reset(options={"problem_id": ...})`).
    There is no curriculum: the agent always writes the whole program. A problem whose canonical
    solution fails its own tests is served with a warning, as in `CodeGen-v0`.

    ## Episode End

    Terminates when a program passes every visible test. Truncates when `max_turns` programs
    were judged. Either way the last program is scored on all tests on that step. A sandbox
    failure (`Outcome.INFRA_ERROR`) on any run of a turn voids the turn: it is not counted
    towards `max_turns`, ends nothing, earns 0, `info["infra_error"]` is True, and the
    observation says that the run failed for infrastructure reasons and asks for the program
    again. The id is registered without `max_episode_steps` (a `TimeLimit` would count voided
    turns); the env bounds its episodes itself.

    ## Arguments

    `gymnasium.make("CodeRepair-v0", problems="bundled", split="train", reward="stepcoder",
    limits=None, visible_tests=2, max_turns=4, feedback=("tests",), turn_reward=None,
    max_prompt_chars=8192, max_code_chars=16384, max_feedback_chars=2000, render_mode=None,
    executor=None)`

    - `problems`, `split`, `reward`, `limits`, `executor`: as `CodeGen-v0`.
    - `visible_tests`: how many of a problem's tests (its first ones) the agent sees run.
    - `max_turns`: programs judged per episode.
    - `feedback`: what the feedback holds, a tuple of `"tests"` (required) and `"coverage"`.
    - `turn_reward`: None (the default), or a reward name or callable that scores every turn but
      the last on its visible-test result.
    - `max_prompt_chars`, `max_code_chars`, `max_feedback_chars`: sizes of the statement, the
      program and the feedback.
    - `render_mode`: `"ansi"`, `"human"` or None, as `CodeGen-v0`.

    ## Info

    `reset` returns `problem_id`, `difficulty`, `visible_tests`, `hidden_tests` (counts) and
    `max_turns`. Every step adds `turn` (programs judged so far), `visible_outcome` and
    `visible_pass_fraction` (the run on the visible tests), `feedback` (the text shown) and
    `infra_error`. The last step adds what the other envs' terminal info holds, computed on all
    tests: `outcome`, `passed`, `pass_fraction`, `tests`, `program`, `result`, `infra_error_message`,
    `truncated_program` (ended by `max_turns`) and `coverage` (`executed_lines`, and `line_mask`,
    one entry per line of the program).

    ## Examples

    ```pycon
    >>> import gymnasium as gym
    >>> import codegym
    >>> env = gym.make("CodeRepair-v0", split="test", max_turns=2)
    >>> obs, info = env.reset(seed=0, options={"problem_id": "intro-b-005"})
    >>> info["visible_tests"], info["max_turns"]
    (2, 2)
    >>> obs, reward, terminated, truncated, info = env.step("print('hello')\\n")
    >>> print(info["feedback"].splitlines()[0])
    Visible test 1 of 2 failed (0 of 2 passed). Wrong answer.
    >>> reward, terminated, truncated
    (0.0, False, False)

    ```

    ## Version History

    - v0: Initial version.
    """

    _limit_name = "max_turns"

    def __init__(
        self,
        problems: str | os.PathLike[str] | Sequence[Problem] | None = "bundled",
        split: str | None = "train",
        reward: str | RewardFn = "stepcoder",
        limits: Limits | None = None,
        visible_tests: int = 2,
        max_turns: int = 4,
        feedback: Sequence[str] = ("tests",),
        turn_reward: str | RewardFn | None = None,
        max_prompt_chars: int = 8192,
        max_code_chars: int = 16384,
        max_feedback_chars: int = 2000,
        render_mode: str | None = None,
        executor: Executor | None = None,
    ) -> None:
        check_settings(
            visible_tests=visible_tests,
            max_turns=max_turns,
            max_prompt_chars=max_prompt_chars,
            max_code_chars=max_code_chars,
            max_feedback_chars=max_feedback_chars,
        )
        if isinstance(feedback, str):
            feedback = (feedback,)
        for item in feedback:
            if item not in FEEDBACK:
                raise UnknownNameError("feedback", item, FEEDBACK)
        if "tests" not in feedback:
            raise ConfigError(f"feedback must include 'tests', got {tuple(feedback)!r}")
        self._setup(
            EpisodeCore(problems, split, "none", reward, limits, executor),
            render_mode,
            own_limit=max_turns,
        )
        self.visible_tests = visible_tests
        self.max_turns = max_turns
        self.feedback = tuple(feedback)
        self.turn_reward_fn = get_reward(turn_reward) if turn_reward is not None else None
        self.max_prompt_chars = max_prompt_chars
        self.max_code_chars = max_code_chars
        self.max_feedback_chars = max_feedback_chars
        self.action_space = AnyText(max_length=max_code_chars, min_length=0, charset=LINE_CHARSET)
        # prompt + starter code, then the program and the feedback with their headings
        self.observation_space = AnyText(
            max_length=2 * max_prompt_chars + max_code_chars + max_feedback_chars + 256,
            min_length=0,
            charset=LINE_CHARSET,
        )
        self._recorder = _Recorder()
        self._turn = 0
        self._program = ""
        self._feedback = ""

    # -- gymnasium API ------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        unknown = set(options or {}) - {"problem_id"}
        if unknown:
            raise ConfigError(f"unknown reset option(s) {sorted(unknown)}; valid: 'problem_id'")
        episode = self._begin(options)
        # The agent writes the whole program: scoring prepends nothing.
        self._episode = replace(episode, start_code="")
        self._turn, self._program, self._feedback = 0, "", ""
        visible, hidden = self._split_tests(episode.problem)
        self._recorder.inner = episode.problem.comparator or default_comparator
        info = {
            "problem_id": episode.problem.id,
            "difficulty": episode.problem.difficulty.value,
            "visible_tests": len(visible),
            "hidden_tests": len(hidden),
            "max_turns": self._limit,
        }
        return self._obs(), info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        episode = self._check_step()
        program = self._check_action(action)
        visible, _ = self._split_tests(episode.problem)
        self._recorder.program = program
        result = self.core.executor.run(
            program, visible, limits=self.core.limits, comparator=self._recorder
        )
        text = feedback_text(
            program,
            visible,
            result,
            produced=lambda test: self._recorder.produced(program, test),
            coverage="coverage" in self.feedback,
            max_chars=self.max_feedback_chars,
        )
        infra = result.outcome is Outcome.INFRA_ERROR
        turn_info = {
            "turn": self._turn + (not infra),
            "visible_outcome": result.outcome.value,
            "visible_pass_fraction": result.pass_fraction,
            "feedback": text,
            "infra_error": infra,
        }
        self._program, self._feedback = program, text
        if infra:
            turn_info["infra_error_message"] = result.infra_error
            return self._obs(), 0.0, False, False, turn_info
        terminated = result.passed
        if not terminated and self._turn + 1 < self._limit:
            self._turn += 1
            shaped = self.turn_reward_fn(result) if self.turn_reward_fn is not None else 0.0
            return self._obs(), float(shaped), False, False, turn_info
        return self._score(program, turn_info, terminated=terminated)

    def submit(self, program: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """End the episode now with ``program``: score it on all tests (a terminating turn, with
        no visible-test feedback first). Not part of the Gymnasium API: it serves loops whose
        agent decides when it is done, such as the ``submit`` tool of
        :class:`codegym.integrations.repair_tools.RepairTools`. A sandbox failure voids it, as
        in :meth:`step`. ``info["visible_outcome"]`` and ``info["visible_pass_fraction"]`` come
        from the visible tests' share of the run."""
        self._check_step()
        program = self._check_action(program)
        self._program = program
        self._feedback = "Program submitted: it is scored on all tests."
        turn_info = {"turn": self._turn + 1, "feedback": self._feedback, "infra_error": False}
        return self._score(program, turn_info, terminated=True)

    def _score(
        self, program: str, turn_info: dict[str, Any], *, terminated: bool
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """The last turn: score ``program`` on all tests and end the episode, or void the turn
        when the sandbox failed."""
        assert self._episode is not None
        reward, info = self.core.finish(self._episode, program)
        if info["infra_error"]:
            visible, _ = self._split_tests(self._episode.problem)
            self._feedback = feedback_text(program, visible, info["result"])
            void = {**turn_info, "feedback": self._feedback, "turn": self._turn}
            void["visible_outcome"] = Outcome.INFRA_ERROR.value
            void["infra_error"], void["infra_error_message"] = True, info["infra_error_message"]
            return self._obs(), 0.0, False, False, void
        self._turn += 1
        if "visible_outcome" not in turn_info:  # submitted: the visible share of the run
            shown = info["result"].tests[: len(self._split_tests(self._episode.problem)[0])]
            first_failure = next((t.outcome.value for t in shown if not t.passed), "passed")
            turn_info["visible_outcome"] = first_failure
            turn_info["visible_pass_fraction"] = sum(t.passed for t in shown) / len(shown)
        for key in ("stage", "n_stages", "prefix", "curriculum"):
            info.pop(key, None)  # no curriculum here
        info.update(turn_info)
        self._close(info, terminated=terminated)
        return self._obs(), reward, terminated, not terminated, info

    # -- internals ----------------------------------------------------------------------------------

    def _split_tests(self, problem: Problem) -> tuple[tuple[TestCase, ...], tuple[TestCase, ...]]:
        k = min(self.visible_tests, max(len(problem.tests) - 1, 1))
        return problem.tests[:k], problem.tests[k:]

    def _check_action(self, action: Any) -> str:
        if not isinstance(action, str):
            raise InvalidActionError(
                f"action must be a str (the whole program), got {type(action).__name__}"
            )
        if len(action) > self.max_code_chars:
            raise InvalidActionError(
                f"program of {len(action)} characters exceeds max_code_chars={self.max_code_chars}"
            )
        if "\x00" in action:
            raise InvalidActionError("program contains a NUL character ('\\x00')")
        return action

    def _prompt(self) -> str:
        assert self._episode is not None
        p = self._episode.problem
        text = p.statement[: self.max_prompt_chars].rstrip() + "\n"
        if p.starter_code:
            text += "\nStarter code:\n" + p.starter_code[: self.max_prompt_chars]
            text += "" if text.endswith("\n") else "\n"
        return text

    def _obs(self) -> str:
        text = self._prompt()
        if self._program or self._feedback:
            attempt = min(max(self._turn, 1), self._limit)
            text += (
                f"\n### Attempt {attempt} of {self._limit}\n```python\n"
                f"{self._program.rstrip()}\n```\n### Feedback\n{self._feedback}\n"
            )
        return text

    def _render_text(self) -> str:
        if self._episode is None:
            return "(no episode: call reset())\n"
        p = self._episode.problem
        head = f"== {p.id} [{p.difficulty.value}] turn {self._turn}/{self._limit} =="
        out = [head, p.statement.rstrip(), ""]
        mask = self._last_info["coverage"]["line_mask"] if self._last_info else None
        if self._program:
            out.append("-- program --")
            for i, line in enumerate(self._program.rstrip("\n").split("\n")):
                mark = " " if mask is None or i >= len(mask) else ("+" if mask[i] else "-")
                out.append(f"  {mark} {line}")
            out += ["-- feedback --", self._feedback]
        if self._last_info:
            info = self._last_info
            out.append(
                f"-- outcome on all tests: {info['outcome']} "
                f"(pass fraction {info['pass_fraction']:.2f}) --"
            )
        return "\n".join(out) + "\n"
