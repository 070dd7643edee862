"""A random agent on both codegym envs: what an episode returns, and the FGO coverage masks.

    python examples/random_agent.py --episodes 3 --max-new-tokens 32

On `CodeGen-v0` each action is a token id drawn uniformly from the vocabulary, so the episode
almost always runs until `max_new_tokens` truncates it (the end-of-sequence token is one id in
hundreds). On `CodeGenLine-v0` each action is a random line of printable characters, or
`codegym.SUBMIT` (which `action_space.sample()` returns one time in ten). Either way the program
(the curriculum's canonical prefix plus the random tail) is run on the problem's tests and the
last step carries the reward: almost always -1, a compile error, whose masks are all ones (a
program that never ran cannot single out a line). Random tails that happen to compile show the
other outcomes and masks with zeros.
"""

from __future__ import annotations

import argparse
from collections import Counter

import gymnasium as gym
import numpy as np

import codegym


def run_token_env(episodes: int, max_new_tokens: int, seed: int) -> Counter[str]:
    env = gym.make("CodeGen-v0", max_new_tokens=max_new_tokens)
    env.action_space.seed(seed)
    outcomes: Counter[str] = Counter()
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        print(f"\n[CodeGen-v0] episode {episode}: {info['problem_id']} stage {info['stage']}")
        done = False
        while not done:
            action = env.action_space.sample()  # a token id
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        coverage = info["coverage"]
        n = int(obs["generated_len"][0])
        ended = "emitted end-of-sequence" if terminated else f"truncated at {n} tokens"
        print(f"  {ended}; outcome {info['outcome']}, reward {reward:+.1f}")
        print(f"  generated: {info['generated']!r}")
        print(f"  line_mask:  {coverage['line_mask'].tolist()}")
        print(f"  token_mask: {coverage['token_mask'].tolist()}")
        outcomes[info["outcome"]] += 1
    env.close()
    return outcomes


def run_line_env(episodes: int, max_lines: int, seed: int) -> Counter[str]:
    env = gym.make("CodeGenLine-v0", max_lines=max_lines, max_line_chars=40)
    env.action_space.seed(seed)
    outcomes: Counter[str] = Counter()
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        print(f"\n[CodeGenLine-v0] episode {episode}: {info['problem_id']} stage {info['stage']}")
        done, lines = False, 0
        while not done:
            # A random line, or SUBMIT (codegym.SUBMIT) one time in ten; submit on the last step
            # ourselves so the episode ends with a submission rather than a truncation.
            action = codegym.SUBMIT if lines == max_lines - 1 else env.action_space.sample()
            obs, reward, terminated, truncated, info = env.step(action)
            lines += action != codegym.SUBMIT
            done = terminated or truncated
        print(f"  submitted {lines} line(s); outcome {info['outcome']}, reward {reward:+.1f}")
        print(f"  generated: {info['generated']!r}")
        print(f"  executed program lines: {info['coverage']['executed_lines']}")
        print(f"  line_mask: {info['coverage']['line_mask'].tolist()}")
        outcomes[info["outcome"]] += 1
    env.close()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=5, help="episodes per env")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="token env budget")
    parser.add_argument("--max-lines", type=int, default=4, help="line env budget")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    np.set_printoptions(linewidth=100)

    token_outcomes = run_token_env(args.episodes, args.max_new_tokens, args.seed)
    line_outcomes = run_line_env(args.episodes, args.max_lines, args.seed)
    print(f"\noutcomes CodeGen-v0: {dict(token_outcomes)}")
    print(f"outcomes CodeGenLine-v0: {dict(line_outcomes)}")


if __name__ == "__main__":
    main()
