"""Docker's container create body (Config + HostConfig + NetworkingConfig) as a ContainerConfig.

The body is translated field by field into the same pallet.engine.v1.ContainerConfig palletctl
builds from its flags, with palletctl's parsers where the body carries the same text (-v binds,
--tmpfs values, -p specs, --expose keys); everything else (validation, defaults, the image's
values) is the Create servicer's. Docker's fields the engine has no place for are reported back
as create warnings when they are set, not silently dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pallet.engine.dockerapi._http import HTTPError
from pallet.engine.v1 import engine_pb2 as pb

# HostConfig fields the engine does not implement: a warning when one is set to something
# other than its zero value (the docker CLI sends them all, zero).
_UNSUPPORTED = ("Links", "UTSMode", "CgroupnsMode", "Cgroup", "CgroupParent", "OomScoreAdj", "Runtime",
                "Isolation", "DeviceRequests", "StorageOpt", "VolumeDriver", "KernelMemory", "KernelMemoryTCP",
                "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpuCount", "CpuPercent", "IOMaximumIOps",
                "IOMaximumBandwidth", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "MaskedPaths", "ReadonlyPaths")


@dataclass
class CreatePlan:
    """What one create body asks for: the request, networks to connect after it, warnings."""

    request: pb.CreateContainerRequest
    connect: dict[str, pb.EndpointConfig] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """palletctl's parsers raise CLIError: for the API it is a bad request (400)."""
    from pallet.client.cli import CLIError

    try:
        yield
    except CLIError as exc:
        raise HTTPError(400, str(exc).removeprefix("palletctl: ")) from None


# --- typed access to the JSON body -------------------------------------------------------------

def _bad(where: str, want: str, value: Any) -> HTTPError:
    return HTTPError(400, f"invalid JSON body: {where} must be {want}, not {type(value).__name__}")


def obj(doc: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(where + key, "an object", value)
    return value


def string(doc: dict[str, Any], key: str, where: str = "") -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(where + key, "a string", value)
    return value


def integer(doc: dict[str, Any], key: str, where: str = "") -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise _bad(where + key, "an integer", value)
    return int(value)


def boolean(doc: dict[str, Any], key: str, where: str = "") -> bool | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _bad(where + key, "a boolean", value)
    return value


def strings(doc: dict[str, Any], key: str, where: str = "", slice_: bool = False) -> list[str] | None:
    """A list of strings (None when absent); with slice_, a lone string too (Go's strslice)."""
    value = doc.get(key)
    if value is None:
        return None
    if slice_ and isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where + key, "a list of strings", value)
    return list(value)


def str_map(doc: dict[str, Any], key: str, where: str = "") -> dict[str, str]:
    value = obj(doc, key, where)
    for k, v in value.items():
        if not isinstance(v, str):
            raise _bad(f"{where}{key}.{k}", "a string", v)
    return dict(value)


def objects(doc: dict[str, Any], key: str, where: str = "") -> list[dict[str, Any]]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad(where + key, "a list of objects", value)
    return value


# --- the body -----------------------------------------------------------------------------------

def create_plan(body: Any, name: str) -> CreatePlan:
    if not isinstance(body, dict):
        raise HTTPError(400, "invalid JSON body: the container config must be an object")
    hc = obj(body, "HostConfig")
    plan = CreatePlan(pb.CreateContainerRequest(name=name))
    cfg = plan.request.config  # filled in place (a message given to a constructor is copied)
    cfg.MergeFrom(pb.ContainerConfig(
        image=string(body, "Image"), env=strings(body, "Env") or [], working_dir=string(body, "WorkingDir"),
        user=string(body, "User"), hostname=string(body, "Hostname"), domainname=string(body, "Domainname"),
        labels=str_map(body, "Labels"), tty=bool(boolean(body, "Tty")), open_stdin=bool(boolean(body, "OpenStdin")),
        stop_signal=string(body, "StopSignal"), auto_remove=bool(boolean(hc, "AutoRemove", "HostConfig."))))
    cfg.cmd.extend(strings(body, "Cmd", slice_=True) or [])
    entrypoint = strings(body, "Entrypoint", slice_=True)
    if entrypoint is not None:
        # [""] is how the docker CLI clears the image's entrypoint (--entrypoint "")
        cfg.entrypoint_set = True
        cfg.entrypoint.extend(e for e in entrypoint if e or len(entrypoint) > 1)
    stop_timeout = integer(body, "StopTimeout")
    if stop_timeout is not None:
        cfg.stop_timeout = stop_timeout
    _healthcheck(obj(body, "Healthcheck"), cfg)
    with cli_errors():
        _restart_and_logs(hc, cfg)
        _mounts(body, hc, cfg)
        _network(body, hc, cfg, plan)
        fill_resources(hc, cfg.host_config, "HostConfig.")
        _isolation(hc, cfg.host_config)
    plan.warnings.extend(f"{key} is not supported by Pallet: ignored" for key in _UNSUPPORTED if hc.get(key))
    return plan


