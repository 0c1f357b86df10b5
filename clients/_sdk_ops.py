"""What each typed SDK method sends and how its answer is read, for both clients.

An Op names the RPC, carries the request built from the method's Python
arguments, the converter from pallet.client._sdk_convert for the answer, and
how the call is made: whether it is an idempotent read (retried when the
daemon is unavailable) and whether the client's default timeout applies.
pallet.client._sdk_sync and pallet.client._sdk_async only add the calling.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pallet.engine.v1 import engine_pb2 as pb
from pallet.errors import InvalidArgument, NotFound
from pallet.images.v1 import images_pb2 as ipb
from pallet.net.v1 import net_pb2 as npb

from . import _sdk_convert as cv
from ._sdk_types import (
    Container,
    ContainerSummary,
    DiskUsage,
    Event,
    Image,
    ImageRemoval,
    Info,
    LogEntry,
    Network,
    PruneResult,
    PullProgress,
    Version,
    Volume,
)

T = TypeVar("T")

Filters = Mapping[str, "str | bool | int | Iterable[str]"] | Iterable[str] | None
Time = datetime | float | int | None


@dataclass(frozen=True)
class Op(Generic[T]):
    """One typed call: rpc on the resource's stub with request, the answer through convert."""

    rpc: str
    request: Any
    convert: Callable[[Any], T]
    # An idempotent read: retried on UNAVAILABLE.
    read: bool = False
    # The client's default timeout applies (plus extra seconds); not for calls that block by design.
    default_timeout: bool = True
    extra: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of idempotent reads while the daemon is unavailable, with exponential backoff.

    Only UNAVAILABLE is retried (the daemon is not listening yet, or restarting);
    calls that change something are never retried.
    """

    retries: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0 for the first)."""
        return float(min(self.max_backoff, self.initial_backoff * self.multiplier ** attempt))

    def next_delay(self, attempt: int, exc: BaseException, *, read: bool,
                   remaining: float | None = None) -> float | None:
        """The delay before trying again after `exc`, or None to give up.

        remaining is what is left of the call's deadline: no retry that could not finish in it.
        """
        if not read or attempt >= self.retries or code_name(exc) != "UNAVAILABLE":
            return None
        delay = self.backoff(attempt)
        if remaining is not None and delay >= remaining:
            return None
        return delay


def code_name(exc: BaseException) -> str:
    """The gRPC status name of a failed call ("UNAVAILABLE", ...), "" for other exceptions."""
    code = getattr(exc, "code", None)
    if code is None:
        return ""
    try:
        value = code()
    except Exception:  # noqa: BLE001 - not a call
        return ""
    return str(getattr(value, "name", ""))


def resolve_timeout(per_call: float | None, client_default: float | None, op: Op[Any] | None = None) -> float | None:
    """The deadline in seconds for one call, None for none.

    per_call (the method's timeout=) wins, math.inf meaning no deadline; otherwise the
    client's default applies to ops that allow it (streams and waits pass op=None).
    """
    if per_call is not None:
        if per_call <= 0:
            raise InvalidArgument(f"timeout must be positive, not {per_call}")
        return None if math.isinf(per_call) else float(per_call)
    if op is None or not op.default_timeout or client_default is None or math.isinf(client_default):
        return None
    return client_default + op.extra


# -- argument helpers --------------------------------------------------------------


def filters(value: Filters) -> list[str]:
    """Docker-style filters as the API takes them: {"label": ["a=b", "c"], "status": "exited"}
    or ["label=a=b", "status=exited"] -> ["label=a=b", "label=c", "status=exited"]."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        out = []
        for key, v in value.items():
            if isinstance(v, str | bool | int):
                out.append(f"{key}={str(v).lower() if isinstance(v, bool) else v}")
            else:
                out.extend(f"{key}={x}" for x in v)
        return out
    return [str(x) for x in value]


def set_time(ts: Any, value: Time) -> None:
    """Fill a Timestamp from a datetime (naive means UTC) or Unix seconds."""
    if value is None:
        return
    if isinstance(value, datetime):
        ns = int(value.timestamp() * 1e9) if value.tzinfo else int(
            (value - datetime(1970, 1, 1)).total_seconds() * 1e9)
    else:
        ns = int(float(value) * 1e9)
    ts.FromNanoseconds(ns)


def argv(value: str | Sequence[str] | None) -> list[str]:
    """A command as a list: a string is split like a shell would."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(x) for x in value]


