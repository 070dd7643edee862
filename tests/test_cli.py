"""The ``codegym`` command's torch-free parts: --version and what ``run`` shows of a failure."""

from __future__ import annotations

import pytest

import codegym
from codegym.cli import main


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"codegym {codegym.__version__}"


def run_file(tmp_path, capsys, program: str, problem: str) -> tuple[int, str]:  # noqa: ANN001
    path = tmp_path / "solution.py"
    path.write_text(program, encoding="utf-8")
    code = main(["run", str(path), "--problem", problem])
    return code, capsys.readouterr().out


def test_run_shows_the_first_failing_tests_input_expected_and_actual_output(tmp_path, capsys):
    # intro-a-001 (Caesar shift), test 0: "3 / Hello, World!" -> "Khoor, Zruog!"
    code, out = run_file(tmp_path, capsys, "input()\nprint(input())\n", "intro-a-001")
    assert code == 1
    report = out[out.index("first failing test (0):") :]
    assert "  input:\n    3\n    Hello, World!\n" in report
    assert "  expected output:\n    Khoor, Zruog!\n" in report
    assert "  actual output:\n    Hello, World!\n" in report


def test_run_cuts_long_output_and_reports_a_compile_error_once(tmp_path, capsys):
    code, out = run_file(tmp_path, capsys, "print('x' * 5000)\n", "intro-a-001")
    assert code == 1 and "(truncated)" in out and "x" * 401 not in out
    code, out = run_file(tmp_path, capsys, "def f(:\n", "intro-a-001")
    assert code == 1
    assert out.count("SyntaxError") == 1 and out.startswith("compile error: SyntaxError")
    assert "test 0" not in out and out.strip().endswith("compile_error: 0/12 tests passed")
