"""The gRPC admin API (pallet.registry.v1.Admin) of a running registry: usage, repositories, tags,
repository deletion, GC status, errors, health and reflection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pallet.registry.v1 import registry_pb2 as pb

from ._server import Registry, run_registry, sha256
from .test_api import OCI_MANIFEST
from .test_gc import push_image


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(str(tmp_path / "root")) as r:
        yield r


@pytest.fixture
def admin(reg: Registry) -> Iterator[Any]:
    stub = reg.admin()
    yield stub
    stub.channel.close()


def code_of(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code()  # type: ignore[no-any-return]


def test_usage_repositories_and_tags(reg: Registry, admin: Any) -> None:
    assert admin.Usage(pb.UsageRequest()).total_bytes == 0
    assert list(admin.ListRepositories(pb.ListRepositoriesRequest()).repositories) == []
    shared = b"shared layer " * 100
    a, a_blobs = push_image(reg, "adm/a", "a", "v1", shared)
    b, b_blobs = push_image(reg, "adm/b", "b", "v2", shared)
    assert reg.put_manifest("adm/b", "latest", reg.request("GET", f"/v2/adm/b/manifests/{b}").body,
                            OCI_MANIFEST).status == 201
    sizes = {d: len(reg.request("GET", f"/v2/adm/{r}/blobs/{d}").body)
             for r, ds in (("a", a_blobs), ("b", b_blobs)) for d in ds}
    msize = {d: len(reg.request("GET", f"/v2/adm/{r}/manifests/{d}").body) for r, d in (("a", a), ("b", b))}
    u = admin.Usage(pb.UsageRequest())
    by = {r.repository: r for r in u.repositories}
    assert set(by) == {"adm/a", "adm/b"}
    assert (by["adm/a"].blobs, by["adm/a"].manifests, by["adm/a"].tags) == (4, 1, 1)
    assert (by["adm/b"].blobs, by["adm/b"].manifests, by["adm/b"].tags) == (4, 1, 2)
    assert by["adm/a"].bytes == sum(sizes[d] for d in a_blobs) + msize[a]
    assert u.total_blobs == 8 and u.total_bytes == by["adm/a"].bytes + by["adm/b"].bytes
    assert u.deduplicated_blobs == 7  # the shared layer once
    assert u.deduplicated_bytes == u.total_bytes - len(shared)
    assert u.stored_blobs == 7 and u.stored_bytes == u.deduplicated_bytes
    assert list(admin.ListRepositories(pb.ListRepositoriesRequest()).repositories) == ["adm/a", "adm/b"]
    tags = admin.ListTags(pb.ListTagsRequest(repository="adm/b")).tags
    assert [(t.name, t.digest, t.media_type) for t in tags] == [("latest", b, OCI_MANIFEST), ("v2", b, OCI_MANIFEST)]
    assert code_of(lambda: admin.ListTags(pb.ListTagsRequest(repository="adm/none"))) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: admin.ListTags(pb.ListTagsRequest(repository="Bad//Name"))) == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_delete_repository_then_collect(reg: Registry, admin: Any) -> None:
    shared = b"kept because adm/keep uses it"
    push_image(reg, "adm/keep", "k", "v1", shared)
    d, blobs = push_image(reg, "adm/gone", "g", "v1", shared)
    loc = reg.request("POST", "/v2/adm/gone/blobs/uploads/").headers["location"]
    before = reg.upload_files()
    assert len(before) == 1
    r = admin.DeleteRepository(pb.DeleteRepositoryRequest(repository="adm/gone"))
    assert (r.tags, r.manifests, r.blob_links, r.uploads) == (1, 1, 3, 1)
    assert reg.upload_files() == []
    assert reg.request("GET", loc).status == 404
    assert reg.request("GET", "/v2/adm/gone/tags/list").status == 404
    assert reg.request("GET", "/v2/adm/gone/manifests/v1").status == 404
    assert list(admin.ListRepositories(pb.ListRepositoriesRequest()).repositories) == ["adm/keep"]
    assert code_of(lambda: admin.DeleteRepository(pb.DeleteRepositoryRequest(repository="adm/gone"))) == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: admin.DeleteRepository(pb.DeleteRepositoryRequest(repository=""))) == \
        grpc.StatusCode.INVALID_ARGUMENT
    rep = admin.GarbageCollect(pb.GarbageCollectRequest(grace_period=Duration(seconds=0))).report
    assert {x.digest for x in rep.blobs} == {d, *blobs[:2]}
    assert sha256(shared) in reg.blob_files()


def test_gc_status_and_bad_requests(reg: Registry, admin: Any) -> None:
    st = admin.GCStatus(pb.GCStatusRequest())
    assert not st.running and not st.HasField("last") and st.last_error == ""
    bad = pb.GarbageCollectRequest(grace_period=Duration(seconds=-1))
    assert code_of(lambda: admin.GarbageCollect(bad)) == grpc.StatusCode.INVALID_ARGUMENT
    rep = admin.GarbageCollect(pb.GarbageCollectRequest(dry_run=True)).report
    assert rep.dry_run
    st = admin.GCStatus(pb.GCStatusRequest())
    assert st.HasField("last") and st.last.dry_run


def test_health_and_reflection(reg: Registry, admin: Any) -> None:
    health = health_pb2_grpc.HealthStub(admin.channel)
    for service in ("", "pallet.registry.v1.Admin"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == \
            health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    refl = reflection_pb2_grpc.ServerReflectionStub(admin.channel)
    resp = next(iter(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))))
    names = {s.name for s in resp.list_services_response.service}
    assert "pallet.registry.v1.Admin" in names


def test_admin_socket_config_and_bad_gc_config(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"gc": {"grace_period": "soon"}}))
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "pallet.registry", "--root", str(tmp_path / "root"), "--config",
                        str(cfg), "--addr", "127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "gc.grace_period" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "root").exists()
    sock = tmp_path / "a.sock"
    cfg.write_text(json.dumps({"gc": {"grace_period": 0}, "admin_socket": str(sock)}))
    with run_registry(str(tmp_path / "root2"), "--config", str(cfg), "--admin-socket", str(sock)) as reg:
        orphan = reg.push_blob("cfg/x", b"collected with the configured zero grace period")
        stub = reg.admin()
        try:
            rep = stub.GarbageCollect(pb.GarbageCollectRequest()).report
        finally:
            stub.channel.close()
        assert [x.digest for x in rep.blobs] == [orphan]
    assert not sock.exists()  # removed on shutdown


def test_admin_socket_in_use_or_unusable(tmp_path: Path, reg: Registry) -> None:
    import subprocess
    import sys

    for sock, expect in ((reg.admin_socket, "is served by another process"),
                         ("/proc/no-such-dir/admin.sock", "cannot listen on admin socket")):
        r = subprocess.run([sys.executable, "-m", "pallet.registry", "--root", str(tmp_path / "other"),
                            "--addr", "127.0.0.1:1", "--admin-socket", sock],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and expect in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "other").exists()
    stub = reg.admin()  # the first registry still owns its socket
    try:
        assert stub.GCStatus(pb.GCStatusRequest()).running is False
    finally:
        stub.channel.close()
