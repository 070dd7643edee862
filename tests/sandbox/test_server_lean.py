"""The sandbox server stays small, so that forking a child per test stays cheap."""

from __future__ import annotations

import sys

import pytest

from codegym.sandbox import Executor, Limits, Outcome, TestCase

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox runs on Linux only"
)


@pytest.fixture(scope="module")
def executor():
    with Executor(workers=1, cache_size=0) as ex:
        yield ex


def test_children_do_not_inherit_the_codegym_package(executor):
    """The server imports the sandbox modules only: no gymnasium or numpy in every fork."""
    program = (
        "import sys\n"
        "print(sorted(m for m in ('numpy', 'gymnasium', 'codegym.envs', 'codegym.sandbox.executor')"
        " if m in sys.modules))\n"
    )
    result = executor.run(program, [TestCase.stdio("", "[]\n")])
    assert result.passed, result.tests[0].stdout + result.tests[0].stderr


def test_the_codegym_package_is_still_importable_by_programs(executor):
    program = "import codegym.sandbox.types as t\nprint(t.TestKind.STDIO.value)\n"
    result = executor.run(program, [TestCase.stdio("", "stdio\n")])
    assert result.passed, result.tests[0].stderr


def test_threads_do_not_spend_the_memory_limit_on_malloc_arenas(executor):
    """Sixteen threads fit the default 512 MiB limit (a 64 MiB arena per thread would not)."""
    program = (
        "import threading\n\nbarrier = threading.Barrier(17)\n"
        "threads = [threading.Thread(target=barrier.wait) for _ in range(16)]\n"
        "for t in threads:\n    t.start()\nbarrier.wait()\n"
        "for t in threads:\n    t.join()\nprint('ok')\n"
    )
    result = executor.run(program, [TestCase.stdio("", "ok\n")], limits=Limits(memory_mb=512))
    assert result.passed, result.tests[0].stderr


PLANTER = (
    "import os\n\n"
    "print(os.getcwd() == os.environ['HOME'], sorted(os.listdir('.')))\n"
    "os.makedirs('deep/' * 50, exist_ok=True)\n"
    "for name in ('planted.txt', 'stdout-0.txt.bak'):\n"
    "    with open(name, 'w') as f:\n        f.write('x')\n"
    "os.symlink('/etc/passwd', 'link')\n"
    "os.chmod('.', 0o500)\n"
)


def test_each_test_in_a_process_of_its_own_starts_in_an_empty_working_directory(executor):
    """With ``process_per_test`` the working directory's path is reused from test to test; its
    contents never are."""
    tests = [
        TestCase.stdio(f"{i}\n", f"True ['stderr-{i}.txt', 'stdin-{i}.txt', 'stdout-{i}.txt']\n")
        for i in range(3)
    ]
    result = executor.run(PLANTER, tests, limits=Limits(process_per_test=True))
    assert result.passed, [(t.outcome, t.stdout, t.stderr[-300:]) for t in result.tests]


def test_each_program_starts_in_an_empty_working_directory_that_is_home(executor):
    """By default a program's tests share one directory (each has its own files in it); no
    program sees what another left. This one makes the directory read-only, so its second test
    cannot get its stdout: a runtime error of its own making."""
    expected = "True ['stderr-0.txt', 'stdin-0.txt', 'stdin-1.txt', 'stdout-0.txt']\n"
    for run in range(3):
        tests = [TestCase.stdio("0\n", expected), TestCase.stdio("1\n", expected)]
        result = executor.run(PLANTER + f"# run {run}\n", tests)
        assert result.tests[0].passed, (result.tests[0].stdout, result.tests[0].stderr[-300:])
        assert result.tests[1].outcome is Outcome.RUNTIME_ERROR, result.tests[1]
        assert "PermissionError" in result.tests[1].detail, result.tests[1].detail


@pytest.mark.parametrize("per_test", [True, False])
def test_a_fresh_directory_mode_for_every_process(executor, per_test):
    program = "import os\nimport stat\n\nprint(oct(stat.S_IMODE(os.stat('.').st_mode)))\nos.chmod('.', 0o777)\n"
    tests = [TestCase.stdio("", "0o700\n")] * 2
    if per_test:  # each test a fresh directory
        result = executor.run(program, tests, limits=Limits(process_per_test=True))
        assert result.passed, [t.stdout for t in result.tests]
    else:  # each program
        for run in range(2):
            result = executor.run(program + f"# run {run}\n", tests)
            assert [t.stdout for t in result.tests] == ["0o700\n", "0o777\n"]
