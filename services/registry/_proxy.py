"""The upstream side of pull-through cache mode: an aiohttp client of another registry.

Config (like distribution's ``proxy`` section)::

    {"proxy": {"remote_url": "https://registry-1.docker.io", "username": "u", "password": "p"}}

Requests answer the upstream's challenge once per scope and reuse the result: ``Basic`` with the
configured credentials, ``Bearer`` by fetching a token from the challenge's realm (with the credentials as
basic auth when there are any, anonymously otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from pallet import log

_log = log.get("registry.proxy")

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])
_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


class UpstreamError(Exception):
    """The upstream could not be reached or answered with an error; `status` is its HTTP status if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ProxyConfig:
    remote_url: str
    username: str = ""
    password: str = ""


def parse_config(cfg: Any) -> ProxyConfig | None:
    """The "proxy" config section, validated; ValueError on bad input."""
    if cfg is None:
        return None
    if not isinstance(cfg, dict) or set(cfg) - {"remote_url", "username", "password"}:
        raise ValueError('"proxy" takes "remote_url" and optional "username" and "password"')
    url = cfg.get("remote_url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+/?$", url):
        raise ValueError('"proxy.remote_url" must be http(s)://host[:port]')
    user, password = cfg.get("username", ""), cfg.get("password", "")
    if not isinstance(user, str) or not isinstance(password, str) or bool(user) != bool(password):
        raise ValueError('"proxy.username" and "proxy.password" are strings, given together')
    return ProxyConfig(url.rstrip("/"), user, password)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_PARAM_RE.findall(rest))


class Upstream:
    def __init__(self, cfg: ProxyConfig, timeout: float = 30.0) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._auth: dict[str, str] = {}  # scope -> Authorization header value

    def _basic(self) -> str | None:
        if not self.cfg.username:
            return None
        return "Basic " + base64.b64encode(f"{self.cfg.username}:{self.cfg.password}".encode()).decode()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=self.timeout),
                auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _authorize(self, challenge: str, scope: str) -> str | None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            return self._basic()
        if scheme != "bearer" or "realm" not in params:
            return None
        query = {k: v for k, v in (("service", params.get("service", "")), ("scope", params.get("scope", scope)))
                 if v}
        headers = {"Authorization": b} if (b := self._basic()) else {}
        try:
            async with self.session().get(params["realm"], params=query, headers=headers) as r:
                if r.status != 200:
                    raise UpstreamError(f"token request to {params['realm']} failed: HTTP {r.status}", r.status)
                doc = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise UpstreamError(f"token request to {params['realm']} failed: {e}") from None
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        return f"Bearer {token}" if isinstance(token, str) and token else None

    async def request(self, method: str, path: str, repo: str, headers: dict[str, str] | None = None
                      ) -> aiohttp.ClientResponse:
        """Send a request (answering one auth challenge); the caller releases the response."""
        scope = f"repository:{repo}:pull"
        url = self.cfg.remote_url + path
        for attempt in range(2):
            h = dict(headers or {})
            if scope in self._auth:
                h["Authorization"] = self._auth[scope]
            try:
                resp = await self.session().request(method, url, headers=h)
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                raise UpstreamError(f"upstream {self.cfg.remote_url} unreachable: {e}") from None
            if resp.status != 401 or attempt:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.release()
            auth = await self._authorize(challenge, scope)
            if auth is None:
                return await self.session().request(method, url, headers=h)
            self._auth[scope] = auth
        raise AssertionError("unreachable")

    async def head_manifest(self, repo: str, ref: str) -> str | None:
        """The digest upstream's `ref` resolves to (None if it does not say)."""
        resp = await self.request("HEAD", f"/v2/{repo}/manifests/{ref}", repo, {"Accept": MANIFEST_ACCEPT})
        resp.release()
        if resp.status != 200:
            raise UpstreamError(f"upstream manifest {repo}:{ref}: HTTP {resp.status}", resp.status)
        return resp.headers.get("Docker-Content-Digest")

    async def get_manifest(self, repo: str, ref: str, limit: int) -> tuple[bytes, str]:
        """(body, media type) of upstream's manifest `ref`."""
        resp = await self.request("GET", f"/v2/{repo}/manifests/{ref}", repo, {"Accept": MANIFEST_ACCEPT})
        try:
            if resp.status != 200:
                raise UpstreamError(f"upstream manifest {repo}:{ref}: HTTP {resp.status}", resp.status)
            if (resp.content_length or 0) > limit:
                raise UpstreamError(f"upstream manifest {repo}:{ref} larger than {limit} bytes")
            body = await resp.content.read(limit + 1)
            if len(body) > limit:
                raise UpstreamError(f"upstream manifest {repo}:{ref} larger than {limit} bytes")
            return body, resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise UpstreamError(f"upstream manifest {repo}:{ref}: {e}") from None
        finally:
            resp.release()

    async def blob_size(self, repo: str, digest: str) -> int:
        resp = await self.request("HEAD", f"/v2/{repo}/blobs/{digest}", repo)
        resp.release()
        if resp.status != 200 or resp.content_length is None:
            raise UpstreamError(f"upstream blob {repo}@{digest}: HTTP {resp.status}", resp.status)
        return resp.content_length

    async def fetch_blob(self, repo: str, digest: str, dest: str,
                         on_start: Callable[[int | None], Awaitable[None]] | None = None,
                         sink: Callable[[bytes], Awaitable[None]] | None = None) -> Any:
        """Stream upstream's blob into file `dest`, hashing it; returns the hasher (verified by the caller).
        `on_start(length)` is called once upstream answers 200, `sink(chunk)` with every chunk as it arrives."""
        hasher = hashlib.new(digest.split(":", 1)[0])
        resp = await self.request("GET", f"/v2/{repo}/blobs/{digest}", repo)
        try:
            if resp.status != 200:
                raise UpstreamError(f"upstream blob {repo}@{digest}: HTTP {resp.status}", resp.status)
            if on_start is not None:
                await on_start(resp.content_length)
            with open(dest, "wb") as f:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    f.write(chunk)
                    hasher.update(chunk)
                    if sink is not None:
                        await sink(chunk)
            return hasher
        except (aiohttp.ClientError, TimeoutError) as e:
            raise UpstreamError(f"upstream blob {repo}@{digest}: {e}") from None
        finally:
            resp.release()

    async def tags(self, repo: str, query: str) -> tuple[bytes, str | None]:
        """Upstream's tags/list body and Link header."""
        resp = await self.request("GET", f"/v2/{repo}/tags/list" + (f"?{query}" if query else ""), repo)
        try:
            if resp.status != 200:
                raise UpstreamError(f"upstream tags of {repo}: HTTP {resp.status}", resp.status)
            return await resp.read(), resp.headers.get("Link")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise UpstreamError(f"upstream tags of {repo}: {e}") from None
        finally:
            resp.release()
