"""Firewall (pallet.net._nat) against the real iptables, every rule inside private network namespaces.

Nothing here touches the host's firewall: Firewall calls run in a thread that has joined a namespace
made for the test (its iptables subprocesses inherit that), checks run under `nsenter --net=`, and
the namespaces are unmounted and deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pallet.net import _netns
from pallet.net._nat import Firewall, FirewallError, PortBinding

T = TypeVar("T")
TAG = "PT-1a2b"
HOST_NETNS = os.stat("/proc/self/ns/net").st_ino

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("iptables-restore", "iptables-save", "nsenter", "ip")),
    reason="needs root, iptables-restore/-save, nsenter and ip")


@pytest.fixture
def make_ns(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Makes namespaces bound to files under tmp_path; all are removed at the end."""
    made: list[str] = []

    def make(name: str) -> str:
        path = str(tmp_path / f"ns-{name}")
        try:
            _netns.create(path)
        except OSError as exc:
            pytest.skip(f"cannot create a network namespace: {exc}")
        made.append(path)
        return path

    yield make
    for path in reversed(made):
        _netns.remove(path)
    assert not any(_netns.is_mounted(p) or os.path.exists(p) for p in made)


@pytest.fixture
def ns(make_ns: Callable[[str], str]) -> str:
    return make_ns("test")


def inside(ns: str, fn: Callable[[], T]) -> T:
    """fn() in a thread that joined ns, after checking it is not the host's namespace."""

    def guarded() -> T:
        here = os.stat("/proc/thread-self/ns/net").st_ino
        assert here == os.stat(ns).st_ino and here != HOST_NETNS, "refusing to run outside the test namespace"
        return fn()

    return _netns.run_in(ns, guarded)


def sh(ns: str, *argv: str) -> str:
    return subprocess.run(["nsenter", f"--net={ns}", *argv], check=True, capture_output=True, text=True).stdout


def rules(ns: str, six: bool = False) -> list[str]:
    """The "-A ..." lines of iptables-save (ip6tables-save with six) in ns."""
    out = sh(ns, "ip6tables-save" if six else "iptables-save")
    return [line for line in out.splitlines() if line.startswith("-A ")]


def ours(ns: str, six: bool = False) -> list[str]:
    """Rules in our chains, beyond the base jumps."""
    return [r for r in rules(ns, six) if r.split()[1].startswith(TAG) and r not in (
        f"-A {TAG}-FORWARD -j {TAG}-ISOLATION", f"-A {TAG}-RAW -d 127.0.0.0/8 ! -i lo -j DROP",
        f"-A {TAG} -j {TAG}-INGRESS")]


BASE = [
    f"-A FORWARD -j {TAG}-FORWARD",
    f"-A {TAG}-FORWARD -j {TAG}-ISOLATION",
    f"-A PREROUTING -m addrtype --dst-type LOCAL -j {TAG}",
    f"-A OUTPUT -m addrtype --dst-type LOCAL -j {TAG}",
    f"-A POSTROUTING -j {TAG}-POSTROUTING",
    f"-A PREROUTING -j {TAG}-RAW",
    f"-A {TAG}-RAW -d 127.0.0.0/8 ! -i lo -j DROP",
    f"-A {TAG} -j {TAG}-INGRESS",
]


def net_rules(br: str, subnet: str) -> list[str]:
    c = f'-m comment --comment "net={subnet}"'
    return [
        f"-A {TAG}-FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT",
        f"-A {TAG}-FORWARD -o {br} -m conntrack --ctstate DNAT {c} -j ACCEPT",
        f"-A {TAG}-FORWARD -i {br} ! -o {br} {c} -j ACCEPT",
        f"-A {TAG}-FORWARD -i {br} -o {br} {c} -j ACCEPT",
        f"-A {TAG}-FORWARD -o {br} {c} -j DROP",
        f"-A {TAG}-ISOLATION -i {br} ! -o {br} -m conntrack ! --ctstate DNAT {c} -j {TAG}-ISOLATION-2",
        f"-A {TAG}-ISOLATION-2 -o {br} {c} -j DROP",
        f"-A {TAG}-POSTROUTING -s {subnet} ! -o {br} {c} -j MASQUERADE",
        f"-A {TAG}-POSTROUTING -s {subnet} -o {br} -m conntrack --ctstate DNAT {c} -j MASQUERADE",
        f"-A {TAG}-POSTROUTING -s 127.0.0.0/8 -o {br} {c} -j MASQUERADE",
    ]


