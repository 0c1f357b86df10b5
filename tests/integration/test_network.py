"""Bridge networks end to end: real bridges, veths, namespaces, iptables NAT and the embedded DNS.

Traffic stays on loopback, inside the containers' namespaces and bridges, and
inside a "second host" namespace the tests create with their own veth.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests._engine import Engine

WEB = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def net(engine: Engine) -> Iterator[str]:
    name = _name("net")
    engine.ctl("network", "create", name, check=True)
    yield name
    engine.ctl("network", "rm", name)


def _rm(engine: Engine, *names: str) -> None:
    if names:
        engine.ctl("rm", "-f", *names)


def _web(engine: Engine, *args: str) -> str:
    name = _name("web")
    engine.ctl("run", "-d", "--name", name, *args, "busybox", "sh", "-c", WEB, check=True)
    return name


def _inspect(engine: Engine, ref: str, kind: str = "") -> dict:
    args = ["inspect", ref] if not kind else [kind, "inspect", ref]
    return json.loads(engine.ctl(*args, check=True).stdout)[0]


def _http(url: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wget(engine: Engine, network: str, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """A one-off busybox on network fetching url (retried while the server starts).

    busybox-static's `wget -T` crashes, so `timeout` bounds each try instead."""
    script = f"for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O- {url} && exit 0; sleep 0.3; done; exit 1"
    return engine.ctl("run", "--rm", "--network", network, *extra, "busybox", "sh", "-c", script)


def test_default_bridge_gives_an_address_and_hosts_entry(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "busybox", "sh", "-c", "ip -4 addr show eth0; cat /etc/hosts; ip route",
                     check=True)
    assert "inet " in res.stdout and "default via" in res.stdout
    bridge = _inspect(engine, "bridge", "network")
    gateway = bridge["IPAM"]["Config"][0]["Gateway"]
    assert f"default via {gateway}" in res.stdout
    ping = engine.ctl("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", gateway)
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_containers_resolve_each_other_by_name_alias_and_id(engine: Engine, net: str) -> None:
    web = _web(engine, "--network", net, "--network-alias", "site")
    try:
        cid = _inspect(engine, web)["Id"]
        for host in (web, "site", cid[:12]):
            res = _wget(engine, net, f"http://{host}/")
            assert res.returncode == 0 and "hello-from-" in res.stdout, (host, res.stdout, res.stderr)
        # Names are case-insensitive, as in Docker.
        res = _wget(engine, net, f"http://{web.upper()}/")
        assert res.returncode == 0 and "hello-from-" in res.stdout, res.stderr
        # A rename is what others resolve from then on.
        new = _name("renamed")
        engine.ctl("rename", web, new, check=True)
        web = new
        res = _wget(engine, net, f"http://{new}/")
        assert res.returncode == 0 and "hello-from-" in res.stdout, res.stderr
        res = engine.ctl("run", "--rm", "--network", net, "busybox", "nslookup", web, "127.0.0.11")
        assert res.returncode == 0 and _inspect(engine, web)["NetworkSettings"]["Networks"][net]["IPAddress"] \
            in res.stdout
        resolv = engine.ctl("run", "--rm", "--network", net, "busybox", "cat", "/etc/resolv.conf").stdout
        assert "nameserver 127.0.0.11" in resolv
    finally:
        _rm(engine, web)


def test_other_networks_are_isolated(engine: Engine, net: str) -> None:
    other = _name("other")
    engine.ctl("network", "create", other, check=True)
    web = _web(engine, "--network", net)
    try:
        ip = _inspect(engine, web)["NetworkSettings"]["Networks"][net]["IPAddress"]
        assert _wget(engine, net, f"http://{ip}/").returncode == 0
        res = engine.ctl("run", "--rm", "--network", other, "busybox", "sh", "-c",
                         f"timeout 3 wget -q -O- http://{ip}/; exit $?")  # sh stays PID 1
        assert res.returncode != 0
        # Names of another network are not resolvable either.
        res = engine.ctl("run", "--rm", "--network", other, "busybox", "nslookup", web, "127.0.0.11")
        assert ip not in res.stdout
    finally:
        _rm(engine, web)
        engine.ctl("network", "rm", other)


