"""pallet-registry wired to its Authorizer (htpasswd basic auth and access rules), concurrency and config."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from ._server import Registry, run_registry, sha256


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ALICE = basic("alice", "wonderland")
ADMIN = basic("admin", "root-pw")


@pytest.fixture(scope="module")
def authreg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    tmp = tmp_path_factory.mktemp("authreg")
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}\n"
                                for u, p in [("alice", "wonderland"), ("admin", "root-pw")]))
    cfg = tmp / "config.json"
    cfg.write_text(json.dumps({"auth": {
        "htpasswd": {"realm": "pallet-test", "path": str(htpasswd)},
        "access": [
            {"account": "admin", "repository": "**", "actions": ["*"]},
            {"account": "alice", "repository": "alice/**", "actions": ["pull", "push", "delete"]},
            {"account": "*", "repository": "public/**", "actions": ["pull"]},
            {"account": "", "repository": "public/**", "actions": ["pull"]},
            {"account": "admin", "type": "registry", "repository": "catalog", "actions": ["*"]},
        ]}}))
    with run_registry(str(tmp / "root"), "--config", str(cfg)) as r:
        yield r


def test_base_requires_credentials(authreg: Registry) -> None:
    r = authreg.request("GET", "/v2/")
    assert r.status == 401 and r.error_code() == "UNAUTHORIZED"
    assert r.headers["www-authenticate"].startswith("Basic ")
    assert authreg.request("GET", "/v2/", headers=ALICE).status == 200
    assert authreg.request("GET", "/v2/", headers=basic("alice", "wrong")).status == 401


def test_push_pull_rules(authreg: Registry) -> None:
    data = b"alice's blob"
    d = sha256(data)
    assert authreg.request("POST", f"/v2/alice/img/blobs/uploads/?digest={d}", data).status == 401
    before = authreg.blob_files()
    r = authreg.request("POST", f"/v2/other/img/blobs/uploads/?digest={d}", data, ALICE)
    assert r.status == 403 and r.error_code() == "DENIED"
    assert authreg.blob_files() == before
    assert authreg.request("POST", f"/v2/alice/img/blobs/uploads/?digest={d}", data, ALICE).status == 201
    assert authreg.request("GET", f"/v2/alice/img/blobs/{d}", headers=ALICE).body == data
    assert authreg.request("GET", f"/v2/alice/img/blobs/{d}").status == 401
    # anonymous pull of public/**
    assert authreg.request("POST", f"/v2/public/img/blobs/uploads/?digest={d}", data, ADMIN).status == 201
    assert authreg.request("GET", f"/v2/public/img/blobs/{d}").body == data
    assert authreg.request("DELETE", f"/v2/public/img/blobs/{d}").status == 401
    # mount from a repository alice may not pull: falls back to an upload session
    r = authreg.request("POST", f"/v2/alice/img2/blobs/uploads/?mount={d}&from=other/secret", headers=ALICE)
    assert r.status == 202


def test_catalog_needs_registry_scope(authreg: Registry) -> None:
    assert authreg.request("GET", "/v2/_catalog", headers=ALICE).status == 403
    r = authreg.request("GET", "/v2/_catalog", headers=ADMIN)
    assert r.status == 200 and "alice/img" in r.json()["repositories"]


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_with_credentials(tmp_path: Path, authreg: Registry) -> None:
    from .test_interop import make_oci_layout

    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    digest = make_oci_layout(tmp_path / "src")
    base = ["skopeo", "--policy", str(policy)]
    dest = f"docker://{authreg.addr}/alice/skopeo:1"
    denied = subprocess.run([*base, "copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'src'}:1", dest],
                            capture_output=True, timeout=60)
    assert denied.returncode != 0
    subprocess.run([*base, "copy", "--dest-tls-verify=false", "--dest-creds", "alice:wonderland",
                    f"oci:{tmp_path / 'src'}:1", dest], check=True, capture_output=True, timeout=60)
    raw = subprocess.run([*base, "inspect", "--raw", "--tls-verify=false", "--creds", "alice:wonderland", dest],
                         check=True, capture_output=True, timeout=60).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest


def test_concurrent_pushes_of_the_same_blob(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    d = sha256(data)
    with run_registry(str(tmp_path / "root")) as reg:
        results: list[int] = []

        def mono(repo: str) -> None:
            results.append(reg.request("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data).status)

        def chunked(repo: str) -> None:
            loc = reg.request("POST", f"/v2/{repo}/blobs/uploads/").headers["location"]
            half = len(data) // 2
            reg.request("PATCH", loc, data[:half], {"Content-Range": f"0-{half - 1}"})
            results.append(reg.request("PUT", f"{loc}?digest={d}", data[half:]).status)

        threads = [threading.Thread(target=mono if i % 2 else chunked, args=(f"c/r{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [201] * 8
        assert reg.blob_files() == [d]
        assert reg.upload_files() == []
        for i in range(8):
            assert reg.request("GET", f"/v2/c/r{i}/blobs/{d}").body == data


def test_tls_from_config(tmp_path: Path) -> None:
    import datetime
    import http.client
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"tls": {"cert": str(tmp_path / "cert.pem"), "key": str(tmp_path / "key.pem")}}))
    with run_registry(str(tmp_path / "root"), "--config", str(cfg)) as reg:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        ctx.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", reg.port, context=ctx, timeout=10)
        conn.request("GET", "/v2/")
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Docker-Distribution-API-Version") == "registry/2.0"
        conn.close()
