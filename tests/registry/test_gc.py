"""Garbage collection through the gRPC admin API of a running registry: exactly the unreferenced blobs go,
shared and fresh ones stay, dry runs remove nothing, and collections racing pushes never break a push."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from pallet.registry.v1 import registry_pb2 as pb

from ._server import Registry, run_registry, sha256
from .test_api import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, desc

NO_GRACE = Duration(seconds=0)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(str(tmp_path / "root")) as r:
        yield r


@pytest.fixture
def admin(reg: Registry) -> Iterator[Any]:
    stub = reg.admin()
    yield stub
    stub.channel.close()


def push_image(reg: Registry, repo: str, seed: str, tag: str | None = None,
               shared: bytes | None = None) -> tuple[str, list[str]]:
    """Push config + layer(s) and a manifest; returns (manifest digest, blob digests)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layers = [f"layer {seed}".encode()] + ([shared] if shared else [])
    blobs = [reg.push_blob(repo, b) for b in (config, *layers)]
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, config),
           "layers": [desc(OCI_LAYER, b) for b in layers]}
    body = json.dumps(doc).encode()
    r = reg.put_manifest(repo, tag or sha256(body), doc)
    assert r.status == 201, r.body
    return sha256(body), blobs


def pullable(reg: Registry, repo: str, ref: str) -> bool:
    m = reg.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
    if m.status != 200:
        return False
    doc = m.json()
    if "manifests" in doc:
        return all(pullable(reg, repo, c["digest"]) for c in doc["manifests"])
    for d in [doc["config"]["digest"], *(x["digest"] for x in doc["layers"])]:
        b = reg.request("GET", f"/v2/{repo}/blobs/{d}")
        if b.status != 200 or sha256(b.body) != d:
            return False
    return True


def collect(admin: Any, **kw: Any) -> pb.GCReport:
    return admin.GarbageCollect(pb.GarbageCollectRequest(**kw), timeout=30).report


def test_gc_removes_exactly_the_unreferenced_blobs(reg: Registry, admin: Any) -> None:
    shared = b"a layer both images share"
    a, a_blobs = push_image(reg, "gc/a", "a", "v1", shared)
    b, b_blobs = push_image(reg, "gc/b", "b", "v1", shared)
    orphan = reg.push_blob("gc/a", b"pushed, never referenced")
    assert reg.request("DELETE", f"/v2/gc/b/manifests/{b}").status == 202
    # Nothing is older than the default grace period (1 h): nothing goes.
    r = collect(admin)
    assert list(r.blobs) == [] and not r.dry_run
    before = reg.blob_files()
    dry = collect(admin, dry_run=True, grace_period=NO_GRACE)
    assert reg.blob_files() == before  # a dry run removes nothing
    expected = {b, orphan, *b_blobs[:2]}  # b's manifest, config and own layer; the orphan
    assert {x.digest for x in dry.blobs} == expected
    assert dry.blob_bytes == sum(x.size for x in dry.blobs) > 0
    r = collect(admin, grace_period=NO_GRACE)
    assert {x.digest for x in r.blobs} == expected and r.blob_bytes == dry.blob_bytes
    assert r.links == 3  # gc/a -> orphan, gc/b -> config and own layer
    assert reg.blob_files() == sorted(set(before) - expected)
    assert pullable(reg, "gc/a", "v1")
    assert reg.request("HEAD", f"/v2/gc/b/blobs/{sha256(shared)}").status == 200  # still used by gc/a
    assert reg.request("HEAD", f"/v2/gc/a/blobs/{orphan}").status == 404
    assert reg.request("HEAD", f"/v2/gc/b/blobs/{b_blobs[1]}").status == 404
    # Idempotent; and the removed blob can be pushed again.
    assert list(collect(admin, grace_period=NO_GRACE).blobs) == []
    assert reg.push_blob("gc/a", b"pushed, never referenced") == orphan
    assert reg.request("HEAD", f"/v2/gc/a/blobs/{orphan}").status == 200
    st = admin.GCStatus(pb.GCStatusRequest())
    assert not st.running and st.last.blob_bytes == 0 and st.last_error == ""
    assert st.last.finished.ToNanoseconds() >= st.last.started.ToNanoseconds() > 0


