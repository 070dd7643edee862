"""The ``codegym`` command.

Subcommands share conventions: ``--help`` on each, progress on stderr for long work, results on
stdout, and exit codes scripts can rely on: 0 success, 1 the checked thing failed (a validation
found problems, a solution failed its tests), 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from codegym.errors import CodegymError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Progress:
    """A minimal progress line on stderr (no dependency); silent when stderr is not a terminal."""

    def __init__(self, label: str, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def __call__(self, done: int, total: int) -> None:
        if self.enabled:
            width = 30
            filled = width * done // max(total, 1)
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
            )
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()


# -- problems --------------------------------------------------------------------------------------


def _load_args(args: argparse.Namespace):  # noqa: ANN202
    from codegym.problems import load

    problems = load(
        args.source,
        split=getattr(args, "split", None),
        skip_invalid=getattr(args, "skip_invalid", False),
    )
    difficulty = getattr(args, "difficulty", None)
    if difficulty:
        problems = [p for p in problems if p.difficulty.value == difficulty]
    return problems


def cmd_problems_list(args: argparse.Namespace) -> int:
    for p in _load_args(args):
        print(
            f"{p.id}\t{p.difficulty.value}\t{p.mode.value}\t{p.split or '-'}\t{len(p.tests)} tests\t{p.title}"
        )
    return EXIT_OK


def cmd_problems_show(args: argparse.Namespace) -> int:
    from codegym.errors import UnknownNameError
    from codegym.problems import problem_to_record

    problems = {p.id: p for p in _load_args(args)}
    if args.id not in problems:
        raise UnknownNameError("problem id", args.id, problems)
    p = problems[args.id]
    if args.json:
        print(json.dumps(problem_to_record(p), indent=2, ensure_ascii=False))
        return EXIT_OK
    print(
        f"# {p.id} ({p.difficulty.value}, {p.mode.value}, {p.split or 'no split'}, {len(p.tests)} tests)"
    )
    print(p.title and f"## {p.title}\n")
    print(p.statement.rstrip() + "\n")
    if p.starter_code:
        print("## Starter code\n" + p.starter_code)
    print("## Canonical solution\n" + p.canonical_solution)
    return EXIT_OK


def cmd_problems_stats(args: argparse.Namespace) -> int:
    from codegym.curriculum import segment

    problems = _load_args(args)
    by = Counter((p.difficulty.value, p.mode.value) for p in problems)
    print(f"{len(problems)} problems")
    for (difficulty, mode), n in sorted(by.items()):
        print(f"  {difficulty:13s} {mode:6s} {n}")
    splits = Counter(p.split or "-" for p in problems)
    print("splits: " + ", ".join(f"{k}={v}" for k, v in sorted(splits.items())))
    tests = sorted(len(p.tests) for p in problems)
    if tests:
        print(
            f"tests per problem: min {tests[0]}, median {tests[len(tests) // 2]}, max {tests[-1]}"
        )
    stages = Counter(segment(p.canonical_solution).n_stages for p in problems)
    print("curriculum stages: " + ", ".join(f"{k}:{v}" for k, v in sorted(stages.items())))
    return EXIT_OK


def cmd_problems_validate(args: argparse.Namespace) -> int:
    from codegym.problems.validate import validate_problems
    from codegym.sandbox import Executor, Limits

    problems = _load_args(args)
    with Executor(workers=args.workers) as executor:
        report = validate_problems(
            problems,
            min_tests=args.min_tests,
            executor=executor,
            limits=Limits(cpu_time=args.cpu_time),
            progress=Progress("validating"),
        )
    for issue in report.issues:
        print(f"{issue.problem_id}\t{issue.kind.value}\t{issue.detail}")
    bad = report.bad_ids()
    print(f"{report.checked} problems checked, {len(bad)} with issues", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


# -- run, train, evaluate --------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from codegym.errors import UnknownNameError
    from codegym.evaluation import program_for
    from codegym.problems import load
    from codegym.sandbox import Limits, run

    problems = {p.id: p for p in load(args.source)}
    if args.problem not in problems:
        raise UnknownNameError("problem id", args.problem, problems)
    problem = problems[args.problem]
    try:
        with open(args.file, encoding="utf-8") as f:
            program = program_for(problem, f.read())
    except OSError as exc:
        print(f"codegym: error: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = run(program, problem, limits=Limits(cpu_time=args.cpu_time))
    for i, t in enumerate(result.tests):
        print(
            f"test {i}: {t.outcome.value} ({t.cpu_time:.3f} s CPU){' - ' + t.detail if t.detail else ''}"
        )
    print(
        f"{result.outcome.value}: {sum(t.passed for t in result.tests)}/{len(result.tests)} tests passed"
    )
    if args.coverage:
        print("executed lines: " + " ".join(map(str, sorted(result.executed_lines))))
    return EXIT_OK if result.passed else EXIT_FAILED


def cmd_train(args: argparse.Namespace) -> int:
    from codegym.agents import PRESETS, PPOConfig

    settings: dict = dict(PRESETS[args.preset]) if args.preset else {}
    overrides = {
        "model": args.model,
        "iterations": args.iterations,
        "episodes_per_iteration": args.episodes,
        "sft_steps": args.sft_steps,
        "max_new_tokens": args.max_new_tokens,
        "output_dir": args.output_dir,
        "seed": args.seed,
        "device": args.device,
        "problems": args.source,
        "eval_every": args.eval_every,
        "eval_samples": args.eval_samples,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if args.no_cccs:
        settings["curriculum"] = "none"
    if args.no_fgo:
        settings["fgo"] = False
    if args.no_resume:
        settings["resume"] = False
    config = PPOConfig(**settings)
    from codegym.agents.trainer import train

    def report(s) -> None:  # noqa: ANN001
        by_level = " ".join(f"{k[:5]}={v:.2f}" for k, v in s.pass_rate_by_difficulty.items())
        print(
            f"iter {s.iteration:3d}  reward {s.reward_mean:+.3f}  pass {s.pass_rate:.2f} ({by_level})  "
            f"kl {s.approx_kl:.4f}  stages {s.stage_histogram}  "
            f"time gen {s.seconds['generation']:.1f}s sandbox {s.seconds['sandbox']:.1f}s update {s.seconds['update']:.1f}s",
            flush=True,
        )

    def evaluated(done: int, evaluation: Any) -> None:
        print(f"eval after {done:3d} iterations: {evaluation.summary()}", flush=True)

    result = train(
        config,
        progress=not args.quiet and sys.stderr.isatty(),
        on_iteration=report,
        on_evaluation=evaluated,
    )
    if result.evaluations:
        (_, first), (_, last) = result.evaluations[0], result.evaluations[-1]
        print(
            f"fixed evaluation ({last.episodes} episodes, every stage of every training problem): "
            f"pass rate {first.pass_rate:.2f} -> {last.pass_rate:.2f}, "
            f"full task {first.full_task:.2f} -> {last.full_task:.2f}"
        )
    print(f"checkpoint: {result.model_path}")
    print(f"tensorboard: tensorboard --logdir {result.output_dir}/tensorboard")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from codegym.problems import load

    ks = sorted(set(args.k))
    if args.samples:
        from codegym.evaluation import evaluate_programs, read_samples

        report = evaluate_programs(
            load(args.source, split=args.split), read_samples(args.samples), ks=ks
        )
    else:
        from codegym.agents.evaluate import evaluate_model

        report = evaluate_model(
            args.model, problems=args.source, split=args.split, n_samples=args.n, ks=ks,
            greedy=args.greedy, temperature=args.temperature, max_new_tokens=args.max_new_tokens, device=args.device,
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


# -- parser ----------------------------------------------------------------------------------------


def cmd_export_verl(args: argparse.Namespace) -> int:
    from codegym.integrations.verl import export

    n = export(
        args.source,
        args.out,
        split=args.split,
        prompt_style=args.prompt_style,
        system_prompt=args.system_prompt,
    )
    print(f"wrote {n} rows to {args.out}")
    return EXIT_OK


def add_export_parser(sub: Any) -> None:
    """``codegym export verl SOURCE OUT.parquet``."""
    export = sub.add_parser("export", help="write problems in another trainer's dataset format")
    esub = export.add_subparsers(dest="format", required=True)
    p = esub.add_parser(
        "verl",
        help="verl's parquet rows (prompt, reward_model.ground_truth with the tests, extra_info)",
        description="Writes one row per problem for verl; score them with "
        "reward.custom_reward_function.path=pkg://codegym.integrations.verl "
        "reward.custom_reward_function.name=compute_score. Needs pyarrow (codegym[verl]).",
    )
    p.add_argument("source", help="source name (bundled, humaneval, apps) or a path")
    p.add_argument("out", help="the parquet file to write")
    p.add_argument("--split", choices=["train", "test"], help="only this split")
    p.add_argument("--prompt-style", choices=["chat", "plain"], default="chat")
    p.add_argument("--system-prompt", help="a system message to put before each prompt")
    p.set_defaults(func=cmd_export_verl)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codegym", description="Gymnasium environments for RL on code generation."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    problems = sub.add_parser("problems", help="list, show, summarise and validate problem sets")
    psub = problems.add_subparsers(dest="action", required=True)

    def source_args(p: argparse.ArgumentParser, *, filters: bool = True) -> None:
        p.add_argument(
            "--source",
            default="bundled",
            help="source name (bundled, humaneval, apps) or a path (default: bundled)",
        )
        p.add_argument(
            "--skip-invalid",
            action="store_true",
            help="drop malformed records (with a warning) instead of failing",
        )
        if filters:
            p.add_argument("--split", choices=["train", "test"], help="only this split")
            p.add_argument("--difficulty", choices=["introductory", "interview", "competition"])

    p = psub.add_parser(
        "list", help="one line per problem: id, difficulty, mode, split, tests, title"
    )
    source_args(p)
    p.set_defaults(func=cmd_problems_list)
    p = psub.add_parser("show", help="print one problem")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="print the JSONL record")
    source_args(p, filters=False)
    p.set_defaults(func=cmd_problems_show)
    p = psub.add_parser("stats", help="counts by difficulty, mode, split; tests; curriculum stages")
    source_args(p)
    p.set_defaults(func=cmd_problems_stats)
    p = psub.add_parser(
        "validate",
        help="run canonical solutions and trivially wrong programs; exit 1 if any problem is bad",
        description="Runs every canonical solution against its tests in the sandbox and reports problems whose "
        "solution fails, whose tests accept a program that prints/returns nothing or always answers the first "
        "test's expected output, or that have fewer than --min-tests tests. Exit status 0 when all pass, 1 otherwise.",
    )
    p.add_argument(
        "source", nargs="?", default="bundled", help="source name or path (default: bundled)"
    )
    p.add_argument(
        "--min-tests", type=int, default=5, help="fewest tests a problem may have (default 5)"
    )
    p.add_argument("--cpu-time", type=float, default=4.0, help="CPU seconds per test (default 4)")
    p.add_argument("--workers", type=int, default=None, help="sandbox workers (default: all cores)")
    p.add_argument("--split", choices=["train", "test"])
    p.add_argument("--difficulty", choices=["introductory", "interview", "competition"])
    p.add_argument("--skip-invalid", action="store_true")
    p.set_defaults(func=cmd_problems_validate)

    p = sub.add_parser(
        "run",
        help="run a solution file against a problem's tests",
        description="Runs FILE against the tests of problem ID in the sandbox; prints each test's outcome. "
        "Exit 0 when every test passes, 1 otherwise.",
    )
    p.add_argument(
        "file", help="the program (a completion of the starter code is completed with it)"
    )
    p.add_argument("--problem", required=True, help="problem id")
    p.add_argument("--source", default="bundled", help="problem source (default: bundled)")
    p.add_argument("--cpu-time", type=float, default=2.0, help="CPU seconds per test (default 2)")
    p.add_argument("--coverage", action="store_true", help="print the executed lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "train",
        help="train the reference PPO agent (StepCoder: CCCS + FGO)",
        description="Trains a causal LM with PPO through CodeGen-v0. '--preset tiny' builds a small GPT-2 and "
        "tokenizer locally, warm-starts it on the training problems and runs PPO with CCCS and FGO on the CPU. "
        "Resumes from OUTPUT_DIR/checkpoint when present. Prints one line per iteration.",
    )
    p.add_argument("--preset", choices=["tiny"], help="a named configuration")
    p.add_argument("--model", help="Hugging Face model name or local path (default: the preset's)")
    p.add_argument("--source", help="problem source (default: bundled)")
    p.add_argument("--iterations", type=int)
    p.add_argument("--episodes", type=int, help="episodes per iteration")
    p.add_argument("--sft-steps", type=int, help="supervised warm-start steps")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--output-dir", help="logs and checkpoints (default: runs/codegym)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu or cuda")
    p.add_argument("--eval-every", type=int, help="fixed evaluation every N iterations (0: never)")
    p.add_argument(
        "--eval-samples", type=int, help="fixed evaluation: samples per start (0: greedy)"
    )
    p.add_argument(
        "--no-cccs", action="store_true", help="ablation: no curriculum (always the full task)"
    )
    p.add_argument(
        "--no-fgo",
        action="store_true",
        help="ablation: no fine-grained optimisation (all-ones masks)",
    )
    p.add_argument(
        "--no-resume", action="store_true", help="start afresh even if a checkpoint exists"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="pass@k by difficulty for a model or a JSONL file of samples",
        description="Computes the unbiased pass@k estimator by difficulty. Either --model (generates from the "
        "full task, greedy or sampled) or --samples FILE (JSONL lines {problem_id, completion}).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="model name or local path (e.g. runs/codegym/checkpoint)")
    what.add_argument("--samples", help="JSONL of completions")
    p.add_argument("--source", default="bundled")
    p.add_argument("--split", choices=["train", "test"], default=None)
    p.add_argument(
        "--n", type=int, default=10, help="samples per problem when sampling (default 10)"
    )
    p.add_argument("--k", type=int, nargs="+", default=[1], help="k values (default: 1)")
    p.add_argument("--greedy", action="store_true", help="one greedy sample per problem")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "bench",
        help="quick speed check: sandbox programs/s and env steps/s",
        description="Runs the bundled canonical solutions through the sandbox (no cache hits) and random "
        "non-terminal steps through CodeGen-v0, and prints the rates. The benchmarks/ scripts of the "
        "repository measure against baselines in the same run.",
    )
    p.add_argument("--problems", type=int, default=64, help="programs to run (default 64)")
    p.add_argument("--steps", type=int, default=20000, help="env steps (default 20000)")
    p.set_defaults(func=cmd_bench)

    add_export_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except CodegymError as exc:
        print(f"codegym: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