def test_setup_is_idempotent_hooks_first_and_keeps_rules(ns: str) -> None:
    fw = Firewall(TAG)
    sh(ns, "iptables", "-A", "FORWARD", "-j", "ACCEPT")
    sh(ns, "iptables", "-t", "nat", "-A", "PREROUTING", "-j", "RETURN")
    # the host's own rules, in forms we never write, are left alone
    sh(ns, "iptables", "-t", "nat", "-A", "PREROUTING", "-s", "10.0.0.0/255.0.255.0", "-p", "tcp", "--dport", "99",
       "-j", "DNAT", "--to-destination", "10.1.0.1-10.1.0.9")
    inside(ns, fw.setup)
    inside(ns, fw.setup)
    got = rules(ns)
    assert sorted(r for r in got if not any(w in r for w in ("ACCEPT", "RETURN", "--dport 99"))) == sorted(BASE)
    assert got.index(f"-A FORWARD -j {TAG}-FORWARD") < got.index("-A FORWARD -j ACCEPT")
    assert got.index(BASE[2]) < got.index("-A PREROUTING -j RETURN")
    inside(ns, lambda: fw.add_network("br-a", "10.90.0.0/24", internal=False))
    inside(ns, fw.setup)  # an existing chain must not be re-declared (that would flush it)
    assert sorted(ours(ns)) == sorted(net_rules("br-a", "10.90.0.0/24"))
    assert max(len(c) for _, c in fw.chains) <= 28
    with pytest.raises(ValueError):
        Firewall("PALLET-much-too-long")


def test_network_rules_add_twice_remove_twice(ns: str) -> None:
    fw = Firewall(TAG)
    inside(ns, fw.setup)
    inside(ns, lambda: fw.add_network("br-a", "10.90.0.0/24", internal=False))
    inside(ns, lambda: fw.add_network("br-a", "10.90.0.5/24", internal=False))  # same net, host bits ignored
    assert sorted(ours(ns)) == sorted(net_rules("br-a", "10.90.0.0/24"))
    inside(ns, lambda: fw.add_network("br-b", "10.90.1.0/24", internal=False, masquerade=False))
    want_b = [r for r in net_rules("br-b", "10.90.1.0/24") if "-s 10.90.1.0/24 ! -o" not in r]
    assert sorted(ours(ns)) == sorted(net_rules("br-a", "10.90.0.0/24") + want_b)
    assert inside(ns, fw.list_networks) == [("br-a", "10.90.0.0/24"), ("br-b", "10.90.1.0/24")]
    inside(ns, lambda: fw.remove_network("br-a", "10.90.0.0/24", internal=False))
    inside(ns, lambda: fw.remove_network("br-a", "10.90.0.0/24", internal=False))
    assert sorted(ours(ns)) == sorted(want_b)
    # half-gone (a rule deleted behind our back) and a wrong flag: still cleaned, no error
    sh(ns, "iptables", "-D", f"{TAG}-ISOLATION-2", "-o", "br-b", "-m", "comment", "--comment", "net=10.90.1.0/24",
       "-j", "DROP")
    inside(ns, lambda: fw.remove_network("br-b", "10.90.1.0/24", internal=True))
    assert ours(ns) == [] and sorted(rules(ns)) == sorted(BASE)
    assert inside(ns, fw.list_networks) == []


def test_internal_network(ns: str) -> None:
    fw = Firewall(TAG)
    inside(ns, lambda: fw.add_network("br-i", "10.91.0.0/24", internal=True))  # sets up the base on its own
    c = '-m comment --comment "net=10.91.0.0/24"'
    assert sorted(ours(ns)) == sorted([
        f"-A {TAG}-ISOLATION -i br-i ! -o br-i {c} -j DROP",
        f"-A {TAG}-ISOLATION ! -i br-i -o br-i {c} -j DROP",
        f"-A {TAG}-FORWARD -i br-i -o br-i {c} -j ACCEPT",
    ])
    assert inside(ns, fw.list_networks) == [("br-i", "10.91.0.0/24")]
    inside(ns, lambda: fw.remove_network("br-i", "10.91.0.0/24", internal=True))
    inside(ns, lambda: fw.remove_network("br-i", "10.91.0.0/24", internal=True))
    assert ours(ns) == []


