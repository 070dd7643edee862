"""StepCoder's ablation at small scale: CCCS + FGO, vanilla PPO, without CCCS, without FGO.

    python examples/ablation.py --seeds 10 11 12 13 14 15 16 17 --jobs 2
    python examples/ablation.py --seeds 0 --iterations 1 --episodes 4 --sft-steps 4   # smoke run

For each seed, one tiny model is built and warm-started (supervised) once; every variant then
trains from that same starting point for the same number of env steps (iterations x episodes), so
the variants differ only in the curriculum and the FGO mask. ``--jobs N`` runs N of these
trainings at a time, each in a process of its own (one torch thread each, on the CPU cores, or
all on one GPU with ``--device cuda``); the warm starts of the seeds run first, N at a time.

Every trained policy is measured by the trainer's fixed evaluation (``PPOConfig.eval_every``):
the pass rate on the preset's 16 training problems, each started at every curriculum stage
(the full task included), the same starts for every variant and seed, before PPO, every
``--eval-every`` iterations and after the last. Measuring from the full task alone puts every
variant at zero with a 2-layer model; the stages separate them. The held-out figure is greedy
pass@1 from the full task on the test split (problems never trained on), for the warm start and
for each trained policy. All 16 training problems are introductory, so a column per difficulty,
as in the paper, would say nothing more.

The evaluation samples ``--eval-samples`` episodes per start (the preset's 8 by default; 0:
greedy). A run with fewer episodes per iteration than the preset scales that default down in
proportion (at least 1), so a smoke run is not dominated by the 296-episode evaluation.

Writes, under ``--output-dir``:
- ``ablation.json``: every evaluation (variant, seed, iterations done, pass rate overall, full
  task and per stage, held-out pass rate where measured) and every training iteration (rollout
  pass rate, the share of generated tokens FGO masks, overall and by episode outcome);
- ``ablation.png``: the fixed-evaluation pass rate against iterations, all starts and the full
  task, per variant, the mean over seeds with a band of one standard deviation.
Prints the table of final pass rates, the paired difference of StepCoder against each other
variant with a 95% t-interval over seeds and the sign count, and the FGO mask shares.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from typing import Any

VARIANTS = {
    "StepCoder (CCCS + FGO)": {"curriculum": "cccs", "fgo": True},
    "vanilla PPO": {"curriculum": "none", "fgo": False},
    "w/o CCCS": {"curriculum": "none", "fgo": True},
    "w/o FGO": {"curriculum": "cccs", "fgo": False},
}
START = "warm start (no PPO)"
REFERENCE = "StepCoder (CCCS + FGO)"


def _cell(values: list[float]) -> str:
    if not values:
        return f"{'-':>14s}"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):6.1f} ± {spread:4.1f}"


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The preset, with the command line's overrides, as every job uses it."""
    from codegym.agents import PRESETS

    preset = dict(PRESETS["tiny"])
    episodes = args.episodes or preset["episodes_per_iteration"]
    if args.eval_samples is not None:
        preset["eval_samples"] = args.eval_samples
    elif episodes < preset["episodes_per_iteration"]:  # a smaller run: a smaller yardstick
        preset["eval_samples"] = max(
            1, preset["eval_samples"] * episodes // preset["episodes_per_iteration"]
        )
    iterations = args.iterations or preset["iterations"]
    preset.update(
        iterations=iterations,
        episodes_per_iteration=episodes,
        max_new_tokens=args.max_new_tokens or preset["max_new_tokens"],
        sft_steps=args.sft_steps if args.sft_steps is not None else preset["sft_steps"],
        eval_every=min(args.eval_every or preset["eval_every"], iterations),
        device=args.device,
    )
    return preset


def _held_out(model_path: str, settings: dict[str, Any]) -> float:
    """Greedy pass@1 from the full task on the test split."""
    from codegym.agents.evaluate import evaluate_model

    report = evaluate_model(
        model_path, problems=settings.get("problems", "bundled"), split="test",
        max_new_tokens=settings["max_new_tokens"], max_context_tokens=settings["max_context_tokens"],
        device=settings["device"],
    )  # fmt: skip
    return report.overall[1]


def _init_dir(output_dir: str, seed: int) -> str:
    return os.path.join(output_dir, f"seed{seed}", "init")


def warm_start(seed: int, settings: dict[str, Any], output_dir: str) -> dict[str, Any]:
    """Build and warm-start seed ``seed``'s model (unless already saved); its held-out figure."""
    import torch

    from codegym.agents import PPOConfig
    from codegym.agents.policy import load_policy, resolve_device
    from codegym.agents.tiny import build_tiny, supervised_warm_start
    from codegym.agents.trainer import training_problems
    from codegym.problems import load

    torch.set_num_threads(1)
    init = _init_dir(output_dir, seed)
    if not os.path.exists(os.path.join(init, "value_head.pt")):
        device = resolve_device(settings["device"])
        torch.manual_seed(seed)
        base = build_tiny(
            load(split="train"), os.path.join(output_dir, f"seed{seed}", "tiny"), seed=seed
        )
        model, tokenizer = load_policy(base, device)
        supervised_warm_start(
            model, tokenizer, training_problems(PPOConfig(**settings)), steps=settings["sft_steps"],
            learning_rate=settings["sft_learning_rate"], max_context=settings["max_context_tokens"],
            seed=seed, device=device,
        )  # fmt: skip
        model.save(init, tokenizer)
    return {"seed": seed, "test_pass_rate": _held_out(init, settings)}


