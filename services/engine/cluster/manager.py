"""Cluster mode in palletd: join, stay alive, orchestrate when elected, run this node's tasks.

    cluster = Cluster(ClusterConfig(store="etcd://10.0.0.1:2379", node_name="n1",
                                    advertise_addr="10.0.0.11"), engine=servicers)
    cluster.start()      # palletd main, after the servicers exist
    ...                  # the Cluster gRPC servicer calls the methods below
    cluster.stop()       # palletd shutdown: tasks keep running; the node is down once its lease ends

Liveness: the node's `alive/<name>` key is bound to a lease of `ttl` seconds that a KeepAlive
renews; a node that stops renewing is down after at most ttl seconds. If etcd is away longer
than that, the lease is lost: the node takes a new one and announces itself again when etcd is
back, and campaigns again for orchestrator.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pallet import __version__, errors, log
from pallet.engine.cluster._election import KeepAlive, leader
from pallet.engine.cluster._etcd import Etcd, EtcdError, Lease
from pallet.engine.cluster._model import NodeAlive, NodeSpec, Service, ServiceSpec, Task, TaskStatus, new_id
from pallet.engine.cluster._orchestrator import Orchestrator
from pallet.engine.cluster._plan import constraint_error
from pallet.engine.cluster._store import ClusterStore, NodeView


@dataclass
class ClusterConfig:
    store: str                       # etcd://host:port[,host:port] or http(s)://…
    node_name: str = ""
    advertise_addr: str = ""
    prefix: str = "/pallet/cluster/"
    ttl: int = 5
    labels: dict[str, str] = field(default_factory=dict)
    endpoints: list[str] = field(default_factory=list)  # palletd's -H addresses, announced for the other nodes
    # (ca, cert, key) when palletd runs with --tlsverify ("" for a default file): the client credentials
    # this palletd shows other nodes' tcp:// endpoints (`service logs`); None: plain TCP
    tls: tuple[str, str, str] | None = None


def store_endpoints(url: str) -> list[str]:
    """etcd://h1:2379,h2:2379 → ["http://h1:2379", "http://h2:2379"] (http(s):// kept as given)."""
    if url.startswith("etcd://"):
        return [f"http://{h.strip()}" for h in url[len("etcd://"):].split(",") if h.strip()]
    if url.startswith(("http://", "https://")):
        return [h.strip() for h in url.split(",") if h.strip()]
    raise errors.InvalidArgument(f"invalid --cluster-store {url!r}: use etcd://HOST:PORT[,HOST:PORT...]")


