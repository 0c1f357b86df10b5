"""Protobuf messages of pallet.engine.v1 -> the SDK's dataclasses (pallet.client._sdk_types).

The one place that maps messages to results: the sync and asyncio clients
both call these functions, so they return the same values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._sdk_types import (
    Container,
    ContainerState,
    ContainerSummary,
    DiskUsage,
    Endpoint,
    Event,
    ExecResult,
    Image,
    ImageRemoval,
    ImageUsage,
    Info,
    IPAMPool,
    LogEntry,
    Mount,
    Network,
    Port,
    PruneResult,
    PullProgress,
    Version,
    Volume,
)

# ContainerState.Status numbers -> Docker's state words.
_STATUS = {0: "unknown", 1: "created", 2: "running", 3: "paused", 4: "restarting", 5: "removing", 6: "exited",
           7: "dead"}
_STREAM = {1: "stdout", 2: "stderr"}


def timestamp(ts: Any) -> datetime | None:
    """A google.protobuf.Timestamp as an aware UTC datetime; None when unset (zero)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return datetime.fromtimestamp(ts.seconds, tz=UTC).replace(microsecond=ts.nanos // 1000)


def status_name(value: int) -> str:
    return _STATUS.get(value, "unknown")


def stream_name(value: int) -> str:
    return _STREAM.get(value, "stdout")


# -- containers --------------------------------------------------------------------


def port(b: Any) -> Port:
    return Port(container_port=b.container_port, protocol=b.protocol or "tcp", host_ip=b.host_ip,
                host_port=b.host_port)


def mount(m: Any) -> Mount:
    return Mount(type=m.type, source=m.source, target=m.target, read_only=m.read_only, path=m.path)


def endpoint(e: Any) -> Endpoint:
    return Endpoint(network_id=e.network_id, network_name=e.network_name, container_id=e.container_id,
                    container_name=e.container_name, ipv4_address=e.ipv4_address, ipv6_address=e.ipv6_address,
                    mac_address=e.mac_address, aliases=tuple(e.aliases), raw=e)


def state(s: Any) -> ContainerState:
    return ContainerState(status=status_name(s.status), pid=s.pid, exit_code=s.exit_code,
                          started_at=timestamp(s.started_at), finished_at=timestamp(s.finished_at), error=s.error,
                          oom_killed=s.oom_killed, health=s.health.status if s.HasField("health") else "")


def _summary_fields(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name.lstrip("/"),
        "image": c.image,
        "image_id": c.image_id,
        "command": (c.path, *c.args) if c.path else tuple(c.args),
        "created": timestamp(c.created),
        "status": status_name(c.state.status),
        "exit_code": c.state.exit_code,
        "labels": dict(c.config.labels),
        "ports": tuple(port(b) for b in c.network_settings.ports),
        "networks": tuple(e.network_name for e in c.network_settings.networks),
        "size_rw": c.size_rw,
        "size_root_fs": c.size_root_fs,
        "raw": c,
    }


def container_summary(c: Any) -> ContainerSummary:
    return ContainerSummary(**_summary_fields(c))


def container_summaries(res: Any) -> list[ContainerSummary]:
    return [container_summary(c) for c in res.containers]


def container(c: Any) -> Container:
    cfg = c.config
    return Container(
        **_summary_fields(c),
        state=state(c.state),
        env=tuple(c.env),
        working_dir=c.working_dir,
        user=c.user,
        hostname=cfg.hostname,
        tty=cfg.tty,
        open_stdin=cfg.open_stdin,
        auto_remove=cfg.auto_remove,
        restart_policy=cfg.restart_policy.name,
        restart_count=c.restart_count,
        mounts=tuple(mount(m) for m in c.mounts),
        endpoints=tuple(endpoint(e) for e in c.network_settings.networks),
    )


def log_entry(e: Any) -> LogEntry:
    return LogEntry(stream=stream_name(e.stream), data=e.data, time=timestamp(e.time))


def wait_exit_code(res: Any) -> int:
    return int(res.exit_code)


def created_id(res: Any) -> str:
    return str(res.id)


def none(_res: Any) -> None:
    return None


class OutputCollector:
    """Folds an Attach/ExecStart response stream into output and an exit status.

    feed() takes each AttachResponse in turn and says whether the stream is done;
    the first (empty) response acknowledges the attachment. output holds the wanted
    streams interleaved; parts holds each stream whole (run() reports stderr on failure).
    """

    def __init__(self, stdout: bool = True, stderr: bool = True) -> None:
        self.want = {"stdout": stdout, "stderr": stderr}
        self.output = bytearray()
        self.parts: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.exit_code: int | None = None
        self.error = ""
        self.acknowledged = False
        self.detached = False

    def feed(self, res: Any) -> bool:
        kind = res.WhichOneof("event")
        if kind is None:
            self.acknowledged = True
            return False
        if kind == "output":
            name = stream_name(res.output.stream)
            self.parts[name] += res.output.data
            if self.want.get(name, True):
                self.output += res.output.data
            return False
        if kind == "exit":
            self.exit_code = res.exit.exit_code
            self.error = res.exit.error
            return True
        self.detached = True
        return True

    def exec_result(self) -> ExecResult:
        return ExecResult(exit_code=self.exit_code if self.exit_code is not None else -1,
                          output=bytes(self.output), stdout=bytes(self.parts["stdout"]),
                          stderr=bytes(self.parts["stderr"]))


def containers_pruned(res: Any) -> PruneResult:
    return PruneResult(deleted=tuple(res.containers_deleted), space_reclaimed=res.space_reclaimed)


def images_pruned(res: Any) -> PruneResult:
    deleted = [x for d in res.images_deleted for x in (*d.untagged, *d.deleted)]
    return PruneResult(deleted=tuple(deleted), space_reclaimed=res.space_reclaimed)


def volumes_pruned(res: Any) -> PruneResult:
    return PruneResult(deleted=tuple(res.volumes_deleted), space_reclaimed=res.space_reclaimed)


def networks_pruned(res: Any) -> PruneResult:
    return PruneResult(deleted=tuple(res.deleted))


# -- images ------------------------------------------------------------------------


def image(i: Any) -> Image:
    return Image(id=i.id, tags=tuple(i.repo_tags), digests=tuple(i.repo_digests), created=timestamp(i.created),
                 size=i.size, labels=dict(i.config.labels), architecture=i.platform.architecture, os=i.platform.os,
                 author=i.author, comment=i.comment, raw=i)


def images(res: Any) -> list[Image]:
    return [image(i) for i in res.images]


def pull_progress(p: Any) -> PullProgress:
    return PullProgress(status=p.status, id=p.id, current=p.current, total=p.total, digest=p.digest, ref=p.ref,
                        image=image(p.image) if p.HasField("image") else None, raw=p)


def image_removal(res: Any) -> ImageRemoval:
    return ImageRemoval(untagged=tuple(res.untagged), deleted=tuple(res.deleted))


# -- networks and volumes ----------------------------------------------------------


def network(n: Any) -> Network:
    return Network(id=n.id, name=n.name, driver=n.driver, scope=n.scope, created=timestamp(n.created),
                   internal=n.internal, enable_ipv6=n.enable_ipv6,
                   ipam=tuple(IPAMPool(subnet=p.subnet, gateway=p.gateway, ip_range=p.ip_range) for p in n.ipam),
                   labels=dict(n.labels), options=dict(n.options),
                   containers=tuple(endpoint(e) for e in n.endpoints), raw=n)


def networks(res: Any) -> list[Network]:
    return [network(n) for n in res.networks]


def volume(v: Any) -> Volume:
    return Volume(name=v.name, driver=v.driver, mountpoint=v.mountpoint, created=timestamp(v.created_at),
                  labels=dict(v.labels), options=dict(v.options), scope=v.scope or "local", used_by=tuple(v.used_by),
                  size=v.size, raw=v)


def volumes(res: Any) -> list[Volume]:
    return [volume(v) for v in res.volumes]


# -- system ------------------------------------------------------------------------


def version(v: Any) -> Version:
    return Version(version=v.version, api_version=v.api_version, git_commit=v.git_commit,
                   python_version=v.python_version, os=v.os, arch=v.arch, kernel_version=v.kernel_version,
                   runtime=v.runtime, runtime_version=v.runtime_version, build_time=timestamp(v.build_time), raw=v)


def ping(_v: Any) -> bool:
    return True


def info(i: Any) -> Info:
    return Info(name=i.name, server_version=i.server_version, containers=i.containers,
                containers_running=i.containers_running, containers_paused=i.containers_paused,
                containers_stopped=i.containers_stopped, images=i.images, driver=i.driver, data_root=i.data_root,
                exec_root=i.exec_root, runtime=i.runtime, logging_driver=i.logging_driver,
                cgroup_driver=i.cgroup_driver, cgroup_version=i.cgroup_version, kernel_version=i.kernel_version,
                operating_system=i.operating_system, os_type=i.os_type, architecture=i.architecture, ncpu=i.ncpu,
                mem_total=i.mem_total, services=dict(i.services), raw=i)


def event(e: Any) -> Event:
    return Event(type=e.type, action=e.action, id=e.id, attributes=dict(e.attributes), time=timestamp(e.time),
                 raw=e)


def disk_usage(d: Any) -> DiskUsage:
    return DiskUsage(
        images_size=d.images_size, images_reclaimable=d.images_reclaimable, containers_size=d.containers_size,
        containers_reclaimable=d.containers_reclaimable, volumes_size=d.volumes_size,
        volumes_reclaimable=d.volumes_reclaimable, build_cache_size=d.build_cache_size,
        build_cache_entries=d.build_cache_entries,
        images=tuple(ImageUsage(image=image(u.image), size=u.size, shared_size=u.shared_size,
                                unique_size=u.unique_size, containers=u.containers) for u in d.images),
        containers=tuple(container_summary(c) for c in d.containers),
        volumes=tuple(volume(v) for v in d.volumes),
        raw=d,
    )
