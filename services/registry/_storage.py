"""Filesystem storage of pallet-registry.

Layout under the root::

    blobs/<alg>/<hex>     content-addressed blobs (layers, configs and manifests), shared by every repository
    uploads/<uuid>        partial uploads (data only); their owner repository is in the database
    registry.db           SQLite (WAL): which repository links which blobs / manifests, what each manifest
                          references (manifest_refs), tags, open uploads

Every blob is written to a file under uploads/, fsynced, verified (digest and size) and renamed into blobs/;
the rename is atomic and two pushes of the same digest write identical bytes, so concurrent pushes are safe.
A crash between the rename and the database insert leaves an unreferenced blob (garbage for GC), never a
link to a missing or partial blob.

Garbage collection (``_gc.py``) runs while the registry serves. ``sweep_lock`` orders it with pushes: a blob
commit (rename + link), a manifest put (check referenced blobs + insert) and GC's removal of one blob
(re-check unreferenced + drop links, then unlink the file) each hold it, so a push either sees the blob
gone (and fails cleanly) or GC sees the new reference (and keeps the blob).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid as uuid_mod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pallet.fsutil import fsync_dir
from pallet.sqlite import Database

ALGORITHMS = {"sha256": 64, "sha512": 128}
DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS repo_blobs (
    repo TEXT NOT NULL, digest TEXT NOT NULL, linked REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repo_blobs_digest ON repo_blobs (digest);
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    subject TEXT, artifact_type TEXT, annotations TEXT, created REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repo, subject);
CREATE INDEX IF NOT EXISTS manifests_digest ON manifests (digest);
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL, manifest TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (repo, manifest, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_refs_digest ON manifest_refs (digest);
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, tag)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (uuid TEXT PRIMARY KEY, repo TEXT NOT NULL, started REAL NOT NULL);
"""


def parse_digest(digest: str) -> tuple[str, str] | None:
    """(algorithm, hex) of a supported, well-formed digest, else None."""
    m = DIGEST_RE.match(digest)
    if not m or len(m.group(2)) != ALGORITHMS[m.group(1)]:
        return None
    return m.group(1), m.group(2)


def digest_of(data: bytes, alg: str = "sha256") -> str:
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"





@dataclass
class Upload:
    """An open upload session. The sha256 state lives only in memory (hashlib objects cannot be pickled):
    a session reloaded after a restart re-hashes its partial file once."""

    uuid: str
    repo: str
    path: str
    offset: int = 0
    hasher: Any = field(default_factory=lambda: hashlib.sha256())


class DigestMismatch(Exception):
    pass


class MissingReference(Exception):
    """A manifest references a blob or manifest the repository does not hold."""

    def __init__(self, digest: str, kind: str) -> None:
        super().__init__(f"manifest references an unknown {kind}: {digest}")
        self.digest, self.kind = digest, kind


@dataclass
class ManifestRecord:
    digest: str
    media_type: str
    size: int


def references(doc: dict[str, Any]) -> list[str]:
    """Digests a (validated) manifest or index references: config, layers, child manifests."""
    out: list[str] = []
    descs = [doc.get("config"), *(doc.get("layers") or []), *(doc.get("manifests") or [])]
    for d in descs:
        if isinstance(d, dict) and isinstance(d.get("digest"), str) and parse_digest(d["digest"]):
            out.append(d["digest"])
    return list(dict.fromkeys(out))


