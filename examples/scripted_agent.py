"""A scripted agent that writes each problem's canonical solution: +1 rewards and CCCS at work.

    python examples/scripted_agent.py --problems 3 --episodes 24 --window 4

Each episode starts from the curriculum's prefix of the problem's canonical solution (`info["prefix"]`);
the agent looks the problem up and writes the rest of that solution token by token, then ends
with the end-of-sequence token. Every episode passes (+1), so CCCS moves each problem's start
stage one step toward 0 (the bare problem) every `--window` episodes, until the agent writes the
whole program. The script prints every episode, then a per-problem stage trace.

Finally it submits a wrong variant of the remainder, with an early `return`/`raise SystemExit`
inserted before its first statement, and prints the coverage: the lines after the early exit never
ran, so their line and token masks are 0 and FGO leaves them out of the policy loss.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from codegym.curriculum import Curriculum
from codegym.problems import load


def canonical_remainder(env: gym.Env, info: dict) -> str:
    """The part of the canonical solution after the episode's starting code."""
    problem = env.unwrapped.core.by_id[info["problem_id"]]
    return problem.canonical_solution[len(info["prefix"]) :]


def write(env: gym.Env, text: str) -> tuple[float, dict]:
    """Type ``text`` into the token env, then submit; returns the final reward and info."""
    tokenizer = env.unwrapped.tokenizer
    for token in [*tokenizer.encode(text), tokenizer.eos_token_id]:
        _, reward, terminated, truncated, info = env.step(token)
        if terminated or truncated:
            return reward, info
    raise AssertionError("the end-of-sequence token always ends the episode")


def wrong_variant(prefix: str, remainder: str) -> str:
    """``remainder`` with an early exit inserted before its first statement line: ``return None``
    inside a function, ``raise SystemExit`` at module level (tried in that order; the first that
    compiles with the prefix wins). The tests then never reach the lines after it."""
    lines = remainder.split("\n")
    for i, line in enumerate(lines):
        code = line.lstrip()
        if not code or code.startswith(("elif", "else", "except", "finally", "case", "#")):
            continue  # not a place where a new statement can start
        indent = line[: len(line) - len(code)]
        for exit_statement in ("return None", "raise SystemExit"):
            variant = "\n".join([*lines[:i], indent + exit_statement, *lines[i:]])
            try:
                compile(prefix + variant, "<variant>", "exec")
            except SyntaxError:
                continue
            return variant
    return "this is not Python\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--problems", type=int, default=3, help="how many problems to cycle")
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--window", type=int, default=4, help="CCCS moving-average window")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    args = parser.parse_args()
    np.set_printoptions(linewidth=100)

    # A handful of training problems whose whole canonical solution fits in the token budget
    # (stage 0 asks for all of it), with a curriculum of our own so we can set its window.
    env = gym.make("CodeGen-v0", max_new_tokens=args.max_new_tokens)
    tokenizer = env.unwrapped.tokenizer
    problems = [
        p
        for p in load("bundled", split="train")
        if len(tokenizer.encode(p.canonical_solution)) < args.max_new_tokens
    ][: args.problems]
    curriculum = Curriculum(problems, window=args.window)
    env = gym.make(
        "CodeGen-v0", problems=problems, curriculum=curriculum, max_new_tokens=args.max_new_tokens
    )

    trace: dict[str, list[int]] = {p.id: [] for p in problems}
    print("episode  problem              stage  reward  outcome   next stage")
    for episode in range(args.episodes):
        problem = problems[episode % len(problems)]  # round robin, so every problem moves
        obs, info = env.reset(seed=episode, options={"problem_id": problem.id})
        reward, info = write(env, canonical_remainder(env, info))
        trace[problem.id].append(info["stage"])
        print(
            f"{episode:7d}  {problem.id:20s} {info['stage']}/{info['n_stages'] - 1}"
            f"  {reward:+6.1f}  {info['outcome']:8s}  {info['curriculum']['next_stage']}"
        )

    print("\nstart stage per episode of each problem (0 = the whole problem):")
    for pid, stages in trace.items():
        print(f"  {pid:20s} {' '.join(map(str, stages))}  -> now {curriculum.stage(pid)}")

    problem = problems[0]
    stage = curriculum.n_stages(problem.id) - 1  # the longest prefix: a short remainder
    obs, info = env.reset(seed=0, options={"problem_id": problem.id, "stage": stage})
    variant = wrong_variant(info["prefix"], canonical_remainder(env, info))
    reward, info = write(env, variant)
    coverage = info["coverage"]
    print(
        f"\nwrong variant of {problem.id}, stage {stage}: {info['outcome']}, reward {reward:+.1f}"
    )
    print(f"executed program lines: {coverage['executed_lines']}")
    print("line mask and generated line ('+' ran, '-' never ran: masked out of the loss):")
    for mask, line in zip(coverage["line_mask"], info["generated"].splitlines()):
        print(f"  {mask} {'+' if mask else '-'} {line}")
    token_mask = coverage["token_mask"]
    print(f"token_mask ({int(token_mask.sum())} of {len(token_mask)} tokens kept): {token_mask}")


if __name__ == "__main__":
    main()
