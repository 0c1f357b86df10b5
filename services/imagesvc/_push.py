"""docker push: the image's stored manifest, its config and layers, to a registry.

An image is pushed with the manifest it is stored with, so its digest is the one it had
(a pulled image pushes back byte for byte). Layers stored uncompressed (import, load) are
gzip-compressed once; the compressed blob is kept (and remembered by diff ID), the image
is pointed at the manifest that names it, and later pushes reuse both.

Each blob is checked with HEAD first; a blob this imagesvc pulled from or pushed to another
repository of the same registry is mounted from there (POST ?mount=&from=); others are
uploaded, in one PUT when small or in PATCH chunks when large. The manifest goes last.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from pallet import errors, reference
from pallet.images import _distmeta, _oci
from pallet.images._backend import Backend, Op
from pallet.images._content import sha256_digest
from pallet.images._images import ImageService
from pallet.images._pull import in_thread
from pallet.images._registry import SETTINGS, AsyncStream, Credentials, Session, http_errors, new_http
from pallet.images._store import ImageRecord
from pallet.images._streams import CHUNK
from pallet.images.v1 import images_pb2 as pb

DEFAULT_CONCURRENCY = 5
CHUNKED_OVER = 32 << 20  # blobs larger than this go up in PATCH chunks of this size
PROGRESS_INTERVAL = 0.1
COMPRESSED = (_oci.MT_OCI_LAYER_GZIP, _oci.MT_DOCKER_LAYER_GZIP, _oci.MT_OCI_LAYER_ZSTD,
              "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
UNCOMPRESSED = (_oci.MT_OCI_LAYER, "application/vnd.oci.image.layer.nondistributable.v1.tar", "")

Emit = Callable[[pb.PushImageResponse], None]


@dataclass
class _Image:
    tag: str
    manifest: bytes
    media_type: str
    config: _oci.Desc
    layers: list[_oci.Desc]


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def compress_layer(backend: Backend, op: Op, desc: _oci.Desc, diff_id: str, gzip_type: str) -> _oci.Desc:
    """The gzip blob of an uncompressed layer blob: made once, then reused."""
    meta = _distmeta.for_root(backend.root)
    known = meta.compressed(diff_id, gzip_type)
    if known is not None:
        op.hold_blob(known[0])
        if backend.content.exists(known[0]):
            return _oci.Desc(gzip_type, known[0], known[1])
    with backend.content.writer() as w:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=w, mtime=0, compresslevel=6)  # type: ignore[arg-type]
        for _, data in backend.content.read(desc.digest):
            gz.write(data)
        gz.close()
        digest = w.digest
        op.hold_blob(digest)
        _, created = w.commit()
        size = w.size
    if created:
        op.created_blobs.append(digest)
    meta.set_compressed(diff_id, gzip_type, digest, size)
    return _oci.Desc(gzip_type, digest, size)


def prepare(backend: Backend, op: Op, rec: ImageRecord, tag: str) -> _Image:
    """What to push for an image: its stored manifest, or one naming gzip blobs (stored and recorded)."""
    for d in rec.blobs:
        op.hold_blob(d)
    body = backend.content.read_bytes(rec.manifest_digest)
    doc = _oci.loads(body, "stored manifest")
    if not isinstance(doc, dict):
        raise errors.InvalidArgument(f"stored manifest {rec.manifest_digest} is not an object")
    config = _oci.parse_desc(doc.get("config"), "stored manifest config")
    layers = [_oci.parse_desc(d, "stored manifest layer") for d in doc.get("layers") or []]
    media_type = rec.manifest_media_type or str(doc.get("mediaType") or _oci.MT_OCI_MANIFEST)
    for d in [config, *layers]:
        if not backend.content.exists(d.digest):
            raise errors.NotFound(f"content {d.digest} of image {rec.id} is missing from the store")
    meta = _distmeta.for_root(backend.root)
    if all(layer.media_type not in UNCOMPRESSED or meta.known(layer.digest) for layer in layers):
        return _Image(tag, body, media_type, config, layers)  # as stored (as pulled: same digest)
    diff_ids = _oci.check_config(_oci.loads(backend.content.read_bytes(config.digest), "image config"))
    if len(diff_ids) != len(layers):
        raise errors.InvalidArgument(f"image {rec.id}: config and manifest disagree on the layers")
    gzip_type = _oci.MT_DOCKER_LAYER_GZIP if media_type == _oci.MT_DOCKER_MANIFEST else _oci.MT_OCI_LAYER_GZIP
    new_layers = [compress_layer(backend, op, layer, diff_id, gzip_type) if layer.media_type in UNCOMPRESSED
                  else layer for layer, diff_id in zip(layers, diff_ids, strict=True)]
    raw_layers = doc.get("layers") or []
    for raw, new in zip(raw_layers, new_layers, strict=True):
        raw.update({"mediaType": new.media_type, "digest": new.digest, "size": new.size})
    body = _oci.dumps(doc)
    digest = sha256_digest(body)
    op.hold_blob(digest)
    backend.content.put(body, digest)
    backend.store.set_manifest(rec.id, digest, media_type, len(body), [d.digest for d in new_layers])
    return _Image(tag, body, media_type, config, new_layers)


class _Progress:
    def __init__(self, emit: Emit, layer_id: str, total: int) -> None:
        self.emit = emit
        self.id = layer_id
        self.total = total
        self._last = 0.0

    def status(self, status: str, current: int = 0, total: int = 0) -> None:
        self.emit(pb.PushImageResponse(id=self.id, status=status, current=current, total=total))

    def tick(self, current: int) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL or current >= self.total:
            self._last = now
            self.status("Pushing", current, self.total)


class Pusher:
    def __init__(self, backend: Backend, images: ImageService, creds: Credentials, concurrency: int) -> None:
        self.b = backend
        self.images = images
        self.creds = creds
        self.concurrency = max(1, concurrency or SETTINGS.max_uploads or DEFAULT_CONCURRENCY)
        self.op: Op | None = None
        self.meta = _distmeta.for_root(backend.root)

    async def run(self, named: reference.Reference, items: list[tuple[str, ImageRecord]], emit: Emit) -> None:
        op = self.op
        assert op is not None
        emit(pb.PushImageResponse(status=f"The push refers to repository [{named.familiar_name}]"))
        async with new_http() as http, http_errors(f"pushing {named.familiar_name}"):
            session = Session(http, named.domain, self.creds)
            await session.ping()
            for tag, rec in items:
                img = await in_thread(lambda r=rec, t=tag: prepare(self.b, op, r, t))
                await self._push_one(session, named, img, emit)
                name = named.name_only().with_digest(sha256_digest(img.manifest))
                self.b.store.add([(rec, [str(name)])])

    async def _push_one(self, session: Session, named: reference.Reference, img: _Image, emit: Emit) -> None:
        repo = named.path
        sem = asyncio.Semaphore(self.concurrency)
        progs = {d.digest: _Progress(emit, _short(d.digest), d.size) for d in img.layers}
        for d in reversed(img.layers):  # docker lists the top layer first
            progs[d.digest].status("Preparing")

        async def one(desc: _oci.Desc) -> None:
            prog = progs.get(desc.digest)
            if prog is not None and sem.locked():
                prog.status("Waiting")
            async with sem:
                await self._push_blob(session, repo, desc, prog)

        seen: dict[str, _oci.Desc] = {}
        for d in img.layers:
            seen.setdefault(d.digest, d)
        try:
            async with asyncio.TaskGroup() as tg:
                for d in seen.values():
                    tg.create_task(one(d))
                tg.create_task(one(img.config))
        except BaseExceptionGroup as group:
            from pallet.images._pull import _first

            raise _first(group) from None
        ref = img.tag
        got = await session.put_manifest(repo, ref, img.manifest, img.media_type)
        digest = sha256_digest(img.manifest)
        if got and got != digest:
            raise errors.InvalidArgument(f"registry stored the manifest as {got}, expected {digest}")
        self.meta.add_sources(named.domain, repo, [img.config.digest, *(d.digest for d in img.layers)])
        emit(pb.PushImageResponse(status=f"{ref}: digest: {digest} size: {len(img.manifest)}", tag=ref,
                                  digest=digest, size=len(img.manifest)))

    async def _push_blob(self, session: Session, repo: str, desc: _oci.Desc, prog: _Progress | None) -> None:
        if await session.blob_exists(repo, desc.digest):
            if prog:
                prog.status("Layer already exists")
            return
        loc = ""
        for source in self.meta.sources(desc.digest, session.domain):
            if source == repo:
                continue
            loc, mounted = await session.start_upload(repo, mount=desc.digest, source=source)
            if mounted:
                if prog:
                    prog.status(f"Mounted from {source}")
                return
            break  # the registry opened an upload session instead: use it
        if not loc:
            loc, _ = await session.start_upload(repo)
        path = self.b.content.path(desc.digest)

        def body(offset: int, size: int) -> AsyncIterator[bytes]:
            async def gen() -> AsyncIterator[bytes]:
                with open(path, "rb") as f:
                    f.seek(offset)
                    left = size
                    while left > 0:
                        data = f.read(min(CHUNK, left))
                        if not data:
                            raise errors.Internal(f"content {desc.digest} is shorter than {desc.size} bytes")
                        left -= len(data)
                        if prog:
                            prog.tick(offset + size - left)
                        yield data
            return gen()

        await session.put_blob(repo, loc, desc.digest, desc.size, body, CHUNKED_OVER)
        if prog:
            prog.status("Pushed")


def push_items(images: ImageService, named: reference.Reference) -> list[tuple[str, ImageRecord]]:
    """(tag, image) to push: the tag given, or every tag of the repository."""
    backend = images.b
    if named.tag:
        rec = backend.store.by_name(str(named))
        if rec is None:
            raise errors.NotFound(f"An image does not exist locally with the tag: {named.familiar_name}")
        return [(named.tag, rec)]
    out: list[tuple[str, ImageRecord]] = []
    for rec in backend.store.all():
        for n in rec.names:
            r = reference.parse(n)
            if r.tag and not r.digest and r.name == named.name:
                out.append((r.tag, rec))
    if not out:
        raise errors.NotFound(f"An image does not exist locally with the tag: {named.familiar_name}")
    return sorted(out, key=lambda x: x[0])


def push_stream(backend: Backend, images: ImageService, req: pb.PushImageRequest) -> AsyncStream[pb.PushImageResponse]:
    text = req.ref.strip()
    if not text:
        raise errors.InvalidArgument("invalid reference format: repository name must have at least one component")
    named = reference.parse_normalized(text)
    if named.digest:
        raise errors.InvalidArgument(f"cannot push a digest reference: {text}")
    if req.all_tags and named.tag:
        raise errors.InvalidArgument("tag can't be used with --all-tags/-a")
    if not req.all_tags and not named.tag:
        named = named.with_tag(reference.DEFAULT_TAG)
    items = push_items(images, named)
    creds = Credentials(req.auth.username, req.auth.password, req.auth.identity_token, req.auth.registry_token)
    pusher = Pusher(backend, images, creds, req.max_concurrent_uploads)

    def wrap(coro: Awaitable[None]) -> None:
        with backend.operation() as op:
            pusher.op = op
            asyncio.run(coro)  # type: ignore[arg-type]

    return AsyncStream(lambda emit: pusher.run(named, items, emit), wrap)
