"""Networks: `palletctl network ...`, run/create's network flags, and the network parts of `inspect`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from pallet.client._conn import client, describe_error
from pallet.client.cli import CLIError

AddFn = Callable[..., argparse.ArgumentParser]

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")


# -- run/create flags ---------------------------------------------------------

def add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", "--net", default="",
                   help='connect a container to a network ("bridge", "host", "none", "container:NAME" or a name)')
    p.add_argument("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
    p.add_argument("--network-alias", "--net-alias", action="append", default=[], dest="network_alias",
                   help="add network-scoped alias for the container")
    p.add_argument("--mac-address", default="", help="container MAC address (e.g., 92:d0:c6:0a:29:33)")
    p.add_argument("--dns", action="append", default=[], help="set custom DNS servers")
    p.add_argument("--dns-search", action="append", default=[], help="set custom DNS search domains")
    p.add_argument("--dns-option", "--dns-opt", action="append", default=[], dest="dns_option",
                   help="set DNS options")
    p.add_argument("--add-host", action="append", default=[], help="add a custom host-to-IP mapping (host:ip)")
    p.add_argument("-p", "--publish", action="append", default=[],
                   help="publish a container's port(s) to the host ([IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish all exposed ports to random ports")
    p.add_argument("--expose", action="append", default=[], help="expose a port or a range of ports")


def _ip(value: str, flag: str, version: int | None = None) -> str:
    import ipaddress

    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        ip = None
    if ip is None or (version is not None and ip.version != version):
        kind = {4: "IPv4 ", 6: "IPv6 ", None: "IP "}[version]
        raise CLIError(f'palletctl: invalid argument "{value}" for "{flag}" flag: not an {kind}address')
    return value


def _extra_host(value: str) -> str:
    name, sep, ip = value.partition(":")
    if not sep:
        name, sep, ip = value.partition("=")
    if not sep or not name or not ip:
        raise CLIError(f'palletctl: invalid argument "{value}" for "--add-host" flag: '
                       f'bad format for add-host: "{value}" (want host:ip)')
    return f"{name}:{ip}"


def fill_config(args: argparse.Namespace, cfg: Any) -> None:
    """The network flags into a ContainerConfig."""
    from pallet.client import _ports

    cfg.network_mode = args.network
    ep = cfg.endpoint
    ep.ipv4_address = args.ip and _ip(args.ip, "--ip", 4)
    ep.ipv6_address = args.ip6 and _ip(args.ip6, "--ip6", 6)
    ep.aliases.extend(args.network_alias)
    if args.mac_address and not _MAC.match(args.mac_address):
        raise CLIError(f"palletctl: {args.mac_address} is not a valid mac address")
    ep.mac_address = args.mac_address
    cfg.dns.extend(_ip(d, "--dns") for d in args.dns)
    cfg.dns_search.extend(args.dns_search)
    cfg.dns_options.extend(args.dns_option)
    cfg.extra_hosts.extend(_extra_host(h) for h in args.add_host)
    bindings = [b for spec in args.publish for b in _ports.parse_publish(spec)]
    cfg.port_bindings.extend(bindings)
    cfg.publish_all_ports = args.publish_all
    cfg.exposed_ports.extend(_ports.exposed_ports(bindings, args.expose))


# -- the network parts of container inspect and ps ------------------------------

def _running_exposed(ctr: Any) -> list[str]:
    """Exposed ports show (unpublished) only while the container's namespace is up, as Docker's."""
    return list(ctr.config.exposed_ports) if ctr.network_settings.sandbox_key else []


def ps_ports(ctr: Any) -> str:
    from pallet.client._ports import ps_ports as fmt

    return fmt(ctr.network_settings.ports, _running_exposed(ctr))


def hostconfig_json(cfg: Any) -> dict[str, Any]:
    from pallet.client._ports import port_bindings_json

    return {
        "NetworkMode": cfg.network_mode or "bridge",
        "PortBindings": port_bindings_json(cfg.port_bindings),
        "PublishAllPorts": cfg.publish_all_ports,
        "Dns": list(cfg.dns),
        "DnsOptions": list(cfg.dns_options),
        "DnsSearch": list(cfg.dns_search),
        "ExtraHosts": list(cfg.extra_hosts) or None,
    }


def _addr(cidr: str) -> tuple[str, int]:
    ip, _, prefix = cidr.partition("/")
    return ip, int(prefix) if prefix.isdigit() else 0


def _is_mode_network(ep: Any, mode: str) -> bool:
    return ep.network_name == mode or (len(mode) >= 12 and ep.network_id.startswith(mode))


def _endpoint_json(ep: Any, cfg: Any) -> dict[str, Any]:
    ip, prefix = _addr(ep.ipv4_address)
    ip6, prefix6 = _addr(ep.ipv6_address)
    ipam = None
    if _is_mode_network(ep, cfg.network_mode or "bridge"):
        static = {"IPv4Address": cfg.endpoint.ipv4_address, "IPv6Address": cfg.endpoint.ipv6_address}
        ipam = {k: v for k, v in static.items() if v} or None
    return {
        "IPAMConfig": ipam,
        "Links": None,
        "Aliases": list(ep.aliases) or None,
        "MacAddress": ep.mac_address,
        "DriverOpts": None,
        "NetworkID": ep.network_id,
        "EndpointID": ep.id,
        "Gateway": ep.ipv4_gateway,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "IPv6Gateway": ep.ipv6_gateway,
        "GlobalIPv6Address": ip6,
        "GlobalIPv6PrefixLen": prefix6,
        "DNSNames": list(ep.dns_names) or None,
    }


def network_settings_json(ctr: Any) -> dict[str, Any]:
    """Container inspect's NetworkSettings, with the default bridge's endpoint at the top level."""
    from pallet.client._ports import ports_json

    ns, cfg = ctr.network_settings, ctr.config
    networks = {ep.network_name: _endpoint_json(ep, cfg) for ep in ns.networks}
    mode = cfg.network_mode or "bridge"
    if not networks and mode in ("host", "none"):
        from pallet.net.v1 import net_pb2 as npb

        networks[mode] = _endpoint_json(npb.Endpoint(network_name=mode), cfg)
    bridge = networks.get("bridge") or {}
    return {
        "Bridge": "",
        "SandboxID": ns.sandbox_key.rsplit("/", 1)[-1],
        "SandboxKey": ns.sandbox_key,
        "Ports": ports_json(ns.ports, _running_exposed(ctr)),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": bridge.get("EndpointID", ""),
        "Gateway": bridge.get("Gateway", ""),
        "GlobalIPv6Address": bridge.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": bridge.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": bridge.get("IPAddress", ""),
        "IPPrefixLen": bridge.get("IPPrefixLen", 0),
        "IPv6Gateway": bridge.get("IPv6Gateway", ""),
        "MacAddress": bridge.get("MacAddress", ""),
        "Networks": networks,
    }


# -- palletctl network ----------------------------------------------------------

def network_json(n: Any) -> dict[str, Any]:
    """`network inspect` in Docker's shape."""
    from pallet.client._inspect import rfc3339

    config = []
    for c in n.ipam:
        item = {"Subnet": c.subnet, "Gateway": c.gateway}
        if c.ip_range:
            item["IPRange"] = c.ip_range
        config.append(item)
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": rfc3339(n.created.ToNanoseconds()),
        "Scope": n.scope or "local",
        "Driver": n.driver,
        "EnableIPv6": n.enable_ipv6,
        "IPAM": {"Driver": "default", "Options": None, "Config": config},
        "Internal": n.internal,
        "Attachable": False,
        "Ingress": n.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {ep.container_id: {"Name": ep.container_name, "EndpointID": ep.id,
                                         "MacAddress": ep.mac_address, "IPv4Address": ep.ipv4_address,
                                         "IPv6Address": ep.ipv6_address} for ep in n.endpoints},
        "Options": dict(sorted(n.options.items())),
        "Labels": dict(sorted(n.labels.items())),
    }


