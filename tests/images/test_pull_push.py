"""palletctl pull / push / login / logout against real registries.

Debian's docker-registry (CNCF distribution) and pallet-registry are the registries; skopeo
is the independent client. A small recording proxy (aiohttp, in a thread) sits in front of
docker-registry where a test needs to see or cut the traffic; a tiny fake registry serves
the content no real registry would accept (schema 1, corrupted and hostile blobs).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from tests._engine import Engine
from tests.registry._server import free_port, run_docker_registry, wait_port

pytestmark = pytest.mark.skipif(shutil.which("docker-registry") is None or shutil.which("skopeo") is None,
                                reason="needs docker-registry and skopeo")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            tar.addfile(ti, io.BytesIO(data))
        for ti in extra or []:
            tar.addfile(ti)
    return buf.getvalue()


def config_for(diff_ids: list[str], arch: str = "amd64", cmd: list[str] | None = None) -> bytes:
    return json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": cmd or ["sh"]},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def desc(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha(data), "size": len(data)}


def manifest_for(config: bytes, layers: list[tuple[str, bytes]]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, config),
                       "layers": [desc(mt, b) for mt, b in layers]}).encode()


# -- raw HTTP to a registry ---------------------------------------------------------------------


def http_req(addr: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def put_blob(addr: str, repo: str, data: bytes) -> str:
    status, hdrs, body = http_req(addr, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, (status, body)
    loc = hdrs["location"]
    if loc.startswith("http"):
        loc = "/" + loc.split("/", 3)[3]
    d = sha(data)
    status, _, body = http_req(addr, "PUT", f"{loc}{'&' if '?' in loc else '?'}digest={d}", data,
                               {"Content-Type": "application/octet-stream"})
    assert status == 201, (status, body)
    return d


def put_manifest(addr: str, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
    status, _, resp = http_req(addr, "PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": media_type})
    assert status == 201, (status, resp)
    return sha(body)


def put_image(addr: str, repo: str, ref: str, layers: list[tuple[str, bytes, bytes]],
              arch: str = "amd64", cmd: list[str] | None = None) -> tuple[str, bytes]:
    """Push (media type, blob, uncompressed tar) layers with raw HTTP; returns (manifest digest, manifest)."""
    config = config_for([sha(raw) for _, _, raw in layers], arch, cmd)
    for _, blob, _ in layers:
        put_blob(addr, repo, blob)
    put_blob(addr, repo, config)
    manifest = manifest_for(config, [(mt, blob) for mt, blob, _ in layers])
    return put_manifest(addr, repo, ref, manifest), manifest


# -- aiohttp servers in a thread ----------------------------------------------------------------


class ThreadedApp:
    """An aiohttp application served on a free loopback port by a thread of its own."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> ThreadedApp:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@dataclass