def test_ports_add_remove(ns: str) -> None:
    fw = Firewall(TAG)
    any80 = PortBinding("tcp", "", 8080, 80)
    also80 = PortBinding("tcp", "0.0.0.0", 8081, 80)
    dns = PortBinding("udp", "127.0.0.1", 5353, 53)
    assert also80.host_ip == ""
    inside(ns, lambda: fw.add_ports("br-a", "10.90.0.2", [any80, also80, dns]))
    inside(ns, lambda: fw.add_ports("br-a", "10.90.0.2", [any80]))
    assert sorted(ours(ns)) == sorted([
        f"-A {TAG} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.90.0.2:80",
        f"-A {TAG} -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.90.0.2:80",
        f"-A {TAG} -d 127.0.0.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.90.0.2:53",
        f"-A {TAG}-FORWARD -d 10.90.0.2/32 ! -i br-a -o br-a -p tcp -m tcp --dport 80 -j ACCEPT",
        f"-A {TAG}-FORWARD -d 10.90.0.2/32 ! -i br-a -o br-a -p udp -m udp --dport 53 -j ACCEPT",
        f"-A {TAG}-POSTROUTING -s 10.90.0.2/32 -d 10.90.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        f"-A {TAG}-POSTROUTING -s 10.90.0.2/32 -d 10.90.0.2/32 -p udp -m udp --dport 53 -j MASQUERADE",
    ])
    assert sorted(inside(ns, fw.list_port_rules), key=str) == sorted(
        [("10.90.0.2", any80), ("10.90.0.2", also80), ("10.90.0.2", dns)], key=str)
    with pytest.raises(FirewallError, match="already goes to 10.90.0.2"):
        inside(ns, lambda: fw.add_ports("br-a", "10.90.0.3", [PortBinding("tcp", "", 8080, 80)]))

    inside(ns, lambda: fw.remove_ports("br-a", "10.90.0.2", [any80, dns]))
    inside(ns, lambda: fw.remove_ports("br-a", "10.90.0.2", [any80, dns]))
    left = ours(ns)  # 8081 still needs the shared tcp/80 forward and hairpin rules
    assert len(left) == 3 and all("tcp" in r for r in left) and any("8081" in r for r in left)
    inside(ns, lambda: fw.remove_ports("br-a", "10.90.0.2", [also80]))
    assert ours(ns) == []
    with pytest.raises(ValueError):
        PortBinding("icmp", "", 1, 1)


def test_ipv6_ports_and_network(ns: str) -> None:
    if not shutil.which("ip6tables-restore"):
        pytest.skip("needs ip6tables-restore")
    fw = Firewall(TAG, ipv6=True)
    inside(ns, fw.setup)
    inside(ns, lambda: fw.add_network("br-a", "fd00:90::/64", internal=False))
    b = PortBinding("tcp", "", 8080, 80)
    inside(ns, lambda: fw.add_ports("br-a", "fd00:90::2", [b, PortBinding("udp", "::1", 53, 53)]))
    got = ours(ns, six=True)
    assert f"-A {TAG} -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:90::2]:80" in got
    assert f"-A {TAG} -d ::1/128 -p udp -m udp --dport 53 -j DNAT --to-destination [fd00:90::2]:53" in got
    c = '-m comment --comment "net=fd00:90::/64"'
    assert f"-A {TAG}-POSTROUTING -s fd00:90::/64 ! -o br-a {c} -j MASQUERADE" in got
    assert not any("127.0.0.0/8" in r for r in got)
    assert ours(ns) == []  # nothing went to the IPv4 tables
    assert ("fd00:90::2", b) in inside(ns, fw.list_port_rules)
    assert inside(ns, fw.list_networks) == [("br-a", "fd00:90::/64")]
    inside(ns, lambda: fw.remove_ports("br-a", "fd00:90::2", [b, PortBinding("udp", "::1", 53, 53)]))
    inside(ns, lambda: fw.remove_network("br-a", "fd00:90::/64"))
    assert ours(ns, six=True) == []
    inside(ns, fw.teardown)
    assert not any(TAG in r for r in rules(ns, six=True))
    with pytest.raises(FirewallError, match="ipv6=False"):
        inside(ns, lambda: Firewall(TAG).add_ports("br-a", "fd00:90::2", [b]))


