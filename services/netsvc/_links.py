"""Bridges, VXLAN devices and veth pairs through netlink (pyroute2).

Bridges and VXLAN devices netsvc creates carry the interface alias "pallet:<tag>"
so that a restart can tell its own devices (and leaked ones) from everything else
on the host. Host-side veth names derive from the endpoint ID, so they can be
found again without any state.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pallet import errors
from pallet.net import _netns
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

T = TypeVar("T")
ALIAS_PREFIX = "pallet:"
IFA_F_NODAD = 0x02
FLOOD_MAC = "00:00:00:00:00:00"  # a VXLAN FDB entry for it: where broadcasts and unknown MACs go
VXLAN_PORT = 4789


def veth_name(endpoint_id: str) -> str:
    return f"plv{endpoint_id[:11]}"


@dataclass
class Wiring:
    """One endpoint as it is put into a sandbox."""

    host_ifname: str
    ifname: str
    bridge: str
    mac: str
    ipv4: str = ""  # "address/prefixlen"
    ipv6: str = ""
    gateway4: str = ""  # set when this endpoint gives the default route
    gateway6: str = ""
    mtu: int = 1500


def _sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError), open(path, "w") as f:
        f.write(value)


class Links:
    """Netlink operations on the host, and inside sandboxes by their netns path."""

    def __init__(self, tag: str) -> None:
        self.alias = ALIAS_PREFIX + tag
        self.ipr = IPRoute()

    def close(self) -> None:
        self.ipr.close()

    def _index(self, ifname: str) -> int | None:
        found = self.ipr.link_lookup(ifname=ifname)
        return found[0] if found else None

    def exists(self, ifname: str) -> bool:
        return self._index(ifname) is not None

    # -- bridges ---------------------------------------------------------------

    def ensure_bridge(self, name: str, addresses: list[str], mtu: int = 1500) -> None:
        """Create (or repair) a bridge with the gateway addresses ("ip/prefixlen"), up."""
        idx = self._index(name)
        if idx is None:
            try:
                self.ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
            except NetlinkError as exc:
                raise errors.Internal(f"could not create bridge {name}: {exc}") from None
            idx = self._index(name)
            assert idx is not None
        self.ipr.link("set", index=idx, ifalias=self.alias)
        have = {f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}" for a in self.ipr.get_addr(index=idx)}
        for cidr in addresses:
            iface = ipaddress.ip_interface(cidr)
            if f"{iface.ip}/{iface.network.prefixlen}" in have:
                continue
            if iface.version == 6:
                _sysctl(f"/proc/sys/net/ipv6/conf/{name}/accept_dad", "0")
            self.ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        # Published ports answer on the host's 127.0.0.1 through DNAT: the rewritten
        # packets keep their loopback source until masqueraded, so the bridge must route them.
        _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
        self.ipr.link("set", index=idx, state="up")

    # -- VXLAN -----------------------------------------------------------------

    def ensure_vxlan(self, name: str, vni: int, local: str, port: int, bridge: str, mtu: int) -> None:
        """A VXLAN device (tunnels from local to the peers set by set_flood_peers) on the bridge, up.

        Learning is on: the device learns which node each remote MAC sits behind from the
        packets it receives, so after the first flooded ARP exchange unicast goes to one node
        only, and nobody has to distribute container MACs. A device left with other
        parameters (a crash, a changed record) is made again.
        """
        idx = self._index(name)
        if idx is not None:
            info = self.ipr.get_links(idx)[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
            have = (info.get("IFLA_VXLAN_ID"), info.get("IFLA_VXLAN_LOCAL"), info.get("IFLA_VXLAN_PORT")) \
                if info else None
            if have != (vni, local, port):
                self.delete(name)
                idx = None
        if idx is None:
            try:
                self.ipr.link("add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_local=local, vxlan_port=port,
                              vxlan_learning=1, mtu=mtu)
            except NetlinkError as exc:
                raise errors.Internal(f"could not create VXLAN device {name} (VNI {vni}, {local}:{port}): "
                                      f"{exc}") from None
            idx = self._index(name)
            assert idx is not None
        master = self._index(bridge)
        if master is None:
            raise errors.Internal(f"bridge {bridge} is missing")
        self.ipr.link("set", index=idx, ifalias=self.alias)
        self.ipr.link("set", index=idx, master=master, state="up")

    def flood_peers(self, vxlan: str) -> set[str]:
        idx = self._index(vxlan)
        if idx is None:
            return set()
        return {str(e.get("NDA_DST")) for e in self.ipr.fdb("dump", ifindex=idx)
                if e["ifindex"] == idx and e.get("NDA_LLADDR") == FLOOD_MAC and e.get("NDA_DST")}

    def set_flood_peers(self, vxlan: str, peers: list[str]) -> None:
        """One all-zeros FDB entry per peer: every broadcast and unknown unicast frame is sent
        to each of them (head-end replication, no multicast needed in the underlay)."""
        idx = self._index(vxlan)
        if idx is None:
            raise errors.Internal(f"VXLAN device {vxlan} is missing")
        have, want = self.flood_peers(vxlan), set(peers)
        for dst in sorted(want - have):
            self.ipr.fdb("append", ifindex=idx, lladdr=FLOOD_MAC, dst=dst)
        for dst in sorted(have - want):
            with contextlib.suppress(NetlinkError):
                self.ipr.fdb("del", ifindex=idx, lladdr=FLOOD_MAC, dst=dst)

    def delete(self, ifname: str) -> None:
        idx = self._index(ifname)
        if idx is not None:
            with contextlib.suppress(NetlinkError):
                self.ipr.link("del", index=idx)

    def owned_bridges(self) -> list[str]:
        """Our bridges and VXLAN devices (by their alias)."""
        return [link.get("IFLA_IFNAME") for link in self.ipr.get_links()
                if link.get("IFLA_IFALIAS") == self.alias]

    def master_of(self, ifname: str) -> str | None:
        idx = self._index(ifname)
        if idx is None:
            return None
        master = self.ipr.get_links(idx)[0].get("IFLA_MASTER")
        if not master:
            return None
        return self.ipr.get_links(master)[0].get("IFLA_IFNAME")

    def veths(self) -> list[str]:
        return [n for n in (link.get("IFLA_IFNAME") for link in self.ipr.get_links()) if n.startswith("plv")]

    def routes(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Destinations the host routes already (not the default route): new subnets avoid them."""
        out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for family in (2, 10):
            for r in self.ipr.get_routes(family=family, table=254):
                dst = r.get("RTA_DST")
                if dst and r["dst_len"] > 0:
                    out.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
        return out

    # -- sandboxes -------------------------------------------------------------

    @staticmethod
    def _inside(netns: str, fn: Callable[[Any], T]) -> T:
        """fn(IPRoute) in a thread that joined the namespace. pyroute2's own netns support
        forks a helper, which is not safe in a threaded server; its sockets are per thread."""

        def run() -> T:
            with IPRoute() as ns:
                return fn(ns)

        return _netns.run_in(netns, run)

    def loopback_up(self, netns: str) -> None:
        self._inside(netns, lambda ns: ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up"))

    def wire(self, netns: str, w: Wiring) -> None:
        """A veth pair: host end on the bridge, the other end as w.ifname in the sandbox."""
        bridge = self._index(w.bridge)
        if bridge is None:
            raise errors.Internal(f"bridge {w.bridge} is missing: restart pallet-netsvc to recreate it")
        self.delete(w.host_ifname)  # a leftover of a crash mid-way
        tmp = "plt" + w.host_ifname[3:]
        try:
            self.ipr.link("add", ifname=w.host_ifname, kind="veth", mtu=w.mtu,
                          peer={"ifname": tmp, "net_ns_fd": netns, "address": w.mac, "mtu": w.mtu})
        except NetlinkError as exc:
            raise errors.Internal(f"could not create veth {w.host_ifname}: {exc}") from None
        try:
            host = self._index(w.host_ifname)
            self.ipr.link("set", index=host, master=bridge, state="up")
            # A container may reach its own published port through a host address (hairpin NAT).
            _sysctl(f"/sys/class/net/{w.host_ifname}/brport/hairpin_mode", "1")
            self._inside(netns, lambda ns: self._configure_inside(ns, tmp, w))
        except BaseException:
            self.delete(w.host_ifname)
            raise

    @staticmethod
    def _configure_inside(ns: Any, tmp: str, w: Wiring) -> None:
        idx = ns.link_lookup(ifname=tmp)[0]
        ns.link("set", index=idx, ifname=w.ifname)
        for cidr in (w.ipv4, w.ipv6):
            if cidr:
                iface = ipaddress.ip_interface(cidr)
                # No duplicate address detection: the address is usable at once.
                extra = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
                ns.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen, **extra)
        ns.link("set", index=idx, state="up")
        lo = ns.link_lookup(ifname="lo")[0]
        ns.link("set", index=lo, state="up")
        if w.gateway4:
            ns.route("replace", dst="0.0.0.0/0", gateway=w.gateway4, oif=idx)
        if w.gateway6:
            ns.route("replace", dst="::/0", gateway=w.gateway6, oif=idx, family=10)

    def default_route(self, netns: str, ifname: str, gateway4: str, gateway6: str) -> None:
        def route(ns: Any) -> None:
            found = ns.link_lookup(ifname=ifname)
            if not found:
                return
            if gateway4:
                ns.route("replace", dst="0.0.0.0/0", gateway=gateway4, oif=found[0])
            if gateway6:
                ns.route("replace", dst="::/0", gateway=gateway6, oif=found[0], family=10)

        self._inside(netns, route)

    def ifnames_in(self, netns: str) -> list[str]:
        return self._inside(netns, lambda ns: [link.get("IFLA_IFNAME") for link in ns.get_links()])
