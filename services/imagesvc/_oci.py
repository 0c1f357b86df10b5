"""OCI image-spec vocabulary: media types, chain IDs, the host platform, JSON documents."""

from __future__ import annotations

import hashlib
import json
import platform as _platform
import re
from dataclasses import dataclass, field
from typing import Any

from pallet import errors

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)
MANIFEST_TYPES = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
LAYER_TYPES = (MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_DOCKER_LAYER_GZIP,
               "application/vnd.oci.image.layer.nondistributable.v1.tar",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_GOARCH = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
           "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", ""),
           "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


@dataclass
class Desc:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out


def host_platform() -> tuple[str, str, str]:
    """(os, architecture, variant) in GOOS/GOARCH terms."""
    arch, variant = _GOARCH.get(_platform.machine().lower(), (_platform.machine().lower(), ""))
    return "linux", arch, variant


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def chain_id(parent: str, diff_id: str) -> str:
    return diff_id if not parent else "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def dumps(doc: Any) -> bytes:
    """Canonical-enough JSON: compact, keys in the order given."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidArgument(f"invalid {what}: not JSON ({exc})") from None


def check_digest(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise errors.InvalidArgument(f"invalid {what}: bad digest {value!r}")
    return value


def parse_desc(doc: Any, what: str) -> Desc:
    if not isinstance(doc, dict):
        raise errors.InvalidArgument(f"invalid {what}: descriptor is not an object")
    size = doc.get("size")
    if not isinstance(size, int) or size < 0:
        raise errors.InvalidArgument(f"invalid {what}: bad size {size!r}")
    ann = doc.get("annotations") or {}
    plat = doc.get("platform")
    return Desc(str(doc.get("mediaType") or ""), check_digest(doc.get("digest"), what), size,
                {str(k): str(v) for k, v in ann.items()} if isinstance(ann, dict) else {},
                {str(k): str(v) for k, v in plat.items() if isinstance(v, str)} if isinstance(plat, dict) else None)


def check_config(doc: Any) -> list[str]:
    """The diff IDs of an image config, validated."""
    if not isinstance(doc, dict):
        raise errors.InvalidArgument("invalid image config: not an object")
    rootfs = doc.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if diff_ids is None:
        diff_ids = []
    if not isinstance(diff_ids, list):
        raise errors.InvalidArgument("invalid image config: rootfs.diff_ids is not a list")
    return [check_digest(d, "image config diff_id") for d in diff_ids]


def manifest(config: Desc, layers: list[Desc]) -> bytes:
    return dumps({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    })


def platform_matches(plat: dict[str, str] | None) -> bool:
    os_, arch, variant = host_platform()
    if not plat:
        return False
    if plat.get("os") != os_ or plat.get("architecture") != arch:
        return False
    return not (variant and plat.get("variant") and plat.get("variant") != variant)
