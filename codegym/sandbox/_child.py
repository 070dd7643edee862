"""A test's process: what the sandbox sets up in it, the program's run, and the result it
leaves for the server in the shared page (its layout is defined here). Never returns: ends with
``os._exit``."""

from __future__ import annotations

import builtins
import gc
import io
import json
import mmap
import os
import random
import resource
import signal
import sys
import time
import types
from typing import TYPE_CHECKING, Any

from codegym.sandbox import _isolation, _seccomp
from codegym.sandbox._instrument import recorder
from codegym.sandbox._wire import HEADER
from codegym.sandbox.types import TestKind

RECURSION_LIMIT = 10000

# What the test loop calls after a program has run, bound now: a program may replace the
# modules' attributes (``time.process_time = ...``), and would then break its own later tests.
_process_time, _monotonic, _setitimer = time.process_time, time.monotonic, signal.setitimer
_setrlimit, _dumps, _seed = resource.setrlimit, json.dumps, random.seed

if TYPE_CHECKING:
    from codegym.sandbox._server import Server


RANDOM_SEED = 0


SOLUTION_FILENAME = "<solution>"


CHECK_FILENAME = "<check>"


RESULT_MAX = 1 << 20
"""Largest record of one test (a CALL test's return value included)."""


TESTS_PER_PROCESS = 32
"""Most tests one process runs: its records must fit the shared page."""


RECORDS_MAX = TESTS_PER_PROCESS * RESULT_MAX


PROGRESS_OFFSET = 4 + RECORDS_MAX
"""Where a test's process writes the index of the test it is running, plus one (0: none yet),
for the server's per-test limits."""


COV_OFFSET = PROGRESS_OFFSET + 4


COV_LINES = 1 << 16


SHM_SIZE = COV_OFFSET + COV_LINES
"""The shared page: the size of the records (4 bytes), the records (one JSON line per finished
test), the progress, and the coverage flags of the running test (one byte per line)."""


def stdio_names(index: int) -> tuple[str, str, str]:
    """The files in the working directory that are test ``index``'s stdin, stdout and stderr."""
    return f"stdin-{index}.txt", f"stdout-{index}.txt", f"stderr-{index}.txt"


def _all_code_objects(code: Any) -> list[Any]:
    out, stack = [], [code]
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(k for k in c.co_consts if hasattr(k, "co_code"))
    return out


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


def setup_failed(shm: mmap.mmap, exc: BaseException) -> None:
    """End a test's process whose setup failed: the sandbox's fault, never the program's."""
    _write_result(shm, {"status": "setup", "exc_msg": f"{type(exc).__name__}: {exc}"})
    os._exit(3)


def _write_result(shm: mmap.mmap, record: dict[str, Any]) -> None:
    """Append a finished test's record to the shared page (the size last, so a process killed
    mid-write leaves the records before it intact)."""
    data = _ENCODED.get(id(record)) or _dumps(record).encode()
    if len(data) >= RESULT_MAX:
        data = _dumps(
            {"status": "exception", "exc_type": "OutputLimit", "exc_msg": "result too large"}
        ).encode()
    (used,) = HEADER.unpack(shm[0:4])
    shm[4 + used : 4 + used + len(data) + 1] = data + b"\n"
    shm[0:4] = HEADER.pack(used + len(data) + 1)


def read_records(shm: mmap.mmap) -> list[dict[str, Any]]:
    """The records of the tests a process finished, in order (for the server). A record that is
    not valid JSON (the program wrote over the page) reads as ``{"status": "garbled"}``."""
    (used,) = HEADER.unpack(shm[0:4])
    if not 0 < used <= RECORDS_MAX:
        return []
    records = []
    for line in shm[4 : 4 + used].split(b"\n")[:-1]:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        records.append(record if isinstance(record, dict) else {"status": "garbled"})
    return records


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
    _restore_builtins(builtins_before)
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


def interpreter_state(stdio: Any) -> None:
    """The interpreter's state every test starts from: its streams, ``argv``, recursion limit and
    random state. The zygote sets it once, for all its clones (it never uses any of it itself); a
    child forked from the server sets it for itself, and a test's process again before each test
    after its first (``stdio`` None: new streams). The stdio objects were built in the server,
    unused, on descriptors of the same kinds (a regular file or /dev/null, seekable) as a test's,
    so each test gets pristine copies without building them."""
    sys.stdin, sys.stdout, sys.stderr = stdio or _make_stdio()
    sys.argv = ["solution.py"]
    sys.setrecursionlimit(RECURSION_LIMIT)
    # Every test starts from the same random state, whichever worker runs it (``os.fork`` would
    # reseed it from the OS; the zygote's clones would share the server's start-up seed).
    _seed(RANDOM_SEED)