def test_icc_off_and_no_rule_left_after_rm(engine: Engine) -> None:
    """enable_icc=false (Docker's option, as on docker_gwbridge): containers of the network do not
    reach each other, yet reach out; `network rm` takes every rule of the network with it."""
    name = _name("noicc")
    nid = engine.ctl("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", name,
                     check=True).stdout.strip()
    bridge = f"pl-{nid[:12]}"
    web = _web(engine, "--network", name)
    try:
        ip = _inspect(engine, web)["NetworkSettings"]["Networks"][name]["IPAddress"]
        res = engine.ctl("run", "--rm", "--network", name, "busybox", "sh", "-c",
                         f"timeout 3 wget -q -O- http://{ip}/; exit $?")
        assert res.returncode != 0
        gateway = _inspect(engine, name, "network")["IPAM"]["Config"][0]["Gateway"]
        res = engine.ctl("run", "--rm", "--network", name, "busybox", "ping", "-c", "1", "-W", "2", gateway)
        assert res.returncode == 0, res.stdout + res.stderr  # the host (its way out) is reachable
        saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
        assert any(f"-i {bridge} -o {bridge}" in r and r.endswith("-j DROP") for r in saved.splitlines())
    finally:
        _rm(engine, web)
        engine.ctl("network", "rm", name)
    saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    assert bridge not in saved


def test_internal_network_has_no_way_out(engine: Engine) -> None:
    name = _name("internal")
    engine.ctl("network", "create", "--internal", "--subnet", "10.213.7.0/24", name, check=True)
    try:
        res = engine.ctl("run", "--rm", "--network", name, "busybox", "ip", "route", check=True)
        assert "default" not in res.stdout
        host_ip = _inspect(engine, "bridge", "network")["IPAM"]["Config"][0]["Gateway"]
        res = engine.ctl("run", "--rm", "--network", name, "busybox", "ping", "-c", "1", "-W", "1", host_ip)
        assert res.returncode != 0
    finally:
        engine.ctl("network", "rm", name)


def test_published_port_from_loopback_and_another_host(engine: Engine) -> None:
    web = _web(engine, "-p", "0:80", "-p", "127.0.0.1::80")
    try:
        out = engine.ctl("port", web, check=True).stdout
        ports = [int(line.rsplit(":", 1)[1]) for line in out.splitlines()]
        assert len(ports) == 2, out
        for port in ports:
            assert "hello-from-" in _http(f"http://127.0.0.1:{port}/")
        any_port = int(engine.ctl("port", web, "80").stdout.splitlines()[0].rsplit(":", 1)[1])
        # Hairpin: a container of the same bridge through the host's address on that bridge.
        gateway = _inspect(engine, "bridge", "network")["IPAM"]["Config"][0]["Gateway"]
        res = _wget(engine, "bridge", f"http://{gateway}:{any_port}/")
        assert res.returncode == 0 and "hello-from-" in res.stdout, res.stderr
        ip = _inspect(engine, web)["NetworkSettings"]["IPAddress"]
        subnet = _inspect(engine, "bridge", "network")["IPAM"]["Config"][0]["Subnet"]
        with _second_host() as (run_in, host_addr):
            got = run_in(["python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen("
                          f"'http://{host_addr}:{any_port}/', timeout=5).read().decode())"])
            assert "hello-from-" in got
            # A neighbour that routes to the containers' subnet through this host gets nothing unpublished.
            run_in(["ip", "route", "add", subnet, "via", host_addr])
            direct = subprocess.run(["ip", "netns", "exec", run_in.ns, "python3", "-c",  # type: ignore[attr-defined]
                                     "import socket; socket.create_connection(('" + ip + "', 80), timeout=3)"],
                                    capture_output=True, text=True, timeout=30)
            assert direct.returncode != 0
    finally:
        _rm(engine, web)


def test_publishing_a_port_in_use_fails_before_the_start(engine: Engine) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        name = _name("busy")
        res = engine.ctl("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "60")
        try:
            assert res.returncode != 0
            assert "port is already allocated" in res.stderr
            assert _inspect(engine, name)["State"]["Running"] is False
        finally:
            _rm(engine, name)


UDP_ECHO = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('0.0.0.0', 9999))\n"
            "while True:\n"
            "    data, peer = s.recvfrom(2048)\n"
            "    s.sendto(data.upper(), peer)\n")


def test_udp_publishing(engine: Engine) -> None:
    """busybox has no UDP server: the host's python3, bind-mounted read-only, echoes datagrams."""
    name = _name("udp")
    engine.ctl("run", "-d", "--name", name, "-p", "127.0.0.1::9999/udp", "-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro",
               "-v", "/lib64:/lib64:ro", "busybox", "/usr/bin/python3", "-c", UDP_ECHO, check=True)
    try:
        port = int(engine.ctl("port", name, "9999/udp", check=True).stdout.strip().rsplit(":", 1)[1])
        deadline = time.monotonic() + 15
        reply = b""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            while time.monotonic() < deadline and not reply:
                s.sendto(b"ping-over-udp", ("127.0.0.1", port))
                with contextlib.suppress(TimeoutError):
                    reply = s.recv(2048)
        assert reply == b"PING-OVER-UDP"
    finally:
        _rm(engine, name)


