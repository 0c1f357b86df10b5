"""NetworkManager: networks, endpoints and sandboxes, the logic behind netsvc's API.

A container's life on the network:
- Attach (at create, or `network connect`): an endpoint with addresses from
  IPAM is recorded; it lasts until Detach or Release.
- Setup (each start): a namespace bind-mounted under <exec-root>/netns, one
  veth per endpoint (eth0, eth1, ... in attach order), published ports (held
  host ports + DNAT rules) and, on user-defined networks, a DNS server at
  127.0.0.11 inside the namespace.
- Teardown (each exit): all of that goes; the endpoints stay.
Every step is recorded so that a restarted netsvc picks the running
sandboxes up again and removes what a crash left behind.

Overlay networks are cluster-wide; palletd keeps their definition (and hands
out their addresses) and asks netsvc for the local part on a node that runs a
task on one: a bridge without an address, a VXLAN device on it tunnelling to
the other nodes (SetPeers), and containers attached with the address palletd
chose. No default route goes through it (the same gateway on every node would
answer ARP from everywhere). SetRecords adds the tasks of other nodes to the
embedded DNS; SetBalancers the services' virtual IPs, load-balanced inside each
sandbox on the network (_balance). The cluster's ingress network also gives its
bridge this node's own address on it, and its balancers' published ports go
from every address of the node to the tasks (the routing mesh, _nat).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import timestamp_pb2
from pallet import errors, log, resolvconf
from pallet.net import _balance, _ipam, _netns
from pallet.net._filters import PREDEFINED, matches, parse_filters
from pallet.net._links import VXLAN_PORT, Links, Wiring, veth_name
from pallet.net._nat import Firewall, PortBinding
from pallet.net._ports import PortReservations
from pallet.net._store import NetStore
from pallet.net.v1 import net_pb2 as pb

BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
MTU_OPT = "com.docker.network.driver.mtu"
MASQ_OPT = "com.docker.network.bridge.enable_ip_masquerade"
ICC_OPT = "com.docker.network.bridge.enable_icc"
VNI_OPT = "com.docker.network.driver.overlay.vxlanid_list"  # as Docker shows it
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
MIN_ID_PREFIX = 12


@dataclass
class Config:
    """What netsvc is started with."""

    exec_root: str
    tag: str = "PALLET"
    bridge: str = "pallet0"
    bip: str = ""  # default bridge's gateway/prefix (dockerd --bip); chosen when empty
    pools: list[tuple[str, int]] = field(default_factory=lambda: list(_ipam.DEFAULT_POOLS))
    mtu: int = 1500
    resolv_conf: str = "/etc/resolv.conf"


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


def _mac_for(ipv4: str) -> str:
    """Docker's scheme: 02:42 and the IPv4 address; random (locally administered) without one."""
    raw = bytes([0x02, 0x42]) + (ipaddress.IPv4Address(ipv4).packed if ipv4 else os.urandom(4))
    return ":".join(f"{b:02x}" for b in raw)


