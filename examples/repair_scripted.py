"""A scripted repairer in CodeRepair-v0: break a canonical solution twice, then fix it from feedback.

    python examples/repair_scripted.py --problems 4 --show

For each problem the script plants two bugs in the canonical solution: a syntax error (a closing
parenthesis dropped) and a wrong answer (an integer constant changed, chosen so that a visible
test fails). The repairer submits the broken program, reads the feedback and fixes one bug per
turn: the line a compile or runtime error names, else the first bug left (a wrong answer names
no line). Two fixes and a third, passing, attempt: the episode terminates after 3 turns with +1,
the program scored on all tests, hidden ones included. It prints each turn's visible outcome and
the first line of its feedback; `--show` prints what the agent sees at every turn of the first
episode.
"""

from __future__ import annotations

import argparse
import re

import gymnasium as gym

import codegym  # noqa: F401  (registers CodeRepair-v0)
from codegym.problems import Problem, load
from codegym.sandbox import run


def syntax_bug(lines: list[str]) -> int | None:
    """Drop the closing parenthesis of a line that ends with one, if the program then fails to
    compile on that very line; returns the line index."""
    for i, line in enumerate(lines):
        if line.rstrip().endswith(")"):
            broken = [*lines[:i], line.rstrip()[:-1], *lines[i + 1 :]]
            try:
                compile("\n".join(broken), "<bug>", "exec")
            except SyntaxError as exc:
                if exc.lineno == i + 1:
                    return i
    return None


def answer_bug(problem: Problem, lines: list[str], visible: int) -> tuple[int, str] | None:
    """Change one integer constant so that a visible test fails; returns (line index, new line)."""
    for i, line in enumerate(lines):
        for match in re.finditer(r"(?<![\w.])(\d+)(?![\w.])", line):
            new = line[: match.start()] + str(int(match.group()) + 1) + line[match.end() :]
            program = "\n".join([*lines[:i], new, *lines[i + 1 :]])
            result = run(program, problem.tests[:visible], coverage=False)
            if not result.passed:
                return i, new
    return None


def broken_version(problem: Problem, visible: int) -> tuple[str, list[int]] | None:
    """The canonical solution with both bugs, and the lines that hold them."""
    lines = problem.canonical_solution.rstrip("\n").split("\n")
    wrong = answer_bug(problem, lines, visible)
    if wrong is None:
        return None
    buggy = list(lines)
    buggy[wrong[0]] = wrong[1]
    syntax = syntax_bug(buggy)
    if syntax is None or syntax == wrong[0]:
        return None
    buggy[syntax] = buggy[syntax].rstrip()[:-1]
    return "\n".join(buggy) + "\n", [syntax, wrong[0]]


def repair(program: str, canonical: str, bugs: list[int], feedback: str) -> str:
    """Fix one bug: the one on the line the feedback names, else the first one left."""
    lines, good = program.rstrip("\n").split("\n"), canonical.rstrip("\n").split("\n")
    named = re.search(r"\(line (\d+)\)", feedback.split("\n")[0])
    target = int(named.group(1)) - 1 if named and int(named.group(1)) - 1 in bugs else bugs[0]
    bugs.remove(target)
    lines[target] = good[target]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=4, help="problems to play (default 4)")
    parser.add_argument("--max-turns", type=int, default=4)
    parser.add_argument(
        "--show", action="store_true", help="print the first episode's observations"
    )
    args = parser.parse_args()

    visible = 2
    env = gym.make("CodeRepair-v0", split="train", visible_tests=visible, max_turns=args.max_turns)
    played = 0
    for problem in load("bundled", split="train"):
        if played == args.problems:
            break
        planted = broken_version(problem, visible)
        if planted is None:
            continue
        program, bugs = planted
        played += 1
        obs, info = env.reset(options={"problem_id": problem.id})
        if args.show and played == 1:
            print(f"--- what the agent sees at reset ---\n{obs}")
        print(f"{problem.id}: bugs on lines {[b + 1 for b in bugs]}")
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(program)
            done = terminated or truncated
            first = info["feedback"].split("\n")[0]
            print(f"  turn {info['turn']}: {info['visible_outcome']:14s} {first[:80]}")
            if args.show and played == 1:
                print(f"--- what the agent sees after turn {info['turn']} ---\n{obs}")
            if not done:
                program = repair(program, problem.canonical_solution, bugs, info["feedback"])
        print(
            f"  end: {'terminated' if terminated else 'truncated'} after {info['turn']} turns, "
            f"reward {reward:+.1f}, all tests: {info['outcome']} "
            f"(pass fraction {info['pass_fraction']:.2f})"
        )
    env.close()


if __name__ == "__main__":
    main()
