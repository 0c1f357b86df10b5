"""A small HTTP/1.1 server for the Docker Engine API: routing, bodies, streams and hijacking.

The standard library's threading HTTP server is enough here and gives each request its socket,
which `docker attach`/`exec` need: they upgrade the connection (`Upgrade: tcp`, 101) and then
speak raw frames both ways. Handlers are plain functions `(Request) -> Reply`; they call the
same servicers the gRPC API uses, so no behaviour is implemented twice.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import socketserver
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pallet import errors, log

API_VERSION = "1.43"
MIN_API_VERSION = "1.24"
_VERSIONED = re.compile(r"^/v(\d+\.\d+)(/.*)$")

# gRPC status names (pallet.errors code_name) to Docker's HTTP status codes
_STATUS = {"INVALID_ARGUMENT": 400, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "FAILED_PRECONDITION": 409,
           "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
           "RESOURCE_EXHAUSTED": 507, "UNIMPLEMENTED": 501}


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- replies -------------------------------------------------------------------------------

@dataclass
class Reply:
    """A whole response: a JSON-able body (or raw bytes with a content type)."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A chunked response: each item of chunks is sent and flushed as it comes."""

    chunks: Iterable[bytes]
    content_type: str = "application/json"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hijack:
    """Take over the connection (attach, exec start): run(sock_file_in, sock) after the headers.

    With `Upgrade: tcp` asked, the answer is `101 UPGRADED`; otherwise `200` and a raw body
    that ends when the connection closes (what older clients expect)."""

    run: Callable[[Any, socket.socket], None]
    content_type: str = "application/vnd.docker.raw-stream"


def json_lines(items: Iterable[Any]) -> Iterator[bytes]:
    """NDJSON: one object per line (progress streams, events)."""
    for item in items:
        yield (json.dumps(item, separators=(",", ":")) + "\r\n").encode()


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed stream frame: [type, 0, 0, 0, size (big-endian u32)] + data."""
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


# --- requests ------------------------------------------------------------------------------

class Request:
    def __init__(self, handler: _Handler, method: str, path: str, query: dict[str, list[str]],
                 match: dict[str, str], version: str) -> None:
        self.handler = handler
        self.method = method
        self.path = path
        self.query = query
        self.match = {k: unquote(v) for k, v in match.items()}
        self.version = version
        self.headers = handler.headers
        self._body_used = False

    def __getitem__(self, name: str) -> str:
        return self.match[name]

    def param(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.param(name)
        if value == "":
            return default
        return value.lower() in ("1", "true", "yes")

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.param(name)
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {value!r}") from None

    def filters(self) -> dict[str, list[str]]:
        """Docker's `filters` parameter: {"k": ["v"]} or the older {"k": {"v": true}}."""
        raw = self.param("filters")
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except ValueError:
            raise HTTPError(400, f"invalid filters: {raw!r}") from None
        if not isinstance(doc, dict):
            raise HTTPError(400, "invalid filters: not an object")
        out: dict[str, list[str]] = {}
        for k, v in doc.items():
            if isinstance(v, dict):
                out[k] = [x for x, on in v.items() if on]
            elif isinstance(v, list):
                out[k] = [str(x) for x in v]
            else:
                out[k] = [str(v)]
        return out

    def filter_list(self, skip: tuple[str, ...] = ()) -> list[str]:
        """The filters as the "key=value" strings the servicers take (keys in skip left out)."""
        return [f"{k}={v}" for k, values in self.filters().items() if k not in skip for v in values]

    def body_chunks(self, size: int = 256 * 1024) -> Iterator[bytes]:
        """The request body, as it arrives (Content-Length or chunked)."""
        if self._body_used:
            return
        self._body_used = True
        rfile = self.handler.rfile
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = rfile.readline(1024)
                if not line:
                    raise HTTPError(400, "truncated chunked body")
                n = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if n == 0:
                    while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = n
                while left:
                    data = rfile.read(min(left, size))
                    if not data:
                        raise HTTPError(400, "truncated chunked body")
                    left -= len(data)
                    yield data
                rfile.readline(8)
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            data = rfile.read(min(left, size))
            if not data:
                raise HTTPError(400, "truncated body")
            left -= len(data)
            yield data

    def body(self) -> bytes:
        return b"".join(self.body_chunks())

    def json(self, default: Any = None) -> Any:
        raw = self.body()
        if not raw.strip():
            return default
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise HTTPError(400, f"invalid JSON body: {exc}") from None

    # what the servicers expect of a gRPC context
    def is_active(self) -> bool:
        """False once the client has gone (a readable socket that reads nothing)."""
        sock = self.handler.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return True
            return bool(sock.recv(1, socket.MSG_PEEK))
        except (OSError, ValueError):
            return False

    def add_callback(self, fn: Callable[[], None]) -> bool:
        self.handler.callbacks.append(fn)
        return True


