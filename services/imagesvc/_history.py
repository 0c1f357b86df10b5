"""docker history: the image config's history, newest first, with each layer's snapshot size."""

from __future__ import annotations

import contextlib
from typing import Any

from pallet import reference
from pallet.images._backend import Backend
from pallet.images._store import ImageRecord
from pallet.images.v1 import images_pb2 as ipb


def history(backend: Backend, rec: ImageRecord, cfg: dict[str, Any]) -> list[ipb.HistoryEntry]:
    """Docker's rule: entries that made a layer take the next layer's size; the newest entry
    carries the image ID and tags, the others "<missing>" (no parent images here)."""
    raw = cfg.get("history")
    items = [h for h in raw if isinstance(h, dict)] if isinstance(raw, list) else []
    out: list[ipb.HistoryEntry] = []
    layer = 0
    for h in items:
        empty = bool(h.get("empty_layer"))
        size = 0
        if not empty and layer < len(rec.chain_ids):
            with contextlib.suppress(Exception):
                size = backend.snapshots.usage(rec.chain_ids[layer])[0]
            layer += 1
        entry = ipb.HistoryEntry(id="<missing>", created_by=str(h.get("created_by") or ""), size=size,
                                 comment=str(h.get("comment") or ""), empty_layer=empty)
        created = h.get("created")
        if isinstance(created, str) and created:
            with contextlib.suppress(ValueError):
                entry.created.FromJsonString(created)
        out.append(entry)
    out.reverse()
    if out:
        out[0].id = rec.id
        out[0].tags.extend(reference.parse(n).familiar() for n in rec.names if reference.parse(n).tag)
    return out
