"""The pallet.images.v1.Builds servicer: layers from build snapshots, images, the build cache."""

from __future__ import annotations

import time
from typing import Any

from pallet import reference
from pallet.images._backend import Backend
from pallet.images._build import BuildSupport
from pallet.images._gc import Collector
from pallet.images._images import ImageService
from pallet.images.v1 import images_pb2 as pb
from pallet.images.v1 import images_pb2_grpc as pb_grpc


class BuildsServicer(pb_grpc.BuildsServicer):
    def __init__(self, backend: Backend, images: ImageService) -> None:
        self.support = BuildSupport(backend)
        self.images = images
        self.collector = Collector(backend)

    def CommitLayer(self, request: pb.CommitLayerRequest, context: Any) -> pb.LayerInfo:
        entry = None
        if request.HasField("cache"):
            entry = pb.CacheEntry()
            entry.CopyFrom(request.cache)
        return self.support.commit_layer(request, entry)

    def CreateImage(self, request: pb.CreateImageRequest, context: Any) -> pb.Image:
        names = [str(reference.parse_tag_target(n)) for n in request.names]
        rec = self.support.create_image(request, names)
        return self.images.to_proto(rec)

    def CacheGet(self, request: pb.CacheGetRequest, context: Any) -> pb.CacheEntry:
        return self.support.cache_get(request.key)

    def CachePut(self, request: pb.CacheEntry, context: Any) -> pb.CachePutResponse:
        self.support.cache_put(request)
        return pb.CachePutResponse()

    def CachePrune(self, request: pb.CachePruneRequest, context: Any) -> pb.CachePruneResponse:
        entries, _refs = self.support.prune(request.all, request.keep_recent_seconds, time.time_ns())
        result = self.collector.collect()
        return pb.CachePruneResponse(entries=entries, bytes=result.bytes)
