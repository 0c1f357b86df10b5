"""A small etcd v3 client over etcd's gRPC-JSON gateway (HTTP/1.1, standard library only).

etcd 3.4 serves the gateway on its client port at /v3/...: every call is a POST of a JSON
request, keys and values are base64, int64 fields come back as strings, and fields holding
their default value (0, false, "", PUT) are left out. Streaming calls (watch, lease keepalive)
answer one JSON object a line, each wrapped in {"result": ...}.

    etcd = Etcd(["etcd://10.0.0.1:2379,10.0.0.2:2379"])
    rev = etcd.put("/a", b"1")
    ok = etcd.cas_put("/a", b"2", expected_mod_revision=rev)
    with etcd.watch_prefix("/", rev + 1) as w:
        for ev in w: ...

Endpoints are tried in order, starting from the last one that answered; a call moves on to the
next when it cannot connect (or the member answers "unavailable"). A write (put, delete, txn)
whose connection breaks after it was sent is not repeated, since it may have been applied: it
raises Unavailable. Lease keeping and leader election live in _election.py (KeepAlive, Election).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import select
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]
Key = str | bytes


class EtcdError(Exception):
    """An error answered by etcd (code: the gRPC status code, when there is one)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class Unavailable(EtcdError):
    """No endpoint could be reached (or a write's outcome is unknown because its connection broke)."""


class Compacted(EtcdError):
    """The revision asked for was compacted away: re-list, then watch from the new revision.

    revision: etcd's compaction revision for a watch; for a read, the revision that was asked for.
    """

    def __init__(self, revision: int) -> None:
        super().__init__(f"etcd revision {revision} has been compacted; re-list and watch again", 11)
        self.revision = revision


# ---- encoding -------------------------------------------------------------------------------


def _bytes(key: Key) -> bytes:
    return key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key


def _b64(key: Key) -> str:
    return base64.b64encode(_bytes(key)).decode("ascii")


def prefix_end(prefix: Key) -> bytes:
    """The range_end that selects every key starting with prefix (b"\\0": every key)."""
    raw = bytearray(_bytes(prefix))
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return b"\0"
    raw[-1] += 1
    return bytes(raw)


def _start(prefix: Key) -> bytes:
    """The range start for prefix (etcd takes an empty prefix as b"\0")."""
    return _bytes(prefix) or b"\0"


