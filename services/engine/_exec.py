"""Exec: extra processes in a running container, run by its shim."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pallet import errors, log
from pallet.engine import _attach, _rootfs, _security, _spec
from pallet.engine.containers import LIVE_STATES, ContainerManager
from pallet.engine.v1 import engine_pb2 as pb

MAX_FINISHED = 256  # finished execs kept for ExecInspect


@dataclass
class ExecRecord:
    id: str
    container_id: str
    process: dict  # type: ignore[type-arg]
    tty: bool
    stdin: bool
    detach_keys: str
    running: bool = False
    exit_code: int = 0
    pid: int = 0
    done: threading.Event = field(default_factory=threading.Event)


class ExecManager:
    def __init__(self, containers: ContainerManager) -> None:
        self.m = containers
        self._execs: dict[str, ExecRecord] = {}
        self._lock = threading.Lock()
        self.log = log.get("exec")

    def create(self, req: pb.ExecCreateRequest) -> ExecRecord:
        ctr = self.m.store.resolve(req.container_id)
        if ctr.state.status not in LIVE_STATES:
            raise errors.FailedPrecondition(f"Container {ctr.id} is not running")
        if ctr.state.status != pb.ContainerState.STATUS_RUNNING:
            raise errors.FailedPrecondition(f"Container {ctr.id} is paused, unpause the container before exec")
        if not req.cmd:
            raise errors.InvalidArgument("No exec command specified")
        mounts = self.m.images.mounts(ctr.id)
        dirs = _rootfs.layer_dirs([(m.type, m.source, list(m.options)) for m in mounts])
        user = req.user or ctr.user
        uid, gid, extra = _rootfs.resolve_user(dirs, user) if user else (0, 0, [])
        env = list(ctr.env)
        keys = {e.partition("=")[0]: i for i, e in enumerate(env)}
        for item in req.env:
            k = item.partition("=")[0]
            if k in keys:
                env[keys[k]] = item
            else:
                env.append(item)
        if req.tty and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        if req.working_dir and not req.working_dir.startswith("/"):
            raise errors.InvalidArgument(f"the working directory '{req.working_dir}' is invalid, "
                                         "it needs to be an absolute path")
        process = _spec.process(_spec.Process(
            args=list(req.cmd), env=env, cwd=req.working_dir or ctr.working_dir or "/",
            uid=uid, gid=gid, additional_gids=extra, terminal=req.tty))
        _security.apply_process(process, ctr.config.host_config, privileged=req.privileged)
        rec = ExecRecord(os.urandom(32).hex(), ctr.id, process, req.tty, req.attach_stdin,
                         req.detach_keys or ctr.config.detach_keys)
        with self._lock:
            self._prune()
            self._execs[rec.id] = rec
        self.m.emit("exec_create: " + " ".join(req.cmd), ctr, execID=rec.id)
        return rec

    def _prune(self) -> None:
        """Forget the oldest finished execs beyond MAX_FINISHED (call with the lock held)."""
        finished = [k for k, r in self._execs.items() if r.done.is_set()]
        for k in finished[: max(0, len(finished) - MAX_FINISHED)]:
            del self._execs[k]

    def forget(self, exec_id: str) -> None:
        with self._lock:
            self._execs.pop(exec_id, None)

    def get(self, exec_id: str) -> ExecRecord:
        with self._lock:
            rec = self._execs.get(exec_id)
        if rec is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return rec

    def start(self, requests: Iterator[pb.AttachRequest], alive: Callable[[], bool]
              ) -> Iterator[_attach.Output | tuple[int, str] | str | None]:
        """Like ContainerManager.attach for an exec: ack, output, then its exit code."""
        it = iter(requests)
        first = next(it)
        rec = self.get(first.id)
        if rec.running or rec.done.is_set():
            raise errors.FailedPrecondition(f"exec {rec.id[:12]} has already been started")
        shim = self.m._shim(rec.container_id)
        ctr = self.m.store.resolve(rec.container_id)
        shim.exec(rec.id, rec.process, stdin=rec.stdin, terminal=rec.tty)
        detached = not (first.stdin or first.stdout or first.stderr)
        session = None
        if not detached:
            first.stdin = first.stdin and rec.stdin
            session = _attach.Session(it, first, first.detach_keys or rec.detach_keys,
                                      on_resize=lambda w, h: shim.resize_pty(w, h, exec_id=rec.id))
            session.connect(shim.attach(rec.id, stdin=session.want_stdin, stdout=session.wants_output,
                                        stderr=session.wants_output))
        try:
            rec.pid = shim.start(rec.id).pid
        except errors.PalletError as exc:
            if session:
                session.close()
            self._finish(rec, exit_code_of(exc))
            raise
        rec.running = True
        self.m.emit("exec_start: " + " ".join(rec.process["args"]), ctr, execID=rec.id)
        threading.Thread(target=self._reap, args=(rec,), name=f"exec-{rec.id[:12]}", daemon=True).start()
        yield None
        if session is None:
            return
        try:
            if (yield from _attach.relay(session, alive)):
                rec.done.wait()
                yield rec.exit_code, ""
        finally:
            session.close()

    def _reap(self, rec: ExecRecord) -> None:
        shim = self.m._shim(rec.container_id, timeout=None)
        code = 255
        try:
            code = shim.wait(exec_id=rec.id).exit_status
            with contextlib.suppress(errors.PalletError):
                shim.delete_process(rec.id)
        except errors.PalletError as exc:
            self.log.warning("lost track of exec", id=rec.id, error=str(exc))
        self._finish(rec, code)

    def _finish(self, rec: ExecRecord, code: int) -> None:
        rec.exit_code = code
        rec.running = False
        rec.done.set()
        ctr = self.m.store.get(rec.container_id)
        if ctr is not None:
            self.m.emit("exec_die", ctr, execID=rec.id, exitCode=str(code))

    def inspect(self, exec_id: str) -> pb.ExecInspectResponse:
        rec = self.get(exec_id)
        return pb.ExecInspectResponse(
            id=rec.id, container_id=rec.container_id, running=rec.running, exit_code=rec.exit_code,
            pid=rec.pid, cmd=rec.process["args"], tty=rec.tty, open_stdin=rec.stdin)


def exit_code_of(exc: Exception) -> int:
    from pallet.errors import exit_code_for_start_error

    return exit_code_for_start_error(str(exc))
