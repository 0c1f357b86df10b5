"""palletctl's networking without a daemon: -p/--expose parsing, PORTS, port, inspect JSON, network commands."""

from __future__ import annotations

import argparse
import io
import json
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from pallet.client import _containers, _network, _ports
from pallet.client._inspect import container_json, render
from pallet.client.cli import CLIError, build_parser
from pallet.engine.v1 import engine_pb2 as pb
from pallet.net.v1 import net_pb2 as npb

# -- -p parsing ------------------------------------------------------------------


def _bindings(spec: str) -> list[tuple[str, int, int, int, str]]:
    return [(b.host_ip, b.host_port, b.host_port_end, b.container_port, b.protocol)
            for b in _ports.parse_publish(spec)]


@pytest.mark.parametrize(("spec", "expected"), [
    ("80", [("", 0, 0, 80, "tcp")]),
    ("8080:80", [("", 8080, 0, 80, "tcp")]),
    ("0:80", [("", 0, 0, 80, "tcp")]),
    (":80", [("", 0, 0, 80, "tcp")]),
    ("80/udp", [("", 0, 0, 80, "udp")]),
    ("53:53/UDP", [("", 53, 0, 53, "udp")]),
    ("9:9/sctp", [("", 9, 0, 9, "sctp")]),
    ("80/", [("", 0, 0, 80, "tcp")]),
    ("127.0.0.1:8080:80", [("127.0.0.1", 8080, 0, 80, "tcp")]),
    ("127.0.0.1::80", [("127.0.0.1", 0, 0, 80, "tcp")]),
    ("0.0.0.0:8080:80/udp", [("0.0.0.0", 8080, 0, 80, "udp")]),
    ("[::1]:8080:80", [("::1", 8080, 0, 80, "tcp")]),
    ("[::]::80", [("::", 0, 0, 80, "tcp")]),
    ("[2001:db8::1]:443:443/tcp", [("2001:db8::1", 443, 0, 443, "tcp")]),
    ("::1:8080:80", [("::1", 8080, 0, 80, "tcp")]),
    ("8000-8002:9000-9002", [("", 8000, 0, 9000, "tcp"), ("", 8001, 0, 9001, "tcp"), ("", 8002, 0, 9002, "tcp")]),
    ("8000-8002", [("", 0, 0, 8000, "tcp"), ("", 0, 0, 8001, "tcp"), ("", 0, 0, 8002, "tcp")]),
    ("8000-8010:80", [("", 8000, 8010, 80, "tcp")]),
    ("127.0.0.1:8000-8010:80/udp", [("127.0.0.1", 8000, 8010, 80, "udp")]),
    ("8000-8000:80", [("", 8000, 0, 80, "tcp")]),
    ("65535:1", [("", 65535, 0, 1, "tcp")]),
    ("target=80,published=8080", [("", 8080, 0, 80, "tcp")]),
    ("target=53,published=5353,protocol=udp,mode=host", [("", 5353, 0, 53, "udp")]),
    ("target=80", [("", 0, 0, 80, "tcp")]),
    ("target=80,published=8080,host_ip=::1", [("::1", 8080, 0, 80, "tcp")]),
])
def test_parse_publish(spec: str, expected: list[tuple[str, int, int, int, str]]) -> None:
    assert _bindings(spec) == expected


@pytest.mark.parametrize(("spec", "reason"), [
    ("", "no container port"),
    ("8080:", "no container port"),
    ("abc", 'invalid container port "abc"'),
    ("8080:abc", 'invalid container port "abc"'),
    ("x:80", 'invalid host port "x"'),
    ("0", "container port 0 out of range"),
    ("70000", "container port 70000 out of range"),
    ("70000:80", "host port 70000 out of range"),
    ("80/foo", 'invalid protocol "foo"'),
    ("80/tcp/udp", "invalid protocol"),
    ("1.2.3:80:80", 'invalid host IP address "1.2.3"'),
    ("localhost:80:80", 'invalid host IP address "localhost"'),
    ("[::1:80:80", "invalid host IP address"),
    ("90-80", "end before start"),
    ("8000-8002:80-81", "differ in length"),
    ("8080:80-81", "differ in length"),
    ("0-10:80", "cannot start at 0"),
    ("80-", 'invalid container port "80-"'),
    ("target=80,bogus=1", "unexpected field"),
    ("published=80", "target is required"),
    ("target=80,mode=swarm", "invalid mode"),
])
def test_parse_publish_rejects(spec: str, reason: str) -> None:
    with pytest.raises(CLIError, match="invalid publish spec") as exc:
        _ports.parse_publish(spec)
    assert f'"{spec}"' in str(exc.value) and reason in str(exc.value)
    assert exc.value.status == 125


