"""Containers' lifecycle: create, list, inspect, start/stop/kill/restart, pause, wait, remove,
rename, update, prune, top and resize, over the Containers servicer.

The JSON palletctl prints is the JSON served: inspect is pallet.client._inspect.container_json,
the list's Status is palletctl ps's, ports and mounts are palletctl's helpers; the create body is
translated in _create.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from pallet import errors
from pallet.engine.dockerapi._http import HTTPError, Reply, Request, Router, Stream
from pallet.engine.v1 import engine_pb2 as pb

_S = pb.ContainerState
_RUNNING = (_S.STATUS_RUNNING, _S.STATUS_PAUSED, _S.STATUS_RESTARTING)
_CONDITIONS = {"": pb.WaitContainerRequest.CONDITION_NOT_RUNNING,
               "not-running": pb.WaitContainerRequest.CONDITION_NOT_RUNNING,
               "next-exit": pb.WaitContainerRequest.CONDITION_NEXT_EXIT,
               "removed": pb.WaitContainerRequest.CONDITION_REMOVED}
# list filters Docker has and the engine's List does not: applied here, over its answer
_LIST_ONLY_FILTERS = ("before", "since", "network", "volume", "health", "is-task", "publish", "expose")


# --- JSON shapes ------------------------------------------------------------------------------

def summary_json(c: pb.Container, size: bool = False) -> dict[str, Any]:
    """One entry of GET /containers/json (Docker's container summary)."""
    from pallet.client._containers import _status
    from pallet.client._inspect import status_name
    from pallet.client._network import _running_exposed, network_settings_json
    from pallet.client._ports import split_proto
    from pallet.client._volumes import mounts_json

    ports: list[dict[str, Any]] = [
        {"IP": b.host_ip or "0.0.0.0", "PrivatePort": b.container_port, "PublicPort": b.host_port,
         "Type": b.protocol or "tcp"} for b in c.network_settings.ports]
    published = {(p["PrivatePort"], p["Type"]) for p in ports}
    for key in _running_exposed(c):
        port, proto = split_proto(key)
        if port.isdigit() and (int(port), proto) not in published:
            ports.append({"PrivatePort": int(port), "Type": proto})
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": " ".join([c.path, *c.args]),
        "Created": c.created.seconds,
        "Ports": ports,
        "Labels": dict(c.config.labels),
        "State": status_name(c.state.status),
        "Status": _status(c),
        "HostConfig": {"NetworkMode": c.config.network_mode or "bridge"},
        "NetworkSettings": {"Networks": network_settings_json(c)["Networks"]},
        "Mounts": mounts_json(c),
    }
    if size:
        out["SizeRw"] = c.size_rw
        out["SizeRootFs"] = c.size_root_fs
    return out


def wait_json(res: pb.WaitContainerResponse) -> dict[str, Any]:
    return {"StatusCode": res.exit_code, "Error": {"Message": res.error} if res.error else None}


def top_json(res: pb.TopResponse) -> dict[str, Any]:
    return {"Titles": list(res.titles), "Processes": [list(row.fields) for row in res.processes]}


def _exposed_keys(values: list[str]) -> set[str]:
    from pallet.client._ports import expand_expose
    from pallet.engine.dockerapi._create import cli_errors

    with cli_errors():
        return {key for v in values for key in expand_expose(v)}


