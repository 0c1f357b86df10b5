"""docker import: a one-layer image from a root filesystem tarball (plain or compressed)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from pallet import errors, reference
from pallet.images import _oci
from pallet.images._backend import Backend
from pallet.images._changes import apply_changes
from pallet.images._store import ImageRecord
from pallet.images._streams import IterReader, PeekReader
from pallet.images._unpack import prepare_image, unpack_layer


def rfc3339_now() -> str:
    """Go's time.RFC3339Nano in UTC, as Docker writes `created`."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    frac_s = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{frac_s}Z" if frac_s else f"{stamp}Z"


def import_image(backend: Backend, chunks: Iterable[bytes], ref: str = "", message: str = "",
                 changes: Iterable[str] = (), platform: tuple[str, str, str] | None = None) -> ImageRecord:
    """Store the tarball as a layer, unpack it, write config and manifest, record (and name) the image."""
    names = [str(reference.parse_tag_target(ref))] if ref else []
    container_config = apply_changes({}, list(changes))
    host_os, host_arch, host_variant = _oci.host_platform()
    os_, arch, variant = platform or ("", "", "")
    if os_ and os_ != "linux":
        raise errors.InvalidArgument(f"operating system is not supported: {os_}")
    if not arch:
        arch, variant = host_arch, variant or host_variant
    comment = message or "Imported from -"
    with backend.operation() as op:
        raw = PeekReader(IterReader(chunks))
        if not raw.peek(1):
            raise errors.InvalidArgument("import: empty input: not a tar archive")
        layer = unpack_layer(backend, op, raw, "", what="import")
        created = rfc3339_now()
        config: dict[str, object] = {"architecture": arch, "os": host_os}
        if variant:
            config["variant"] = variant
        config.update({
            "created": created,
            "comment": comment,
            "config": container_config,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            "history": [{"created": created, "comment": comment}],
        })
        rec = prepare_image(backend, op, _oci.dumps(config), [layer])
        return backend.store.add([(rec, names)])[0]
