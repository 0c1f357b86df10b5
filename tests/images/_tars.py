"""Building tarballs (layers, archives) in memory for the imagesvc tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any


def entry(name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes | None = None, mode: int | None = None,
          link: str = "", uid: int = 0, gid: int = 0, mtime: int = 1_600_000_000, major: int = 0,
          minor: int = 0, pax: dict[str, str] | None = None) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode if mode is not None else (0o755 if kind == tarfile.DIRTYPE else 0o644)
    ti.linkname, ti.uid, ti.gid, ti.mtime = link, uid, gid, mtime
    ti.devmajor, ti.devminor = major, minor
    if pax:
        ti.pax_headers = dict(pax)
    if data is not None:
        ti.size = len(data)
    return ti, data


def file(name: str, data: bytes = b"", **kw: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    return entry(name, tarfile.REGTYPE, data=data, **kw)


def directory(name: str, **kw: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    return entry(name, tarfile.DIRTYPE, **kw)


def symlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes | None]:
    return entry(name, tarfile.SYMTYPE, link=target, mode=0o777)


def hardlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes | None]:
    return entry(name, tarfile.LNKTYPE, link=target)


def tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config(diff_ids: list[str], **extra: Any) -> bytes:
    doc = {"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
           "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    doc.update(extra)
    return json.dumps(doc).encode()


def docker_archive(layers: list[bytes], tags: list[str], cfg: bytes | None = None) -> bytes:
    """A classic `docker save` (Docker < 25) archive: <id>/layer.tar, <hex>.json, manifest.json."""
    from pallet.images._streams import detect  # noqa: PLC0415

    diff_ids = [sha(gzip.decompress(layer) if detect(layer) == "gzip" else layer) for layer in layers]
    cfg = cfg if cfg is not None else config(diff_ids)
    cfg_name = sha(cfg).removeprefix("sha256:") + ".json"
    files: list[tuple[tarfile.TarInfo, bytes | None]] = [file(cfg_name, cfg)]
    paths = []
    for i, layer in enumerate(layers):
        d = f"{i:064x}"
        files += [directory(d), file(f"{d}/VERSION", b"1.0"), file(f"{d}/layer.tar", layer)]
        paths.append(f"{d}/layer.tar")
    files.append(file("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": tags, "Layers": paths}]).encode()))
    return tar(files)


def oci_layout(layers: list[bytes], ref_names: list[str], *, nested_platforms: list[dict[str, str]] | None = None,
               cfg: bytes | None = None) -> tuple[bytes, str]:
    """An OCI image layout tarball; returns (tarball, image id). Layers given as stored (gzip or not)."""
    from pallet.images._streams import detect  # noqa: PLC0415

    diff_ids = [sha(gzip.decompress(layer) if detect(layer) == "gzip" else layer) for layer in layers]
    cfg = cfg if cfg is not None else config(diff_ids)
    blobs: dict[str, bytes] = {sha(cfg): cfg}
    layer_descs = []
    for layer in layers:
        mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if detect(layer) == "gzip" else "")
        blobs[sha(layer)] = layer
        layer_descs.append({"mediaType": mt, "digest": sha(layer), "size": len(layer)})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(cfg), "size": len(cfg)},
                           "layers": layer_descs}).encode()
    blobs[sha(manifest)] = manifest
    top = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
           "size": len(manifest)}
    if nested_platforms is not None:
        other = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                       "digest": "sha256:" + "f" * 64, "size": 1}, "layers": []}).encode()
        blobs[sha(other)] = other
        children = []
        for plat in nested_platforms:
            is_host = plat.get("architecture") == "amd64"
            m = manifest if is_host else other
            children.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(m),
                             "size": len(m), "platform": plat})
        nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                             "manifests": children}).encode()
        blobs[sha(nested)] = nested
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(nested), "size": len(nested)}
    entries = [{**top, "annotations": {"org.opencontainers.image.ref.name": n}} for n in ref_names] or [top]
    index = json.dumps({"schemaVersion": 2, "manifests": entries}).encode()
    files = [file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), file("index.json", index)]
    files += [file("blobs/sha256/" + d.removeprefix("sha256:"), data) for d, data in blobs.items()]
    return tar(files), sha(cfg)
