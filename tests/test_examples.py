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
