"""docker load / docker save: docker-archive and OCI-layout tarballs.

Load spools the stream to <root>/tmp (decompressing it if needed), indexes
the archive's entries (refusing names that leave it), verifies every blob
against its digest, applies the layers and records every image in one
transaction at the end: a bad archive leaves no record, no snapshot, no blob.

Save writes what Docker 25+ writes: an OCI layout (oci-layout, index.json,
blobs/sha256/<hex>) plus a Docker manifest.json pointing into blobs/, so both
`docker load` (20.10 and newer) and Load accept it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from pallet import errors, reference
from pallet.images import _oci
from pallet.images._backend import Backend, Op
from pallet.images._layers import LimitedTarInfo, clean_path
from pallet.images._store import ImageRecord
from pallet.images._streams import CHUNK, IterReader, PeekReader, copy, decompress, detect
from pallet.images._unpack import Layer, prepare_image, unpack_layer

_BLOB_PATH_RE = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")
_CONFIG_PATH_RE = re.compile(r"^([a-f0-9]{64})\.json$")
_SMALL = 64 << 20


def _bad(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid image archive: {why}")


class _Archive:
    """The regular files of a tar, by cleaned path; links resolved inside the archive only."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members: dict[str, tarfile.TarInfo] = {}
        for m in tar.getmembers():
            try:
                key = "/".join(clean_path(m.name, m.name))
            except errors.InvalidArgument as exc:
                raise _bad(exc.message) from None
            if m.isreg() or m.issym() or m.islnk():
                self.members[key] = m

    def resolve(self, path: str) -> tarfile.TarInfo | None:
        key = "/".join(clean_path(path, path, allow_absolute=True))
        for _ in range(16):
            m = self.members.get(key)
            if m is None or m.isreg():
                return m
            if m.islnk():
                target = m.linkname
            else:
                target = m.linkname if m.linkname.startswith("/") else os.path.join(os.path.dirname(key),
                                                                                     m.linkname)
            try:
                key = "/".join(clean_path(target, m.name, allow_absolute=True))
            except errors.InvalidArgument:
                raise _bad(f"link {m.name} points outside the archive") from None
        raise _bad(f"too many levels of links at {path}")

    def has(self, path: str) -> bool:
        return self.resolve(path) is not None

    def open(self, path: str) -> IO[bytes]:
        m = self.resolve(path)
        if m is None:
            raise _bad(f"{path} not found in the archive")
        f = self.tar.extractfile(m)
        if f is None:
            raise _bad(f"{path} is not a file")
        return f

    def read(self, path: str) -> bytes:
        with self.open(path) as f:
            data = f.read(_SMALL + 1)
        if len(data) > _SMALL:
            raise _bad(f"{path} is too large")
        return data

    def blob(self, desc: _oci.Desc) -> bytes:
        """A small blob (index, manifest, config) read and verified against its descriptor."""
        path = "blobs/sha256/" + desc.digest.removeprefix("sha256:")
        if desc.size > _SMALL:
            raise _bad(f"{path} is too large")
        data = self.read(path)
        if len(data) != desc.size or "sha256:" + hashlib.sha256(data).hexdigest() != desc.digest:
            raise _bad(f"{path} does not match its digest")
        return data


@dataclass
class _LayerPlan:
    path: str
    blob: _oci.Desc | None  # known digest (OCI, or a blobs/ path)


@dataclass
class _Plan:
    config: bytes
    layers: list[_LayerPlan]
    manifest: bytes | None = None
    manifest_media_type: str = _oci.MT_OCI_MANIFEST
    names: list[str] = field(default_factory=list)


def _names_from_annotations(ann: dict[str, str]) -> list[str]:
    candidates = []
    if ann.get(_oci.ANNOTATION_IMAGE_NAME):
        candidates.append(ann[_oci.ANNOTATION_IMAGE_NAME])
    else:
        ref = ann.get(_oci.ANNOTATION_REF_NAME, "")
        if any(c in ref for c in ":/@"):  # a bare tag ("latest") names no repository
            candidates.append(ref)
    out = []
    for c in candidates:
        try:
            out.append(str(reference.parse_docker_ref(c)))
        except errors.InvalidArgument:
            continue
    return out


