"""``Executor.run_many``: one thread drives all servers, jobs queue behind busy ones, and a
server lost mid-batch costs at most the job it was running."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from codegym.sandbox import Executor, Limits, Outcome, TestCase

ECHO = [TestCase.stdio("5\n", "5\n")]


def _echo(i: int, nap: float = 0.0) -> str:
    wait = f"import time\ntime.sleep({nap})\n" if nap else ""
    return f"{wait}print(input())  # {i}\n"


def test_a_program_repeated_in_a_batch_runs_once():
    with Executor(workers=2, cache_size=0) as ex:
        jobs = [(_echo(i % 3), ECHO) for i in range(9)] + [("print(4)\n", ECHO)]
        results = ex.run_many(jobs)
        assert ex.stats["runs"] == 4
        assert [r.outcome for r in results] == [Outcome.PASSED] * 9 + [Outcome.WRONG_ANSWER]
        assert [r.cached for r in results] == [False] * 3 + [True] * 6 + [False]


def test_a_server_killed_mid_batch_costs_at_most_its_running_job():
    with Executor(workers=2, cache_size=0) as ex:
        ex.run_many([(_echo(-1), ECHO), (_echo(-2), ECHO)])  # both servers warm
        victim = ex._idle.queue[0].proc
        out: list = []
        batch = threading.Thread(
            target=lambda: out.extend(ex.run_many([(_echo(i, 0.2), ECHO) for i in range(12)]))
        )
        batch.start()
        time.sleep(0.5)
        os.kill(victim.pid, signal.SIGKILL)
        batch.join(timeout=60)
        assert len(out) == 12
        outcomes = [r.outcome for r in out]
        assert outcomes.count(Outcome.INFRA_ERROR) <= 1, outcomes
        assert outcomes.count(Outcome.PASSED) >= 11, outcomes
        infra = [r.infra_error for r in out if r.outcome is Outcome.INFRA_ERROR]
        assert all("server" in message for message in infra), infra
        assert ex.run_many([(_echo(i), ECHO) for i in range(100, 104)])[3].passed


def test_threads_share_one_executor_in_batches():
    with Executor(workers=2, cache_size=0) as ex:
        results: dict[int, list] = {}

        def batch(t: int) -> None:
            jobs = [
                (f"print({t * 100 + i})\n", [TestCase.stdio("", f"{t * 100 + i}\n")])
                for i in range(6)
            ]
            results[t] = ex.run_many(jobs)

        threads = [threading.Thread(target=batch, args=(t,)) for t in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results) == [0, 1, 2]
        assert all(r.passed for rs in results.values() for r in rs)
        assert ex._started <= 2


def test_each_result_carries_its_own_run_time_when_replies_come_together():
    # Servers send two replies at once when the next job was already waiting: a result's
    # wall time is still its own run's, measured on the server.
    with Executor(workers=2, cache_size=0) as ex:
        results = ex.run_many([(_echo(i, 0.3), ECHO) for i in range(10)])
        assert all(r.passed for r in results), [r.outcome for r in results]
        walls = [r.wall_time for r in results]
        assert all(0.3 <= w < 0.55 for w in walls), walls


@pytest.mark.slow
def test_a_server_that_stops_replying_costs_its_job_and_the_batch_goes_on():
    limits = Limits(cpu_time=0.1, wall_time=0.1)  # a job's budget: 30 s + 5.5 s a test
    with Executor(workers=2, cache_size=0, limits=limits) as ex:
        ex.run_many([(_echo(-1), ECHO), (_echo(-2), ECHO)])  # both servers warm
        frozen = ex._idle.queue[0].proc
        os.kill(frozen.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            results = ex.run_many([(_echo(i), ECHO) for i in range(2)])
            took = time.monotonic() - start
        finally:
            if frozen.poll() is None:  # the batch gave up on it: it is gone already
                os.kill(frozen.pid, signal.SIGKILL)
        outcomes = sorted(r.outcome.value for r in results)
        assert outcomes == sorted([Outcome.INFRA_ERROR.value, Outcome.PASSED.value]), outcomes
        (hung,) = [r for r in results if r.outcome is Outcome.INFRA_ERROR]
        assert "did not reply in 36 s" in hung.infra_error
        assert 35 <= took < 45, took  # the hung server is killed, not waited for
        assert all(r.passed for r in ex.run_many([(_echo(i), ECHO) for i in range(10, 14)]))
