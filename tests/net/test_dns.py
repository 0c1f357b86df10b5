"""The embedded DNS server, on loopback sockets of the test's own (and once inside a network namespace)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.reversename
import dns.rrset
import pytest
from pallet.net import _dns

TIMEOUT = 5


class FakeLog:
    """Captures what the server logs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def debug(self, msg: str, **kw: Any) -> None:
        self.events.append(("debug", msg, kw))

    def warning(self, msg: str, **kw: Any) -> None:
        self.events.append(("warning", msg, kw))

    def warnings(self) -> list[str]:
        return [msg for level, msg, _ in self.events if level == "warning"]


class FakeResolver:
    """Two containers on one network, and the upstreams given by the test."""

    def __init__(self) -> None:
        self.names = {"web": {"A": ["10.0.0.2"], "AAAA": ["fd00::2"]},
                      "db.mynet": {"A": ["10.0.0.3", "10.0.0.4", "10.0.0.5"], "AAAA": []}}
        self.ptr = {"10.0.0.2": "web.mynet", "fd00::2": "web.mynet."}
        self.servers: list[str] = []
        self.seen: list[tuple[str, str, str]] = []

    def lookup(self, sandbox: str, name: str, qtype: str) -> list[str] | None:
        self.seen.append((sandbox, name, qtype))
        entry = self.names.get(name)
        return None if entry is None else entry[qtype]

    def reverse(self, sandbox: str, ip: str) -> str | None:
        return self.ptr.get(ip)

    def upstreams(self, sandbox: str) -> list[str]:
        return self.servers


