"""The verdict on a finished test, from what the server saw (exit status, CPU, the memory
cgroup's OOM count, the backstop) and what the test's process left (its record, its files)."""

from __future__ import annotations

import errno
import os
import signal
from typing import Any

from codegym.sandbox import _cgroups
from codegym.sandbox._child import stdio_names
from codegym.sandbox._workdir import read_regular

STDERR_KEEP = 4096
"""Bytes of a test's stderr kept (the last ones)."""


def classify(  # noqa: ANN201
    job,
    test,
    status,
    cpu,
    wall,
    killed,
    workdir,
    index,
    record,
    lines,
    set_up,
    oom,  # noqa: ANN001
) -> dict[str, Any]:
    """Test ``index``'s raw result: the program's ``record`` (None: it left none), its output
    files, its executed ``lines``, and the category the evidence decides (setup failure, memory,
    backstop, CPU, output, exception, exit, signal), in that order of precedence. ``status`` is
    the exit status of the process that ran it, 0 for a test it finished before going on."""
    limits = job["limits"]
    out: dict[str, Any] = {"cpu": cpu, "wall": wall, "status": "completed"}
    _, stdout_name, stderr_name = stdio_names(index)
    stdout = read_regular(os.path.join(workdir, stdout_name), limits.output_bytes + 1)
    stderr = read_regular(os.path.join(workdir, stderr_name), STDERR_KEEP, tail=True)
    out["stdout"] = stdout.decode("utf-8", "replace")
    out["stderr"] = stderr.decode("utf-8", "replace")
    if lines is not None:
        out["lines"] = lines
    record = record or {}
    out.update(
        {k: record[k] for k in ("exc_type", "exc_line", "exc_msg", "returned") if k in record}
    )
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    rstatus = record.get("status")

    def done(kind: str, detail: str) -> dict[str, Any]:
        out["status"], out["detail"] = kind, detail
        return out

    if not set_up:
        if rstatus == "setup":
            return done("infra", f"sandbox child setup failed: {record.get('exc_msg')}")
        return done("infra", f"sandbox child died during setup (status {status})")
    if rstatus == "setup":  # the program forged the sandbox's own failure report
        rstatus = record["status"] = "garbled"
    if oom:  # whichever process the kernel chose to kill, and whatever followed from it
        cap = limits.memory_mb + _cgroups.MEMCG_HEADROOM_MB
        return done("memory", f"the test's processes together exceeded {cap} MiB of memory")
    if killed == "wall":
        return done(
            "timeout",
            f"killed by the wall-clock backstop: no CPU progress within {limits.effective_wall_time:.1f} s",
        )
    if killed == "cpu" or cpu > limits.cpu_time or sig in (signal.SIGXCPU, signal.SIGPROF):
        return done("timeout", f"CPU time limit of {limits.cpu_time:g} s exceeded")
    exc_errno = record.get("errno") if rstatus == "exception" else None
    if sig == signal.SIGXFSZ or len(stdout) > limits.output_bytes or exc_errno == errno.EFBIG:
        return done("output", f"output limit of {limits.output_bytes} bytes exceeded")
    if rstatus == "exception":
        if record.get("exc_type") == "MemoryError" or exc_errno == errno.ENOMEM:
            return done("memory", f"memory limit of {limits.memory_mb} MiB exceeded")
        return done("runtime", f"{record.get('exc_type')}: {record.get('exc_msg', '')}")
    if rstatus == "assertion":
        return done("wrong", "a check assertion failed")
    if rstatus == "exit":
        return done("runtime", f"exited with status {record.get('code')}")
    if sig is not None:
        return done("runtime", f"killed by signal {signal.Signals(sig).name}")
    if rstatus == "ok" and code == 0:
        return out
    if rstatus is None and code == 0 and test.kind.value == "stdio":
        return out  # os._exit(0) after printing: judge what reached stdout
    return done("runtime", f"exited with status {code} before the test finished")
