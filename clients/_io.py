"""Relaying a terminal or pipes to an Attach/ExecStart stream: stdin, output, resizes."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


def terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        return size.columns, size.lines
    except OSError:
        return 0, 0


class Relay:
    """Feeds an RPC's request stream from stdin and prints its responses.

    `open_stream(requests)` starts the call; `first` is the options message.
    With a TTY the local terminal is put in raw mode and window changes are
    sent as resizes. The exit status of the process is returned by run().
    """

    def __init__(self, first: Any, tty: bool, interactive: bool) -> None:
        self.first = first
        self.tty = tty
        self.interactive = interactive
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._q.put(first)

    def requests(self) -> Iterator[Any]:
        while True:
            item = self._q.get()
            if item is None:
                return
            yield item

    def send(self, **fields: Any) -> None:
        from pallet.engine.v1 import engine_pb2 as pb

        self._q.put(pb.AttachRequest(**fields))

    def send_resize(self) -> None:
        from pallet.engine.v1 import engine_pb2 as pb

        w, h = terminal_size()
        if w and h:
            self.send(resize=pb.TtySize(width=w, height=h))

    def _pump_stdin(self) -> None:
        fd = sys.stdin.fileno()
        while True:
            try:
                data = os.read(fd, 32 * 1024)
            except OSError:
                data = b""
            if not data:
                self.send(stdin_eof=True)
                return
            self.send(stdin_data=data)

    def run(self, stream: Iterator[Any], after_ack: Callable[[], None] | None = None) -> int | None:
        """Relay until the process exits (its status) or the client detaches (None)."""
        next(stream)  # attached
        if after_ack:
            after_ack()
        restore = None
        if self.tty:
            self.send_resize()
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signal.SIGWINCH, lambda *_: self.send_resize())
            if self.interactive and sys.stdin.isatty():
                import termios
                import tty as tty_mod

                saved = termios.tcgetattr(sys.stdin.fileno())
                tty_mod.setraw(sys.stdin.fileno())

                def restore() -> None:
                    termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)

        if self.interactive:
            threading.Thread(target=self._pump_stdin, name="stdin", daemon=True).start()
        status: int | None = None
        try:
            for msg in stream:
                which = msg.WhichOneof("event")
                if which == "output":
                    out = sys.stderr.buffer if msg.output.stream == 2 else sys.stdout.buffer
                    out.write(msg.output.data)
                    out.flush()
                elif which == "exit":
                    if msg.exit.error and msg.exit.error != "container was removed":
                        print(f"palletctl: {msg.exit.error}", file=sys.stderr)
                    status = int(msg.exit.exit_code)
                elif which == "detached":
                    status = None
                    cancel = getattr(stream, "cancel", None)
                    if cancel:
                        cancel()
                    break
        finally:
            self._q.put(None)
            if restore is not None:
                restore()
        return status
