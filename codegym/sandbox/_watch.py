"""Watching a test process until it exits: the CPU and wall-clock limits of the test it runs."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CPU_TICK", "TestClock", "watch"]

CPU_TICK = 0.1
"""Seconds between two reads of a running test's CPU time (tests that end sooner cost none)."""


@dataclass
class TestClock:
    """The test a process is running as the server last saw it: its index, and the wall clock
    and the CPU count (since the process started) when the server saw it begin."""

    index: int
    wall_start: float
    cpu: float


def watch(
    pid: int,
    limits: Any,
    n_tests: int,
    clock: TestClock,
    *,
    read_cpu: Callable[[], float],
    running_test: Callable[[], int],
) -> tuple[str | None, float]:
    """Wait for a test process to exit; returns ``(why it must be killed, CPU used by all its
    processes)``, the reason None when it exited on its own.

    Every ``CPU_TICK`` the CPU time of all the test's processes together is read, and the
    index of the test the process is running (``clock`` follows it): past ``cpu_time`` since
    the running test began it is killed ("cpu"), however many processes or threads shared
    the work. The wall-clock backstop is for programs that sleep or block, not for slow
    machines: at the end of each wall-time period the test is killed ("wall") only if it used
    almost no CPU during the period (under 2% of it). A program that computes, however
    starved by machine load, runs on until its CPU time decides, so results do not depend on
    load. An absolute cap, ``limits.hard_wall_time`` per test, bounds even pathological
    cases. The process as a whole never gets more than ``n_tests`` times each limit, whatever
    it writes where the server reads its progress. ``read_cpu()`` reads the CPU all the process's
    processes have used since it started; ``running_test()`` the index it says it runs.
    """
    period = limits.effective_wall_time
    start = time.monotonic()
    hard_deadline = start + limits.hard_wall_time
    process_deadline = start + n_tests * limits.hard_wall_time
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    total = last_cpu = 0.0
    period_end = start + period
    try:
        while True:
            wake = min(time.monotonic() + CPU_TICK, period_end, hard_deadline)
            while True:
                left = wake - time.monotonic()
                if pidfd is not None:
                    if poller.poll(max(left, 0) * 1000):
                        return None, total
                elif os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return None, total
                else:
                    time.sleep(0.001)
                if time.monotonic() >= wake:
                    break
            total = max(total, read_cpu())
            now = time.monotonic()
            running = running_test()
            if n_tests > 1 and clock.index < running < clock.index + n_tests:
                clock.index, clock.wall_start, clock.cpu = running, now, total
                last_cpu, period_end = total, now + period
                hard_deadline = min(now + limits.hard_wall_time, process_deadline)
            cpu = total - clock.cpu
            if cpu > limits.cpu_time or total > n_tests * limits.cpu_time:
                return "cpu", total
            if now >= hard_deadline:
                return "wall", total
            if now >= period_end:
                if total - last_cpu < 0.02 * period:
                    return "wall", total
                last_cpu, period_end = total, now + period
    finally:
        if pidfd is not None:
            os.close(pidfd)
