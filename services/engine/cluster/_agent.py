"""The node agent: runs this node's tasks as ordinary containers and reports what it sees.

    agent = Agent(store, "n1", servicers, stop_event)   # palletd's Servicers, called in process
    agent.start()

Each pass (woken by a watch on `tasks/`, by the engine's container events, and at least every
second) lists this node's tasks and the containers labelled as this node's tasks, then:

- a task that should run and has no container: preparing (pull the image if it is missing),
  create the container `<service>.<slot|node>.<task id>` from the service's spec at the task's
  version, starting, start it. A failure before the start rejects the task.
- a task's container is observed: running (with a health check: only once healthy; unhealthy
  fails the task and stops the container), complete (exit 0), failed (`task: non-zero exit (N)`).
  Exited containers stay (task history) until the task is shut down or forgotten.
- a task to shut down: its container is stopped (the stop grace period) and removed; shutdown.
  A task that ended by itself (failed, complete) and was replaced keeps its exited container,
  as history, until the orchestrator forgets the task.
- a container whose task is no longer in etcd (forgotten, or re-assigned while this node was
  down): stopped and removed. That is how a returning node drops its stale tasks.

A task's status has one writer, this agent; it is written only when it changes (the last one
written is kept in memory), and once for every task when the agent starts (the truth may have
changed while palletd was down). A terminal status is final: a task never runs twice.
When etcd is away the agent logs, keeps the containers as they are and tries again every second;
when palletd restarts, containers already running for a task are adopted, not recreated.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from pallet import errors, log, rpc
from pallet.engine.cluster._etcd import EtcdError
from pallet.engine.cluster._loop import run_passes, watch_wakes
from pallet.engine.cluster._model import Service, ServiceSpec, Task, TaskStatus
from pallet.engine.cluster._overlay import INGRESS, OverlayNode
from pallet.engine.cluster._store import ClusterStore
from pallet.engine.v1 import engine_pb2 as pb
from pallet.images.v1 import images_pb2 as ipb
from pallet.net.v1 import net_pb2 as npb

TASK_ID = "com.docker.swarm.task.id"
TASK_NAME = "com.docker.swarm.task.name"
TASK_SLOT = "com.docker.swarm.task.slot"
SERVICE_ID = "com.docker.swarm.service.id"
SERVICE_NAME = "com.docker.swarm.service.name"
NODE_ID = "com.docker.swarm.node.id"

Status = pb.ContainerState.Status
LIVE = (Status.STATUS_RUNNING, Status.STATUS_PAUSED, Status.STATUS_RESTARTING)
WORKERS = 4                 # container operations (pull/create/start, stop/remove) run at once
POLL = 1.0                  # container states change without etcd events: look at least this often
BUILTIN_NETWORKS = ("", "default", "bridge", "host", "none")
GWBRIDGE = "pallet_gwbridge"  # Docker's docker_gwbridge: the way out for tasks on overlay networks only


class _Rejected(Exception):
    """The task cannot be started (bad spec, unknown version, missing bind source...)."""


class _Context:
    """The gRPC context the servicers expect; streams (pull, events) end when the agent stops."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def is_active(self) -> bool:
        return not self._stop.is_set()

    def add_callback(self, fn: Callable[[], None]) -> bool:
        return True


def _same(a: TaskStatus, b: TaskStatus) -> bool:
    return (a.state, a.message, a.container_id, a.exit_code, a.error) == (
        b.state, b.message, b.container_id, b.exit_code, b.error)


def _slot_key(t: Task) -> tuple[str, str]:
    return t.service_id, str(t.slot) if t.slot else t.node


