"""The normalized compose model: typed dataclasses, and their `compose config` form (to_dict).

Units: durations are integers of nanoseconds (fields named *_ns), sizes integers of bytes,
cpus floats. Paths (build contexts, bind sources, env/secret/config files) are absolute.
to_dict() writes keys in the order compose-go's structs declare them, leaves out what is
unset (None, False, empty), sorts mapping keys, and prints durations as Go does ("1m30s")
and sizes as decimal strings of bytes, as `docker compose config` does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pallet.client.compose._units import format_duration

Dict = dict[str, Any]


def _put(out: Dict, key: str, value: Any) -> None:
    """Set key unless value is unset: None, False, "" or an empty collection (0 is kept)."""
    if value is None or value is False or value == "" or (isinstance(value, list | dict) and not value):
        return
    out[key] = value


def _sorted(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: mapping[k] for k in sorted(mapping)}


def _duration(ns: int | None) -> str | None:
    return None if ns is None else format_duration(ns)


def _bytes(value: int | None) -> str | None:
    return None if value is None else str(value)


@dataclass
class PortSpec:
    """A published or exposed port; published is a host port or a range ("8000-8010"), None for any."""

    target: int
    published: str | None = None
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    name: str | None = None
    app_protocol: str | None = None

    def published_range(self) -> tuple[int, int] | None:
        """(first, last) host port, or None when the engine picks one."""
        if not self.published:
            return None
        first, _, last = self.published.partition("-")
        return int(first), int(last or first)

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "name", self.name)
        _put(out, "mode", self.mode)
        _put(out, "host_ip", self.host_ip)
        out["target"] = self.target
        _put(out, "published", self.published)
        _put(out, "protocol", self.protocol)
        _put(out, "app_protocol", self.app_protocol)
        return out


@dataclass
class BindOptions:
    propagation: str | None = None
    create_host_path: bool = True
    selinux: str | None = None
    recursive: str | None = None

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "selinux", self.selinux)
        _put(out, "propagation", self.propagation)
        _put(out, "create_host_path", self.create_host_path)
        _put(out, "recursive", self.recursive)
        return out


@dataclass
class VolumeOptions:
    nocopy: bool = False
    subpath: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "labels", _sorted(self.labels))
        _put(out, "nocopy", self.nocopy)
        _put(out, "subpath", self.subpath)
        return out


@dataclass
class TmpfsOptions:
    size: int | None = None
    mode: int | None = None

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "size", _bytes(self.size))
        _put(out, "mode", self.mode)
        return out


@dataclass
class VolumeSpec:
    """A service mount: type "bind" (source an absolute host path), "volume" (source a volume key
    of the project, None for an anonymous volume), "tmpfs", "npipe", "cluster" or "image"."""

    type: str
    source: str | None
    target: str
    read_only: bool = False
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None
    image_subpath: str | None = None

    def to_dict(self) -> Dict:
        out: Dict = {"type": self.type}
        _put(out, "source", self.source)
        out["target"] = self.target
        _put(out, "read_only", self.read_only)
        _put(out, "consistency", self.consistency)
        for key, options in (("bind", self.bind), ("volume", self.volume), ("tmpfs", self.tmpfs)):
            if options is not None:
                out[key] = options.to_dict()
        if self.image_subpath is not None:
            out["image"] = {"subpath": self.image_subpath}
        return out


@dataclass
class NetworkAttach:
    """How a service joins one network."""

    aliases: list[str] = field(default_factory=list)
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    link_local_ips: list[str] = field(default_factory=list)
    mac_address: str | None = None
    driver_opts: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    gw_priority: int = 0
    interface_name: str | None = None

    def to_dict(self) -> Dict | None:
        out: Dict = {}
        _put(out, "aliases", self.aliases)
        _put(out, "driver_opts", _sorted(self.driver_opts))
        _put(out, "gw_priority", self.gw_priority or None)
        _put(out, "interface_name", self.interface_name)
        _put(out, "ipv4_address", self.ipv4_address)
        _put(out, "ipv6_address", self.ipv6_address)
        _put(out, "link_local_ips", self.link_local_ips)
        _put(out, "mac_address", self.mac_address)
        _put(out, "priority", self.priority or None)
        return out or None


@dataclass
class Depends:
    condition: str = "service_started"
    restart: bool = False
    required: bool = True

    def to_dict(self) -> Dict:
        out: Dict = {"condition": self.condition}
        _put(out, "restart", self.restart)
        out["required"] = self.required
        return out


@dataclass
class HealthCheck:
    """test is ["CMD", ...], ["CMD-SHELL", cmd] or ["NONE"]; empty keeps the image's test."""

    test: list[str] = field(default_factory=list)
    interval_ns: int | None = None
    timeout_ns: int | None = None
    start_period_ns: int | None = None
    start_interval_ns: int | None = None
    retries: int | None = None
    disable: bool = False

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "test", self.test)
        _put(out, "timeout", _duration(self.timeout_ns))
        _put(out, "interval", _duration(self.interval_ns))
        _put(out, "retries", self.retries)
        _put(out, "start_period", _duration(self.start_period_ns))
        _put(out, "start_interval", _duration(self.start_interval_ns))
        _put(out, "disable", self.disable)
        return out