def enter_workdir(workdir: str, index: int) -> None:
    """The setup of a test's process that a parent can do for it, since a fork inherits it: the
    working directory and home, and the files of test ``index`` on descriptors 0, 1 and 2. No
    core dumps, no supplementary groups and ``no_new_privs`` are set once in the server, for all.
    Limits that differ from run to run are the test process's to set: a parent cannot raise them
    again without ``CAP_SYS_RESOURCE``, and would be bound by some of them itself. The zygote
    runs this before each clone, where its page writes are cheap (a clone's are copies); a child
    forked from the server runs it itself."""
    os.chdir(workdir)
    _open_stdio(index)
    # The server's environment is already CHILD_ENV with HOME at the usual working directory.
    if os.environ.get("HOME") != workdir:
        os.environ["HOME"] = workdir


def _open_stdio(index: int) -> None:
    """Put test ``index``'s stdin, stdout and stderr files on descriptors 0, 1 and 2."""
    stdin, stdout, stderr = stdio_names(index)
    fd_in = os.open(stdin, os.O_RDONLY)
    fd_out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    fd_err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd, target in ((fd_in, 0), (fd_out, 1), (fd_err, 2)):
        os.dup2(fd, target)
        os.close(fd)


def process_spec(
    job: dict[str, Any], code: Any, first: int, end: int, workdir: str
) -> dict[str, Any]:
    """Everything a test process needs, as plain values (``marshal`` carries them to a clone of
    the zygote): the program's code, the calls of tests ``first`` to ``end - 1``, the limits
    and the working directory."""
    limits = job["limits"]
    tests = [
        {
            "kind": test.kind.value,
            "fn_name": test.fn_name,
            "calls_itself": test.fn_name in job["calls_itself"],
            "args": tuple(test.args) if test.kind is TestKind.CALL else (),
            "check_code": check_code,
            "check_source": test.check_code if check_code is None else None,
        }
        for test, check_code in zip(job["tests"][first:end], job["check_codes"][first:end])
    ]
    return {
        "workdir": workdir,
        "first": first,
        "tests": tests,
        "cpu_time": limits.cpu_time,
        "as_limit": job["as_limit"],
        "output_bytes": limits.output_bytes,
        "open_files": limits.open_files,
        "nproc": job["nproc"],
        "coverage": job["coverage"],
        "max_line": job["max_line"],
        "instrumented": job.get("instrumented", False),
        "marked_lines": job.get("marked_lines", ()),
        "code": code,
    }


