"""Resource usage of a container, read from its cgroup and /proc, as Docker reports it.

Works on cgroup v1 (one hierarchy per controller at <root>/<controller>) and v2
(one unified hierarchy at <root>, recognised by <root>/cgroup.controllers).
Every missing or unreadable file reads as zero: a container may exit while it
is being sampled. Only a cgroup that is gone altogether raises NotFound.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pallet import errors

if TYPE_CHECKING:
    from pallet.engine.v1 import engine_pb2

CGROUP_ROOT = "/sys/fs/cgroup"
PROC_ROOT = "/proc"

# The v1 controllers a container's cgroup lives in; any one existing means it is not gone.
V1_CONTROLLERS = ("memory", "cpuacct", "cpu", "pids", "blkio", "cpuset", "devices", "freezer")

# v1 reports "no limit" as PAGE_COUNTER_MAX * page size (~2^63); anything this large is unlimited.
_V1_UNLIMITED = 1 << 62


@dataclass
class Sample:
    """One reading of StatsResponse's numeric fields (pre* come from the previous Sample)."""

    read_ns: int = 0
    cpu_usage_ns: int = 0
    system_cpu_usage_ns: int = 0
    online_cpus: int = 0
    # Usage as `docker stats` shows it: the cgroup's usage minus memory_cache.
    memory_usage: int = 0
    memory_limit: int = 0
    # The inactive page cache subtracted from the raw usage (v1 total_inactive_file,
    # v2 inactive_file), so the cgroup's own figure is memory_usage + memory_cache.
    memory_cache: int = 0
    pids_current: int = 0
    pids_limit: int = 0  # 0 = no limit
    block_read_bytes: int = 0
    block_write_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0


def is_v2(cgroup_root: str = CGROUP_ROOT) -> bool:
    return os.path.exists(os.path.join(cgroup_root, "cgroup.controllers"))


def _join(base: str, cgroups_path: str) -> str:
    return os.path.join(base, cgroups_path.strip("/"))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return ""


def _int(path: str, unlimited: str = "max") -> int:
    """A file holding one number; "max" (v2's no-limit) and garbage read as 0."""
    text = _read(path).strip()
    if not text or text == unlimited:
        return 0
    try:
        return max(int(text.split()[0]), 0)
    except ValueError:
        return 0


