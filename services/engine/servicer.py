"""Thin gRPC servicers over the engine's domain classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from pallet import errors, log
from pallet.engine import _attach, _stats, _top, system
from pallet.engine._archive import ArchiveService
from pallet.engine._exec import ExecManager
from pallet.engine.containers import ContainerManager
from pallet.engine.v1 import engine_pb2 as pb
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc
from pallet.images.v1 import images_pb2 as ipb
from pallet.net.v1 import net_pb2 as npb

_STREAMS = {"stdout": pb.LogEntry.STREAM_STDOUT, "stderr": pb.LogEntry.STREAM_STDERR}


class ContainersServicer(pb_grpc.ContainersServicer):
    def __init__(self, manager: ContainerManager, execs: ExecManager) -> None:
        self.m = manager
        self.execs = execs

    def Create(self, request: pb.CreateContainerRequest, context: Any) -> pb.CreateContainerResponse:
        ctr = self.m.create(request.config, request.name)
        from pallet.engine._resources import create_warnings

        return pb.CreateContainerResponse(id=ctr.id, warnings=create_warnings(ctr.config.host_config))

    def Start(self, request: pb.StartContainerRequest, context: Any) -> pb.StartContainerResponse:
        self.m.start(request.id)
        return pb.StartContainerResponse()

    def Stop(self, request: pb.StopContainerRequest, context: Any) -> pb.StopContainerResponse:
        self.m.stop(request.id, request.timeout if request.HasField("timeout") else None, request.signal)
        return pb.StopContainerResponse()

    def Kill(self, request: pb.KillContainerRequest, context: Any) -> pb.KillContainerResponse:
        self.m.kill(request.id, request.signal)
        return pb.KillContainerResponse()

    def Remove(self, request: pb.RemoveContainerRequest, context: Any) -> pb.RemoveContainerResponse:
        self.m.remove(request.id, request.force, request.volumes)
        return pb.RemoveContainerResponse()

    def Wait(self, request: pb.WaitContainerRequest, context: Any) -> pb.WaitContainerResponse:
        code, err = self.m.wait(request.id, request.condition, alive=context.is_active)
        return pb.WaitContainerResponse(exit_code=code, error=err)

    def List(self, request: pb.ListContainersRequest, context: Any) -> pb.ListContainersResponse:
        containers = self.m.list(request.all, list(request.filters), request.limit)
        if request.size:
            _housekeeping(self.m).fill_sizes(containers)
        return pb.ListContainersResponse(containers=containers)

    def Prune(self, request: pb.PruneRequest, context: Any) -> pb.PruneResponse:
        return _housekeeping(self.m).prune_containers(list(request.filters))

    def Inspect(self, request: pb.InspectContainerRequest, context: Any) -> pb.Container:
        return self.m.inspect(request.id)

    def Update(self, request: pb.UpdateContainerRequest, context: Any) -> pb.UpdateContainerResponse:
        from pallet.engine import _update

        return _update.update(self.m, list(request.ids), request.resources, request.restart_policy)

    def Logs(self, request: pb.LogsRequest, context: Any) -> Iterator[pb.LogEntry]:
        for e in self.m.logs(request, alive=context.is_active):
            entry = pb.LogEntry(stream=_STREAMS.get(e.stream, pb.LogEntry.STREAM_STDOUT), data=e.data)
            entry.time.FromNanoseconds(e.time_ns)
            yield entry


    def Attach(self, request_iterator: Iterator[pb.AttachRequest], context: Any) -> Iterator[pb.AttachResponse]:
        for item in self.m.attach(request_iterator, alive=context.is_active):
            yield _attach_response(item)

    def Resize(self, request: pb.ResizeRequest, context: Any) -> pb.ResizeResponse:
        if request.exec_id:
            rec = self.execs.get(request.exec_id)
            self.m._shim(rec.container_id).resize_pty(request.size.width, request.size.height, exec_id=rec.id)
        else:
            self.m.resize(request.id, request.size.width, request.size.height)
        return pb.ResizeResponse()

    def Pause(self, request: pb.PauseContainerRequest, context: Any) -> pb.PauseContainerResponse:
        self.m.pause(request.id)
        return pb.PauseContainerResponse()

    def Unpause(self, request: pb.UnpauseContainerRequest, context: Any) -> pb.UnpauseContainerResponse:
        self.m.unpause(request.id)
        return pb.UnpauseContainerResponse()

    def Restart(self, request: pb.RestartContainerRequest, context: Any) -> pb.RestartContainerResponse:
        self.m.restart(request.id, request.timeout if request.HasField("timeout") else None)
        return pb.RestartContainerResponse()

    def Rename(self, request: pb.RenameContainerRequest, context: Any) -> pb.RenameContainerResponse:
        self.m.rename(request.id, request.new_name)
        return pb.RenameContainerResponse()

    def ExecCreate(self, request: pb.ExecCreateRequest, context: Any) -> pb.ExecCreateResponse:
        return pb.ExecCreateResponse(id=self.execs.create(request).id)

    def ExecStart(self, request_iterator: Iterator[pb.AttachRequest], context: Any) -> Iterator[pb.AttachResponse]:
        for item in self.execs.start(request_iterator, alive=context.is_active):
            yield _attach_response(item)

    def ExecInspect(self, request: pb.ExecInspectRequest, context: Any) -> pb.ExecInspectResponse:
        return self.execs.inspect(request.id)

    def ArchiveStat(self, request: pb.ArchiveRequest, context: Any) -> pb.PathStat:
        return ArchiveService(self.m).stat(request.id, request.path)

    def ArchiveGet(self, request: pb.ArchiveRequest, context: Any) -> Iterator[pb.ArchiveChunk]:
        return ArchiveService(self.m).get(request.id, request.path)

    def ArchivePut(self, request_iterator: Iterator[pb.ArchivePutRequest], context: Any) -> pb.ArchivePutResponse:
        return ArchiveService(self.m).put_requests(request_iterator)

    def Stats(self, request: pb.StatsRequest, context: Any) -> Iterator[pb.StatsResponse]:
        ctr = self.m.require_live(request.id)
        pid = 0 if ctr.config.network_mode == "host" else ctr.state.pid
        yield from _stats.stream(self.m.cgroups_path(ctr.id), pid, stream=request.stream, id=ctr.id,
                                 name=ctr.name, alive=context.is_active)

    def Top(self, request: pb.TopRequest, context: Any) -> pb.TopResponse:
        ctr = self.m.require_live(request.id)
        return _top.top_pb(_top.cgroup_pids(self.m.cgroups_path(ctr.id)), list(request.ps_args))


def _attach_response(item: Any) -> pb.AttachResponse:
    if item is None:
        return pb.AttachResponse()
    if item == _attach.DETACHED:
        return pb.AttachResponse(detached=True)
    if isinstance(item, tuple):
        return pb.AttachResponse(exit=pb.WaitContainerResponse(exit_code=item[0], error=item[1]))
    entry = pb.LogEntry(stream=_STREAMS.get(item.stream, pb.LogEntry.STREAM_STDOUT), data=item.data)
    entry.time.FromNanoseconds(item.time_ns)
    return pb.AttachResponse(output=entry)


class ImagesServicer(pb_grpc.ImagesServicer):
    """Image calls go to imagesvc; the engine adds what only it knows (containers)."""

    def __init__(self, images: Any, manager: ContainerManager) -> None:
        self.images = images
        self.m = manager

    def List(self, request: ipb.ListImagesRequest, context: Any) -> ipb.ListImagesResponse:
        return self.images.images.List(request)

    def Inspect(self, request: ipb.GetImageRequest, context: Any) -> ipb.Image:
        return self.images.images.Get(request)

    def Remove(self, request: pb.RemoveImageRequest, context: Any) -> ipb.DeleteImageResponse:
        return _housekeeping(self.m).remove_image(request.ref, request.force)

    def History(self, request: ipb.GetImageRequest, context: Any) -> ipb.ImageHistoryResponse:
        return self.images.images.History(request)

    def Prune(self, request: pb.PruneRequest, context: Any) -> pb.PruneResponse:
        return _housekeeping(self.m).prune_images(list(request.filters), request.all)

    def Tag(self, request: ipb.TagImageRequest, context: Any) -> ipb.TagImageResponse:
        res = self.images.images.Tag(request)
        self.m.events.emit("image", "tag", request.source, name=request.target)
        return res

    def Import(self, request_iterator: Iterator[ipb.ImportImageRequest], context: Any) -> ipb.ImportImageResponse:
        res = self.images.images.Import(request_iterator)
        self.m.events.emit("image", "import", res.image.id, name=",".join(res.image.repo_tags))
        return res

    def Load(self, request_iterator: Iterator[ipb.LoadImageRequest], context: Any) -> ipb.LoadImageResponse:
        res = self.images.images.Load(request_iterator)
        for img in res.images:
            self.m.events.emit("image", "load", img.id, name=",".join(img.repo_tags))
        return res

    def Save(self, request: ipb.SaveImagesRequest, context: Any) -> Iterator[ipb.DataChunk]:
        stream = self.images.images.Save(request)
        context.add_callback(stream.cancel)
        yield from stream

    def Pull(self, request: ipb.PullImageRequest, context: Any) -> Iterator[ipb.PullImageResponse]:
        stream = self.images.images.Pull(request)
        context.add_callback(stream.cancel)
        for msg in stream:
            if msg.HasField("image"):
                self.m.events.emit("image", "pull", msg.image.id, name=msg.ref)
            yield msg

    def Push(self, request: ipb.PushImageRequest, context: Any) -> Iterator[ipb.PushImageResponse]:
        stream = self.images.images.Push(request)
        context.add_callback(stream.cancel)
        for msg in stream:
            if msg.digest:
                self.m.events.emit("image", "push", msg.digest, name=request.ref)
            yield msg

    def Login(self, request: ipb.LoginRequest, context: Any) -> ipb.LoginResponse:
        return self.images.images.Login(request)


class SystemServicer(pb_grpc.SystemServicer):
    def __init__(self, info: system.SystemInfo) -> None:
        self.info = info

    def Version(self, request: pb.VersionRequest, context: Any) -> pb.VersionResponse:
        return self.info.version()

    def Info(self, request: pb.InfoRequest, context: Any) -> pb.InfoResponse:
        return self.info.info()

    def Events(self, request: pb.EventsRequest, context: Any) -> Iterator[pb.Event]:
        since = request.since.ToNanoseconds() if request.HasField("since") else 0
        until = request.until.ToNanoseconds() if request.HasField("until") else 0
        for e in self.info.m.events.stream(since, until, list(request.filters), alive=context.is_active):
            ev = pb.Event(type=e.type, action=e.action, id=e.id, attributes=e.attributes)
            ev.time.FromNanoseconds(e.time_ns)
            yield ev

    def DiskUsage(self, request: pb.DiskUsageRequest, context: Any) -> pb.DiskUsageResponse:
        return _housekeeping(self.info.m).disk_usage()


def register(server: grpc.Server, containers: ContainersServicer, images: ImagesServicer,
             system_: SystemServicer, volumes: VolumesServicer | None = None,
             networks: NetworksServicer | None = None, builder: BuilderServicer | None = None) -> None:
    pb_grpc.add_ContainersServicer_to_server(containers, server)
    pb_grpc.add_ImagesServicer_to_server(images, server)
    pb_grpc.add_SystemServicer_to_server(system_, server)
    if volumes is not None:
        pb_grpc.add_VolumesServicer_to_server(volumes, server)
    if networks is not None:
        pb_grpc.add_NetworksServicer_to_server(networks, server)
    pb_grpc.add_BuilderServicer_to_server(builder or BuilderServicer(containers.m), server)


class BuilderServicer(pb_grpc.BuilderServicer):
    """Build: the options, then the context; progress events back. Prune: the build cache."""

    def __init__(self, manager: ContainerManager) -> None:
        self.m = manager
        self._builder: Any = None
        import threading

        self._ready = threading.Event()  # builds wait for the crash cleanup, which must not touch theirs
        threading.Thread(target=self._recover, name="build-recover", daemon=True).start()

    def _recover(self) -> None:
        from pallet import log

        try:
            self._new().recover()
        except Exception:  # noqa: BLE001 - a failed cleanup must not take palletd down
            log.get("builder").exception("build recovery failed")
        finally:
            self._ready.set()

    def _new(self) -> Any:
        if self._builder is None:
            from pallet.engine._build import Builder

            self._builder = Builder(self.m, self.m.images)
        return self._builder

    def _b(self) -> Any:
        self._ready.wait(120)
        return self._new()

    def Build(self, request_iterator: Iterator[pb.BuildRequest], context: Any) -> Iterator[pb.BuildEvent]:
        from pallet import errors

        it = iter(request_iterator)
        first = next(it, None)
        if first is None or first.WhichOneof("part") != "options":
            raise errors.InvalidArgument("the first message of Build must carry its options")

        def chunks() -> Iterator[bytes]:
            for req in it:
                if req.WhichOneof("part") == "context":
                    yield req.context

        yield from self._b().build(first.options, chunks(), context.is_active)

    def Prune(self, request: pb.BuilderPruneRequest, context: Any) -> pb.BuilderPruneResponse:
        res: pb.BuilderPruneResponse = self._b().prune(request)
        return res


class NetworksServicer(pb_grpc.NetworksServicer):
    """Network objects live in netsvc; connect and disconnect go through the container manager.

    In cluster mode, overlay networks are the cluster's (pallet.engine.cluster._overlay): this node's
    OverlayNode sets itself as `overlays`; create, rm, ls and inspect of an overlay network go to it
    (a node shows every overlay network; netsvc has the local part of those its tasks use).
    """

    def __init__(self, manager: ContainerManager) -> None:
        self.m = manager
        self.overlays: Any = None

    def _net(self) -> Any:
        return self.m._net().client

    def netsvc(self) -> Any:
        """netsvc's client (pallet.net.client.NetClient)."""
        return self._net()

    def _overlays(self) -> Any:
        if self.overlays is None:
            raise errors.FailedPrecondition("overlay networks span a cluster: this node is not part of one (start "
                                            "palletd with --cluster-store etcd://HOST:PORT)")
        return self.overlays

    def Create(self, request: npb.CreateNetworkRequest, context: Any) -> npb.Network:
        if request.driver == "overlay":
            net: npb.Network = self._overlays().create(request)
        else:
            net = self._net().call(self._net().networks.Create, request)
        self.m.events.emit("network", "create", net.id, name=net.name, type=net.driver)
        return net

    def _find(self, ref: str) -> npb.Network:
        """A network of this node's netsvc, else (cluster mode) an overlay network of the cluster's."""
        try:
            net: npb.Network = self._net().inspect(ref)
            return net
        except errors.NotFound:
            if self.overlays is None:
                raise
        try:
            found: npb.Network = self.overlays.inspect(ref)
            return found
        except errors.NotFound:
            raise errors.NotFound(f"network {ref} not found") from None

    def Inspect(self, request: npb.InspectNetworkRequest, context: Any) -> npb.Network:
        return self._find(request.id)

    def List(self, request: npb.ListNetworksRequest, context: Any) -> npb.ListNetworksResponse:
        res: npb.ListNetworksResponse = self._net().call(self._net().networks.List, request)
        if self.overlays is not None:
            from pallet.net._filters import matches, parse_filters

            here = {n.id for n in res.networks}
            try:
                cluster = self.overlays.list()
            except errors.Unavailable as exc:
                log.get("engine.network").warning("overlay networks not listed", error=str(exc))
                cluster = []
            f = parse_filters(list(request.filters))
            res.networks.extend(n for n in cluster if n.id not in here and matches(n, f))
        return res

    def Remove(self, request: npb.RemoveNetworkRequest, context: Any) -> npb.RemoveNetworkResponse:
        net = self._find(request.id)
        if net.driver == "overlay" and self.overlays is not None:
            self.overlays.remove(net.id)  # cluster-wide; every node removes its local part
        else:
            self._net().call(self._net().networks.Remove, npb.RemoveNetworkRequest(id=net.id))
        self.m.events.emit("network", "destroy", net.id, name=net.name, type=net.driver)
        return npb.RemoveNetworkResponse()

    def Prune(self, request: npb.PruneNetworksRequest, context: Any) -> npb.PruneNetworksResponse:
        res: npb.PruneNetworksResponse = self._net().call(self._net().networks.Prune, request)
        self.m.events.emit("network", "prune", "", reclaimed="0")
        return res

    def Connect(self, request: pb.ConnectNetworkRequest, context: Any) -> pb.ConnectNetworkResponse:
        self.m.connect(request.network, request.container, request.endpoint)
        return pb.ConnectNetworkResponse()

    def Disconnect(self, request: pb.DisconnectNetworkRequest, context: Any) -> pb.DisconnectNetworkResponse:
        self.m.disconnect(request.network, request.container, request.force)
        return pb.DisconnectNetworkResponse()


