"""The registry client: OCI Distribution over HTTP (aiohttp), with Docker's auth flows.

One `Session` talks to one registry for one request (pull, push, login) with the
credentials the client sent along (never stored here). Authentication follows the
registry's WWW-Authenticate challenge: HTTP basic, or bearer tokens fetched from the
challenge's realm for the scopes the request needs (`repository:NAME:pull,push`).

Registries on loopback (127.0.0.0/8, ::1, localhost) and those given with
--insecure-registry are spoken to in plain HTTP; --registry-mirror endpoints are
tried before Docker Hub for docker.io images.

`stream_async` runs a coroutine on its own event loop in a thread and hands the
messages it emits to the (synchronous, gRPC) caller as they come.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import queue
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import aiohttp
from pallet import errors, log

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
CHUNK = 1 << 20
MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.1",
    "application/vnd.docker.distribution.manifest.v1+json;q=0.1",
])
MAX_MANIFEST = 4 << 20

_log = log.get("registry-client")
T = TypeVar("T")


@dataclass
class Settings:
    """Per-registry settings of this imagesvc (flags)."""

    insecure: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)
    max_downloads: int = 3
    max_uploads: int = 5

    def is_insecure(self, host: str) -> bool:
        """Plain HTTP for this host[:port]? Loopback always, like Docker; others as configured."""
        name = _hostname(host)
        if name == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            ip = None
        if ip is not None and ip.is_loopback:
            return True
        for entry in self.insecure:
            entry = entry.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
            if entry in (host, name):
                return True
            if "/" in entry and ip is not None:
                try:
                    if ip in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
        return False


SETTINGS = Settings()


def configure(insecure: list[str], mirrors: list[str], max_downloads: int = 3, max_uploads: int = 5) -> None:
    SETTINGS.insecure = list(insecure)
    SETTINGS.mirrors = [m.rstrip("/") for m in mirrors]
    SETTINGS.max_downloads = max(1, max_downloads)
    SETTINGS.max_uploads = max(1, max_uploads)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


def endpoints(domain: str, settings: Settings | None = None) -> list[tuple[str, bool]]:
    """(base URL, is_mirror) to try for a registry domain, mirrors first."""
    s = settings or SETTINGS
    if domain == DOCKER_HUB:
        out = [(m if "://" in m else "https://" + m, True) for m in s.mirrors]
        return [*out, ("https://" + DOCKER_HUB_API, False)]
    scheme = "http" if s.is_insecure(domain) else "https"
    return [(f"{scheme}://{domain}", False)]


def scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


_CHALLENGE_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """('bearer'|'basic', params) of a WWW-Authenticate header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3) or "")
              for m in _CHALLENGE_RE.finditer(rest)}
    return scheme.lower(), params


