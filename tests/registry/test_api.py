"""pallet-registry's OCI Distribution Spec v1.1 API over raw HTTP against a subprocess server."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._server import Registry, run_registry, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with run_registry(str(tmp_path_factory.mktemp("reg") / "root")) as r:
        yield r


def desc(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


def image(reg: Registry, repo: str, seed: str, config_type: str = OCI_CONFIG, **extra: Any) -> dict[str, Any]:
    """Push a config and a layer; return an OCI image manifest referencing them."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer-{seed}".encode()
    reg.push_blob(repo, config)
    reg.push_blob(repo, layer)
    return {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(config_type, config),
            "layers": [desc(OCI_LAYER, layer)], **extra}


def mdigest(doc: dict[str, Any]) -> str:
    return sha256(json.dumps(doc).encode())


class Unchanged:
    """Asserts that a request left no new blob or upload file behind."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg

    def __enter__(self) -> Unchanged:
        self.blobs, self.uploads = self.reg.blob_files(), self.reg.upload_files()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.reg.blob_files() == self.blobs
        assert self.reg.upload_files() == self.uploads


# --- base -----------------------------------------------------------------------------------------


def test_base(reg: Registry) -> None:
    r = reg.request("GET", "/v2/")
    assert r.status == 200
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert reg.request("HEAD", "/v2/").status == 200


def test_access_log_is_json(reg: Registry) -> None:
    reg.request("GET", "/v2/")
    lines = [json.loads(x) for x in reg.logs().splitlines() if x.startswith("{")]
    req = [x for x in lines if x.get("event") == "request"]
    assert req, reg.logs()
    assert {"method", "path", "status", "bytes", "duration"} <= set(req[-1])


# --- blobs ------------------------------------------------------------------------------------------


def test_monolithic_blob_head_get_range_delete(reg: Registry) -> None:
    data = b"0123456789" * 100
    d = reg.push_blob("blob/mono", data)
    assert d in reg.blob_files()
    h = reg.request("HEAD", f"/v2/blob/mono/blobs/{d}")
    assert h.status == 200 and h.body == b""
    assert h.headers["content-length"] == str(len(data))
    assert h.headers["docker-content-digest"] == d
    assert h.headers["content-type"] == "application/octet-stream"
    g = reg.request("GET", f"/v2/blob/mono/blobs/{d}")
    assert g.status == 200 and g.body == data
    assert g.headers["docker-content-digest"] == d
    assert g.headers["content-type"] == "application/octet-stream"
    p = reg.request("GET", f"/v2/blob/mono/blobs/{d}", headers={"Range": "bytes=10-19"})
    assert p.status == 206 and p.body == data[10:20]
    assert p.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert reg.request("GET", f"/v2/blob/mono/blobs/{d}", headers={"Range": "bytes=5000-6000"}).status == 416
    # Shared store, per-repository links: another repository does not see it.
    other = reg.request("GET", f"/v2/blob/other/blobs/{d}")
    assert other.status == 404 and other.error_code() == "BLOB_UNKNOWN"
    assert reg.request("DELETE", f"/v2/blob/mono/blobs/{d}").status == 202
    gone = reg.request("HEAD", f"/v2/blob/mono/blobs/{d}")
    assert gone.status == 404
    assert reg.request("DELETE", f"/v2/blob/mono/blobs/{d}").error_code() == "BLOB_UNKNOWN"


def test_blob_unknown_and_bad_digest(reg: Registry) -> None:
    r = reg.request("GET", "/v2/blob/x/blobs/sha256:" + "0" * 64)
    assert r.status == 404 and r.error_code() == "BLOB_UNKNOWN"
    r = reg.request("GET", "/v2/blob/x/blobs/sha256:abc")
    assert r.status == 400 and r.error_code() == "DIGEST_INVALID"
    r = reg.request("GET", "/v2/blob/x/blobs/md5:" + "0" * 32)
    assert r.status == 400 and r.error_code() == "DIGEST_INVALID"


def test_empty_blob(reg: Registry) -> None:
    d = reg.push_blob("blob/empty", b"")
    assert d == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    g = reg.request("GET", f"/v2/blob/empty/blobs/{d}")
    assert g.status == 200 and g.body == b"" and g.headers["content-length"] == "0"


def test_sha512_blob(reg: Registry) -> None:
    data = b"sha512 content"
    d = "sha512:" + hashlib.sha512(data).hexdigest()
    r = reg.request("POST", f"/v2/blob/s512/blobs/uploads/?digest={d}", data)
    assert r.status == 201 and r.headers["docker-content-digest"] == d
    assert reg.request("GET", f"/v2/blob/s512/blobs/{d}").body == data
    # chunked upload finished with a sha512 digest (re-hash path)
    loc = reg.request("POST", "/v2/blob/s512/blobs/uploads/").headers["location"]
    assert reg.request("PATCH", loc, data).status == 202
    assert reg.request("PUT", f"{loc}?digest={d}").status == 201


def test_post_then_put(reg: Registry) -> None:
    data = b"post then put"
    r = reg.request("POST", "/v2/blob/pp/blobs/uploads/")
    assert r.status == 202
    loc, uuid = r.headers["location"], r.headers["docker-upload-uuid"]
    assert loc.endswith(uuid) and r.headers["range"] == "0-0"
    d = sha256(data)
    put = reg.request("PUT", f"{loc}?digest={d}", data, {"Content-Type": "application/octet-stream"})
    assert put.status == 201
    assert put.headers["location"] == f"/v2/blob/pp/blobs/{d}"
    assert put.headers["docker-content-digest"] == d
    assert reg.request("GET", f"/v2/blob/pp/blobs/{d}").body == data
    assert reg.request("GET", loc).error_code() == "BLOB_UPLOAD_UNKNOWN"


def test_chunked_upload_status_and_out_of_order(reg: Registry) -> None:
    data = bytes(range(256)) * 40
    a, b, c = data[:4000], data[4000:8000], data[8000:]
    loc = reg.request("POST", "/v2/blob/chunks/blobs/uploads/").headers["location"]
    r = reg.request("PATCH", loc, a, {"Content-Range": f"0-{len(a) - 1}", "Content-Type": "application/octet-stream"})
    assert r.status == 202 and r.headers["range"] == "0-3999"
    loc = r.headers["location"]
    with Unchanged(reg):
        bad = reg.request("PATCH", loc, c, {"Content-Range": f"8000-{len(data) - 1}"})
    assert bad.status == 416 and bad.error_code() == "BLOB_UPLOAD_INVALID"
    st = reg.request("GET", loc)
    assert st.status == 204 and st.headers["range"] == "0-3999"
    assert st.headers["location"] == loc and st.headers["docker-upload-uuid"] in loc
    # size mismatch: Content-Range says 4000 bytes, body has 10 → rejected, offset unchanged
    mis = reg.request("PATCH", loc, b"x" * 10, {"Content-Range": "4000-7999"})
    assert mis.status in (400, 416) and mis.error_code() == "BLOB_UPLOAD_INVALID"
    assert reg.request("GET", loc).headers["range"] == "0-3999"
    r = reg.request("PATCH", loc, b, {"Content-Range": "4000-7999"})
    assert r.status == 202 and r.headers["range"] == "0-7999"
    put = reg.request("PUT", f"{loc}?digest={sha256(data)}", c, {"Content-Range": f"8000-{len(data) - 1}"})
    assert put.status == 201, put.body
    assert reg.request("GET", f"/v2/blob/chunks/blobs/{sha256(data)}").body == data


def test_streamed_patch(reg: Registry) -> None:
    data = b"streamed " * 1000
    loc = reg.request("POST", "/v2/blob/stream/blobs/uploads/").headers["location"]
    r = reg.request("PATCH", loc, data, {"Transfer-Encoding": "chunked"})
    assert r.status == 202 and r.headers["range"] == f"0-{len(data) - 1}"
    r = reg.request("PATCH", r.headers["location"], b"more")
    assert r.headers["range"] == f"0-{len(data) + 3}"
    assert reg.request("PUT", f"{r.headers['location']}?digest={sha256(data + b'more')}").status == 201


def test_cancel_upload(reg: Registry) -> None:
    loc = reg.request("POST", "/v2/blob/cancel/blobs/uploads/").headers["location"]
    reg.request("PATCH", loc, b"partial")
    assert reg.request("DELETE", loc).status == 204
    r = reg.request("GET", loc)
    assert r.status == 404 and r.error_code() == "BLOB_UPLOAD_UNKNOWN"
    assert reg.request("PATCH", loc, b"x").error_code() == "BLOB_UPLOAD_UNKNOWN"
    assert loc.rsplit("/", 1)[1] not in reg.upload_files()


def test_wrong_digest_leaves_nothing(reg: Registry) -> None:
    wrong = sha256(b"something else")
    with Unchanged(reg):
        r = reg.request("POST", f"/v2/blob/wrong/blobs/uploads/?digest={wrong}", b"content")
        assert r.status == 400 and r.error_code() == "DIGEST_INVALID"
    loc = reg.request("POST", "/v2/blob/wrong/blobs/uploads/").headers["location"]
    before = reg.blob_files()
    r = reg.request("PUT", f"{loc}?digest={wrong}", b"content")
    assert r.status == 400 and r.error_code() == "DIGEST_INVALID"
    assert reg.blob_files() == before
    assert loc.rsplit("/", 1)[1] not in reg.upload_files()
    loc = reg.request("POST", "/v2/blob/wrong/blobs/uploads/").headers["location"]
    r = reg.request("PUT", f"{loc}?digest=sha256:nothex", b"content")
    assert r.status == 400 and r.error_code() == "DIGEST_INVALID"


def test_unknown_upload(reg: Registry) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        r = reg.request(method, "/v2/blob/u/blobs/uploads/6f1c7d4e-0000-4000-8000-000000000000", b"")
        assert r.status == 404 and r.error_code() == "BLOB_UPLOAD_UNKNOWN", method
    # an upload belongs to its repository
    loc = reg.request("POST", "/v2/blob/u1/blobs/uploads/").headers["location"]
    r = reg.request("GET", loc.replace("/blob/u1/", "/blob/u2/"))
    assert r.error_code() == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount(reg: Registry) -> None:
    d = reg.push_blob("mount/src", b"mount me")
    r = reg.request("POST", f"/v2/mount/dst/blobs/uploads/?mount={d}&from=mount/src")
    assert r.status == 201
    assert r.headers["location"] == f"/v2/mount/dst/blobs/{d}" and r.headers["docker-content-digest"] == d
    assert reg.request("GET", f"/v2/mount/dst/blobs/{d}").body == b"mount me"
    # without from (or from a repository without the blob): a normal upload session
    r = reg.request("POST", f"/v2/mount/dst2/blobs/uploads/?mount={d}")
    assert r.status == 202 and "docker-upload-uuid" in r.headers
    r = reg.request("POST", f"/v2/mount/dst2/blobs/uploads/?mount={d}&from=mount/nothing")
    assert r.status == 202
    assert reg.request("HEAD", f"/v2/mount/dst2/blobs/{d}").status == 404


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Upper/img", "../etc", "a/../b", "%2e%2e/b", "a/%2e%2e/b", "a//b", "-a", "a_",
                                  "a/b/", ".hidden", "a" * 256, "a%2fb", "a..b"])
def test_invalid_names(reg: Registry, name: str) -> None:
    with Unchanged(reg):
        for method, path, body in [
            ("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(b'x')}", b"x"),
            ("POST", f"/v2/{name}/blobs/uploads/", None),
            ("GET", f"/v2/{name}/tags/list", None),
            ("PUT", f"/v2/{name}/manifests/latest", b"{}"),
            ("GET", f"/v2/{name}/manifests/latest", None),
        ]:
            r = reg.request(method, path, body)
            assert r.status == 400 and r.error_code() == "NAME_INVALID", (method, path, r.status, r.body)


def test_valid_names(reg: Registry) -> None:
    for name in ["a", "a/b/c", "a.b", "a__b", "a---b", "x0/y_1.z-2", "a" * 255]:
        reg.push_blob(name, b"ok")


# --- manifests ------------------------------------------------------------------------------------


def test_manifest_put_get_head_by_tag_and_digest(reg: Registry) -> None:
    doc = image(reg, "man/img", "1")
    body = json.dumps(doc).encode()
    d = sha256(body)
    r = reg.put_manifest("man/img", "v1", doc)
    assert r.status == 201, r.body
    assert r.headers["location"] == f"/v2/man/img/manifests/{d}"
    assert r.headers["docker-content-digest"] == d
    assert "oci-subject" not in r.headers
    for ref in ("v1", d):
        g = reg.request("GET", f"/v2/man/img/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert g.status == 200 and g.body == body
        assert g.headers["content-type"] == OCI_MANIFEST
        assert g.headers["docker-content-digest"] == d
        assert g.headers["content-length"] == str(len(body))
        h = reg.request("HEAD", f"/v2/man/img/manifests/{ref}")
        assert h.status == 200 and h.body == b""
        assert h.headers["content-length"] == str(len(body)) and h.headers["docker-content-digest"] == d
        assert h.headers["content-type"] == OCI_MANIFEST
    # PUT by digest
    doc2 = image(reg, "man/img", "2")
    r = reg.put_manifest("man/img", mdigest(doc2), doc2)
    assert r.status == 201 and r.headers["docker-content-digest"] == mdigest(doc2)
    # sha512 reference
    b512 = json.dumps(doc2, indent=1).encode()
    d512 = "sha512:" + hashlib.sha512(b512).hexdigest()
    r = reg.put_manifest("man/img", d512, b512, OCI_MANIFEST)
    assert r.status == 201 and r.headers["docker-content-digest"] == d512
    assert reg.request("GET", f"/v2/man/img/manifests/{d512}").body == b512


def test_manifest_unknown(reg: Registry) -> None:
    image(reg, "man/unk", "x")
    r = reg.request("GET", "/v2/man/unk/manifests/nope")
    assert r.status == 404 and r.error_code() == "MANIFEST_UNKNOWN"
    r = reg.request("GET", f"/v2/man/unk/manifests/sha256:{'1' * 64}")
    assert r.status == 404 and r.error_code() == "MANIFEST_UNKNOWN"
    r = reg.request("GET", "/v2/man/never/manifests/latest")
    assert r.status == 404 and r.error_code() in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_manifest_invalid_inputs_leave_nothing(reg: Registry) -> None:
    repo = "man/bad"
    doc = image(reg, repo, "bad")
    cases: list[tuple[str, bytes, str | None, str, int]] = [
        ("latest", b"{not json", OCI_MANIFEST, "MANIFEST_INVALID", 400),
        ("latest", b"[1, 2]", OCI_MANIFEST, "MANIFEST_INVALID", 400),
        ("latest", json.dumps(doc).encode(), DOCKER_MANIFEST, "MANIFEST_INVALID", 400),  # mediaType mismatch
        ("latest", json.dumps({"schemaVersion": 1, "name": repo, "tag": "latest", "fsLayers": []}).encode(),
         "application/vnd.docker.distribution.manifest.v1+prettyjws", "MANIFEST_INVALID", 400),
        ("latest", json.dumps({**doc, "layers": [desc(OCI_LAYER, b"missing layer")]}).encode(), OCI_MANIFEST,
         "MANIFEST_BLOB_UNKNOWN", 400),
        ("latest", json.dumps({**doc, "config": desc(OCI_CONFIG, b"missing config")}).encode(), OCI_MANIFEST,
         "MANIFEST_BLOB_UNKNOWN", 400),
        ("latest", json.dumps({**doc, "config": {"mediaType": OCI_CONFIG, "size": 1}}).encode(), OCI_MANIFEST,
         "MANIFEST_INVALID", 400),
        (sha256(b"not the body"), json.dumps(doc).encode(), OCI_MANIFEST, "DIGEST_INVALID", 400),
        ("bad tag!", json.dumps(doc).encode(), OCI_MANIFEST, "MANIFEST_INVALID", 400),
        ("latest", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                               "manifests": [desc(OCI_MANIFEST, b"no such manifest")]}).encode(), OCI_INDEX,
         "MANIFEST_BLOB_UNKNOWN", 400),
        ("latest", json.dumps({**doc, "mediaType": "application/x-unknown"}).encode(), None, "MANIFEST_INVALID", 400),
    ]
    with Unchanged(reg):
        for ref, body, ct, code, status in cases:
            r = reg.put_manifest(repo, ref.replace(" ", "%20").replace("!", "%21"), body, ct)
            assert (r.status, r.error_code()) == (status, code), (ref, body[:80], r.body)
        assert reg.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == []


def test_oversized_manifest(reg: Registry) -> None:
    doc = image(reg, "man/big", "big", annotations={"pad": "x" * (4 * 1024 * 1024)})
    with Unchanged(reg):
        r = reg.put_manifest("man/big", "latest", doc)
    assert r.status in (413, 400) and r.error_code() in ("SIZE_INVALID", "MANIFEST_INVALID")


def test_docker_schema2_and_manifest_list(reg: Registry) -> None:
    repo = "man/docker"
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = b"docker layer"
    reg.push_blob(repo, config)
    reg.push_blob(repo, layer)
    m = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
         "config": desc("application/vnd.docker.container.image.v1+json", config),
         "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", layer),
                    {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                     "digest": sha256(b"foreign"), "size": 7, "urls": ["https://example.com/layer"]}]}
    r = reg.put_manifest(repo, "amd64", m)
    assert r.status == 201, r.body
    lst = {"schemaVersion": 2, "mediaType": DOCKER_LIST,
           "manifests": [{**desc(DOCKER_MANIFEST, json.dumps(m).encode()),
                          "platform": {"architecture": "amd64", "os": "linux"}}]}
    r = reg.put_manifest(repo, "latest", lst)
    assert r.status == 201, r.body
    g = reg.request("GET", f"/v2/{repo}/manifests/latest", headers={"Accept": DOCKER_LIST})
    assert g.headers["content-type"] == DOCKER_LIST and g.json() == lst
    # OCI index of the same
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": lst["manifests"]}
    assert reg.put_manifest(repo, "oci", idx).status == 201
    assert reg.request("GET", f"/v2/{repo}/manifests/oci").headers["content-type"] == OCI_INDEX


def test_artifact_and_referrers(reg: Registry) -> None:
    repo = "man/ref"
    subject_doc = image(reg, repo, "subject")
    assert reg.put_manifest(repo, "latest", subject_doc).status == 201
    subject = desc(OCI_MANIFEST, json.dumps(subject_doc).encode())
    empty = b"{}"
    reg.push_blob(repo, empty)
    sig = b"signature bytes"
    reg.push_blob(repo, sig)
    art1 = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
            "config": {**desc(OCI_EMPTY, empty)}, "layers": [desc("application/octet-stream", sig)],
            "subject": subject, "annotations": {"org.example.kind": "sig"}}
    r = reg.put_manifest(repo, mdigest(art1), art1)
    assert r.status == 201, r.body
    assert r.headers["oci-subject"] == subject["digest"]
    # artifactType taken from a non-image config media type
    sbom_cfg = b'{"sbom": true}'
    reg.push_blob(repo, sbom_cfg)
    art2 = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc("application/vnd.example.sbom", sbom_cfg),
            "layers": [], "subject": subject}
    assert reg.put_manifest(repo, mdigest(art2), art2).status == 201
    # referrers: an OCI index of both
    r = reg.request("GET", f"/v2/{repo}/referrers/{subject['digest']}")
    assert r.status == 200 and r.headers["content-type"].startswith(OCI_INDEX)
    idx = r.json()
    assert idx["schemaVersion"] == 2 and idx["mediaType"] == OCI_INDEX
    by = {m["digest"]: m for m in idx["manifests"]}
    assert set(by) == {mdigest(art1), mdigest(art2)}
    assert by[mdigest(art1)]["artifactType"] == "application/vnd.example.sig"
    assert by[mdigest(art1)]["annotations"] == {"org.example.kind": "sig"}
    assert by[mdigest(art1)]["size"] == len(json.dumps(art1).encode())
    assert by[mdigest(art2)]["artifactType"] == "application/vnd.example.sbom"
    assert "oci-filters-applied" not in r.headers
    # filtered
    r = reg.request("GET", f"/v2/{repo}/referrers/{subject['digest']}?artifactType=application/vnd.example.sbom")
    assert r.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [mdigest(art2)]
    # unknown subject: empty index; bad digest: 400
    r = reg.request("GET", f"/v2/{repo}/referrers/sha256:{'2' * 64}")
    assert r.status == 200 and r.json()["manifests"] == []
    assert reg.request("GET", f"/v2/{repo}/referrers/notadigest").error_code() == "DIGEST_INVALID"
    # deleting a referrer removes it from the list
    assert reg.request("DELETE", f"/v2/{repo}/manifests/{mdigest(art2)}").status == 202
    r = reg.request("GET", f"/v2/{repo}/referrers/{subject['digest']}")
    assert [m["digest"] for m in r.json()["manifests"]] == [mdigest(art1)]


def test_tags_list_pagination_and_delete(reg: Registry) -> None:
    repo = "man/tags"
    doc = image(reg, repo, "tags")
    tags = ["b", "a", "C", "10", "2", "latest", "v1.0", "_x"]
    for t in tags:
        assert reg.put_manifest(repo, t, doc).status == 201
    full = reg.request("GET", f"/v2/{repo}/tags/list").json()
    assert full == {"name": repo, "tags": sorted(tags)}
    seen: list[str] = []
    path = f"/v2/{repo}/tags/list?n=3"
    while True:
        r = reg.request("GET", path)
        assert r.status == 200
        page = r.json()["tags"]
        assert len(page) <= 3
        seen += page
        link = r.headers.get("link")
        if not link:
            break
        assert link.endswith('>; rel="next"') and link.startswith(f"</v2/{repo}/tags/list?n=3&last=")
        path = link[1:link.index(">")]
    assert seen == sorted(tags)
    r = reg.request("GET", f"/v2/{repo}/tags/list?n=2&last=a")
    assert r.json()["tags"] == sorted(tags)[sorted(tags).index("a") + 1:][:2]
    assert reg.request("GET", f"/v2/{repo}/tags/list?n=0").json()["tags"] == []
    # tag delete
    assert reg.request("DELETE", f"/v2/{repo}/manifests/b").status == 202
    assert "b" not in reg.request("GET", f"/v2/{repo}/tags/list").json()["tags"]
    assert reg.request("DELETE", f"/v2/{repo}/manifests/b").error_code() == "MANIFEST_UNKNOWN"
    assert reg.request("GET", f"/v2/{repo}/manifests/a").status == 200
    # manifest delete by digest drops every tag pointing at it
    assert reg.request("DELETE", f"/v2/{repo}/manifests/{mdigest(doc)}").status == 202
    assert reg.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == []
    assert reg.request("GET", f"/v2/{repo}/manifests/a").error_code() == "MANIFEST_UNKNOWN"
    r = reg.request("GET", "/v2/man/nosuchrepo/tags/list")
    assert r.status == 404 and r.error_code() == "NAME_UNKNOWN"


def test_catalog_pagination(tmp_path: Path) -> None:
    with run_registry(str(tmp_path / "root")) as r:
        names = ["zeta", "alpha/one", "alpha", "beta/x/y", "m-n"]
        for n in names:
            r.push_blob(n, b"c")
        assert r.request("GET", "/v2/_catalog").json() == {"repositories": sorted(names)}
        seen: list[str] = []
        path = "/v2/_catalog?n=2"
        while path:
            resp = r.request("GET", path)
            seen += resp.json()["repositories"]
            link = resp.headers.get("link", "")
            path = link[1:link.index(">")] if link else ""
        assert seen == sorted(names)


def test_read_only_mode_and_config_file(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    with run_registry(root) as r:
        d = r.push_blob("ro/img", b"before")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"read_only": True, "root": "/nonexistent-overridden"}))
    with run_registry(root, "--config", str(cfg)) as r:
        assert r.request("GET", f"/v2/ro/img/blobs/{d}").body == b"before"
        for method, path in [("POST", "/v2/ro/img/blobs/uploads/"), ("PUT", "/v2/ro/img/manifests/x"),
                             ("DELETE", f"/v2/ro/img/blobs/{d}"), ("PATCH", "/v2/ro/img/blobs/uploads/x")]:
            resp = r.request(method, path, b"")
            assert resp.status == 405 and resp.error_code() == "UNSUPPORTED", (method, path)
    with run_registry(root, "--read-only") as r:
        assert r.request("POST", "/v2/ro/img/blobs/uploads/").status == 405


def test_upload_resumes_after_restart(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    data = os.urandom(100_000)
    with run_registry(root) as r:
        loc = r.request("POST", "/v2/resume/img/blobs/uploads/").headers["location"]
        assert r.request("PATCH", loc, data[:60_000], {"Content-Range": "0-59999"}).status == 202
    with run_registry(root) as r:
        st = r.request("GET", loc)
        assert st.status == 204 and st.headers["range"] == "0-59999"
        assert r.request("PATCH", loc, data[60_000:], {"Content-Range": "60000-99999"}).status == 202
        assert r.request("PUT", f"{loc}?digest={sha256(data)}").status == 201
        assert r.request("GET", f"/v2/resume/img/blobs/{sha256(data)}").body == data
        assert r.upload_files() == []
