"""The engine's side of container networking: network modes, endpoints through
netsvc, published ports, and the /etc/hosts and /etc/resolv.conf a container sees.

Modes (ContainerConfig.network_mode): "bridge" (the default network), a
user-defined network's name or ID, "none" (a namespace with loopback only,
made by the runtime), "host" (the host's namespace) and "container:<id>"
(another running container's namespace and files).
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from pallet import errors, log, resolvconf
from pallet.engine.v1 import engine_pb2 as pb
from pallet.net.v1 import net_pb2 as npb

CONTAINER_PREFIX = "container:"
_HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def kind(mode: str) -> str:
    """"none", "host", "container" or "network" (bridge or user-defined)."""
    if mode in ("none", "host"):
        return mode
    if mode.startswith(CONTAINER_PREFIX):
        return "container"
    return "network"


def normalize(mode: str) -> str:
    return "bridge" if mode in ("", "default") else mode


def parse_extra_host(spec: str) -> tuple[str, str]:
    """--add-host NAME:IP (IPv6 addresses may be bracketed; "host-gateway" is kept)."""
    name, sep, ip = spec.partition(":")
    if not sep:
        name, sep, ip = spec.partition("=")
    ip = ip.strip("[]")
    if not name or not ip:
        raise errors.InvalidArgument(f"invalid --add-host {spec!r}: want NAME:IP")
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise errors.InvalidArgument(f"invalid IP address in --add-host {spec!r}: {ip}") from None
    return name, ip


def hosts_file(hostname: str, mode: str, endpoints: list[npb.Endpoint], extra: list[str]) -> bytes:
    """/etc/hosts as Docker writes it: localhost lines, --add-host, then the container's own addresses."""
    if mode == "host":
        with contextlib.suppress(OSError), open("/etc/hosts", "rb") as f:
            return f.read() + "".join(f"{ip}\t{name}\n" for name, ip in map(parse_extra_host, extra)).encode()
    lines = [_HOSTS_HEADER]
    gateway = next((ep.ipv4_gateway for ep in endpoints if ep.ipv4_gateway), "")
    for name, ip in map(parse_extra_host, extra):
        lines.append(f"{gateway if ip == 'host-gateway' else ip}\t{name}\n")
    own = [ep.ipv4_address.split("/")[0] for ep in endpoints if ep.ipv4_address]
    own += [ep.ipv6_address.split("/")[0] for ep in endpoints if ep.ipv6_address]
    if own:
        lines.extend(f"{ip}\t{hostname}\n" for ip in own)
    else:
        lines.append(f"127.0.1.1\t{hostname}\n")
    return "".join(lines).encode()


def resolv_conf(mode: str, default_bridge: bool, config: pb.ContainerConfig) -> bytes:
    host = resolvconf.host_upstreams()
    style = "host" if mode == "host" else ("bridge" if default_bridge or kind(mode) != "network" else "embedded")
    return resolvconf.for_container(style, host, list(config.dns), list(config.dns_search),
                                    list(config.dns_options))


def parse_ports(spec: str) -> list[tuple[int, str]]:
    """"80/tcp", "80" or a range "8000-8010/udp" → [(port, proto), ...]."""
    ports, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    lo, _, hi = ports.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()) or proto not in ("tcp", "udp", "sctp") or \
            not 0 < int(lo) <= int(hi or lo) < 65536:
        raise errors.InvalidArgument(f"invalid exposed port {spec!r}: want PORT[-PORT][/tcp|udp|sctp]")
    return [(p, proto) for p in range(int(lo), int(hi or lo) + 1)]


def port_bindings(config: pb.ContainerConfig, image_exposed: list[str]) -> list[npb.PortBinding]:
    """-p bindings, plus with -P a random host port for every exposed port not bound already."""
    out = list(config.port_bindings)
    if config.publish_all_ports:
        bound = {(b.container_port, b.protocol) for b in out}
        for spec in dict.fromkeys([*image_exposed, *config.exposed_ports]):
            for port, proto in parse_ports(spec):
                if (port, proto) not in bound:
                    out.append(npb.PortBinding(protocol=proto, container_port=port))
                    bound.add((port, proto))
    for b in out:
        if not 0 < b.container_port < 65536 or b.host_port > 65535 or b.host_port_end > 65535:
            raise errors.InvalidArgument(f"invalid port binding {b.host_port}:{b.container_port}")
    return out


def write_in_place(path: str, data: bytes) -> None:
    """Rewrite a file a running container has bind-mounted: same inode, so it sees the change."""
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()


class EngineNetworks:
    """netsvc calls made for containers, and their results kept in the records."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.log = log.get("engine.network")

    def check(self, mode: str) -> str:
        """The network's name for a network mode; NotFound with Docker's message otherwise."""
        try:
            return str(self.client.inspect(mode).name)
        except errors.NotFound:
            raise errors.NotFound(f"network {mode} not found") from None

    def attach(self, ctr: pb.Container, network: str, ep: pb.EndpointConfig) -> npb.Endpoint:
        return self.client.attach(ctr.id, ctr.name, network, ep.ipv4_address, ep.ipv6_address,
                                  list(ep.aliases), ep.mac_address)

    def setup(self, ctr: pb.Container, image_exposed: list[str], adopt: str = "") -> npb.Sandbox:
        """The container's sandbox; with adopt, in that existing namespace instead of a new one."""
        return self.client.setup(ctr.id, port_bindings(ctr.config, image_exposed), list(ctr.config.dns), adopt)

    def teardown(self, cid: str) -> None:
        try:
            self.client.teardown(cid)
        except errors.PalletError as exc:
            self.log.warning("network teardown failed; netsvc removes it when it reconciles", id=cid,
                             error=str(exc))

    def release(self, cid: str) -> None:
        try:
            self.client.release(cid)
        except errors.PalletError as exc:
            self.log.warning("network release failed; netsvc removes it when it reconciles", id=cid,
                             error=str(exc))

    def reconcile(self, existing: list[str], running: list[str]) -> None:
        try:
            self.client.reconcile(existing, running)
        except errors.PalletError as exc:
            self.log.warning("could not reconcile with netsvc", error=str(exc))