def test_expand_expose() -> None:
    assert _ports.expand_expose("80") == ["80/tcp"]
    assert _ports.expand_expose("53/udp") == ["53/udp"]
    assert _ports.expand_expose("8000-8002") == ["8000/tcp", "8001/tcp", "8002/tcp"]
    assert _ports.expand_expose("7-8/SCTP") == ["7/sctp", "8/sctp"]
    for bad, reason in (("8080:80", "no host part"), ("x", "invalid port"), ("80/icmp", "invalid protocol"),
                        ("9-7", "end before start"), ("0", "out of range")):
        with pytest.raises(CLIError, match="invalid expose spec") as exc:
            _ports.expand_expose(bad)
        assert reason in str(exc.value)


def test_exposed_ports_merge_published_then_expose() -> None:
    bindings = _ports.parse_publish("8080:80") + _ports.parse_publish("53/udp")
    assert _ports.exposed_ports(bindings, ["80", "9000-9001"]) == ["80/tcp", "53/udp", "9000/tcp", "9001/tcp"]


# -- showing ports -----------------------------------------------------------------


def _bound(*items: tuple[str, int, int, str]) -> list[npb.PortBinding]:
    return [npb.PortBinding(host_ip=ip, host_port=hp, container_port=cp, protocol=proto)
            for ip, hp, cp, proto in items]


def test_ps_ports_like_docker() -> None:
    assert _ports.ps_ports([]) == ""
    assert _ports.ps_ports(_bound(("0.0.0.0", 8080, 80, "tcp"), ("0.0.0.0", 32768, 443, "tcp"))) \
        == "0.0.0.0:8080->80/tcp, 0.0.0.0:32768->443/tcp"
    # Sorted by container port whatever the order bound.
    assert _ports.ps_ports(_bound(("0.0.0.0", 1, 443, "tcp"), ("127.0.0.1", 2, 80, "udp"))) \
        == "127.0.0.1:2->80/udp, 0.0.0.0:1->443/tcp"
    # Same host and container ports group into ranges.
    assert _ports.ps_ports(_bound(("0.0.0.0", 8000, 8000, "tcp"), ("0.0.0.0", 8001, 8001, "tcp"),
                                  ("0.0.0.0", 8002, 8002, "tcp"), ("0.0.0.0", 8005, 8005, "tcp"))) \
        == "0.0.0.0:8000-8002->8000-8002/tcp, 0.0.0.0:8005->8005/tcp"
    assert _ports.ps_ports(_bound(("::", 8080, 80, "tcp"))) == "[::]:8080->80/tcp"
    assert _ports.ps_ports(_bound(("", 8080, 80, "tcp"))) == "0.0.0.0:8080->80/tcp"
    # Exposed, unpublished ports are shown bare (and grouped); published ones only once.
    assert _ports.ps_ports(_bound(("0.0.0.0", 8080, 80, "tcp")), ["80/tcp", "443/tcp", "444/tcp", "53/udp"]) \
        == "53/udp, 443-444/tcp, 0.0.0.0:8080->80/tcp"


def test_port_lines() -> None:
    bound = _bound(("0.0.0.0", 32769, 443, "tcp"), ("0.0.0.0", 32768, 80, "tcp"), ("127.0.0.1", 8080, 80, "tcp"),
                   ("::1", 5353, 53, "udp"))
    assert _ports.port_lines(bound) == ["53/udp -> [::1]:5353", "80/tcp -> 0.0.0.0:32768",
                                        "80/tcp -> 127.0.0.1:8080", "443/tcp -> 0.0.0.0:32769"]
    assert _ports.port_lines(bound, "80/tcp") == ["0.0.0.0:32768", "127.0.0.1:8080"]
    assert _ports.port_lines(bound, "53/udp") == ["[::1]:5353"]
    assert _ports.port_lines(bound, "81/tcp") == []


