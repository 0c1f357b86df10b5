"""Reading attach streams in tests without ever blocking for long."""

from __future__ import annotations

import select
import time

from pallet.shim.client import Attachment


def _next(att: Attachment, deadline: float, what: str) -> tuple[int | None, bytes | None]:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what}")
        ready, _, _ = select.select([att], [], [], remaining)
        if ready:
            return att.recv()


def read_until(att: Attachment, needle: bytes, timeout: float = 5.0, stream: int = 1) -> bytes:
    """Output of one stream until it contains needle (AssertionError on timeout or end)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        sid, data = _next(att, deadline, f"{needle!r} (so far {buf!r})")
        if sid is None:
            raise AssertionError(f"stream ended before {needle!r}: {buf!r}")
        if sid == stream and data:
            buf += data
    return buf


def read_all(att: Attachment, timeout: float = 5.0) -> tuple[dict[int, bytes], list[int]]:
    """Everything up to the end: ({stream: bytes}, [streams in the order their EOF came])."""
    out: dict[int, bytes] = {}
    eofs: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        sid, data = _next(att, deadline, f"the end of the stream (so far {out!r}, EOF {eofs})")
        if sid is None:
            return out, eofs
        if data is None:
            eofs.append(sid)
        else:
            out[sid] = out.get(sid, b"") + data
