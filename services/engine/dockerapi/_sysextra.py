"""/events (a stream of Docker-shaped events) and /system/df, over the System servicer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pallet.engine.dockerapi._http import HTTPError, Reply, Request, Router, Stream, json_lines


def event_json(e: Any) -> dict[str, Any]:
    """Docker's events message for a pallet.engine.v1.Event."""
    ns = e.time.ToNanoseconds()
    attrs = dict(e.attributes)
    out: dict[str, Any] = {"Type": e.type, "Action": e.action, "Actor": {"ID": e.id, "Attributes": attrs},
                           "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
    if e.type == "container":  # the pre-1.22 fields that older tools still read
        out = {"status": e.action, "id": e.id, "from": attrs.get("image", ""), **out}
    return out


def _timestamp(text: str, name: str) -> int | None:
    """since/until: unix seconds with an optional fraction, as Docker's CLI sends them."""
    if not text:
        return None
    try:
        sec, _, frac = text.partition(".")
        return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        raise HTTPError(400, f"invalid {name} timestamp {text!r}") from None


def routes(r: Router, s: Any) -> None:
    from pallet.engine.v1 import engine_pb2 as pb

    @r.route("GET", "/events")
    def events(req: Request) -> Stream:
        since, until = _timestamp(req.param("since"), "since"), _timestamp(req.param("until"), "until")
        request = pb.EventsRequest(filters=req.filter_list())
        if since is not None:
            request.since.FromNanoseconds(since)
        if until is not None:
            request.until.FromNanoseconds(until)
        stream = s.system.Events(request, req)

        def chunks() -> Iterator[bytes]:
            for e in stream:
                yield from json_lines([event_json(e)])

        return Stream(chunks(), "application/json")

    @r.route("GET", "/system/df")
    def disk_usage(req: Request) -> Reply:
        from pallet.client._volumes import volume_json
        from pallet.engine.dockerapi._containers import summary_json
        from pallet.engine.dockerapi._images import image_summary

        res = s.system.DiskUsage(pb.DiskUsageRequest(), req)
        images = [{**image_summary(u.image), "Size": u.size, "SharedSize": u.shared_size,
                   "Containers": u.containers} for u in res.images]
        volumes = [{**volume_json(v), "UsageData": {"Size": v.size, "RefCount": len(v.used_by)}}
                   for v in res.volumes]
        cache = []
        if res.build_cache_entries:
            # the builder keeps step results, not BuildKit records: one entry stands for them all
            cache.append({"ID": "pallet-build-cache", "Type": "regular", "InUse": False, "Shared": False,
                          "Size": res.build_cache_size, "UsageCount": int(res.build_cache_entries),
                          "Description": f"{res.build_cache_entries} cached build steps",
                          "CreatedAt": None, "LastUsedAt": None, "Parents": None})
        return Reply(200, {"LayersSize": res.images_size, "Images": images,
                           "Containers": [summary_json(c, size=True) for c in res.containers],
                           "Volumes": volumes, "BuildCache": cache})