Handler = Callable[[Request], "Reply | Stream | Hijack"]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        compiled = re.compile("^" + pattern + "$")

        def add(fn: Handler) -> Handler:
            self.routes.append((method, compiled, fn))
            return fn

        return add

    def find(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for m, pattern, fn in self.routes:
            match = pattern.match(path)
            if match:
                if m == method or (method == "HEAD" and m == "GET"):
                    return fn, match.groupdict()
                allowed = True
        if allowed:
            raise HTTPError(405, f"method {method} not allowed on {path}")
        raise HTTPError(404, f"page not found: {path}")


# --- the server ------------------------------------------------------------------------------

def error_status(exc: BaseException) -> tuple[int, str] | None:
    if isinstance(exc, HTTPError):
        return exc.status, exc.message
    if isinstance(exc, errors.PalletError):
        return _STATUS.get(exc.code_name, 500), exc.message
    try:
        import grpc
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        name = exc.code().name
        return _STATUS.get(name, 500), exc.details() or name
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Pallet"
    sys_version = ""
    router: Router
    callbacks: list[Callable[[], None]]

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.get("dockerapi").debug("http", message=format % args)

    def handle_one_request(self) -> None:
        self.callbacks = []
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        finally:
            for fn in self.callbacks:
                with contextlib.suppress(Exception):
                    fn()

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def _dispatch(self) -> None:
        logger = log.get("dockerapi")
        url = urlsplit(self.path)
        path, version = url.path, API_VERSION
        m = _VERSIONED.match(path)
        if m:
            version, path = m.group(1), m.group(2)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            if m and _vtuple(version) < _vtuple(MIN_API_VERSION):
                raise HTTPError(400, f"client version {version} is too old. Minimum supported API version is "
                                f"{MIN_API_VERSION}, please upgrade your client to a newer version")
            fn, match = self.router.find(self.command, path.rstrip("/") or "/")
            req = Request(self, self.command, path, query, match, version)
            reply = fn(req)
            if not req._body_used:
                for _ in req.body_chunks():
                    pass
        except Exception as exc:  # noqa: BLE001 - every failure becomes Docker's JSON error
            mapped = error_status(exc)
            if mapped is None:
                logger.exception("unexpected error", method=self.command, path=self.path)
                mapped = (500, f"internal error: {exc}")
            else:
                logger.debug("request failed", method=self.command, path=self.path, status=mapped[0],
                             error=mapped[1])
            self._send(Reply(mapped[0], {"message": mapped[1]}))
            return
        logger.debug("request", method=self.command, path=self.path)
        if isinstance(reply, Reply):
            self._send(reply)
        elif isinstance(reply, Stream):
            self._stream(reply)
        else:
            self._hijack(reply)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        try:
            phrase = "UPGRADED" if status == 101 else HTTPStatus(status).phrase  # Docker's words for 101
        except ValueError:
            phrase = ""
        self.send_response_only(status, phrase)
        self.send_header("Server", "Pallet")
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Ostype", "linux")
        self.send_header("Date", self.date_time_string())
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, reply: Reply) -> None:
        if reply.body is None:
            data = b""
        elif isinstance(reply.body, bytes | bytearray):
            data = bytes(reply.body)
        elif isinstance(reply.body, str):
            data = reply.body.encode()
        else:
            data = (json.dumps(reply.body) + "\n").encode()
        headers = dict(reply.headers)
        if reply.status != 204 and reply.status != 304:
            headers.setdefault("Content-Type", reply.content_type)
            headers["Content-Length"] = str(len(data))
        self._head(reply.status, headers)
        if self.command != "HEAD" and reply.status not in (204, 304):
            self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, reply: Stream) -> None:
        self._head(reply.status, {"Content-Type": reply.content_type, "Transfer-Encoding": "chunked",
                                  **reply.headers})
        self.wfile.flush()
        it = iter(reply.chunks)
        try:
            for chunk in it:
                if chunk:
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionError, ssl.SSLError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - headers are out: end the stream with an error line
            mapped = error_status(exc) or (500, f"internal error: {exc}")
            if mapped[0] == 500:
                log.get("dockerapi").exception("stream failed", path=self.path)
            with contextlib.suppress(OSError):
                line = (json.dumps({"error": mapped[1], "errorDetail": {"message": mapped[1]}}) + "\r\n").encode()
                self.wfile.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(line), line))
                self.wfile.flush()
            self.close_connection = True
        finally:
            close = getattr(it, "close", None)
            if close:
                close()

    def _hijack(self, reply: Hijack) -> None:
        upgrade = "upgrade" in self.headers.get("Connection", "").lower()
        if upgrade:
            self._head(101, {"Content-Type": reply.content_type, "Connection": "Upgrade", "Upgrade": "tcp"})
        else:
            self._head(200, {"Content-Type": reply.content_type, "Connection": "close"})
        self.wfile.flush()
        self.close_connection = True
        try:
            reply.run(self.rfile, self.connection)
        except (BrokenPipeError, ConnectionError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                self.wfile.flush()


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], handler: Any, tls: ssl.SSLContext | None) -> None:
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)
        self.tls = tls

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = self.socket.accept()
        if self.tls is not None:  # the handshake runs in the request's thread (_Handler.setup)
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr


def make_server(router: Router, bind: str, tls: ssl.SSLContext | None = None) -> socketserver.BaseServer:
    """A server for unix:///path or host:port (not yet serving: call serve_forever in a thread)."""
    handler = type("Handler", (_Handler,), {"router": router})
    if bind.startswith("unix://"):
        path = bind[len("unix://"):]
        import os
        import stat

        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return _UnixServer(path, handler)
    host, _, port = bind.rpartition(":")
    return _TCPServer((host.strip("[]"), int(port)), handler, tls)
