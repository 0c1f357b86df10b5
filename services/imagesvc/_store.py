"""Image records in SQLite (images.db, WAL).

An image is keyed by its ID (the config digest) and points at the manifest it
was stored with. Names are fully normalized references
(docker.io/library/busybox:latest) pointing at an image ID. `refs` lists the
snapshots (chain IDs) and blobs each image holds, so garbage collection can ask
"is anything still using this?" with one indexed query.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from pallet import errors
from pallet.sqlite import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    manifest_size INTEGER NOT NULL,
    size INTEGER NOT NULL,
    chain_ids TEXT NOT NULL,
    blobs TEXT NOT NULL,
    added_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS names (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS names_image ON names(image_id);
CREATE TABLE IF NOT EXISTS refs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    ref TEXT NOT NULL,
    PRIMARY KEY (image_id, ref)
);
CREATE INDEX IF NOT EXISTS refs_ref ON refs(ref);
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    used_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cache_refs (
    key TEXT NOT NULL REFERENCES build_cache(key) ON DELETE CASCADE,
    ref TEXT NOT NULL,
    PRIMARY KEY (key, ref)
);
CREATE INDEX IF NOT EXISTS cache_refs_ref ON cache_refs(ref);
"""


def snapshot_ref(chain_id: str) -> str:
    return "snapshot:" + chain_id


def blob_ref(digest: str) -> str:
    return "blob:" + digest


@dataclass
class ImageRecord:
    id: str
    manifest_digest: str
    manifest_media_type: str
    manifest_size: int
    size: int
    chain_ids: list[str]
    blobs: list[str]
    added_ns: int = 0
    names: list[str] = field(default_factory=list)