class Upstream:
    """A tiny DNS server on 127.0.0.1 (UDP and TCP on one port): A 192.0.2.1 for every name;
    "big.example" is truncated over UDP; with servfail=True, SERVFAIL for everything."""

    def __init__(self, servfail: bool = False) -> None:
        self.servfail = servfail
        self.queries: list[tuple[str, str]] = []
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.address = f"127.0.0.1:{self.port}"
        for s in (self.udp, self.tcp):
            s.settimeout(0.1)  # to notice close()
        self._stop = False
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._serve_udp, self._serve_tcp)]
        for t in self._threads:
            t.start()

    def _answer(self, wire: bytes, proto: str) -> bytes:
        q = dns.message.from_wire(wire)
        self.queries.append((q.question[0].name.to_text(), proto))
        r = dns.message.make_response(q)
        if self.servfail:
            r.set_rcode(dns.rcode.SERVFAIL)
        elif q.question[0].name.to_text() == "big.example." and proto == "udp":
            r.flags |= dns.flags.TC
        else:
            r.answer.append(dns.rrset.from_text(q.question[0].name, 30, "IN", "A", "192.0.2.1"))
        return r.to_wire()

    def _serve_udp(self) -> None:
        while not self._stop:
            try:
                wire, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if wire:
                self.udp.sendto(self._answer(wire, "udp"), peer)

    def _serve_tcp(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(TIMEOUT)
                size = struct.unpack("!H", conn.recv(2))[0]
                wire = _recv(conn, size)
                answer = self._answer(wire, "tcp")
                conn.sendall(struct.pack("!H", len(answer)) + answer)

    def close(self) -> None:
        self._stop = True
        for t in self._threads:
            t.join(TIMEOUT)
        self.udp.close()
        self.tcp.close()


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A DnsServer serving sandbox "sb1" on 127.0.0.1."""

    def __init__(self) -> None:
        self.resolver = FakeResolver()
        self.log = FakeLog()
        self.server = _dns.DnsServer(self.resolver, self.log)
        self.udp, self.tcp = self.bind()
        self.server.add("sb1", self.udp, self.tcp)

    @staticmethod
    def bind() -> tuple[socket.socket, socket.socket]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        return udp, tcp

    @property
    def udp_port(self) -> int:
        return int(self.udp.getsockname()[1])

    @property
    def tcp_port(self) -> int:
        return int(self.tcp.getsockname()[1])

    def udp_query(self, name: str, qtype: str = "A") -> dns.message.Message:
        return dns.query.udp(dns.message.make_query(name, qtype), "127.0.0.1", port=self.udp_port, timeout=TIMEOUT)

    def tcp_query(self, name: str, qtype: str = "A") -> dns.message.Message:
        return dns.query.tcp(dns.message.make_query(name, qtype), "127.0.0.1", port=self.tcp_port, timeout=TIMEOUT)


@pytest.fixture
def srv() -> Iterator[Served]:
    s = Served()
    try:
        yield s
    finally:
        s.server.close()
        s.udp.close()
        s.tcp.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    try:
        yield u
    finally:
        u.close()


def _addresses(resp: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in resp.answer for rd in rrset)


def test_a(srv: Served) -> None:
    q = dns.message.make_query("web.", "A")
    resp = dns.query.udp(q, "127.0.0.1", port=srv.udp_port, timeout=TIMEOUT)
    assert resp.id == q.id
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.RA
    assert _addresses(resp) == ["10.0.0.2"]
    assert resp.answer[0].ttl == 600
    assert srv.resolver.seen == [("sb1", "web", "A")]
    assert srv.log.warnings() == []


def test_a_several_and_case(srv: Served) -> None:
    resp = srv.udp_query("DB.MyNet.")
    assert _addresses(resp) == ["10.0.0.3", "10.0.0.4", "10.0.0.5"]
    assert resp.answer[0].name.to_text() == "DB.MyNet."
    assert srv.resolver.seen == [("sb1", "db.mynet", "A")]


def test_aaaa(srv: Served) -> None:
    assert _addresses(srv.udp_query("web", "AAAA")) == ["fd00::2"]


def test_ours_without_address_is_empty_noerror(srv: Served) -> None:
    for resp in (srv.udp_query("db.mynet", "AAAA"), srv.udp_query("web", "MX"), srv.tcp_query("web", "TXT")):
        assert resp.rcode() == dns.rcode.NOERROR
        assert resp.answer == []


def test_ptr(srv: Served) -> None:
    resp = srv.udp_query(dns.reversename.from_address("10.0.0.2").to_text(), "PTR")
    assert [rd.to_text() for rd in resp.answer[0]] == ["web.mynet."]
    resp = srv.tcp_query(dns.reversename.from_address("fd00::2").to_text(), "PTR")
    assert [rd.to_text() for rd in resp.answer[0]] == ["web.mynet."]


def test_forward(srv: Served, upstream: Upstream) -> None:
    srv.resolver.servers = [upstream.address]
    q = dns.message.make_query("example.com", "A")
    resp = dns.query.udp(q, "127.0.0.1", port=srv.udp_port, timeout=TIMEOUT)
    assert resp.id == q.id
    assert _addresses(resp) == ["192.0.2.1"]
    assert _addresses(srv.tcp_query("example.org")) == ["192.0.2.1"]
    resp = srv.udp_query(dns.reversename.from_address("10.9.9.9").to_text(), "PTR")  # not ours: forwarded
    assert resp.rcode() == dns.rcode.NOERROR
    assert upstream.queries == [("example.com.", "udp"), ("example.org.", "tcp"), ("9.9.9.10.in-addr.arpa.", "udp")]


def test_forward_next_upstream(srv: Served, upstream: Upstream) -> None:
    failing = Upstream(servfail=True)
    try:
        srv.resolver.servers = [f"127.0.0.1:{_closed_port()}", failing.address, upstream.address]
        assert _addresses(srv.udp_query("example.com")) == ["192.0.2.1"]
        assert failing.queries == [("example.com.", "udp")]
    finally:
        failing.close()


def test_truncated_goes_back_to_udp_client(srv: Served, upstream: Upstream) -> None:
    srv.resolver.servers = [upstream.address]
    resp = dns.query.udp(dns.message.make_query("big.example", "A"), "127.0.0.1", port=srv.udp_port,
                         timeout=TIMEOUT, raise_on_truncation=False)
    assert resp.flags & dns.flags.TC
    assert _addresses(srv.tcp_query("big.example")) == ["192.0.2.1"]


def test_servfail_when_no_upstream_answers(srv: Served) -> None:
    srv.resolver.servers = [f"127.0.0.1:{_closed_port()}"]
    assert srv.udp_query("example.com").rcode() == dns.rcode.SERVFAIL
    assert srv.tcp_query("example.com").rcode() == dns.rcode.SERVFAIL
    srv.resolver.servers = []
    assert srv.udp_query("example.com").rcode() == dns.rcode.SERVFAIL


def test_malformed_udp_is_dropped(srv: Served) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for junk in (b"", b"\x00", b"garbage that is not dns at all",
                     dns.message.make_response(dns.message.make_query("web", "A")).to_wire()):
            s.sendto(junk, ("127.0.0.1", srv.udp_port))
            with pytest.raises(TimeoutError):
                s.recv(512)
    assert _addresses(srv.udp_query("web")) == ["10.0.0.2"]
    assert srv.log.warnings() == []


def test_malformed_tcp_closes_connection(srv: Served) -> None:
    with socket.create_connection(("127.0.0.1", srv.tcp_port), timeout=TIMEOUT) as s:
        s.sendall(struct.pack("!H", 5) + b"junk!")
        assert s.recv(512) == b""
    assert _addresses(srv.tcp_query("web")) == ["10.0.0.2"]


def test_tcp_two_queries_one_connection(srv: Served, upstream: Upstream) -> None:
    srv.resolver.servers = [upstream.address]
    with socket.create_connection(("127.0.0.1", srv.tcp_port), timeout=TIMEOUT) as s:
        r1 = dns.query.tcp(dns.message.make_query("web", "A"), "127.0.0.1", sock=s, timeout=TIMEOUT)
        r2 = dns.query.tcp(dns.message.make_query("example.com", "A"), "127.0.0.1", sock=s, timeout=TIMEOUT)
        # Two queries in one segment: both answered, in any order.
        q3, q4 = dns.message.make_query("db.mynet", "A"), dns.message.make_query("web", "AAAA")
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (q3.to_wire(), q4.to_wire())))
        got = {}
        for _ in range(2):
            resp = dns.message.from_wire(_recv(s, struct.unpack("!H", _recv(s, 2))[0]))
            got[resp.id] = _addresses(resp)
    assert _addresses(r1) == ["10.0.0.2"]
    assert _addresses(r2) == ["192.0.2.1"]
    assert got == {q3.id: ["10.0.0.3", "10.0.0.4", "10.0.0.5"], q4.id: ["fd00::2"]}


def test_idle_tcp_connection_closed(srv: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_dns, "TCP_IDLE", 0.3)
    with socket.create_connection(("127.0.0.1", srv.tcp_port), timeout=TIMEOUT) as s:
        start = time.monotonic()
        assert s.recv(512) == b""
        assert time.monotonic() - start < TIMEOUT


def test_remove_closes_sockets(srv: Served) -> None:
    port = srv.tcp_port
    conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        assert _addresses(dns.query.tcp(dns.message.make_query("web", "A"), "127.0.0.1", sock=conn)) == ["10.0.0.2"]
        srv.server.remove("sb1")
        assert srv.udp.fileno() == -1
        assert srv.tcp.fileno() == -1
        assert conn.recv(512) == b""
    finally:
        conn.close()
    srv.server.remove("sb1")  # unknown by now: a no-op
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


def test_several_sandboxes(srv: Served) -> None:
    udp, tcp = Served.bind()
    srv.server.add("sb2", udp, tcp)
    try:
        dns.query.udp(dns.message.make_query("web", "A"), "127.0.0.1", port=udp.getsockname()[1], timeout=TIMEOUT)
        srv.udp_query("web")
        assert [s for s, _, _ in srv.resolver.seen] == ["sb2", "sb1"]
    finally:
        srv.server.remove("sb2")
    assert udp.fileno() == -1


def test_resolver_error_is_servfail(srv: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(sandbox: str, name: str, qtype: str) -> list[str] | None:
        raise RuntimeError("boom")

    monkeypatch.setattr(srv.resolver, "lookup", boom)
    assert srv.udp_query("web").rcode() == dns.rcode.SERVFAIL
    assert srv.log.warnings() == ["dns: resolver failed"]


def test_close_closes_everything() -> None:
    s = Served()
    s.server.close()
    assert s.udp.fileno() == -1 and s.tcp.fileno() == -1
    s.server.close()  # twice is fine
    with pytest.raises(RuntimeError):
        s.server.add("sb2", *Served.bind())


# -- inside a network namespace ------------------------------------------------------------------------------

_CLIENT = """
import dns.message, dns.query
for name in ("web", "example.com"):
    print(*sorted(rd.to_text() for rrset in dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.11",
          timeout=5).answer for rd in rrset))
