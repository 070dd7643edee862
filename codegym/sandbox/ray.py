"""The sandbox on a Ray cluster: one actor per node owns a local warm pool of sandbox servers.

:class:`RayExecutor` has the methods of :class:`codegym.sandbox.Executor` (``run``, ``run_many``,
``close``, the context manager) and returns the same results, so it goes wherever an executor
goes: the envs' ``executor=``, the trainer (``codegym train --ray-address``), evaluation and
problem validation. Ray does the transport and the scheduling; this module only decides which
node's actor gets each job. Ray is imported inside the functions that need it (``pip install
"codegym[ray]"``).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from codegym.errors import ConfigError, SandboxError
from codegym.sandbox._ray_node import (
    Node,
    Tests,
    connect,
    disconnect,
    import_ray,
    remote_worker,
)
from codegym.sandbox.compare import Comparator, default_comparator
from codegym.sandbox.executor import (
    Executor,
    TestsLike,
    _cache_key,
    _settings_key,
    _tests_digest,
    _tests_of,
)
from codegym.sandbox.types import ExecutionResult, Limits, Outcome

__all__ = ["RayExecutor", "executor_for"]

logger = logging.getLogger(__name__)

# ``run`` looks for nodes that joined at most this often; ``run_many`` looks at every batch.
_REFRESH_SECONDS = 5.0


class RayExecutor:
    """Runs untrusted programs against tests on every node of a Ray cluster.

    Connects to the cluster at ``address`` (``None``: the Ray instance this process is already
    connected to, else ``RAY_ADDRESS``, else a new local one; ``"auto"``: the cluster this machine
    belongs to), then, on first use, starts one actor per alive node that has CPUs. Each actor owns
    a warm :class:`Executor` of ``workers_per_node`` servers (default: the node's CPU count, as Ray
    reports it) and reserves ``actor_cpus`` CPUs in Ray's accounting. Jobs go to the least loaded
    actor, in chunks of up to half its pool per call (a call costs the caller more CPU than the
    work of choosing); a problem's tests go into Ray's object store once per :meth:`run_many`
    batch.
    Results come back in job order. The nodes are looked up again at every batch (and every few
    seconds of :meth:`run`), so nodes that join are used. If a node is lost, its unanswered jobs
    run again on the others (at most ``max_attempts`` times in all; then, or if no node is left to
    take them within ``start_timeout``, the job's result is ``Outcome.INFRA_ERROR``, never a score).

    Thread-safe. Pickles as its configuration (with the address of the cluster it reached), so an
    env holding one can go to a spawned subprocess, which connects on first use. Results are
    cached in the caller, keyed as :class:`Executor` keys them.

    Raises :class:`~codegym.errors.ConfigError` at once if nothing answers at ``address`` within
    ``connect_timeout`` seconds, and :class:`~codegym.errors.SandboxError` if no node can start an
    actor within ``start_timeout`` seconds (the cluster has no free CPU, say).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers_per_node: int | None = None,
        limits: Limits | None = None,
        coverage: bool = True,
        cache_size: int = 4096,
        actor_cpus: float = 1.0,
        connect_timeout: float = 10.0,
        start_timeout: float = 60.0,
        max_attempts: int = 3,
    ) -> None:
        if workers_per_node is not None and workers_per_node < 1:
            raise ConfigError(f"workers_per_node must be at least 1, got {workers_per_node}")
        if actor_cpus < 0:
            raise ConfigError(f"actor_cpus must be 0 or more, got {actor_cpus}")
        for name, value in (("connect_timeout", connect_timeout), ("start_timeout", start_timeout)):
            if not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        self.address = address
        self.workers_per_node = workers_per_node
        self.limits = limits or Limits()
        self.coverage = coverage
        self.cache_size = cache_size
        self.actor_cpus = actor_cpus
        self.connect_timeout = connect_timeout
        self.start_timeout = start_timeout
        self.max_attempts = max_attempts
        self._init_runtime()
        self._connect()

    _CONFIG = (
        "address",
        "workers_per_node",
        "limits",
        "coverage",
        "cache_size",
        "actor_cpus",
        "connect_timeout",
        "start_timeout",
        "max_attempts",
    )

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # a job slot came free
        self._nodes: dict[str, Node] = {}
        self._lost: set[str] = set()  # nodes whose actor died: never used again
        self._failed: dict[str, str] = {}  # nodes whose actor could not start, and why
        self._refreshed = 0.0
        self._cache: OrderedDict[str, ExecutionResult] = OrderedDict()
        self._connected = False
        self._owns_connection = False
        self._closed = False
        self._pid = os.getpid()
        self.features: list[str] = []
        self.stats = {"runs": 0, "cache_hits": 0, "infra_errors": 0, "reruns": 0}
        atexit.register(self.close)

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._CONFIG}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()  # connects on first use

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers_per_node={self.workers_per_node!r})"

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the cluster ----------------------------------------------------------------------------

    def _connect(self) -> None:
        self.address, self._owns_connection = connect(self.address, self.connect_timeout)
        self._connected = True

    def _check(self) -> None:
        if self._closed:
            raise SandboxError("this RayExecutor is closed")
        if self._pid != os.getpid():
            raise SandboxError(
                "a RayExecutor cannot be used in a forked child process (Ray's connection does "
                "not survive a fork): pass it to subprocesses started with 'spawn' or "
                "'forkserver', where it reconnects"
            )
        if not self._connected:
            self._connect()

    def _refresh(self) -> None:
        """Start actors on nodes that have none, drop those of dead nodes, note which are ready."""
        ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = {
            n["NodeID"]: n["Resources"].get("CPU", 0.0)
            for n in ray.nodes()
            if n.get("Alive") and n["Resources"].get("CPU", 0.0) > 0
        }
        remote = remote_worker()
        with self._lock:
            self._refreshed = time.monotonic()
            for node_id in [n for n in self._nodes if n not in alive]:
                self._drop(self._nodes[node_id], "its node left the cluster")
            for node_id, cpus in alive.items():
                if node_id in self._nodes or node_id in self._lost or node_id in self._failed:
                    continue
                if cpus < self.actor_cpus:
                    continue
                workers = self.workers_per_node or max(1, int(cpus))
                actor = remote.options(
                    num_cpus=self.actor_cpus,
                    max_concurrency=2 * workers,
                    max_restarts=0,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
                ).remote(workers, self.limits, self.coverage)
                self._nodes[node_id] = Node(node_id, actor, workers, actor.ready.remote())
            starting = {n.ready_ref: n for n in self._nodes.values() if not n.ready}
        if starting:
            done, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
            for ref in done:
                self._started(starting[ref], ref)

    def _started(self, node: Node, ref: Any) -> None:
        """Take the answer of an actor's ``ready``: the actor can serve, or its node is skipped."""
        ray = import_ray()
        try:
            _, features, messages = ray.get(ref)
        except ray.exceptions.RayError as exc:
            with self._lock:
                if self._nodes.get(node.node_id) is node:
                    del self._nodes[node.node_id]
                    # The last line of Ray's report is the actor's own exception.
                    self._failed[node.node_id] = str(exc).strip().splitlines()[-1]
            logger.warning("no sandbox actor on Ray node %s: %s", node.node_id, exc)
            return
        with self._lock:
            node.ready = True
            first = not self.features
            self.features = features
            self._freed.notify_all()
        if first:
            for message in messages:
                warnings.warn(f"codegym sandbox (Ray): {message}", RuntimeWarning, stacklevel=5)

    def _drop(self, node: Node, why: str) -> None:
        """Forget a node's actor (the caller holds ``_lock``)."""
        if self._nodes.get(node.node_id) is node:
            del self._nodes[node.node_id]
            self._lost.add(node.node_id)
            logger.warning("lost the sandbox actor on Ray node %s: %s", node.node_id, why)
            try:
                import_ray().kill(node.actor, no_restart=True)
            except Exception:  # it is gone already
                pass

    def _await_actors(self, every: bool = False) -> None:
        """Block until some actor is ready (``every``: until none is starting, or the time is up);
        SandboxError if none is ready within ``start_timeout``."""
        ray = import_ray()
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._refresh()
            with self._lock:
                serving = any(n.ready for n in self._nodes.values())
                starting = {n.ready_ref: n for n in self._nodes.values() if not n.ready}
                if serving and not (every and starting):
                    return
                failed = dict(self._failed)
            if failed and not serving and not starting:
                raise SandboxError(
                    "the sandbox actor failed to start on every Ray node: "
                    + "; ".join(f"node {k}: {v}" for k, v in failed.items())
                    + '. Install the same codegym (pip install "codegym[ray]") in the same '
                    "Python environment on every node"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                if serving:
                    return
                break
            if starting:
                done, _ = ray.wait(list(starting), num_returns=1, timeout=min(left, 1.0))
                for ref in done:
                    self._started(starting[ref], ref)
            else:
                time.sleep(min(left, 0.5))
        raise SandboxError(
            f"no Ray node started a sandbox actor within {self.start_timeout:g} s: each needs "
            f"{self.actor_cpus:g} free CPU on a node (cluster total {ray.cluster_resources()}, "
            f"available {ray.available_resources()}). Free CPUs, add a node, or lower actor_cpus"
        )

    @property
    def nodes(self) -> list[str]:
        """Ids of the Ray nodes whose actors are serving (after starting them on every node)."""
        self._check()
        self._await_actors(every=True)
        with self._lock:
            return [n.node_id for n in self._nodes.values() if n.ready]

    @property
    def workers(self) -> int:
        """Sandbox servers over all serving nodes (after starting the actors on every node)."""
        self._check()
        self._await_actors(every=True)
        with self._lock:
            return sum(n.workers for n in self._nodes.values() if n.ready)

    def close(self) -> None:
        """Stop the actors (and Ray's connection, if this module opened it and nothing else uses
        it). The executor can not be used afterwards."""
        if self._closed:
            return
        self._closed = True
        if self._pid != os.getpid() or not self._connected:
            return  # a forked copy, or one that never reached Ray, owns nothing
        ray = import_ray()
        with self._lock:
            nodes, self._nodes = list(self._nodes.values()), {}
        if ray.is_initialized():
            for node in nodes:
                try:
                    ray.kill(node.actor, no_restart=True)
                except Exception:
                    pass
        disconnect(self._owns_connection)

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
        """Run ``program`` against every test on some node; see :func:`codegym.sandbox.run`.

        The comparison runs on the node, so a ``comparator`` that records what it saw records it
        there, not in this process."""
        self._check()
        if time.monotonic() - self._refreshed > _REFRESH_SECONDS:
            self._refresh()
        return self._execute([(program, tests_or_problem)], limits, coverage, comparator, False)[0]

    def run_many(
        self,
        jobs: Iterable[tuple[str, TestsLike]],
        *,
        limits: Limits | None = None,
        coverage: bool | None = None,
    ) -> list[ExecutionResult]:
        """Run many ``(program, tests_or_problem)`` pairs over all nodes; results in job order."""
        self._check()
        jobs = list(jobs)
        if jobs:
            self._refresh()
        return self._execute(jobs, limits, coverage, None, True)

    def _execute(
        self,
        jobs: list[tuple[str, TestsLike]],
        limits: Limits | None,
        coverage: bool | None,
        comparator: Comparator | None,
        share_tests: bool,
    ) -> list[ExecutionResult]:
        ray = import_ray()
        limits = limits or self.limits
        coverage = self.coverage if coverage is None else coverage
        settings = _settings_key(limits, coverage)
        results: list[ExecutionResult | None] = [None] * len(jobs)
        keys: dict[int, str] = {}
        payloads: dict[int, Any] = {}  # id of a job's tests object -> what the actor receives
        args: list[tuple[str, Any]] = []
        for i, (program, source) in enumerate(jobs):
            if not isinstance(program, str):
                raise ConfigError(f"program must be a str, got {type(program).__name__}")
            tests, own = _tests_of(source)
            chosen = comparator or own
            key = _cache_key(program, _tests_digest(tests), settings, chosen or default_comparator)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    self.stats["cache_hits"] += 1
                    results[i] = replace(hit, cached=True)
                    args.append((program, None))
                    continue
            keys[i] = key
            if id(source) not in payloads:
                payload = Tests(tests, chosen)
                payloads[id(source)] = ray.put(payload) if share_tests else payload
            args.append((program, payloads[id(source)]))

        queue = deque(keys)
        attempts = dict.fromkeys(keys, 0)
        inflight: dict[Any, tuple[list[int], Node]] = {}
        dispatched = False
        try:
            while queue or inflight:
                while queue:
                    node, n = self._take_slots(len(queue))
                    if node is None:
                        break
                    chunk = [queue.popleft() for _ in range(n)]
                    programs, payloads = zip(*(args[i] for i in chunk))
                    ref = node.actor.run.remote(list(programs), list(payloads), limits, coverage)
                    inflight[ref] = (chunk, node)
                    dispatched = True
                if not inflight:
                    try:
                        self._wait_for_slot()
                    except SandboxError:
                        if not dispatched:
                            raise  # the cluster cannot take work at all: an error, not a result
                        # Every node was lost mid-batch and none came back: what did not run
                        # is not scored.
                        for i in queue:
                            results[i] = ExecutionResult(
                                Outcome.INFRA_ERROR, infra_error="no Ray node is left to run it"
                            )
                        queue.clear()
                    continue
                # Actors still starting are waited on too, so that they take work once ready.
                with self._lock:
                    starting = {n.ready_ref: n for n in self._nodes.values() if not n.ready}
                done, rest = ray.wait([*inflight, *starting], num_returns=1, timeout=1.0)
                if done and rest:
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    done += more
                for ref in done:
                    if ref in starting:
                        self._started(starting[ref], ref)
                        continue
                    chunk, node = inflight.pop(ref)
                    self._give_slots(node, len(chunk))
                    try:
                        answers = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        raise exc.as_instanceof_cause() from None  # raised by the sandbox itself
                    except ray.exceptions.RayError as exc:
                        with self._lock:
                            self._drop(node, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                        for i in chunk:
                            attempts[i] += 1
                            if attempts[i] < self.max_attempts:
                                self.stats["reruns"] += 1
                                queue.append(i)
                            else:
                                results[i] = ExecutionResult(
                                    Outcome.INFRA_ERROR,
                                    infra_error=f"lost {attempts[i]} Ray nodes running it: {exc}",
                                )
                        continue
                    for i, result in zip(chunk, answers):
                        extra = {**result.extra, "ray_node": node.node_id}
                        results[i] = replace(result, extra=extra)
        finally:
            for chunk, node in inflight.values():
                self._give_slots(node, len(chunk))
        out: list[ExecutionResult] = []
        for i, result in enumerate(results):
            assert result is not None
            if i in keys:
                self._record(keys[i], result)
            out.append(result)
        return out

    def _record(self, key: str, result: ExecutionResult) -> None:
        with self._lock:
            self.stats["runs"] += 1
            if result.outcome is Outcome.INFRA_ERROR:
                self.stats["infra_errors"] += 1
                logger.warning("sandbox infrastructure error (Ray): %s", result.infra_error)
            elif self.cache_size:
                self._cache[key] = result
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)

    def _take_slots(self, queued: int) -> tuple[Node | None, int]:
        """The ready actor with the most room per server, and how many of the ``queued`` jobs
        to send it in one call (their load counted); (None, 0) when every actor is full."""
        with self._lock:
            ready = [n for n in self._nodes.values() if n.ready]
            free = [n for n in ready if n.load < n.capacity]
            if not free:
                return None, 0
            node = min(free, key=lambda n: n.load / n.workers)
            # A short queue is spread over all the actors rather than sent to one.
            n = min(node.capacity - node.load, node.chunk, -(-queued // len(ready)))
            node.load += n
            return node, n

    def _give_slots(self, node: Node, n: int) -> None:
        with self._lock:
            node.load -= n
            self._freed.notify_all()

    def _wait_for_slot(self) -> None:
        """Wait while other threads fill every actor; start actors if there are none."""
        with self._lock:
            serving = any(n.ready for n in self._nodes.values())
            if serving:
                self._freed.wait(timeout=0.5)
                return
        self._await_actors()


def executor_for(
    ray_address: str | None, *, workers: int | None = None, limits: Limits | None = None
) -> Executor | RayExecutor:
    """The sandbox a command or trainer runs on: a local :class:`Executor` of ``workers`` servers
    when ``ray_address`` is None, else a :class:`RayExecutor` on that cluster with ``workers``
    servers per node."""
    if ray_address is None:
        return Executor(workers, limits=limits)
    return RayExecutor(ray_address, workers_per_node=workers, limits=limits)