class ImageStore:
    def __init__(self, path: str) -> None:
        self._database = Database(path, _SCHEMA, foreign_keys=True)
        self._db, self._lock = self._database.conn, self._database.lock

    def close(self) -> None:
        self._database.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.tx()

    def _record(self, db: sqlite3.Connection, row: tuple) -> ImageRecord:
        rec = ImageRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6]), row[7])
        rec.names = [r[0] for r in db.execute("SELECT name FROM names WHERE image_id = ? ORDER BY name", (rec.id,))]
        return rec

    _COLS = "id, manifest_digest, manifest_media_type, manifest_size, size, chain_ids, blobs, added_ns"

    def get(self, image_id: str) -> ImageRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {self._COLS} FROM images WHERE id = ?", (image_id,)).fetchone()
            return None if row is None else self._record(self._db, row)

    def all(self) -> list[ImageRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {self._COLS} FROM images ORDER BY added_ns").fetchall()
            return [self._record(self._db, r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def by_name(self, name: str) -> ImageRecord | None:
        with self._lock:
            row = self._db.execute("SELECT image_id FROM names WHERE name = ?", (name,)).fetchone()
        return None if row is None else self.get(row[0])

    def search(self, hex_prefix: str) -> list[str]:
        """Image IDs starting with sha256:<hex_prefix> (the prefix is validated hex)."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT id FROM images WHERE substr(id, 8, ?) = ?", (len(hex_prefix), hex_prefix))]

    def referenced(self, ref: str) -> bool:
        with self._lock:
            return (self._db.execute("SELECT 1 FROM refs WHERE ref = ? LIMIT 1", (ref,)).fetchone() is not None
                    or self._db.execute("SELECT 1 FROM cache_refs WHERE ref = ? LIMIT 1", (ref,)).fetchone()
                    is not None)

    def all_refs(self) -> set[str]:
        """Every snapshot and blob an image record or a build cache entry references (the GC's roots)."""
        with self._lock:
            return ({r[0] for r in self._db.execute("SELECT DISTINCT ref FROM refs")}
                    | {r[0] for r in self._db.execute("SELECT DISTINCT ref FROM cache_refs")})

    # -- build cache ---------------------------------------------------------------

    def cache_put(self, key: str, data: str, refs: Iterable[str]) -> None:
        now = time.time_ns()
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO build_cache (key, data, created_ns, used_ns) VALUES (?, ?, ?, ?)",
                       (key, data, now, now))
            db.execute("DELETE FROM cache_refs WHERE key = ?", (key,))
            db.executemany("INSERT OR IGNORE INTO cache_refs (key, ref) VALUES (?, ?)", [(key, r) for r in refs])

    def cache_get(self, key: str) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT data FROM build_cache WHERE key = ?", (key,)).fetchone()
            if row is not None:
                db.execute("UPDATE build_cache SET used_ns = ? WHERE key = ?", (time.time_ns(), key))
        return None if row is None else str(row[0])

    def cache_entries(self) -> list[tuple[str, int, set[str]]]:
        """(key, last used ns, refs) of every cache entry."""
        with self._lock:
            rows = self._db.execute("SELECT key, used_ns FROM build_cache").fetchall()
            refs: dict[str, set[str]] = {}
            for k, r in self._db.execute("SELECT key, ref FROM cache_refs"):
                refs.setdefault(k, set()).add(r)
        return [(k, used, refs.get(k, set())) for k, used in rows]

    def cache_delete(self, keys: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM build_cache WHERE key = ?", [(k,) for k in keys])

    def add(self, items: Iterable[tuple[ImageRecord, Iterable[str]]]) -> list[ImageRecord]:
        """Insert images (one kept as it is if its ID exists) and point names at them, in one transaction."""
        items = [(rec, list(names)) for rec, names in items]
        with self._tx() as db:
            for rec, names in items:
                exists = db.execute("SELECT 1 FROM images WHERE id = ?", (rec.id,)).fetchone()
                if not exists:
                    db.execute(f"INSERT INTO images ({self._COLS}) VALUES (?,?,?,?,?,?,?,?)",
                               (rec.id, rec.manifest_digest, rec.manifest_media_type, rec.manifest_size,
                                rec.size, json.dumps(rec.chain_ids), json.dumps(rec.blobs), time.time_ns()))
                    refs = {snapshot_ref(c) for c in rec.chain_ids} | {blob_ref(b) for b in rec.blobs}
                    db.executemany("INSERT INTO refs (image_id, ref) VALUES (?, ?)",
                                   [(rec.id, r) for r in sorted(refs)])
                for name in names:
                    db.execute("INSERT OR REPLACE INTO names (name, image_id) VALUES (?, ?)", (name, rec.id))
        out = []
        for rec, _ in items:
            got = self.get(rec.id)
            assert got is not None
            out.append(got)
        return out

    def tag(self, name: str, image_id: str) -> None:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
                raise errors.NotFound(f"No such image: {image_id}")
            db.execute("INSERT OR REPLACE INTO names (name, image_id) VALUES (?, ?)", (name, image_id))

    def untag(self, names: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM names WHERE name = ?", [(n,) for n in names])

    def delete(self, image_id: str) -> ImageRecord | None:
        """Remove the image row, its names and refs; returns what was removed."""
        with self._tx() as db:
            row = db.execute(f"SELECT {self._COLS} FROM images WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                return None
            rec = self._record(db, row)
            db.execute("DELETE FROM names WHERE image_id = ?", (image_id,))
            db.execute("DELETE FROM refs WHERE image_id = ?", (image_id,))
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))
        return rec

    def set_manifest(self, image_id: str, manifest_digest: str, media_type: str, size: int,
                     add_blobs: Iterable[str]) -> None:
        """Point an image at another manifest of the same config (push compressed its layers); keep the blobs."""
        with self._tx() as db:
            row = db.execute("SELECT blobs FROM images WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                raise errors.NotFound(f"No such image: {image_id}")
            blobs = list(dict.fromkeys([*json.loads(row[0]), manifest_digest, *add_blobs]))
            db.execute("UPDATE images SET manifest_digest = ?, manifest_media_type = ?, manifest_size = ?, blobs = ? "
                       "WHERE id = ?", (manifest_digest, media_type, size, json.dumps(blobs), image_id))
            db.executemany("INSERT OR IGNORE INTO refs (image_id, ref) VALUES (?, ?)",
                           [(image_id, blob_ref(b)) for b in blobs])