def test_flush_ports_except(ns: str) -> None:
    fw = Firewall(TAG)
    inside(ns, lambda: fw.add_network("br-a", "10.90.0.0/24", internal=False))
    inside(ns, lambda: fw.add_ports("br-a", "10.90.0.2", [PortBinding("tcp", "", 8080, 80)]))
    inside(ns, lambda: fw.add_ports("br-a", "10.90.0.3", [PortBinding("udp", "", 53, 53),
                                                          PortBinding("tcp", "127.0.0.1", 8443, 443)]))
    assert inside(ns, lambda: fw.flush_ports_except({"10.90.0.2"})) == 6
    assert inside(ns, fw.list_port_rules) == [("10.90.0.2", PortBinding("tcp", "", 8080, 80))]
    assert not any("10.90.0.3" in r for r in rules(ns))
    assert sum("10.90.0.2" in r for r in rules(ns)) == 3
    assert inside(ns, lambda: fw.flush_ports_except({"10.90.0.2"})) == 0
    assert inside(ns, lambda: fw.flush_ports_except(set())) == 3
    assert sorted(ours(ns)) == sorted(net_rules("br-a", "10.90.0.0/24"))  # network rules untouched


def test_teardown_leaves_no_chain(ns: str) -> None:
    fw = Firewall(TAG)
    inside(ns, lambda: fw.add_network("br-a", "10.90.0.0/24", internal=False))
    inside(ns, lambda: fw.add_network("br-i", "10.91.0.0/24", internal=True))
    inside(ns, lambda: fw.add_ports("br-a", "10.90.0.2", [PortBinding("tcp", "", 8080, 80)]))
    other = Firewall("PT-other")
    inside(ns, other.setup)
    sh(ns, "iptables", "-A", "INPUT", "-i", "lo", "-j", f"{TAG}-ISOLATION")  # someone else's jump into ours
    inside(ns, fw.teardown)
    inside(ns, fw.teardown)
    saved = sh(ns, "iptables-save")
    assert not any(f"{TAG}" in line for line in saved.splitlines())
    assert ":PT-other-FORWARD" in saved and "-A FORWARD -j PT-other-FORWARD" in saved  # another tag's stay


def test_ingress_rules_are_rewritten_whole_and_in_order(ns: str) -> None:
    """The routing mesh's chain: each port split evenly across its tasks, the last one taking the rest."""
    fw = Firewall(TAG)
    inside(ns, fw.setup)
    inside(ns, lambda: fw.add_network("plo-a", "10.92.0.0/24", internal=False, masquerade=False, ingress=True))
    assert f'-A {TAG}-POSTROUTING -o plo-a -m conntrack --ctstate DNAT -m comment --comment "net=10.92.0.0/24" ' \
           "-j MASQUERADE" in rules(ns)
    inside(ns, lambda: fw.set_ingress([("tcp", 8080, [("10.92.0.4", 80), ("10.92.0.3", 80), ("10.92.0.5", 80)]),
                                       ("udp", 53, [("10.92.0.9", 5353)]), ("tcp", 9090, [])]))
    got = [r for r in rules(ns) if r.startswith(f"-A {TAG}-INGRESS ")]
    assert len(got) == 4
    assert "-p tcp -m tcp --dport 8080 -m statistic --mode random --probability 0.333" in got[0]
    assert got[0].endswith("--to-destination 10.92.0.3:80")
    assert "--probability 0.5" in got[1] and got[1].endswith("--to-destination 10.92.0.4:80")
    assert got[2] == f"-A {TAG}-INGRESS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.92.0.5:80"
    assert got[3] == f"-A {TAG}-INGRESS -p udp -m udp --dport 53 -j DNAT --to-destination 10.92.0.9:5353"
    inside(ns, lambda: fw.set_ingress([("tcp", 8080, [("10.92.0.3", 80)])]))
    assert [r for r in rules(ns) if r.startswith(f"-A {TAG}-INGRESS ")] == [
        f"-A {TAG}-INGRESS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.92.0.3:80"]
    with pytest.raises(ValueError):
        fw.set_ingress([("icmp", 1, [])])
    inside(ns, lambda: fw.remove_network("plo-a", "10.92.0.0/24"))
    inside(ns, lambda: fw.set_ingress([]))
    assert ours(ns) == []


def test_errors_carry_iptables_stderr(ns: str) -> None:
    fw = Firewall(TAG)
    with pytest.raises(FirewallError, match=r"No chain/target/match.*line 2: -A NOPE"):
        inside(ns, lambda: fw._run(["iptables-restore", "--noflush"], "*filter\n-A NOPE -j ACCEPT\nCOMMIT\n"))
    with pytest.raises(ValueError):
        fw.add_network("br+", "10.0.0.0/24", internal=False)  # '+' is an iptables wildcard; fails before iptables


# -- end to end: a "container" namespace behind a bridge in the test namespace


