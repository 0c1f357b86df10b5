#!/usr/bin/env python3
"""Push and pull throughput of pallet-registry against Debian's docker-registry (CNCF distribution), both
driven by skopeo over loopback: one image with a 200 MiB layer (MiB/s), and 1,000 small blobs as 10 images of
100 layers copied one after the other (blobs/s and HTTP requests/s, counted from each registry's access log).
One image of 1,000 layers would mostly measure skopeo: its per-layer cost grows with the layer count (both
registries fall to ~10 blobs/s).

Usage: .venv/bin/python bench/registry.py [--big-mib 200] [--small 1000] [--runs 1]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.registry._server import free_port, wait_port  # noqa: E402

MiB = 1 << 20


@dataclass
class Target:
    name: str
    addr: str
    count_requests: Callable[[], int]


def _blob(layout: str, data: bytes) -> dict[str, object]:
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{h}", "size": len(data)}


def _big_layer(layout: str, size: int) -> dict[str, object]:
    """An uncompressed tar holding one file of `size` random bytes, written and hashed in one pass."""
    info = tarfile.TarInfo("big.bin")
    info.size, info.mode, info.mtime = size, 0o644, 0
    h = hashlib.sha256()
    tmp = os.path.join(layout, "layer.tmp")
    with open(tmp, "wb") as f:
        def put(b: bytes) -> None:
            h.update(b)
            f.write(b)

        put(info.tobuf(format=tarfile.PAX_FORMAT))
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            put(chunk)
            left -= len(chunk)
        put(b"\0" * ((-size) % 512 + 1024))  # pad the member, then the two end-of-archive blocks
        n = f.tell()
    os.rename(tmp, os.path.join(layout, "blobs", "sha256", h.hexdigest()))
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{h.hexdigest()}", "size": n}


def make_image(layout: str, layers: list[dict[str, object]]) -> None:
    """Finish an OCI layout: config, manifest and index.json for `layers` (already in blobs/)."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [str(x["digest"]) for x in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **_blob(layout, config)},
                           "layers": layers}).encode()
    mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest),
             "annotations": {"org.opencontainers.image.ref.name": "1"}}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')


def big_image(layout: str, mib: int) -> None:
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    make_image(layout, [_big_layer(layout, mib * MiB)])


def small_image(layout: str, n: int, seed: int) -> None:
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    layers = []
    for i in range(n):
        data = gzip.compress(os.urandom(512) + f"image {seed} layer {i}".encode(), mtime=0)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, data)})
    make_image(layout, layers)


@contextlib.contextmanager
def pallet_registry(tmp: str) -> Iterator[Target]:
    port = free_port()
    log = os.path.join(tmp, "pallet.log")
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pallet.registry", "--addr", f"127.0.0.1:{port}",
                                 "--root", os.path.join(tmp, "pallet-root"), "--admin-socket", ""],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_port(port, proc)

        def count() -> int:
            with open(log, encoding="utf-8", errors="replace") as f:
                return sum(1 for line in f if '"event": "request"' in line)

        yield Target("pallet-registry", f"127.0.0.1:{port}", count)
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def docker_registry(tmp: str) -> Iterator[Target]:
    port = free_port()
    cfg, log = os.path.join(tmp, "distribution.yml"), os.path.join(tmp, "distribution.log")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {tmp}/distribution-root\nhttp:\n  addr: 127.0.0.1:{port}\n")
    with open(log, "wb") as err:
        proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg], stdout=err, stderr=err)
    access = re.compile(r'"[A-Z]+ /v2/')
    try:
        wait_port(port, proc)

        def count() -> int:
            with open(log, encoding="utf-8", errors="replace") as f:
                return sum(1 for line in f if access.search(line))

        yield Target("docker-registry", f"127.0.0.1:{port}", count)
    finally:
        proc.terminate()
        proc.wait(10)