def test_connect_and_disconnect_a_running_container(engine: Engine, net: str) -> None:
    other = _name("second")
    engine.ctl("network", "create", other, check=True)
    name = _name("multi")
    engine.ctl("run", "-d", "--name", name, "--network", net, "busybox", "sleep", "300", check=True)
    try:
        engine.ctl("network", "connect", "--alias", "second-alias", other, name, check=True)
        links = engine.ctl("exec", name, "ip", "-o", "-4", "addr", check=True).stdout
        ip2 = _inspect(engine, name)["NetworkSettings"]["Networks"][other]["IPAddress"]
        assert "eth1" in links and ip2 in links
        assert ip2 in engine.ctl("exec", name, "cat", "/etc/hosts").stdout
        res = engine.ctl("run", "--rm", "--network", other, "busybox", "ping", "-c", "1", "-W", "2", "second-alias")
        assert res.returncode == 0, res.stdout + res.stderr
        engine.ctl("network", "disconnect", other, name, check=True)
        links = engine.ctl("exec", name, "ip", "-o", "-4", "addr", check=True).stdout
        assert "eth1" not in links and ip2 not in links
        assert other not in _inspect(engine, name)["NetworkSettings"]["Networks"]
    finally:
        _rm(engine, name)
        engine.ctl("network", "rm", other)


def test_host_none_and_container_modes(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link", check=True)
    assert [line.split(":")[1].strip() for line in res.stdout.splitlines()] == ["lo"]
    res = engine.ctl("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link", check=True)
    assert set(os.listdir("/sys/class/net")) <= {line.split(":")[1].strip().split("@")[0]
                                                 for line in res.stdout.splitlines()}
    web = _web(engine)
    try:
        res = engine.ctl("run", "--rm", "--network", f"container:{web}", "busybox", "sh", "-c",
                         "for i in 1 2 3 4 5; do wget -q -O- http://127.0.0.1/ && exit 0; sleep 0.3; done; exit 1")
        assert res.returncode == 0 and "hello-from-" in res.stdout
        bad = engine.ctl("run", "--rm", "--network", f"container:{web}", "-p", "80", "busybox", "true")
        assert bad.returncode != 0 and "conflicting options" in bad.stderr
    finally:
        _rm(engine, web)


def test_static_ip_and_ipam_exhaustion(engine: Engine) -> None:
    name = _name("small")
    engine.ctl("network", "create", "--subnet", "10.213.9.0/29", name, check=True)
    made: list[str] = []
    try:
        fixed = _name("fixed")
        engine.ctl("create", "--name", fixed, "--network", name, "--ip", "10.213.9.6", "busybox", check=True)
        made.append(fixed)
        assert _inspect(engine, fixed)["NetworkSettings"]["Networks"][name]["IPAddress"] == "10.213.9.6"
        dup = engine.ctl("create", "--network", name, "--ip", "10.213.9.6", "busybox")
        assert dup.returncode != 0 and "already in use" in dup.stderr
        # /29: 6 host addresses, one the gateway, one taken above.
        for _ in range(4):
            n = _name("fill")
            engine.ctl("create", "--name", n, "--network", name, "busybox", check=True)
            made.append(n)
        full = engine.ctl("create", "--network", name, "busybox")
        assert full.returncode != 0 and "no available IP addresses" in full.stderr
        engine.ctl("rm", made.pop(), check=True)  # releases one
        n = _name("again")
        engine.ctl("create", "--name", n, "--network", name, "busybox", check=True)
        made.append(n)
        rm = engine.ctl("network", "rm", name)
        assert rm.returncode != 0 and "active endpoints" in rm.stderr
    finally:
        _rm(engine, *made)
        engine.ctl("network", "rm", name)


def test_network_commands(engine: Engine) -> None:
    name = _name("cmd")
    nid = engine.ctl("network", "create", "--subnet", "10.213.11.0/24", "--gateway", "10.213.11.254",
                     "--ip-range", "10.213.11.128/25", "--label", "team=a", name, check=True).stdout.strip()
    try:
        assert len(nid) == 64
        ls = engine.ctl("network", "ls", check=True).stdout
        assert name in ls and "bridge" in ls and "host" in ls and "none" in ls
        assert engine.ctl("network", "ls", "-q", "--filter", "label=team=a", check=True).stdout.split() == [nid[:12]]
        info = _inspect(engine, name, "network")
        assert info["IPAM"]["Config"][0]["Gateway"] == "10.213.11.254"
        c = _name("inrange")
        engine.ctl("create", "--name", c, "--network", name, "busybox", check=True)
        ip = _inspect(engine, c)["NetworkSettings"]["Networks"][name]["IPAddress"]
        assert int(ip.rsplit(".", 1)[1]) >= 128
        engine.ctl("rm", c, check=True)
        dup = engine.ctl("network", "create", name)
        assert dup.returncode != 0 and "already exists" in dup.stderr
        overlap = engine.ctl("network", "create", "--subnet", "10.213.11.0/25", _name("overlap"))
        assert overlap.returncode != 0 and "overlaps" in overlap.stderr
        assert engine.ctl("network", "rm", "bridge").returncode != 0
    finally:
        engine.ctl("network", "rm", name)
    assert name not in engine.ctl("network", "ls").stdout


@contextlib.contextmanager
def _second_host() -> Iterator[tuple]:
    """Another "host": a namespace with a veth into this one, addressed on a /30 of its own."""
    tag = uuid.uuid4().hex[:6]
    ns, host_if, peer = f"plt{tag}", f"pth{tag}", f"ptp{tag}"
    host_addr, peer_addr = "10.213.250.1", "10.213.250.2"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer, "netns", ns], check=True)
        subprocess.run(["ip", "addr", "add", f"{host_addr}/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        for cmd in (["ip", "addr", "add", f"{peer_addr}/30", "dev", peer], ["ip", "link", "set", peer, "up"],
                    ["ip", "link", "set", "lo", "up"]):
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)

        def run_in(cmd: list[str]) -> str:
            return subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True,
                                  text=True, timeout=30).stdout

        run_in.ns = ns  # type: ignore[attr-defined]
        yield run_in, host_addr
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def test_publish_all_exposed_ports(engine: Engine, busybox_tar: str) -> None:
    engine.ctl("import", "-c", "EXPOSE 80 8080/tcp", "-c", 'CMD ["sh"]', busybox_tar, "exposing:1", check=True)
    name = _name("puball")
    try:
        engine.ctl("run", "-d", "--name", name, "-P", "--expose", "9000/udp", "exposing:1", "sh", "-c", WEB,
                   check=True)
        lines = engine.ctl("port", name, check=True).stdout.splitlines()
        assert sorted(line.split(" -> ")[0] for line in lines) == ["80/tcp", "8080/tcp", "9000/udp"]
        port80 = int(engine.ctl("port", name, "80").stdout.splitlines()[0].rsplit(":", 1)[1])
        assert "hello-from-" in _http(f"http://127.0.0.1:{port80}/")
    finally:
        _rm(engine, name)
        engine.ctl("rmi", "exposing:1")


