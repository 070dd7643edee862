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

    if args.legacy_source is not None:  # ``validate PATH``, the older spelling of --source PATH
        args.source = args.legacy_source
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
    from codegym.sandbox import Limits, Outcome, run

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
    if result.outcome is Outcome.COMPILE_ERROR:  # the same for every test: say it once
        print(f"compile error: {result.compile_error}")
    else:
        for i, t in enumerate(result.tests):
            print(
                f"test {i}: {t.outcome.value} ({t.cpu_time:.3f} s CPU){' - ' + t.detail if t.detail else ''}"
            )
        failed = [i for i, t in enumerate(result.tests) if not t.passed]
        if failed:
            print(_failure_report(failed[0], problem.tests[failed[0]], result.tests[failed[0]]))
    print(
        f"{result.outcome.value}: {sum(t.passed for t in result.tests)}/{len(result.tests)} tests passed"
    )
    if args.coverage:
        print("executed lines: " + " ".join(map(str, sorted(result.executed_lines))))
    return EXIT_OK if result.passed else EXIT_FAILED


def _clip(text: str, lines: int = 8, chars: int = 400) -> str:
    """``text`` indented for the report, cut to ``lines`` lines and ``chars`` characters."""
    if not text:
        return "    (empty)"
    cut = text[:chars].splitlines()[:lines]
    more = len(text) > chars or len(text.splitlines()) > lines
    return "\n".join(f"    {line}" for line in cut) + ("\n    ... (truncated)" if more else "")


def _failure_report(index: int, test: Any, got: Any) -> str:
    """What the first failing test gave it and expected, and what the program did."""
    from codegym.sandbox import Outcome, TestKind

    out = [f"first failing test ({index}):"]
    if test.kind is TestKind.STDIO:
        out += ["  input:", _clip(test.stdin), "  expected output:", _clip(test.expected_output)]
        out += ["  actual output:", _clip(got.stdout)]
    elif test.kind is TestKind.CALL:
        call = f"{test.fn_name}({', '.join(map(repr, test.args))})"
        out += ["  call:", _clip(call), "  expected return value:", _clip(repr(test.expected))]
        out += ["  (the sandbox does not report the value the function returned)"]
    else:
        out += ["  check code:", _clip(test.check_code or "")]
    if got.stderr and got.outcome is not Outcome.WRONG_ANSWER:
        stderr = got.stderr
        own = stderr.find('File "<solution>"')  # leave out the sandbox's own frames
        if own >= 0:
            stderr = "Traceback (most recent call last):\n  " + stderr[own:]
        out += ["  stderr:", _clip(stderr[-400:], lines=12)]
    return "\n".join(out)


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
        return _evaluate_repair(args)
    if args.samples:
        from codegym.evaluation import evaluate_programs, read_samples

        report = evaluate_programs(
            load(args.source, split=split), read_samples(args.samples), ks=ks
        )
    else:
        from codegym.agents.evaluate import evaluate_model

        greedy = args.n == 1 if args.greedy is None else args.greedy
        report = evaluate_model(
            args.model, problems=args.source, split=split, n_samples=args.n, ks=ks,
            greedy=greedy, temperature=args.temperature, max_new_tokens=args.max_new_tokens, device=args.device,
        )  # fmt: skip
    print(report.table())
    return EXIT_OK


def _evaluate_repair(args: argparse.Namespace) -> int:
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


def cmd_doctor(args: argparse.Namespace) -> int:
    from codegym.sandbox.doctor import diagnose

    diagnosis = diagnose(seconds=args.seconds)
    print("\n".join(diagnosis.lines()))
    return EXIT_OK if diagnosis.error is None else EXIT_USAGE


# -- parser ----------------------------------------------------------------------------------------


def _version() -> str:
    from codegym import __version__

    return __version__


def _train_config_arguments(p: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--version", action="version", version=f"codegym {_version()}")
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
    source_args(p)
    # The older positional SOURCE keeps working (``validate PATH``), unlisted.
    p.add_argument("legacy_source", nargs="?", metavar="SOURCE", help=argparse.SUPPRESS)
    p.add_argument(
        "--min-tests", type=int, default=5, help="fewest tests a problem may have (default 5)"
    )
    p.add_argument("--cpu-time", type=float, default=4.0, help="CPU seconds per test (default 4)")
    p.add_argument("--workers", type=int, default=None, help="sandbox workers (default: all cores)")
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
    _train_config_arguments(p)
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
    # Defaults as evaluate_model's: the test split, one greedy sample per problem.
    p.add_argument("--source", default="bundled", help="problem source (default: bundled)")
    p.add_argument(
        "--split", choices=["train", "test", "all"], default="test", help="(default: test)"
    )
    p.add_argument(
        "--n",
        type=int,
        default=1,
        help="samples per problem (default 1); more than 1 samples at --temperature",
    )
    p.add_argument("--k", type=int, nargs="+", default=[1], help="k values (default: 1)")
    p.add_argument(
        "--greedy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="greedy decoding, one sample per problem (default: greedy when --n is 1)",
    )
    p.add_argument("--temperature", type=float, default=0.8, help="(default 0.8)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="(default 256)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument(
        "--repair-turns",
        type=int,
        default=0,
        metavar="K",
        help="with --model: greedy pass@1 after K turns of visible-test feedback in CodeRepair-v0, "
        "next to pass@1 without (default 0: plain pass@k)",
    )
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

    p = sub.add_parser(
        "doctor",
        help="what isolation the sandbox gets on this machine, and its throughput",
        description="Starts a sandbox executor and reports what this machine gives it (a uid of "
        "its own, namespaces, cgroups, seccomp, a readable interpreter), what it does without what "
        "is missing, and a short throughput probe. Run it first in a new container.",
    )
    p.add_argument("--seconds", type=float, default=2.0, help="throughput probe length (default 2)")
    p.set_defaults(func=cmd_doctor)

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
