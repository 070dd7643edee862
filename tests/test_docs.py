"""The documentation site builds with `mkdocs build --strict` and without a single warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")  # the "docs" extra; a missing plugin then fails the build
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's end-of-life banner
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert "WARNING" not in output, output[-5000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "envs" / "codegen" / "index.html").is_file()
    assert (tmp_path / "site" / "envs" / "coderepair" / "index.html").is_file()


def test_the_bundled_set_figures_in_the_docs_are_the_bundled_set():
    """docs/datasets.md quotes counts, splits, files and the first training id: computed here."""
    import json
    from collections import Counter

    from codegym.problems import load

    every = load("bundled")
    train, test = load("bundled", split="train"), load("bundled", split="test")
    modes = Counter(p.mode.value for p in every)
    tests = [len(p.tests) for p in every]
    first = train[0]
    text = (ROOT / "docs" / "datasets.md").read_text(encoding="utf-8")
    claims = [
        f"# {len(train)} problems written for codegym",
        f"# {first.id} {first.mode.value} {len(first.tests)}",
        f"| {len(every)} problems, fixed split |",
        f"codegym ships {len(every)} problems written for it",
        f"That gives {len(test)} test and {len(train)} train problems.",
        f"{modes['stdio']} are `stdio` problems",
        f"{modes['call']} are `call` problems",
        f"**Tests**: {min(tests)} to {max(tests)} per problem",
    ]
    data = ROOT / "codegym" / "problems" / "data" / "bundled"
    for path in sorted(data.glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        ids = [r["id"] for r in records]
        (difficulty,) = {r["difficulty"] for r in records}
        claims.append(f"| `{path.name}` | `{ids[0]}` … `{ids[-1]}` | {len(ids)} {difficulty} |")
    missing = [claim for claim in claims if claim not in text]
    assert not missing, f"docs/datasets.md does not say (any more): {missing}"
