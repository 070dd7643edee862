"""Train the reference StepCoder agent (PPO + CCCS + FGO) from Python, then evaluate it.

    python examples/reference_agent.py                            # the tiny preset's full run
    python examples/reference_agent.py --iterations 1 --sft-steps 4 --episodes 4   # smoke run

The same as `codegym train --preset tiny`, through the API: build the config from the preset,
train with callbacks that print each iteration and each fixed evaluation (the training problems
started at every curriculum stage, the same starts before, during and after PPO, sampled as the
preset says or greedy with ``--eval-samples 0``), then compute greedy pass@1 by difficulty from
the full task.
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=None, help="default: the preset's")
    parser.add_argument("--episodes", type=int, default=None, help="default: the preset's")
    parser.add_argument("--sft-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--eval-samples", type=int, default=None, help="fixed evaluation (default: the preset's)"
    )
    parser.add_argument("--output-dir", default="runs/reference-agent")
    args = parser.parse_args()

    from codegym.agents import PRESETS, PPOConfig
    from codegym.agents.evaluate import evaluate_model
    from codegym.agents.trainer import train

    settings = dict(PRESETS["tiny"])
    settings.update(output_dir=args.output_dir, resume=False)
    overrides = {
        "iterations": args.iterations,
        "episodes_per_iteration": args.episodes,
        "sft_steps": args.sft_steps,
        "max_new_tokens": args.max_new_tokens,
        "eval_samples": args.eval_samples,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    config = PPOConfig(**settings)

    def show(stats) -> None:  # noqa: ANN001
        print(
            f"iteration {stats.iteration}: reward {stats.reward_mean:+.2f}, pass rate {stats.pass_rate:.2f}, "
            f"FGO masked {stats.fgo_masked_fraction:.0%} of tokens, stages {stats.stage_histogram}",
            flush=True,
        )

    def evaluated(done, result) -> None:  # noqa: ANN001
        print(f"fixed evaluation after {done} iterations: {result.summary()}", flush=True)

    result = train(config, progress=False, on_iteration=show, on_evaluation=evaluated)
    (_, first), (_, last) = result.evaluations[0], result.evaluations[-1]
    print(
        f"fixed evaluation ({last.method}), pass rate over all stages: {first.pass_rate:.2f} before PPO, "
        f"{last.pass_rate:.2f} after (full task {first.full_task:.2f} -> {last.full_task:.2f})"
    )
    report = evaluate_model(
        result.model_path, split="train", greedy=True, max_new_tokens=config.max_new_tokens,
        max_context_tokens=config.max_context_tokens,
    )  # fmt: skip
    print(report.table())


if __name__ == "__main__":
    main()
