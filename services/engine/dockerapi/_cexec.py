"""Exec: POST /containers/{id}/exec, POST /exec/{id}/start|resize, GET /exec/{id}/json."""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pallet import errors
from pallet.engine.dockerapi import _relay
from pallet.engine.dockerapi._http import Hijack, HTTPError, Reply, Request, Router
from pallet.engine.v1 import engine_pb2 as pb


@dataclass
class _Options:
    """What Docker's exec inspect reports and ExecInspectResponse does not carry."""

    user: str = ""
    privileged: bool = False
    stdout: bool = True
    stderr: bool = True
    detach_keys: str = ""


class _Remembered:
    """The options of recent execs created through this API (bounded, like the engine's records)."""

    def __init__(self, size: int = 1024) -> None:
        self._items: OrderedDict[str, _Options] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, exec_id: str, opts: _Options) -> None:
        with self._lock:
            self._items[exec_id] = opts
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, exec_id: str) -> _Options:
        with self._lock:
            return self._items.get(exec_id) or _Options()


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise HTTPError(400, f"invalid {key}: expected a list of strings")
    return value


def _size(value: Any) -> pb.TtySize | None:
    """ConsoleSize [height, width] (API 1.42)."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(x, int) and x > 0 for x in value):
        return pb.TtySize(width=value[1], height=value[0])
    return None


def inspect_json(res: pb.ExecInspectResponse, opts: _Options) -> dict[str, Any]:
    from pallet.engine._attach import parse_detach_keys

    started = res.running or res.pid != 0 or res.exit_code != 0
    keys: str | None = None
    if opts.detach_keys:
        try:
            keys = base64.b64encode(parse_detach_keys(opts.detach_keys)).decode()
        except errors.PalletError:
            keys = None
    cmd = list(res.cmd)
    process: dict[str, Any] = {"tty": res.tty, "entrypoint": cmd[0] if cmd else "", "arguments": cmd[1:],
                               "privileged": opts.privileged}
    if opts.user:
        process["user"] = opts.user
    return {"ID": res.id, "Running": res.running,
            "ExitCode": None if res.running or not started else res.exit_code,
            "ProcessConfig": process, "OpenStdin": res.open_stdin, "OpenStderr": opts.stderr,
            "OpenStdout": opts.stdout, "CanRemove": False, "ContainerID": res.container_id,
            "DetachKeys": keys, "Pid": res.pid}


def routes(r: Router, s: Any) -> None:
    remembered = _Remembered()

    @r.route("POST", r"/containers/(?P<id>[^/]+)/exec")
    def create(req: Request) -> Reply:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise HTTPError(400, "invalid exec configuration: not an object")
        cmd = _strings(body, "Cmd")
        res = s.containers.ExecCreate(pb.ExecCreateRequest(
            container_id=req["id"], cmd=cmd, env=_strings(body, "Env"), user=body.get("User") or "",
            working_dir=body.get("WorkingDir") or "", tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")), privileged=bool(body.get("Privileged")),
            detach_keys=body.get("DetachKeys") or ""), req)
        remembered.put(res.id, _Options(user=body.get("User") or "", privileged=bool(body.get("Privileged")),
                                        stdout=bool(body.get("AttachStdout")),
                                        stderr=bool(body.get("AttachStderr")),
                                        detach_keys=body.get("DetachKeys") or ""))
        return Reply(201, {"Id": res.id})

    @r.route("POST", r"/exec/(?P<id>[^/]+)/start")
    def start(req: Request) -> Reply | Hijack:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise HTTPError(400, "invalid exec start configuration: not an object")
        info = s.containers.ExecInspect(pb.ExecInspectRequest(id=req["id"]), req)
        if info.running:
            raise HTTPError(409, f"Error: Exec command {info.id} is already running")
        if info.pid or info.exit_code:
            raise HTTPError(409, f"Error: Exec command {info.id} has already run")
        opts = remembered.get(info.id)
        if body.get("Detach"):
            for _ in s.containers.ExecStart(iter([pb.AttachRequest(id=info.id)]), req):
                pass
            return Reply(200)
        tty = info.tty
        first = pb.AttachRequest(id=info.id, stdin=info.open_stdin, stdout=opts.stdout, stderr=opts.stderr,
                                 detach_keys=opts.detach_keys)
        size = _size(body.get("ConsoleSize"))

        def begin() -> _relay.Call:
            # like dockerd, the process starts once the head is out (its output cannot arrive with
            # it); a failure to run it goes to the client's output, its exit code (126/127) to
            # exec inspect
            call = _relay.start(s.containers.ExecStart, first)
            if tty and size is not None:
                call.feed.send(resize=size)
            return call

        return _relay.hijack(begin, tty=tty, stdin=first.stdin, content_type=_relay.stream_type(req.version, tty))

    @r.route("GET", r"/exec/(?P<id>[^/]+)/json")
    def inspect(req: Request) -> Reply:
        res = s.containers.ExecInspect(pb.ExecInspectRequest(id=req["id"]), req)
        return Reply(200, inspect_json(res, remembered.get(res.id)))

    @r.route("POST", r"/exec/(?P<id>[^/]+)/resize")
    def resize(req: Request) -> Reply:
        h, w = req.integer("h", 0) or 0, req.integer("w", 0) or 0
        if h < 0 or w < 0:
            raise HTTPError(400, "invalid terminal size")
        s.containers.Resize(pb.ResizeRequest(exec_id=req["id"], size=pb.TtySize(width=w, height=h)), req)
        return Reply(200)
