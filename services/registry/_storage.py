"""Filesystem storage of pallet-registry.

Layout under the root::

    blobs/<alg>/<hex>     content-addressed blobs (layers, configs and manifests), shared by every repository
    uploads/<uuid>        partial uploads (data only); their owner repository is in the database
    registry.db           SQLite (WAL): which repository links which blobs / manifests, tags, open uploads

Every blob is written to a file under uploads/, fsynced, verified (digest and size) and renamed into blobs/;
the rename is atomic and two pushes of the same digest write identical bytes, so concurrent pushes are safe.
A crash between the rename and the database insert leaves an unreferenced blob (garbage for GC), never a
link to a missing or partial blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import uuid as uuid_mod
from dataclasses import dataclass, field
from typing import Any

from pallet.sqlite import Database

ALGORITHMS = {"sha256": 64, "sha512": 128}
DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS repo_blobs (
    repo TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    subject TEXT, artifact_type TEXT, annotations TEXT,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repo, subject);
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


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


@dataclass
class ManifestRecord:
    digest: str
    media_type: str
    size: int


class Storage:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.blob_dir = os.path.join(self.root, "blobs")
        self.upload_dir = os.path.join(self.root, "uploads")
        for d in (self.root, self.upload_dir, *(os.path.join(self.blob_dir, a) for a in ALGORITHMS)):
            os.makedirs(d, mode=0o755, exist_ok=True)
        self.db = Database(os.path.join(self.root, "registry.db"), SCHEMA)
        self.sessions: dict[str, Upload] = {}
        for n in os.listdir(self.upload_dir):  # manifest temp files of a crashed process
            if n.startswith(".tmp-"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.upload_dir, n))

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
            c.execute("INSERT OR IGNORE INTO repo_blobs (repo, digest) VALUES (?, ?)", (repo, digest))

    def unlink_blob(self, repo: str, digest: str) -> bool:
        with self.db.tx() as c:
            return c.execute("DELETE FROM repo_blobs WHERE repo=? AND digest=?", (repo, digest)).rowcount > 0

    def commit_file(self, tmp: str, digest: str, size: int | None = None, hasher: Any = None) -> int:
        """Verify `tmp` against `digest` (and `size`), fsync it and rename it into blobs/. Removes `tmp` on
        any failure. `hasher` is the running hash of the file when it matches the digest's algorithm."""
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
            dest = self.blob_path(digest)
            os.rename(tmp, dest)  # atomic; an existing blob has identical bytes
            _fsync_dir(os.path.dirname(dest))
            return actual
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_bytes(self, data: bytes, digest: str) -> None:
        """Write a small blob (a manifest) by temp file + fsync + verify + rename."""
        if self.blob_size(digest) == len(data):
            return
        tmp = os.path.join(self.upload_dir, f".tmp-{uuid_mod.uuid4()}")
        with open(tmp, "wb") as f:
            f.write(data)
        self.commit_file(tmp, digest, len(data))

    # -- uploads

    def start_upload(self, repo: str) -> Upload:
        import time

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

    def put_manifest(self, repo: str, digest: str, media_type: str, size: int, subject: str | None,
                     artifact_type: str | None, annotations: dict[str, Any] | None, tag: str | None) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO manifests (repo, digest, media_type, size, subject, artifact_type, annotations)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (repo, digest, media_type, size, subject, artifact_type,
                 json.dumps(annotations) if annotations else None))
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
        return n > 0

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

    def close(self) -> None:
        self.db.close()
