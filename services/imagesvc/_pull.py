"""docker pull: manifest (or index, then the platform's manifest), config, then layers.

Layers download concurrently (default 3 at a time), hashed while they stream into a
resumable ingest (ingest/resume-<hex>: a download cut short resumes with an HTTP Range,
also after a restart); each blob is verified (digest and size) before it is committed.
Layers are applied in order, each as soon as its blob and its parent are there, through
the same snapshot code load uses, and the image is recorded (prepare_image, store.add)
only once every layer applied. Everything is leased from before it is checked to the end
of the pull; what a failed pull created is collected when it ends (partial downloads stay
for a resume, and go with the next cleanup once stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

import aiohttp
from pallet import errors, reference
from pallet.images import _distmeta, _oci
from pallet.images._backend import Backend, Op
from pallet.images._content import ResumableWriter, sha256_digest
from pallet.images._images import ImageService
from pallet.images._layers import apply_tar
from pallet.images._registry import SETTINGS, AsyncStream, Credentials, Session, endpoints, http_errors, new_http
from pallet.images._snapshots import LAYER_LABEL, SIZE_LABEL, TEMP_PREFIX
from pallet.images._streams import CHUNK, HashReader, PeekReader, decompress, detect, drain
from pallet.images._unpack import Layer, _existing_layer, prepare_image, put_blob
from pallet.images.v1 import images_pb2 as pb

DEFAULT_CONCURRENCY = 3
RETRIES = 3
PROGRESS_INTERVAL = 0.1
MT_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
              "application/vnd.docker.distribution.manifest.v1+prettyjws")
PULL_LAYER_TYPES = (*_oci.LAYER_TYPES, _oci.MT_OCI_LAYER_ZSTD,
                    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
_CONFIG_LIMIT = 16 << 20

Emit = Callable[[pb.PullImageResponse], None]


@dataclass
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_platform(os_: str, arch: str, variant: str) -> Platform:
    host = _oci.host_platform()
    if not os_ and not arch:
        return Platform(*host)
    if "/" in os_:  # "linux/arm64/v8" given whole
        parts = os_.split("/")
        os_, arch, variant = parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""
    os_ = (os_ or host[0]).lower()
    arch = (arch or host[1]).lower()
    arch = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
            "i386": "386"}.get(arch, arch)
    if arch == "arm64" and variant == "v8":
        variant = ""
    if arch == "arm" and not variant:
        variant = "v7"
    if arch == host[1] and not variant and host[1] != "arm":
        variant = host[2]
    return Platform(os_, arch, variant.lower())


def _platform_ok(plat: dict[str, str] | None, want: Platform) -> bool:
    if not plat:
        return False
    if plat.get("os") != want.os or plat.get("architecture") != want.architecture:
        return False
    got = plat.get("variant", "")
    if want.architecture == "arm64":
        got = "" if got == "v8" else got
    return not (want.variant and got and got != want.variant)


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


class _Progress:
    """Per-layer progress, rate-limited."""

    def __init__(self, emit: Emit, layer_id: str, total: int) -> None:
        self.emit = emit
        self.id = layer_id
        self.total = total
        self._last = 0.0

    def status(self, status: str, current: int = 0, total: int = 0) -> None:
        self.emit(pb.PullImageResponse(id=self.id, status=status, current=current, total=total))

    def tick(self, status: str, current: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self.status(status, current, self.total)


class _CountingReader:
    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self.count += len(data)
            self._on_read(self.count)
        return data


class _Restarted(Exception):
    """The download started again from zero: what a follower read is void."""


class _Follow:
    """A download in progress, for a reader in another thread: how many bytes are on disk, and where."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.path = ""
        self.size = 0
        self.done = False
        self.error: BaseException | None = None

    def opened(self, path: str, size: int) -> None:
        with self.cond:
            self.path, self.size = path, size
            self.cond.notify_all()

    def advance(self, size: int) -> None:
        with self.cond:
            self.size = size
            self.cond.notify_all()

    def finish(self, path: str, size: int) -> None:
        """The blob is verified and committed at path."""
        with self.cond:
            self.path, self.size, self.done = path, size, True
            self.cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            if not self.done and self.error is None:
                self.error = exc
            self.cond.notify_all()


