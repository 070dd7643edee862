"""Hostile programs against the sandbox, through its public API only.

Each case is a program a model could generate to hang, exhaust, escape or fool the sandbox. For
every case the host process survives, the outcome is a failure of the expected category (never
PASSED, never INFRA_ERROR), the call returns within a few seconds of the wall-clock limit (a
program that computes may run on a loaded host until its CPU time decides, up to an absolute cap),
and nothing is left behind: no process of this module's sandbox uids, no new entry in the host's
/tmp, no file written outside the program's working directory, no connection accepted. The
secret in this process's environment never reaches a result.

Full isolation needs root (private uid, network and mount namespaces), so the module is skipped
otherwise: without a private uid, ``kill(-1, SIGKILL)`` would hit the user's own processes.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from codegym.sandbox import ExecutionResult, Executor, Limits, Outcome, TestCase, _isolation

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox is Linux-only"
)

LIMITS = Limits(cpu_time=1.0, wall_time=3.0)
SLACK = 3.0
"""Seconds a call may take beyond the wall-clock limit (server overhead, cleanup, a loaded host)."""
CPU_CEILING = 2.5
"""CPU seconds a program may use beyond ``cpu_time`` when it ignores SIGPROF and SIGXCPU (the
hard RLIMIT_CPU ends it)."""
SANDBOX_UIDS = range(61000, 62000)
SECRET_VAR, SECRET = "CODEGYM_SECRET_TOKEN", "hunter2"
REPO = str(Path(__file__).resolve().parents[2])
HOME = os.path.expanduser("~")

EXPECTED = "expected output\n"
STDIO = TestCase.stdio("", EXPECTED)
CHECK = TestCase.check("def check(candidate):\n    assert candidate(2) == 4\n", "square")
CALL = TestCase.call("square", [3], 9)


@dataclass(frozen=True)
class Case:
    name: str
    program: str
    expected: frozenset[Outcome]
    tests: tuple[TestCase, ...] = (STDIO,)
    forbidden: tuple[str, ...] = ()
    """Strings that must not appear in any test's stdout, stderr or detail (besides the secret)."""
    targets: tuple[str, ...] = ()
    """Host paths the program tries to create; none may appear."""
    needs: tuple[str, ...] = ()
    """Executor features the case relies on (skipped where the host cannot provide them)."""
    limits: Limits = LIMITS
    computes: bool = False
    """Computes until the CPU limit: on a loaded host its wall time may stretch up to the cap."""
    marks: tuple = field(default=())


def case(name, program, *expected, **kw):
    return Case(name, program, frozenset(expected), **kw)


T, M, R = Outcome.TIMEOUT, Outcome.MEMORY_LIMIT, Outcome.RUNTIME_ERROR
OWN_UID = ("uid",)
"""Cases only a uid of the tests' own contains: as an ordinary user, programs run under the
user's uid and may signal, read and write what that uid may (the threat model says so)."""
OUT, W = Outcome.OUTPUT_LIMIT, Outcome.WRONG_ANSWER

