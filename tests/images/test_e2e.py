"""pallet-imagesvc as a real process on a temporary root and unix socket, through ImagesClient."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pallet import errors
from pallet.images.client import ImagesClient

from tests import _host
from tests.images import _tars as t
from tests.images.conftest import snapshot_dirs


@dataclass
class Service:
    root: str
    address: str
    proc: subprocess.Popen[bytes]
    client: ImagesClient
    log: str


def _start(tmp: str, root: str) -> tuple[subprocess.Popen[bytes], str, str]:
    sock = os.path.join(tmp, "imagesvc.sock")
    log = os.path.join(tmp, "imagesvc.log")
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pallet.images", "--root", root, "--address",
                                 f"unix://{sock}", "--debug"], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 15
    while not _connectable(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            with open(log) as f:
                raise AssertionError("imagesvc did not start:\n" + f.read())
        time.sleep(0.02)
    return proc, f"unix://{sock}", log


def _connectable(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


@pytest.fixture
def service(tmp_path: os.PathLike[str]) -> Iterator[Service]:
    tmp = str(tmp_path)
    root = os.path.join(tmp, "root")
    proc, address, log = _start(tmp, root)
    svc = Service(root, address, proc, ImagesClient(address, timeout=60), log)
    try:
        yield svc
    finally:
        svc.client.close()
        _stop(proc)
        _stop(svc.proc)  # a test may have restarted it
        _host.umount_under(tmp)


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while data := f.read(1 << 20):
            yield data


def test_import_list_tag_save_delete_load(service: Service, busybox_tar: str, tmp_path: os.PathLike[str]) -> None:
    c = service.client
    img = c.import_image(_chunks(busybox_tar), ref="busybox:latest", changes=['CMD ["sh"]'])
    assert list(img.repo_tags) == ["busybox:latest"] and list(img.config.cmd) == ["sh"]
    assert img.id.startswith("sha256:") and img.chain_id == img.diff_ids[0]
    assert [i.id for i in c.list_images()] == [img.id]
    assert c.get_image(img.id.removeprefix("sha256:")[:12]).id == img.id

    c.tag("busybox", "roundtrip:v1")
    assert sorted(c.get_image("roundtrip:v1").repo_tags) == ["busybox:latest", "roundtrip:v1"]
    archive = b"".join(c.save(["roundtrip:v1"]))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert "index.json" in tar.getnames() and "oci-layout" in tar.getnames()
    assert manifest[0]["RepoTags"] == ["roundtrip:v1"]
    assert c.content_info(img.id).size > 0
    assert b"".join(c.read_content(img.id)) == b"".join(c.read_content(img.id, offset=0, size=0))

    res = c.delete_image("roundtrip:v1")
    assert list(res.untagged) == ["roundtrip:v1"] and not res.deleted
    res = c.delete_image("busybox")
    assert list(res.untagged) == ["busybox:latest"] and res.deleted[0] == img.id
    with pytest.raises(errors.NotFound):
        c.get_image("busybox")
    assert snapshot_dirs(service.root) == []

    loaded = c.load([archive[i:i + 100_000] for i in range(0, len(archive), 100_000)])
    assert list(loaded.loaded) == ["roundtrip:v1"]
    assert c.get_image("roundtrip:v1").id == img.id

    # A container's root: an overlay on the image's chain, mounted for real.
    (mount,) = c.prepare("ctr-1", img.chain_id)
    assert mount.type == "overlay" and c.mounts("ctr-1") == [mount]
    target = os.path.join(str(tmp_path), "rootfs")
    os.makedirs(target)
    subprocess.run(["mount", "-t", mount.type, mount.source, "-o", ",".join(mount.options), target], check=True)
    try:
        assert os.access(os.path.join(target, "bin/sh"), os.X_OK)
        with open(os.path.join(target, "written-by-container"), "w") as f:
            f.write("x")
    finally:
        _host.umount_under(target)
    with pytest.raises(errors.FailedPrecondition):
        c.remove_snapshot(img.chain_id)  # the container sits on it
    res = c.delete_image("roundtrip:v1")
    assert res.deleted == [img.id]  # the layer stays for the container
    c.remove_snapshot("ctr-1")
    with pytest.raises(errors.NotFound):
        c.remove_snapshot("ctr-1")


def test_hostile_input_is_invalid_argument_and_writes_nothing(service: Service, tmp_path: os.PathLike[str]) -> None:
    c = service.client
    outside = os.path.join(str(tmp_path), "outside")
    os.makedirs(outside)
    c.import_image([t.tar([t.file("ok", b"ok")])], ref="ok:1")
    before = snapshot_dirs(service.root)
    imports = {
        "dotdot": t.tar([t.file("../../../../../../" + outside.lstrip("/") + "/pwned", b"x")]),
        "absolute": t.tar([t.file(outside + "/abs", b"x")]),
        "symlink-escape": t.tar([t.symlink("escape", "../../../../../../../../" + outside.lstrip("/")),
                                 t.file("escape/pwned", b"x")]),
        "abs-symlink-through": t.tar([t.symlink("evil", outside), t.file("evil/pwned", b"x")]),
        "hardlink-escape": t.tar([t.hardlink("hl", "../../../../../../etc/passwd")]),
        "device": t.tar([t.entry("dev/sda", tarfile.BLKTYPE, major=8)]),
        "garbage": b"this is not a tarball at all" * 100,
    }
    for name, blob in imports.items():
        with pytest.raises(errors.InvalidArgument) as exc:
            c.import_image([blob], ref=f"hostile-{name}:latest")
        assert exc.value.message and "\n" not in exc.value.message, name
        with pytest.raises(errors.NotFound):
            c.get_image(f"hostile-{name}:latest")
    good = t.tar([t.file("hello", b"hi")])
    loads = {
        "garbage": b"this is not a tarball at all" * 100,
        "bad-diff-id": t.docker_archive([good], ["bad:1"], cfg=t.config(["sha256:" + "0" * 64])),
        "traversal": t.tar([t.file("../../x", b"x"), t.file("manifest.json", b"[]")]),
        "hostile-layer": t.docker_archive([good, t.tar([t.symlink("evil", outside), t.file("evil/p", b"x")])],
                                          ["two:1"]),
    }
    for name, blob in loads.items():
        with pytest.raises(errors.InvalidArgument) as exc:
            c.load([blob])
        assert "\n" not in exc.value.message, name
    with pytest.raises(errors.NotFound):
        c.get_image("bad:1")
    assert os.listdir(outside) == []
    assert snapshot_dirs(service.root) == before
    assert os.listdir(os.path.join(service.root, "tmp")) == []
    assert os.listdir(os.path.join(service.root, "content", "ingest")) == []
    assert [i.repo_tags[0] for i in c.list_images()] == ["ok:1"]


def test_restart_keeps_records_and_cleans_crash_leftovers(service: Service, tmp_path: os.PathLike[str]) -> None:
    img = service.client.import_image([t.tar([t.file("a", b"a")])], ref="keep:1")
    service.client.prepare("pallet-extract-crashed", img.chain_id)  # as if killed mid-unpack
    service.proc.send_signal(signal.SIGKILL)
    service.proc.wait()
    with open(os.path.join(service.root, "content", "ingest", "partial"), "wb") as f:
        f.write(b"half a blob")
    os.makedirs(os.path.join(service.root, "snapshots", "4242", "fs"))
    with open(os.path.join(service.root, "tmp", "load-spool"), "wb") as f:
        f.write(b"x")
    proc, address, _ = _start(str(tmp_path), service.root)
    service.proc = proc
    with ImagesClient(address, timeout=30) as c:
        assert c.get_image("keep:1").id == img.id
        with pytest.raises(errors.NotFound):
            c.stat_snapshot("pallet-extract-crashed")
        assert c.stat_snapshot(img.chain_id).kind == 3  # KIND_COMMITTED
    assert os.listdir(os.path.join(service.root, "content", "ingest")) == []
    assert os.listdir(os.path.join(service.root, "tmp")) == []
    assert not os.path.exists(os.path.join(service.root, "snapshots", "4242"))
    assert _stop(proc) == 0
    assert not os.path.exists(address.removeprefix("unix://"))
