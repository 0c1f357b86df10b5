"""Networks and volumes: /networks/* and /volumes/*, over the same servicers as the gRPC API.

The JSON shapes are the ones palletctl prints for `network inspect`/`volume inspect`
(pallet.client._network.network_json, pallet.client._volumes.volume_json): one definition.
"""

from __future__ import annotations

from typing import Any

from pallet.engine.dockerapi._http import HTTPError, Reply, Request, Router


def _body(req: Request) -> dict[str, Any]:
    doc = req.json(default={})
    if not isinstance(doc, dict):
        raise HTTPError(400, "invalid JSON body: not an object")
    return doc


def _str_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HTTPError(400, f"invalid {what}: not an object")
    return {str(k): str(v) for k, v in value.items()}


def routes(r: Router, s: Any) -> None:
    from pallet.client._network import network_json
    from pallet.client._volumes import volume_json
    from pallet.engine.v1 import engine_pb2 as pb
    from pallet.net.v1 import net_pb2 as npb

    @r.route("POST", "/networks/create")
    def network_create(req: Request) -> Reply:
        body = _body(req)
        name = body.get("Name")
        if not name or not isinstance(name, str):
            raise HTTPError(400, "network name is required")
        ipam = []
        for c in ((body.get("IPAM") or {}).get("Config") or []):
            ipam.append(npb.IPAMConfig(subnet=c.get("Subnet") or "", gateway=c.get("Gateway") or "",
                                       ip_range=c.get("IPRange") or ""))
        n = s.networks.Create(npb.CreateNetworkRequest(
            name=name, driver=body.get("Driver") or "bridge", ipam=ipam, internal=bool(body.get("Internal")),
            enable_ipv6=bool(body.get("EnableIPv6")), options=_str_map(body.get("Options"), "Options"),
            labels=_str_map(body.get("Labels"), "Labels"), check_duplicate=True), req)
        return Reply(201, {"Id": n.id, "Warning": ""})

    @r.route("GET", "/networks")
    def network_list(req: Request) -> Reply:
        nets = s.networks.List(npb.ListNetworksRequest(filters=req.filter_list()), req).networks
        return Reply(200, [network_json(n) for n in nets])

    @r.route("GET", "/networks/(?P<id>[^/]+)")
    def network_inspect(req: Request) -> Reply:
        return Reply(200, network_json(s.networks.Inspect(npb.InspectNetworkRequest(id=req["id"]), req)))

    @r.route("DELETE", "/networks/(?P<id>[^/]+)")
    def network_remove(req: Request) -> Reply:
        s.networks.Remove(npb.RemoveNetworkRequest(id=req["id"]), req)
        return Reply(204)

    @r.route("POST", "/networks/(?P<id>[^/]+)/connect")
    def network_connect(req: Request) -> Reply:
        from pallet.engine.dockerapi._create import endpoint_config, obj

        body = _body(req)
        s.networks.Connect(pb.ConnectNetworkRequest(
            network=req["id"], container=str(body.get("Container") or ""),
            endpoint=endpoint_config(obj(body, "EndpointConfig", ""), "EndpointConfig.")), req)
        return Reply(200)

    @r.route("POST", "/networks/(?P<id>[^/]+)/disconnect")
    def network_disconnect(req: Request) -> Reply:
        body = _body(req)
        s.networks.Disconnect(pb.DisconnectNetworkRequest(network=req["id"], container=str(body.get("Container") or ""),
                                                          force=bool(body.get("Force"))), req)
        return Reply(200)

    @r.route("POST", "/networks/prune")
    def network_prune(req: Request) -> Reply:
        res = s.networks.Prune(npb.PruneNetworksRequest(filters=req.filter_list()), req)
        return Reply(200, {"NetworksDeleted": list(res.deleted)})

    @r.route("POST", "/volumes/create")
    def volume_create(req: Request) -> Reply:
        body = _body(req)
        v = s.volumes.Create(pb.CreateVolumeRequest(
            name=str(body.get("Name") or ""), driver=str(body.get("Driver") or ""),
            labels=_str_map(body.get("Labels"), "Labels"), driver_opts=_str_map(body.get("DriverOpts"), "DriverOpts")),
            req)
        return Reply(201, volume_json(v))

    @r.route("GET", "/volumes")
    def volume_list(req: Request) -> Reply:
        vols = s.volumes.List(pb.ListVolumesRequest(filters=req.filter_list()), req).volumes
        return Reply(200, {"Volumes": [volume_json(v) for v in vols], "Warnings": None})

    @r.route("GET", "/volumes/(?P<name>[^/]+)")
    def volume_inspect(req: Request) -> Reply:
        return Reply(200, volume_json(s.volumes.Inspect(pb.InspectVolumeRequest(name=req["name"]), req)))

    @r.route("DELETE", "/volumes/(?P<name>[^/]+)")
    def volume_remove(req: Request) -> Reply:
        if not req.flag("force"):
            s.volumes.Inspect(pb.InspectVolumeRequest(name=req["name"]), req)  # 404 for a missing one
        s.volumes.Remove(pb.RemoveVolumeRequest(name=req["name"], force=req.flag("force")), req)
        return Reply(204)

    @r.route("POST", "/volumes/prune")
    def volume_prune(req: Request) -> Reply:
        filters = req.filters()
        # API >= 1.42 prunes anonymous volumes only, unless the filter all=true asks for every unused one
        all_ = any(v.lower() in ("1", "true") for v in filters.pop("all", []))
        if req.version and tuple(int(x) for x in req.version.split(".")) < (1, 42):
            all_ = True
        flat = [f"{k}={v}" for k, values in filters.items() for v in values]
        res = s.volumes.Prune(pb.PruneVolumesRequest(filters=flat, all=all_), req)
        return Reply(200, {"VolumesDeleted": list(res.volumes_deleted), "SpaceReclaimed": res.space_reclaimed})