class _FollowReader:
    """Reads a download as it lands on disk; end of file only once the blob is verified."""

    def __init__(self, follow: _Follow, stop: threading.Event) -> None:
        self.f = follow
        self.stop = stop
        self.fd = -1
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = CHUNK
        f = self.f
        with f.cond:
            while True:
                if f.error is not None:
                    raise f.error
                if self.fd < 0 and f.path:
                    self.fd = os.open(f.path, os.O_RDONLY | os.O_CLOEXEC)
                if self.fd >= 0 and self.pos < f.size:
                    break
                if f.done:
                    return b""
                if self.stop.is_set():
                    raise errors.Unavailable("pull cancelled")
                f.cond.wait(0.1)
            avail = f.size - self.pos
        data = os.pread(self.fd, min(n, avail), self.pos)
        if not data:
            raise errors.Internal(f"download of {self.f.path} is shorter on disk than reported")
        self.pos += len(data)
        return data

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def apply_blob_layer(backend: Backend, op: Op, desc: _oci.Desc, parent: str, diff_id: str,
                     on_read: Callable[[int], None] = lambda n: None,
                     source: Callable[[], Any] | None = None) -> Layer:
    """Apply a layer blob onto `parent` as the committed snapshot of its chain ID.

    The blob is read from the store, or from `source` (a download being followed, which ends
    only once the blob is verified); nothing is committed unless the diff ID matches.
    """
    chain = _oci.chain_id(parent, diff_id)
    op.hold_snapshot(chain)
    size = _existing_layer(backend, chain)
    if size is not None:
        return Layer(desc, diff_id, chain, size)
    what = f"layer {desc.digest}"
    temp = f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    f = source() if source is not None else open(backend.content.path(desc.digest), "rb")  # noqa: SIM115
    with contextlib.closing(f):
        counted = _CountingReader(f, on_read)
        peek = PeekReader(counted)
        hashed = HashReader(decompress(peek, detect(peek.peek(8)), what))
        backend.snapshots.prepare(temp, parent, labels={"pallet.io/temp": "1"})
        try:
            size = apply_tar(hashed, backend.snapshots.fs_path(temp))
            drain(hashed)
            if hashed.digest != diff_id:
                raise errors.InvalidArgument(
                    f"{what}: content does not match the image config: diff ID {hashed.digest}, expected {diff_id}")
            try:
                backend.snapshots.commit(chain, temp, labels={SIZE_LABEL: str(size), LAYER_LABEL: "true"})
                op.created_snapshots.append(chain)
                temp = ""
            except errors.AlreadyExists:
                pass  # unpacked concurrently: the temporary copy goes
        finally:
            if temp:
                try:
                    backend.snapshots.remove(temp)
                except errors.PalletError as exc:
                    backend.log.warning("cannot remove temporary snapshot", key=temp, error=str(exc))
    return Layer(desc, diff_id, chain, size)


async def in_thread(fn: Callable[[], Any], stop: threading.Event | None = None) -> Any:
    """Run fn in a worker thread; if cancelled, set stop and still wait for it (it holds leases and snapshots)."""
    fut = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        if stop is not None:
            stop.set()
        await asyncio.wait([fut])
        raise


async def fetch_blob(backend: Backend, op: Op, session: Session, repo: str, desc: _oci.Desc,
                     prog: _Progress | None = None, on_range: Callable[[int], None] | None = None,
                     follow: _Follow | None = None) -> None:
    """Download a blob into the content store (resuming a partial one), verified; leased to op."""
    follow = follow or _Follow()
    try:
        await _fetch_blob(backend, op, session, repo, desc, prog, on_range, follow)
    except BaseException as exc:
        follow.fail(exc)
        raise
    follow.finish(backend.content.path(desc.digest), desc.size)