class _FakeClient:
    def __init__(self, **services: Any) -> None:
        self.__dict__.update(services)


def _ctr(**kw: Any) -> pb.Container:
    ctr = pb.Container(id="c" * 64, name="web", **kw)
    ctr.state.status = 2
    return ctr


def test_cmd_port(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ctr = _ctr()
    ctr.network_settings.ports.extend(_bound(("0.0.0.0", 32768, 80, "tcp"), ("127.0.0.1", 9999, 9999, "udp")))
    fake = _FakeClient(containers=SimpleNamespace(Inspect=lambda req: ctr))
    monkeypatch.setattr(_containers, "client", lambda args: fake)
    parser = build_parser()
    assert _containers.cmd_port(parser.parse_args(["port", "web"])) == 0
    assert capsys.readouterr().out == "80/tcp -> 0.0.0.0:32768\n9999/udp -> 127.0.0.1:9999\n"
    assert _containers.cmd_port(parser.parse_args(["port", "web", "80"])) == 0
    assert capsys.readouterr().out == "0.0.0.0:32768\n"
    assert _containers.cmd_port(parser.parse_args(["port", "web", "9999/udp"])) == 0
    assert capsys.readouterr().out == "127.0.0.1:9999\n"
    with pytest.raises(CLIError) as exc:
        _containers.cmd_port(parser.parse_args(["port", "web", "81"]))
    assert (str(exc.value), exc.value.status) == ("Error: No public port '81/tcp' published for web", 1)
    with pytest.raises(CLIError, match="invalid port"):
        _containers.cmd_port(parser.parse_args(["port", "web", "http"]))


# -- run/create flags into ContainerConfig -----------------------------------------------


def _config(*argv: str) -> pb.ContainerConfig:
    args = build_parser().parse_args(["run", *argv, "busybox"])
    return _containers._config(args, False)


def test_run_flags_fill_the_config() -> None:
    cfg = _config("--net", "mynet", "--ip", "10.1.2.3", "--ip6", "fd00::3", "--network-alias", "a",
                  "--net-alias", "b", "--mac-address", "92:d0:c6:0a:29:33", "--dns", "1.1.1.1", "--dns", "::1",
                  "--dns-search", "example.com", "--dns-opt", "ndots:2", "--dns-option", "timeout:1",
                  "--add-host", "db:10.0.0.5", "--add-host", "gw=host-gateway", "-p", "8080:80",
                  "--publish", "127.0.0.1::53/udp", "-P", "--expose", "9000-9001")
    assert cfg.network_mode == "mynet"
    assert (cfg.endpoint.ipv4_address, cfg.endpoint.ipv6_address) == ("10.1.2.3", "fd00::3")
    assert list(cfg.endpoint.aliases) == ["a", "b"]
    assert cfg.endpoint.mac_address == "92:d0:c6:0a:29:33"
    assert list(cfg.dns) == ["1.1.1.1", "::1"]
    assert list(cfg.dns_search) == ["example.com"]
    assert list(cfg.dns_options) == ["ndots:2", "timeout:1"]
    assert list(cfg.extra_hosts) == ["db:10.0.0.5", "gw:host-gateway"]
    assert [(b.host_ip, b.host_port, b.container_port, b.protocol) for b in cfg.port_bindings] \
        == [("", 8080, 80, "tcp"), ("127.0.0.1", 0, 53, "udp")]
    assert cfg.publish_all_ports
    assert list(cfg.exposed_ports) == ["80/tcp", "53/udp", "9000/tcp", "9001/tcp"]


def test_run_flag_defaults() -> None:
    cfg = _config()
    assert cfg.network_mode == ""
    assert not cfg.HasField("endpoint") or cfg.endpoint == pb.EndpointConfig()
    assert not cfg.port_bindings and not cfg.exposed_ports and not cfg.publish_all_ports


@pytest.mark.parametrize(("argv", "message"), [
    (["--ip", "10.0.0"], '"--ip" flag: not an IPv4 address'),
    (["--ip", "fd00::1"], '"--ip" flag: not an IPv4 address'),
    (["--ip6", "10.0.0.1"], '"--ip6" flag: not an IPv6 address'),
    (["--dns", "dns.google"], '"--dns" flag: not an IP address'),
    (["--mac-address", "92:d0:c6"], "not a valid mac address"),
    (["--add-host", "nohost"], "bad format for add-host"),
    (["-p", "80:80:80:x"], "invalid publish spec"),
    (["--expose", "1:2"], "invalid expose spec"),
])
def test_run_flags_rejected(argv: list[str], message: str) -> None:
    with pytest.raises(CLIError) as exc:
        _config(*argv)
    assert message in str(exc.value)


# -- container inspect ---------------------------------------------------------------


def _running_ctr() -> pb.Container:
    ctr = _ctr()
    cfg = ctr.config
    cfg.network_mode = "mynet"
    cfg.endpoint.ipv4_address = "172.18.0.9"
    cfg.endpoint.aliases.append("site")
    cfg.port_bindings.extend(_ports.parse_publish("8080:80") + _ports.parse_publish("127.0.0.1:8000-8010:53/udp"))
    cfg.exposed_ports.extend(["80/tcp", "53/udp", "443/tcp"])
    cfg.dns.append("1.1.1.1")
    cfg.extra_hosts.append("db:10.0.0.5")
    ns = ctr.network_settings
    ns.sandbox_key = "/run/pallet/netns/abc123"
    ns.ports.extend(_bound(("0.0.0.0", 8080, 80, "tcp"), ("127.0.0.1", 8003, 53, "udp")))
    ns.networks.add(id="e1", network_id="n" * 64, network_name="mynet", container_id=ctr.id, container_name="web",
                    ipv4_address="172.18.0.9/16", ipv4_gateway="172.18.0.1", mac_address="02:42:ac:12:00:09",
                    aliases=["site"], dns_names=["web", "site", ctr.id[:12]], interface="eth0")
    ns.networks.add(id="e2", network_id="b" * 64, network_name="bridge", ipv4_address="172.17.0.4/16",
                    ipv4_gateway="172.17.0.1", ipv6_address="fd00::4/64", ipv6_gateway="fd00::1",
                    mac_address="02:42:ac:11:00:04", interface="eth1")
    return ctr


def test_inspect_host_config_and_exposed_ports() -> None:
    obj = container_json(_running_ctr())
    hc = obj["HostConfig"]
    assert hc["NetworkMode"] == "mynet"
    assert hc["PortBindings"] == {"53/udp": [{"HostIp": "127.0.0.1", "HostPort": "8000-8010"}],
                                  "80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert list(hc["PortBindings"]) == ["53/udp", "80/tcp"]  # sorted, as Go writes maps
    assert hc["PublishAllPorts"] is False
    assert (hc["Dns"], hc["DnsOptions"], hc["DnsSearch"], hc["ExtraHosts"]) == (["1.1.1.1"], [], [], ["db:10.0.0.5"])
    assert obj["Config"]["ExposedPorts"] == {"443/tcp": {}, "53/udp": {}, "80/tcp": {}}


def test_inspect_network_settings() -> None:
    ns = container_json(_running_ctr())["NetworkSettings"]
    assert ns["Ports"] == {"443/tcp": None, "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "8003"}],
                           "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert (ns["SandboxKey"], ns["SandboxID"], ns["Bridge"]) == ("/run/pallet/netns/abc123", "abc123", "")
    # The top level describes the default bridge's endpoint.
    assert (ns["IPAddress"], ns["IPPrefixLen"], ns["Gateway"], ns["MacAddress"], ns["EndpointID"]) \
        == ("172.17.0.4", 16, "172.17.0.1", "02:42:ac:11:00:04", "e2")
    assert (ns["GlobalIPv6Address"], ns["GlobalIPv6PrefixLen"], ns["IPv6Gateway"]) == ("fd00::4", 64, "fd00::1")
    mynet = ns["Networks"]["mynet"]
    assert mynet == {
        "IPAMConfig": {"IPv4Address": "172.18.0.9"}, "Links": None, "Aliases": ["site"],
        "MacAddress": "02:42:ac:12:00:09", "DriverOpts": None, "NetworkID": "n" * 64, "EndpointID": "e1",
        "Gateway": "172.18.0.1", "IPAddress": "172.18.0.9", "IPPrefixLen": 16, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": ["web", "site", "c" * 12],
    }
    assert ns["Networks"]["bridge"]["IPAMConfig"] is None and ns["Networks"]["bridge"]["Aliases"] is None


def test_inspect_defaults_without_networking() -> None:
    ctr = _ctr()
    obj = container_json(ctr)
    assert obj["HostConfig"]["NetworkMode"] == "bridge"
    assert obj["HostConfig"]["PortBindings"] == {}
    assert (obj["HostConfig"]["Dns"], obj["HostConfig"]["ExtraHosts"]) == ([], None)
    assert "ExposedPorts" not in obj["Config"]
    ns = obj["NetworkSettings"]
    assert (ns["IPAddress"], ns["IPPrefixLen"], ns["Gateway"], ns["SandboxKey"], ns["Ports"], ns["Networks"]) \
        == ("", 0, "", "", {}, {})
    # Not running: exposed ports are not listed.
    ctr.config.exposed_ports.append("80/tcp")
    assert container_json(ctr)["NetworkSettings"]["Ports"] == {}
    ctr.config.network_mode = "none"
    nets = container_json(ctr)["NetworkSettings"]["Networks"]
    assert list(nets) == ["none"] and nets["none"]["IPAddress"] == ""
    json.dumps(container_json(_running_ctr()))  # serializable


def test_inspect_templates_reach_network_settings() -> None:
    obj = container_json(_running_ctr())
    assert render("{{.NetworkSettings.IPAddress}}", obj) == "172.17.0.4"
    assert render("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", obj) == "172.17.0.4 172.18.0.9 "
    assert render("{{.NetworkSettings.Networks.mynet.IPAddress}}", obj) == "172.18.0.9"
    assert render('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', obj) == "8080"
    assert render("{{range $p, $b := .NetworkSettings.Ports}}{{$p}}{{if $b}}={{(index $b 0).HostPort}}{{end}} "
                  "{{end}}", obj) == "443/tcp 53/udp=8003 80/tcp=8080 "
    assert render("{{json .HostConfig.PortBindings}}", obj) \
        == '{"53/udp":[{"HostIp":"127.0.0.1","HostPort":"8000-8010"}],"80/tcp":[{"HostIp":"","HostPort":"8080"}]}'
    assert render("{{.HostConfig.NetworkMode | upper}}", obj) == "MYNET"


def test_template_errors_stay_value_errors() -> None:
    for bad in ("{{.Nope}}", "{{range .Config}}", "{{end}}", "{{else}}", "{{nofunc .Id}}", "{{.Id"):
        with pytest.raises(ValueError, match="template:"):
            render(bad, container_json(_ctr()))


def test_ps_row_ports() -> None:
    ctr = _running_ctr()
    assert _containers.ps_row(ctr, True)["Ports"] == "443/tcp, 127.0.0.1:8003->53/udp, 0.0.0.0:8080->80/tcp"
    ctr.network_settings.sandbox_key = ""
    del ctr.network_settings.ports[:]
    assert _containers.ps_row(ctr, True)["Ports"] == ""


# -- network inspect and commands ----------------------------------------------------------


def _network_msg() -> npb.Network:
    n = npb.Network(id="a" * 64, name="mynet", driver="bridge", scope="local", internal=True, bridge="br-aaaa",
                    labels={"team": "a"}, options={"com.example.mtu": "1400"})
    n.created.FromNanoseconds(1_700_000_000_123_456_789)
    n.ipam.add(subnet="10.1.0.0/16", gateway="10.1.0.1", ip_range="10.1.128.0/17")
    n.ipam.add(subnet="fd00::/64", gateway="fd00::1")
    n.endpoints.add(id="e1", container_id="c" * 64, container_name="web", ipv4_address="10.1.128.2/16",
                    mac_address="02:42:0a:01:80:02")
    return n


def test_network_json_shape() -> None:
    assert _network.network_json(_network_msg()) == {
        "Name": "mynet",
        "Id": "a" * 64,
        "Created": "2023-11-14T22:13:20.123456789Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None,
                 "Config": [{"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1", "IPRange": "10.1.128.0/17"},
                            {"Subnet": "fd00::/64", "Gateway": "fd00::1"}]},
        "Internal": True,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {"c" * 64: {"Name": "web", "EndpointID": "e1", "MacAddress": "02:42:0a:01:80:02",
                                  "IPv4Address": "10.1.128.2/16", "IPv6Address": ""}},
        "Options": {"com.example.mtu": "1400"},
        "Labels": {"team": "a"},
    }


def test_ipam_configs_pair_by_containment() -> None:
    assert _network.ipam_configs(["10.1.0.0/16", "fd00::/64"], ["fd00::1", "10.1.0.254"], ["10.1.128.0/17"]) == [
        {"subnet": "10.1.0.0/16", "gateway": "10.1.0.254", "ip_range": "10.1.128.0/17"},
        {"subnet": "fd00::/64", "gateway": "fd00::1", "ip_range": ""},
    ]
    assert _network.ipam_configs([], [], []) == []
    for subnets, gateways, ranges, message in (
        ([], ["10.0.0.1"], [], "every ip-range or gateway must have a corresponding subnet"),
        (["10.0.0.0/8", "10.1.0.0/16"], [], [], "overlapping subnet"),
        (["10.0.0.0/24"], ["10.0.1.1"], [], "no matching subnet for gateway 10.0.1.1"),
        (["10.0.0.0/24"], [], ["10.0.1.0/25"], "no matching subnet for range 10.0.1.0/25"),
        (["10.0.0.0/24", "10.1.0.0/24"], ["10.0.0.1", "10.0.0.2"], [], "multiple gateways"),
        (["nope"], [], [], "invalid subnet: nope"),
        (["10.0.0.0/24"], ["bogus"], [], "invalid address: bogus"),
    ):
        with pytest.raises(CLIError, match=message):
            _network.ipam_configs(subnets, gateways, ranges)


class _RpcError(grpc.RpcError, grpc.Call):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def initial_metadata(self) -> None:
        return None

    def trailing_metadata(self) -> None:
        return None

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> None:
        return None

    def add_callback(self, callback: Any) -> None:
        return None


class _Networks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def Create(self, req: Any) -> npb.Network:  # noqa: N802 - gRPC stub names
        self.calls.append(("Create", req))
        return npb.Network(id="f" * 64, name=req.name)

    def List(self, req: Any) -> npb.ListNetworksResponse:  # noqa: N802
        self.calls.append(("List", req))
        return npb.ListNetworksResponse(networks=[
            npb.Network(id="3" * 64, name="net10", driver="bridge", scope="local"),
            npb.Network(id="1" * 64, name="bridge", driver="bridge", scope="local"),
            npb.Network(id="2" * 64, name="net9", driver="bridge", scope="local", enable_ipv6=True),
            npb.Network(id="4" * 64, name="host", driver="host", scope="local"),
        ])

    def Inspect(self, req: Any) -> npb.Network:  # noqa: N802
        if req.id != "mynet":
            raise _RpcError(grpc.StatusCode.NOT_FOUND, f"network {req.id} not found")
        return _network_msg()

    def Remove(self, req: Any) -> npb.RemoveNetworkResponse:  # noqa: N802
        self.calls.append(("Remove", req))
        if req.id == "busy":
            raise _RpcError(grpc.StatusCode.FAILED_PRECONDITION, "error while removing network: busy has active "
                            "endpoints")
        if req.id == "gone":
            raise _RpcError(grpc.StatusCode.NOT_FOUND, "network gone not found")
        return npb.RemoveNetworkResponse()

    def Prune(self, req: Any) -> npb.PruneNetworksResponse:  # noqa: N802
        self.calls.append(("Prune", req))
        return npb.PruneNetworksResponse(deleted=["n1", "n2"])

    def Connect(self, req: Any) -> pb.ConnectNetworkResponse:  # noqa: N802
        self.calls.append(("Connect", req))
        return pb.ConnectNetworkResponse()

    def Disconnect(self, req: Any) -> pb.DisconnectNetworkResponse:  # noqa: N802
        self.calls.append(("Disconnect", req))
        return pb.DisconnectNetworkResponse()


@pytest.fixture
def nets(monkeypatch: pytest.MonkeyPatch) -> _Networks:
    fake = _Networks()
    monkeypatch.setattr(_network, "client", lambda args: _FakeClient(networks=fake))
    return fake


def _run(*argv: str) -> int:
    args: argparse.Namespace = build_parser().parse_args(list(argv))
    return int(args.func(args))


def test_network_create(nets: _Networks, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("network", "create", "--subnet", "10.5.0.0/16", "--gateway", "10.5.0.1", "--ip-range",
                "10.5.1.0/24", "--internal", "--ipv6", "-o", "com.example.mtu=1400", "--label", "team=a",
                "--label", "flag", "mynet") == 0
    assert capsys.readouterr().out == "f" * 64 + "\n"
    req = nets.calls[0][1]
    assert (req.name, req.driver, req.internal, req.enable_ipv6, req.check_duplicate) \
        == ("mynet", "bridge", True, True, True)
    assert [(c.subnet, c.gateway, c.ip_range) for c in req.ipam] == [("10.5.0.0/16", "10.5.0.1", "10.5.1.0/24")]
    assert dict(req.options) == {"com.example.mtu": "1400"} and dict(req.labels) == {"team": "a", "flag": ""}
    with pytest.raises(CLIError, match="expected key=value"):
        _run("network", "create", "-o", "bare", "x")


def test_network_ls(nets: _Networks, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("network", "ls", "-f", "driver=bridge", "--filter", "name=net") == 0
    assert list(nets.calls[0][1].filters) == ["driver=bridge", "name=net"]
    assert capsys.readouterr().out.splitlines() == [
        "NETWORK ID     NAME     DRIVER   SCOPE",
        "111111111111   bridge   bridge   local",
        "444444444444   host     host     local",
        "222222222222   net9     bridge   local",
        "333333333333   net10    bridge   local",
    ]
    assert _run("network", "list", "-q") == 0
    assert capsys.readouterr().out.split() == ["1" * 12, "4" * 12, "2" * 12, "3" * 12]
    assert _run("network", "ls", "-q", "--no-trunc") == 0
    assert capsys.readouterr().out.split()[0] == "1" * 64
    assert _run("network", "ls", "--format", "{{.Name}}:{{.IPv6}}") == 0
    assert capsys.readouterr().out.split() == ["bridge:false", "host:false", "net9:true", "net10:false"]


def test_network_inspect(nets: _Networks, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("network", "inspect", "mynet") == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["Name"] == "mynet" and out[0]["IPAM"]["Config"][0]["Gateway"] == "10.1.0.1"
    assert _run("network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "mynet") == 0
    assert capsys.readouterr().out == "mynet 10.1.0.0/16 fd00::/64 \n"
    assert _run("network", "inspect", "mynet", "nope") == 1
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 1
    assert captured.err == "Error response from daemon: network nope not found\n"


def test_network_rm(nets: _Networks, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("network", "rm", "a", "busy", "b") == 1
    captured = capsys.readouterr()
    assert captured.out == "a\nb\n"
    assert "busy has active endpoints" in captured.err
    assert _run("network", "remove", "-f", "gone", "c") == 0
    assert capsys.readouterr() == ("c\n", "")
    assert _run("network", "rm", "gone") == 1


def test_network_prune(nets: _Networks, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    with pytest.raises(CLIError, match="network prune has been cancelled"):
        _run("network", "prune")
    assert capsys.readouterr().out == ("WARNING! This will remove all custom networks not used by at least one "
                                       "container.\nAre you sure you want to continue? [y/N] ")
    assert not nets.calls
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert _run("network", "prune", "--filter", "label=a") == 0
    assert capsys.readouterr().out.endswith("[y/N] Deleted Networks:\nn1\nn2\n\n")
    assert list(nets.calls[0][1].filters) == ["label=a"]
    assert _run("network", "prune", "-f") == 0
    assert capsys.readouterr().out == "Deleted Networks:\nn1\nn2\n\n"


def test_network_connect_disconnect(nets: _Networks) -> None:
    assert _run("network", "connect", "--ip", "10.5.0.9", "--alias", "a", "--alias", "b,c", "mynet", "web") == 0
    req = nets.calls[-1][1]
    assert (req.network, req.container, req.endpoint.ipv4_address, list(req.endpoint.aliases)) \
        == ("mynet", "web", "10.5.0.9", ["a", "b", "c"])
    with pytest.raises(CLIError, match="not an IPv6 address"):
        _run("network", "connect", "--ip6", "10.0.0.1", "mynet", "web")
    assert _run("network", "disconnect", "-f", "mynet", "web") == 0
    req = nets.calls[-1][1]
    assert (req.network, req.container, req.force) == ("mynet", "web", True)