class Proxy:
    """A recording reverse proxy; can cut a blob download after N bytes and then play dead."""

    upstream: str
    log: list[tuple[str, str, str]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    cut_blob: str = ""
    cut_after: int = 0
    slow_blob: str = ""
    delay: float = 0.0  # seconds per 64 KiB of slow_blob
    down: bool = False
    server: ThreadedApp | None = None
    _session: ClientSession | None = None

    @property
    def addr(self) -> str:
        assert self.server is not None
        return self.server.addr

    def requests(self, method: str, contains: str = "") -> list[tuple[str, str, str]]:
        return [r for r in self.log if r[0] == method and contains in r[1]]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPServiceUnavailable()
        self.log.append((request.method, request.path_qs, request.headers.get("Range", "")))
        if self._session is None:
            self._session = ClientSession(auto_decompress=False)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection")}
        async with self._session.request(request.method, f"http://{self.upstream}{request.path_qs}",
                                         headers=headers, data=body if body else None,
                                         allow_redirects=False) as up:
            resp = web.StreamResponse(status=up.status)
            for k, v in up.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    resp.headers[k] = v
            if up.content_length is not None:
                resp.content_length = up.content_length
            await resp.prepare(request)
            if request.method == "HEAD":
                return resp
            sent = 0
            cutting = bool(self.cut_blob) and request.path.endswith(self.cut_blob) and request.method == "GET"
            async for chunk in up.content.iter_chunked(64 << 10):
                if cutting and sent + len(chunk) > self.cut_after:
                    await resp.write(chunk[:self.cut_after - sent])
                    sent = self.cut_after
                    self.sent[request.path_qs] = self.sent.get(request.path_qs, 0) + sent
                    self.down = True  # the registry "disappears"
                    self.cut_blob = ""
                    await asyncio.sleep(0.05)
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                await resp.write(chunk)
                sent += len(chunk)
                if self.slow_blob and request.path.endswith(self.slow_blob):
                    await asyncio.sleep(self.delay)
            self.sent[request.path_qs] = self.sent.get(request.path_qs, 0) + sent
            await resp.write_eof()
            return resp


@contextlib.contextmanager
def run_proxy(upstream: str, host: str = "127.0.0.1") -> Iterator[Proxy]:
    proxy = Proxy(upstream)
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    with ThreadedApp(app, host) as server:
        proxy.server = server
        try:
            yield proxy
        finally:
            if proxy._session is not None:
                asyncio.run_coroutine_threadsafe(proxy._session.close(), server.loop).result(5)


@contextlib.contextmanager
def fake_registry(routes: dict[str, tuple[int, dict[str, str], bytes]]) -> Iterator[str]:
    """A registry answering fixed responses by path (anything else: 404 MANIFEST/BLOB_UNKNOWN)."""

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/v2/":
            return web.Response(status=200, headers={"Docker-Distribution-API-Version": "registry/2.0"})
        hit = routes.get(request.path)
        if hit is None:
            code = "MANIFEST_UNKNOWN" if "/manifests/" in request.path else "BLOB_UNKNOWN"
            return web.json_response({"errors": [{"code": code, "message": code.lower().replace("_", " ")}]},
                                     status=404)
        status, headers, body = hit
        return web.Response(status=status, headers=headers, body=body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    with ThreadedApp(app) as server:
        yield server.addr


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_docker_registry(str(tmp_path_factory.mktemp("distribution"))) as addr:
        yield addr


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> str:
    p = tmp_path_factory.mktemp("policy") / "policy.json"
    p.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return str(p)


@pytest.fixture(scope="module")
def local_image(engine: Engine, busybox_tar: str) -> Iterator[str]:
    """An image of this module's own (busybox's layer, a config of its own), so the shared busybox
    keeps its names and manifest; at the end every image this module named goes again."""
    engine.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "pallet-push-src:1", check=True)
    try:
        yield "pallet-push-src:1"
    finally:
        ids = engine.ctl("images", "--format", "{{.ID}} {{.Repository}}", check=True).stdout.splitlines()
        for line in ids:
            image_id, _, repo = line.partition(" ")
            if repo.startswith(("127.0.0.1:", "pallet-push-src")):
                engine.ctl("rmi", "-f", image_id)


def skopeo(policy: str, *args: str) -> str:
    proc = subprocess.run(["skopeo", "--policy", policy, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"skopeo {' '.join(args)}:\n{proc.stderr}"
    return proc.stdout


def snapshot_count(engine: Engine) -> int:
    return sum(len(dirs) for _, dirs, _ in os.walk(os.path.join(engine.data_root, "snapshots")))


def blob_names(engine: Engine) -> set[str]:
    return set(os.listdir(os.path.join(engine.data_root, "content", "blobs", "sha256")))


def ingest_names(engine: Engine) -> list[str]:
    return sorted(os.listdir(os.path.join(engine.data_root, "content", "ingest")))


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


# -- push ---------------------------------------------------------------------------------------


def test_push_matches_skopeo_then_mounts_into_another_repo(engine: Engine, registry: str, policy: str,
                                                           tmp_path: Path, local_image: str) -> None:
    with run_proxy(registry) as proxy:
        ref = f"{proxy.addr}/pallet/busybox:1"
        engine.ctl("tag", local_image, ref, check=True)
        res = engine.ctl("push", ref, check=True)
        assert "The push refers to repository" in res.stdout and ": Pushed" in res.stdout, res.stdout
        last = res.stdout.strip().splitlines()[-1]
        assert last.startswith("1: digest: sha256:") and " size: " in last, last
        digest = last.split()[2]
        raw = skopeo(policy, "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/pallet/busybox:1")
        assert sha(raw.encode()) == digest
        info = json.loads(skopeo(policy, "inspect", "--tls-verify=false", f"docker://{registry}/pallet/busybox:1"))
        assert info["Digest"] == digest and info["Architecture"] == "amd64"
        skopeo(policy, "copy", "--src-tls-verify=false", f"docker://{registry}/pallet/busybox:1",
               f"oci:{tmp_path / 'copy'}:1")
        # the image points at the pushed (gzip) manifest now: pushing again is stable and uploads nothing
        before = len(proxy.requests("PUT", "/blobs/uploads/"))
        again = engine.ctl("push", ref, check=True).stdout
        assert "Layer already exists" in again and again.strip().splitlines()[-1] == last
        assert len(proxy.requests("PUT", "/blobs/uploads/")) == before
        inspect = json.loads(engine.ctl("inspect", ref, check=True).stdout)[0]
        assert f"{proxy.addr}/pallet/busybox@{digest}" in inspect["RepoDigests"]

        # a second repository on the same registry: the layer is mounted, not uploaded
        other = f"{proxy.addr}/other/busybox:1"
        engine.ctl("tag", local_image, other, check=True)
        proxy.log.clear()
        res = engine.ctl("push", other, check=True)
        assert "Mounted from pallet/busybox" in res.stdout, res.stdout
        assert res.stdout.strip().splitlines()[-1].split()[2] == digest
        mounts = proxy.requests("POST", "mount=")
        assert mounts and all("from=pallet/busybox" in m[1] for m in mounts), proxy.log
        assert not proxy.requests("PATCH") and not proxy.requests("PUT", "/blobs/uploads/"), proxy.log


def test_push_large_layer_in_chunks(engine: Engine, registry: str, policy: str, tmp_path: Path,
                                    local_image: str) -> None:
    raw = tar_of({"big.bin": os.urandom(40 << 20)})
    (tmp_path / "big.tar.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    with run_proxy(registry) as proxy:
        ref = f"{proxy.addr}/chunked/big:1"
        engine.ctl("import", str(tmp_path / "big.tar.gz"), ref, check=True)
        assert engine.ctl("push", "-q", ref, check=True).stdout == f"{ref}\n"
        digests = json.loads(engine.ctl("inspect", ref, check=True).stdout)[0]["RepoDigests"]
        digest = digests[0].split("@")[1]
        patches = proxy.requests("PATCH", "/v2/chunked/big/blobs/uploads/")
        assert len(patches) == 2, proxy.log  # 32 MiB, then the rest
        raw_manifest = skopeo(policy, "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/chunked/big:1")
        assert sha(raw_manifest.encode()) == digest
        engine.ctl("rmi", ref, check=True)


def test_push_errors(engine: Engine, registry: str, local_image: str) -> None:
    err = one_line_error(engine.ctl("push", f"{registry}/nothing/here:1"))
    assert "does not exist locally" in err
    err = one_line_error(engine.ctl("push", "Bad//Ref"))
    assert "invalid reference format" in err
    port = free_port()
    engine.ctl("tag", local_image, f"127.0.0.1:{port}/gone:1", check=True)
    err = one_line_error(engine.ctl("push", f"127.0.0.1:{port}/gone:1"))
    assert "unreachable" in err and f"127.0.0.1:{port}" in err
    engine.ctl("rmi", f"127.0.0.1:{port}/gone:1", check=True)


# -- pull ---------------------------------------------------------------------------------------


def _oci_layout(layout: Path, layers: list[tuple[str, bytes, bytes]], cmd: list[str]) -> None:
    (layout / "blobs" / "sha256").mkdir(parents=True)

    def put(data: bytes) -> None:
        (layout / "blobs" / "sha256" / sha(data).removeprefix("sha256:")).write_bytes(data)

    config = config_for([sha(raw) for _, _, raw in layers], cmd=cmd)
    for _, blob, _ in layers:
        put(blob)
    put(config)
    manifest = manifest_for(config, [(mt, blob) for mt, blob, _ in layers])
    put(manifest)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**desc(OCI_MANIFEST, manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def test_skopeo_copy_then_pull_and_run(engine: Engine, registry: str, policy: str, busybox_tar: str,
                                       tmp_path: Path, local_image: str) -> None:
    import zstandard

    base = Path(busybox_tar).read_bytes()
    msg = tar_of({"msg.txt": b"pulled by pallet\n"})
    layers = [(GZIP_LAYER, gzip.compress(base, mtime=0), base),
              (ZSTD_LAYER, zstandard.ZstdCompressor().compress(msg), msg)]
    _oci_layout(tmp_path / "layout", layers, ["cat", "/msg.txt"])
    skopeo(policy, "copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1",
           f"docker://{registry}/skopeo/app:v1")
    digest = json.loads(skopeo(policy, "inspect", "--tls-verify=false",
                               f"docker://{registry}/skopeo/app:v1"))["Digest"]
    res = engine.ctl("pull", f"{registry}/skopeo/app:v1", check=True)
    out = res.stdout.splitlines()
    assert out[0] == "v1: Pulling from skopeo/app", out
    assert f"Digest: {digest}" in out and f"Status: Downloaded newer image for {registry}/skopeo/app:v1" in out
    assert any(line.endswith(": Pull complete") for line in out), out
    assert out[-1] == f"{registry}/skopeo/app:v1"
    run = engine.ctl("run", "--rm", f"{registry}/skopeo/app:v1", check=True)
    assert run.stdout == "pulled by pallet\n"
    again = engine.ctl("pull", f"{registry}/skopeo/app:v1", check=True).stdout
    assert f"Status: Image is up to date for {registry}/skopeo/app:v1" in again
    # by digest, quietly: prints the reference only
    q = engine.ctl("pull", "-q", f"{registry}/skopeo/app@{digest}", check=True)
    assert q.stdout == f"{registry}/skopeo/app@{digest}\n"
    inspect = json.loads(engine.ctl("inspect", f"{registry}/skopeo/app:v1", check=True).stdout)[0]
    assert f"{registry}/skopeo/app@{digest}" in inspect["RepoDigests"]
    # what Pallet pulled it pushes back byte for byte: same digest, nothing uploaded
    push = engine.ctl("push", f"{registry}/skopeo/app:v1", check=True).stdout
    assert push.strip().splitlines()[-1].startswith(f"v1: digest: {digest} size: ")
    # Docker schema 2 (skopeo converts a gzip-only image), pulled and run
    _oci_layout(tmp_path / "gz", layers[:1] + [(GZIP_LAYER, gzip.compress(msg, mtime=0), msg)], ["cat", "/msg.txt"])
    skopeo(policy, "copy", "--format", "v2s2", "--dest-tls-verify=false", f"oci:{tmp_path / 'gz'}:v1",
           f"docker://{registry}/skopeo/v2s2:1")
    raw = json.loads(skopeo(policy, "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/skopeo/v2s2:1"))
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    engine.ctl("pull", "-q", f"{registry}/skopeo/v2s2:1", check=True)
    assert engine.ctl("run", "--rm", f"{registry}/skopeo/v2s2:1", check=True).stdout == "pulled by pallet\n"


def test_run_pulls_a_missing_image_as_docker_does(engine: Engine, registry: str, local_image: str) -> None:
    """run/create --pull missing (the default), always and never."""
    ref = f"{registry}/runpull/app:1"
    engine.ctl("tag", local_image, ref, check=True)
    engine.ctl("push", "-q", ref, check=True)
    engine.ctl("rmi", ref, check=True)
    never = engine.ctl("run", "--rm", "--pull", "never", ref, "true")
    assert never.returncode == 125 and "No such image" in never.stderr
    res = engine.ctl("run", "--rm", ref, "echo", "hi", check=True)
    assert res.stdout == "hi\n"  # the pull's progress goes to stderr, the container's output alone to stdout
    assert f"Unable to find image '{ref}' locally" in res.stderr and "Status: Downloaded newer image" in res.stderr
    again = engine.ctl("run", "--rm", "-q", "--pull", "always", ref, "echo", "ok", check=True)
    assert again.stdout == "ok\n" and "Unable to find" not in again.stderr and "Status:" not in again.stderr
    cid = engine.ctl("create", "--pull", "always", ref, "true", check=True).stdout.strip()
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)  # stdout is the ID alone
    engine.ctl("rm", cid, check=True)
    bad = engine.ctl("run", "--rm", "--pull", "sometimes", ref, "true")
    assert bad.returncode == 125 and "invalid pull option" in bad.stderr
    gone = engine.ctl("run", "--rm", f"{registry}/runpull/nothere:1", "true")
    assert gone.returncode == 125 and "manifest unknown" in gone.stderr, gone.stderr


def test_pull_index_selects_platform_and_all_tags(engine: Engine, registry: str, local_image: str) -> None:
    with run_proxy(registry) as proxy:
        amd = tar_of({"arch": b"amd64\n"})
        arm = tar_of({"arch": b"arm64\n"})
        empty = tar_of({})
        empty_gz = gzip.compress(empty, mtime=0)  # the same blob twice, as old images have it
        amd_digest, amd_manifest = put_image(proxy.addr, "multi/app", "amd64-only",
                                             [(GZIP_LAYER, empty_gz, empty), (GZIP_LAYER, gzip.compress(amd, mtime=0),
                                                                             amd), (GZIP_LAYER, empty_gz, empty)],
                                             "amd64")
        arm_blob = gzip.compress(arm, mtime=0)
        arm_digest, arm_manifest = put_image(proxy.addr, "multi/app", "arm64-only",
                                             [(GZIP_LAYER, arm_blob, arm)], "arm64")
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {**desc(OCI_MANIFEST, arm_manifest), "platform": {"os": "linux", "architecture": "arm64",
                                                              "variant": "v8"}},
            {**desc(OCI_MANIFEST, amd_manifest), "platform": {"os": "linux", "architecture": "amd64"}},
        ]}).encode()
        index_digest = put_manifest(proxy.addr, "multi/app", "latest", index, OCI_INDEX)
        proxy.log.clear()
        res = engine.ctl("pull", f"{proxy.addr}/multi/app", check=True)
        assert "Using default tag: latest" in res.stdout and f"Digest: {index_digest}" in res.stdout
        img = json.loads(engine.ctl("inspect", f"{proxy.addr}/multi/app", check=True).stdout)[0]
        assert img["Architecture"] == "amd64"
        assert not proxy.requests("GET", sha(arm_blob)), "the arm64 layer must not be downloaded"
        assert proxy.requests("GET", f"/manifests/{amd_digest}")
        res = engine.ctl("pull", "--platform", "linux/arm64", f"{proxy.addr}/multi/app:latest", check=True)
        img = json.loads(engine.ctl("inspect", f"{proxy.addr}/multi/app", check=True).stdout)[0]
        assert img["Architecture"] == "arm64" and proxy.requests("GET", arm_digest)
        err = one_line_error(engine.ctl("pull", "--platform", "linux/s390x", f"{proxy.addr}/multi/app"))
        assert "no matching manifest for linux/s390x" in err
        err = one_line_error(engine.ctl("pull", "--platform", "linux/amd64", f"{proxy.addr}/multi/app:arm64-only"))
        assert "does not match the specified platform" in err
        docker_list = json.loads(index)
        docker_list["mediaType"] = "application/vnd.docker.distribution.manifest.list.v2+json"
        put_manifest(proxy.addr, "multi/app", "dockerlist", json.dumps(docker_list).encode(),
                     docker_list["mediaType"])
        engine.ctl("pull", f"{proxy.addr}/multi/app:dockerlist", check=True)
        img = json.loads(engine.ctl("inspect", f"{proxy.addr}/multi/app:dockerlist", check=True).stdout)[0]
        assert img["Architecture"] == "amd64"
        res = engine.ctl("pull", "-a", f"{proxy.addr}/multi/app", check=True)
        for tag in ("amd64-only", "arm64-only", "latest", "dockerlist"):
            assert engine.ctl("inspect", "--type", "image", f"{proxy.addr}/multi/app:{tag}").returncode == 0
        # push -a pushes every tag of the repository, each under its own tag
        for tag in ("amd64-only", "arm64-only"):
            engine.ctl("tag", f"{proxy.addr}/multi/app:{tag}", f"{proxy.addr}/multi/copy:{tag}", check=True)
        res = engine.ctl("push", "-a", f"{proxy.addr}/multi/copy", check=True)
        assert f"amd64-only: digest: {amd_digest} " in res.stdout and f"arm64-only: digest: {arm_digest} " in res.stdout
        assert one_line_error(engine.ctl("push", f"{proxy.addr}/multi/copy")).endswith(
            f"An image does not exist locally with the tag: {proxy.addr}/multi/copy")


def test_pull_errors(engine: Engine, registry: str, local_image: str) -> None:
    err = one_line_error(engine.ctl("pull", "BusyBox"))
    assert "invalid reference format" in err
    err = one_line_error(engine.ctl("pull", f"{registry}/no/such:tag"))
    assert "manifest unknown" in err and "not found" in err
    port = free_port()
    err = one_line_error(engine.ctl("pull", f"127.0.0.1:{port}/x:1"))
    assert "unreachable" in err and f"127.0.0.1:{port}" in err


def test_pull_rejects_schema1_corrupt_and_hostile_layers(engine: Engine, local_image: str) -> None:
    good = tar_of({"ok": b"ok\n"})
    corrupt = gzip.compress(good, mtime=0)
    served = bytearray(corrupt)
    served[len(served) // 2] ^= 0xFF
    cfg = config_for([sha(good)])
    bad_manifest = manifest_for(cfg, [(GZIP_LAYER, corrupt)])
    dotdot = tarfile.TarInfo("../../../../../../tmp/pallet-pwned-by-pull")
    hostile_raw = tar_of({}, [dotdot])
    hostile = gzip.compress(hostile_raw, mtime=0)
    hcfg = config_for([sha(hostile_raw)])
    hostile_manifest = manifest_for(hcfg, [(GZIP_LAYER, hostile)])
    schema1 = json.dumps({"schemaVersion": 1, "name": "old/app", "tag": "v1", "architecture": "amd64",
                          "fsLayers": [], "history": []}).encode()
    mt = {"Content-Type": OCI_MANIFEST}
    routes = {
        "/v2/bad/app/manifests/v1": (200, mt, bad_manifest),
        f"/v2/bad/app/blobs/{sha(cfg)}": (200, {}, cfg),
        f"/v2/bad/app/blobs/{sha(corrupt)}": (200, {}, bytes(served)),
        "/v2/evil/app/manifests/v1": (200, mt, hostile_manifest),
        f"/v2/evil/app/blobs/{sha(hcfg)}": (200, {}, hcfg),
        f"/v2/evil/app/blobs/{sha(hostile)}": (200, {}, hostile),
        "/v2/old/app/manifests/v1": (200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
                                     schema1),
    }
    with fake_registry(routes) as addr:
        snaps, blobs = snapshot_count(engine), blob_names(engine)
        err = one_line_error(engine.ctl("pull", f"{addr}/bad/app:v1"))
        assert "verification failed" in err and sha(corrupt) in err, err
        err = one_line_error(engine.ctl("pull", f"{addr}/evil/app:v1"))
        assert "invalid tar entry" in err and "escapes" in err, err
        assert not os.path.exists("/tmp/pallet-pwned-by-pull")
        err = one_line_error(engine.ctl("pull", f"{addr}/old/app:v1"))
        assert "schema 1" in err
        for name in ("bad/app:v1", "evil/app:v1", "old/app:v1"):
            assert engine.ctl("inspect", "--type", "image", f"{addr}/{name}").returncode != 0
        assert snapshot_count(engine) == snaps
        assert blob_names(engine) == blobs
        assert not any(sha(corrupt).removeprefix("sha256:") in n for n in ingest_names(engine))


# -- resume -------------------------------------------------------------------------------------


def _imagesvc_pid(engine: Engine) -> int:
    out = subprocess.run(["pgrep", "-f", f"pallet.images --root {engine.data_root}"], capture_output=True,
                         text=True).stdout.split()
    assert len(out) == 1, out
    return int(out[0])


def test_pull_resumes_after_the_registry_disappears_and_imagesvc_restarts(fresh_engine: Engine,
                                                                          registry: str) -> None:
    engine = fresh_engine
    raw = tar_of({"big.bin": os.urandom(6 << 20)})
    blob = gzip.compress(raw, compresslevel=1, mtime=0)
    with run_proxy(registry) as proxy:
        put_image(registry, "resume/app", "v1", [(GZIP_LAYER, blob, raw)])
        proxy.cut_blob, proxy.cut_after = sha(blob), 2 << 20
        err = one_line_error(engine.ctl("pull", f"{proxy.addr}/resume/app:v1"))
        assert "unreachable" in err or "Unavailable" in err or proxy.addr in err, err
        partial = [n for n in ingest_names(engine) if sha(blob).removeprefix("sha256:") in n]
        assert len(partial) == 1
        kept = os.path.getsize(os.path.join(engine.data_root, "content", "ingest", partial[0]))
        assert kept == 2 << 20
        # imagesvc restarts (killed): its startup cleanup keeps the resumable download
        old = _imagesvc_pid(engine)
        os.kill(old, 9)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError):
                if _imagesvc_pid(engine) != old and engine.ctl("images").returncode == 0:
                    break
            time.sleep(0.2)
        assert partial[0] in ingest_names(engine)
        proxy.down = False
        proxy.log.clear()
        proxy.sent.clear()
        res = engine.ctl("pull", f"{proxy.addr}/resume/app:v1", check=True)
        assert "Pull complete" in res.stdout
        gets = proxy.requests("GET", sha(blob))
        assert gets and gets[0][2] == f"bytes={kept}-", proxy.log
        assert sum(proxy.sent.get(g[1], 0) for g in gets) == len(blob) - kept
        assert not [n for n in ingest_names(engine) if n.startswith("resume-")]
        img = json.loads(engine.ctl("inspect", f"{proxy.addr}/resume/app:v1", check=True).stdout)[0]
        assert img["RootFS"]["Layers"] == [sha(raw)] and img["Size"] >= 6 << 20


def test_gc_during_a_pull_keeps_what_the_pull_holds(engine: Engine, registry: str, busybox_tar: str,
                                                    local_image: str) -> None:
    import grpc
    from pallet.images.v1 import images_pb2 as ipb
    from pallet.images.v1 import images_pb2_grpc as ipb_grpc

    if not hasattr(ipb_grpc, "GcStub"):
        pytest.skip("imagesvc has no Gc service")
    base = Path(busybox_tar).read_bytes()
    top = tar_of({"msg": b"survived the collector\n", "pad.bin": os.urandom(3 << 20)})
    slow = gzip.compress(top, compresslevel=1, mtime=0)
    with run_proxy(registry) as proxy:
        put_image(registry, "gc/app", "1", [(GZIP_LAYER, gzip.compress(base, mtime=0), base),
                                            (GZIP_LAYER, slow, top)], cmd=["cat", "/msg"])
        proxy.slow_blob, proxy.delay = sha(slow), 0.03
        pull = engine.ctl_popen("pull", f"{proxy.addr}/gc/app:1")
        with grpc.insecure_channel(f"unix://{engine.exec_root}/imagesvc.sock") as ch:
            gc = ipb_grpc.GcStub(ch)
            deadline = time.monotonic() + 30
            collections = 0
            while pull.poll() is None and time.monotonic() < deadline:
                if any(n.startswith("resume-") for n in ingest_names(engine)):
                    gc.Collect(ipb.GarbageCollectRequest(), timeout=30)
                    collections += 1
                time.sleep(0.1)
        out, err = pull.communicate(timeout=60)
        assert pull.returncode == 0, (out, err)
        assert collections >= 2, "the collector never ran while the layer was downloading"
    assert engine.ctl("run", "--rm", f"{proxy.addr}/gc/app:1", check=True).stdout == "survived the collector\n"


def test_interrupted_pull_stops_and_resumes(engine: Engine, registry: str, local_image: str) -> None:
    import fcntl

    top = tar_of({"pad.bin": os.urandom(3 << 20)})
    slow = gzip.compress(top, compresslevel=1, mtime=0)
    with run_proxy(registry) as proxy:
        put_image(registry, "interrupt/app", "1", [(GZIP_LAYER, slow, top)])
        proxy.slow_blob, proxy.delay = sha(slow), 0.1
        pull = engine.ctl_popen("pull", f"{proxy.addr}/interrupt/app:1")
        name = "resume-" + sha(slow).removeprefix("sha256:")
        path = os.path.join(engine.data_root, "content", "ingest", name)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (os.path.exists(path) and os.path.getsize(path) > 0):
            time.sleep(0.05)
        pull.send_signal(2)  # ^C: the client goes away mid-download
        pull.communicate(timeout=20)
        released = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not released:  # the pull in imagesvc ends (its lock goes)
            with open(path, "rb") as f:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    released = True
                except BlockingIOError:
                    time.sleep(0.1)
        assert released, "imagesvc kept pulling after the client went away"
        kept = os.path.getsize(path)
        assert 0 < kept < len(slow)
        assert engine.ctl("inspect", "--type", "image", f"{proxy.addr}/interrupt/app:1").returncode != 0
        proxy.slow_blob = ""
        proxy.log.clear()
        engine.ctl("pull", f"{proxy.addr}/interrupt/app:1", check=True)
        gets = proxy.requests("GET", sha(slow))
        assert gets and gets[0][2] == f"bytes={kept}-", proxy.log


# -- daemon flags -------------------------------------------------------------------------------


def _global_ipv4() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True).stdout.split()
    return next((w.split("/")[0] for i, w in enumerate(out) if i and out[i - 1] == "inet"), "")


