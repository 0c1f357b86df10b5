"""Pull-through cache mode: a pallet-registry proxying another pallet-registry (anonymous, basic and bearer
upstream auth), tags re-resolved upstream, the cache serving while the upstream is down, pushes refused."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ._server import Registry, free_port, run_registry, sha256
from .test_api import OCI_INDEX, OCI_MANIFEST
from .test_gc import pullable, push_image

ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


def proxy_config(tmp: Path, upstream: Registry, **creds: str) -> str:
    cfg = tmp / f"proxy-{upstream.port}.json"
    cfg.write_text(json.dumps({"proxy": {"remote_url": f"http://{upstream.addr}", **creds}}))
    return str(cfg)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    with run_registry(str(tmp_path / "up")) as up, \
            run_registry(str(tmp_path / "cache"), "--config", proxy_config(tmp_path, up)) as cache:
        yield up, cache


def upstream_requests(up: Registry, method: str, path: str) -> int:
    lines = [json.loads(x) for x in up.logs().splitlines() if x.startswith("{")]
    return sum(1 for x in lines if x.get("event") == "request" and x["method"] == method and x["path"] == path)


def test_pull_through_and_upstream_down(tmp_path: Path) -> None:
    up_ctx = run_registry(str(tmp_path / "up"))
    up = up_ctx.__enter__()
    try:
        with run_registry(str(tmp_path / "cache"), "--config", proxy_config(tmp_path, up)) as cache:
            d, blobs = push_image(up, "lib/app", "one", "v1", b"shared layer")
            body = up.request("GET", "/v2/lib/app/manifests/v1", headers=ACCEPT).body
            g = cache.request("GET", "/v2/lib/app/manifests/v1", headers=ACCEPT)
            assert g.status == 200 and g.body == body
            assert g.headers["docker-content-digest"] == d and g.headers["content-type"] == OCI_MANIFEST
            # Blobs: HEAD of an uncached blob asks upstream (no download), GET caches it.
            h = cache.request("HEAD", f"/v2/lib/app/blobs/{blobs[1]}")
            assert h.status == 200 and h.headers["content-length"] == str(len("layer one"))
            assert blobs[1] not in cache.blob_files()
            assert pullable(cache, "lib/app", "v1")
            assert set(blobs) | {d} <= set(cache.blob_files())
            # Tags are re-resolved upstream: a re-pushed tag is seen at once.
            d2, _ = push_image(up, "lib/app", "two", "v1")
            assert cache.request("GET", "/v2/lib/app/manifests/v1", headers=ACCEPT).headers[
                "docker-content-digest"] == d2
            assert cache.request("GET", "/v2/lib/app/tags/list").json() == {"name": "lib/app", "tags": ["v1"]}
            # Pushes and deletes are refused.
            for method, path in (("POST", "/v2/lib/app/blobs/uploads/"), ("PUT", "/v2/lib/app/manifests/x"),
                                 ("DELETE", f"/v2/lib/app/manifests/{d}")):
                r = cache.request(method, path, b"{}")
                assert r.status == 405 and r.error_code() == "UNSUPPORTED"
            # Unknown upstream: not found.
            r = cache.request("GET", "/v2/lib/app/manifests/nope", headers=ACCEPT)
            assert r.status == 404 and r.error_code() == "MANIFEST_UNKNOWN"
            r = cache.request("GET", f"/v2/lib/app/blobs/{sha256(b'nowhere')}")
            assert r.status == 404 and r.error_code() == "BLOB_UNKNOWN"
            uncached = push_image(up, "lib/other", "x", "v1")[0]

            up_ctx.__exit__(None, None, None)  # upstream down
            g = cache.request("GET", "/v2/lib/app/manifests/v1", headers=ACCEPT)
            assert g.status == 200 and g.headers["docker-content-digest"] == d2
            assert pullable(cache, "lib/app", d)  # everything fetched before is served from the cache
            r = cache.request("GET", "/v2/lib/other/manifests/v1", headers=ACCEPT)
            assert r.status == 503 and r.error_code() == "UNAVAILABLE"
            r = cache.request("GET", f"/v2/lib/other/manifests/{uncached}", headers=ACCEPT)
            assert r.status == 503
            assert cache.request("GET", "/v2/lib/app/tags/list").json()["tags"] == ["v1"]
            assert "Traceback" not in cache.logs()
    finally:
        up_ctx.__exit__(None, None, None)


def test_index_and_concurrent_fetches(pair: tuple[Registry, Registry]) -> None:
    up, cache = pair
    big = bytes(range(256)) * 8192  # 2 MiB
    child, blobs = push_image(up, "multi/img", "child", None, big)
    size = len(up.request("GET", f"/v2/multi/img/manifests/{child}").body)
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX,
           "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": size,
                          "platform": {"architecture": "amd64", "os": "linux"}}]}
    assert up.put_manifest("multi/img", "latest", idx).status == 201
    results: list[bytes] = []

    def get() -> None:
        results.append(cache.request("GET", f"/v2/multi/img/blobs/{sha256(big)}").body)

    threads = [threading.Thread(target=get) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [big] * 6
    assert upstream_requests(up, "GET", f"/v2/multi/img/blobs/{sha256(big)}") == 1
    assert pullable(cache, "multi/img", "latest")
    # Content-Type is the stored type; the index's child came from upstream by digest.
    assert cache.request("GET", f"/v2/multi/img/manifests/{child}", headers=ACCEPT).headers[
        "content-type"] == OCI_MANIFEST


def test_upstream_with_basic_auth(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"puller:{bcrypt.hashpw(b'secret', bcrypt.gensalt(4)).decode()}\n")
    cfg = tmp_path / "up.json"
    cfg.write_text(json.dumps({"auth": {"htpasswd": {"realm": "up", "path": str(htpasswd)}}}))
    with run_registry(str(tmp_path / "up"), "--config", str(cfg)) as up:
        auth = {"Authorization": "Basic " + base64.b64encode(b"puller:secret").decode()}
        data = b"private layer"
        r = up.request("POST", f"/v2/priv/app/blobs/uploads/?digest={sha256(data)}", data, auth)
        assert r.status == 201
        with run_registry(str(tmp_path / "c1"), "--config",
                          proxy_config(tmp_path, up, username="puller", password="secret")) as cache:
            assert cache.request("GET", f"/v2/priv/app/blobs/{sha256(data)}").body == data
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"proxy": {"remote_url": f"http://{up.addr}", "username": "puller",
                                             "password": "wrong"}}))
        with run_registry(str(tmp_path / "c2"), "--config", str(bad)) as cache:
            r = cache.request("GET", f"/v2/priv/app/blobs/{sha256(data)}")
            assert r.status == 404 and r.error_code() == "BLOB_UNKNOWN"


def test_upstream_with_token_auth(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"team:{bcrypt.hashpw(b'pw', bcrypt.gensalt(4)).decode()}\n")
    port = free_port()
    cfg = tmp_path / "up.json"
    cfg.write_text(json.dumps({"auth": {
        "htpasswd": {"realm": "up", "path": str(htpasswd)},
        "token": {"realm": f"http://127.0.0.1:{port}/auth/token", "service": "up", "issuer": "up",
                  "private_key": str(key)},
        "access": [{"account": "team", "repository": "team/**", "actions": ["pull", "push"]}]}}))
    with run_registry(str(tmp_path / "up"), "--config", str(cfg), port=port) as up:
        basic = {"Authorization": "Basic " + base64.b64encode(b"team:pw").decode()}
        tok = up.request("GET", "/auth/token?service=up&scope=repository:team/app:pull,push", headers=basic)
        bearer = {"Authorization": "Bearer " + tok.json()["token"]}
        data = b"layer behind a token"
        r = up.request("POST", f"/v2/team/app/blobs/uploads/?digest={sha256(data)}", data, bearer)
        assert r.status == 201
        with run_registry(str(tmp_path / "c"), "--config",
                          proxy_config(tmp_path, up, username="team", password="pw")) as cache:
            assert cache.request("GET", f"/v2/team/app/blobs/{sha256(data)}").body == data
            assert cache.request("GET", f"/v2/team/app/blobs/{sha256(data)}").body == data  # now cached
        with run_registry(str(tmp_path / "anon"), "--config", proxy_config(tmp_path, up)) as cache:
            r = cache.request("GET", f"/v2/team/app/blobs/{sha256(data)}")
            assert r.status == 404 and r.error_code() == "BLOB_UNKNOWN"
        assert upstream_requests(up, "GET", "/auth/token") == 3  # ours, the cache's (once), the anonymous one


def test_bad_proxy_config_writes_nothing(tmp_path: Path) -> None:
    import sys

    for proxy in ({"remote_url": "ftp://x"}, {"remote_url": "http://127.0.0.1:1", "username": "u"},
                  {"remote": "http://127.0.0.1:1"}, "http://127.0.0.1:1"):
        cfg = tmp_path / "cfg.json"
        cfg.write_text(json.dumps({"proxy": proxy}))
        r = subprocess.run([sys.executable, "-m", "pallet.registry", "--root", str(tmp_path / "root"), "--config",
                            str(cfg), "--addr", "127.0.0.1:1", "--admin-socket", ""],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "proxy" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "root").exists()


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_pulls_through_the_cache(pair: tuple[Registry, Registry], tmp_path: Path) -> None:
    up, cache = pair
    from .test_interop import make_oci_layout

    src = tmp_path / "src"
    make_oci_layout(src)
    pol = tmp_path / "policy.json"
    pol.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    skopeo: list[Any] = ["skopeo", "--policy", str(pol), "copy", "--retry-times", "0"]
    subprocess.run([*skopeo, "--dest-tls-verify=false", f"oci:{src}:1", f"docker://{up.addr}/hello/world:1"],
                   check=True, capture_output=True, timeout=60)
    subprocess.run([*skopeo, "--src-tls-verify=false", f"docker://{cache.addr}/hello/world:1",
                    f"oci:{tmp_path / 'dst'}:1"], check=True, capture_output=True, timeout=60)
    assert (tmp_path / "dst" / "index.json").exists()
    assert pullable(cache, "hello/world", "1")


def test_first_fetch_is_streamed_and_ranges_work(pair: tuple[Registry, Registry]) -> None:
    up, cache = pair
    data = bytes(range(256)) * 4096  # 1 MiB
    a = up.push_blob("stream/x", data)
    g = cache.request("GET", f"/v2/stream/x/blobs/{a}")
    assert g.status == 200 and g.body == data and g.headers["content-length"] == str(len(data))
    assert g.headers["docker-content-digest"] == a
    assert "accept-ranges" not in g.headers  # streamed as it arrived, not a file response
    g = cache.request("GET", f"/v2/stream/x/blobs/{a}")
    assert g.body == data and g.headers["accept-ranges"] == "bytes"  # now from the cache, with sendfile
    b = up.push_blob("stream/x", data[::-1])
    r = cache.request("GET", f"/v2/stream/x/blobs/{b}", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == data[::-1][10:20]


def test_corrupt_upstream_blob_is_cut_short_and_not_kept(tmp_path: Path) -> None:
    """An upstream whose bytes do not match the digest: the client never gets a complete body and nothing is
    cached."""
    import http.client
    import http.server

    good = b"the real content" * 1000
    bad = good[:-1] + b"!"
    digest = sha256(good)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == f"/v2/bad/blob/blobs/{digest}":
                self.send_response(200)
                self.send_header("Content-Length", str(len(bad)))
                self.end_headers()
                self.wfile.write(bad)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cfg = tmp_path / "bad-up.json"
        cfg.write_text(json.dumps({"proxy": {"remote_url": f"http://127.0.0.1:{server.server_address[1]}"}}))
        with run_registry(str(tmp_path / "c"), "--config", str(cfg)) as cache:
            for _ in range(2):
                with pytest.raises((http.client.IncompleteRead, ConnectionError)):
                    cache.request("GET", f"/v2/bad/blob/blobs/{digest}")
            assert digest not in cache.blob_files()
            assert cache.upload_files() == []
            assert "does not match" in cache.logs()
    finally:
        server.shutdown()
        server.server_close()
