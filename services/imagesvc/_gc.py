"""Garbage collection and disk accounting over blobs and layer snapshots.

Mark and sweep. The roots are:

- image records (the `refs` table: each image's layer snapshots and blobs);
- leases held by operations in flight (load, import, pull, save): whatever an
  operation touches is leased before it checks that it exists;
- every snapshot that is not an image layer (containers' writable snapshots,
  views, temporary unpack snapshots), with the layers beneath it.

Everything else, i.e. layer snapshots (labelled LAYER_LABEL: only imagesvc makes
them) and blobs nothing reaches, is garbage. The sweep decides each item again
under the lease lock right before removing it, so an operation that leases an
item after the mark keeps it; the snapshotter refuses to remove a snapshot with
children, so a container's layers survive even a record-less mark.

Sizes are counted one way, here, for everything that reports or frees bytes
(GC, image prune, system df): a blob is its file size, a layer snapshot is its
usage (disk blocks, recorded at commit).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pallet import errors, reference
from pallet.images._backend import Backend
from pallet.images._snapshots import COMMITTED, LAYER_LABEL, Snapshot
from pallet.images._store import ImageRecord, blob_ref, snapshot_ref


@dataclass
class GcResult:
    blobs: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    bytes: int = 0


@dataclass
class ImageUsage:
    id: str
    size: int
    shared_size: int
    unique_size: int


@dataclass
class DiskUsage:
    images: list[ImageUsage]
    images_size: int
    images_reclaimable: int
    snapshots: dict[str, int]
    cache_entries: int = 0
    cache_size: int = 0  # layers and blobs only the build cache holds


@dataclass
class PrunedImage:
    untagged: list[str]
    deleted: list[str]


def image_refs(rec: ImageRecord) -> set[str]:
    return {snapshot_ref(c) for c in rec.chain_ids} | {blob_ref(b) for b in rec.blobs}


def _is_layer(s: Snapshot) -> bool:
    return s.kind == COMMITTED and LAYER_LABEL in s.labels


class Sizes:
    """The one size accounting: blob file size, layer snapshot usage. Cached per instance."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._cache: dict[str, int] = {}

    def of(self, ref: str) -> int:
        got = self._cache.get(ref)
        if got is None:
            got = self._measure(ref)
            self._cache[ref] = got
        return got

    def _measure(self, ref: str) -> int:
        kind, _, name = ref.partition(":")
        try:
            if kind == "blob":
                return self.b.content.info(name).size
            return self.b.snapshots.usage(name)[0]
        except errors.NotFound:
            return 0

    def total(self, refs: Iterable[str]) -> int:
        return sum(self.of(r) for r in refs)


class Collector:
    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._lock = threading.Lock()  # one collection at a time

    # -- mark ------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Snapshot], list[str]]:
        snaps = {s.name: s for s in self.b.snapshots.list_snapshots()}
        blobs = [i.digest for i in self.b.content.list_blobs()]
        return snaps, blobs

    def _live(self, snaps: dict[str, Snapshot], blobs: list[str], images: Iterable[ImageRecord] | None
              ) -> set[str]:
        """Refs reachable from the roots; `images` None means every image record."""
        live: set[str] = set()
        if images is None:
            live |= self.b.store.all_refs()
        else:
            for rec in images:
                live |= image_refs(rec)
        for s in snaps.values():
            if not _is_layer(s) or self.b.leases.held(snapshot_ref(s.name)):
                live.add(snapshot_ref(s.name))
        live |= {blob_ref(d) for d in blobs if self.b.leases.held(blob_ref(d))}
        # Everything beneath a live snapshot is live.
        for name in [r.removeprefix("snapshot:") for r in live if r.startswith("snapshot:")]:
            s = snaps.get(name)
            while s is not None and s.parent:
                live.add(snapshot_ref(s.parent))
                s = snaps.get(s.parent)
        return live

    @staticmethod
    def _depth(snaps: dict[str, Snapshot], name: str) -> int:
        n, s = 0, snaps.get(name)
        while s is not None and s.parent and n < 10_000:
            n += 1
            s = snaps.get(s.parent)
        return n

    # -- sweep -----------------------------------------------------------------

    def collect(self) -> GcResult:
        """Remove every layer snapshot and blob no root reaches; returns what went and the bytes freed."""
        with self._lock:
            snaps, blobs = self._state()
            live = self._live(snaps, blobs, None)
            sizes = Sizes(self.b)
            result = GcResult()
            dead = [n for n, s in snaps.items() if _is_layer(s) and snapshot_ref(n) not in live]
            dead.sort(key=lambda n: self._depth(snaps, n), reverse=True)  # children before parents
            for name in dead:
                ref = snapshot_ref(name)
                size = sizes.of(ref)
                with self.b.leases.lock:
                    if self.b.leases.held(ref) or self.b.store.referenced(ref):
                        continue
                    try:
                        self.b.snapshots.remove(name)
                    except (errors.NotFound, errors.FailedPrecondition):
                        continue  # gone already, or something was prepared on it meanwhile
                result.snapshots.append(name)
                result.bytes += size
            for digest in blobs:
                ref = blob_ref(digest)
                if ref in live:
                    continue
                size = sizes.of(ref)
                with self.b.leases.lock:
                    if self.b.leases.held(ref) or self.b.store.referenced(ref):
                        continue
                    try:
                        self.b.content.delete(digest)
                    except errors.NotFound:
                        continue
                result.blobs.append(digest)
                result.bytes += size
            sweep = getattr(self.b.content, "sweep_resumable", None)
            if sweep is not None:  # partial downloads kept for a resumed pull, once unused for long
                with contextlib.suppress(OSError):
                    sweep()
        if result.blobs or result.snapshots:
            self.b.log.info("garbage collected", blobs=len(result.blobs), snapshots=len(result.snapshots),
                            bytes=result.bytes)
        return result

    # -- accounting ------------------------------------------------------------

    def disk_usage(self, in_use: Iterable[str] = (), snapshot_keys: Iterable[str] = ()) -> DiskUsage:
        """Per-image sizes; total; and what pruning every image not in in_use then collecting frees."""
        in_use_ids = set(in_use)
        snaps, blobs = self._state()
        records = self.b.store.all()
        sizes = Sizes(self.b)
        users: dict[str, int] = {}
        per_image = [(rec, image_refs(rec)) for rec in records]
        for _, refs in per_image:
            for r in refs:
                users[r] = users.get(r, 0) + 1
        images = []
        for rec, refs in per_image:
            size = sizes.total(refs)
            shared = sizes.total(r for r in refs if users[r] > 1)
            images.append(ImageUsage(rec.id, size, shared, size - shared))
        everything = {snapshot_ref(n) for n, s in snaps.items() if _is_layer(s)} | {blob_ref(d) for d in blobs}
        cache_only: set[str] = set()
        entries = self.b.store.cache_entries()
        for _key, _used, refs in entries:
            cache_only |= refs
        cache_only -= set(users)
        everything -= cache_only  # the build cache's own layers are counted apart (builder prune frees them)
        live = self._live(snaps, blobs, [rec for rec in records if rec.id in in_use_ids])
        snapshot_sizes: dict[str, int] = {}
        for key in snapshot_keys:
            try:
                snapshot_sizes[key] = self.b.snapshots.usage(key)[0]
            except errors.NotFound:
                continue
        return DiskUsage(images, sizes.total(everything), sizes.total(everything - live), snapshot_sizes,
                         len(entries), sizes.total(cache_only))

    # -- prune -----------------------------------------------------------------

    def prune(self, filters: Iterable[str], all_: bool, in_use: Iterable[str],
              config_of: Callable[[str], dict[str, Any]]) -> tuple[list[PrunedImage], GcResult]:
        """docker image prune: dangling (or every) image not in use and matching the filters, then collect."""
        match = _prune_filter(list(filters), all_)
        keep = set(in_use)
        pruned: list[PrunedImage] = []
        for rec in self.b.store.all():
            if rec.id in keep or not match(rec, config_of(rec.id)):
                continue
            gone = self.b.store.delete(rec.id)
            if gone is None:
                continue
            pruned.append(PrunedImage([reference.familiar(n) for n in gone.names], [rec.id]))
        result = self.collect()
        if result.snapshots:
            pruned.append(PrunedImage([], list(result.snapshots)))
        return pruned, result