print(*(rd.to_text() for rd in dns.query.tcp(dns.message.make_query("web", "AAAA"), "127.0.0.11",
        timeout=5).answer[0]))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.skipif(not (shutil.which("unshare") and shutil.which("nsenter")), reason="needs util-linux")
def test_bind_in_netns(tmp_path: Path, upstream: Upstream) -> None:
    ns = tmp_path / "netns"
    ns.touch()
    mounted = False
    server = None
    try:
        made = subprocess.run(["unshare", f"--net={ns}", "true"], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
        mounted = True
        subprocess.run(["nsenter", f"--net={ns}", "ip", "link", "set", "lo", "up"], check=True)
        udp, tcp = _dns.bind_in_netns(str(ns))
        assert udp.getsockname() == ("127.0.0.11", 53) and tcp.getsockname() == ("127.0.0.11", 53)
        assert not udp.get_inheritable() and not udp.getblocking() and not tcp.getblocking()
        resolver = FakeResolver()
        resolver.servers = [upstream.address]  # on the host's loopback: forwarding happens from here
        server = _dns.DnsServer(resolver, FakeLog())
        server.add("sb", udp, tcp)
        out = subprocess.run(["nsenter", f"--net={ns}", sys.executable, "-c", _CLIENT],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["10.0.0.2", "192.0.2.1", "fd00::2"]
        with pytest.raises(OSError, match="in .*netns"):
            _dns.bind_in_netns(str(ns))  # already bound
        with pytest.raises(OSError, match="join network namespace"):
            _dns.bind_in_netns(str(tmp_path))  # not a namespace
    finally:
        if server is not None:
            server.close()
        if mounted:
            subprocess.run(["umount", str(ns)], check=False)
        ns.unlink()


def test_add_errors_reach_the_caller(srv: Served) -> None:
    udp, tcp = Served.bind()
    try:
        with pytest.raises(KeyError):
            srv.server.add("sb2", udp, udp)  # the same socket twice: the selector refuses
        srv.server.add("sb2", udp, tcp)  # nothing half-registered was left behind
        dns.query.udp(dns.message.make_query("web", "A"), "127.0.0.1", port=udp.getsockname()[1], timeout=TIMEOUT)
    finally:
        srv.server.remove("sb2")


def test_slow_upstream_does_not_block_local_answers(srv: Served) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        silent.bind(("127.0.0.1", 0))  # receives, never answers
        srv.resolver.servers = [f"127.0.0.1:{silent.getsockname()[1]}"]
        client.settimeout(TIMEOUT)
        q = dns.message.make_query("example.com", "A")
        client.sendto(q.to_wire(), ("127.0.0.1", srv.udp_port))
        start = time.monotonic()
        assert _addresses(srv.udp_query("web")) == ["10.0.0.2"]
        assert time.monotonic() - start < 1
        resp = dns.message.from_wire(client.recv(512))  # after the upstream's timeout
        assert resp.id == q.id and resp.rcode() == dns.rcode.SERVFAIL
        assert time.monotonic() - start >= _dns.UPSTREAM_TIMEOUT - 0.5
