"""Mark-and-sweep garbage collection of pallet-registry's storage, safe while the registry serves.

Mark: every digest any manifest of any repository references (config, layers, index children, recorded in
manifest_refs at push time) and every manifest blob. Sweep: blob files marked by none, older than the grace
period and linked into no repository within it. Each blob is removed under ``Storage.sweep_lock`` after
re-checking, in one transaction, that it is still unreferenced and not freshly linked; its links go in that
transaction and the file after it, so a crash leaves at worst an unreferenced file for the next run.
Blob uploads and manifest puts take the same lock (see _storage), so a push racing a collection either
lands before the re-check (and its blobs are kept) or after the removal (and fails with a clean
MANIFEST_BLOB_UNKNOWN); a push that completes always leaves pullable content.

With ``delete_untagged``, manifests that no tag reaches (directly, as a child of a tagged index, or as a
referrer of a kept manifest) and older than the grace period are forgotten first, in one transaction.
Abandoned uploads (started and last written before ``upload_max_age``) are removed with their files.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from pallet import log

from ._storage import ALGORITHMS, Storage, parse_digest

_log = log.get("registry.gc")

DEFAULT_GRACE = 3600.0
DEFAULT_UPLOAD_MAX_AGE = 24 * 3600.0


class GCBusy(Exception):
    """A collection is already running."""


@dataclass
class GCOptions:
    dry_run: bool = False
    delete_untagged: bool = False
    grace_period: float = DEFAULT_GRACE
    upload_max_age: float = DEFAULT_UPLOAD_MAX_AGE


@dataclass
class GCReport:
    """What a run removed (or, for a dry run, would remove)."""

    dry_run: bool
    started: float
    finished: float = 0.0
    blobs: list[tuple[str, int]] = field(default_factory=list)  # (digest, bytes)
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)
    uploads: list[tuple[str, str, int]] = field(default_factory=list)  # (repository, uuid, bytes)
    links: int = 0  # repository links to removed or missing blobs

    @property
    def blob_bytes(self) -> int:
        return sum(n for _, n in self.blobs)

    @property
    def upload_bytes(self) -> int:
        return sum(n for _, _, n in self.uploads)


@dataclass
class GCStatus:
    running: bool
    last: GCReport | None
    last_error: str | None


def _mtime_size(path: str) -> tuple[float, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime, st.st_size


class GarbageCollector:
    def __init__(self, storage: Storage, defaults: GCOptions | None = None) -> None:
        self.storage = storage
        self.defaults = defaults or GCOptions()
        self._running = threading.Lock()
        self._last: GCReport | None = None
        self._last_error: str | None = None

    def status(self) -> GCStatus:
        return GCStatus(self._running.locked(), self._last, self._last_error)

    def run(self, opts: GCOptions | None = None) -> GCReport:
        """One collection; raises GCBusy if another is running."""
        opts = opts or self.defaults
        if not self._running.acquire(blocking=False):
            raise GCBusy("a garbage collection is already running")
        try:
            report = GCReport(dry_run=opts.dry_run, started=time.time())
            try:
                self._collect(opts, report)
            except Exception as e:
                self._last_error = f"{type(e).__name__}: {e}"
                _log.exception("garbage collection failed")
                raise
            report.finished = time.time()
            self._last, self._last_error = report, None
            _log.info("garbage collection done", dry_run=opts.dry_run, blobs=len(report.blobs),
                      bytes=report.blob_bytes, manifests=len(report.manifests), uploads=len(report.uploads),
                      links=report.links, seconds=round(report.finished - report.started, 3))
            return report
        finally:
            self._running.release()

    # -- phases

    def _collect(self, opts: GCOptions, report: GCReport) -> None:
        now = report.started
        cutoff = now - opts.grace_period
        doomed = self._untagged(cutoff, opts.dry_run) if opts.delete_untagged else set()
        report.manifests = sorted(doomed)
        marked = self._marked(doomed)
        for digest, path in self._blob_files():
            if digest in marked:
                continue
            ms = _mtime_size(path)
            if ms is None or ms[0] >= cutoff:
                continue
            if opts.dry_run:
                if self._fresh_link(digest, cutoff):
                    continue
                report.blobs.append((digest, ms[1]))
                continue
            removed = self._sweep_blob(digest, path, cutoff, report)
            if removed is not None:
                report.blobs.append((digest, removed))
        if not opts.dry_run:
            report.links += self._dangling_links(cutoff)
        self._uploads(now - opts.upload_max_age, opts.dry_run, report)

    def _untagged(self, cutoff: float, dry_run: bool) -> set[tuple[str, str]]:
        """Manifests no tag reaches, older than `cutoff`; forgotten in the same transaction unless dry run."""
        db = self.storage.db
        ctx = db.lock if dry_run else db.tx()
        with ctx:
            c = db.conn
            manifests = c.execute("SELECT repo, digest, subject, created FROM manifests").fetchall()
            tagged = c.execute("SELECT repo, digest FROM tags").fetchall()
            refs = c.execute("SELECT repo, manifest, digest FROM manifest_refs").fetchall()
            children: dict[tuple[str, str], list[str]] = defaultdict(list)
            for repo, m, d in refs:
                children[(repo, m)].append(d)
            referrers: dict[tuple[str, str], list[str]] = defaultdict(list)
            for repo, d, subject, _ in manifests:
                if subject:
                    referrers[(repo, subject)].append(d)
            known = {(repo, d) for repo, d, _, _ in manifests}
            keep = {(repo, d) for repo, d in tagged} | {(repo, d) for repo, d, _, created in manifests
                                                        if created >= cutoff}
            todo = list(keep)
            while todo:
                repo, d = todo.pop()
                for nxt in (*children[(repo, d)], *referrers[(repo, d)]):
                    key = (repo, nxt)
                    if key in known and key not in keep:
                        keep.add(key)
                        todo.append(key)
            doomed = known - keep
            if not dry_run and doomed:
                for repo, d in doomed:
                    c.execute("DELETE FROM manifests WHERE repo=? AND digest=?", (repo, d))
                    c.execute("DELETE FROM manifest_refs WHERE repo=? AND manifest=?", (repo, d))
        return doomed

    def _marked(self, doomed: set[tuple[str, str]]) -> set[str]:
        """Digests referenced by any manifest, or being one, leaving out `doomed` (only left for dry runs)."""
        db = self.storage.db
        with db.lock:
            rows = db.conn.execute("SELECT repo, manifest, digest FROM manifest_refs").fetchall()
            rows += db.conn.execute("SELECT repo, digest, digest FROM manifests").fetchall()
        return {d for repo, m, d in rows if (repo, m) not in doomed}

    def _blob_files(self) -> list[tuple[str, str]]:
        out = []
        for alg in ALGORITHMS:
            d = os.path.join(self.storage.blob_dir, alg)
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(d):
                    digest = f"{alg}:{name}"
                    if parse_digest(digest):
                        out.append((digest, os.path.join(d, name)))
        return out

    def _fresh_link(self, digest: str, cutoff: float) -> bool:
        with self.storage.db.lock:
            row = self.storage.db.conn.execute(
                "SELECT MAX(linked) FROM repo_blobs WHERE digest=?", (digest,)).fetchone()
        return row[0] is not None and row[0] >= cutoff

    def _sweep_blob(self, digest: str, path: str, cutoff: float, report: GCReport) -> int | None:
        """Remove one blob if it is still garbage; returns its size, or None if it was kept."""
        st = self.storage
        with st.sweep_lock:
            with st.db.tx() as c:
                if (c.execute("SELECT 1 FROM manifest_refs WHERE digest=? LIMIT 1", (digest,)).fetchone()
                        or c.execute("SELECT 1 FROM manifests WHERE digest=? LIMIT 1", (digest,)).fetchone()):
                    return None
                newest = c.execute("SELECT MAX(linked) FROM repo_blobs WHERE digest=?", (digest,)).fetchone()[0]
                ms = _mtime_size(path)
                if ms is None or ms[0] >= cutoff or (newest is not None and newest >= cutoff):
                    return None
                report.links += c.execute("DELETE FROM repo_blobs WHERE digest=?", (digest,)).rowcount
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return ms[1]

    def _dangling_links(self, cutoff: float) -> int:
        """Drop old links to blob files that are gone (left by a crash or an earlier removal)."""
        st = self.storage
        with st.db.lock:
            digests = [r[0] for r in st.db.conn.execute("SELECT DISTINCT digest FROM repo_blobs WHERE linked < ?",
                                                          (cutoff,))]
        n = 0
        for d in digests:
            if st.blob_size(d) is not None:
                continue
            with st.sweep_lock, st.db.tx() as c:
                if st.blob_size(d) is None:
                    n += c.execute("DELETE FROM repo_blobs WHERE digest=? AND linked < ?", (d, cutoff)).rowcount
        return n

    def _uploads(self, cutoff: float, dry_run: bool, report: GCReport) -> None:
        """Uploads started and last written before `cutoff`, and stray files in uploads/ as old."""
        st = self.storage
        with st.db.lock:
            rows = st.db.conn.execute("SELECT uuid, repo, started FROM uploads").fetchall()
        known = {u for u, _, _ in rows}
        for u, repo, started in rows:
            path = os.path.join(st.upload_dir, u)
            ms = _mtime_size(path)
            if started >= cutoff or (ms is not None and ms[0] >= cutoff):
                continue
            if not dry_run:
                with st.db.tx() as c:
                    if not c.execute("DELETE FROM uploads WHERE uuid=?", (u,)).rowcount:
                        continue
                st.sessions.pop(u, None)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            report.uploads.append((repo, u, ms[1] if ms else 0))
        for name in os.listdir(st.upload_dir):
            path = os.path.join(st.upload_dir, name)
            ms = _mtime_size(path)
            if name in known or ms is None or ms[0] >= cutoff:
                continue
            with st.db.lock:  # a row may have appeared since the listing above
                if st.db.conn.execute("SELECT 1 FROM uploads WHERE uuid=?", (name,)).fetchone():
                    continue
            if not dry_run:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            report.uploads.append(("", name, ms[1]))
