"""A compose service (the normalized model, as `compose config` prints it) as a container config.

Resources are named as docker compose v2 names them: containers `<project>-<service>-<n>`,
networks and volumes `<project>_<name>` unless the file gives `name:` or `external`, and every
object carries the `com.docker.compose.*` labels tools rely on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"
LABEL_ONEOFF = "com.docker.compose.oneoff"
LABEL_HASH = "com.docker.compose.config-hash"
LABEL_WORKDIR = "com.docker.compose.project.working_dir"
LABEL_FILES = "com.docker.compose.project.config_files"
LABEL_NETWORK = "com.docker.compose.network"
LABEL_VOLUME = "com.docker.compose.volume"
LABEL_VERSION = "com.docker.compose.version"
VERSION = "2.24.0-pallet"

# resolve_container(service, what) -> the ID of a container of service, whose `what` ("network",
# "PID namespace", ...) a container of another service shares (service:NAME in the file).
Resolver = Callable[[str, str], str]


def duration_ns(value: Any) -> int:
    """A compose duration ("1m30s", "500ms", or seconds as a number) in nanoseconds."""
    if value is None or value == "":
        return 0
    if isinstance(value, int | float):
        return int(value * 1_000_000_000)
    from pallet.units import parse_duration

    return parse_duration(str(value))


def size_bytes(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kmgtp]?)(i?b?)\s*", str(value).lower())
    if not m:
        raise ValueError(f"invalid size {value!r}")
    return int(float(m.group(1)) * 1024 ** " kmgtp".index(m.group(2) or " "))


def network_name(project: str, key: str, spec: dict[str, Any] | None) -> str:
    spec = spec or {}
    if spec.get("name"):
        return str(spec["name"])
    ext = spec.get("external")
    if isinstance(ext, dict) and ext.get("name"):
        return str(ext["name"])
    return key if ext else f"{project}_{key}"


volume_name = network_name


def container_name(project: str, service: str, number: int, svc: dict[str, Any]) -> str:
    return str(svc.get("container_name") or f"{project}-{service}-{number}")


def config_hash(svc: dict[str, Any], files: Iterable[InjectedFile] = ()) -> str:
    """What decides whether a container must be recreated (compose hashes the service config too).

    files: the secrets and configs copied in (see injected_files); only a digest of their
    content goes in, so a changed value recreates the container without showing in the label.
    """
    keep = {k: v for k, v in svc.items() if k not in ("deploy", "scale", "depends_on", "build", "pull_policy")}
    digests = [[f.target, hashlib.sha256(f.content).hexdigest(), f.uid, f.gid, f.mode] for f in files]
    if digests:
        keep["x-pallet-injected"] = sorted(digests)
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def image_of(project: str, service: str, svc: dict[str, Any]) -> str:
    return str(svc.get("image") or f"{project}-{service}")


def replicas(svc: dict[str, Any], override: int | None = None) -> int:
    if override is not None:
        return override
    deploy = svc.get("deploy") or {}
    if deploy.get("replicas") is not None:
        return int(deploy["replicas"])
    return int(svc.get("scale", 1) if svc.get("scale") is not None else 1)


def sorted_networks(svc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A service's networks, highest priority first, then by name (compose's order)."""
    nets = svc.get("networks")
    if nets is None:
        return [] if svc.get("network_mode") else [("default", {})]
    items = nets.items() if isinstance(nets, dict) else ((n, {}) for n in nets)
    out = [(k, dict(v or {})) for k, v in items]
    return sorted(out, key=lambda kv: (-int(kv[1].get("priority", 0) or 0), kv[0]))