class VolumesServicer(pb_grpc.VolumesServicer):
    def __init__(self, manager: ContainerManager) -> None:
        self.m = manager

    def _store(self) -> Any:
        return self.m._volume_store()

    def Create(self, request: pb.CreateVolumeRequest, context: Any) -> pb.Volume:
        vol, new = self._store().create(request.name, dict(request.labels), request.driver,
                                        dict(request.driver_opts))
        if new:
            self.m.events.emit("volume", "create", vol.name, driver="local")
        return vol

    def Inspect(self, request: pb.InspectVolumeRequest, context: Any) -> pb.Volume:
        return self._store().get(request.name)

    def List(self, request: pb.ListVolumesRequest, context: Any) -> pb.ListVolumesResponse:
        return pb.ListVolumesResponse(volumes=self._store().list(list(request.filters)))

    def Remove(self, request: pb.RemoveVolumeRequest, context: Any) -> pb.RemoveVolumeResponse:
        self._store().remove(request.name, request.force)
        return pb.RemoveVolumeResponse()

    def Prune(self, request: pb.PruneVolumesRequest, context: Any) -> pb.PruneVolumesResponse:
        res: pb.PruneVolumesResponse = self._store().prune(list(request.filters), request.all)
        return res


def _housekeeping(manager: ContainerManager) -> Any:
    from pallet.engine._prune import Housekeeping

    return Housekeeping(manager.images, manager)