CASES = [
    # -- hanging ------------------------------------------------------------------------------
    case("infinite_loop", "while True:\n    pass\n", T, computes=True),
    case("sleep_forever", "import time\n\ntime.sleep(10**6)\n", T),
    case(
        "spinning_threads",
        "import threading\n\n\ndef spin():\n    while True:\n        pass\n\n\n"
        "for _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\nspin()\n",
        T,
        computes=True,
    ),
    case(
        "ignore_signals",
        "import signal\n\n"
        "for sig in (signal.SIGPROF, signal.SIGXCPU, signal.SIGTERM, signal.SIGINT, signal.SIGALRM):\n"
        "    signal.signal(sig, signal.SIG_IGN)\n"
        "signal.setitimer(signal.ITIMER_PROF, 0)\n"
        "while True:\n    pass\n",
        T,
        computes=True,
    ),
    case("self_sigstop", "import os\nimport signal\n\nos.kill(os.getpid(), signal.SIGSTOP)\n", T),
    # The recursion alone needs more than the 1 s of CPU on common hardware; a fast machine may
    # reach the RecursionError first.
    case(
        "deep_recursion_python",
        "import sys\n\nsys.setrecursionlimit(10**6)\n\n\ndef f(n):\n    return f(n + 1)\n\n\nf(0)\n",
        T,
        R,
        computes=True,
    ),
    case(
        "huge_integer_unlimited_digits",
        "import sys\n\nsys.set_int_max_str_digits(0)\nprint(10**3_000_000)\n",
        T,
        computes=True,
    ),
    case(
        "many_files",
        "i = 0\nwhile True:\n    open(f'f{i}', 'w').close()\n    i += 1\n",
        T,
        computes=True,
    ),
    # -- memory -------------------------------------------------------------------------------
    case(
        "memory_list_growth",
        "chunks = []\nwhile True:\n    chunks.append('x' * 10**7)\n",
        M,
        limits=Limits(cpu_time=1.0, wall_time=3.0, memory_mb=128),  # page faults cost CPU time
    ),
    case("memory_bytearray", "data = bytearray(10**11)\n", M),
    case("memory_mmap", "import mmap\n\nm = mmap.mmap(-1, 1 << 40)\n", M),
    # Each process stays under its own address-space limit; together they would take 850 MiB.
    # The parent, the largest, is what the memory cgroup's cap kills.
    case(
        "memory_across_processes",
        "import os\nimport time\n\nr, w = os.pipe()\nkids = []\nfor _ in range(7):\n"
        "    pid = os.fork()\n    if pid == 0:\n        os.read(r, 1)\n"
        "        block = b'x' * (100 << 20)\n        time.sleep(1)\n        os._exit(0)\n"
        "    kids.append(pid)\nhold = b'x' * (150 << 20)\nos.write(w, b'g' * 7)\n"
        "ok = all(os.waitpid(pid, 0)[1] == 0 for pid in kids)\n"
        "print('all held' if ok else 'a child failed')\n",
        M,
        tests=(TestCase.stdio("", "all held\n"),),
        limits=Limits(cpu_time=2.0, wall_time=3.0, memory_mb=300),
        needs=("memcg",),
    ),
    # The kernel kills the child, the largest; the parent ignores it and prints the answer.
    # Whichever process the kernel picks, a test whose cgroup saw an OOM kill hit the limit.
    case(
        "oom_kills_a_child_the_parent_ignores",
        "import os\n\nup_r, up_w = os.pipe()\ndown_r, down_w = os.pipe()\npid = os.fork()\n"
        "if pid == 0:\n    block = b'x' * (250 << 20)\n    os.write(up_w, b'1')\n"
        "    os.read(down_r, 1)\n    os._exit(0)\nos.read(up_r, 1)\n"
        "hold = b'y' * (200 << 20)\nos.write(down_w, b'1')\n"
        "os.waitpid(pid, 0)\nprint('expected output')\n",
        M,
        limits=Limits(cpu_time=2.0, wall_time=3.0, memory_mb=300),
        needs=("memcg",),
    ),
    # -- processes ----------------------------------------------------------------------------
    case("fork_bomb", "import os\n\nwhile True:\n    os.fork()\n", R),
    case(
        "fork_bomb_swallowing_errors",
        "import os\n\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        T,
        computes=True,
    ),
    case(
        "orphan_sleeper",
        "import os\nimport time\n\nif os.fork() == 0:\n    os.setsid()\n"
        "    if os.fork() == 0:\n        time.sleep(1000)\n    os._exit(0)\ntime.sleep(0.2)\n",
        W,
    ),
    case(
        "orphan_spinner",
        "import os\n\nif os.fork() == 0:\n    os.setsid()\n"
        "    if os.fork() == 0:\n        while True:\n            pass\n    os._exit(0)\n",
        W,
    ),
    case(
        "orphan_prints_after_parent_exits",
        "import os\nimport sys\nimport time\n\nif os.fork() == 0:\n    os.setsid()\n"
        "    time.sleep(0.5)\n    print('expected output')\n    sys.stdout.flush()\n    os._exit(0)\n",
        W,
    ),
    case(
        "kill_parent",
        "import os\n\nos.kill(os.getppid(), 9)\nprint('expected output')\n",
        R,
        needs=OWN_UID,
    ),
    case("kill_own_group", "import os\n\nos.killpg(0, 9)\nprint('expected output')\n", R),
    case(
        "kill_everything",
        "import os\n\nos.kill(-1, 9)\nprint('still alive')\n",
        W,
        needs=OWN_UID,
    ),
    case(
        "child_loops_kill_everything",
        "import os\nimport time\n\nif os.fork() == 0:\n    while True:\n        try:\n"
        "            os.kill(-1, 9)\n        except OSError:\n            pass\ntime.sleep(10)\n",
        R,
        needs=OWN_UID,
    ),
    # -- output -------------------------------------------------------------------------------
    case("stdout_flood", "while True:\n    print('x' * 1000)\n", OUT),
    case("stderr_flood", "import sys\n\nwhile True:\n    sys.stderr.write('x' * 1000)\n", OUT),
    case(
        "stdout_write_generator",
        "import itertools\nimport sys\n\nfor i in itertools.count():\n    sys.stdout.write(str(i))\n",
        OUT,
    ),
    case("huge_integer_hex", "print(hex(1 << 10**7))\n", OUT),
    case(
        "huge_file_in_cwd",
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(bytes(65536))\n",
        OUT,
    ),
    case(
        "sparse_file_in_cwd",
        "with open('sparse.bin', 'wb') as f:\n    f.seek(10**12)\n    f.write(b'x')\n",
        OUT,
    ),
    case(
        "huge_file_ignoring_sigxfsz",
        "import signal\n\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(bytes(65536))\n",
        OUT,
    ),
    case(
        "deep_directories",
        "import os\n\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\n",
        W,
    ),
    # -- crashes ------------------------------------------------------------------------------
    case(
        "recursion_segfault",
        "import sys\n\nsys.setrecursionlimit(10**6)\n\n\n"
        "def f(n):\n    return list(map(f, [n + 1]))\n\n\nf(0)\n",
        R,
    ),
    case("ctypes_segfault", "import ctypes\n\nctypes.string_at(0)\n", R),
    case(
        "recursion_error_deep_traceback",
        "import sys\n\nsys.setrecursionlimit(50_000)\n\n\ndef f(n):\n    return f(n + 1)\n\n\nf(0)\n",
        R,
    ),
    case(
        "unprintable_exception",
        "class Boom(BaseException):\n    def __str__(self):\n        raise RuntimeError('no')\n\n\n"
        "raise Boom\n",
        R,
    ),
    case("huge_integer_default_limit", "print(10**100_000)\n", R),
    case("input_without_stdin", "print(input())\n", R),
    case(
        "close_every_descriptor",
        "import os\n\nos.closerange(0, 4096)\nprint('expected output')\n",
        R,
    ),
    # -- exiting before the answer: never a pass ----------------------------------------------
    case(
        "sys_exit_before_output",
        "import sys\n\nsys.exit(0)\n\n\ndef square(x):\n    return x * x\n\n\nprint('expected output')\n",
        R,
        tests=(STDIO, CHECK, CALL),
    ),
    case(
        "os_exit_before_output",
        "import os\n\nos._exit(0)\n\n\ndef square(x):\n    return x * x\n\n\nprint('expected output')\n",
        R,
        tests=(STDIO, CHECK, CALL),
    ),
    case(
        "atexit_then_exit",
        "import atexit\nimport sys\n\n\ndef square(x):\n    return x * x\n\n\n"
        "atexit.register(print, 'expected output')\nsys.exit(0)\n",
        R,
        tests=(STDIO, CHECK, CALL),
    ),
    case(
        "exit_inside_the_function",
        "import os\n\n\ndef square(x):\n    os._exit(0)\n",
        R,
        tests=(CHECK, CALL),
    ),
    # -- escaping -----------------------------------------------------------------------------
    case(
        "connect_loopback_through_libc",
        "import ctypes\nimport struct\n\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "fd = libc.socket(2, 1, 0)\n"
        "addr = struct.pack('!HH4s8x', 2, @PORT@, bytes([127, 0, 0, 1]))\n"
        "addr = struct.pack('H', 2) + addr[2:]\n"
        "if fd >= 0 and libc.connect(fd, addr, len(addr)) == 0:\n"
        "    libc.write(fd, b'hi', 2)\n    print('CONNECTED')\nraise SystemExit(1)\n",
        R,
        forbidden=("CONNECTED",),
    ),
    case(
        "unmount_private_tmp",
        "import ctypes\n\nlibc = ctypes.CDLL(None)\nfor _ in range(3):\n"
        "    libc.umount2(b'/tmp', 2)\n"
        "with open('/tmp/codegym-hostile-pwned', 'w') as f:\n    f.write('pwned')\n",
        R,
        targets=("/tmp/codegym-hostile-pwned",),
    ),
    case(
        "connect_loopback",
        "import socket\n\nfor host in ('127.0.0.1', 'localhost', '::1'):\n    try:\n"
        "        socket.create_connection((host, @PORT@), timeout=1).sendall(b'hi')\n"
        "        print('CONNECTED', host)\n    except OSError:\n        pass\nraise SystemExit(1)\n",
        R,
        forbidden=("CONNECTED",),
        needs=("netns",),
    ),
    case(
        "connect_abstract_unix_socket",
        "import socket\n\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect('\\0@ABSTRACT@')\ns.sendall(b'hi')\nprint('CONNECTED')\n",
        R,
        forbidden=("CONNECTED",),
        needs=("netns",),
    ),
    case(
        "secret_environment",
        "import os\n\nblob = repr(dict(os.environ))\n"
        "paths = ['/proc/self/environ', '/proc/1/environ', '/proc/@HOSTPID@/environ']\n"
        "paths += [f'/proc/{p}/environ' for p in os.listdir('/proc') if p.isdigit()]\n"
        "for path in paths:\n    try:\n        with open(path, 'rb') as f:\n"
        "            blob += f.read().decode('latin-1')\n    except OSError as exc:\n"
        "        blob += repr(exc)\n"
        "print('LEAK' if 'hunter' + '2' in blob else 'CLEAN')\nprint(blob[:2000])\n",
        W,
        forbidden=("LEAK",),
        needs=OWN_UID,
    ),
    case(
        "write_tmp",
        "with open('/tmp/x', 'w') as f:\n    f.write('pwned')\n",
        R,
        targets=("/tmp/x",),
    ),
    case(
        "write_world_writable_dirs",
        "import os\n\nfor d in ('/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/dev/mqueue'):\n"
        "    path = os.path.join(d, 'codegym-hostile-pwned')\n    try:\n"
        "        with open(path, 'w') as f:\n            f.write('pwned')\n"
        "        print('WROTE', path)\n    except OSError:\n        pass\nraise SystemExit(1)\n",
        R,
        # /dev/shm is writable (multiprocessing's semaphores live there), but it is the
        # namespace's own, emptied after every test: nothing reaches the host's.
        forbidden=tuple(f"WROTE {d}/" for d in ("/tmp", "/var/tmp", "/run/lock", "/dev/mqueue")),
        targets=tuple(
            f"{d}/codegym-hostile-pwned" for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
        ),
        needs=("mountns",),
    ),
    case(
        "write_repository",
        "with open('@REPO@/codegym-hostile-pwned', 'w') as f:\n    f.write('pwned')\n",
        R,
        targets=(f"{REPO}/codegym-hostile-pwned",),
        needs=OWN_UID,
    ),
    case(
        "write_home",
        "with open('@HOME@/codegym-hostile-pwned', 'w') as f:\n    f.write('pwned')\n",
        R,
        targets=(f"{HOME}/codegym-hostile-pwned",),
        needs=OWN_UID,
    ),
    case("read_etc_shadow", "print(open('/etc/shadow').read())\n", R, forbidden=("root:",)),
    case(
        "read_home",
        "import os\nimport sys\n\n"
        "exposed = [os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, *sys.path) if p]\n\n\n"
        "def is_exposed(path):\n    path = os.path.realpath(path)\n"
        "    return any(path == p or path.startswith(p + os.sep) for p in exposed)\n\n\n"
        "for root, dirs, files in os.walk('@HOME@'):\n"
        "    dirs[:] = [d for d in dirs if not is_exposed(os.path.join(root, d))]\n"
        "    for name in files:\n        path = os.path.join(root, name)\n"
        "        if is_exposed(path):\n            continue\n"
        "        try:\n            with open(path, 'rb') as f:\n                f.read(1)\n"
        "            print('READ', path)\n        except OSError:\n            pass\n",
        W,
        forbidden=("READ",),
        needs=OWN_UID,
    ),
    case(
        "cwd_files_become_symlinks_to_shadow",
        "import os\n\nfor name in os.listdir('.'):\n    os.remove(name)\n"
        "    os.symlink('/etc/shadow', name)\n",
        W,
        forbidden=("root:",),
    ),
    case(
        "cwd_files_become_symlinks_to_host_environ",
        "import os\n\nfor name in os.listdir('.'):\n    os.remove(name)\n"
        "    os.symlink('/proc/@HOSTPID@/environ', name)\n",
        W,
        forbidden=("PATH=",),
    ),
    case(
        "cwd_files_become_fifos",
        "import os\n\nfor name in os.listdir('.'):\n    os.remove(name)\n    os.mkfifo(name)\n",
        W,
    ),
    case("setuid_root", "import os\n\nos.setuid(0)\nprint('expected output')\n", R),
    case(
        "chmod_chown",
        "import os\n\nwith open('mine', 'w') as f:\n    f.write('x')\nos.chmod('mine', 0o7777)\n"
        "os.chmod('.', 0o777)\n"
        "for attempt in (lambda: os.chmod('/tmp', 0o777), lambda: os.chown('mine', 0, 0),\n"
        "                lambda: os.chmod('@REPO@', 0o777), lambda: os.chown('.', 0, 0)):\n"
        "    try:\n        attempt()\n        print('ALLOWED')\n    except OSError:\n        pass\n"
        "raise SystemExit(1)\n",
        R,
        forbidden=("ALLOWED",),
        needs=OWN_UID,
    ),
    # -- fooling the judge --------------------------------------------------------------------
    case(
        "expected_output_via_gc",
        "import gc\n\nfor obj in gc.get_objects():\n"
        "    if type(obj).__name__ == 'TestCase' and getattr(obj, 'expected_output', None):\n"
        "        print(obj.expected_output, end='')\n        break\n",
        W,
    ),
    case(
        "expected_value_via_frames",
        "import sys\n\n\ndef guess():\n    frame = sys._getframe(1)\n    while frame is not None:\n"
        "        test = frame.f_locals.get('test')\n"
        "        if getattr(test, 'expected', None) is not None:\n            return test.expected\n"
        "        frame = frame.f_back\n",
        W,
        tests=(TestCase.call("guess", [], 7919),),
    ),
    case(
        "always_equal_return_value",
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n\n"
        "def square(x):\n    return Anything()\n",
        W,
        R,
        tests=(CHECK,),
    ),
    case(
        "always_equal_int_subclass",
        "class Anything(int):\n    def __eq__(self, other):\n        return True\n\n\n"
        "def square(x):\n    return [Anything()]\n",
        W,
        R,
        tests=(
            TestCase.check("def check(candidate):\n    assert candidate(2) == [4]\n", "square"),
        ),
    ),
    case(
        "shadow_builtins_the_check_uses",
        "import builtins\n\nbuiltins.abs = lambda x: 0\nabs = lambda x: 0\n\n\n"
        "def square(x):\n    return 0.0\n",
        W,
        R,
        tests=(
            TestCase.check(
                "def check(candidate):\n    assert abs(candidate(2) - 4) < 1e-6\n", "square"
            ),
        ),
    ),
    case(
        "forged_result_record",
        "import json\nimport os\nimport struct\nimport sys\n\nframe = sys._getframe()\n"
        "while 'shm' not in frame.f_locals:\n    frame = frame.f_back\n"
        "shm = frame.f_locals['shm']\ndata = json.dumps({'status': 'ok', 'returned': 'true'}).encode() + b'\\n'\n"
        "shm[4 : 4 + len(data)] = data\nshm[0:4] = struct.pack('!I', len(data))\nos._exit(0)\n",
        R,
        W,
        tests=(CHECK,),
        marks=(
            pytest.mark.xfail(
                strict=True,
                reason="the result travels through memory the program's own process can reach; "
                "it can write a passing record and exit (known limitation)",
            ),
        ),
    ),
]


