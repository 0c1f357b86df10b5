"""Health checks: run a container's HEALTHCHECK periodically through its shim.

Status goes starting → healthy / unhealthy as Docker's does (failures during
the start period do not count; `retries` consecutive failures make it
unhealthy). Unlike Docker, --health-on-failure=restart|stop|kill acts on it.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from typing import Any

from pallet import errors, log
from pallet.engine._exec import ExecManager
from pallet.engine.containers import ContainerManager, _now_ts
from pallet.engine.v1 import engine_pb2 as pb
from pallet.images.v1 import images_pb2 as ipb

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
MAX_LOG = 5
MAX_OUTPUT = 4096


def effective(cfg: pb.ContainerConfig, image_check: ipb.Healthcheck | None) -> ipb.Healthcheck | None:
    """The check that applies: the container's fields over the image's; None if disabled."""
    if cfg.no_healthcheck:
        return None
    merged = ipb.Healthcheck()
    if image_check is not None:
        merged.CopyFrom(image_check)
    own = cfg.healthcheck
    if own.test:
        del merged.test[:]
        merged.test.extend(own.test)
    for field in ("interval_ns", "timeout_ns", "start_period_ns", "retries"):
        if getattr(own, field):
            setattr(merged, field, getattr(own, field))
    if not merged.test or merged.test[0] == "NONE":
        return None
    return merged


def argv(check: ipb.Healthcheck) -> list[str]:
    kind, *rest = list(check.test)
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(rest)]
    if kind == "CMD":
        return rest
    raise errors.InvalidArgument(f"unknown health check type {kind!r} (use CMD or CMD-SHELL)")


class HealthMonitor:
    def __init__(self, manager: ContainerManager, execs: ExecManager) -> None:
        self.m = manager
        self.execs = execs
        self.log = log.get("health")
        manager.started_hooks.append(self.watch)

    def watch(self, ctr: pb.Container) -> None:
        try:
            image = self.m.images.get_image(ctr.image_id)
            image_check = image.config.healthcheck if image.config.HasField("healthcheck") else None
        except errors.PalletError:
            image_check = None
        check = effective(ctr.config, image_check)
        if check is None:
            return
        token = ctr.state.started_at.ToNanoseconds()
        def reset(h: pb.Health) -> None:
            h.Clear()
            h.status = "starting"

        self._update(ctr.id, token, reset)
        threading.Thread(target=self._loop, args=(ctr.id, token, check), name=f"health-{ctr.id[:12]}",
                         daemon=True).start()

    def _alive(self, cid: str, token: int) -> bool:
        ctr = self.m.store.get(cid)
        return (ctr is not None and ctr.state.status == pb.ContainerState.STATUS_RUNNING
                and ctr.state.started_at.ToNanoseconds() == token)

    def _loop(self, cid: str, token: int, check: ipb.Healthcheck) -> None:
        interval = check.interval_ns / 1e9 or DEFAULT_INTERVAL
        timeout = check.timeout_ns / 1e9 or DEFAULT_TIMEOUT
        retries = check.retries or DEFAULT_RETRIES
        start_period = check.start_period_ns / 1e9
        started = time.monotonic()
        while True:
            time.sleep(interval)
            if not self._alive(cid, token):
                return
            result = self._probe(cid, check, timeout)
            in_start_period = time.monotonic() - started < start_period
            changed: list[str] = []

            def apply(h: pb.Health, result: pb.HealthResult = result, in_start: bool = in_start_period,
                      changed: list[str] = changed) -> None:
                before = h.status
                h.log.append(result)
                del h.log[:-MAX_LOG]
                if result.exit_code == 0:
                    h.failing_streak = 0
                    h.status = "healthy"
                elif not (in_start and h.status == "starting"):
                    h.failing_streak += 1
                    if h.failing_streak >= retries:
                        h.status = "unhealthy"
                if h.status != before:
                    changed.append(h.status)

            ctr = self._update(cid, token, apply)
            if ctr is not None and changed:
                self.m.emit(f"health_status: {changed[0]}", ctr)
                if changed[0] == "unhealthy":
                    self._on_failure(ctr)

    def _on_failure(self, ctr: pb.Container) -> None:
        action = ctr.config.health_on_failure
        if action in ("", "none"):
            return
        self.log.info("container unhealthy, acting", id=ctr.id, action=action)
        try:
            if action == "restart":
                self.m.restart(ctr.id)
            elif action == "stop":
                self.m.stop(ctr.id)
            elif action == "kill":
                self.m.kill(ctr.id, "SIGKILL")
        except errors.PalletError as exc:
            self.log.warning("health action failed", id=ctr.id, action=action, error=str(exc))

    def _update(self, cid: str, token: int, change: Any) -> pb.Container | None:
        with self.m._lock(cid):
            ctr = self.m.store.get(cid)
            if ctr is None or ctr.state.started_at.ToNanoseconds() != token:
                return None
            change(ctr.state.health)
            self.m.store.put(ctr)
            return ctr

    def _probe(self, cid: str, check: ipb.Healthcheck, timeout: float) -> pb.HealthResult:
        result = pb.HealthResult(start=_now_ts())
        rec = None
        try:
            rec = self.execs.create(pb.ExecCreateRequest(container_id=cid, cmd=argv(check)))
            shim = self.m._shim(cid)
            shim.exec(rec.id, rec.process)
            output = bytearray()
            with shim.attach(rec.id, stdout=True, stderr=True) as att:
                shim.start(rec.id)
                deadline = time.monotonic() + timeout
                timed_out = False
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        timed_out = True
                        break
                    ready, _, _ = select.select([att], [], [], left)
                    if not ready:
                        continue
                    stream, data = att.recv()
                    if stream is None:
                        break
                    if data and len(output) < MAX_OUTPUT:
                        output += data[: MAX_OUTPUT - len(output)]
            if timed_out:
                with contextlib.suppress(errors.PalletError):
                    shim.kill(9, exec_id=rec.id)
                result.exit_code = -1
                result.output = f"Health check exceeded timeout ({timeout:g}s)"
            else:
                result.exit_code = shim.wait(exec_id=rec.id).exit_status
                result.output = output.decode(errors="replace")
            with contextlib.suppress(errors.PalletError):
                shim.delete_process(rec.id)
        except errors.PalletError as exc:
            result.exit_code = -1
            result.output = str(exc)
        finally:
            if rec is not None:
                self.execs.forget(rec.id)
        result.end.CopyFrom(_now_ts())
        return result