def _repo_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _bad("RepoTags is not a list of names")
    return [str(reference.parse_tag_target(t)) for t in value]


def _docker_plans(archive: _Archive) -> list[_Plan]:
    doc = _oci.loads(archive.read("manifest.json"), "manifest.json")
    if not isinstance(doc, list):
        raise _bad("manifest.json is not a list")
    plans = []
    for entry in doc:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise _bad("manifest.json entry without Config")
        cfg_path = entry["Config"]
        config = archive.read(cfg_path)
        digest_hex = hashlib.sha256(config).hexdigest()
        named = _BLOB_PATH_RE.match(cfg_path.lstrip("./")) or _CONFIG_PATH_RE.match(os.path.basename(cfg_path))
        if named and named.group(1) != digest_hex:
            raise _bad(f"{cfg_path} does not match its digest")
        diff_ids = _oci.check_config(_oci.loads(config, "image config"))
        layers = entry.get("Layers") or []
        if not isinstance(layers, list) or not all(isinstance(p, str) for p in layers):
            raise _bad("manifest.json Layers is not a list of paths")
        if len(layers) != len(diff_ids):
            raise _bad(f"layers length mismatch: config has {len(diff_ids)}, manifest.json lists {len(layers)}")
        plan_layers = []
        for p in layers:
            m = _BLOB_PATH_RE.match("/".join(clean_path(p, p, allow_absolute=True)))
            blob = None
            if m:
                info = archive.resolve(p)
                blob = _oci.Desc("", "sha256:" + m.group(1), info.size if info else 0)
            plan_layers.append(_LayerPlan(p, blob))
        plans.append(_Plan(config, plan_layers, names=_repo_tags(entry.get("RepoTags"))))
    return plans


def _pick_manifest(archive: _Archive, desc: _oci.Desc, depth: int = 0) -> tuple[_oci.Desc, bytes, Any]:
    if depth > 4:
        raise _bad("indexes nested too deep")
    data = archive.blob(desc)
    doc = _oci.loads(data, f"blob {desc.digest}")
    if not isinstance(doc, dict):
        raise _bad(f"blob {desc.digest} is not a JSON object")
    media_type = desc.media_type or str(doc.get("mediaType") or "")
    if media_type in _oci.INDEX_TYPES or (not media_type and "manifests" in doc):
        children = [_oci.parse_desc(d, "index entry") for d in doc.get("manifests") or []]
        match = [c for c in children if _oci.platform_matches(c.platform)]
        if not match:
            host = "/".join(p for p in _oci.host_platform()[:2])
            raise _bad(f"no image for {host} in the archive")
        return _pick_manifest(archive, match[0], depth + 1)
    if media_type and media_type not in _oci.MANIFEST_TYPES:
        raise _bad(f"unsupported manifest media type {media_type}")
    return _oci.Desc(media_type or _oci.MT_OCI_MANIFEST, desc.digest, desc.size), data, doc