def _keyed(path: str) -> dict[str, int]:
    """A flat keyed file ("key value" per line): memory.stat, cpu.stat."""
    out: dict[str, int] = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def _mem_total(proc_root: str) -> int:
    for line in _read(os.path.join(proc_root, "meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            try:
                kib = int(parts[1])
            except (IndexError, ValueError):
                return 0
            return kib * 1024
    return 0


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK")) or 100
    except (ValueError, OSError):
        return 100


def system_cpu(proc_root: str = PROC_ROOT) -> tuple[int, int]:
    """Host CPU time in ns and online CPU count, as Docker reads /proc/stat.

    The time is the sum of the "cpu" line's first seven fields (user, nice,
    system, idle, iowait, irq, softirq) in USER_HZ ticks; the count is the
    number of "cpuN" lines.
    """
    total = 0
    ncpu = 0
    for line in _read(os.path.join(proc_root, "stat")).splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu" and len(parts) >= 8:
            try:
                ticks = sum(int(v) for v in parts[1:8])
            except ValueError:
                ticks = 0
            total = ticks * 1_000_000_000 // _clock_ticks()
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            ncpu += 1
    return total, ncpu or (os.cpu_count() or 1)


def _v1_blkio(base: str) -> tuple[int, int]:
    """Read/Write bytes: the throttle file (counts every device), else BFQ/CFQ's."""
    for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive",
                 "blkio.io_service_bytes_recursive"):
        rd = wr = 0
        seen = False
        for line in _read(os.path.join(base, name)).splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue  # "Total N" and blanks
            try:
                value = int(parts[2])
            except ValueError:
                continue
            op = parts[1].lower()
            if op == "read":
                rd += value
                seen = True
            elif op == "write":
                wr += value
                seen = True
        if seen and (rd or wr):
            return rd, wr
    return 0, 0


def _v2_io(path: str) -> tuple[int, int]:
    """rbytes/wbytes summed over the devices of io.stat ("8:0 rbytes=1 wbytes=2 ...")."""
    rd = wr = 0
    for line in _read(path).splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if not value.isdigit():
                continue
            if key == "rbytes":
                rd += int(value)
            elif key == "wbytes":
                wr += int(value)
    return rd, wr


def net_bytes(pid: int, proc_root: str = PROC_ROOT) -> tuple[int, int]:
    """Received and sent bytes over the interfaces of pid's network namespace, except lo."""
    if pid <= 0:
        return 0, 0
    rx = tx = 0
    for line in _read(os.path.join(proc_root, str(pid), "net", "dev")).splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep or name.strip() == "lo":
            continue
        fields = rest.split()
        if len(fields) < 16:
            continue
        try:
            rx += int(fields[0])
            tx += int(fields[8])
        except ValueError:
            continue
    return rx, tx


def _no_cache(usage: int, inactive_file: int) -> tuple[int, int]:
    """(usage without cache, cache) the way the docker CLI subtracts it."""
    if 0 < inactive_file < usage:
        return usage - inactive_file, inactive_file
    return usage, 0


def _sample_v1(s: Sample, cgroups_path: str, cgroup_root: str) -> None:
    dirs = {c: _join(os.path.join(cgroup_root, c), cgroups_path) for c in V1_CONTROLLERS}
    if not any(os.path.isdir(d) for d in dirs.values()):
        raise errors.NotFound(f"cgroup {cgroups_path} not found")
    s.cpu_usage_ns = _int(os.path.join(dirs["cpuacct"], "cpuacct.usage"))
    mem = dirs["memory"]
    stat = _keyed(os.path.join(mem, "memory.stat"))
    usage = _int(os.path.join(mem, "memory.usage_in_bytes"))
    s.memory_usage, s.memory_cache = _no_cache(usage, stat.get("total_inactive_file", 0))
    limit = _int(os.path.join(mem, "memory.limit_in_bytes"))
    s.memory_limit = 0 if limit >= _V1_UNLIMITED else limit
    s.pids_current = _int(os.path.join(dirs["pids"], "pids.current"))
    s.pids_limit = _int(os.path.join(dirs["pids"], "pids.max"))
    s.block_read_bytes, s.block_write_bytes = _v1_blkio(dirs["blkio"])


def _sample_v2(s: Sample, cgroups_path: str, cgroup_root: str) -> None:
    base = _join(cgroup_root, cgroups_path)
    if not os.path.isdir(base):
        raise errors.NotFound(f"cgroup {cgroups_path} not found")
    s.cpu_usage_ns = _keyed(os.path.join(base, "cpu.stat")).get("usage_usec", 0) * 1000
    stat = _keyed(os.path.join(base, "memory.stat"))
    usage = _int(os.path.join(base, "memory.current"))
    s.memory_usage, s.memory_cache = _no_cache(usage, stat.get("inactive_file", 0))
    s.memory_limit = _int(os.path.join(base, "memory.max"))
    s.pids_current = _int(os.path.join(base, "pids.current"))
    s.pids_limit = _int(os.path.join(base, "pids.max"))
    s.block_read_bytes, s.block_write_bytes = _v2_io(os.path.join(base, "io.stat"))


def sample(cgroups_path: str, pid: int, *, cgroup_root: str = CGROUP_ROOT,
           proc_root: str = PROC_ROOT) -> Sample:
    """Read the container's usage now.

    cgroups_path is the OCI spec's cgroupsPath ("/<parent>/<id>"), pid the
    container's init process on the host (for its network namespace; 0 skips
    network counters). Raises NotFound only when the cgroup no longer exists.
    """
    s = Sample(read_ns=time.time_ns())
    if is_v2(cgroup_root):
        _sample_v2(s, cgroups_path, cgroup_root)
    else:
        _sample_v1(s, cgroups_path, cgroup_root)
    host_mem = _mem_total(proc_root)
    if s.memory_limit == 0 or (host_mem and s.memory_limit > host_mem):
        s.memory_limit = host_mem
    s.system_cpu_usage_ns, s.online_cpus = system_cpu(proc_root)
    s.net_rx_bytes, s.net_tx_bytes = net_bytes(pid, proc_root)
    return s


def cpu_percent(prev: Sample | None, cur: Sample) -> float:
    """Docker's CPU %: container CPU delta over host CPU delta, times online CPUs."""
    cpu_delta = cur.cpu_usage_ns - (prev.cpu_usage_ns if prev else 0)
    system_delta = cur.system_cpu_usage_ns - (prev.system_cpu_usage_ns if prev else 0)
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return cpu_delta / system_delta * (cur.online_cpus or 1) * 100.0


def memory_percent(cur: Sample) -> float:
    return cur.memory_usage / cur.memory_limit * 100.0 if cur.memory_limit else 0.0


def to_pb(sample: Sample, prev: Sample | None = None, *, id: str = "",
          name: str = "") -> engine_pb2.StatsResponse:
    """The StatsResponse for a sample; pre* from prev (zero for a stream's first message)."""
    from pallet.engine.v1 import engine_pb2 as pb

    res = pb.StatsResponse(
        id=id, name=name,
        cpu_usage_ns=sample.cpu_usage_ns, system_cpu_usage_ns=sample.system_cpu_usage_ns,
        online_cpus=sample.online_cpus,
        precpu_usage_ns=prev.cpu_usage_ns if prev else 0,
        presystem_cpu_usage_ns=prev.system_cpu_usage_ns if prev else 0,
        memory_usage=sample.memory_usage, memory_limit=sample.memory_limit,
        memory_cache=sample.memory_cache, pids_current=sample.pids_current,
        pids_limit=sample.pids_limit, block_read_bytes=sample.block_read_bytes,
        block_write_bytes=sample.block_write_bytes, net_rx_bytes=sample.net_rx_bytes,
        net_tx_bytes=sample.net_tx_bytes,
    )
    res.read.FromNanoseconds(sample.read_ns)
    return res


def stream(cgroups_path: str, pid: int, *, stream: bool = True, id: str = "", name: str = "",
           interval: float = 1.0, alive: Callable[[], bool] = lambda: True,
           sleep: Callable[[float], None] = time.sleep, cgroup_root: str = CGROUP_ROOT,
           proc_root: str = PROC_ROOT) -> Iterator[engine_pb2.StatsResponse]:
    """What the Stats RPC sends, the way dockerd does.

    With stream, a message now (pre* zero) and then one every interval until
    alive() turns false or the cgroup goes away. Without, two samples an
    interval apart and one message, so its CPU % is meaningful. NotFound from
    the first sample propagates (the container is not running).
    """
    prev = sample(cgroups_path, pid, cgroup_root=cgroup_root, proc_root=proc_root)
    if stream:
        yield to_pb(prev, None, id=id, name=name)
    while alive():
        deadline = time.monotonic() + interval
        while alive() and (left := deadline - time.monotonic()) > 0:
            sleep(min(left, 0.1))
        if not alive():
            return
        try:
            cur = sample(cgroups_path, pid, cgroup_root=cgroup_root, proc_root=proc_root)
        except errors.NotFound:
            if not stream:
                yield to_pb(prev, None, id=id, name=name)
            return
        yield to_pb(cur, prev, id=id, name=name)
        if not stream:
            return
        prev = cur
