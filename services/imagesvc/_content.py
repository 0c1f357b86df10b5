"""The content-addressed blob store: content/blobs/sha256/<hex>.

Blobs are written to content/ingest/ while being hashed, checked against the
expected digest and size, fsynced and renamed into place: a blob file that
exists is always complete and correct. Nothing is ever read back to hash it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from pallet import errors
from pallet.fsutil import fsync_dir

CHUNK = 1 << 20
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def check_digest(digest: str) -> str:
    if not _DIGEST_RE.match(digest):
        if ":" in digest and not digest.startswith("sha256:"):
            raise errors.InvalidArgument(f"unsupported digest algorithm: {digest}")
        raise errors.InvalidArgument(f"invalid digest: {digest!r}")
    return digest


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()





@dataclass
class BlobInfo:
    digest: str
    size: int
    created_ns: int


class Writer:
    """One ingest: write(), then commit() (verifies) or abort(). A context manager aborts on error."""

    def __init__(self, store: ContentStore, expected: str | None, expected_size: int | None) -> None:
        self._store = store
        self.expected = check_digest(expected) if expected else None
        self.expected_size = expected_size
        self.path = os.path.join(store.ingest_dir, uuid.uuid4().hex)
        self._f = open(self.path, "xb")  # noqa: SIM115 - closed by commit/abort
        self._hash = hashlib.sha256()
        self.size = 0
        self.done = False

    def write(self, data: bytes) -> None:
        if data:
            self._f.write(data)
            self._hash.update(data)
            self.size += len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def verify(self) -> str:
        """Check expected digest and size; InvalidArgument on a mismatch."""
        digest = self.digest
        if self.expected_size is not None and self.size != self.expected_size:
            raise errors.InvalidArgument(
                f"content size mismatch for {self.expected or digest}: expected {self.expected_size}, "
                f"got {self.size}")
        if self.expected is not None and digest != self.expected:
            raise errors.InvalidArgument(f"content digest mismatch: expected {self.expected}, got {digest}")
        return digest

    def commit(self) -> tuple[str, bool]:
        """Move the verified blob into place; returns (digest, newly_created)."""
        digest = self.verify()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self.done = True
        target = self._store.path(digest)
        if os.path.exists(target):
            os.unlink(self.path)
            return digest, False
        os.chmod(self.path, 0o444)
        os.replace(self.path, target)
        fsync_dir(self._store.blob_dir)
        return digest, True

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self._f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()


RESUME_PREFIX = "resume-"
RESUME_MAX_AGE = 24 * 3600  # seconds a resumable partial download is kept unused


class ResumableWriter(Writer):
    """An ingest keyed by its expected digest (ingest/resume-<hex>) that survives failures and restarts.

    The bytes already there are hashed again on open (`size` tells where to resume); close_keep()
    leaves them for the next attempt, abort() drops them. It holds an flock, so one download of
    a digest at a time: a second writer raises BlockingIOError.
    """

    def __init__(self, store: ContentStore, expected: str, expected_size: int | None) -> None:
        self._store = store
        self.expected = check_digest(expected)
        self.expected_size = expected_size
        self.path = os.path.join(store.ingest_dir, RESUME_PREFIX + self.expected.removeprefix("sha256:"))
        self._f = open(self.path, "a+b")  # type: ignore[assignment]  # noqa: SIM115 - closed by commit/abort/close_keep
        try:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.close()
            raise
        self._hash = hashlib.sha256()
        self.size = 0
        self.done = False
        self._f.seek(0)
        while True:
            data = self._f.read(CHUNK)
            if not data:
                break
            self._hash.update(data)
            self.size += len(data)
        if expected_size is not None and self.size > expected_size:
            self.restart()
        os.utime(self.path)

    def restart(self) -> None:
        """Forget the bytes written so far (the server ignored a Range, or they were wrong)."""
        self._f.seek(0)
        self._f.truncate()
        self._hash = hashlib.sha256()
        self.size = 0

    def flush(self) -> None:
        """Hand what was written to the kernel (so a reader of the file sees it)."""
        self._f.flush()

    def close_keep(self) -> None:
        """Stop without committing, keeping what was written for a later resume."""
        if self.done:
            return
        self.done = True
        self._f.close()


class ContentStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self.blob_dir = os.path.join(root, "blobs", "sha256")
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(self.blob_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.ingest_dir, mode=0o700, exist_ok=True)

    def cleanup(self, keep_resumable: float = RESUME_MAX_AGE) -> int:
        """Remove partial writes left by a previous run; returns how many.

        Resumable downloads (resume-*) younger than keep_resumable seconds stay.
        """
        n = 0
        now = time.time()
        for name in os.listdir(self.ingest_dir):
            try:
                if name.startswith(RESUME_PREFIX) and now - os.stat(
                        os.path.join(self.ingest_dir, name)).st_mtime < keep_resumable:
                    continue
                os.unlink(os.path.join(self.ingest_dir, name))
                n += 1
            except IsADirectoryError:
                shutil.rmtree(os.path.join(self.ingest_dir, name), ignore_errors=True)
                n += 1
            except FileNotFoundError:
                pass
        return n

    def sweep_resumable(self, max_age: float = RESUME_MAX_AGE) -> int:
        """Drop resumable downloads unused for max_age seconds (and not being written); returns how many."""
        n = 0
        now = time.time()
        for name in os.listdir(self.ingest_dir):
            path = os.path.join(self.ingest_dir, name)
            if not name.startswith(RESUME_PREFIX):
                continue
            try:
                if now - os.stat(path).st_mtime < max_age:
                    continue
                with open(path, "rb") as f:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.unlink(path)
                    n += 1
            except (BlockingIOError, FileNotFoundError):
                continue
        return n

    def path(self, digest: str) -> str:
        return os.path.join(self.blob_dir, check_digest(digest).removeprefix("sha256:"))

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def info(self, digest: str) -> BlobInfo:
        try:
            st = os.stat(self.path(digest))
        except FileNotFoundError:
            raise errors.NotFound(f"content {digest}: not found") from None
        return BlobInfo(digest, st.st_size, st.st_mtime_ns)

    def list_blobs(self) -> list[BlobInfo]:
        out = []
        for name in sorted(os.listdir(self.blob_dir)):
            try:
                st = os.stat(os.path.join(self.blob_dir, name))
            except FileNotFoundError:
                continue
            out.append(BlobInfo("sha256:" + name, st.st_size, st.st_mtime_ns))
        return out

    def writer(self, expected: str | None = None, size: int | None = None) -> Writer:
        return Writer(self, expected, size)

    def resumable_writer(self, expected: str, size: int | None = None) -> ResumableWriter:
        return ResumableWriter(self, expected, size)

    def put(self, data: bytes, expected: str | None = None) -> tuple[str, bool]:
        """Store bytes held in memory (configs, manifests); returns (digest, newly_created)."""
        digest = sha256_digest(data)
        if expected is not None and digest != check_digest(expected):
            raise errors.InvalidArgument(f"content digest mismatch: expected {expected}, got {digest}")
        if self.exists(digest):
            return digest, False
        with self.writer(digest, len(data)) as w:
            w.write(data)
            return w.commit()

    def read_bytes(self, digest: str, limit: int = 64 << 20) -> bytes:
        """A small blob (manifest, config) read whole."""
        try:
            with open(self.path(digest), "rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            raise errors.NotFound(f"content {digest}: not found") from None
        if len(data) > limit:
            raise errors.InvalidArgument(f"content {digest} is too large to read whole")
        return data

    def read(self, digest: str, offset: int = 0, size: int = 0, chunk: int = CHUNK) -> Iterator[tuple[int, bytes]]:
        """(offset, data) chunks of a blob; size 0 reads to the end."""
        if offset < 0 or size < 0:
            raise errors.InvalidArgument("offset and size must not be negative")
        try:
            f = open(self.path(digest), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise errors.NotFound(f"content {digest}: not found") from None
        with f:
            total = os.fstat(f.fileno()).st_size
            if offset > total:
                raise errors.InvalidArgument(f"offset {offset} is beyond the end of {digest} ({total} bytes)")
            end = total if size == 0 else min(total, offset + size)
            f.seek(offset)
            pos = offset
            while pos < end:
                data = f.read(min(chunk, end - pos))
                if not data:
                    break
                yield pos, data
                pos += len(data)

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise errors.NotFound(f"content {digest}: not found") from None