async def _fetch_blob(backend: Backend, op: Op, session: Session, repo: str, desc: _oci.Desc,
                      prog: _Progress | None, on_range: Callable[[int], None] | None, follow: _Follow) -> None:
    op.hold_blob(desc.digest)
    if backend.content.exists(desc.digest):
        return
    writer: ResumableWriter | None = None
    while writer is None:
        try:
            writer = backend.content.resumable_writer(desc.digest, desc.size)
        except BlockingIOError:  # another pull is downloading it: wait for that one
            if prog:
                prog.status("Waiting")
            await asyncio.sleep(0.2)
            if backend.content.exists(desc.digest):
                return
    try:
        follow.opened(writer.path, writer.size)
        await _download(session, repo, desc, writer, prog, on_range, follow)
        if prog:
            prog.status("Verifying Checksum")
        try:
            writer.verify()
        except errors.InvalidArgument as exc:
            writer.abort()
            raise errors.InvalidArgument(f"filesystem layer verification failed for digest {desc.digest}: "
                                         f"{exc}") from None
        _, created = writer.commit()
        if created:
            op.created_blobs.append(desc.digest)
        if prog:
            prog.status("Download complete")
    finally:
        if not writer.done:
            writer.close_keep()


async def _download(session: Session, repo: str, desc: _oci.Desc, w: ResumableWriter, prog: _Progress | None,
                    on_range: Callable[[int], None] | None, follow: _Follow) -> None:
    attempt = 0
    while w.size < desc.size:
        offset = w.size
        try:
            resp = await session.open_blob(repo, desc.digest, offset)
            async with resp:
                if offset:
                    if on_range:
                        on_range(offset)
                    if resp.status != 206 or not resp.headers.get("Content-Range", "").startswith(
                            f"bytes {offset}-"):
                        w.restart()  # the registry sent the whole blob
                        follow.fail(_Restarted())
                buf = bytearray()
                try:
                    async for data in resp.content.iter_any():
                        buf += data
                        if len(buf) >= CHUNK:
                            w.write(bytes(buf))
                            buf.clear()
                            w.flush()
                            follow.advance(w.size)
                            if w.size > desc.size:
                                break
                            if prog:
                                prog.tick("Downloading", w.size)
                finally:
                    if buf:  # what arrived before a cut is a good prefix: keep it for the resume
                        w.write(bytes(buf))
                        w.flush()
                        follow.advance(w.size)
            if w.size > desc.size:
                w.abort()
                raise errors.InvalidArgument(
                    f"filesystem layer verification failed for digest {desc.digest}: more than the "
                    f"{desc.size} bytes the manifest gives")
            if w.size < desc.size:
                raise aiohttp.ClientPayloadError(f"connection closed after {w.size} of {desc.size} bytes")
            if prog:
                prog.tick("Downloading", w.size, force=True)
        except (TimeoutError, aiohttp.ClientError, errors.Unavailable, ConnectionError) as exc:
            attempt += 1
            if attempt > RETRIES:
                raise errors.Unavailable(f"downloading {desc.digest} from {session.domain}/{repo}: {exc} "
                                         f"({w.size} of {desc.size} bytes kept for a retry)") from None
            delay = 0.2 * (2 ** (attempt - 1))
            if prog:
                prog.status(f"Retrying in {delay:.1f} seconds")
            await asyncio.sleep(delay)


# -- the pull ----------------------------------------------------------------------------------


@dataclass
class _Target:
    manifest: bytes
    manifest_digest: str
    media_type: str
    config: _oci.Desc
    layers: list[_oci.Desc]
    index: bytes | None
    top_digest: str