# ------------------------------------------------------------------------------------------------
# The host side: one executor, listeners, and what "nothing left behind" means.
# ------------------------------------------------------------------------------------------------


@dataclass
class Host:
    executor: Executor
    tcp: socket.socket
    unix: socket.socket
    abstract: str
    uids: set[int] = field(default_factory=set)

    def substitute(self, program: str) -> str:
        for token, value in (
            ("@PORT@", str(self.tcp.getsockname()[1])),
            ("@ABSTRACT@", self.abstract),
            ("@HOSTPID@", str(os.getpid())),
            ("@REPO@", REPO),
            ("@HOME@", HOME),
        ):
            program = program.replace(token, value)
        return program

    def servers(self) -> dict[int, int | None]:
        """This process's sandbox servers, pid to uid slot (None without one: an ordinary user);
        their uids join ``self.uids``."""
        found: dict[int, int | None] = {}
        for pid in _pids():
            try:
                if _status_field(pid, "PPid") != os.getpid():
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"codegym.sandbox._server" not in f.read():
                        continue
                found[pid] = None
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    name = os.path.basename(os.readlink(f"/proc/{pid}/fd/{fd}"))
                    if name.endswith(".lock") and name[:-5].isdigit():
                        found[pid] = int(name[:-5])
            except (OSError, ValueError):
                continue
        self.uids.update(uid for uid in found.values() if uid is not None)
        return found

    def sandbox_processes(self) -> list[tuple[int, int]]:
        """Live processes of the tests: running as one of this module's sandbox uids, or below a
        server in a session other than the server's (every test's process starts a session of
        its own; the zygote stays in the server's)."""
        out = []
        for server in self.servers():
            try:
                sid = _stat_field(server, 6)
            except (OSError, ValueError):
                continue
            for pid in _isolation.descendants(root=server):
                try:
                    if _stat_field(pid, 6) != sid:
                        out.append((pid, _status_field(pid, "Uid")))
                except (OSError, ValueError):
                    continue
        for pid in _pids():
            try:
                uid = _status_field(pid, "Uid")
            except (OSError, ValueError):
                continue
            if uid in self.uids:
                out.append((pid, uid))
        return out

    def accepted(self) -> list[str]:
        out = []
        for listener in (self.tcp, self.unix):
            try:
                conn, addr = listener.accept()
            except BlockingIOError:
                continue
            conn.close()
            out.append(repr(addr))
        return out