def _oci_plans(archive: _Archive) -> list[_Plan]:
    if archive.has("oci-layout"):
        layout = _oci.loads(archive.read("oci-layout"), "oci-layout")
        if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
            raise _bad("unsupported oci-layout version")
    index = _oci.loads(archive.read("index.json"), "index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise _bad("index.json has no manifests")
    docker_names: dict[str, list[str]] = {}
    if archive.has("manifest.json"):
        for config_digest, tags in _docker_plans_light(archive):
            docker_names.setdefault(config_digest, []).extend(tags)
    plans: dict[str, _Plan] = {}
    for entry in index["manifests"]:
        top = _oci.parse_desc(entry, "index.json entry")
        mdesc, mbytes, doc = _pick_manifest(archive, top)
        cdesc = _oci.parse_desc(doc.get("config"), "manifest config")
        layer_docs = doc.get("layers") or []
        if not isinstance(layer_docs, list):
            raise _bad("manifest layers is not a list")
        layers = [_oci.parse_desc(d, "manifest layer") for d in layer_docs]
        for layer in layers:
            if layer.media_type not in _oci.LAYER_TYPES:
                raise _bad(f"unsupported layer media type {layer.media_type or '(none)'}")
        config = archive.blob(cdesc)
        names = _names_from_annotations(top.annotations) + docker_names.get(cdesc.digest, [])
        plan = plans.get(mdesc.digest)
        if plan is None:
            plans[mdesc.digest] = _Plan(
                config, [_LayerPlan("blobs/sha256/" + d.digest.removeprefix("sha256:"), d) for d in layers],
                mbytes, mdesc.media_type, names)
        else:
            plan.names += names
    return list(plans.values())


def _docker_plans_light(archive: _Archive) -> list[tuple[str, list[str]]]:
    """(config digest, names) from manifest.json, for names an OCI index does not carry."""
    doc = _oci.loads(archive.read("manifest.json"), "manifest.json")
    out = []
    for entry in doc if isinstance(doc, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("Config"), str):
            config = archive.read(entry["Config"])
            out.append(("sha256:" + hashlib.sha256(config).hexdigest(), _repo_tags(entry.get("RepoTags"))))
    return out


def _plans(archive: _Archive) -> list[_Plan]:
    if archive.has("index.json"):
        return _oci_plans(archive)
    if archive.has("manifest.json"):
        return _docker_plans(archive)
    raise _bad("no manifest.json or index.json found (is this a docker save or OCI layout tarball?)")


def _load_plan(backend: Backend, op: Op, archive: _Archive, plan: _Plan) -> ImageRecord:
    diff_ids = _oci.check_config(_oci.loads(plan.config, "image config"))
    if len(diff_ids) != len(plan.layers):
        raise _bad(f"layers length mismatch: config has {len(diff_ids)}, manifest lists {len(plan.layers)}")
    parent = ""
    layers: list[Layer] = []
    for lp, diff_id in zip(plan.layers, diff_ids, strict=True):
        with archive.open(lp.path) as f:
            layer = unpack_layer(backend, op, f, parent, diff_id=diff_id, blob=lp.blob, what=f"layer {lp.path}")
        layers.append(layer)
        parent = layer.chain_id
    return prepare_image(backend, op, plan.config, layers, plan.manifest, plan.manifest_media_type)


def load(backend: Backend, chunks: Iterable[bytes]) -> list[tuple[ImageRecord, list[str]]]:
    """Load every image of the archive; returns each record and the names the archive gave it."""
    spool = backend.temp_path("load")
    try:
        raw = PeekReader(IterReader(chunks))
        head = raw.peek(8)
        if not head:
            raise errors.InvalidArgument("load: empty input: not a tar archive")
        src = decompress(raw, detect(head), "archive")
        with open(spool, "xb") as out:
            copy(src, out.write)
        try:
            tar = tarfile.open(spool, "r:", tarinfo=LimitedTarInfo)  # noqa: SIM115 - entered just below
        except tarfile.TarError as exc:
            raise errors.InvalidArgument(f"load: not a tar archive: {exc}") from None
        with tar, backend.operation() as op:
            try:
                archive = _Archive(tar)
            except tarfile.TarError as exc:
                raise _bad(str(exc)) from None
            plans = _plans(archive)
            try:
                records = [(_load_plan(backend, op, archive, p), p.names) for p in plans]
            except tarfile.TarError as exc:
                raise _bad(str(exc)) from None
            records = [(rec, list(dict.fromkeys(names))) for rec, names in records]
            stored = backend.store.add(records)
            return [(rec, names) for rec, (_, names) in zip(stored, records, strict=True)]
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spool)


# -- save ------------------------------------------------------------------------


@dataclass
class SaveItem:
    record: ImageRecord
    names: list[reference.Reference]


