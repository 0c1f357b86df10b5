"""Reading the json-file logs the shim writes: tail, since/until, follow.

The shim may rotate a log the way Docker's json-file driver does: the live
file is `<log>`, older ones `<log>.1` (newest) ... `<log>.N` (oldest). read()
goes through all of them oldest first, and while following it keeps up with
rotations: the file it holds is read to its end, then the newer ones.
parse_log_opts() turns Docker's --log-opt max-size / max-file into the shim's
settings.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from pallet import errors

DEFAULT_MAX_SIZE = 10_000_000  # "10m" as Docker reads max-size (SI units: go-units FromHumanSize)
DEFAULT_MAX_FILES = 3

_BLOCK = 64 * 1024


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


# -- log options -----------------------------------------------------------------

_SIZE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+) ?(?:([kmgtp])(?:b|ib)?|b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_FALSE = ("0", "f", "F", "false", "FALSE", "False")
_TRUE = ("1", "t", "T", "true", "TRUE", "True")


def parse_size(text: str) -> int:
    """Bytes from a size as Docker's max-size takes it: "500k", "10m", "1g", "1.5MB", "4096".

    Units are SI (k = 1000), case-insensitive, with an optional "b"/"ib"
    after them, exactly as go-units' FromHumanSize reads them.
    InvalidArgument if it is not such a size.
    """
    m = _SIZE_RE.fullmatch(text)
    if not m:
        raise errors.InvalidArgument(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])


def parse_log_opts(opts: Mapping[str, str]) -> tuple[int, int]:
    """(max_size_bytes, max_files) from json-file log options.

    Accepted: max-size (a size, see parse_size; > 0), max-file (a whole number
    >= 1) and compress=false. Missing ones default to DEFAULT_MAX_SIZE (10m)
    and DEFAULT_MAX_FILES (3). InvalidArgument for anything else.
    """
    for key in opts:
        if key not in ("max-size", "max-file", "compress"):
            raise errors.InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    max_size, max_files = DEFAULT_MAX_SIZE, DEFAULT_MAX_FILES
    if "max-size" in opts:
        try:
            max_size = parse_size(opts["max-size"])
        except errors.InvalidArgument as exc:
            raise errors.InvalidArgument(f"invalid max-size: {exc}") from None
        if max_size <= 0:
            raise errors.InvalidArgument("max-size must be a positive number")
    if "max-file" in opts:
        text = opts["max-file"]
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise errors.InvalidArgument(f"invalid max-file: '{text}' is not a whole number")
        max_files = int(text)
        if max_files < 1:
            raise errors.InvalidArgument("max-file cannot be less than 1")
    if "compress" in opts:
        value = opts["compress"]
        if value in _TRUE:
            raise errors.InvalidArgument("compress is not supported by this engine's json-file driver")
        if value not in _FALSE:
            raise errors.InvalidArgument(f"invalid compress: '{value}' is not a boolean")
    return max_size, max_files


# -- reading ---------------------------------------------------------------------

def _parse(line: bytes) -> Entry | None:
    try:
        obj = json.loads(line)
        return Entry(obj.get("stream", "stdout"), obj.get("log", "").encode(), parse_time(obj["time"]))
    except (ValueError, KeyError, TypeError):
        return None


def rotated_paths(path: str) -> list[str]:
    """The rotated files of a log that exist, oldest (`path.N`) first, `path.1` last."""
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
    return [f"{path}.{n}" for n in sorted(nums, reverse=True)]


def _open(path: str) -> BinaryIO | None:
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except (FileNotFoundError, NotADirectoryError):
        return None


def _ident(f: BinaryIO) -> tuple[int, int]:
    st = os.fstat(f.fileno())
    return st.st_dev, st.st_ino


def _snapshot(path: str) -> list[tuple[str, tuple[int, int]]] | None:
    """(name, (dev, ino)) of the log's files, oldest first and the live one last.

    None when the picture is visibly mid-rotation: the live file is missing,
    a number is missing from `.1 ... .N`, or one file shows under two names.
    """
    rotated = rotated_paths(path)
    if rotated != [f"{path}.{n}" for n in range(len(rotated), 0, -1)]:
        return None
    out = []
    for name in [*rotated, path]:
        try:
            st = os.stat(name)
        except (FileNotFoundError, NotADirectoryError):
            return None
        out.append((name, (st.st_dev, st.st_ino)))
    if len({ident for _, ident in out}) != len(out):
        return None
    return out


def _open_all(path: str) -> list[BinaryIO]:
    """The log's files, opened, oldest first (the live file last, if there is one).

    The writer renames files while it rotates, so a listing can be torn: a
    file moved from a name not yet read to one already read would be missed.
    The files are opened only from a picture that is whole (no gaps, see
    _snapshot) and unchanged after they were opened, each checked to be the
    file the picture named; otherwise taken again a moment later. A log
    with a gap that stays (somebody removed a rotated file) is taken as it is.
    """
    delay = 0.0005
    for attempt in range(200):
        if attempt and not os.path.lexists(path) and not rotated_paths(path):
            return []  # no log at all (not written yet, or the none driver)
        lenient = attempt >= 20
        before = _snapshot(path) if not lenient else _loose_snapshot(path)
        if before is not None:
            files: list[BinaryIO] = []
            try:
                ok = True
                for name, ident in before:
                    f = _open(name)
                    if f is None:
                        ok = False
                        break
                    files.append(f)
                    if _ident(f) != ident:
                        ok = False
                        break
                after = _snapshot(path) if not lenient else _loose_snapshot(path)
                if ok and after == before:
                    return files
            except BaseException:
                for f in files:
                    f.close()
                raise
            for f in files:
                f.close()
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    return []  # no log (or one that never holds still): nothing to read yet


def _loose_snapshot(path: str) -> list[tuple[str, tuple[int, int]]] | None:
    """Like _snapshot, but files may be missing (gaps are taken as they are)."""
    out = []
    seen = set()
    for name in [*rotated_paths(path), path]:
        try:
            st = os.stat(name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            return None
        seen.add(ident)
        out.append((name, ident))
    return out or None


def _newer_files(path: str, f: BinaryIO) -> list[BinaryIO] | None:
    """After f's end: None if f is still the live file, else the files written after it.

    A live file that shrank (truncated in place) is read again from its start.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None  # mid-rotation (or removed): look again later
    fst = os.fstat(f.fileno())
    if (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino):
        if fst.st_size < f.tell():
            f.seek(0)
            return []
        return None
    files = _open_all(path)
    idents = [_ident(x) for x in files]
    mine = (fst.st_dev, fst.st_ino)
    i = idents.index(mine) if mine in idents else -1  # not there: rotated out, all are newer
    for x in files[:i + 1]:
        x.close()
    return files[i + 1:] or None  # nothing newer (a rotation in progress): look again later