@dataclass
class Ulimit:
    soft: int
    hard: int

    def to_dict(self) -> int | Dict:
        return self.soft if self.soft == self.hard else {"soft": self.soft, "hard": self.hard}


@dataclass
class FileMount:
    """A secret or config given to a service: source is the project's key, target the path inside."""

    source: str
    target: str
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None

    def to_dict(self) -> Dict:
        out: Dict = {"source": self.source, "target": self.target}
        _put(out, "uid", self.uid)
        _put(out, "gid", self.gid)
        if self.mode is not None:
            out["mode"] = f"0{self.mode:o}"  # compose prints file modes in octal
        return out


@dataclass
class DeviceMapping:
    source: str
    target: str
    permissions: str = "rwm"

    def to_dict(self) -> Dict:
        return {"source": self.source, "target": self.target, "permissions": self.permissions}


@dataclass
class EnvFile:
    path: str
    required: bool = True
    format: str | None = None


@dataclass
class Logging:
    driver: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "driver", self.driver)
        _put(out, "options", _sorted(self.options))
        return out


@dataclass
class Build:
    context: str
    dockerfile: str | None = "Dockerfile"
    dockerfile_inline: str | None = None
    args: dict[str, str | None] = field(default_factory=dict)
    ssh: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    cache_from: list[str] = field(default_factory=list)
    cache_to: list[str] = field(default_factory=list)
    no_cache: bool = False
    additional_contexts: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    pull: bool = False
    target: str | None = None
    shm_size: int | None = None
    extra_hosts: list[str] = field(default_factory=list)
    isolation: str | None = None
    privileged: bool = False
    secrets: list[FileMount] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    ulimits: dict[str, Ulimit] = field(default_factory=dict)
    platforms: list[str] = field(default_factory=list)
    entitlements: list[str] = field(default_factory=list)
    extras: Dict = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {"context": self.context}
        _put(out, "dockerfile", self.dockerfile)
        _put(out, "dockerfile_inline", self.dockerfile_inline)
        _put(out, "entitlements", self.entitlements)
        _put(out, "args", _sorted(self.args))
        _put(out, "ssh", self.ssh)
        _put(out, "labels", _sorted(self.labels))
        _put(out, "cache_from", self.cache_from)
        _put(out, "cache_to", self.cache_to)
        _put(out, "no_cache", self.no_cache)
        _put(out, "additional_contexts", _sorted(self.additional_contexts))
        _put(out, "network", self.network)
        for key in ("provenance", "sbom"):
            _put(out, key, self.extras.get(key))
        _put(out, "pull", self.pull)
        _put(out, "target", self.target)
        _put(out, "shm_size", _bytes(self.shm_size))
        _put(out, "extra_hosts", self.extra_hosts)
        _put(out, "isolation", self.isolation)
        _put(out, "privileged", self.privileged)
        _put(out, "secrets", [s.to_dict() for s in self.secrets])
        _put(out, "tags", self.tags)
        _put(out, "ulimits", {k: self.ulimits[k].to_dict() for k in sorted(self.ulimits)})
        _put(out, "platforms", self.platforms)
        out.update({k: v for k, v in self.extras.items() if k.startswith("x-")})
        return out


@dataclass
class Resources:
    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None
    devices: list[Dict] = field(default_factory=list)
    generic_resources: list[Dict] = field(default_factory=list)

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "cpus", self.cpus)
        _put(out, "memory", _bytes(self.memory))
        _put(out, "pids", self.pids)
        _put(out, "devices", self.devices)
        _put(out, "generic_resources", self.generic_resources)
        return out


@dataclass
class RestartPolicy:
    condition: str | None = None
    delay_ns: int | None = None
    max_attempts: int | None = None
    window_ns: int | None = None

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "condition", self.condition)
        _put(out, "delay", _duration(self.delay_ns))
        _put(out, "max_attempts", self.max_attempts)
        _put(out, "window", _duration(self.window_ns))
        return out


