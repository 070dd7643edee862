"""codegym in TRL's ``GRPOTrainer``: problems as a dataset, the sandbox as a reward function, and
StepCoder's CCCS and FGO (``pip install "codegym[trl]"``)::

    from trl import GRPOConfig, GRPOTrainer
    from codegym.curriculum import Curriculum
    from codegym.integrations import trl as cg

    problems = codegym.problems.load("bundled", split="train")
    curriculum = Curriculum(problems)                        # CCCS
    trainer = GRPOTrainer(
        model=...,
        args=GRPOConfig(...),
        train_dataset=cg.dataset(problems, curriculum=curriculum),
        reward_funcs=cg.reward_function(problems, curriculum=curriculum),
        rollout_func=cg.rollout_func(problems),              # FGO
        callbacks=[cg.curriculum_callback(curriculum)],       # saved with each checkpoint
    )

**Where each part goes.** The reward function scores a whole batch in one
:meth:`~codegym.sandbox.Executor.run_many` on a warm pool and returns ``None`` (TRL drops the
sample from that reward) for sandbox failures. CCCS lives in a dataset *transform*
(``datasets.Dataset.with_transform``): TRL reads rows one at a time as it samples them, so each
time a problem is drawn its prompt carries the prefix of its current stage; the reward function
records each result in the same :class:`~codegym.curriculum.Curriculum`, which moves the stages.
FGO needs the coverage of a completion *before* the loss is built, and TRL's only way to mask a
completion's tokens out of the loss is the ``env_mask`` a ``rollout_func`` returns: the rollout
function generates with the trainer's own generation path (transformers or vLLM), runs the batch,
and returns the coverage token mask as ``env_mask``. The reward function then finds the results in
the executor's cache, so nothing runs twice.

TRL marks ``rollout_func`` experimental; set ``TRL_EXPERIMENTAL_SILENCE=1`` to silence its warning.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from codegym.curriculum import Curriculum, segment
from codegym.errors import ConfigError, MissingDependencyError
from codegym.integrations._common import (
    PROMPT_STYLES,
    Scored,
    build_prompt,
    ends_in_open_fence,
    score_batch,
    token_mask,
)
from codegym.integrations.repair_tools import RepairTools
from codegym.problems import Problem, resolve_problems
from codegym.rewards import RewardFn, get_reward
from codegym.sandbox import Executor, Limits, Outcome, default_executor

__all__ = [
    "PROMPT_STYLES",
    "RepairTools",
    "RewardFunction",
    "build_prompt",
    "curriculum_callback",
    "dataset",
    "reward_function",
    "rollout_func",
]

logger = logging.getLogger(__name__)

CURRICULUM_FILE = "codegym_curriculum.json"


def _require(package: str) -> None:
    try:
        __import__(package)
    except ImportError as exc:
        raise MissingDependencyError(package, "trl") from exc


def _start_code(problem: Problem, stage: int) -> str:
    """The code a sample at ``stage`` starts from, as the envs start an episode."""
    return segment(problem.canonical_solution).start_code(stage, problem.starter_code)


def _prompt_key(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)


def _last_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        content = prompt[-1].get("content", "")
        return content if isinstance(content, str) else ""
    return ""


def _completion_text(completion: Any) -> str:
    """A completion as text: plain text, or the assistant content of chat messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = [m.get("content") for m in completion if isinstance(m, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    if isinstance(completion, dict) and isinstance(completion.get("content"), str):
        return completion["content"]
    return ""


# -- the dataset ------------------------------------------------------------------------------------


def dataset(
    problems: str | os.PathLike[str] | Sequence[Problem] | None = None,
    *,
    split: str | None = "train",
    prompt_style: str = "plain",
    system_prompt: str | None = None,
    curriculum: Curriculum | None = None,
) -> Any:
    """A ``datasets.Dataset`` with one row per problem: ``prompt``, ``problem_id``, ``stage`` and
    ``code_prefix`` (the code the program starts with; the reward function puts it before the
    completion).

    Without ``curriculum`` every row is the full task (stage 0: the starter code, if any). With a
    :class:`~codegym.curriculum.Curriculum`, the dataset carries a transform that builds each row
    when TRL reads it, at the problem's current stage, so the prompts follow the curriculum as the
    reward function records results. (With ``dataloader_num_workers > 0`` the workers share the
    curriculum through its state file, see :meth:`Curriculum.share`.)
    """
    _require("datasets")
    from datasets import Dataset

    items = resolve_problems(problems if problems is not None else "bundled", split)
    build_prompt(items[0], style=prompt_style)  # checks the style before any row is built
    if curriculum is None:
        rows: dict[str, list[Any]] = {
            "prompt": [],
            "problem_id": [],
            "stage": [],
            "code_prefix": [],
        }
        for p in items:
            start = _start_code(p, 0)
            rows["prompt"].append(
                build_prompt(p, start, style=prompt_style, system_prompt=system_prompt)
            )
            rows["problem_id"].append(p.id)
            rows["stage"].append(0)
            rows["code_prefix"].append(start)
        return Dataset.from_dict(rows)
    by_id = {p.id: p for p in items}
    for p in items:
        curriculum.n_stages(p.id)  # a problem the curriculum does not know fails here, not mid-run
    return Dataset.from_dict({"problem_id": [p.id for p in items]}).with_transform(
        _CurriculumTransform(by_id, curriculum, prompt_style, system_prompt)
    )


class _CurriculumTransform:
    """Builds rows at each problem's current stage, when they are read (picklable for workers)."""

    def __init__(
        self,
        by_id: dict[str, Problem],
        curriculum: Curriculum,
        style: str,
        system_prompt: str | None,
    ) -> None:
        self.by_id, self.curriculum = by_id, curriculum
        self.style, self.system_prompt = style, system_prompt
        self.rng = np.random.default_rng()  # the curriculum's replay draws (Curriculum.replay)

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"prompt": [], "problem_id": [], "stage": [], "code_prefix": []}
        for pid in batch["problem_id"]:
            problem = self.by_id[pid]
            stage = self.curriculum.start_stage(pid, self.rng)
            start = _start_code(problem, stage)
            out["prompt"].append(
                build_prompt(problem, start, style=self.style, system_prompt=self.system_prompt)
            )
            out["problem_id"].append(pid)
            out["stage"].append(stage)
            out["code_prefix"].append(start)
        return out


# -- the reward function ----------------------------------------------------------------------------


class RewardFunction:
    """A TRL reward function backed by the codegym sandbox (build it with :func:`reward_function`).

    Called by TRL as ``f(prompts=, completions=, completion_ids=, problem_id=, ...)``; returns one
    reward per completion, ``None`` where the sandbox failed or the ``problem_id`` is unknown (TRL
    drops those samples from this reward and they never update the curriculum).
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        reward: str | RewardFn,
        executor: Executor | None,
        curriculum: Curriculum | None,
        limits: Limits | None,
    ) -> None:
        self.by_id = {p.id: p for p in problems}
        self.reward_fn = get_reward(reward)
        self.curriculum = curriculum
        self.limits = limits
        self._executor = executor
        name = reward if isinstance(reward, str) else getattr(reward, "__name__", "custom")
        self.__name__ = f"codegym_{name}"
        self._warned: set[str] = set()

    @property
    def executor(self) -> Executor:
        return self._executor if self._executor is not None else default_executor()

    def score(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        problem_ids: Sequence[Any],
        code_prefixes: Sequence[str | None] | None = None,
    ) -> list[Scored | None]:
        """Run a batch (one pool pass); ``None`` for rows whose ``problem_id`` is unknown."""
        if not (len(prompts) == len(completions) == len(problem_ids)):
            raise ConfigError(
                f"got {len(prompts)} prompts, {len(completions)} completions and "
                f"{len(problem_ids)} problem ids; they must match one to one"
            )
        jobs, where = [], []
        for i, (prompt, completion, pid) in enumerate(zip(prompts, completions, problem_ids)):
            problem = self.by_id.get(pid) if isinstance(pid, str) else None
            if problem is None:
                if str(pid) not in self._warned:
                    self._warned.add(str(pid))
                    logger.warning(
                        "problem_id %r is not among the %d problems of this reward function: "
                        "its samples get no reward (None)",
                        pid,
                        len(self.by_id),
                    )
                continue
            prefix = code_prefixes[i] if code_prefixes is not None else None
            if prefix is None:
                prefix = problem.starter_code
            open_fence = ends_in_open_fence(_last_text(prompt))
            jobs.append((problem, prefix, _completion_text(completion), open_fence))
            where.append(i)
        out: list[Scored | None] = [None] * len(prompts)
        if jobs:
            for i, scored in zip(where, score_batch(self.executor, jobs, limits=self.limits)):
                out[i] = scored
        return out

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        *,
        problem_id: Sequence[Any] | None = None,
        code_prefix: Sequence[str | None] | None = None,
        stage: Sequence[int] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        log_extra: Callable[[str, list[Any]], None] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        completions = list(completions or [])
        if not completions:
            return []
        if problem_id is None:
            raise ConfigError(
                "the batch has no 'problem_id' column: build the dataset with "
                "codegym.integrations.trl.dataset() or add a problem_id column to your own"
            )
        prompts = list(prompts) if prompts is not None else [""] * len(completions)
        scored = self.score(prompts, completions, list(problem_id), code_prefix)
        rewards: list[float | None] = []
        for i, s in enumerate(scored):
            if s is None or s.infra:
                rewards.append(None)
                continue
            rewards.append(float(self.reward_fn(s.result)))
            if self.curriculum is not None and stage is not None and stage[i] is not None:
                self.curriculum.record(problem_id[i], int(stage[i]), s.result.passed)
        ran = [s for s in scored if s is not None]
        if log_metric is not None and ran:
            counts = Counter(s.result.outcome for s in ran)
            for outcome in Outcome:  # every outcome, every batch: TRL averages what it is given
                log_metric(f"codegym/{outcome.value}", counts[outcome] / len(ran))
            scorable = [s for s in ran if not s.infra]
            if scorable:
                log_metric(
                    "codegym/pass_rate", sum(s.result.passed for s in scorable) / len(scorable)
                )
                log_metric(
                    "codegym/pass_fraction",
                    sum(s.result.pass_fraction for s in scorable) / len(scorable),
                )
            if self.curriculum is not None:
                stages = [self.curriculum.stage(pid) for pid in self.by_id]
                log_metric("codegym/mean_stage", sum(stages) / len(stages))
        if log_extra is not None:
            log_extra(
                "outcome", [s.result.outcome.value if s else "unknown_problem" for s in scored]
            )
        return rewards


def reward_function(
    problems: str | os.PathLike[str] | Sequence[Problem] | None = None,
    *,
    split: str | None = None,
    reward: str | RewardFn = "stepcoder",
    executor: Executor | None = None,
    curriculum: Curriculum | None = None,
    limits: Limits | None = None,
) -> RewardFunction:
    """A TRL reward function that runs completions against the problems' unit tests.

    Args:
        problems: the problems the batch's ``problem_id`` refer to (a source name, a path or a
            list; default: the bundled set).
        split: keep only this split of ``problems``.
        reward: ``"stepcoder"`` (+1 / -0.3 / -0.6 / -1 by outcome), ``"pass_fraction"``,
            ``"binary"``, or a callable ``(ExecutionResult) -> float``.
        executor: the sandbox pool (default: :func:`codegym.sandbox.default_executor`, one warm
            pool per process). Give the :func:`rollout_func` the same one.
        curriculum: the CCCS :class:`~codegym.curriculum.Curriculum` the dataset uses; each result
            is recorded at the stage its row was built at.
        limits: per-test limits (default: the executor's).
    """
    items = resolve_problems(problems if problems is not None else "bundled", split)
    return RewardFunction(items, reward, executor, curriculum, limits)


# -- FGO through rollout_func -----------------------------------------------------------------------


def rollout_func(
    problems: str | os.PathLike[str] | Sequence[Problem] | None = None,
    *,
    split: str | None = None,
    executor: Executor | None = None,
    limits: Limits | None = None,
    prompt_style: str = "plain",
    system_prompt: str | None = None,
    curriculum: Curriculum | None = None,
) -> Callable[[list[Any], Any], dict[str, Any]]:
    """A TRL ``rollout_func`` that adds StepCoder's FGO: tokens of generated code that no unit test
    executed get ``env_mask`` 0, which TRL multiplies into the loss mask.

    It generates with the trainer's own path (``trainer._generate_single_turn``: transformers,
    continuous batching or vLLM, as configured), runs the batch in the sandbox, and maps each line's
    coverage onto the completion's tokens. ``problems``, ``prompt_style``, ``system_prompt`` and
    ``curriculum`` must be those the dataset was built with: TRL hands a rollout function only the
    prompts, and it finds each prompt's problem and starting code by rebuilding every prompt the
    dataset can produce. A prompt it does not know gets an all-ones mask (no FGO) and a warning.
    """
    items = resolve_problems(problems if problems is not None else "bundled", split)
    build_prompt(items[0], style=prompt_style)
    scorer = RewardFunction(items, "stepcoder", executor, None, limits)
    index: dict[str, tuple[Problem, str]] = {}

    def lookup(prompt: Any) -> tuple[Problem, str] | None:
        if not index:
            for p in items:
                stages = curriculum.n_stages(p.id) if curriculum is not None else 1
                for stage in range(stages):
                    start = _start_code(p, stage)
                    built = build_prompt(p, start, style=prompt_style, system_prompt=system_prompt)
                    index[_prompt_key(built)] = (p, start)
        return index.get(_prompt_key(prompt))

    newline_counts: dict[int, int] = {}  # per token id: a vocabulary is small, batches are not

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        for name in ("_tokenize_prompts", "_generate_single_turn"):
            if not hasattr(trainer, name):
                raise ConfigError(
                    f"this TRL GRPOTrainer has no {name}(); codegym's FGO rollout is written "
                    "against TRL 1.16: pin trl==1.16.* or train without rollout_func (no FGO)"
                )
        prompt_ids, images, multimodal = trainer._tokenize_prompts(prompts)
        generations = (
            trainer.num_generations if trainer.model.training else trainer.num_generations_eval
        )
        completion_ids, logprobs = trainer._generate_single_turn(
            prompt_ids, images, multimodal, generations
        )
        tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)

        def newlines(token: int) -> int:
            token = int(token)
            if token not in newline_counts:
                text = tokenizer.decode([token], skip_special_tokens=True)
                newline_counts[token] = text.count("\n")
            return newline_counts[token]

        found = [lookup(p) for p in prompts]
        unknown = sum(f is None for f in found)
        if unknown:
            logger.warning(
                "%d of %d prompts are not prompts of these problems (with this prompt_style, "
                "system_prompt and curriculum): their completions get no FGO mask",
                unknown,
                len(prompts),
            )
        known = [i for i, f in enumerate(found) if f is not None]
        scored = scorer.score(
            [prompts[i] for i in known],
            [texts[i] for i in known],
            [found[i][0].id for i in known],  # type: ignore[index]
            [found[i][1] for i in known],  # type: ignore[index]
        )
        masks = [[1] * len(ids) for ids in completion_ids]
        for i, s in zip(known, scored):
            if s is not None:
                masks[i] = token_mask([newlines(t) for t in completion_ids[i]], texts[i], s)
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids,
            "logprobs": logprobs,
            "env_mask": masks,
        }

    rollout.__name__ = "codegym_fgo_rollout"
    return rollout


# -- saving the curriculum with the run -------------------------------------------------------------


def curriculum_callback(curriculum: Curriculum) -> Any:
    """A ``transformers.TrainerCallback`` that saves ``curriculum`` into each checkpoint
    (``checkpoint-N/codegym_curriculum.json``) and, when a run resumes from a checkpoint, loads it
    back before training starts."""
    _require("transformers")
    from transformers import TrainerCallback

    class CurriculumCallback(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step > 0:  # resumed: the trainer has loaded the checkpoint's state
                path = os.path.join(
                    args.output_dir, f"checkpoint-{state.global_step}", CURRICULUM_FILE
                )
                if os.path.exists(path):
                    curriculum.load(path)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            os.makedirs(folder, exist_ok=True)
            curriculum.save(os.path.join(folder, CURRICULUM_FILE))

    return CurriculumCallback()
