"""A thin typed client for imagesvc (what palletd uses).

Methods raise pallet.errors (NotFound, InvalidArgument, ...) instead of
grpc.RpcError. The raw stubs stay available as .images, .snapshots, .content
for callers that forward whole requests (the engine's servicer does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import grpc
from pallet import rpc
from pallet.images.v1 import images_pb2 as pb
from pallet.images.v1 import images_pb2_grpc as pb_grpc

P = ParamSpec("P")
R = TypeVar("R")


def _mapped(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as exc:
            raise rpc.to_error(exc) from None

    return call


def _stream(it: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from it
    except grpc.RpcError as exc:
        raise rpc.to_error(exc) from None


class ImagesClient:
    def __init__(self, address: str, timeout: float | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self.channel = rpc.channel(address)
        self.images = pb_grpc.ImagesStub(self.channel)
        self.snapshots = pb_grpc.SnapshotsStub(self.channel)
        self.content = pb_grpc.ContentStub(self.channel)
        self.gc = pb_grpc.GcStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ImagesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- images ----------------------------------------------------------------

    @_mapped
    def get_image(self, ref: str) -> pb.Image:
        return self.images.Get(pb.GetImageRequest(ref=ref), timeout=self.timeout)

    @_mapped
    def list_images(self, filters: Iterable[str] = (), all: bool = False) -> list[pb.Image]:  # noqa: A002
        return list(self.images.List(pb.ListImagesRequest(filters=list(filters), all=all),
                                     timeout=self.timeout).images)

    @_mapped
    def delete_image(self, ref: str, force: bool = False) -> pb.DeleteImageResponse:
        return self.images.Delete(pb.DeleteImageRequest(ref=ref, force=force), timeout=self.timeout)

    @_mapped
    def tag(self, source: str, target: str) -> None:
        self.images.Tag(pb.TagImageRequest(source=source, target=target), timeout=self.timeout)

    @_mapped
    def import_image(self, chunks: Iterable[bytes], ref: str = "", message: str = "",
                     changes: Iterable[str] = (), platform: pb.Platform | None = None) -> pb.Image:
        header = pb.ImportImageHeader(ref=ref, message=message, changes=list(changes), platform=platform)

        def requests() -> Iterator[pb.ImportImageRequest]:
            yield pb.ImportImageRequest(header=header)
            for c in chunks:
                yield pb.ImportImageRequest(chunk=c)

        return self.images.Import(requests()).image

    @_mapped
    def load(self, chunks: Iterable[bytes]) -> pb.LoadImageResponse:
        return self.images.Load(pb.LoadImageRequest(chunk=c) for c in chunks)

    def save(self, refs: Iterable[str]) -> Iterator[bytes]:
        """The tarball's bytes, chunk by chunk (errors raise while iterating)."""
        for chunk in _stream(self.images.Save(pb.SaveImagesRequest(refs=list(refs)))):
            yield chunk.data

    # -- garbage collection and disk usage ----------------------------------------

    @_mapped
    def history(self, ref: str) -> list[pb.HistoryEntry]:
        return list(self.images.History(pb.GetImageRequest(ref=ref), timeout=self.timeout).entries)

    @_mapped
    def collect_garbage(self) -> pb.GarbageCollectResponse:
        return self.gc.Collect(pb.GarbageCollectRequest(), timeout=self.timeout)

    @_mapped
    def disk_usage(self, in_use: Iterable[str] = (), snapshots: Iterable[str] = ()) -> pb.DiskUsageResponse:
        return self.gc.DiskUsage(pb.DiskUsageRequest(in_use=list(in_use), snapshots=list(snapshots)),
                                 timeout=self.timeout)

    @_mapped
    def prune_images(self, filters: Iterable[str] = (), all: bool = False,  # noqa: A002
                     in_use: Iterable[str] = ()) -> pb.PruneImagesResponse:
        return self.gc.PruneImages(pb.PruneImagesRequest(filters=list(filters), all=all, in_use=list(in_use)),
                                   timeout=self.timeout)

    # -- snapshots -------------------------------------------------------------

    @_mapped
    def prepare(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[pb.Mount]:
        return list(self.snapshots.Prepare(pb.PrepareSnapshotRequest(key=key, parent=parent, labels=labels or {}),
                                           timeout=self.timeout).mounts)

    @_mapped
    def view(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[pb.Mount]:
        return list(self.snapshots.View(pb.ViewSnapshotRequest(key=key, parent=parent, labels=labels or {}),
                                        timeout=self.timeout).mounts)

    @_mapped
    def mounts(self, key: str) -> list[pb.Mount]:
        return list(self.snapshots.Mounts(pb.MountsRequest(key=key), timeout=self.timeout).mounts)

    @_mapped
    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None:
        self.snapshots.Commit(pb.CommitSnapshotRequest(name=name, key=key, labels=labels or {}),
                              timeout=self.timeout)

    @_mapped
    def remove_snapshot(self, key: str) -> None:
        self.snapshots.Remove(pb.RemoveSnapshotRequest(key=key), timeout=self.timeout)

    @_mapped
    def stat_snapshot(self, key: str) -> pb.SnapshotInfo:
        return self.snapshots.Stat(pb.StatSnapshotRequest(key=key), timeout=self.timeout)

    @_mapped
    def snapshot_usage(self, key: str) -> pb.SnapshotUsage:
        return self.snapshots.Usage(pb.SnapshotUsageRequest(key=key), timeout=self.timeout)

    # -- content ---------------------------------------------------------------

    @_mapped
    def content_info(self, digest: str) -> pb.ContentInfo:
        return self.content.Info(pb.ContentInfoRequest(digest=digest), timeout=self.timeout)

    def read_content(self, digest: str, offset: int = 0, size: int = 0) -> Iterator[bytes]:
        req = pb.ReadContentRequest(digest=digest, offset=offset, size=size)
        for res in _stream(self.content.Read(req)):
            yield res.data
