"""Container records in SQLite (WAL): one row per container, the record a
serialized pallet.engine.v1.Container so fields can be added freely."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager

from pallet import errors
from pallet.engine.v1 import engine_pb2 as pb
from pallet.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    data    BLOB NOT NULL
);
"""


class ContainerStore:
    """Thread-safe access to the containers table; every write is a transaction."""

    def __init__(self, path: str) -> None:
        self._database = Database(path, SCHEMA, synchronous="NORMAL")
        self._db, self._lock = self._database.conn, self._database.lock

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.tx()

    def add(self, ctr: pb.Container) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO containers (id, name, created, data) VALUES (?, ?, ?, ?)",
                    (ctr.id, ctr.name, ctr.created.ToNanoseconds(), ctr.SerializeToString()),
                )
        except sqlite3.IntegrityError:
            raise self.name_conflict(ctr.name) from None

    def name_conflict(self, name: str) -> errors.AlreadyExists:
        """Docker's error for a name another container already has."""
        owner = self.find_by_name(name)
        return errors.AlreadyExists(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{owner.id if owner else "?"}". You have to remove (or rename) that container '
            "to be able to reuse that name.")

    def put(self, ctr: pb.Container) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE containers SET name = ?, data = ? WHERE id = ?",
                (ctr.name, ctr.SerializeToString(), ctr.id),
            )

    def delete(self, cid: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM containers WHERE id = ?", (cid,))

    def get(self, cid: str) -> pb.Container | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM containers WHERE id = ?", (cid,)).fetchone()
        return pb.Container.FromString(row[0]) if row else None

    def find_by_name(self, name: str) -> pb.Container | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM containers WHERE name = ?", (name,)).fetchone()
        return pb.Container.FromString(row[0]) if row else None

    def resolve(self, ref: str) -> pb.Container:
        """A container by full ID, name (with or without '/'), or unique ID prefix."""
        if not ref:
            raise errors.InvalidArgument("container name or ID must not be empty")
        ctr = self.get(ref) or self.find_by_name(ref.removeprefix("/"))
        if ctr is not None:
            return ctr
        if all(c in "0123456789abcdef" for c in ref):
            with self._lock:
                rows = self._db.execute(
                    "SELECT data FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",)
                ).fetchall()
            if len(rows) == 1:
                return pb.Container.FromString(rows[0][0])
            if len(rows) > 1:
                raise errors.InvalidArgument(f"multiple containers found with provided prefix: {ref}")
        raise errors.NotFound(f"No such container: {ref}")

    def all(self) -> list[pb.Container]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM containers ORDER BY created DESC").fetchall()
        return [pb.Container.FromString(r[0]) for r in rows]

    def close(self) -> None:
        self._database.close()
