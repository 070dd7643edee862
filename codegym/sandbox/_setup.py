"""The server's isolation set up at start: the namespaces each mode allows, and the self-check
that programs can use the interpreter there."""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from codegym.sandbox import _isolation, _seccomp
from codegym.sandbox._child import SOLUTION_FILENAME

SELF_CHECK_MODULES = (  # noqa: SIM905
    "threading queue socket csv sqlite3 multiprocessing concurrent.futures ctypes decimal"
).split()
"""Modules the server does not preload that a program must still be able to import."""


def enter_namespaces(uid: int | None, run_root: str) -> tuple[list[str], list[str]]:
    """The strongest isolation this process may set up. Root with ``CAP_SYS_ADMIN`` makes
    mount and network namespaces directly; root without it (a default container) and
    ordinary users first make a user namespace, where that is allowed, and then the same.
    Returns the isolation features in force and the warnings for what is missing."""
    features: list[str] = []
    warnings: list[str] = []
    expose = _isolation.python_paths()
    try:
        features += _isolation.setup_namespaces(expose, run_root, 512)
        return features, warnings
    except OSError:
        pass
    try:
        _isolation.enter_user_namespace(uid)
        features.append("userns")
        features += _isolation.setup_namespaces(expose, run_root, 512)
    except OSError as exc:
        warnings.append(
            f"no private network or /tmp ({exc}): programs can connect to the network and "
            "write to the host's temporary directories. Allow user namespaces, or give the "
            "container CAP_SYS_ADMIN, for full isolation (`codegym doctor` shows what is "
            "missing)"
        )
    if uid is None:
        warnings.append(
            "not running as root: programs run under your own uid, so they can signal your "
            "other processes"
            + ("" if "mountns" in features else " and read your files")
            + "; run as root (a container's root will do) for a uid of their own"
        )
    return features, warnings


def self_check(uid: int | None, become_test_identity: Callable[[], None]) -> bool:
    """Check, in a throwaway process with a test's identity, that programs can import the
    standard library and site-packages and compile, and whether the seccomp filter holds.
    Raises (the executor then fails loudly) rather than let every program fail to import.
    Returns whether the seccomp filter refuses internet sockets."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        report: dict[str, Any] = {"problems": [], "seccomp": False}
        try:
            os.close(r)
            become_test_identity()
            report["seccomp"] = _seccomp.install_socket_filter() and _sockets_denied()
            for path in _isolation.python_paths():
                if "site-packages" in path or path.startswith(sys.base_prefix):
                    try:
                        os.listdir(path)
                    except OSError as exc:
                        report["problems"].append(f"cannot read {path}: {exc.strerror}")
            for name in SELF_CHECK_MODULES:
                try:
                    __import__(name)
                except Exception as exc:
                    report["problems"].append(f"import {name}: {type(exc).__name__}: {exc}")
            compile("print(sum(range(3)))\n", SOLUTION_FILENAME, "exec")
        except BaseException as exc:
            report["problems"].append(f"{type(exc).__name__}: {exc}")
        finally:
            os.write(w, json.dumps(report).encode()[:60000])
            os._exit(0)
    os.close(w)
    data = b"".join(iter(lambda: os.read(r, 65536), b""))
    os.close(r)
    os.waitpid(pid, 0)
    report = json.loads(data) if data else {"problems": ["the self-check process died"]}
    if report["problems"]:
        who = f"uid {uid}" if uid is not None else "your uid"
        raise OSError(
            errno.EACCES,
            f"programs in the sandbox ({who}) cannot use this interpreter: "
            + "; ".join(report["problems"][:5])
            + ". It or its libraries live where the sandbox's uid cannot read them (a "
            "private home such as /root). Allow user namespaces or give the container "
            "CAP_SYS_ADMIN (the sandbox then binds them read-only), or install Python and "
            "the virtualenv where every user can read them",
        )
    return bool(report["seccomp"])


def kernel_at_least(*version: int) -> bool:
    try:
        release = tuple(int(p) for p in os.uname().release.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return release >= version


def _sockets_denied() -> bool:
    """Whether this process is refused an internet socket (the seccomp filter works)."""
    import socket

    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        return True
    return False
