"""Linux isolation primitives for the sandbox server: namespaces, mounts, uid slots, reaping.

Used only inside the sandbox server process (``_server``), never in the caller's process. Every
function degrades to a no-op that reports what it could not do, so the sandbox still runs (with
less isolation, said plainly in a warning) where the OS or the user's privileges refuse.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import stat
import sys
import tempfile
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

UID_BASE = 61000
UID_COUNT = 1000
LOCK_DIR = "/tmp/codegym-sandbox-uids"

_libc = ctypes.CDLL(None, use_errno=True)
# Typed once: every test's child calls it, and untyped arguments cost a conversion object each.
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
_prctl.restype = ctypes.c_int


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int) -> None:
    _check(_prctl(option, arg, 0, 0, 0), f"prctl({option})")


M_ARENA_MAX = -8


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas (inherited by forked children). True where it took effect.

    Each thread that mallocs may otherwise get an arena of its own, reserving 64 MiB of address
    space, so under ``RLIMIT_AS`` a program could start only a handful of threads.
    """
    try:
        return bool(_libc.mallopt(M_ARENA_MAX, count))
    except AttributeError:  # not glibc
        return False


CLONE_PARENT = 0x00008000
# clone(2)'s number where its first two arguments are (flags, stack): the others stay 0 here.
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine)
# Through the Python-aware loader, so the call keeps the GIL: the clone returns in both processes
# with the interpreter's state as it was, the GIL held by the one thread there is.
_syscall = ctypes.PyDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long] * 6


def can_clone_sibling() -> bool:
    """True where :func:`clone_sibling` works (Linux on x86-64 or arm64)."""
    return sys.platform.startswith("linux") and _SYS_CLONE is not None