def env_list(value: Mapping[str, str] | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items()]
    return [str(x) for x in value]


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size_bytes(value: int | str) -> int:
    """Bytes from an int or Docker's size strings ("512m", "1g", "1.5GiB")."""
    if isinstance(value, int):
        return value
    text = value.strip().lower().removesuffix("ib").removesuffix("b")
    unit = text[-1:] if text[-1:].isalpha() else ""
    try:
        return int(float(text[: len(text) - len(unit)]) * _UNITS[unit])
    except (KeyError, ValueError):
        raise InvalidArgument(f"invalid size: {value!r}") from None


def parse_restart_policy(value: str) -> Any:
    """ "on-failure:3" -> RestartPolicy(name="on-failure", maximum_retry_count=3)."""
    name, _, count = value.partition(":")
    try:
        return pb.RestartPolicy(name=name, maximum_retry_count=int(count) if count else 0)
    except ValueError:
        raise InvalidArgument(f"invalid restart policy: {value!r}") from None


def _mount(source: str, target: str, mode: str = "") -> Any:
    ro = "ro" in mode.split(",")
    if not source:
        return pb.Mount(type="volume", target=target, read_only=ro)
    if source.startswith(("/", ".", "~")):
        return pb.Mount(type="bind", source=source, target=target, read_only=ro, create_source=True)
    return pb.Mount(type="volume", source=source, target=target, read_only=ro, no_copy="nocopy" in mode.split(","))


def mounts(value: Mapping[str, Any] | Iterable[str] | None) -> list[Any]:
    """Volumes and binds: {"src": "/dst[:ro]"}, {"src": {"bind": "/dst", "mode": "ro"}} or
    ["src:/dst[:ro]", "/anonymous"] (a source starting with / or . is a host path)."""
    if value is None:
        return []
    out = []
    if isinstance(value, Mapping):
        for source, spec in value.items():
            if isinstance(spec, Mapping):
                out.append(_mount(source, str(spec.get("bind", "")), str(spec.get("mode", ""))))
            else:
                target, _, mode = str(spec).partition(":")
                out.append(_mount(source, target, mode))
        return out
    for item in value:
        parts = str(item).split(":")
        if len(parts) == 1:
            out.append(_mount("", parts[0]))
        elif len(parts) in (2, 3):
            out.append(_mount(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))
        else:
            raise InvalidArgument(f"invalid volume specification: {item!r}")
    return out


def port_bindings(value: Mapping[str | int, int | str | tuple[str, int] | None] | None) -> list[Any]:
    """docker-py's ports: {"80/tcp": 8080, "53/udp": ("127.0.0.1", 53), 9000: None} -> PortBindings."""
    out = []
    for key, host in (value or {}).items():
        port, _, proto = str(key).partition("/")
        b = npb.PortBinding(protocol=proto or "tcp")
        try:
            b.container_port = int(port)
            if isinstance(host, tuple):
                b.host_ip, b.host_port = host[0], int(host[1])
            elif host is not None:
                b.host_port = int(host)
        except (TypeError, ValueError):
            raise InvalidArgument(f"invalid port mapping: {key!r}: {host!r}") from None
        out.append(b)
    return out


