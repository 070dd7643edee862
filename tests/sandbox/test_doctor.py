"""``codegym doctor`` starts a real executor and reports what it got."""

from __future__ import annotations

import sys

import pytest

from codegym.cli import main
from codegym.sandbox.doctor import FEATURES, diagnose

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")


def test_diagnose_reports_the_executors_features_and_throughput():
    diagnosis = diagnose(seconds=0.3, workers=1)
    assert diagnosis.error is None
    assert set(diagnosis.features) <= set(FEATURES)
    assert "zygote" in diagnosis.features or sys.platform != "linux"
    assert diagnosis.programs_per_second > 0
    text = "\n".join(diagnosis.lines())
    for name in diagnosis.features:
        assert f"[x] {name}" in text
    assert "programs/s" in text


def test_doctor_command_prints_the_report(capsys):
    assert main(["doctor", "--seconds", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "CAP_SYS_ADMIN" in out and "throughput:" in out
