"""The Cluster gRPC service: protobuf in, pallet.engine.cluster.manager.Cluster calls, protobuf out
(a ServiceSpec both ways through _convert)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any

from pallet import errors
from pallet.engine.cluster._convert import spec_from_pb, spec_to_pb
from pallet.engine.cluster._etcd import EtcdError
from pallet.engine.cluster._model import TERMINAL, Service, ServiceSpec, Task, TaskStatus
from pallet.engine.cluster._store import NodeView
from pallet.engine.v1 import engine_pb2 as pb
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

NOT_IN_CLUSTER = "This node is not part of a cluster: start palletd with --cluster-store etcd://HOST:PORT"


# -- records -> protobuf ---------------------------------------------------------------------

def _ts(msg: Any, seconds: float) -> None:
    if seconds:
        msg.FromNanoseconds(int(seconds * 1e9))


def node_to_pb(view: NodeView) -> pb.Node:
    spec, alive = view.spec, view.alive
    out = pb.Node(name=spec.name, addr=spec.addr or (alive.addr if alive else ""), availability=spec.availability,
                  state=view.state, labels=spec.labels, leader=view.leader)
    _ts(out.created, spec.created_at)
    if alive is not None:
        out.engine_version, out.hostname, out.ncpu, out.memory = (alive.engine_version, alive.hostname,
                                                                  alive.ncpu, alive.memory)
        _ts(out.since, alive.since)
    return out


def service_to_pb(svc: Service, tasks: list[tuple[Task, TaskStatus | None]],
                  vips: list[tuple[str, str]] | None = None) -> pb.Service:
    """The service, with `service ls`'s counts: slots (nodes, for global) that run a task, and
    that should; vips: (network id, address/prefix) of its virtual IPs."""
    def where(t: Task) -> str | int:
        return t.node if svc.spec.mode == "global" else t.slot

    mine = [(t, st) for t, st in tasks if t.service_id == svc.id and t.desired_state == "running"]
    running = len({where(t) for t, st in mine if st is not None and st.state == "running"})
    desired = len({t.node for t, _ in mine}) if svc.spec.mode == "global" else svc.spec.replicas
    out = pb.Service(id=svc.id, spec=spec_to_pb(svc.spec), version=svc.version, update_state=svc.update_state,
                     update_message=svc.update_message, desired=desired, running=running,
                     virtual_ips=[pb.VirtualIP(network_id=n, addr=a) for n, a in vips or []])
    if svc.previous is not None:
        out.previous.CopyFrom(spec_to_pb(svc.previous))
    _ts(out.created, svc.created_at)
    _ts(out.updated, svc.updated_at)
    return out


def _task_spec(t: Task, services: dict[str, Service]) -> ServiceSpec | None:
    svc = services.get(t.service_id)
    if svc is None:
        return None
    if t.version == svc.version or svc.previous is None:
        return svc.spec
    return svc.previous


def task_to_pb(t: Task, st: TaskStatus | None, services: dict[str, Service]) -> pb.Task:
    spec = _task_spec(t, services)
    name = f"{t.service_name}.{t.slot if t.slot else t.node}"
    out = pb.Task(id=t.id, name=name, service_id=t.service_id, service=t.service_name, slot=t.slot, node=t.node,
                  version=t.version, image=spec.image if spec else "", desired_state=t.desired_state,
                  state=st.state if st else "assigned")
    if st is not None:
        out.message, out.error, out.exit_code, out.container_id = st.message, st.error, st.exit_code, st.container_id
        _ts(out.timestamp, st.timestamp)
    else:
        _ts(out.timestamp, t.created_at)
    _ts(out.created, t.created_at)
    if spec is not None and st is not None and st.state not in TERMINAL:
        out.ports.extend(p for p in spec_to_pb(spec).ports if p.mode == "host" and p.published)
    return out


# -- the servicer ----------------------------------------------------------------------------

_SPEC_FIELDS = [f.name for f in fields(ServiceSpec)]


class ClusterServicer(pb_grpc.ClusterServicer):
    """cluster: the palletd's Cluster, or None when it runs without --cluster-store."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def _c(self) -> Any:
        if self.cluster is None:
            raise errors.FailedPrecondition(NOT_IN_CLUSTER)
        return self.cluster

    def _call(self, fn: Callable[[], Any]) -> Any:
        """fn's result; etcd's failures as UNAVAILABLE (one clear line, not an internal error)."""
        try:
            return fn()
        except EtcdError as exc:
            raise errors.Unavailable(f"the cluster store is unavailable: {exc}") from None

    def ClusterInfo(self, request: pb.ClusterInfoRequest, context: Any) -> pb.ClusterInfoResponse:
        c = self.cluster
        if c is None:
            return pb.ClusterInfoResponse(member=False)
        try:
            leader = c.leader()
        except EtcdError:
            leader = ""
        return pb.ClusterInfoResponse(member=True, node_name=c.name, node_addr=c.cfg.advertise_addr, leader=leader,
                                      store=c.cfg.store)

    # -- nodes

    def NodeList(self, request: pb.NodeListRequest, context: Any) -> pb.NodeListResponse:
        c = self._c()
        return pb.NodeListResponse(nodes=[node_to_pb(v) for v in self._call(c.nodes)])

    def NodeInspect(self, request: pb.NodeInspectRequest, context: Any) -> pb.Node:
        c = self._c()
        return node_to_pb(self._call(lambda: c.node(request.name)))

    def NodeUpdate(self, request: pb.NodeUpdateRequest, context: Any) -> pb.Node:
        c = self._c()
        self._call(lambda: c.node_update(request.name, request.availability, dict(request.label_add),
                                         list(request.label_rm)))
        return node_to_pb(self._call(lambda: c.node(request.name)))

    def NodeRemove(self, request: pb.NodeRemoveRequest, context: Any) -> pb.NodeRemoveResponse:
        c = self._c()
        self._call(lambda: c.node_remove(request.name, request.force))
        return pb.NodeRemoveResponse()

    # -- services

    def _service_pb(self, svc: Service) -> pb.Service:
        from pallet.engine.cluster._overlay import OverlayStore

        c = self._c()
        return service_to_pb(svc, self._call(lambda: c.store.tasks(svc.id)),
                             self._call(lambda: OverlayStore(c.store).vips(svc.id)))

    def ServiceCreate(self, request: pb.ServiceCreateRequest, context: Any) -> pb.Service:
        c = self._c()
        spec = spec_from_pb(request.spec)
        if not spec.name:
            from pallet.engine._names import random_name

            spec.name = random_name()
        return self._service_pb(self._call(lambda: c.service_create(spec)))

    def ServiceList(self, request: pb.ServiceListRequest, context: Any) -> pb.ServiceListResponse:
        c = self._c()
        services = self._call(c.services)
        tasks = self._call(c.tasks) if services else []
        return pb.ServiceListResponse(services=[service_to_pb(s, tasks) for s in services])

    def ServiceInspect(self, request: pb.ServiceInspectRequest, context: Any) -> pb.Service:
        c = self._c()
        return self._service_pb(self._call(lambda: c.service(request.service)))

    def ServiceUpdate(self, request: pb.ServiceUpdateRequest, context: Any) -> pb.Service:
        c = self._c()
        new = spec_from_pb(request.spec)

        def change(spec: ServiceSpec) -> None:
            if new.name and new.name != spec.name:
                raise errors.InvalidArgument(f"service {spec.name} cannot be renamed to {new.name}")
            for name in _SPEC_FIELDS:
                if name != "name":
                    setattr(spec, name, getattr(new, name))

        return self._service_pb(self._call(lambda: c.service_update(request.service, change, request.force,
                                                                    expected_version=request.version)))

    def ServiceRollback(self, request: pb.ServiceRollbackRequest, context: Any) -> pb.Service:
        c = self._c()
        return self._service_pb(self._call(lambda: c.service_rollback(request.service)))

    def ServiceRemove(self, request: pb.ServiceRemoveRequest, context: Any) -> pb.ServiceRemoveResponse:
        c = self._c()
        svc = self._call(lambda: c.service_remove(request.service))
        return pb.ServiceRemoveResponse(id=svc.id, name=svc.spec.name)

    def ServicePs(self, request: pb.ServicePsRequest, context: Any) -> pb.ServicePsResponse:
        c = self._c()
        services = {s.id: s for s in self._call(c.services)}
        tasks = self._call(lambda: c.tasks(request.service))
        return pb.ServicePsResponse(tasks=[task_to_pb(t, st, services) for t, st in tasks])

    def ServiceLogs(self, request: pb.ServiceLogsRequest, context: Any) -> Iterator[pb.ServiceLogEntry]:
        from pallet.engine.cluster._logs import service_logs

        c = self._c()
        try:
            yield from service_logs(c, request, context)
        except EtcdError as exc:
            raise errors.Unavailable(f"the cluster store is unavailable: {exc}") from None