def _healthcheck(h: dict[str, Any], cfg: pb.ContainerConfig) -> None:
    if not h:
        return
    where = "Healthcheck."
    test = strings(h, "Test", where) or []
    if test == ["NONE"]:
        cfg.no_healthcheck = True
        return
    hc = cfg.healthcheck
    hc.test.extend(test)
    for key, attr in (("Interval", "interval_ns"), ("Timeout", "timeout_ns"), ("StartPeriod", "start_period_ns")):
        value = integer(h, key, where)
        if value:
            if value < 0:
                raise HTTPError(400, f"{where}{key} can't be negative")
            setattr(hc, attr, value)
    retries = integer(h, "Retries", where)
    if retries:
        if retries < 0:
            raise HTTPError(400, "Healthcheck.Retries can't be negative")
        hc.retries = retries


def _restart_and_logs(hc: dict[str, Any], cfg: pb.ContainerConfig) -> None:
    where = "HostConfig.RestartPolicy."
    policy = obj(hc, "RestartPolicy", "HostConfig.")
    cfg.restart_policy.name = string(policy, "Name", where)
    cfg.restart_policy.maximum_retry_count = integer(policy, "MaximumRetryCount", where) or 0
    logs = obj(hc, "LogConfig", "HostConfig.")
    cfg.log_config.type = string(logs, "Type", "HostConfig.LogConfig.")
    cfg.log_config.config.update(str_map(logs, "Config", "HostConfig.LogConfig."))


def _mounts(body: dict[str, Any], hc: dict[str, Any], cfg: pb.ContainerConfig) -> None:
    """Binds (-v), Mounts (--mount), Tmpfs (--tmpfs), then Config.Volumes (anonymous volumes)."""
    from pallet.client._volumes import parse_tmpfs, parse_volume

    for spec in strings(hc, "Binds", "HostConfig.") or []:
        cfg.mounts.append(parse_volume(spec))
    for i, m in enumerate(objects(hc, "Mounts", "HostConfig.")):
        cfg.mounts.append(mount(m, f"HostConfig.Mounts[{i}]."))
    for target, opts in str_map(hc, "Tmpfs", "HostConfig.").items():
        cfg.mounts.append(parse_tmpfs(f"{target}:{opts}" if opts else target))
    taken = {m.target.rstrip("/") or "/" for m in cfg.mounts}
    for target in obj(body, "Volumes"):
        if (target.rstrip("/") or "/") not in taken:
            cfg.mounts.append(pb.Mount(type="volume", target=target))
    cfg.volumes_from.extend(strings(hc, "VolumesFrom", "HostConfig.") or [])


def mount(m: dict[str, Any], where: str) -> pb.Mount:
    """One HostConfig.Mounts entry (mount.Mount) as a pb.Mount."""
    typ = string(m, "Type", where) or "volume"
    if typ not in ("bind", "volume", "tmpfs"):
        raise HTTPError(400, f'invalid mount config for type "{typ}": mount type unknown')
    out = pb.Mount(type=typ, source=string(m, "Source", where), target=string(m, "Target", where),
                   read_only=bool(boolean(m, "ReadOnly", where)))
    if not out.target:
        raise HTTPError(400, f'invalid mount config for type "{typ}": field Target must not be empty')
    if typ == "bind":
        if not out.source:
            raise HTTPError(400, 'invalid mount config for type "bind": field Source must not be empty')
        opts = obj(m, "BindOptions", where)
        out.propagation = string(opts, "Propagation", where + "BindOptions.")
        out.create_source = bool(boolean(opts, "CreateMountpoint", where + "BindOptions."))
    elif typ == "volume":
        opts = obj(m, "VolumeOptions", where)
        out.no_copy = bool(boolean(opts, "NoCopy", where + "VolumeOptions."))
    else:
        if out.source:
            raise HTTPError(400, 'invalid mount config for type "tmpfs": field Source must not be specified')
        opts = obj(m, "TmpfsOptions", where)
        out.tmpfs_size = integer(opts, "SizeBytes", where + "TmpfsOptions.") or 0
        out.tmpfs_mode = (integer(opts, "Mode", where + "TmpfsOptions.") or 0) & 0o7777
    return out


