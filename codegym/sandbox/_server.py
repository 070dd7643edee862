"""The sandbox server: a warm process that starts one isolated child per test.

Started by :class:`codegym.sandbox.Executor` (``python -c BOOT FD``, with stand-ins for the
``codegym`` packages so that their heavy ``__init__`` imports stay out of every fork) with a
minimal environment. At start it reserves a private uid, enters new mount and network namespaces,
hides private directories and temp dirs, imports what programs commonly need, and forks its
zygote: a copy of itself that from then on only clones test processes, so that the server's own
work never copies pages it shares with a child. For each job it receives on the socket ``FD``, it
compiles the program once and runs every test in a child (cloned by the zygote, yet this server's
child) that drops to the reserved uid, sets resource limits, and runs the program with coverage
marks or a line monitor. Results travel back to the child's parent (this server) through a
shared memory page and files in the child's private working directory, never through anything the
program could use to reach the caller. This server, not the program's process, decides timeouts
and limit failures.

The wire protocol with the executor is length-prefixed pickle frames; both ends are codegym's own
code. Untrusted programs never write to that socket: children close it before anything runs.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import errno
import gc
import io
import json
import marshal
import mmap
import os
import pickle
import random
import resource
import shutil
import signal
import stat
import struct
import sys
import tempfile
import time
import traceback
import types
from typing import Any

from codegym.sandbox import _isolation
from codegym.sandbox._instrument import instrument, recorder
from codegym.sandbox.types import TestKind

# Modules programs commonly import, loaded once here so a forked child finds them in memory.
# Not ``threading`` (nor ``queue``, which imports it): its at-fork handler runs in every child and
# costs about 0.7 ms of CPU per test, while the few programs that use threads pay about 3 ms once.
PRELOAD = (  # noqa: SIM905
    "abc array bisect calendar cmath collections collections.abc contextlib copy dataclasses "
    "datetime decimal enum fractions functools hashlib heapq io itertools json math numbers "
    "operator pprint random re statistics string struct textwrap time types typing unicodedata"
).split()
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
"""The environment of every test, besides ``HOME``; the server's own is cut down to it at start."""
CHECK_CACHE_SIZE = 256
RECURSION_LIMIT = 10000
RANDOM_SEED = 0
CHILD_DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGXFSZ)
"""Signals at their default action in every test, set once in the server and inherited. Python
ignores SIGXFSZ, which turns hitting the output limit into an OSError the program may swallow; the
default action ends it with a signal we classify."""

SOLUTION_FILENAME = "<solution>"
CHECK_FILENAME = "<check>"
RESULT_MAX = 1 << 20
COV_OFFSET = 4 + RESULT_MAX
COV_LINES = 1 << 16
JOB_MAX = 16 << 20
"""Size of the page that carries a test's job from the server to a child of the zygote; a larger
job (huge call arguments) is forked from the server itself instead."""
RUN_ROOT = "/tmp/codegym-run"
SELF_CHECK_MODULES = (  # noqa: SIM905
    "threading queue socket csv sqlite3 multiprocessing concurrent.futures ctypes decimal"
).split()
"""Modules the server does not preload that a program must still be able to import."""
STDERR_KEEP = 4096
STDOUT_KEEP = 4096
WORKDIR_FILES = ("stdin.txt", "stdout.txt", "stderr.txt")

_HDR = struct.Struct("!I")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
HARD_WALL_FACTOR = 5
CPU_TICK = 0.1
"""Seconds between two reads of a running test's CPU time (tests that end sooner cost none)."""


def send(sock_fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HDR.pack(len(data)) + data)
    while view:
        n = os.write(sock_fd, view)
        view = view[n:]


