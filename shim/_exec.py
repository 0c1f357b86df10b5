"""Exec processes: Exec registers one, Start runs it, DeleteProcess forgets it.

An exec is `runtime exec --detach --pid-file <bundle>/<id>.pid --process
<bundle>/<id>.json [--console-socket ...] ID` with the shim holding its stdio.
The runtime exits once the process runs, leaving it to the shim (a child
subreaper) to reap. Its output goes only to attached clients, never to the
container's log. When init dies the kernel kills every exec with it (pid
namespace); their exits are reaped and reported like any other.

Functions here take the Shim (pallet.shim.server) as their first argument.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from typing import TYPE_CHECKING

from pallet.errors import exit_code_for_start_error
from pallet.shim import _attach, _stdio, protocol
from pallet.shim._files import unlink, write_atomic
from pallet.shim._process import Process
from pallet.shim.protocol import RpcError

if TYPE_CHECKING:
    from pallet.shim.server import Shim, _Conn


def valid_exec_id(exec_id: str) -> bool:
    """Safe as a file name in the bundle: [A-Za-z0-9_.-], not starting with '.'."""
    return (0 < len(exec_id) <= 128 and exec_id[0] != "."
            and all(c.isascii() and (c.isalnum() or c in "_.-") for c in exec_id))


def files(shim: Shim, exec_id: str) -> tuple[str, str]:
    """The exec's process json and pid file in the bundle."""
    return (os.path.join(shim.bundle, f"{exec_id}.json"),
            os.path.join(shim.bundle, f"{exec_id}.pid"))


def start(shim: Shim, proc: Process) -> None:
    """`runtime exec --detach`; RpcError (and the exec STOPPED, 126/127) if it fails."""
    json_path, pid_file = files(shim, proc.exec_id)
    unlink(pid_file)
    err = _stdio.run_with_stdio(shim, proc, ["exec", "--detach", "--pid-file", pid_file,
                                             "--process", json_path], shim.id)
    pid = 0
    with contextlib.suppress(OSError, ValueError), open(pid_file, "rb") as f:
        pid = int(f.read().strip())
    if err is None and not pid:
        err = f"read {pid_file}: no pid"
        proc.close_fds()
    if err is not None:
        if pid:  # running, but without the stdio we meant to hold: not ours to keep
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.exit_status = exit_code_for_start_error(err)
        proc.exited_at_ns = time.time_ns()
        shim._done(proc)
        shim.log.warning("exec failed to start", exec_id=proc.exec_id, error=err)
        raise RpcError(protocol.FAILED_PRECONDITION, err)
    proc.pid = pid
    proc.started_at_ns = time.time_ns()
    shim.by_pid[pid] = proc  # known before the loop can reap it
    _attach.watch(shim, proc)
    _stdio.flush_stdin(shim, proc)  # stdin sent (or closed) before the start
    shim.log.info("exec started", exec_id=proc.exec_id, pid=pid)


def forget(shim: Shim, proc: Process) -> None:
    """Drop an exec's record, files and anything still attached or waiting."""
    if shim.procs.get(proc.exec_id) is not proc:
        return
    del shim.procs[proc.exec_id]
    if shim.by_pid.get(proc.pid) is proc:
        del shim.by_pid[proc.pid]
    for path in files(shim, proc.exec_id):
        unlink(path)
    if not proc.done:  # never started
        _attach.end_all(shim, proc)
        _stdio.drop_stdin(shim, proc)
        proc.done = True
        waiting = [p for p in shim.parked if p[3] is proc]
        shim.parked = [p for p in shim.parked if p[3] is not proc]
        for conn, sid, _method, _proc in waiting:
            shim._reply(conn, sid, protocol.NOT_FOUND, f"exec {proc.exec_id!r} deleted", b"")


def remove_all_files(shim: Shim) -> None:
    for exec_id in shim.procs:
        if exec_id:
            for path in files(shim, exec_id):
                unlink(path)


def rpc_exec(shim: Shim, conn: _Conn, sid: int, payload: bytes) -> bytes:
    pb = shim.pb
    req = pb.ExecRequest.FromString(payload)
    if not valid_exec_id(req.exec_id):
        raise RpcError(protocol.INVALID_ARGUMENT,
                       f"invalid exec id {req.exec_id!r}: use letters, digits, '_', '.', '-'")
    if req.exec_id in shim.procs:
        raise RpcError(protocol.ALREADY_EXISTS, f"exec {req.exec_id!r} already exists")
    if shim.init.exit_status is not None:
        raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
    try:
        spec = json.loads(req.process_json)
    except ValueError as exc:
        raise RpcError(protocol.INVALID_ARGUMENT, f"invalid process json: {exc}") from None
    args = spec.get("args") if isinstance(spec, dict) else None
    if not args or not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise RpcError(protocol.INVALID_ARGUMENT,
                       "process json must be an object with a non-empty args list")
    spec["terminal"] = req.terminal  # the runtime takes it from the file, not a flag
    spec.setdefault("cwd", "/")
    json_path, _ = files(shim, req.exec_id)
    write_atomic(json_path, json.dumps(spec).encode())
    shim.procs[req.exec_id] = Process(req.exec_id, terminal=req.terminal, stdin=req.stdin,
                                      logged=False)
    shim.log.info("exec registered", exec_id=req.exec_id, terminal=req.terminal, stdin=req.stdin)
    return pb.ExecResponse().SerializeToString()


def rpc_delete_process(shim: Shim, conn: _Conn, sid: int, payload: bytes) -> bytes | None:
    """The exec's pid and exit; None when parked until its stdio is finished with."""
    exec_id = shim.pb.DeleteProcessRequest.FromString(payload).exec_id
    if not exec_id:
        raise RpcError(protocol.INVALID_ARGUMENT, "the container's init is deleted with Delete")
    proc = shim._proc(exec_id)
    if proc.running:
        raise RpcError(protocol.FAILED_PRECONDITION,
                       f"{proc.name} is running: kill it before deleting it")
    if proc.started_at_ns and not proc.done:  # exited, finishing up: answer then
        shim.parked.append((conn, sid, "DeleteProcess", proc))
        return None
    return shim._result("DeleteProcess", proc)