def serve(ns: str) -> socket.socket:
    """A TCP server on port 80 in ns answering "hello <peer address>" until closed."""

    def make() -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 80))
        s.listen(8)
        return s

    srv = _netns.run_in(ns, make)

    def loop() -> None:
        while True:
            try:
                conn, peer = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(f"hello {peer[0]}".encode())

    threading.Thread(target=loop, daemon=True).start()
    return srv


def fetch(ns: str, host: str, port: int, timeout: float = 3.0) -> str:
    def go() -> str:
        with socket.create_connection((host, port), timeout=timeout) as c:
            return c.recv(100).decode()

    return _netns.run_in(ns, go)


def veth(host_ns: str, peer_ns: str, name: str, addr: str, gateway: str, bridge: str = "") -> None:
    """A veth from host_ns (named name, on bridge or addressed gateway) to eth0=addr in peer_ns."""
    sh(host_ns, "ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", peer_ns)
    if bridge:
        sh(host_ns, "ip", "link", "set", name, "master", bridge)
    else:
        sh(host_ns, "ip", "addr", "add", gateway + "/24", "dev", name)
    sh(host_ns, "ip", "link", "set", name, "up")
    for cmd in (["addr", "add", addr + "/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                ["link", "set", "lo", "up"], ["route", "add", "default", "via", gateway]):
        sh(peer_ns, "ip", *cmd)


def bridge(ns: str, name: str, gateway: str) -> None:
    sh(ns, "ip", "link", "add", name, "type", "bridge")
    sh(ns, "ip", "addr", "add", gateway + "/24", "dev", name)
    sh(ns, "ip", "link", "set", name, "up")


def test_end_to_end_published_port(make_ns: Callable[[str], str]) -> None:
    host, web, other, outside = make_ns("host"), make_ns("web"), make_ns("other"), make_ns("outside")
    sh(host, "ip", "link", "set", "lo", "up")
    bridge(host, "br-pt", "10.89.0.1")
    bridge(host, "br-pt2", "10.89.1.1")
    veth(host, web, "vweb", "10.89.0.2", "10.89.0.1", bridge="br-pt")
    veth(host, other, "vother", "10.89.1.2", "10.89.1.1", bridge="br-pt2")
    veth(host, outside, "vout", "10.88.0.2", "10.88.0.1")
    sh(host, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.br-pt.route_localnet=1")
    sh(host, "iptables", "-P", "FORWARD", "DROP")  # like Docker: only our ACCEPTs let traffic through

    fw = Firewall(TAG)
    inside(host, fw.setup)
    inside(host, lambda: fw.add_network("br-pt", "10.89.0.0/24", internal=False))
    inside(host, lambda: fw.add_network("br-pt2", "10.89.1.0/24", internal=False))
    published = [PortBinding("tcp", "", 8080, 80), PortBinding("tcp", "127.0.0.1", 8081, 80)]
    inside(host, lambda: fw.add_ports("br-pt", "10.89.0.2", published))
    srv = serve(web)
    try:
        # loopback: OUTPUT DNAT + route_localnet + MASQUERADE of 127.0.0.0/8 (the container sees the bridge)
        assert inside(host, lambda: fetch(host, "127.0.0.1", 8080)) == "hello 10.89.0.1"
        assert inside(host, lambda: fetch(host, "127.0.0.1", 8081)) == "hello 10.89.0.1"
        # from outside: PREROUTING DNAT and forwarding, source kept
        assert fetch(outside, "10.88.0.1", 8080) == "hello 10.88.0.2"
        with pytest.raises(ConnectionRefusedError):  # 8081 is published on 127.0.0.1 only
            fetch(outside, "10.88.0.1", 8081)
        # another network reaches the published port through a host address (masqueraded as it leaves) ...
        assert fetch(other, "10.89.1.1", 8080) == "hello 10.89.0.1"
        # ... but not the container itself, even with FORWARD accepting everything else
        sh(host, "iptables", "-P", "FORWARD", "ACCEPT")
        with pytest.raises(TimeoutError):
            fetch(other, "10.89.0.2", 80, timeout=1)
        inside(host, lambda: fw.remove_ports("br-pt", "10.89.0.2", published))
        with pytest.raises(ConnectionRefusedError):
            inside(host, lambda: fetch(host, "127.0.0.1", 8080))
    finally:
        srv.shutdown(socket.SHUT_RDWR)
        srv.close()
        inside(host, fw.teardown)
    assert not any(TAG in r for r in rules(host))
