"""Every example runs on a tiny budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


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


def test_fgo_policy_gradient_example():
    pytest.importorskip("torch")
    out = run_example("fgo_policy_gradient.py", "--iterations", "3", "--episodes", "2")
    assert [line.split()[1] for line in out.splitlines() if line.startswith("iter")] == [
        "0",
        "1",
        "2",
    ]


def test_ablation_example_smoke(tmp_path):
    pytest.importorskip("transformers")
    out = run_example(
        "ablation.py", "--seeds", "0", "--iterations", "1", "--episodes", "2", "--sft-steps", "2",
        "--max-new-tokens", "8", "--eval-samples", "0", "--output-dir", str(tmp_path / "ablation"),
    )  # fmt: skip
    assert "vanilla PPO" in out and "w/o FGO" in out and "overall" in out


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
