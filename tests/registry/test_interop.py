"""Interoperability: skopeo against pallet-registry, and image copies between pallet-registry and Debian's
docker-registry (the CNCF distribution registry) in both directions."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._server import Registry, run_docker_registry, run_registry

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    h = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / h).write_bytes(data)
    return {"digest": f"sha256:{h}", "size": len(data)}


def make_oci_layout(layout: Path, tag: str = "1") -> str:
    """A tiny single-layer image as an OCI layout directory; returns its manifest digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        payload = b"hello from pallet\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(payload), 0o644, 0
        tar.addfile(info, io.BytesIO(payload))
    diff_id = "sha256:" + hashlib.sha256(buf.getvalue()).hexdigest()
    layer = gzip.compress(buf.getvalue(), mtime=0)
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, layer)}
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(layout, config)}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config_desc, "layers": [layer_desc]}).encode()
    mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest),
             "annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [mdesc]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return str(mdesc["digest"])


@pytest.fixture
def policy(tmp_path: Path) -> str:
    p = tmp_path / "policy.json"
    p.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return str(p)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(str(tmp_path / "root")) as r:
        yield r


def skopeo(policy: str, *args: str) -> str:
    proc = subprocess.run(["skopeo", "--policy", policy, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"skopeo {' '.join(args)}:\n{proc.stderr}"
    return proc.stdout


def raw_digest(policy: str, ref: str) -> str:
    raw = subprocess.run(["skopeo", "--policy", policy, "inspect", "--raw", "--tls-verify=false", ref],
                         capture_output=True, timeout=60, check=True).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def layout_digest(layout: Path) -> str:
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


def test_skopeo_roundtrip(tmp_path: Path, reg: Registry, policy: str) -> None:
    src = tmp_path / "src"
    digest = make_oci_layout(src)
    dest = f"docker://{reg.addr}/test/img:1"
    skopeo(policy, "copy", "--dest-tls-verify=false", f"oci:{src}:1", dest)
    assert raw_digest(policy, dest) == digest
    inspect = json.loads(skopeo(policy, "inspect", "--tls-verify=false", dest))
    assert inspect["Digest"] == digest and inspect["Architecture"] == "amd64"
    out = tmp_path / "out"
    skopeo(policy, "copy", "--src-tls-verify=false", dest, f"oci:{out}:1")
    assert layout_digest(out) == digest
    for blob in (src / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    # a second tag, by skopeo, then list-tags
    skopeo(policy, "copy", "--dest-tls-verify=false", f"oci:{src}:1", f"docker://{reg.addr}/test/img:latest")
    tags = json.loads(skopeo(policy, "list-tags", "--tls-verify=false", f"docker://{reg.addr}/test/img"))
    assert sorted(tags["Tags"]) == ["1", "latest"]
    # skopeo delete (manifest DELETE by digest)
    skopeo(policy, "delete", "--tls-verify=false", f"docker://{reg.addr}/test/img:latest")
    tags = json.loads(skopeo(policy, "list-tags", "--tls-verify=false", f"docker://{reg.addr}/test/img"))
    assert tags["Tags"] == []


@pytest.mark.skipif(not os.path.exists("/usr/bin/docker-registry"), reason="docker-registry is not installed")
def test_copy_between_pallet_and_distribution(tmp_path: Path, reg: Registry, policy: str) -> None:
    src = tmp_path / "src"
    digest = make_oci_layout(src)
    ours = f"docker://{reg.addr}/test/img:1"
    skopeo(policy, "copy", "--dest-tls-verify=false", f"oci:{src}:1", ours)
    with run_docker_registry(str(tmp_path)) as peer:
        theirs = f"docker://{peer}/copied/img:1"
        skopeo(policy, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", ours, theirs)
        assert raw_digest(policy, theirs) == digest
        back = f"docker://{reg.addr}/back/from-distribution:2"
        skopeo(policy, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", theirs, back)
        assert raw_digest(policy, back) == digest
    out = tmp_path / "out"
    skopeo(policy, "copy", "--src-tls-verify=false", back, f"oci:{out}:2")
    assert layout_digest(out) == digest
    assert json.loads(skopeo(policy, "list-tags", "--tls-verify=false",
                             f"docker://{reg.addr}/back/from-distribution"))["Tags"] == ["2"]
