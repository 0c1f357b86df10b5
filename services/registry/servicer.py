"""Thin gRPC servicer of pallet.registry.v1.Admin over Storage and GarbageCollector.

It translates messages only; errors are PalletError subclasses that pallet.server's interceptor maps to
status codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from pallet import errors
from pallet.registry.v1 import registry_pb2 as pb
from pallet.registry.v1 import registry_pb2_grpc as pb_grpc

from ._app import MAX_NAME, NAME_RE
from ._gc import GarbageCollector, GCBusy, GCOptions, GCReport
from ._storage import Storage

SERVICE_NAMES = ("pallet.registry.v1.Admin",)


def _ts(t: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(t * 1e9))
    return ts


def _seconds(d: Duration, name: str) -> float:
    s = d.ToNanoseconds() / 1e9
    if s < 0:
        raise errors.InvalidArgument(f"{name} must not be negative")
    return s


def report_pb(r: GCReport) -> pb.GCReport:
    return pb.GCReport(
        dry_run=r.dry_run, started=_ts(r.started), finished=_ts(r.finished),
        blobs=[pb.RemovedBlob(digest=d, size=n) for d, n in r.blobs], blob_bytes=r.blob_bytes,
        manifests=[pb.RemovedManifest(repository=repo, digest=d) for repo, d in r.manifests],
        uploads=[pb.RemovedUpload(repository=repo, uuid=u, size=n) for repo, u, n in r.uploads],
        upload_bytes=r.upload_bytes, links=r.links)


class AdminServicer(pb_grpc.AdminServicer):
    def __init__(self, storage: Storage, gc: GarbageCollector) -> None:
        self.storage, self.gc = storage, gc

    def _repo(self, name: str) -> str:
        if not name or len(name) > MAX_NAME or not NAME_RE.match(name):
            raise errors.InvalidArgument(f"invalid repository name {name!r}")
        if not self.storage.repo_exists(name):
            raise errors.NotFound(f"repository {name} not found")
        return name

    def GarbageCollect(self, request: pb.GarbageCollectRequest, context: Any) -> pb.GarbageCollectResponse:
        d = self.gc.defaults
        opts = GCOptions(
            dry_run=request.dry_run, delete_untagged=request.delete_untagged,
            grace_period=(_seconds(request.grace_period, "grace_period") if request.HasField("grace_period")
                          else d.grace_period),
            upload_max_age=(_seconds(request.upload_max_age, "upload_max_age")
                            if request.HasField("upload_max_age") else d.upload_max_age))
        try:
            return pb.GarbageCollectResponse(report=report_pb(self.gc.run(opts)))
        except GCBusy as e:
            raise errors.FailedPrecondition(str(e)) from None

    def GCStatus(self, request: pb.GCStatusRequest, context: Any) -> pb.GCStatusResponse:
        st = self.gc.status()
        return pb.GCStatusResponse(running=st.running, last=report_pb(st.last) if st.last else None,
                                   last_error=st.last_error or "")

    def Usage(self, request: pb.UsageRequest, context: Any) -> pb.UsageResponse:
        u = self.storage.usage()
        repos = [pb.RepositoryUsage(repository=r.repo, blobs=r.blobs, bytes=r.bytes, manifests=r.manifests,
                                    tags=r.tags) for _, r in sorted(u.repositories.items())]
        return pb.UsageResponse(
            repositories=repos, total_blobs=sum(r.blobs for r in repos), total_bytes=sum(r.bytes for r in repos),
            deduplicated_blobs=u.deduplicated_blobs, deduplicated_bytes=u.deduplicated_bytes,
            stored_blobs=u.stored_blobs, stored_bytes=u.stored_bytes)

    def ListRepositories(self, request: pb.ListRepositoriesRequest, context: Any) -> pb.ListRepositoriesResponse:
        return pb.ListRepositoriesResponse(repositories=self.storage.repositories(None, None))

    def ListTags(self, request: pb.ListTagsRequest, context: Any) -> pb.ListTagsResponse:
        repo = self._repo(request.repository)
        tags = []
        for tag, digest in self.storage.tag_list(repo):
            rec = self.storage.get_manifest(repo, digest)
            tags.append(pb.Tag(name=tag, digest=digest, media_type=rec.media_type if rec else ""))
        return pb.ListTagsResponse(tags=tags)

    def DeleteRepository(self, request: pb.DeleteRepositoryRequest, context: Any) -> pb.DeleteRepositoryResponse:
        n = self.storage.delete_repository(self._repo(request.repository))
        return pb.DeleteRepositoryResponse(tags=n["tags"], manifests=n["manifests"], blob_links=n["repo_blobs"],
                                           uploads=n["uploads"])


def registrations(storage: Storage, gc: GarbageCollector) -> list[tuple[Callable[[Any, Any], None], Any]]:
    return [(pb_grpc.add_AdminServicer_to_server, AdminServicer(storage, gc))]