def create_request(image: str, command: str | Sequence[str] | None = None, *, name: str = "",
                   entrypoint: str | Sequence[str] | None = None,
                   env: Mapping[str, str] | Iterable[str] | None = None, labels: Mapping[str, str] | None = None,
                   working_dir: str = "", user: str = "", hostname: str = "", network: str = "",
                   auto_remove: bool = False, tty: bool = False, stdin_open: bool = False, stop_signal: str = "",
                   stop_timeout: int | None = None, restart_policy: str = "",
                   volumes: Mapping[str, Any] | Iterable[str] | None = None,
                   ports: Mapping[str | int, int | str | tuple[str, int] | None] | None = None,
                   mem_limit: int | str | None = None, cpus: float | None = None, privileged: bool = False,
                   read_only: bool = False, init: bool | None = None, cap_add: Iterable[str] = (),
                   cap_drop: Iterable[str] = (), dns: Iterable[str] = (),
                   extra_hosts: Mapping[str, str] | Iterable[str] | None = None,
                   raw_config: Any = None) -> Any:
    """The CreateContainerRequest for containers.create(image, command, **options) (see CreateOptions)."""
    cfg = pb.ContainerConfig()
    if raw_config is not None:
        cfg.CopyFrom(raw_config)
    cfg.image = image
    if command is not None:
        cfg.cmd[:] = argv(command)
    if entrypoint is not None:
        cfg.entrypoint[:] = argv(entrypoint)
        cfg.entrypoint_set = True
    cfg.env.extend(env_list(env))
    cfg.labels.update(labels or {})
    for field, value in (("working_dir", working_dir), ("user", user), ("hostname", hostname),
                         ("network_mode", network), ("stop_signal", stop_signal)):
        if value:
            setattr(cfg, field, value)
    cfg.auto_remove = cfg.auto_remove or auto_remove
    cfg.tty = cfg.tty or tty
    cfg.open_stdin = cfg.open_stdin or stdin_open
    if stop_timeout is not None:
        cfg.stop_timeout = stop_timeout
    if restart_policy:
        cfg.restart_policy.CopyFrom(parse_restart_policy(restart_policy))
    cfg.mounts.extend(mounts(volumes))
    bindings = port_bindings(ports)
    cfg.port_bindings.extend(bindings)
    for b in bindings:
        key = f"{b.container_port}/{b.protocol}"
        if key not in cfg.exposed_ports:
            cfg.exposed_ports.append(key)
    hc = cfg.host_config
    if mem_limit is not None:
        hc.memory = size_bytes(mem_limit)
    if cpus is not None:
        hc.nano_cpus = round(cpus * 1e9)
    hc.privileged = hc.privileged or privileged
    hc.read_only_rootfs = hc.read_only_rootfs or read_only
    if init is not None:
        hc.init = init
    hc.cap_add.extend(cap_add)
    hc.cap_drop.extend(cap_drop)
    cfg.dns.extend(dns)
    if isinstance(extra_hosts, Mapping):
        cfg.extra_hosts.extend(f"{k}:{v}" for k, v in extra_hosts.items())
    elif extra_hosts is not None:
        cfg.extra_hosts.extend(extra_hosts)
    return pb.CreateContainerRequest(config=cfg, name=name)


# -- containers --------------------------------------------------------------------


def containers_list(all: bool, filters_: Filters, limit: int, size: bool) -> Op[list[ContainerSummary]]:
    req = pb.ListContainersRequest(all=all, filters=filters(filters_), limit=limit, size=size)
    return Op("List", req, cv.container_summaries, read=True)


def containers_get(ref: str) -> Op[Container]:
    return Op("Inspect", pb.InspectContainerRequest(id=ref), cv.container, read=True)


def containers_create(image: str, command: str | Sequence[str] | None, options: Mapping[str, Any]) -> Op[str]:
    return Op("Create", create_request(image, command, **options), cv.created_id)


def containers_start(ref: str) -> Op[None]:
    return Op("Start", pb.StartContainerRequest(id=ref), cv.none)


def containers_stop(ref: str, grace: int | None, signal: str) -> Op[None]:
    req = pb.StopContainerRequest(id=ref, signal=signal)
    if grace is not None:
        req.timeout = grace
    # Stop blocks for up to the grace period: the default deadline only applies on top of a known one.
    return Op("Stop", req, cv.none, default_timeout=grace is not None, extra=float(grace or 0))


def containers_restart(ref: str, grace: int | None) -> Op[None]:
    req = pb.RestartContainerRequest(id=ref)
    if grace is not None:
        req.timeout = grace
    return Op("Restart", req, cv.none, default_timeout=grace is not None, extra=float(grace or 0))


def containers_kill(ref: str, signal: str | int) -> Op[None]:
    return Op("Kill", pb.KillContainerRequest(id=ref, signal=str(signal)), cv.none)


def containers_pause(ref: str) -> Op[None]:
    return Op("Pause", pb.PauseContainerRequest(id=ref), cv.none)


