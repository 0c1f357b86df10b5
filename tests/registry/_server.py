"""Test scaffolding: run pallet-registry (and Debian's docker-registry) as subprocesses and talk raw HTTP."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error_code(self) -> str:
        return str(self.json()["errors"][0]["code"])


@dataclass
class Registry:
    port: int
    root: str
    proc: subprocess.Popen[bytes]
    stderr_path: str
    extra: list[str] = field(default_factory=list)
    admin_socket: str = ""

    def admin(self) -> Any:
        """An Admin stub on the registry's gRPC admin socket (the caller closes `stub.channel`)."""
        import grpc
        from pallet.registry.v1 import registry_pb2_grpc

        channel = grpc.insecure_channel(f"unix://{self.admin_socket}")
        stub = registry_pb2_grpc.AdminStub(channel)
        stub.channel = channel
        return stub

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Resp:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            hdrs = dict(headers or {})
            if body is not None and "Transfer-Encoding" not in hdrs:
                hdrs.setdefault("Content-Length", str(len(body)))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            if body is not None:
                if hdrs.get("Transfer-Encoding") == "chunked":
                    for i in range(0, len(body), 3):
                        part = body[i:i + 3]
                        conn.send(b"%x\r\n%s\r\n" % (len(part), part))
                    conn.send(b"0\r\n\r\n")
                else:
                    conn.send(body)
            r = conn.getresponse()
            data = r.read()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def push_blob(self, repo: str, data: bytes) -> str:
        d = sha256(data)
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data,
                         {"Content-Type": "application/octet-stream"})
        assert r.status == 201, (r.status, r.body)
        return d

    def put_manifest(self, repo: str, ref: str, doc: dict[str, Any] | bytes, media_type: str | None = None) -> Resp:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        if media_type is None and isinstance(doc, dict):
            media_type = doc.get("mediaType")
        headers = {"Content-Type": media_type} if media_type else {}
        return self.request("PUT", f"/v2/{repo}/manifests/{ref}", body, headers)

    def blob_files(self) -> list[str]:
        out = []
        for alg in ("sha256", "sha512"):
            d = os.path.join(self.root, "blobs", alg)
            if os.path.isdir(d):
                out += [f"{alg}:{n}" for n in os.listdir(d)]
        return sorted(out)

    def upload_files(self) -> list[str]:
        return sorted(os.listdir(os.path.join(self.root, "uploads")))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self) -> str:
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def wait_path(path: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not create {path}")
        time.sleep(0.05)


@contextlib.contextmanager
def run_registry(root: str, *extra: str, port: int | None = None) -> Iterator[Registry]:
    """pallet-registry on a free loopback port, its admin API on a private unix socket."""
    port = port or free_port()
    os.makedirs(root, exist_ok=True)
    stderr_path = os.path.join(os.path.dirname(root.rstrip("/")), f"registry-{port}.log")
    sockdir = tempfile.mkdtemp(prefix="preg-")  # short: unix socket paths are limited to 107 bytes
    admin = os.path.join(sockdir, "admin.sock")
    if "--admin-socket" in extra:
        admin = extra[extra.index("--admin-socket") + 1]
    try:
        with open(stderr_path, "ab") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pallet.registry", "--addr", f"127.0.0.1:{port}", "--root", root,
                 "--admin-socket", admin, *extra],
                stdout=subprocess.DEVNULL, stderr=err)
        reg = Registry(port, root, proc, stderr_path, list(extra), admin)
        try:
            wait_port(port, proc)
            wait_path(admin, proc)
            yield reg
        finally:
            reg.stop()
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


@contextlib.contextmanager
def run_docker_registry(tmp: str, host: str = "127.0.0.1") -> Iterator[str]:
    """Debian's CNCF distribution registry on a free port of host; yields host:port."""
    port = free_port()
    data = os.path.join(tmp, "distribution")
    os.makedirs(data, exist_ok=True)
    cfg = os.path.join(tmp, "distribution.yml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: {host}:{port}
""")
    with open(os.path.join(tmp, "distribution.log"), "wb") as err:
        proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg], stdout=err, stderr=err)
    try:
        wait_port(port, proc, host=host)
        yield f"{host}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
