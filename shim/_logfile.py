"""The container log in Docker's json-file format, written by the shim.

One JSON object per line: {"log":"text\\n","stream":"stdout","time":"...Z"}.
Output is split at newlines; a partial line is flushed as its own entry (no
trailing newline) once 16 KiB have piled up without one, or at EOF.

Rotation works like Docker's json-file driver (max-size / max-file). Before
a line goes into the file, if it would make the file larger than max_size,
the file is rotated first: `<log>.N-1` → `<log>.N` ... `<log>` → `<log>.1`, the
oldest (`<log>.<max_files-1>`) and anything numbered higher is removed, and a
new empty `<log>` is opened. With max_files 1 the full file is simply
replaced. Lines are never split across files, so a file is only larger than
max_size when one line alone is. Readers holding the old file keep reading
it (nothing is truncated in place). max_size 0 means no rotation.

The log driver "none" keeps nothing: no file is created, output is only
delivered to attached clients.

The shim's command line (pallet.shim.main) calls configure() in the shim
process before the server is built, so JsonFileLog(path) picks up the
container's settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable

from pallet.shim._log import rfc3339_nano

MAX_PARTIAL = 16 * 1024
DRIVERS = ("json-file", "none")

_dumps = json.JSONEncoder(ensure_ascii=False).encode



class _Settings:
    """What JsonFileLog uses when not told otherwise (see configure())."""

    max_size = 0
    max_files = 1
    driver = "json-file"


def configure(*, max_size: int = 0, max_files: int = 1, driver: str = "json-file") -> None:
    """Set the defaults of every JsonFileLog made afterwards in this process.

    ValueError for a negative max_size, max_files < 1 or an unknown driver.
    """
    _check(max_size, max_files, driver)
    _Settings.max_size, _Settings.max_files, _Settings.driver = max_size, max_files, driver


def _check(max_size: int, max_files: int, driver: str) -> None:
    if max_size < 0:
        raise ValueError(f"log max size must be >= 0, not {max_size}")
    if max_files < 1:
        raise ValueError(f"log max files must be >= 1, not {max_files}")
    if driver not in DRIVERS:
        raise ValueError(f"unknown log driver {driver!r} (known: {', '.join(DRIVERS)})")


def rotated_numbers(path: str) -> list[int]:
    """N of every `path.N` in path's directory (N a positive decimal), ascending."""
    parent, base = os.path.split(path)
    prefix = base + "."
    try:
        names = os.listdir(parent or ".")
    except OSError:
        return []
    nums = []
    for name in names:
        suffix = name[len(prefix):]
        if name.startswith(prefix) and suffix.isascii() and suffix.isdigit() and suffix[0] != "0":
            nums.append(int(suffix))
    return sorted(nums)


class JsonFileLog:
    """Appends log entries for the streams fed to it, rotating the file by size."""

    def __init__(self, path: str, max_size: int | None = None, max_files: int | None = None,
                 driver: str | None = None) -> None:
        self.path = path
        self.max_size = _Settings.max_size if max_size is None else max_size
        self.max_files = _Settings.max_files if max_files is None else max_files
        self.driver = _Settings.driver if driver is None else driver
        _check(self.max_size, self.max_files, self.driver)
        self.discard = self.driver == "none"
        self.fd = -1
        self.size = 0  # bytes in the current file
        self.rotations = 0
        self._bufs: dict[str, bytearray] = {}
        self.errors = 0
        if self.discard:
            return
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._open(0)
        if self.max_size:
            self._prune(self.max_files - 1)  # left over from a run with a larger max_files

    def _open(self, extra: int) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | extra, 0o640)
        try:
            self.size = os.fstat(fd).st_size
        except OSError:
            self.size = 0
        self.fd = fd

    @staticmethod
    def _entry(text: bytes, stream: str, ts: str) -> bytes:
        log = _dumps(text.decode("utf-8", "replace"))
        return f'{{"log":{log},"stream":"{stream}","time":"{ts}"}}\n'.encode()

    def feed(self, stream: str, data: bytes) -> None:
        """Add output read from a stream; whole lines are written at once."""
        if self.discard:
            return
        buf = self._bufs.get(stream)
        if buf is None:
            buf = self._bufs[stream] = bytearray()
        buf += data
        ts = rfc3339_nano(time.time_ns())
        out = []
        pos = 0
        while True:
            nl = buf.find(b"\n", pos, pos + MAX_PARTIAL)
            if nl >= 0:
                out.append(self._entry(bytes(buf[pos:nl + 1]), stream, ts))
                pos = nl + 1
            elif len(buf) - pos >= MAX_PARTIAL:
                out.append(self._entry(bytes(buf[pos:pos + MAX_PARTIAL]), stream, ts))
                pos += MAX_PARTIAL
            else:
                break
        if pos:
            del buf[:pos]
        if out:
            self._write_entries(out)

    def flush(self, stream: str) -> None:
        """Write out a partial line left in a stream's buffer (at EOF)."""
        buf = self._bufs.get(stream)
        if buf:
            self._write_entries([self._entry(bytes(buf), stream, rfc3339_nano(time.time_ns()))])
            buf.clear()

    def _write_entries(self, entries: Iterable[bytes]) -> None:
        """Write entries, rotating between two of them where the file would grow past max_size."""
        if not self.max_size:
            self._write(b"".join(entries))
            return
        batch: list[bytes] = []
        pending = 0
        for entry in entries:
            if self.size + pending and self.size + pending + len(entry) > self.max_size:
                if batch:
                    self._write(b"".join(batch))
                    batch.clear()
                    pending = 0
                self._rotate()
            batch.append(entry)
            pending += len(entry)
        if batch:
            self._write(b"".join(batch))

    def _write(self, data: bytes) -> None:
        if self.fd < 0:
            try:  # a rotation could not open the new file: try again
                self._open(0)
            except OSError:
                self.errors += 1
                return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                self.errors += 1  # disk full or similar: drop rather than stall the container
                return
            self.size += n
            view = view[n:]

    def _rotate(self) -> None:
        """Move the full file aside (Docker's naming) and start an empty one."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        path, keep = self.path, self.max_files - 1
        try:
            self._prune(keep)
            for n in reversed(rotated_numbers(path)):  # only the ones there: max_files may be large
                if n < keep:
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(f"{path}.{n}", f"{path}.{n + 1}")
            if keep:
                os.rename(path, f"{path}.1")
            else:
                os.unlink(path)  # readers keep the old file; the new one has a new inode
        except FileNotFoundError:
            pass
        except OSError:
            self.errors += 1  # open truncates anyway: the size limit holds
        try:
            self._open(os.O_TRUNC)
        except OSError:
            self.errors += 1  # _write tries again
        self.size = 0
        self.rotations += 1

    def _prune(self, keep: int) -> None:
        """Remove `path.N` for every N > keep."""
        for n in rotated_numbers(self.path):
            if n > keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.path}.{n}")

    def close(self) -> None:
        for stream in list(self._bufs):
            self.flush(stream)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
