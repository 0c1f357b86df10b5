"""Reading the json-file logs the shim writes: tail, since/until, follow."""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass
class Entry:
    stream: str  # "stdout" | "stderr"
    data: bytes
    time_ns: int


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch from a UTC RFC 3339 time ("...T12:00:00.123456789Z")."""
    main, _, frac = text.rstrip("Z").partition(".")
    secs = int(datetime.fromisoformat(main).replace(tzinfo=UTC).timestamp())
    digits = "".join(c for c in frac if c.isdigit())
    return secs * 1_000_000_000 + int((digits + "000000000")[:9])


def _parse(line: bytes) -> Entry | None:
    try:
        obj = json.loads(line)
        return Entry(obj.get("stream", "stdout"), obj.get("log", "").encode(), parse_time(obj["time"]))
    except (ValueError, KeyError, TypeError):
        return None


def read(
    path: str,
    *,
    tail: int = -1,
    since_ns: int = 0,
    until_ns: int = 0,
    follow: bool = False,
    start_at_end: bool = False,
    done: Callable[[], bool] = lambda: True,
    wait: Callable[[float], None] = lambda t: None,
) -> Iterator[Entry]:
    """Entries of a log file; with follow, keeps reading until done() is true.

    `wait(seconds)` blocks until the writer may have added lines (or the time
    passes); the engine wakes it when the container exits.
    """

    def wanted(e: Entry) -> bool:
        return e.time_ns >= since_ns and (not until_ns or e.time_ns <= until_ns)

    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        if not follow:
            return
        while not os.path.exists(path):
            if done():
                return
            wait(0.05)
        f = open(path, "rb")  # noqa: SIM115
    try:
        if start_at_end:
            f.seek(0, os.SEEK_END)
        elif tail >= 0:
            last: deque[Entry] = deque(maxlen=tail)
            for line in iter(f.readline, b""):
                if not line.endswith(b"\n"):
                    f.seek(-len(line), os.SEEK_CUR)
                    break
                e = _parse(line)
                if e and wanted(e):
                    last.append(e)
            yield from last
        if not follow and tail >= 0:
            return
        finishing = False
        while True:
            pos = f.tell()
            line = f.readline()
            if line.endswith(b"\n"):
                e = _parse(line)
                if e and wanted(e):
                    yield e
                if until_ns and e and e.time_ns > until_ns:
                    return
                continue
            f.seek(pos)
            if not follow or finishing:
                return
            if done():
                finishing = True  # one more pass picks up the writer's last lines
                continue
            wait(0.1)
    finally:
        f.close()