def _complete_end(f: BinaryIO) -> int:
    """Offset just after the file's last newline (0 if it has none)."""
    pos = os.fstat(f.fileno()).st_size
    while pos > 0:
        n = min(_BLOCK, pos)
        f.seek(pos - n)
        chunk = f.read(n)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return pos - n + i + 1
        pos -= n
    return 0


def _lines_backward(f: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines before offset end (just after a newline), last first, each with its newline."""
    pos = end
    head = b""  # the start of data not yet yielded: a line whose beginning is not read yet
    while pos > 0:
        n = min(_BLOCK, pos)
        pos -= n
        f.seek(pos)
        data = f.read(n) + head
        if pos > 0:
            cut = data.find(b"\n") + 1
            if not cut:
                head = data
                continue
            head, data = data[:cut], data[cut:]
        else:
            head = b""
        parts = data.split(b"\n")  # data ends with a newline: the last part is empty
        for i in range(len(parts) - 2, -1, -1):
            yield parts[i] + b"\n"


def _tail(files: list[BinaryIO], n: int, wanted: Callable[[Entry], bool],
          live_end: int) -> list[Entry]:
    """The last n wanted entries, reading the files newest first only as far as needed."""
    got: list[Entry] = []
    for k in range(len(files) - 1, -1, -1):
        if len(got) >= n:
            break
        end = live_end if k == len(files) - 1 else _complete_end(files[k])
        for line in _lines_backward(files[k], end):
            e = _parse(line)
            if e and wanted(e):
                got.append(e)
                if len(got) >= n:
                    break
    got.reverse()
    return got


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
    """Entries of a log (its rotated files first); with follow, keeps reading until done() is true.

    `wait(seconds)` blocks until the writer may have added lines (or the time
    passes); the engine wakes it when the container exits. tail >= 0 gives
    the last `tail` entries that pass since/until; start_at_end skips what is
    there already.
    """

    def wanted(e: Entry) -> bool:
        return e.time_ns >= since_ns and (not until_ns or e.time_ns <= until_ns)

    files = _open_all(path)
    while not files:
        if not follow or done():
            return
        wait(0.05)
        files = _open_all(path)
    pending = deque(files)
    f = pending.pop()  # the newest; the others are read first unless skipped
    try:
        if start_at_end or tail >= 0:
            end = _complete_end(f)
            got = _tail([*pending, f], tail, wanted, end) if tail > 0 and not start_at_end else []
            while pending:
                pending.popleft().close()
            f.seek(end)
            yield from got
            if not follow:
                return
        else:
            pending.append(f)
            f = pending.popleft()
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
            if pending:  # this one is complete: on to the next newer file
                f.close()
                f = pending.popleft()
                continue
            if not follow:
                return
            newer = _newer_files(path, f)
            if newer is not None:
                # rotated: f gets no more lines, but read it to its end first
                # (the writer may have added some since we looked)
                pending.extend(newer)
                continue
            if finishing:
                return
            if done():
                finishing = True  # one more pass picks up the writer's last lines
                continue
            wait(0.1)
    finally:
        f.close()
        for x in pending:
            x.close()
