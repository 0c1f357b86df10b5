"""imagesvc's build support: overlay upper dirs as deterministic OCI layer tars."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest
from pallet.images._build import write_diff


def _upper(root: str) -> None:
    os.makedirs(os.path.join(root, "etc/app"))
    with open(os.path.join(root, "etc/app/conf"), "w") as f:
        f.write("x=1\n")
    os.link(os.path.join(root, "etc/app/conf"), os.path.join(root, "etc/app/conf.hard"))
    os.symlink("conf", os.path.join(root, "etc/app/link"))
    os.mknod(os.path.join(root, "etc/gone"), stat.S_IFCHR, os.makedev(0, 0))  # overlay whiteout
    os.makedirs(os.path.join(root, "var/cache"))
    os.setxattr(os.path.join(root, "var/cache"), "trusted.overlay.opaque", b"y")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (2_000_000_000, 2_000_000_000), follow_symlinks=False)


def _tar(root: str, epoch: int) -> bytes:
    out = io.BytesIO()
    write_diff(root, out, epoch)
    return out.getvalue()


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and trusted xattrs need root")
def test_whiteouts_opaque_dirs_hardlinks_and_determinism(tmp_path: object) -> None:
    a, b = os.path.join(str(tmp_path), "a"), os.path.join(str(tmp_path), "b")
    _upper(a)
    _upper(b)
    data = _tar(a, 1_700_000_000)
    assert data == _tar(b, 1_700_000_000)  # same files, same bytes
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    names = list(members)
    for i, name in enumerate(names):  # a directory comes before what it holds
        parent = os.path.dirname(name)
        assert not parent or parent in names[:i]
    assert "etc/.wh.gone" in members and "etc/gone" not in members
    assert "var/cache/.wh..wh..opq" in members
    assert members["etc/app/conf.hard"].islnk() and members["etc/app/conf.hard"].linkname == "etc/app/conf"
    assert members["etc/app/link"].issym() and members["etc/app/link"].linkname == "conf"
    assert all(m.mtime <= 1_700_000_000 and m.uname == "" and m.gname == "" for m in members.values())
    assert not any("trusted.overlay" in k for m in members.values() for k in m.pax_headers)
    assert _tar(a, 0) != data  # without an epoch the real (later) times stay
