"""The TRL reward function against one `codegym.sandbox.run` call per completion.

    python benchmarks/trl_reward.py [--batch 256] [--reps 3]

Scores a GRPO-sized batch of completions (the bundled training problems' canonical solutions, in
chat replies with a fenced block; every fourth one a wrong program) with
`codegym.integrations.trl.reward_function`, which runs the batch in one `run_many` over the warm
pool, and then the same programs through `codegym.sandbox.run` one at a time, the way a reward
function written against the plain API scores them. Each repetition gives every program a fresh
comment, so nothing comes from the result cache. Prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from codegym.integrations import trl as cg
from codegym.problems import load
from codegym.sandbox import default_executor, run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    problems = load("bundled", split="train")
    picked = [problems[i % len(problems)] for i in range(args.batch)]
    reward = cg.reward_function(problems)
    prompts = [cg.build_prompt(p, style="chat") for p in picked]
    ids = [p.id for p in picked]
    executor = default_executor()
    executor.run_many([(p.canonical_solution, p) for p in problems[: executor.workers]])  # warm

    def programs(rep: int, kind: str) -> list[str]:
        out = []
        for i, p in enumerate(picked):
            body = "print(0)\n" if i % 4 == 3 else p.canonical_solution
            out.append(f"{body}\n# {kind} rep {rep} sample {i}\n")
        return out

    batched, single = [], []
    for rep in range(args.reps):
        completions = [f"```python\n{code}```" for code in programs(rep, "batch")]
        start = time.perf_counter()
        rewards = reward(prompts=prompts, completions=completions, problem_id=ids)
        batched.append(time.perf_counter() - start)
        assert all(r is not None for r in rewards), "sandbox infrastructure errors"
        start = time.perf_counter()
        for code, p in zip(programs(rep, "single"), picked):
            run(code, p)
        single.append(time.perf_counter() - start)

    b, s = statistics.median(batched), statistics.median(single)
    print(f"{args.batch} completions, {executor.workers} sandbox workers, median of {args.reps}")
    print(f"reward_function (one run_many):   {b:8.2f} s  ({args.batch / b:7.1f} completions/s)")
    print(f"sandbox.run, one call each:       {s:8.2f} s  ({args.batch / s:7.1f} completions/s)")
    print(f"ratio sandbox.run loop / reward_function: {s / b:.2f}x")


if __name__ == "__main__":
    main()
