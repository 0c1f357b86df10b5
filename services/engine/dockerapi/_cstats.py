"""GET /containers/{id}/stats: the Stats RPC's samples in Docker's stats JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pallet import errors
from pallet.engine.dockerapi._cstreams import ZERO_TIME, go_time, inspect
from pallet.engine.dockerapi._http import Reply, Request, Router, Stream
from pallet.engine.v1 import engine_pb2 as pb

_INTERVAL_NS = 1_000_000_000  # the Stats RPC samples once a second


def _cpu(total: int, system: int, online: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cpu_usage": {"total_usage": total, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    if system:
        out["system_cpu_usage"] = system
    if online:
        out["online_cpus"] = online
    return out


def stats_json(m: pb.StatsResponse, *, preread_ns: int, name: str, networks: bool,
               cgroup_v2: bool) -> dict[str, Any]:
    """Docker's StatsJSON for one StatsResponse (pre* zero: no previous sample)."""
    read_ns = m.read.ToNanoseconds() if m.HasField("read") else 0
    has_pre = bool(m.precpu_usage_ns or m.presystem_cpu_usage_ns)
    memory: dict[str, Any] = {}
    if read_ns:
        usage = m.memory_usage + m.memory_cache  # the cgroup's own figure; the CLI subtracts the cache
        cache_key = "inactive_file" if cgroup_v2 else "total_inactive_file"
        memory = {"usage": usage, "stats": {cache_key: m.memory_cache}, "limit": m.memory_limit}
        if not cgroup_v2:
            memory["max_usage"] = usage
    pids: dict[str, Any] = {}
    if read_ns:
        pids["current"] = m.pids_current
        if m.pids_limit:
            pids["limit"] = m.pids_limit
    blkio: dict[str, Any] = {k: None for k in (
        "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive", "io_service_time_recursive",
        "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive", "sectors_recursive")}
    if read_ns:
        blkio["io_service_bytes_recursive"] = [
            {"major": 0, "minor": 0, "op": "read", "value": m.block_read_bytes},
            {"major": 0, "minor": 0, "op": "write", "value": m.block_write_bytes}]
    out: dict[str, Any] = {
        "read": go_time(read_ns),
        "preread": go_time(preread_ns) if has_pre and preread_ns else ZERO_TIME,
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu(m.cpu_usage_ns, m.system_cpu_usage_ns, m.online_cpus),
        "precpu_stats": _cpu(m.precpu_usage_ns, m.presystem_cpu_usage_ns, m.online_cpus if has_pre else 0),
        "memory_stats": memory,
        "name": name,
        "id": m.id,
    }
    if networks and read_ns:
        out["networks"] = {"eth0": {"rx_bytes": m.net_rx_bytes, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
                                    "tx_bytes": m.net_tx_bytes, "tx_packets": 0, "tx_errors": 0,
                                    "tx_dropped": 0}}
    return out


def _line(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def routes(r: Router, s: Any) -> None:
    from pallet.engine._stats import is_v2

    @r.route("GET", r"/containers/(?P<id>[^/]+)/stats")
    def stats(req: Request) -> Reply | Stream:
        ctr = inspect(s, req, req["id"])
        name = "/" + ctr.name.lstrip("/")
        mode = ctr.config.network_mode
        networks = not (mode in ("host", "none") or mode.startswith("container:"))
        v2 = is_v2()
        stream = req.flag("stream", True)
        one_shot = req.flag("one-shot") and not stream
        # one-shot: the first sample at once, without a previous one (as dockerd does)
        it = s.containers.Stats(pb.StatsRequest(id=ctr.id, stream=stream or one_shot), req)
        try:
            first = next(it)
        except StopIteration:
            first = None
        except errors.FailedPrecondition:
            first = None  # not running: dockerd answers with an empty sample
        if first is None:
            empty = stats_json(pb.StatsResponse(id=ctr.id), preread_ns=0, name=name, networks=False,
                               cgroup_v2=v2)
            return Stream(iter([_line(empty)])) if stream else Reply(200, empty)

        def doc(m: pb.StatsResponse, preread_ns: int) -> dict[str, Any]:
            return stats_json(m, preread_ns=preread_ns, name=name, networks=networks, cgroup_v2=v2)

        if not stream:
            it.close()
            read_ns = first.read.ToNanoseconds()
            return Reply(200, doc(first, 0 if one_shot else read_ns - _INTERVAL_NS))

        def lines() -> Iterator[bytes]:
            try:
                yield _line(doc(first, 0))
                prev = first.read.ToNanoseconds()
                for m in it:
                    yield _line(doc(m, prev))
                    prev = m.read.ToNanoseconds()
            finally:
                it.close()

        return Stream(lines())
