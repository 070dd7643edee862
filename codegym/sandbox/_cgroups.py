"""Cgroups for a uid slot's tests: a memory cap, CPU accounting and a process cap on all of a
test's processes together, which per-process rlimits cannot give."""

from __future__ import annotations

import errno
import os
import time

MEMCG_HEADROOM_MB = 64
"""Memory a test's processes may use together beyond ``memory_mb``: each Python process copies
some of the interpreter's pages as it runs."""


class Cgroup:
    """A cgroup made for the tests of one uid slot, below this process's own: in the hierarchy of
    one controller (cgroup v1) or in the unified one (v2, where this process's cgroup is a
    delegated subtree). Subclasses give one controller's view: :class:`MemoryCgroup`,
    :class:`CpuCgroup`, :class:`PidsCgroup`.

    A process joins by writing ``0`` to :attr:`procs_fd`; its descendants inherit the cgroup. The
    sandbox's zygote joins once, so every test it clones starts inside, at no cost per test.
    """

    controller = ""
    v2_needs_controller = True
    """Whether, in v2, the parent must hand this controller down (``cgroup.subtree_control``)."""

    def __init__(self, path: str, v2: bool) -> None:
        self.path = path
        self.v2 = v2
        self.procs_fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        self._fds = [self.procs_fd]
        try:
            self._open()
            self._probe()
        except OSError:
            self.remove()
            raise

    def _open(self) -> None:
        """Open the controller's own files (subclasses)."""

    def _open_fd(self, name: str, flags: int = os.O_RDONLY) -> int:
        fd = os.open(os.path.join(self.path, name), flags | os.O_CLOEXEC)
        self._fds.append(fd)
        return fd

    def _probe(self) -> None:
        """Check, with a throwaway child, that a process can join: some hosts refuse it, and
        every test would then fail to start."""
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.write(self.procs_fd, b"0")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise OSError(errno.EPERM, f"a process cannot join the cgroup {self.path}")

    @classmethod
    def create(cls, name: str) -> Cgroup:
        """Make (or reuse) cgroup ``name`` below this process's own; OSError where the host has
        none this process may create."""
        v1 = _own_cgroup(cls.controller)
        root = f"/sys/fs/cgroup/{cls.controller}"
        if v1 is not None and os.path.isdir(root + v1):
            path = os.path.join(root + v1, name)
            os.makedirs(path, exist_ok=True)
            return cls(path, v2=False)
        # cgroup v2: only in a delegated subtree; a cgroup that holds processes itself usually
        # cannot hand controllers down.
        v2 = _own_cgroup("")
        base = f"/sys/fs/cgroup{v2}" if v2 is not None else None
        if base is None or not os.path.exists(os.path.join(base, "cgroup.subtree_control")):
            raise OSError(errno.ENOENT, f"no {cls.controller} cgroup hierarchy")
        if cls.v2_needs_controller:
            with open(os.path.join(base, "cgroup.subtree_control")) as f:
                if cls.controller not in f.read().split():
                    raise OSError(errno.EPERM, f"{base} does not delegate {cls.controller}")
        path = os.path.join(base, name)
        os.makedirs(path, exist_ok=True)
        return cls(path, v2=True)

    def leave(self) -> None:
        """Move this process back to the parent cgroup (a cgroup with a member cannot go)."""
        with open(os.path.join(os.path.dirname(self.path), "cgroup.procs"), "w") as f:
            f.write("0")

    def remove(self, wait: float = 0.0) -> None:
        """Delete the cgroup, waiting up to ``wait`` seconds for the processes in it to exit."""
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        deadline = time.monotonic() + wait
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.01)


class MemoryCgroup(Cgroup):
    """A cap on the memory all of a test's processes use together, which per-process
    ``RLIMIT_AS`` does not give (``processes`` of them could each take ``memory_mb``). Whenever
    the cap is hit the kernel kills one of them, and :meth:`oom_kills` counts it."""

    controller = "memory"

    def _open(self) -> None:
        self.limit_file = os.path.join(
            self.path, "memory.max" if self.v2 else "memory.limit_in_bytes"
        )
        self._events_fd = self._open_fd("memory.events" if self.v2 else "memory.oom_control")
        self.limit = -1
        self.set_limit(1 << 30)  # some hosts refuse it: find out now, not in every test

    def set_limit(self, limit_bytes: int) -> None:
        if limit_bytes != self.limit:
            with open(self.limit_file, "w") as f:
                f.write(str(limit_bytes))
            self.limit = limit_bytes

    def oom_kills(self) -> int:
        """How many processes the kernel has killed in this cgroup for hitting its cap."""
        for line in os.pread(self._events_fd, 4096, 0).decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0


class CpuCgroup(Cgroup):
    """The CPU time all processes of the cgroup have used, threads and exited children included:
    what a test's CPU limit binds (a fork bomb's 32 processes share one limit, not 32)."""

    controller = "cpuacct"
    v2_needs_controller = False  # cpu.stat's usage is kept in every v2 cgroup

    def _open(self) -> None:
        self._usage_fd = self._open_fd("cpu.stat" if self.v2 else "cpuacct.usage")

    def usage(self) -> float:
        """Seconds of CPU used so far (a counter: take differences)."""
        data = os.pread(self._usage_fd, 4096, 0)
        if not self.v2:
            return int(data) / 1e9
        for line in data.decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise OSError(errno.EINVAL, "cpu.stat has no usage_usec")


class PidsCgroup(Cgroup):
    """A cap on the processes and threads of a test together, whatever their uid."""

    controller = "pids"

    def _open(self) -> None:
        self.max_file = os.path.join(self.path, "pids.max")
        self.limit = -1

    def set_limit(self, count: int) -> None:
        if count != self.limit:
            with open(self.max_file, "w") as f:
                f.write(str(count))
            self.limit = count


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path for a v1 ``controller``, or its v2 path for ``""``."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):  # "" matches the v2 line, "0::/path"
            return path.rstrip("/")
    return None