class NetworkManager:
    def __init__(self, store: NetStore, cfg: Config, dns_factory: Callable[[NetworkManager], Any] | None = None
                 ) -> None:
        self.store = store
        self.cfg = cfg
        self.log = log.get("netsvc")
        self.links = Links(cfg.tag)
        self.fw = Firewall(cfg.tag, ipv6=True)
        self.ports = PortReservations()
        self.netns_dir = os.path.join(cfg.exec_root, "netns")
        self._lock = threading.RLock()
        self.dns = dns_factory(self) if dns_factory else None
        self._dns_on: set[str] = set()
        # SetRecords: network id -> lower-case name -> addresses, in the order given
        self._records: dict[str, dict[str, list[str]]] = {}
        # SetBalancers: network id -> its balancers; container id -> the VIP rules its sandbox has
        self._balancers: dict[str, list[pb.Balancer]] = {}
        self._vip_rules: dict[str, list[str]] = {}

    def close(self) -> None:
        if self.dns is not None:
            self.dns.close()
        self.ports.close()
        self.links.close()

    # -- start and recovery ------------------------------------------------------

    def start(self) -> None:
        """Predefined networks, every bridge and rule in place, sandboxes picked up, leaks removed."""
        os.makedirs(self.netns_dir, mode=0o711, exist_ok=True)
        self.fw.setup()
        with contextlib.suppress(OSError), open("/proc/sys/net/ipv4/ip_forward", "r+") as f:
            if f.read().strip() != "1":
                self.log.info("enabling IPv4 forwarding (net.ipv4.ip_forward=1) for bridge networks")
                f.seek(0)
                f.write("1")
        self._ensure_predefined()
        networks = self.store.networks()
        for net in networks:
            if net.driver in ("bridge", "overlay"):
                try:
                    self._bring_up(net)
                except errors.PalletError as exc:  # one network's trouble must not keep netsvc down
                    self.log.error("network could not be brought up", network=net.name, error=str(exc))
        known = {n.bridge for n in networks if n.bridge} | {n.overlay.vxlan for n in networks if n.overlay.vxlan}
        for name in self.links.owned_bridges():
            if name not in known:
                self.log.warning("removing a leaked bridge or VXLAN device", device=name)
                self.links.delete(name)
        for sb in self.store.sandboxes():
            self._recover_sandbox(sb)
        live = {sb.container_id for sb in self.store.sandboxes()}
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.netns_dir):
                if name not in live:
                    self.log.warning("removing a leaked network namespace", container=name)
                    _netns.remove(os.path.join(self.netns_dir, name))
        self._remove_leaked_veths()
        keep = {ip for sb in self.store.sandboxes() for ip in self._port_ips(sb)}
        self.fw.flush_ports_except(keep)

    def cleanup(self) -> None:
        """Remove every namespace, veth, bridge and rule of this instance (records stay)."""
        with self._lock:
            for sb in self.store.sandboxes():
                self._teardown(sb)
            for net in self.store.networks():
                for dev in (net.overlay.vxlan, net.bridge):
                    if dev:
                        self.links.delete(dev)
            for name in self.links.owned_bridges():
                self.links.delete(name)
            self.fw.teardown()
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(self.netns_dir):
                    _netns.remove(os.path.join(self.netns_dir, name))

    def _ensure_predefined(self) -> None:
        have = {n.name for n in self.store.networks()}
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            if name in have:
                continue
            net = pb.Network(id=os.urandom(32).hex(), name=name, driver=driver, scope="local", created=_now())
            if driver == "bridge":
                net.is_default = True
                net.bridge = self.cfg.bridge
                net.options[BRIDGE_NAME_OPT] = self.cfg.bridge
                if self.cfg.bip:
                    iface = ipaddress.ip_interface(self.cfg.bip)
                    net.ipam.add(subnet=str(iface.network), gateway=str(iface.ip))
                else:
                    subnet = _ipam.choose_subnet(self.cfg.pools, self._taken_subnets())
                    net.ipam.add(subnet=str(subnet), gateway=str(next(subnet.hosts())))
            self.store.add_network(net)
            self.log.info("created predefined network", name=name, ipam=[c.subnet for c in net.ipam])

    def _taken_subnets(self) -> list[Any]:
        taken = self.links.routes()
        taken += [ipaddress.ip_network(c.subnet) for n in self.store.networks() for c in n.ipam]
        return taken

    def _bring_up(self, net: pb.Network) -> None:
        mtu = int(net.options.get(MTU_OPT) or self.cfg.mtu)
        if net.driver == "overlay":
            ov = net.overlay
            self.links.ensure_bridge(net.bridge, [ov.host_address] if ov.host_address else [], mtu)
            self.links.ensure_vxlan(ov.vxlan, ov.vni, ov.local_address, ov.port or VXLAN_PORT, net.bridge, mtu)
            self.links.set_flood_peers(ov.vxlan, list(ov.peers))
        else:
            addrs = [f"{c.gateway}/{ipaddress.ip_network(c.subnet).prefixlen}" for c in net.ipam]
            self.links.ensure_bridge(net.bridge, addrs, mtu)
        for c in net.ipam:
            self.fw.add_network(net.bridge, c.subnet, *self._fw_mode(net))

    @staticmethod
    def _fw_mode(net: pb.Network) -> tuple[bool, bool, bool, bool]:
        """(internal, masquerade, ingress, icc) as the firewall sees the network. An overlay's bridge
        has no address, so nothing is routed in or out of it: to the firewall it is internal. The
        ingress network's has this node's address: published ports are routed into it."""
        if net.driver == "overlay":
            return (False, False, True, True) if net.overlay.host_address else (True, False, False, True)
        return (net.internal, net.options.get(MASQ_OPT, "true").lower() != "false", False,
                net.options.get(ICC_OPT, "true").lower() != "false")

    @staticmethod
    def _routable(net: pb.Network) -> bool:
        """Whether the network's gateway leads out (a default route and published ports go through it)."""
        return not net.internal and net.driver != "overlay"

    def _recover_sandbox(self, sb: pb.Sandbox) -> None:
        if not _netns.is_mounted(sb.netns_path):
            self.log.warning("dropping a sandbox whose namespace is gone", container=sb.container_id)
            self._unpublish(sb)
            for ep in self.store.endpoints(container_id=sb.container_id):
                if ep.interface:
                    ep.interface = ""
                    self.store.put_endpoint(ep)
            self.store.delete_sandbox(sb.container_id)
            return
        try:
            # Exactly the ports it had (random ones resolved), held again after a restart.
            self.ports.reserve(sb.container_id, [pb.PortBinding(protocol=p.protocol, container_port=p.container_port,
                                                                host_ip=p.host_ip, host_port=p.host_port)
                                                 for p in sb.ports])
        except errors.PalletError as exc:
            self.log.warning("a published port could not be held again", container=sb.container_id,
                             error=str(exc))
        self._publish_rules(sb)
        self._start_dns(sb)

    def _remove_leaked_veths(self) -> None:
        wired = {veth_name(ep.id) for sb in self.store.sandboxes()
                 for ep in self.store.endpoints(container_id=sb.container_id)}
        ours = {n.bridge for n in self.store.networks() if n.bridge}
        for name in self.links.veths():
            if name not in wired and self.links.master_of(name) in ours:
                self.log.warning("removing a leaked veth", veth=name)
                self.links.delete(name)

    # -- networks ------------------------------------------------------------------

    def create(self, req: pb.CreateNetworkRequest) -> pb.Network:
        driver = req.driver or "bridge"
        if driver not in ("bridge", "overlay"):
            raise errors.InvalidArgument(f"plugin \"{driver}\" not found: the network drivers here are bridge, "
                                         "and overlay in cluster mode")
        name = req.name
        if not name or not all(ch.isalnum() or ch in "_.-" for ch in name) or not name[0].isalnum():
            raise errors.InvalidArgument(f"invalid network name {name!r}: use letters, digits, '_', '.' and '-'")
        if name in PREDEFINED:
            raise errors.FailedPrecondition(f"{name} is a pre-defined network and cannot be created")
        if driver == "overlay":
            return self._create_overlay(req)
        if req.id or req.HasField("overlay"):
            raise errors.InvalidArgument("an ID and tunnel settings are given for overlay networks only")
        with self._lock:
            net = pb.Network(id=os.urandom(32).hex(), name=name, driver=driver, scope="local", created=_now(),
                             internal=req.internal, enable_ipv6=req.enable_ipv6)
            net.options.update(req.options)
            net.labels.update(req.labels)
            net.bridge = req.options.get(BRIDGE_NAME_OPT) or f"pl-{net.id[:12]}"
            if len(net.bridge) > 15:
                raise errors.InvalidArgument(f"bridge name {net.bridge!r} is longer than 15 characters")
            if any(n.bridge == net.bridge for n in self.store.networks()) or self.links.exists(net.bridge):
                raise errors.AlreadyExists(f"bridge {net.bridge} already exists on this host")
            if MTU_OPT in net.options and not net.options[MTU_OPT].isdigit():
                raise errors.InvalidArgument(f"invalid {MTU_OPT} {net.options[MTU_OPT]!r}: want a number")
            self._plan_ipam(net, list(req.ipam))
            self.store.add_network(net)
            try:
                self._bring_up(net)
            except BaseException:
                self._drop_network(net)
                raise
        self.log.info("network created", id=net.id, name=name, bridge=net.bridge,
                      subnets=[c.subnet for c in net.ipam])
        return net

    def _create_overlay(self, req: pb.CreateNetworkRequest) -> pb.Network:
        """The local part of a cluster network: its ID, subnet, gateway and VNI are the cluster's."""
        ov = req.overlay
        if not req.id or not all(ch in "0123456789abcdef" for ch in req.id) or len(req.id) < MIN_ID_PREFIX:
            raise errors.InvalidArgument(f"an overlay network needs the cluster's ID (hex), not {req.id!r}")
        if not 0 < ov.vni < 1 << 24:
            raise errors.InvalidArgument(f"invalid VNI {ov.vni}: want 1 to {(1 << 24) - 1}")
        if ov.port > 65535:
            raise errors.InvalidArgument(f"invalid VXLAN port {ov.port}")
        local = _ipam.address(ov.local_address, "VXLAN local address")
        for peer in ov.peers:
            if _ipam.address(peer, "VXLAN peer address").version != local.version:
                raise errors.InvalidArgument(f"VXLAN peer {peer} and local address {local} are not of one family")
        if len(req.ipam) != 1 or not req.ipam[0].subnet or req.enable_ipv6:
            raise errors.InvalidArgument("an overlay network has exactly one IPv4 subnet")
        subnet = _ipam.network(req.ipam[0].subnet)
        if subnet.version != 4:
            raise errors.InvalidArgument("an overlay network has exactly one IPv4 subnet")
        gw, rng = _ipam.check_config(subnet, req.ipam[0].gateway, req.ipam[0].ip_range)
        if ov.host_address:
            host = _ipam.address(ov.host_address.split("/")[0], "host address")
            if host not in subnet or host in (gw, subnet.network_address, subnet.broadcast_address):
                raise errors.InvalidArgument(f"host address {host} is not a free address of {subnet}")
            ov.host_address = f"{host}/{subnet.prefixlen}"
        with self._lock:
            for other in self.store.networks():
                for c in other.ipam:
                    if other.id != req.id and _ipam.network(c.subnet).overlaps(subnet):
                        raise errors.FailedPrecondition(
                            f"overlay network {req.name}'s subnet {subnet} overlaps network {other.name}'s "
                            f"{c.subnet} on this node")
            net = pb.Network(id=req.id, name=req.name, driver="overlay", scope="swarm", created=_now(),
                             internal=req.internal)
            net.options.update(req.options)
            net.labels.update(req.labels)
            net.options[VNI_OPT] = str(ov.vni)
            net.options.setdefault(MTU_OPT, str(self.cfg.mtu - VXLAN_OVERHEAD))
            if not net.options[MTU_OPT].isdigit():
                raise errors.InvalidArgument(f"invalid {MTU_OPT} {net.options[MTU_OPT]!r}: want a number")
            net.ipam.add(subnet=str(subnet), gateway=str(gw), ip_range=req.ipam[0].ip_range and str(rng))
            net.overlay.CopyFrom(ov)
            net.overlay.port = ov.port or VXLAN_PORT
            net.overlay.vxlan = f"plx-{req.id[:11]}"
            net.bridge = f"plo-{req.id[:11]}"
            for dev in (net.bridge, net.overlay.vxlan):
                if any(dev in (n.bridge, n.overlay.vxlan) for n in self.store.networks()) or self.links.exists(dev):
                    raise errors.AlreadyExists(f"device {dev} already exists on this host")
            self.store.add_network(net)
            try:
                self._bring_up(net)
            except BaseException:
                self._drop_network(net)
                raise
        self.log.info("overlay network created", id=net.id, name=net.name, bridge=net.bridge, vni=ov.vni,
                      local=ov.local_address, peers=list(ov.peers), subnet=str(subnet))
        return net

    def set_peers(self, ref: str, peers: list[str]) -> None:
        with self._lock:
            net = self.store.resolve_network(ref)
            if net.driver != "overlay":
                raise errors.InvalidArgument(f"network {net.name} is not an overlay network")
            local = ipaddress.ip_address(net.overlay.local_address)
            want = list(dict.fromkeys(peers))
            for peer in want:
                if _ipam.address(peer, "VXLAN peer address").version != local.version:
                    raise errors.InvalidArgument(f"VXLAN peer {peer} and local address {local} are not of one family")
            self.links.set_flood_peers(net.overlay.vxlan, want)
            if list(net.overlay.peers) != want:
                del net.overlay.peers[:]
                net.overlay.peers.extend(want)
                self.store.put_network(net)
                self.log.info("overlay peers", network=net.name, peers=want)

    def set_records(self, ref: str, records: list[pb.DnsRecord]) -> None:
        net = self.store.resolve_network(ref)
        table: dict[str, list[str]] = {}
        for r in records:
            if not r.name:
                raise errors.InvalidArgument("a DNS record needs a name")
            have = table.setdefault(r.name.lower(), [])
            for a in r.addresses:
                addr = str(_ipam.address(a, "DNS record address"))
                if addr not in have:
                    have.append(addr)
        with self._lock:
            if table:
                self._records[net.id] = table
            else:
                self._records.pop(net.id, None)

    def set_balancers(self, ref: str, balancers: list[pb.Balancer]) -> None:
        """An overlay network's virtual IPs, in every sandbox on it; on the ingress network, the
        published ports too (see the module's doc)."""
        net = self.store.resolve_network(ref)
        if net.driver != "overlay":
            raise errors.InvalidArgument(f"network {net.name} is not an overlay network")
        subnet = ipaddress.ip_network(net.ipam[0].subnet)
        clean = []
        for b in balancers:
            if b.vip and _ipam.address(b.vip, "virtual IP") not in subnet:
                raise errors.InvalidArgument(f"virtual IP {b.vip} is not in network {net.name}'s subnet {subnet}")
            for a in b.backends:
                if _ipam.address(a, "backend address").version != 4:
                    raise errors.InvalidArgument(f"backend {a} is not an IPv4 address")
            if b.ports and not net.overlay.host_address:
                raise errors.InvalidArgument(f"network {net.name} has no host address: it cannot publish ports")
            for p in b.ports:
                if p.protocol not in ("tcp", "udp", "sctp") or not (0 < p.host_port < 65536
                                                                   and 0 < p.container_port < 65536):
                    raise errors.InvalidArgument(f"invalid published port {p.protocol}/{p.host_port}")
            clean.append(b)
        with self._lock:
            self._balancers[net.id] = clean
            if net.overlay.host_address:
                self.fw.set_ingress([(p.protocol, p.host_port, [(a, p.container_port) for a in b.backends])
                                     for b in clean for p in b.ports])
            for cid in {ep.container_id for ep in self.store.endpoints(network_id=net.id)}:
                sb = self.store.sandbox(cid)
                if sb is not None:
                    self._balance(sb)

    def _balance(self, sb: pb.Sandbox) -> None:
        """Give the sandbox the VIP rules of the overlay networks it is wired to, if they changed."""
        nets = {ep.network_id for ep in self.store.endpoints(container_id=sb.container_id) if ep.interface}
        rules = _balance.vip_rules([(b.vip, list(b.backends)) for nid in sorted(nets)
                                    for b in self._balancers.get(nid, []) if b.vip])
        if self._vip_rules.get(sb.container_id) == rules or not (rules or sb.container_id in self._vip_rules):
            return
        try:
            _balance.apply(sb.netns_path, rules)
        except _balance.BalanceError as exc:
            self.log.warning("virtual IPs not set in the sandbox", container=sb.container_id, error=str(exc))
            return
        self._vip_rules[sb.container_id] = rules

    def _plan_ipam(self, net: pb.Network, asked: list[pb.IPAMConfig]) -> None:
        taken = self._taken_subnets()
        versions = set()
        for c in asked:
            subnet = _ipam.network(c.subnet) if c.subnet else None
            if subnet is None:
                raise errors.InvalidArgument("an IPAM config needs --subnet (gateway and ip-range go with it)")
            for t in taken:
                if t.version == subnet.version and t.overlaps(subnet):
                    raise errors.FailedPrecondition(
                        f"Pool overlaps with other one on this address space: {subnet} overlaps {t}")
            gw, rng = _ipam.check_config(subnet, c.gateway, c.ip_range)
            net.ipam.add(subnet=str(subnet), gateway=str(gw), ip_range=c.ip_range and str(rng))
            taken.append(subnet)
            versions.add(subnet.version)
        if 4 not in versions:
            subnet = _ipam.choose_subnet(self.cfg.pools, taken)
            net.ipam.add(subnet=str(subnet), gateway=str(next(subnet.hosts())))
        if 6 in versions and not net.enable_ipv6:
            raise errors.InvalidArgument("an IPv6 subnet needs --ipv6")
        if net.enable_ipv6 and 6 not in versions:
            ula = _ipam.ula_subnet()
            net.ipam.add(subnet=str(ula), gateway=str(next(ula.hosts())))

    def _drop_network(self, net: pb.Network) -> None:
        for c in net.ipam:
            with contextlib.suppress(Exception):
                self.fw.remove_network(net.bridge, c.subnet, *self._fw_mode(net))
        if net.overlay.vxlan:
            self.links.delete(net.overlay.vxlan)
        self.links.delete(net.bridge)
        self._records.pop(net.id, None)
        if self._balancers.pop(net.id, None) is not None and net.overlay.host_address:
            with contextlib.suppress(Exception):
                self.fw.set_ingress([])
        with contextlib.suppress(errors.PalletError):
            self.store.delete_network(net.id)

    def inspect(self, ref: str) -> pb.Network:
        net = self.store.resolve_network(ref)
        net.endpoints.extend(self.store.endpoints(network_id=net.id))
        return net

    def list_networks(self, filters: list[str]) -> list[pb.Network]:
        f = parse_filters(filters)
        out = []
        for net in self.store.networks():
            net.endpoints.extend(self.store.endpoints(network_id=net.id))
            if matches(net, f):
                out.append(net)
        return out

    def remove(self, ref: str) -> str:
        with self._lock:
            net = self.store.resolve_network(ref)
            if net.name in PREDEFINED:
                raise errors.FailedPrecondition(f"{net.name} is a pre-defined network and cannot be removed")
            users = self.store.endpoints(network_id=net.id)
            if users:
                names = ", ".join(ep.container_name or ep.container_id[:12] for ep in users)
                raise errors.FailedPrecondition(
                    f"error while removing network: network {net.name} id {net.id} has active endpoints "
                    f"({names}); disconnect or remove those containers first")
            self._drop_network(net)
        self.log.info("network removed", id=net.id, name=net.name)
        return net.id

    def prune(self, filters: list[str]) -> list[str]:
        f = parse_filters(filters)
        until = f.pop("until", [])
        deleted = []
        for net in self.list_networks([]):
            # an overlay's local part goes when palletd says so: a task may be about to use it
            if net.name in PREDEFINED or net.driver == "overlay" or net.endpoints or not matches(net, f):
                continue
            if until and net.created.seconds >= _until(until[-1]):
                continue
            with contextlib.suppress(errors.PalletError):
                self.remove(net.id)
                deleted.append(net.name)
        return deleted

    # -- endpoints -------------------------------------------------------------------

    def attach(self, req: pb.AttachRequest) -> pb.Endpoint:
        with self._lock:
            net = self.store.resolve_network(req.network)
            if net.driver not in ("bridge", "overlay"):
                raise errors.InvalidArgument(
                    f"container cannot be connected to network {net.name}: use --network {net.name} at create")
            if net.driver == "overlay" and (not req.ipv4_address or req.ipv6_address):
                raise errors.InvalidArgument(
                    f"network {net.name} is an overlay network: only the cluster's tasks are attached to it, with "
                    "the address the cluster gives them")
            ep = pb.Endpoint(id=os.urandom(32).hex(), network_id=net.id, network_name=net.name,
                             container_id=req.container_id, container_name=req.container_name)
            if req.aliases and net.is_default:
                raise errors.InvalidArgument("network-scoped aliases are only supported for user-defined networks")
            if (req.ipv4_address or req.ipv6_address) and net.is_default:
                raise errors.InvalidArgument("user specified IP address is supported on user defined networks only")
            ep.aliases.extend(req.aliases)
            ipv4, ipv6 = self._addresses(net, req)
            for c in net.ipam:
                prefix = ipaddress.ip_network(c.subnet).prefixlen
                gateway = "" if net.driver == "overlay" else c.gateway  # an overlay's leads nowhere
                if ipv4 and ipaddress.ip_address(ipv4) in ipaddress.ip_network(c.subnet):
                    ep.ipv4_address, ep.ipv4_gateway = f"{ipv4}/{prefix}", gateway
                if ipv6 and ipaddress.ip_address(ipv6) in ipaddress.ip_network(c.subnet):
                    ep.ipv6_address, ep.ipv6_gateway = f"{ipv6}/{prefix}", gateway
            ep.mac_address = (req.mac_address or _mac_for(ipv4 or "")).lower()
            if not net.is_default:
                # DNS names are case-insensitive: stored lower-case, as queries are looked up.
                ep.dns_names.extend(dict.fromkeys([n.lower() for n in (req.container_name, *req.aliases,
                                                                       req.container_id[:12]) if n]))
            self.store.add_endpoint(ep, ipv4, ipv6)
            sb = self.store.sandbox(req.container_id)
            if sb is not None:
                try:
                    self._wire_live(sb, ep)
                except BaseException:
                    self.store.delete_endpoint(ep.id)
                    raise
        self.log.info("endpoint attached", container=req.container_id, network=net.name,
                      ipv4=ep.ipv4_address, ipv6=ep.ipv6_address, live=sb is not None)
        return ep

    def _addresses(self, net: pb.Network, req: pb.AttachRequest) -> tuple[str | None, str | None]:
        taken4, taken6, last4, last6 = self.store.taken(net.id)
        out: dict[int, str | None] = {4: None, 6: None}
        for c in net.ipam:  # one address per family: in the subnet holding the asked one, else the first
            subnet = ipaddress.ip_network(c.subnet)
            if out[subnet.version] is not None:
                continue
            gw = ipaddress.ip_address(c.gateway)
            rng = ipaddress.ip_network(c.ip_range) if c.ip_range else subnet
            want = req.ipv4_address if subnet.version == 4 else req.ipv6_address
            taken = {ipaddress.ip_address(a) for a in (taken4 if subnet.version == 4 else taken6)} | {gw}
            if want:
                addr = _ipam.address(want, "IP address")
                if addr not in subnet:
                    continue
                if addr in taken or addr in (subnet.network_address, subnet.broadcast_address):
                    raise errors.AlreadyExists(f"Address already in use: {addr} on network {net.name}")
            else:
                last = last4 if subnet.version == 4 else last6
                addr = _ipam.allocate(subnet, rng, taken, ipaddress.ip_address(last) if last else None)
            out[subnet.version] = str(addr)
        for version, want in ((4, req.ipv4_address), (6, req.ipv6_address)):
            if want and out[version] is None:
                subnets = ", ".join(c.subnet for c in net.ipam)
                raise errors.InvalidArgument(f"address {want} is not in network {net.name}'s subnets ({subnets})")
        return out[4], out[6]

    def detach(self, cid: str, network: str, force: bool = False) -> None:
        with self._lock:
            try:
                net = self.store.resolve_network(network)
            except errors.NotFound:
                if force:
                    return
                raise
            eps = [ep for ep in self.store.endpoints(container_id=cid) if ep.network_id == net.id]
            if not eps:
                if force:
                    return
                raise errors.NotFound(f"container {cid[:12]} is not connected to network {net.name}")
            ep = eps[0]
            sb = self.store.sandbox(cid)
            if sb is not None:
                self._unwire_live(sb, ep)
            self.store.delete_endpoint(ep.id)
            if sb is not None:
                self._balance(sb)
        self.log.info("endpoint detached", container=cid, network=net.name)

    # -- sandboxes -------------------------------------------------------------------

    def setup(self, req: pb.SetupRequest) -> pb.Sandbox:
        cid = req.container_id
        with self._lock:
            sb = self.store.sandbox(cid)
            if sb is not None and _netns.is_mounted(sb.netns_path) and not req.netns:
                return self._with_endpoints(sb)
            if sb is not None:
                self._teardown(sb)
            path = os.path.join(self.netns_dir, cid)
            sb = pb.Sandbox(container_id=cid, netns_path=path, dns=list(req.dns))
            if os.path.lexists(path):
                _netns.remove(path)
            if req.netns:
                _netns.adopt(req.netns, path)
            else:
                _netns.create(path)
            try:
                self.links.loopback_up(path)
                eps = self.store.endpoints(container_id=cid)
                gateway_taken = False
                for i, ep in enumerate(eps):
                    gateway_taken |= self._wire(sb, ep, f"eth{i}", not gateway_taken)
                if req.ports:
                    self._publish(sb, eps, list(req.ports))
                self.store.put_sandbox(sb)
                self._vip_rules.pop(cid, None)  # a new namespace: nothing in it yet
                self._balance(sb)
                self._start_dns(sb)
            except BaseException:
                self._teardown(sb)
                raise
        self.log.info("sandbox set up", container=cid, netns=path, endpoints=len(eps), ports=len(sb.ports))
        return self._with_endpoints(sb)

    def _with_endpoints(self, sb: pb.Sandbox) -> pb.Sandbox:
        out = pb.Sandbox()
        out.CopyFrom(sb)
        out.endpoints.extend(self.store.endpoints(container_id=sb.container_id))
        return out

    def _wire(self, sb: pb.Sandbox, ep: pb.Endpoint, ifname: str, may_route: bool) -> bool:
        """Put ep into the sandbox; True when it gave the default route."""
        net = self.store.network(ep.network_id)
        if net is None:
            raise errors.NotFound(f"network {ep.network_name} of container {ep.container_id[:12]} is gone")
        route = may_route and self._routable(net)
        mtu = int(net.options.get(MTU_OPT) or self.cfg.mtu)
        self.links.wire(sb.netns_path, Wiring(
            host_ifname=veth_name(ep.id), ifname=ifname, bridge=net.bridge, mac=ep.mac_address,
            ipv4=ep.ipv4_address, ipv6=ep.ipv6_address, mtu=mtu,
            gateway4=ep.ipv4_gateway if route else "", gateway6=ep.ipv6_gateway if route else ""))
        ep.interface = ifname
        self.store.put_endpoint(ep)
        return route

    def _wire_live(self, sb: pb.Sandbox, ep: pb.Endpoint) -> None:
        have = set(self.links.ifnames_in(sb.netns_path))
        ifname = next(f"eth{i}" for i in range(len(have) + 1) if f"eth{i}" not in have)
        others = [e for e in self.store.endpoints(container_id=sb.container_id) if e.id != ep.id]
        routed = any(self._routes(e) for e in others)
        self._wire(sb, ep, ifname, not routed)
        self._balance(sb)
        self._start_dns(sb)

    def _routes(self, ep: pb.Endpoint) -> bool:
        net = self.store.network(ep.network_id)
        return bool(ep.interface) and net is not None and self._routable(net)

    def _unwire_live(self, sb: pb.Sandbox, ep: pb.Endpoint) -> None:
        target = self._port_target(sb)
        if sb.ports and target and target[1] == ep.ipv4_address.split("/")[0]:
            # Docker keeps ports on the endpoint they were published on: they go with it.
            self._unpublish(sb)
            self.ports.release(sb.container_id)
            del sb.ports[:]
            self.store.put_sandbox(sb)
        self.links.delete(veth_name(ep.id))
        rest = [e for e in self.store.endpoints(container_id=sb.container_id) if e.id != ep.id]
        for e in rest:
            net = self.store.network(e.network_id)
            if net is not None and self._routable(net) and e.interface:
                self.links.default_route(sb.netns_path, e.interface, e.ipv4_gateway, e.ipv6_gateway)
                break

    def _publish(self, sb: pb.Sandbox, eps: list[pb.Endpoint], ports: list[pb.PortBinding]) -> None:
        target = next((ep for ep in eps if ep.ipv4_address and self._routes(ep)), None)
        if target is None:
            self.log.info("ports not published: the container has no network with outside access",
                          container=sb.container_id)
            return
        sb.ports.extend(self.ports.reserve(sb.container_id, ports))
        self._publish_rules(sb)

    def _port_target(self, sb: pb.Sandbox) -> tuple[str, str] | None:
        """(bridge, container IPv4) the sandbox's ports go to: its first routed endpoint."""
        for ep in self.store.endpoints(container_id=sb.container_id):
            net = self.store.network(ep.network_id)
            if ep.ipv4_address and net is not None and self._routable(net):
                return net.bridge, ep.ipv4_address.split("/")[0]
        return None

    def _port_ips(self, sb: pb.Sandbox) -> list[str]:
        target = self._port_target(sb)
        return [target[1]] if target and sb.ports else []

    def _bindings(self, sb: pb.Sandbox) -> list[PortBinding]:
        return [PortBinding(proto=p.protocol, host_ip=p.host_ip, host_port=p.host_port,
                            container_port=p.container_port) for p in sb.ports]

    def _publish_rules(self, sb: pb.Sandbox) -> None:
        target = self._port_target(sb)
        if target and sb.ports:
            self.fw.add_ports(target[0], target[1], self._bindings(sb))

    def _unpublish(self, sb: pb.Sandbox) -> None:
        target = self._port_target(sb)
        if target and sb.ports:
            with contextlib.suppress(Exception):
                self.fw.remove_ports(target[0], target[1], self._bindings(sb))

    def _start_dns(self, sb: pb.Sandbox) -> None:
        if self.dns is None or not self._resolvable_networks(sb.container_id):
            return
        if sb.container_id in self._dns_on:
            return
        from pallet.net._dns import bind_in_netns

        try:
            udp, tcp = bind_in_netns(sb.netns_path)
        except OSError as exc:
            self.log.warning("embedded DNS not available in the sandbox", container=sb.container_id,
                             error=str(exc))
            return
        self.dns.add(sb.container_id, udp, tcp)
        self._dns_on.add(sb.container_id)

    def teardown(self, cid: str) -> None:
        with self._lock:
            sb = self.store.sandbox(cid)
            if sb is not None:
                self._teardown(sb)
                self.log.info("sandbox torn down", container=cid)

    def _teardown(self, sb: pb.Sandbox) -> None:
        if self.dns is not None and sb.container_id in self._dns_on:
            self.dns.remove(sb.container_id)
            self._dns_on.discard(sb.container_id)
        self._unpublish(sb)
        self.ports.release(sb.container_id)
        for ep in self.store.endpoints(container_id=sb.container_id):
            self.links.delete(veth_name(ep.id))
            if ep.interface:
                ep.interface = ""
                self.store.put_endpoint(ep)
        _netns.remove(sb.netns_path)
        self.store.delete_sandbox(sb.container_id)
        self._vip_rules.pop(sb.container_id, None)

    def get(self, cid: str) -> pb.Sandbox:
        sb = self.store.sandbox(cid)
        if sb is None:
            sb = pb.Sandbox(container_id=cid)
        return self._with_endpoints(sb)

    def release(self, cid: str) -> None:
        with self._lock:
            self.teardown(cid)
            for ep in self.store.endpoints(container_id=cid):
                self.store.delete_endpoint(ep.id)

    def rename(self, cid: str, name: str) -> None:
        with self._lock:
            for ep in self.store.endpoints(container_id=cid):
                old = ep.container_name
                ep.container_name = name
                if ep.dns_names:
                    names = [name.lower() if n == old.lower() else n for n in ep.dns_names]
                    del ep.dns_names[:]
                    ep.dns_names.extend(dict.fromkeys(names))
                self.store.put_endpoint(ep)

    def reconcile(self, existing: set[str], running: set[str]) -> tuple[list[str], list[str]]:
        removed_sb, removed_ep = [], []
        with self._lock:
            for sb in self.store.sandboxes():
                if sb.container_id not in running:
                    self._teardown(sb)
                    removed_sb.append(sb.container_id)
            for cid in self.store.container_ids() - existing:
                for ep in self.store.endpoints(container_id=cid):
                    self.store.delete_endpoint(ep.id)
                    removed_ep.append(ep.id)
        if removed_sb or removed_ep:
            self.log.info("reconciled with the engine", sandboxes=removed_sb, endpoints=len(removed_ep))
        return removed_ep, removed_sb

    # -- the embedded DNS server's view ---------------------------------------------------

    def _resolvable_networks(self, cid: str) -> set[str]:
        out = set()
        for ep in self.store.endpoints(container_id=cid):
            net = self.store.network(ep.network_id)
            if net is not None and not net.is_default:
                out.add(net.id)
        return out

    def lookup(self, sandbox: str, name: str, qtype: str) -> list[str] | None:
        nets = self._resolvable_networks(sandbox)
        found = False
        out: list[str] = []
        name = name.lower()
        for nid in nets:
            for ep in self.store.endpoints(network_id=nid):
                if not ep.interface:
                    continue  # not running: no address to answer with (Docker answers NXDOMAIN)
                if name in ep.dns_names or (len(name) >= MIN_ID_PREFIX and ep.container_id.startswith(name)):
                    found = True
                    addr = ep.ipv4_address if qtype == "A" else ep.ipv6_address
                    if addr:
                        out.append(addr.split("/")[0])
            # SetRecords: the same name may also have addresses on other nodes (a service's tasks)
            records = self._records.get(nid, {}).get(name)  # tables are replaced, never changed: no lock
            if records is not None:
                found = True
                version = 4 if qtype == "A" else 6
                out.extend(a for a in records if ipaddress.ip_address(a).version == version and a not in out)
        return out if found else None

    def reverse(self, sandbox: str, ip: str) -> str | None:
        for nid in self._resolvable_networks(sandbox):
            net = self.store.network(nid)
            suffix = f".{net.name}" if net else ""
            for ep in self.store.endpoints(network_id=nid):
                if ep.interface and ip in (ep.ipv4_address.split("/")[0], ep.ipv6_address.split("/")[0]):
                    return f"{ep.container_name}{suffix}"
            for name, addrs in self._records.get(nid, {}).items():
                if ip in addrs:
                    return f"{name}{suffix}"
        return None

    def upstreams(self, sandbox: str) -> list[str]:
        sb = self.store.sandbox(sandbox)
        host = resolvconf.host_upstreams(self.cfg.resolv_conf)
        return resolvconf.upstreams_for(host, list(sb.dns) if sb else [])


def _until(value: str) -> float:
    """A prune `until` filter: a timestamp or a Go duration such as 24h or 90m."""
    units = {"s": 1, "m": 60, "h": 3600}
    if value and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(value[:-1]) * units[value[-1]]
    try:
        return float(value)
    except ValueError:
        raise errors.InvalidArgument(f"invalid until filter {value!r}: want a timestamp or a duration") from None
