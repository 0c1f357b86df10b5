"""Garbage collection, disk accounting, image prune and history in imagesvc (in process, no gRPC)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pallet import errors
from pallet.images import _archive, _history, _unpack
from pallet.images._backend import Backend
from pallet.images._gc import Collector, Sizes, image_refs, parse_until
from pallet.images._images import ImageService
from pallet.images._snapshots import LAYER_LABEL
from pallet.images._store import ImageRecord, blob_ref, snapshot_ref

from tests.images import _tars as t

BASE = t.tar([t.directory("bin"), t.file("bin/hello", b"hello" * 1000, mode=0o755)])
TOP = t.tar([t.file("top.txt", b"top layer" * 500)])
OTHER = t.tar([t.file("other.txt", b"other" * 700)])


def _load(backend: Backend, data: bytes) -> list[tuple[ImageRecord, list[str]]]:
    return _archive.load(backend, [data[i:i + 65536] for i in range(0, len(data), 65536)])


def _present(backend: Backend) -> set[str]:
    """Every blob and layer snapshot on disk, as refs."""
    snaps = {snapshot_ref(s.name) for s in backend.snapshots.list_snapshots() if LAYER_LABEL in s.labels}
    return snaps | {blob_ref(b.digest) for b in backend.content.list_blobs()}


def _complete(backend: Backend, rec: ImageRecord) -> bool:
    return image_refs(rec) <= _present(backend)


def _cfg(diff_ids: list[str], created: str = "2024-01-02T03:04:05Z", labels: dict[str, str] | None = None,
         history: list[dict[str, object]] | None = None) -> bytes:
    extra: dict[str, object] = {"created": created}
    if labels:
        extra["config"] = {"Cmd": ["sh"], "Labels": labels}
    if history is not None:
        extra["history"] = history
    return t.config(diff_ids, **extra)


def _archive_of(layers: list[bytes], tags: list[str], **cfg: object) -> bytes:
    return t.docker_archive(layers, tags, cfg=_cfg([t.sha(x) for x in layers], **cfg))  # type: ignore[arg-type]


def _garbage(backend: Backend) -> tuple[str, str]:
    """What a crash between unpacking and recording leaves: a layer snapshot and a blob nobody references."""
    digest, _ = backend.content.put(b"orphan blob" * 100)
    backend.snapshots.prepare("orphan-tmp", "")
    with open(backend.snapshots.fs_path("orphan-tmp") + "/f", "wb") as f:
        f.write(b"x" * 5000)
    backend.snapshots.commit("sha256:" + "e" * 64, "orphan-tmp", labels={LAYER_LABEL: "true"})
    return digest, "sha256:" + "e" * 64


def test_gc_removes_only_what_nothing_reaches(backend: Backend, images: ImageService) -> None:
    (rec, _), = _load(backend, _archive_of([BASE, TOP], ["app:1"]))
    blob, layer = _garbage(backend)
    sizes = Sizes(backend)
    expected = sizes.of(blob_ref(blob)) + sizes.of(snapshot_ref(layer))
    result = Collector(backend).collect()
    assert result.blobs == [blob] and result.snapshots == [layer]
    assert result.bytes == expected > 0
    assert _complete(backend, rec)
    assert Collector(backend).collect().bytes == 0  # nothing left to collect


def test_gc_keeps_container_snapshots_and_the_layers_beneath(backend: Backend, images: ImageService) -> None:
    (rec, _), = _load(backend, _archive_of([BASE, TOP], ["app:1"]))
    backend.snapshots.prepare("container-1", rec.chain_ids[-1])  # what palletd does on create
    backend.store.delete(rec.id)  # rmi -f of an image a stopped container uses
    result = Collector(backend).collect()
    assert set(result.blobs) == set(rec.blobs) and result.snapshots == []
    assert [s.name for s in backend.snapshots.list_snapshots()] == [*rec.chain_ids, "container-1"]
    backend.snapshots.remove("container-1")  # the container goes: its layers are garbage now
    result = Collector(backend).collect()
    assert result.snapshots == list(reversed(rec.chain_ids))  # top first
    assert _present(backend) == set()


def test_gc_keeps_leased_items(backend: Backend) -> None:
    blob, layer = _garbage(backend)
    with backend.operation() as op:
        op.hold_blob(blob)
        op.hold_snapshot(layer)
        assert Collector(backend).collect().bytes == 0
        assert backend.content.exists(blob) and backend.snapshots.exists(layer)
    result = Collector(backend).collect()
    assert result.blobs == [blob] and result.snapshots == [layer]


def test_gc_in_the_middle_of_a_load_never_breaks_it(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """GC runs after every layer a load unpacked, before the image is recorded: nothing of it may go."""
    collector = Collector(backend)
    real = _unpack.unpack_layer
    runs: list[int] = []

    def unpack_then_collect(*args: object, **kwargs: object) -> _unpack.Layer:
        layer = real(*args, **kwargs)  # type: ignore[arg-type]
        runs.append(collector.collect().bytes)
        return layer

    monkeypatch.setattr(_archive, "unpack_layer", unpack_then_collect)
    (rec, names), = _load(backend, _archive_of([BASE, TOP, OTHER], ["mid:1"]))
    assert runs == [0, 0, 0] and names == ["docker.io/library/mid:1"]
    assert _complete(backend, rec)
    assert collector.collect().bytes == 0


def test_gc_racing_loads_never_breaks_them(backend: Backend, images: ImageService) -> None:
    """Loads (sharing a base layer, deleting and reloading) against a GC loop: every load succeeds whole.

    Each worker has its own images (their configs differ), all sharing layers: a worker deleting
    its image must never take what another worker's load uses.
    """
    def archives_of(i: int) -> list[bytes]:
        created = f"2024-01-0{i + 1}T03:04:05Z"
        return [_archive_of([BASE, TOP], [f"race-a{i}:1"], created=created),
                _archive_of([BASE, OTHER], [f"race-b{i}:1"], created=created),
                _archive_of([BASE], [f"race-c{i}:1"], created=created)]

    archives = [archives_of(i) for i in range(3)]
    stop = threading.Event()
    collector = Collector(backend)
    collected: list[int] = []

    def gc_loop() -> None:
        while not stop.is_set():
            collected.append(collector.collect().bytes)

    def worker(i: int) -> None:
        for n in range(4):
            (rec, _), = _load(backend, archives[i][(i + n) % 3])
            assert _complete(backend, rec)
            if n % 2 == 0:
                images.delete(rec.id, force=True)

    gc = threading.Thread(target=gc_loop)
    gc.start()
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(worker, range(3)))
    finally:
        stop.set()
        gc.join()
    assert collected  # it did run meanwhile
    collector.collect()
    for rec in backend.store.all():
        assert _complete(backend, rec)
    for rec in backend.store.all():
        images.delete(rec.id, force=True)
    collector.collect()
    assert _present(backend) == set() and backend.snapshots.list_snapshots() == []


def test_a_failed_load_leaves_nothing_gc_would_have_to_find(backend: Backend) -> None:
    bad = t.docker_archive([BASE, TOP], ["bad:1"], cfg=_cfg([t.sha(BASE), "sha256:" + "0" * 64]))
    with pytest.raises(errors.InvalidArgument):
        _load(backend, bad)
    assert _present(backend) == set()
    assert Collector(backend).collect().bytes == 0


def test_disk_usage_reclaimable_is_what_prune_all_frees(backend: Backend, images: ImageService) -> None:
    (a, _), = _load(backend, _archive_of([BASE, TOP], ["a:1"]))
    (b, _), = _load(backend, _archive_of([BASE, OTHER], ["b:1"]))
    _garbage(backend)
    collector = Collector(backend)
    usage = collector.disk_usage(in_use=[a.id])
    by_id = {u.id: u for u in usage.images}
    sizes = Sizes(backend)
    shared = sizes.of(snapshot_ref(a.chain_ids[0])) + sizes.of(blob_ref(a.blobs[2]))  # the base layer
    assert by_id[a.id].shared_size == by_id[b.id].shared_size == shared > 0
    assert by_id[a.id].size == sizes.total(image_refs(a))
    assert by_id[b.id].unique_size == by_id[b.id].size - shared
    assert usage.images_size == sizes.total(_present(backend))
    pruned, result = collector.prune([], True, [a.id], images.config)
    assert [p.deleted[0] for p in pruned][:1] == [b.id]
    assert result.bytes == usage.images_reclaimable > 0
    usage = collector.disk_usage()
    assert usage.images_reclaimable == usage.images_size == sizes.total(image_refs(a))
    _, result = collector.prune([], True, [], images.config)
    assert result.bytes == usage.images_reclaimable and _present(backend) == set()


def test_prune_dangling_by_default_all_and_filters(backend: Backend, images: ImageService) -> None:
    (old, _), = _load(backend, _archive_of([BASE], ["old:1"], created="2020-01-01T00:00:00Z",
                                           labels={"keep": "yes"}))
    (new, _), = _load(backend, _archive_of([TOP], ["new:1"], created="2024-06-01T00:00:00Z",
                                           labels={"team": "a"}))
    (dang, _), = _load(backend, _archive_of([OTHER], [], created="2024-06-01T00:00:00Z"))
    collector = Collector(backend)
    pruned, _ = collector.prune([], False, [], images.config)
    assert [p.deleted[0] for p in pruned][:1] == [dang.id] and backend.store.get(dang.id) is None
    assert backend.store.get(old.id) is not None and backend.store.get(new.id) is not None
    pruned, _ = collector.prune(["label!=keep"], True, [], images.config)
    assert pruned[0].untagged == ["new:1"] and pruned[0].deleted == [new.id]
    assert collector.prune(["until=2019-01-01"], True, [], images.config)[0] == []
    assert collector.prune(["label=keep=no"], True, [], images.config)[0] == []
    pruned, _ = collector.prune(["until=2021-01-01T00:00:00Z", "label=keep"], True, [], images.config)
    assert pruned[0].deleted == [old.id] and backend.store.count() == 0
    for bad in (["nope=1"], ["until=yesterday"], ["dangling=maybe"]):
        with pytest.raises(errors.InvalidArgument):
            collector.prune(bad, True, [], images.config)


def test_parse_until() -> None:
    now = 1_700_000_000 * 10**9
    assert parse_until("10m", now) == now - 600 * 10**9
    assert parse_until("1h30m", now) == now - 5400 * 10**9
    assert parse_until("1700000000", now) == now
    assert parse_until("2023-11-14T22:13:20Z", now) == now
    assert parse_until("2023-11-14", now) == (1_700_000_000 - 80_000) * 10**9


def test_history_sizes_and_ids(backend: Backend, images: ImageService) -> None:
    hist = [{"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
            {"created": "2024-01-01T00:00:01Z", "created_by": "/bin/sh -c #(nop) CMD [\"sh\"]",
             "empty_layer": True},
            {"created": "2024-01-02T00:00:00Z", "created_by": "/bin/sh -c echo top > /top.txt",
             "comment": "buildkit"}]
    (rec, _), = _load(backend, _archive_of([BASE, TOP], ["hist:1"], history=hist))
    entries = _history.history(backend, rec, images.config(rec.id))
    assert [e.id for e in entries] == [rec.id, "<missing>", "<missing>"]
    assert list(entries[0].tags) == ["hist:1"]
    assert [e.created_by for e in entries] == [h["created_by"] for h in reversed(hist)]
    assert entries[0].comment == "buildkit" and entries[1].empty_layer and entries[1].size == 0
    sizes = Sizes(backend)
    assert entries[0].size == sizes.of(snapshot_ref(rec.chain_ids[1])) > 0
    assert entries[2].size == sizes.of(snapshot_ref(rec.chain_ids[0])) > 0
    assert entries[2].created.ToJsonString() == "2024-01-01T00:00:00Z"
