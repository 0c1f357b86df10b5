"""Overlay networks: cluster-wide networks on which a service's tasks reach each other, by address
and by name, whatever node they run on (VXLAN tunnels between the nodes).

Records in etcd, under the cluster's prefix beside those of _model:

    networks/<id>            OverlayNetwork  written by `network create --driver overlay` (any node's palletd),
                                             deleted by `network rm` once no service names it
    netnames/<name>          <id>            created in the same transaction: names are unique
    ipam/<network id>/<ip>   <owner>         created-if-absent, so an address is handed out once cluster-wide:
                                             <task id>     by the node that runs the task; released when
                                                           the task is forgotten
                                             vip:<service> the service's virtual IP (endpoint mode vip);
                                                           released when the service is gone or leaves
                                                           the network (of two made in a race, the lower stays)
                                             node:<name>   a node's own address on the ingress network;
                                                           released when no service publishes a port or
                                                           the node is removed
    ipam-last/<network id>   <ip>            the address handed out last: allocation goes round, so a released
                                             address (whose MAC other nodes may still have learned) waits

A network's subnet (default: a free /24 of 10.0.0.0/8) and VNI (from its ID, 4096 and up) are chosen
against the networks that exist, in a transaction that fails if a network was created meanwhile.

Each node (OverlayNode, started by the agent):
- before a task's container is created (`prepare`), reserves the task's address on each overlay network
  of its service and makes sure the network's local part exists in netsvc: a bridge with a VXLAN device
  on it, tunnelling to the peers (the other live nodes with a task holding an address on the network);
- on every change in etcd (a watch), and every few seconds (`sync`): updates each local part's peers,
  DNS records and balancers, removes the local parts no local task uses any more and those of
  removed networks, and releases the addresses of forgotten tasks.

Names, as Docker's swarm mode gives them: tasks.<service> and each task's name resolve to the
running tasks' addresses; the service's name to its virtual IP, which netsvc balances across the
same addresses inside every sandbox on the network (endpoint mode vip, the default), or to the
addresses themselves (endpoint mode dnsrr).

The routing mesh: when a service publishes a port in ingress mode (the default), the cluster's
`ingress` overlay network is made (once, by whichever node needs it first), every live node takes an
address on it and sets up its local part with that address on the bridge, and each task of such a
service is attached to it too. netsvc then sends the published port, on every address of every
node, to one of the service's running tasks over the ingress network (DNAT, then masqueraded as
the node's ingress address so the reply comes back the same way), whether or not a task runs there.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from google.protobuf import timestamp_pb2
from pallet import errors, log
from pallet.engine.cluster._etcd import Compare, EtcdError, Op, prefix_end
from pallet.engine.cluster._loop import run_passes, watch_wakes
from pallet.engine.cluster._model import NodeAlive, NodeSpec, Service, ServiceSpec, Task, TaskStatus, new_id
from pallet.engine.cluster._store import ClusterStore
from pallet.net import _ipam
from pallet.net.v1 import net_pb2 as npb

POOL = ("10.0.0.0/8", 24)          # Docker swarm's default address pool for overlay networks
VNI_MIN, VNI_MAX = 4096, (1 << 24) - 1
VXLAN_PORT = 4789
PORT_OPT = "com.pallet.network.driver.overlay.vxlan_port"  # -o: the tunnels' UDP port (default 4789)
VNI_OPT = "com.docker.network.driver.overlay.vxlanid_list"  # shown as Docker shows it
PREDEFINED = ("bridge", "host", "none")
INGRESS = "ingress"                # the routing mesh's network, as Docker names it
VIP, NODE = "vip:", "node:"        # owners of addresses that are not a task's
RESYNC = 10.0                      # peers and DNS records are sent again this often (netsvc keeps records in memory)
POLL = 5.0                         # a sync at least this often, besides the watch


# -- the record and the pure choices ---------------------------------------------------------------

@dataclass
class OverlayNetwork:
    id: str
    name: str
    subnet: str
    gateway: str
    vni: int
    ip_range: str = ""
    port: int = VXLAN_PORT
    internal: bool = False
    ingress: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    @classmethod
    def load(cls, raw: bytes | str) -> OverlayNetwork:
        doc = json.loads(raw)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})

    def dump(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    def to_pb(self) -> npb.Network:
        """As `network ls|inspect` show it on a node without a local part (no endpoints here)."""
        created = timestamp_pb2.Timestamp()
        created.FromNanoseconds(int(self.created_at * 1e9))
        net = npb.Network(id=self.id, name=self.name, driver="overlay", scope="swarm", created=created,
                          internal=self.internal, labels=self.labels, options=self.options, ingress=self.ingress)
        net.options[VNI_OPT] = str(self.vni)
        net.ipam.add(subnet=self.subnet, gateway=self.gateway, ip_range=self.ip_range)
        return net


def vni_for(network_id: str, taken: Iterable[int]) -> int:
    """The network's VNI: derived from its (random, hex) ID into VNI_MIN..VNI_MAX, the next free one
    if another network has it. VNIs below 4096 are left to VLAN-numbered setups, as Docker does."""
    used = set(taken)
    span = VNI_MAX - VNI_MIN + 1
    start = int(network_id, 16) % span
    for i in range(span):
        vni = VNI_MIN + (start + i) % span
        if vni not in used:
            return vni
    raise errors.ResourceExhausted("every VXLAN network identifier is in use")


def choose_subnet(taken: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> ipaddress.IPv4Network:
    """The first /24 of 10.0.0.0/8 that overlaps none of taken (other overlays, this node's networks and routes)."""
    try:
        subnet = _ipam.choose_subnet([POOL], taken)
    except errors.ResourceExhausted:
        raise errors.ResourceExhausted("no free /24 left in 10.0.0.0/8 for an overlay network: remove unused "
                                       "overlay networks or give --subnet") from None
    assert isinstance(subnet, ipaddress.IPv4Network)
    return subnet


def next_address(net: OverlayNetwork, taken: Iterable[str], last: str = "") -> str:
    """A free address of the network (never its network, broadcast or gateway address), the first
    after `last` (round robin)."""
    subnet = ipaddress.IPv4Network(net.subnet)
    rng = ipaddress.IPv4Network(net.ip_range) if net.ip_range else subnet
    used: set[Any] = {ipaddress.IPv4Address(a) for a in taken} | {ipaddress.IPv4Address(net.gateway)}
    return str(_ipam.allocate(subnet, rng, used, ipaddress.IPv4Address(last) if last else None))


def plan_ipam(ipam: list[npb.IPAMConfig], others: list[OverlayNetwork],
              taken_here: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> tuple[str, str, str]:
    """(subnet, gateway, ip_range) of a new overlay network: the one asked for (it must not overlap
    another overlay network, nor a network or route of this node), or a free /24 of 10.0.0.0/8."""
    if len(ipam) > 1:
        raise errors.InvalidArgument("an overlay network has one IPv4 subnet here: give --subnet once")
    overlays = [ipaddress.IPv4Network(o.subnet) for o in others]
    if not ipam or not ipam[0].subnet:
        if ipam and (ipam[0].gateway or ipam[0].ip_range):
            raise errors.InvalidArgument("--gateway and --ip-range need --subnet")
        subnet = choose_subnet([*overlays, *taken_here])
        return str(subnet), str(next(subnet.hosts())), ""
    asked = _ipam.network(ipam[0].subnet)
    if asked.version != 4:
        raise errors.InvalidArgument("overlay networks are IPv4 only here")
    for other in others:
        if ipaddress.IPv4Network(other.subnet).overlaps(asked):
            raise errors.FailedPrecondition(f"Pool overlaps with other one on this address space: {asked} overlaps "
                                            f"overlay network {other.name} ({other.subnet})")
    for t in taken_here:
        if t.version == 4 and t.overlaps(asked):
            raise errors.FailedPrecondition(f"Pool overlaps with other one on this address space: {asked} overlaps "
                                            f"{t} on this node")
    gw, rng = _ipam.check_config(asked, ipam[0].gateway, ipam[0].ip_range)
    return str(asked), str(gw), str(rng) if ipam[0].ip_range else ""


def ingress_ports(spec: ServiceSpec) -> list[dict[str, Any]]:
    """The service's ports published through the routing mesh (mode ingress, the default)."""
    return [p for p in spec.ports if (p.get("mode") or "ingress") == "ingress" and int(p.get("published") or 0)]


def names_network(spec: ServiceSpec, net: OverlayNetwork) -> bool:
    return any(ref in (net.id, net.name) for ref in spec.networks)


@dataclass
class View:
    """What a node's sync looks at, read from etcd at one revision."""

    networks: dict[str, OverlayNetwork] = field(default_factory=dict)      # by id
    ipam: dict[str, dict[str, str]] = field(default_factory=dict)          # network id -> address -> owner
    services: dict[str, Service] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    nodes: set[str] = field(default_factory=set)                           # registered
    alive: dict[str, str] = field(default_factory=dict)                    # live node -> its address

    def ingress(self) -> OverlayNetwork | None:
        return next((n for n in self.networks.values() if n.ingress), None)

    def mesh_needed(self) -> bool:
        """Whether a service publishes a port through the routing mesh."""
        return any(ingress_ports(s.spec) for s in self.services.values())

    def _node_of(self, owner: str) -> str:
        if owner.startswith(NODE):
            return owner[len(NODE):]
        t = self.tasks.get(owner)
        return t.node if t is not None else ""

    def used_on(self, nid: str, node: str) -> bool:
        """Whether a task of node (or node itself, on the ingress network) holds an address on the
        network: its local part is needed there."""
        return any(self._node_of(owner) == node for owner in self.ipam.get(nid, {}).values())

    def peers(self, nid: str, node: str) -> list[str]:
        """Addresses of the other live nodes holding an address on the network."""
        nodes = {self._node_of(owner) for owner in self.ipam.get(nid, {}).values()}
        return sorted({self.alive[n] for n in nodes if n and n != node and self.alive.get(n)})

    def vip(self, nid: str, sid: str) -> str:
        """The service's virtual IP on the network ("" if none yet): the lowest it holds."""
        mine = [ip for ip, owner in self.ipam.get(nid, {}).items() if owner == VIP + sid]
        return min(mine, key=ipaddress.IPv4Address) if mine else ""

    def backends(self, nid: str) -> dict[str, list[str]]:
        """Service id -> the addresses of its running tasks on the network, in address order."""
        out: dict[str, list[str]] = {}
        for ip, tid in sorted(self.ipam.get(nid, {}).items(), key=lambda kv: ipaddress.IPv4Address(kv[0])):
            t, st = self.tasks.get(tid), self.statuses.get(tid)
            if t is None or t.desired_state != "running" or st is None or st.state != "running":
                continue
            out.setdefault(t.service_id, []).append(ip)
        return out

    def records(self, nid: str) -> dict[str, list[str]]:
        """DNS names of the network: each running task's name, tasks.<service> (the running tasks'
        addresses), and the service's name (its virtual IP, or the tasks' addresses with endpoint
        mode dnsrr). Nothing on the ingress network: it only carries published ports."""
        net = self.networks.get(nid)
        if net is None or net.ingress:
            return {}
        tasks: dict[str, list[str]] = {}
        services: dict[str, list[str]] = {}
        backends = self.backends(nid)
        for ip, tid in self.ipam.get(nid, {}).items():
            t = self.tasks.get(tid)
            if t is not None and ip in backends.get(t.service_id, []):
                tasks[t.name] = [ip]
        for sid, svc in sorted(self.services.items(), key=lambda kv: kv[1].spec.name):
            ips, vip = backends.get(sid, []), self.vip(nid, sid)
            if self.wants_vip(sid, net) and vip:
                services[svc.spec.name] = [vip]
            elif ips:
                services[svc.spec.name] = list(ips)
            if ips:
                services[f"tasks.{svc.spec.name}"] = list(ips)
        return dict(sorted(tasks.items())) | services

    def balancers(self, nid: str) -> list[npb.Balancer]:
        """netsvc's balancers of the network: each service's VIP and running tasks; on the ingress
        network, each publishing service's tasks and ports (no VIP: the node's rules pick a task)."""
        net = self.networks.get(nid)
        if net is None:
            return []
        backends = self.backends(nid)
        out = []
        for sid, svc in sorted(self.services.items()):
            if net.ingress:
                ports = [npb.PortBinding(protocol=str(p.get("protocol") or "tcp"), host_port=int(p["published"]),
                                         container_port=int(p["target"])) for p in ingress_ports(svc.spec)]
                if ports:
                    out.append(npb.Balancer(backends=backends.get(sid, []), ports=ports))
            elif self.wants_vip(sid, net) and (vip := self.vip(nid, sid)):
                out.append(npb.Balancer(vip=vip, backends=backends.get(sid, [])))
        return out

    def wants_vip(self, sid: str, net: OverlayNetwork) -> bool:
        svc = self.services.get(sid)
        return (svc is not None and not net.ingress and svc.spec.endpoint_mode != "dnsrr"
                and names_network(svc.spec, net))

    def garbage(self) -> list[tuple[str, str, str]]:
        """(network id, address, owner) of addresses whose owner is gone: a forgotten task, a
        service gone (or off the network, or in dnsrr mode), a duplicate VIP, a removed node, or
        a node's ingress address once no service publishes a port."""
        out = []
        mesh = self.mesh_needed()
        for nid, addrs in self.ipam.items():
            net = self.networks.get(nid)
            for ip, owner in addrs.items():
                if owner.startswith(VIP):
                    sid = owner[len(VIP):]
                    keep = net is not None and self.wants_vip(sid, net) and self.vip(nid, sid) == ip
                elif owner.startswith(NODE):
                    keep = owner[len(NODE):] in self.nodes and mesh
                else:
                    keep = owner in self.tasks
                if not keep:
                    out.append((nid, ip, owner))
        return out


def _range_unchanged_since(prefix: str, revision: int) -> Compare:
    """A txn condition: no key under prefix was created or changed after revision (deletions are not seen)."""
    cond = Compare.mod_revision(prefix, "<", revision + 1)
    return Compare({**cond.body, "range_end": base64.b64encode(prefix_end(prefix)).decode()})


def _range_empty(prefix: str) -> Compare:
    cond = Compare.version(prefix, "=", 0)
    return Compare({**cond.body, "range_end": base64.b64encode(prefix_end(prefix)).decode()})


def routes() -> list[ipaddress.IPv4Network]:
    """Destinations this process's network namespace routes (not the default route), from /proc/net/route."""
    out = []
    with contextlib.suppress(OSError), open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if len(cols) < 8:
                continue
            dst, mask = (int.from_bytes(bytes.fromhex(c), "little") for c in (cols[1], cols[7]))
            if mask:
                out.append(ipaddress.IPv4Network((dst, bin(mask).count("1")), strict=False))
    return out


# -- the records in etcd ---------------------------------------------------------------------------------

class OverlayStore:
    def __init__(self, store: ClusterStore) -> None:
        self.store = store
        self.etcd = store.etcd

    def _key(self, *parts: str) -> str:
        return self.store.key(*parts)

    def networks(self) -> list[OverlayNetwork]:
        kvs, _ = self.etcd.get_prefix(self._key("networks", ""))
        out = []
        for kv in kvs:
            with contextlib.suppress(ValueError, KeyError, TypeError):  # an unreadable record is skipped
                out.append(OverlayNetwork.load(kv.value))
        return sorted(out, key=lambda n: n.name)

    def network(self, ref: str) -> OverlayNetwork:
        """By ID, name or unique ID prefix."""
        nets = self.networks()
        for n in nets:
            if ref in (n.id, n.name):
                return n
        found = [n for n in nets if n.id.startswith(ref)] if ref else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise errors.InvalidArgument(f"network {ref} is ambiguous ({len(found)} matches)")
        raise errors.NotFound(f"network {ref} not found")

    def create(self, name: str, ipam: list[npb.IPAMConfig], internal: bool, labels: dict[str, str],
               options: dict[str, str], port: int, taken_here: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
               ingress: bool = False) -> OverlayNetwork:
        """A new network; subnet and VNI are chosen against the networks that exist, and the write
        fails (and is tried again) if another network was created meanwhile."""
        prefix, name_key = self._key("networks", ""), self._key("netnames", name)
        while True:
            kvs, rev = self.etcd.get_prefix(prefix)
            others = []
            for kv in kvs:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    others.append(OverlayNetwork.load(kv.value))
            if any(o.name == name for o in others) or self.etcd.get(name_key) is not None:
                raise errors.AlreadyExists(f"network with name {name} already exists")
            subnet, gateway, ip_range = plan_ipam(ipam, others, taken_here)
            nid = new_id()
            net = OverlayNetwork(id=nid, name=name, subnet=subnet, gateway=gateway, ip_range=ip_range,
                                 vni=vni_for(nid, (o.vni for o in others)), port=port, internal=internal,
                                 ingress=ingress, labels=dict(labels), options=dict(options))
            res = self.etcd.txn(compare=[Compare.version(name_key, "=", 0), _range_unchanged_since(prefix, rev)],
                                success=[Op.put(name_key, nid.encode()),
                                         Op.put(self._key("networks", nid), net.dump())])
            if res.succeeded:
                return net

    def remove(self, ref: str) -> OverlayNetwork:
        """Delete a network no service names and no task holds an address on."""
        while True:
            net = self.network(ref)
            services, ipam = self._key("services", ""), self._key("ipam", net.id, "")
            res = self.etcd.txn(success=[Op.get(services, prefix=True), Op.get(ipam, prefix=True)])
            users = []
            for kv in res.responses[0].kvs:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    svc = Service.load(kv.value)
                    if any(names_network(s, net) or (net.ingress and ingress_ports(s))
                           for s in (svc.spec, svc.previous) if s):
                        users.append(svc.spec.name)
            if users:
                raise errors.FailedPrecondition(f"network {net.name} is in use by service {', '.join(sorted(users))}")
            held = [kv for kv in res.responses[1].kvs if not kv.value.decode().startswith((VIP, NODE))]
            if held:
                raise errors.FailedPrecondition(
                    f"network {net.name} still has the addresses of {len(held)} task(s): they are "
                    "released when their service's tasks are gone; try again then")
            done = self.etcd.txn(  # the virtual IPs and node addresses go with it
                compare=[_range_unchanged_since(services, res.revision), _range_unchanged_since(ipam, res.revision),
                         Compare.version(self._key("networks", net.id), ">", 0)],
                success=[Op.delete(self._key("networks", net.id)), Op.delete(self._key("netnames", net.name)),
                         Op.delete(self._key("ipam-last", net.id)), Op.delete(ipam, prefix=True)])
            if done.succeeded:
                return net

    def reserve(self, net: OverlayNetwork, task_id: str) -> str:
        """The owner's address on the network (a task id, vip:<service> or node:<name>): the one it
        has (the lowest, if a race gave it two), else a free one, created-if-absent."""
        prefix, last_key = self._key("ipam", net.id, ""), self._key("ipam-last", net.id)
        while True:
            res = self.etcd.txn(success=[Op.get(prefix, prefix=True), Op.get(last_key)])
            held = {kv.key[len(prefix):]: kv.value.decode() for kv in res.responses[0].kvs}
            mine = [ip for ip, owner in held.items() if owner == task_id]
            if mine:
                return min(mine, key=ipaddress.IPv4Address)
            last = res.responses[1].kvs[0].value.decode() if res.responses[1].kvs else ""
            ip = next_address(net, held, last)
            key = prefix + ip
            done = self.etcd.txn(compare=[Compare.version(key, "=", 0),
                                          Compare.version(self._key("networks", net.id), ">", 0)],
                                 success=[Op.put(key, task_id.encode()), Op.put(last_key, ip.encode())])
            if done.succeeded:
                return ip
            if self.etcd.get(self._key("networks", net.id)) is None:
                raise errors.NotFound(f"network {net.name} was removed")

    def vips(self, sid: str) -> list[tuple[str, str]]:
        """(network id, address/prefix) of the service's virtual IPs."""
        nets = {n.id: n for n in self.networks()}
        out = []
        for kv in self.etcd.get_prefix(self._key("ipam", ""))[0]:
            nid, _, ip = kv.key[len(self._key("ipam", "")):].partition("/")
            if kv.value.decode() == VIP + sid and nid in nets:
                out.append((nid, f"{ip}/{ipaddress.IPv4Network(nets[nid].subnet).prefixlen}"))
        return sorted(out)

    def release(self, nid: str, ip: str, task_id: str) -> bool:
        """Free an address, if it is still the owner's."""
        key = self._key("ipam", nid, ip)
        return self.etcd.txn(compare=[Compare.value(key, "=", task_id)], success=[Op.delete(key)]).succeeded

    def view(self) -> View:
        """Networks, addresses, tasks, statuses and live nodes at one revision (one txn)."""
        kinds = ("networks", "ipam", "services", "tasks", "status", "nodes", "alive")
        res = self.etcd.txn(success=[Op.get(self._key(k, ""), prefix=True) for k in kinds])
        v = View()
        for kind, r in zip(kinds, res.responses, strict=True):
            for kv in r.kvs:
                rest = kv.key[len(self._key(kind, "")):]
                try:
                    if kind == "networks":
                        n = OverlayNetwork.load(kv.value)
                        v.networks[n.id] = n
                    elif kind == "ipam":
                        nid, _, ip = rest.partition("/")
                        v.ipam.setdefault(nid, {})[ip] = kv.value.decode()
                    elif kind == "services":
                        svc = Service.load(kv.value)
                        v.services[svc.id] = svc
                    elif kind == "tasks":
                        t = Task.load(kv.value)
                        v.tasks[t.id] = t
                    elif kind == "nodes":
                        v.nodes.add(rest)
                    elif kind == "status":
                        v.statuses[rest] = TaskStatus.load(kv.value)
                    else:
                        v.alive[rest] = NodeAlive.load(kv.value).addr
                except (ValueError, KeyError, TypeError):
                    continue  # an unreadable record (logged by the agent and orchestrator)
        return v

    def node_addr(self, node: str) -> str:
        kv = self.etcd.get(self._key("nodes", node))
        return NodeSpec.load(kv.value).addr if kv is not None else ""


# -- this node's side --------------------------------------------------------------------------------

def _valid_name(name: str) -> None:
    if not name or not all(ch.isalnum() or ch in "_.-" for ch in name) or not name[0].isalnum():
        raise errors.InvalidArgument(f"invalid network name {name!r}: use letters, digits, '_', '.' and '-'")
    if name in PREDEFINED:
        raise errors.FailedPrecondition(f"{name} is a pre-defined network and cannot be created")


def _port(options: dict[str, str]) -> int:
    raw = options.get(PORT_OPT, "")
    if not raw:
        return VXLAN_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise errors.InvalidArgument(f"invalid {PORT_OPT} {raw!r}: want a UDP port")
    return int(raw)


class OverlayNode(threading.Thread):
    """This node's side of the overlay networks (see the module's doc). Started by the agent; palletd's
    Networks servicer routes `network create --driver overlay`, `rm`, `ls` and `inspect` here."""

    def __init__(self, store: ClusterStore, node: str, engine: Any, stop_event: threading.Event) -> None:
        super().__init__(name="cluster-overlay", daemon=True)
        self.store = store
        self.overlays = OverlayStore(store)
        self.node = node
        self.engine = engine
        self.stop_event = stop_event
        self.log = log.get("cluster")
        self._lock = threading.Lock()     # prepare and sync: a local part is not removed under a starting task
        self._wake = threading.Event()
        # network id -> (peers, records, balancers) sent
        self._pushed: dict[str, tuple[list[str], dict[str, list[str]], list[npb.Balancer]]] = {}
        self._pushed_at = 0.0
        self._watch: Any = None
        self._addr: str | None = None     # this node's --advertise-addr, once read
        self._mesh_error = ""             # why the ingress network could not be set up here (logged once)
        if engine is not None and getattr(engine, "networks", None) is not None:
            engine.networks.overlays = self

    def _netsvc(self) -> Any:
        return self.engine.networks.netsvc()

    # -- what the Networks servicer asks (EtcdError as Unavailable) --------------------------------

    def create(self, req: npb.CreateNetworkRequest) -> npb.Network:
        _valid_name(req.name)
        if req.enable_ipv6:
            raise errors.InvalidArgument("overlay networks are IPv4 only here: --ipv6 is not supported")
        options = dict(req.options)
        port = _port(options)
        here = self._netsvc().list_networks()
        if any(n.name == req.name for n in here):
            raise errors.AlreadyExists(f"network with name {req.name} already exists")
        taken = [ipaddress.ip_network(c.subnet) for n in here for c in n.ipam] + routes()
        with _unavailable():
            net = self.overlays.create(req.name, list(req.ipam), req.internal, dict(req.labels), options, port, taken)
        self.log.info("overlay network created", id=net.id, name=net.name, subnet=net.subnet, vni=net.vni)
        return net.to_pb()

    def remove(self, ref: str) -> npb.Network:
        with _unavailable():
            net = self.overlays.remove(ref)
        self.log.info("overlay network removed", id=net.id, name=net.name)
        self.wake()  # its local part goes at the next sync
        return net.to_pb()

    def list(self) -> list[npb.Network]:
        with _unavailable():
            return [n.to_pb() for n in self.overlays.networks()]

    def inspect(self, ref: str) -> npb.Network:
        with _unavailable():
            return self.overlays.network(ref).to_pb()

    # -- the agent's hook ------------------------------------------------------------------------------

    def prepare(self, t: Task, spec: ServiceSpec) -> dict[str, str]:
        """Before the task's container is created: for each overlay network of its service, the
        task's address (reserved in etcd), the service's virtual IP and the network's local part
        here; with ports published through the routing mesh, the same on the ingress network.
        {network as the spec names it, or INGRESS: address}; other networks are not in it.
        EtcdError: try again later."""
        mesh = bool(ingress_ports(spec)) and self.has_address()
        if self.engine is None or not (mesh or [n for n in spec.networks if n not in ("", "default", *PREDEFINED)]):
            return {}
        nets = self.overlays.networks()
        out = {}
        for ref in spec.networks:
            net = next((n for n in nets if ref in (n.id, n.name)), None)
            if net is None or net.ingress:
                continue
            with self._lock:
                out[ref] = self.overlays.reserve(net, t.id)
                if spec.endpoint_mode != "dnsrr":
                    self.overlays.reserve(net, VIP + t.service_id)
                self._ensure_local(net)
        if mesh:
            with self._lock:
                net = self._ingress(nets)
                out[INGRESS] = self.overlays.reserve(net, t.id)
                self._ensure_local(net)
        return out

    def has_address(self) -> bool:
        """Whether this node has an address for tunnels (--advertise-addr): overlay networks and the
        routing mesh need one. EtcdError until known."""
        if self._addr is None:
            self._addr = self.overlays.node_addr(self.node)
        return bool(self._addr)

    def _ingress(self, nets: Iterable[OverlayNetwork]) -> OverlayNetwork:
        """The cluster's ingress network, made if no node has made it yet."""
        found = next((n for n in nets if n.ingress), None)
        if found is not None:
            return found
        here = self._netsvc().list_networks()
        taken = [ipaddress.ip_network(c.subnet) for n in here for c in n.ipam] + routes()
        try:
            net = self.overlays.create(INGRESS, [], False, {}, {}, VXLAN_PORT, taken, ingress=True)
            self.log.info("ingress network created (the routing mesh)", id=net.id, subnet=net.subnet, vni=net.vni)
            return net
        except errors.AlreadyExists:
            net = self.overlays.network(INGRESS)
            if not net.ingress:
                raise errors.FailedPrecondition(
                    f"the overlay network named {INGRESS} is not the routing mesh's: remove it, or publish the "
                    "service's ports with mode=host") from None
            return net

    def _ensure_local(self, net: OverlayNetwork) -> None:
        netsvc = self._netsvc()
        host = ""
        if net.ingress:  # this node's own address on it: published ports are routed through it
            prefix = ipaddress.IPv4Network(net.subnet).prefixlen
            host = f"{self.overlays.reserve(net, NODE + self.node)}/{prefix}"
        with contextlib.suppress(errors.NotFound):
            have = netsvc.inspect(net.id)
            if have.id == net.id:
                if host and have.overlay.host_address != host and not have.endpoints:
                    netsvc.remove(net.id)  # made with an address released meanwhile: made again below
                else:
                    return  # peers and records follow at the sync
        addr = self.overlays.node_addr(self.node)
        if not addr:
            raise errors.FailedPrecondition(f"overlay network {net.name} needs this node's address: start palletd "
                                            "with --advertise-addr")
        view = self.overlays.view()
        req = npb.CreateNetworkRequest(
            name=net.name, driver="overlay", id=net.id, internal=net.internal, labels=net.labels,
            options=net.options, ipam=[npb.IPAMConfig(subnet=net.subnet, gateway=net.gateway, ip_range=net.ip_range)],
            overlay=npb.OverlayConfig(vni=net.vni, local_address=addr, peers=view.peers(net.id, self.node),
                                      port=net.port, host_address=host))
        try:
            netsvc.create(req)
        except errors.AlreadyExists as exc:
            raise errors.FailedPrecondition(f"overlay network {net.name} cannot be set up on node {self.node}: "
                                            f"{exc}") from None
        self.log.info("overlay network set up here", network=net.name, vni=net.vni, local=addr,
                      peers=list(req.overlay.peers), host_address=host)
        self._pushed.pop(net.id, None)
        self.wake()

    # -- keeping the local parts in line ---------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        threading.Thread(target=watch_wakes, name="cluster-overlay-watch", daemon=True, args=(
            self.store.etcd, self.store.prefix, self._wake, self.stop_event, self.log, "overlay"),
            kwargs={"on_watch": lambda w: setattr(self, "_watch", w)}).start()
        # changes come in bursts (task, status, address): one sync for them
        run_passes(self.sync, self._wake, self.stop_event, POLL, self.log, "overlay", settle=0.2)
        w = self._watch
        if w is not None:
            w.close()

    def sync(self) -> None:
        """One pass: addresses of forgotten tasks released; each local part's peers and DNS records
        set, or the local part removed when no task here uses it (or the network is gone)."""
        if self.engine is None:
            return
        netsvc = self._netsvc()
        with self._lock:
            view = self.overlays.view()
            for nid, ip, owner in view.garbage():
                if self.overlays.release(nid, ip, owner):
                    self.log.info("overlay: address released", network=nid, ip=ip, owner=owner)
            if view.mesh_needed() and self.has_address():  # the routing mesh: every node has the ingress network
                try:
                    self._ensure_local(self._ingress(list(view.networks.values())))
                    self._mesh_error = ""
                except errors.PalletError as exc:  # the other networks are kept in line all the same
                    if str(exc) != self._mesh_error:
                        self.log.error("routing mesh not available on this node", error=str(exc))
                    self._mesh_error = str(exc)
                view = self.overlays.view()
            resync = time.monotonic() - self._pushed_at >= RESYNC
            for local in netsvc.list_networks(["driver=overlay"]):
                nid = local.id
                if nid not in view.networks or not view.used_on(nid, self.node):
                    if not local.endpoints:
                        netsvc.remove(nid)
                        self._pushed.pop(nid, None)
                        self.log.info("overlay network removed here: no task uses it", network=local.name)
                    continue  # with containers still attached, it goes when they have
                state = (view.peers(nid, self.node), view.records(nid), view.balancers(nid))
                if resync or self._pushed.get(nid) != state:
                    netsvc.set_peers(nid, state[0])
                    netsvc.set_records(nid, state[1])
                    netsvc.set_balancers(nid, state[2])
                    self._pushed[nid] = state
            if resync:
                self._pushed_at = time.monotonic()


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except EtcdError as exc:
        raise errors.Unavailable(f"the cluster store is unavailable: {exc}") from None
