"""The embedded DNS server: 127.0.0.11 in each sandbox, like Docker's.

Sockets are bound inside each sandbox's network namespace (bind_in_netns) and served by one selector thread
here. Names the Resolver owns are answered locally; the rest is forwarded, from this process's (the host's)
network namespace, to the sandbox's upstreams by a small thread pool so the selector loop never blocks.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

TTL = 600
UPSTREAM_TIMEOUT = 2.0
TCP_IDLE = 10.0
TCP_SEND_TIMEOUT = 1.0
MAX_PENDING = 128  # forwards queued or running; more are dropped (the client retries)

def bind_in_netns(netns_path: str, address: str = "127.0.0.11", port: int = 53) -> tuple[socket.socket, socket.socket]:
    """A UDP socket and a listening TCP socket on address:port inside the network namespace at netns_path
    (made by a thread that joined it: a socket stays in the namespace it was created in)."""
    from pallet.net import _netns

    try:
        return _netns.run_in(netns_path, lambda: _bind(address, port))
    except OSError as e:
        raise OSError(e.errno, f"DNS sockets on {address}:{port} in {netns_path}: {e.strerror or e}") from None


def _bind(address: str, port: int) -> tuple[socket.socket, socket.socket]:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    tcp = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    try:
        udp.bind((address, port))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((address, port))
        tcp.listen(64)
    except OSError:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


class Resolver(Protocol):
    """What the server asks about a sandbox's names."""

    def lookup(self, sandbox: str, name: str, qtype: str) -> list[str] | None:
        """Addresses for name ("A"/"AAAA"); [] if the name is ours without such addresses; None to forward."""

    def reverse(self, sandbox: str, ip: str) -> str | None:
        """The name for ip, None to forward."""

    def upstreams(self, sandbox: str) -> list[str]:
        """Servers to forward to: "ip", "ip:port" or "[ipv6]:port"."""


@dataclass
class _Conn:
    """A client's TCP connection."""

    sandbox: str
    sock: socket.socket
    buf: bytes = b""
    last: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, wire: bytes) -> None:
        with self.lock:
            self.sock.sendall(struct.pack("!H", len(wire)) + wire)


def _address(upstream: str) -> tuple[str, int]:
    if upstream.startswith("["):
        host, _, port = upstream[1:].partition("]:")
        return host, int(port or 53)
    if upstream.count(":") == 1:
        host, port = upstream.split(":")
        return host, int(port)
    return upstream, 53