class Puller:
    def __init__(self, backend: Backend, images: ImageService, creds: Credentials, platform: Platform,
                 concurrency: int) -> None:
        self.b = backend
        self.images = images
        self.creds = creds
        self.platform = platform
        self.concurrency = max(1, concurrency or SETTINGS.max_downloads or DEFAULT_CONCURRENCY)
        self.op: Op | None = None
        self.meta = _distmeta.for_root(backend.root)
        self.explicit_platform = False

    async def run(self, refs: list[reference.Reference], all_tags: bool, emit: Emit) -> None:
        self.b.content.sweep_resumable()
        async with new_http() as http, http_errors(f"pulling {refs[0].familiar()}"):
            if all_tags:
                named = refs[0]
                session = await self._session(http, named.domain)
                tags = await session.tags(named.path)
                if not tags:
                    raise errors.NotFound(f"no tags found for {named.familiar_name}")
                refs = [named.with_tag(t) for t in tags]
                emit(pb.PullImageResponse(status=f"Pulling all tags of {named.familiar_name}"))
            for named in refs:
                await self._pull_ref(http, named, emit)

    async def _session(self, http: aiohttp.ClientSession, domain: str) -> Session:
        session = Session(http, domain, self.creds)
        await session.ping()
        return session

    async def _pull_ref(self, http: aiohttp.ClientSession, named: reference.Reference, emit: Emit) -> None:
        eps = endpoints(named.domain)
        for n, (base, is_mirror) in enumerate(eps):
            session = Session(http, named.domain, Credentials() if is_mirror else self.creds, base=base)
            try:
                await session.ping()
                target = await self._resolve(session, named)
            except (errors.Unavailable, errors.NotFound, errors.PermissionDenied) as exc:
                if is_mirror and n + 1 < len(eps):
                    emit(pb.PullImageResponse(status=f"mirror {base}: {exc}; trying the next endpoint"))
                    continue
                raise
            await self._pull_target(session, named, target, emit)
            return

    async def _resolve(self, session: Session, named: reference.Reference) -> _Target:
        repo = named.path
        display = named.familiar()
        body, header_type, _ = await session.get_manifest(repo, named.digest or named.tag, display)
        top = sha256_digest(body)
        if named.digest and top != named.digest:
            raise errors.InvalidArgument(f"manifest verification failed for {display}: got {top}")
        doc = _oci.loads(body, f"manifest of {display}")
        if not isinstance(doc, dict):
            raise errors.InvalidArgument(f"invalid manifest of {display}: not an object")
        media_type = str(doc.get("mediaType") or header_type or "")
        index: bytes | None = None
        digest = top
        if doc.get("schemaVersion") == 1 or media_type in MT_SCHEMA1:
            raise errors.InvalidArgument(
                f"{display} is a Docker Image manifest version 2, schema 1 image: schema 1 is not supported; "
                "the image's author should push it again as a Docker schema 2 or OCI image")
        if media_type in _oci.INDEX_TYPES or (not media_type and "manifests" in doc):
            index = body
            children = [_oci.parse_desc(d, "index entry") for d in doc.get("manifests") or []]
            match = [c for c in children if _platform_ok(c.platform, self.platform)
                     and c.media_type not in _oci.INDEX_TYPES]
            if not match:
                raise errors.NotFound(f"no matching manifest for {self.platform} in the manifest list entries "
                                      f"of {display}")
            child = match[0]
            body, header_type, _ = await session.get_manifest(repo, child.digest, display)
            digest = sha256_digest(body)
            if digest != child.digest or len(body) != child.size:
                raise errors.InvalidArgument(f"manifest verification failed for {child.digest} of {display}")
            doc = _oci.loads(body, f"manifest of {display}")
            if not isinstance(doc, dict):
                raise errors.InvalidArgument(f"invalid manifest of {display}: not an object")
            media_type = str(doc.get("mediaType") or child.media_type or header_type or "")
            if doc.get("schemaVersion") == 1 or media_type in MT_SCHEMA1:
                raise errors.InvalidArgument(f"{display}: schema 1 manifests are not supported")
        if media_type not in _oci.MANIFEST_TYPES:
            if media_type or "config" not in doc:
                raise errors.InvalidArgument(f"{display}: unsupported manifest media type {media_type or '(none)'}")
            media_type = _oci.MT_OCI_MANIFEST
        config = _oci.parse_desc(doc.get("config"), "manifest config")
        raw_layers = doc.get("layers") or []
        if not isinstance(raw_layers, list):
            raise errors.InvalidArgument(f"invalid manifest of {display}: layers is not a list")
        layers = [_oci.parse_desc(d, "manifest layer") for d in raw_layers]
        for layer in layers:
            if layer.media_type not in PULL_LAYER_TYPES:
                raise errors.InvalidArgument(
                    f"{display}: unsupported layer media type {layer.media_type or '(none)'}")
        return _Target(body, digest, media_type, config, layers, index, top)

    async def _pull_target(self, session: Session, named: reference.Reference, t: _Target, emit: Emit) -> None:
        op = self.op
        assert op is not None
        repo = named.path
        display = named.familiar()
        what = named.digest or named.tag
        emit(pb.PullImageResponse(status=f"{what}: Pulling from {named.path}"))
        if t.config.size > _CONFIG_LIMIT:
            raise errors.InvalidArgument(f"{display}: image config too large ({t.config.size} bytes)")
        op.hold_blob(t.config.digest)
        config = await session.get_small_blob(repo, t.config.digest, _CONFIG_LIMIT)
        if sha256_digest(config) != t.config.digest or len(config) != t.config.size:
            raise errors.InvalidArgument(f"{display}: image config does not match its digest {t.config.digest}")
        cfg_doc = _oci.loads(config, "image config")
        diff_ids = _oci.check_config(cfg_doc)
        image_os = str(cfg_doc.get("os") or "linux")
        if image_os != "linux":
            raise errors.InvalidArgument(f"image operating system \"{image_os}\" cannot be used on this platform")
        arch = str(cfg_doc.get("architecture") or "")
        if self.explicit_platform and t.index is None and arch and not _platform_ok(
                {"os": image_os, "architecture": arch, "variant": str(cfg_doc.get("variant") or "")},
                self.platform):
            raise errors.NotFound(f"image with reference {display} was found but does not match the specified "
                                  f"platform: wanted {self.platform}, actual: {image_os}/{arch}")
        if len(diff_ids) != len(t.layers):
            raise errors.InvalidArgument(
                f"{display}: the config lists {len(diff_ids)} layers, the manifest {len(t.layers)}")
        names = [str(named)] if named.tag else []
        names.append(str(named.name_only().with_digest(t.top_digest)))
        existing = self.b.store.get(t.config.digest)
        if existing is not None and existing.manifest_digest == t.manifest_digest and all(
                self.b.content.exists(d) for d in existing.blobs):
            before = self.b.store.by_name(str(named)) if named.tag else existing
            self.b.store.add([(existing, names)])
            # as Docker: "newer" when the tag was set or moved, even with every layer already here
            self._finish(emit, named, t, existing.id, fresh=before is None or before.id != existing.id)
            return
        chains = _oci.chain_ids(diff_ids)
        for c, d in zip(chains, t.layers, strict=True):
            op.hold_snapshot(c)
            op.hold_blob(d.digest)
        have = [self.b.snapshots.exists(c) and self.b.content.exists(d.digest) for c, d in zip(chains, t.layers,
                                                                                             strict=True)]
        progs = [_Progress(emit, _short(d.digest), d.size) for d in t.layers]
        ready: list[asyncio.Future[None]] = [asyncio.get_running_loop().create_future() for _ in t.layers]
        for i, p in enumerate(progs):
            if have[i]:
                p.status("Already exists")
                ready[i].set_result(None)
            else:
                p.status("Pulling fs layer")
        sem = asyncio.Semaphore(self.concurrency)

        follows = [_Follow() for _ in t.layers]
        stop = threading.Event()

        async def download(i: int) -> None:
            try:
                if sem.locked():
                    progs[i].status("Waiting")
                async with sem:
                    await fetch_blob(self.b, op, session, repo, t.layers[i], progs[i], follow=follows[i])
                ready[i].set_result(None)
            except BaseException as exc:
                follows[i].fail(exc)
                if not ready[i].done():
                    ready[i].set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                raise

        layers: list[Layer] = []

        async def extract() -> None:
            # Each layer is applied as soon as its parent is, reading its download as it lands.
            parent = ""
            for i, desc in enumerate(t.layers):
                prog = progs[i]
                if have[i]:
                    layer = await in_thread(functools.partial(apply_blob_layer, self.b, op, desc, parent,
                                                              diff_ids[i]), stop)
                else:
                    fol = follows[i]

                    def on_read(n: int, fol: _Follow = fol, prog: _Progress = prog) -> None:
                        if fol.done:
                            prog.tick("Extracting", n)

                    try:
                        layer = await in_thread(functools.partial(
                            apply_blob_layer, self.b, op, desc, parent, diff_ids[i], on_read,
                            functools.partial(_FollowReader, fol, stop)), stop)
                    except _Restarted:
                        await ready[i]
                        layer = await in_thread(functools.partial(apply_blob_layer, self.b, op, desc, parent,
                                                                  diff_ids[i]), stop)
                    await ready[i]  # applied already (a layer another image has): the blob still comes
                    prog.tick("Extracting", desc.size, force=True)
                    prog.status("Pull complete")
                layers.append(layer)
                parent = layer.chain_id

        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(len(t.layers)):
                    if not have[i]:
                        tg.create_task(download(i))
                tg.create_task(extract())
        except BaseExceptionGroup as group:
            raise _first(group) from None

        def record() -> str:
            rec = prepare_image(self.b, op, config, layers, t.manifest, t.media_type, t.config.media_type)
            if t.index is not None:
                rec.blobs.append(put_blob(self.b, op, t.index, t.top_digest))
            self.b.store.add([(rec, names)])
            self.meta.add_sources(named.domain, repo, [t.config.digest, *(d.digest for d in t.layers)])
            return rec.id

        image_id = await in_thread(record)
        self._finish(emit, named, t, image_id, fresh=True)

    def _finish(self, emit: Emit, named: reference.Reference, t: _Target, image_id: str, fresh: bool) -> None:
        emit(pb.PullImageResponse(status=f"Digest: {t.top_digest}"))
        what = "Downloaded newer image for" if fresh else "Image is up to date for"
        emit(pb.PullImageResponse(status=f"Status: {what} {named.familiar()}"))
        rec = self.b.store.get(image_id)
        image = self.images.to_proto(rec) if rec is not None else None
        emit(pb.PullImageResponse(digest=t.top_digest, image=image, ref=str(named)))