@dataclass
class Deploy:
    mode: str | None = None
    replicas: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    limits: Resources | None = None
    reservations: Resources | None = None
    restart_policy: RestartPolicy | None = None
    update_config: Dict = field(default_factory=dict)
    rollback_config: Dict = field(default_factory=dict)
    placement: Dict = field(default_factory=dict)
    endpoint_mode: str | None = None

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "mode", self.mode)
        _put(out, "replicas", self.replicas)
        _put(out, "labels", _sorted(self.labels))
        _put(out, "update_config", _update_dict(self.update_config))
        _put(out, "rollback_config", _update_dict(self.rollback_config))
        resources: Dict = {}
        if self.limits is not None:
            resources["limits"] = self.limits.to_dict()
        if self.reservations is not None:
            resources["reservations"] = self.reservations.to_dict()
        _put(out, "resources", resources)
        if self.restart_policy is not None:
            out["restart_policy"] = self.restart_policy.to_dict()
        _put(out, "placement", self.placement)
        _put(out, "endpoint_mode", self.endpoint_mode)
        return out


def _update_dict(config: Dict) -> Dict:
    out = dict(config)
    for key in ("delay", "monitor"):
        if isinstance(out.get(key), int):
            out[key] = format_duration(out[key])
    return out


@dataclass
class Service:
    """One service, normalized. environment already holds its env_file entries (under its own)."""

    name: str
    image: str | None = None
    build: Build | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str | None] = field(default_factory=dict)
    env_files: list[EnvFile] = field(default_factory=list)
    ports: list[PortSpec] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)
    volumes: list[VolumeSpec] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    networks: dict[str, NetworkAttach] = field(default_factory=dict)
    network_mode: str | None = None
    depends_on: dict[str, Depends] = field(default_factory=dict)
    healthcheck: HealthCheck | None = None
    restart: str | None = None
    deploy: Deploy | None = None
    scale: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    extra_hosts: list[str] = field(default_factory=list)  # "host:ip", as the engine takes them
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_opt: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    read_only: bool = False
    init: bool | None = None
    tty: bool = False
    stdin_open: bool = False
    stop_signal: str | None = None
    stop_grace_period_ns: int | None = None
    ulimits: dict[str, Ulimit] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    container_name: str | None = None
    pid: str | None = None
    ipc: str | None = None
    uts: str | None = None
    userns_mode: str | None = None
    cgroup: str | None = None
    cgroup_parent: str | None = None
    runtime: str | None = None
    isolation: str | None = None
    secrets: list[FileMount] = field(default_factory=list)
    configs: list[FileMount] = field(default_factory=list)
    mac_address: str | None = None
    platform: str | None = None
    pull_policy: str | None = None
    devices: list[DeviceMapping] = field(default_factory=list)
    device_cgroup_rules: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    shm_size: int | None = None
    mem_limit: int | None = None
    mem_reservation: int | None = None
    memswap_limit: int | None = None
    mem_swappiness: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_rt_period: int | None = None
    cpu_rt_runtime: int | None = None
    cpu_count: int | None = None
    cpu_percent: int | None = None
    cpuset: str | None = None
    pids_limit: int | None = None
    oom_kill_disable: bool = False
    oom_score_adj: int | None = None
    logging: Logging | None = None
    profiles: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    external_links: list[str] = field(default_factory=list)
    volumes_from: list[str] = field(default_factory=list)
    attach: bool | None = None
    extras: Dict = field(default_factory=dict)  # accepted keys not modelled here (develop, gpus, ...)
    extensions: Dict = field(default_factory=dict)  # x-* keys

    def replicas(self) -> int:
        """How many containers the service runs: scale, else deploy.replicas, else 1."""
        if self.scale is not None:
            return self.scale
        if self.deploy is not None and self.deploy.replicas is not None:
            return self.deploy.replicas
        return 1

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "profiles", self.profiles)
        _put(out, "annotations", _sorted(self.annotations))
        if self.attach is not None:
            out["attach"] = self.attach
        if self.build is not None:
            out["build"] = self.build.to_dict()
        _put(out, "blkio_config", self.extras.get("blkio_config"))
        _put(out, "cap_add", self.cap_add)
        _put(out, "cap_drop", self.cap_drop)
        _put(out, "cgroup_parent", self.cgroup_parent)
        _put(out, "cgroup", self.cgroup)
        _put(out, "cpu_count", self.cpu_count)
        _put(out, "cpu_percent", self.cpu_percent)
        _put(out, "cpu_period", self.cpu_period)
        _put(out, "cpu_quota", self.cpu_quota)
        _put(out, "cpu_rt_period", self.cpu_rt_period)
        _put(out, "cpu_rt_runtime", self.cpu_rt_runtime)
        _put(out, "cpus", self.cpus)
        _put(out, "cpuset", self.cpuset)
        _put(out, "cpu_shares", self.cpu_shares)
        if self.command is not None:
            out["command"] = list(self.command)
        _put(out, "configs", [c.to_dict() for c in self.configs])
        _put(out, "container_name", self.container_name)
        _put(out, "credential_spec", self.extras.get("credential_spec"))
        _put(out, "depends_on", {k: self.depends_on[k].to_dict() for k in sorted(self.depends_on)})
        if self.deploy is not None:
            out["deploy"] = self.deploy.to_dict()
        _put(out, "develop", self.extras.get("develop"))
        _put(out, "device_cgroup_rules", self.device_cgroup_rules)
        _put(out, "devices", [d.to_dict() for d in self.devices])
        _put(out, "dns", self.dns)
        _put(out, "dns_opt", self.dns_opt)
        _put(out, "dns_search", self.dns_search)
        _put(out, "domainname", self.domainname)
        if self.entrypoint is not None:
            out["entrypoint"] = list(self.entrypoint)
        _put(out, "environment", _sorted(self.environment))
        _put(out, "expose", self.expose)
        _put(out, "external_links", self.external_links)
        _put(out, "extra_hosts", [h.replace(":", "=", 1) for h in self.extra_hosts])
        _put(out, "group_add", self.group_add)
        _put(out, "gpus", self.extras.get("gpus"))
        _put(out, "hostname", self.hostname)
        if self.healthcheck is not None:
            out["healthcheck"] = self.healthcheck.to_dict()
        _put(out, "image", self.image)
        if self.init is not None:
            out["init"] = self.init
        _put(out, "ipc", self.ipc)
        _put(out, "isolation", self.isolation)
        _put(out, "labels", _sorted(self.labels))
        _put(out, "links", self.links)
        if self.logging is not None:
            out["logging"] = self.logging.to_dict()
        _put(out, "mem_limit", _bytes(self.mem_limit))
        _put(out, "mem_reservation", _bytes(self.mem_reservation))
        _put(out, "memswap_limit", _bytes(self.memswap_limit))
        _put(out, "mem_swappiness", self.mem_swappiness)
        _put(out, "mac_address", self.mac_address)
        _put(out, "network_mode", self.network_mode)
        _put(out, "networks", {k: self.networks[k].to_dict() for k in sorted(self.networks)})
        _put(out, "oom_kill_disable", self.oom_kill_disable)
        _put(out, "oom_score_adj", self.oom_score_adj)
        _put(out, "pid", self.pid)
        _put(out, "pids_limit", self.pids_limit)
        _put(out, "platform", self.platform)
        _put(out, "ports", [p.to_dict() for p in self.ports])
        _put(out, "privileged", self.privileged)
        _put(out, "pull_policy", self.pull_policy)
        _put(out, "read_only", self.read_only)
        _put(out, "restart", self.restart)
        _put(out, "runtime", self.runtime)
        if self.scale is not None:
            out["scale"] = self.scale
        _put(out, "secrets", [s.to_dict() for s in self.secrets])
        _put(out, "security_opt", self.security_opt)
        _put(out, "shm_size", _bytes(self.shm_size))
        _put(out, "stdin_open", self.stdin_open)
        _put(out, "stop_grace_period", _duration(self.stop_grace_period_ns))
        _put(out, "stop_signal", self.stop_signal)
        _put(out, "storage_opt", self.extras.get("storage_opt"))
        _put(out, "sysctls", _sorted(self.sysctls))
        _put(out, "tmpfs", self.tmpfs)
        _put(out, "tty", self.tty)
        _put(out, "ulimits", {k: self.ulimits[k].to_dict() for k in sorted(self.ulimits)})
        _put(out, "use_api_socket", self.extras.get("use_api_socket"))
        _put(out, "user", self.user)
        _put(out, "userns_mode", self.userns_mode)
        _put(out, "uts", self.uts)
        _put(out, "volume_driver", self.extras.get("volume_driver"))
        _put(out, "volumes", [v.to_dict() for v in self.volumes])
        _put(out, "volumes_from", self.volumes_from)
        _put(out, "working_dir", self.working_dir)
        _put(out, "post_start", self.extras.get("post_start"))
        _put(out, "pre_stop", self.extras.get("pre_stop"))
        out.update(copy.deepcopy(self.extensions))
        return out


