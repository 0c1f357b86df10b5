"""Path resolution inside a root (chroot semantics), Docker's cp path rules, and the
tar writer / extractor of pallet.scopedfs, without a daemon."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from pallet import errors
from pallet.engine._archive import _read_only, resolve_in_root
from pallet.scopedfs import (
    MODE_DIR,
    MODE_SYMLINK,
    ChunkReader,
    Extractor,
    Rename,
    Root,
    TarWriter,
    container_abs_path,
    go_base,
    go_file_mode,
    preserve_trailing_dot_or_separator,
    rebase_name,
    split_path_dir_entry,
)


@pytest.fixture
def root(tmp_path):  # type: ignore[no-untyped-def]
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("root:x:0:0\n")
    (r / "usr" / "lib").mkdir(parents=True)
    (r / "usr" / "lib" / "os-release").write_text("ID=test\n")
    os.symlink("/", r / "evil")
    os.symlink("../../../..", r / "up")
    os.symlink("/etc", r / "abs_etc")
    os.symlink("../usr/lib/os-release", r / "etc" / "os-release")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    os.symlink("/etc/passwd", r / "pw")
    os.symlink("usr/lib", r / "lib")
    return str(r)


@pytest.mark.parametrize(("path", "expected"), [
    ("/", ""),
    ("", ""),
    ("/etc/passwd", "etc/passwd"),
    ("etc/passwd", "etc/passwd"),
    ("/../../etc/passwd", "etc/passwd"),
    ("/etc/../../../etc", "etc"),
    ("/evil", ""),
    ("/evil/etc/passwd", "etc/passwd"),
    ("/evil/../../evil/etc", "etc"),
    ("/up", ""),
    ("/up/etc/hostname", "etc/hostname"),
    ("/up/../etc", "etc"),
    ("/abs_etc/passwd", "etc/passwd"),
    ("/etc/os-release", "usr/lib/os-release"),
    ("/pw", "etc/passwd"),
    ("/lib/os-release", "usr/lib/os-release"),
    ("/lib/../etc", "usr/etc"),  # symlink first, then ..: chroot semantics, not lexical
    ("/missing/a/../b", "missing/b"),
    ("/etc/passwd/../x", "etc/x"),
])
def test_resolve_in_root_stays_inside(root: str, path: str, expected: str) -> None:
    got = resolve_in_root(root, path)
    assert got == (os.path.join(root, expected) if expected else root)
    assert got == root or got.startswith(root + "/")


def test_resolve_in_root_last_component_not_followed(root: str) -> None:
    assert resolve_in_root(root, "/evil", follow_last=False) == os.path.join(root, "evil")
    assert resolve_in_root(root, "/abs_etc/../pw", follow_last=False) == os.path.join(root, "pw")
    # only the last component is kept as is
    assert resolve_in_root(root, "/abs_etc/passwd", follow_last=False) == os.path.join(root, "etc/passwd")


def test_resolve_in_root_symlink_loop(root: str) -> None:
    with pytest.raises(OSError) as info:
        resolve_in_root(root, "/loop1/x")
    assert info.value.errno == 40  # ELOOP


def test_root_walk_refuses_symlinks(root: str) -> None:
    with Root.open(root) as r:
        with pytest.raises(OSError):
            r.walk(["evil"])
        with pytest.raises(ValueError):
            r.walk([".."])
        assert r.lstat(["evil"]).st_mode & 0o170000 == 0o120000


@pytest.mark.parametrize(("path", "expected"), [
    ("/foo", "/foo"), ("foo", "/foo"), ("/foo/", "/foo/"), ("/foo/.", "/foo/."), (".", "/."),
    ("/", "/"), ("//foo//bar/../baz/", "/foo/baz/"), ("/foo/..", "/"), ("../../x", "/x"),
])
def test_container_abs_path(path: str, expected: str) -> None:
    assert container_abs_path(path) == expected


def test_docker_path_helpers() -> None:
    assert split_path_dir_entry("/a/b") == ("/a", "b")
    assert split_path_dir_entry("/a/b/") == ("/a", "b")
    assert split_path_dir_entry("/a/b/.") == ("/a/b", ".")
    assert split_path_dir_entry("b") == (".", "b")
    assert split_path_dir_entry("/") == ("/", ".")
    assert go_base("/a/b/") == "b" and go_base("/") == "/" and go_base("") == "."
    assert preserve_trailing_dot_or_separator("/x/y", "y/") == "/x/y/"
    assert preserve_trailing_dot_or_separator("/x/y", "y/.") == "/x/y/."
    assert rebase_name("/link", "/target") == ("/target", "link")
    assert rebase_name("/link/", "/target") == ("/target/", "link")
    assert rebase_name("/same", "/x/same") == ("/x/same", "")


def test_go_file_mode() -> None:
    assert go_file_mode(0o040755) == MODE_DIR | 0o755
    assert go_file_mode(0o120777) == MODE_SYMLINK | 0o777
    assert go_file_mode(0o100644) == 0o644
    assert go_file_mode(0o104755) == (1 << 23) | 0o755


def test_read_only_view_of_a_snapshot_mount() -> None:
    opts = ["index=off", "lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w"]
    assert _read_only("overlay", opts) == ["index=off", "lowerdir=/u:/l1:/l2", "ro"]
    assert _read_only("bind", ["rbind", "rw"]) == ["rbind", "ro"]


# -- tar out and in ------------------------------------------------------------


def _tar(*members: tuple[str, bytes, str]) -> bytes:
    """(name, type, data-or-linkname) -> an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, value in members:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            if kind == tarfile.REGTYPE:
                ti.size = len(value)
                tar.addfile(ti, io.BytesIO(value.encode()))
            else:
                ti.linkname = value
                tar.addfile(ti)
    return buf.getvalue()


