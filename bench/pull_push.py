#!/usr/bin/env python3
"""Pull and push throughput of a 200 MiB single-layer image through local docker-registry instances.

Prints MiB/s of the layer for Pallet (`palletctl pull` / `push`) and skopeo (`copy` to and from an
OCI layout) in the same run, and docker's if a docker daemon answers. The layer is random data
(incompressible) in a gzip (level 1) blob. Pallet's pull also verifies and unpacks the layer into
a snapshot; skopeo's only stores the blob.

Usage: sudo .venv/bin/python bench/pull_push.py [--size-mib 200]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, start_engine, stop_engine  # noqa: E402

sys.path.insert(0, ROOT)
from tests.registry._server import run_docker_registry  # noqa: E402


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layout(layout: str, size_mib: int) -> int:
    """An OCI layout with one random layer; returns the layer blob size."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        payload = os.urandom(size_mib << 20)
        ti = tarfile.TarInfo("random.bin")
        ti.size, ti.mode, ti.mtime = len(payload), 0o644, 0
        tar.addfile(ti, io.BytesIO(payload))
        del payload
    raw_bytes = raw.getvalue()
    blob = gzip.compress(raw_bytes, compresslevel=1, mtime=0)

    def put(data: bytes) -> dict[str, object]:
        with open(os.path.join(layout, "blobs", "sha256", sha(data).removeprefix("sha256:")), "wb") as f:
            f.write(data)
        return {"digest": sha(data), "size": len(data)}

    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [sha(raw_bytes)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       **put(blob)}]}).encode()
    mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
             "annotations": {"org.opencontainers.image.ref.name": "1"}}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    return len(blob)


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stdout}\n{res.stderr}")
    return dt


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                          timeout=20).returncode == 0


@contextlib.contextmanager
def registries(tmp: str) -> Iterator[tuple[str, str]]:
    with run_docker_registry(os.path.join(tmp, "a")) as a, run_docker_registry(os.path.join(tmp, "b")) as b:
        yield a, b


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=200)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pallet-bench-pp-")
    policy = os.path.join(tmp, "policy.json")
    with open(policy, "w") as f:
        f.write('{"default": [{"type": "insecureAcceptAnything"}]}')
    sk = ["skopeo", "--policy", policy]
    eng = start_engine()
    try:
        layout = os.path.join(tmp, "layout")
        blob_size = make_layout(layout, args.size_mib)
        mib = blob_size / (1 << 20)
        with registries(tmp) as (a, b):
            timed([*sk, "copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{a}/bench/big:1"])
            results: list[tuple[str, str, float]] = []

            dt = timed([sys.executable, "-m", "pallet.client.cli", "-H", eng.host, "pull", "-q",
                        f"{a}/bench/big:1"])
            results.append(("pallet", "pull", dt))
            eng.ctl("tag", f"{a}/bench/big:1", f"{b}/pallet/big:1", check=True)
            dt = timed([sys.executable, "-m", "pallet.client.cli", "-H", eng.host, "push", "-q",
                        f"{b}/pallet/big:1"])
            results.append(("pallet", "push", dt))

            out = os.path.join(tmp, "skopeo-pulled")
            dt = timed([*sk, "copy", "--src-tls-verify=false", f"docker://{a}/bench/big:1", f"oci:{out}:1"])
            results.append(("skopeo", "pull", dt))
            dt = timed([*sk, "copy", "--dest-tls-verify=false", f"oci:{out}:1", f"docker://{b}/skopeo/big:1"])
            results.append(("skopeo", "push", dt))

            if docker_works():
                dt = timed(["docker", "pull", "-q", f"{a}/bench/big:1"])
                results.append(("docker", "pull", dt))
                subprocess.run(["docker", "tag", f"{a}/bench/big:1", f"{b}/docker/big:1"], check=True)
                dt = timed(["docker", "push", "-q", f"{b}/docker/big:1"])
                results.append(("docker", "push", dt))
            else:
                print("docker: no daemon answers here, skipped")

        print(f"layer: {mib:.1f} MiB gzip blob of {args.size_mib} MiB random data, local docker-registry 2.8")
        print(f"{'client':8} {'op':5} {'seconds':>8} {'MiB/s':>8}")
        for who, op, dt in results:
            print(f"{who:8} {op:5} {dt:8.2f} {mib / dt:8.1f}")
        print("(pallet pull includes verifying and unpacking the layer into a snapshot)")
    finally:
        stop_engine(eng)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
