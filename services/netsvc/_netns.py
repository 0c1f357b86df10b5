"""Network namespaces bind-mounted on files, so they outlive every process in them.

A namespace is made by a short-lived thread that unshares its own network
namespace (setns/unshare of CLONE_NEWNET affect only the calling thread) and
bind-mounts /proc/thread-self/ns/net onto the file. Work inside a namespace
that needs a socket opened there (DNS sockets) runs in such a thread too.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(ret: int, what: str, path: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} {path}: {os.strerror(err)}")


def _in_thread(fn: Callable[[], T]) -> T:
    out: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            failure.append(exc)

    t = threading.Thread(target=run, name="netns")
    t.start()
    t.join()
    if failure:
        raise failure[0]
    return out[0]


def create(path: str) -> None:
    """A new, empty network namespace (loopback down) kept alive by a bind mount on path."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)

    def make() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare network namespace for", path)
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net"
        _check(_libc.mount(src.encode(), path.encode(), None, MS_BIND, None), "bind-mount", path)

    try:
        _in_thread(make)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def adopt(source: str, path: str) -> None:
    """Keep an existing namespace (e.g. /proc/PID/ns/net) alive by a bind mount on path."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)
    if _libc.mount(source.encode(), path.encode(), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise OSError(err, f"bind-mount {source} on {path}: {os.strerror(err)}")


def is_mounted(path: str) -> bool:
    """Whether path holds a namespace (an nsfs mount), not only an empty file."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except FileNotFoundError:
        return False


def remove(path: str) -> None:
    """Unmount and delete; the namespace goes when its last process leaves. Missing is fine."""
    ret = _libc.umount2(path.encode(), MNT_DETACH)
    if ret != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        _check(ret, "unmount", path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def run_in(path: str, fn: Callable[[], T]) -> T:
    """Call fn in a thread that has joined the namespace at path (for sockets made there)."""

    def enter_and_run() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), "join network namespace", path)
        finally:
            os.close(fd)
        return fn()

    return _in_thread(enter_and_run)
