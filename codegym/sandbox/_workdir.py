"""A test's working directory: its files made, read and removed by the (root) server without
ever following what a program could have put there."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable


def write_new_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read_regular(path: str, limit: int, *, tail: bool = False) -> bytes:
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


def clear_dir(path: str) -> None:
    """Delete what tests left in ``path`` (a private tmpfs, never a symlink's target)."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        remove_tree(os.path.join(path, name))
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass


def remove_tree(path: str, names: Iterable[str] = ()) -> None:
    """Delete a test's working directory, however deep the program nested directories in it.

    ``shutil.rmtree`` recurses once per level (RecursionError past ~1000 on Python < 3.12); when
    it leaves something behind, lift nested entries into the top directory, level by level, until
    everything is a plain file or an empty directory. Never follows symlinks. Most tests leave just
    the files the sandbox made (``names``): they go first, and when that empties the directory,
    that is all.
    """
    for name in names:
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
