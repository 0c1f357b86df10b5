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

LABEL = "pallet.io/idmap"  # "UID:GID": host IDs that container root 0:0 maps to
SIZE = 65536


def parse(value: str) -> tuple[int, int]:
    try:
        uid, _, gid = value.partition(":")
        return int(uid), int(gid or uid)
    except ValueError:
        raise errors.InvalidArgument(f"invalid {LABEL} {value!r}: want UID:GID") from None


def _shift(p: str, uid: int, gid: int) -> None:
    st = os.lstat(p)
    if st.st_uid < SIZE and st.st_gid < SIZE:
        os.lchown(p, st.st_uid + uid, st.st_gid + gid)
        if not os.path.islink(p) and st.st_mode & 0o6000:
            os.chmod(p, st.st_mode & 0o7777)  # chown clears setuid/setgid bits


def shift_tree(path: str, uid: int, gid: int) -> None:
    """Add uid/gid to the owner of path and everything below (symlinks themselves, not targets)."""
    _shift(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            _shift(os.path.join(dirpath, name), uid, gid)


def shifted(layer_dir: str, uid: int, gid: int) -> str:
    """The copy of layer_dir (a snapshot's fs) owned by the remap, made when missing."""
    base = os.path.dirname(layer_dir)
    final = os.path.join(base, f"idmap-{uid}-{gid}")
    if os.path.isdir(final):
        return final
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    res = subprocess.run(["cp", "-a", "--reflink=auto", layer_dir, tmp], capture_output=True, text=True)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise errors.Internal(f"copying layer {layer_dir} for the user-namespace remap failed: {res.stderr.strip()}")
    try:
        shift_tree(tmp, uid, gid)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