def test_deleted_tag_keeps_the_manifest_unless_delete_untagged(reg: Registry, admin: Any) -> None:
    d, blobs = push_image(reg, "gc/u", "u", "old")
    keep, keep_blobs = push_image(reg, "gc/u", "k", "keep")
    assert reg.request("DELETE", "/v2/gc/u/manifests/old").status == 202
    assert list(collect(admin, grace_period=NO_GRACE).blobs) == []
    assert pullable(reg, "gc/u", d)  # untagged but still there
    dry = collect(admin, grace_period=NO_GRACE, delete_untagged=True, dry_run=True)
    assert [(m.repository, m.digest) for m in dry.manifests] == [("gc/u", d)]
    assert {x.digest for x in dry.blobs} == {d, *blobs}
    assert pullable(reg, "gc/u", d)
    r = collect(admin, grace_period=NO_GRACE, delete_untagged=True)
    assert [(m.repository, m.digest) for m in r.manifests] == [("gc/u", d)]
    assert {x.digest for x in r.blobs} == {d, *blobs}
    assert reg.request("GET", f"/v2/gc/u/manifests/{d}").status == 404
    assert pullable(reg, "gc/u", "keep")


def test_delete_untagged_keeps_index_children_referrers_and_fresh_manifests(reg: Registry, admin: Any) -> None:
    repo = "gc/idx"
    child, child_blobs = push_image(reg, repo, "child")
    size = len(reg.request("GET", f"/v2/{repo}/manifests/{child}").body)
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX,
           "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": size}]}
    assert reg.put_manifest(repo, "multi", idx).status == 201
    empty = reg.push_blob(repo, b"{}")
    sig = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-signature",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
           "layers": [], "subject": {"mediaType": OCI_INDEX, "digest": sha256(json.dumps(idx).encode()),
                                     "size": len(json.dumps(idx))}}
    assert reg.put_manifest(repo, sha256(json.dumps(sig).encode()), sig).status == 201
    fresh, _ = push_image(reg, repo, "fresh")  # untagged, but within the grace period below
    r = collect(admin, delete_untagged=True, grace_period=Duration(seconds=600))
    assert list(r.manifests) == [] and list(r.blobs) == []
    r = collect(admin, delete_untagged=True, grace_period=NO_GRACE)
    assert [m.digest for m in r.manifests] == [fresh]
    assert pullable(reg, repo, "multi") and pullable(reg, repo, sha256(json.dumps(sig).encode()))
    assert set(child_blobs) <= set(reg.blob_files())


