"""The caller's side of the sandbox: a pool of warm server processes, a result cache, the API."""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import pickle
import queue
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from codegym.errors import ConfigError, SandboxError
from codegym.sandbox._batch import Job, run_batch
from codegym.sandbox._connection import StartingServer, _Server
from codegym.sandbox._results import build_result
from codegym.sandbox.compare import Comparator, default_comparator
from codegym.sandbox.types import ExecutionResult, Limits, Outcome, TestCase, TestKind

__all__ = ["Executor", "run", "run_many", "HasTests", "TestsLike"]

logger = logging.getLogger(__name__)


PREPARED_SIZE = 1024
"""Test tuples whose pickled form an executor keeps (a problem set's worth)."""


class HasTests(Protocol):
    """Anything with a ``tests`` sequence (a :class:`codegym.problems.Problem`, for one)."""

    @property
    def tests(self) -> Sequence[TestCase]: ...


TestsLike = Sequence[TestCase] | HasTests


def _tests_of(tests_or_problem: TestsLike) -> tuple[tuple[TestCase, ...], Comparator | None]:
    tests = getattr(tests_or_problem, "tests", tests_or_problem)
    comparator = getattr(tests_or_problem, "comparator", None)
    if isinstance(tests, (str, bytes)) or not isinstance(tests, Iterable):
        raise ConfigError(
            f"expected a sequence of TestCase or an object with .tests, got {type(tests_or_problem).__name__}"
        )
    tests = tuple(tests)
    if not tests:
        raise ConfigError("no tests to run: a program cannot pass an empty test list")
    for i, t in enumerate(tests):
        if not isinstance(t, TestCase):
            raise ConfigError(f"tests[{i}] is a {type(t).__name__}, not a codegym.sandbox.TestCase")
    return tests, comparator if callable(comparator) else None


