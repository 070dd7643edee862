"""Every example runs on a tiny budget."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from codegym.evaluation import paired_difference

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load_example(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ABLATION = _load_example("ablation")


def run_example(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow  # SB3 PPO training, about 15 s
def test_sb3_ppo_example():
    pytest.importorskip("stable_baselines3")
    out = run_example("sb3_ppo.py", "--timesteps", "256", "--max-new-tokens", "16")
    assert "evaluation rewards" in out


def test_random_agent_example():
    out = run_example("random_agent.py", "--episodes", "2", "--max-new-tokens", "8")
    assert "[CodeGen-v0] episode 1" in out and "[CodeGenLine-v0] episode 1" in out
    assert "token_mask" in out and "outcomes CodeGenLine-v0" in out


def test_scripted_agent_example():
    out = run_example("scripted_agent.py", "--problems", "2", "--episodes", "8", "--window", "2")
    rows = [line.split() for line in out.splitlines() if line[:7].strip().isdigit()]
    assert len(rows) == 8 and all(row[3] == "+1.0" and row[4] == "passed" for row in rows)
    traces = [line.split() for line in out.splitlines() if "-> now" in line]
    assert len(traces) == 2
    for trace in traces:  # four passes each at window 2: every problem moved toward stage 0
        first, now = int(trace[1]), int(trace[-1])
        assert now < first or first == 0, trace
    assert "wrong variant" in out and " 0 - " in out  # a masked line


@pytest.mark.slow  # trains a policy, about 8 s
def test_fgo_policy_gradient_example():
    pytest.importorskip("torch")
    out = run_example("fgo_policy_gradient.py", "--iterations", "3", "--episodes", "2")
    assert [line.split()[1] for line in out.splitlines() if line.startswith("iter")] == [
        "0",
        "1",
        "2",
    ]


@pytest.mark.slow  # 4 short trainings and the coverage diagnostic, about 45 s
def test_ablation_example_smoke(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "ablation"
    out = run_example(
        "ablation.py", "--seeds", "0", "--iterations", "1", "--episodes", "2", "--sft-steps", "2",
        "--max-new-tokens", "8", "--eval-samples", "0", "--output-dir", str(out_dir),
    )  # fmt: skip
    assert "vanilla PPO" in out and "w/o FGO" in out and "overall" in out and "held-out" in out
    assert "StepCoder - w/o FGO" in out and "positive in" in out and "unexecuted" in out
    report = json.loads((out_dir / "ablation.json").read_text())
    # every variant evaluated before and after its one iteration; held-out measured at the end
    evaluations = report["evaluations"]
    assert sorted((e["variant"], e["iteration"]) for e in evaluations) == sorted(
        (v, i) for v in ABLATION.VARIANTS for i in (0, 1)
    )
    assert all((e["test_pass_rate"] is None) == (e["iteration"] == 0) for e in evaluations)
    assert all(e["seed"] == 0 and "0" in e["by_stage"] for e in evaluations)
    assert len(report["iterations"]) == 4 and report["warm_starts"][0]["seed"] == 0
    assert all(it["fgo_masked_by_outcome"] for it in report["iterations"])
    assert (out_dir / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    # the coverage diagnostic on the warm start the ablation saved
    cov = run_example(
        "fgo_coverage.py", "--model", str(out_dir / "seed0" / "init"), "--samples", "0",
        "--max-new-tokens", "8",
    )  # fmt: skip
    assert "with unexecuted lines" in cov and cov.splitlines()[-1].startswith("all")


def _report(scores: dict[str, list[float]]) -> dict:
    """An ablation report whose last evaluation of each variant has the given pass rates (%) by
    seed, with the seeds listed in a different order for each variant."""
    evaluations = []
    for name, values in scores.items():
        for seed in sorted(range(len(values)), key=lambda s: (s * 7 + len(name)) % 5):
            for it, rate in ((0, 0.1), (2, values[seed] / 100)):
                evaluations.append(
                    {"variant": name, "seed": seed, "iteration": it, "pass_rate": rate,
                     "full_task": 0.0, "by_stage": {"0": 0.0}, "test_pass_rate": None}
                )  # fmt: skip
    return {"evaluations": evaluations, "iterations": [], "warm_starts": []}


def test_ablation_pairs_by_seed():
    stepcoder = [20.0, 15.0, 30.0, 12.0, 18.0]
    vanilla = [18.0, 16.0, 25.0, 12.0, 11.0]  # differences 2, -1, 5, 0, 7
    other = {name: vanilla for name in ABLATION.VARIANTS}
    lines = ABLATION.paired_table(_report({**other, ABLATION.REFERENCE: stepcoder}), "pass_rate")
    row = next(line for line in lines if "vanilla PPO" in line)
    diff = paired_difference(stepcoder, vanilla)
    assert diff.mean == pytest.approx(2.6)
    assert str(diff) in row and "positive in 3 of 5 seeds" in row
    start = next(line for line in lines if "warm start" in line)  # iteration 0: 10% every seed
    assert "+9.0" in start and "positive in 5 of 5" in start


@pytest.mark.slow  # training and pass@1 on 105 problems, about 45 s
def test_reference_agent_example_smoke(tmp_path):
    pytest.importorskip("transformers")
    out = run_example(
        "reference_agent.py", "--iterations", "1", "--episodes", "2", "--sft-steps", "2",
        "--max-new-tokens", "8", "--eval-samples", "0", "--output-dir", str(tmp_path / "agent"),
    )  # fmt: skip
    assert "iteration 0" in out and "pass@1" in out


def test_repair_scripted_example():
    out = run_example("repair_scripted.py", "--problems", "2", "--show")
    ends = [line for line in out.splitlines() if line.strip().startswith("end:")]
    assert len(ends) == 2
    assert all("terminated after 3 turns, reward +1.0, all tests: passed" in e for e in ends)
    outcomes = [line.split()[2] for line in out.splitlines() if line.startswith("  turn ")]
    assert len(outcomes) == 6 and outcomes[0::3] == ["compile_error"] * 2
    assert outcomes[2::3] == ["passed"] * 2  # the wrong-answer bug, then fixed
    assert "--- what the agent sees after turn 1 ---" in out and "### Feedback" in out


@pytest.mark.slow  # GRPO training through TRL, about 25 s
def test_trl_grpo_example_smoke(tmp_path):
    pytest.importorskip("trl")
    out = run_example(
        "trl_grpo.py", "--problems", "2", "--sft-steps", "2", "--steps", "2", "--generations", "2",
        "--max-completion-length", "16", "--save-steps", "2", "--output-dir", str(tmp_path / "grpo"),
    )  # fmt: skip
    steps = [line.split()[1] for line in out.splitlines() if line.startswith("step")]
    assert steps == ["1", "2"] and "final stages" in out
    assert (tmp_path / "grpo" / "checkpoint-2" / "codegym_curriculum.json").is_file()
    assert (tmp_path / "grpo" / "curriculum.json").is_file()
