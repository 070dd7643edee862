"""The sandbox server: a warm process that starts an isolated child per program (or per test).

Started by :class:`codegym.sandbox.Executor` (``python -c BOOT FD``, with stand-ins for the
``codegym`` packages so that their heavy ``__init__`` imports stay out of every fork) with a
minimal environment. At start it reserves a private uid where it is root, enters the strongest
namespaces the host allows (through a user namespace without ``CAP_SYS_ADMIN``), hides private
directories and temp dirs, joins cgroups for its tests, imports what programs commonly need, and
forks its zygote: a copy of itself that from then on only clones test processes, so that the
server's own work never copies pages it shares with a child. For each job it receives on the socket
``FD``, it compiles the program once and runs its tests in a child (cloned by the zygote, yet this
server's child) that drops to the reserved uid, sets resource limits, and runs the program once per
test, from a fresh ``__main__``, with coverage marks or a line monitor; a test that ends the child
hands the rest to a new one. Results travel back to the child's parent (this server) through a
shared memory page and files in the child's private working directory, never through anything the
program could use to reach the caller. This server, not the program's process, decides timeouts and
limit failures.

Its parts, one module each: the wire to the executor (``_wire``), the start-up isolation and
self-check (``_setup``, ``_isolation``, ``_cgroups``, ``_seccomp``), the compile step
(``_compile``), the zygote (``_zygote``), the test's process and its spec (``_child``), watching
it (``_watch``), its working directory (``_workdir``) and the verdict (``_verdict``). This module
holds the server's loop: jobs in, tests run, waited for, killed and reaped, results out.
"""

from __future__ import annotations

import dataclasses
import gc
import marshal
import mmap
import os
import pickle
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

from codegym.sandbox import _cgroups, _isolation, _seccomp, _setup
from codegym.sandbox._child import (
    COV_LINES,
    COV_OFFSET,
    PROGRESS_OFFSET,
    SHM_SIZE,
    TESTS_PER_PROCESS,
    enter_workdir,
    interpreter_state,
    process_spec,
    read_records,
    run_child,
    setup_failed,
    stdio_names,
    unused_stdio,
)
from codegym.sandbox._compile import COMPILE_ERRORS, CheckCodes, compile_program, map_to_statements
from codegym.sandbox._verdict import classify
from codegym.sandbox._watch import TestClock, watch
from codegym.sandbox._wire import CHILD_ENV, HEADER, REPLIES_HELD, recv, send
from codegym.sandbox._workdir import (
    clear_dir,
    remove_tree,
    write_new_file,
)
from codegym.sandbox._zygote import Zygote, ZygoteGone
from codegym.sandbox.types import TestKind

# Modules programs commonly import, loaded once here so a forked child finds them in memory.
# Not ``threading`` (nor ``queue``, which imports it): its at-fork handler runs in every child and
# costs about 0.7 ms of CPU per test, while the few programs that use threads pay about 3 ms once.
PRELOAD = (  # noqa: SIM905
    "abc array bisect calendar cmath collections collections.abc contextlib copy dataclasses "
    "datetime decimal enum fractions functools hashlib heapq io itertools json math numbers "
    "operator pprint random re statistics string struct textwrap time types typing unicodedata"
).split()


CHILD_DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGXFSZ)
"""Signals at their default action in every test, set once in the server and inherited. Python
ignores SIGXFSZ, which turns hitting the output limit into an OSError the program may swallow; the
default action ends it with a signal we classify."""


JOB_MAX = 16 << 20
"""Size of the page that carries a test's job from the server to a child of the zygote; a larger
job (huge call arguments) is forked from the server itself instead."""


RUN_ROOT = "/tmp/codegym-run"


STDERR_KEEP = 4096


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _number(value: Any) -> float:
    """A time from a test's record (the program's process wrote it: anything but a plain
    non-negative number reads as 0)."""
    return float(value) if type(value) in (int, float) and value >= 0 else 0.0


def _lines(value: Any) -> list[int] | None:
    """Executed lines from a test's record, the same caution applied."""
    if type(value) is not list:
        return None
    return [v for v in value if type(v) is int and 0 <= v < COV_LINES]


