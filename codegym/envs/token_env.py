"""CodeGen-v0: token-level code generation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from codegym.curriculum import Curriculum
from codegym.envs.base import CodeEnv
from codegym.envs.core import Episode, EpisodeCore, check_settings, render_ansi
from codegym.envs.tokenizer import as_tokenizer
from codegym.errors import InvalidActionError
from codegym.problems import Problem
from codegym.rewards import RewardFn
from codegym.sandbox import Executor, Limits

__all__ = ["CodeGenEnv"]


class CodeGenEnv(CodeEnv[dict[str, np.ndarray], int]):
    """
    ## Description

    Write a Python program one token at a time. Each episode poses one programming problem (a
    statement and unit tests). Following StepCoder's CCCS curriculum, the episode may start from a
    prefix of the canonical solution cut before a conditional statement; the agent writes the rest
    and ends with the end-of-sequence token. The program (prefix + generated code) then runs
    against the problem's tests in codegym's sandbox, and the outcome gives the reward.

    ## Action Space

    `Discrete(vocab_size)`: one token id of the env's tokenizer. The end-of-sequence id
    (`env.unwrapped.tokenizer.eos_token_id`) submits the program.

    ## Observation Space

    A `Dict` of fixed-size `int64` arrays, padded with the tokenizer's pad id:

    | key | shape | content |
    |-----|-------|---------|
    | `prompt` | `(max_prompt_tokens,)` | the problem statement (first `max_prompt_tokens` tokens) |
    | `prefix` | `(max_prefix_tokens,)` | the code the episode starts from (last `max_prefix_tokens` tokens) |
    | `generated` | `(max_new_tokens,)` | the tokens generated so far |
    | `prompt_len`, `prefix_len`, `generated_len` | `(1,)` | how many entries of each are real |

    ## Rewards

    Zero for every non-terminal step. At the end, `reward(result)` of the sandbox result; by
    default StepCoder's table: +1 all tests pass, -0.3 wrong answer, -0.6 runtime error (timeouts
    and resource limits included), -1 compile error. `reward="pass_fraction"`, `"binary"` or any
    callable `f(ExecutionResult) -> float` replace it. A failure of the sandbox itself is never
    scored: the reward is 0, `info["infra_error"]` is True, and trainers should drop the episode.

    ## Starting State

    A problem drawn uniformly with `self.np_random` (or `reset(options={"problem_id": ...})`), and
    the problem's current curriculum stage (or `options={"stage": k}`). Stage 0 starts from the
    starter code only; stage k > 0 from the canonical solution cut before a conditional statement.
    The first time a process serves a problem, the env runs its canonical solution on its tests
    (once per problem and process); a solution that fails them is served anyway, with a
    `UserWarning` naming the problem, since its prefixes and the problem itself may be wrong
    (`codegym problems validate` finds such problems up front).

    ## Episode End

    Terminates when the agent emits the end-of-sequence token. Truncates when `max_new_tokens`
    tokens were generated (or the registered `max_episode_steps`, whichever is smaller): the
    program as generated so far, unfinished last line included, is still run and scored, so the
    truncating step carries the outcome's reward.

    ## Arguments

    `gymnasium.make("CodeGen-v0", problems="bundled", split="train", tokenizer=None,
    curriculum="cccs", reward="stepcoder", limits=None, max_prompt_tokens=1024,
    max_prefix_tokens=1024, max_new_tokens=1024, render_mode=None, executor=None)`

    - `problems`: a source name (`"bundled"`, `"humaneval"`, ...), a path, or a list of `Problem`.
    - `split`: `"train"`, `"test"` or `None` (all).
    - `tokenizer`: `None` (codegym's offline `CodeTokenizer`), a Hugging Face tokenizer or its
      name/local path. With codegym's tokenizer no token spans two lines; with a tokenizer whose
      tokens join a newline to following text, such a token counts for the line it starts on.
    - `curriculum`: `"cccs"`, `"none"` (always stage 0: vanilla RL), a fixed stage `int`, or a
      `codegym.curriculum.Curriculum` (to share or persist state).
    - `reward`: a name from `codegym.rewards.REWARDS` or a callable.
    - `limits`: `codegym.sandbox.Limits` for each test.
    - `executor`: a `codegym.sandbox.Executor` (default: the shared one, one worker per core).
    - `render_mode`: `"ansi"` (text), `"human"` (printed at the end of an episode) or None. Other
      modes (Stable-Baselines3's `make_vec_env` asks for `"rgb_array"`) warn and render nothing.

    ## Info

    `reset` returns `problem_id`, `difficulty`, `stage`, `n_stages`, `prefix` and
    `prompt_truncated` (the statement was longer than `max_prompt_tokens`). The terminal step adds
    `outcome` (an `Outcome` value), `passed`, `pass_fraction`, `tests` (per-test outcome, CPU
    time, detail, exception), `program`, `generated`, `truncated_program` (the episode hit the
    token limit), `infra_error` and `infra_error_message`, `curriculum` (`stage`, `n_stages`,
    `next_stage`), `result` (the `ExecutionResult`) and `coverage`, a `Coverage` mapping:
    `executed_lines` (program line numbers of executed statements), `line_mask` (`int8`, one per
    generated line, 1 if a test executed it), `token_mask` (`int8`, one per action taken, the mask
    of the line the token belongs to; the end-of-sequence token always 1) and
    `first_generated_line`. A program that did not compile gets all-ones masks; an
    infrastructure error all-zeros. `coverage` is a Mapping, not a dict, so vector envs keep each
    sub-env's masks whole (`infos["coverage"][i]["token_mask"]`).

    ## Examples

    ```pycon
    >>> import gymnasium as gym
    >>> import codegym
    >>> env = gym.make("CodeGen-v0", curriculum="none")  # always the whole task
    >>> obs, info = env.reset(seed=0, options={"problem_id": "intro-a-001"})
    >>> info["stage"], info["n_stages"], obs["generated_len"]
    (0, 2, array([0]))
    >>> eos = env.unwrapped.tokenizer.eos_token_id
    >>> obs, reward, terminated, truncated, info = env.step(eos)  # submit an empty program
    >>> reward, terminated, info["outcome"]
    (-0.3, True, 'wrong_answer')

    ```

    ## Version History

    - v0: Initial version.
    """

    _limit_name = "max_new_tokens"

    def __init__(
        self,
        problems: str | os.PathLike[str] | Sequence[Problem] | None = "bundled",
        split: str | None = "train",
        tokenizer: Any = None,
        curriculum: str | int | Curriculum = "cccs",
        reward: str | RewardFn = "stepcoder",
        limits: Limits | None = None,
        max_prompt_tokens: int = 1024,
        max_prefix_tokens: int = 1024,
        max_new_tokens: int = 1024,
        render_mode: str | None = None,
        executor: Executor | None = None,
    ) -> None:
        check_settings(
            max_prompt_tokens=max_prompt_tokens,
            max_prefix_tokens=max_prefix_tokens,
            max_new_tokens=max_new_tokens,
        )
        self._setup(
            EpisodeCore(problems, split, curriculum, reward, limits, executor),
            render_mode,
            own_limit=max_new_tokens,
        )
        self.tokenizer = as_tokenizer(tokenizer)
        self.max_prompt_tokens = max_prompt_tokens
        self.max_prefix_tokens = max_prefix_tokens
        self.max_new_tokens = max_new_tokens
        vocab = int(self.tokenizer.vocab_size)
        self.action_space = spaces.Discrete(vocab)

        def ids(n: int) -> spaces.Box:
            return spaces.Box(0, vocab - 1, shape=(n,), dtype=np.int64)

        def length(n: int) -> spaces.Box:
            return spaces.Box(0, n, shape=(1,), dtype=np.int64)

        self.observation_space = spaces.Dict(
            {
                "prompt": ids(max_prompt_tokens),
                "prompt_len": length(max_prompt_tokens),
                "prefix": ids(max_prefix_tokens),
                "prefix_len": length(max_prefix_tokens),
                "generated": ids(max_new_tokens),
                "generated_len": length(max_new_tokens),
            }
        )
        self._generated = np.full(max_new_tokens, self.tokenizer.pad_token_id, dtype=np.int64)
        self._n = 0
        self._static: dict[str, np.ndarray] = {}
        self._encoded: dict[tuple[str, int], dict[str, np.ndarray]] = {}

    # -- gymnasium API ------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        episode = self._begin(options)
        self._n = 0
        self._generated.fill(self.tokenizer.pad_token_id)
        self._static = self._encode_context(episode)
        info = episode.reset_info()
        info["prompt_truncated"] = bool(self._static["prompt_truncated"][0])
        return self._obs(), info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        self._check_step()
        token = self._check_action(action)
        if token == self.tokenizer.eos_token_id:
            return self._end(terminated=True)
        self._generated[self._n] = token
        self._n += 1
        if self._n >= self._limit:
            return self._end(terminated=False)
        return self._obs(), 0.0, False, False, {}

    def _render_text(self) -> str:
        return render_ansi(self._episode, self._decode_generated(), self._last_info)

    # -- internals ----------------------------------------------------------------------------------

    def _check_action(self, action: Any) -> int:
        if isinstance(action, np.ndarray) and action.shape in ((), (1,)):
            action = action.reshape(()).item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise InvalidActionError(
                f"action must be an integer token id, got {action!r} ({type(action).__name__})"
            )
        token = int(action)
        if not 0 <= token < self.action_space.n:
            raise InvalidActionError(
                f"token id {token} is outside the vocabulary 0..{self.action_space.n - 1}"
            )
        return token

    def _encode_context(self, episode: Episode) -> dict[str, np.ndarray]:
        key = (episode.problem.id, episode.stage)
        cached = self._encoded.get(key)
        if cached is not None:
            return cached
        pad = self.tokenizer.pad_token_id
        prompt_ids = self.tokenizer.encode(episode.problem.statement)
        prefix_ids = self.tokenizer.encode(episode.start_code)
        truncated = len(prompt_ids) > self.max_prompt_tokens
        prompt_ids = prompt_ids[: self.max_prompt_tokens]
        prefix_ids = prefix_ids[-self.max_prefix_tokens :] if prefix_ids else []
        prompt = np.full(self.max_prompt_tokens, pad, dtype=np.int64)
        prompt[: len(prompt_ids)] = prompt_ids
        prefix = np.full(self.max_prefix_tokens, pad, dtype=np.int64)
        prefix[: len(prefix_ids)] = prefix_ids
        encoded = {
            "prompt": prompt,
            "prompt_len": np.array([len(prompt_ids)], dtype=np.int64),
            "prefix": prefix,
            "prefix_len": np.array([len(prefix_ids)], dtype=np.int64),
            "prompt_truncated": np.array([truncated]),
        }
        for value in encoded.values():
            value.flags.writeable = False
        self._encoded[key] = encoded
        return encoded

    def _obs(self) -> dict[str, np.ndarray]:
        s = self._static  # fresh arrays every call: callers keep what they are given
        return {
            "prompt": s["prompt"].copy(),
            "prompt_len": s["prompt_len"].copy(),
            "prefix": s["prefix"].copy(),
            "prefix_len": s["prefix_len"].copy(),
            "generated": self._generated.copy(),
            "generated_len": np.array([self._n], dtype=np.int64),
        }

    def _decode_generated(self) -> str:
        return self.tokenizer.decode(self._generated[: self._n].tolist())

    def _end(
        self, *, terminated: bool
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        tokens = self._generated[: self._n].tolist()
        generated = self.tokenizer.decode(tokens)
        reward, info = self._finish(generated, terminated=terminated)
        coverage = info["coverage"]
        coverage.token_mask = self._token_mask(tokens, generated, coverage.line_mask, terminated)
        return self._obs(), reward, terminated, not terminated, info

    def _token_mask(
        self, tokens: list[int], generated: str, line_mask: np.ndarray, with_eos: bool
    ) -> np.ndarray:
        """The line mask spread over the tokens (plus 1 for the end-of-sequence action)."""
        mask = np.ones(len(tokens) + int(with_eos), dtype=np.int8)
        if not len(line_mask):
            return mask
        token_text = getattr(self.tokenizer, "token_text", None)
        line, offset = 0, 0
        for i, tok in enumerate(tokens):
            if token_text is not None:
                piece = token_text(tok)
            else:  # decode prefixes: exact for any tokenizer, O(n^2) but only once per episode
                piece = self.tokenizer.decode(tokens[: i + 1])[offset:]
            mask[i] = line_mask[min(line, len(line_mask) - 1)]
            line += piece.count("\n")
            offset += len(piece)
        return mask