def clone_sibling() -> int:
    """Fork this process into a new one whose parent is this process's parent (``CLONE_PARENT``).

    Returns 0 in the new process and its pid here, like ``fork``. Unlike ``os.fork`` it runs no
    at-fork handlers: callers use it in a single-threaded process that only spawns tests (the
    sandbox's zygote), so that every child is the sandbox server's own, to wait for and reap.
    """
    pid = _syscall(_SYS_CLONE, CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


class Children:
    """This process's children other than ``spare`` (the zygote), read from ``/proc``.

    The file stays open: re-reading it from offset 0 costs about 2 µs, opening it anew about 25 µs,
    and :func:`reap_all` asks after every test. Only for a single-threaded process.
    """

    def __init__(self, spare: int) -> None:
        self.spare = spare
        path = f"/proc/self/task/{os.getpid()}/children"
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def none_but_spare(self) -> bool:
        return all(int(pid) == self.spare for pid in os.pread(self.fd, 1 << 16, 0).split())


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def umount_detach(target: str) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def acquire_uid_slot() -> tuple[int, int]:
    """Reserve a uid no other codegym sandbox on this host uses; returns ``(uid, lock_fd)``.

    The reservation is an advisory ``flock`` held for the server's lifetime, so concurrent
    executors (vector envs, test workers) never share a uid, and killing "every process of this
    uid" only ever hits this server's own programs.
    """
    os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
    start = (os.getpid() * 7) % UID_COUNT
    for i in range(UID_COUNT):
        uid = UID_BASE + (start + i) % UID_COUNT
        fd = os.open(os.path.join(LOCK_DIR, f"{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        # A server killed from outside (SIGKILL, OOM) cannot reap its last test: processes that
        # program left behind may still run as this uid. They are this slot's now; end them.
        kill_uid(uid)
        return uid, fd
    raise OSError(errno.EAGAIN, "no free sandbox uid slot")


def _blocking_ancestor(path: str) -> str | None:
    """The highest ancestor of ``path`` that an unrelated uid cannot traverse, if any."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts) + 1):
        ancestor = os.sep.join(parts[:i]) or os.sep
        try:
            mode = os.stat(ancestor).st_mode
        except OSError:
            return None
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return ancestor
    return None


def expose_readonly(paths: list[str]) -> list[str]:
    """Make ``paths`` readable to unprivileged uids inside this mount namespace.

    Interpreters installed under a private home (pyenv under ``/root``) cannot be read by the
    sandbox uid. For each such private ancestor, mount an empty tmpfs over it and bind back only
    the needed paths, read-only. The rest of the private tree stays hidden from programs.
    Returns the private ancestors that were covered.
    """
    groups: dict[str, list[str]] = {}
    for path in paths:
        real = os.path.realpath(path)
        # A path this process cannot read itself (a user's PYTHONPATH entry under /root) cannot
        # be bound either: programs go without it rather than without every namespace.
        if os.path.isdir(real) and os.access(real, os.R_OK | os.X_OK):
            top = _blocking_ancestor(real)
            if top is not None:
                groups.setdefault(top, []).append(real)
    for top, needed in groups.items():
        needed = sorted(set(needed))
        # A path inside another needed path comes along with it.
        needed = [p for p in needed if not any(p != q and p.startswith(q + os.sep) for q in needed)]
        # Root stages in its lock directory, not in /tmp itself: nothing transient shows there.
        staging = tempfile.mkdtemp(prefix="stage-", dir=LOCK_DIR if os.geteuid() == 0 else None)
        try:
            mount(top, staging, None, MS_BIND | MS_REC)
            mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
            for path in needed:
                rel = os.path.relpath(path, top)
                os.makedirs(path, exist_ok=True)
                for parent in _parents_between(top, path):
                    os.chmod(parent, 0o755)
                mount(os.path.join(staging, rel), path, None, MS_BIND | MS_REC)
                remount_readonly(path)
        finally:
            umount_detach(staging)
            os.rmdir(staging)
    return list(groups)


def _parents_between(top: str, path: str) -> list[str]:
    out, cur = [], path
    while cur != top and cur != os.sep:
        out.append(cur)
        cur = os.path.dirname(cur)
    out.append(top)
    return out


def private_tmp(run_root: str, size_mb: int) -> None:
    """Give this namespace fresh temp directories: ``/tmp`` holding only ``run_root`` (a tmpfs of
    ``size_mb`` for the tests' working directories), ``/dev/shm`` writable by all (POSIX
    semaphores: ``multiprocessing``), the others empty and read-only. :func:`seal_tmp` then makes
    ``/tmp`` itself read-only: where programs share this process's uid (an ordinary user), its
    mode alone would not keep them out."""
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    os.makedirs(run_root, mode=0o755, exist_ok=True)
    mount("tmpfs", run_root, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=755,size={size_mb}m")
    for path, flags, mode in (
        ("/var/tmp", MS_RDONLY, "755"),
        ("/dev/shm", 0, "1777"),
        ("/run/lock", MS_RDONLY, "755"),
        ("/dev/mqueue", MS_RDONLY, "755"),
    ):
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | flags, f"mode={mode},size=64m")
            except OSError:
                pass


def seal_tmp() -> None:
    """Make the private ``/tmp`` read-only (its run folder, a mount of its own, stays writable)."""
    mount("none", "/tmp", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _in_temp_dir(path: str) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in TEMP_DIRS)


def setup_namespaces(expose: list[str], run_root: str, tmp_mb: int) -> list[str]:
    """Enter new mount and network namespaces (root, or root inside a user namespace): no network,
    private temp directories, private homes hidden but for the interpreter's paths; returns the
    isolation features in force."""
    unshare(CLONE_NEWNS | CLONE_NEWNET)
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    # A temp directory itself (a script run from /tmp puts it on sys.path) is not the
    # interpreter's to keep: binding it back would cover the private one.
    real = sorted({os.path.realpath(p) for p in expose if os.path.isdir(p)} - set(TEMP_DIRS))
    # A virtualenv (or an interpreter) under /tmp would vanish under the private /tmp: hold it
    # open now, bind it back afterwards.
    held = {
        p: os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for p in real if _in_temp_dir(p)
    }
    try:
        expose_readonly([p for p in real if p not in held])
        private_tmp(run_root, tmp_mb)
        for path, fd in held.items():
            os.makedirs(path, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            remount_readonly(path)
        seal_tmp()
    finally:
        for fd in held.values():
            os.close(fd)
    return ["netns", "mountns", "private-tmp"]


def remount_readonly(path: str) -> None:
    """Make the bind mount at ``path`` read-only. Inside a user namespace the flags a mount
    inherited from the host are locked and must be repeated, so retry with them on refusal."""
    try:
        mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    except PermissionError:
        kept = os.statvfs(path).f_flag & (MS_NOSUID | MS_NODEV | _MS_NOEXEC | _MS_ATIME_FLAGS)
        mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


_MS_NOEXEC = 8
_MS_ATIME_FLAGS = 1024 | 2048 | (1 << 21)  # MS_NOATIME, MS_NODIRATIME, MS_RELATIME (= ST_*)


def enter_user_namespace(slot: int | None) -> None:
    """Enter a new user namespace, where this process holds every capability over namespaces it
    makes next (mount, network) without holding them on the host.

    ``slot`` None (an ordinary user): only this process's own uid and gid are mapped. With a
    slot (root without ``CAP_SYS_ADMIN``, as in a default Docker container): root and the slot
    uid are mapped to themselves, so tests still drop to the slot uid. Writing such a map needs
    ``CAP_SETUID`` in the parent namespace, so a helper left outside writes it.
    """
    if slot is None:
        uid, gid = os.getuid(), os.getgid()
        unshare(CLONE_NEWUSER)
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        return
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: stays in the parent namespace
        code = 1
        try:
            os.close(go_w)
            if os.read(go_r, 1) == b"1":
                target = os.getppid()
                for name in ("uid_map", "gid_map"):
                    with open(f"/proc/{target}/{name}", "w") as f:
                        f.write(f"0 0 1\n{slot} {slot} 1\n")
                code = 0
        finally:
            os._exit(code)
    os.close(go_r)
    try:
        unshare(CLONE_NEWUSER)
        os.write(go_w, b"1")
    finally:
        os.close(go_w)
        _, status = os.waitpid(pid, 0)
    if status != 0:
        raise OSError(errno.EPERM, "could not map the sandbox uid into a user namespace")


def kill_uid(uid: int) -> None:
    """SIGKILL every process whose real or saved uid is ``uid``, as that uid.

    A short-lived forked helper takes the slot uid as real, effective and saved uid, so
    ``kill(-1)`` reaches exactly that uid's processes: escaped sessions and daemons too. The caller
    never changes its own uids: while its real uid were the slot uid, a program looping on
    ``kill(-1, SIGKILL)`` could kill the server. A helper killed that way is simply retried by
    :func:`reap_all`.
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            for _ in range(3):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def descendants(exclude: int | None = None, root: int | None = None) -> list[int]:
    """Every descendant of ``root`` (this process by default: the children of all its threads,
    recursively), but ``exclude`` and what descends from it. A process whose parent dies is
    reparented to this one (a child subreaper), so nothing a test started escapes this walk,
    whatever its session."""
    out, stack = [], [os.getpid() if root is None else root]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(p) for p in f.read().split()]
            except OSError:
                continue
            kids = [k for k in kids if k != exclude]
            out += kids
            stack += kids
    return out


def kill_descendants(exclude: int | None = None) -> None:
    """SIGKILL every descendant but ``exclude`` (the zygote), where tests have no uid of their
    own to kill by."""
    for pid in descendants(exclude):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def descendants_cpu(exclude: int | None = None) -> float:
    """CPU seconds used by the descendants of this process (live or not yet reaped, with the
    children they reaped): a test's CPU where no cgroup counts it."""
    total = 0
    for pid in descendants(exclude):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / _CLK_TCK


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def kill_test_processes(uid: int | None, spare: int | None) -> None:
    """SIGKILL what tests left: every descendant but ``spare`` (the zygote), and with a slot
    ``uid`` every process of it. Descendants first, directly: a program looping on ``kill(-1)``
    as the slot uid kills the helper of :func:`kill_uid`, run after run, but cannot touch this
    server; the uid then, all of its processes at once, however fast they fork."""
    kill_descendants(spare)
    if uid is not None:
        kill_uid(uid)


def reap_all(uid: int | None, deadline: float, children: Children | None = None) -> bool:
    """Kill and reap every descendant (this process is a child subreaper). True if none remain.

    Cheap when nothing is left, the common case: the killing is skipped when this process has no
    child at all. That proves no process of the test survives. Every process of the slot uid
    descends from this server (the uid is ours alone by its lock, and ``no_new_privs`` rules out
    setuid binaries), and a live descendant always has a live parent chain up to a child of this
    server: a process whose parent dies is reparented to the nearest living subreaper above it,
    this server at the latest. So when ``waitpid`` reports no child (ECHILD), none is alive, and
    ``kill(-1)`` as the slot uid would find nothing to kill. Otherwise (a live child, or a zombie
    that reparenting just brought) the descendants are killed, and the uid with them, and the
    loop repeats until none remain.
    With ``children``, "no child" means none but its spare (the zygote, no test's process).
    """
    while True:
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
        except ChildProcessError:
            return True
        if children is not None and children.none_but_spare():
            return True
        kill_test_processes(uid, children.spare if children is not None else None)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0005)


def python_paths() -> list[str]:
    """Directories a program's interpreter must be able to read (stdlib, site-packages)."""
    paths = {
        sys.base_prefix,
        sys.prefix,
        sys.exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(paths)