def registry_errors(body: bytes) -> tuple[str, str]:
    """(code, message) of the first error in an OCI error body, or ('', '')."""
    try:
        doc = json.loads(body)
        err = doc["errors"][0]
        return str(err.get("code") or ""), str(err.get("message") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "", ""


def _reason(exc: OSError) -> str:
    """Why a registry could not be reached, in words the CLI never mistakes for the daemon being down."""
    import errno
    import socket
    import ssl

    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name"
    if isinstance(exc, ssl.SSLError):
        return (f"TLS handshake failed ({exc.reason or type(exc).__name__}); a registry without TLS must be "
                "given to palletd with --insecure-registry")
    words = {errno.ECONNREFUSED: "refused (is the registry running?)", errno.ETIMEDOUT: "timed out",
             errno.EHOSTUNREACH: "no route to host", errno.ENETUNREACH: "network is unreachable",
             errno.ECONNRESET: "reset by peer"}
    return words.get(exc.errno or 0, type(exc).__name__ + (f" {exc.errno}" if exc.errno else ""))


class Unauthorized(errors.PermissionDenied):
    """The registry refused the credentials (or wants some)."""


class Session:
    """Requests to one registry, authenticated as the challenge asks."""

    def __init__(self, http: aiohttp.ClientSession, domain: str, creds: Credentials,
                 settings: Settings | None = None, base: str | None = None) -> None:
        self.http = http
        self.domain = domain
        self.creds = creds
        self.base = base or endpoints(domain, settings)[-1][0]
        self._basic = False
        self._challenge: dict[str, str] | None = None
        self._tokens: dict[str, str] = {}
        self._lock = asyncio.Lock()

    # -- auth ----------------------------------------------------------------

    def _basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.creds.username}:{self.creds.password}".encode()).decode()

    async def _auth_header(self, scopes: tuple[str, ...]) -> str | None:
        if self.creds.registry_token:
            return "Bearer " + self.creds.registry_token
        if self._challenge is not None:
            key = " ".join(scopes)
            if key not in self._tokens:
                async with self._lock:
                    if key not in self._tokens:
                        self._tokens[key] = await self._fetch_token(scopes)
            return "Bearer " + self._tokens[key]
        if self._basic and self.creds.username:
            return self._basic_header()
        return None

    async def _fetch_token(self, scopes: tuple[str, ...], offline: bool = False) -> str:
        assert self._challenge is not None
        realm = self._challenge.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise errors.Unavailable(f"registry {self.domain}: bad token realm {realm!r}")
        params: list[tuple[str, str]] = []
        if self._challenge.get("service"):
            params.append(("service", self._challenge["service"]))
        params += [("scope", s) for s in scopes]
        try:
            if self.creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": self.creds.identity_token,
                        "client_id": "pallet", "scope": " ".join(scopes),
                        "service": self._challenge.get("service", "")}
                resp = await self.http.post(realm, data=form)
            else:
                headers = {}
                if self.creds.username:
                    headers["Authorization"] = self._basic_header()
                    if offline:
                        params += [("offline_token", "true"), ("client_id", "pallet")]
                resp = await self.http.get(realm + ("&" if "?" in realm else "?") + urlencode(params),
                                           headers=headers)
            async with resp:
                body = await resp.read()
                if resp.status in (401, 403):
                    raise Unauthorized(self._unauthorized_message(body, wrong=bool(self.creds.username)))
                if resp.status != 200:
                    raise errors.Unavailable(f"token server {realm} answered {resp.status}")
                try:
                    doc = json.loads(body)
                except ValueError:
                    raise errors.Unavailable(f"token server {realm} sent no JSON") from None
        except aiohttp.ClientError as exc:
            raise errors.Unavailable(f"token server {realm} is unreachable: {exc}") from None
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise errors.Unavailable(f"token server {realm} returned no token")
        if isinstance(doc.get("refresh_token"), str):
            self.refresh_token = doc["refresh_token"]
        return token

    refresh_token = ""

    def _unauthorized_message(self, body: bytes, wrong: bool) -> str:
        _, msg = registry_errors(body)
        detail = "incorrect username or password" if wrong else (msg or "authentication required")
        return f"unauthorized: {detail}; run palletctl login {self.domain}"

    async def _on_401(self, resp: aiohttp.ClientResponse, scopes: tuple[str, ...], sent: str | None,
                      body: bytes) -> bool:
        """Set up auth from a challenge; True if the request is worth retrying."""
        header = resp.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(header)
        if scheme == "bearer" and not self.creds.registry_token:
            self._challenge = params
            want = tuple(dict.fromkeys([*scopes, *([params["scope"]] if params.get("scope") else [])]))
            if sent and sent.startswith("Bearer ") and sent[7:] == self._tokens.get(" ".join(scopes)) \
                    and want == scopes:
                return False  # a fresh token for these scopes was refused
            self._tokens[" ".join(scopes)] = await self._fetch_token(want)
            return True
        if scheme == "basic" and self.creds.username and not (sent or "").startswith("Basic "):
            self._basic = True
            return True
        return False

    async def request(self, method: str, path: str, scopes: tuple[str, ...] = (), *,
                      headers: dict[str, str] | None = None, data: Any = None, retry_auth: bool = True,
                      what: str = "") -> aiohttp.ClientResponse:
        """A response (caller reads and releases it); 401s resolved by authenticating once."""
        url = path if path.startswith(("http://", "https://")) else self.base + path
        for attempt in range(3):
            hdrs = dict(headers or {})
            auth = await self._auth_header(scopes)
            if auth and urlsplit(url).netloc == urlsplit(self.base).netloc:
                hdrs["Authorization"] = auth
            try:
                resp = await self.http.request(method, url, headers=hdrs, data=data)
            except aiohttp.ClientConnectorError as exc:
                raise errors.Unavailable(
                    f"registry {self.domain} is unreachable at {self.base}: {_reason(exc.os_error)}") from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise errors.Unavailable(f"registry {self.domain} ({self.base}): {type(exc).__name__}: {exc}") \
                    from None
            if resp.status != 401:
                return resp
            body = await resp.read()
            resp.release()
            if not retry_auth or attempt == 2 or not await self._on_401(resp, scopes, auth, body):
                scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
                if scheme == "bearer" and (params.get("error") == "insufficient_scope" or not self.creds.empty):
                    raise Unauthorized(f"unauthorized: requested access to the resource is denied ({self.domain}"
                                       f"{'/' + scopes[0].split(':')[1] if scopes else ''}); "
                                       f"run palletctl login {self.domain}")
                raise Unauthorized(self._unauthorized_message(
                    body, wrong=bool(auth and auth.startswith("Basic ") and not self.creds.empty)))
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        """GET /v2/: learn the auth scheme (no scopes) and check the registry answers."""
        resp = await self.request("GET", "/v2/", retry_auth=True)
        async with resp:
            if resp.status >= 500 or resp.status == 404:
                raise errors.Unavailable(f"registry {self.domain} ({self.base}) answered {resp.status} to /v2/")

    async def login(self) -> str:
        """Check the credentials; returns a refresh token when the token server gave one."""
        resp = await self.http.get(self.base + "/v2/")
        async with resp:
            body = await resp.read()
            if resp.status == 200:
                return ""
            if resp.status != 401:
                raise errors.Unavailable(f"registry {self.domain} answered {resp.status} to /v2/")
            scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if scheme == "bearer":
            self._challenge = params
            await self._fetch_token((), offline=True)
            return self.refresh_token
        if scheme == "basic":
            r2 = await self.http.get(self.base + "/v2/", headers={"Authorization": self._basic_header()})
            async with r2:
                body = await r2.read()
                if r2.status == 200:
                    return ""
                raise Unauthorized(self._unauthorized_message(body, wrong=True))
        raise Unauthorized(self._unauthorized_message(body, wrong=False))

    # -- reads ---------------------------------------------------------------

    async def get_manifest(self, repo: str, ref: str, display: str) -> tuple[bytes, str, str]:
        """(body, media type, Docker-Content-Digest header) of a manifest by tag or digest."""
        resp = await self.request("GET", f"/v2/{repo}/manifests/{ref}", (scope(repo, "pull"),),
                                  headers={"Accept": MANIFEST_ACCEPT})
        async with resp:
            if resp.status != 200:
                await raise_for(resp, display, manifest=True)
            body = await _read_limited(resp, MAX_MANIFEST, display)
            return body, resp.headers.get("Content-Type", "").split(";")[0].strip(), \
                resp.headers.get("Docker-Content-Digest", "")

    async def get_small_blob(self, repo: str, digest: str, limit: int = 64 << 20) -> bytes:
        resp = await self.request("GET", f"/v2/{repo}/blobs/{digest}", (scope(repo, "pull"),))
        async with resp:
            if resp.status != 200:
                await raise_for(resp, f"{self.domain}/{repo}@{digest}")
            return await _read_limited(resp, limit, digest)

    async def open_blob(self, repo: str, digest: str, offset: int = 0) -> aiohttp.ClientResponse:
        """A streaming blob response (200, or 206 when resuming at offset)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = await self.request("GET", f"/v2/{repo}/blobs/{digest}", (scope(repo, "pull"),), headers=headers)
        if resp.status not in (200, 206):
            async with resp:
                await raise_for(resp, f"{self.domain}/{repo}@{digest}")
        return resp

    async def tags(self, repo: str) -> list[str]:
        out: list[str] = []
        path = f"/v2/{repo}/tags/list"
        for _ in range(1000):
            resp = await self.request("GET", path, (scope(repo, "pull"),))
            async with resp:
                if resp.status != 200:
                    await raise_for(resp, f"{self.domain}/{repo}")
                doc = json.loads(await _read_limited(resp, MAX_MANIFEST, "tag list"))
                out += [str(t) for t in doc.get("tags") or []]
                link = resp.headers.get("Link", "")
            m = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link)
            if not m:
                break
            path = m.group(1)
        return out

    # -- writes --------------------------------------------------------------

    async def blob_exists(self, repo: str, digest: str) -> bool:
        resp = await self.request("HEAD", f"/v2/{repo}/blobs/{digest}", (scope(repo, "pull,push"),))
        async with resp:
            if resp.status == 200:
                return True
            if resp.status == 404:
                return False
            await raise_for(resp, f"{self.domain}/{repo}@{digest}")
        return False

    async def start_upload(self, repo: str, mount: str = "", source: str = "") -> tuple[str, bool]:
        """(upload location, mounted): POST /blobs/uploads/, with a cross-repository mount if asked."""
        scopes: tuple[str, ...] = (scope(repo, "pull,push"),)
        path = f"/v2/{repo}/blobs/uploads/"
        if mount and source:
            path += "?" + urlencode({"mount": mount, "from": source})
            scopes += (scope(source, "pull"),)
        resp = await self.request("POST", path, scopes, headers={"Content-Length": "0"})
        async with resp:
            if resp.status == 201 and mount:
                return "", True
            if resp.status != 202:
                await raise_for(resp, f"{self.domain}/{repo}")
            loc = resp.headers.get("Location", "")
        if not loc:
            raise errors.Unavailable(f"registry {self.domain} gave no upload location")
        return self._absolute(loc), False

    def _absolute(self, loc: str) -> str:
        if loc.startswith(("http://", "https://")):
            return loc
        return self.base + ("" if loc.startswith("/") else "/") + loc

    @staticmethod
    def _with_query(loc: str, **params: str) -> str:
        return loc + ("&" if "?" in loc else "?") + urlencode(params)

    async def put_blob(self, repo: str, loc: str, digest: str, size: int,
                       body: Callable[[int, int], AsyncIterator[bytes]], chunk_size: int) -> None:
        """Upload a blob to an upload session: one PUT (monolithic) or PATCHes of chunk_size then PUT."""
        scopes = (scope(repo, "pull,push"),)
        if size <= chunk_size:
            resp = await self.request("PUT", self._with_query(loc, digest=digest), scopes, data=body(0, size),
                                      headers={"Content-Type": "application/octet-stream",
                                               "Content-Length": str(size)}, retry_auth=False)
            async with resp:
                if resp.status != 201:
                    await raise_for(resp, f"{self.domain}/{repo}@{digest}")
            return
        offset = 0
        while offset < size:
            n = min(chunk_size, size - offset)
            resp = await self.request("PATCH", loc, scopes, data=body(offset, n), retry_auth=False, headers={
                "Content-Type": "application/octet-stream", "Content-Length": str(n),
                "Content-Range": f"{offset}-{offset + n - 1}"})
            async with resp:
                if resp.status != 202:
                    await raise_for(resp, f"{self.domain}/{repo}@{digest}")
                loc = self._absolute(resp.headers.get("Location", "") or loc)
            offset += n
        resp = await self.request("PUT", self._with_query(loc, digest=digest), scopes,
                                  headers={"Content-Length": "0"}, retry_auth=False)
        async with resp:
            if resp.status != 201:
                await raise_for(resp, f"{self.domain}/{repo}@{digest}")

    async def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        resp = await self.request("PUT", f"/v2/{repo}/manifests/{ref}", (scope(repo, "pull,push"),),
                                  data=body, headers={"Content-Type": media_type})
        async with resp:
            if resp.status != 201:
                await raise_for(resp, f"{self.domain}/{repo}:{ref}", manifest=True)
            return resp.headers.get("Docker-Content-Digest", "")


async def _read_limited(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    buf = bytearray()
    async for data in resp.content.iter_chunked(CHUNK):
        buf += data
        if len(buf) > limit:
            raise errors.InvalidArgument(f"{what}: too large (over {limit} bytes)")
    return bytes(buf)


async def raise_for(resp: aiohttp.ClientResponse, what: str, manifest: bool = False) -> None:
    """Raise the PalletError for an unexpected registry response."""
    try:
        body = await resp.content.read(64 << 10)
    except aiohttp.ClientError:
        body = b""
    code, msg = registry_errors(body)
    detail = f"{code.lower()}: {msg}" if code else (msg or f"HTTP {resp.status}")
    if resp.status == 404 or code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"):
        if manifest:
            raise errors.NotFound(f"manifest for {what} not found: manifest unknown: {msg or 'manifest unknown'}")
        raise errors.NotFound(f"{what}: not found: {detail}")
    if resp.status == 403:
        raise errors.PermissionDenied(f"denied: requested access to the resource is denied ({what}): {detail}")
    if resp.status in (400, 405, 409, 413, 415, 416):
        raise errors.InvalidArgument(f"registry refused {what}: {detail}")
    if resp.status == 429:
        raise errors.Unavailable(f"toomanyrequests: {what}: {detail}")
    raise errors.Unavailable(f"registry error for {what}: HTTP {resp.status}: {detail}")


@contextlib.asynccontextmanager
async def http_errors(what: str) -> AsyncIterator[None]:
    """HTTP failures past the request itself (a body cut short, a timeout) as Unavailable."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise errors.Unavailable(f"{what}: {type(exc).__name__}: {exc}") from None