def test_registry_mirror_and_insecure_registry_flags(registry: str, busybox_tar: str) -> None:
    from tests import _host
    from tests._engine import make_engine

    ip = _global_ipv4()
    if not ip:
        pytest.skip("needs a non-loopback IPv4 address")
    small = tar_of({"hello": b"from the mirror\n"})
    put_image(registry, "library/mirrored", "1", [(GZIP_LAYER, gzip.compress(small, mtime=0), small)])
    put_image(registry, "far/app", "1", [(GZIP_LAYER, gzip.compress(small, mtime=0), small)])
    with run_proxy(registry, host="0.0.0.0") as proxy:
        far = f"{ip}:{proxy.server.port if proxy.server else 0}"
        eng = make_engine()
        eng.daemon_args = ["--registry-mirror", f"http://{registry}", "--insecure-registry", far]
        try:
            eng.start()
            res = eng.ctl("pull", "mirrored:1", check=True)
            assert "Status: Downloaded newer image for mirrored:1" in res.stdout, res.stdout
            assert res.stdout.strip().splitlines()[-1] == "docker.io/library/mirrored:1"
            res = eng.ctl("pull", f"{far}/far/app:1", check=True)
            assert proxy.requests("GET", "/v2/far/app/manifests/1"), proxy.log
        finally:
            eng.stop()
            _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