@dataclass
class IpamPool:
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "subnet", self.subnet)
        _put(out, "gateway", self.gateway)
        _put(out, "ip_range", self.ip_range)
        _put(out, "aux_addresses", _sorted(self.aux_addresses))
        return out


@dataclass
class Ipam:
    driver: str | None = None
    config: list[IpamPool] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {}
        _put(out, "driver", self.driver)
        _put(out, "config", [p.to_dict() for p in self.config])
        _put(out, "options", _sorted(self.options))
        return out


@dataclass
class Network:
    """A project network; name is the engine-side name (`<project>_<key>` unless given or external)."""

    name: str
    driver: str | None = None
    driver_opts: dict[str, str] = field(default_factory=dict)
    ipam: Ipam | None = None
    external: bool = False
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    enable_ipv4: bool | None = None
    enable_ipv6: bool | None = None
    extensions: Dict = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {"name": self.name}
        _put(out, "driver", self.driver)
        _put(out, "driver_opts", _sorted(self.driver_opts))
        _put(out, "ipam", self.ipam.to_dict() if self.ipam is not None else None)
        _put(out, "external", self.external)
        _put(out, "internal", self.internal)
        _put(out, "attachable", self.attachable)
        _put(out, "labels", _sorted(self.labels))
        if self.enable_ipv4 is not None:
            out["enable_ipv4"] = self.enable_ipv4
        if self.enable_ipv6 is not None:
            out["enable_ipv6"] = self.enable_ipv6
        out.update(copy.deepcopy(self.extensions))
        return out


