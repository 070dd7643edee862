"""Test processes come from the server's zygote; what a test sets up never carries into the next."""

from __future__ import annotations

import os
import signal
import sys
import time
from fractions import Fraction

import pytest

from codegym.sandbox import Executor, Limits, Outcome, TestCase

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox runs on Linux only"
)
ECHO = [TestCase.stdio("hi\n", "hi\n")]


@pytest.fixture()
def executor():
    with Executor(workers=1, cache_size=0) as ex:
        assert ex.run("print(input())", ECHO).passed
        if "zygote" not in ex.features:
            pytest.skip("no zygote on this platform: tests are forked from the server")
        yield ex


def _zygote_pid(executor: Executor) -> int:
    (server,) = list(executor._idle.queue)
    pid = server.proc.pid
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        (zygote,) = (int(p) for p in f.read().split())  # an idle server has no other child
    return zygote


def test_a_killed_zygote_is_replaced_without_an_infra_error(executor):
    old = _zygote_pid(executor)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{old}") and open(f"/proc/{old}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    result = executor.run("print(input())", ECHO)
    assert result.outcome is Outcome.PASSED, result.infra_error
    assert executor.stats["infra_errors"] == 0
    assert _zygote_pid(executor) != old


def test_arguments_marshal_cannot_carry_run_in_a_forked_child(executor):
    program = "def half(x):\n    return float(x / 2)\n"
    result = executor.run(program, [TestCase.call("half", [Fraction(3, 4)], 0.375)])
    assert result.passed, result.tests[0].detail


def test_limits_of_one_run_do_not_carry_into_the_next(executor):
    """The zygote sets some limits for its clones and keeps them: each run must set its own."""
    program = "print('x' * 5000)\n"
    tests = [TestCase.stdio("", "x" * 5000 + "\n")]
    small = executor.run(program, tests, limits=Limits(output_bytes=1000))
    assert small.outcome is Outcome.OUTPUT_LIMIT
    assert executor.run(program, tests).passed


def test_every_test_starts_from_the_same_random_state():
    program = "import random\nprint(random.random(), random.randrange(10**9))\n"
    outputs = set()
    for _ in range(2):
        with Executor(workers=2, cache_size=0) as ex:
            results = ex.run_many([(program, [TestCase.stdio("", "")] * 3)] * 4)
            outputs |= {t.stdout for r in results for t in r.tests}
    assert len(outputs) == 1, outputs
