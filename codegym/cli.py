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


# -- parser ----------------------------------------------------------------------------------------


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
