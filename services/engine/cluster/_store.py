"""The cluster's records in etcd (layout in pallet.engine.cluster._model), read and written safely.

Records that several daemons may change (a node's spec, a service, a task's desired state) are
written with compare-and-swap on their mod_revision and retried on a lost race; a task's status
has one writer, the node that runs it. Names are unique through a `names/<name>` key created in
the same transaction as the service.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pallet import errors
from pallet.engine.cluster._etcd import KV, Compare, Etcd, Op
from pallet.engine.cluster._model import NodeAlive, NodeSpec, Service, Task, TaskStatus, dump
from pallet.engine.cluster._plan import State

T = TypeVar("T")
_warned: set[str] = set()


def _parse(kv: KV, load: Callable[[bytes], T]) -> T | None:
    """A record, or None (logged once) when it cannot be read: one bad record must not stop
    the orchestrator or a node."""
    try:
        return load(kv.value)
    except (ValueError, KeyError, TypeError) as exc:
        if kv.key not in _warned:
            _warned.add(kv.key)
            from pallet import log

            log.get("cluster").warning("unreadable cluster record skipped", key=kv.key, error=str(exc))
        return None


@dataclass
class NodeView:
    spec: NodeSpec
    alive: NodeAlive | None
    leader: bool = False

    @property
    def state(self) -> str:
        return "ready" if self.alive is not None else "down"


class ClusterStore:
    def __init__(self, etcd: Etcd, prefix: str = "/pallet/cluster/") -> None:
        self.etcd = etcd
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"

    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    # -- nodes --------------------------------------------------------------------------------

    def register_node(self, spec: NodeSpec) -> NodeSpec:
        """The node's spec, created on first join; a rejoin keeps availability and labels."""
        key = self.key("nodes", spec.name)
        while True:
            kv = self.etcd.get(key)
            if kv is not None:
                old = NodeSpec.load(kv.value)
                if old.addr == spec.addr:
                    return old
                old.addr = spec.addr
                if self.etcd.cas_put(key, dump(old), kv.mod_revision):
                    return old
                continue
            if self.etcd.cas_put(key, dump(spec), 0):
                return spec

    def announce(self, alive: NodeAlive, lease: int) -> None:
        self.etcd.put(self.key("alive", alive.name), dump(alive), lease=lease)

    def nodes(self, leader: str = "") -> list[NodeView]:
        specs, _ = self.etcd.get_prefix(self.key("nodes", ""))
        alive = {a.name: a for kv in self.etcd.get_prefix(self.key("alive", ""))[0]
                 if (a := _parse(kv, NodeAlive.load)) is not None}
        out = [NodeView(s, alive.get(s.name), s.name == leader) for kv in specs
               if (s := _parse(kv, NodeSpec.load)) is not None]
        return sorted(out, key=lambda n: n.spec.name)

    def node(self, name: str) -> NodeView:
        for n in self.nodes():
            if n.spec.name == name:
                return n
        raise errors.NotFound(f"node {name} not found")

    def update_node(self, name: str, change: Callable[[NodeSpec], None]) -> NodeSpec:
        return self._cas(self.key("nodes", name), NodeSpec.load, change, f"node {name} not found")

    def remove_node(self, name: str, force: bool = False) -> None:
        view = self.node(name)
        if view.alive is not None and not force:
            raise errors.FailedPrecondition(
                f"node {name} is not down and can't be removed: stop its palletd (or drain it) first, or use --force")
        self.etcd.txn(success=[Op.delete(self.key("nodes", name)), Op.delete(self.key("alive", name))])

    # -- services -----------------------------------------------------------------------------

    def services(self) -> list[Service]:
        return sorted((s for kv in self.etcd.get_prefix(self.key("services", ""))[0]
                       if (s := _parse(kv, Service.load)) is not None), key=lambda s: s.spec.name)

    def service(self, ref: str) -> Service:
        """A service by name, ID or unique ID prefix."""
        svcs = self.services()
        for s in svcs:
            if ref in (s.spec.name, s.id):
                return s
        found = [s for s in svcs if s.id.startswith(ref)] if ref else []
        if len(found) == 1:
            return found[0]
        raise errors.NotFound(f"service {ref} not found")

    def create_service(self, svc: Service) -> Service:
        name_key = self.key("names", svc.spec.name)
        res = self.etcd.txn(compare=[Compare.version(name_key, "=", 0)],
                            success=[Op.put(name_key, svc.id.encode()),
                                     Op.put(self.key("services", svc.id), dump(svc))])
        if not res.succeeded:
            raise errors.AlreadyExists(f"service {svc.spec.name} already exists")
        return svc

    def update_service(self, ref: str, change: Callable[[Service], None]) -> Service:
        svc = self.service(ref)
        key = self.key("services", svc.id)
        while True:
            kv = self.etcd.get(key)
            if kv is None:
                raise errors.NotFound(f"service {ref} not found")
            svc = Service.load(kv.value)
            change(svc)
            svc.updated_at = time.time()
            if self.etcd.cas_put(key, dump(svc), kv.mod_revision):
                return svc

    def put_service_if_unchanged(self, svc: Service, mod_revision: int) -> bool:
        return self.etcd.cas_put(self.key("services", svc.id), dump(svc), mod_revision)

    def remove_service(self, ref: str) -> Service:
        svc = self.service(ref)
        self.etcd.txn(success=[Op.delete(self.key("services", svc.id)), Op.delete(self.key("names", svc.spec.name))])
        return svc

    # -- tasks --------------------------------------------------------------------------------

    def tasks(self, service_id: str = "") -> list[tuple[Task, TaskStatus | None]]:
        statuses = {kv.key.rsplit("/", 1)[1]: st for kv in self.etcd.get_prefix(self.key("status", ""))[0]
                    if (st := _parse(kv, TaskStatus.load)) is not None}
        tasks = [t for kv in self.etcd.get_prefix(self.key("tasks", ""))[0] if (t := _parse(kv, Task.load))]
        return [(t, statuses.get(t.id)) for t in tasks if not service_id or t.service_id == service_id]

    def node_tasks(self, node: str) -> tuple[list[Task], int]:
        kvs, rev = self.etcd.get_prefix(self.key("tasks", ""))
        return [t for kv in kvs if (t := _parse(kv, Task.load)) is not None and t.node == node], rev

    def create_task(self, task: Task) -> bool:
        return self.etcd.cas_put(self.key("tasks", task.id), dump(task), 0)

    def shutdown_task(self, task_id: str) -> None:
        def change(t: Task) -> None:
            t.desired_state = "shutdown"

        with contextlib.suppress(errors.NotFound):  # already forgotten
            self._cas(self.key("tasks", task_id), Task.load, change, "")

    def forget_task(self, task_id: str) -> None:
        self.etcd.txn(success=[Op.delete(self.key("tasks", task_id)), Op.delete(self.key("status", task_id))])

    def set_status(self, task_id: str, status: TaskStatus) -> None:
        self.etcd.put(self.key("status", task_id), dump(status))

    # -- the orchestrator's view ----------------------------------------------------------------

    def load_state(self) -> tuple[State, dict[str, int]]:
        """Everything the planner looks at, from one revision; and each service's mod_revision."""
        kvs, rev = self.etcd.get_prefix(self.prefix)
        st = State()
        service_revs: dict[str, int] = {}
        for kv in kvs:
            kind, _, name = kv.key[len(self.prefix):].partition("/")
            if kind == "nodes" and (node := _parse(kv, NodeSpec.load)) is not None:
                st.nodes[name] = node
            elif kind == "alive":
                st.alive.add(name)
            elif kind == "services" and (svc := _parse(kv, Service.load)) is not None:
                st.services[svc.id] = svc
                service_revs[svc.id] = kv.mod_revision
            elif kind == "tasks" and (t := _parse(kv, Task.load)) is not None:
                st.tasks[t.id] = t
            elif kind == "status" and (status := _parse(kv, TaskStatus.load)) is not None:
                st.statuses[name] = status
        return st, service_revs

    def _cas(self, key: str, load: Callable[[bytes], T], change: Callable[[T], None], missing: str) -> T:
        while True:
            kv: KV | None = self.etcd.get(key)
            if kv is None:
                raise errors.NotFound(missing or f"{key} not found")
            obj = load(kv.value)
            change(obj)
            if self.etcd.cas_put(key, dump(obj), kv.mod_revision):
                return obj

