"""Layer apply: hostile tarballs are refused cleanly; metadata and whiteouts are preserved."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator

import pytest
from pallet import errors
from pallet.images._backend import Backend
from pallet.images._layers import OPAQUE_XATTR, apply_tar
from pallet.images._unpack import unpack_layer

from tests import _host
from tests.images import _tars as t
from tests.images.conftest import snapshot_dirs


@pytest.fixture
def dirs(tmp_path: os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """(target root, sentinel): the sentinel sits next to the root and must stay empty."""
    base = str(tmp_path)
    target, sentinel = os.path.join(base, "target"), os.path.join(base, "sentinel")
    os.makedirs(target)
    os.makedirs(sentinel)
    yield target, sentinel


def _hostile(sentinel: str) -> dict[str, bytes]:
    s = sentinel
    return {
        "dotdot": t.tar([t.file("../sentinel/pwned", b"x")]),
        "dotdot-deep": t.tar([t.file("a/b/../../../sentinel/pwned", b"x")]),
        "dotdot-many": t.tar([t.file("../" * 12 + s.lstrip("/") + "/pwned", b"x")]),
        "absolute": t.tar([t.file(s + "/abs", b"x")]),
        "symlink-escape": t.tar([t.symlink("escape", "../sentinel"), t.file("escape/pwned", b"x")]),
        "symlink-escape-nested": t.tar([t.directory("a"), t.directory("a/b"), t.symlink("a/b/l", "../../../x")]),
        "abs-symlink-through": t.tar([t.symlink("evil", s), t.file("evil/pwned", b"x")]),
        "inside-symlink-through": t.tar([t.directory("d"), t.symlink("lnk", "d"), t.file("lnk/f", b"x")]),
        "dir-through-symlink": t.tar([t.symlink("evil", s), t.directory("evil/sub")]),
        "hardlink-escape": t.tar([t.hardlink("hl", "../../../../../../etc/passwd")]),
        "hardlink-absolute-missing": t.tar([t.hardlink("hl", "/etc/passwd")]),
        "hardlink-missing": t.tar([t.hardlink("hl", "nothing/here")]),
        "hardlink-through-symlink": t.tar([t.symlink("etc", "/etc"), t.hardlink("hl", "etc/passwd")]),
        "hardlink-through-abs-symlink": t.tar([t.symlink("out", s), t.file("x", b"1"),
                                               t.hardlink("out/pwned", "x")]),
        "hardlink-to-dir": t.tar([t.directory("d"), t.hardlink("hl", "d")]),
        "block-device": t.tar([t.entry("dev/sda", tarfile.BLKTYPE, major=8, minor=0)]),
        "char-device": t.tar([t.entry("dev/null", tarfile.CHRTYPE, major=1, minor=3)]),
        "whiteout-through-symlink": t.tar([t.symlink("evil", s), t.file("evil/.wh.pwned")]),
        "opaque-through-symlink": t.tar([t.symlink("evil", s), t.file("evil/.wh..wh..opq")]),
        "parent-is-file": t.tar([t.file("f", b"1"), t.file("f/x", b"2")]),
        "long-name": t.tar([t.file("a" * 300, b"x")]),
        "garbage": b"this is not a tarball at all" * 100,
        "empty": b"",
        "huge-pax-header": t.file("ok")[0].tobuf(tarfile.USTAR_FORMAT) + _huge_header(tarfile.XHDTYPE),
        "huge-long-name": _huge_header(tarfile.GNUTYPE_LONGNAME),
    }


def _huge_header(kind: bytes) -> bytes:
    """An extended header claiming 2 GiB: tarfile would try to read it whole."""
    ti = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "PaxHeaders/x")
    ti.type, ti.size = kind, 1 << 31
    return ti.tobuf(tarfile.GNU_FORMAT if kind == tarfile.GNUTYPE_LONGNAME else tarfile.USTAR_FORMAT) + b"\0" * 4096


@pytest.mark.parametrize("case", sorted(_hostile("/s").keys()))
def test_hostile_tar_is_refused(dirs: tuple[str, str], case: str) -> None:
    target, sentinel = dirs
    blob = _hostile(sentinel)[case]
    with pytest.raises(errors.InvalidArgument) as exc:
        apply_tar(io.BytesIO(blob), target)
    assert exc.value.message and "\n" not in exc.value.message
    assert os.listdir(sentinel) == [], case
    assert not os.path.exists("/etc/../pwned")


def test_error_messages_name_the_entry(dirs: tuple[str, str]) -> None:
    target, sentinel = dirs
    with pytest.raises(errors.InvalidArgument, match=r"'/.*abs'.*absolute path"):
        apply_tar(io.BytesIO(_hostile(sentinel)["absolute"]), target)
    with pytest.raises(errors.InvalidArgument, match=r"'escape'.*points outside the root"):
        apply_tar(io.BytesIO(_hostile(sentinel)["symlink-escape"]), target)
    with pytest.raises(errors.InvalidArgument, match=r"'evil/pwned'.*parent path evil is a symlink"):
        apply_tar(io.BytesIO(_hostile(sentinel)["abs-symlink-through"]), target)
    with pytest.raises(errors.InvalidArgument, match="device"):
        apply_tar(io.BytesIO(_hostile(sentinel)["block-device"]), target)
    with pytest.raises(errors.InvalidArgument, match="not a tar archive"):
        apply_tar(io.BytesIO(_hostile(sentinel)["garbage"]), target)


def test_replacing_a_symlink_never_follows_it(dirs: tuple[str, str]) -> None:
    target, sentinel = dirs
    victim = os.path.join(sentinel, "victim")
    blob = t.tar([
        t.symlink("f", victim), t.file("f", b"replaced"),  # a file over a symlink
        t.symlink("d", sentinel), t.directory("d"), t.file("d/inside", b"ok"),  # a directory over a symlink
        t.symlink("w", victim), t.file(".wh.w"),  # a whiteout over a symlink
    ])
    apply_tar(io.BytesIO(blob), target)
    assert os.listdir(sentinel) == []
    assert not os.path.islink(os.path.join(target, "f"))
    with open(os.path.join(target, "f"), "rb") as f:
        assert f.read() == b"replaced"
    assert os.path.isdir(os.path.join(target, "d")) and not os.path.islink(os.path.join(target, "d"))
    assert stat.S_ISCHR(os.lstat(os.path.join(target, "w")).st_mode)


def test_symlink_targets_allowed(dirs: tuple[str, str]) -> None:
    target, _ = dirs
    apply_tar(io.BytesIO(t.tar([
        t.symlink("abs", "/etc/passwd"), t.directory("a"), t.symlink("a/up", "../x"), t.symlink("a/dot", "."),
    ])), target)
    assert os.readlink(os.path.join(target, "abs")) == "/etc/passwd"
    assert os.readlink(os.path.join(target, "a/up")) == "../x"


def test_metadata_is_preserved(dirs: tuple[str, str]) -> None:
    target, _ = dirs
    cap = "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    blob = t.tar([
        t.directory("./", mode=0o755),
        t.directory("bin", mode=0o711, uid=1, gid=2, mtime=1_500_000_000),
        t.file("bin/su", b"#!/bin/sh\n", mode=0o4755, uid=1234, gid=5678, mtime=1_500_000_001,
               pax={"SCHILY.xattr.security.capability": cap, "SCHILY.xattr.trusted.overlay.redirect": "/x"}),
        t.hardlink("bin/su2", "bin/su"),
        t.symlink("bin/sh", "su"),
        t.entry("run/fifo", tarfile.FIFOTYPE, mode=0o640, uid=7, gid=8),
        t.file("tmp/sticky", b"", mode=0o1777),
    ])
    size = apply_tar(io.BytesIO(blob), target)
    assert size == len(b"#!/bin/sh\n")
    st = os.lstat(os.path.join(target, "bin/su"))
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (1234, 5678)
    assert int(st.st_mtime) == 1_500_000_001
    assert os.stat(os.path.join(target, "bin/su2")).st_ino == st.st_ino
    assert os.getxattr(os.path.join(target, "bin/su"), "security.capability") == cap.encode("latin-1")
    assert "trusted.overlay.redirect" not in os.listxattr(os.path.join(target, "bin/su"))
    d = os.lstat(os.path.join(target, "bin"))
    assert stat.S_IMODE(d.st_mode) == 0o711 and (d.st_uid, d.st_gid) == (1, 2)
    assert int(d.st_mtime) == 1_500_000_000  # set after its children were created
    assert os.readlink(os.path.join(target, "bin/sh")) == "su"
    f = os.lstat(os.path.join(target, "run/fifo"))
    assert stat.S_ISFIFO(f.st_mode) and stat.S_IMODE(f.st_mode) == 0o640 and f.st_uid == 7
    assert stat.S_IMODE(os.lstat(os.path.join(target, "tmp/sticky")).st_mode) == 0o1777


def test_whiteouts_become_overlay_whiteouts(dirs: tuple[str, str]) -> None:
    target, _ = dirs
    apply_tar(io.BytesIO(t.tar([
        t.file(".wh.gone"), t.directory("d"), t.file("d/.wh..wh..opq"), t.file(".wh..wh.plnk"),
        t.entry("c", tarfile.CHRTYPE, major=0, minor=0),
    ])), target)
    st = os.lstat(os.path.join(target, "gone"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(target, "d"), OPAQUE_XATTR) == b"y"
    assert sorted(os.listdir(target)) == ["c", "d", "gone"]


def _unpack(backend: Backend, blob: bytes, parent: str = "") -> str:
    with backend.operation() as op:
        layer = unpack_layer(backend, op, io.BytesIO(blob), parent)
        # Keep it: pretend an image references it by leasing past the operation.
        backend.leases.acquire(["snapshot:" + layer.chain_id])
        return layer.chain_id


def test_whiteout_hides_lower_file_in_a_real_overlay(backend: Backend, root: str, tmp_path: os.PathLike[str]) -> None:
    lower = _unpack(backend, t.tar([t.file("a", b"lower"), t.file("keep", b"k"), t.directory("dir"),
                                    t.file("dir/old", b"o")]))
    upper = _unpack(backend, t.tar([t.file(".wh.a"), t.directory("dir"), t.file("dir/.wh..wh..opq"),
                                    t.file("dir/new", b"n")]), lower)
    (mount,) = backend.snapshots.view("v", upper)
    assert mount.type == "overlay"
    target = os.path.join(str(tmp_path), "mnt")
    os.makedirs(target)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(mount.options), target], check=True)
    try:
        assert sorted(os.listdir(target)) == ["dir", "keep"]
        assert os.listdir(os.path.join(target, "dir")) == ["new"]
    finally:
        _host.umount_under(target)
    assert not _host.mounts_under(target)


def test_failed_unpack_leaves_no_snapshot_or_blob(backend: Backend, root: str, tmp_path: os.PathLike[str]) -> None:
    before = snapshot_dirs(root)
    for name, blob in _hostile(os.path.join(str(tmp_path), "sentinel")).items():
        for data in (blob, t.gz(blob)):
            with pytest.raises(errors.InvalidArgument), backend.operation() as op:
                unpack_layer(backend, op, io.BytesIO(data), "", what=name)
            assert snapshot_dirs(root) == before, name
            assert backend.content.list_blobs() == [], name
            assert os.listdir(backend.content.ingest_dir) == [], name
    assert backend.snapshots.list_snapshots() == []


def test_diff_id_is_the_uncompressed_digest(backend: Backend) -> None:
    layer = t.tar([t.file("hello", b"hi")])
    with backend.operation() as op:
        plain = unpack_layer(backend, op, io.BytesIO(layer), "")
        zipped = unpack_layer(backend, op, io.BytesIO(t.gz(layer)), "")
    assert plain.diff_id == zipped.diff_id == t.sha(layer) == plain.chain_id
    assert plain.desc.media_type.endswith(".tar") and zipped.desc.media_type.endswith("+gzip")
    assert zipped.desc.digest == t.sha(t.gz(layer))
    with pytest.raises(errors.InvalidArgument, match="diff ID"), backend.operation() as op:
        unpack_layer(backend, op, io.BytesIO(layer), "", diff_id="sha256:" + "0" * 64)


def test_crash_between_unpack_and_record_is_cleaned_on_start(root: str) -> None:
    b = Backend(root)
    from pallet.images._backend import Op

    op = Op(b.leases)  # no operation() context: as if the process died before recording the image
    base = unpack_layer(b, op, io.BytesIO(t.tar([t.file("a", b"a")])), "")
    unpack_layer(b, op, io.BytesIO(t.gz(t.tar([t.file("b", b"b")]))), base.chain_id)
    b.snapshots.prepare("some-container", "")  # not a layer: kept
    assert len(b.snapshots.list_snapshots()) == 3 and len(b.content.list_blobs()) == 2
    b.close()
    b = Backend(root)
    try:
        b.recover()
        assert [s.name for s in b.snapshots.list_snapshots()] == ["some-container"]
        assert b.content.list_blobs() == []
    finally:
        b.close()
