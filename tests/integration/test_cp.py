"""`palletctl cp` end to end: Docker's copy rules, tar streams, and containers that try to escape."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Engine

# The CLI through an import of pallet.client.cli (not `-m`): command modules raise
# pallet.client.cli.CLIError, which `python -m` would load a second time as __main__.
_MAIN = "from pallet.client.cli import main; raise SystemExit(main())"


def ctl(engine: Engine, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", _MAIN, "-H", engine.host, *args], input=stdin,
                          capture_output=True, timeout=60, env={**os.environ, **engine.extra_env})


def ok(res: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert res.returncode == 0, (res.returncode, res.stderr.decode(errors="replace"))
    return res


def sh(engine: Engine, name: str, script: str) -> str:
    return ok(ctl(engine, "exec", name, "sh", "-c", script)).stdout.decode()


SETUP = ("mkdir -p /data/dir/sub && echo hello > /data/file && echo deep > /data/dir/sub/deep"
         " && ln -s / /evil && ln -s ../../../../.. /data/up && ln -s file /data/link")


@pytest.fixture
def running(engine: Engine) -> Iterator[str]:
    name = f"cp-run-{uuid.uuid4().hex[:8]}"
    ok(ctl(engine, "run", "-d", "--name", name, "busybox", "sh", "-c", f"{SETUP} && sleep 300"))
    ok(ctl(engine, "exec", name, "sh", "-c", "while [ ! -e /data/link ]; do sleep 0.05; done"))
    yield name
    ctl(engine, "rm", "-f", name)


@pytest.fixture
def stopped(engine: Engine) -> Iterator[str]:
    name = f"cp-stop-{uuid.uuid4().hex[:8]}"
    ok(ctl(engine, "run", "--name", name, "busybox", "sh", "-c", SETUP))
    yield name
    ctl(engine, "rm", "-f", name)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Path]:
    """A file on the host that no copy may touch, and a name that must not appear in /tmp."""
    path = Path("/tmp") / f"pallet-cp-sentinel-{uuid.uuid4().hex[:8]}"
    path.write_text("host sentinel\n")
    yield path
    path.unlink()


def names(tar_bytes: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def make_tar(*members: tuple[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


# -- out of a container ----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["running", "stopped"])
def test_copy_out_follows_docker_rules(engine: Engine, tmp_path: Path, which: str,
                                       request: pytest.FixtureRequest) -> None:
    name = request.getfixturevalue(which)
    out = tmp_path / "out"
    out.mkdir()
    ok(ctl(engine, "cp", f"{name}:/data/file", str(out)))  # file into an existing dir
    assert (out / "file").read_text() == "hello\n"
    ok(ctl(engine, "cp", f"{name}:/data/file", str(out / "renamed")))  # file to a new name
    assert (out / "renamed").read_text() == "hello\n"
    ok(ctl(engine, "cp", f"{name}:/data/dir", str(out)))  # dir into an existing dir nests
    assert (out / "dir" / "sub" / "deep").read_text() == "deep\n"
    ok(ctl(engine, "cp", f"{name}:/data/dir", str(out / "newdir")))  # dir to a new name
    assert (out / "newdir" / "sub" / "deep").read_text() == "deep\n"
    (out / "contents").mkdir()
    ok(ctl(engine, "cp", f"{name}:/data/dir/.", str(out / "contents")))  # SRC/. copies contents
    assert (out / "contents" / "sub" / "deep").read_text() == "deep\n"
    ok(ctl(engine, "cp", f"{name}:/data/link", str(out / "link")))  # a symlink is copied as one
    assert os.readlink(out / "link") == "file"
    ok(ctl(engine, "cp", "-L", f"{name}:/data/link", str(out / "followed")))
    assert (out / "followed").read_text() == "hello\n" and not (out / "followed").is_symlink()

    res = ctl(engine, "cp", f"{name}:/data/file", str(out / "missing") + "/")
    assert res.returncode == 1 and res.stderr.decode().strip() == "palletctl: no such directory"
    res = ctl(engine, "cp", f"{name}:/data/dir", str(out / "file"))
    assert res.returncode == 1 and b"cannot copy directory" in res.stderr


def test_copy_out_of_created_container_serves_its_etc_files(engine: Engine, tmp_path: Path) -> None:
    name = f"cp-created-{uuid.uuid4().hex[:8]}"
    cid = ok(ctl(engine, "create", "--name", name, "busybox", "true")).stdout.decode().strip()
    # A mount point left by a palletd that died during a copy is swept on the next one.
    stale = Path(engine.exec_root, "tmp", "cp-stale-test")
    stale.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", str(stale)], check=True)
    try:
        ok(ctl(engine, "cp", f"{name}:/etc/hostname", str(tmp_path / "hostname")))
        assert (tmp_path / "hostname").read_text() == cid[:12] + "\n"
        members = names(ok(ctl(engine, "cp", f"{name}:/etc", "-")).stdout)
        assert {"etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/passwd"} <= set(members)
    finally:
        ctl(engine, "rm", "-f", name)
        subprocess.run(["umount", str(stale)], capture_output=True, check=False)
    assert not os.listdir(os.path.join(engine.exec_root, "tmp"))  # our snapshot mounts and the stale one are gone


def test_copy_out_to_stdout_is_a_tar(engine: Engine, running: str) -> None:
    res = ok(ctl(engine, "cp", f"{running}:/data/dir", "-"))
    members = names(res.stdout)
    assert set(members) == {"dir", "dir/sub", "dir/sub/deep"}
    assert members["dir"].isdir()
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        assert tar.extractfile("dir/sub/deep").read() == b"deep\n"  # type: ignore[union-attr]
    assert set(names(ok(ctl(engine, "cp", f"{running}:/data/dir/", "-")).stdout)) == set(members)


# -- into a container ---------------------------------------------------------------------------


def test_copy_into_running_container(engine: Engine, running: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "tree" / "sub").mkdir(parents=True)
    (src / "tree" / "sub" / "leaf").write_text("leaf\n")
    (src / "note").write_text("note\n")
    os.chown(src / "note", 1234, 4321)
    ok(ctl(engine, "cp", str(src / "note"), f"{running}:/data/"))
    ok(ctl(engine, "cp", "-a", str(src / "note"), f"{running}:/data/note-a"))
    ok(ctl(engine, "cp", str(src / "tree"), f"{running}:/data/dir"))  # nests: /data/dir/tree
    ok(ctl(engine, "cp", str(src / "tree"), f"{running}:/data/newtree"))
    ok(ctl(engine, "cp", str(src / "tree") + "/.", f"{running}:/data/dir"))  # contents: /data/dir/sub/leaf
    assert sh(engine, running, "cat /data/note /data/dir/tree/sub/leaf /data/newtree/sub/leaf /data/dir/sub/leaf"
              ) == "note\nleaf\nleaf\nleaf\n"
    assert sh(engine, running, "stat -c %u:%g /data/note /data/note-a") == "0:0\n1234:4321\n"
    res = ctl(engine, "cp", str(src / "note"), f"{running}:/data/dir/sub/deep/")
    assert res.returncode != 0
    res = ctl(engine, "cp", str(src / "tree"), f"{running}:/data/file")
    assert res.returncode == 1 and b"cannot copy directory" in res.stderr
    res = ctl(engine, "cp", str(src / "note"), f"{running}:/etc/hosts")
    assert res.returncode == 125 and b"device or resource busy" in res.stderr


def test_copy_into_stopped_container_then_start(engine: Engine, tmp_path: Path) -> None:
    name = f"cp-into-{uuid.uuid4().hex[:8]}"
    ok(ctl(engine, "create", "--name", name, "busybox", "cat", "/tmp/hello", "/tmp/t/x"))
    try:
        (tmp_path / "hello").write_text("from the host\n")
        ok(ctl(engine, "cp", str(tmp_path / "hello"), f"{name}:/tmp/"))
        ok(ctl(engine, "cp", "-", f"{name}:/tmp", stdin=make_tar(("t", None), ("t/x", b"x\n"))))
        res = ok(ctl(engine, "start", "-a", name))
        assert res.stdout == b"from the host\nx\n"
    finally:
        ctl(engine, "rm", "-f", name)


def test_copy_tar_from_stdin(engine: Engine, running: str) -> None:
    ok(ctl(engine, "cp", "-", f"{running}:/data", stdin=make_tar(("in", None), ("in/a", b"A\n"))))
    assert sh(engine, running, "cat /data/in/a") == "A\n"
    res = ctl(engine, "cp", "-", f"{running}:/data/file", stdin=make_tar(("b", b"B")))
    assert res.returncode == 1 and b"must be a directory" in res.stderr


# -- hostile containers ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["running", "stopped"])
def test_planted_symlinks_cannot_reach_the_host(engine: Engine, tmp_path: Path, sentinel: Path, which: str,
                                                request: pytest.FixtureRequest) -> None:
    name = request.getfixturevalue(which)
    # Reading through /evil -> / and /data/up -> ../../../../.. stays in the container.
    ok(ctl(engine, "cp", f"{name}:/evil/etc/hostname", str(tmp_path / "hostname")))
    assert (tmp_path / "hostname").read_text().strip() != socket.gethostname()
    ok(ctl(engine, "cp", f"{name}:/data/up/etc/passwd", str(tmp_path / "passwd")))
    assert (tmp_path / "passwd").read_text() != Path("/etc/passwd").read_text()
    assert "nobody" in (tmp_path / "passwd").read_text()  # busybox's
    res = ctl(engine, "cp", f"{name}:/evil{sentinel}", "-")
    assert res.returncode == 125 and b"Could not find the file" in res.stderr

    # Writing through them lands inside the container, never on the host.
    payload = tmp_path / sentinel.name
    payload.write_text("written by cp\n")
    fresh = f"pallet-cp-fresh-{uuid.uuid4().hex[:8]}"
    ok(ctl(engine, "cp", str(payload), f"{name}:/evil/tmp/"))
    ok(ctl(engine, "cp", str(payload), f"{name}:/data/up/tmp/{fresh}"))
    ok(ctl(engine, "cp", "-", f"{name}:/data", stdin=make_tar(("up/tmp/" + fresh + "-tar", b"tar\n"))))
    res = ctl(engine, "cp", "-", f"{name}:/data",
              stdin=make_tar(("../../../../../tmp/" + sentinel.name, b"pwned\n")))
    assert res.returncode == 125 and b"escapes" in res.stderr
    assert sentinel.read_text() == "host sentinel\n"
    assert not Path("/tmp", fresh).exists() and not Path("/tmp", fresh + "-tar").exists()
    out = tmp_path / "check"
    ok(ctl(engine, "cp", f"{name}:/tmp", str(out)))
    assert (out / sentinel.name).read_text() == "written by cp\n"
    assert (out / fresh).read_text() == "written by cp\n"
    assert (out / (fresh + "-tar")).read_text() == "tar\n"


# -- errors ------------------------------------------------------------------------------------


def test_errors_are_one_line(engine: Engine, running: str, tmp_path: Path) -> None:
    res = ctl(engine, "cp", f"{running}:/nope", str(tmp_path))
    assert res.returncode == 125
    assert res.stderr.decode().splitlines() == [
        f"Error response from daemon: Could not find the file /nope in container {running}"]
    res = ctl(engine, "cp", str(tmp_path), f"{running}:/nope/deeper/")
    assert res.returncode == 125 and len(res.stderr.splitlines()) == 1 and b"Could not find the file" in res.stderr
    res = ctl(engine, "cp", "no-such-container-xyz:/etc", str(tmp_path))
    assert res.returncode == 125 and b"No such container" in res.stderr
    res = ctl(engine, "cp", str(tmp_path / "absent"), f"{running}:/tmp")
    assert res.returncode == 1 and res.stderr.decode().splitlines() == [
        f"palletctl: lstat {tmp_path / 'absent'}: no such file or directory"]
    for args, message in (((str(tmp_path), str(tmp_path)), "must specify at least one container source"),
                          ((f"{running}:/a", f"{running}:/b"), "copying between containers is not supported")):
        res = ctl(engine, "cp", *args)
        assert res.returncode == 1 and res.stderr.decode().strip() == f"palletctl: {message}"
