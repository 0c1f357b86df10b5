"""resolv.conf parsing and the containers' resolv.conf, without a host."""

from __future__ import annotations

from pathlib import Path

import pytest
from pallet import resolvconf
from pallet.resolvconf import ResolvConf

HOST = ResolvConf(["192.0.2.1", "127.0.0.53", "::1", "2001:db8::1"], ["corp.example", "example"], ["edns0"])


def _lines(data: bytes) -> list[str]:
    return [line for line in data.decode().splitlines() if line and not line.startswith("#")]


def _comments(data: bytes) -> list[str]:
    return [line for line in data.decode().splitlines() if line.startswith("#")]


def test_parse() -> None:
    rc = resolvconf.parse(
        "# a comment\n; another\nnameserver 10.0.0.1\n  nameserver   10.0.0.2  # trailing\n"
        "domain first.example\nsearch a.example b.example\noptions ndots:2 timeout:1\noptions rotate\n"
        "sortlist 10.0.0.0/8\nnameserver\n\n"
    )
    assert rc == ResolvConf(["10.0.0.1", "10.0.0.2"], ["a.example", "b.example"], ["ndots:2", "timeout:1", "rotate"])


def test_parse_domain_after_search_wins() -> None:
    assert resolvconf.parse("search a b\ndomain c d\n").search == ["c"]
    assert resolvconf.parse("") == ResolvConf()


def test_host_upstreams_plain(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.1\nsearch example\n")
    (tmp_path / "stub.conf").write_text("nameserver 198.51.100.1\n")
    rc = resolvconf.host_upstreams(str(tmp_path / "resolv.conf"), str(tmp_path / "stub.conf"))
    assert rc == ResolvConf(["192.0.2.1"], ["example"], [])


def test_host_upstreams_systemd_stub(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
    (tmp_path / "stub.conf").write_text("nameserver 198.51.100.1\nnameserver 2001:db8::53\nsearch lan\n")
    rc = resolvconf.host_upstreams(str(tmp_path / "resolv.conf"), str(tmp_path / "stub.conf"))
    assert rc == ResolvConf(["198.51.100.1", "2001:db8::53"], ["lan"], [])


def test_host_upstreams_stub_without_alternative(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    rc = resolvconf.host_upstreams(str(tmp_path / "resolv.conf"), str(tmp_path / "missing.conf"))
    assert rc.nameservers == ["127.0.0.1"]
    (tmp_path / "empty.conf").write_text("# nothing\n")
    rc = resolvconf.host_upstreams(str(tmp_path / "resolv.conf"), str(tmp_path / "empty.conf"))
    assert rc.nameservers == ["127.0.0.1"]


def test_host_upstreams_missing_file(tmp_path: Path) -> None:
    assert resolvconf.host_upstreams(str(tmp_path / "nope"), str(tmp_path / "nope2")) == ResolvConf()


def test_host_mode_keeps_loopback() -> None:
    data = resolvconf.for_container("host", HOST, [], [], [])
    assert _lines(data) == ["nameserver 192.0.2.1", "nameserver 127.0.0.53", "nameserver ::1",
                            "nameserver 2001:db8::1", "search corp.example example", "options edns0"]


def test_host_mode_overrides() -> None:
    data = resolvconf.for_container("host", HOST, ["1.1.1.1"], ["x.example"], ["ndots:3"])
    assert _lines(data) == ["nameserver 1.1.1.1", "search x.example", "options ndots:3"]


def test_bridge_drops_loopback() -> None:
    data = resolvconf.for_container("bridge", HOST, [], [], [])
    assert _lines(data) == ["nameserver 192.0.2.1", "nameserver 2001:db8::1", "search corp.example example",
                            "options edns0"]
    assert not any("loopback" in c for c in _comments(data))


def test_bridge_only_loopback_on_host() -> None:
    data = resolvconf.for_container("bridge", ResolvConf(["127.0.0.53"], ["lan"], []), [], [], [])
    assert _lines(data) == ["search lan"]
    assert any("loopback" in c and "--dns" in c for c in _comments(data))


def test_bridge_user_overrides() -> None:
    data = resolvconf.for_container("bridge", HOST, ["8.8.8.8", "8.8.4.4"], ["a.example", "b.example"],
                                    ["ndots:1", "attempts:2"])
    assert _lines(data) == ["nameserver 8.8.8.8", "nameserver 8.8.4.4", "search a.example b.example",
                            "options ndots:1 attempts:2"]


@pytest.mark.parametrize("mode", ["host", "bridge", "embedded"])
def test_dot_search_means_none(mode: str) -> None:
    data = resolvconf.for_container(mode, HOST, [], ["."], [])
    assert not any(line.startswith("search") for line in _lines(data))


def test_embedded() -> None:
    data = resolvconf.for_container("embedded", HOST, [], [], [])
    assert _lines(data) == ["nameserver 127.0.0.11", "search corp.example example", "options edns0 ndots:0"]
    assert "# ExtServers: [192.0.2.1 host(127.0.0.53) host(::1) 2001:db8::1]" in _comments(data)


def test_embedded_user_dns() -> None:
    data = resolvconf.for_container("embedded", HOST, ["9.9.9.9", "127.0.0.1"], ["."], ["ndots:5"])
    assert _lines(data) == ["nameserver 127.0.0.11", "options ndots:5"]
    assert "# ExtServers: [9.9.9.9 127.0.0.1]" in _comments(data)


def test_unknown_mode() -> None:
    with pytest.raises(ValueError):
        resolvconf.for_container("overlay", HOST, [], [], [])


def test_upstreams_for() -> None:
    assert resolvconf.upstreams_for(HOST, []) == HOST.nameservers
    assert resolvconf.upstreams_for(HOST, ["1.1.1.1"]) == ["1.1.1.1"]
    assert resolvconf.upstreams_for(ResolvConf(), []) == []


@pytest.mark.parametrize(("addr", "loop"), [("127.0.0.53", True), ("127.1.2.3", True), ("::1", True),
                                            ("10.0.0.1", False), ("fe80::1%eth0", False), ("junk", False)])
def test_is_loopback(addr: str, loop: bool) -> None:
    assert resolvconf.is_loopback(addr) is loop