def run_child(spec: dict[str, Any], server: Server, forked: bool = False) -> None:
    """A test's process, after :func:`interpreter_state` and :func:`enter_workdir`: become the
    test (own session, the sandbox uid, the limits on CPU, memory and descriptors), then run the
    program once per test of ``spec["tests"]``, each from a fresh ``__main__`` with its own
    stdin, stdout, random state and CPU limit, and record each result. A clone of the zygote
    inherits its cgroups, seccomp filter and capabilities; a child ``forked`` from the server
    sets them itself."""
    shm, uid, ready_fd = server.shm, server.uid, server.ready_w
    # Everything inherited is the server's: collections in this process should walk only the
    # program's own objects, not write to (and so copy) the pages of the server's young ones.
    # (The zygote runs with the collector off; programs get it on.)
    gc.freeze()
    gc.enable()
    tests = spec["tests"]
    try:
        os.setsid()
        if forked:
            for cgroup in server.cgroups:  # while still root; descendants follow
                os.write(cgroup.procs_fd, b"0")
            _seccomp.install_socket_filter()
        os.closerange(3, ready_fd)
        os.closerange(ready_fd + 1, 1 << 16)
        # Each test raises the soft limit to what it has used plus its own share (below).
        cpu_hard = int(len(tests) * (spec["cpu_time"] + 1)) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
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
    except BaseException as exc:  # the sandbox failed to set up: not the program's fault
        setup_failed(shm, exc)
    # Setup is done: say so on a pipe the program can never reach again (its only descriptor is
    # closed here), so a program cannot pose as a sandbox failure to dodge its score.
    os.write(ready_fd, b"1")
    os.close(ready_fd)

    builtins_at_start = dict(builtins.__dict__)
    n_lines = spec["max_line"] + 1
    coverage = memoryview(shm)[COV_OFFSET : COV_OFFSET + n_lines] if spec["coverage"] else None
    for index, test in enumerate(tests, spec["first"]):
        if index != spec["first"]:  # the first test's state is the zygote's, pristine
            try:
                _next_test_state(spec["workdir"], index)
            except BaseException as exc:  # the program broke its own working directory
                _write_result(shm, _exception_record(exc))
                os._exit(0)
            if coverage is not None:
                coverage[:] = bytes(n_lines)
        shm[PROGRESS_OFFSET : PROGRESS_OFFSET + 4] = HEADER.pack(index + 1)
        cpu_start, wall_start = _process_time(), _monotonic()
        # The process's CPU limit: what it has used, plus this test's share (a backstop to the
        # timer below, which the program could cancel, and to the server's own count).
        soft = min(int(cpu_start + spec["cpu_time"]) + 1, cpu_hard)
        _setrlimit(resource.RLIMIT_CPU, (soft, cpu_hard))
        _setitimer(signal.ITIMER_PROF, spec["cpu_time"])
        record = _run_test(spec, test, shm)
        _setitimer(signal.ITIMER_PROF, 0)
        _restore_builtins(builtins_at_start)  # what follows uses them
        if len(tests) > 1:  # the server times and reads coverage itself for a lone test
            record = {
                **record,
                "cpu": _process_time() - cpu_start,
                "wall": _monotonic() - wall_start,
            }
            if coverage is not None:
                record["lines"] = [i for i, hit in enumerate(coverage) if hit]
        _write_result(shm, record)
    os._exit(0)


def _next_test_state(workdir: str, index: int) -> None:
    """Between two tests in one process: the next test's files on 0, 1 and 2 and fresh streams
    on them, and the interpreter state every test starts from."""
    os.chdir(workdir)
    _open_stdio(index)
    interpreter_state(None)


def _restore_builtins(before: dict[str, Any]) -> None:
    """Put the builtins module back as ``before``, only when the program changed it (by identity:
    a value's own __eq__ could lie); rebuilding the dict unasked makes every test dearer."""
    now = builtins.__dict__
    if len(now) != len(before) or any(now.get(k, now) is not v for k, v in before.items()):
        now.clear()
        now.update(before)


_tracer_installed = False


def _run_test(spec: dict[str, Any], test: dict[str, Any], shm: mmap.mmap) -> dict[str, Any]:
    """Run the program once for ``test`` in a fresh ``__main__``; the test's record."""
    global _tracer_installed
    # A real module, so that what pickles by reference (multiprocessing's tasks) finds the
    # program's functions in ``sys.modules["__main__"]``.
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    main.__file__ = "solution.py"
    sys.modules["__main__"] = main
    namespace = main.__dict__
    kind, fn_name, code = test["kind"], test["fn_name"], spec["code"]
    builtins_before = dict(builtins.__dict__) if kind == "check" else None
    record: dict[str, Any]
    try:
        if spec["coverage"] and spec["instrumented"]:
            page = memoryview(shm)[COV_OFFSET : COV_OFFSET + COV_LINES]
            recorder(namespace, page, spec["marked_lines"])
        elif spec["coverage"] and _tracer_installed:
            sys.monitoring.restart_events()  # type: ignore[attr-defined]
        elif spec["coverage"]:
            _install_tracer(code, shm)
            _tracer_installed = True
        try:
            exec(code, namespace)
        except SystemExit as exc:
            if kind != "stdio":
                raise
            if exc.code not in (None, 0):
                raise
        if kind == "stdio":
            if fn_name and not test["calls_itself"]:
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
            value = fn(*test["args"])
            sys.settrace(None)
            record = {"status": "ok", "returned": json.dumps(_to_json_value(value))}
        else:
            check_code = test["check_code"]
            if check_code is None:  # the server could not compile it: fail here, as the program
                check_code = compile(
                    test["check_source"], CHECK_FILENAME, "exec", dont_inherit=True
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
    return record


def _make_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    """The program's ``sys.stdin``, ``sys.stdout`` and ``sys.stderr``, on descriptors 0, 1 and 2."""
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", write_through=True
    )
    return stdin, stdout, stderr


def unused_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper] | None:
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
