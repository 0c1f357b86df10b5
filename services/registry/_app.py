"""The OCI Distribution Spec v1.1 HTTP API of pallet-registry (aiohttp).

Every /v2/ request goes through one handler that parses the *raw* request path (so `%2e%2e`, `..` and
friends reach the name check undecoded and un-normalised), validates the repository name, asks the
authorizer, and dispatches on (route, method).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pallet import log

from ._proxy import Upstream, UpstreamError
from ._storage import DigestMismatch, MissingReference, Storage, Upload, digest_of, parse_digest, references

NAME_RE = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
MAX_NAME = 255
MAX_MANIFEST = 4 * 1024 * 1024
CHUNK = 1 << 20
FLUSH = 4 << 20

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws")
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = {*IMAGE_TYPES, *INDEX_TYPES, *SCHEMA1}

STATUS = {
    "BLOB_UNKNOWN": 404, "BLOB_UPLOAD_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "DIGEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404, "MANIFEST_INVALID": 400, "MANIFEST_BLOB_UNKNOWN": 400, "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404, "SIZE_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403, "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429, "PAGINATION_NUMBER_INVALID": 400, "UNAVAILABLE": 503,
}

ROUTES = [
    ("tags", re.compile(r"^(?P<name>.+)/tags/list$")),
    ("manifest", re.compile(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$")),
    ("uploads", re.compile(r"^(?P<name>.+)/blobs/uploads/?$")),
    ("upload", re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]+)$")),
    ("blob", re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$")),
    ("referrers", re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$")),
]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
STREAMED = "pallet.registry.streamed"  # request key: the response is partly sent, errors cannot be answered
CONTENT_RANGE_RE = re.compile(r"^(?:bytes )?(\d+)-(\d+)$")



_log = log.get("registry")


class RegistryError(Exception):
    def __init__(self, code: str, message: str, detail: Any = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail
        self.status = status or STATUS.get(code, 400)
        self.headers = headers or {}

    def response(self) -> web.Response:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            err["detail"] = self.detail
        headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
        return web.json_response({"errors": [err]}, status=self.status, headers=headers)


class AccessLogger(AbstractAccessLogger):
    """One structured line per request, written after the response is sent."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        _log.info("request", method=request.method, path=request.raw_path.split("?", 1)[0], status=response.status,
                  bytes=response.body_length, duration=round(time, 6), remote=request.remote)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _etag_match(request: web.Request, digest: str) -> bool:
    return any(v.strip() in (digest, f'"{digest}"') for h in request.headers.getall("If-None-Match", [])
               for v in h.split(","))


def _range_header(offset: int) -> str:
    # As the CNCF distribution registry does: "0-0" for an empty upload, else "0-<last byte>".
    return f"0-{max(offset - 1, 0)}"