def container_config(pb: Any, npb: Any, ipb: Any, project: dict[str, Any], project_name: str, service: str,
                     number: int, labels_extra: dict[str, str], resolve_container: Resolver) -> Any:
    """The pallet.engine.v1.ContainerConfig for one container of the service."""
    svc = project["services"][service]
    cfg = pb.ContainerConfig(image=image_of(project_name, service, svc))
    if svc.get("command") is not None:
        cfg.cmd.extend(_argv(svc["command"]))
    if svc.get("entrypoint") is not None:
        cfg.entrypoint.extend(_argv(svc["entrypoint"]))
        cfg.entrypoint_set = True
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    cfg.env.extend(f"{k}={v}" for k, v in env.items() if v is not None)
    cfg.working_dir = svc.get("working_dir") or ""
    cfg.user = str(svc.get("user") or "")
    cfg.hostname = svc.get("hostname") or ""
    cfg.domainname = svc.get("domainname") or ""
    cfg.tty = bool(svc.get("tty"))
    cfg.open_stdin = bool(svc.get("stdin_open"))
    cfg.stop_signal = svc.get("stop_signal") or ""
    if svc.get("stop_grace_period") is not None:
        cfg.stop_timeout = duration_ns(svc["stop_grace_period"]) // 1_000_000_000
    labels = dict(_map(svc.get("labels")))
    labels.update(labels_extra)
    cfg.labels.update(labels)
    _restart(pb, cfg, svc.get("restart"))
    _healthcheck(ipb, cfg, svc.get("healthcheck"))
    _host_config(pb, cfg.host_config, svc)
    _networking(npb, cfg, project, project_name, svc, resolve_container)
    _namespaces(cfg.host_config, svc, resolve_container)
    _mounts(pb, cfg, project, project_name, svc)
    log = svc.get("logging") or {}
    if log:
        cfg.log_config.type = log.get("driver") or ""
        cfg.log_config.config.update({k: str(v) for k, v in (log.get("options") or {}).items()})
    return cfg


