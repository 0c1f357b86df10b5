"""The container log in Docker's json-file format, written by the shim.

One JSON object per line: {"log":"text\\n","stream":"stdout","time":"...Z"}.
Output is split at newlines; a partial line is flushed as its own entry (no
trailing newline) once 16 KiB have piled up without one, or at EOF.
"""

from __future__ import annotations

import json
import os
import time

from pallet.shim._log import rfc3339_nano

MAX_PARTIAL = 16 * 1024

_dumps = json.JSONEncoder(ensure_ascii=False).encode


class JsonFileLog:
    """Appends log entries for the streams fed to it."""

    def __init__(self, path: str) -> None:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._bufs: dict[str, bytearray] = {}
        self.errors = 0

    @staticmethod
    def _entry(text: bytes, stream: str, ts: str) -> bytes:
        log = _dumps(text.decode("utf-8", "replace"))
        return f'{{"log":{log},"stream":"{stream}","time":"{ts}"}}\n'.encode()

    def feed(self, stream: str, data: bytes) -> None:
        """Add output read from a stream; whole lines are written at once."""
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
            self._write(b"".join(out))

    def flush(self, stream: str) -> None:
        """Write out a partial line left in a stream's buffer (at EOF)."""
        buf = self._bufs.get(stream)
        if buf:
            self._write(self._entry(bytes(buf), stream, rfc3339_nano(time.time_ns())))
            buf.clear()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                self.errors += 1  # disk full or similar: drop rather than stall the container
                return
            view = view[n:]

    def close(self) -> None:
        for stream in list(self._bufs):
            self.flush(stream)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