def new_http(limit: int = 16) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
    return aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=limit),
                                 auto_decompress=False, headers={"User-Agent": "pallet/0.1"})


# -- running a coroutine for a synchronous caller ---------------------------------------------

_DONE = object()


@dataclass
class _Failure:
    exc: BaseException


class AsyncStream(Iterable[T]):
    """Runs fn(emit) on an event loop in a new thread; iterating yields what it emits and raises
    what it raises.

    Closing the iterator, or cancel() from any thread (the client went away), cancels the
    coroutine and waits for it. `wrap`, if given, runs the loop (it gets the coroutine and calls
    asyncio.run on it, e.g. inside a context manager that must outlive every thread it started).
    """

    def __init__(self, fn: Callable[[Callable[[T], None]], Awaitable[None]],
                 wrap: Callable[[Awaitable[None]], None] | None = None) -> None:
        self._fn = fn
        self._wrap = wrap
        self._q: queue.Queue[Any] = queue.Queue()
        self._state: dict[str, Any] = {}
        self._started = threading.Event()
        self._cancelled = False

    async def _main(self) -> None:
        self._state["loop"] = asyncio.get_running_loop()
        self._state["task"] = asyncio.current_task()
        self._started.set()
        if self._cancelled:
            raise asyncio.CancelledError()
        await self._fn(self._q.put)

    def _run(self) -> None:
        try:
            if self._wrap is not None:
                self._wrap(self._main())
            else:
                asyncio.run(self._main())
            self._q.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._q.put(_Failure(exc))
        finally:
            self._started.set()

    def cancel(self) -> None:
        self._cancelled = True
        loop, task = self._state.get("loop"), self._state.get("task")
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)

    def __iter__(self) -> Iterator[T]:
        t = threading.Thread(target=self._run, name="registry-client", daemon=True)
        t.start()
        finished = False
        try:
            while True:
                item = self._q.get()
                if item is _DONE:
                    finished = True
                    return
                if isinstance(item, _Failure):
                    finished = True
                    if isinstance(item.exc, asyncio.CancelledError):
                        raise errors.Unavailable("operation cancelled")
                    raise item.exc
                yield item
        finally:
            if not finished:
                self._started.wait()
                self.cancel()
                t.join(60)


def stream_async(fn: Callable[[Callable[[T], None]], Awaitable[None]],
                 wrap: Callable[[Awaitable[None]], None] | None = None) -> AsyncStream[T]:
    return AsyncStream(fn, wrap)


def run_sync(coro: Awaitable[T]) -> T:
    """A coroutine's result from a synchronous caller (a gRPC thread with no loop of its own)."""
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def server_domain(server: str) -> str:
    """The registry domain of a login server argument (Docker's ConvertToHostname)."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        s = s.removeprefix(prefix)
    s = s.split("/", 1)[0]
    if s in ("", "docker.io", "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB
    return s


def login(req: Any) -> Any:
    """Check credentials against a registry (the Login RPC); nothing is kept."""
    from pallet.images.v1 import images_pb2 as pb

    domain = server_domain(req.server)
    creds = Credentials(req.auth.username, req.auth.password, req.auth.identity_token, "")
    if not creds.username and not creds.identity_token:
        raise errors.InvalidArgument("login: a username is required")

    async def check() -> str:
        async with new_http() as http, http_errors(f"registry {domain}"):
            return await Session(http, domain, creds).login()

    token = run_sync(check())
    return pb.LoginResponse(status="Login Succeeded", identity_token=token)
