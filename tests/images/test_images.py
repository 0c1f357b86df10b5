"""Image records, import, load and save, in process (no gRPC)."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from pallet import errors
from pallet.images import _archive, _import
from pallet.images._backend import Backend
from pallet.images._images import ImageService
from pallet.images._store import ImageRecord

from tests.images import _tars as t
from tests.images.conftest import snapshot_dirs

ROOTFS = t.tar([t.directory("bin"), t.file("bin/hello", b"hello", mode=0o755), t.directory("etc"),
                t.file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")])


def _import_(backend: Backend, data: bytes = ROOTFS, ref: str = "", changes: list[str] | None = None,
             message: str = "") -> ImageRecord:
    return _import.import_image(backend, [data[i:i + 4096] for i in range(0, len(data), 4096)], ref, message,
                                changes or [])


def _load(backend: Backend, data: bytes) -> list[tuple[ImageRecord, list[str]]]:
    return _archive.load(backend, [data[i:i + 65536] for i in range(0, len(data), 65536)])


def _save(backend: Backend, images: ImageService, refs: list[str]) -> bytes:
    return _archive.save_to_bytes(backend, images.save_items(refs))


def _state(backend: Backend, root: str) -> tuple[list[str], list[str], int, list[str]]:
    return (snapshot_dirs(root), [b.digest for b in backend.content.list_blobs()], backend.store.count(),
            os.listdir(backend.tmp_dir))


def test_import_with_changes(backend: Backend, images: ImageService) -> None:
    rec = _import_(backend, t.gz(ROOTFS), "example.com/team/app:1", [
        'CMD ["sh", "-c", "echo hi"]', "ENTRYPOINT /bin/hello", "ENV A=1 B='two words'", "ENV A 3",
        "WORKDIR /srv", "WORKDIR sub", "USER daemon", 'LABEL org.x=y "with space"="v"', "EXPOSE 80 53/udp 8000-8001",
        'VOLUME ["/data"]', "VOLUME /logs", "STOPSIGNAL SIGQUIT"], message="hello")
    img = images.get("example.com/team/app:1")
    assert img.id == rec.id and list(img.repo_tags) == ["example.com/team/app:1"]
    c = img.config
    assert list(c.cmd) == ["sh", "-c", "echo hi"]
    assert list(c.entrypoint) == ["/bin/sh", "-c", "/bin/hello"]
    assert list(c.env) == ["A=3", "B=two words"]
    assert c.working_dir == "/srv/sub" and c.user == "daemon" and c.stop_signal == "SIGQUIT"
    assert dict(c.labels) == {"org.x": "y", "with space": "v"}
    assert sorted(c.exposed_ports) == ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]
    assert list(c.volumes) == ["/data", "/logs"]
    assert img.comment == "hello" and img.platform.os == "linux" and img.platform.architecture
    assert img.size == len(b"hello") + len(b"root:x:0:0::/root:/bin/sh\n")
    assert list(img.diff_ids) == [t.sha(ROOTFS)] and img.chain_id == t.sha(ROOTFS)
    assert img.target.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert img.created.seconds > 0
    manifest = json.loads(backend.content.read_bytes(img.target.digest))
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert manifest["layers"][0]["digest"] == t.sha(t.gz(ROOTFS))
    fs = backend.snapshots.fs_dir(backend.snapshots.stat(img.chain_id).id)
    with open(os.path.join(fs, "bin/hello"), "rb") as f:
        assert f.read() == b"hello"


@pytest.mark.parametrize(("change", "message"), [
    ("FROM busybox", "FROM is not a valid change command"),
    ("RUN true", "RUN is not a valid change command"),
    ("EXPOSE abc", "invalid containerPort"),
    ("STOPSIGNAL NOPE", "invalid signal"),
    ("ENV", "requires at least one argument"),
])
def test_import_rejects_bad_changes(backend: Backend, root: str, change: str, message: str) -> None:
    before = _state(backend, root)
    with pytest.raises(errors.InvalidArgument, match=message):
        _import_(backend, ROOTFS, "x:1", [change])
    assert _state(backend, root) == before


def test_import_rejects_non_tar_and_leaves_nothing(backend: Backend, root: str) -> None:
    before = _state(backend, root)
    for data in (b"this is not a tarball at all" * 100, b"", t.gz(b"not a tar either" * 50), b"\x1f\x8b garbage"):
        with pytest.raises(errors.InvalidArgument, match="tar archive|corrupt|empty"):
            _import_(backend, data, "garbage:1")
    assert _state(backend, root) == before


def test_same_layer_is_stored_once(backend: Backend, images: ImageService, root: str) -> None:
    a = _import_(backend, ROOTFS, "a:1", ["CMD a"])
    b = _import_(backend, ROOTFS, "b:1", ["CMD b"])
    assert a.id != b.id and a.chain_ids == b.chain_ids
    assert [s.name for s in backend.snapshots.list_snapshots()] == a.chain_ids
    assert images.delete("a:1") == (["a:1"], [a.id])  # the layer stays: b uses it
    assert backend.snapshots.exists(b.chain_ids[0])
    untagged, deleted = images.delete("b:1")
    assert untagged == ["b:1"] and deleted == [b.id, b.chain_ids[0]]
    assert backend.snapshots.list_snapshots() == [] and backend.content.list_blobs() == []
    assert snapshot_dirs(root) == []


def test_resolve_names_ids_and_prefixes(backend: Backend, images: ImageService) -> None:
    rec = _import_(backend, ROOTFS, "busybox")
    hexid = rec.id.removeprefix("sha256:")
    for ref in ("busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox",
                rec.id, hexid, hexid[:12], hexid[:1], "sha256:" + hexid[:5]):
        assert images.get(ref).id == rec.id, ref
    assert list(images.get(hexid).repo_tags) == ["busybox:latest"]
    assert images.get("busybox@" + rec.manifest_digest).id == rec.id
    with pytest.raises(errors.NotFound):
        images.get("other@" + rec.manifest_digest)
    with pytest.raises(errors.NotFound, match="No such image: nope"):
        images.get("nope")
    with pytest.raises(errors.InvalidArgument, match="must be lowercase"):
        images.get("NOPE")
    firsts = {hexid[0]}
    for i in range(17):  # until two IDs share a first character (pigeonhole: at most 17)
        other = _import_(backend, ROOTFS, changes=[f"CMD {i}"]).id.removeprefix("sha256:")
        if other[0] in firsts:
            break
        firsts.add(other[0])
    with pytest.raises(errors.InvalidArgument, match="ambiguous"):
        images.get(other[0])


def test_tag_list_filters_and_delete_rules(backend: Backend, images: ImageService) -> None:
    rec = _import_(backend, ROOTFS, "busybox", ["LABEL tier=base"])
    images.tag("busybox", "localhost:5000/bb:v1")
    images.tag(rec.id, "busybox:other")
    dangling = _import_(backend, t.tar([t.file("d", b"d")]))
    with pytest.raises(errors.InvalidArgument, match="digest"):
        images.tag("busybox", "busybox@sha256:" + "a" * 64)
    with pytest.raises(errors.NotFound):
        images.tag("nope", "x")

    def listed(*filters: str) -> list[tuple[str, list[str]]]:
        return [(i.id, sorted(i.repo_tags)) for i in images.list_images(list(filters))]

    assert listed("reference=busybox") == [(rec.id, ["busybox:latest", "busybox:other"])]
    assert listed("reference=*:v1") == []
    assert listed("reference=*/*:v1") == [(rec.id, ["localhost:5000/bb:v1"])]
    assert listed("dangling=true") == [(dangling.id, [])]
    assert listed("dangling=false") == [(rec.id, ["busybox:latest", "busybox:other", "localhost:5000/bb:v1"])]
    assert listed("label=tier") == listed("label=tier=base") == listed("dangling=false")
    assert listed("label=tier=other") == []
    assert len(listed()) == 2
    for bad in ("bogus=1", "dangling=maybe", "nofilter"):
        with pytest.raises(errors.InvalidArgument, match="invalid filter"):
            images.list_images([bad])

    short = rec.id.removeprefix("sha256:")[:12]
    with pytest.raises(errors.FailedPrecondition,
                       match=f"conflict: unable to delete {short} \\(must be forced\\) - image is referenced in "
                             "multiple repositories"):
        images.delete(short)
    assert images.delete("busybox:other") == (["busybox:other"], [])
    assert images.delete("localhost:5000/bb:v1") == (["localhost:5000/bb:v1"], [])
    untagged, deleted = images.delete(short)  # by ID with a single name: untag and delete
    assert untagged == ["busybox:latest"] and deleted[0] == rec.id
    assert images.delete(dangling.id)[1][0] == dangling.id
    assert backend.store.count() == 0


def test_forced_delete_by_id_and_layers_in_use(backend: Backend, images: ImageService) -> None:
    rec = _import_(backend, ROOTFS, "one")
    images.tag("one", "two")
    backend.snapshots.prepare("container-1", rec.chain_ids[0])  # a container on top of the image
    untagged, deleted = images.delete(rec.id, force=True)
    assert sorted(untagged) == ["one:latest", "two:latest"] and deleted == [rec.id]
    assert backend.snapshots.exists(rec.chain_ids[0])  # kept: the container's snapshot needs it
    backend.snapshots.remove("container-1")


def test_save_layout_and_round_trip(backend: Backend, images: ImageService) -> None:
    rec = _import_(backend, ROOTFS, "busybox", ["CMD sh"])
    images.tag("busybox", "busybox:2")
    data = _save(backend, images, ["busybox"])  # a bare repository: all its tags
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        layout = json.load(tar.extractfile("oci-layout"))  # type: ignore[arg-type]
        config = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert layout == {"imageLayoutVersion": "1.0.0"}
    assert sorted(manifest[0]["RepoTags"]) == ["busybox:2", "busybox:latest"]
    assert t.sha(config) == rec.id and t.sha(layer) == rec.chain_ids[0]
    assert sorted(m["annotations"]["io.containerd.image.name"] for m in index["manifests"]) == [
        "docker.io/library/busybox:2", "docker.io/library/busybox:latest"]
    assert {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]} == {"2", "latest"}
    assert all(n.startswith("blobs") or n in ("oci-layout", "index.json", "manifest.json") for n in names)
    assert len(data) % 10240 == 0

    images.delete("busybox:2")
    images.delete("busybox")
    assert backend.store.count() == 0 and backend.content.list_blobs() == []
    loaded = _load(backend, data)
    assert [(r.id, sorted(n)) for r, n in loaded] == [
        (rec.id, ["docker.io/library/busybox:2", "docker.io/library/busybox:latest"])]
    img = images.get("busybox:2")
    assert img.id == rec.id and img.target.digest == rec.manifest_digest and list(img.config.cmd) == [
        "/bin/sh", "-c", "sh"]
    # Saving by ID writes no names; loading it back gives the ID.
    data = _save(backend, images, [rec.id[:19]])
    assert json.loads(_member(data, "manifest.json"))[0]["RepoTags"] == []


def _member(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def test_load_classic_docker_archive_with_shared_and_gzip_layers(backend: Backend, images: ImageService) -> None:
    base = t.tar([t.directory("etc"), t.file("etc/os", b"base")])
    top = t.tar([t.file("etc/.wh.os"), t.file("etc/app", b"app")])
    archive = t.docker_archive([t.gz(base), top], ["app:1", "registry.local/app:2"])
    (rec, names), = _load(backend, archive)
    assert names == ["docker.io/library/app:1", "registry.local/app:2"]
    img = images.get("registry.local/app:2")
    assert list(img.diff_ids) == [t.sha(base), t.sha(top)] and len(rec.chain_ids) == 2
    # A second image on the same base layer shares its snapshot.
    other = t.docker_archive([t.gz(base)], ["base:1"])
    (rec2, _), = _load(backend, other)
    assert rec2.chain_ids == rec.chain_ids[:1]
    assert len(backend.snapshots.list_snapshots()) == 2
    upper = backend.snapshots.fs_dir(backend.snapshots.stat(rec.chain_ids[1]).id)
    assert sorted(os.listdir(os.path.join(upper, "etc"))) == ["app", "os"]  # "os" is a whiteout


def test_load_oci_layout_picks_the_host_platform(backend: Backend, images: ImageService) -> None:
    layer = t.tar([t.file("x", b"x")])
    plats = [{"os": "linux", "architecture": "arm64"}, {"os": "linux", "architecture": "amd64"},
             {"os": "unknown", "architecture": "unknown"}]
    archive, image_id = t.oci_layout([t.gz(layer)], ["example.com/oci:3"], nested_platforms=plats)
    from pallet.images._oci import host_platform
    if host_platform()[1] != "amd64":
        pytest.skip("the fixture's host manifest is amd64")
    (rec, names), = _load(backend, archive)
    assert rec.id == image_id and names == ["example.com/oci:3"]
    # A bare tag as ref.name names no repository: the image loads untagged.
    archive, image_id = t.oci_layout([t.tar([t.file("y", b"y")])], ["latest"])
    (rec, names), = _load(backend, archive)
    assert rec.id == image_id and names == [] and images.get(image_id).repo_tags == []


def _hostile_archives(tmp: str) -> dict[str, bytes]:
    good_layer = t.tar([t.file("hello", b"hi")])
    bad_diff = t.config(["sha256:" + "0" * 64])
    oci, _ = t.oci_layout([good_layer], ["x:1"])
    with tarfile.open(fileobj=io.BytesIO(oci)) as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]  # type: ignore
    tampered = t.tar([(m, d if not m.name.startswith("blobs/") or d != good_layer else good_layer + b"\0" * 512)
                      for m, d in members])
    two_layers = t.docker_archive([good_layer, t.tar([t.symlink("evil", tmp), t.file("evil/pwned", b"x")])],
                                  ["two:1"])
    return {
        "not-a-tar": b"this is not a tarball at all" * 100,
        "no-manifest": t.tar([t.file("hello", b"x")]),
        "traversal-name": t.tar([t.file("../../escape", b"x"), t.file("manifest.json", b"[]")]),
        "absolute-name": t.tar([t.file("/manifest.json", b"[]")]),
        "bad-diff-id": t.docker_archive([good_layer], ["bad:1"], cfg=bad_diff),
        "config-digest-name-mismatch": t.tar([
            t.file("manifest.json", json.dumps([{"Config": "0" * 64 + ".json", "RepoTags": ["m:1"],
                                                 "Layers": []}]).encode()),
            t.file("0" * 64 + ".json", t.config([]))]),
        "missing-layer": t.tar([
            t.file("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["m:1"],
                                                 "Layers": ["nope/layer.tar"]}]).encode()),
            t.file("c.json", t.config([t.sha(good_layer)]))]),
        "layer-count-mismatch": t.docker_archive([good_layer], ["m:1"], cfg=t.config([])),
        "link-out-of-archive": t.tar([t.symlink("manifest.json", "../../etc/passwd")]),
        "tampered-oci-blob": tampered,
        "hostile-second-layer": two_layers,
        "bad-repo-tag": t.docker_archive([good_layer], ["UPPER:1"]),
        "manifest-not-json": t.tar([t.file("manifest.json", b"{nope")]),
    }


def test_hostile_archives_leave_nothing_behind(backend: Backend, root: str, tmp_path: os.PathLike[str]) -> None:
    _import_(backend, ROOTFS, "existing:1")
    before = _state(backend, root)
    outside = os.path.join(str(tmp_path), "outside")
    os.makedirs(outside)
    for name, data in _hostile_archives(outside).items():
        with pytest.raises(errors.InvalidArgument) as exc:
            _load(backend, data)
        assert exc.value.message and "\n" not in exc.value.message, name
        assert _state(backend, root) == before, name
        assert os.listdir(outside) == [], name


def test_concurrent_imports_of_one_layer(backend: Backend, images: ImageService, root: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        recs = list(pool.map(lambda i: _import_(backend, ROOTFS, f"c{i}:1"), range(6)))
    assert len({r.chain_ids[0] for r in recs}) == 1
    assert [s.name for s in backend.snapshots.list_snapshots()] == recs[0].chain_ids
    layer_dirs = [d for d in snapshot_dirs(root) if d.count("/") == root.count("/") + 2]
    assert len(layer_dirs) == 1  # the losers' temporary copies are gone
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: images.delete(f"c{i}:1"), range(6)))
    assert backend.snapshots.list_snapshots() == [] and backend.content.list_blobs() == []
