"""Swarm routes: /swarm, /nodes, /services, /tasks, over the Cluster servicer, so that `docker node`,
`docker service` and docker-py's swarm calls work against a palletd in cluster mode.

Docker-shaped nodes and services come from pallet.client._cluster_json (what `palletctl node|service
inspect` prints: one definition); a Docker ServiceSpec body is read back by spec_from_docker.
Pallet's cluster is joined with `palletd --cluster-store`, not through the API: /swarm/init, join
and leave answer 503 with what to do instead. A node's ID is its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pallet.engine.dockerapi._http import HTTPError, Reply, Request, Router, Stream, frame

JOIN_HINT = ("Pallet joins a cluster at start: run palletd with --cluster-store etcd://HOST:PORT "
             "--advertise-addr IP (see `palletd --help`)")


# -- a Docker ServiceSpec body -> the model's ServiceSpec ---------------------------------------

def _get(doc: Any, key: str, default: Any = None) -> Any:
    """doc[key], the key matched case-insensitively if not exactly, as Go's encoding/json matches
    struct fields (docker-py sends {"replicated": {"Replicas": 2}})."""
    if not isinstance(doc, dict):
        return default
    if key in doc:
        return doc[key]
    low = key.lower()
    return next((v for k, v in doc.items() if isinstance(k, str) and k.lower() == low), default)


def _obj(doc: Any, key: str) -> dict[str, Any]:
    value = _get(doc, key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HTTPError(400, f"invalid {key}: not an object")
    return value


def _strs(doc: dict[str, Any], key: str) -> list[str]:
    value = _get(doc, key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPError(400, f"invalid {key}: not a list of strings")
    return list(value)


def _secs(doc: dict[str, Any], key: str, default: float) -> float:
    value = _get(doc, key)
    if value is None:
        return default
    if not isinstance(value, int) or value < 0:
        raise HTTPError(400, f"invalid {key}: want nanoseconds")
    return value / 1e9


def _update_cfg(doc: dict[str, Any], default: Any) -> Any:
    from pallet.engine.cluster._model import UpdateConfig

    if not doc:
        return default
    return UpdateConfig(parallelism=int(_get(doc, "Parallelism", default.parallelism)),
                        delay=_secs(doc, "Delay", default.delay),
                        failure_action=str(_get(doc, "FailureAction") or default.failure_action),
                        monitor=_secs(doc, "Monitor", default.monitor),
                        max_failure_ratio=float(_get(doc, "MaxFailureRatio") or 0.0),
                        order=str(_get(doc, "Order") or default.order))


def spec_from_docker(doc: Any) -> Any:
    """A ServiceSpec (pallet.engine.cluster._model) from Docker's JSON. Secrets, configs and
    privileges, which Pallet's cluster mode does not do, are refused; resources, DNS and the other
    fields it has no place for are ignored."""
    from pallet.engine.cluster._model import ServiceSpec

    if not isinstance(doc, dict):
        raise HTTPError(400, "invalid service spec: not an object")
    task, endpoint = _obj(doc, "TaskTemplate"), _obj(doc, "EndpointSpec")
    cs = _obj(task, "ContainerSpec")
    if not _get(cs, "Image"):
        raise HTTPError(400, "ContainerSpec: image must be provided")
    for unsupported in ("Secrets", "Configs", "Privileges", "Isolation"):
        if _get(cs, unsupported):
            raise HTTPError(400, f"ContainerSpec.{unsupported} is not supported by Pallet's cluster mode")
    d = ServiceSpec(name="", image="")
    mode = _obj(doc, "Mode")
    is_global = _get(mode, "Global") is not None
    spec = ServiceSpec(
        name=str(_get(doc, "Name") or ""), image=str(_get(cs, "Image")), command=_strs(cs, "Command"),
        args=_strs(cs, "Args"), env=_strs(cs, "Env"), labels={str(k): str(v) for k, v in _obj(doc, "Labels").items()},
        container_labels={str(k): str(v) for k, v in _obj(cs, "Labels").items()},
        workdir=str(_get(cs, "Dir") or ""), user=str(_get(cs, "User") or ""),
        stop_grace_period=_secs(cs, "StopGracePeriod", d.stop_grace_period),
        mode="global" if is_global else "replicated",
        replicas=1 if is_global else int(_get(_obj(mode, "Replicated"), "Replicas", 1)),
        endpoint_mode=str(_get(endpoint, "Mode") or "vip"),
        update=_update_cfg(_obj(doc, "UpdateConfig"), d.update),
        rollback=_update_cfg(_obj(doc, "RollbackConfig"), d.rollback))
    for m in _get(cs, "Mounts") or []:
        spec.mounts.append({"type": str(_get(m, "Type") or "volume"), "source": str(_get(m, "Source") or ""),
                            "target": str(_get(m, "Target") or ""), "readonly": bool(_get(m, "ReadOnly"))})
    hc = _obj(cs, "Healthcheck")
    if hc:
        spec.health_cmd = _strs(hc, "Test")
        spec.health_interval = _secs(hc, "Interval", 0.0)
        spec.health_retries = int(_get(hc, "Retries") or 0)
    restart = _obj(task, "RestartPolicy")
    spec.restart_condition = str(_get(restart, "Condition") or d.restart_condition)
    spec.restart_delay = _secs(restart, "Delay", d.restart_delay)
    spec.restart_max_attempts = int(_get(restart, "MaxAttempts") or 0)
    spec.constraints = _strs(_obj(task, "Placement"), "Constraints")
    nets = _get(task, "Networks") or _get(doc, "Networks") or []
    spec.networks = [str(_get(n, "Target") or "") for n in nets if isinstance(n, dict) and _get(n, "Target")]
    for p in _get(endpoint, "Ports") or []:
        spec.ports.append({"target": int(_get(p, "TargetPort") or 0),
                           "published": int(_get(p, "PublishedPort") or 0),
                           "protocol": str(_get(p, "Protocol") or "tcp"),
                           "mode": str(_get(p, "PublishMode") or "ingress")})
    return spec


# -- Docker's Task ------------------------------------------------------------------------------

def task_json(t: Any, service: Any) -> dict[str, Any]:
    """A Task (pallet.engine.v1.Task) in Docker's shape; service: its Service message, or None."""
    from pallet.client._cluster_json import spec_json, timestamp_ns
    from pallet.client._inspect import rfc3339

    spec = spec_json(service.spec)["TaskTemplate"] if service is not None else {"ContainerSpec": {"Image": t.image}}
    spec["ContainerSpec"]["Image"] = t.image or spec["ContainerSpec"].get("Image", "")
    status: dict[str, Any] = {"Timestamp": rfc3339(timestamp_ns(t.timestamp)), "State": t.state,
                              "Message": t.message or t.state, "PortStatus": {}}
    if t.error:
        status["Err"] = t.error
    if t.container_id:
        status["ContainerStatus"] = {"ContainerID": t.container_id, "PID": 0, "ExitCode": t.exit_code}
    if t.ports:
        status["PortStatus"] = {"Ports": [{"Protocol": p.protocol, "TargetPort": p.target,
                                           "PublishedPort": p.published, "PublishMode": p.mode} for p in t.ports]}
    out = {"ID": t.id, "Version": {"Index": t.version}, "CreatedAt": rfc3339(timestamp_ns(t.created)),
           "UpdatedAt": rfc3339(timestamp_ns(t.timestamp)), "Labels": {}, "Spec": spec, "ServiceID": t.service_id,
           "NodeID": t.node, "Status": status, "DesiredState": t.desired_state}
    if t.slot:
        out["Slot"] = t.slot
    return out


