"""The caller's handle on one sandbox server process: starting it, and the socket to it."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Any

from codegym.errors import SandboxError
from codegym.sandbox._wire import CHILD_ENV, HEADER, encode

__all__ = ["StartingServer"]


# The server starts without importing the ``codegym`` package: its ``__init__`` registers the
# envs and so imports gymnasium and numpy, about 300 modules and 100 MiB of address space that
# every forked test would inherit (a dearer fork, more copy-on-write faults). Stand-in package
# modules whose ``__path__`` is the real directory let the server import just the sandbox modules.
# ``sys.path[0]`` is made absolute, as ``python -m`` makes it.
_SERVER_BOOT = """\
import os, sys, types
if sys.path and sys.path[0] == "":
    sys.path[0] = os.getcwd()
for name, path in (("codegym", {codegym!r}), ("codegym.sandbox", {sandbox!r})):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from codegym.sandbox._server import main
main()
"""


def _server_command(fd: int) -> list[str]:
    sandbox = os.path.dirname(os.path.abspath(__file__))
    boot = _SERVER_BOOT.format(codegym=os.path.dirname(sandbox), sandbox=sandbox)
    return [sys.executable, "-c", boot, str(fd)]


class _Server:
    """One sandbox server process and the socket to it."""

    def __init__(self) -> None:
        self.cpu: int | None = None  # the CPU of its last pinned run
        ours, theirs = socket.socketpair()
        self._errlog = tempfile.TemporaryFile()
        env = {
            **CHILD_ENV,  # the server's start-up needs the rest; it keeps only these for tests
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        try:
            self.proc = subprocess.Popen(
                _server_command(theirs.fileno()),
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._errlog,
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.sock.settimeout(60)
        self._inbox = bytearray()
        hello = self._recv()
        if hello is None or "fatal" in hello:
            detail = hello["fatal"] if hello else self._stderr()
            self.close()
            raise SandboxError(f"the sandbox server failed to start: {detail}")
        self.features: list[str] = hello["features"]
        self.warnings: list[str] = hello["warnings"]

    def _stderr(self) -> str:
        self._errlog.seek(0)
        return self._errlog.read()[-2000:].decode("utf-8", "replace")

    def _recv(self) -> Any:
        """The next message, waiting for it (within the socket's timeout); None at end of file."""
        while True:
            message = self.take()
            if message is not None:
                return message
            if not self._fill():
                return None

    def _fill(self, flags: int = 0) -> bool:
        """Read what the socket holds into the inbox (one call); False at end of file."""
        chunk = self.sock.recv(1 << 18, flags)
        self._inbox += chunk
        return bool(chunk)

    def take(self) -> dict[str, Any] | None:
        """The next whole message already read, or None."""
        inbox = self._inbox
        if len(inbox) < HEADER.size:
            return None
        end = HEADER.size + HEADER.unpack_from(inbox)[0]
        if len(inbox) < end:
            return None
        with memoryview(inbox) as view:
            message = pickle.loads(view[HEADER.size : end])
        del inbox[:end]
        return message

    def pump(self) -> bool:
        """Read what the socket holds, without waiting (one call); False when the server is
        gone. Whole replies then come from :meth:`take`."""
        try:
            return self._fill(socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True  # nothing yet (a readiness event that was not this socket's)
        except OSError as exc:
            raise SandboxError(f"lost contact with the sandbox server: {exc}") from exc

    def send(self, *jobs: dict[str, Any], timeout: float | None) -> None:
        """Send jobs, in one write (waiting at most ``timeout`` seconds for the socket, None: as
        long as it takes); their replies come back in order through :meth:`receive`, or
        :meth:`pump` and :meth:`take`."""
        data = encode(*jobs)
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise SandboxError(f"lost contact with the sandbox server: {exc}") from exc

    def receive(self) -> dict[str, Any]:
        """The reply to the job sent first of those not answered yet, waiting at most the
        timeout given to :meth:`send`."""
        try:
            reply = self._recv()
        except OSError as exc:
            raise SandboxError(f"lost contact with the sandbox server: {exc}") from exc
        if reply is None:
            raise SandboxError(self.died())
        return reply

    def died(self) -> str:
        """What to say about a server that closed its socket."""
        return f"the sandbox server died: {self._stderr() or 'no message'}"

    def call(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(job, timeout=timeout)
        return self.receive()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, hung: bool = False) -> None:
        """Stop the server: it exits at end of file on its socket, after cleaning up. A ``hung``
        one is killed at once (its zygote then kills what its test left and removes the
        cgroups)."""
        try:
            self.sock.close()
        finally:
            if hung:
                self.proc.kill()
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self._errlog.close()


class StartingServer(threading.Thread):
    """Starts one server in a thread of its own, so that a batch's servers start side by side."""

    def __init__(self) -> None:
        super().__init__(name="codegym-sandbox-start", daemon=True)
        self.server: _Server | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.server = _Server()
        except BaseException as exc:  # noqa: BLE001 - handed to the batch that waits for it
            self.error = exc
