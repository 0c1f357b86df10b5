"""Resource limits: Docker's validation of HostConfig resources, and the OCI
`linux.resources` / `process.rlimits` they become.

runc maps `linux.resources` onto cgroup v1 files (memory.limit_in_bytes,
cpu.cfs_quota_us, ...) and onto cgroup v2 ones (memory.max, cpu.max, ...), so
the same object serves both layouts. What exists only in v2 would go into
`linux.resources.unified`, and only on a pure v2 host; what exists only in v1
(disabling the OOM killer) is dropped with a warning on v2.
"""

from __future__ import annotations

import functools
import os
import resource
from typing import Any

from pallet import errors
from pallet.engine.v1 import engine_pb2 as pb

MIN_MEMORY = 6 * 1024 * 1024  # Docker's minimum for --memory and --memory-reservation
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
DEFAULT_CPU_PERIOD = 100_000  # microseconds, what --cpus uses
CAP_SYS_RESOURCE = 24
RLIM_INFINITY = 2**64 - 1  # OCI rlimits are uint64

# Docker's --ulimit names and their Linux resource numbers.
ULIMITS = {
    "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
    "memlock": 8, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13,
    "rtprio": 14, "rttime": 15,
}

# The fields `update` may change.
UPDATABLE = ("memory", "memory_swap", "memory_reservation", "nano_cpus", "cpu_shares", "cpu_period",
             "cpu_quota", "cpuset_cpus", "cpuset_mems", "blkio_weight")


def cgroup_v2(root: str = "/sys/fs/cgroup") -> bool:
    """True on a pure (unified) cgroup v2 host."""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


@functools.cache
def swap_limit_supported() -> bool:
    """Whether the memory cgroup can limit swap (memsw on v1, memory.swap.max on v2)."""
    if not cgroup_v2():
        return os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    try:
        with open("/proc/self/cgroup") as f:
            own = next((line.split(":", 2)[2].strip() for line in f if line.startswith("0::")), "")
    except OSError:
        return True
    if own in ("", "/"):
        return True  # the root has no memory.swap.max to look at
    return os.path.exists(os.path.join("/sys/fs/cgroup", own.strip("/"), "memory.swap.max"))


def parse_list(text: str) -> set[int]:
    """A cpuset list ("0-2,4") as a set; ValueError when malformed."""
    out: set[int] = set()
    for part in text.strip().split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(text)
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise ValueError(text)
        out.update(range(a, b + 1))
    return out


def _available(kind: str) -> str:
    """The host's cpuset.cpus or cpuset.mems (effective), e.g. "0-3"."""
    for path in (f"/sys/fs/cgroup/cpuset/cpuset.effective_{kind}", f"/sys/fs/cgroup/cpuset/cpuset.{kind}",
                 f"/sys/fs/cgroup/cpuset.{kind}.effective"):
        try:
            with open(path) as f:
                value = f.read().strip()
            if value:
                return value
        except OSError:
            continue
    if kind == "cpus":
        return f"0-{(os.cpu_count() or 1) - 1}"
    return "0"


def _check_cpuset(value: str, kind: str) -> None:
    if not value:
        return
    try:
        wanted = parse_list(value)
    except ValueError:
        raise errors.InvalidArgument(f"Invalid value {value} for cpuset {kind}") from None
    available = _available(kind)
    try:
        have = parse_list(available)
    except ValueError:
        return
    if not wanted <= have:
        what = "CPUs" if kind == "cpus" else "Memory nodes"
        raise errors.InvalidArgument(
            f"Requested {what} are not available - requested {value}, available: {available}")


