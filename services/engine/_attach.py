"""One client's attachment to a process's stdio, relayed through its shim.

A Session joins two streams: the client's requests (stdin bytes, resizes,
stdin EOF) and the shim's Attachment (output frames). Each direction has one
thread; the gRPC handler reads `events` until the output ends, the client
detaches, or it goes away.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from pallet import errors, log

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def parse_detach_keys(spec: str) -> bytes:
    """Docker's --detach-keys ("ctrl-p,ctrl-q", "ctrl-@", single letters) as bytes; "" is the default."""
    out = bytearray()
    for key in (spec or DEFAULT_DETACH_KEYS).split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
        elif key.startswith("ctrl-") and len(key) == 6:
            c = key[5]
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in "@[\\]^_":
                out.append(ord(c) - ord("@"))
            else:
                raise errors.InvalidArgument(f"invalid detach keys: {spec}")
        else:
            raise errors.InvalidArgument(f"invalid detach keys: {spec}")
    return bytes(out)


class DetachMatcher:
    """Finds the detach sequence in stdin, holding back a partial match."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, whether the client detached)."""
        out = bytearray()
        buf = self._held + data
        self._held = b""
        i = 0
        while i < len(buf):
            rest = buf[i:]
            if rest.startswith(self.keys):
                return bytes(out), True
            if self.keys.startswith(rest):
                self._held = rest
                break
            out.append(buf[i])
            i += 1
        return bytes(out), False


@dataclass
class Output:
    stream: str  # "stdout" | "stderr"
    data: bytes
    time_ns: int


END = "end"  # the process's output is over
DETACHED = "detached"


class Session:
    """Relays between one client and one shim Attachment."""

    def __init__(self, requests: Iterator[Any], first: Any, detach_keys: str,
                 on_resize: Callable[[int, int], None]) -> None:
        self.requests = requests
        self.want_stdin = first.stdin
        self.want_stdout = first.stdout or not (first.stdout or first.stderr or first.stdin)
        self.want_stderr = first.stderr or not (first.stdout or first.stderr or first.stdin)
        self.events: queue.Queue[Output | str] = queue.Queue()
        self.matcher = DetachMatcher(parse_detach_keys(detach_keys))
        self.on_resize = on_resize
        self.initial_size = (first.resize.width, first.resize.height) if first.HasField("resize") else None
        self._att: Any = None
        self._lock = threading.Lock()
        self._pending_stdin: list[bytes] = []
        self._pending_eof = False
        self.log = log.get("attach")
        threading.Thread(target=self._pump_requests, name="attach-in", daemon=True).start()

    @property
    def wants_output(self) -> bool:
        return self.want_stdout or self.want_stderr

    def connect(self, attachment: Any) -> None:
        """Start relaying with the shim's Attachment (output begins flowing)."""
        with self._lock:
            self._att = attachment
            pending, self._pending_stdin = self._pending_stdin, []
            eof = self._pending_eof
        for data in pending:
            self._send(data)
        if eof:
            self._close_stdin()
        threading.Thread(target=self._pump_output, name="attach-out", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            att, self._att = self._att, None
        if att is not None:
            att.close()

    def _send(self, data: bytes) -> None:
        with self._lock:
            att = self._att
            if att is None:
                self._pending_stdin.append(data)
                return
        with contextlib.suppress(errors.PalletError):  # the process is gone; its exit ends the session
            att.send_stdin(data)

    def _close_stdin(self) -> None:
        with self._lock:
            att = self._att
            if att is None:
                self._pending_eof = True
                return
        with contextlib.suppress(errors.PalletError):
            att.close_stdin()

    def _pump_requests(self) -> None:
        try:
            for req in self.requests:
                if req.HasField("resize") and req.resize.width and req.resize.height:
                    with contextlib.suppress(errors.PalletError):
                        self.on_resize(req.resize.width, req.resize.height)
                if req.stdin_data and self.want_stdin:
                    data, detached = self.matcher.feed(req.stdin_data)
                    if data:
                        self._send(data)
                    if detached:
                        self.events.put(DETACHED)
                        return
                if req.stdin_eof and self.want_stdin:
                    self._close_stdin()
        except Exception:  # noqa: BLE001 - the client went away
            pass

    def _pump_output(self) -> None:
        att = self._att
        while att is not None:
            stream, data = att.recv()
            if stream is None:
                break
            if data is None:
                continue
            name = "stderr" if stream == 2 else "stdout"
            if (name == "stdout" and self.want_stdout) or (name == "stderr" and self.want_stderr):
                self.events.put(Output(name, data, time.time_ns()))
        self.events.put(END)

    def next_event(self, alive: Callable[[], bool]) -> Output | str | None:
        """The next output or END/DETACHED; None once the client has gone."""
        while alive():
            try:
                return self.events.get(timeout=0.5)
            except queue.Empty:
                continue
        return None


def relay(session: Session, alive: Callable[[], bool]) -> Generator[Output | str, None, bool]:
    """Yield the session's output; True once it ended, False if the client detached or left."""
    while True:
        event = session.next_event(alive)
        if event is None:
            return False
        if event == DETACHED:
            yield DETACHED
            return False
        if event == END:
            return True
        yield event
