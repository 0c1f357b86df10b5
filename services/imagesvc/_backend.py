"""The three stores together, plus leases and garbage collection.

An operation (import, load, save) leases every snapshot and blob it touches
before it checks that they exist, and collection only removes what is neither
leased nor referenced by an image record, deciding and removing under the
lease lock: a layer another operation is building on is never removed under
it. Whatever an operation created and no image ended up referencing (a failed
load, a duplicate) is collected when the operation ends.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pallet import errors, log
from pallet.images._content import ContentStore
from pallet.images._snapshots import LAYER_LABEL, Snapshotter
from pallet.images._store import ImageStore, blob_ref, snapshot_ref


class Leases:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._held: Counter[str] = Counter()

    def acquire(self, items: Iterable[str]) -> None:
        with self.lock:
            self._held.update(items)

    def release(self, items: Iterable[str]) -> None:
        with self.lock:
            self._held.subtract(items)
            for k in [k for k, v in self._held.items() if v <= 0]:
                del self._held[k]

    def held(self, item: str) -> bool:
        with self.lock:
            return self._held.get(item, 0) > 0


class Op:
    """One operation's leases and what it created (collected if left unreferenced)."""

    def __init__(self, leases: Leases) -> None:
        self._leases = leases
        self._items: list[str] = []
        self.created_snapshots: list[str] = []
        self.created_blobs: list[str] = []

    def hold_snapshot(self, name: str) -> None:
        self._hold(snapshot_ref(name))

    def hold_blob(self, digest: str) -> None:
        self._hold(blob_ref(digest))

    def _hold(self, item: str) -> None:
        self._leases.acquire([item])
        self._items.append(item)

    def release(self) -> None:
        self._leases.release(self._items)
        self._items = []


class Backend:
    def __init__(self, root: str) -> None:
        self.root = root
        self.tmp_dir = os.path.join(root, "tmp")
        os.makedirs(self.tmp_dir, mode=0o700, exist_ok=True)
        self.content = ContentStore(os.path.join(root, "content"))
        self.snapshots = Snapshotter(os.path.join(root, "snapshots"))
        self.store = ImageStore(os.path.join(root, "images.db"))
        self.leases = Leases()
        self.log = log.get("backend")

    def close(self) -> None:
        self.snapshots.close()
        self.store.close()

    def recover(self) -> None:
        """Clean what a crash left: partial blobs, temporary snapshots and spool files."""
        ingest = self.content.cleanup()
        snaps = self.snapshots.cleanup()
        spool = 0
        for name in os.listdir(self.tmp_dir):
            path = os.path.join(self.tmp_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
            spool += 1
        layers, blobs = self._collect_orphans()
        if ingest or snaps or spool or layers or blobs:
            self.log.info("cleaned up after previous run", ingest=ingest, snapshots=snaps, spool=spool,
                          layers=layers, blobs=blobs)

    def _collect_orphans(self) -> tuple[int, int]:
        """Layers and blobs no image references: a crash between unpacking and recording.

        Only imagesvc creates layer snapshots (labelled) and blobs, and nothing
        is in flight before serving starts, so whatever is unreferenced now is garbage.
        """
        layers = [s.name for s in self.snapshots.list_snapshots([f"label={LAYER_LABEL}"])]
        removed = 0
        while True:  # top layers first frees the ones below them
            gone = self.collect(list(reversed(layers)), [])
            if not gone:
                break
            removed += len(gone)
            layers = [n for n in layers if n not in gone]
        blobs = [b.digest for b in self.content.list_blobs() if not self.store.referenced(blob_ref(b.digest))]
        self.collect([], blobs)
        return removed, len(blobs)

    def temp_path(self, prefix: str) -> str:
        """A fresh path under <root>/tmp (never outside the root)."""
        return os.path.join(self.tmp_dir, f"{prefix}-{uuid.uuid4().hex}")

    @contextmanager
    def operation(self) -> Iterator[Op]:
        op = Op(self.leases)
        try:
            yield op
        finally:
            op.release()
            self.collect(list(reversed(op.created_snapshots)), op.created_blobs)

    def collect(self, snapshots: list[str], blobs: list[str]) -> list[str]:
        """Remove the given snapshots (top first) and blobs if nothing uses them; returns removed snapshots."""
        removed: list[str] = []
        for name in snapshots:
            with self.leases.lock:
                if self.leases.held(snapshot_ref(name)) or self.store.referenced(snapshot_ref(name)):
                    continue
                try:
                    self.snapshots.remove(name)
                    removed.append(name)
                except (errors.NotFound, errors.FailedPrecondition):
                    continue  # gone already, or a container's snapshot sits on it
        for digest in blobs:
            with self.leases.lock:
                if self.leases.held(blob_ref(digest)) or self.store.referenced(blob_ref(digest)):
                    continue
                try:
                    self.content.delete(digest)
                except errors.NotFound:
                    continue
        return removed
