"""The SDK's result types: frozen dataclasses of plain Python values.

Times are timezone-aware UTC datetimes (None when unset), sizes are ints in
bytes, lists are tuples and maps are dicts. Every result keeps the protobuf
message it came from in ``.raw`` for the fields not mapped here.
pallet.client._sdk_convert builds them; both clients share that code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict


def _raw() -> Any:
    return field(default=None, repr=False, compare=False)


# -- containers --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Port:
    """A published port: container_port/protocol on host_ip:host_port."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int = 0


@dataclass(frozen=True, kw_only=True)
class Mount:
    """A volume, bind or tmpfs mount of a container."""

    type: str
    source: str
    target: str
    read_only: bool = False
    # The host path mounted (a volume's _data directory), set by the daemon.
    path: str = ""


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """A container's endpoint on one network."""

    network_id: str
    network_name: str
    container_id: str = ""
    container_name: str = ""
    # With the prefix length, e.g. "172.18.0.2/16"; empty when none.
    ipv4_address: str = ""
    ipv6_address: str = ""
    mac_address: str = ""
    aliases: tuple[str, ...] = ()
    raw: Any = _raw()


@dataclass(frozen=True, kw_only=True)
class ContainerState:
    """Where a container is in its life."""

    # "created", "running", "paused", "restarting", "removing", "exited" or "dead".
    status: str
    pid: int = 0
    exit_code: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str = ""
    oom_killed: bool = False
    # "starting", "healthy" or "unhealthy"; empty without a health check.
    health: str = ""

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


@dataclass(frozen=True, kw_only=True)
class ContainerSummary:
    """A container as `containers.list()` shows it (palletctl ps)."""

    id: str
    name: str
    image: str
    image_id: str
    # The command that runs: entrypoint and cmd resolved against the image.
    command: tuple[str, ...]
    created: datetime | None
    status: str
    exit_code: int
    labels: Mapping[str, str]
    ports: tuple[Port, ...]
    # Names of the networks the container is on.
    networks: tuple[str, ...]
    # Bytes of the writable layer and with the image; only with list(size=True).
    size_rw: int = 0
    size_root_fs: int = 0
    raw: Any = _raw()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


@dataclass(frozen=True, kw_only=True)
class Container(ContainerSummary):
    """A container as `containers.get()` shows it (palletctl inspect)."""

    state: ContainerState
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    tty: bool = False
    open_stdin: bool = False
    auto_remove: bool = False
    # "no", "always", "on-failure" or "unless-stopped" ("" when unset).
    restart_policy: str = ""
    restart_count: int = 0
    mounts: tuple[Mount, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One chunk of a container's output (usually one line)."""

    # "stdout" or "stderr".
    stream: str
    data: bytes
    time: datetime | None = None

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


@dataclass(frozen=True, kw_only=True)
class ExecResult:
    """What containers.exec_run() collected: the exit code and the output."""

    exit_code: int
    # stdout and stderr interleaved as they arrived.
    output: bytes
    stdout: bytes = b""
    stderr: bytes = b""


@dataclass(frozen=True, kw_only=True)
class PruneResult:
    """IDs or names removed by a prune, and the bytes freed."""

    deleted: tuple[str, ...]
    space_reclaimed: int = 0


# -- images ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Image:
    id: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]
    created: datetime | None
    # Sum of the uncompressed layer sizes.
    size: int
    labels: Mapping[str, str]
    architecture: str = ""
    os: str = ""
    author: str = ""
    comment: str = ""
    raw: Any = _raw()

    @property
    def short_id(self) -> str:
        """The ID as palletctl images shows it (12 hex digits, no algorithm)."""
        return self.id.split(":", 1)[-1][:12]


@dataclass(frozen=True, kw_only=True)
class PullProgress:
    """One progress message of a pull.

    With an id it is about one layer (Downloading, Extracting, Pull complete, ...);
    without one it is a line about the whole pull. The last message of each
    reference pulled carries the image.
    """

    status: str
    id: str = ""
    current: int = 0
    total: int = 0
    digest: str = ""
    ref: str = ""
    image: Image | None = None
    raw: Any = _raw()


@dataclass(frozen=True, kw_only=True)
class ImageRemoval:
    """What images.remove() did: references untagged and image/layer IDs deleted."""

    untagged: tuple[str, ...]
    deleted: tuple[str, ...]


# -- networks and volumes ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IPAMPool:
    """One subnet of a network."""

    subnet: str
    gateway: str = ""
    ip_range: str = ""


