"""codegym in verl: problems exported as verl's parquet rows, and a custom reward function that
runs them in codegym's sandbox (``pip install "codegym[verl]"`` for parquet).

Export once, then point verl at the data and at :func:`compute_score`::

    codegym export verl bundled train.parquet --split train

    python -m verl.trainer.main_ppo data.train_files=train.parquet ... \\
        reward.custom_reward_function.path=pkg://codegym.integrations.verl \\
        reward.custom_reward_function.name=compute_score

(``path`` may also be this file's path, ``python -c "import codegym.integrations.verl as m;
print(m.__file__)"``.) Each row's ``reward_model.ground_truth`` carries the problem's tests as JSON,
so scoring needs nothing on the worker but codegym. ``data_source`` starts with ``codegym/`` so
verl's built-in routing for ``apps``/``taco``/``codecontests`` does not claim the rows.

The other way, ``codegym.problems.load("rows.parquet")`` reads verl-style code datasets (see
``codegym.problems.verl_loader``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from codegym.curriculum import segment
from codegym.errors import ConfigError, MissingDependencyError, ProblemFormatError
from codegym.integrations._common import PROMPT_STYLES, build_prompt, score_batch
from codegym.problems import Problem, problem_from_record, problem_to_record, resolve_problems
from codegym.rewards import get_reward
from codegym.sandbox import Limits, default_executor

__all__ = ["DATA_SOURCE_PREFIX", "compute_score", "compute_score_async", "export", "rows"]

logger = logging.getLogger(__name__)

DATA_SOURCE_PREFIX = "codegym/"


# -- export -----------------------------------------------------------------------------------------


def rows(
    problems: str | os.PathLike[str] | Sequence[Problem] | None,
    *,
    split: str | None = None,
    prompt_style: str = "chat",
    system_prompt: str | None = None,
) -> list[dict[str, Any]]:
    """verl's dataset rows for ``problems``, one per problem (what :func:`export` writes).

    ``prompt`` is a list of chat messages (verl applies the chat template); with ``prompt_style=
    "plain"`` it is one user message whose text ends inside an open ``python`` fence, for base
    models behind a pass-through template. ``reward_model.ground_truth`` is the problem's codegym
    record as JSON (tests included).
    """
    if prompt_style not in PROMPT_STYLES:
        raise ConfigError(
            f"prompt_style must be one of {list(PROMPT_STYLES)}, got {prompt_style!r}"
        )
    out = []
    for index, p in enumerate(resolve_problems(problems, split)):
        start = segment(p.canonical_solution).start_code(0, p.starter_code)
        prompt = build_prompt(p, start, style=prompt_style, system_prompt=system_prompt)
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        out.append(
            {
                "data_source": DATA_SOURCE_PREFIX + p.source,
                "prompt": prompt,
                "ability": "code",
                "reward_model": {"style": "rule", "ground_truth": json.dumps(problem_to_record(p))},
                "extra_info": {
                    "split": p.split or split or "train",
                    "index": index,
                    "problem_id": p.id,
                    "difficulty": p.difficulty.value,
                    "prompt_style": prompt_style,
                    "code_prefix": start,
                },
            }
        )
    return out


def export(
    problems: str | os.PathLike[str] | Sequence[Problem] | None,
    path: str | os.PathLike[str],
    *,
    split: str | None = None,
    prompt_style: str = "chat",
    system_prompt: str | None = None,
) -> int:
    """Write verl's parquet dataset for ``problems`` to ``path`` (see :func:`rows`); returns the row
    count. Needs pyarrow (``pip install "codegym[verl]"``)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "verl") from exc
    table = pa.Table.from_pylist(
        rows(problems, split=split, prompt_style=prompt_style, system_prompt=system_prompt)
    )
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    pq.write_table(table, path)
    return table.num_rows


# -- the reward function ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _problem(ground_truth: str) -> Problem:
    try:
        record = json.loads(ground_truth)
    except json.JSONDecodeError as exc:
        raise ProblemFormatError(f"ground_truth is not JSON: {exc}", field="ground_truth") from exc
    if not isinstance(record, dict):
        raise ProblemFormatError("ground_truth must be a JSON object", field="ground_truth")
    if "tests" in record:
        return problem_from_record(record, source="verl")
    # A verl APPS/TACO-style ground truth: {"inputs", "outputs", "fn_name"?}.
    from codegym.problems.verl_loader import problem_from_io

    return problem_from_io("verl", "(from ground_truth)", record, position="ground_truth")


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | dict[str, Any],
    extra_info: dict[str, Any] | None = None,
    *,
    reward: str = "stepcoder",
    cpu_time: float | None = None,
    memory_mb: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's custom reward function: run ``solution_str`` against the tests in ``ground_truth``.

    Returns ``score`` (the ``reward``: ``"stepcoder"``, ``"pass_fraction"`` or ``"binary"``),
    ``acc`` (1.0 when every test passed), ``pass_fraction``, ``outcome``, ``covered_fraction``
    (the share of generated code lines some test executed: FGO's mask, as a metric) and
    ``infra_error``. ``reward``, ``cpu_time`` and ``memory_mb`` come from
    ``reward.custom_reward_function.reward_kwargs``.

    Runs on this process's warm pool (:func:`codegym.sandbox.default_executor`: created on first
    use, recreated in a forked child); thread-safe, so verl may call it from its thread pool. Every
    test is bound by its CPU-time limit and a wall-clock backstop, so a call cannot hang. A sandbox
    failure is retried once; if it fails again the sample gets ``score`` 0.0 with
    ``infra_error=1.0`` (verl cannot drop a sample) and a warning is logged.
    """
    if isinstance(ground_truth, dict):
        ground_truth = json.dumps(ground_truth, sort_keys=True)
    problem = _problem(ground_truth)
    extra_info = extra_info or {}
    prefix = extra_info.get("code_prefix")
    if not isinstance(prefix, str):
        prefix = problem.starter_code
    open_fence = extra_info.get("prompt_style") == "plain"
    limits = None
    if cpu_time is not None or memory_mb is not None:
        base = default_executor().limits
        limits = Limits(
            cpu_time=cpu_time if cpu_time is not None else base.cpu_time,
            memory_mb=memory_mb if memory_mb is not None else base.memory_mb,
        )
    job = [(problem, prefix, solution_str or "", open_fence)]
    scored = score_batch(default_executor(), job, limits=limits)[0]
    if scored.infra:
        scored = score_batch(default_executor(), job, limits=limits)[0]
    result = scored.result
    if scored.infra:
        logger.warning(
            "codegym sandbox failed twice on a %s sample (%s): score 0.0, infra_error=1",
            data_source,
            result.infra_error,
        )
        score = 0.0
    else:
        score = float(get_reward(reward)(result))
    mask = scored.line_mask
    return {
        "score": score,
        "acc": 1.0 if result.passed else 0.0,
        "pass_fraction": result.pass_fraction,
        "outcome": result.outcome.value,
        "covered_fraction": float(mask.mean()) if len(mask) else 0.0,
        "infra_error": 1.0 if scored.infra else 0.0,
    }


async def compute_score_async(
    data_source: str,
    solution_str: str,
    ground_truth: str | dict[str, Any],
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`compute_score` for asyncio callers: runs it in a thread, so the event loop never
    blocks on the sandbox (verl awaits ``async def`` reward functions directly)."""
    return await asyncio.to_thread(
        compute_score, data_source, solution_str, ground_truth, extra_info, **kwargs
    )