# -- auth ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def pallet_registry(tmp: Path, cfg: dict[str, Any], port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    with open(tmp / "registry.log", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pallet.registry", "--addr", f"127.0.0.1:{port}",
                                 "--root", str(tmp / "root"), "--config", str(tmp / "cfg.json")],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _htpasswd(path: Path) -> None:
    import bcrypt

    path.write_text(f"alice:{bcrypt.hashpw(b'wonderland', bcrypt.gensalt(4)).decode()}\n")


ACCESS = [{"account": "alice", "repository": "**", "actions": ["*"]}]


def _login_cycle(engine: Engine, addr: str, cfgdir: Path, image: str) -> None:
    conf = ["--config", str(cfgdir)]
    engine.ctl("tag", image, f"{addr}/alice/busybox:1", check=True)
    err = one_line_error(engine.ctl("push", *conf, f"{addr}/alice/busybox:1"))
    assert "unauthorized" in err and "palletctl login" in err, err
    err = one_line_error(engine.ctl("login", *conf, "-u", "alice", "--password-stdin", addr, input=b"wrong\n"))
    assert "unauthorized" in err and "incorrect username or password" in err, err
    assert not (cfgdir / "config.json").exists()
    res = engine.ctl("login", *conf, "-u", "alice", "--password-stdin", addr, input=b"wonderland\n", check=True)
    assert "Login Succeeded" in res.stdout
    path = cfgdir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = json.loads(path.read_text())["auths"][addr]
    assert base64.b64decode(entry["auth"]).decode() in ("alice:wonderland", "alice:")
    res = engine.ctl("push", *conf, f"{addr}/alice/busybox:1", check=True)
    assert "digest: sha256:" in res.stdout
    engine.ctl("rmi", f"{addr}/alice/busybox:1", check=True)
    engine.ctl("pull", *conf, f"{addr}/alice/busybox:1", check=True)
    assert "Removing login credentials" in engine.ctl("logout", *conf, addr, check=True).stdout
    assert addr not in json.loads(path.read_text()).get("auths", {})
    err = one_line_error(engine.ctl("pull", *conf, f"{addr}/alice/busybox:1"))
    assert "unauthorized" in err and f"palletctl login {addr}" in err, err
    engine.ctl("rmi", f"{addr}/alice/busybox:1", check=True)


