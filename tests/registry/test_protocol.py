"""Protocol details over raw HTTP: blob ranges, manifest content negotiation (as the CNCF distribution registry
does it), conditional manifest GETs and mount without `from`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from ._server import Registry, run_registry, sha256
from .test_api import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, desc, image


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with run_registry(str(tmp_path_factory.mktemp("proto") / "root")) as r:
        yield r


def test_blob_ranges(reg: Registry) -> None:
    data = os.urandom(4096)
    d = reg.push_blob("rng/a", data)
    path = f"/v2/rng/a/blobs/{d}"
    r = reg.request("GET", path, headers={"Range": "bytes=0-0"})
    assert r.status == 206 and r.body == data[:1] and r.headers["content-range"] == "bytes 0-0/4096"
    r = reg.request("GET", path, headers={"Range": "bytes=-100"})
    assert r.status == 206 and r.body == data[-100:] and r.headers["content-range"] == "bytes 3996-4095/4096"
    r = reg.request("GET", path, headers={"Range": "bytes=4000-"})
    assert r.status == 206 and r.body == data[4000:]
    r = reg.request("GET", path, headers={"Range": "bytes=4096-5000"})
    assert r.status == 416 and r.headers["content-range"] == "bytes */4096"
    assert reg.request("HEAD", path).headers["accept-ranges"] == "bytes"


def test_mount_without_from_starts_an_upload(reg: Registry) -> None:
    d = reg.push_blob("mnt/src", b"data to mount")
    r = reg.request("POST", f"/v2/mnt/dst/blobs/uploads/?mount={d}")
    assert r.status == 202 and r.headers["location"].startswith("/v2/mnt/dst/blobs/uploads/")
    put = reg.request("PUT", f"{r.headers['location']}?digest={d}", b"data to mount")
    assert put.status == 201
    assert reg.request("GET", f"/v2/mnt/dst/blobs/{d}").body == b"data to mount"


def _get(reg: Registry, repo: str, ref: str, *accept: str, method: str = "GET") -> tuple[int, str, str, bytes]:
    headers = {"Accept": ", ".join(accept)} if accept else {}
    r = reg.request(method, f"/v2/{repo}/manifests/{ref}", headers=headers)
    return r.status, r.headers.get("content-type", ""), r.headers.get("docker-content-digest", ""), r.body


def test_oci_manifest_and_index_negotiation(reg: Registry) -> None:
    repo = "neg/oci"
    m = image(reg, repo, "n1")
    mbody = json.dumps(m).encode()
    assert reg.put_manifest(repo, "img", m).status == 201
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc(OCI_MANIFEST, mbody)]}
    ibody = json.dumps(idx).encode()
    assert reg.put_manifest(repo, "idx", idx).status == 201
    # Accepted, no Accept at all, or a wildcard: the stored manifest with its own Content-Type.
    for accept in ((OCI_INDEX,), (DOCKER_MANIFEST, OCI_INDEX), (), ("*/*",), ("application/json",)):
        for method in ("GET", "HEAD"):
            st, ct, dg, body = _get(reg, repo, "idx", *accept, method=method)
            assert (st, ct, dg) == (200, OCI_INDEX, sha256(ibody)), accept
            assert body == (ibody if method == "GET" else b"")
    # A client that lists manifest types but not OCI ones: not found, as distribution answers.
    for ref in ("idx", sha256(ibody)):
        r = reg.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": f"{DOCKER_MANIFEST}, {DOCKER_LIST}"})
        assert r.status == 404 and r.error_code() == "MANIFEST_UNKNOWN"
    r = reg.request("GET", f"/v2/{repo}/manifests/img", headers={"Accept": DOCKER_MANIFEST})
    assert r.status == 404 and r.error_code() == "MANIFEST_UNKNOWN"
    assert _get(reg, repo, "img", OCI_MANIFEST, OCI_INDEX)[:2] == (200, OCI_MANIFEST)
    # Accept parameters (q=) and repeated headers are understood.
    r = reg.request("GET", f"/v2/{repo}/manifests/idx", headers={"Accept": f"{OCI_INDEX};q=0.5"})
    assert r.status == 200 and r.headers["content-type"] == OCI_INDEX


def test_docker_list_negotiation(reg: Registry) -> None:
    repo = "neg/docker"
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = b"negotiated layer"
    reg.push_blob(repo, config)
    reg.push_blob(repo, layer)
    m = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
         "config": desc("application/vnd.docker.container.image.v1+json", config),
         "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)]}
    mbody = json.dumps(m).encode()
    assert reg.put_manifest(repo, sha256(mbody), m).status == 201
    lst = {"schemaVersion": 2, "mediaType": DOCKER_LIST,
           "manifests": [{**desc(DOCKER_MANIFEST, mbody), "platform": {"architecture": "amd64", "os": "linux"}}]}
    lbody = json.dumps(lst).encode()
    assert reg.put_manifest(repo, "multi", lst).status == 201
    assert _get(reg, repo, "multi", DOCKER_LIST, DOCKER_MANIFEST)[:3] == (200, DOCKER_LIST, sha256(lbody))
    # A schema-2-only client asking by tag gets the linux/amd64 image, with that image's digest.
    st, ct, dg, body = _get(reg, repo, "multi", DOCKER_MANIFEST)
    assert (st, ct, dg, body) == (200, DOCKER_MANIFEST, sha256(mbody), mbody)
    # By digest it is served as stored; a Docker schema 2 manifest is served to anyone.
    assert _get(reg, repo, sha256(lbody), DOCKER_MANIFEST)[:2] == (200, DOCKER_LIST)
    assert _get(reg, repo, sha256(mbody), OCI_MANIFEST)[:2] == (200, DOCKER_MANIFEST)
    # A client that takes neither the list nor schema 2.
    r = reg.request("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_MANIFEST})
    assert r.status == 400 and r.error_code() == "MANIFEST_INVALID"
    # No linux/amd64 entry.
    arm = {"schemaVersion": 2, "mediaType": DOCKER_LIST,
           "manifests": [{**desc(DOCKER_MANIFEST, mbody), "platform": {"architecture": "arm64", "os": "linux"}}]}
    assert reg.put_manifest(repo, "arm", arm).status == 201
    r = reg.request("GET", f"/v2/{repo}/manifests/arm", headers={"Accept": DOCKER_MANIFEST})
    assert r.status == 404 and r.error_code() == "MANIFEST_UNKNOWN"


def test_conditional_manifest_get(reg: Registry) -> None:
    repo = "neg/etag"
    m = image(reg, repo, "etag")
    d = sha256(json.dumps(m).encode())
    assert reg.put_manifest(repo, "t", m).status == 201
    g = reg.request("GET", f"/v2/{repo}/manifests/t")
    assert g.headers["etag"] == f'"{d}"'
    for etag in (f'"{d}"', d):
        r = reg.request("GET", f"/v2/{repo}/manifests/t", headers={"If-None-Match": etag})
        assert r.status == 304 and r.body == b""
    assert reg.request("GET", f"/v2/{repo}/manifests/t", headers={"If-None-Match": '"sha256:00"'}).status == 200
