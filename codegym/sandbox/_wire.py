"""The wire between the executor and a sandbox server: length-prefixed pickle frames. Both ends
are codegym's own code; untrusted programs never hold the socket (test processes close it)."""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
"""The environment of every test, besides ``HOME``; the server's own is cut down to it at start."""


HEADER = struct.Struct("!I")

REPLIES_HELD = 2
"""Replies a server may send together: when the next job is already waiting in its socket as
it finishes one, it holds that reply back until the next one (up to this many in all), so the
caller wakes once per that many programs, not once per program (a wake-up costs the caller
about as much CPU as handling a reply)."""


def encode(*objs: Any) -> bytes:
    """``objs`` as consecutive frames, to go in one write."""
    frames = []
    for obj in objs:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        frames += (HEADER.pack(len(data)), data)
    return b"".join(frames)


def send(sock_fd: int, *objs: Any) -> None:
    """Send each of ``objs`` as a frame of its own, all in one write where the socket takes it."""
    view = memoryview(encode(*objs))
    while view:
        n = os.write(sock_fd, view)
        view = view[n:]


def recv(sock_fd: int) -> Any:
    header = read_exact(sock_fd, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    body = read_exact(sock_fd, size)
    if body is None:
        return None
    return pickle.loads(body)


def read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