def containers_unpause(ref: str) -> Op[None]:
    return Op("Unpause", pb.UnpauseContainerRequest(id=ref), cv.none)


def containers_rename(ref: str, new_name: str) -> Op[None]:
    return Op("Rename", pb.RenameContainerRequest(id=ref, new_name=new_name), cv.none)


def containers_remove(ref: str, force: bool, volumes: bool) -> Op[None]:
    return Op("Remove", pb.RemoveContainerRequest(id=ref, force=force, volumes=volumes), cv.none)


_CONDITIONS = {"not-running": 0, "next-exit": 1, "removed": 2}


def containers_wait(ref: str, condition: str) -> Op[int]:
    if condition not in _CONDITIONS:
        raise InvalidArgument(f"invalid wait condition {condition!r}: not one of {', '.join(_CONDITIONS)}")
    req = pb.WaitContainerRequest(id=ref, condition=_CONDITIONS[condition])  # type: ignore[arg-type]
    return Op("Wait", req, cv.wait_exit_code, default_timeout=False)


def containers_logs(ref: str, follow: bool, tail: int | None, stdout: bool, stderr: bool, since: Time,
                    until: Time) -> Op[LogEntry]:
    req = pb.LogsRequest(id=ref, follow=follow, tail=-1 if tail is None else tail, stdout=stdout, stderr=stderr)
    set_time(req.since, since)
    set_time(req.until, until)
    return Op("Logs", req, cv.log_entry, default_timeout=False)


def containers_prune(filters_: Filters) -> Op[PruneResult]:
    return Op("Prune", pb.PruneRequest(filters=filters(filters_)), cv.containers_pruned)


def attach_request(ref: str) -> Any:
    """The options of an Attach/ExecStart stream that only reads the output."""
    return pb.AttachRequest(id=ref, stdout=True, stderr=True)


def exec_create(ref: str, cmd: str | Sequence[str], env: Mapping[str, str] | Iterable[str] | None, user: str,
                workdir: str, privileged: bool, tty: bool) -> Op[str]:
    req = pb.ExecCreateRequest(container_id=ref, cmd=argv(cmd), env=env_list(env), user=user, working_dir=workdir,
                               privileged=privileged, tty=tty)
    return Op("ExecCreate", req, cv.created_id)


def exec_exit_code(exec_id: str) -> Op[int]:
    return Op("ExecInspect", pb.ExecInspectRequest(id=exec_id), cv.wait_exit_code, read=True)


def is_missing_image(exc: BaseException) -> bool:
    """containers.create() failed because the image is not there (run pulls it then)."""
    return isinstance(exc, NotFound) and "no such image" in str(exc).lower()


# -- images ------------------------------------------------------------------------


def images_list(all: bool, filters_: Filters) -> Op[list[Image]]:
    return Op("List", ipb.ListImagesRequest(all=all, filters=filters(filters_)), cv.images, read=True)


def images_get(ref: str) -> Op[Image]:
    return Op("Inspect", ipb.GetImageRequest(ref=ref), cv.image, read=True)


def images_pull(ref: str, platform: str, all_tags: bool, username: str, password: str) -> Op[PullProgress]:
    req = ipb.PullImageRequest(ref=ref, all_tags=all_tags)
    if platform:
        os_, _, rest = platform.partition("/")
        arch, _, variant = rest.partition("/")
        req.platform.CopyFrom(ipb.Platform(os=os_, architecture=arch, variant=variant))
    if username or password:
        req.auth.CopyFrom(ipb.RegistryAuth(username=username, password=password))
    return Op("Pull", req, cv.pull_progress, default_timeout=False)


def images_remove(ref: str, force: bool, no_prune: bool) -> Op[ImageRemoval]:
    return Op("Remove", pb.RemoveImageRequest(ref=ref, force=force, no_prune=no_prune), cv.image_removal)


def images_tag(source: str, target: str) -> Op[None]:
    return Op("Tag", ipb.TagImageRequest(source=source, target=target), cv.none)


def images_prune(all: bool, filters_: Filters) -> Op[PruneResult]:
    return Op("Prune", pb.PruneRequest(all=all, filters=filters(filters_)), cv.images_pruned)


