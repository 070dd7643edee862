"""``Executor.run_many``: one thread drives all servers, jobs queue behind busy ones, and a
server lost mid-batch costs at most the job it was running."""

from __future__ import annotations

import os
import signal
import threading
import time

from codegym.sandbox import Executor, Outcome, TestCase

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
