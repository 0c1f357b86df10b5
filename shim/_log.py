"""A tiny JSON-lines logger for the shim (structlog is too heavy here)."""

from __future__ import annotations

import contextlib
import json
import os
import time


def rfc3339_nano(ns: int) -> str:
    """A UTC timestamp like 2026-11-28T12:00:00.123456789Z from time.time_ns()."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


class Logger:
    """Writes one JSON object per line to a file opened in append mode."""

    def __init__(self, path: str | None, debug: bool = False, **context: object) -> None:
        self.debug_enabled = debug
        self.context = context
        self.fd = -1
        if path:
            try:
                self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            except OSError:
                self.fd = -1

    def _emit(self, level: str, msg: str, fields: dict) -> None:
        if self.fd < 0:
            return
        rec: dict[str, object] = {"time": rfc3339_nano(time.time_ns()), "level": level, "msg": msg}
        rec.update(self.context)
        rec.update(fields)
        with contextlib.suppress(OSError):
            os.write(self.fd, (json.dumps(rec, default=str) + "\n").encode())

    def debug(self, msg: str, **fields: object) -> None:
        if self.debug_enabled:
            self._emit("debug", msg, fields)

    def info(self, msg: str, **fields: object) -> None:
        self._emit("info", msg, fields)

    def warning(self, msg: str, **fields: object) -> None:
        self._emit("warning", msg, fields)

    def error(self, msg: str, **fields: object) -> None:
        self._emit("error", msg, fields)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