# -- networks ----------------------------------------------------------------------


def networks_list(filters_: Filters) -> Op[list[Network]]:
    return Op("List", npb.ListNetworksRequest(filters=filters(filters_)), cv.networks, read=True)


def networks_get(ref: str) -> Op[Network]:
    return Op("Inspect", npb.InspectNetworkRequest(id=ref), cv.network, read=True)


def networks_create(name: str, driver: str, subnet: str, gateway: str, ip_range: str,
                    ipam: Iterable[Mapping[str, str]] | None, internal: bool, enable_ipv6: bool,
                    labels: Mapping[str, str] | None, options: Mapping[str, str] | None) -> Op[Network]:
    pools = [npb.IPAMConfig(subnet=p.get("subnet", ""), gateway=p.get("gateway", ""), ip_range=p.get("ip_range", ""))
             for p in ipam or ()]
    if subnet or gateway or ip_range:
        pools.insert(0, npb.IPAMConfig(subnet=subnet, gateway=gateway, ip_range=ip_range))
    req = npb.CreateNetworkRequest(name=name, driver=driver, ipam=pools, internal=internal, enable_ipv6=enable_ipv6,
                                   labels=dict(labels or {}), options=dict(options or {}), check_duplicate=True)
    return Op("Create", req, cv.network)


def networks_remove(ref: str) -> Op[None]:
    return Op("Remove", npb.RemoveNetworkRequest(id=ref), cv.none)


def networks_connect(network: str, container: str, aliases: Iterable[str], ipv4_address: str, ipv6_address: str,
                     mac_address: str) -> Op[None]:
    ep = pb.EndpointConfig(aliases=list(aliases), ipv4_address=ipv4_address, ipv6_address=ipv6_address,
                           mac_address=mac_address)
    return Op("Connect", pb.ConnectNetworkRequest(network=network, container=container, endpoint=ep), cv.none)


def networks_disconnect(network: str, container: str, force: bool) -> Op[None]:
    return Op("Disconnect", pb.DisconnectNetworkRequest(network=network, container=container, force=force), cv.none)


def networks_prune(filters_: Filters) -> Op[PruneResult]:
    return Op("Prune", npb.PruneNetworksRequest(filters=filters(filters_)), cv.networks_pruned)


# -- volumes -----------------------------------------------------------------------


def volumes_list(filters_: Filters) -> Op[list[Volume]]:
    return Op("List", pb.ListVolumesRequest(filters=filters(filters_)), cv.volumes, read=True)


def volumes_get(name: str) -> Op[Volume]:
    return Op("Inspect", pb.InspectVolumeRequest(name=name), cv.volume, read=True)


def volumes_create(name: str, driver: str, labels: Mapping[str, str] | None,
                   driver_opts: Mapping[str, str] | None) -> Op[Volume]:
    req = pb.CreateVolumeRequest(name=name, driver=driver, labels=dict(labels or {}),
                                 driver_opts=dict(driver_opts or {}))
    return Op("Create", req, cv.volume)


def volumes_remove(name: str, force: bool) -> Op[None]:
    return Op("Remove", pb.RemoveVolumeRequest(name=name, force=force), cv.none)


def volumes_prune(all: bool, filters_: Filters) -> Op[PruneResult]:
    return Op("Prune", pb.PruneVolumesRequest(all=all, filters=filters(filters_)), cv.volumes_pruned)


# -- system ------------------------------------------------------------------------


def system_version() -> Op[Version]:
    return Op("Version", pb.VersionRequest(), cv.version, read=True)


def system_ping() -> Op[bool]:
    return Op("Version", pb.VersionRequest(), cv.ping, read=True)


def system_info() -> Op[Info]:
    return Op("Info", pb.InfoRequest(), cv.info, read=True)


def system_df() -> Op[DiskUsage]:
    return Op("DiskUsage", pb.DiskUsageRequest(), cv.disk_usage, read=True)


def system_events(since: Time, until: Time, filters_: Filters) -> Op[Event]:
    req = pb.EventsRequest(filters=filters(filters_))
    set_time(req.since, since)
    set_time(req.until, until)
    return Op("Events", req, cv.event, default_timeout=False)
