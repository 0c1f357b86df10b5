"""`update`: new resource limits (and restart policy) for existing containers.

A running or paused container's cgroup is changed through its shim (`runc
update`); the record keeps the new values, so the next start applies them too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pallet import errors
from pallet.engine import _resources, _restart
from pallet.engine.v1 import engine_pb2 as pb

if TYPE_CHECKING:
    from pallet.engine.containers import ContainerManager

_ISOLATION_FIELDS = ("oom_kill_disable", "ulimits", "shm_size", "cap_add", "cap_drop", "privileged",
                     "security_opt", "sysctls", "devices", "device_cgroup_rules", "group_add", "init")


def _check_request(resources: pb.HostConfig, policy: pb.RestartPolicy) -> None:
    for name in _ISOLATION_FIELDS:
        if name == "init":
            if resources.HasField("init"):
                raise errors.InvalidArgument("update cannot change init")
        elif getattr(resources, name):
            raise errors.InvalidArgument(f"update cannot change {name}")
    has_resources = any(getattr(resources, f) for f in _resources.UPDATABLE) or resources.HasField("pids_limit")
    if not has_resources and not policy.name:
        raise errors.InvalidArgument("you must provide one or more flags when using this command")


def update(m: ContainerManager, refs: list[str], resources: pb.HostConfig,
           policy: pb.RestartPolicy) -> pb.UpdateContainerResponse:
    _check_request(resources, policy)
    out = pb.UpdateContainerResponse()
    failures: list[str] = []
    for ref in refs:
        try:
            ctr = m.store.resolve(ref)
            out.warnings.extend(_update_one(m, ctr.id, resources, policy))
            out.ids.append(ref)
        except errors.PalletError as exc:
            if len(refs) == 1:
                raise
            failures.append(f"{ref}: {exc}")
    if failures:
        raise errors.InvalidArgument("; ".join(failures))
    return out


def _update_one(m: ContainerManager, cid: str, resources: pb.HostConfig,
                policy: pb.RestartPolicy) -> list[str]:
    from pallet.engine.containers import LIVE_STATES

    with m._lock(cid):
        ctr = m.store.resolve(cid)
        if ctr.state.status == pb.ContainerState.STATUS_REMOVING:
            raise errors.FailedPrecondition(f"container {cid} is marked for removal and cannot be updated")
        if policy.name:
            _restart.validate(policy, ctr.config.auto_remove)
        new_hc, res, warnings = _resources.merge_update(ctr.config.host_config, resources)
        if res and ctr.state.status in LIVE_STATES:
            try:
                m._shim(cid).update(json.dumps(res).encode())
            except errors.PalletError as exc:
                raise errors.FailedPrecondition(f"Cannot update container {cid}: {exc}") from None
        ctr.config.host_config.CopyFrom(new_hc)
        if policy.name:
            ctr.config.restart_policy.CopyFrom(policy)
        m.store.put(ctr)
    m.emit("update", ctr)
    return warnings
