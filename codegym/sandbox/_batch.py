"""One thread drives a whole batch: it sends each server its next job as soon as the server
replies, waiting on all their sockets at once.

A thread per server would cost the caller a hand-off per program (a future, a condition variable,
a thread waking while others hold the GIL); with many servers those hand-offs, not the servers,
bounded how many programs one caller could feed.
"""

from __future__ import annotations

import os
import select
import time
from collections import deque
from dataclasses import dataclass, replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from codegym.errors import SandboxError
from codegym.sandbox._cpus import CpuPool, lock_cpus
from codegym.sandbox._wire import REPLIES_HELD
from codegym.sandbox.compare import Comparator
from codegym.sandbox.types import ExecutionResult, TestCase

if TYPE_CHECKING:
    from codegym.sandbox._connection import _Server
    from codegym.sandbox.executor import Executor


@dataclass
class Job:
    """One run as the executor prepared it."""

    program: str
    tests: tuple[TestCase, ...]
    comparator: Comparator
    key: str
    """The cache key: program, tests (expected answers included), limits, coverage, comparator."""
    message: dict[str, Any]
    """What the server gets (no expected answers)."""
    budget: float
    """Seconds the server may take before it counts as hung."""


def run_batch(executor: Executor, jobs: list[Job]) -> list[ExecutionResult]:
    """Run ``jobs`` over the executor's servers; results in job order."""
    results: list[ExecutionResult | None] = [None] * len(jobs)
    first: dict[str, int] = {}  # cache key -> the job that runs it
    pending: deque[int] = deque()
    for i, job in enumerate(jobs):
        if job.key in first:
            continue
        hit = executor._cached(job.key)
        if hit is not None:
            results[i] = hit
        else:
            first[job.key] = i
            pending.append(i)
    if pending:
        _drive(executor, jobs, pending, results)
    for i, job in enumerate(jobs):
        if results[i] is None:  # a repeat of an earlier job of the batch
            results[i] = replace(results[first[job.key]], cached=True)  # type: ignore[arg-type]
    return results  # type: ignore[return-value]


PIPELINE_BYTES = 32 << 10
"""A job this small (the program and its pickled tests) may wait in a busy server's socket
buffer, so the server starts it the moment it finishes the one before, without a round trip
through the caller; bigger ones go only to idle servers, where sending cannot block the batch."""

HUNG_CHECK = 1.0
"""Seconds between two looks for servers past their job's budget (budgets are 30 s or more)."""

PIPELINE_DEPTH = 1 + REPLIES_HELD
"""Jobs sent to a server at most: the one it runs, and enough waiting behind it that it still
has one to run while the caller handles the replies it sends together."""