def _network(body: dict[str, Any], hc: dict[str, Any], cfg: pb.ContainerConfig, plan: CreatePlan) -> None:
    from pallet.client import _ports

    where = "HostConfig."
    mode = string(hc, "NetworkMode", where)
    if mode == "default":
        mode = ""
    if not mode and boolean(body, "NetworkDisabled"):
        mode = "none"
    cfg.network_mode = mode
    cfg.dns.extend(strings(hc, "Dns", where) or [])
    cfg.dns_search.extend(strings(hc, "DnsSearch", where) or [])
    cfg.dns_options.extend(strings(hc, "DnsOptions", where) or [])
    cfg.extra_hosts.extend(strings(hc, "ExtraHosts", where) or [])
    cfg.publish_all_ports = bool(boolean(hc, "PublishAllPorts", where))
    bindings = []
    for key, lst in obj(hc, "PortBindings", where).items():
        if lst is None:
            lst = []
        if not isinstance(lst, list) or not all(isinstance(b, dict) for b in lst):
            raise _bad(f"{where}PortBindings.{key}", "a list of objects", lst)
        for b in lst:
            ip = string(b, "HostIp", f"{where}PortBindings.{key}.")
            port = string(b, "HostPort", f"{where}PortBindings.{key}.")
            if ":" in ip:
                ip = f"[{ip}]"
            spec = f"{ip}:{port}:{key}" if ip else f"{port}:{key}" if port else key
            bindings.extend(_ports.parse_publish(spec))
    cfg.port_bindings.extend(bindings)
    cfg.exposed_ports.extend(_ports.exposed_ports(bindings, list(obj(body, "ExposedPorts")) + list(
        obj(hc, "PortBindings", where))))
    mac = string(body, "MacAddress")
    endpoints = obj(obj(body, "NetworkingConfig"), "EndpointsConfig", "NetworkingConfig.")
    own = mode or "bridge"
    for net, epc in endpoints.items():
        if epc is None:
            epc = {}
        if not isinstance(epc, dict):
            raise _bad(f"NetworkingConfig.EndpointsConfig.{net}", "an object", epc)
        ep = endpoint_config(epc, f"NetworkingConfig.EndpointsConfig.{net}.")
        if net == own or (net == "bridge" and not mode):
            cfg.endpoint.CopyFrom(ep)
        elif mode in ("host", "none") or mode.startswith("container:"):
            raise HTTPError(400, f"container sharing network namespace with another container or host cannot "
                                 f"be connected to any other network: {net}")
        else:
            plan.connect[net] = ep
    if mac and not cfg.endpoint.mac_address:
        cfg.endpoint.mac_address = mac


def endpoint_config(epc: dict[str, Any], where: str) -> pb.EndpointConfig:
    """An EndpointSettings object (create's EndpointsConfig, network connect) as an EndpointConfig."""
    ipam = obj(epc, "IPAMConfig", where)
    return pb.EndpointConfig(
        ipv4_address=string(ipam, "IPv4Address", where + "IPAMConfig."),
        ipv6_address=string(ipam, "IPv6Address", where + "IPAMConfig."),
        aliases=strings(epc, "Aliases", where) or [], mac_address=string(epc, "MacAddress", where))


def fill_resources(doc: dict[str, Any], hc: pb.HostConfig, where: str = "", update: bool = False) -> None:
    """The Resources part of a HostConfig (create) or an update body: the fields update can change."""
    for key, attr in (("Memory", "memory"), ("MemorySwap", "memory_swap"),
                      ("MemoryReservation", "memory_reservation"), ("NanoCpus", "nano_cpus"),
                      ("CpuShares", "cpu_shares"), ("CpuPeriod", "cpu_period"), ("CpuQuota", "cpu_quota"),
                      ("BlkioWeight", "blkio_weight")):
        value = integer(doc, key, where)
        if value:
            setattr(hc, attr, value)
    hc.cpuset_cpus = string(doc, "CpusetCpus", where)
    hc.cpuset_mems = string(doc, "CpusetMems", where)
    pids = integer(doc, "PidsLimit", where)
    if pids is not None and (pids != 0 or not update):
        hc.pids_limit = pids
    elif pids == 0:
        hc.pids_limit = -1  # update: 0 asks for no limit, as -1 does


def _isolation(doc: dict[str, Any], hc: pb.HostConfig) -> None:
    where = "HostConfig."
    if boolean(doc, "OomKillDisable", where):
        hc.oom_kill_disable = True
    for i, u in enumerate(objects(doc, "Ulimits", where)):
        w = f"{where}Ulimits[{i}]."
        hc.ulimits.add(name=string(u, "Name", w), soft=integer(u, "Soft", w) or 0, hard=integer(u, "Hard", w) or 0)
    hc.shm_size = integer(doc, "ShmSize", where) or 0
    hc.cap_add.extend(strings(doc, "CapAdd", where) or [])
    hc.cap_drop.extend(strings(doc, "CapDrop", where) or [])
    hc.privileged = bool(boolean(doc, "Privileged", where))
    hc.security_opt.extend(strings(doc, "SecurityOpt", where) or [])
    hc.sysctls.update(str_map(doc, "Sysctls", where))
    for i, d in enumerate(objects(doc, "Devices", where)):
        w = f"{where}Devices[{i}]."
        host = string(d, "PathOnHost", w)
        hc.devices.add(path_on_host=host, path_in_container=string(d, "PathInContainer", w) or host,
                       cgroup_permissions=string(d, "CgroupPermissions", w) or "rwm")
    hc.device_cgroup_rules.extend(strings(doc, "DeviceCgroupRules", where) or [])
    hc.group_add.extend(strings(doc, "GroupAdd", where) or [])
    init = boolean(doc, "Init", where)
    if init is not None:
        hc.init = init
    hc.userns_mode = string(doc, "UsernsMode", where)
    hc.read_only_rootfs = bool(boolean(doc, "ReadonlyRootfs", where))
    for key, attr in (("PidMode", "pid_mode"), ("IpcMode", "ipc_mode")):
        value = string(doc, key, where)
        if hasattr(hc, attr):
            setattr(hc, attr, value)
        elif value:
            raise HTTPError(400, f"{key} is not supported by this palletd")
