"""A hijacked connection relayed to an Attach/ExecStart RPC: stdin in, (framed) output out.

An Attach is started, and its ack awaited, before the connection is hijacked: a bad option is
still an HTTP error, and the attachment is in place before the client (which waits for the
head) starts the container. An exec starts once the head is out, as dockerd starts it. Then one
thread reads the socket into the RPC's request stream and the handler's thread writes the
output until the process exits, the client detaches or goes away.

The docker CLI always shuts its write side once stdin is done (at once without `-i`): an EOF
on the socket is stdin's EOF, not the client leaving. The client has gone when writing fails or,
on a unix socket, when the peer closed both directions (POLLHUP).
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from pallet import errors, log
from pallet.engine.dockerapi._http import Hijack, error_status, frame
from pallet.engine.v1 import engine_pb2 as pb

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def stream_type(version: str, tty: bool) -> str:
    """The content type of a stream: multiplexed frames are named as such from API 1.42."""
    if not tty and tuple(int(x) for x in version.split(".")) >= (1, 42):
        return MULTIPLEXED
    return RAW


class Feed:
    """The request stream of an Attach/ExecStart call: the options, then stdin, resizes, EOF."""

    def __init__(self, first: pb.AttachRequest) -> None:
        self._q: queue.SimpleQueue[pb.AttachRequest | None] = queue.SimpleQueue()
        self._q.put(first)

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> pb.AttachRequest:
        item = self._q.get()
        if item is None:
            self._q.put(None)  # stays ended for any later reader
            raise StopIteration
        return item

    def send(self, **fields: Any) -> None:
        self._q.put(pb.AttachRequest(**fields))

    def close(self) -> None:
        self._q.put(None)


class Context:
    """What the servicers expect of a gRPC context, for a hijacked connection."""

    def __init__(self) -> None:
        self.gone = threading.Event()
        self.sock: socket.socket | None = None
        self._callbacks: list[Callable[[], None]] = []

    def is_active(self) -> bool:
        if self.gone.is_set():
            return False
        sock = self.sock
        if sock is None or sock.family != socket.AF_UNIX:
            return True
        try:
            p = select.poll()
            p.register(sock.fileno(), select.POLLHUP | select.POLLERR)
            if any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in p.poll(0)):
                self.gone.set()
        except (OSError, ValueError):
            self.gone.set()
        return not self.gone.is_set()

    def add_callback(self, fn: Callable[[], None]) -> bool:
        self._callbacks.append(fn)
        return True

    def done(self) -> None:
        for fn in self._callbacks:
            with contextlib.suppress(Exception):
                fn()


Starter = Callable[[Feed, Context], Iterator[pb.AttachResponse]]

# docker-py parses the 101/200 head with a buffered reader and then reads the raw socket: bytes
# that arrive with the head are lost to it. What is sent at once after the head waits this long.
SETTLE = 0.05


class Call:
    """An Attach/ExecStart call and the request stream feeding it."""

    def __init__(self, starter: Starter, first: pb.AttachRequest) -> None:
        self.feed, self.ctx = Feed(first), Context()
        self.responses = starter(self.feed, self.ctx)

    def ack(self) -> None:
        """Wait for the call's first answer: its errors are raised here."""
        try:
            next(self.responses)
        except StopIteration:
            pass
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        close = getattr(self.responses, "close", None)
        if close is not None:
            close()
        self.feed.close()
        self.ctx.done()


def start(starter: Starter, first: pb.AttachRequest) -> Call:
    """Start the call and wait for its ack, before the hijack: its errors are still HTTP errors
    (and an attachment to a container that is not started yet is in place before the client,
    which waits for the head, starts it)."""
    call = Call(starter, first)
    call.ack()
    return call


class _Writer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._not_before: float | None = time.monotonic() + SETTLE

    def send(self, data: bytes) -> None:
        if self._not_before is not None:
            time.sleep(max(0.0, self._not_before - time.monotonic()))
            self._not_before = None
        self.sock.sendall(data)


def hijack(call: Call | Callable[[], Call], *, tty: bool, stdin: bool, content_type: str) -> Hijack:
    """Relay the connection to a call until the process's output ends.

    call is a started Call or, to start it once the head is out (as dockerd starts an exec),
    a function making one; its errors then go to the client's output, as dockerd writes them."""

    def read_stdin(c: Call, rfile: Any) -> None:
        try:
            while True:
                data = rfile.read1(32 * 1024)
                if not data:
                    if stdin:
                        c.feed.send(stdin_eof=True)
                    return
                if stdin:
                    c.feed.send(stdin_data=data)
        except (OSError, ValueError):
            c.ctx.gone.set()

    def run(rfile: Any, sock: socket.socket) -> None:
        out = _Writer(sock)
        if isinstance(call, Call):
            c = call
        else:
            try:
                c = call()
            except (errors.PalletError, grpc.RpcError) as exc:
                data = ((error_status(exc) or (500, str(exc)))[1] + "\r\n").encode()
                out.send(data if tty else frame(1, data))
                return
        c.ctx.sock = sock
        reader = threading.Thread(target=read_stdin, args=(c, rfile), name="dockerapi-stdin", daemon=True)
        reader.start()
        try:
            for msg in c.responses:
                which = msg.WhichOneof("event")
                if which == "output":
                    data = msg.output.data
                    if not data:
                        continue
                    try:
                        out.send(data if tty else frame(msg.output.stream or 1, data))
                    except OSError:
                        c.ctx.gone.set()
                        break
                elif which in ("exit", "detached"):
                    break
        except (errors.PalletError, grpc.RpcError) as exc:  # the head is out: the connection just ends
            log.get("dockerapi").warning("stream ended by an error", error=str(exc))
        finally:
            c.close()
            # wake the reader (it holds rfile, which the server closes next)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)
            reader.join(2)

    return Hijack(run, content_type)


def write_all(chunks: Iterator[bytes], content_type: str = RAW) -> Hijack:
    """A hijacked connection that only carries output (attach with logs and no stream)."""

    def run(rfile: Any, sock: socket.socket) -> None:
        out = _Writer(sock)
        try:
            for data in chunks:
                out.send(data)
        except (errors.PalletError, grpc.RpcError) as exc:
            log.get("dockerapi").warning("stream ended by an error", error=str(exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    return Hijack(run, content_type)
