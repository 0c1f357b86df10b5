"""What the builder needs from imagesvc: layers from build snapshots, images, and the build cache.

A build step's snapshot (overlay upper dir) becomes a layer without copying:
its changes are written as a tar blob (overlay whiteouts turned into OCI ones)
and the snapshot itself is committed under the layer's chain ID. The tar is
deterministic — entries sorted, no user/group names, no access/change times,
mtimes clamped to the build's epoch when given — so the same files give the
same digest on any machine.

Cache entries (step key → config and layers) reference their layers the way
image records do, so garbage collection keeps them until `builder prune`.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Callable
from typing import Any

from pallet import errors
from pallet.images import _oci
from pallet.images._backend import Backend, Op
from pallet.images._layers import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from pallet.images._snapshots import LAYER_LABEL, SIZE_LABEL
from pallet.images._store import ImageRecord, blob_ref, snapshot_ref
from pallet.images._unpack import Layer, prepare_image
from pallet.images.v1 import images_pb2 as pb

_SKIP_XATTRS = ("trusted.overlay.",)


def canonical(doc: Any) -> bytes:
    """The one JSON form of image configs the builder and imagesvc both write (sorted keys, compact)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _Sink:
    """A write-only file object feeding the content writer (tarfile streams into it)."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self.size = 0

    def write(self, data: bytes) -> int:
        self._write(bytes(data))
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def _sorted_entries(root: str) -> list[tuple[str, str]]:
    """(relative path, absolute path) below root: each directory before its children, names sorted."""
    out: list[tuple[str, str]] = []

    def walk(rel: str) -> None:
        for name in sorted(os.listdir(os.path.join(root, rel) if rel else root)):
            child = f"{rel}/{name}" if rel else name
            path = os.path.join(root, child)
            out.append((child, path))
            if stat.S_ISDIR(os.lstat(path).st_mode):
                walk(child)

    walk("")
    return out


def write_diff(upper: str, out: Any, epoch: int) -> int:
    """The changes in an overlay upper dir as an OCI layer tar; returns the files' total size."""
    total = 0
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in _sorted_entries(upper):
            st = os.lstat(path)
            mtime = int(st.st_mtime) if not epoch else min(int(st.st_mtime), epoch)
            parent, name = os.path.split(rel)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # overlay whiteout
                info = tarfile.TarInfo(os.path.join(parent, WHITEOUT_PREFIX + name))
                info.mtime, info.uid, info.gid, info.mode = mtime, st.st_uid, st.st_gid, 0o644
                tar.addfile(info)
                continue
            info = tarfile.TarInfo(rel)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.mtime = mtime
            xattrs = _xattrs(path)
            if xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("latin-1") for k, v in xattrs.items()}
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                if _opaque(path):
                    wh = tarfile.TarInfo(os.path.join(rel, WHITEOUT_OPAQUE))
                    wh.mtime, wh.mode = mtime, 0o644
                    tar.addfile(wh)
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    info.type, info.linkname = tarfile.LNKTYPE, links[key]
                    tar.addfile(info)
                    continue
                links[key] = rel
                info.size = st.st_size
                total += st.st_size
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tar.addfile(info)
            # sockets are not part of a layer
    return total


def _xattrs(path: str) -> dict[str, bytes]:
    out = {}
    try:
        for name in sorted(os.listxattr(path, follow_symlinks=False)):
            if not name.startswith(_SKIP_XATTRS):
                out[name] = os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        pass
    return out


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _layer_pb(layer: Layer) -> pb.LayerInfo:
    d = layer.desc
    return pb.LayerInfo(blob=pb.Descriptor(media_type=d.media_type, digest=d.digest, size=d.size),
                        diff_id=layer.diff_id, chain_id=layer.chain_id, size=layer.size)


def _layer(info: pb.LayerInfo) -> Layer:
    return Layer(_oci.Desc(info.blob.media_type, info.blob.digest, info.blob.size), info.diff_id, info.chain_id,
                 info.size)


def _refs(config_digest: str, layers: list[pb.LayerInfo]) -> list[str]:
    return [blob_ref(config_digest)] + [r for i in layers for r in (blob_ref(i.blob.digest), snapshot_ref(i.chain_id))]