def _stat_field(pid: int, index: int) -> int:
    """Field ``index`` (1-based, as proc(5) numbers them, from 3 on) of /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rfind(b")") + 2 :].split()[index - 3])


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _status_field(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise ValueError(name)


def _tmp_snapshot() -> set[str]:
    entries = set(os.listdir("/tmp"))
    if os.path.isdir("/tmp/codegym-run"):  # a run root must never appear on the host
        entries |= {f"codegym-run/{n}" for n in os.listdir("/tmp/codegym-run")}
    return entries


def _ours(name: str) -> bool:
    """Whether a new /tmp entry can come from the sandbox (other tools share this /tmp)."""
    if name == "codegym-sandbox-uids" or name.startswith("pytest-of-"):
        return False
    try:
        uid = os.lstat(os.path.join("/tmp", name)).st_uid
    except OSError:
        return False  # already gone
    return uid in SANDBOX_UIDS or name.startswith(("codegym-run", "codegym-hostile")) or name == "x"


@pytest.fixture(scope="module")
def host():
    old_secret = os.environ.get(SECRET_VAR)
    os.environ[SECRET_VAR] = SECRET  # before any server starts
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.setblocking(False)
    abstract = f"codegym-hostile-{os.getpid()}"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + abstract)
    unix.listen(8)
    unix.setblocking(False)
    executor = Executor(workers=2, limits=LIMITS)
    try:
        # Start both servers (two overlapping runs) so every case runs on a warm one.
        warm = [
            (f"import time\ntime.sleep(0.3)\nprint('ok')  # {i}\n", [TestCase.stdio("", "ok\n")])
            for i in range(2)
        ]
        assert all(r.passed for r in executor.run_many(warm))
        h = Host(executor, tcp, unix, abstract)
        assert len(h.servers()) >= 2
        yield h
    finally:
        executor.close()
        tcp.close()
        unix.close()
        if old_secret is None:
            os.environ.pop(SECRET_VAR, None)
        else:
            os.environ[SECRET_VAR] = old_secret


def _failures(result: ExecutionResult) -> str:
    return "; ".join(f"{t.outcome.value}: {t.detail[:200]}" for t in result.tests) or str(
        result.infra_error or result.compile_error
    )


def _texts(result: ExecutionResult) -> str:
    parts = [result.infra_error or "", result.compile_error or ""]
    for t in result.tests:
        parts += [t.stdout, t.stderr, t.detail, t.exception or ""]
    return "\n".join(parts)


def run_hostile(
    host: Host, program: str, tests, limits: Limits = LIMITS, computes: bool = False
) -> tuple[ExecutionResult, float]:
    """Run one program and assert everything that must hold whatever it did."""
    tmp_before = _tmp_snapshot()
    servers_before = host.servers()
    start = time.monotonic()
    result = host.executor.run(program, list(tests), limits=limits)
    elapsed = time.monotonic() - start

    assert result.outcome is not Outcome.INFRA_ERROR, result.infra_error
    assert result.outcome is not Outcome.PASSED
    assert result.tests and all(t.outcome is not Outcome.PASSED for t in result.tests)
    # A program that computes runs on, however starved by machine load, until its CPU time
    # decides, up to the absolute cap; one that sleeps or blocks ends at the first backstop.
    bound = (limits.hard_wall_time if computes else limits.effective_wall_time) + SLACK
    assert elapsed <= bound, f"took {elapsed:.1f} s"
    for t in result.tests:
        assert t.cpu_time <= limits.cpu_time + CPU_CEILING, f"used {t.cpu_time:.1f} s of CPU"
    assert SECRET not in _texts(result)
    assert not host.sandbox_processes(), "sandbox processes left behind"
    dead = [pid for pid in servers_before if not os.path.exists(f"/proc/{pid}")]
    assert not dead, f"sandbox servers died: {dead}"
    new_tmp = sorted(n for n in _tmp_snapshot() - tmp_before if _ours(n))
    assert not new_tmp, f"new entries in the host's /tmp: {new_tmp}"
    assert not host.accepted(), "a sandboxed program connected to a host socket"
    return result, elapsed


def _needs_own_uid(host: Host) -> None:
    if "uid" not in host.executor.features:
        pytest.skip("programs run under this user's uid: kill(-1) would reach the test runner")


@pytest.mark.parametrize("c", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_hostile_program(host, c):
    missing = [f for f in c.needs if f not in host.executor.features]
    if missing:
        pytest.skip(f"the sandbox here lacks {missing}")
    existed = {p: os.path.lexists(p) for p in c.targets}
    result, _ = run_hostile(host, host.substitute(c.program), c.tests, c.limits, c.computes)
    assert result.outcome in c.expected, f"{result.outcome.value} ({_failures(result)})"
    texts = _texts(result)
    for word in c.forbidden:
        assert word not in texts, f"{word!r} reached the result"
    created = [p for p, before in existed.items() if os.path.lexists(p) and not before]
    assert not created, f"written outside the working directory: {created}"


def test_kill_loop_never_takes_down_the_server(host):
    """A child looping on kill(-1, SIGKILL) races the server's cleanup, run after run."""
    _needs_own_uid(host)
    program = next(c.program for c in CASES if c.name == "child_loops_kill_everything")
    for i in range(25):
        result, _ = run_hostile(host, program + f"# run {i}\n", [STDIO])
        assert result.outcome is Outcome.RUNTIME_ERROR, _failures(result)


