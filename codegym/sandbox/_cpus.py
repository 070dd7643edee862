"""CPUs a batch pins its servers to, locked machine-wide so that batches of executors in several
processes never share them."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable

CPU_LOCK_DIR = "/tmp/codegym-cpus"


def lock_cpus(count: int) -> dict[int, int]:
    """Up to ``count`` CPUs of this process's that no batch on this machine holds, each with the
    descriptor holding its lock; fewer (or none) where other batches hold the rest."""
    held: dict[int, int] = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        if len(held) == count:
            break
        fd = _try_cpu_lock(cpu)
        if fd is not None:
            held[cpu] = fd
    return held


def _try_cpu_lock(cpu: int) -> int | None:
    """An open descriptor holding this machine's lock on ``cpu``, or None where another holds it
    (or locks cannot be made here)."""
    try:
        os.makedirs(CPU_LOCK_DIR, exist_ok=True)
        os.chmod(CPU_LOCK_DIR, 0o1777)  # every user's executors share the CPUs
    except OSError:
        pass
    try:
        fd = os.open(
            os.path.join(CPU_LOCK_DIR, f"{cpu}.lock"),
            os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC,
            0o644,
        )
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class CpuPool:
    """The CPUs a batch holds, handed to its servers as it starts: a server takes its last CPU
    when it is free, so it stays on warm caches; otherwise the lowest free one (None when all are
    taken)."""

    def __init__(self, cpus: Iterable[int]) -> None:
        self._free = set(cpus)

    def take(self, preferred: int | None) -> int | None:
        if preferred in self._free:
            cpu = preferred
        elif self._free:
            cpu = min(self._free)
        else:
            return None
        self._free.remove(cpu)
        return cpu
