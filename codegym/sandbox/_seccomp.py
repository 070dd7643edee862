"""What a test's process may ask of the kernel: a seccomp filter on sockets, and no capabilities."""

from __future__ import annotations

import ctypes
import errno
import os

from codegym.sandbox._isolation import _prctl, _syscall

# -- seccomp: no network sockets ------------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(os.uname().machine)
_NR = {  # socket, io_uring_setup (io_uring can open sockets without the socket() syscall)
    "x86_64": (41, 425),
    "aarch64": (198, 425),
}.get(os.uname().machine)
_X32_BIT = 0x40000000
_AF_UNIX = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_EACCES = 0x00050000 | errno.EACCES
# Classic BPF opcodes: load a word at an absolute offset, jump if equal / greater or equal, return.
_LD, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _socket_filter() -> list[tuple[int, int, int, int]]:
    """The filter: ``socket()`` only for ``AF_UNIX``, no ``io_uring``, no other ABI (x32 or
    32-bit calls would bypass a filter written for the native numbers); everything else allowed.
    Denied calls fail with EACCES, so programs see an ordinary permission error."""
    socket_nr, io_uring_nr = _NR  # type: ignore[misc]
    deny = [(_RET, 0, 0, _RET_EACCES)]
    allow = [(_RET, 0, 0, _RET_ALLOW)]
    check_family = [(_LD, 0, 0, 16), (_JEQ, 0, 1, _AF_UNIX)] + allow + deny  # args[0], low half
    body = [
        (_LD, 0, 0, 4),  # seccomp_data.arch
        (_JEQ, 1, 0, _AUDIT_ARCH),
        *deny,
        (_LD, 0, 0, 0),  # seccomp_data.nr
        (_JGE, 3, 0, _X32_BIT),
        (_JEQ, 3, 0, socket_nr),
        (_JEQ, 1, 0, io_uring_nr),
        *allow,
        *deny,  # x32, io_uring
    ]
    return body + check_family


def install_socket_filter() -> bool:
    """Deny this process and every process it starts from then on network sockets (seccomp).
    Needs ``no_new_privs``. True where it took effect; False where seccomp is not available."""
    if _AUDIT_ARCH is None or _NR is None:
        return False
    program = _socket_filter()
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    prog = _SockFprog(len(program), filters)
    result = _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
    return result == 0


# -- capabilities ---------------------------------------------------------------------------------

_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine)


def drop_capabilities() -> None:
    """Give up every capability (effective, permitted, inheritable). A process keeps the uid it
    has; inside a user namespace it made, an ordinary user otherwise holds every capability over
    that namespace's mounts, and a program could unmount its private /tmp."""
    if _SYS_CAPSET is None:
        raise OSError(errno.ENOSYS, "capset: unknown system call number")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable}, all empty
    if _syscall(_SYS_CAPSET, ctypes.addressof(header), ctypes.addressof(data), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