def recv(sock_fd: int) -> Any:
    header = _read_exact(sock_fd, _HDR.size)
    if header is None:
        return None
    (size,) = _HDR.unpack(header)
    body = _read_exact(sock_fd, size)
    if body is None:
        return None
    return pickle.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _calls_at_top_level(tree: ast.Module, name: str) -> bool:
    """True when the module itself calls ``name()`` (directly or under ``if __name__ == ...``),
    so the harness must not call the entry point a second time."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If):
            stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id == name:
                return True
    return False


def _all_code_objects(code: Any) -> list[Any]:
    out, stack = [], [code]
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(k for k in c.co_consts if hasattr(k, "co_code"))
    return out


# --------------------------------------------------------------------------------------------
# The child: runs one test of one program. Never returns; ends with os._exit.
# --------------------------------------------------------------------------------------------


def _install_tracer(code: Any, shm: mmap.mmap) -> None:
    """Record executed lines of the program's own code objects into the shared page (3.12+).

    ``sys.monitoring`` LINE events on the program's code objects only, each line disabled after
    its first hit, so coverage costs almost nothing. Older Pythons use source instrumentation
    instead (:mod:`codegym.sandbox._instrument`).
    """
    monitoring = sys.monitoring  # type: ignore[attr-defined]
    tool = monitoring.COVERAGE_ID
    monitoring.use_tool_id(tool, "codegym")
    disable = monitoring.DISABLE

    def on_line(_code: Any, line: int) -> Any:
        if 0 < line < COV_LINES:
            shm[COV_OFFSET + line] = 1
        return disable

    monitoring.register_callback(tool, monitoring.events.LINE, on_line)
    for c in _all_code_objects(code):
        monitoring.set_local_events(tool, c, monitoring.events.LINE)


RECORD_OK: dict[str, Any] = {"status": "ok"}
RECORD_CHECK_OK: dict[str, Any] = {"status": "ok", "returned": "true"}
_ENCODED = {id(r): json.dumps(r).encode() for r in (RECORD_OK, RECORD_CHECK_OK)}


def _setup_failed(shm: mmap.mmap, exc: BaseException) -> None:
    """End a test's process whose setup failed: the sandbox's fault, never the program's."""
    _write_result(shm, {"status": "setup", "exc_msg": f"{type(exc).__name__}: {exc}"})
    os._exit(3)


def _write_result(shm: mmap.mmap, record: dict[str, Any]) -> None:
    data = _ENCODED.get(id(record)) or json.dumps(record).encode()
    if len(data) > RESULT_MAX:
        data = json.dumps(
            {"status": "exception", "exc_type": "OutputLimit", "exc_msg": "result too large"}
        ).encode()
    shm[4 : 4 + len(data)] = data
    shm[0:4] = _HDR.pack(len(data))


def _exception_record(exc: BaseException, status: str = "exception") -> dict[str, Any]:
    line, innermost = None, None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        innermost = filename
        if filename == SOLUTION_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    if status == "exception" and isinstance(exc, AssertionError) and innermost == CHECK_FILENAME:
        status = "assertion"
    try:
        msg = str(exc)[:500]
    except Exception:  # str() of a hostile exception may itself raise
        msg = "<unprintable>"
    record = {"status": status, "exc_type": type(exc).__name__, "exc_line": line, "exc_msg": msg}
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        record["errno"] = exc.errno
    return record


_PLAIN_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes})
_PLAIN_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})


def _check_plain(value: Any, depth: int = 0) -> None:
    """Raise TypeError unless ``value`` is built of the builtin types themselves (no subclass):
    what a CHECK test's assertions compare must not choose its own ``__eq__``."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return
    if kind not in _PLAIN_CONTAINERS or depth > 100:
        raise TypeError(f"the function returned a {kind.__name__}, not a plain builtin value")
    items = value.items() if kind is dict else ((v, None) for v in value)
    for a, b in items:
        _check_plain(a, depth + 1)
        if kind is dict:
            _check_plain(b, depth + 1)


def _plain_results(fn: Any) -> Any:
    """``fn`` as handed to a CHECK test's ``check``: its results must be plain values."""

    def candidate(*args: Any, **kwargs: Any) -> Any:
        value = fn(*args, **kwargs)
        _check_plain(value)
        return value

    return candidate


def _check_namespace(namespace: dict[str, Any], builtins_before: Any) -> dict[str, Any]:
    """Where a CHECK test's code runs: the program's functions and values (checks call helpers
    the prompt defined), but not its names that shadow builtins, and the builtins module as it
    was before the program ran (a program could replace ``abs`` or ``isinstance`` there)."""
    builtins.__dict__.clear()
    builtins.__dict__.update(builtins_before)
    check = {k: v for k, v in namespace.items() if k not in builtins_before}
    check["__builtins__"] = builtins
    check["__name__"] = "__check__"
    return check


