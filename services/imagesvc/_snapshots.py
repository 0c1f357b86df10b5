"""The overlayfs snapshotter: snapshots/<id>/{fs,work} plus snapshots/metadata.db.

Directory names are numeric IDs so overlay option strings stay short. A
snapshot is a row first and a directory second: rows are written in a
transaction before the directory is made and deleted before it is removed, so
after a crash every directory without a row is garbage (removed on start).
Temporary snapshots used while unpacking layers carry TEMP_PREFIX keys and are
removed on start too; a layer becomes visible only when committed whole.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from pallet import errors, log
from pallet.fsutil import disk_usage
from pallet.images import _idmap
from pallet.sqlite import Database

VIEW, ACTIVE, COMMITTED = "view", "active", "committed"
TEMP_PREFIX = "pallet-extract-"
SIZE_LABEL = "pallet.io/uncompressed-size"
LAYER_LABEL = "pallet.io/layer"  # committed by imagesvc itself from an image layer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES snapshots(id),
    kind TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    created_ns INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT -1,
    inodes INTEGER NOT NULL DEFAULT -1
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent_id);
"""


@dataclass
class Mount:
    type: str
    source: str
    options: list[str] = field(default_factory=list)


@dataclass
class Snapshot:
    id: int
    name: str
    parent: str
    kind: str
    labels: dict[str, str]
    created_ns: int
    size: int
    inodes: int


