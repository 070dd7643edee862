"""What the sandbox gives in whatever mode this process runs (root, root without CAP_SYS_ADMIN,
an ordinary user): CI runs this module in all three. Each test holds in every mode."""

from __future__ import annotations

import os
import sys
import time

import pytest

from codegym.sandbox import Executor, Limits, Outcome, TestCase

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")

LIMITS = Limits(cpu_time=1.0, wall_time=3.0)
OK = [TestCase.stdio("", "ok\n")]


@pytest.fixture(scope="module")
def executor():
    with Executor(workers=1, limits=LIMITS, cache_size=0) as ex:
        yield ex


def test_standard_library_modules_import(executor):
    """Modules the server did not preload must import as the sandbox's uid, wherever the
    interpreter lives (pyenv under /root included)."""
    program = (
        "import concurrent.futures, csv, multiprocessing, queue, socket, sqlite3, threading\n"
        "print('ok')\n"
    )
    result = executor.run(program, OK)
    assert result.outcome is Outcome.PASSED, result.tests[0].stderr or result.infra_error


def test_a_process_pool_works_and_pickles_the_programs_functions(executor):
    program = (
        "from concurrent.futures import ProcessPoolExecutor\n\n\ndef square(x):\n    return x * x\n\n\n"
        "if __name__ == '__main__':\n    with ProcessPoolExecutor(2) as pool:\n"
        "        print(sum(pool.map(square, range(10))))\n"
    )
    result = executor.run(program, [TestCase.stdio("", "285\n")], limits=Limits(cpu_time=5.0))
    assert result.outcome is Outcome.PASSED, result.tests[0].stderr or result.infra_error


SPENDERS = {
    "fork_bomb_swallowing_errors": (
        "import os\n\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    ),
    "spinning_threads": (
        "import threading\n\n\ndef spin():\n    while True:\n        pass\n\n\n"
        "for _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\nspin()\n"
    ),
    "process_pool": (
        "from concurrent.futures import ProcessPoolExecutor\n\n\ndef spin(_):\n    while True:\n"
        "        pass\n\n\nwith ProcessPoolExecutor(4) as pool:\n    list(pool.map(spin, range(8)))\n"
    ),
    "workers_that_each_stay_under_the_limit": (
        "import os\nimport time\n\nfor _ in range(4):\n    if os.fork() == 0:\n"
        "        end = time.process_time() + 0.6\n        while time.process_time() < end:\n"
        "            pass\n        os._exit(0)\nwhile True:\n    try:\n        os.wait()\n"
        "    except ChildProcessError:\n        break\nprint('ok')\n"
    ),
}


@pytest.mark.parametrize("name", list(SPENDERS))
def test_the_cpu_limit_binds_every_process_of_the_test(executor, name):
    """A test's CPU time counts all its processes and threads: a fork bomb, spinning threads or
    a pool of spinning workers all end at the test's one CPU limit, with nothing left behind."""
    start = time.monotonic()
    result = executor.run(SPENDERS[name], OK)
    elapsed = time.monotonic() - start
    (test,) = result.tests
    assert result.outcome is Outcome.TIMEOUT, (result.outcome, test.detail)
    assert test.cpu_time <= LIMITS.cpu_time + 1.0, test.cpu_time
    assert elapsed <= LIMITS.effective_wall_time + 2.0, elapsed
    # The next program may fork again at once: nothing of the last one holds processes.
    again = executor.run(
        "import os\n\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\nprint('ok')\n",
        OK,
    )
    assert again.outcome is Outcome.PASSED, again.tests[0].detail if again.tests else again


def test_a_virtualenv_under_tmp_stays_importable(tmp_path_factory):
    """A module on the caller's path under /tmp (a virtualenv there) is importable by programs,
    even where the sandbox gives them a private /tmp."""
    root = tmp_path_factory.mktemp("codegym-venv-like")
    os.chmod(root, 0o755)
    for parent in root.parents:
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o055)
    (root / "codegym_tmp_helper.py").write_text("VALUE = 41 + 1\n")
    os.chmod(root / "codegym_tmp_helper.py", 0o644)
    sys.path.insert(0, str(root))
    try:
        with Executor(workers=1, limits=LIMITS) as ex:
            result = ex.run(
                "import codegym_tmp_helper\nprint(codegym_tmp_helper.VALUE)\n",
                [TestCase.stdio("", "42\n")],
            )
    finally:
        sys.path.remove(str(root))
    assert result.outcome is Outcome.PASSED, result.tests[0].stderr or result.infra_error


def test_nothing_is_left_in_the_hosts_tmp_after_close():
    before = {n for n in os.listdir("/tmp") if n.startswith("codegym-run")}
    with Executor(workers=2, limits=LIMITS) as ex:
        assert all(r.passed for r in ex.run_many([("print('ok')", OK), ("print('ok' )", OK)]))
    deadline = time.monotonic() + 5
    while {n for n in os.listdir("/tmp") if n.startswith("codegym-run")} - before:
        assert time.monotonic() < deadline, "a run directory outlived its server"
        time.sleep(0.05)


def test_degraded_modes_say_so_once(recwarn):
    """Full isolation is silent; anything less warns once per executor, in plain words."""
    with Executor(workers=2, limits=LIMITS) as ex:
        ex.run_many([("print('ok')", OK), ("print('ok' )", OK)])
        features = set(ex.features)
    ours = [w for w in recwarn.list if "codegym sandbox" in str(w.message)]
    full = {"uid", "netns", "mountns", "private-tmp"} <= features
    if full:
        assert not ours, [str(w.message) for w in ours]
    else:
        assert 1 <= len(ours) <= 2, [str(w.message) for w in ours]
        assert len({str(w.message) for w in ours}) == len(ours)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory the sandbox's uid cannot read")
def test_a_site_packages_programs_cannot_read_fails_loudly(tmp_path_factory):
    """The self-check at start: a site-packages directory on the caller's path that the sandbox's
    uid cannot read (a virtualenv with private permissions) is a failure of the sandbox, said with
    its remedy, never a program's runtime error."""
    private = tmp_path_factory.mktemp("codegym-private-venv") / "site-packages"
    private.mkdir()
    os.chmod(private, 0o700)
    sys.path.append(str(private))
    try:
        with Executor(workers=1, limits=LIMITS) as ex:
            result = ex.run("print('ok')\n", OK)
    finally:
        sys.path.remove(str(private))
    assert result.outcome is Outcome.INFRA_ERROR, result.outcome
    assert f"cannot read {private}" in result.infra_error
    assert "where every user can read them" in result.infra_error


def test_tmp_itself_on_the_callers_path_leaves_the_private_tmp_alone():
    """A script run from /tmp has /tmp on its path: the sandbox still gets its own /tmp."""
    sys.path.append("/tmp")
    try:
        with Executor(workers=1, limits=LIMITS) as ex:
            result = ex.run("print('ok')\n", OK)
    finally:
        sys.path.remove("/tmp")
    assert result.outcome is Outcome.PASSED, result.infra_error or result.tests[0].detail
