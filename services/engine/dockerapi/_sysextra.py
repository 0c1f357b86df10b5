"""/events (a stream of Docker-shaped events) and /system/df, over the System servicer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pallet.engine.dockerapi._http import HTTPError, Request, Router, Stream, json_lines


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
    from pallet.engine.dockerapi._netvol import filter_list
    from pallet.engine.v1 import engine_pb2 as pb

    @r.route("GET", "/events")
    def events(req: Request) -> Stream:
        since, until = _timestamp(req.param("since"), "since"), _timestamp(req.param("until"), "until")
        request = pb.EventsRequest(filters=filter_list(req))
        if since is not None:
            request.since.FromNanoseconds(since)
        if until is not None:
            request.until.FromNanoseconds(until)
        stream = s.system.Events(request, req)

        def chunks() -> Iterator[bytes]:
            for e in stream:
                yield from json_lines([event_json(e)])

        return Stream(chunks(), "application/json")