def test_dns_forwarding_hosts_and_resolver_options(engine: Engine, net: str) -> None:
    """Names the network does not know go to the upstreams (here --dns, a server on the host's
    loopback, reachable because the embedded server forwards from the host's namespace)."""
    import dns.message
    import dns.rrset

    upstream = ("127.0.0.77", 53)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(upstream)
    sock.settimeout(0.2)
    stop = False

    def serve() -> None:
        while not stop:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                continue
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            if q.question[0].name.to_text() == "outside.pallet.test.":
                r.answer.append(dns.rrset.from_text("outside.pallet.test.", 60, "IN", "A", "10.1.2.3"))
            sock.sendto(r.to_wire(), peer)

    import threading

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        res = engine.ctl("run", "--rm", "--network", net, "--dns", "127.0.0.77", "--dns-search", "example.test",
                         "--add-host", "db.static:10.9.8.7", "--mac-address", "02:42:0a:0b:0c:0d", "busybox", "sh",
                         "-c", "nslookup outside.pallet.test; cat /etc/resolv.conf /etc/hosts; ip link show eth0")
        assert res.returncode == 0, res.stderr
        assert "10.1.2.3" in res.stdout
        assert "search example.test" in res.stdout and "nameserver 127.0.0.11" in res.stdout
        assert "10.9.8.7\tdb.static" in res.stdout
        assert "02:42:0a:0b:0c:0d" in res.stdout
        # The default bridge has no embedded DNS: the --dns server is the container's nameserver itself.
        res = engine.ctl("run", "--rm", "--dns", "192.0.2.53", "busybox", "cat", "/etc/resolv.conf", check=True)
        assert "nameserver 192.0.2.53" in res.stdout and "127.0.0.11" not in res.stdout
    finally:
        stop = True
        t.join(2)
        sock.close()


def test_ipv6_network(engine: Engine) -> None:
    name = _name("v6")
    engine.ctl("network", "create", "--ipv6", name, check=True)
    web = _web(engine, "--network", name)
    try:
        info = _inspect(engine, name, "network")
        subnets = [c["Subnet"] for c in info["IPAM"]["Config"]]
        assert any(s.startswith("fd") and s.endswith("/64") for s in subnets), subnets
        v6 = _inspect(engine, web)["NetworkSettings"]["Networks"][name]["GlobalIPv6Address"]
        assert v6.startswith("fd")
        res = engine.ctl("run", "--rm", "--network", name, "busybox", "sh", "-c",
                         f"nslookup -type=AAAA {web} 127.0.0.11; ping6 -c 1 -W 2 {web}")
        assert res.returncode == 0 and v6 in res.stdout, res.stdout + res.stderr
    finally:
        _rm(engine, web)
        engine.ctl("network", "rm", name)