def test_uploads_in_progress_survive_and_abandoned_ones_go(reg: Registry, admin: Any) -> None:
    r = reg.request("POST", "/v2/gc/up/blobs/uploads/")
    loc = r.headers["location"]
    assert reg.request("PATCH", loc, b"partial", {"Content-Range": "0-6"}).status == 202
    stray = os.path.join(reg.root, "uploads", "stray-file")
    Path(stray).write_bytes(b"left by a crash")
    os.utime(stray, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    res = collect(admin, grace_period=NO_GRACE)  # default upload age (24 h): the upload stays
    assert [(u.repository, u.uuid) for u in res.uploads] == [("", "stray-file")]
    assert not os.path.exists(stray)
    assert reg.request("GET", loc).status == 204
    dry = collect(admin, upload_max_age=NO_GRACE, dry_run=True)
    uuid = loc.rsplit("/", 1)[1]
    assert [(u.repository, u.uuid, u.size) for u in dry.uploads] == [("gc/up", uuid, 7)]
    assert reg.request("GET", loc).status == 204
    res = collect(admin, upload_max_age=NO_GRACE)
    assert [(u.repository, u.uuid) for u in res.uploads] == [("gc/up", uuid)] and res.upload_bytes == 7
    assert reg.upload_files() == []
    g = reg.request("PATCH", loc, b"more", {"Content-Range": "7-10"})
    assert g.status == 404 and g.error_code() == "BLOB_UPLOAD_UNKNOWN"


@pytest.mark.parametrize("grace", [0, 600])
def test_gc_racing_pushes_never_breaks_a_push(reg: Registry, admin: Any, grace: int) -> None:
    """Pushers share old and new blobs while collections run back to back. With a grace period every push
    succeeds; without one a push may be refused (MANIFEST_BLOB_UNKNOWN, a clean error), but every push that
    succeeded is pullable."""
    push_image(reg, "race/base", "base", "v1", b"common layer")
    assert reg.request("DELETE", "/v2/race/base/manifests/v1").status == 202  # common layer now garbage
    done = threading.Event()
    pushed: list[tuple[str, str]] = []
    refused: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def pusher(n: int) -> None:
        i = 0
        while not done.is_set():
            i += 1
            repo, tag = f"race/p{n}", f"t{i}"
            try:
                push_image(reg, repo, f"{n}-{i}", tag, b"common layer")
                with lock:
                    pushed.append((repo, tag))
            except AssertionError as e:
                with lock:
                    (refused if "MANIFEST_BLOB_UNKNOWN" in str(e) else errors).append(str(e))

    def collector() -> None:
        while not done.is_set():
            try:
                collect(admin, grace_period=Duration(seconds=grace), delete_untagged=True)
            except grpc.RpcError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(3)] + [threading.Thread(target=collector)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    done.set()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    assert len(pushed) + len(refused) > 20
    if grace:
        assert refused == [] and len(pushed) > 20
    collect(admin, grace_period=NO_GRACE)  # and one more after the pushes
    broken = [(repo, tag) for repo, tag in pushed if not pullable(reg, repo, tag)]
    assert broken == []
    assert "Traceback" not in reg.logs()


def test_offline_garbage_collect(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    with run_registry(root) as reg:
        push_image(reg, "off/a", "a", "v1")
        orphan = reg.push_blob("off/a", b"orphan blob")
        cmd = [sys.executable, "-m", "pallet.registry", "garbage-collect", "--root", root]
        busy = subprocess.run(cmd, capture_output=True, text=True)
        assert busy.returncode != 0 and "another pallet-registry is using" in busy.stderr
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, check=True)
    assert f"would remove blob {orphan}" in dry.stdout
    assert orphan in reg.blob_files()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"removed blob {orphan}" in out.stdout and "removed 1 blobs" in out.stdout
    assert orphan not in reg.blob_files()
    bad = subprocess.run([sys.executable, "-m", "pallet.registry", "garbage-collect", "--root", str(tmp_path / "no")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "not a registry root" in bad.stderr
    assert not (tmp_path / "no").exists()
    with run_registry(root) as reg2:
        assert pullable(reg2, "off/a", "v1")


def test_database_of_the_first_version_is_migrated(tmp_path: Path) -> None:
    """A registry.db without manifest_refs, repo_blobs.linked and manifests.created (the first schema) is
    upgraded at start: what its manifests reference is recorded, so GC keeps it."""
    import sqlite3

    root = tmp_path / "root"
    with run_registry(str(root)) as reg:
        push_image(reg, "mig/a", "a", "v1", b"layer of an old registry")
        orphan = reg.push_blob("mig/a", b"garbage of an old registry")
    conn = sqlite3.connect(root / "registry.db")
    conn.executescript("DROP TABLE manifest_refs; ALTER TABLE repo_blobs DROP COLUMN linked;"
                       " ALTER TABLE manifests DROP COLUMN created; PRAGMA user_version = 0;")
    conn.close()
    with run_registry(str(root)) as reg:
        stub = reg.admin()
        try:
            r = collect(stub, grace_period=NO_GRACE)
        finally:
            stub.channel.close()
        assert [x.digest for x in r.blobs] == [orphan]
        assert pullable(reg, "mig/a", "v1")