# -- the swarm ------------------------------------------------------------------------------------

def swarm_json(c: Any, ctx: Any) -> dict[str, Any]:
    """GET /swarm: the cluster as Docker describes a swarm (its ID: the store's address). c: the
    Cluster servicer of a palletd in cluster mode."""
    from pallet.client._cluster_json import timestamp_ns
    from pallet.client._inspect import rfc3339
    from pallet.engine.v1 import engine_pb2 as pb

    i = c.ClusterInfo(pb.ClusterInfoRequest(), ctx)
    nodes = c.NodeList(pb.NodeListRequest(), ctx).nodes
    created = min((timestamp_ns(n.created) for n in nodes), default=0)
    return {"ID": i.store, "Version": {"Index": 1}, "CreatedAt": rfc3339(created), "UpdatedAt": rfc3339(created),
            "Spec": {"Name": "default", "Labels": {},
                     "Orchestration": {"TaskHistoryRetentionLimit": 5},
                     "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                              "ElectionTick": 10, "HeartbeatTick": 1},
                     "Dispatcher": {"HeartbeatPeriod": 5_000_000_000},
                     "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000},
                     "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": False}},
            "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
            "RootRotationInProgress": False, "DefaultAddrPool": ["10.0.0.0/8"], "SubnetSize": 24,
            "DataPathPort": 4789, "JoinTokens": {"Worker": "", "Manager": ""}}


def cluster_info(c: Any, ctx: Any) -> dict[str, Any]:
    """/info's Swarm section for a palletd in cluster mode (every node manages)."""
    from pallet.engine.v1 import engine_pb2 as pb

    i = c.ClusterInfo(pb.ClusterInfoRequest(), ctx)
    nodes = c.NodeList(pb.NodeListRequest(), ctx).nodes
    return {"NodeID": i.node_name, "NodeAddr": i.node_addr, "LocalNodeState": "active", "ControlAvailable": True,
            "Error": "", "RemoteManagers": [{"NodeID": n.name, "Addr": n.addr} for n in nodes if n.state == "ready"],
            "Nodes": len(nodes), "Managers": len(nodes), "Cluster": swarm_json(c, ctx)}


