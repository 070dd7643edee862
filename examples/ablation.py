"""StepCoder's ablation at small scale: CCCS + FGO, vanilla PPO, without CCCS, without FGO.

    python examples/ablation.py --seeds 0 1 2 --iterations 20
    python examples/ablation.py --seeds 0 --iterations 1 --episodes 4 --sft-steps 4   # smoke run

For each seed, one tiny model is built and warm-started (supervised) once; every variant then
trains from that same starting point for the same number of env steps (iterations x episodes), so
the variants differ only in the curriculum and the FGO mask. Each trained policy is evaluated by
greedy pass@1 from the full task (stage 0) on the evaluation split, and the table prints mean and
spread over seeds by difficulty, like the paper's. With a 2-layer model, pass@1 on unseen
problems is near zero for every variant; ``--eval-split train`` (the default) measures how far each
recipe gets on the problems it trained on (the tiny preset's 16).
"""

from __future__ import annotations

import argparse
import os
import statistics

VARIANTS = {
    "StepCoder (CCCS + FGO)": {"curriculum": "cccs", "fgo": True},
    "vanilla PPO": {"curriculum": "none", "fgo": False},
    "w/o CCCS": {"curriculum": "none", "fgo": True},
    "w/o FGO": {"curriculum": "cccs", "fgo": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=16, help="episodes per iteration")
    parser.add_argument("--sft-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--eval-split", choices=["train", "test"], default="train")
    parser.add_argument(
        "--eval-max-new-tokens", type=int, default=256, help="room for a whole solution"
    )
    parser.add_argument("--output-dir", default="runs/ablation")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args()

    import torch

    from codegym.agents import PRESETS, PPOConfig
    from codegym.agents.evaluate import evaluate_model
    from codegym.agents.policy import load_policy
    from codegym.agents.tiny import build_tiny, supervised_warm_start
    from codegym.agents.trainer import train, training_problems
    from codegym.problems import load

    torch.set_num_threads(1)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    preset = dict(PRESETS["tiny"])
    problems = training_problems(PPOConfig(**preset))
    scores: dict[str, dict[str, list[float]]] = {name: {} for name in VARIANTS}
    for seed in args.seeds:
        # One warm-started model per seed, shared by every variant.
        init = os.path.join(args.output_dir, f"seed{seed}", "init")
        if not os.path.exists(os.path.join(init, "value_head.pt")):
            torch.manual_seed(seed)
            base = build_tiny(
                load(split="train"), os.path.join(args.output_dir, f"seed{seed}", "tiny"), seed=seed
            )
            model, tokenizer = load_policy(base, device)
            supervised_warm_start(
                model, tokenizer, problems, steps=args.sft_steps if args.sft_steps is not None else preset["sft_steps"],
                learning_rate=preset["sft_learning_rate"],
                max_context=preset["max_context_tokens"], seed=seed, device=device,
            )  # fmt: skip
            model.save(init, tokenizer)
        for name, switches in VARIANTS.items():
            out = os.path.join(
                args.output_dir,
                f"seed{seed}",
                name.split(" (")[0].replace(" ", "_").replace("/", ""),
            )
            settings = {**preset, **switches}
            settings.update(
                model=init, sft_steps=0, seed=seed, iterations=args.iterations, episodes_per_iteration=args.episodes,
                max_new_tokens=args.max_new_tokens, output_dir=out, device=str(device),
            )  # fmt: skip
            result = train(PPOConfig(**settings), progress=False)
            report = evaluate_model(
                result.model_path, problems=problems if args.eval_split == "train" else "bundled", split=args.eval_split, greedy=True, max_new_tokens=args.eval_max_new_tokens,
                max_context_tokens=preset["max_context_tokens"], device=str(device),
            )  # fmt: skip
            for level, by_k in [*report.by_difficulty.items(), ("overall", report.overall)]:
                scores[name].setdefault(level, []).append(100 * by_k[1])
            print(
                f"seed {seed} {name:24s} pass@1 overall {100 * report.overall[1]:5.1f}", flush=True
            )

    levels = ["introductory", "interview", "competition", "overall"]
    print(f"\npass@1 (%) on the {args.eval_split} split, greedy, mean ± std over seeds {args.seeds}, "
          f"{args.iterations} iterations x {args.episodes} episodes each")  # fmt: skip
    print(f"{'variant':26s}" + "".join(f"{level:>18s}" for level in levels))
    for name, by_level in scores.items():
        cells = []
        for level in levels:
            values = by_level.get(level, [])
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(
                f"{statistics.mean(values):9.1f} ± {spread:4.1f}" if values else f"{'-':>16s}"
            )
        print(f"{name:26s}" + "".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    main()
