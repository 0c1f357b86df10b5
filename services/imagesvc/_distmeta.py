"""What imagesvc remembers about registries (<root>/distribution.db), like Docker's distribution metadata.

* `sources`: which repositories of which registry hold a blob (filled by pull and push), so a
  push to another repository of the same registry can mount it instead of uploading it.
* `compressed`: the gzip blob made once for a layer stored uncompressed (import, load), by
  its diff ID, so later pushes reuse it (and keep the same manifest digest).

It holds no references: image records do (a compressed blob is added to the image's blobs).
"""

from __future__ import annotations

import os
import threading

from pallet.sqlite import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    digest TEXT NOT NULL,
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    PRIMARY KEY (digest, registry, repository)
);
CREATE TABLE IF NOT EXISTS compressed (
    diff_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (diff_id, media_type)
);
"""

_lock = threading.Lock()
_dbs: dict[str, DistMeta] = {}


class DistMeta:
    def __init__(self, path: str) -> None:
        self._db = Database(path, _SCHEMA, synchronous="NORMAL")

    def add_sources(self, registry: str, repository: str, digests: list[str]) -> None:
        with self._db.tx() as db:
            db.executemany("INSERT OR IGNORE INTO sources (digest, registry, repository) VALUES (?, ?, ?)",
                           [(d, registry, repository) for d in digests])

    def sources(self, digest: str, registry: str) -> list[str]:
        with self._db.lock:
            return [r[0] for r in self._db.conn.execute(
                "SELECT repository FROM sources WHERE digest = ? AND registry = ? ORDER BY rowid DESC",
                (digest, registry))]

    def known(self, digest: str) -> bool:
        """Was this blob pulled from (or pushed to) some registry?"""
        with self._db.lock:
            return self._db.conn.execute("SELECT 1 FROM sources WHERE digest = ? LIMIT 1",
                                         (digest,)).fetchone() is not None

    def compressed(self, diff_id: str, media_type: str) -> tuple[str, int] | None:
        with self._db.lock:
            row = self._db.conn.execute("SELECT digest, size FROM compressed WHERE diff_id = ? AND media_type = ?",
                                        (diff_id, media_type)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def set_compressed(self, diff_id: str, media_type: str, digest: str, size: int) -> None:
        with self._db.tx() as db:
            db.execute("INSERT OR REPLACE INTO compressed (diff_id, digest, media_type, size) VALUES (?, ?, ?, ?)",
                       (diff_id, digest, media_type, size))


def for_root(root: str) -> DistMeta:
    """The one DistMeta of an imagesvc root."""
    path = os.path.join(root, "distribution.db")
    with _lock:
        if path not in _dbs:
            _dbs[path] = DistMeta(path)
        return _dbs[path]