class Cluster:
    def __init__(self, cfg: ClusterConfig, engine: Any) -> None:
        self.cfg = cfg
        self.name = cfg.node_name or socket.gethostname()
        self.etcd = Etcd(store_endpoints(cfg.store), timeout=5)
        self.store = ClusterStore(self.etcd, cfg.prefix)
        self.engine = engine
        self.stop_event = threading.Event()
        self.log = log.get("cluster")
        self._keepalive: KeepAlive | None = None
        self._orchestrator: Orchestrator | None = None
        self._agent: Any = None
        self._lease_lost = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="cluster", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Join: register the node and announce it. Fails (Unavailable) if etcd cannot be reached."""
        try:
            self.store.register_node(NodeSpec(name=self.name, addr=self.cfg.advertise_addr, labels=self.cfg.labels))
            self._join()
        except EtcdError as exc:
            raise errors.Unavailable(f"cannot join the cluster at {self.cfg.store}: {exc}") from None
        from pallet.engine.cluster._agent import Agent

        self._agent = Agent(self.store, self.name, self.engine, self.stop_event)
        self._agent.start()
        self._thread.start()
        self.log.info("joined the cluster", node=self.name, store=self.cfg.store, addr=self.cfg.advertise_addr)

    def _join(self) -> None:
        lease: Lease = self.etcd.lease_grant(self.cfg.ttl)
        self._lease_lost.clear()
        self._keepalive = KeepAlive(self.etcd, lease, on_lost=self._lease_lost.set)
        self._keepalive.start()
        import os

        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        self.store.announce(NodeAlive(name=self.name, addr=self.cfg.advertise_addr, engine_version=__version__,
                                      hostname=socket.gethostname(), ncpu=os.cpu_count() or 0, memory=mem,
                                      endpoints=list(self.cfg.endpoints)), lease.id)
        self._orchestrator = Orchestrator(self.store, self.name, lease.id, self.stop_event)
        self._orchestrator.start()

    def _supervise(self) -> None:
        """Rejoin after a lost lease (etcd away for longer than ttl)."""
        while not self.stop_event.is_set():
            if not self._lease_lost.wait(1.0):
                continue
            self.log.warning("cluster lease lost; rejoining", node=self.name)
            old = self._orchestrator
            if old is not None:
                old.leading = False
            while not self.stop_event.is_set():
                try:
                    self._join()
                    break
                except EtcdError as exc:
                    self.log.warning("rejoin failed", error=str(exc))
                    self.stop_event.wait(1.0)

    def stop(self) -> None:
        self.stop_event.set()
        if self._keepalive is not None:
            self._keepalive.stop()
        self.etcd.close()

    # -- what the API serves ---------------------------------------------------------------

    def leader(self) -> str:
        kv = leader(self.etcd, self.store.key("leader"))
        return kv.value.decode() if kv is not None else ""

    def nodes(self) -> list[NodeView]:
        return self.store.nodes(self.leader())

    def node(self, name: str) -> NodeView:
        view = self.store.node(name)
        view.leader = view.spec.name == self.leader()
        return view

    def node_update(self, name: str, availability: str = "", add_labels: dict[str, str] | None = None,
                    rm_labels: list[str] | None = None) -> NodeSpec:
        if availability and availability not in ("active", "pause", "drain"):
            raise errors.InvalidArgument(f"invalid availability {availability!r}: use active, pause or drain")

        def change(spec: NodeSpec) -> None:
            if availability:
                spec.availability = availability
            spec.labels.update(add_labels or {})
            for k in rm_labels or []:
                spec.labels.pop(k, None)

        return self.store.update_node(name, change)

    def node_remove(self, name: str, force: bool = False) -> None:
        self.store.remove_node(name, force)

    def services(self) -> list[Service]:
        return self.store.services()

    def service(self, ref: str) -> Service:
        return self.store.service(ref)

    def service_create(self, spec: ServiceSpec) -> Service:
        validate(spec)
        self._claim_ports(spec, "")
        spec.image = self.pin_image(spec.image)
        return self.store.create_service(Service(id=new_id(), spec=spec))

    def _claim_ports(self, spec: ServiceSpec, sid: str) -> None:
        """Published ports of the routing mesh are cluster-wide: one service each. A port published
        as 0 gets a free one of 30000-32767, as Docker gives it (kept by later updates)."""
        taken = {(str(p.get("protocol") or "tcp"), int(p.get("published") or 0)): s.spec.name
                 for s in self.store.services() if s.id != sid for p in s.spec.ports
                 if (p.get("mode") or "ingress") == "ingress"}
        for p in spec.ports:
            if (p.get("mode") or "ingress") != "ingress":
                continue
            key = (str(p.get("protocol") or "tcp"), int(p.get("published") or 0))
            if key[1] == 0:
                free = next((n for n in range(30000, 32768) if (key[0], n) not in taken), 0)
                if not free:
                    raise errors.ResourceExhausted("no free port left in 30000-32767 for the routing mesh")
                p["published"], key = free, (key[0], free)
            elif key in taken:
                raise errors.FailedPrecondition(f"port '{key[1]}' is already in use by service '{taken[key]}' "
                                                f"({key[0]}): publish another port")
            taken[key] = spec.name

    def service_update(self, ref: str, change: Callable[[ServiceSpec], None], force: bool = False,
                       expected_version: int = 0) -> Service:
        """A new version of the service's spec (rolled out by the orchestrator). expected_version,
        when given, is the version the caller read: a service changed since is not overwritten."""
        def apply(svc: Service) -> None:
            if expected_version and svc.version != expected_version:
                raise errors.FailedPrecondition(
                    f"update out of sequence: service {svc.spec.name} changed since it was read (version "
                    f"{expected_version}, now {svc.version}); run the command again")
            new = ServiceSpec.from_dict(_plain(svc.spec))
            change(new)
            validate(new)
            for p in new.ports:  # a port the mesh chose stays the service's
                if not int(p.get("published") or 0):
                    old = next((q for q in svc.spec.ports if int(q.get("target", 0)) == int(p.get("target", 0))
                                and q.get("protocol") == p.get("protocol") and q.get("mode") == p.get("mode")), None)
                    if old is not None:
                        p["published"] = old.get("published", 0)
            self._claim_ports(new, svc.id)
            if new.image != svc.spec.image:
                new.image = self.pin_image(new.image)
            if new == svc.spec and not force:
                return
            only_scale = _plain(new) | {"replicas": 0} == _plain(svc.spec) | {"replicas": 0}
            if not only_scale or force:
                svc.previous = svc.spec
                svc.version += 1
                svc.update_state, svc.update_message = "", ""
            svc.spec = new

        return self.store.update_service(ref, apply)

    def service_rollback(self, ref: str) -> Service:
        def apply(svc: Service) -> None:
            if svc.previous is None:
                raise errors.FailedPrecondition(f"service {svc.spec.name} has no previous spec to roll back to")
            svc.spec, svc.previous = svc.previous, svc.spec
            svc.version += 1
            svc.update_state, svc.update_message = "rollback_started", "manually requested rollback"

        return self.store.update_service(ref, apply)

    def service_remove(self, ref: str) -> Service:
        return self.store.remove_service(ref)

    def tasks(self, ref: str = "") -> list[tuple[Task, TaskStatus | None]]:
        sid = self.store.service(ref).id if ref else ""
        return self.store.tasks(sid)

    def client_tls(self) -> Any:
        """The rpc.TLSConfig for other nodes' tcp:// endpoints (palletd's own --tlscacert/--tlscert/
        --tlskey, their defaults as palletd's), or None for plain TCP (palletd without --tlsverify)."""
        if self.cfg.tls is None:
            return None
        import os

        from pallet import rpc
        from pallet.engine._listen import DEFAULT_TLS_DIR

        ca, cert, key = self.cfg.tls
        return rpc.TLSConfig(ca or os.path.join(DEFAULT_TLS_DIR, "ca.pem"),
                             cert or os.path.join(DEFAULT_TLS_DIR, "server-cert.pem"),
                             key or os.path.join(DEFAULT_TLS_DIR, "server-key.pem"))

    def pin_image(self, image: str) -> str:
        """image@sha256:… when the image came from a registry (pulled here if missing): every node
        then runs exactly the image the service was created with."""
        if "@sha256:" in image:
            return image
        import grpc
        from pallet.images.v1 import images_pb2 as ipb
        from pallet.rpc import to_error

        ctx = _Context()

        def inspect() -> Any:
            try:
                return self.engine.images.Inspect(ipb.GetImageRequest(ref=image), ctx)
            except grpc.RpcError as exc:  # imagesvc's errors come through as they are
                raise to_error(exc) from None

        try:
            img = inspect()
        except errors.NotFound:
            try:
                for _ in self.engine.images.Pull(ipb.PullImageRequest(ref=image), ctx):
                    pass
            except (errors.PalletError, grpc.RpcError) as exc:
                err = to_error(exc) if isinstance(exc, grpc.RpcError) else exc
                raise errors.InvalidArgument(f"image {image} could not be found or pulled: {err}") from None
            img = inspect()
        repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        for d in img.repo_digests:
            if d.split("@", 1)[0] in (repo, f"docker.io/library/{repo}", f"docker.io/{repo}"):
                return f"{image}@{d.split('@', 1)[1]}"
        return image  # a local-only image: every node must have it under this name