class Executor:
    """Runs untrusted programs against tests in isolated, resource-limited processes.

    Keeps ``workers`` warm sandbox servers (one per core by default), spreads :meth:`run_many`
    over them, and caches results keyed by program, tests, limits and coverage setting, since RL
    samples repeat. Servers start on first use and stop on :meth:`close` (or at interpreter exit).
    Executors pickle as their configuration, so envs holding one can go to subprocesses.

    With ``pin_workers`` (the default), :meth:`run_many` runs each server, and the tests it
    starts, on a CPU of its own for as long as the batch lasts: the cores then stay busy through
    the hand-offs between caller, server and test, where the scheduler leaves some idle. A batch
    locks the CPUs it pins to on the whole machine (a lock file per CPU), so batches of executors
    in several processes never pin onto the same CPUs; runs that find no CPU free go unpinned.
    Single :meth:`run` calls (an env's) never pin. Turn it off when other heavy work shares the
    CPUs with a batch: a pinned server cannot move away from a busy core.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        limits: Limits | None = None,
        coverage: bool = True,
        cache_size: int = 4096,
        pin_workers: bool = True,
    ) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.workers = workers or len(os.sched_getaffinity(0))
        self.limits = limits or Limits()
        self.coverage = coverage
        self.cache_size = cache_size
        self.pin_workers = pin_workers
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._idle: queue.LifoQueue[_Server] = queue.LifoQueue()
        self._started = 0
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, ExecutionResult] = OrderedDict()
        self._prepared: OrderedDict[int, tuple[tuple[TestCase, ...], bytes, bytes]] = OrderedDict()
        self._limits_wire: dict[tuple[Limits, bool], tuple[bytes, bytes]] = {}
        self._closed = False
        self.features: list[str] = []
        self.stats = {"runs": 0, "cache_hits": 0, "infra_errors": 0}
        self._pid = os.getpid()
        atexit.register(self.close)

    def _check_fork(self) -> None:
        """A forked child (a vector-env worker) must not talk to its parent's servers."""
        if self._pid != os.getpid():
            self._init_runtime()

    def __getstate__(self) -> dict[str, Any]:
        names = ("workers", "limits", "coverage", "cache_size", "pin_workers")
        return {k: getattr(self, k) for k in names}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"pin_workers": True, **state})
        self._init_runtime()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- servers --------------------------------------------------------------------------------

    def _take_idle(self) -> _Server | None:
        """An idle server that is still alive, or None when there is none."""
        while True:
            try:
                server = self._idle.get_nowait()
            except queue.Empty:
                return None
            if server.alive():
                return server
            self._discard(server)  # it exited (retired) or was killed while idle: start another

    def _acquire(self) -> _Server:
        if self._closed:
            raise SandboxError("this Executor is closed")
        server = self._take_idle()
        if server is not None:
            return server
        with self._lock:
            start = self._started < self.workers
            if start:
                self._started += 1
        if not start:
            server = self._idle.get()
            if server.alive():
                return server
            self._discard(server)
            return self._acquire()
        try:
            server = _Server()
        except BaseException:
            with self._lock:
                self._started -= 1
            raise
        return self._started_server(server)

    def _started_server(self, server: _Server) -> _Server:
        if server.warnings and not self.features:
            for message in server.warnings:
                warnings.warn(f"codegym sandbox: {message}", RuntimeWarning, stacklevel=5)
        self.features = server.features
        return server

    def _acquire_many(self, count: int) -> list[_Server]:
        """Up to ``count`` servers for a batch: the idle ones, then new ones started side by side
        while the pool is below ``workers``; waits for one only when none is free."""
        if self._closed:
            raise SandboxError("this Executor is closed")
        servers: list[_Server] = []
        while len(servers) < count and (server := self._take_idle()) is not None:
            servers.append(server)
        with self._lock:
            new = min(count - len(servers), self.workers - self._started)
            self._started += new
        if new > 0:
            starting = [StartingServer() for _ in range(new)]
            for s in starting:
                s.start()
            for s in starting:
                s.join()
                if s.server is not None:
                    servers.append(self._started_server(s.server))
                else:
                    with self._lock:
                        self._started -= 1
            if not servers:  # every start failed: say why
                raise next(s.error for s in starting if s.error is not None)
        return servers or [self._acquire()]

    def _discard(self, server: _Server, hung: bool = False) -> None:
        server.close(hung)
        with self._lock:
            self._started -= 1

    def _release(self, server: _Server) -> None:
        if self._closed:
            self._discard(server)
        else:
            self._idle.put(server)

    def close(self) -> None:
        """Stop the sandbox servers. The executor can not be used afterwards."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break

    # -- running --------------------------------------------------------------------------------

    def run(
        self,
        program: str,
        tests_or_problem: TestsLike,
        *,
        limits: Limits | None = None,
        coverage: bool | None = None,
        comparator: Comparator | None = None,
    ) -> ExecutionResult:
        """Run ``program`` against every test; see :func:`codegym.sandbox.run`."""
        self._check_fork()
        return self._execute(self._job(program, tests_or_problem, limits, coverage, comparator))

    def _execute(self, job: Job) -> ExecutionResult:
        """One run on one server from the pool (or from the cache)."""
        hit = self._cached(job.key)
        if hit is not None:
            return hit
        start = time.perf_counter()
        server: _Server | None = None
        healthy = hung = False  # whether the server may serve another run after this one
        try:
            server = self._acquire()
            reply = server.call(job.message, job.budget)
            healthy = not reply.get("retired")  # a retiring server exits after this reply
        except SandboxError as exc:
            if server is None and self._closed:
                raise
            hung = isinstance(exc.__cause__, TimeoutError)
            reply = {"infra_error": str(exc)}
        finally:
            if server is not None and healthy:
                self._release(server)
            elif server is not None:
                self._discard(server, hung)
        return self._finish(job, reply, time.perf_counter() - start)

    def _job(
        self,
        program: str,
        tests_or_problem: TestsLike,
        limits: Limits | None,
        coverage: bool | None,
        comparator: Comparator | None,
    ) -> Job:
        """Check one run's arguments and make what the server gets, its cache key and budget."""
        if not isinstance(program, str):
            raise ConfigError(f"program must be a str, got {type(program).__name__}")
        tests, own_comparator = _tests_of(tests_or_problem)
        comparator = comparator or own_comparator or default_comparator
        limits = limits or self.limits
        coverage = self.coverage if coverage is None else coverage
        tests_blob, digest = self._prepare(tests)
        limits_blob, settings = self._settings(limits, coverage)
        # Expected answers never leave this process: the comparison happens here.
        message = {
            "program": program,
            "tests_blob": tests_blob,
            "limits_blob": limits_blob,
            "coverage": coverage,
            "cpu": None,
        }
        return Job(
            program=program,
            tests=tests,
            comparator=comparator,
            key=_cache_key(program, digest, settings, comparator),
            message=message,
            budget=30.0 + len(tests) * (limits.hard_wall_time + 5.0),
        )

    def _cached(self, key: str) -> ExecutionResult | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            self._cache.move_to_end(key)
            self.stats["cache_hits"] += 1
        return replace(hit, cached=True)

    def _finish(self, job: Job, reply: dict[str, Any], wall: float) -> ExecutionResult:
        """The server's reply as a result (compared against the expected answers here), counted
        and cached."""
        wall = reply.get("wall", wall)  # the server's own figure, where it could give one
        result = build_result(job.program, job.tests, reply, job.comparator, wall)
        self.stats["runs"] += 1
        if result.outcome is Outcome.INFRA_ERROR:
            self.stats["infra_errors"] += 1
            logger.warning("sandbox infrastructure error: %s", result.infra_error)
        elif self.cache_size:
            with self._lock:
                self._cache[job.key] = result
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return result

    def _prepare(self, tests: tuple[TestCase, ...]) -> tuple[bytes, bytes]:
        """The tests as the server gets them (pickled, expected answers removed) and their
        digest for cache keys: made once per test tuple (a problem's), since RL batches run many
        programs against the same problems."""
        entry = self._prepared.get(id(tests))
        if entry is not None and entry[0] is tests:
            return entry[1], entry[2]
        blob = pickle.dumps(
            [_without_expectations(t) for t in tests], protocol=pickle.HIGHEST_PROTOCOL
        )
        digest = _tests_digest(tests)
        with self._lock:
            self._prepared[id(tests)] = (tests, blob, digest)  # holds tests: the id stays theirs
            if len(self._prepared) > PREPARED_SIZE:
                self._prepared.popitem(last=False)
        return blob, digest

    def _settings(self, limits: Limits, coverage: bool) -> tuple[bytes, bytes]:
        """The limits as the server gets them (pickled) and the settings' part of cache keys:
        made once per setting, since an env or a trainer passes the same ones every run."""
        entry = self._limits_wire.get((limits, coverage))
        if entry is None:
            entry = (
                pickle.dumps(limits, protocol=pickle.HIGHEST_PROTOCOL),
                _settings_key(limits, coverage),
            )
            with self._lock:
                if len(self._limits_wire) >= PREPARED_SIZE:
                    self._limits_wire.clear()
                self._limits_wire[(limits, coverage)] = entry
        return entry

    def run_many(
        self,
        jobs: Iterable[tuple[str, TestsLike]],
        *,
        limits: Limits | None = None,
        coverage: bool | None = None,
    ) -> list[ExecutionResult]:
        """Run many ``(program, tests_or_problem)`` pairs in parallel over all workers, in order.

        One thread drives every server of the batch (epoll over their sockets), so the
        caller's cost per program is the pickling of the job and the comparison of the outputs,
        not the hand-offs between threads; the next jobs wait in each server's socket, so even
        one worker never waits for the caller between two programs. Programs that repeat within
        the batch run once.
        """
        self._check_fork()
        prepared = [self._job(p, t, limits, coverage, None) for p, t in jobs]
        if len(prepared) <= 1:
            return [self._execute(job) for job in prepared]
        return run_batch(self, prepared)