def lock_root(root: str) -> int:
    """Hold an exclusive flock on <root>/registry.lock (one process per root); returns the fd."""
    os.makedirs(root, mode=0o755, exist_ok=True)
    fd = os.open(os.path.join(root, "registry.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RootBusy(f"another pallet-registry is using {root}") from None
    return fd


class RootBusy(Exception):
    pass


@dataclass
class RepoUsage:
    repo: str
    blobs: int = 0
    bytes: int = 0
    manifests: int = 0
    tags: int = 0


@dataclass
class Usage:
    repositories: dict[str, RepoUsage] = field(default_factory=dict)
    deduplicated_blobs: int = 0
    deduplicated_bytes: int = 0
    stored_blobs: int = 0
    stored_bytes: int = 0


class Storage:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.blob_dir = os.path.join(self.root, "blobs")
        self.upload_dir = os.path.join(self.root, "uploads")
        for d in (self.root, self.upload_dir, *(os.path.join(self.blob_dir, a) for a in ALGORITHMS)):
            os.makedirs(d, mode=0o755, exist_ok=True)
        self.db = Database(os.path.join(self.root, "registry.db"), SCHEMA)
        self._migrate()
        self.sessions: dict[str, Upload] = {}
        self.sweep_lock = threading.Lock()
        for n in os.listdir(self.upload_dir):  # manifest temp files of a crashed process
            if n.startswith(".tmp-"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.upload_dir, n))

    def _migrate(self) -> None:
        """Bring a database written by an earlier pallet-registry up to SCHEMA (version 1)."""
        with self.db.tx() as c:
            if c.execute("PRAGMA user_version").fetchone()[0] >= 1:
                return
            for table, column in (("repo_blobs", "linked"), ("manifests", "created")):
                if column not in {r[1] for r in c.execute(f"PRAGMA table_info({table})")}:
                    c.execute(f"ALTER TABLE {table} ADD COLUMN {column} REAL NOT NULL DEFAULT 0")
            for repo, digest in c.execute("SELECT repo, digest FROM manifests").fetchall():
                try:
                    with open(self.blob_path(digest), "rb") as f:
                        doc = json.load(f)
                except (OSError, ValueError):
                    continue
                c.executemany("INSERT OR IGNORE INTO manifest_refs (repo, manifest, digest) VALUES (?, ?, ?)",
                              [(repo, digest, d) for d in references(doc if isinstance(doc, dict) else {})])
            c.execute("PRAGMA user_version = 1")

    # -- blobs

    def blob_path(self, digest: str) -> str:
        alg, hexd = digest.split(":", 1)
        return os.path.join(self.blob_dir, alg, hexd)

    def blob_size(self, digest: str) -> int | None:
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            return None

    def repo_has_blob(self, repo: str, digest: str) -> bool:
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT 1 FROM repo_blobs WHERE repo=? AND digest=?", (repo, digest)).fetchone()
        return row is not None and self.blob_size(digest) is not None

    def link_blob(self, repo: str, digest: str) -> None:
        with self.db.tx() as c:
            c.execute("INSERT INTO repo_blobs (repo, digest, linked) VALUES (?, ?, ?)"
                      " ON CONFLICT (repo, digest) DO UPDATE SET linked=excluded.linked", (repo, digest, time.time()))

    def mount_blob(self, source: str, repo: str, digest: str) -> bool:
        """Link `digest` into `repo` if `source` holds it (one transaction, so GC cannot interleave)."""
        with self.sweep_lock:
            if not self.repo_has_blob(source, digest):
                return False
            self.link_blob(repo, digest)
            return True

    def unlink_blob(self, repo: str, digest: str) -> bool:
        with self.db.tx() as c:
            return c.execute("DELETE FROM repo_blobs WHERE repo=? AND digest=?", (repo, digest)).rowcount > 0

    def _verify(self, tmp: str, digest: str, size: int | None, hasher: Any) -> None:
        """Check `tmp` against `digest` (and `size`) and fsync it; removes `tmp` on any failure."""
        try:
            alg, hexd = digest.split(":", 1)
            if hasher is None or hasher.name != alg:
                hasher = hashlib.new(alg)
                with open(tmp, "rb") as f:
                    while chunk := f.read(1 << 20):
                        hasher.update(chunk)
            actual = os.stat(tmp).st_size
            if hasher.hexdigest() != hexd:
                raise DigestMismatch(f"content digest {alg}:{hasher.hexdigest()} does not match {digest}")
            if size is not None and size != actual:
                raise DigestMismatch(f"content size {actual} does not match {size}")
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _rename_in(self, tmp: str, digest: str) -> None:
        dest = self.blob_path(digest)
        try:
            os.rename(tmp, dest)  # atomic; an existing blob has identical bytes
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_dir(os.path.dirname(dest))

    def commit_blob(self, repo: str, tmp: str, digest: str, size: int | None = None, hasher: Any = None) -> None:
        """Verify `tmp` (see _verify), move it into blobs/ and link it into `repo`."""
        self._verify(tmp, digest, size, hasher)
        with self.sweep_lock:
            self._rename_in(tmp, digest)
            self.link_blob(repo, digest)

    def _put_bytes(self, data: bytes, digest: str) -> None:
        """Write a small blob (a manifest) by temp file + fsync + verify + rename; caller holds sweep_lock."""
        if self.blob_size(digest) == len(data):
            os.utime(self.blob_path(digest))  # fresh again: GC's grace period starts over
            return
        tmp = os.path.join(self.upload_dir, f".tmp-{uuid_mod.uuid4()}")
        with open(tmp, "wb") as f:
            f.write(data)
        self._verify(tmp, digest, len(data), None)
        self._rename_in(tmp, digest)

    # -- uploads

    def start_upload(self, repo: str) -> Upload:
        u = Upload(uuid=str(uuid_mod.uuid4()), repo=repo, path="")
        u.path = os.path.join(self.upload_dir, u.uuid)
        with open(u.path, "xb"):
            pass
        with self.db.tx() as c:
            c.execute("INSERT INTO uploads (uuid, repo, started) VALUES (?, ?, ?)", (u.uuid, repo, time.time()))
        self.sessions[u.uuid] = u
        return u

    def get_upload(self, repo: str, upload_id: str) -> Upload | None:
        u = self.sessions.get(upload_id)
        if u is not None:
            return u if u.repo == repo else None
        try:
            uuid_mod.UUID(upload_id)
        except ValueError:
            return None
        with self.db.lock:
            row = self.db.conn.execute("SELECT repo FROM uploads WHERE uuid=?", (upload_id,)).fetchone()
        if row is None or row[0] != repo:
            return None
        path = os.path.join(self.upload_dir, upload_id)
        if not os.path.exists(path):
            return None
        # Restarted since this upload began: rebuild the hash state from the partial file (once).
        u = Upload(uuid=upload_id, repo=repo, path=path)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                u.hasher.update(chunk)
                u.offset += len(chunk)
        self.sessions[upload_id] = u
        return u

    def end_upload(self, u: Upload) -> None:
        """Forget a finished or cancelled upload and remove its partial file if still there."""
        self.sessions.pop(u.uuid, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(u.path)
        with self.db.tx() as c:
            c.execute("DELETE FROM uploads WHERE uuid=?", (u.uuid,))

    # -- manifests and tags

    def put_manifest(self, repo: str, digest: str, body: bytes, media_type: str, refs: list[str],
                     subject: str | None, artifact_type: str | None, annotations: dict[str, Any] | None,
                     tag: str | None, need_blobs: Sequence[str] = (), need_manifests: Sequence[str] = ()) -> None:
        """Store a manifest's bytes and record it (and `tag`) in `repo`, after checking in the same
        transaction that the repository still holds `need_blobs` and `need_manifests`."""
        with self.sweep_lock:
            self._put_bytes(body, digest)
            with self.db.tx() as c:
                for d in need_blobs:
                    linked = c.execute("SELECT 1 FROM repo_blobs WHERE repo=? AND digest=?", (repo, d)).fetchone()
                    if not linked or self.blob_size(d) is None:
                        raise MissingReference(d, "blob")
                for d in need_manifests:
                    if not c.execute("SELECT 1 FROM manifests WHERE repo=? AND digest=?", (repo, d)).fetchone():
                        raise MissingReference(d, "manifest")
                c.execute(
                    "INSERT OR REPLACE INTO manifests (repo, digest, media_type, size, subject, artifact_type,"
                    " annotations, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (repo, digest, media_type, len(body), subject, artifact_type,
                     json.dumps(annotations) if annotations else None, time.time()))
                c.execute("DELETE FROM manifest_refs WHERE repo=? AND manifest=?", (repo, digest))
                c.executemany("INSERT OR IGNORE INTO manifest_refs (repo, manifest, digest) VALUES (?, ?, ?)",
                              [(repo, digest, d) for d in refs])
                if tag is not None:
                    c.execute("INSERT OR REPLACE INTO tags (repo, tag, digest) VALUES (?, ?, ?)", (repo, tag, digest))

    def get_manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT digest, media_type, size FROM manifests WHERE repo=? AND digest=?", (repo, digest)).fetchone()
        return ManifestRecord(*row) if row else None

    def resolve_tag(self, repo: str, tag: str) -> str | None:
        with self.db.lock:
            row = self.db.conn.execute("SELECT digest FROM tags WHERE repo=? AND tag=?", (repo, tag)).fetchone()
        return row[0] if row else None

    def delete_manifest(self, repo: str, digest: str) -> bool:
        with self.db.tx() as c:
            n = c.execute("DELETE FROM manifests WHERE repo=? AND digest=?", (repo, digest)).rowcount
            c.execute("DELETE FROM tags WHERE repo=? AND digest=?", (repo, digest))
            c.execute("DELETE FROM manifest_refs WHERE repo=? AND manifest=?", (repo, digest))
        return n > 0

    def delete_repository(self, repo: str) -> dict[str, int]:
        """Forget every tag, manifest, blob link and upload of `repo` (the blobs become garbage for GC)."""
        with self.db.tx() as c:
            counts = {t: c.execute(f"DELETE FROM {t} WHERE repo=?", (repo,)).rowcount
                      for t in ("tags", "manifests", "manifest_refs", "repo_blobs")}
            uploads = [r[0] for r in c.execute("SELECT uuid FROM uploads WHERE repo=?", (repo,))]
            c.execute("DELETE FROM uploads WHERE repo=?", (repo,))
        for u in uploads:
            self.sessions.pop(u, None)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.upload_dir, u))
        counts["uploads"] = len(uploads)
        return counts

    def tag_list(self, repo: str) -> list[tuple[str, str]]:
        """(tag, manifest digest) of every tag in `repo`."""
        with self.db.lock:
            return [(r[0], r[1]) for r in self.db.conn.execute(
                "SELECT tag, digest FROM tags WHERE repo=? ORDER BY tag COLLATE BINARY", (repo,))]

    def set_tag(self, repo: str, tag: str, digest: str) -> None:
        with self.db.tx() as c:
            c.execute("INSERT OR REPLACE INTO tags (repo, tag, digest) VALUES (?, ?, ?)", (repo, tag, digest))

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self.db.tx() as c:
            return c.execute("DELETE FROM tags WHERE repo=? AND tag=?", (repo, tag)).rowcount > 0

    def referrers(self, repo: str, subject: str) -> list[sqlite3.Row | tuple[Any, ...]]:
        with self.db.lock:
            return self.db.conn.execute(
                "SELECT digest, media_type, size, artifact_type, annotations FROM manifests"
                " WHERE repo=? AND subject=? ORDER BY digest", (repo, subject)).fetchall()

    def repo_exists(self, repo: str) -> bool:
        with self.db.lock:
            c = self.db.conn
            return any(
                c.execute(f"SELECT 1 FROM {t} WHERE repo=? LIMIT 1", (repo,)).fetchone()
                for t in ("tags", "manifests", "repo_blobs"))

    def tags(self, repo: str, last: str | None, limit: int | None) -> list[str]:
        q = "SELECT tag FROM tags WHERE repo=?"
        args: list[Any] = [repo]
        if last is not None:
            q += " AND tag > ?"
            args.append(last)
        q += " ORDER BY tag COLLATE BINARY"
        if limit is not None:
            q += " LIMIT ?"
            args.append(limit)
        with self.db.lock:
            return [r[0] for r in self.db.conn.execute(q, args)]

    def repositories(self, last: str | None, limit: int | None) -> list[str]:
        q = ("SELECT repo FROM (SELECT repo FROM tags UNION SELECT repo FROM manifests"
             " UNION SELECT repo FROM repo_blobs)")
        args: list[Any] = []
        if last is not None:
            q += " WHERE repo > ?"
            args.append(last)
        q += " ORDER BY repo COLLATE BINARY"
        if limit is not None:
            q += " LIMIT ?"
            args.append(limit)
        with self.db.lock:
            return [r[0] for r in self.db.conn.execute(q, args)]

    def usage(self) -> Usage:
        """Blob counts and bytes per repository (linked blobs plus manifests), summed, deduplicated and on
        disk."""
        with self.db.lock:
            c = self.db.conn
            rows = c.execute("SELECT repo, digest FROM repo_blobs UNION SELECT repo, digest FROM manifests").fetchall()
            nman = dict(c.execute("SELECT repo, COUNT(*) FROM manifests GROUP BY repo").fetchall())
            ntag = dict(c.execute("SELECT repo, COUNT(*) FROM tags GROUP BY repo").fetchall())
        sizes: dict[str, int | None] = {}
        out = Usage()
        for repo, digest in rows:
            if digest not in sizes:
                sizes[digest] = self.blob_size(digest)
            size = sizes[digest]
            if size is None:
                continue
            r = out.repositories.setdefault(repo, RepoUsage(repo))
            r.blobs += 1
            r.bytes += size
        for repo in {*nman, *ntag}:
            r = out.repositories.setdefault(repo, RepoUsage(repo))
            r.manifests, r.tags = nman.get(repo, 0), ntag.get(repo, 0)
        present = [n for n in sizes.values() if n is not None]
        out.deduplicated_blobs, out.deduplicated_bytes = len(present), sum(present)
        for alg in ALGORITHMS:
            with os.scandir(os.path.join(self.blob_dir, alg)) as it:
                for e in it:
                    with contextlib.suppress(FileNotFoundError):
                        out.stored_bytes += e.stat().st_size
                        out.stored_blobs += 1
        return out

    def close(self) -> None:
        self.db.close()
