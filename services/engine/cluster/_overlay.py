"""Overlay networks: cluster-wide networks on which a service's tasks reach each other, by address
and by name, whatever node they run on (VXLAN tunnels between the nodes).

Records in etcd, under the cluster's prefix beside those of _model:

    networks/<id>            OverlayNetwork  written by `network create --driver overlay` (any node's palletd),
                                             deleted by `network rm` once no service names it
    netnames/<name>          <id>            created in the same transaction: names are unique
    ipam/<network id>/<ip>   <task id>       created-if-absent by the node that runs the task, so an address is
                                             handed out once cluster-wide; deleted when the task is forgotten
    ipam-last/<network id>   <ip>            the address handed out last: allocation goes round, so a released
                                             address (whose MAC other nodes may still have learned) waits

A network's subnet (default: a free /24 of 10.0.0.0/8) and VNI (from its ID, 4096 and up) are chosen
against the networks that exist, in a transaction that fails if a network was created meanwhile.

Each node (OverlayNode, started by the agent):
- before a task's container is created (`prepare`), reserves the task's address on each overlay network
  of its service and makes sure the network's local part exists in netsvc: a bridge with a VXLAN device
  on it, tunnelling to the peers (the other live nodes with a task holding an address on the network);
- on every change in etcd (a watch), and every few seconds (`sync`): updates each local part's peers
  and DNS records (the service's name, tasks.<service> and each task's name → the addresses of the
  service's running tasks on the network, cluster-wide: DNS round robin, Docker's `--endpoint-mode
  dnsrr`, no virtual IP), removes the local parts no local task uses any more and those of removed
  networks, and releases the addresses of forgotten tasks.
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
                          internal=self.internal, labels=self.labels, options=self.options)
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


@dataclass
class View:
    """What a node's sync looks at, read from etcd at one revision."""

    networks: dict[str, OverlayNetwork] = field(default_factory=dict)      # by id
    ipam: dict[str, dict[str, str]] = field(default_factory=dict)          # network id -> address -> task id
    tasks: dict[str, Task] = field(default_factory=dict)
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    alive: dict[str, str] = field(default_factory=dict)                    # live node -> its address

    def used_on(self, nid: str, node: str) -> bool:
        """Whether a task of node holds an address on the network: its local part is needed there."""
        return any((t := self.tasks.get(tid)) is not None and t.node == node
                   for tid in self.ipam.get(nid, {}).values())

    def peers(self, nid: str, node: str) -> list[str]:
        """Addresses of the other live nodes with a task holding an address on the network."""
        nodes = {t.node for tid in self.ipam.get(nid, {}).values() if (t := self.tasks.get(tid)) is not None}
        return sorted({self.alive[n] for n in nodes if n != node and self.alive.get(n)})

    def records(self, nid: str) -> dict[str, list[str]]:
        """DNS names of the network's running tasks: each task's name, then its service's name and
        tasks.<service>, with every running task's address (round robin: no virtual IP)."""
        tasks: dict[str, list[str]] = {}
        services: dict[str, list[str]] = {}
        for ip, tid in sorted(self.ipam.get(nid, {}).items(), key=lambda kv: ipaddress.IPv4Address(kv[0])):
            t, st = self.tasks.get(tid), self.statuses.get(tid)
            if t is None or t.desired_state != "running" or st is None or st.state != "running":
                continue
            tasks[t.name] = [ip]
            for name in (t.service_name, f"tasks.{t.service_name}"):
                services.setdefault(name, []).append(ip)
        return tasks | services

    def garbage(self) -> list[tuple[str, str, str]]:
        """(network id, address, task id) of addresses whose task is forgotten."""
        return [(nid, ip, tid) for nid, addrs in self.ipam.items() for ip, tid in addrs.items()
                if tid not in self.tasks]


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
               options: dict[str, str], port: int,
               taken_here: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> OverlayNetwork:
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
                                 labels=dict(labels), options=dict(options))
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
                    if any(r in (net.id, net.name) for s in (svc.spec, svc.previous) if s for r in s.networks):
                        users.append(svc.spec.name)
            if users:
                raise errors.FailedPrecondition(f"network {net.name} is in use by service {', '.join(sorted(users))}")
            if res.responses[1].kvs:
                raise errors.FailedPrecondition(
                    f"network {net.name} still has the addresses of {len(res.responses[1].kvs)} task(s): they are "
                    "released when their service's tasks are gone; try again then")
            done = self.etcd.txn(
                compare=[_range_unchanged_since(services, res.revision), _range_empty(ipam),
                         Compare.version(self._key("networks", net.id), ">", 0)],
                success=[Op.delete(self._key("networks", net.id)), Op.delete(self._key("netnames", net.name)),
                         Op.delete(self._key("ipam-last", net.id))])
            if done.succeeded:
                return net

    def reserve(self, net: OverlayNetwork, task_id: str) -> str:
        """The task's address on the network: the one it has, else a free one, created-if-absent."""
        prefix, last_key = self._key("ipam", net.id, ""), self._key("ipam-last", net.id)
        while True:
            res = self.etcd.txn(success=[Op.get(prefix, prefix=True), Op.get(last_key)])
            held = {kv.key[len(prefix):]: kv.value.decode() for kv in res.responses[0].kvs}
            for ip, owner in held.items():
                if owner == task_id:
                    return ip
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

    def release(self, nid: str, ip: str, task_id: str) -> bool:
        """Free an address, if it is still the task's."""
        key = self._key("ipam", nid, ip)
        return self.etcd.txn(compare=[Compare.value(key, "=", task_id)], success=[Op.delete(key)]).succeeded

    def view(self) -> View:
        """Networks, addresses, tasks, statuses and live nodes at one revision (one txn)."""
        kinds = ("networks", "ipam", "tasks", "status", "alive")
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
                    elif kind == "tasks":
                        t = Task.load(kv.value)
                        v.tasks[t.id] = t
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
        self._pushed: dict[str, tuple[list[str], dict[str, list[str]]]] = {}  # network id -> (peers, records) sent
        self._pushed_at = 0.0
        self._watch: Any = None
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
        task's address (reserved in etcd) and the network's local part here. {network as the spec
        names it: address}; other networks are not in it. EtcdError: try again later."""
        if self.engine is None or not [n for n in spec.networks if n not in ("", "default", *PREDEFINED)]:
            return {}
        nets = self.overlays.networks()
        out = {}
        for ref in spec.networks:
            net = next((n for n in nets if ref in (n.id, n.name)), None)
            if net is None:
                continue
            with self._lock:
                out[ref] = self.overlays.reserve(net, t.id)
                self._ensure_local(net)
        return out

    def _ensure_local(self, net: OverlayNetwork) -> None:
        netsvc = self._netsvc()
        with contextlib.suppress(errors.NotFound):
            have = netsvc.inspect(net.id)
            if have.id == net.id:
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
                                      port=net.port))
        try:
            netsvc.create(req)
        except errors.AlreadyExists as exc:
            raise errors.FailedPrecondition(f"overlay network {net.name} cannot be set up on node {self.node}: "
                                            f"{exc}") from None
        self.log.info("overlay network set up here", network=net.name, vni=net.vni, local=addr,
                      peers=list(req.overlay.peers))
        self._pushed.pop(net.id, None)
        self.wake()

    # -- keeping the local parts in line ---------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        threading.Thread(target=self._watch_store, name="cluster-overlay-watch", daemon=True).start()
        outage = False
        while not self.stop_event.is_set():
            self._wake.clear()
            try:
                self.sync()
                outage = False
            except EtcdError as exc:
                if not outage:
                    self.log.warning("overlay: etcd unavailable; retrying", error=str(exc))
                outage = True
            except Exception:  # noqa: BLE001 - the loop must outlive any surprise
                self.log.exception("overlay sync failed")
            if self._wake.wait(POLL):
                self.stop_event.wait(0.2)  # changes come in bursts (task, status, address): one sync for them
        w = self._watch
        if w is not None:
            w.close()

    def _watch_store(self) -> None:
        while not self.stop_event.is_set():
            try:
                with self.store.etcd.watch_prefix(self.store.prefix, retry_for=5.0) as w:
                    self._watch = w
                    self._wake.set()
                    for _ in w:
                        self._wake.set()
                        if self.stop_event.is_set():
                            return
            except EtcdError:
                pass
            except Exception:  # noqa: BLE001 - only a wake-up source; polling covers for it
                self.log.exception("overlay: watch failed")
            self.stop_event.wait(1.0)

    def sync(self) -> None:
        """One pass: addresses of forgotten tasks released; each local part's peers and DNS records
        set, or the local part removed when no task here uses it (or the network is gone)."""
        if self.engine is None:
            return
        netsvc = self._netsvc()
        with self._lock:
            view = self.overlays.view()
            for nid, ip, tid in view.garbage():
                if self.overlays.release(nid, ip, tid):
                    self.log.info("overlay: address of a forgotten task released", network=nid, ip=ip, task=tid)
            resync = time.monotonic() - self._pushed_at >= RESYNC
            for local in netsvc.list_networks(["driver=overlay"]):
                nid = local.id
                if nid not in view.networks or not view.used_on(nid, self.node):
                    if not local.endpoints:
                        netsvc.remove(nid)
                        self._pushed.pop(nid, None)
                        self.log.info("overlay network removed here: no task uses it", network=local.name)
                    continue  # with containers still attached, it goes when they have
                state = (view.peers(nid, self.node), view.records(nid))
                if resync or self._pushed.get(nid) != state:
                    netsvc.set_peers(nid, state[0])
                    netsvc.set_records(nid, state[1])
                    self._pushed[nid] = state
            if resync:
                self._pushed_at = time.monotonic()


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except EtcdError as exc:
        raise errors.Unavailable(f"the cluster store is unavailable: {exc}") from None