def _extract(dest: str, data: bytes, **kw: object) -> None:
    with Root.open(dest) as r:
        Extractor(r, [], **kw).extract(ChunkReader([data]))  # type: ignore[arg-type]


def test_tar_writer_round_trip(root: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    os.link(os.path.join(root, "etc/passwd"), os.path.join(root, "etc/passwd-hardlink"))
    host_hosts = tmp_path / "hosts"
    host_hosts.write_text("127.0.0.1 localhost\n")
    with Root.open(root) as r:
        data = b"".join(TarWriter(r, {("etc", "hosts"): str(host_hosts)}, chunk=7).stream(["etc"], "etc"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"etc", "etc/hosts", "etc/os-release", "etc/passwd", "etc/passwd-hardlink"}
        assert members["etc"].isdir()
        assert members["etc/os-release"].issym() and members["etc/os-release"].linkname == "../usr/lib/os-release"
        assert members["etc/passwd-hardlink"].islnk() and members["etc/passwd-hardlink"].linkname == "etc/passwd"
        assert tar.extractfile("etc/hosts").read() == b"127.0.0.1 localhost\n"  # type: ignore[union-attr]
        assert tar.extractfile("etc/passwd").read() == b"root:x:0:0\n"  # type: ignore[union-attr]


def test_tar_writer_serves_an_override_without_its_parent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty").mkdir()
    (tmp_path / "hosts").write_text("hosts\n")
    with Root.open(str(tmp_path / "empty")) as r:
        data = b"".join(TarWriter(r, {("etc", "hosts"): str(tmp_path / "hosts")}).stream(["etc", "hosts"], "hosts"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.extractfile("hosts").read() == b"hosts\n"  # type: ignore[union-attr]


def test_tar_writer_does_not_follow_a_planted_symlink(root: str) -> None:
    with Root.open(root) as r:
        data = b"".join(TarWriter(r).stream(["evil"], "evil"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (m,) = tar.getmembers()
    assert m.issym() and m.linkname == "/"


def test_extract_rejects_escapes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "dest"
    dest.mkdir()
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("untouched")
    bad = [
        _tar(("../sentinel", tarfile.REGTYPE, "pwned")),
        _tar(("a/../../sentinel", tarfile.REGTYPE, "pwned")),
        _tar(("l", tarfile.SYMTYPE, "../"), ("l/sentinel", tarfile.REGTYPE, "pwned")),
        _tar(("h", tarfile.LNKTYPE, "../sentinel")),
        _tar(("dev", tarfile.CHRTYPE, "")),
    ]
    for data in bad:
        with pytest.raises(errors.PalletError):
            _extract(str(dest), data, follow_symlinks=False)
    assert sentinel.read_text() == "untouched"
    # An absolute symlink, then a file through it: refused without following.
    with pytest.raises(errors.InvalidArgument):
        _extract(str(dest), _tar(("s", tarfile.SYMTYPE, str(tmp_path)), ("s/sentinel", tarfile.REGTYPE, "x")),
                 follow_symlinks=False)
    assert sentinel.read_text() == "untouched"


def test_extract_follows_symlinks_clamped_to_the_root(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootdir = tmp_path / "root"
    (rootdir / "tmp").mkdir(parents=True)
    os.symlink("/", rootdir / "tmp" / "evil")
    _extract(str(rootdir), _tar(("tmp/evil/x", tarfile.REGTYPE, "inside")))
    assert (rootdir / "x").read_text() == "inside"  # through /evil -> / of the root, not the host's
    assert not os.path.exists("/x") or Path("/x").read_text() != "inside"


def test_extract_rename_and_overwrite_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "d"
    dest.mkdir()
    _extract(str(dest), _tar(("src", tarfile.DIRTYPE, ""), ("src/f", tarfile.REGTYPE, "one")),
             rename=Rename("src", "dst"), follow_symlinks=False)
    assert (dest / "dst" / "f").read_text() == "one"
    with pytest.raises(errors.InvalidArgument):  # outside the name that was asked for
        _extract(str(dest), _tar(("other", tarfile.REGTYPE, "x")), rename=Rename("src", "dst"))
    with pytest.raises(errors.FailedPrecondition, match="cannot overwrite directory"):
        _extract(str(dest), _tar(("dst", tarfile.REGTYPE, "x")))
    with pytest.raises(errors.FailedPrecondition, match="cannot overwrite non-directory"):
        _extract(str(dest), _tar(("dst/f", tarfile.DIRTYPE, "")))
    _extract(str(dest), _tar(("dst/f", tarfile.REGTYPE, "two")))
    assert (dest / "dst" / "f").read_text() == "two"
    with pytest.raises(errors.FailedPrecondition, match="busy"):
        _extract(str(dest), _tar(("dst/f", tarfile.REGTYPE, "x")), busy={("dst", "f")})
