"""Does FGO have anything to mask? How much of the code a policy writes no unit test executes.

    python examples/fgo_coverage.py --model runs/codegym/checkpoint            # a trained model
    python examples/fgo_coverage.py --model runs/ablation/seed0/init --samples 2
    python examples/fgo_coverage.py                                           # builds and warm-starts one

Samples solutions on the tiny preset's training problems, each started at every curriculum stage
(the full task included), ``--samples`` per start at the preset's temperature (0: greedy), and
counts from each episode's terminal ``info["coverage"]`` the episodes with a generated line no
test executed (``line_mask`` 0) and the share of generated tokens on such lines (``token_mask``
0: the tokens FGO leaves out of the policy loss), by outcome. Without ``--model`` it builds the
tiny model and warm-starts it for ``--sft-steps`` (the preset's 250 by default) first.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="a saved policy (default: warm-start one)")
    parser.add_argument("--samples", type=int, default=1, help="episodes per start; 0 greedy")
    parser.add_argument("--sft-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--temperature", type=float, default=None, help="default: the preset's")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/fgo_coverage")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args()

    from concurrent.futures import ThreadPoolExecutor

    import torch

    from codegym.agents import PRESETS, PPOConfig
    from codegym.agents.evaluate import evaluation_envs, unexecuted_code
    from codegym.agents.policy import load_policy, resolve_device
    from codegym.agents.tiny import build_tiny, supervised_warm_start
    from codegym.agents.trainer import training_problems
    from codegym.problems import load
    from codegym.sandbox import Executor, Limits

    torch.set_num_threads(1)
    settings = dict(PRESETS["tiny"], seed=args.seed)
    if args.temperature is not None:
        settings["temperature"] = args.temperature
    preset = PPOConfig(**settings)
    device = resolve_device(args.device)
    problems = training_problems(preset)
    if args.model is None:
        torch.manual_seed(args.seed)
        base = build_tiny(
            load(split="train"), os.path.join(args.output_dir, "tiny"), seed=args.seed
        )
        model, tokenizer = load_policy(base, device)
        steps = args.sft_steps if args.sft_steps is not None else preset.sft_steps
        supervised_warm_start(
            model, tokenizer, problems, steps=steps, learning_rate=preset.sft_learning_rate,
            max_context=preset.max_context_tokens, seed=args.seed, device=device,
        )  # fmt: skip
        source = f"the tiny model warm-started for {steps} steps (seed {args.seed})"
    else:
        model, tokenizer = load_policy(args.model, device)
        source = args.model
    model.eval()

    executor = Executor(limits=Limits(cpu_time=preset.cpu_time_limit))
    envs = evaluation_envs(
        {
            "problems": problems, "split": None, "tokenizer": tokenizer, "curriculum": "none",
            "reward": preset.reward, "max_new_tokens": args.max_new_tokens or preset.max_new_tokens,
            "max_prompt_tokens": preset.max_context_tokens,
            "max_prefix_tokens": preset.max_context_tokens, "executor": executor,
        },
        16,
    )  # fmt: skip
    try:
        with ThreadPoolExecutor(len(envs)) as pool:
            report = unexecuted_code(
                model, tokenizer, envs, problems, samples=args.samples,
                temperature=preset.temperature, seed=args.seed,
                max_context=preset.max_context_tokens, device=device, pool=pool,
            )  # fmt: skip
    finally:
        executor.close()
        for env in envs:
            env.close()
    how = "greedy" if args.samples == 0 else f"{args.samples} sample(s) per start"
    print(
        f"{source}: {len(problems)} training problems x every curriculum stage, {how}, "
        f"temperature {preset.temperature}"
    )
    print(report.table())


if __name__ == "__main__":
    main()