def _to_json_value(value: Any, depth: int = 0) -> Any:
    if depth > 100:
        raise ValueError("return value nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json_value(v, depth + 1) for k, v in value.items()}
    return {"__unjsonable__": type(value).__name__, "repr": repr(value)[:200]}


def _test_spec(
    job: dict[str, Any], test: Any, code: Any, check_code: Any, workdir: str
) -> dict[str, Any]:
    """Everything a test's process needs, as plain values (``marshal`` carries them to a clone of
    the zygote): the program's code, this test's call, its limits and its working directory."""
    limits = job["limits"]
    return {
        "workdir": workdir,
        "cpu_time": limits.cpu_time,
        "as_limit": job["as_limit"],
        "output_bytes": limits.output_bytes,
        "open_files": limits.open_files,
        "nproc": job["nproc"],
        "coverage": job["coverage"],
        "instrumented": job.get("instrumented", False),
        "marked_lines": job.get("marked_lines", ()),
        "kind": test.kind.value,
        "fn_name": test.fn_name,
        "calls_itself": test.fn_name in job["calls_itself"],
        "args": tuple(test.args) if test.kind is TestKind.CALL else (),
        "code": code,
        "check_code": check_code,
        "check_source": test.check_code if check_code is None else None,
    }


def _interpreter_state(stdio: Any) -> None:
    """The interpreter's state every test starts from: its streams, ``argv``, recursion limit and
    random state. The zygote sets it once, for all its clones (it never uses any of it itself); a
    child forked from the server sets it for itself. The stdio objects were built in the server,
    unused, on descriptors of the same kinds (a regular file or /dev/null, seekable) as a test's,
    so each test gets pristine copies without building them."""
    sys.stdin, sys.stdout, sys.stderr = stdio or _make_stdio()
    sys.argv = ["solution.py"]
    sys.setrecursionlimit(RECURSION_LIMIT)
    # Every test starts from the same random state, whichever worker runs it (``os.fork`` would
    # reseed it from the OS; the zygote's clones would share the server's start-up seed).
    random.seed(RANDOM_SEED)


def _enter_workdir(workdir: str) -> None:
    """The setup of a test's process that a parent can do for it, since a fork inherits it: the
    working directory and home, and the test's files on descriptors 0, 1 and 2. No core dumps, no
    supplementary groups and ``no_new_privs`` are set once in the server, for all. Limits that
    differ from run to run are the test process's to set: a parent cannot raise them again
    without ``CAP_SYS_RESOURCE``, and would be bound by some of them itself. The zygote runs this
    before each clone, where its page writes are cheap (a clone's are copies); a child forked
    from the server runs it itself."""
    os.chdir(workdir)
    fd_in = os.open("stdin.txt", os.O_RDONLY)
    fd_out = os.open("stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    fd_err = os.open("stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd, target in ((fd_in, 0), (fd_out, 1), (fd_err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    # The server's environment is already CHILD_ENV with HOME at the usual working directory.
    if os.environ.get("HOME") != workdir:
        os.environ["HOME"] = workdir


def _child(spec: dict[str, Any], server: Server, forked: bool = False) -> None:
    """A test's process, after :func:`_interpreter_state` and :func:`_enter_workdir`: become the
    test (own session, the sandbox uid, the limits on CPU, memory and descriptors), then run the
    program and record its result. A clone of the zygote inherits its cgroups, seccomp filter and
    capabilities; a child ``forked`` from the server sets them itself."""
    shm, uid, ready_fd = server.shm, server.uid, server.ready_w
    # Everything inherited is the server's: collections in this process should walk only the
    # program's own objects, not write to (and so copy) the pages of the server's young ones.
    # (The zygote runs with the collector off; programs get it on.)
    gc.freeze()
    gc.enable()
    try:
        os.setsid()
        if forked:
            for cgroup in server.cgroups:  # while still root; descendants follow
                os.write(cgroup.procs_fd, b"0")
            _isolation.install_socket_filter()
        os.closerange(3, ready_fd)
        os.closerange(ready_fd + 1, 1 << 16)
        cpu_soft = int(spec["cpu_time"]) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_soft + 1))
        resource.setrlimit(resource.RLIMIT_AS, (spec["as_limit"], spec["as_limit"]))
        resource.setrlimit(resource.RLIMIT_NOFILE, (spec["open_files"], spec["open_files"]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["output_bytes"], spec["output_bytes"]))
        if spec["nproc"] is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (spec["nproc"], spec["nproc"]))
        if uid is not None or forked:
            server.become_test_identity()
        # After setuid: changing uids clears the parent-death signal. (``no_new_privs`` is set once
        # in the server and inherited.)
        _isolation.prctl(_isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        # Signal dispositions come from the server (see CHILD_DEFAULT_SIGNALS); timers do not.
        signal.setitimer(signal.ITIMER_PROF, spec["cpu_time"])
    except BaseException as exc:  # the sandbox failed to set up: not the program's fault
        _setup_failed(shm, exc)
    # Setup is done: say so on a pipe the program can never reach again (its only descriptor is
    # closed here), so a program cannot pose as a sandbox failure to dodge its score.
    os.write(ready_fd, b"1")
    os.close(ready_fd)

    # A real module, so that what pickles by reference (multiprocessing's tasks) finds the
    # program's functions in ``sys.modules["__main__"]``.
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    main.__file__ = "solution.py"
    sys.modules["__main__"] = main
    namespace = main.__dict__
    kind, fn_name, code = spec["kind"], spec["fn_name"], spec["code"]
    builtins_before = dict(builtins.__dict__) if kind == "check" else None
    record: dict[str, Any]
    try:
        if spec["coverage"] and spec["instrumented"]:
            page = memoryview(shm)[COV_OFFSET : COV_OFFSET + COV_LINES]
            recorder(namespace, page, spec["marked_lines"])
        elif spec["coverage"]:
            _install_tracer(code, shm)
        try:
            exec(code, namespace)
        except SystemExit as exc:
            if kind != "stdio":
                raise
            if exc.code not in (None, 0):
                raise
        if kind == "stdio":
            if fn_name and not spec["calls_itself"]:
                try:
                    namespace[fn_name]()
                except SystemExit as exc:
                    if exc.code not in (None, 0):
                        raise
            record = RECORD_OK
        elif kind == "call":
            fn = namespace.get(fn_name)
            if fn is None and isinstance(namespace.get("Solution"), type):
                fn = getattr(namespace["Solution"](), fn_name)
            if fn is None:
                raise NameError(f"name {fn_name!r} is not defined")
            value = fn(*spec["args"])
            sys.settrace(None)
            record = {"status": "ok", "returned": json.dumps(_to_json_value(value))}
        else:
            check_code = spec["check_code"]
            if check_code is None:  # the server could not compile it: fail here, as the program
                check_code = compile(
                    spec["check_source"], CHECK_FILENAME, "exec", dont_inherit=True
                )
            check = _check_namespace(namespace, builtins_before)
            exec(check_code, check)
            check["check"](_plain_results(namespace[fn_name]))
            record = RECORD_CHECK_OK
    except SystemExit as exc:
        record = {"status": "exit", "code": str(exc.code)[:100]}
    except BaseException as exc:
        record = _exception_record(exc)
        try:
            # The interpreter's own printer: the traceback module spends seconds of the program's
            # CPU time on a deep RecursionError, turning it into a timeout.
            sys.__excepthook__(type(exc), exc, exc.__traceback__)
        except BaseException:
            pass
    sys.settrace(None)
    try:
        sys.stdout.flush()
    except BaseException as exc:
        if record.get("status") == "ok":
            record = _exception_record(exc)
    _write_result(shm, record)
    os._exit(0)


# --------------------------------------------------------------------------------------------
# The server side of one test.
# --------------------------------------------------------------------------------------------


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
        self._enter_namespaces()
        self.drop_caps = self.uid is None and "userns" in self.features
        # RLIMIT_NPROC counts the processes of a uid: the slot's are the tests' alone. An ordinary
        # user's are all of that user's, except inside a user namespace of its own on Linux 5.14
        # and later (counted per namespace), where this server and its zygote share them.
        self.nproc_extra: int | None = None
        if self.uid is not None:
            self.nproc_extra = 0
        elif self.drop_caps and _kernel_at_least(5, 14):
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

        self.shm = mmap.mmap(-1, COV_OFFSET + COV_LINES)
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
        self.stdio = _unused_stdio()
        for sig in CHILD_DEFAULT_SIGNALS:  # this server has no use for them either
            signal.signal(sig, signal.SIG_DFL)
        self.check_cache: dict[str, Any] = {}
        self.baseline_vm = _vm_size_bytes()
        self.counter = 0
        self.retire = False
        # Objects alive now are shared with every child; keep the collector off them so children
        # do not copy-on-write pages just by scanning.
        gc.collect()
        gc.freeze()
        # The zygote joins these once: every test it clones starts inside.
        self.memcg = self._cgroup(_isolation.MemoryCgroup, "memcg")
        self.cpucg = self._cgroup(_isolation.CpuCgroup, "cpucg")
        self.pidscg = self._cgroup(_isolation.PidsCgroup, "pidscg")
        self.cgroups = [c for c in (self.memcg, self.cpucg, self.pidscg) if c is not None]
        self.oom_kills = self.memcg.oom_kills() if self.memcg is not None else 0
        self._self_check()
        self.all_cpus = os.sched_getaffinity(0)
        self.cpu: int | None = None  # the CPU this server is pinned to (see pin)
        self.zygote = _Zygote(self) if _isolation.can_clone_sibling() else None
        if self.zygote is not None:
            self.features.append("zygote")

    def _enter_namespaces(self) -> None:
        """The strongest isolation this process may set up. Root with ``CAP_SYS_ADMIN`` makes
        mount and network namespaces directly; root without it (a default container) and
        ordinary users first make a user namespace, where that is allowed, and then the same."""
        expose = _isolation.python_paths()
        try:
            self.features += _isolation.setup_namespaces(expose, RUN_ROOT, 512)
            return
        except OSError:
            pass
        try:
            _isolation.enter_user_namespace(self.uid)
            self.features.append("userns")
            self.features += _isolation.setup_namespaces(expose, RUN_ROOT, 512)
        except OSError as exc:
            self.warnings.append(
                f"no private network or /tmp ({exc}): programs can connect to the network and "
                "write to the host's temporary directories. Allow user namespaces, or give the "
                "container CAP_SYS_ADMIN, for full isolation (`codegym doctor` shows what is "
                "missing)"
            )
        if self.uid is None:
            self.warnings.append(
                "not running as root: programs run under your own uid, so they can signal your "
                "other processes"
                + ("" if "mountns" in self.features else " and read your files")
                + "; run as root (a container's root will do) for a uid of their own"
            )

    def _cgroup(self, kind: type[_isolation.Cgroup], feature: str) -> Any:
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
            _remove_tree(self.run_root)

    def become_test_identity(self) -> None:
        """In a test's process (or the self-check's): take the uid, or drop the capabilities, that
        programs run with."""
        if self.uid is not None:
            os.setgid(self.uid)
            os.setuid(self.uid)
        elif self.drop_caps:
            _isolation.drop_capabilities()

    def _self_check(self) -> None:
        """Check, in a throwaway process with a test's identity, that programs can import the
        standard library and site-packages and compile, and whether the seccomp filter holds.
        Raises (the executor then fails loudly) rather than let every program fail to import."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            report: dict[str, Any] = {"problems": [], "seccomp": False}
            try:
                os.close(r)
                self.become_test_identity()
                report["seccomp"] = _isolation.install_socket_filter() and _sockets_denied()
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
        if report["seccomp"]:
            self.features.append("seccomp")
        if report["problems"]:
            who = f"uid {self.uid}" if self.uid is not None else "your uid"
            raise OSError(
                errno.EACCES,
                f"programs in the sandbox ({who}) cannot use this interpreter: "
                + "; ".join(report["problems"][:5])
                + ". It or its libraries live where the sandbox's uid cannot read them (a "
                "private home such as /root). Allow user namespaces or give the container "
                "CAP_SYS_ADMIN (the sandbox then binds them read-only), or install Python and "
                "the virtualenv where every user can read them",
            )

    def serve(self) -> None:
        send(
            self.sock_fd,
            {"ready": True, "features": self.features, "warnings": self.warnings, "uid": self.uid},
        )
        while True:
            job = recv(self.sock_fd)
            if job is None:
                return
            try:
                self.pin(job["cpu"])
                reply = self.run_job(job)
            except Exception as exc:
                reply = {
                    "infra_error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
                }
            if self.retire:
                reply["retired"] = True  # the executor starts another server
            send(self.sock_fd, reply)
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
        limits = job["limits"]
        # Children never need the expected answers (the caller judges); a program could find them
        # in its own memory (gc, frames) and print them.
        job["tests"] = [_without_expectations(t) for t in job["tests"]]
        # Every line number the program can have is below max_line ("\r" ends a line too).
        job["max_line"] = min(program.count("\n") + program.count("\r") + 2, COV_LINES - 1)
        try:
            if len(program.encode("utf-8", "surrogatepass")) > limits.program_bytes:
                raise SyntaxError(f"program longer than the limit of {limits.program_bytes} bytes")
            # A tree only where one is needed: compiling source directly is about twice as fast
            # as parsing and then compiling the tree.
            entry_points = {
                t.fn_name for t in job["tests"] if t.kind.value == "stdio" and t.fn_name
            }
            instrumented = job["coverage"] and not hasattr(sys, "monitoring")
            tree = ast.parse(program, SOLUTION_FILENAME) if instrumented or entry_points else None
            job["calls_itself"] = {n for n in entry_points if _calls_at_top_level(tree, n)}
            if instrumented:
                code, job["marked_lines"] = self._compile_instrumented(
                    program, tree, job["max_line"]
                )
                job["instrumented"] = True
            else:
                code = compile(tree or program, SOLUTION_FILENAME, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
            line = getattr(exc, "lineno", None)
            return {
                "compile_error": f"{type(exc).__name__}: {exc}",
                "compile_line": line,
                "tests": [],
            }
        job["as_limit"] = self.baseline_vm + limits.memory_mb * (1 << 20)
        job["nproc"] = None if self.nproc_extra is None else limits.processes + self.nproc_extra
        if self.memcg is not None:
            self.memcg.set_limit((limits.memory_mb + _isolation.MEMCG_HEADROOM_MB) << 20)
        if self.pidscg is not None:  # the zygote is in it too
            self.pidscg.set_limit(limits.processes + 1)
        job["check_codes"] = [self._compile_check(t) for t in job["tests"]]
        results = []
        stop = False
        for test, check_code in zip(job["tests"], job["check_codes"]):
            if stop:
                results.append({"status": "skipped"})
                continue
            raw = self.run_test(job, test, code, check_code)
            results.append(raw)
            if raw["status"] in ("infra",):
                return {"infra_error": raw["detail"], "tests": results}
            if limits.stop_after_timeout and raw["status"] in ("timeout", "memory", "output"):
                stop = True
        # Coverage marks sit on statement lines only: the caller need not map the lines it gets.
        return {"tests": results, "statement_lines": bool(job.get("instrumented"))}

    @staticmethod
    def _compile_instrumented(
        program: str, tree: ast.Module, max_line: int
    ) -> tuple[Any, list[int]]:
        """Compile ``tree`` with coverage marks (``tree`` is modified); the code and the lines
        marked.

        One parse and one compile. Only when that fails is the plain program compiled as well,
        so that a compile error is reported as the program's own, exactly as without marks.
        """
        try:
            marked, lines = instrument(tree, max_line, program)
            return compile(marked, SOLUTION_FILENAME, "exec", dont_inherit=True), lines
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            compile(program, SOLUTION_FILENAME, "exec", dont_inherit=True)  # raises the program's
            raise

    def _compile_check(self, test: Any) -> Any:
        """The compiled check code of a CHECK test, cached by text: RL runs many programs against
        the same tests. None for other tests, or when it does not compile (the child then
        compiles it again and reports the error as the test's)."""
        if test.kind.value != "check":
            return None
        cache = self.check_cache
        source = test.check_code
        if source in cache:
            return cache[source]
        try:
            compiled = compile(source, CHECK_FILENAME, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return None
        if len(cache) >= CHECK_CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[source] = compiled
        return compiled

    def run_test(
        self, job: dict[str, Any], test: Any, code: Any, check_code: Any = None
    ) -> dict[str, Any]:
        limits = job["limits"]
        workdir = self.workdir  # the previous test's was deleted: this one is new all the same
        try:
            os.mkdir(workdir, 0o700)
        except FileExistsError:  # a tree this server could not delete: a fresh name, then
            self.counter += 1
            workdir = os.path.join(self.run_root, f"work-{self.counter}")
            os.mkdir(workdir, 0o700)
        _write_new_file(os.path.join(workdir, "stdin.txt"), test.stdin.encode("utf-8"))
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        shm = self.shm
        shm[0:4] = b"\0\0\0\0"
        if job["coverage"]:
            shm[COV_OFFSET : COV_OFFSET + job["max_line"] + 1] = bytes(job["max_line"] + 1)
        _drain(self.ready_r)
        start = time.monotonic()
        try:
            pid = self._spawn(job, test, code, check_code, workdir)
        except OSError as exc:  # out of processes, or the zygote is gone: this server is done
            self.retire = True
            _remove_tree(workdir)
            return {"status": "infra", "detail": f"could not start the test's process: {exc}"}
        children = self.zygote.children if self.zygote is not None else None
        cpu_start = self.cpucg.usage() if self.cpucg is not None else 0.0
        try:
            killed, test_cpu = self._wait(pid, limits, cpu_start)
            if killed:
                self._kill(pid)
            _, status, usage = os.wait4(pid, 0)
            wall = time.monotonic() - start
            if self.cpucg is not None:  # every process of the test, the ones still alive too
                test_cpu = self.cpucg.usage() - cpu_start
            test_cpu = max(test_cpu, usage.ru_utime + usage.ru_stime)
            if not self.iso.reap_all(self.uid, time.monotonic() + 5.0, children):
                # Something of the test outlived SIGKILL (a process stuck in the kernel): no later
                # test may share a uid with it. Report it, and let the executor start a new server.
                self.retire = True
                return {
                    "status": "infra",
                    "detail": "processes of the test survived SIGKILL for 5 s; server retired",
                }
            set_up = _drain(self.ready_r) == b"1"
            oom = False
            if self.memcg is not None:
                kills = self.memcg.oom_kills()
                oom, self.oom_kills = kills > self.oom_kills, kills
            return self._classify(job, test, status, test_cpu, wall, killed, workdir, set_up, oom)
        finally:
            _remove_tree(workdir)
            if "private-tmp" in self.features:
                _clear_dir("/dev/shm")  # the one temp directory programs may write to

    def _spawn(
        self, job: dict[str, Any], test: Any, code: Any, check_code: Any, workdir: str
    ) -> int:
        """Start the test's process; its pid. A child of this server either way: cloned by the
        zygote (the test's spec travels through ``jobmem``), or forked from here where there is
        no zygote, or the spec is too large for that page or holds values ``marshal`` cannot
        carry (call arguments of other types)."""
        spec = _test_spec(job, test, code, check_code, workdir)
        if self.zygote is not None:
            try:
                blob = marshal.dumps(spec)
            except ValueError:
                blob = None
            if blob is not None and len(blob) <= JOB_MAX - _HDR.size:
                self.jobmem[_HDR.size : _HDR.size + len(blob)] = blob
                self.jobmem[0 : _HDR.size] = _HDR.pack(len(blob))
                try:
                    return self.zygote.spawn()
                except _ZygoteGone:  # killed from outside: make another, from this server as is
                    self.zygote.close()
                    self.zygote = _Zygote(self)
                    return self.zygote.spawn()
        pid = os.fork()
        if pid == 0:
            try:
                try:
                    _interpreter_state(self.stdio)
                    _enter_workdir(spec["workdir"])
                except BaseException as exc:
                    _setup_failed(self.shm, exc)
                _child(spec, self, forked=True)
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

    def _wait(self, pid: int, limits: Any, cpu_start: float) -> tuple[str | None, float]:
        """Wait for the test's process to exit; returns ``(why it must be killed, CPU used)``,
        the reason None when it exited on its own.

        Every ``CPU_TICK`` the CPU time of all the test's processes together is read: past
        ``cpu_time`` it is killed ("cpu"), however many processes or threads shared the work.
        The wall-clock backstop is for programs that sleep or block, not for slow machines: at
        the end of each wall-time period the test is killed ("wall") only if it used almost no
        CPU during the period (under 2% of it). A program that computes, however starved by
        machine load, runs on until its CPU time decides, so results do not depend on load. An
        absolute cap of ``HARD_WALL_FACTOR`` periods bounds even pathological cases.
        """
        import select

        period = limits.effective_wall_time
        start = time.monotonic()
        hard_deadline = start + HARD_WALL_FACTOR * period
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        poller = select.poll()
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        cpu = last_cpu = 0.0
        period_end = start + period
        try:
            while True:
                wake = min(time.monotonic() + CPU_TICK, period_end, hard_deadline)
                while True:
                    left = wake - time.monotonic()
                    if pidfd is not None:
                        if poller.poll(max(left, 0) * 1000):
                            return None, cpu
                    elif os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                        return None, cpu
                    else:
                        time.sleep(0.001)
                    if time.monotonic() >= wake:
                        break
                cpu = max(cpu, self._test_cpu(cpu_start))
                if cpu > limits.cpu_time:
                    return "cpu", cpu
                now = time.monotonic()
                if now >= hard_deadline:
                    return "wall", cpu
                if now >= period_end:
                    if cpu - last_cpu < 0.02 * period:
                        return "wall", cpu
                    last_cpu, period_end = cpu, now + period
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _kill(self, pid: int) -> None:
        for target in (
            lambda: os.killpg(pid, signal.SIGKILL),
            lambda: os.kill(pid, signal.SIGKILL),
        ):
            try:
                target()
            except OSError:
                pass
        if self.uid is not None:
            self.iso.kill_uid(self.uid)
        else:
            self.iso.kill_descendants(self.zygote.pid if self.zygote is not None else None)

    def _classify(
        self, job, test, status, cpu, wall, killed, workdir, set_up, oom
    ) -> dict[str, Any]:  # noqa: ANN001
        limits = job["limits"]
        out: dict[str, Any] = {"cpu": cpu, "wall": wall, "status": "completed"}
        stdout = _read_regular(os.path.join(workdir, "stdout.txt"), limits.output_bytes + 1)
        stderr = _read_regular(os.path.join(workdir, "stderr.txt"), STDERR_KEEP, tail=True)
        out["stdout"] = stdout.decode("utf-8", "replace")
        out["stderr"] = stderr.decode("utf-8", "replace")
        if job["coverage"]:
            n = job["max_line"] + 1
            page = self.shm[COV_OFFSET : COV_OFFSET + n]
            out["lines"] = [i for i in range(n) if page[i]]
        record: dict[str, Any] = {}
        (size,) = _HDR.unpack(self.shm[0:4])
        if 0 < size <= RESULT_MAX:
            try:
                record = json.loads(self.shm[4 : 4 + size])
            except ValueError:
                record = {"status": "garbled"}
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
            cap = limits.memory_mb + _isolation.MEMCG_HEADROOM_MB
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


_PID = struct.Struct("!i")


class _ZygoteGone(OSError):
    """The zygote died (killed from outside: it runs no program's code)."""


class _Zygote:
    """A copy of the freshly started server that does nothing but clone test processes.

    Forking the server itself for every test is dear on machines where page faults are slow: at
    each fork every page of the server becomes copy-on-write, and the server's own work for the
    next test (compiling, reading results) then faults on hundreds of them. The zygote's memory
    stays much as it was at start: it sets the interpreter state all tests share once
    (:func:`_interpreter_state`); per test it loads the test's spec, enters its working directory
    (:func:`_enter_workdir`), clones, and writes the pid back. Its clones take the server as their
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
            reply = _read_exact(self.pid_r, _PID.size)
        except OSError as exc:
            raise _ZygoteGone(exc.errno, f"the sandbox zygote is gone: {exc}") from exc
        if reply is None:
            raise _ZygoteGone(errno.EPIPE, "the sandbox zygote is gone")
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
    _interpreter_state(server.stdio)  # the same for every test: set once, for all clones
    # Also once, for all clones: the test's cgroups, the filter on sockets, no capabilities.
    for cgroup in server.cgroups:
        os.write(cgroup.procs_fd, b"0")
    _isolation.install_socket_filter()
    if server.drop_caps:
        _isolation.drop_capabilities()
    while os.read(cmd_fd, 1):
        failure = None
        try:
            (size,) = _HDR.unpack(jobmem[0 : _HDR.size])
            spec = marshal.loads(jobmem[_HDR.size : _HDR.size + size])
            _enter_workdir(spec["workdir"])
        except BaseException as exc:  # reported by the clone, as a failed setup
            failure = exc
        try:
            pid = clone()
        except OSError as exc:
            pid = -(exc.errno or errno.EAGAIN)
        if pid == 0:
            try:
                if failure is not None:
                    _setup_failed(server.shm, failure)
                _child(spec, server)
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


def _make_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    """The program's ``sys.stdin``, ``sys.stdout`` and ``sys.stderr``, on descriptors 0, 1 and 2."""
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", write_through=True
    )
    return stdin, stdout, stderr


def _unused_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper] | None:
    """:func:`_make_stdio`, built once in the server and never used there, for children to inherit.

    Each child assigns its pristine copies after putting its own regular files on 0, 1 and 2.
    Construction records only whether a descriptor is seekable, so this holds only where the
    server's 0, 1 and 2 are seekable too (the executor gives it /dev/null and a log file).
    Otherwise None: every child builds its own.
    """
    try:
        stdio = _make_stdio()
    except OSError:
        return None
    return stdio if all(stream.seekable() for stream in stdio) else None


def _without_expectations(test: Any) -> Any:
    if test.kind is TestKind.CHECK:
        return test  # the check code is the test itself; it has to run next to the program
    if test.expected is None and not test.expected_output:
        return test  # the executor strips them already: this is the second line of defence
    return dataclasses.replace(
        test, expected_output="" if test.kind is TestKind.STDIO else None, expected=None
    )


def _kernel_at_least(*version: int) -> bool:
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


def _write_new_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _read_regular(path: str, limit: int, *, tail: bool = False) -> bytes:
    """Up to ``limit`` bytes of a file the program could have replaced: the first ones, or the
    last ones with ``tail``. Never follows a symlink (this server is root and would read any file
    for it), never blocks on a FIFO; anything but a regular file reads as empty."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return b""
        offset = max(0, st.st_size - limit) if tail else 0
        chunks, left = [], limit
        while left > 0:
            chunk = os.pread(fd, min(left, 1 << 20), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _clear_dir(path: str) -> None:
    """Delete what tests left in ``path`` (a private tmpfs, never a symlink's target)."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        _remove_tree(os.path.join(path, name))
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass


def _remove_tree(path: str) -> None:
    """Delete a test's working directory, however deep the program nested directories in it.

    ``shutil.rmtree`` recurses once per level (RecursionError past ~1000 on Python < 3.12); when
    it leaves something behind, lift nested entries into the top directory, level by level, until
    everything is a plain file or an empty directory. Never follows symlinks. Most tests leave just
    the files the sandbox made: they go first, and when that empties the directory, that is all.
    """
    for name in WORKDIR_FILES:
        try:
            os.unlink(os.path.join(path, name))  # a symlink itself, never its target
        except OSError:
            pass
    try:
        os.rmdir(path)
        return
    except OSError:
        pass
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        pass
    if not os.path.lexists(path):
        return
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    lifted = 0
    try:
        progress = True
        while progress:
            progress = False
            for name in os.listdir(top):
                try:
                    os.unlink(name, dir_fd=top)
                    progress = True
                    continue
                except OSError:
                    pass
                try:
                    os.rmdir(name, dir_fd=top)
                    progress = True
                    continue
                except OSError:
                    pass
                try:
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
                except OSError:
                    continue
                try:
                    for child in os.listdir(sub):
                        lifted += 1
                        try:
                            os.rename(child, f".lifted-{lifted}", src_dir_fd=sub, dst_dir_fd=top)
                            progress = True
                        except OSError:
                            pass
                finally:
                    os.close(sub)
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except OSError:
        pass


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
