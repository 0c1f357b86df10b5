"""The shim's wire format: ttrpc-style frames over a unix stream socket.

Every frame is a 10-byte big-endian header `>IIBB` — payload length, stream
id, message type (1 request, 2 response, 3 data), flags — followed by the
payload. A request payload is a serialized `pallet.shim.v1.Request`
{service="pallet.shim.v1.Task", method, payload=XxxRequest}; a response
payload is a serialized `pallet.shim.v1.Response` {status{code, message},
payload=XxxResponse} carrying the stream id of its request. Status codes are
gRPC code numbers. A connection carries any number of requests; responses may
come back in any order (a parked Wait does not hold up a later State).
Request and response frames have flags 0.

Attach streams. Once the shim has answered an `Attach` request with an OK
response, the connection also carries DATA frames (type 3) whose stream id
names a stdio stream and whose payload is raw bytes:

    stream 0  client -> shim  stdin bytes for the process (if attached with stdin)
    stream 1  shim -> client  the process's stdout (with a terminal: the pty's output)
    stream 2  shim -> client  the process's stderr (never data with a terminal)

Flag 0x1 (FLAG_EOF) on a DATA frame means end of that stream; its payload is
empty. A client's EOF on stream 0 closes the process's stdin, as CloseIO
does. When the process's output is done the shim sends EOF on 1 and 2 (those
the client attached to) and closes the connection. Output fans out to every
attached connection; one that does not read and lets more than a few MiB pile
up is dropped, so a slow client never holds up the container. Output made
while nobody is attached is only in the container's log (init) or lost
(execs). Requests may still be sent on an attached connection.

This module is only framing (stdlib); the messages live in
`pallet.shim.v1.shim_pb2`.
"""

from __future__ import annotations

import socket
import struct

HEADER = struct.Struct(">IIBB")
HEADER_SIZE = HEADER.size  # 10
TYPE_REQUEST = 1
TYPE_RESPONSE = 2
TYPE_DATA = 3
FLAG_EOF = 0x1
STREAM_STDIN = 0
STREAM_STDOUT = 1
STREAM_STDERR = 2
MAX_PAYLOAD = 4 << 20
SERVICE = "pallet.shim.v1.Task"

# gRPC status code numbers used on the wire.
OK = 0
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
FAILED_PRECONDITION = 9
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame."""


class RpcError(Exception):
    """A method's failure, answered as Status{code, message}."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def pack(stream_id: int, msg_type: int, payload: bytes, flags: int = 0) -> bytes:
    """One frame: header then payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(len(payload), stream_id, msg_type, flags) + payload


class Decoder:
    """Turns a byte stream into frames: feed() returns complete (stream, type, flags, payload)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        while len(buf) - pos >= HEADER_SIZE:
            length, stream_id, msg_type, flags = HEADER.unpack_from(buf, pos)
            if length > MAX_PAYLOAD:
                raise ProtocolError(f"frame of {length} bytes exceeds {MAX_PAYLOAD}")
            end = pos + HEADER_SIZE + length
            if len(buf) < end:
                break
            frames.append((stream_id, msg_type, flags, bytes(buf[pos + HEADER_SIZE:end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buf)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly n bytes; EOFError if the peer closes first."""
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("connection closed by peer")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> tuple[int, int, int, bytes]:
    """Read one whole frame from a blocking socket."""
    length, stream_id, msg_type, flags = HEADER.unpack(recv_exact(sock, HEADER_SIZE))
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"frame of {length} bytes exceeds {MAX_PAYLOAD}")
    return stream_id, msg_type, flags, recv_exact(sock, length) if length else b""
