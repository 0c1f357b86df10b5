"""Attached clients: one per connection that sent Attach, fed DATA frames.

Output fans out to every client attached to the process: each gets the frame
appended to its connection's buffer, flushed as far as the socket takes it. A
client that lets more than MAX_BUFFER pile up is dropped (its connection
closed) so a slow reader never holds up the container or the loop. DATA
frames on stream 0 from a client attached with stdin go to the process's
stdin (framing in pallet.shim.protocol).

Functions here take the Shim (pallet.shim.server) as their first argument.
"""

from __future__ import annotations

import functools
import os
import selectors
from typing import TYPE_CHECKING

from pallet.shim import _stdio, protocol
from pallet.shim._process import Process
from pallet.shim.protocol import RpcError

if TYPE_CHECKING:
    from pallet.shim.server import Shim, _Conn

MAX_BUFFER = 4 << 20  # bytes queued for one attached client before it is dropped
STREAMS = {"stdout": protocol.STREAM_STDOUT, "stderr": protocol.STREAM_STDERR}


class Attacher:
    __slots__ = ("conn", "proc", "streams", "stdin", "eof_sent")

    def __init__(self, conn: _Conn, proc: Process, streams: set[int], stdin: bool) -> None:
        self.conn = conn
        self.proc = proc
        self.streams = streams  # STREAM_STDOUT / STREAM_STDERR wanted
        self.stdin = stdin
        self.eof_sent: set[int] = set()


def data_frame(stream: int, data: bytes) -> bytes:
    return protocol.pack(stream, protocol.TYPE_DATA, data)


def eof_frame(stream: int) -> bytes:
    return protocol.pack(stream, protocol.TYPE_DATA, b"", protocol.FLAG_EOF)


def send(shim: Shim, conn: _Conn, data: bytes) -> None:
    """Queue stream data for an attached client; drop the client if it lags too far."""
    if conn.sock.fileno() < 0:
        return
    conn.out += data
    shim._flush(conn)
    if conn.sock.fileno() >= 0 and len(conn.out) > MAX_BUFFER:
        shim.log.warning("attached client is not reading; dropping it", queued=len(conn.out))
        shim._close_conn(conn)


def watch(shim: Shim, proc: Process) -> None:
    """Read the process's stdout/stderr (or pty) from the loop."""
    for fd in proc.outputs:
        os.set_blocking(fd, False)
        shim.sel.register(fd, selectors.EVENT_READ, functools.partial(on_output, shim, proc))


def on_output(shim: Shim, proc: Process, fd: int, mask: int) -> None:
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""  # EIO from a pty master once no one holds the terminal
    if data:
        emit(shim, proc, proc.outputs[fd], data)
        return
    close_output(shim, proc, fd)
    if not proc.outputs:
        end_all(shim, proc)
        if proc.exit_status is not None:
            shim._done(proc)


def emit(shim: Shim, proc: Process, stream: str, data: bytes) -> None:
    """Output read from a process: to the log (init) and every client attached to the stream."""
    if proc.logged and shim.logfile is not None:
        shim.logfile.feed(stream, data)
    sid = STREAMS[stream]
    frame = b""
    for att in list(proc.attachers):
        if sid in att.streams:
            frame = frame or data_frame(sid, data)
            send(shim, att.conn, frame)


def close_output(shim: Shim, proc: Process, fd: int) -> None:
    """One output stream is at its end."""
    stream = proc.outputs.pop(fd)
    shim.sel.unregister(fd)
    os.close(fd)
    if fd == proc.master:
        proc.master = -1
    if proc.logged and shim.logfile is not None:
        shim.logfile.flush(stream)
    sid = STREAMS[stream]
    for att in list(proc.attachers):
        if sid in att.streams and sid not in att.eof_sent:
            att.eof_sent.add(sid)
            send(shim, att.conn, eof_frame(sid))


def drain(shim: Shim, proc: Process) -> None:
    """Take what the outputs hold without waiting any longer, then close them."""
    for fd in list(proc.outputs):
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            emit(shim, proc, proc.outputs[fd], data)
        close_output(shim, proc, fd)


def end_all(shim: Shim, proc: Process) -> None:
    """No more output will come: EOF every attacher's streams and close them."""
    proc.output_done = True
    attachers, proc.attachers = proc.attachers, []
    for att in attachers:
        end(shim, att)


def end(shim: Shim, att: Attacher) -> None:
    conn = att.conn
    if conn.sock.fileno() < 0:
        return
    for sid in sorted(att.streams - att.eof_sent):
        att.eof_sent.add(sid)
        conn.out += eof_frame(sid)
    conn.closing = True
    shim._flush(conn)


def detach(conn: _Conn) -> None:
    """The connection is closing: stop feeding it."""
    att = conn.attach
    if att is not None and att in att.proc.attachers:
        att.proc.attachers.remove(att)


def on_data(shim: Shim, conn: _Conn, stream: int, flags: int, payload: bytes) -> None:
    """A DATA frame from a client: stdin bytes, or stdin's EOF."""
    att = conn.attach
    if att is None or not att.stdin or stream != protocol.STREAM_STDIN:
        return
    if payload:
        _stdio.write_stdin(shim, att.proc, payload)
    if flags & protocol.FLAG_EOF:
        _stdio.close_stdin(shim, att.proc)


def rpc_attach(shim: Shim, conn: _Conn, sid: int, payload: bytes) -> None:
    """Answer OK, then the connection carries the process's streams."""
    pb = shim.pb
    req = pb.AttachRequest.FromString(payload)
    proc = shim._proc(req.exec_id)
    if conn.attach is not None:
        raise RpcError(protocol.FAILED_PRECONDITION, "this connection is already attached")
    if req.stdin and not proc.stdin:
        raise RpcError(protocol.FAILED_PRECONDITION, f"{proc.name} has no stdin")
    streams = set()
    if req.stdout:
        streams.add(protocol.STREAM_STDOUT)
    if req.stderr:
        streams.add(protocol.STREAM_STDERR)
    att = Attacher(conn, proc, streams, req.stdin)
    conn.attach = att
    shim._reply(conn, sid, protocol.OK, "", pb.AttachResponse().SerializeToString())
    if proc.output_done or proc.done:
        end(shim, att)
        return
    proc.attachers.append(att)
    if att.stdin and proc.stdin_paused:
        conn.paused = True
        shim._set_events(conn)
    shim.log.debug("attached", exec_id=proc.exec_id, stdin=req.stdin, stdout=req.stdout,
                   stderr=req.stderr)