class Registry:
    def __init__(self, storage: Storage, authorizer: Any = None, read_only: bool = False,
                 proxy: Upstream | None = None) -> None:
        self.storage = storage
        self.auth = authorizer
        self.read_only = read_only
        self.proxy = proxy
        self._upload_locks: dict[str, asyncio.Lock] = {}
        self._fetching: dict[tuple[str, str], asyncio.Future[None]] = {}

    # -- plumbing

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        if self.auth is not None:
            app.add_routes(self.auth.routes())
        app.router.add_route("*", "/v2", self.dispatch)
        app.router.add_route("*", "/v2/{tail:.*}", self.dispatch)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, app: web.Application) -> None:
        if self.proxy is not None:
            await self.proxy.close()
        self.storage.close()

    @web.middleware
    async def _errors(self, request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except RegistryError as e:
            if request.get(STREAMED):
                _log.warning("streamed response aborted", path=request.path, error=e.message)
                raise  # part of the body is out: aiohttp drops the connection, the client sees it cut
            resp = e.response()
        except web.HTTPException as e:
            e.headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
            raise
        except Exception:
            _log.exception("request failed", method=request.method, path=request.path)
            if request.get(STREAMED):
                raise
            resp = web.json_response({"errors": [{"code": "UNKNOWN", "message": "internal server error"}]},
                                     status=500)
        resp.headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
        return resp

    async def _check(self, request: web.Request, repo: str | None, actions: set[str]) -> None:
        if self.auth is not None:
            await self.auth.check(request, repo, actions)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = request.raw_path.split("?", 1)[0]
        rest = raw[len("/v2/"):] if raw.startswith("/v2/") else ""
        method = request.method
        if rest == "":
            if method not in ("GET", "HEAD"):
                raise RegistryError("UNSUPPORTED", f"method {method} not allowed")
            await self._check(request, None, set())
            return web.json_response({}, headers={"Docker-Distribution-API-Version": "registry/2.0"})
        if rest == "_catalog":
            if method not in ("GET", "HEAD"):
                raise RegistryError("UNSUPPORTED", f"method {method} not allowed")
            await self._check(request, None, {"*"})
            return self.catalog(request)
        found = next(((k, m) for k, p in ROUTES if (m := p.match(rest))), None)
        if found is None:
            raise RegistryError("NAME_UNKNOWN", "no such route", {"path": raw}, status=404)
        kind, m = found
        name = m.group("name")
        if len(name) > MAX_NAME or not NAME_RE.match(name):
            raise RegistryError("NAME_INVALID", "invalid repository name", {"name": name})
        if self.read_only and method in WRITES:
            raise RegistryError("UNSUPPORTED", "the registry is read-only")
        if self.proxy is not None and method in WRITES:
            raise RegistryError("UNSUPPORTED", "the registry is a pull-through cache: pushes and deletes are not "
                                "supported")
        handler = getattr(self, f"{kind}_{method.lower()}", None)
        if handler is None:
            raise RegistryError("UNSUPPORTED", f"method {method} not allowed on {kind}")
        actions = {"delete"} if method == "DELETE" else {"push"} if method in WRITES else {"pull"}
        if kind in ("uploads", "upload"):
            actions = {"pull", "push"}
        await self._check(request, name, actions)
        args = {k: v for k, v in m.groupdict().items() if k != "name"}
        resp: web.StreamResponse = await handler(request, name, **args)
        return resp

    @staticmethod
    def _digest(value: str, code: str = "DIGEST_INVALID") -> str:
        if parse_digest(value) is None:
            raise RegistryError(code, "invalid or unsupported digest", {"digest": value})
        return value

    @staticmethod
    def _limit(request: web.Request) -> tuple[int | None, str | None]:
        n = request.query.get("n")
        last = request.query.get("last") or None
        if n is None or n == "":
            return None, last
        if not n.isdigit():
            raise RegistryError("PAGINATION_NUMBER_INVALID", "invalid number of results requested", {"n": n})
        return int(n), last

    # -- base, catalog, tags

    def _paginate(self, request: web.Request, items_fn: Callable[[str | None, int | None], list[str]],
                  path: str) -> tuple[list[str], dict[str, str]]:
        n, last = self._limit(request)
        if n == 0:
            return [], {}
        items = items_fn(last, None if n is None else n + 1)
        headers: dict[str, str] = {}
        if n is not None and len(items) > n:
            items = items[:n]
            headers["Link"] = f'<{path}?n={n}&last={quote(items[-1], safe="")}>; rel="next"'
        return items, headers

    def catalog(self, request: web.Request) -> web.Response:
        repos, headers = self._paginate(request, self.storage.repositories, "/v2/_catalog")
        return web.json_response({"repositories": repos}, headers=headers)

    async def tags_get(self, request: web.Request, name: str) -> web.Response:
        if self.proxy is not None:
            try:
                body, link = await self.proxy.tags(name, request.query_string)
                resp = web.Response(body=body, headers={"Link": link} if link else {})
                resp.content_type = "application/json"
                return resp
            except UpstreamError as e:
                if e.status not in (None, 502, 503, 504):
                    raise RegistryError("NAME_UNKNOWN", "repository name not known to registry",
                                        {"name": name}) from None
                _log.warning("upstream unavailable, listing cached tags", repo=name, error=str(e))
        if not self.storage.repo_exists(name):
            raise RegistryError("NAME_UNKNOWN", "repository name not known to registry", {"name": name})
        tags, headers = self._paginate(request, lambda last, lim: self.storage.tags(name, last, lim),
                                       f"/v2/{name}/tags/list")
        return web.json_response({"name": name, "tags": tags}, headers=headers)

    # -- blobs

    def _blob(self, name: str, digest: str) -> tuple[str, int]:
        self._digest(digest)
        size = self.storage.blob_size(digest)
        if size is None or not self.storage.repo_has_blob(name, digest):
            raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        return self.storage.blob_path(digest), size

    async def blob_head(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        if self.proxy is not None and not self.storage.repo_has_blob(name, self._digest(digest)):
            try:
                size = await self.proxy.blob_size(name, digest)
            except UpstreamError as e:
                raise self._upstream_error(e, "BLOB_UNKNOWN", digest) from None
            return web.Response(headers={"Content-Length": str(size), "Content-Type": "application/octet-stream",
                                         "Docker-Content-Digest": digest, "Accept-Ranges": "bytes"})
        _, size = self._blob(name, digest)
        return web.Response(headers={"Content-Length": str(size), "Content-Type": "application/octet-stream",
                                     "Docker-Content-Digest": digest, "Accept-Ranges": "bytes"})

    async def blob_get(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        if self.proxy is not None and not self.storage.repo_has_blob(name, self._digest(digest)):
            streamed = await self._blob_through(request, name, digest)
            if streamed is not None:
                return streamed
        path, _ = self._blob(name, digest)
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream",
                                               "Docker-Content-Digest": digest,
                                               "Cache-Control": "max-age=31536000"})

    async def blob_delete(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        self._digest(digest)
        if not await asyncio.to_thread(self.storage.unlink_blob, name, digest):
            raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        return web.Response(status=202, headers={"Docker-Content-Digest": digest, "Content-Length": "0"})

    # -- pull-through cache

    @staticmethod
    def _upstream_error(e: UpstreamError, code: str, ref: str) -> RegistryError:
        if e.status in (401, 403, 404):
            return RegistryError(code, f"unknown upstream: {e}", {"reference": ref}, status=404)
        return RegistryError("UNAVAILABLE", f"upstream registry unavailable: {e}", {"reference": ref}, status=503)

    async def _once(self, key: tuple[str, str], fetch: Callable[[], Awaitable[None]]) -> None:
        """Run `fetch` once for concurrent requests of the same thing; they all see its outcome."""
        fut = self._fetching.get(key)
        if fut is not None:
            await asyncio.shield(fut)
            return
        fut = asyncio.get_running_loop().create_future()
        self._fetching[key] = fut
        try:
            await fetch()
            fut.set_result(None)
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        except BaseException:  # cancelled (shutdown): so are the waiters
            fut.cancel()
            raise
        finally:
            del self._fetching[key]

    async def _blob_through(self, request: web.Request, name: str, digest: str) -> web.StreamResponse | None:
        """Cache an uncached blob. The request that starts the download gets the bytes as they arrive (unless
        it asks for a range), as distribution's proxy does; a client that goes away does not stop the caching.
        Returns that streamed response, or None when the blob is to be served from the cache. The last chunk
        is held back until the digest is verified: a corrupt blob always reaches the client cut short."""
        resp: web.StreamResponse | None = None
        client = True
        held = b""

        async def start(length: int | None) -> None:
            nonlocal resp
            if "Range" in request.headers:
                return
            resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                               "Docker-Content-Digest": digest,
                                               "Docker-Distribution-API-Version": "registry/2.0"})
            if length is not None:
                resp.content_length = length
            await resp.prepare(request)
            request[STREAMED] = True

        async def sink(chunk: bytes) -> None:
            nonlocal client, held
            if resp is None or not client:
                return
            try:
                if held:
                    await resp.write(held)
                held = chunk
            except (ConnectionError, RuntimeError):
                client = False

        await self._once((name, digest), lambda: self._cache_blob(name, digest, start, sink))
        if resp is not None and client:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await resp.write(held)
                await resp.write_eof()
        return resp

    async def _cache_blob(self, name: str, digest: str,
                          on_start: Callable[[int | None], Awaitable[None]] | None = None,
                          sink: Callable[[bytes], Awaitable[None]] | None = None) -> None:
        """Fetch a blob from upstream into blobs/ (verified by digest) and link it into `name`."""
        assert self.proxy is not None
        if self.storage.blob_size(digest) is not None:  # cached for another repository: upstream must agree
            try:
                await self.proxy.blob_size(name, digest)
            except UpstreamError as e:
                raise self._upstream_error(e, "BLOB_UNKNOWN", digest) from None
            await asyncio.to_thread(self.storage.link_blob, name, digest)
            return
        tmp = os.path.join(self.storage.upload_dir, f".tmp-proxy-{os.urandom(8).hex()}")
        try:
            hasher = await self.proxy.fetch_blob(name, digest, tmp, on_start, sink)
            await asyncio.to_thread(self.storage.commit_blob, name, tmp, digest, None, hasher)
        except UpstreamError as e:
            raise self._upstream_error(e, "BLOB_UNKNOWN", digest) from None
        except DigestMismatch as e:
            raise RegistryError("UNAVAILABLE", f"upstream sent a corrupt blob: {e}", {"digest": digest},
                                status=502) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _log.info("cached blob", repo=name, digest=digest)

    async def _sync_manifest(self, name: str, ref: str) -> None:
        """Bring the cached manifest `ref` up to date: a digest is fetched once; a tag is re-resolved against
        upstream every time, falling back to the cached copy when upstream fails."""
        assert self.proxy is not None
        if ":" in ref:
            if self.storage.get_manifest(name, self._digest(ref)) and self.storage.blob_size(ref) is not None:
                return
            try:
                await self._once((name, ref), lambda: self._cache_manifest(name, ref, None))
            except UpstreamError as e:
                raise self._upstream_error(e, "MANIFEST_UNKNOWN", ref) from None
            return
        if not TAG_RE.match(ref):
            return
        try:
            digest = await self.proxy.head_manifest(name, ref)
            if digest and parse_digest(digest) and self.storage.get_manifest(name, digest) \
                    and self.storage.blob_size(digest) is not None:
                if self.storage.resolve_tag(name, ref) != digest:
                    await asyncio.to_thread(self.storage.set_tag, name, ref, digest)
                return
            await self._once((name, ref), lambda: self._cache_manifest(name, ref, ref))
        except UpstreamError as e:
            if self.storage.resolve_tag(name, ref) is not None:
                _log.warning("upstream unavailable, serving the cached tag", repo=name, tag=ref, error=str(e))
                return
            raise self._upstream_error(e, "MANIFEST_UNKNOWN", ref) from None

    async def _cache_manifest(self, name: str, ref: str, tag: str | None) -> None:
        assert self.proxy is not None
        body, ct = await self.proxy.get_manifest(name, ref, MAX_MANIFEST)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise UpstreamError(f"upstream manifest {name}:{ref} is not JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamError(f"upstream manifest {name}:{ref} is not a JSON object")
        mt = doc.get("mediaType") if isinstance(doc.get("mediaType"), str) else ct
        if mt not in IMAGE_TYPES + INDEX_TYPES:
            raise UpstreamError(f"upstream manifest {name}:{ref} has unsupported media type {mt!r}")
        digest = digest_of(body, ref.split(":", 1)[0] if tag is None else "sha256")
        if tag is None and digest != ref:
            raise UpstreamError(f"upstream manifest {ref} has digest {digest}")
        subject = doc["subject"].get("digest") if isinstance(doc.get("subject"), dict) else None
        at = doc.get("artifactType") if isinstance(doc.get("artifactType"), str) else None
        if at is None and isinstance(doc.get("config"), dict) and mt in IMAGE_TYPES:
            at = doc["config"].get("mediaType")
        annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else None
        await asyncio.to_thread(self.storage.put_manifest, name, digest, body, mt, references(doc),
                                subject if isinstance(subject, str) and parse_digest(subject) else None,
                                at, annotations, tag)
        _log.info("cached manifest", repo=name, ref=ref, digest=digest)

    # -- uploads

    def _upload_headers(self, name: str, u: Upload) -> dict[str, str]:
        return {"Location": f"/v2/{name}/blobs/uploads/{u.uuid}", "Range": _range_header(u.offset),
                "Docker-Upload-UUID": u.uuid, "Content-Length": "0"}

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._upload_locks.setdefault(upload_id, asyncio.Lock())

    async def _get_upload(self, name: str, upload_id: str) -> Upload:
        u = await asyncio.to_thread(self.storage.get_upload, name, upload_id)
        if u is None:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": upload_id})
        return u

    async def _receive(self, request: web.Request, u: Upload, expect: int | None) -> None:
        """Append the request body to the upload, hashing as it streams. With `expect` (a Content-Range
        chunk) the chunk is all-or-nothing: a short or long body rolls the upload back.

        The loop only receives: batches of up to FLUSH bytes are written and hashed in a worker thread
        (both release the GIL) while the next batch arrives, one batch in flight at a time."""
        start, saved = u.offset, u.hasher.copy()
        received = 0
        ok = False
        pending: asyncio.Future[None] | None = None

        def flush(f: Any, parts: list[bytes]) -> None:
            data = b"".join(parts)
            f.write(data)
            u.hasher.update(data)
            u.offset += len(data)

        try:
            with open(u.path, "ab") as f:
                try:
                    parts: list[bytes] = []
                    size = 0
                    async for chunk in request.content.iter_any():
                        received += len(chunk)
                        if expect is not None and received > expect:
                            raise RegistryError("BLOB_UPLOAD_INVALID", "chunk longer than its Content-Range",
                                                status=416)
                        parts.append(chunk)
                        size += len(chunk)
                        if size >= FLUSH:
                            if pending is not None:
                                await pending
                            pending = asyncio.ensure_future(asyncio.to_thread(flush, f, parts))
                            parts, size = [], 0
                    if pending is not None:
                        await pending
                        pending = None
                    if parts:
                        flush(f, parts)
                finally:
                    if pending is not None:  # never leave a write running into a file being rolled back
                        await asyncio.gather(pending, return_exceptions=True)
            if expect is not None and u.offset - start != expect:
                raise RegistryError("BLOB_UPLOAD_INVALID", "chunk size does not match its Content-Range",
                                    {"expected": expect, "received": u.offset - start}, status=400)
            ok = True
        finally:
            if not ok and expect is not None:
                os.truncate(u.path, start)
                u.offset, u.hasher = start, saved

    async def _finish(self, name: str, u: Upload, digest: str | None) -> web.Response:
        if digest is None or parse_digest(digest) is None:
            self.storage.end_upload(u)
            raise RegistryError("DIGEST_INVALID", "a valid digest query parameter is required",
                                {"digest": digest})
        try:
            await asyncio.to_thread(self.storage.commit_blob, name, u.path, digest, None, u.hasher)
        except DigestMismatch as e:
            await asyncio.to_thread(self.storage.end_upload, u)
            raise RegistryError("DIGEST_INVALID", str(e), {"digest": digest}) from None
        except FileNotFoundError:  # garbage-collected as abandoned meanwhile
            await asyncio.to_thread(self.storage.end_upload, u)
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": u.uuid}) from None
        await asyncio.to_thread(self.storage.end_upload, u)
        self._upload_locks.pop(u.uuid, None)
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                                 "Docker-Content-Digest": digest, "Content-Length": "0"})

    async def uploads_post(self, request: web.Request, name: str) -> web.Response:
        q = request.query
        mount, source = q.get("mount"), q.get("from")
        if mount is not None and source:
            self._digest(mount)
            if len(source) <= MAX_NAME and NAME_RE.match(source):
                try:
                    await self._check(request, source, {"pull"})
                    allowed = True
                except web.HTTPException:
                    allowed = False  # fall back to a normal upload, as distribution does
                if allowed and await asyncio.to_thread(self.storage.mount_blob, source, name, mount):
                    return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{mount}",
                                                             "Docker-Content-Digest": mount,
                                                             "Content-Length": "0"})
        digest = q.get("digest")
        if digest is not None:
            self._digest(digest)
        u = await asyncio.to_thread(self.storage.start_upload, name)
        if digest is None:
            return web.Response(status=202, headers=self._upload_headers(name, u))
        async with self._lock(u.uuid):
            try:
                await self._receive(request, u, None)
            except BaseException:
                await asyncio.to_thread(self.storage.end_upload, u)
                raise
            return await self._finish(name, u, digest)

    async def upload_get(self, request: web.Request, name: str, uuid: str) -> web.Response:
        u = await self._get_upload(name, uuid)
        return web.Response(status=204, headers=self._upload_headers(name, u))

    async def upload_patch(self, request: web.Request, name: str, uuid: str) -> web.Response:
        u = await self._get_upload(name, uuid)
        async with self._lock(u.uuid):
            expect: int | None = None
            cr = request.headers.get("Content-Range")
            if cr:
                m = CONTENT_RANGE_RE.match(cr.strip())
                if not m or int(m.group(2)) < int(m.group(1)):
                    raise RegistryError("BLOB_UPLOAD_INVALID", "invalid Content-Range", {"range": cr}, status=416,
                                        headers=self._upload_headers(name, u))
                start, end = int(m.group(1)), int(m.group(2))
                if start != u.offset:
                    raise RegistryError("BLOB_UPLOAD_INVALID", "chunk out of order",
                                        {"range": cr, "offset": u.offset}, status=416,
                                        headers=self._upload_headers(name, u))
                expect = end - start + 1
                if request.content_length is not None and request.content_length != expect:
                    raise RegistryError("BLOB_UPLOAD_INVALID", "Content-Length does not match Content-Range",
                                        {"range": cr, "length": request.content_length}, status=400)
            await self._receive(request, u, expect)
            return web.Response(status=202, headers=self._upload_headers(name, u))

    async def upload_put(self, request: web.Request, name: str, uuid: str) -> web.Response:
        u = await self._get_upload(name, uuid)
        async with self._lock(u.uuid):
            cr = request.headers.get("Content-Range")
            expect = None
            if cr:
                m = CONTENT_RANGE_RE.match(cr.strip())
                if not m or int(m.group(1)) != u.offset or int(m.group(2)) < int(m.group(1)):
                    raise RegistryError("BLOB_UPLOAD_INVALID", "chunk out of order", {"range": cr}, status=416,
                                        headers=self._upload_headers(name, u))
                expect = int(m.group(2)) - int(m.group(1)) + 1
            await self._receive(request, u, expect)
            return await self._finish(name, u, request.query.get("digest"))

    async def upload_delete(self, request: web.Request, name: str, uuid: str) -> web.Response:
        u = await self._get_upload(name, uuid)
        async with self._lock(u.uuid):
            await asyncio.to_thread(self.storage.end_upload, u)
        self._upload_locks.pop(uuid, None)
        return web.Response(status=204, headers={"Content-Length": "0"})

    # -- manifests

    def _resolve(self, name: str, ref: str) -> tuple[str, str, int]:
        if ":" in ref:
            digest = self._digest(ref)
        elif TAG_RE.match(ref):
            found = self.storage.resolve_tag(name, ref)
            if found is None:
                if not self.storage.repo_exists(name):
                    raise RegistryError("NAME_UNKNOWN", "repository name not known to registry", {"name": name})
                raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", {"tag": ref})
            digest = found
        else:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown (invalid tag)", {"tag": ref}, status=404)
        rec = self.storage.get_manifest(name, digest)
        if rec is None or self.storage.blob_size(digest) is None:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", {"digest": digest})
        return digest, rec.media_type, rec.size

    def _negotiate(self, request: web.Request, name: str, ref: str, digest: str, media_type: str,
                   size: int) -> tuple[str, str, int]:
        """Distribution's content negotiation, minus schema 1: a client whose Accept lists manifest types
        but not the stored one gets MANIFEST_UNKNOWN for an OCI manifest or index, the linux/amd64 entry
        of a Docker manifest list fetched by tag, and a Docker schema 2 manifest as is. No Accept, a
        wildcard or no manifest type at all: the stored manifest. Content-Type is always the served type."""
        accept = {_media_type(part) for v in request.headers.getall("Accept", []) for part in v.split(",")}
        if (media_type in accept or not accept & MANIFEST_TYPES or accept & {"*/*", "application/*"}):
            return digest, media_type, size
        if media_type == OCI_MANIFEST:
            raise RegistryError("MANIFEST_UNKNOWN", "OCI manifest found, but accept header does not support OCI "
                                "manifests", {"mediaType": media_type}, status=404)
        if media_type == OCI_INDEX:
            raise RegistryError("MANIFEST_UNKNOWN", "OCI index found, but accept header does not support OCI "
                                "indexes", {"mediaType": media_type}, status=404)
        if media_type != DOCKER_LIST or ":" in ref:
            return digest, media_type, size
        with open(self.storage.blob_path(digest), "rb") as f:
            doc = json.load(f)
        child = next((m for m in doc.get("manifests", [])
                      if (m.get("platform") or {}).get("os") == "linux"
                      and (m.get("platform") or {}).get("architecture") == "amd64"), None)
        rec = self.storage.get_manifest(name, child["digest"]) if child else None
        if rec is None or self.storage.blob_size(rec.digest) is None:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest list has no linux/amd64 manifest", {"tag": ref})
        if rec.media_type not in accept:
            raise RegistryError("MANIFEST_INVALID", f"{rec.media_type} not supported by client",
                                {"mediaType": rec.media_type})
        return rec.digest, rec.media_type, rec.size

    def _manifest_headers(self, digest: str, media_type: str, size: int) -> dict[str, str]:
        return {"Content-Type": media_type, "Docker-Content-Digest": digest, "Content-Length": str(size),
                "ETag": f'"{digest}"'}

    async def manifest_head(self, request: web.Request, name: str, ref: str) -> web.Response:
        if self.proxy is not None:
            await self._sync_manifest(name, ref)
        digest, mt, size = self._negotiate(request, name, ref, *self._resolve(name, ref))
        if _etag_match(request, digest):
            return web.Response(status=304, headers={"Docker-Content-Digest": digest, "ETag": f'"{digest}"'})
        return web.Response(headers=self._manifest_headers(digest, mt, size))

    async def manifest_get(self, request: web.Request, name: str, ref: str) -> web.Response:
        if self.proxy is not None:
            await self._sync_manifest(name, ref)
        digest, mt, size = self._negotiate(request, name, ref, *self._resolve(name, ref))
        if _etag_match(request, digest):
            return web.Response(status=304, headers={"Docker-Content-Digest": digest, "ETag": f'"{digest}"'})
        with open(self.storage.blob_path(digest), "rb") as f:
            body = f.read()
        headers = self._manifest_headers(digest, mt, size)
        del headers["Content-Length"]
        resp = web.Response(body=body, headers=headers)
        resp.content_type = mt  # aiohttp would otherwise reset it from the body
        return resp

    async def _read_manifest(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > MAX_MANIFEST:
            raise RegistryError("SIZE_INVALID", f"manifest larger than {MAX_MANIFEST} bytes",
                                {"size": request.content_length, "limit": MAX_MANIFEST}, status=413)
        buf = bytearray()
        async for chunk in request.content.iter_chunked(CHUNK):
            buf += chunk
            if len(buf) > MAX_MANIFEST:
                raise RegistryError("SIZE_INVALID", f"manifest larger than {MAX_MANIFEST} bytes",
                                    {"limit": MAX_MANIFEST}, status=413)
        return bytes(buf)

    def _descriptor_digest(self, desc: Any, where: str) -> str:
        if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
            raise RegistryError("MANIFEST_INVALID", f"{where}: descriptor without a digest")
        if parse_digest(desc["digest"]) is None:
            raise RegistryError("MANIFEST_INVALID", f"{where}: invalid digest", {"digest": desc["digest"]})
        if not isinstance(desc.get("size", 0), int):
            raise RegistryError("MANIFEST_INVALID", f"{where}: invalid size")
        return str(desc["digest"])

    async def manifest_put(self, request: web.Request, name: str, ref: str) -> web.Response:
        tag: str | None = None
        if ":" in ref:
            self._digest(ref)
        elif TAG_RE.match(ref):
            tag = ref
        else:
            raise RegistryError("MANIFEST_INVALID", "invalid tag", {"tag": ref})
        body = await self._read_manifest(request)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise RegistryError("MANIFEST_INVALID", f"manifest is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise RegistryError("MANIFEST_INVALID", "manifest is not a JSON object")
        ct = _media_type(request.headers.get("Content-Type"))
        if ct in ("application/json", "application/octet-stream", "text/plain"):
            ct = ""
        body_mt = doc.get("mediaType")
        if body_mt is not None and not isinstance(body_mt, str):
            raise RegistryError("MANIFEST_INVALID", "mediaType must be a string")
        if doc.get("schemaVersion") == 1 or ct in SCHEMA1 or body_mt in SCHEMA1:
            raise RegistryError("MANIFEST_INVALID", "Docker schema 1 manifests are not supported",
                                {"mediaType": body_mt or ct})
        if body_mt and ct and body_mt != ct:
            raise RegistryError("MANIFEST_INVALID", "mediaType does not match Content-Type",
                                {"mediaType": body_mt, "contentType": ct})
        mt = body_mt or ct or (OCI_INDEX if "manifests" in doc else OCI_MANIFEST)
        if mt not in IMAGE_TYPES + INDEX_TYPES:
            raise RegistryError("MANIFEST_INVALID", "unsupported manifest media type", {"mediaType": mt})
        if doc.get("schemaVersion") != 2:
            raise RegistryError("MANIFEST_INVALID", "schemaVersion must be 2")
        artifact_type = doc.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise RegistryError("MANIFEST_INVALID", "artifactType must be a string")
        need_blobs: list[str] = []
        need_manifests: list[str] = []
        if mt in IMAGE_TYPES:
            config_digest = self._descriptor_digest(doc.get("config"), "config")
            layers = doc.get("layers", [])
            if not isinstance(layers, list):
                raise RegistryError("MANIFEST_INVALID", "layers must be a list")
            need_blobs = [config_digest]
            for i, layer in enumerate(layers):
                d = self._descriptor_digest(layer, f"layers[{i}]")
                if not layer.get("urls"):  # foreign layers live elsewhere
                    need_blobs.append(d)
            for d in need_blobs:
                if not self.storage.repo_has_blob(name, d):
                    raise RegistryError("MANIFEST_BLOB_UNKNOWN", "manifest references an unknown blob",
                                        {"digest": d})
            if artifact_type is None:
                artifact_type = doc["config"].get("mediaType")
        else:
            entries = doc.get("manifests")
            if not isinstance(entries, list):
                raise RegistryError("MANIFEST_INVALID", "manifests must be a list")
            need_manifests = [self._descriptor_digest(e, f"manifests[{i}]") for i, e in enumerate(entries)]
            for d in need_manifests:
                if self.storage.get_manifest(name, d) is None:
                    raise RegistryError("MANIFEST_BLOB_UNKNOWN", "index references an unknown manifest",
                                        {"digest": d})
        subject: str | None = None
        if "subject" in doc:
            subject = self._descriptor_digest(doc["subject"], "subject")
        annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else None

        alg = ref.split(":", 1)[0] if tag is None else "sha256"
        digest = digest_of(body, alg)
        if tag is None and digest != ref:
            raise RegistryError("DIGEST_INVALID", "manifest digest does not match the reference",
                                {"digest": ref, "actual": digest})
        try:
            await asyncio.to_thread(self.storage.put_manifest, name, digest, body, mt, references(doc), subject,
                                    artifact_type, annotations, tag, need_blobs, need_manifests)
        except MissingReference as e:  # removed by a concurrent delete or garbage collection
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", str(e), {"digest": e.digest}) from None
        headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest,
                   "Content-Length": "0"}
        if subject:
            headers["OCI-Subject"] = subject
        return web.Response(status=201, headers=headers)

    async def manifest_delete(self, request: web.Request, name: str, ref: str) -> web.Response:
        if ":" in ref:
            self._digest(ref)
            ok = await asyncio.to_thread(self.storage.delete_manifest, name, ref)
        elif TAG_RE.match(ref):
            ok = await asyncio.to_thread(self.storage.delete_tag, name, ref)
        else:
            ok = False
        if not ok:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", {"reference": ref})
        return web.Response(status=202, headers={"Content-Length": "0"})

    # -- referrers

    async def referrers_get(self, request: web.Request, name: str, digest: str) -> web.Response:
        self._digest(digest)
        want = request.query.get("artifactType")
        descs = []
        for d, mt, size, at, ann in self.storage.referrers(name, digest):
            if want is not None and at != want:
                continue
            desc: dict[str, Any] = {"mediaType": mt, "digest": d, "size": size}
            if at:
                desc["artifactType"] = at
            if ann:
                desc["annotations"] = json.loads(ann)
            descs.append(desc)
        headers = {"OCI-Filters-Applied": "artifactType"} if want is not None else {}
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}).encode()
        resp = web.Response(body=body, headers=headers)
        resp.content_type = OCI_INDEX
        return resp