def run_variant(name: str, seed: int, settings: dict[str, Any], output_dir: str) -> dict[str, Any]:
    """Train one variant from seed ``seed``'s warm start; its evaluations and iteration stats."""
    import torch

    from codegym.agents import PPOConfig
    from codegym.agents.trainer import train

    torch.set_num_threads(1)
    out = os.path.join(
        output_dir, f"seed{seed}", name.split(" (")[0].replace(" ", "_").replace("/", "")
    )
    config = PPOConfig(**{
        **settings, **VARIANTS[name],
        "model": _init_dir(output_dir, seed), "sft_steps": 0, "seed": seed, "output_dir": out,
        "resume": False,
    })  # fmt: skip
    result = train(config, progress=False)
    test_rate = _held_out(result.model_path, settings)
    evaluations = [
        {
            "variant": name,
            "seed": seed,
            "iteration": done,
            "pass_rate": e.pass_rate,
            "full_task": e.full_task,
            "by_stage": {str(k): v for k, v in e.by_stage.items()},
            "test_pass_rate": test_rate if done == config.iterations else None,
        }  # fmt: skip
        for done, e in result.evaluations
    ]
    iterations = [
        {
            "variant": name,
            "seed": seed,
            "iteration": s.iteration,
            "rollout_pass_rate": s.pass_rate,
            "fgo_masked_fraction": s.fgo_masked_fraction,
            "fgo_masked_by_outcome": {
                k: {"share": share, "tokens": n}
                for k, (share, n) in s.fgo_masked_by_outcome.items()
            },
        }  # fmt: skip
        for s in result.history
    ]
    (_, before), (_, after) = result.evaluations[0], result.evaluations[-1]
    print(
        f"seed {seed} {name:24s} fixed-evaluation pass rate {100 * before.pass_rate:5.1f} "
        f"-> {100 * after.pass_rate:5.1f} (full task {100 * before.full_task:5.1f} "
        f"-> {100 * after.full_task:5.1f}), held-out {100 * test_rate:5.1f}",
        flush=True,
    )
    return {"evaluations": evaluations, "iterations": iterations}


def _pool(jobs: int) -> ProcessPoolExecutor | None:
    # spawn, not fork: torch and the sandbox's threads do not survive a fork.
    if jobs <= 1:
        return None
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))


def _map(pool: ProcessPoolExecutor | None, fn: Any, calls: list[tuple[Any, ...]]) -> list[Any]:
    if pool is None:
        return [fn(*call) for call in calls]
    return [f.result() for f in [pool.submit(fn, *call) for call in calls]]


def final_scores(report: dict[str, Any], column: str) -> dict[str, dict[int, float]]:
    """variant -> seed -> the last evaluation's figure (%) in ``column`` (``pass_rate``,
    ``full_task`` or ``test_pass_rate``); the warm start as its own variant."""
    scores: dict[str, dict[int, float]] = defaultdict(dict)
    last = max(e["iteration"] for e in report["evaluations"])
    for e in report["evaluations"]:
        if e["iteration"] == last and e[column] is not None:
            scores[e["variant"]][e["seed"]] = 100 * e[column]
        if e["iteration"] == 0 and e["variant"] == REFERENCE and column != "test_pass_rate":
            scores[START][e["seed"]] = 100 * e[column]
    for w in report["warm_starts"]:
        if column == "test_pass_rate":
            scores[START][w["seed"]] = 100 * w["test_pass_rate"]
    return scores


def paired_table(report: dict[str, Any], column: str) -> list[str]:
    """StepCoder minus each other variant, paired by seed: mean, 95% interval, sign count."""
    from codegym.evaluation import paired_difference

    scores = final_scores(report, column)
    reference = scores[REFERENCE]
    lines = []
    for name in [START, *VARIANTS]:
        if name == REFERENCE:
            continue
        seeds = sorted(set(reference) & set(scores[name]))
        diff = paired_difference([reference[s] for s in seeds], [scores[name][s] for s in seeds])
        lines.append(f"  StepCoder - {name:22s} {diff}")
    return lines


def fgo_table(report: dict[str, Any]) -> list[str]:
    """Per variant, over every iteration and seed: the share of generated tokens on lines no test
    ran, by episode outcome (token-weighted), and the share FGO actually left out of the loss."""
    tokens: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    unexecuted: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    applied: dict[str, list[float]] = defaultdict(list)
    for it in report["iterations"]:
        applied[it["variant"]].append(it["fgo_masked_fraction"])
        for outcome, v in it["fgo_masked_by_outcome"].items():
            tokens[it["variant"]][outcome] += v["tokens"]
            unexecuted[it["variant"]][outcome] += v["share"] * v["tokens"]
    lines = []
    for name in VARIANTS:
        parts = []
        for outcome in sorted(tokens[name]):
            n = tokens[name][outcome]
            parts.append(f"{outcome} {unexecuted[name][outcome] / n:.1%} of {int(n)}")
        total = sum(tokens[name].values())
        share = sum(unexecuted[name].values()) / total if total else 0.0
        masked = statistics.mean(applied[name]) if applied[name] else 0.0
        lines.append(
            f"  {name:24s} unexecuted {share:.1%} ({'; '.join(parts)}); masked in the loss "
            f"{masked:.1%}"
        )
    return lines


