"""From a layer stream to a committed snapshot and a blob, in one pass; and image records.

unpack_layer tees the raw (or, for bzip2/xz, the decompressed) bytes into
the content store, hashes the uncompressed stream for the DiffID and applies
it to a temporary active snapshot, which is committed under the layer's chain
ID only once the whole layer applied and every digest matched. A layer that is
already there is only hashed (to verify the blob), not unpacked again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pallet import errors
from pallet.images import _oci
from pallet.images._backend import Backend, Op
from pallet.images._content import sha256_digest
from pallet.images._layers import apply_tar
from pallet.images._snapshots import COMMITTED, LAYER_LABEL, SIZE_LABEL, TEMP_PREFIX
from pallet.images._store import ImageRecord
from pallet.images._streams import GZIP, PLAIN, HashReader, PeekReader, Reader, TeeReader, decompress, detect, drain


@dataclass
class Layer:
    desc: _oci.Desc  # the blob as stored
    diff_id: str
    chain_id: str
    size: int  # bytes of file content


def _existing_layer(backend: Backend, chain: str) -> int | None:
    """The recorded size of a committed layer snapshot, or None if there is none."""
    try:
        snap = backend.snapshots.stat(chain)
    except errors.NotFound:
        return None
    if snap.kind != COMMITTED:
        raise errors.FailedPrecondition(f"snapshot {chain} exists but is not committed")
    try:
        return int(snap.labels.get(SIZE_LABEL, "0"))
    except ValueError:
        return 0


def unpack_layer(backend: Backend, op: Op, raw: Reader, parent: str, *, diff_id: str | None = None,
                 blob: _oci.Desc | None = None, what: str = "layer") -> Layer:
    """Store and apply one layer on top of the committed snapshot `parent` ("" for none).

    diff_id, when known (load), is checked and lets an existing layer be
    reused; blob, when known, is the descriptor the stored bytes must match.
    """
    peek = PeekReader(raw)
    kind = detect(peek.peek(8))
    keep_raw = blob is not None or kind in (PLAIN, GZIP)
    writer = backend.content.writer(blob.digest if blob else None, blob.size if blob else None)
    temp = ""
    try:
        src: Reader
        if keep_raw:
            src = TeeReader(peek, writer.write)
            stream = decompress(src, kind, what)
        else:  # bzip2/xz have no OCI media type: store them uncompressed
            src = peek
            stream = TeeReader(decompress(peek, kind, what), writer.write)
        hashed = HashReader(stream)
        chain = _oci.chain_id(parent, diff_id) if diff_id else ""
        size: int | None = None
        if chain:
            op.hold_snapshot(chain)
            size = _existing_layer(backend, chain)
        if size is not None:
            drain(hashed)
        else:
            temp = f"{TEMP_PREFIX}{uuid.uuid4().hex}"
            backend.snapshots.prepare(temp, parent, labels={"pallet.io/temp": "1"})
            size = apply_tar(hashed, backend.snapshots.fs_path(temp))
            drain(hashed)
        drain(src)
        if diff_id and hashed.digest != diff_id:
            raise errors.InvalidArgument(
                f"{what}: content does not match the image config: diff ID {hashed.digest}, expected {diff_id}")
        digest = writer.verify()
        op.hold_blob(digest)
        _, created = writer.commit()
        if created:
            op.created_blobs.append(digest)
        if not chain:
            chain = _oci.chain_id(parent, hashed.digest)
            op.hold_snapshot(chain)
        if temp:
            try:
                backend.snapshots.commit(chain, temp, labels={SIZE_LABEL: str(size), LAYER_LABEL: "true"})
                op.created_snapshots.append(chain)
                temp = ""
            except errors.AlreadyExists:
                pass  # unpacked concurrently (or before): the temporary copy goes
        media_type = _oci.MT_OCI_LAYER_GZIP if kind == GZIP and keep_raw else _oci.MT_OCI_LAYER
        if blob is not None and blob.media_type:
            media_type = blob.media_type
        return Layer(_oci.Desc(media_type, digest, writer.size), hashed.digest, chain, size)
    finally:
        writer.abort()
        if temp:
            try:
                backend.snapshots.remove(temp)
            except errors.PalletError as exc:
                backend.log.warning("cannot remove temporary snapshot", key=temp, error=str(exc))


def put_blob(backend: Backend, op: Op, data: bytes, expected: str | None = None) -> str:
    digest = _oci.check_digest(expected, "digest") if expected else sha256_digest(data)
    op.hold_blob(digest)
    got, created = backend.content.put(data, digest)
    if created:
        op.created_blobs.append(got)
    return got


def prepare_image(backend: Backend, op: Op, config: bytes, layers: list[Layer],
                  manifest: bytes | None = None, manifest_media_type: str = _oci.MT_OCI_MANIFEST,
                  config_media_type: str = _oci.MT_OCI_CONFIG) -> ImageRecord:
    """Store config and manifest (written from the layers if not given); the record to add."""
    diff_ids = _oci.check_config(_oci.loads(config, "image config"))
    got = [layer.diff_id for layer in layers]
    if got != diff_ids:
        raise errors.InvalidArgument(
            f"invalid image: its config lists {len(diff_ids)} layers, the archive gives {len(got)} that differ")
    config_digest = put_blob(backend, op, config)
    if manifest is None:
        manifest = _oci.manifest(_oci.Desc(config_media_type, config_digest, len(config)),
                                 [layer.desc for layer in layers])
        manifest_media_type = _oci.MT_OCI_MANIFEST
    manifest_digest = put_blob(backend, op, manifest)
    return ImageRecord(
        id=config_digest, manifest_digest=manifest_digest, manifest_media_type=manifest_media_type,
        manifest_size=len(manifest), size=sum(layer.size for layer in layers),
        chain_ids=[layer.chain_id for layer in layers],
        blobs=list(dict.fromkeys([manifest_digest, config_digest, *(layer.desc.digest for layer in layers)])),
    )
