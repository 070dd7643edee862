"""Evaluation of a policy through the env.

- ``evaluate_model``: pass@k of a saved model on a problem source, from the full task (stage 0).
- ``evaluate_repair``: pass@1 of a saved model after K turns of test feedback in
  ``CodeRepair-v0``, next to pass@1 of its first program (as LiveCodeBench reports self-repair).
- ``stage_evaluation``: the trainer's fixed yardstick, the pass rate on a fixed set of problems
  started at *every* curriculum stage (the full task included), measured the same way before,
  during and after PPO. The per-iteration rollout pass rate is measured at whatever stage CCCS
  has reached, so it falls whenever the curriculum moves a problem to a harder stage; this
  measurement does not move.
- ``unexecuted_code``: how much of the code a policy writes no test executes (the tokens FGO
  masks), by outcome, over the same starts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import codegym  # noqa: F401  (registers the env ids)
from codegym.agents.policy import (
    SEPARATOR,
    ValueHeadModel,
    build_context,
    load_policy,
    resolve_device,
)
from codegym.agents.rollout import EpisodeRecord, collect
from codegym.curriculum import segment
from codegym.envs.repair_env import CodeRepairEnv
from codegym.evaluation import EvalReport, evaluate_programs
from codegym.problems import Problem, resolve_problems
from codegym.sandbox import Executor
from codegym.sandbox.ray import executor_for

__all__ = [
    "evaluate_model",
    "evaluate_repair",
    "evaluation_envs",
    "RepairReport",
    "CoverageReport",
    "StageEvaluation",
    "stage_evaluation",
    "stage_tasks",
    "unexecuted_code",
]


def evaluate_model(
    model_path: str,
    *,
    problems: str | list[Problem] = "bundled",
    split: str | None = "test",
    n_samples: int = 1,
    ks: Iterable[int] = (1,),
    greedy: bool = True,
    temperature: float = 0.8,
    max_new_tokens: int = 256,
    max_context_tokens: int = 448,
    batch_size: int = 16,
    device: str = "auto",
    seed: int = 0,
    ray_address: str | None = None,
) -> EvalReport:
    """Generate ``n_samples`` programs per problem (greedy: one) and compute pass@k by difficulty.

    The programs run on this machine, or on the Ray cluster at ``ray_address``."""
    dev = resolve_device(device)
    model, tokenizer = load_policy(model_path, dev)
    model.eval()
    pool = resolve_problems(problems, split)
    n_samples = 1 if greedy else n_samples
    executor = executor_for(ray_address)
    env_kwargs = {
        "problems": pool,
        "split": None,
        "tokenizer": tokenizer,
        "curriculum": "none",
        "max_new_tokens": max_new_tokens,
        "max_prompt_tokens": max_context_tokens,
        "max_prefix_tokens": max_context_tokens,
        "executor": executor,
    }
    envs = [gym.make("CodeGen-v0", **env_kwargs) for _ in range(batch_size)]
    generator = torch.Generator(device=dev).manual_seed(seed)
    wanted = [p.id for p in pool for _ in range(n_samples)]
    samples: dict[str, list[str]] = defaultdict(list)
    try:
        for lo in range(0, len(wanted), batch_size):
            ids = wanted[lo : lo + batch_size]
            batch_envs = envs[: len(ids)]
            episodes, _ = collect(
                model, tokenizer, batch_envs, seeds=[seed + lo + i for i in range(len(ids))],
                options=[{"problem_id": pid} for pid in ids], max_context=max_context_tokens,
                temperature=temperature, greedy=greedy, device=dev, generator=generator,
            )  # fmt: skip
            for e in episodes:
                samples[e.problem_id].append(e.info["program"])
        return evaluate_programs(pool, samples, ks=ks, executor=executor, coverage=True)
    finally:
        executor.close()
        for env in envs:
            env.close()


@dataclass
class RepairReport:
    """pass@1 before and after turns of test feedback (``codegym evaluate --repair-turns K``)."""

    turns: int
    """Turns of feedback the model had (K)."""
    first: EvalReport
    """pass@1 of the first program, on all tests: no feedback."""
    repaired: EvalReport
    """pass@1 of the last program after up to ``turns`` rounds of visible-test feedback."""

    def table(self) -> str:
        head = f"difficulty     problems  pass@1  pass@1 after {self.turns} repair turn(s)"
        lines = [head]
        names = [*sorted(self.first.by_difficulty), "overall"]
        for name in names:
            before = self.first.overall if name == "overall" else self.first.by_difficulty[name]
            after = (
                self.repaired.overall if name == "overall" else self.repaired.by_difficulty[name]
            )
            n = self.first._n.get(name, 0)
            lines.append(f"{name:14s} {n:8d}  {100 * before[1]:6.1f}  {100 * after[1]:6.1f}")
        return "\n".join(lines)


@torch.no_grad()
def evaluate_repair(
    model_path: str,
    *,
    turns: int,
    problems: str | list[Problem] = "bundled",
    split: str | None = "test",
    visible_tests: int = 2,
    max_new_tokens: int = 256,
    max_context_tokens: int = 448,
    device: str = "auto",
) -> RepairReport:
    """Greedy pass@1 of a saved model with ``turns`` turns of feedback from ``CodeRepair-v0``.

    The first program comes from the context the agent trains on (statement, separator, starter
    code), so its pass@1 is the plain greedy one; then each turn the model reads the env's
    observation (statement, its last program, the visible tests' feedback) followed by the
    separator and the starter code, and writes a whole new program; the episode ends when a program passes the visible tests or after ``turns + 1``
    programs. The first and the last program of each episode are then scored on all tests.
    """
    dev = resolve_device(device)
    model, tokenizer = load_policy(model_path, dev)
    model.eval()
    pool = resolve_problems(problems, split)
    sep = tokenizer.encode(SEPARATOR, add_special_tokens=False)
    executor = Executor()
    env = CodeRepairEnv(
        problems=pool,
        split=None,
        visible_tests=visible_tests,
        max_turns=turns + 1,
        max_feedback_chars=1000,
        executor=executor,
    )

    def write(observation: str, starter: str) -> str:
        context = build_context(
            tokenizer.encode(observation, add_special_tokens=False),
            tokenizer.encode(starter, add_special_tokens=False),
            sep,
            max_context_tokens,
        )
        ids = torch.tensor([context], device=dev)
        out = model.lm.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        return starter + tokenizer.decode(out[0, len(context) :], skip_special_tokens=True)

    first: dict[str, list[str]] = {}
    last: dict[str, list[str]] = {}
    try:
        for problem in pool:
            obs, _ = env.reset(options={"problem_id": problem.id})
            done, voided = False, 0
            while not done:
                # The first program from the context the agent trains on; then the env's text.
                text = obs if problem.id in first else problem.statement
                program = write(text, problem.starter_code)
                first.setdefault(problem.id, [program])
                obs, _, terminated, truncated, info = env.step(program)
                done = terminated or truncated
                voided += bool(info["infra_error"])
                if voided > 3:  # the sandbox keeps failing: score what there is
                    break
            last[problem.id] = [program]
        return RepairReport(
            turns=turns,
            first=evaluate_programs(pool, first, executor=executor),
            repaired=evaluate_programs(pool, last, executor=executor),
        )
    finally:
        env.close()
        executor.close()


@dataclass
class StageEvaluation:
    """Pass rates of one fixed evaluation: every problem started at every curriculum stage."""

    pass_rate: float
    """Mean over all ``(problem, stage)`` starts: the headline figure."""
    full_task: float
    """Stage 0 only: the problem statement alone (the task the curriculum ends at)."""
    by_stage: dict[int, float]
    """Pass rate of the starts at each stage (0: full task; higher: longer canonical prefix)."""
    by_difficulty: dict[str, float]
    """Pass rate of the starts of each difficulty, all stages together."""
    episodes: int
    """How many episodes the figures average over."""
    passed: dict[tuple[str, int], float] = field(default_factory=dict, repr=False)
    """``(problem id, stage) -> fraction of its samples that passed``."""
    samples: int = 0
    """Episodes per start: 0 greedy decoding (one each), ``n`` sampled ones."""

    @property
    def method(self) -> str:
        """How the episodes were decoded, for labels: ``"greedy"`` or ``"sampled, n per start"``."""
        return "greedy" if self.samples == 0 else f"sampled, {self.samples} per start"

    def summary(self) -> str:
        stages = " ".join(f"s{k}={v:.2f}" for k, v in sorted(self.by_stage.items()))
        return (
            f"pass rate {self.pass_rate:.2f} (all stages), {self.full_task:.2f} (full task); "
            f"by stage {stages}; {self.episodes} episodes ({self.method})"
        )


def evaluation_envs(env_kwargs: dict[str, Any], n: int) -> list[gym.Env]:
    """``n`` envs for :func:`stage_evaluation` made like the training envs from ``env_kwargs``
    (same problems, tokenizer, sandbox and limits) but with a curriculum of their own, so the
    evaluation's forced starts never count as training episodes."""
    return [gym.make("CodeGen-v0", **{**env_kwargs, "curriculum": "none"}) for _ in range(n)]


def stage_tasks(problems: Sequence[Problem]) -> list[tuple[str, int]]:
    """Every ``(problem id, stage)`` start of ``problems``, in a fixed order."""
    return [(p.id, k) for p in problems for k in range(segment(p.canonical_solution).n_stages)]


def _every_start(
    model: ValueHeadModel,
    tokenizer: Any,
    envs: Sequence[gym.Env],
    problems: Sequence[Problem],
    *,
    samples: int,
    temperature: float,
    seed: int,
    max_context: int,
    device: torch.device,
    pool: ThreadPoolExecutor | None,
    on_progress: Callable[[int], None] | None,
) -> Iterator[EpisodeRecord]:
    """The episodes of every ``(problem, stage)`` start, ``samples`` each (0: one, greedy), forced
    through ``reset(options=...)``, a batch of ``len(envs)`` at a time, from a seeded generator."""
    greedy = samples == 0
    tasks = [t for t in stage_tasks(problems) for _ in range(samples or 1)]
    generator = torch.Generator(device=device).manual_seed(seed)
    for lo in range(0, len(tasks), len(envs)):
        chunk = tasks[lo : lo + len(envs)]
        episodes, _ = collect(
            model, tokenizer, list(envs[: len(chunk)]), seeds=[seed + lo + i for i in range(len(chunk))],
            options=[{"problem_id": pid, "stage": stage} for pid, stage in chunk],
            max_context=max_context, temperature=temperature, greedy=greedy, device=device,
            generator=generator, pool=pool,
        )  # fmt: skip
        for (pid, stage), e in zip(chunk, episodes):
            assert (e.problem_id, e.stage) == (pid, stage), (e.problem_id, e.stage, pid, stage)
            yield e
        if on_progress is not None:
            on_progress(len(chunk))


@torch.no_grad()
def stage_evaluation(
    model: ValueHeadModel,
    tokenizer: Any,
    envs: Sequence[gym.Env],
    problems: Sequence[Problem],
    *,
    samples: int = 0,
    temperature: float = 1.0,
    seed: int = 0,
    max_context: int = 448,
    device: torch.device,
    pool: ThreadPoolExecutor | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> StageEvaluation:
    """Run every problem of ``problems`` from every curriculum stage and return the pass rates.

    ``envs`` must not share the training curriculum (give them ``curriculum="none"``): the starts
    are forced through ``reset(options={"problem_id", "stage"})`` and must not count as training
    episodes. ``samples = 0`` decodes greedily, one episode per start (as ``PPOConfig.eval_samples``);
    ``n > 0`` draws ``n`` per start from a generator seeded with ``seed``, so two calls on the same
    model agree exactly. ``on_progress(n)`` is called as each batch of ``n`` episodes ends.
    """
    outcomes: dict[tuple[str, int], list[bool]] = defaultdict(list)
    difficulty = {p.id: str(p.difficulty.value) for p in problems}
    for e in _every_start(
        model, tokenizer, envs, problems, samples=samples, temperature=temperature, seed=seed,
        max_context=max_context, device=device, pool=pool, on_progress=on_progress,
    ):  # fmt: skip
        if not e.infra_error:  # sandbox failures say nothing about the model
            outcomes[(e.problem_id, e.stage)].append(e.passed)
    rates = {key: float(np.mean(v)) for key, v in outcomes.items()}
    by_stage: dict[int, list[float]] = defaultdict(list)
    by_difficulty: dict[str, list[float]] = defaultdict(list)
    for (pid, stage), rate in rates.items():
        by_stage[stage].append(rate)
        by_difficulty[difficulty[pid]].append(rate)
    return StageEvaluation(
        pass_rate=float(np.mean(list(rates.values()))) if rates else 0.0,
        full_task=float(np.mean(by_stage[0])) if by_stage.get(0) else 0.0,
        by_stage={k: float(np.mean(v)) for k, v in sorted(by_stage.items())},
        by_difficulty={k: float(np.mean(v)) for k, v in sorted(by_difficulty.items())},
        episodes=sum(len(v) for v in outcomes.values()),
        passed=rates,
        samples=samples,
    )


@dataclass
class CoverageReport:
    """How much of the code a policy writes no unit test executed: the raw material of FGO.

    Counts by episode outcome (``passed``, ``wrong_answer``, ``runtime_error``, ...). A compile
    error never ran, so the env gives it all-ones masks: it never counts as unexecuted."""

    episodes: dict[str, int]
    """Scored episodes (sandbox infrastructure errors left out)."""
    with_unexecuted: dict[str, int]
    """Episodes with at least one generated line that no test executed (``line_mask`` 0)."""
    tokens: dict[str, int]
    """Generated tokens (the end-of-sequence action included, as the trainer counts them)."""
    unexecuted_tokens: dict[str, int]
    """Generated tokens with ``token_mask`` 0: what FGO leaves out of the policy loss."""
    samples: int = 0
    """Episodes per start: 0 greedy (one each), ``n`` sampled."""

    def total(self, field_name: str) -> int:
        return sum(getattr(self, field_name).values())

    def table(self) -> str:
        """One row per outcome and a total: episodes, how many hold unexecuted lines, the share
        of tokens masked."""
        rows = [
            f"{'outcome':16s}{'episodes':>10s}{'with unexecuted lines':>24s}{'tokens masked':>16s}"
        ]
        names = [*sorted(self.episodes), "all"]
        for name in names:
            if name == "all":
                n, k = self.total("episodes"), self.total("with_unexecuted")
                t, u = self.total("tokens"), self.total("unexecuted_tokens")
            else:
                n, k = self.episodes[name], self.with_unexecuted[name]
                t, u = self.tokens[name], self.unexecuted_tokens[name]
            rows.append(f"{name:16s}{n:10d}{k:>14d} ({k / max(n, 1):5.1%}){u / max(t, 1):>16.1%}")
        return "\n".join(rows)


@torch.no_grad()
def unexecuted_code(
    model: ValueHeadModel,
    tokenizer: Any,
    envs: Sequence[gym.Env],
    problems: Sequence[Problem],
    *,
    samples: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    max_context: int = 448,
    device: torch.device,
    pool: ThreadPoolExecutor | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> CoverageReport:
    """Sample solutions on ``problems`` from every curriculum stage (``samples`` per start, 0:
    greedy) and count, from each episode's terminal ``info["coverage"]``, the generated lines and
    tokens no test executed. Answers "does FGO have anything to mask?" for a given policy.

    ``envs``: as for :func:`stage_evaluation` (a curriculum of their own, ``evaluation_envs``)."""
    episodes: Counter[str] = Counter()
    with_unexecuted: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    unexecuted: Counter[str] = Counter()
    for e in _every_start(
        model, tokenizer, envs, problems, samples=samples, temperature=temperature, seed=seed,
        max_context=max_context, device=device, pool=pool, on_progress=on_progress,
    ):  # fmt: skip
        if e.infra_error:
            continue
        episodes[e.outcome] += 1
        with_unexecuted[e.outcome] += int((np.asarray(e.info["coverage"]["line_mask"]) == 0).any())
        tokens[e.outcome] += len(e.token_mask)
        unexecuted[e.outcome] += int((e.token_mask == 0).sum())
    return CoverageReport(
        episodes=dict(episodes),
        with_unexecuted={k: with_unexecuted[k] for k in episodes},
        tokens={k: tokens[k] for k in episodes},
        unexecuted_tokens={k: unexecuted[k] for k in episodes},
        samples=samples,
    )
