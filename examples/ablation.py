"""StepCoder's ablation at small scale: CCCS + FGO, vanilla PPO, without CCCS, without FGO.

    python examples/ablation.py --seeds 0 1 2 --iterations 20
    python examples/ablation.py --seeds 0 --iterations 1 --episodes 4 --sft-steps 4   # smoke run

For each seed, one tiny model is built and warm-started (supervised) once; every variant then
trains from that same starting point for the same number of env steps (iterations x episodes), so
the variants differ only in the curriculum and the FGO mask.

Every trained policy is measured by the trainer's fixed evaluation (``PPOConfig.eval_every``):
the pass rate on the preset's 16 training problems, each started at every curriculum stage
(the full task included), the same starts for every variant and seed. Measuring from the full
task alone puts every variant at zero with a 2-layer model; the stages separate them. The table
prints the mean and spread over seeds of that pass rate, all stages together ("overall") and by
stage (s0 is the full task), and the shared warm start's own figure for comparison. All 16
problems are introductory, so a column per difficulty, as in the paper, would say nothing more.

The evaluation samples ``--eval-samples`` episodes per start (the preset's 8 by default; 0:
greedy). A run with fewer episodes per iteration than the preset scales that default down in
proportion (at least 1), so a smoke run is not dominated by the 296-episode evaluation it runs
before and after every variant.
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
START = "warm start (no PPO)"


def _cell(values: list[float]) -> str:
    if not values:
        return f"{'-':>14s}"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):6.1f} ± {spread:4.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--episodes", type=int, default=None, help="episodes per iteration (default: the preset's)"
    )
    parser.add_argument(
        "--eval-samples",
        type=int,
        default=None,
        help="fixed evaluation: samples per start, 0 greedy (default: the preset's, scaled with --episodes)",
    )
    parser.add_argument("--sft-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the preset's")
    parser.add_argument("--output-dir", default="runs/ablation")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args()

    import torch

    from codegym.agents import PRESETS, PPOConfig
    from codegym.agents.policy import load_policy, resolve_device
    from codegym.agents.tiny import build_tiny, supervised_warm_start
    from codegym.agents.trainer import train, training_problems
    from codegym.problems import load

    torch.set_num_threads(1)
    device = resolve_device(args.device)
    preset = dict(PRESETS["tiny"])
    max_new_tokens = args.max_new_tokens or preset["max_new_tokens"]
    iterations = args.iterations or preset["iterations"]
    episodes = args.episodes or preset["episodes_per_iteration"]
    if args.eval_samples is not None:
        preset["eval_samples"] = args.eval_samples
    elif episodes < preset["episodes_per_iteration"]:  # a smaller run: a smaller yardstick
        preset["eval_samples"] = max(
            1, preset["eval_samples"] * episodes // preset["episodes_per_iteration"]
        )
    problems = training_problems(PPOConfig(**preset))
    # variant -> column ("overall" or "s<k>") -> one pass rate (%) per seed
    scores: dict[str, dict[str, list[float]]] = {name: {} for name in [START, *VARIANTS]}
    stages: set[int] = set()

    def record(name: str, result) -> None:  # noqa: ANN001
        scores[name].setdefault("overall", []).append(100 * result.pass_rate)
        for stage, rate in result.by_stage.items():
            stages.add(stage)
            scores[name].setdefault(f"s{stage}", []).append(100 * rate)

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
        for i, (name, switches) in enumerate(VARIANTS.items()):
            out = os.path.join(
                args.output_dir,
                f"seed{seed}",
                name.split(" (")[0].replace(" ", "_").replace("/", ""),
            )
            settings = {**preset, **switches}
            settings.update(
                model=init, sft_steps=0, seed=seed, iterations=iterations, episodes_per_iteration=episodes,
                max_new_tokens=max_new_tokens, output_dir=out, device=str(device), resume=False,
                eval_every=iterations,  # the fixed evaluation before and after PPO only
            )  # fmt: skip
            result = train(PPOConfig(**settings), progress=False)
            (_, before), (_, after) = result.evaluations[0], result.evaluations[-1]
            if i == 0:  # every variant starts from the same model: record the start once
                record(START, before)
            record(name, after)
            print(
                f"seed {seed} {name:24s} fixed-evaluation pass rate {100 * before.pass_rate:5.1f} "
                f"-> {100 * after.pass_rate:5.1f} (full task {100 * before.full_task:5.1f} "
                f"-> {100 * after.full_task:5.1f})",
                flush=True,
            )

    columns = ["overall", *(f"s{k}" for k in sorted(stages))]
    method = (
        "greedy" if preset["eval_samples"] == 0 else f"{preset['eval_samples']} samples per start"
    )
    print(
        f"\nPass rate (%) of the fixed evaluation ({method}): {len(problems)} training problems x "
        f"every curriculum stage (s0 = full task), mean ± std over seeds {args.seeds}; "
        f"{iterations} iterations x {episodes} episodes per variant"
    )
    print(f"{'variant':26s}" + "".join(f"{c:>16s}" for c in columns))
    for name, by_column in scores.items():
        print(f"{name:26s}" + "".join(f"{_cell(by_column.get(c, [])):>16s}" for c in columns))


if __name__ == "__main__":
    main()
