"""``codegym doctor``: what this machine gives the sandbox, and what the sandbox does with it.

The first thing to run in a new container or on a new machine: it starts a real executor, so
what it reports is what programs will get, not a guess from the environment.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field

from codegym.errors import SandboxError
from codegym.sandbox.executor import Executor
from codegym.sandbox.types import Limits, Outcome, TestCase

__all__ = ["Diagnosis", "FEATURES", "diagnose"]

FEATURES: dict[str, tuple[str, str]] = {
    "uid": (
        "programs run under a uid of their own",
        "programs run under your uid: they can signal your processes; run as root (a "
        "container's root will do)",
    ),
    "userns": (
        "a user namespace stands in for missing privileges",
        "",
    ),
    "netns": (
        "no network (a network namespace of its own)",
        "programs can open connections (the seccomp filter, where present, still refuses "
        "internet sockets)",
    ),
    "mountns": (
        "private mounts: homes hidden, the interpreter bound read-only",
        "programs see the host's file system as their uid may",
    ),
    "private-tmp": (
        "a private /tmp, /var/tmp and /dev/shm",
        "programs can write to the host's temporary directories",
    ),
    "memcg": (
        "a memory cap on all of a test's processes together",
        "memory is capped per process only (RLIMIT_AS): a test's processes together may use "
        "processes x memory_mb",
    ),
    "cpucg": (
        "a test's CPU time counted over its processes by a cgroup",
        "a test's CPU time is summed over the server's descendants (slower to read, same limit)",
    ),
    "pidscg": (
        "a cap on a test's processes and threads together",
        "processes are capped per uid (RLIMIT_NPROC) where the uid or namespace is the tests' "
        "own, else not at all",
    ),
    "seccomp": (
        "a seccomp filter: no sockets but AF_UNIX, no io_uring",
        "no system-call filter",
    ),
    "zygote": (
        "test processes are cloned from a warm zygote (fast)",
        "each test is forked from the server (slower)",
    ),
}
"""Each isolation feature an executor may report: what it gives, and what its absence means."""


@dataclass
class Diagnosis:
    """What :func:`diagnose` found."""

    uid: int
    cap_sys_admin: bool
    features: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    """Why the sandbox could not start (its self-check failed), if it could not."""
    programs_per_second: float = 0.0
    workers: int = 0

    def lines(self) -> list[str]:
        """The report, as lines of plain text."""
        who = "root" if self.uid == 0 else f"uid {self.uid}"
        admin = "with" if self.cap_sys_admin else "without"
        out = [f"running as {who}, {admin} CAP_SYS_ADMIN"]
        if self.error is not None:
            out += ["", "the sandbox cannot start here:", f"  {self.error}"]
            return out
        out.append("")
        for name, (given, missing) in FEATURES.items():
            if name in self.features:
                out.append(f"  [x] {name:12s} {given}")
            elif missing:
                out.append(f"  [ ] {name:12s} {missing}")
        if self.warnings:
            out += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        out += [
            "",
            f"throughput: {self.programs_per_second:.0f} programs/s "
            f"({self.workers} workers, one test each, coverage on)",
        ]
        return out


def _cap_sys_admin() -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 21 & 1)
    except OSError:
        pass
    return False


def diagnose(seconds: float = 2.0, workers: int | None = None) -> Diagnosis:
    """Start an executor, record what isolation it got, and measure its throughput on trivial
    programs for about ``seconds``."""
    diagnosis = Diagnosis(uid=os.geteuid(), cap_sys_admin=_cap_sys_admin())
    tests = [TestCase.stdio("3\n", "9\n")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Executor(workers=workers, limits=Limits(cpu_time=1.0), cache_size=0) as executor:
            diagnosis.workers = executor.workers
            try:
                warm = executor.run_many(
                    [
                        (f"print(int(input()) ** 2)  # warm {i}\n", tests)
                        for i in range(executor.workers)
                    ]
                )
            except SandboxError as exc:
                diagnosis.error = str(exc)
                return diagnosis
            if warm[0].outcome is Outcome.INFRA_ERROR:
                diagnosis.error = warm[0].infra_error
                return diagnosis
            diagnosis.features = list(executor.features)
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                batch = [
                    (f"print(int(input()) ** 2)  # {done + i}\n", tests)
                    for i in range(4 * executor.workers)
                ]
                executor.run_many(batch)
                done += len(batch)
            diagnosis.programs_per_second = done / (time.perf_counter() - start)
    prefix = "codegym sandbox: "
    diagnosis.warnings = [
        str(w.message).removeprefix(prefix) for w in caught if prefix in str(w.message)
    ]
    return diagnosis