def parse_until(value: str, now_ns: int | None = None) -> int:
    """ns since the epoch for Docker's until=: a Go duration (10m, 1h30m), a unix time or an RFC 3339 time."""
    import re

    now = time.time_ns() if now_ns is None else now_ns
    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", value):
        units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
        secs = sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", value))
        return now - int(secs * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return int(float(value) * 1e9)
    from google.protobuf.timestamp_pb2 import Timestamp

    text = value
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00Z"
    elif "T" in text and not re.search(r"(Z|[+-]\d{2}:\d{2})$", text):
        text += "Z"
    ts = Timestamp()
    try:
        ts.FromJsonString(text)
    except ValueError:
        raise errors.InvalidArgument(f"invalid filter 'until={value}': not a timestamp or duration") from None
    return ts.ToNanoseconds()


def _created_ns(cfg: dict[str, Any]) -> int:
    from google.protobuf.timestamp_pb2 import Timestamp

    created = cfg.get("created")
    if not isinstance(created, str) or not created:
        return 0
    ts = Timestamp()
    try:
        ts.FromJsonString(created)
    except ValueError:
        return 0
    return ts.ToNanoseconds()


def _labels(cfg: dict[str, Any]) -> dict[str, str]:
    c = cfg.get("config")
    raw = c.get("Labels") if isinstance(c, dict) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _label_match(labels: dict[str, str], spec: str) -> bool:
    k, has_v, v = spec.partition("=")
    return k in labels and (not has_v or labels[k] == v)


def _prune_filter(filters: list[str], all_: bool) -> Callable[[ImageRecord, dict[str, Any]], bool]:
    until: int | None = None
    want: list[str] = []
    avoid: list[str] = []
    dangling = not all_
    for f in filters:
        key, sep, value = f.partition("=")
        if key.endswith("!"):
            key = key[:-1]
            if key == "label" and sep:
                avoid.append(value)
                continue
            raise errors.InvalidArgument(f"invalid filter '{f}'")
        if not sep or key not in ("until", "label", "dangling"):
            raise errors.InvalidArgument(f"invalid filter '{f}'")
        if key == "until":
            until = parse_until(value)
        elif key == "label":
            want.append(value)
        else:
            if value.lower() not in ("true", "false", "1", "0"):
                raise errors.InvalidArgument(f"invalid filter 'dangling={value}'")
            dangling = value.lower() in ("true", "1")

    def match(rec: ImageRecord, cfg: dict[str, Any]) -> bool:
        if dangling and rec.names:
            return False
        if until is not None and _created_ns(cfg) >= until:
            return False
        labels = _labels(cfg)
        if any(not _label_match(labels, w) for w in want):
            return False
        return not any(_label_match(labels, a) for a in avoid)

    return match