class Snapshotter:
    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, mode=0o700, exist_ok=True)
        self._database = Database(os.path.join(root, "metadata.db"), _SCHEMA)
        self._db, self._lock = self._database.conn, self._database.lock
        self.log = log.get("snapshots")

    def close(self) -> None:
        self._database.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.tx()

    # -- paths ---------------------------------------------------------------

    def _dir(self, sid: int) -> str:
        return os.path.join(self.root, str(sid))

    def fs_dir(self, sid: int) -> str:
        return os.path.join(self._dir(sid), "fs")

    def work_dir(self, sid: int) -> str:
        return os.path.join(self._dir(sid), "work")

    # -- records -------------------------------------------------------------

    def _row(self, db: sqlite3.Connection, name: str) -> Snapshot | None:
        r = db.execute(
            "SELECT s.id, s.name, COALESCE(p.name, ''), s.kind, s.labels, s.created_ns, s.size, s.inodes "
            "FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id WHERE s.name = ?", (name,)).fetchone()
        return None if r is None else Snapshot(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7])

    def _get(self, db: sqlite3.Connection, name: str) -> Snapshot:
        snap = self._row(db, name)
        if snap is None:
            raise errors.NotFound(f"snapshot {name} does not exist")
        return snap

    def _chain(self, db: sqlite3.Connection, sid: int | None) -> list[int]:
        """IDs from sid down to the bottom layer."""
        out: list[int] = []
        while sid is not None:
            out.append(sid)
            row = db.execute("SELECT parent_id FROM snapshots WHERE id = ?", (sid,)).fetchone()
            sid = row[0] if row else None
        return out

    def stat(self, name: str) -> Snapshot:
        with self._lock:
            return self._get(self._db, name)

    def exists(self, name: str) -> bool:
        with self._lock:
            return self._row(self._db, name) is not None

    def has_children(self, name: str) -> bool:
        with self._lock:
            r = self._db.execute("SELECT 1 FROM snapshots c JOIN snapshots p ON c.parent_id = p.id "
                                 "WHERE p.name = ? LIMIT 1", (name,)).fetchone()
            return r is not None

    def list_snapshots(self, filters: list[str] | None = None) -> list[Snapshot]:
        want: list[tuple[str, str]] = []
        for f in filters or []:
            key, sep, value = f.partition("=")
            if not sep or key not in ("kind", "parent", "name", "label"):
                raise errors.InvalidArgument(f"invalid filter '{f}'")
            want.append((key, value))
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT name FROM snapshots ORDER BY id")]
            snaps = [self._get(self._db, n) for n in names]
        out = []
        for s in snaps:
            ok = True
            for key, value in want:
                if key == "label":
                    k, has_v, v = value.partition("=")
                    ok = k in s.labels and (not has_v or s.labels[k] == v)
                else:
                    ok = {"kind": s.kind, "parent": s.parent, "name": s.name}[key] == value
                if not ok:
                    break
            if ok:
                out.append(s)
        return out

    # -- lifecycle -----------------------------------------------------------

    def _create(self, kind: str, key: str, parent: str, labels: dict[str, str] | None) -> list[Mount]:
        if not key:
            raise errors.InvalidArgument("snapshot key must not be empty")
        with self._tx() as db:
            if self._row(db, key) is not None:
                raise errors.AlreadyExists(f"snapshot {key} already exists")
            parent_id = None
            if parent:
                p = self._get(db, parent)
                if p.kind != COMMITTED:
                    raise errors.FailedPrecondition(f"parent snapshot {parent} is not committed")
                parent_id = p.id
            cur = db.execute("INSERT INTO snapshots (name, parent_id, kind, labels, created_ns) VALUES (?,?,?,?,?)",
                             (key, parent_id, kind, json.dumps(labels or {}), time.time_ns()))
            sid = int(cur.lastrowid or 0)
            # The directory is made inside the transaction: if this fails the row
            # is rolled back; if we crash before COMMIT the row is gone and the
            # directory is swept as an orphan on start.
            shutil.rmtree(self._dir(sid), ignore_errors=True)  # no row owns it
            try:
                os.makedirs(self.fs_dir(sid), mode=0o755)
                if kind == ACTIVE:
                    os.makedirs(self.work_dir(sid), mode=0o700)
                if labels and _idmap.LABEL in labels:
                    os.chown(self.fs_dir(sid), *_idmap.parse(labels[_idmap.LABEL]))
                mounts = self._mounts(db, self._get(db, key))
            except BaseException:
                shutil.rmtree(self._dir(sid), ignore_errors=True)
                raise
        return mounts

    def prepare(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(VIEW, key, parent, labels)

    def mounts(self, key: str) -> list[Mount]:
        with self._lock:
            snap = self._get(self._db, key)
            if snap.kind == COMMITTED:
                raise errors.FailedPrecondition(f"snapshot {key} is committed: prepare or view it to mount it")
            return self._mounts(self._db, snap)

    def _mounts(self, db: sqlite3.Connection, snap: Snapshot) -> list[Mount]:
        parent_id = db.execute("SELECT parent_id FROM snapshots WHERE id = ?", (snap.id,)).fetchone()[0]
        lowers = [self.fs_dir(i) for i in self._chain(db, parent_id)]
        if _idmap.LABEL in snap.labels:  # a user-namespace remapped container: layers owned by its IDs
            uid, gid, size = _idmap.parse_full(snap.labels[_idmap.LABEL])
            lowers = [_idmap.shifted(d, uid, gid, size) for d in lowers]
        if snap.kind == ACTIVE:
            if not lowers:
                return [Mount("bind", self.fs_dir(snap.id), ["rbind", "rw"])]
            return [Mount("overlay", "overlay", [
                "index=off", "lowerdir=" + ":".join(lowers),
                f"upperdir={self.fs_dir(snap.id)}", f"workdir={self.work_dir(snap.id)}"])]
        if not lowers:
            return [Mount("bind", self.fs_dir(snap.id), ["rbind", "ro"])]
        if len(lowers) == 1:
            return [Mount("bind", lowers[0], ["rbind", "ro"])]
        return [Mount("overlay", "overlay", ["index=off", "lowerdir=" + ":".join(lowers)])]

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> Snapshot:
        if not name:
            raise errors.InvalidArgument("snapshot name must not be empty")
        with self._lock:
            snap = self._get(self._db, key)
        if snap.kind != ACTIVE:
            raise errors.FailedPrecondition(f"snapshot {key} is not active")
        size, inodes = disk_usage(self.fs_dir(snap.id))
        with self._tx() as db:
            snap = self._get(db, key)
            if snap.kind != ACTIVE:
                raise errors.FailedPrecondition(f"snapshot {key} is not active")
            if self._row(db, name) is not None:
                raise errors.AlreadyExists(f"snapshot {name} already exists")
            merged = {k: v for k, v in snap.labels.items() if k != "pallet.io/temp"}
            merged.update(labels or {})
            db.execute("UPDATE snapshots SET name = ?, kind = ?, labels = ?, size = ?, inodes = ? WHERE id = ?",
                       (name, COMMITTED, json.dumps(merged), size, inodes, snap.id))
        shutil.rmtree(self.work_dir(snap.id), ignore_errors=True)
        return self.stat(name)

    def remove(self, key: str) -> None:
        with self._tx() as db:
            snap = self._get(db, key)
            child = db.execute("SELECT name FROM snapshots WHERE parent_id = ? LIMIT 1", (snap.id,)).fetchone()
            if child is not None:
                raise errors.FailedPrecondition(
                    f"cannot remove snapshot {key}: snapshot {child[0]} depends on it")
            db.execute("DELETE FROM snapshots WHERE id = ?", (snap.id,))
        self._rmdir(snap.id)

    def _rmdir(self, sid: int) -> None:
        path = self._dir(sid)
        # Renamed away first so a half-removed tree never sits at a live ID.
        trash = os.path.join(self.root, f"rm-{sid}")
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def usage(self, key: str) -> tuple[int, int]:
        snap = self.stat(key)
        if snap.kind == COMMITTED and snap.size >= 0:
            return snap.size, snap.inodes
        return disk_usage(self.fs_dir(snap.id))

    def fs_path(self, key: str) -> str:
        """The directory a layer is applied to: an active snapshot's upper dir."""
        snap = self.stat(key)
        if snap.kind != ACTIVE:
            raise errors.FailedPrecondition(f"snapshot {key} is not active")
        return self.fs_dir(snap.id)

    # -- recovery ------------------------------------------------------------

    def cleanup(self) -> int:
        """Remove temporary snapshots and directories without a row; returns how many."""
        removed = 0
        with self._lock:
            temps = [r[0] for r in self._db.execute(
                "SELECT name FROM snapshots WHERE kind != ? AND name LIKE ? ORDER BY id DESC",
                (COMMITTED, TEMP_PREFIX + "%"))]
        for name in temps:
            try:
                self.remove(name)
                removed += 1
            except errors.PalletError as exc:
                self.log.warning("cannot remove temporary snapshot", name=name, error=str(exc))
        with self._lock:
            ids = {str(r[0]) for r in self._db.execute("SELECT id FROM snapshots")}
        for entry in os.listdir(self.root):
            path = os.path.join(self.root, entry)
            if not os.path.isdir(path) or os.path.islink(path) or entry in ids:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        return removed