# -- filters ------------------------------------------------------------------------------------

def _labels_match(labels: Any, wanted: list[str]) -> bool:
    for w in wanted:
        k, sep, v = w.partition("=")
        if k not in labels or (sep and labels[k] != v):
            return False
    return True


def _one_of(f: dict[str, list[str]], allowed: tuple[str, ...], values: dict[str, Any]) -> bool:
    """Every filter key given holds: one of its values equals the object's (a str), is a prefix of
    it (a tuple of str: IDs and names), or, for labels (a mapping), all of them hold."""
    for key, wanted in f.items():
        if key not in allowed:
            raise HTTPError(400, f"invalid filter '{key}'")
        have = values.get(key)
        if isinstance(have, tuple):
            ok = any(h.startswith(w) for w in wanted for h in have)
        elif isinstance(have, str):
            ok = have in wanted
        elif have is None:
            ok = True  # a filter Docker knows that does not apply here (_up-to-date)
        else:
            ok = _labels_match(have, wanted)
        if not ok:
            return False
    return True


# -- the routes ---------------------------------------------------------------------------------

def routes(r: Router, s: Any) -> None:
    from pallet.client._cluster_json import node_json, service_json, timestamp_ns
    from pallet.engine.v1 import engine_pb2 as pb

    def cluster(req: Request) -> Any:
        if s.cluster is None or s.cluster.cluster is None:
            raise HTTPError(503, "This node is not a swarm manager. " + JOIN_HINT)
        return s.cluster

    @r.route("GET", "/swarm")
    def swarm_inspect(req: Request) -> Reply:
        return Reply(200, swarm_json(cluster(req), req))

    for what in ("init", "join", "leave", "update", "unlock"):
        @r.route("POST", f"/swarm/{what}")
        def swarm_change(req: Request) -> Reply:
            raise HTTPError(503, JOIN_HINT)

    # -- nodes

    @r.route("GET", "/nodes")
    def node_list(req: Request) -> Reply:
        nodes = cluster(req).NodeList(pb.NodeListRequest(), req).nodes
        out = []
        f = req.filters()
        for n in nodes:
            if _one_of(f, ("id", "name", "label", "node.label", "membership", "role"), {
                    "id": (n.name,), "name": n.name, "label": n.labels, "node.label": n.labels,
                    "membership": "accepted", "role": "manager"}):
                out.append(node_json(n))
        return Reply(200, out)

    @r.route("GET", "/nodes/(?P<id>[^/]+)")
    def node_inspect(req: Request) -> Reply:
        return Reply(200, node_json(cluster(req).NodeInspect(pb.NodeInspectRequest(name=req["id"]), req)))

    @r.route("POST", "/nodes/(?P<id>[^/]+)/update")
    def node_update(req: Request) -> Reply:
        body = req.json(default={})
        if not isinstance(body, dict):
            raise HTTPError(400, "invalid node spec: not an object")
        c = cluster(req)
        current = c.NodeInspect(pb.NodeInspectRequest(name=req["id"]), req)
        want = {str(k): str(v) for k, v in _obj(body, "Labels").items()}
        if _get(body, "Role") not in (None, "", "manager"):
            raise HTTPError(400, "every Pallet node is a manager: the role cannot be changed")
        c.NodeUpdate(pb.NodeUpdateRequest(
            name=current.name, availability=str(_get(body, "Availability") or ""), label_add=want,
            label_rm=[k for k in current.labels if k not in want]), req)
        return Reply(200)

    @r.route("DELETE", "/nodes/(?P<id>[^/]+)")
    def node_remove(req: Request) -> Reply:
        cluster(req).NodeRemove(pb.NodeRemoveRequest(name=req["id"], force=req.flag("force")), req)
        return Reply(200)

    # -- services

    def service_doc(svc: Any) -> dict[str, Any]:
        doc = service_json(svc)
        if doc["Spec"]["EndpointSpec"].get("Mode") == "dnsrr":
            doc["Endpoint"].pop("VirtualIPs", None)
        return doc

    @r.route("GET", "/services")
    def service_list(req: Request) -> Reply:
        services = cluster(req).ServiceList(pb.ServiceListRequest(), req).services
        out = []
        f = req.filters()
        for svc in services:
            if _one_of(f, ("id", "name", "label", "mode"), {
                    "id": (svc.id,), "name": (svc.spec.name,), "label": svc.spec.labels,
                    "mode": svc.spec.mode or "replicated"}):
                out.append(service_doc(svc))
        if not req.flag("status"):
            for doc in out:
                doc.pop("ServiceStatus", None)
        return Reply(200, out)

    @r.route("GET", "/services/(?P<id>[^/]+)")
    def service_inspect(req: Request) -> Reply:
        return Reply(200, service_doc(cluster(req).ServiceInspect(pb.ServiceInspectRequest(service=req["id"]), req)))

    @r.route("POST", "/services/create")
    def service_create(req: Request) -> Reply:
        from pallet.engine.cluster._convert import spec_to_pb

        spec = spec_from_docker(req.json(default={}))
        svc = cluster(req).ServiceCreate(pb.ServiceCreateRequest(spec=spec_to_pb(spec)), req)
        return Reply(201, {"ID": svc.id, "Warnings": None})

    @r.route("POST", "/services/(?P<id>[^/]+)/update")
    def service_update(req: Request) -> Reply:
        from pallet.engine.cluster._convert import spec_to_pb

        c = cluster(req)
        if req.param("rollback") == "previous":
            c.ServiceRollback(pb.ServiceRollbackRequest(service=req["id"]), req)
            return Reply(200, {"Warnings": None})
        body = req.json(default={})
        spec = spec_from_docker(body)
        force = int(_get(_obj(body, "TaskTemplate"), "ForceUpdate") or 0) > 0
        c.ServiceUpdate(pb.ServiceUpdateRequest(service=req["id"], spec=spec_to_pb(spec), force=force,
                                                version=req.integer("version", 0) or 0), req)
        return Reply(200, {"Warnings": None})

    @r.route("DELETE", "/services/(?P<id>[^/]+)")
    def service_remove(req: Request) -> Reply:
        cluster(req).ServiceRemove(pb.ServiceRemoveRequest(service=req["id"]), req)
        return Reply(200)

    @r.route("GET", "/services/(?P<id>[^/]+)/logs")
    def service_logs(req: Request) -> Stream:
        from pallet.engine.dockerapi._cstreams import log_time

        if not (req.flag("stdout") or req.flag("stderr")):
            raise HTTPError(400, "Bad parameters: you must choose at least one stream")
        tail = req.param("tail")
        logs = pb.ServiceLogsRequest(service=req["id"], follow=req.flag("follow"), timestamps=req.flag("timestamps"))
        if tail not in ("", "all"):
            try:
                logs.tail = int(tail)
            except ValueError:
                raise HTTPError(400, f"invalid value for tail: {tail!r}") from None
        c = cluster(req)
        svc_id = c.ServiceInspect(pb.ServiceInspectRequest(service=req["id"]), req).id
        entries = c.ServiceLogs(logs, req)
        stream = pb.LogEntry.Stream
        wanted = {stream.STREAM_STDOUT: req.flag("stdout"), stream.STREAM_STDERR: req.flag("stderr")}
        details, stamps = req.flag("details"), req.flag("timestamps")

        def chunks() -> Iterator[bytes]:
            for e in entries:
                if not e.task_id or not wanted.get(e.stream, False):
                    continue
                prefix = b""
                if stamps:
                    prefix += log_time(timestamp_ns(e.time)).encode() + b" "
                if details:  # what `docker service logs` reads to name the task and node
                    prefix += (f"com.docker.swarm.node.id={e.node},com.docker.swarm.service.id={svc_id},"
                               f"com.docker.swarm.task.id={e.task_id} ").encode()
                yield frame(2 if e.stream == stream.STREAM_STDERR else 1, prefix + e.data)

        return Stream(chunks(), "application/vnd.docker.multiplexed-stream")

    # -- tasks

    def tasks_of(req: Request) -> list[dict[str, Any]]:
        c = cluster(req)
        services = {svc.id: svc for svc in c.ServiceList(pb.ServiceListRequest(), req).services}
        f = req.filters()
        out = []
        for t in c.ServicePs(pb.ServicePsRequest(), req).tasks:
            svc = services.get(t.service_id)
            if _one_of(f, ("id", "name", "service", "node", "desired-state", "label", "_up-to-date"), {
                    "id": (t.id,), "name": (t.name,), "service": (t.service_id, *((svc.spec.name,) if svc else ())),
                    "node": t.node, "desired-state": t.desired_state, "label": {}}):
                out.append(task_json(t, svc))
        return out

    @r.route("GET", "/tasks")
    def task_list(req: Request) -> Reply:
        return Reply(200, tasks_of(req))

    @r.route("GET", "/tasks/(?P<id>[^/]+)")
    def task_inspect(req: Request) -> Reply:
        found = [t for t in tasks_of(req) if t["ID"] == req["id"] or t["ID"].startswith(req["id"])]
        if len(found) != 1:
            raise HTTPError(404, f"task {req['id']} not found")
        return Reply(200, found[0])