def skopeo(policy: str, src: str, dst: str) -> float:
    t = time.perf_counter()
    res = subprocess.run(["skopeo", "--policy", policy, "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                          "--retry-times", "0", src, dst], capture_output=True)
    dt = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"skopeo copy {src} {dst} failed: {res.stderr.decode(errors='replace')}")
    return dt


def measure_once(target: Target, tmp: str, policy: str, big: str, small: list[str]) -> dict[str, float]:
    """Seconds and request counts of each copy against a fresh registry (skopeo would mount blobs it has
    pushed to that registry before instead of uploading them again)."""
    out: dict[str, float] = {}
    for kind, layouts in (("big", [big]), ("small", small)):
        for op in ("push", "pull"):
            before = target.count_requests()
            dt = 0.0
            for j, layout in enumerate(layouts):
                ref = f"docker://{target.addr}/bench/{kind}{j}:1"
                if op == "push":
                    dt += skopeo(policy, f"oci:{layout}:1", ref)
                else:
                    dest = os.path.join(tmp, f"pull-{target.name}-{kind}-{j}")
                    dt += skopeo(policy, ref, f"oci:{dest}:1")
                    shutil.rmtree(dest)
            time.sleep(0.2)  # let the access log catch up
            out[f"{kind}_{op}_s"] = dt
            out[f"{kind}_{op}_requests"] = target.count_requests() - before
    return out


def measure(start: Callable[[str], contextlib.AbstractContextManager[Target]], tmp: str, policy: str, big: str,
            small: list[str], runs: int) -> tuple[str, dict[str, float]]:
    """Best time of each copy over `runs` fresh registries."""
    best: dict[str, float] = {}
    name = ""
    for i in range(runs):
        rundir = os.path.join(tmp, f"run-{i}")
        os.makedirs(rundir)
        with start(rundir) as target:
            name = target.name
            for k, v in measure_once(target, rundir, policy, big, small).items():
                best[k] = min(best.get(k, v), v) if k.endswith("_s") else v
        shutil.rmtree(rundir)
    return name, best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--big-mib", type=int, default=200)
    p.add_argument("--small", type=int, default=1000, help="small blobs, in images of up to 100 layers")
    p.add_argument("--runs", type=int, default=1, help="best of N runs, each against a fresh registry")
    args = p.parse_args()
    for tool in ("skopeo", "/usr/bin/docker-registry"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        policy = os.path.join(tmp, "policy.json")
        with open(policy, "w") as f:
            f.write('{"default": [{"type": "insecureAcceptAnything"}]}')
        big = os.path.join(tmp, "big")
        big_image(big, args.big_mib)
        small = []
        for j, first in enumerate(range(0, args.small, 100)):
            small.append(os.path.join(tmp, f"small{j}"))
            small_image(small[-1], min(100, args.small - first), j)
        results = {}
        for start in (pallet_registry, docker_registry):
            name, best = measure(start, tmp, policy, big, small, args.runs)
            results[name] = best
    mib = args.big_mib
    print(f"skopeo copy over loopback, best of {args.runs}; {mib} MiB layer; {args.small} small layers in "
          f"{len(small)} images")
    print(f"{'':28}{'pallet-registry':>18}{'docker-registry':>18}{'pallet/docker':>15}")
    p_, d_ = results["pallet-registry"], results["docker-registry"]
    for op in ("push", "pull"):
        pm, dm = mib / p_[f"big_{op}_s"], mib / d_[f"big_{op}_s"]
        print(f"{f'{mib} MiB blob {op} (MiB/s)':28}{pm:>18.1f}{dm:>18.1f}{pm / dm:>15.2f}")
    for op in ("push", "pull"):
        pb, db = args.small / p_[f"small_{op}_s"], args.small / d_[f"small_{op}_s"]
        print(f"{f'{args.small} blobs {op} (blobs/s)':28}{pb:>18.1f}{db:>18.1f}{pb / db:>15.2f}")
        pr, dr = p_[f"small_{op}_requests"] / p_[f"small_{op}_s"], d_[f"small_{op}_requests"] / d_[f"small_{op}_s"]
        print(f"{f'{args.small} blobs {op} (req/s)':28}{pr:>18.1f}{dr:>18.1f}{pr / dr:>15.2f}"
              f"   ({int(p_[f'small_{op}_requests'])} / {int(d_[f'small_{op}_requests'])} requests)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