def test_basic_auth_login_logout(engine: Engine, tmp_path: Path, local_image: str) -> None:
    _htpasswd(tmp_path / "htpasswd")
    cfg = {"auth": {"htpasswd": {"realm": "pallet-test", "path": str(tmp_path / "htpasswd")}, "access": ACCESS}}
    with pallet_registry(tmp_path, cfg) as addr:
        _login_cycle(engine, addr, tmp_path / "docker", local_image)


def test_token_auth_login_logout(engine: Engine, tmp_path: Path, local_image: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "issuer.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _htpasswd(tmp_path / "htpasswd")
    port = free_port()
    cfg = {"auth": {"htpasswd": {"realm": "pallet-test", "path": str(tmp_path / "htpasswd")},
                    "token": {"realm": f"http://127.0.0.1:{port}/auth/token", "service": "pallet-test",
                              "issuer": "pallet-test", "private_key": str(tmp_path / "issuer.pem")},
                    "access": ACCESS}}
    with pallet_registry(tmp_path, cfg, port) as addr:
        status, headers, _ = http_req(addr, "GET", "/v2/")
        assert status == 401 and headers["www-authenticate"].startswith("Bearer ")
        _login_cycle(engine, addr, tmp_path / "docker", local_image)


def test_auth_file_helpers(tmp_path: Path) -> None:
    from pallet.client import _auth

    path = str(tmp_path / "d" / "config.json")
    os.makedirs(tmp_path / "d")
    (tmp_path / "d" / "config.json").write_text(json.dumps({"credsStore": "", "auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()}}}))
    assert _auth.get(path, "docker.io") == ("hub", "pw", "")
    _auth.store(path, "http://127.0.0.1:5000/v2/", "u", "p")
    assert _auth.get(path, "127.0.0.1:5000") == ("u", "p", "")
    doc = json.loads(Path(path).read_text())
    assert "credsStore" in doc and "127.0.0.1:5000" in doc["auths"]
    assert _auth.remove(path, "127.0.0.1:5000") and not _auth.remove(path, "127.0.0.1:5000")
    assert _auth.get(path, "docker.io") == ("hub", "pw", "")


def test_progress_rendering() -> None:
    from pallet.client._registry import Progress

    out = io.StringIO()
    p = Progress(out, tty=True)
    p.update("", "v1: Pulling from x")
    p.update("aaa", "Pulling fs layer")
    p.update("bbb", "Pulling fs layer")
    p.update("aaa", "Downloading", 50, 100)
    text = out.getvalue()
    assert "\x1b[2A" in text and "[=" in text and "50B/100B" in text
    out = io.StringIO()
    p = Progress(out, tty=False)
    for status in ("Pulling fs layer", "Downloading", "Downloading", "Pull complete"):
        p.update("aaa", status, 1, 2)
    assert out.getvalue() == "aaa: Pulling fs layer\naaa: Downloading\naaa: Pull complete\n"


def test_insecure_registry_settings() -> None:
    from pallet.images._registry import Settings, endpoints, parse_challenge

    s = Settings(insecure=["myreg:5000", "10.0.0.0/8"], mirrors=["https://mirror.example"])
    assert endpoints("localhost:5000", s) == [("http://localhost:5000", False)]
    assert endpoints("127.0.0.2:80", s) == [("http://127.0.0.2:80", False)]
    assert endpoints("[::1]:5000", s) == [("http://[::1]:5000", False)]
    assert endpoints("myreg:5000", s) == [("http://myreg:5000", False)]
    assert endpoints("10.1.2.3:5000", s) == [("http://10.1.2.3:5000", False)]
    assert endpoints("quay.io", s) == [("https://quay.io", False)]
    assert endpoints("docker.io", s) == [("https://mirror.example", True), ("https://registry-1.docker.io", False)]
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                                     'scope="repository:a/b:pull,push"')
    assert scheme == "bearer" and params["scope"] == "repository:a/b:pull,push" and params["service"] == "reg"



def test_resumable_ingest_survives_cleanup_until_stale(tmp_path: Path) -> None:
    from pallet.images._content import ContentStore

    store = ContentStore(str(tmp_path / "content"))
    data = os.urandom(3 << 20)
    d = sha(data)
    w = store.resumable_writer(d, len(data))
    w.write(data[:1 << 20])
    with pytest.raises(BlockingIOError):  # one download of a digest at a time
        store.resumable_writer(d, len(data))
    w.close_keep()
    stray = store.writer()  # an ordinary partial write: always goes at startup
    stray.write(b"x")
    stray._f.close()
    assert store.cleanup() == 1 and store.sweep_resumable() == 0
    w = store.resumable_writer(d, len(data))
    assert w.size == 1 << 20
    w.write(data[1 << 20:])
    assert w.commit() == (d, True) and store.exists(d)
    w = store.resumable_writer(sha(b"old"), 3)
    w.write(b"ol")
    w.close_keep()
    os.utime(w.path, (0, 0))
    assert store.sweep_resumable() == 1 and not os.path.exists(w.path)


def test_platform_selection() -> None:
    from pallet.images._pull import _platform_ok, parse_platform

    assert parse_platform("", "", "").os == "linux"
    arm = parse_platform("linux", "arm64", "v8")
    assert (arm.os, arm.architecture, arm.variant) == ("linux", "arm64", "")
    assert _platform_ok({"os": "linux", "architecture": "arm64", "variant": "v8"}, arm)
    assert not _platform_ok({"os": "linux", "architecture": "amd64"}, arm)
    v6 = parse_platform("linux", "arm", "v6")
    assert not _platform_ok({"os": "linux", "architecture": "arm", "variant": "v7"}, v6)
    assert _platform_ok({"os": "linux", "architecture": "arm"}, v6)