@dataclass(frozen=True, slots=True)
class KV:
    """A key-value pair with its revisions (key decoded as UTF-8, surrogateescape for other bytes)."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    @staticmethod
    def from_json(d: JSON) -> KV:
        return KV(
            key=base64.b64decode(d.get("key", "")).decode("utf-8", "surrogateescape"),
            value=base64.b64decode(d.get("value", "")),
            create_revision=int(d.get("create_revision", 0)),
            mod_revision=int(d.get("mod_revision", 0)),
            version=int(d.get("version", 0)),
            lease=int(d.get("lease", 0)),
        )


def _kvs(d: JSON) -> list[KV]:
    return [KV.from_json(kv) for kv in d.get("kvs", [])]


def _revision(d: JSON) -> int:
    return int(d.get("header", {}).get("revision", 0))


@dataclass(frozen=True, slots=True)
class Event:
    """One change seen by a watch. A DELETE's kv holds only the key and the deletion's mod_revision."""

    type: Literal["PUT", "DELETE"]
    kv: KV
    prev_kv: KV | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    ttl: int


# ---- transactions ---------------------------------------------------------------------------

_RESULTS = {"=": "EQUAL", "==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a txn, built with the helpers: Compare.mod_revision("k", "=", 7)."""

    body: JSON

    @staticmethod
    def _make(key: Key, op: str, target: str, field_name: str, value: Any) -> Compare:
        if op not in _RESULTS:
            raise ValueError(f"compare operator {op!r}: want one of {', '.join(_RESULTS)}")
        return Compare({"key": _b64(key), "result": _RESULTS[op], "target": target, field_name: value})

    @staticmethod
    def version(key: Key, op: str, version: int) -> Compare:
        """version(key, "=", 0): the key does not exist."""
        return Compare._make(key, op, "VERSION", "version", str(version))

    @staticmethod
    def create_revision(key: Key, op: str, revision: int) -> Compare:
        return Compare._make(key, op, "CREATE", "create_revision", str(revision))

    @staticmethod
    def mod_revision(key: Key, op: str, revision: int) -> Compare:
        return Compare._make(key, op, "MOD", "mod_revision", str(revision))

    @staticmethod
    def value(key: Key, op: str, value: Key) -> Compare:
        return Compare._make(key, op, "VALUE", "value", _b64(value))

    @staticmethod
    def lease(key: Key, op: str, lease_id: int) -> Compare:
        return Compare._make(key, op, "LEASE", "lease", str(lease_id))


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a txn: Op.put, Op.delete, Op.get."""

    body: JSON

    @staticmethod
    def put(key: Key, value: Key, lease: int = 0) -> Op:
        return Op({"request_put": {"key": _b64(key), "value": _b64(value), "lease": str(lease)}})

    @staticmethod
    def delete(key: Key, prefix: bool = False) -> Op:
        body: JSON = {"key": _b64(_start(key) if prefix else key)}
        if prefix:
            body["range_end"] = _b64(prefix_end(key))
        return Op({"request_delete_range": body})

    @staticmethod
    def get(key: Key, prefix: bool = False) -> Op:
        body: JSON = {"key": _b64(_start(key) if prefix else key)}
        if prefix:
            body["range_end"] = _b64(prefix_end(key))
        return Op({"request_range": body})


@dataclass(frozen=True, slots=True)
class OpResult:
    """The answer to one Op: kvs for a get, deleted for a delete, nothing for a put."""

    kvs: list[KV] = field(default_factory=list)
    deleted: int = 0


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: list[OpResult]


def _op_result(d: JSON) -> OpResult:
    body: JSON = next(iter(d.values()), {}) if d else {}
    return OpResult(kvs=_kvs(body), deleted=int(body.get("deleted", 0)))


# ---- the client -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


def parse_endpoints(specs: str | Sequence[str], tls: bool = False) -> list[Endpoint]:
    """`etcd://h1:2379,h2:2379`, `http://h:2379`, `https://h:2379` or `h:2379`, one or several.

    etcd:// and bare host:port mean https when tls is set (an ssl context was given), else http.
    """
    out: list[Endpoint] = []
    for spec in [specs] if isinstance(specs, str) else specs:
        scheme, sep, rest = spec.partition("://")
        if not sep:
            scheme, rest = "etcd", spec
        if scheme not in ("etcd", "http", "https"):
            raise ValueError(f"etcd endpoint {spec!r}: scheme must be etcd, http or https")
        for hostport in rest.strip("/").split(","):
            if not hostport:
                continue
            parsed = urllib.parse.urlsplit("//" + hostport)
            if not parsed.hostname:
                raise ValueError(f"etcd endpoint {spec!r}: no host")
            secure = scheme == "https" or (scheme == "etcd" and tls)
            out.append(Endpoint(parsed.hostname, parsed.port or 2379, secure))
    if not out:
        raise ValueError("no etcd endpoint given")
    return out


class _Retry(Exception):
    """Internal: this endpoint failed in a way that makes trying the next one safe."""


class Etcd:
    """An etcd v3 client; thread-safe (each call borrows a pooled HTTP connection)."""

    def __init__(self, endpoints: str | Sequence[str], timeout: float = 5,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.endpoints = parse_endpoints(endpoints, tls=ssl_context is not None)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._preferred = 0
        self._lock = threading.Lock()
        self._idle: list[tuple[int, http.client.HTTPConnection]] = []

    def __enter__(self) -> Etcd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (the client stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            conn.close()

    # -- transport --

    def connect(self, index: int, timeout: float | None = None) -> http.client.HTTPConnection:
        """A new, connected HTTP connection to endpoint #index (OSError when it cannot)."""
        ep = self.endpoints[index]
        conn: http.client.HTTPConnection
        if ep.tls:
            ctx = self.ssl_context or ssl.create_default_context()
            conn = http.client.HTTPSConnection(ep.host, ep.port, timeout=timeout or self.timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(ep.host, ep.port, timeout=timeout or self.timeout)
        conn.connect()
        return conn

    def _checkout(self, index: int) -> http.client.HTTPConnection | None:
        """A pooled connection to endpoint #index that the server has not closed, if there is one."""
        while True:
            with self._lock:
                pos = next((k for k, (i, _) in enumerate(self._idle) if i == index), None)
                if pos is None:
                    return None
                conn = self._idle.pop(pos)[1]
            # An idle HTTP connection has nothing to read, unless the server closed it (EOF/RST).
            if conn.sock is not None and not select.select([conn.sock], [], [], 0)[0]:
                return conn
            conn.close()

    def endpoint_order(self) -> list[int]:
        """Endpoint indexes to try, the last one that answered first."""
        n = len(self.endpoints)
        return [(self._preferred + i) % n for i in range(n)]

    def call(self, path: str, body: JSON, idempotent: bool = True) -> JSON:
        """POST body to /v3/<path> on the first endpoint that answers; the decoded answer."""
        payload = json.dumps(body).encode()
        failures: list[str] = []
        for index in self.endpoint_order():
            try:
                answer = self._call_one(index, "/v3/" + path, payload, idempotent)
            except _Retry as e:
                failures.append(f"{self.endpoints[index]}: {e}")
                continue
            self._preferred = index
            return answer
        raise Unavailable("no etcd endpoint reachable (" + "; ".join(failures) + ")", 14)

    def _call_one(self, index: int, path: str, payload: bytes, idempotent: bool) -> JSON:
        ep = self.endpoints[index]
        conn = self._checkout(index)
        fresh = conn is None
        while True:
            if conn is None:
                try:
                    conn = self.connect(index)
                except OSError as e:  # nothing was sent: always safe to go on
                    raise _Retry(str(e) or type(e).__name__) from e
            try:
                conn.request("POST", path, payload, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                break
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if not idempotent:
                    raise Unavailable(f"{ep}{path}: connection lost after sending, outcome unknown: {e}", 14) from e
                if fresh:
                    raise _Retry(str(e) or type(e).__name__) from e
                conn, fresh = None, True  # a pooled connection: once more on a new one
        with self._lock:
            if resp.will_close or len(self._idle) >= 8:
                conn.close()
            else:
                self._idle.append((index, conn))
        try:
            answer: JSON = json.loads(data) if data else {}
        except ValueError as e:
            raise EtcdError(f"{ep}{path}: HTTP {resp.status}: {data[:200]!r}") from e
        if resp.status != 200 or "error" in answer:
            err = answer.get("error")
            message = answer.get("message") or (err.get("message") if isinstance(err, dict) else err)
            code = answer.get("code", err.get("grpc_code") if isinstance(err, dict) else None)
            if code == 14 and idempotent:  # this member cannot serve (no leader, stopping): try another
                raise _Retry(str(message))
            raise EtcdError(f"{path}: {message or f'HTTP {resp.status}'}", code)
        result = answer.get("result")  # a stream's (lease keepalive) single answer
        return result if isinstance(result, dict) and len(answer) == 1 else answer

    # -- key-value --

    def range(self, key: Key, range_end: Key = b"", *, revision: int = 0, limit: int = 0,
              sort_target: str = "KEY", sort_order: str = "NONE", keys_only: bool = False) -> tuple[list[KV], int]:
        """The general read: keys in [key, range_end) (just key if range_end is empty), with the header revision.

        sort_target: KEY, VERSION, CREATE, MOD, VALUE; sort_order: NONE, ASCEND, DESCEND.
        A compacted revision raises Compacted(revision).
        """
        body: JSON = {"key": _b64(key), "revision": str(revision), "limit": str(limit),
                      "sort_target": sort_target, "sort_order": sort_order, "keys_only": keys_only}
        if range_end:
            body["range_end"] = _b64(range_end)
        try:
            answer = self.call("kv/range", body)
        except EtcdError as e:
            if e.code == 11 and "compacted" in str(e):
                raise Compacted(revision) from e
            raise
        return _kvs(answer), _revision(answer)

    def get(self, key: Key, revision: int = 0) -> KV | None:
        kvs, _ = self.range(key, revision=revision)
        return kvs[0] if kvs else None

    def get_prefix(self, prefix: Key, revision: int = 0) -> tuple[list[KV], int]:
        """Every key under prefix, sorted by key, and the revision the list was taken at."""
        return self.range(_start(prefix), prefix_end(prefix), revision=revision)

    def put(self, key: Key, value: Key, lease: int = 0) -> int:
        """Store value; the new revision."""
        answer = self.call("kv/put", {"key": _b64(key), "value": _b64(value), "lease": str(lease)}, idempotent=False)
        return _revision(answer)

    def delete(self, key: Key) -> bool:
        """Whether the key existed."""
        return self._delete({"key": _b64(key)}) > 0

    def delete_prefix(self, prefix: Key) -> int:
        """How many keys were deleted."""
        return self._delete({"key": _b64(_start(prefix)), "range_end": _b64(prefix_end(prefix))})

    def _delete(self, body: JSON) -> int:
        return int(self.call("kv/deleterange", body, idempotent=False).get("deleted", 0))

    def txn(self, compare: Sequence[Compare] = (), success: Sequence[Op] = (), failure: Sequence[Op] = ()) -> TxnResult:
        """If every compare holds, run success, else failure, atomically."""
        answer = self.call("kv/txn", {"compare": [c.body for c in compare], "success": [o.body for o in success],
                                      "failure": [o.body for o in failure]}, idempotent=False)
        return TxnResult(bool(answer.get("succeeded", False)), _revision(answer),
                         [_op_result(r) for r in answer.get("responses", [])])

    def cas_put(self, key: Key, value: Key, expected_mod_revision: int, lease: int = 0) -> bool:
        """Put only if the key's mod_revision is still expected (0: only if the key does not exist)."""
        cmp = (Compare.create_revision(key, "=", 0) if expected_mod_revision == 0
               else Compare.mod_revision(key, "=", expected_mod_revision))
        return self.txn([cmp], [Op.put(key, value, lease)]).succeeded

    def compact(self, revision: int, physical: bool = False) -> None:
        """Forget the history before revision."""
        self.call("kv/compaction", {"revision": str(revision), "physical": physical})

    # -- leases --

    def lease_grant(self, ttl: int) -> Lease:
        answer = self.call("lease/grant", {"TTL": str(ttl)}, idempotent=False)
        return Lease(int(answer["ID"]), int(answer.get("TTL", ttl)))

    def lease_keepalive(self, lease_id: int) -> int:
        """Renew once; the remaining TTL in seconds, 0 if the lease has expired (or never was)."""
        return max(0, int(self.call("lease/keepalive", {"ID": str(lease_id)}).get("TTL", 0)))

    def lease_revoke(self, lease_id: int) -> None:
        """Revoke the lease, deleting its keys; a lease already gone is fine."""
        try:
            self.call("lease/revoke", {"ID": str(lease_id)})
        except EtcdError as e:
            if e.code != 5:  # NotFound
                raise

    def lease_ttl(self, lease_id: int) -> int:
        """Seconds left on the lease, -1 if it does not exist."""
        return int(self.call("lease/timetolive", {"ID": str(lease_id)}).get("TTL", 0))

    # -- watch, status --

    def watch_prefix(self, prefix: Key, start_revision: int = 0, prev_kv: bool = False,
                     retry_for: float | None = 60.0) -> Watch:
        """Events under prefix from start_revision (0: from now). See Watch."""
        return Watch(self, _start(prefix), prefix_end(prefix), start_revision, prev_kv, retry_for)

    def watch(self, key: Key, start_revision: int = 0, prev_kv: bool = False,
              retry_for: float | None = 60.0) -> Watch:
        """Events on one key from start_revision (0: from now)."""
        return Watch(self, key, b"", start_revision, prev_kv, retry_for)

    def status(self) -> JSON:
        """The answering member's status, as etcd gives it (int64 values are strings):
        version, dbSize, leader, raftIndex, raftTerm, header..."""
        return self.call("maintenance/status", {})


class Watch:
    """An iterator of Events; reconnects (any endpoint) and resumes after the last event seen.

    Raises Compacted when the revision to resume from was compacted (re-list, then watch again),
    Unavailable when no endpoint answered for retry_for seconds (None: keep trying), EtcdError if
    etcd cancels the watch. The watch is created before watch_prefix() returns (Unavailable may come
    from there already; etcd tells of a compaction after the creation, so Compacted comes from the
    iteration). close(), from any thread, ends the iteration. A silent dead host is
    noticed by TCP keepalive (about 30 s); the stream itself has no read timeout.
    """

    def __init__(self, etcd: Etcd, key: Key, range_end: Key, start_revision: int, prev_kv: bool,
                 retry_for: float | None) -> None:
        self._etcd = etcd
        self._key = _b64(key)
        self._range_end = _b64(range_end) if range_end else ""
        self._next = start_revision
        self._prev_kv = prev_kv
        self._retry_for = retry_for
        self._pending: deque[Event] = deque()
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._closed = False
        self._closing = threading.Event()  # wakes _open's wait between retries
        self._open()

    @property
    def revision(self) -> int:
        """The revision this watch has delivered everything up to (0 before it knows)."""
        return max(0, self._next - 1)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        while not self._pending:
            if self._closed:
                raise StopIteration
            self._read()
        return self._pending.popleft()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn, self._resp = self._conn, None, None
        self._closing.set()
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
            conn.close()

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn, self._resp = self._conn, None, None
        if conn is not None:
            conn.close()

    def _read(self) -> None:
        if self._resp is None:
            self._open()
            return
        try:
            line = self._resp.readline()
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            line = b""  # closed under us, or the connection broke
        if not line.endswith(b"\n"):  # stream ended or cut mid-line: reconnect on the next read unless closed
            self._drop()
            return
        if line.strip():
            self._handle(json.loads(line))

    def _handle(self, msg: JSON) -> None:
        if "error" in msg:
            err = msg["error"]
            self.close()
            raise EtcdError(f"watch: {err.get('message', err) if isinstance(err, dict) else err}")
        r = msg.get("result", {})
        if int(r.get("compact_revision", 0)):
            self.close()
            raise Compacted(int(r["compact_revision"]))
        if r.get("canceled"):
            self.close()
            raise EtcdError(f"watch canceled by etcd: {r.get('cancel_reason', '')}")
        events = r.get("events", [])
        for ev in events:
            prev = ev.get("prev_kv")
            self._pending.append(Event("DELETE" if ev.get("type") == "DELETE" else "PUT",
                                       KV.from_json(ev.get("kv", {})), KV.from_json(prev) if prev else None))
        if events:
            self._next = self._pending[-1].kv.mod_revision + 1
        elif r.get("created") and self._next == 0:  # watching from "now": resume after the creation
            self._next = _revision(r) + 1

    def _open(self) -> None:
        """(Re)create the watch on the first endpoint that takes it, retrying until retry_for."""
        body = {"create_request": {"key": self._key, "range_end": self._range_end,
                                   "start_revision": str(self._next), "prev_kv": self._prev_kv}}
        payload = json.dumps(body).encode()
        deadline = None if self._retry_for is None else time.monotonic() + self._retry_for
        delay, failures = 0.1, []
        while not self._closed:
            for index in self._etcd.endpoint_order():
                try:
                    conn = self._etcd.connect(index)
                    with self._lock:
                        if self._closed:
                            conn.close()
                            return
                        self._conn = conn
                    conn.request("POST", "/v3/watch", payload, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    if resp.status != 200:
                        detail = resp.read()[:200]
                        self.close()
                        raise EtcdError(f"watch: HTTP {resp.status}: {detail!r}")
                    first = resp.readline()  # {"result": {"created": true}}, or the compaction
                    if not first:
                        raise ConnectionError("watch stream closed")
                    self._handle(json.loads(first))
                    if self._closed:
                        return
                    _keepalive(conn.sock)
                    conn.sock.settimeout(None)  # a watch waits as long as it takes
                    with self._lock:
                        self._resp = resp
                    return
                except (OSError, http.client.HTTPException, ValueError) as e:
                    self._drop()
                    failures.append(f"{self._etcd.endpoints[index]}: {e}")
            if deadline is not None and time.monotonic() >= deadline:
                self.close()
                raise Unavailable("watch: no etcd endpoint reachable (" + "; ".join(failures[-3:]) + ")", 14)
            self._closing.wait(delay)
            delay = min(delay * 2, 1.0)


def _keepalive(sock: socket.socket | None) -> None:
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", 15), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
