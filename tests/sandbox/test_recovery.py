"""The executor recovers from servers that die, and no process outlives its uid slot's owner."""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
import time

import pytest

from codegym.sandbox import Executor, Outcome, TestCase, _cgroups, _isolation

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox runs on Linux only"
)
ECHO = [TestCase.stdio("hi\n", "hi\n")]


def test_a_server_killed_while_idle_is_replaced_without_an_infra_error():
    with Executor(workers=1, cache_size=0) as executor:
        assert executor.run("print(input())", ECHO).passed
        (server,) = list(executor._idle.queue)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        result = executor.run("print(input())", ECHO)
        assert result.outcome is Outcome.PASSED, result.infra_error
        assert executor.stats["infra_errors"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="uid slots exist only when running as root")
def _real_uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def test_reserving_a_uid_slot_ends_processes_left_behind_under_that_uid(monkeypatch):
    # A free slot, and a pid that makes acquire_uid_slot try it first (7 * 143 = 1 mod 1000).
    os.makedirs(_isolation.LOCK_DIR, mode=0o700, exist_ok=True)
    for index in range(_isolation.UID_COUNT - 1, -1, -1):
        uid = _isolation.UID_BASE + index
        fd = os.open(
            os.path.join(_isolation.LOCK_DIR, f"{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        os.close(fd)  # releases the lock
        break
    # What a server killed from outside leaves behind: a process of the slot uid, orphaned.
    leftover = os.fork()
    if leftover == 0:
        try:
            os.setresuid(uid, uid, uid)
            time.sleep(60)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while _real_uid(leftover) != uid:  # the fork has not taken the slot's uid yet
            assert time.monotonic() < deadline, "the leftover process never took the slot uid"
            time.sleep(0.005)
        monkeypatch.setattr(_isolation.os, "getpid", lambda: index * 143 % _isolation.UID_COUNT)
        got, lock_fd = _isolation.acquire_uid_slot()
        monkeypatch.undo()
        os.close(lock_fd)
        assert got == uid
        deadline = time.monotonic() + 5
        while os.waitpid(leftover, os.WNOHANG) == (0, 0):
            assert time.monotonic() < deadline, "the leftover process is still alive"
            time.sleep(0.01)
    finally:
        try:
            os.kill(leftover, signal.SIGKILL)
            os.waitpid(leftover, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    real = next(line for line in f if line.startswith("Uid:")).split()[1]
            except (OSError, StopIteration):
                continue
            if int(real) == uid:
                pids.append(int(entry))
    return pids


@pytest.mark.skipif(os.geteuid() != 0, reason="uid slots exist only when running as root")
def test_a_server_killed_mid_test_leaves_no_process_and_no_cgroup():
    cgroup = _cgroups._own_cgroup("memory")
    parent = f"/sys/fs/cgroup/memory{cgroup}" if cgroup is not None else None
    if parent is None or not os.path.isdir(parent):
        pytest.skip("no cgroup v1 memory hierarchy here")
    before = {d for d in os.listdir(parent) if d.startswith("codegym-")}
    escaping = (
        "import os\nimport time\n\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
        "time.sleep(60)\n"
    )
    with Executor(workers=1, cache_size=0) as executor:
        assert executor.run("print(input())", ECHO).passed
        if "memcg" not in executor.features:
            pytest.skip("the server made no memory cgroup")
        (name,) = {d for d in os.listdir(parent) if d.startswith("codegym-")} - before
        uid = int(name.split("-")[1])
        (server,) = list(executor._idle.queue)
        worker = threading.Thread(target=executor.run, args=(escaping, ECHO))
        worker.start()
        deadline = time.monotonic() + 10
        while len(_uid_processes(uid)) < 2:  # the test and its escaped child
            assert time.monotonic() < deadline, "the test never started"
            time.sleep(0.01)
        os.kill(server.proc.pid, signal.SIGKILL)
        worker.join(timeout=30)
        deadline = time.monotonic() + 5
        while _uid_processes(uid) or os.path.exists(os.path.join(parent, name)):
            assert time.monotonic() < deadline, (_uid_processes(uid), name)
            time.sleep(0.01)


@pytest.mark.skipif(os.geteuid() != 0, reason="memory cgroups are made only as root")
def test_a_memory_cgroup_that_processes_cannot_join_is_not_used():
    """Where a host refuses the join, the server must go without the cgroup, not fail every test."""

    class Refused(_cgroups.MemoryCgroup):
        def _probe(self) -> None:
            os.close(self.procs_fd)  # as if joining were refused: the child's write fails
            self.procs_fd = os.open(os.path.join(self.path, "cgroup.procs"), os.O_RDONLY)
            super()._probe()

    try:
        usable = _cgroups.MemoryCgroup.create("codegym-probe-ok")
    except OSError:
        pytest.skip("no memory cgroup this process may create")
    usable.remove()
    with pytest.raises(OSError, match="cannot join"):
        Refused.create("codegym-probe-refused")
    refused = os.path.join(os.path.dirname(usable.path), "codegym-probe-refused")
    assert not os.path.exists(refused)