def _list_filter(filters: dict[str, list[str]], find: Callable[[str], pb.Container]) -> Callable[[pb.Container], bool]:
    """The filters the engine's List lacks (before, since, network, volume, health, is-task,
    publish, expose) as one predicate: values of a key are alternatives, keys all apply."""
    checks: list[Callable[[pb.Container], bool]] = []

    def created_before(t: int) -> Callable[[pb.Container], bool]:
        return lambda c: c.created.ToNanoseconds() < t

    def created_after(t: int) -> Callable[[pb.Container], bool]:
        return lambda c: c.created.ToNanoseconds() > t

    for v in filters.get("before", []):
        checks.append(created_before(find(v).created.ToNanoseconds()))
    for v in filters.get("since", []):
        checks.append(created_after(find(v).created.ToNanoseconds()))
    if "network" in filters:
        nets = filters["network"]
        checks.append(lambda c: any(ep.network_name == v or (v and ep.network_id.startswith(v))
                                    for ep in c.network_settings.networks for v in nets)
                      or (c.config.network_mode or "bridge") in nets)
    if "volume" in filters:
        vols = filters["volume"]
        checks.append(lambda c: any((m.type == "volume" and m.source in vols) or m.target in vols
                                    for m in c.mounts))
    if "health" in filters:
        for v in filters["health"]:
            if v not in ("starting", "healthy", "unhealthy", "none"):
                raise HTTPError(400, f"Unrecognised filter value for health: {v}")
        health = filters["health"]
        checks.append(lambda c: (c.state.health.status or "none") in health)
    if "is-task" in filters:
        want = [v.lower() == "true" for v in filters["is-task"]]
        checks.append(lambda c: False in want)  # no container is a swarm task
    if "publish" in filters:
        keys = _exposed_keys(filters["publish"])
        checks.append(lambda c: any(f"{b.container_port}/{b.protocol or 'tcp'}" in keys
                                    for b in c.network_settings.ports))
    if "expose" in filters:
        keys = _exposed_keys(filters["expose"])
        checks.append(lambda c: any(k in keys for k in c.config.exposed_ports))
    return lambda c: all(check(c) for check in checks)


# --- routes -----------------------------------------------------------------------------------

