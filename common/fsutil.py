"""Small filesystem helpers shared by the services: crash-safe writes, directory fsync, du."""

from __future__ import annotations

import os
import stat


def fsync_dir(path: str) -> None:
    """Make a rename or create in directory `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace path with data: a temporary file beside it, fsynced, renamed, the directory fsynced."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


def disk_usage(path: str) -> tuple[int, int]:
    """(bytes, inodes) under path, like du: allocated blocks, each inode counted once, symlinks not followed."""
    seen: set[tuple[int, int]] = set()
    size = 0
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            size += st.st_blocks * 512
            if stat.S_ISDIR(st.st_mode):
                stack.append(e.path)
    return size, len(seen)
