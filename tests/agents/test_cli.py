"""The README's demo command, `codegym train --preset tiny`, on a reduced budget; and evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


def codegym(*args: str, cwd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "codegym.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )


def test_train_preset_tiny_reduced_budget_then_evaluate(tmp_path):
    out = tmp_path / "run"
    proc = codegym(
        "train", "--preset", "tiny", "--iterations", "2", "--sft-steps", "5", "--episodes", "4",
        "--max-new-tokens", "16", "--eval-samples", "2", "--output-dir", str(out), "--quiet",
        cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("iter")]
    assert (
        len(lines) == 2
        and "pass" in lines[0]
        and "by stage" in lines[0]
        and "per stage" in lines[0]
    )
    # The fixed evaluation, before PPO and after the last iteration, then the summary line.
    evals = [line for line in proc.stdout.splitlines() if line.startswith("eval after")]
    assert [line.split()[2] for line in evals] == ["0", "2"]
    assert "fixed evaluation" in proc.stdout and "->" in proc.stdout
    assert (out / "checkpoint" / "trainer_state.pt").exists()

    proc = codegym(
        "evaluate", "--model", str(out / "checkpoint"), "--split", "test", "--greedy", "--max-new-tokens", "8",
        cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pass@1" in proc.stdout and "overall" in proc.stdout

    # Repair: greedy pass@1 of the first program, and of the last after one turn of feedback,
    # on three problems. A first program that passes all tests passes the visible ones and ends
    # its episode, so the repaired figure can only be as high or higher.
    from codegym.problems import load, problem_to_record

    source = tmp_path / "three.jsonl"
    source.write_text(
        "".join(json.dumps(problem_to_record(p)) + "\n" for p in load(split="train")[:3])
    )
    proc = codegym(
        "evaluate", "--model", str(out / "checkpoint"), "--source", str(source),
        "--split", "all", "--repair-turns", "1", "--max-new-tokens", "16", cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pass@1 after 1 repair turn(s)" in proc.stdout
    overall = next(line for line in proc.stdout.splitlines() if line.startswith("overall"))
    n, before, after = overall.split()[1:]
    assert n == "3" and 0.0 <= float(before) <= float(after) <= 100.0


def test_repair_turns_need_a_model(tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text("")
    proc = codegym("evaluate", "--samples", str(samples), "--repair-turns", "2", cwd=str(tmp_path))
    assert proc.returncode == 2
    assert "--repair-turns needs --model" in proc.stderr


def test_evaluate_samples_file(tmp_path):
    from codegym.problems import load

    problems = load(split="test")[:3]
    samples = tmp_path / "samples.jsonl"
    with samples.open("w") as f:
        for p in problems:
            f.write(json.dumps({"problem_id": p.id, "completion": p.canonical_solution}) + "\n")
            f.write(json.dumps({"problem_id": p.id, "completion": "print(0)\n"}) + "\n")
    proc = codegym(
        "evaluate", "--samples", str(samples), "--split", "test", "--k", "1", "2", cwd=str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    overall = next(line for line in proc.stdout.splitlines() if line.startswith("overall"))
    assert overall.split()[-2:] == ["50.0", "100.0"]


@pytest.mark.parametrize(
    "args, says",
    [
        (
            ["evaluate", "--model", "/no/such/model", "--greedy"],
            "model path '/no/such/model' does not exist",
        ),
        (["train", "--model", "gpt2", "--iterations", "1"], "not in the local Hugging Face cache"),
        (
            ["evaluate", "--samples", "missing.jsonl"],
            "cannot read the samples file 'missing.jsonl'",
        ),
    ],
)
def test_a_model_or_samples_file_that_cannot_be_loaded_is_one_line_and_exit_2(tmp_path, args, says):
    # (HF_HUB_OFFLINE=1 here, so "gpt2" can come from nowhere: refused at once, not after retries)
    proc = codegym(*args, cwd=str(tmp_path))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and lines[0].startswith("codegym: error:"), lines