def _argv(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    import shlex

    return shlex.split(str(value))


def _map(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return dict((item.split("=", 1) + [""])[:2] for item in value)  # type: ignore[misc]


def _restart(pb: Any, cfg: Any, value: Any) -> None:
    if not value:
        return
    name, _, count = str(value).partition(":")
    cfg.restart_policy.name = name
    if count:
        cfg.restart_policy.maximum_retry_count = int(count)


def _healthcheck(ipb: Any, cfg: Any, hc: dict[str, Any] | None) -> None:
    if not hc:
        return
    if hc.get("disable"):
        cfg.no_healthcheck = True
        return
    test = hc.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    h = cfg.healthcheck
    if test:
        h.test.extend(test)
    h.interval_ns = duration_ns(hc.get("interval"))
    h.timeout_ns = duration_ns(hc.get("timeout"))
    h.start_period_ns = duration_ns(hc.get("start_period"))
    if hc.get("retries") is not None:
        h.retries = int(hc["retries"])


def _host_config(pb: Any, hc: Any, svc: dict[str, Any]) -> None:
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    reservations = ((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    memory = limits.get("memory") or svc.get("mem_limit")
    if memory:
        hc.memory = size_bytes(memory)
    if reservations.get("memory") or svc.get("mem_reservation"):
        hc.memory_reservation = size_bytes(reservations.get("memory") or svc.get("mem_reservation"))
    cpus = limits.get("cpus") or svc.get("cpus")
    if cpus:
        hc.nano_cpus = int(float(cpus) * 1e9)
    pids = limits.get("pids") or svc.get("pids_limit")
    if pids:
        hc.pids_limit = int(pids)
    if svc.get("shm_size"):
        hc.shm_size = size_bytes(svc["shm_size"])
    hc.cap_add.extend(svc.get("cap_add") or [])
    hc.cap_drop.extend(svc.get("cap_drop") or [])
    hc.privileged = bool(svc.get("privileged"))
    hc.read_only_rootfs = bool(svc.get("read_only"))
    if svc.get("init") is not None:
        hc.init = bool(svc["init"])
    hc.security_opt.extend(svc.get("security_opt") or [])
    hc.group_add.extend(str(g) for g in svc.get("group_add") or [])
    hc.sysctls.update(_map(svc.get("sysctls")))
    for name, value in (svc.get("ulimits") or {}).items():
        if isinstance(value, dict):
            hc.ulimits.add(name=name, soft=int(value.get("soft", 0)), hard=int(value.get("hard", 0)))
        else:
            hc.ulimits.add(name=name, soft=int(value), hard=int(value))
    for dev in svc.get("devices") or []:
        if isinstance(dev, dict):
            src, dst, perms = dev.get("source", ""), dev.get("target", ""), dev.get("permissions", "rwm")
        else:
            src, _, rest = str(dev).partition(":")
            dst, _, perms = rest.partition(":")
        hc.devices.add(path_on_host=src, path_in_container=dst or src, cgroup_permissions=perms or "rwm")


def _shared_mode(mode: str, what: str, resolve_container: Resolver) -> str:
    """A network_mode/pid/ipc value with service:NAME made container:<ID of NAME's container>."""
    if mode.startswith("service:"):
        return "container:" + resolve_container(mode.split(":", 1)[1], what)
    return mode


def _namespaces(hc: Any, svc: dict[str, Any], resolve_container: Resolver) -> None:
    """pid: and ipc: (host, container:NAME, service:NAME, and ipc's private|shareable|none)."""
    if svc.get("pid"):
        hc.pid_mode = _shared_mode(str(svc["pid"]), "PID namespace", resolve_container)
    if svc.get("ipc"):
        hc.ipc_mode = _shared_mode(str(svc["ipc"]), "IPC namespace", resolve_container)


def _networking(npb: Any, cfg: Any, project: dict[str, Any], project_name: str, svc: dict[str, Any],
                resolve_container: Resolver) -> None:
    mode = svc.get("network_mode")
    if mode:
        cfg.network_mode = _shared_mode(str(mode), "network", resolve_container)
    else:
        nets = sorted_networks(svc)
        if nets:
            key, spec = nets[0]
            cfg.network_mode = network_name(project_name, key, (project.get("networks") or {}).get(key))
            cfg.endpoint.aliases.extend(spec.get("aliases") or [])
            cfg.endpoint.ipv4_address = spec.get("ipv4_address") or ""
            cfg.endpoint.ipv6_address = spec.get("ipv6_address") or ""
    cfg.dns.extend(_list(svc.get("dns")))
    cfg.dns_search.extend(_list(svc.get("dns_search")))
    cfg.dns_options.extend(_list(svc.get("dns_opt")))
    hosts = svc.get("extra_hosts") or []
    if isinstance(hosts, dict):
        hosts = [f"{k}:{v}" for k, v in hosts.items()]
    cfg.extra_hosts.extend(h.replace("=", ":", 1) if ":" not in h.split("=", 1)[0] and "=" in h else h
                           for h in hosts)
    if svc.get("mac_address"):
        cfg.endpoint.mac_address = svc["mac_address"]
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            published = str(p.get("published") or "")
            lo, _, hi = published.partition("-")
            cfg.port_bindings.add(protocol=p.get("protocol") or "tcp", container_port=int(p["target"]),
                                  host_ip=p.get("host_ip") or "", host_port=int(lo or 0),
                                  host_port_end=int(hi or 0))
        else:
            from pallet.client._ports import parse_publish

            cfg.port_bindings.extend(parse_publish(str(p)))
    for e in svc.get("expose") or []:
        text = str(e)
        cfg.exposed_ports.append(text if "/" in text else f"{text}/tcp")


def _list(value: Any) -> list[str]:
    if not value:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def _mounts(pb: Any, cfg: Any, project: dict[str, Any], project_name: str, svc: dict[str, Any]) -> None:
    base = project.get("_working_dir") or os.getcwd()
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            from pallet.client._volumes import parse_volume

            m = parse_volume(v)
            if m.type == "bind" and not os.path.isabs(m.source):
                m.source = os.path.normpath(os.path.join(base, m.source))
            elif m.type == "volume" and m.source:
                m.source = volume_name(project_name, m.source, (project.get("volumes") or {}).get(m.source))
            cfg.mounts.append(m)
            continue
        kind = v.get("type", "volume")
        m = pb.Mount(type=kind, target=v["target"], read_only=bool(v.get("read_only")))
        if kind == "bind":
            m.source = v["source"] if os.path.isabs(v["source"]) else os.path.normpath(os.path.join(base, v["source"]))
            bind = v.get("bind") or {}
            m.create_source = bool(bind.get("create_host_path", True))
            m.propagation = bind.get("propagation") or ""
        elif kind == "volume":
            src = v.get("source") or ""
            m.source = volume_name(project_name, src, (project.get("volumes") or {}).get(src)) if src else ""
            m.no_copy = bool((v.get("volume") or {}).get("nocopy"))
        elif kind == "tmpfs":
            m.tmpfs_size = size_bytes((v.get("tmpfs") or {}).get("size"))
            mode = (v.get("tmpfs") or {}).get("mode")
            if mode:
                m.tmpfs_mode = int(str(mode), 8) if isinstance(mode, str) else int(mode)
        cfg.mounts.append(m)
    for t in _list(svc.get("tmpfs")):
        path, _, opts = t.partition(":")
        m = pb.Mount(type="tmpfs", target=path)
        for opt in filter(None, opts.split(",")):
            k, _, val = opt.partition("=")
            if k == "size":
                m.tmpfs_size = size_bytes(val)
        cfg.mounts.append(m)
    for kind, default_dir in (("secrets", "/run/secrets"), ("configs", "")):
        top = project.get(kind) or {}
        for ref in svc.get(kind) or []:
            name = ref if isinstance(ref, str) else ref["source"]
            target = name if isinstance(ref, str) else (ref.get("target") or name)
            obj = top.get(name) or {}
            path = str(obj.get("file") or "")
            if not path:
                continue  # environment/content-backed: copied in before the start (injected_files)
            path = path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))
            cfg.mounts.append(pb.Mount(type="bind", source=path, target=_file_target(target, default_dir),
                                       read_only=True))


def _file_target(target: str, default_dir: str) -> str:
    return target if target.startswith("/") else f"{default_dir}/{target}" if default_dir else f"/{target}"


@dataclass(frozen=True)
class InjectedFile:
    """A secret or config given by `environment:` or `content:`: a file written into the container
    after it is created and before it starts (as docker compose v2 does), not a bind mount."""

    kind: str  # "secret" or "config"
    name: str  # the key under the top-level secrets:/configs:
    target: str  # absolute path in the container
    content: bytes
    uid: int = 0
    gid: int = 0
    mode: int = 0o444

    @property
    def owned(self) -> bool:
        """Whether uid/gid were given (the archive's owners are kept then)."""
        return bool(self.uid or self.gid)


def injected_files(project: dict[str, Any], svc: dict[str, Any], environment: dict[str, str]) -> list[InjectedFile]:
    """A service's environment- and content-backed secrets and configs, their values read now.

    environment is the project's (what interpolation used: the process environment over .env).
    ValueError names the variable when one is not set.
    """
    out = []
    for kind, default_dir in (("secrets", "/run/secrets"), ("configs", "")):
        top = project.get(kind) or {}
        for ref in svc.get(kind) or []:
            long = {"source": ref} if isinstance(ref, str) else dict(ref)
            name = str(long["source"])
            obj = top.get(name) or {}
            if obj.get("environment"):
                var = str(obj["environment"])
                if var not in environment:
                    raise ValueError(f'environment variable "{var}" required by {kind[:-1]} "{name}" is not set')
                content = environment[var]
            elif obj.get("content") is not None:
                content = str(obj["content"])
            else:
                continue  # file-backed (a bind mount) or external
            out.append(InjectedFile(
                kind=kind[:-1], name=name, target=_file_target(str(long.get("target") or name), default_dir),
                content=content.encode(), uid=_id(long.get("uid"), kind, name, "uid"),
                gid=_id(long.get("gid"), kind, name, "gid"), mode=_file_mode(long.get("mode"), kind, name)))
    return out


def _id(value: Any, kind: str, name: str, what: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f'{kind[:-1]} "{name}": {what} must be a number, not {value!r}') from None


def _file_mode(value: Any, kind: str, name: str) -> int:
    """The long syntax's mode: an int, or the octal string `compose config` prints ("0440")."""
    if value is None or value == "":
        return 0o444
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise ValueError(f'{kind[:-1]} "{name}": invalid mode {value!r}') from None


def injected_tar(files: Iterable[InjectedFile]) -> bytes:
    """A tar of the files, named by their path from /, for the engine's archive upload at "/"."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in files:
            info = tarfile.TarInfo(f.target.lstrip("/"))
            info.size, info.mode, info.uid, info.gid, info.mtime = len(f.content), f.mode, f.uid, f.gid, now
            tar.addfile(info, io.BytesIO(f.content))
    return buf.getvalue()