class _TarWriter:
    """Builds a tar stream piece by piece, emitting ~CHUNK-sized byte strings."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.size = 0

    def _put(self, data: bytes) -> Iterator[bytes]:
        self._buf += data
        self.size += len(data)
        if len(self._buf) >= CHUNK:
            out, self._buf = bytes(self._buf), bytearray()
            yield out

    def header(self, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> Iterator[bytes]:
        ti = tarfile.TarInfo(name)
        ti.type, ti.size, ti.mtime, ti.uname, ti.gname = kind, size, 0, "", ""
        ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        yield from self._put(ti.tobuf(tarfile.PAX_FORMAT))

    def data(self, data: bytes) -> Iterator[bytes]:
        yield from self._put(data)

    def pad(self, size: int) -> Iterator[bytes]:
        rem = size % tarfile.BLOCKSIZE
        if rem:
            yield from self._put(b"\0" * (tarfile.BLOCKSIZE - rem))

    def file(self, name: str, data: bytes) -> Iterator[bytes]:
        yield from self.header(name, len(data))
        yield from self._put(data)
        yield from self.pad(len(data))

    def close(self) -> Iterator[bytes]:
        yield from self._put(b"\0" * (2 * tarfile.BLOCKSIZE))
        rem = self.size % tarfile.RECORDSIZE
        if rem:
            self._buf += b"\0" * (tarfile.RECORDSIZE - rem)
        if self._buf:
            out, self._buf = bytes(self._buf), bytearray()
            yield out


def save(backend: Backend, items: list[SaveItem]) -> Iterator[bytes]:
    """The tarball for items, as byte chunks; blobs are leased while they stream."""
    with backend.operation() as op:
        index_entries: list[dict[str, Any]] = []
        docker_manifest: list[dict[str, Any]] = []
        blobs: list[str] = []
        for item in items:
            rec = item.record
            for d in rec.blobs:
                op.hold_blob(d)
            manifest = _oci.loads(backend.content.read_bytes(rec.manifest_digest), "stored manifest")
            layer_digests = [_oci.parse_desc(d, "stored manifest layer").digest for d in manifest.get("layers", [])]
            for d in [rec.manifest_digest, rec.id, *layer_digests]:
                if not backend.content.exists(d):
                    raise errors.NotFound(f"content {d} of image {rec.id} is missing from the store")
                if d not in blobs:
                    blobs.append(d)
            target = {"mediaType": rec.manifest_media_type, "digest": rec.manifest_digest,
                      "size": rec.manifest_size}
            tags = [n for n in item.names if n.tag]
            for n in tags:
                index_entries.append({**target, "annotations": {
                    _oci.ANNOTATION_IMAGE_NAME: str(n), _oci.ANNOTATION_REF_NAME: n.tag}})
            if not tags:
                index_entries.append(dict(target))
            docker_manifest.append({
                "Config": "blobs/sha256/" + rec.id.removeprefix("sha256:"),
                "RepoTags": [n.familiar() for n in tags],
                "Layers": ["blobs/sha256/" + d.removeprefix("sha256:") for d in layer_digests],
            })
        w = _TarWriter()
        yield from w.header("blobs/", 0, tarfile.DIRTYPE)
        yield from w.header("blobs/sha256/", 0, tarfile.DIRTYPE)
        for d in blobs:
            size = backend.content.info(d).size
            yield from w.header("blobs/sha256/" + d.removeprefix("sha256:"), size)
            written = 0
            for _, chunk in backend.content.read(d):
                written += len(chunk)
                yield from w.data(chunk)
            if written != size:
                raise errors.Internal(f"content {d} changed size while being saved")
            yield from w.pad(size)
        yield from w.file("oci-layout", _oci.dumps({"imageLayoutVersion": "1.0.0"}))
        yield from w.file("index.json", _oci.dumps(
            {"schemaVersion": 2, "mediaType": _oci.MT_OCI_INDEX, "manifests": index_entries}))
        yield from w.file("manifest.json", _oci.dumps(docker_manifest))
        yield from w.close()


def save_to_bytes(backend: Backend, items: list[SaveItem]) -> bytes:
    """The whole tarball in memory (tests, small images)."""
    buf = io.BytesIO()
    for chunk in save(backend, items):
        buf.write(chunk)
    return buf.getvalue()