class Server:
    def __init__(self, sock_fd: int) -> None:
        self.iso = _isolation
        self.sock_fd = sock_fd
        self.features: list[str] = []
        self.warnings: list[str] = []
        self.uid: int | None = None
        if os.geteuid() == 0:
            self.uid, self.lock_fd = _isolation.acquire_uid_slot()
            self.features.append("uid")
        features, warnings = _setup.enter_namespaces(self.uid, RUN_ROOT)
        self.features += features
        self.warnings += warnings
        self.drop_caps = self.uid is None and "userns" in self.features
        # RLIMIT_NPROC counts the processes of a uid: the slot's are the tests' alone. An ordinary
        # user's are all of that user's, except inside a user namespace of its own on Linux 5.14
        # and later (counted per namespace), where this server and its zygote share them.
        self.nproc_extra: int | None = None
        if self.uid is not None:
            self.nproc_extra = 0
        elif self.drop_caps and _setup.kernel_at_least(5, 14):
            self.nproc_extra = 2
        if "private-tmp" in self.features:
            self.run_root = RUN_ROOT
            os.makedirs(RUN_ROOT, mode=0o755, exist_ok=True)
        else:  # a shared /tmp: every server needs its own folder, removed when it exits
            self.run_root = tempfile.mkdtemp(prefix="codegym-run-")
        _isolation.prctl(_isolation.PR_SET_CHILD_SUBREAPER, 1)
        # Threads of a program share one malloc arena: a 64 MiB arena per thread would count
        # against the address-space limit as if the program had allocated it.
        _isolation.limit_malloc_arenas(1)
        for name in PRELOAD:
            __import__(name)

        self.shm = mmap.mmap(-1, SHM_SIZE)
        self.jobmem = mmap.mmap(-1, JOB_MAX)
        # A child writes one byte here once set up, then closes its end before the program runs.
        self.ready_r, self.ready_w = os.pipe()
        os.set_blocking(self.ready_r, False)
        # Set once, inherited by every child (and never needed here: this server does not exec,
        # dump core, or use groups of its own).
        _isolation.prctl(_isolation.PR_SET_NO_NEW_PRIVS, 1)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.uid is not None:
            os.setgroups([])
        # PYTHONPATH and the other start-up variables have done their work.
        self.workdir = os.path.join(self.run_root, "work")
        os.environ.clear()
        os.environ.update(CHILD_ENV, HOME=self.workdir)
        self.stdio = unused_stdio()
        for sig in CHILD_DEFAULT_SIGNALS:  # this server has no use for them either
            signal.signal(sig, signal.SIG_DFL)
        self.check_codes = CheckCodes()
        self.baseline_vm = _vm_size_bytes()
        self.counter = 0
        self.retire = False
        # Objects alive now are shared with every child; keep the collector off them so children
        # do not copy-on-write pages just by scanning.
        gc.collect()
        gc.freeze()
        # The zygote joins these once: every test it clones starts inside.
        self.memcg = self._cgroup(_cgroups.MemoryCgroup, "memcg")
        self.cpucg = self._cgroup(_cgroups.CpuCgroup, "cpucg")
        self.pidscg = self._cgroup(_cgroups.PidsCgroup, "pidscg")
        self.cgroups = [c for c in (self.memcg, self.cpucg, self.pidscg) if c is not None]
        self.oom_kills = self.memcg.oom_kills() if self.memcg is not None else 0
        if _setup.self_check(self.uid, self.become_test_identity):
            self.features.append("seccomp")
        self.all_cpus = os.sched_getaffinity(0)
        self.cpu: int | None = None  # the CPU this server is pinned to (see pin)
        self.zygote = Zygote(self) if _isolation.can_clone_sibling() else None
        if self.zygote is not None:
            self.features.append("zygote")

    def _cgroup(self, kind: type[_cgroups.Cgroup], feature: str) -> Any:
        """A cgroup of the kind for this server's tests, or None where the host refuses one."""
        try:
            cgroup = kind.create(f"codegym-{self.uid if self.uid is not None else os.getpid()}")
        except OSError:
            return None  # the per-process limits stand alone (see the threat model in the docs)
        self.features.append(feature)
        return cgroup

    def remove_run_root(self) -> None:
        """Delete this server's folder in a shared /tmp (a private /tmp goes with its namespace)."""
        if self.run_root != RUN_ROOT:
            remove_tree(self.run_root)

    def become_test_identity(self) -> None:
        """In a test's process (or the self-check's): take the uid, or drop the capabilities, that
        programs run with."""
        if self.uid is not None:
            os.setgid(self.uid)
            os.setuid(self.uid)
        elif self.drop_caps:
            _seccomp.drop_capabilities()

    def serve(self) -> None:
        send(
            self.sock_fd,
            {"ready": True, "features": self.features, "warnings": self.warnings, "uid": self.uid},
        )
        waiting = select.poll()
        waiting.register(self.sock_fd, select.POLLIN)
        held: list[dict[str, Any]] = []
        while True:
            job = recv(self.sock_fd)
            if job is None:
                return
            start = time.monotonic()
            try:
                self.pin(job["cpu"])
                reply = self.run_job(job)
            except Exception as exc:
                reply = {
                    "infra_error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
                }
            reply["wall"] = time.monotonic() - start
            if self.retire:
                reply["retired"] = True  # the executor starts another server
            held.append(reply)
            # The next job is already here: this reply can wait for the next one's.
            if not self.retire and len(held) < REPLIES_HELD and waiting.poll(0):
                continue
            send(self.sock_fd, *held)
            held.clear()
            if self.retire:
                return

    def pin(self, cpu: int | None) -> None:
        """Run on ``cpu`` only (None: on every CPU this server started with), and so do the zygote
        and the tests it clones (a replacement zygote, forked from here, inherits it too)."""
        if cpu == self.cpu:
            return
        mask = self.all_cpus if cpu is None else {cpu}
        os.sched_setaffinity(0, mask)
        if self.zygote is not None:
            try:
                os.sched_setaffinity(self.zygote.pid, mask)
            except ProcessLookupError:
                pass  # gone: replaced, with this mask, when the next test needs it
        self.cpu = cpu

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        program: str = job["program"]
        limits = job["limits"] = pickle.loads(job.pop("limits_blob"))
        # Children never need the expected answers (the caller judges); a program could find them
        # in its own memory (gc, frames) and print them.
        job["tests"] = [_without_expectations(t) for t in pickle.loads(job.pop("tests_blob"))]
        # Every line number the program can have is below max_line ("\r" ends a line too).
        job["max_line"] = min(program.count("\n") + program.count("\r") + 2, COV_LINES - 1)
        try:
            code = compile_program(program, job)
        except COMPILE_ERRORS as exc:
            line = getattr(exc, "lineno", None)
            return {
                "compile_error": f"{type(exc).__name__}: {exc}",
                "compile_line": line,
                "tests": [],
            }
        job["as_limit"] = self.baseline_vm + limits.memory_mb * (1 << 20)
        job["nproc"] = None if self.nproc_extra is None else limits.processes + self.nproc_extra
        if self.memcg is not None:
            self.memcg.set_limit((limits.memory_mb + _cgroups.MEMCG_HEADROOM_MB) << 20)
        if self.pidscg is not None:  # the zygote is in it too
            self.pidscg.set_limit(limits.processes + 1)
        job["check_codes"] = [self.check_codes.get(t) for t in job["tests"]]
        tests = job["tests"]
        batch = 1 if limits.process_per_test else TESTS_PER_PROCESS
        results: list[dict[str, Any]] = []
        while len(results) < len(tests):
            first = len(results)
            raws = self.run_process(job, code, first, min(first + batch, len(tests)))
            for raw in raws:
                results.append(raw)
                if raw["status"] == "infra":
                    return {"infra_error": raw["detail"], "tests": results}
                if limits.stop_after_timeout and raw["status"] in ("timeout", "memory", "output"):
                    # The tests the process ran after this one (a limit it survived) are dropped.
                    results += [{"status": "skipped"}] * (len(tests) - len(results))
                    break
        # Coverage marks sit on statement lines already; line events are mapped to their
        # statements here, in parallel over the workers, not in the caller, which one process
        # serves for every worker.
        mapped = bool(job.get("instrumented")) or not job["coverage"]
        mapped = mapped or map_to_statements(program, results)
        return {"tests": results, "statement_lines": mapped}

    def run_process(
        self, job: dict[str, Any], code: Any, first: int, end: int
    ) -> list[dict[str, Any]]:
        """Run tests ``first`` to ``end - 1`` in one process, in a new working directory; the raw
        results of the tests it finished and of the one that ended it (crashed, killed or hit
        a limit), in order: the caller starts a new process for the rest."""
        tests = job["tests"]
        workdir = self.workdir  # the previous process's was deleted: this one is new all the same
        try:
            os.mkdir(workdir, 0o700)
        except FileExistsError:  # a tree this server could not delete: a fresh name, then
            self.counter += 1
            workdir = os.path.join(self.run_root, f"work-{self.counter}")
            os.mkdir(workdir, 0o700)
        names = [name for i in range(first, end) for name in stdio_names(i)]
        try:
            for i in range(first, end):
                stdin_path = os.path.join(workdir, stdio_names(i)[0])
                write_new_file(stdin_path, tests[i].stdin.encode("utf-8"))
            if self.uid is not None:
                os.chown(workdir, self.uid, self.uid)
            return self._run_in(job, code, first, end, workdir)
        finally:
            remove_tree(workdir, names)
            if "private-tmp" in self.features:
                clear_dir("/dev/shm")  # the one temp directory programs may write to

    def _run_in(
        self, job: dict[str, Any], code: Any, first: int, end: int, workdir: str
    ) -> list[dict[str, Any]]:
        limits = job["limits"]
        tests = job["tests"]
        shm = self.shm
        shm[0:4] = shm[PROGRESS_OFFSET : PROGRESS_OFFSET + 4] = bytes(4)
        if job["coverage"]:
            shm[COV_OFFSET : COV_OFFSET + job["max_line"] + 1] = bytes(job["max_line"] + 1)
        _drain(self.ready_r)
        start = time.monotonic()
        try:
            pid = self._spawn(job, code, first, end, workdir)
        except OSError as exc:  # out of processes, or the zygote is gone: this server is done
            self.retire = True
            return [{"status": "infra", "detail": f"could not start the test's process: {exc}"}]
        children = self.zygote.children if self.zygote is not None else None
        cpu_start = self.cpucg.usage() if self.cpucg is not None else 0.0
        clock = TestClock(first, start, 0.0)
        killed, polled = watch(
            pid, limits, end - first, clock,
            read_cpu=lambda: self._test_cpu(cpu_start), running_test=self._running_test,
        )  # fmt: skip
        if killed:
            self._kill(pid)
        _, status, usage = os.wait4(pid, 0)
        now = time.monotonic()
        total = self.cpucg.usage() - cpu_start if self.cpucg is not None else polled
        if end - first == 1:
            test_cpu = max(total, usage.ru_utime + usage.ru_stime)
        if not self.iso.reap_all(self.uid, time.monotonic() + 5.0, children):
            # Something of the test outlived SIGKILL (a process stuck in the kernel): no later
            # test may share a uid with it. Report it, and let the executor start a new server.
            self.retire = True
            return [
                {
                    "status": "infra",
                    "detail": "processes of the test survived SIGKILL for 5 s; server retired",
                }
            ]
        set_up = _drain(self.ready_r) == b"1"
        oom = False
        if self.memcg is not None:
            kills = self.memcg.oom_kills()
            oom, self.oom_kills = kills > self.oom_kills, kills
        records = read_records(shm)[: end - first]
        if end - first == 1:
            wall = now - start
        else:  # the test that ended it began when the server saw it begin, or after the records
            seen = records[clock.index - first :]
            test_cpu = max(
                total - clock.cpu - sum(_number(r.get("cpu")) for r in seen),
                usage.ru_utime + usage.ru_stime - sum(_number(r.get("cpu")) for r in records),
                0.0,
            )
            wall = max(now - clock.wall_start - sum(_number(r.get("wall")) for r in seen), 0.0)
        if set_up and oom and end - first > 1:
            # Which test's process the kernel killed is not known here: run each on its own.
            return [raw for i in range(first, end) for raw in self.run_process(job, code, i, i + 1)]
        if not set_up or end - first == 1:  # the process's one test: judged by what the server saw
            ending, raws = first, []
            record = records[0] if records else None
        else:  # the tests it finished, by their records; then the one that ended it, if any
            raws = [
                classify(
                    job, tests[i], 0, _number(record.get("cpu")), _number(record.get("wall")),
                    None, workdir, i, record, _lines(record.get("lines")), True, False,
                )
                for i, record in enumerate(records, first)
            ]  # fmt: skip
            ending, record = first + len(records), None
            if records and ending > self._running_test():
                return raws  # the next test never began (the process ended between two tests)
        if ending < end:
            lines = None
            if job["coverage"]:
                n = job["max_line"] + 1
                page = shm[COV_OFFSET : COV_OFFSET + n]
                lines = [i for i in range(n) if page[i]]
            raws.append(
                classify(
                    job, tests[ending], status, test_cpu, wall, killed, workdir, ending, record,
                    lines, set_up, oom,
                )
            )  # fmt: skip
        return raws

    def _spawn(self, job: dict[str, Any], code: Any, first: int, end: int, workdir: str) -> int:
        """Start the test process; its pid. A child of this server either way: cloned by the
        zygote (the spec travels through ``jobmem``), or forked from here where there is no
        zygote, or the spec is too large for that page or holds values ``marshal`` cannot carry
        (call arguments of other types)."""
        spec = process_spec(job, code, first, end, workdir)
        if self.zygote is not None:
            try:
                blob = marshal.dumps(spec)
            except ValueError:
                blob = None
            if blob is not None and len(blob) <= JOB_MAX - HEADER.size:
                self.jobmem[HEADER.size : HEADER.size + len(blob)] = blob
                self.jobmem[0 : HEADER.size] = HEADER.pack(len(blob))
                try:
                    return self.zygote.spawn()
                except ZygoteGone:  # killed from outside: make another, from this server as is
                    self.zygote.close()
                    self.zygote = Zygote(self)
                    return self.zygote.spawn()
        pid = os.fork()
        if pid == 0:
            try:
                try:
                    interpreter_state(self.stdio)
                    enter_workdir(spec["workdir"], spec["first"])
                except BaseException as exc:
                    setup_failed(self.shm, exc)
                run_child(spec, self, forked=True)
            finally:
                os._exit(4)
        return pid

    def _test_cpu(self, cpu_start: float) -> float:
        """CPU seconds all processes of the running test have used: its cgroup's count, or the
        sum over the server's descendants where there is no cgroup."""
        if self.cpucg is not None:
            return self.cpucg.usage() - cpu_start
        spare = self.zygote.pid if self.zygote is not None else None
        return _isolation.descendants_cpu(exclude=spare)

    def _running_test(self) -> int:
        """The index of the test the process is running, as it wrote it (-1: none yet)."""
        (progress,) = HEADER.unpack(self.shm[PROGRESS_OFFSET : PROGRESS_OFFSET + 4])
        return progress - 1

    def _kill(self, pid: int) -> None:
        for target in (
            lambda: os.killpg(pid, signal.SIGKILL),
            lambda: os.kill(pid, signal.SIGKILL),
        ):
            try:
                target()
            except OSError:
                pass
        self.iso.kill_test_processes(self.uid, self.zygote.pid if self.zygote is not None else None)


def _drain(fd: int) -> bytes:
    """Everything waiting on the non-blocking pipe ``fd``."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 64)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _without_expectations(test: Any) -> Any:
    if test.kind is TestKind.CHECK:
        return test  # the check code is the test itself; it has to run next to the program
    if test.expected is None and not test.expected_output:
        return test  # the executor strips them already: this is the second line of defence
    return dataclasses.replace(
        test, expected_output="" if test.kind is TestKind.STDIO else None, expected=None
    )


def main() -> None:
    sock_fd = int(sys.argv[1])
    try:
        server = Server(sock_fd)
    except BaseException as exc:
        send(sock_fd, {"fatal": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"})
        raise SystemExit(1) from exc
    try:
        server.serve()
    finally:
        if server.zygote is None:  # otherwise the zygote cleans up once it sees this exit
            for cgroup in server.cgroups:
                cgroup.remove()
            server.remove_run_root()


if __name__ == "__main__":
    main()