@dataclass
class Volume:
    """A project volume; name is the engine-side name (`<project>_<key>` unless given or external)."""

    name: str
    driver: str | None = None
    driver_opts: dict[str, str] = field(default_factory=dict)
    external: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    extensions: Dict = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {"name": self.name}
        _put(out, "driver", self.driver)
        _put(out, "driver_opts", _sorted(self.driver_opts))
        _put(out, "external", self.external)
        _put(out, "labels", _sorted(self.labels))
        out.update(copy.deepcopy(self.extensions))
        return out


@dataclass
class FileObject:
    """A project secret or config: from a file, an environment variable, inline content (configs)
    or external. content holds the value of `environment` once resolved; it is not printed."""

    name: str
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    driver: str | None = None
    driver_opts: dict[str, str] = field(default_factory=dict)
    template_driver: str | None = None
    inline: bool = False  # content came from the file's `content:` key (printed), not from the environment
    extensions: Dict = field(default_factory=dict)

    def to_dict(self) -> Dict:
        out: Dict = {"name": self.name}
        _put(out, "file", self.file)
        _put(out, "environment", self.environment)
        if self.inline:
            _put(out, "content", self.content)
        _put(out, "external", self.external)
        _put(out, "labels", _sorted(self.labels))
        _put(out, "driver", self.driver)
        _put(out, "driver_opts", _sorted(self.driver_opts))
        _put(out, "template_driver", self.template_driver)
        out.update(copy.deepcopy(self.extensions))
        return out


Secret = FileObject
Config = FileObject


def profile_enabled(service: Service, active: set[str] | frozenset[str]) -> bool:
    """A service without profiles is always enabled; one with profiles when one of them is active."""
    return not service.profiles or "*" in active or any(p in active for p in service.profiles)


@dataclass
class Project:
    """A loaded compose project. services holds the enabled services; disabled the ones whose
    profiles are all inactive. working_dir is the absolute project directory; environment the
    variables interpolation used (the process environment over the .env/--env-file ones)."""

    name: str
    working_dir: str
    services: dict[str, Service] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    secrets: dict[str, FileObject] = field(default_factory=dict)
    configs: dict[str, FileObject] = field(default_factory=dict)
    disabled: dict[str, Service] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    config_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extensions: Dict = field(default_factory=dict)

    def service_names(self) -> list[str]:
        return sorted(self.services)

    def with_services(self, names: list[str] | tuple[str, ...] | set[str]) -> Project:
        """The project as `up NAME...` sees it: the named services (their profiles activated, as
        compose does for services named on the command line) and everything they depend on.

        With no names, every enabled service. Raises ComposeFileError for an unknown name, or for a
        required dependency that is disabled by its profiles.
        """
        from pallet.client.compose._graph import select

        return select(self, list(names))

    def to_dict(self) -> Dict:
        """The model as `docker compose config` prints it."""
        out: Dict = {"name": self.name,
                     "services": {n: self.services[n].to_dict() for n in sorted(self.services)}}
        for key, resources in (("networks", self.networks), ("volumes", self.volumes),
                               ("secrets", self.secrets), ("configs", self.configs)):
            _put(out, key, {n: resources[n].to_dict() for n in sorted(resources)})
        out.update(copy.deepcopy(self.extensions))
        return out