def routes(r: Router, s: Any) -> None:
    from pallet.engine.dockerapi import _create

    C = "/containers/(?P<id>[^/]+)"

    def inspect(ref: str, req: Request) -> pb.Container:
        c: pb.Container = s.containers.Inspect(pb.InspectContainerRequest(id=ref), req)
        return c

    @r.route("POST", "/containers/create")
    def create(req: Request) -> Reply:
        body = req.json(default=None)
        if body is None:
            raise HTTPError(400, "config cannot be empty in order to create a container")
        plan = _create.create_plan(body, req.param("name"))
        res = s.containers.Create(plan.request, req)
        for net, ep in plan.connect.items():
            try:
                s.networks.Connect(pb.ConnectNetworkRequest(network=net, container=res.id, endpoint=ep), req)
            except Exception:
                with contextlib.suppress(Exception):  # the connect failure is the one to report
                    s.containers.Remove(pb.RemoveContainerRequest(id=res.id, force=True), req)
                raise
        return Reply(201, {"Id": res.id, "Warnings": [*res.warnings, *plan.warnings]})

    @r.route("GET", "/containers/json")
    def list_(req: Request) -> Reply:
        filters = req.filters()
        limit = req.integer("limit", -1) or -1
        size = req.flag("size")
        post = {k: v for k, v in filters.items() if k in _LIST_ONLY_FILTERS}
        res = s.containers.List(pb.ListContainersRequest(
            all=req.flag("all") or limit > 0, filters=req.filter_list(_LIST_ONLY_FILTERS),
            limit=0 if post else max(limit, 0), size=size), req)
        ctrs = list(res.containers)
        if post:
            keep = _list_filter(post, lambda ref: inspect(ref, req))
            ctrs = [c for c in ctrs if keep(c)]
            if limit > 0:
                ctrs = ctrs[:limit]
        return Reply(200, [summary_json(c, size) for c in ctrs])

    @r.route("POST", "/containers/prune")
    def prune(req: Request) -> Reply:
        res = s.containers.Prune(pb.PruneRequest(filters=req.filter_list()), req)
        return Reply(200, {"ContainersDeleted": list(res.containers_deleted) or None,
                           "SpaceReclaimed": res.space_reclaimed})

    @r.route("GET", C + "/json")
    def inspect_(req: Request) -> Reply:
        from pallet.client._inspect import container_json

        c = inspect(req["id"], req)
        doc = container_json(c)
        if req.flag("size"):
            sized = s.containers.List(pb.ListContainersRequest(all=True, filters=[f"id={c.id}"], size=True), req)
            for other in sized.containers:
                if other.id == c.id:
                    doc["SizeRw"], doc["SizeRootFs"] = other.size_rw, other.size_root_fs
        return Reply(200, doc)

    @r.route("POST", C + "/start")
    def start(req: Request) -> Reply:
        c = inspect(req["id"], req)
        if c.state.status == _S.STATUS_PAUSED:
            raise HTTPError(409, "cannot start a paused container, try unpause instead")
        if c.state.status == _S.STATUS_RUNNING:
            return Reply(304)
        s.containers.Start(pb.StartContainerRequest(id=req["id"]), req)
        return Reply(204)

    @r.route("POST", C + "/stop")
    def stop(req: Request) -> Reply:
        c = inspect(req["id"], req)
        if c.state.status not in _RUNNING:
            return Reply(304)
        stop_req = pb.StopContainerRequest(id=req["id"], signal=req.param("signal"))
        timeout = req.integer("t")
        if timeout is not None:
            stop_req.timeout = timeout
        s.containers.Stop(stop_req, req)
        return Reply(204)

    @r.route("POST", C + "/restart")
    def restart(req: Request) -> Reply:
        restart_req = pb.RestartContainerRequest(id=req["id"])
        timeout = req.integer("t")
        if timeout is not None:
            restart_req.timeout = timeout
        s.containers.Restart(restart_req, req)
        return Reply(204)

    @r.route("POST", C + "/kill")
    def kill(req: Request) -> Reply:
        s.containers.Kill(pb.KillContainerRequest(id=req["id"], signal=req.param("signal")), req)
        return Reply(204)

    @r.route("POST", C + "/pause")
    def pause(req: Request) -> Reply:
        s.containers.Pause(pb.PauseContainerRequest(id=req["id"]), req)
        return Reply(204)

    @r.route("POST", C + "/unpause")
    def unpause(req: Request) -> Reply:
        s.containers.Unpause(pb.UnpauseContainerRequest(id=req["id"]), req)
        return Reply(204)

    @r.route("POST", C + "/wait")
    def wait(req: Request) -> Reply | Stream:
        condition = _CONDITIONS.get(req.param("condition"))
        if condition is None:
            raise HTTPError(400, f"invalid condition: {req.param('condition')!r}")
        wait_req = pb.WaitContainerRequest(id=req["id"], condition=condition)
        try:
            wait_req.id = inspect(req["id"], req).id
        except errors.NotFound:
            # gone already (--rm): the engine still knows its last exit by ID, or it is the 404
            return Reply(200, wait_json(s.containers.Wait(wait_req, req)))

        def body() -> Iterator[bytes]:  # the headers go first, as Docker's: the client knows it waits
            yield (json.dumps(wait_json(s.containers.Wait(wait_req, req))) + "\n").encode()

        return Stream(body())

    @r.route("DELETE", C)
    def remove(req: Request) -> Reply:
        if req.flag("link"):
            raise HTTPError(400, "container links are not supported")
        s.containers.Remove(pb.RemoveContainerRequest(id=req["id"], force=req.flag("force"), volumes=req.flag("v")),
                            req)
        return Reply(204)

    @r.route("POST", C + "/rename")
    def rename(req: Request) -> Reply:
        s.containers.Rename(pb.RenameContainerRequest(id=req["id"], new_name=req.param("name")), req)
        return Reply(204)

    @r.route("POST", C + "/update")
    def update(req: Request) -> Reply:
        body = req.json(default={})
        if not isinstance(body, dict):
            raise HTTPError(400, "invalid JSON body: the update config must be an object")
        update_req = pb.UpdateContainerRequest(ids=[req["id"]])
        _create.fill_resources(body, update_req.resources, update=True)
        policy = _create.obj(body, "RestartPolicy")
        update_req.restart_policy.name = _create.string(policy, "Name", "RestartPolicy.")
        update_req.restart_policy.maximum_retry_count = _create.integer(
            policy, "MaximumRetryCount", "RestartPolicy.") or 0
        res = s.containers.Update(update_req, req)
        return Reply(200, {"Warnings": list(res.warnings)})

    @r.route("GET", C + "/top")
    def top(req: Request) -> Reply:
        res = s.containers.Top(pb.TopRequest(id=req["id"], ps_args=req.param("ps_args").split()), req)
        return Reply(200, top_json(res))

    @r.route("POST", C + "/resize")
    def resize(req: Request) -> Reply:
        size = pb.TtySize(width=req.integer("w", 0) or 0, height=req.integer("h", 0) or 0)
        c = inspect(req["id"], req)
        if c.config.tty or c.state.status not in (_S.STATUS_RUNNING, _S.STATUS_PAUSED):
            s.containers.Resize(pb.ResizeRequest(id=req["id"], size=size), req)
        # else: no terminal to resize; Docker (containerd) answers 200 and does nothing
        return Reply(200, b"", "text/plain; charset=utf-8")
