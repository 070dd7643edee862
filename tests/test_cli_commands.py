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


def test_train_has_a_flag_for_every_ppoconfig_field_and_keeps_the_old_spellings() -> None:
    import dataclasses

    from codegym._dataclass_args import dataclass_values
    from codegym.agents.config import PPOConfig
    from codegym.cli import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
    flags = {s for action in train._actions for s in action.option_strings}  # noqa: SLF001
    for f in dataclasses.fields(PPOConfig):
        if f.name != "env_kwargs":  # a dict: set it from Python
            assert "--" + f.name.replace("_", "-") in flags, f.name

    args = parser.parse_args(
        ["train", "--episodes-per-iteration", "4", "--cpu-time-limit", "1.5", "--no-whiten-advantages",
         "--problem-limit", "none", "--curriculum", "1", "--split", "none"]
    )  # fmt: skip
    assert dataclass_values(args, PPOConfig) == {
        "episodes_per_iteration": 4, "cpu_time_limit": 1.5, "whiten_advantages": False,
        "problem_limit": None, "curriculum": 1, "split": None,
    }  # fmt: skip
    old = parser.parse_args(["train", "--episodes", "4", "--source", "x", "--no-cccs", "--no-fgo"])
    assert dataclass_values(old, PPOConfig) == {
        "episodes_per_iteration": 4, "problems": "x", "curriculum": "none", "fgo": False,
    }  # fmt: skip
    assert dataclass_values(parser.parse_args(["train"]), PPOConfig) == {}  # the preset decides
    assert "Episodes (one per env) collected per iteration" in train.format_help()


def test_validate_takes_source_as_every_command_does_and_as_before(capsys) -> None:
    for args in (["--source", "bundled"], ["bundled"]):
        code = main(
            ["problems", "validate", *args, "--difficulty", "competition", "--split", "test"]
        )
        assert code == 0, capsys.readouterr()