def validate(hc: pb.HostConfig, ncpu: int | None = None) -> list[str]:
    """Check the resource fields as dockerd does and fill in its defaults; returns warnings."""
    ncpu = ncpu or os.cpu_count() or 1
    if hc.memory < 0 or hc.memory_reservation < 0 or hc.shm_size < 0:
        raise errors.InvalidArgument("memory values can not be negative")
    if hc.memory and hc.memory < MIN_MEMORY:
        raise errors.InvalidArgument("Minimum memory limit allowed is 6MB")
    if hc.memory_swap < -1:
        raise errors.InvalidArgument("invalid memory swap limit: use -1 for unlimited")
    if hc.memory_swap and not hc.memory:
        raise errors.InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage")
    if hc.memory_swap > 0 and hc.memory_swap < hc.memory:
        raise errors.InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if hc.memory and not hc.memory_swap and swap_limit_supported():
        hc.memory_swap = 2 * hc.memory  # dockerd's default: as much swap as memory
    if hc.memory_reservation and hc.memory_reservation < MIN_MEMORY:
        raise errors.InvalidArgument("Minimum memory reservation allowed is 6MB")
    if hc.memory and hc.memory_reservation and hc.memory < hc.memory_reservation:
        raise errors.InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage")
    if hc.nano_cpus:
        if hc.cpu_period:
            raise errors.InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
        if hc.cpu_quota:
            raise errors.InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        if hc.nano_cpus < 10_000_000 or hc.nano_cpus > ncpu * 1_000_000_000:
            raise errors.InvalidArgument(
                f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if hc.cpu_shares < 0:
        raise errors.InvalidArgument("CPU shares can not be negative")
    if hc.cpu_period and not 1000 <= hc.cpu_period <= 1_000_000:
        raise errors.InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if hc.cpu_quota and hc.cpu_quota != -1 and hc.cpu_quota < 1000:
        raise errors.InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    _check_cpuset(hc.cpuset_cpus, "cpus")
    _check_cpuset(hc.cpuset_mems, "mems")
    if hc.blkio_weight and not 10 <= hc.blkio_weight <= 1000:
        raise errors.InvalidArgument("Range of blkio weight is from 10 to 1000")
    if hc.HasField("pids_limit") and hc.pids_limit <= 0:
        hc.ClearField("pids_limit")  # 0 and -1 both mean unlimited
    if not hc.shm_size:
        hc.shm_size = DEFAULT_SHM_SIZE
    _check_ulimits(hc)
    return create_warnings(hc)


def create_warnings(hc: pb.HostConfig) -> list[str]:
    """What dockerd warns about for a valid HostConfig (shown by `run` and `create`)."""
    out = []
    if hc.memory_swap > 0 and not swap_limit_supported():
        out.append("Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
                   "Memory limited without swap.")
    if hc.oom_kill_disable:
        if cgroup_v2():
            out.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        elif not hc.memory:
            out.append("OOM killer is disabled for the container, but no memory limit is set, "
                       "this can result in the system running out of resources.")
    return out


def _has_cap_sys_resource() -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _fmt(v: int) -> str:
    return "unlimited" if v < 0 or v >= RLIM_INFINITY else str(v)


def _check_ulimits(hc: pb.HostConfig) -> None:
    seen: set[str] = set()
    can_raise = None
    for u in hc.ulimits:
        if u.name not in ULIMITS:
            raise errors.InvalidArgument(f"invalid ulimit type: {u.name}")
        if u.name in seen:
            raise errors.InvalidArgument(f"ulimit {u.name} given more than once")
        seen.add(u.name)
        soft = RLIM_INFINITY if u.soft < 0 else u.soft
        hard = RLIM_INFINITY if u.hard < 0 else u.hard
        if soft > hard:
            raise errors.InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {_fmt(u.soft)} > {_fmt(u.hard)}")
        if can_raise is None:
            can_raise = _has_cap_sys_resource()
        if can_raise:
            continue
        _, host_hard = resource.getrlimit(ULIMITS[u.name])
        host = RLIM_INFINITY if host_hard == resource.RLIM_INFINITY else host_hard
        if hard > host:
            raise errors.InvalidArgument(
                f"ulimit {u.name}: hard limit {_fmt(u.hard)} exceeds the host's hard limit {_fmt(host)} "
                "(the engine cannot raise it: no CAP_SYS_RESOURCE)")


def rlimits(hc: pb.HostConfig) -> list[dict[str, Any]]:
    """process.rlimits for the container's --ulimit values."""
    return [{"type": f"RLIMIT_{u.name.upper()}",
             "soft": RLIM_INFINITY if u.soft < 0 else u.soft,
             "hard": RLIM_INFINITY if u.hard < 0 else u.hard} for u in hc.ulimits]


def cpu_quota_period(hc: pb.HostConfig) -> tuple[int, int]:
    """(quota, period) in microseconds; --cpus wins over --cpu-quota/--cpu-period."""
    if hc.nano_cpus:
        return hc.nano_cpus * DEFAULT_CPU_PERIOD // 1_000_000_000, DEFAULT_CPU_PERIOD
    return hc.cpu_quota, hc.cpu_period


def linux_resources(hc: pb.HostConfig, v2: bool | None = None) -> dict[str, Any]:
    """linux.resources for the limits set in hc (devices are added by the caller)."""
    v2 = cgroup_v2() if v2 is None else v2
    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if hc.memory:
        memory["limit"] = hc.memory
    if hc.memory_swap and swap_limit_supported():
        memory["swap"] = hc.memory_swap
    if hc.memory_reservation:
        memory["reservation"] = hc.memory_reservation
    if hc.oom_kill_disable and not v2:
        memory["disableOOMKiller"] = True
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if hc.cpu_shares:
        cpu["shares"] = hc.cpu_shares
    quota, period = cpu_quota_period(hc)
    if quota:
        cpu["quota"] = quota
    if period:
        cpu["period"] = period
    if hc.cpuset_cpus:
        cpu["cpus"] = hc.cpuset_cpus
    if hc.cpuset_mems:
        cpu["mems"] = hc.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if hc.HasField("pids_limit") and hc.pids_limit > 0:
        out["pids"] = {"limit": hc.pids_limit}
    if hc.blkio_weight:
        out["blockIO"] = {"weight": hc.blkio_weight}
    return out


def merge_update(current: pb.HostConfig, upd: pb.HostConfig) -> tuple[pb.HostConfig, dict[str, Any], list[str]]:
    """Apply an `update` to a container's HostConfig as dockerd does.

    Returns the new HostConfig, the linux.resources object to hand to `runc
    update` for a running container, and warnings.
    """
    new = pb.HostConfig()
    new.CopyFrom(current)
    if upd.memory and upd.memory > current.memory_swap > 0 and not upd.memory_swap:
        raise errors.InvalidArgument(
            "Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time")
    if upd.nano_cpus and (current.cpu_quota or current.cpu_period) and not (upd.cpu_quota or upd.cpu_period):
        raise errors.InvalidArgument(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    if (upd.cpu_quota or upd.cpu_period) and current.nano_cpus and not upd.nano_cpus:
        raise errors.InvalidArgument(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    for name in UPDATABLE:
        value = getattr(upd, name)
        if value:
            setattr(new, name, value)
    if upd.HasField("pids_limit"):
        if upd.pids_limit > 0:
            new.pids_limit = upd.pids_limit
        else:
            new.ClearField("pids_limit")
    if upd.memory and not upd.memory_swap and not current.memory_swap:
        new.memory_swap = 0  # keep swap unlimited, as before
    warnings = _validate_update(new)
    res: dict[str, Any] = {}
    full = linux_resources(new)
    if any(getattr(upd, f) for f in ("memory", "memory_swap", "memory_reservation")):
        res["memory"] = {k: v for k, v in full.get("memory", {}).items() if k != "disableOOMKiller"}
    if any(getattr(upd, f) for f in ("nano_cpus", "cpu_shares", "cpu_period", "cpu_quota",
                                     "cpuset_cpus", "cpuset_mems")):
        res["cpu"] = full.get("cpu", {})
    if upd.HasField("pids_limit"):
        res["pids"] = {"limit": new.pids_limit if new.HasField("pids_limit") else -1}
    if upd.blkio_weight:
        res["blockIO"] = {"weight": new.blkio_weight}
    return new, res, warnings


def _validate_update(hc: pb.HostConfig) -> list[str]:
    check = pb.HostConfig()
    check.CopyFrom(hc)
    swap_was_unset = not hc.memory_swap
    warnings = validate(check)
    if swap_was_unset:
        check.memory_swap = 0  # validate's default applies to new containers only
    hc.CopyFrom(check)
    return warnings