def validate(spec: ServiceSpec) -> None:
    if not spec.name or not spec.name.replace("-", "").replace("_", "").isalnum():
        raise errors.InvalidArgument(f"invalid service name {spec.name!r}: use letters, digits, - and _")
    if not spec.image:
        raise errors.InvalidArgument("a service needs an image")
    if spec.mode not in ("replicated", "global"):
        raise errors.InvalidArgument(f"invalid mode {spec.mode!r}: use replicated or global")
    if spec.replicas < 0:
        raise errors.InvalidArgument("replicas must be 0 or more")
    for c in spec.constraints:
        err = constraint_error(c)
        if err:
            raise errors.InvalidArgument(err)
    for cfg in (spec.update, spec.rollback):
        if cfg.failure_action not in ("pause", "continue", "rollback"):
            raise errors.InvalidArgument(f"invalid failure action {cfg.failure_action!r}: use pause, continue "
                                         "or rollback")
        if cfg.parallelism < 0:
            raise errors.InvalidArgument("update parallelism must be 0 (all at once) or more")
    if spec.endpoint_mode not in ("vip", "dnsrr"):
        raise errors.InvalidArgument(f"invalid endpoint mode {spec.endpoint_mode!r}: use vip or dnsrr")
    for p in spec.ports:
        if (p.get("mode") or "ingress") not in ("ingress", "host"):
            raise errors.InvalidArgument(f"invalid port mode {p.get('mode')!r}: use ingress or host")
        if spec.endpoint_mode == "dnsrr" and (p.get("mode") or "ingress") == "ingress":
            raise errors.InvalidArgument("port published with ingress mode can't be used with dnsrr mode: publish "
                                         "with mode=host, or use --endpoint-mode vip")
    if spec.restart_condition not in ("any", "on-failure", "none"):
        raise errors.InvalidArgument(f"invalid restart condition {spec.restart_condition!r}: use any, on-failure "
                                     "or none")


def _plain(spec: ServiceSpec) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(spec)


class _Context:
    """The gRPC context the servicers expect, for calls made inside palletd."""

    def is_active(self) -> bool:
        return True

    def add_callback(self, fn: Callable[[], None]) -> bool:
        return True