def test_kill_everything_in_one_worker_spares_the_other(host):
    _needs_own_uid(host)
    killer = (
        "import os\nimport time\n\nend = time.monotonic() + 1.0\n"
        "while time.monotonic() < end:\n    os.kill(-1, 9)\n    time.sleep(0.001)\n"
    )
    honest = "import time\n\ntime.sleep(0.5)\nprint(input())\n"
    killed, survived = host.executor.run_many(
        [(killer, [STDIO]), (honest, [TestCase.stdio("still here\n", "still here\n")])]
    )
    assert killed.outcome is Outcome.WRONG_ANSWER, _failures(killed)
    assert survived.outcome is Outcome.PASSED, _failures(survived)
    assert not host.sandbox_processes()


def test_fork_bomb_does_not_slow_the_next_program(host):
    bomb = next(c.program for c in CASES if c.name == "fork_bomb_swallowing_errors")
    result, _ = run_hostile(host, bomb + "# again\n", [STDIO], computes=True)
    assert result.outcome is Outcome.TIMEOUT
    # The next program may use processes up to the limit again, at once.
    program = (
        "import os\n\nchildren = []\nfor _ in range(16):\n    pid = os.fork()\n"
        "    if pid == 0:\n        os._exit(7)\n    children.append(pid)\n"
        "print(sum(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in children))\n"
    )
    start = time.monotonic()
    result = host.executor.run(program, [TestCase.stdio("", "112\n")], limits=LIMITS)
    elapsed = time.monotonic() - start
    assert result.outcome is Outcome.PASSED, _failures(result)
    assert elapsed < 2.5, f"the program after a fork bomb took {elapsed:.1f} s"
    assert not host.sandbox_processes()


def test_servers_survive_and_still_judge_correct_programs(host):
    """Runs last: after every hostile program, both servers judge a correct program and their
    private temp directories hold nothing but the current run."""
    program = (
        "import os\nimport time\n\nrun_root = os.path.dirname(os.getcwd())\n"
        "tidy = os.listdir(run_root) == [os.path.basename(os.getcwd())]\n"
        "time.sleep(0.3)\n"
        "print(int(input()) ** 2 if tidy else sorted(os.listdir(run_root)))\n"
    )
    results = host.executor.run_many(
        [(program + f"# worker {i}\n", [TestCase.stdio("12\n", "144\n")]) for i in range(2)]
    )
    assert all(r.outcome is Outcome.PASSED for r in results), [_failures(r) for r in results]
    assert host.executor.stats["infra_errors"] == 0
    assert not host.sandbox_processes()