def _first(group: BaseExceptionGroup) -> BaseException:
    """The error to report from a task group: a PalletError first, then anything but a cancellation."""
    flat: list[BaseException] = []

    def walk(g: BaseExceptionGroup) -> None:
        for e in g.exceptions:
            if isinstance(e, BaseExceptionGroup):
                walk(e)
            else:
                flat.append(e)

    walk(group)
    for e in flat:
        if isinstance(e, errors.PalletError):
            return e
    for e in flat:
        if not isinstance(e, asyncio.CancelledError):
            return e
    return flat[0]


def parse_pull_ref(text: str, all_tags: bool) -> reference.Reference:
    text = text.strip()
    if not text:
        raise errors.InvalidArgument("invalid reference format: repository name must have at least one component")
    if all_tags:
        named = reference.parse_normalized(text)
        if named.tag or named.digest:
            raise errors.InvalidArgument("tag can't be used with --all-tags/-a")
        return named
    return reference.parse_docker_ref(text)


def pull_stream(backend: Backend, images: ImageService, req: pb.PullImageRequest) -> AsyncStream[pb.PullImageResponse]:
    """The PullImageResponse messages of a pull, as they happen."""
    named = parse_pull_ref(req.ref, req.all_tags)
    creds = Credentials(req.auth.username, req.auth.password, req.auth.identity_token, req.auth.registry_token)
    plat = parse_platform(req.platform.os, req.platform.architecture, req.platform.variant)
    if plat.os != "linux":
        raise errors.InvalidArgument(f"operating system is not supported: {plat.os}")
    puller = Puller(backend, images, creds, plat, req.max_concurrent_downloads)
    puller.explicit_platform = bool(req.platform.os or req.platform.architecture)

    def wrap(coro: Awaitable[None]) -> None:
        with backend.operation() as op:
            puller.op = op
            asyncio.run(coro)  # type: ignore[arg-type]

    return AsyncStream(lambda emit: puller.run([named], req.all_tags, emit), wrap)
