"""Image commands through palletd: import, images, tag, rmi, save, load, hostile input."""

from __future__ import annotations

import io
import json
import os
import tarfile

from tests.conftest import Engine


def _tar(entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for ti in entries:
            payload = (data or {}).get(ti.name)
            if payload is not None:
                ti.size = len(payload)
                tar.addfile(ti, io.BytesIO(payload))
            else:
                tar.addfile(ti)
    return buf.getvalue()


def _file(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = 0o644
    return ti


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, target
    return ti


def _snapshot_count(engine: Engine) -> int:
    root = os.path.join(engine.data_root, "snapshots")
    return sum(len(dirs) for _, dirs, _ in os.walk(root))


def test_images_lists_imported_busybox(engine: Engine) -> None:
    out = engine.ctl("images", check=True).stdout.splitlines()
    assert out[0].split()[:4] == ["REPOSITORY", "TAG", "IMAGE", "ID"]
    row = next(line.split() for line in out[1:] if line.startswith("busybox "))
    assert row[1] == "latest" and len(row[2]) == 12
    data = json.loads(engine.ctl("inspect", "busybox", check=True).stdout)[0]
    assert data["Config"]["Cmd"] == ["sh"] and data["RootFS"]["Layers"]


def test_tag_save_rmi_load_round_trip(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    image_id = json.loads(engine.ctl("inspect", "busybox", check=True).stdout)[0]["Id"]
    engine.ctl("tag", "busybox", "roundtrip:v1", check=True)
    archive = tmp_path / "rt.tar"
    engine.ctl("save", "-o", str(archive), "roundtrip:v1", check=True)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert "index.json" in names and "oci-layout" in names
    assert manifest[0]["RepoTags"] == ["roundtrip:v1"]
    res = engine.ctl("rmi", "roundtrip:v1", check=True)
    assert "Untagged: roundtrip:v1" in res.stdout
    assert engine.ctl("inspect", "--type", "image", "roundtrip:v1").returncode != 0
    res = engine.ctl("load", "-i", str(archive), check=True)
    assert "Loaded image: roundtrip:v1" in res.stdout
    loaded = json.loads(engine.ctl("inspect", "roundtrip:v1", check=True).stdout)[0]
    assert loaded["Id"] == image_id
    assert engine.ctl("run", "--rm", "roundtrip:v1", "echo", "ok", check=True).stdout == "ok\n"
    engine.ctl("rmi", "roundtrip:v1", check=True)


def test_rmi_refuses_image_used_by_container(engine: Engine) -> None:
    engine.ctl("tag", "busybox", "inuse:1", check=True)
    cid = engine.ctl("create", "inuse:1", "true", check=True).stdout.strip()
    try:
        engine.ctl("tag", "inuse:1", "inuse:2", check=True)
        # inuse:2 names the image too: like Docker, the name goes (the image stays for the container).
        assert engine.ctl("rmi", "inuse:2", check=True).stdout == "Untagged: inuse:2\n"
        engine.ctl("rmi", "busybox:latest", check=True)
        try:
            res = engine.ctl("rmi", "inuse:1")  # its only name, and a container uses it: forced only
            assert res.returncode != 0 and "container" in res.stderr and "must force" in res.stderr
        finally:
            engine.ctl("tag", "inuse:1", "busybox:latest", check=True)
    finally:
        engine.ctl("rm", cid, check=True)
    engine.ctl("rmi", "inuse:1", check=True)


def test_hostile_import_is_refused_and_writes_nothing(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    cases = {
        "dotdot": _tar([_file("../../../../../../" + str(outside / "pwned").lstrip("/"))], {}),
        "absolute": _tar([_file(str(outside / "abs"))]),
        "symlink-escape": _tar([_link("escape", "../../../../../../../../" + str(outside).lstrip("/")),
                                _file("escape/pwned")]),
        "abs-symlink-through": _tar([_link("evil", str(outside)), _file("evil/pwned")]),
        "hardlink-escape": _tar([_link("hl", "../../../../../../etc/passwd", tarfile.LNKTYPE)]),
        "device": _tar([_dev("dev/sda")]),
    }
    before = _snapshot_count(engine)
    for name, blob in cases.items():
        path = tmp_path / f"{name}.tar"
        path.write_bytes(blob)
        res = engine.ctl("import", str(path), f"hostile-{name}:latest")
        assert res.returncode == 125, (name, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr and res.stderr.strip(), name
        assert len(res.stderr.strip().splitlines()) == 1, (name, res.stderr)
        assert os.listdir(outside) == [], name
        assert engine.ctl("inspect", "--type", "image", f"hostile-{name}:latest").returncode != 0
    assert _snapshot_count(engine) == before


def _dev(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.devmajor, ti.devminor, ti.mode = tarfile.BLKTYPE, 8, 0, 0o660
    return ti


def test_corrupt_archives_fail_cleanly(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tarball at all" * 100)
    before = _snapshot_count(engine)
    for cmd in (["load", "-i", str(garbage)], ["import", str(garbage), "garbage:1"]):
        res = engine.ctl(*cmd)
        assert res.returncode == 125, (cmd, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1
    # A docker-archive whose layer does not match the digest its config names.
    bad = _tar([_file("manifest.json"), _file("cfg.json"), _file("layer.tar")], {
        "manifest.json": json.dumps([{"Config": "cfg.json", "RepoTags": ["bad:1"],
                                      "Layers": ["layer.tar"]}]).encode(),
        "cfg.json": json.dumps({"architecture": "amd64", "os": "linux",
                                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode(),
        "layer.tar": _tar([_file("hello")], {"hello": b"hi"}),
    })
    path = tmp_path / "bad.tar"
    path.write_bytes(bad)
    res = engine.ctl("load", "-i", str(path))
    assert res.returncode == 125 and res.stderr.strip()
    assert engine.ctl("inspect", "--type", "image", "bad:1").returncode != 0
    assert _snapshot_count(engine) == before
    assert engine.ctl("import", str(tmp_path / "missing.tar")).returncode != 0
