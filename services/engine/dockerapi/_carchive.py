"""HEAD/GET/PUT /containers/{id}/archive: `docker cp` over the Archive* RPCs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from pallet.engine.dockerapi._cstreams import go_time
from pallet.engine.dockerapi._http import Reply, Request, Router, Stream
from pallet.engine.v1 import engine_pb2 as pb

STAT_HEADER = "X-Docker-Container-Path-Stat"


def stat_header(st: pb.PathStat) -> str:
    """Docker's base64 JSON {name, size, mode, mtime, linkTarget} of a path in a container."""
    doc = {"name": st.name, "size": st.size, "mode": st.mode,
           "mtime": go_time(st.mtime.ToNanoseconds() if st.HasField("mtime") else 0), "linkTarget": st.link_target}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def routes(r: Router, s: Any) -> None:
    @r.route("GET", r"/containers/(?P<id>[^/]+)/archive")
    def get(req: Request) -> Reply | Stream:
        areq = pb.ArchiveRequest(id=req["id"], path=req.param("path"))
        if req.method == "HEAD":
            st = s.containers.ArchiveStat(areq, req)
            return Reply(200, None, headers={STAT_HEADER: stat_header(st)})
        it = s.containers.ArchiveGet(areq, req)
        first = next(it)  # the path's stat: a missing path is still a 404 here

        def chunks() -> Iterator[bytes]:
            try:
                for chunk in it:
                    yield chunk.data
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()

        return Stream(chunks(), "application/x-tar", headers={STAT_HEADER: stat_header(first.stat)})

    @r.route("PUT", r"/containers/(?P<id>[^/]+)/archive")
    def put(req: Request) -> Reply:
        header = pb.ArchivePutHeader(id=req["id"], path=req.param("path"),
                                     no_overwrite_dir_non_dir=req.flag("noOverwriteDirNonDir"),
                                     copy_uid_gid=req.flag("copyUIDGID"))

        def requests() -> Iterator[pb.ArchivePutRequest]:
            yield pb.ArchivePutRequest(header=header)
            for data in req.body_chunks():
                yield pb.ArchivePutRequest(chunk=data)

        try:
            s.containers.ArchivePut(requests(), req)
        except BaseException:
            req.handler.close_connection = True  # the rest of the body is not read
            raise
        return Reply(200)