def plot(report: dict[str, Any], path: str) -> None:
    """Fixed-evaluation pass rate against iterations, all starts and the full task: per variant,
    mean over seeds and a band of one standard deviation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    styles = ["-", "--", "-.", ":"]  # variants that coincide stay visible
    panels = (("pass_rate", "all curriculum stages"), ("full_task", "full task (stage 0)"))
    for ax, (column, title) in zip(axes, panels):
        for name, style in zip(VARIANTS, styles):
            by_iteration: dict[int, list[float]] = defaultdict(list)
            for e in report["evaluations"]:
                if e["variant"] == name:
                    by_iteration[e["iteration"]].append(100 * e[column])
            xs = sorted(by_iteration)
            means = [statistics.mean(by_iteration[x]) for x in xs]
            sds = [statistics.stdev(by_iteration[x]) if len(by_iteration[x]) > 1 else 0 for x in xs]
            (line,) = ax.plot(xs, means, style, marker="o", label=name)
            ax.fill_between(
                xs, [m - s for m, s in zip(means, sds)], [m + s for m, s in zip(means, sds)],
                color=line.get_color(), alpha=0.15,
            )  # fmt: skip
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("PPO iterations")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    seeds = sorted({e["seed"] for e in report["evaluations"]})
    axes[0].set_ylabel(f"fixed-evaluation pass rate (%), mean ± 1 sd over {len(seeds)} seed(s)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--jobs", type=int, default=1, help="trainings at a time, one process each (default 1)"
    )
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
    parser.add_argument(
        "--eval-every", type=int, default=None, help="fixed evaluation every N iterations (default: the preset's)"
    )  # fmt: skip
    parser.add_argument("--sft-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the preset's")
    parser.add_argument("--output-dir", default="runs/ablation")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")

    settings = _settings(args)
    out = args.output_dir
    pool = _pool(args.jobs)
    try:
        warm = _map(pool, warm_start, [(seed, settings, out) for seed in args.seeds])
        runs = _map(
            pool, run_variant, [(name, seed, settings, out) for seed in args.seeds for name in VARIANTS]
        )  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown()
    report = {
        "settings": settings,
        "seeds": args.seeds,
        "warm_starts": warm,
        "evaluations": [e for run in runs for e in run["evaluations"]],
        "iterations": [it for run in runs for it in run["iterations"]],
    }
    json_path, plot_path = os.path.join(out, "ablation.json"), os.path.join(out, "ablation.png")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    plot(report, plot_path)

    stages = sorted({int(k) for e in report["evaluations"] for k in e["by_stage"]})
    last = settings["iterations"]
    columns: dict[str, dict[str, list[float]]] = {
        name: defaultdict(list) for name in [START, *VARIANTS]
    }
    for e in report["evaluations"]:
        name = e["variant"] if e["iteration"] == last else START if e["iteration"] == 0 else None
        if name is None or (name == START and e["variant"] != REFERENCE):
            continue  # every variant starts from the same model: the start counted once
        columns[name]["overall"].append(100 * e["pass_rate"])
        for k, v in e["by_stage"].items():
            columns[name][f"s{k}"].append(100 * v)
    for name, scores in final_scores(report, "test_pass_rate").items():
        columns[name]["held-out"] = list(scores.values())

    heads = ["overall", *(f"s{k}" for k in stages), "held-out"]
    method = (
        "greedy"
        if settings["eval_samples"] == 0
        else f"{settings['eval_samples']} samples per start"
    )
    n_problems = settings["problem_limit"]
    print(
        f"\nPass rate (%) of the fixed evaluation ({method}): {n_problems} training problems x "
        f"every curriculum stage (s0 = full task), mean ± std over seeds {args.seeds}; "
        f"{last} iterations x {settings['episodes_per_iteration']} episodes per variant; "
        "held-out: greedy pass@1 on the test split"
    )
    print(f"{'variant':26s}" + "".join(f"{c:>16s}" for c in heads))
    for name, by_column in columns.items():
        print(f"{name:26s}" + "".join(f"{_cell(by_column.get(c, [])):>16s}" for c in heads))
    for column, label in [
        ("pass_rate", "overall"),
        ("full_task", "full task (s0)"),
        ("test_pass_rate", "held-out"),
    ]:
        print(f"\nPaired by seed, {label} (points):")
        print("\n".join(paired_table(report, column)))
    print("\nFGO: share of generated tokens on lines no test executed, all iterations and seeds:")
    print("\n".join(fgo_table(report)))
    print(f"\nwrote {json_path} and {plot_path}")


if __name__ == "__main__":
    main()
