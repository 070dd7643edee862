"""Real sandbox failures for tests: kill an executor's server while it runs a program."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from codegym.sandbox import Executor


def kill_server_during(
    executor: Executor, action: Callable[[], Any], *, after_runs: int = 0
) -> Any:
    """Run ``action`` in a thread; once the executor's only server has finished ``after_runs``
    runs and taken the next one, kill it (a real sandbox failure, as in test_recovery.py)."""
    (server,) = list(executor._idle.queue)
    runs = executor.stats["runs"]
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(action()))
    worker.start()
    deadline = time.monotonic() + 20
    while executor.stats["runs"] < runs + after_runs or executor._idle.qsize():
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.01)
    time.sleep(0.3)
    os.kill(server.proc.pid, signal.SIGKILL)
    worker.join(timeout=60)
    return out[0]