class DnsServer:
    """Serves every sandbox's DNS sockets from one selector thread."""

    def __init__(self, resolver: Resolver, log: Any) -> None:
        self._resolver = resolver
        self._log = log
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._ops: list[Callable[[], None]] = []
        self._socks: dict[str, tuple[socket.socket, socket.socket]] = {}
        self._conns: dict[socket.socket, _Conn] = {}
        self._pending = 0
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="dns-forward")
        self._thread = threading.Thread(target=self._loop, name="dns", daemon=True)
        self._thread.start()

    # -- called from other threads: the loop thread applies the change -------------------------------------

    def _call(self, op: Callable[[], None]) -> None:
        """Run op on the loop thread and wait for it; its exception is raised here."""
        done = threading.Event()
        failed: list[Exception] = []

        def run() -> None:
            try:
                op()
            except Exception as e:
                failed.append(e)
            finally:
                done.set()

        with self._lock:
            if self._closed:
                raise RuntimeError("DNS server closed")
            self._ops.append(run)
        self._wake()
        if not done.wait(10):
            raise TimeoutError("DNS server loop did not answer")
        if failed:
            raise failed[0]

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # when full, the loop already has wakeups to read
            self._wake_w.send(b"x")

    def add(self, sandbox: str, udp: socket.socket, tcp: socket.socket) -> None:
        """Serve a sandbox's UDP socket and listening TCP socket (replacing any it had)."""
        udp.setblocking(False)
        tcp.setblocking(False)

        def op() -> None:
            self._drop(sandbox)
            self._sel.register(udp, selectors.EVENT_READ, (self._on_udp, sandbox))
            try:
                self._sel.register(tcp, selectors.EVENT_READ, (self._on_accept, sandbox))
            except Exception:
                self._sel.unregister(udp)
                raise
            self._socks[sandbox] = (udp, tcp)

        self._call(op)

    def remove(self, sandbox: str) -> None:
        """Stop serving a sandbox and close its sockets and connections (no-op if unknown)."""
        self._call(lambda: self._drop(sandbox))

    def close(self) -> None:
        """Stop the server and close every socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._wake_r.close()
        self._wake_w.close()
        self._sel.close()

    # -- the loop thread -------------------------------------------------------------------------------------

    def _drop(self, sandbox: str) -> None:
        socks = self._socks.pop(sandbox, None)
        for sock in socks or ():
            self._sel.unregister(sock)
            sock.close()
        for conn in [c for c in self._conns.values() if c.sandbox == sandbox]:
            self._close_conn(conn)

    def _close_conn(self, conn: _Conn) -> None:
        if self._conns.pop(conn.sock, None) is not None:
            self._sel.unregister(conn.sock)
        conn.sock.close()

    def _loop(self) -> None:
        while True:
            for key, _ in self._sel.select(timeout=1.0):
                if key.data is None:
                    self._run_ops()
                    continue
                if key.fileobj.fileno() == -1:  # type: ignore[union-attr]
                    continue  # closed by an operation or handler earlier in this batch
                handler, arg = key.data
                try:
                    handler(key.fileobj, arg)
                except Exception as e:  # never let one query kill the server
                    self._log.warning("dns: handler failed", error=repr(e))
            if self._closed:
                break
            now = time.monotonic()
            for conn in [c for c in self._conns.values() if now - c.last > TCP_IDLE]:
                self._close_conn(conn)
        self._run_ops()
        for sandbox in list(self._socks):
            self._drop(sandbox)

    def _run_ops(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(512):
                pass
        with self._lock:
            ops, self._ops = self._ops, []
        for op in ops:
            op()  # never raises: _call's wrapper hands exceptions to the caller

    def _on_udp(self, sock: socket.socket, sandbox: str) -> None:
        try:
            wire, peer = sock.recvfrom(65535)
        except (BlockingIOError, InterruptedError):
            return

        def reply(answer: bytes) -> None:
            sock.sendto(answer, peer)

        if not self._handle(sandbox, wire, reply, tcp=False):
            self._log.debug("dns: dropped malformed query", sandbox=sandbox, peer=str(peer))

    def _on_accept(self, sock: socket.socket, sandbox: str) -> None:
        try:
            client, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        client.settimeout(TCP_SEND_TIMEOUT)  # recv only runs when readable; sends give up after this
        conn = _Conn(sandbox, client)
        self._conns[client] = conn
        self._sel.register(client, selectors.EVENT_READ, (self._on_tcp, conn))

    def _on_tcp(self, sock: socket.socket, conn: _Conn) -> None:
        try:
            data = sock.recv(65535)
        except OSError:
            data = b""
        if not data:
            self._close_conn(conn)
            return
        conn.buf += data
        conn.last = time.monotonic()
        while len(conn.buf) >= 2:
            (size,) = struct.unpack("!H", conn.buf[:2])
            if len(conn.buf) < 2 + size:
                break
            wire, conn.buf = conn.buf[2 : 2 + size], conn.buf[2 + size :]
            if not self._handle(conn.sandbox, wire, conn.send, tcp=True):
                self._log.debug("dns: malformed query over TCP, closing", sandbox=conn.sandbox)
                self._close_conn(conn)
                return

    # -- answering -------------------------------------------------------------------------------------------

    def _handle(self, sandbox: str, wire: bytes, reply: Callable[[bytes], None], tcp: bool) -> bool:
        """Answer or forward one query; False if it is malformed."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return False
        if query.flags & dns.flags.QR:
            return False
        try:
            answer = self._local(sandbox, query)
        except Exception as e:
            self._log.warning("dns: resolver failed", sandbox=sandbox, error=repr(e))
            answer = self._response(query, dns.rcode.SERVFAIL)
        if answer is None:
            self._forward(sandbox, query, wire, reply, tcp)
            return True
        limit = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
        try:
            out = answer.to_wire(max_size=limit)
        except dns.exception.TooBig:
            answer.answer.clear()
            answer.flags |= dns.flags.TC
            out = answer.to_wire(max_size=limit)
        self._send(reply, out, sandbox)
        return True

    def _response(self, query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
        resp = dns.message.make_response(query, recursion_available=True)
        resp.set_rcode(rcode)
        return resp

    def _local(self, sandbox: str, query: dns.message.Message) -> dns.message.Message | None:
        """The answer to a query for one of the resolver's names, None if it should be forwarded."""
        if query.opcode() != dns.opcode.QUERY:
            return self._response(query, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return self._response(query, dns.rcode.FORMERR)
        q = query.question[0]
        if q.rdclass != dns.rdataclass.IN or q.name == dns.name.root:
            return None
        name = q.name.to_text(omit_final_dot=True).lower()
        if q.rdtype == dns.rdatatype.PTR:
            try:
                ip = dns.reversename.to_address(q.name)
            except Exception:
                return None
            target = self._resolver.reverse(sandbox, ip)
            if target is None:
                return None
            resp = self._response(query, dns.rcode.NOERROR)
            resp.answer.append(dns.rrset.from_text(q.name, TTL, "IN", "PTR", target.rstrip(".") + "."))
            return resp
        if q.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            addrs = self._resolver.lookup(sandbox, name, dns.rdatatype.to_text(q.rdtype))
        else:  # ours under another family counts: NOERROR with no records for MX, TXT...
            owned = [self._resolver.lookup(sandbox, name, t) for t in ("A", "AAAA")]
            addrs = None if all(a is None for a in owned) else []
        if addrs is None:
            return None
        resp = self._response(query, dns.rcode.NOERROR)
        if addrs:
            addrs = random.sample(addrs, len(addrs))
            resp.answer.append(dns.rrset.from_text_list(q.name, TTL, "IN", q.rdtype, addrs))
        return resp

    def _send(self, reply: Callable[[bytes], None], wire: bytes, sandbox: str) -> None:
        try:
            reply(wire)
        except OSError as e:  # the client went away, or the sandbox was removed meanwhile
            self._log.debug("dns: reply failed", sandbox=sandbox, error=repr(e))

    def _forward(self, sandbox: str, query: dns.message.Message, wire: bytes,
                 reply: Callable[[bytes], None], tcp: bool) -> None:
        with self._lock:
            if self._pending >= MAX_PENDING:
                self._log.warning("dns: too many queries being forwarded, dropping one", sandbox=sandbox)
                return
            self._pending += 1
        try:
            upstreams = self._resolver.upstreams(sandbox)
        except Exception as e:
            self._log.warning("dns: resolver failed", sandbox=sandbox, error=repr(e))
            upstreams = []

        def run() -> None:
            try:
                answer = self._exchange(sandbox, query, wire, upstreams, tcp)
                self._send(reply, answer or self._response(query, dns.rcode.SERVFAIL).to_wire(), sandbox)
            finally:
                with self._lock:
                    self._pending -= 1

        self._pool.submit(run)

    def _exchange(self, sandbox: str, query: dns.message.Message, wire: bytes, upstreams: list[str],
                  tcp: bool) -> bytes | None:
        """The first usable upstream answer, as received; None if none answered.

        Like Docker, a truncated answer goes back to a UDP client as it is, for the client to retry over TCP.
        """
        for upstream in upstreams:
            try:
                host, port = _address(upstream)
                family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
                with socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as s:
                    s.settimeout(UPSTREAM_TIMEOUT)
                    s.connect((host, port))
                    if tcp:
                        s.sendall(struct.pack("!H", len(wire)) + wire)
                        (size,) = struct.unpack("!H", _recv_exactly(s, 2))
                        answer = _recv_exactly(s, size)
                    else:
                        s.send(wire)
                        answer = s.recv(65535)
                resp = dns.message.from_wire(answer, raise_on_truncation=False)
                if not query.is_response(resp):
                    raise ValueError("answer does not match the query")
            except Exception as e:
                self._log.debug("dns: upstream failed", sandbox=sandbox, upstream=upstream, error=repr(e))
                continue
            if resp.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                self._log.debug("dns: upstream refused", sandbox=sandbox, upstream=upstream)
                continue
            return answer
        return None


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("upstream closed the connection")
        data += chunk
    return data
