"""Reading files of an image's root filesystem without mounting it.

The engine resolves `-u name` to numeric IDs before the container starts, so it
reads /etc/passwd and /etc/group from the snapshot's layer directories (upper
first), refusing to follow symlinks that could point outside the layers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pallet import errors


def layer_dirs(mounts: Sequence[tuple[str, str, Sequence[str]]]) -> list[str]:
    """Directories of a rootfs mount list, topmost first."""
    dirs: list[str] = []
    for typ, source, options in mounts:
        if typ == "overlay":
            opts = dict(o.split("=", 1) for o in options if "=" in o)
            if "upperdir" in opts:
                dirs.append(opts["upperdir"])
            dirs.extend(opts.get("lowerdir", "").split(":") if opts.get("lowerdir") else [])
        elif typ == "bind":
            dirs.append(source)
    return dirs


def _read_nofollow(root: str, rel: str, limit: int = 1 << 20) -> bytes | None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = [p for p in rel.split("/") if p]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (0 if last else os.O_DIRECTORY)
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:  # ELOOP: a symlink; refuse to follow it
                raise errors.InvalidArgument(f"cannot read /{rel} from the image: {exc.strerror}") from None
            os.close(fd)
            fd = nfd
        return os.read(fd, limit)
    finally:
        os.close(fd)


def exists(dirs: Sequence[str], rel: str) -> bool:
    """Whether the image has rel (of any type): the topmost layer holding it decides (whiteouts hide)."""
    for d in dirs:
        try:
            st = os.lstat(os.path.join(d, rel.strip("/")))
        except OSError:
            continue
        return not (st.st_rdev == 0 and (st.st_mode & 0o170000) == 0o020000)
    return False


def read_file(dirs: Sequence[str], rel: str) -> bytes | None:
    for d in dirs:
        data = _read_nofollow(d, rel)
        if data is not None:
            return data
        # A whiteout in an upper layer hides the lower ones.
        parent, name = os.path.split(rel)
        try:
            st = os.lstat(os.path.join(d, parent, name))
            if st.st_rdev == 0 and (st.st_mode & 0o170000) == 0o020000:
                return None
        except OSError:
            pass
    return None


def resolve_user(dirs: Sequence[str], user: str) -> tuple[int, int, list[int]]:
    """uid, gid and supplementary gids for a Docker `-u` value (name|uid[:group|gid])."""
    name, _, group = user.partition(":")
    passwd = (read_file(dirs, "etc/passwd") or b"").decode(errors="replace").splitlines()
    groups = (read_file(dirs, "etc/group") or b"").decode(errors="replace").splitlines()
    uid = gid = None
    username = None
    for line in passwd:
        f = line.split(":")
        if len(f) >= 4 and (f[0] == name or f[2] == name):
            username, uid, gid = f[0], int(f[2]), int(f[3])
            break
    if uid is None:
        if not name.isdigit():
            raise errors.InvalidArgument(
                f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(name), 0
    if group:
        gid = None
        for line in groups:
            f = line.split(":")
            if len(f) >= 3 and (f[0] == group or f[2] == group):
                gid = int(f[2])
                break
        if gid is None:
            if not group.isdigit():
                raise errors.InvalidArgument(
                    f"unable to find group {group}: no matching entries in group file")
            gid = int(group)
    extra: list[int] = []
    if username is not None and not group:
        for line in groups:
            f = line.split(":")
            if len(f) >= 4 and username in f[3].split(",") and f[2].isdigit() and int(f[2]) != gid:
                extra.append(int(f[2]))
    return uid, int(gid or 0), extra
