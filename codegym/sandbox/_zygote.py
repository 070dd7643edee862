"""The zygote: a copy of the freshly started sandbox server that only clones test processes."""

from __future__ import annotations

import errno
import gc
import marshal
import os
import struct
from typing import TYPE_CHECKING

from codegym.sandbox import _isolation, _seccomp
from codegym.sandbox._child import enter_workdir, interpreter_state, run_child, setup_failed
from codegym.sandbox._wire import HEADER, read_exact

_PID = struct.Struct("!i")

if TYPE_CHECKING:
    from codegym.sandbox._server import Server


class ZygoteGone(OSError):
    """The zygote died (killed from outside: it runs no program's code)."""


class Zygote:
    """A copy of the freshly started server that does nothing but clone test processes.

    Forking the server itself for every test is dear on machines where page faults are slow: at
    each fork every page of the server becomes copy-on-write, and the server's own work for the
    next test (compiling, reading results) then faults on hundreds of them. The zygote's memory
    stays much as it was at start: it sets the interpreter state all tests share once
    (:func:`interpreter_state`); per test it loads the test's spec, enters its working directory
    (:func:`enter_workdir`), clones, and writes the pid back. Its clones take the server as their
    parent (``CLONE_PARENT``), so the server waits for, times and reaps them exactly as it would
    its own forks.
    """

    def __init__(self, server: Server) -> None:
        cmd_r, self.cmd_w = os.pipe()
        self.pid_r, pid_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(self.cmd_w)
                os.close(self.pid_r)
                _zygote_main(server, cmd_r, pid_w)
            finally:
                os._exit(1)
        os.close(cmd_r)
        os.close(pid_w)
        self.pid = pid
        self.children = _isolation.Children(spare=pid)

    def close(self) -> None:
        """Let go of a zygote (it exits at end of file on its pipe); :func:`reap_all` reaps it."""
        for fd in (self.cmd_w, self.pid_r, self.children.fd):
            os.close(fd)

    def spawn(self) -> int:
        """Clone a test's process for the spec in the server's ``jobmem``; its pid."""
        try:
            os.write(self.cmd_w, b"s")
            reply = read_exact(self.pid_r, _PID.size)
        except OSError as exc:
            raise ZygoteGone(exc.errno, f"the sandbox zygote is gone: {exc}") from exc
        if reply is None:
            raise ZygoteGone(errno.EPIPE, "the sandbox zygote is gone")
        (pid,) = _PID.unpack(reply)
        if pid < 0:
            raise OSError(-pid, f"clone: {os.strerror(-pid)}")
        return pid


def _zygote_main(server: Server, cmd_fd: int, pid_fd: int) -> None:
    # Holds nothing of the server's but what its clones need, and the uid slot's lock: when the
    # server is gone (end of file on the command pipe), the slot is not free before the zygote has
    # cleaned up after it.
    for fd in (server.sock_fd, server.ready_r):
        os.close(fd)
    gc.disable()
    clone, jobmem = _isolation.clone_sibling, server.jobmem
    interpreter_state(server.stdio)  # the same for every test: set once, for all clones
    # Also once, for all clones: the test's cgroups, the filter on sockets, no capabilities.
    for cgroup in server.cgroups:
        os.write(cgroup.procs_fd, b"0")
    _seccomp.install_socket_filter()
    if server.drop_caps:
        _seccomp.drop_capabilities()
    while os.read(cmd_fd, 1):
        failure = None
        try:
            (size,) = HEADER.unpack(jobmem[0 : HEADER.size])
            spec = marshal.loads(jobmem[HEADER.size : HEADER.size + size])
            enter_workdir(spec["workdir"], spec["first"])
        except BaseException as exc:  # reported by the clone, as a failed setup
            failure = exc
        try:
            pid = clone()
        except OSError as exc:
            pid = -(exc.errno or errno.EAGAIN)
        if pid == 0:
            try:
                if failure is not None:
                    setup_failed(server.shm, failure)
                run_child(spec, server)
            finally:
                os._exit(4)
        spec = None  # the program's code and arguments are the clone's business now
        os.write(pid_fd, _PID.pack(pid))
    # The server exited or was killed. Whatever its last test left behind dies now, not when
    # the uid slot is next taken, and its memory cgroup goes (a parent cgroup with a child left
    # in it cannot be removed).
    if server.uid is not None:
        _isolation.kill_uid(server.uid)
    for cgroup in server.cgroups:
        try:
            cgroup.leave()
        except OSError:
            pass
        cgroup.remove(wait=2.0)
    server.remove_run_root()
    os._exit(0)