class BuildSupport:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def commit_layer(self, req: pb.CommitLayerRequest, entry: pb.CacheEntry | None = None) -> pb.LayerInfo:
        """The snapshot's changes as a layer; with entry, the cache entry is stored in the same lease."""
        b = self.b
        upper = b.snapshots.fs_path(req.key)
        with b.operation() as op:
            writer = b.content.writer()
            try:
                size = write_diff(upper, _Sink(writer.write), req.epoch)
                digest = writer.verify()
                op.hold_blob(digest)
                _, created = writer.commit()
                if created:
                    op.created_blobs.append(digest)
            finally:
                writer.abort()
            chain = _oci.chain_id(req.parent, digest)
            op.hold_snapshot(chain)
            try:
                b.snapshots.commit(chain, req.key, labels={SIZE_LABEL: str(size), LAYER_LABEL: "true"})
            except errors.AlreadyExists:
                b.snapshots.remove(req.key)  # the same layer was built before: keep that one
            layer = Layer(_oci.Desc(_oci.MT_OCI_LAYER, digest, writer.size), digest, chain, size)
            info = _layer_pb(layer)
            if entry is not None:
                entry.layers.append(info)
                cfg = json.loads(entry.config)
                cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(digest)
                entry.config = canonical(cfg)
                self._cache_put(op, entry)
        return info

    def _cache_put(self, op: Op, entry: pb.CacheEntry) -> None:
        from pallet.images._unpack import put_blob

        config_digest = put_blob(self.b, op, entry.config)
        data = json.dumps({"config": config_digest, "layers": [
            {"digest": i.blob.digest, "size": i.blob.size, "media_type": i.blob.media_type, "diff_id": i.diff_id,
             "chain_id": i.chain_id, "layer_size": i.size} for i in entry.layers]})
        self.b.store.cache_put(entry.key, data, _refs(config_digest, list(entry.layers)))

    def cache_put(self, entry: pb.CacheEntry) -> None:
        with self.b.operation() as op:
            for i in entry.layers:
                op.hold_snapshot(i.chain_id)
                op.hold_blob(i.blob.digest)
            self._cache_put(op, entry)

    def cache_get(self, key: str) -> pb.CacheEntry:
        raw = self.b.store.cache_get(key)
        if raw is None:
            return pb.CacheEntry(key=key, found=False)
        data = json.loads(raw)
        try:
            config = self.b.content.read_bytes(data["config"])
        except errors.NotFound:
            return pb.CacheEntry(key=key, found=False)
        layers = [pb.LayerInfo(blob=pb.Descriptor(media_type=x["media_type"], digest=x["digest"], size=x["size"]),
                               diff_id=x["diff_id"], chain_id=x["chain_id"], size=x["layer_size"])
                  for x in data["layers"]]
        for i in layers:  # a layer lost meanwhile (should not happen: the entry references it) is a miss
            if not self.b.content.exists(i.blob.digest):
                return pb.CacheEntry(key=key, found=False)
        return pb.CacheEntry(key=key, found=True, config=config, layers=layers)

    def create_image(self, req: pb.CreateImageRequest, names: list[str]) -> ImageRecord:
        with self.b.operation() as op:
            layers = [_layer(i) for i in req.layers]
            for layer in layers:
                op.hold_blob(layer.desc.digest)
                op.hold_snapshot(layer.chain_id)
            rec = prepare_image(self.b, op, bytes(req.config), layers)
            return self.b.store.add([(rec, names)])[0]

    def prune(self, all_: bool, keep_recent_seconds: int, now_ns: int) -> tuple[int, list[str]]:
        """Delete cache entries; returns how many and the refs they held (the GC collects them)."""
        doomed, refs = [], []
        for key, used, held in self.b.store.cache_entries():
            if all_ or not keep_recent_seconds or now_ns - used > keep_recent_seconds * 1_000_000_000:
                doomed.append(key)
                refs.extend(held)
        self.b.store.cache_delete(doomed)
        return len(doomed), refs
