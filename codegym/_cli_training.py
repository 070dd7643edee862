"""The ``codegym`` commands that train and measure: ``train``, ``evaluate`` and ``bench`` (the
parser and the other commands are in :mod:`codegym.cli`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codegym.cli import EXIT_OK, EXIT_USAGE


def _say_between_bars(line: str) -> None:
    """Print a line above the progress bars (a plain print would land on the end of a bar)."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


def cmd_train(args: argparse.Namespace) -> int:
    from codegym._dataclass_args import dataclass_values
    from codegym.agents import PRESETS, PPOConfig

    settings: dict = dict(PRESETS[args.preset]) if args.preset else {}
    settings.update(dataclass_values(args, PPOConfig))
    config = PPOConfig(**settings)
    from codegym.agents.trainer import train

    show_progress = not args.quiet and sys.stderr.isatty()
    say = _say_between_bars if show_progress else print
    print(
        f"training {config.model} on {config.problems} ({config.split or 'all'} split"
        f"{f', first {config.problem_limit}' if config.problem_limit else ''}): "
        f"{config.iterations} iterations x {config.episodes_per_iteration} episodes, "
        f"curriculum {config.curriculum}, FGO {'on' if config.fgo else 'off'}; "
        f"output {config.output_dir}",
        flush=True,
    )
    print(
        "(the rollout pass rate is measured at each problem's current CCCS stage, so it falls as "
        "problems move to harder stages; 'by stage' shows where, and the fixed evaluation, the "
        "same starts every time, is the measure of progress)",
        flush=True,
    )

    def report(s) -> None:  # noqa: ANN001
        by_level = " ".join(f"{k[:5]}={v:.2f}" for k, v in s.pass_rate_by_difficulty.items())
        by_stage = " ".join(f"s{k}={r:.2f}/{n}" for k, (r, n) in s.pass_rate_by_stage.items())
        dropped = f"  ({s.dropped_infra_errors} sandbox errors)" if s.dropped_infra_errors else ""
        unexecuted = " ".join(f"{k}={r:.2f}" for k, (r, _) in s.fgo_masked_by_outcome.items())
        say(
            f"iter {s.iteration:3d}  reward {s.reward_mean:+.3f}  pass {s.pass_rate:.2f} ({by_level}; "
            f"by stage {by_stage})  kl {s.approx_kl:.4f}  problems per stage {s.stage_histogram}  "
            f"FGO masks {s.fgo_masked_fraction:.2f} (unexecuted by outcome: {unexecuted})  "
            f"time gen {s.seconds['generation']:.1f}s sandbox {s.seconds['sandbox']:.1f}s "
            f"update {s.seconds['update']:.1f}s{dropped}"
        )

    def evaluated(done: int, evaluation: Any) -> None:
        say(f"eval after {done:3d} iterations: {evaluation.summary()}")

    result = train(config, progress=show_progress, on_iteration=report, on_evaluation=evaluated)
    # (a finished run resumed trains nothing: the trainer's warning says so, on stderr)
    if result.resumed_from is not None and result.resumed_from < config.iterations:
        print(f"this run resumed {result.model_path} at iteration {result.resumed_from}")
    if result.evaluations:
        (_, first), (_, last) = result.evaluations[0], result.evaluations[-1]
        print(
            f"fixed evaluation ({last.episodes} episodes, {last.method}, every stage of every "
            f"training problem): pass rate {first.pass_rate:.2f} -> {last.pass_rate:.2f}, "
            f"full task {first.full_task:.2f} -> {last.full_task:.2f}"
        )
    print(f"checkpoint: {result.model_path}")
    print(f"tensorboard: tensorboard --logdir {result.output_dir}/tensorboard")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from codegym.problems import load

    ks = sorted(set(args.k))
    split = None if args.split == "all" else args.split
    if args.repair_turns:
        return evaluate_repair(args)
    if args.samples:
        from codegym.evaluation import evaluate_programs, read_samples
        from codegym.sandbox.ray import executor_for

        with executor_for(args.ray_address) as executor:
            report = evaluate_programs(
                load(args.source, split=split), read_samples(args.samples), ks=ks, executor=executor
            )
    else:
        from codegym.agents.evaluate import evaluate_model

        greedy = args.n == 1 if args.greedy is None else args.greedy
        report = evaluate_model(
            args.model, problems=args.source, split=split, n_samples=args.n, ks=ks,
            greedy=greedy, temperature=args.temperature, max_new_tokens=args.max_new_tokens, device=args.device,
            ray_address=args.ray_address,
        )  # fmt: skip
    print(report.table())
    return EXIT_OK


def evaluate_repair(args: argparse.Namespace) -> int:
    if args.ray_address:
        print(
            "codegym: error: --repair-turns runs on this machine: its feedback reads what the "
            "programs returned in this process, which --ray-address would not give it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.repair_turns < 0 or not args.model:
        print(
            "codegym: error: --repair-turns needs --model (a model writes the repairs) and K >= 0",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from codegym.agents.evaluate import evaluate_repair

    report = evaluate_repair(
        args.model, turns=args.repair_turns, problems=args.source,
        split=None if args.split == "all" else args.split,
        max_new_tokens=args.max_new_tokens, device=args.device,
    )  # fmt: skip
    print(report.table())
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    import time

    import gymnasium as gym
    import numpy as np

    import codegym  # noqa: F401
    from codegym.problems import load
    from codegym.sandbox import Executor

    problems = load(split=None)[: args.problems]
    with Executor() as executor:
        executor.run_many(
            [(p.canonical_solution + "# warm\n", p) for p in problems[: executor.workers]]
        )
        start = time.perf_counter()
        results = executor.run_many(
            [(p.canonical_solution + f"# bench {time.time()}\n", p) for p in problems]
        )
        seconds = time.perf_counter() - start
    tests = sum(len(r.tests) for r in results)
    print(
        f"sandbox: {len(problems) / seconds:.1f} programs/s, {tests / seconds:.1f} tests/s ({executor.workers} workers, coverage on)"
    )
    env = gym.make("CodeGen-v0")
    env.reset(seed=0)
    eos = env.unwrapped.tokenizer.eos_token_id
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=args.steps)
    actions[actions == eos] = eos + 1
    start = time.perf_counter()
    for i, a in enumerate(actions, 1):
        if i % 500 == 0:
            env.reset()
        env.step(int(a))
    print(f"env: {args.steps / (time.perf_counter() - start):,.0f} non-terminal CodeGen-v0 steps/s")
    print("full benchmarks with same-run baselines: benchmarks/ in the repository")
    return EXIT_OK


def train_config_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per ``PPOConfig`` field, named and described by the field (``--sft-steps`` for
    ``sft_steps``); a flag given overrides the preset, which overrides the field's default."""
    from codegym._dataclass_args import add_dataclass_arguments
    from codegym.agents.config import PPOConfig

    group = p.add_argument_group("training configuration (codegym.agents.PPOConfig fields)")
    aliases = {"episodes_per_iteration": ["--episodes"], "problems": ["--source"]}
    add_dataclass_arguments(group, PPOConfig, skip=["env_kwargs"], aliases=aliases)
    # Older spellings, kept working: --no-cccs is --curriculum none.
    group.add_argument(
        "--no-cccs",
        dest="curriculum",
        action="store_const",
        const="none",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
