"""The pallet.images.v1.Gc servicer: garbage collection, disk usage, image prune."""

from __future__ import annotations

from typing import Any

from pallet.images._backend import Backend
from pallet.images._gc import Collector
from pallet.images._images import ImageService
from pallet.images.v1 import images_pb2 as pb
from pallet.images.v1 import images_pb2_grpc as pb_grpc


class GcServicer(pb_grpc.GcServicer):
    def __init__(self, backend: Backend, images: ImageService) -> None:
        self.images = images
        self.collector = Collector(backend)

    def Collect(self, request: pb.GarbageCollectRequest, context: Any) -> pb.GarbageCollectResponse:
        r = self.collector.collect()
        return pb.GarbageCollectResponse(blobs=r.blobs, snapshots=r.snapshots, bytes=r.bytes)

    def DiskUsage(self, request: pb.DiskUsageRequest, context: Any) -> pb.DiskUsageResponse:
        u = self.collector.disk_usage(list(request.in_use), list(request.snapshots))
        return pb.DiskUsageResponse(
            images=[pb.ImageDiskUsage(id=i.id, size=i.size, shared_size=i.shared_size, unique_size=i.unique_size)
                    for i in u.images],
            images_size=u.images_size, images_reclaimable=u.images_reclaimable, snapshots=u.snapshots,
            build_cache_entries=u.cache_entries, build_cache_size=u.cache_size)

    def PruneImages(self, request: pb.PruneImagesRequest, context: Any) -> pb.PruneImagesResponse:
        pruned, result = self.collector.prune(list(request.filters), request.all, list(request.in_use),
                                              self.images.config)
        for p in pruned:
            for image_id in p.deleted:
                self.images.forget(image_id)
        return pb.PruneImagesResponse(
            images=[pb.DeleteImageResponse(untagged=p.untagged, deleted=p.deleted) for p in pruned],
            space_reclaimed=result.bytes)


def history(images: ImageService, backend: Backend, ref: str) -> pb.ImageHistoryResponse:
    from pallet.images._history import history as build

    rec = images.resolve(ref)
    return pb.ImageHistoryResponse(entries=build(backend, rec, images.config(rec.id)))