class Agent(threading.Thread):
    def __init__(self, store: ClusterStore, node: str, engine: Any, stop_event: threading.Event) -> None:
        super().__init__(name="cluster-agent", daemon=True)
        self.store = store
        self.etcd = store.etcd
        self.node = node
        self.engine = engine
        self.stop_event = stop_event
        self.ctx = _Context(stop_event)
        self.log = log.get("cluster")
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._written: dict[str, TaskStatus] = {}   # the status last written, per task
        self._known: dict[str, TaskStatus] = {}     # statuses in etcd when the agent started
        self._final: dict[str, TaskStatus] = {}     # terminal statuses: a task that ended stays ended
        self._busy: set[str] = set()                # task (or container) ids with an operation in flight
        self._slots = threading.Semaphore(WORKERS)
        self._networks = threading.Lock()
        self._ports = threading.Lock()              # without the mesh: ingress port choice + create, one at a time
        self._pulls: dict[str, threading.Lock] = {}
        self._loaded = False
        self._bad: set[tuple[str, int]] = set()     # bad records already logged (key, mod_revision)
        self._watch: Any = None
        self.overlay = OverlayNode(store, node, engine, stop_event)  # overlay networks: addresses, local parts

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        self.overlay.start()
        threading.Thread(target=self._watch_tasks, name="cluster-agent-watch", daemon=True).start()
        if getattr(self.engine, "system", None) is not None:
            threading.Thread(target=self._watch_events, name="cluster-agent-events", daemon=True).start()
        # etcd away: containers are left as they are, and the pass is tried again every POLL
        run_passes(self.reconcile, self._wake, self.stop_event, POLL, self.log.bind(node=self.node), "agent")
        w = self._watch
        if w is not None:
            w.close()

    def wake(self) -> None:
        self._wake.set()

    def _watch_tasks(self) -> None:
        """Wake the loop on any change of a task (reconnecting after errors)."""
        watch_wakes(self.etcd, self.store.key("tasks", ""), self._wake, self.stop_event, self.log, "agent",
                    on_watch=lambda w: setattr(self, "_watch", w))

    def _watch_events(self) -> None:
        """Wake the loop when a task container starts, dies, goes away or changes health."""
        req = pb.EventsRequest(filters=["type=container", f"label={NODE_ID}={self.node}"])
        while not self.stop_event.is_set():
            try:
                for ev in self._stream("system", "Events", req):
                    if ev.action in ("start", "die", "destroy") or ev.action.startswith("health_status"):
                        self._wake.set()
            except Exception as exc:  # noqa: BLE001 - only a wake-up source; polling covers for it
                self.log.debug("agent: event stream ended", error=str(exc))
            self.stop_event.wait(1.0)

    # -- one pass ------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Bring this node's containers in line with its tasks once (EtcdError: etcd is away)."""
        tasks = self._load_tasks()
        if not self._loaded:
            self._load_statuses(tasks)
            self._loaded = True
        with self._lock:  # before listing containers: an operation that ends meanwhile is skipped, not misread
            busy = set(self._busy)
        containers = self._task_containers()
        # Old tasks of a slot whose container still runs here: the slot's new task waits for it
        # (swarm's orchestrator waits for the old task to stop; here the agent does, so a host port
        # the old container holds is free when the new one starts).
        stopping = {_slot_key(t) for t in tasks.values() if t.desired_state != "running"
                    and (t.id in busy or any(c.state.status in LIVE for c in containers.get(t.id, [])))}
        for t in sorted(tasks.values(), key=lambda t: (t.desired_state == "running", t.created_at)):
            if t.id in busy:
                continue
            try:
                self._task(t, containers.get(t.id, []), stopping)
            except EtcdError:
                raise
            except Exception:  # noqa: BLE001 - a bad record must not stop the others
                self.log.exception("agent: task skipped", task=t.id)
        for tid, ctrs in containers.items():
            if tid not in tasks and tid not in busy:
                self._submit(tid, self._remove_stale, tid, ctrs)
        with self._lock:
            keep = set(tasks) | self._busy
            for d in (self._written, self._known, self._final):
                for tid in [k for k in d if k not in keep]:
                    del d[tid]

    def _load_tasks(self) -> dict[str, Task]:
        kvs, _ = self.etcd.get_prefix(self.store.key("tasks", ""))
        out: dict[str, Task] = {}
        for kv in kvs:
            try:
                t = Task.load(kv.value)
            except Exception as exc:  # noqa: BLE001
                self._bad_record(kv.key, kv.mod_revision, exc)
                continue
            if t.node == self.node:
                out[t.id] = t
        return out

    def _load_statuses(self, tasks: dict[str, Task]) -> None:
        kvs, _ = self.etcd.get_prefix(self.store.key("status", ""))
        for kv in kvs:
            tid = kv.key.rsplit("/", 1)[1]
            if tid not in tasks:
                continue
            try:
                st = TaskStatus.load(kv.value)
            except Exception as exc:  # noqa: BLE001
                self._bad_record(kv.key, kv.mod_revision, exc)
                continue
            with self._lock:
                self._known[tid] = st
                if st.terminal:
                    self._final[tid] = st

    def _bad_record(self, key: str, rev: int, exc: Exception) -> None:
        if (key, rev) not in self._bad:
            self._bad.add((key, rev))
            self.log.warning("agent: skipping a bad record", key=key, error=f"{type(exc).__name__}: {exc}")

    def _task_containers(self) -> dict[str, list[pb.Container]]:
        res = self._call("containers", "List",
                         pb.ListContainersRequest(all=True, filters=[f"label={NODE_ID}={self.node}"]))
        out: dict[str, list[pb.Container]] = {}
        for c in res.containers:
            tid = c.config.labels.get(TASK_ID, "")
            if tid:
                out.setdefault(tid, []).append(c)
        for ctrs in out.values():  # the live one first, then the newest
            ctrs.sort(key=lambda c: (c.state.status not in LIVE, -c.created.ToNanoseconds()))
        return out

    def _task(self, t: Task, ctrs: list[pb.Container], stopping: set[tuple[str, str]]) -> None:
        with self._lock:
            final = self._final.get(t.id)
            last = self._written.get(t.id) or self._known.get(t.id)
        ctr = ctrs[0] if ctrs else None
        if t.desired_state != "running":
            if not ctrs:
                self._report(t.id, final or TaskStatus("shutdown", "shutdown"))
                return
            if final is None and ctr is not None and ctr.state.status not in LIVE:
                seen = self._observe(ctr)
                if seen is not None and seen.terminal:  # it ended by itself: say so, not "shutdown"
                    self._set_final(t.id, seen)
                    final = seen
            if final is not None and final.state != "shutdown" and all(c.state.status not in LIVE for c in ctrs):
                # ended by itself and replaced: its exited container stays as the task's history
                # (docker ps -a) until the orchestrator forgets the task
                self._report(t.id, final)
                return
            self._submit(t.id, self._shutdown, t, ctrs)
            return
        if final is not None:
            self._report(t.id, final)
            if ctr is not None and ctr.state.status in LIVE:  # ended (unhealthy) but still running
                self._submit(t.id, self._stop, ctr)
            return
        if ctr is None:
            if last is not None and last.state in ("starting", "running"):
                gone = TaskStatus("failed", "task: container removed", container_id=last.container_id,
                                  error="the task's container was removed")
                self._set_final(t.id, gone)
                self._report(t.id, gone)
                return
            if _slot_key(t) in stopping:
                return
            self._submit(t.id, self._launch, t, None)
            return
        seen = self._observe(ctr)
        if seen is None:  # created but never started (palletd stopped in between): start it
            self._submit(t.id, self._launch, t, ctr)
            return
        if seen.terminal:
            self._set_final(t.id, seen)
            if ctr.state.status in LIVE:  # unhealthy: the task failed, its container goes down
                self._submit(t.id, self._stop, ctr)
        self._report(t.id, seen)

    @staticmethod
    def _observe(c: pb.Container) -> TaskStatus | None:
        """The task status a container's state means; None for a container never started."""
        s = c.state
        if s.status == Status.STATUS_CREATED:
            if s.error:
                return TaskStatus("rejected", s.error, container_id=c.id, error=s.error)
            return None
        if s.status in LIVE:
            health = s.health.status if s.HasField("health") else ""
            if health == "unhealthy":
                return TaskStatus("failed", "task: unhealthy container", container_id=c.id,
                                  error="task: unhealthy container")
            if health == "starting":
                return TaskStatus("starting", "starting", container_id=c.id)
            return TaskStatus("running", "started", container_id=c.id)
        code = s.exit_code
        if code == 0 and not s.error:
            return TaskStatus("complete", "finished", container_id=c.id)
        msg = f"task: non-zero exit ({code})"
        return TaskStatus("failed", msg, container_id=c.id, exit_code=code, error=s.error or msg)

    # -- statuses ------------------------------------------------------------------------------

    def _set_final(self, tid: str, st: TaskStatus) -> None:
        with self._lock:
            self._final.setdefault(tid, st)

    def _report(self, tid: str, st: TaskStatus) -> None:
        """Write the task's status if it changed (EtcdError: not written, tried again next pass)."""
        with self._lock:
            last = self._written.get(tid)
            known = self._known.get(tid)
        if last is not None:
            if _same(last, st) or (last.terminal and not st.terminal):
                return
            if last.state == st.state:
                st.timestamp = last.timestamp  # the time the state was entered (restart delays, monitors)
        elif known is not None and known.state == st.state:
            st.timestamp = known.timestamp
        self.store.set_status(tid, st)
        with self._lock:
            self._written[tid] = st
        self.log.info("task status", task=tid, state=st.state, message=st.message)

    def _reject(self, tid: str, why: str, cid: str = "") -> None:
        st = TaskStatus("rejected", why, container_id=cid, error=why)
        self._set_final(tid, st)
        self.log.warning("task rejected", task=tid, error=why)
        try:
            self._report(tid, st)
        except EtcdError as exc:
            self.log.warning("agent: status not written; retrying", task=tid, error=str(exc))

    # -- the engine --------------------------------------------------------------------------------

    def _call(self, service: str, method: str, request: Any) -> Any:
        """A palletd servicer called in process; failures as PalletError (some servicers pass on the
        grpc errors of imagesvc's and netsvc's clients)."""
        try:
            return getattr(getattr(self.engine, service), method)(request, self.ctx)
        except grpc.RpcError as exc:
            raise rpc.to_error(exc) from None

    def _stream(self, service: str, method: str, request: Any) -> Iterator[Any]:
        try:
            yield from getattr(getattr(self.engine, service), method)(request, self.ctx)
        except grpc.RpcError as exc:
            raise rpc.to_error(exc) from None

    # -- operations (in worker threads) ----------------------------------------------------------

    def _submit(self, key: str, fn: Callable[..., bool | None], *args: Any) -> None:
        with self._lock:
            if key in self._busy:
                return
            self._busy.add(key)

        def work() -> None:
            progress = False  # wake the loop to look at the result; not after nothing or a failure (no spinning)
            try:
                with self._slots:
                    if not self.stop_event.is_set():
                        progress = fn(*args) is not False
            except EtcdError as exc:
                self.log.warning("agent: etcd unavailable; will retry", task=key, error=str(exc))
            except Exception:  # noqa: BLE001
                self.log.exception("agent: task operation failed", task=key)
            finally:
                with self._lock:
                    self._busy.discard(key)
                if progress:
                    self._wake.set()

        threading.Thread(target=work, name=f"cluster-task-{key[:12]}", daemon=True).start()

    def _launch(self, t: Task, existing: pb.Container | None) -> bool:
        """Create (unless it exists) and start the task's container; False if there was nothing to do."""
        cid = existing.id if existing is not None else ""
        try:
            if existing is None:
                spec = self._spec(t)
                if spec is None:
                    return False
                self._report(t.id, TaskStatus("preparing", "preparing"))
                self._image(spec.image)
                if not self._wanted(t):
                    return False
                cid = self._create(t, spec)
            self._report(t.id, TaskStatus("starting", "starting", container_id=cid))
            self._call("containers", "Start", pb.StartContainerRequest(id=cid))
            self.log.info("task started", task=t.id, name=t.name, container=cid[:12])
        except EtcdError:
            raise  # tried again on a later pass
        except (_Rejected, errors.PalletError) as exc:
            self._reject(t.id, str(exc), cid)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:  # a spec this agent cannot read
            self.log.exception("agent: cannot run the task's spec", task=t.id)
            self._reject(t.id, f"invalid service spec: {type(exc).__name__}: {exc}", cid)
        return True

    def _spec(self, t: Task) -> ServiceSpec | None:
        """The spec the task runs: its service's at the task's version (None: service gone, or not at
        that version yet)."""
        kv = self.etcd.get(self.store.key("services", t.service_id))
        if kv is None:
            return None  # removed: the orchestrator shuts the task down
        try:
            svc = Service.load(kv.value)
        except Exception as exc:  # noqa: BLE001
            self._bad_record(kv.key, kv.mod_revision, exc)
            return None
        if svc.version == t.version:
            return svc.spec
        if t.version > svc.version:
            return None  # the service's new version is not written yet: a later pass starts the task
        if svc.previous is not None and t.version == svc.version - 1:
            return svc.previous
        raise _Rejected(f"service {svc.spec.name} is at version {svc.version}: the spec of version {t.version} "
                        "this task was created for is no longer known")

    def _wanted(self, t: Task) -> bool:
        kv = self.etcd.get(self.store.key("tasks", t.id))
        return kv is not None and Task.load(kv.value).desired_state == "running"

    def _image(self, ref: str) -> None:
        with self._lock:
            lock = self._pulls.setdefault(ref, threading.Lock())
        with lock:
            try:
                self._call("images", "Inspect", ipb.GetImageRequest(ref=ref))
                return
            except errors.NotFound:
                pass
            self.log.info("agent: pulling image", image=ref)
            try:
                for _ in self._stream("images", "Pull", ipb.PullImageRequest(ref=ref)):
                    pass
            except errors.PalletError as exc:
                raise _Rejected(f"pulling image {ref}: {exc}") from None

    def _network(self, name: str, options: dict[str, str] | None = None) -> None:
        """A network of the service's: created here, a local bridge, if this node has none of that name."""
        with self._networks:
            try:
                self._call("networks", "Inspect", npb.InspectNetworkRequest(id=name))
                return
            except errors.NotFound:
                pass
            try:
                self._call("networks", "Create", npb.CreateNetworkRequest(name=name, driver="bridge",
                                                                          options=options or {}))
                self.log.info("agent: created network", network=name)
            except errors.AlreadyExists:
                pass

    def _create(self, t: Task, spec: ServiceSpec) -> str:
        mesh = self.overlay.has_address()
        cfg = container_config(t, spec, mesh)
        for m in spec.mounts:
            if m.get("type", "volume") == "bind" and not os.path.exists(str(m.get("source", ""))):
                raise _Rejected(f"invalid mount config for type \"bind\": bind source path does not exist: "
                                f"{m.get('source', '')}")
        # {overlay network (or ingress, for the routing mesh): the task's address}, their local parts made
        addrs = self.overlay.prepare(t, spec)
        for net in spec.networks:
            if net not in BUILTIN_NETWORKS and net not in addrs:
                self._network(net)
        if spec.networks and spec.networks[0] in addrs:
            # on an overlay network the service's name comes from the cluster's records (its VIP)
            cfg.endpoint.ipv4_address = addrs[spec.networks[0]]
            del cfg.endpoint.aliases[:]
        have: set[str] = set()  # the networks the container is on already
        with self._ports:
            if not mesh:
                self._share_ingress_ports(t, spec, cfg)
            try:
                cid = str(self._call("containers", "Create", pb.CreateContainerRequest(config=cfg, name=t.name)).id)
            except errors.AlreadyExists:  # created by an attempt that did not get to record it (or connect)
                ctr = self._call("containers", "Inspect", pb.InspectContainerRequest(id=t.name))
                if ctr.config.labels.get(TASK_ID) != t.id:
                    raise
                cid = str(ctr.id)
                have = {ep.network_name for ep in ctr.network_settings.networks}
        # Its other networks; the ingress network (no name there: it only carries published ports);
        # and, when all of them are overlay networks, the local gateway bridge for a way out (a
        # default route, masquerading, and ports published with mode=host).
        extra = [(net, [spec.name] if net not in (*BUILTIN_NETWORKS, *addrs) else []) for net in spec.networks[1:]]
        if INGRESS in addrs and INGRESS not in spec.networks:
            extra.append((INGRESS, []))
        if spec.networks and all(n in addrs for n in spec.networks):
            self._network(GWBRIDGE, {"com.docker.network.bridge.enable_icc": "false"})  # as docker_gwbridge
            extra.append((GWBRIDGE, []))
        for net, aliases in extra:
            if net in have:
                continue
            ep = pb.EndpointConfig(aliases=aliases, ipv4_address=addrs.get(net, ""))
            self._call("networks", "Connect", pb.ConnectNetworkRequest(network=net, container=cid, endpoint=ep))
        self.log.info("task container created", task=t.id, name=t.name, container=cid[:12])
        return cid

    def _share_ingress_ports(self, t: Task, spec: ServiceSpec, cfg: pb.ContainerConfig) -> None:
        """Without the routing mesh (a node without --advertise-addr has no overlay networks), ingress
        ports are published like host ports on the nodes that run a task, but once per node: when
        another live task container of the service here holds the port, this one goes without it,
        so replicas sharing a node don't fail on the port."""
        ingress = {(str(p.get("protocol") or "tcp"), int(p.get("published") or 0)) for p in spec.ports
                   if (p.get("mode") or "ingress") == "ingress" and int(p.get("published") or 0)}
        if not ingress:
            return
        res = self._call("containers", "List", pb.ListContainersRequest(
            all=True, filters=[f"label={NODE_ID}={self.node}", f"label={SERVICE_ID}={t.service_id}"]))
        held = {(b.protocol or "tcp", b.host_port) for c in res.containers
                if c.state.status in (*LIVE, Status.STATUS_CREATED) and c.config.labels.get(TASK_ID) != t.id
                for b in c.config.port_bindings}
        keep = [b for b in cfg.port_bindings if not ((b.protocol or "tcp", b.host_port) in ingress
                                                     and (b.protocol or "tcp", b.host_port) in held)]
        if len(keep) != len(cfg.port_bindings):
            del cfg.port_bindings[:]
            cfg.port_bindings.extend(keep)

    def _stop(self, c: pb.Container) -> None:
        with contextlib.suppress(errors.NotFound):  # its stop timeout is the grace period
            self._call("containers", "Stop", pb.StopContainerRequest(id=c.id))

    def _stop_remove(self, c: pb.Container) -> None:
        self._stop(c)
        with contextlib.suppress(errors.NotFound):
            self._call("containers", "Remove", pb.RemoveContainerRequest(id=c.id, force=True, volumes=True))

    def _shutdown(self, t: Task, ctrs: list[pb.Container]) -> None:
        for c in ctrs:
            self._stop_remove(c)
        self.log.info("task shut down", task=t.id, name=t.name)
        with self._lock:
            final = self._final.get(t.id)
        self._report(t.id, final or TaskStatus("shutdown", "shutdown"))

    def _remove_stale(self, tid: str, ctrs: list[pb.Container]) -> None:
        """Containers of a task that etcd no longer has: forgotten, or moved while this node was away."""
        for c in ctrs:
            self.log.info("removing the container of a task no longer assigned here", task=tid, container=c.id[:12],
                          name=c.name)
            self._stop_remove(c)


