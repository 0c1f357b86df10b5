"""Thin gRPC servicers over the backend, the snapshotter and the image service.

They translate messages only; errors are PalletError subclasses that
pallet.rpc's interceptor turns into status codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pallet import errors, reference
from pallet.images import _archive, _import
from pallet.images._backend import Backend
from pallet.images._images import ImageService
from pallet.images._snapshots import Mount, Snapshot
from pallet.images.v1 import images_pb2 as pb
from pallet.images.v1 import images_pb2_grpc as pb_grpc

SERVICE_NAMES = ("pallet.images.v1.Content", "pallet.images.v1.Snapshots", "pallet.images.v1.Images",
                 "pallet.images.v1.Gc", "pallet.images.v1.Builds")
_KINDS = {"view": pb.SnapshotInfo.KIND_VIEW, "active": pb.SnapshotInfo.KIND_ACTIVE,
          "committed": pb.SnapshotInfo.KIND_COMMITTED}


def _ts(ns: int) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromNanoseconds(ns)
    return ts


def _mounts(mounts: list[Mount]) -> list[pb.Mount]:
    return [pb.Mount(type=m.type, source=m.source, options=m.options) for m in mounts]


def _info(s: Snapshot) -> pb.SnapshotInfo:
    return pb.SnapshotInfo(name=s.name, parent=s.parent, kind=_KINDS[s.kind], labels=s.labels,
                           created=_ts(s.created_ns))


class ContentServicer(pb_grpc.ContentServicer):
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def Info(self, request: pb.ContentInfoRequest, context: Any) -> pb.ContentInfo:
        i = self.b.content.info(request.digest)
        return pb.ContentInfo(digest=i.digest, size=i.size, created=_ts(i.created_ns))

    def List(self, request: pb.ListContentRequest, context: Any) -> pb.ListContentResponse:
        digests = []
        for f in request.filters:
            key, sep, value = f.partition("=")
            if key != "digest" or not sep:
                raise errors.InvalidArgument(f"invalid filter '{f}'")
            digests.append(value)
        items = [pb.ContentInfo(digest=i.digest, size=i.size, created=_ts(i.created_ns))
                 for i in self.b.content.list_blobs() if not digests or i.digest in digests]
        return pb.ListContentResponse(items=items)

    def Read(self, request: pb.ReadContentRequest, context: Any) -> Iterator[pb.ReadContentResponse]:
        for offset, data in self.b.content.read(request.digest, request.offset, request.size):
            yield pb.ReadContentResponse(offset=offset, data=data)

    def Delete(self, request: pb.DeleteContentRequest, context: Any) -> pb.DeleteContentResponse:
        from pallet.images._store import blob_ref

        digest = request.digest
        self.b.content.info(digest)
        with self.b.leases.lock:
            if self.b.store.referenced(blob_ref(digest)) or self.b.leases.held(blob_ref(digest)):
                raise errors.FailedPrecondition(f"content {digest} is in use by an image")
            self.b.content.delete(digest)
        return pb.DeleteContentResponse()


class SnapshotsServicer(pb_grpc.SnapshotsServicer):
    def __init__(self, backend: Backend) -> None:
        self.s = backend.snapshots
        self.b = backend

    def Prepare(self, request: pb.PrepareSnapshotRequest, context: Any) -> pb.PrepareSnapshotResponse:
        return pb.PrepareSnapshotResponse(mounts=_mounts(self.s.prepare(request.key, request.parent,
                                                                        dict(request.labels))))

    def View(self, request: pb.ViewSnapshotRequest, context: Any) -> pb.ViewSnapshotResponse:
        return pb.ViewSnapshotResponse(mounts=_mounts(self.s.view(request.key, request.parent, dict(request.labels))))

    def Mounts(self, request: pb.MountsRequest, context: Any) -> pb.MountsResponse:
        return pb.MountsResponse(mounts=_mounts(self.s.mounts(request.key)))

    def Commit(self, request: pb.CommitSnapshotRequest, context: Any) -> pb.CommitSnapshotResponse:
        self.s.commit(request.name, request.key, dict(request.labels))
        return pb.CommitSnapshotResponse()

    def Remove(self, request: pb.RemoveSnapshotRequest, context: Any) -> pb.RemoveSnapshotResponse:
        from pallet.images._store import snapshot_ref

        with self.b.leases.lock:
            if self.b.leases.held(snapshot_ref(request.key)):
                raise errors.FailedPrecondition(f"snapshot {request.key} is in use")
            self.s.remove(request.key)
        return pb.RemoveSnapshotResponse()

    def Stat(self, request: pb.StatSnapshotRequest, context: Any) -> pb.SnapshotInfo:
        return _info(self.s.stat(request.key))

    def List(self, request: pb.ListSnapshotsRequest, context: Any) -> pb.ListSnapshotsResponse:
        return pb.ListSnapshotsResponse(items=[_info(s) for s in self.s.list_snapshots(list(request.filters))])

    def Usage(self, request: pb.SnapshotUsageRequest, context: Any) -> pb.SnapshotUsage:
        size, inodes = self.s.usage(request.key)
        return pb.SnapshotUsage(size=size, inodes=inodes)


class ImagesServicer(pb_grpc.ImagesServicer):
    def __init__(self, backend: Backend, images: ImageService) -> None:
        self.b = backend
        self.images = images

    def List(self, request: pb.ListImagesRequest, context: Any) -> pb.ListImagesResponse:
        return pb.ListImagesResponse(images=self.images.list_images(list(request.filters)))

    def Get(self, request: pb.GetImageRequest, context: Any) -> pb.Image:
        return self.images.get(request.ref)

    def Delete(self, request: pb.DeleteImageRequest, context: Any) -> pb.DeleteImageResponse:
        untagged, deleted = self.images.delete(request.ref, request.force, request.untag_only)
        return pb.DeleteImageResponse(untagged=untagged, deleted=deleted)

    def Tag(self, request: pb.TagImageRequest, context: Any) -> pb.TagImageResponse:
        self.images.tag(request.source, request.target)
        return pb.TagImageResponse()

    def History(self, request: pb.GetImageRequest, context: Any) -> pb.ImageHistoryResponse:
        from pallet.images._gcservice import history

        return history(self.images, self.b, request.ref)

    def Import(self, request_iterator: Iterator[pb.ImportImageRequest], context: Any) -> pb.ImportImageResponse:
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise errors.InvalidArgument("import: the first message must be the header")
        h = first.header
        platform = None
        if h.HasField("platform") and (h.platform.os or h.platform.architecture):
            platform = (h.platform.os, h.platform.architecture, h.platform.variant)

        def chunks() -> Iterator[bytes]:
            for req in request_iterator:
                if req.WhichOneof("part") == "header":
                    raise errors.InvalidArgument("import: header sent twice")
                if req.chunk:
                    yield req.chunk

        rec = _import.import_image(self.b, chunks(), h.ref, h.message, list(h.changes), platform)
        return pb.ImportImageResponse(image=self.images.to_proto(rec))

    def Load(self, request_iterator: Iterator[pb.LoadImageRequest], context: Any) -> pb.LoadImageResponse:
        results = _archive.load(self.b, (r.chunk for r in request_iterator if r.chunk))
        loaded: list[str] = []
        images = []
        for rec, names in results:
            images.append(self.images.to_proto(rec))
            loaded += [reference.familiar(n) for n in names] or [rec.id]
        return pb.LoadImageResponse(loaded=list(dict.fromkeys(loaded)), images=images)

    def Save(self, request: pb.SaveImagesRequest, context: Any) -> Iterator[pb.DataChunk]:
        items = self.images.save_items(list(request.refs))
        for data in _archive.save(self.b, items):
            yield pb.DataChunk(data=data)

    def Pull(self, request: pb.PullImageRequest, context: Any) -> Iterator[pb.PullImageResponse]:
        from pallet.images._pull import pull_stream

        stream = pull_stream(self.b, self.images, request)
        context.add_callback(stream.cancel)
        yield from stream

    def Push(self, request: pb.PushImageRequest, context: Any) -> Iterator[pb.PushImageResponse]:
        from pallet.images._push import push_stream

        stream = push_stream(self.b, self.images, request)
        context.add_callback(stream.cancel)
        yield from stream

    def Login(self, request: pb.LoginRequest, context: Any) -> pb.LoginResponse:
        from pallet.images._registry import login

        return login(request)


def registrations(backend: Backend, images: ImageService) -> list[tuple[Any, Any]]:
    """(add_*_to_server, servicer) pairs for pallet.server.make_server."""
    return [
        (pb_grpc.add_ContentServicer_to_server, ContentServicer(backend)),
        (pb_grpc.add_SnapshotsServicer_to_server, SnapshotsServicer(backend)),
        (pb_grpc.add_ImagesServicer_to_server, ImagesServicer(backend, images)),
        (pb_grpc.add_GcServicer_to_server, _gc_servicer(backend, images)),
        (pb_grpc.add_BuildsServicer_to_server, _builds_servicer(backend, images)),
    ]


def _builds_servicer(backend: Backend, images: ImageService) -> Any:
    from pallet.images._buildservice import BuildsServicer

    return BuildsServicer(backend, images)


def _gc_servicer(backend: Backend, images: ImageService) -> Any:
    from pallet.images._gcservice import GcServicer

    return GcServicer(backend, images)