def _list(values: Iterable[str]) -> list[str]:
    """Repeatable flags that also take comma-separated values (Docker's StringSlice)."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _contains(subnet: Any, addr: str) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_interface(addr).ip if "/" in addr else ipaddress.ip_address(addr)
    except ValueError:
        raise CLIError(f"palletctl: invalid address: {addr}") from None
    return ip.version == subnet.version and ip in subnet


def ipam_configs(subnets: list[str], gateways: list[str], ranges: list[str]) -> list[dict[str, str]]:
    """--subnet/--gateway/--ip-range as Docker's consolidateIpam pairs them: each gateway and
    range goes to the subnet that contains it, one of each per subnet."""
    import ipaddress

    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise CLIError("palletctl: every ip-range or gateway must have a corresponding subnet")
    nets: list[Any] = []
    configs: list[dict[str, str]] = []
    for s in subnets:
        try:
            net = ipaddress.ip_network(s, strict=False)
        except ValueError:
            raise CLIError(f"palletctl: invalid subnet: {s}") from None
        if any(net.version == other.version and net.overlaps(other) for other in nets):
            raise CLIError("palletctl: multiple overlapping subnet configuration is not supported")
        nets.append(net)
        configs.append({"subnet": s, "gateway": "", "ip_range": ""})
    for key, values, what in (("ip_range", ranges, "range"), ("gateway", gateways, "gateway")):
        for value in values:
            matched = [c for net, c in zip(nets, configs, strict=True) if _contains(net, value)]
            if not matched:
                raise CLIError(f"palletctl: no matching subnet for {what} {value}")
            for c in matched:
                if c[key]:
                    plural = "ranges" if what == "range" else "gateways"
                    where = "on the same subnet" if what == "range" else "for the same subnet"
                    raise CLIError(f"palletctl: cannot configure multiple {plural} ({value}, {c[key]}) "
                                   f"{where} ({c['subnet']})")
                c[key] = value
    return configs


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in values:
        k, sep, v = item.partition("=")
        if flag == "--opt" and not sep:
            raise CLIError(f"palletctl: invalid option '{item}': expected key=value")
        out[k] = v
    return out


def cmd_create(args: argparse.Namespace) -> int:
    from pallet.net.v1 import net_pb2 as npb

    ipam = [npb.IPAMConfig(**c) for c in ipam_configs(_list(args.subnet), _list(args.gateway), _list(args.ip_range))]
    res = client(args).networks.Create(npb.CreateNetworkRequest(
        name=args.name, driver=args.driver, ipam=ipam, internal=args.internal, enable_ipv6=args.ipv6,
        options=_pairs(args.opt, "--opt"), labels=_pairs(args.label, "--label"), check_duplicate=True))
    print(res.id)
    return 0


def _natural(name: str) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def ls_row(n: Any, trunc: bool) -> dict[str, str]:
    import time

    return {
        "ID": n.id[:12] if trunc else n.id,
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope or "local",
        "IPv6": "true" if n.enable_ipv6 else "false",
        "Internal": "true" if n.internal else "false",
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(n.labels.items())),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(n.created.seconds)),
    }


def cmd_ls(args: argparse.Namespace) -> int:
    from pallet.client import _format
    from pallet.net.v1 import net_pb2 as npb

    nets = client(args).networks.List(npb.ListNetworksRequest(filters=args.filter)).networks
    nets = sorted(nets, key=lambda n: _natural(n.name))
    rows = [ls_row(n, not args.no_trunc) for n in nets]
    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format:
        _format.print_rows(args.format, rows, id_header="NETWORK ID")
    else:
        keys = ["ID", "Name", "Driver", "Scope"]
        print(_format.table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], [[r[k] for k in keys] for r in rows]))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import grpc
    from pallet.client._inspect import render
    from pallet.net.v1 import net_pb2 as npb

    c = client(args)
    results, failed = [], False
    for name in args.networks:
        try:
            results.append(network_json(c.networks.Inspect(npb.InspectNetworkRequest(id=name))))
        except grpc.RpcError as exc:
            print(describe_error(exc, args.host), file=sys.stderr)
            failed = True
    if args.format:
        for obj in results:
            try:
                print(render(args.format, obj))
            except ValueError as exc:
                raise CLIError(f"palletctl: {exc}") from None
    else:
        print(json.dumps(results, indent=4))
    return 1 if failed else 0


def cmd_rm(args: argparse.Namespace) -> int:
    import grpc
    from pallet.net.v1 import net_pb2 as npb

    c = client(args)
    failed = False
    for name in args.networks:
        try:
            c.networks.Remove(npb.RemoveNetworkRequest(id=name))
        except grpc.RpcError as exc:
            if args.force and isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.NOT_FOUND:
                continue
            print(describe_error(exc, args.host), file=sys.stderr)
            failed = True
            continue
        print(name)
    return 1 if failed else 0


PRUNE_WARNING = "WARNING! This will remove all custom networks not used by at least one container."


def cmd_prune(args: argparse.Namespace) -> int:
    from pallet.client._prune import confirm
    from pallet.net.v1 import net_pb2 as npb

    if not args.force and not confirm(PRUNE_WARNING):
        raise CLIError("network prune has been cancelled", 1)
    res = client(args).networks.Prune(npb.PruneNetworksRequest(filters=args.filter))
    if res.deleted:
        print("Deleted Networks:\n" + "".join(f"{name}\n" for name in res.deleted))
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    ep = pb.EndpointConfig(ipv4_address=args.ip and _ip(args.ip, "--ip", 4),
                           ipv6_address=args.ip6 and _ip(args.ip6, "--ip6", 6), aliases=_list(args.alias))
    client(args).networks.Connect(pb.ConnectNetworkRequest(network=args.network, container=args.container,
                                                           endpoint=ep))
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    client(args).networks.Disconnect(pb.DisconnectNetworkRequest(network=args.network, container=args.container,
                                                                 force=args.force))
    return 0


def add_parsers(sub: Any, add: AddFn) -> None:
    from pallet.client._prune import _group

    g = _group(sub, add, "network", "Manage networks")

    p = add(g, "create", cmd_create, "Create a network", "palletctl network create [OPTIONS] NETWORK")
    p.add_argument("-d", "--driver", default="bridge", help='driver to manage the Network (default "bridge")')
    p.add_argument("--subnet", action="append", default=[],
                   help="subnet in CIDR format that represents a network segment")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 or IPv6 Gateway for the master subnet")
    p.add_argument("--ip-range", action="append", default=[], help="allocate container ip from a sub-range")
    p.add_argument("--internal", action="store_true", help="restrict external access to the network")
    p.add_argument("--ipv6", action="store_true", help="enable IPv6 networking")
    p.add_argument("-o", "--opt", action="append", default=[], help="set driver specific options")
    p.add_argument("--label", action="append", default=[], help="set metadata on a network")
    p.add_argument("name", metavar="NETWORK")

    for name in ("ls", "list"):
        p = add(g, name, cmd_ls, "List networks", f"palletctl network {name} [OPTIONS]")
        p.add_argument("-f", "--filter", action="append", default=[],
                       help='provide filter values (e.g. "driver=bridge"; name=, id=, label=, type=, dangling=)')
        p.add_argument("--format", default="", help="format output using a Go-template-like string")
        p.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
        p.add_argument("-q", "--quiet", action="store_true", help="only display network IDs")

    p = add(g, "inspect", cmd_inspect, "Display detailed information on one or more networks",
            "palletctl network inspect [OPTIONS] NETWORK [NETWORK...]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")
    p.add_argument("networks", nargs="+", metavar="NETWORK")

    for name in ("rm", "remove"):
        p = add(g, name, cmd_rm, "Remove one or more networks",
                f"palletctl network {name} NETWORK [NETWORK...]")
        p.add_argument("-f", "--force", action="store_true", help="do not error if the network does not exist")
        p.add_argument("networks", nargs="+", metavar="NETWORK")

    p = add(g, "prune", cmd_prune, "Remove all unused networks", "palletctl network prune [OPTIONS]")
    p.add_argument("--filter", action="append", default=[],
                   help="provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")

    p = add(g, "connect", cmd_connect, "Connect a container to a network",
            "palletctl network connect [OPTIONS] NETWORK CONTAINER")
    p.add_argument("--alias", action="append", default=[], help="add network-scoped alias for the container")
    p.add_argument("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")

    p = add(g, "disconnect", cmd_disconnect, "Disconnect a container from a network",
            "palletctl network disconnect [OPTIONS] NETWORK CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="force the container to disconnect from a network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