class _Batch:
    """The state of one :func:`run_batch`: the jobs not yet sent, and per server the jobs sent
    to it in order (the first running, the others waiting in its socket)."""

    def __init__(
        self,
        executor: Executor,
        jobs: list[Job],
        pending: deque[int],
        results: list[ExecutionResult | None],
    ) -> None:
        self.executor = executor
        self.jobs = jobs
        self.pending = pending
        self.results = results
        self.sent: dict[_Server, deque[int]] = {}
        self.deadline: dict[_Server, float] = {}  # when the running job counts as hung
        self.started: dict[_Server, float] = {}  # when it started
        self.cpu_of: dict[_Server, int | None] = {}
        self.by_fd: dict[int, _Server] = {}
        self.poller = select.epoll()

    def run(self, servers: list[_Server], cpus: CpuPool) -> None:
        for server in servers:
            cpu = cpus.take(server.cpu)
            if cpu is not None:
                server.cpu = cpu  # its last CPU where free: warm caches
            self.add(server, cpu)
        check = time.perf_counter() + HUNG_CHECK
        while self.sent:
            for fd, _ in self.poller.poll(max(check - time.perf_counter(), 0.0)):
                server = self.by_fd.get(fd)
                if server is not None:  # not retired by an earlier reply of this round
                    self.on_readable(server)
            now = time.perf_counter()
            if now >= check:
                check = now + HUNG_CHECK
                for server, deadline in list(self.deadline.items()):
                    if now >= deadline:
                        budget = self._budget(server)
                        message = f"the sandbox server did not reply in {budget:.0f} s"
                        self.fail(server, message, hung=True)

    def add(self, server: _Server, cpu: int | None) -> None:
        """Take ``server`` into the batch and keep it busy."""
        self.cpu_of[server] = cpu
        self.sent[server] = deque()
        self.by_fd[server.sock.fileno()] = server
        self.poller.register(server.sock, select.EPOLLIN)
        self.feed(server)

    def feed(self, server: _Server) -> None:
        """Send ``server`` a job if it has none, and small ones to wait behind it while more
        jobs are pending than the servers hold (at the batch's end they go to idle servers)."""
        queue = self.sent[server]
        new: list[int] = []
        while self.pending and len(queue) + len(new) < PIPELINE_DEPTH:
            ahead = len(queue) + len(new)
            if ahead and (
                len(self.pending) <= ahead * len(self.sent)
                or _size(self.jobs[self.pending[0]]) > PIPELINE_BYTES
            ):
                break
            new.append(self.pending.popleft())
        if new:
            cpu = self.cpu_of[server]
            try:
                # No timeout: the jobs are small or the server idle, so sending never waits.
                server.send(*({**self.jobs[i].message, "cpu": cpu} for i in new), timeout=None)
            except SandboxError as exc:
                if not queue:  # the first is the one to blame; the others wait for another
                    queue.append(new.pop(0))
                    self.started[server] = time.perf_counter()
                self.pending.extendleft(reversed(new))
                self.fail(server, str(exc))
                return
            if not queue:
                self.started[server] = time.perf_counter()
            queue.extend(new)
            self.deadline[server] = self.started[server] + self._budget(server)
        if not queue:
            self.drop(server)
            self.executor._release(server)

    def _budget(self, server: _Server) -> float:
        """Seconds the server may take to reply to its running job, from when it started: the
        reply may wait for the next job's."""
        return sum(self.jobs[i].budget for i in islice(self.sent[server], REPLIES_HELD))

    def on_readable(self, server: _Server) -> None:
        """Read what ``server`` sent, handle every whole reply in it (a reply that has not all
        arrived waits for the next round), then send it more jobs."""
        try:
            alive = server.pump()
        except SandboxError as exc:
            self.fail(server, str(exc))
            return
        while server in self.sent:
            reply = server.take()
            if reply is None:
                break
            self.on_reply(server, reply)
        if server in self.sent:
            if alive:
                self.feed(server)
            else:
                self.fail(server, server.died())

    def on_reply(self, server: _Server, reply: dict[str, Any]) -> None:
        queue = self.sent[server]
        now = time.perf_counter()
        self.finish(queue.popleft(), reply, now - self.started[server])
        if reply.get("retired"):  # it exits after this reply; its waiting jobs go back
            self.fail(server, None)
            return
        if queue:
            self.started[server] = now
            self.deadline[server] = self.started[server] + self._budget(server)
        else:
            del self.started[server], self.deadline[server]

    def fail(self, server: _Server, error: str | None, hung: bool = False) -> None:
        """Retire ``server`` (killed if ``hung``): its running job gets ``error`` (an
        INFRA_ERROR), the jobs waiting behind it go back to the front of the queue, and while
        jobs are pending another server takes its place."""
        queue = self.sent[server]
        if error is not None and queue:
            i = queue.popleft()
            self.finish(i, {"infra_error": error}, time.perf_counter() - self.started[server])
        self.pending.extendleft(reversed(queue))
        cpu = self.cpu_of[server]
        self.drop(server)
        self.executor._discard(server, hung)
        if not self.pending:
            return
        try:
            fresh = self.executor._acquire()
        except SandboxError as exc:
            if self.sent:
                return  # the servers still running take the pending jobs
            while self.pending:
                self.finish(self.pending.popleft(), {"infra_error": str(exc)}, 0.0)
            return
        self.add(fresh, cpu)

    def drop(self, server: _Server) -> None:
        self.poller.unregister(server.sock)
        del self.by_fd[server.sock.fileno()]
        del self.sent[server], self.cpu_of[server]
        self.started.pop(server, None)
        self.deadline.pop(server, None)

    def finish(self, i: int, reply: dict[str, Any], wall: float) -> None:
        self.results[i] = self.executor._finish(self.jobs[i], reply, wall)

    def abandon(self) -> None:
        """After an exception in the loop: the servers still mid-job cannot be reused."""
        for server in list(self.sent):
            self.drop(server)
            self.executor._discard(server)
        self.poller.close()


def _size(job: Job) -> int:
    return len(job.program) + len(job.message["tests_blob"])


def _drive(
    executor: Executor,
    jobs: list[Job],
    pending: deque[int],
    results: list[ExecutionResult | None],
) -> None:
    try:
        servers = executor._acquire_many(min(executor.workers, len(pending)))
    except SandboxError as exc:
        if executor._closed:
            raise
        for i in pending:
            results[i] = executor._finish(jobs[i], {"infra_error": str(exc)}, 0.0)
        return
    held = lock_cpus(len(servers)) if executor.pin_workers else {}
    batch = _Batch(executor, jobs, pending, results)
    try:
        batch.run(servers, CpuPool(held))
    finally:
        batch.abandon()
        for fd in held.values():
            os.close(fd)
