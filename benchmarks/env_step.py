"""Token-env step speed, and where a terminal step's time goes.

    python benchmarks/env_step.py [--steps 200000] [--episodes 40]

Prints non-terminal `CodeGen-v0` steps per second through `gymnasium.make` (all default wrappers)
and through the bare env, each against a baseline measured in the same run: a loop that only
draws the same actions (the cost floor of any Python step loop). Then the median share of a
terminal step spent in the sandbox, over scripted episodes that write each problem's canonical
remainder (programs differ per episode, so no result comes from the cache).
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

import codegym  # noqa: F401  (registers the env ids)


def steps_per_second(env: gym.Env, actions: np.ndarray, max_new_tokens: int) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for n, a in enumerate(actions, 1):
        if n % (max_new_tokens - 1) == 0:  # reset before the limit: every step is non-terminal
            env.reset()
        env.step(int(a))
    return len(actions) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    env = gym.make("CodeGen-v0")
    tok = env.unwrapped.tokenizer
    rng = np.random.default_rng(0)
    actions = rng.integers(0, env.action_space.n, size=args.steps)
    actions[actions == tok.eos_token_id] = tok.eos_token_id + 1
    limit = env.unwrapped.max_new_tokens

    def floor() -> float:
        start = time.perf_counter()
        for a in actions:
            int(a)
        return len(actions) / (time.perf_counter() - start)

    made, bare, base = [], [], []
    for _ in range(args.reps):
        base.append(floor())
        made.append(steps_per_second(env, actions, limit))
        bare.append(steps_per_second(env.unwrapped, actions, limit))
    m_made, m_bare, m_base = (statistics.median(x) for x in (made, bare, base))
    print(f"non-terminal steps/s, gymnasium.make (wrappers): {m_made:10.0f}   (target >= 50,000)")
    print(f"non-terminal steps/s, bare env:                  {m_bare:10.0f}")
    print(f"baseline, action loop alone:                     {m_base:10.0f}")
    print(
        f"ratio wrapped env / action loop: {m_made / m_base:.3f}; bare / action loop: {m_bare / m_base:.3f}"
    )

    core = env.unwrapped.core
    sandbox_time = 0.0
    original = core.executor.run

    def timed_run(*a, **k):  # noqa: ANN002, ANN003, ANN202
        nonlocal sandbox_time
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            sandbox_time += time.perf_counter() - start

    core.executor.run = timed_run  # instance attribute shadows the method for this benchmark
    shares, totals = [], []
    for episode in range(args.episodes):
        obs, info = env.reset(seed=episode)
        problem = core.by_id[info["problem_id"]]
        rest = problem.canonical_solution[len(info["prefix"]) :] + f"# episode {episode}\n"
        for token in tok.encode(rest):
            env.step(token)
        sandbox_time = 0.0
        start = time.perf_counter()
        env.step(tok.eos_token_id)
        total = time.perf_counter() - start
        totals.append(total)
        shares.append(sandbox_time / total)
    del core.executor.run
    print(
        f"terminal step: median {statistics.median(totals) * 1000:.1f} ms, "
        f"median share in the sandbox {statistics.median(shares):.1%} ({args.episodes} episodes)"
    )


if __name__ == "__main__":
    main()