def _healthcheck(spec: ServiceSpec) -> ipb.Healthcheck | None:
    """--health-cmd as Docker's Test (["CMD", ...], ["CMD-SHELL", s], ["NONE"]); a single string is a shell
    command, several words an exec form. Interval and retries alone tune the image's HEALTHCHECK."""
    if not (spec.health_cmd or spec.health_interval or spec.health_retries):
        return None
    hc = ipb.Healthcheck()
    cmd = list(spec.health_cmd)
    if cmd:
        if cmd[0] in ("CMD", "CMD-SHELL", "NONE"):
            hc.test.extend(cmd)
        elif len(cmd) == 1:
            hc.test.extend(["CMD-SHELL", cmd[0]])
        else:
            hc.test.extend(["CMD", *cmd])
    if spec.health_interval:
        hc.interval_ns = int(spec.health_interval * 1e9)
    if spec.health_retries:
        hc.retries = spec.health_retries
    return hc


def _mount(m: dict[str, Any]) -> pb.Mount:
    kind = str(m.get("type") or "volume")
    if kind not in ("volume", "bind", "tmpfs"):
        raise _Rejected(f"invalid mount type {kind!r}: use volume, bind or tmpfs")
    if not m.get("target"):
        raise _Rejected("invalid mount config: a mount needs a target")
    out = pb.Mount(type=kind, source=str(m.get("source") or ""), target=str(m["target"]),
                   read_only=bool(m.get("readonly") or m.get("read_only")))
    if kind == "tmpfs":
        out.source = ""
        out.tmpfs_size = int(m.get("tmpfs_size") or 0)
        out.tmpfs_mode = int(m.get("tmpfs_mode") or 0)
    if kind == "bind":
        out.propagation = str(m.get("propagation") or "")
    if kind == "volume":
        out.no_copy = bool(m.get("no_copy") or m.get("volume_nocopy"))
    return out