@dataclass(frozen=True, kw_only=True)
class Network:
    id: str
    name: str
    driver: str
    scope: str
    created: datetime | None
    internal: bool
    enable_ipv6: bool
    ipam: tuple[IPAMPool, ...]
    labels: Mapping[str, str]
    options: Mapping[str, str]
    # Endpoints of the containers on this network.
    containers: tuple[Endpoint, ...]
    raw: Any = _raw()

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True, kw_only=True)
class Volume:
    name: str
    driver: str
    mountpoint: str
    created: datetime | None
    labels: Mapping[str, str]
    options: Mapping[str, str]
    scope: str = "local"
    # IDs of the containers that use the volume.
    used_by: tuple[str, ...] = ()
    # Bytes on disk; only set in system.df().
    size: int = 0
    raw: Any = _raw()


# -- system ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Version:
    version: str
    api_version: str
    git_commit: str
    python_version: str
    os: str
    arch: str
    kernel_version: str
    runtime: str
    runtime_version: str
    build_time: datetime | None = None
    raw: Any = _raw()


@dataclass(frozen=True, kw_only=True)
class Info:
    name: str
    server_version: str
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    images: int
    driver: str
    data_root: str
    exec_root: str
    runtime: str
    logging_driver: str
    cgroup_driver: str
    cgroup_version: str
    kernel_version: str
    operating_system: str
    os_type: str
    architecture: str
    ncpu: int
    mem_total: int
    # Addresses of the services palletd uses (imagesvc, netsvc, ...).
    services: Mapping[str, str]
    raw: Any = _raw()


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to an object (palletctl events)."""

    # "container", "image", "network", "volume", ...
    type: str
    # "create", "start", "die", "destroy", ...
    action: str
    id: str
    attributes: Mapping[str, str]
    time: datetime | None
    raw: Any = _raw()


@dataclass(frozen=True, kw_only=True)
class ImageUsage:
    image: Image
    size: int
    shared_size: int
    unique_size: int
    # How many containers use the image.
    containers: int


@dataclass(frozen=True, kw_only=True)
class DiskUsage:
    """system.df(): what images, containers, volumes and the build cache hold."""

    images_size: int
    images_reclaimable: int
    containers_size: int
    containers_reclaimable: int
    volumes_size: int
    volumes_reclaimable: int
    build_cache_size: int
    build_cache_entries: int
    images: tuple[ImageUsage, ...] = ()
    containers: tuple[ContainerSummary, ...] = ()
    volumes: tuple[Volume, ...] = ()
    raw: Any = _raw()


# -- options -----------------------------------------------------------------------


class CreateOptions(TypedDict, total=False):
    """Keyword options of containers.create() and containers.run().

    name: the container's name. entrypoint: a string (split like a shell) or a list.
    env: {"K": "v"} or ["K=v"]. labels: {"k": "v"}. working_dir, user, hostname.
    network: "bridge" (default), "none", "host", "container:NAME" or a network name.
    auto_remove: remove the container when it exits. tty, stdin_open.
    stop_signal: e.g. "SIGINT". stop_timeout: seconds before SIGKILL on stop.
    restart_policy: "no", "always", "unless-stopped", "on-failure" or "on-failure:N".
    volumes: {"name-or-/host/path": "/target[:ro]"} or ["src:/target[:ro]", "/anonymous"].
    ports: {"80/tcp": 8080, "53/udp": ("127.0.0.1", 5353), 9000: None (a random host port)}.
    mem_limit: bytes, or a string such as "512m". cpus: e.g. 1.5. privileged, read_only, init.
    cap_add, cap_drop: capability names. dns: server addresses.
    extra_hosts: {"name": "ip"} or ["name:ip"].
    raw_config: a pallet.engine.v1.ContainerConfig whose set fields the others add to.
    """

    name: str
    entrypoint: str | list[str] | tuple[str, ...]
    env: Mapping[str, str] | list[str] | tuple[str, ...]
    labels: Mapping[str, str]
    working_dir: str
    user: str
    hostname: str
    network: str
    auto_remove: bool
    tty: bool
    stdin_open: bool
    stop_signal: str
    stop_timeout: int
    restart_policy: str
    volumes: Mapping[str, str] | list[str] | tuple[str, ...]
    ports: Mapping[str | int, int | str | tuple[str, int] | None]
    mem_limit: int | str
    cpus: float
    privileged: bool
    read_only: bool
    init: bool
    cap_add: list[str] | tuple[str, ...]
    cap_drop: list[str] | tuple[str, ...]
    dns: list[str] | tuple[str, ...]
    extra_hosts: Mapping[str, str] | list[str] | tuple[str, ...]
    raw_config: Any
