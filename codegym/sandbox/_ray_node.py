"""The pieces of :class:`codegym.sandbox.RayExecutor` that stand on their own: the actor each
node runs (a warm local :class:`Executor`), the caller's view of one node, the checks of a
cluster address, and this process's connection to the cluster. Ray is imported only inside
functions."""

from __future__ import annotations

import logging
import socket
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from codegym.errors import ConfigError, MissingDependencyError
from codegym.sandbox.compare import Comparator
from codegym.sandbox.executor import Executor
from codegym.sandbox.types import ExecutionResult, Limits, TestCase

# The warm-up program each actor runs once: it starts one server and surfaces its warnings.
WARM_PROGRAM = "pass\n"
WARM_TESTS = (TestCase.stdio("", ""),)
_remote_class: Any = None


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray (for RayExecutor)", "ray") from exc
    return ray


def remote_worker() -> Any:
    """The actor class of :class:`NodeWorker`, made once."""
    global _remote_class
    if _remote_class is None:
        _remote_class = import_ray().remote(NodeWorker)
    return _remote_class


class NodeWorker:
    """The Ray actor on one node: a local :class:`Executor` that runs the jobs sent to it.

    Its own cache is off: the caller's :class:`RayExecutor` keeps the cache, and a comparator
    that arrives by pickle is a new object each time, which an identity-keyed cache must not see.
    """

    def __init__(self, workers: int, limits: Limits, coverage: bool) -> None:
        self.executor = Executor(
            workers, limits=limits, coverage=coverage, cache_size=0, pin_workers=False
        )

    def ready(self) -> tuple[str, list[str], list[str]]:
        """Start one server; return this node's id, the sandbox's features and its warnings."""
        import ray

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.executor.run(WARM_PROGRAM, WARM_TESTS, coverage=False)
        node = ray.get_runtime_context().get_node_id()
        return node, list(self.executor.features), [str(w.message) for w in caught]

    def run(
        self, programs: list[str], payloads: list[Any], limits: Limits, coverage: bool
    ) -> list[ExecutionResult]:
        """Run a chunk of jobs on this node's pool. A payload is a :class:`Tests`, or a reference
        to one in the object store, fetched once per chunk."""
        import ray

        refs = list(dict.fromkeys(p for p in payloads if isinstance(p, ray.ObjectRef)))
        fetched = dict(zip(refs, ray.get(refs))) if refs else {}
        jobs = [(program, fetched.get(p, p)) for program, p in zip(programs, payloads)]
        if len(jobs) == 1:
            return [self.executor.run(*jobs[0], limits=limits, coverage=coverage)]
        return self.executor.run_many(jobs, limits=limits, coverage=coverage)


@dataclass(frozen=True)
class Tests:
    """A job's tests and comparator as an actor receives them (an :class:`Executor` reads
    ``tests`` and ``comparator`` from any object, as from a problem)."""

    tests: tuple[TestCase, ...]
    comparator: Comparator | None


@dataclass
class Node:
    """One node's actor as the caller sees it. ``load``: jobs sent and not yet answered."""

    node_id: str
    actor: Any
    workers: int
    ready_ref: Any
    ready: bool = False
    load: int = 0

    @property
    def capacity(self) -> int:
        # Two jobs per server keep a pool busy while results travel back.
        return 2 * self.workers

    @property
    def chunk(self) -> int:
        # Jobs per call: a Ray call costs the caller about 1.5 ms of CPU, so large pools get
        # their jobs in chunks of up to half the pool.
        return max(1, self.workers // 2)


def host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(
            f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT, or 'auto'); "
            "`ray start --head` prints the address to use"
        )
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at ``address``: ``ray.init`` would retry for minutes."""
    try:
        socket.create_connection(host_port(address), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach a Ray cluster at {address!r} within {timeout:g} s ({exc}); start one "
            "with `ray start --head` on the head node, or pass the address it prints"
        ) from exc


# A connection to Ray that this module opened is closed when the last executor using it closes.
_connection_lock = threading.Lock()
_owned_users = 0


def connect(address: str | None, connect_timeout: float) -> tuple[str | None, bool]:
    """Connect this process to the Ray cluster at ``address`` (None: the connected one, or a new
    local one), or join the connection it has. Returns the address to reconnect to (what a
    pickled executor carries) and whether the caller holds a share of a connection this module
    opened, which :func:`disconnect` gives back."""
    global _owned_users
    owns = False
    ray = import_ray()
    given = address not in (None, "auto", "local")
    if given:
        host_port(address)
    with _connection_lock:
        if ray.is_initialized():
            current = ray.get_runtime_context().gcs_address
            if given and not address.startswith("ray://") and address != current:
                raise ConfigError(
                    f"this process is already connected to the Ray cluster at {current!r}, "
                    f"not {address!r}: a process talks to one cluster (pass "
                    "address=None to use the connected one)"
                )
            if _owned_users:  # opened by another RayExecutor: shared, closed by the last
                _owned_users += 1
                owns = True
        else:
            if given:
                probe(address, connect_timeout)
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,  # the library never prints; actors' warnings come back
                logging_level=logging.WARNING,
            )
            _owned_users += 1
            owns = True
    if address is None or not address.startswith("ray://"):
        # A subprocess that unpickles this executor joins the same cluster, not a new one.
        address = ray.get_runtime_context().gcs_address
    return address, owns


def disconnect(owns: bool) -> None:
    """Give back a share of the connection :func:`connect` opened; the last one closes it."""
    global _owned_users
    if not owns:
        return
    ray = import_ray()
    with _connection_lock:
        _owned_users -= 1
        if _owned_users == 0 and ray.is_initialized():
            ray.shutdown()