def container_config(t: Task, spec: ServiceSpec, mesh: bool = False) -> pb.ContainerConfig:
    """The container a task runs as: the spec, swarm's labels, no restart policy (the orchestrator
    replaces tasks that end). mesh: ingress ports go through the routing mesh, not the container."""
    cfg = pb.ContainerConfig(image=spec.image, env=list(spec.env), working_dir=spec.workdir, user=spec.user)
    if spec.command:  # like --entrypoint: the command replaces the image's entrypoint, args are its cmd
        cfg.entrypoint.extend(spec.command)
        cfg.entrypoint_set = True
    cfg.cmd.extend(spec.args)
    labels = dict(spec.container_labels)
    labels.update({TASK_ID: t.id, TASK_NAME: t.name, SERVICE_ID: t.service_id, SERVICE_NAME: t.service_name,
                   NODE_ID: t.node, TASK_SLOT: str(t.slot)})
    cfg.labels.update(labels)
    cfg.stop_timeout = max(0, math.ceil(spec.stop_grace_period))
    hc = _healthcheck(spec)
    if hc is not None:
        cfg.healthcheck.CopyFrom(hc)
    cfg.mounts.extend(_mount(m) for m in spec.mounts)
    for p in spec.ports:
        # mode host: published on the node that runs the task. mode ingress (Docker's default) goes
        # through the routing mesh (the ingress network, see _overlay), on every node: not here; on
        # a node without the mesh, like a host port (see Agent._share_ingress_ports).
        mode = str(p.get("mode") or "ingress")
        if mode not in ("host", "ingress"):
            raise _Rejected(f"invalid port mode {mode!r}: use host or ingress")
        if mesh and mode == "ingress" and int(p.get("published") or 0):
            continue
        cfg.port_bindings.add(protocol=str(p.get("protocol") or "tcp"), container_port=int(p["target"]),
                              host_port=int(p.get("published") or 0))
    if spec.networks:
        # The first network is the container's; the others are connected after the create. On each,
        # the service's name is an alias: the service's replicas on this node resolve by it.
        net = spec.networks[0]
        cfg.network_mode = net
        if net not in BUILTIN_NETWORKS:
            cfg.endpoint.aliases.append(spec.name)
    return cfg
