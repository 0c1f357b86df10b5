"""Container streams: logs and attach here; exec, stats and archives in _cexec, _cstats, _carchive.

Every handler translates Docker's protocol to the Containers servicer's RPCs (Logs, Attach,
ExecCreate/ExecStart/ExecInspect, Stats, Archive*), called in process with the request (or,
on a hijacked connection, _relay.Context) as the gRPC context.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from pallet.engine.dockerapi import _relay
from pallet.engine.dockerapi._http import Hijack, HTTPError, Request, Router, Stream, frame
from pallet.engine.v1 import engine_pb2 as pb

ZERO_TIME = "0001-01-01T00:00:00Z"


def _utc(ns: int) -> tuple[str, int]:
    secs, frac = divmod(ns, 1_000_000_000)
    return dt.datetime.fromtimestamp(secs, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), frac


def go_time(ns: int) -> str:
    """A time as Go marshals it to JSON (RFC 3339, trailing zeros of the fraction trimmed)."""
    if ns <= 0:
        return ZERO_TIME
    base, frac = _utc(ns)
    return f"{base}.{frac:09d}".rstrip("0").rstrip(".") + "Z"


def log_time(ns: int) -> str:
    """The timestamp `docker logs -t` prefixes (RFC3339NanoFixed: always nine digits)."""
    base, frac = _utc(ns)
    return f"{base}.{frac:09d}Z"


def unix_ns(value: str, name: str) -> int:
    """Docker's since/until: seconds since the epoch with an optional fraction ("1700000000.5")."""
    sec, dot, frac = value.strip().partition(".")
    try:
        ns = int(sec) * 1_000_000_000
        if dot:
            if not frac.isdigit():
                raise ValueError
            ns += int((frac + "0" * 9)[:9])
    except ValueError:
        raise HTTPError(400, f"invalid value for {name}: {value!r}") from None
    return ns


def inspect(s: Any, req: Request, ref: str) -> pb.Container:
    ctr: pb.Container = s.containers.Inspect(pb.InspectContainerRequest(id=ref), req)
    return ctr


def _tail(value: str) -> int:
    if value in ("", "all"):
        return -1
    try:
        return max(int(value), -1)
    except ValueError:
        return -1  # dockerd shows everything for a tail it cannot parse


def log_chunks(entries: Iterator[pb.LogEntry], tty: bool, timestamps: bool) -> Iterator[bytes]:
    try:
        for e in entries:
            data = e.data
            if timestamps:
                data = log_time(e.time.ToNanoseconds()).encode() + b" " + data
            if tty:
                yield data
            else:
                yield frame(2 if e.stream == pb.LogEntry.STREAM_STDERR else 1, data)
    finally:
        close = getattr(entries, "close", None)
        if close is not None:
            close()


def routes(r: Router, s: Any) -> None:
    from pallet.engine.dockerapi import _carchive, _cexec, _cstats

    @r.route("GET", r"/containers/(?P<id>[^/]+)/logs")
    def logs(req: Request) -> Stream:
        out, err = req.flag("stdout"), req.flag("stderr")
        if not (out or err):
            raise HTTPError(400, "Bad parameters: you must choose at least one stream")
        ctr = inspect(s, req, req["id"])
        lreq = pb.LogsRequest(id=ctr.id, follow=req.flag("follow"), tail=_tail(req.param("tail", "all")),
                              stdout=out, stderr=err)
        if req.param("since") not in ("", "0"):
            lreq.since.FromNanoseconds(unix_ns(req.param("since"), "since"))
        if req.param("until") not in ("", "0"):
            lreq.until.FromNanoseconds(unix_ns(req.param("until"), "until"))
        tty = ctr.config.tty
        chunks = log_chunks(s.containers.Logs(lreq, req), tty, req.flag("timestamps"))
        return Stream(chunks, _relay.stream_type(req.version, tty))

    @r.route("POST", r"/containers/(?P<id>[^/]+)/attach")
    def attach(req: Request) -> Hijack:
        ctr = inspect(s, req, req["id"])
        tty = ctr.config.tty
        ctype = _relay.stream_type(req.version, tty)
        out, err = req.flag("stdout"), req.flag("stderr")
        if not req.flag("stream"):
            # the output logged so far, if asked for, and the connection ends
            if not req.flag("logs") or not (out or err):
                return _relay.write_all(iter(()), ctype)
            lreq = pb.LogsRequest(id=ctr.id, tail=-1, stdout=out, stderr=err)
            return _relay.write_all(log_chunks(s.containers.Logs(lreq, req), tty, False), ctype)
        first = pb.AttachRequest(id=ctr.id, stdin=req.flag("stdin"), stdout=out, stderr=err,
                                 logs=req.flag("logs"), detach_keys=req.param("detachKeys"))
        call = _relay.start(s.containers.Attach, first)
        # the servicer clears first.stdin when the container does not keep stdin open
        return _relay.hijack(call, tty=tty, stdin=first.stdin, content_type=ctype)

    _cexec.routes(r, s)
    _cstats.routes(r, s)
    _carchive.routes(r, s)