def _without_expectations(test: TestCase) -> TestCase:
    if test.kind is TestKind.STDIO:
        return replace(test, expected_output="")
    if test.kind is TestKind.CALL:
        return replace(test, expected=None)
    return test  # check code is the test itself; it has to run next to the program


def _tests_digest(tests: tuple[TestCase, ...]) -> bytes:
    """What identifies a tuple of tests in cache keys (expected answers included)."""
    return hashlib.sha256(pickle.dumps(tests, protocol=4)).digest()


def _settings_key(limits: Limits, coverage: bool) -> bytes:
    """The run settings' part of a cache key."""
    return repr((limits, coverage)).encode()


def _cache_key(program: str, tests_digest: bytes, settings: bytes, comparator: Any) -> str:
    h = hashlib.sha256()
    h.update(program.encode("utf-8", "surrogatepass"))
    h.update(tests_digest)
    h.update(settings)
    name = getattr(comparator, "__qualname__", "<")
    # Module-level functions are keyed by name (stable across processes); lambdas, closures and
    # callable objects by identity, so two different ones never share cache entries.
    module = getattr(comparator, "__module__", None)
    ident = f"{module}.{name}" if module and "<" not in name else f"id:{id(comparator)}"
    h.update(ident.encode())
    return h.hexdigest()


_default: Executor | None = None
_default_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def default_executor() -> Executor:
    """The shared executor behind :func:`run` and :func:`run_many`."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = Executor()
        return _default


def run(
    program: str,
    tests_or_problem: TestsLike,
    *,
    limits: Limits | None = None,
    coverage: bool = True,
) -> ExecutionResult:
    """Run ``program`` against ``tests_or_problem`` (a list of TestCase, or a problem) in the sandbox.

    The tests run in an isolated process (one per program by default, each test from a fresh
    ``__main__``; see ``Limits.process_per_test``); see :class:`Executor` for the pool behind it and
    ``docs/sandbox.md`` for what the isolation covers. Never raises for anything the program does:
    its failures are outcomes, and failures of the sandbox itself are ``Outcome.INFRA_ERROR``.
    """
    return default_executor().run(program, tests_or_problem, limits=limits, coverage=coverage)


def run_many(
    jobs: Iterable[tuple[str, TestsLike]],
    *,
    limits: Limits | None = None,
    coverage: bool = True,
) -> list[ExecutionResult]:
    """Run ``(program, tests_or_problem)`` pairs in parallel over all cores; results in job order."""
    return default_executor().run_many(jobs, limits=limits, coverage=coverage)
