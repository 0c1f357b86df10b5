"""Layer copies owned by a user-namespace remap (palletd --userns-remap).

Root in a remapped container is an unprivileged host user (e.g. 100000), so the
layers it sees must be owned by the shifted IDs. Like dockerd, which keeps a
separate layer store per remap, each committed layer gets a shifted copy on
first use: snapshots/<id>/idmap-<uid>-<gid>, made under a temporary name and
renamed when whole, removed with the layer. Copies keep modes, xattrs
(overlay's opaque markers) and whiteout devices (`cp -a`, reflinked where the
filesystem can).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from pallet import errors

LABEL = "pallet.io/idmap"  # "UID:GID[:SIZE]": host IDs that container root 0:0 maps to, and how many
SIZE = 65536
CAPS_XATTR = "security.capability"


def parse(value: str) -> tuple[int, int]:
    uid, gid, _size = parse_full(value)
    return uid, gid


def parse_full(value: str) -> tuple[int, int, int]:
    try:
        parts = [int(p) for p in value.split(":")]
    except ValueError:
        raise errors.InvalidArgument(f"invalid {LABEL} {value!r}: want UID:GID[:SIZE]") from None
    uid = parts[0]
    gid = parts[1] if len(parts) > 1 else uid
    size = parts[2] if len(parts) > 2 else SIZE
    return uid, gid, size


def _shift(p: str, uid: int, gid: int, size: int, seen: set[tuple[int, int]]) -> None:
    """IDs inside the mapped range move up by uid/gid; IDs outside it become the overflow ID
    (nobody), never a host ID the container does not own. Each inode once (hard links)."""
    st = os.lstat(p)
    if (st.st_dev, st.st_ino) in seen:
        return
    seen.add((st.st_dev, st.st_ino))
    new_uid = st.st_uid + uid if st.st_uid < size else 65534 + uid if size > 65534 else uid
    new_gid = st.st_gid + gid if st.st_gid < size else 65534 + gid if size > 65534 else gid
    caps = None
    if not os.path.islink(p):
        try:
            caps = os.getxattr(p, CAPS_XATTR, follow_symlinks=False)
        except OSError:
            caps = None
    os.lchown(p, new_uid, new_gid)
    if not os.path.islink(p):
        if st.st_mode & 0o6000:
            os.chmod(p, st.st_mode & 0o7777)  # chown clears setuid/setgid bits
        if caps is not None:  # and file capabilities: put them back
            os.setxattr(p, CAPS_XATTR, caps, follow_symlinks=False)


def shift_tree(path: str, uid: int, gid: int, size: int = SIZE) -> None:
    """Shift the owner of path and everything below (symlinks themselves, not their targets)."""
    seen: set[tuple[int, int]] = set()
    _shift(path, uid, gid, size, seen)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            _shift(os.path.join(dirpath, name), uid, gid, size, seen)


def shifted(layer_dir: str, uid: int, gid: int, size: int = SIZE) -> str:
    """The copy of layer_dir (a snapshot's fs) owned by the remap, made when missing."""
    base = os.path.dirname(layer_dir)
    final = os.path.join(base, f"idmap-{uid}-{gid}-{size}")
    if os.path.isdir(final):
        return final
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    res = subprocess.run(["cp", "-a", "--reflink=auto", layer_dir, tmp], capture_output=True, text=True)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise errors.Internal(f"copying layer {layer_dir} for the user-namespace remap failed: {res.stderr.strip()}")
    try:
        shift_tree(tmp, uid, gid, size)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
