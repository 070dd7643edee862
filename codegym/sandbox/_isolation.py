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
        if os.path.isdir(real):
            top = _blocking_ancestor(real)
            if top is not None:
                groups.setdefault(top, []).append(real)
    for top, needed in groups.items():
        needed = sorted(set(needed))
        # A path inside another needed path comes along with it.
        needed = [p for p in needed if not any(p != q and p.startswith(q + os.sep) for q in needed)]
        staging = tempfile.mkdtemp(
            prefix="stage-", dir=LOCK_DIR
        )  # not in /tmp: nothing transient shows there
        try:
            mount(top, staging, None, MS_BIND | MS_REC)
            mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
            for path in needed:
                rel = os.path.relpath(path, top)
                os.makedirs(path, exist_ok=True)
                for parent in _parents_between(top, path):
                    os.chmod(parent, 0o755)
                mount(os.path.join(staging, rel), path, None, MS_BIND | MS_REC)
                mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
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
    """Give this namespace fresh, root-owned temp directories; programs write only in their cwd."""
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=755,size={size_mb}m")
    for path in ("/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"):
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
            except OSError:
                pass
    os.makedirs(run_root, mode=0o755, exist_ok=True)


def setup_namespaces(expose: list[str], run_root: str, tmp_mb: int) -> list[str]:
    """Enter new mount and network namespaces (root only); returns the isolation features in force."""
    features = []
    unshare(CLONE_NEWNS | CLONE_NEWNET)
    features += ["netns", "mountns"]
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    expose_readonly(expose)
    private_tmp(run_root, tmp_mb)
    features.append("private-tmp")
    return features


def setup_unprivileged_netns() -> bool:
    """Without root: try a user namespace, for a private network namespace. True on success."""
    uid, gid = os.getuid(), os.getgid()
    try:
        unshare(CLONE_NEWUSER | CLONE_NEWNET)
    except OSError:
        return False
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    except OSError:
        pass
    return True


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


def kill_descendants() -> None:
    """SIGKILL this process's children (used without root, where uids cannot be switched)."""
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def reap_all(uid: int | None, deadline: float, children: Children | None = None) -> bool:
    """Kill and reap every descendant (this process is a child subreaper). True if none remain.

    Cheap when nothing is left, the common case: the killing is skipped when this process has no
    child at all. That proves no process of the test survives. Every process of the slot uid
    descends from this server (the uid is ours alone by its lock, and ``no_new_privs`` rules out
    setuid binaries), and a live descendant always has a live parent chain up to a child of this
    server: a process whose parent dies is reparented to the nearest living subreaper above it,
    this server at the latest. So when ``waitpid`` reports no child (ECHILD), none is alive, and
    ``kill(-1)`` as the slot uid would find nothing to kill. Otherwise (a live child, or a zombie
    that reparenting just brought) the uid is killed and the loop repeats until none remain.
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
        if uid is not None:
            kill_uid(uid)
        else:
            kill_descendants()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0005)


MEMCG_HEADROOM_MB = 64
"""Memory a test's processes may use together beyond ``memory_mb``: each Python process copies
some of the interpreter's pages as it runs."""


class MemoryCgroup:
    """A memory cgroup (v1 or v2) for the tests of one uid slot: a cap on what all of a test's
    processes use together, which per-process ``RLIMIT_AS`` does not give (``processes`` of them
    could each take ``memory_mb``).

    A test's process joins it by writing ``0`` to :attr:`procs_fd` before it runs the program;
    its descendants inherit it. Whenever the cap is hit the kernel kills one of them, and
    :meth:`oom_kills` counts it.
    """

    def __init__(self, path: str, limit_file: str, events_file: str) -> None:
        self.path = path
        self.limit_file = os.path.join(path, limit_file)
        self.procs_fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        self._events_fd = os.open(os.path.join(path, events_file), os.O_RDONLY | os.O_CLOEXEC)
        self.limit = -1
        try:
            self._probe()
        except OSError:
            self.remove()
            raise

    def _probe(self) -> None:
        """Check, with a throwaway child, that a process can join and that the limit can be set:
        some hosts refuse one or the other, and every test would then fail to start."""
        self.set_limit(1 << 30)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.write(self.procs_fd, b"0")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise OSError(errno.EPERM, f"a process cannot join the memory cgroup {self.path}")

    @classmethod
    def create(cls, name: str) -> MemoryCgroup:
        """Make (or reuse) cgroup ``name`` below this process's own memory cgroup; OSError where
        the host has none this process may create."""
        v1 = _own_cgroup("memory")
        if v1 is not None and os.path.isdir(f"/sys/fs/cgroup/memory{v1}"):
            path = os.path.join(f"/sys/fs/cgroup/memory{v1}", name)
            os.makedirs(path, exist_ok=True)
            return cls(path, "memory.limit_in_bytes", "memory.oom_control")
        # cgroup v2: only where this process's cgroup hands the memory controller down (a
        # delegated subtree); a cgroup that holds processes itself usually cannot.
        v2 = _own_cgroup("")
        base = f"/sys/fs/cgroup{v2}" if v2 is not None else None
        if base is None or not os.path.exists(os.path.join(base, "cgroup.subtree_control")):
            raise OSError(errno.ENOENT, "no memory cgroup hierarchy")
        with open(os.path.join(base, "cgroup.subtree_control")) as f:
            if "memory" not in f.read().split():
                raise OSError(errno.EPERM, f"{base} does not delegate the memory controller")
        path = os.path.join(base, name)
        os.makedirs(path, exist_ok=True)
        return cls(path, "memory.max", "memory.events")

    def set_limit(self, limit_bytes: int) -> None:
        if limit_bytes != self.limit:
            with open(self.limit_file, "w") as f:
                f.write(str(limit_bytes))
            self.limit = limit_bytes

    def oom_kills(self) -> int:
        """How many processes the kernel has killed in this cgroup for hitting its cap."""
        for line in os.pread(self._events_fd, 4096, 0).decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self, wait: float = 0.0) -> None:
        """Delete the cgroup, waiting up to ``wait`` seconds for the processes in it to exit."""
        os.close(self.procs_fd)
        os.close(self._events_fd)
        deadline = time.monotonic() + wait
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.01)


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path for a v1 ``controller``, or its v2 path for ``""``."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers.split(",") == [controller] or (controller == "" and controllers == ""):
            return path.rstrip("/")
    return None


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
