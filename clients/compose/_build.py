"""From the merged canonical model to the typed Project, with compose's normalization.

- environment: env_file entries first, `environment` over them; a bare `VAR` takes its value
  from the project environment (process environment over .env), or stays None;
- build args resolved the same way; `build.dockerfile` defaults to "Dockerfile";
- services with neither `networks` nor `network_mode` join the `default` network, which is
  then declared implicitly;
- `links`, `volumes_from` and `service:` namespaces imply depends_on entries;
- networks, volumes, secrets and configs are named `<project>_<key>` unless they have a
  `name`, or are external (named by their key);
- references are checked: undefined services, networks, volumes, secrets and configs, a
  service without image or build, dependency cycles.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

from pallet.client.compose import _dotenv, _graph, _units
from pallet.client.compose._errors import ComposeFileError
from pallet.client.compose._types import (
    BindOptions,
    Build,
    Depends,
    Deploy,
    DeviceMapping,
    EnvFile,
    FileMount,
    FileObject,
    HealthCheck,
    Ipam,
    IpamPool,
    Logging,
    Network,
    NetworkAttach,
    PortSpec,
    Project,
    Resources,
    RestartPolicy,
    Service,
    TmpfsOptions,
    Ulimit,
    Volume,
    VolumeOptions,
    VolumeSpec,
    profile_enabled,
)

Dict = dict[str, Any]
Lookup = Callable[[str], "str | None"]

_EXTRAS = ("blkio_config", "credential_spec", "develop", "gpus", "post_start", "pre_stop", "storage_opt",
           "use_api_socket", "volume_driver")
_PLAIN = ("image", "restart", "user", "working_dir", "hostname", "domainname", "privileged", "read_only", "init",
          "tty", "stdin_open", "stop_signal", "container_name", "pid", "ipc", "uts", "userns_mode", "cgroup",
          "cgroup_parent", "runtime", "isolation", "mac_address", "platform", "pull_policy", "shm_size",
          "mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "cpus", "cpu_shares", "cpu_quota",
          "cpu_period", "cpu_rt_period", "cpu_rt_runtime", "cpu_count", "cpu_percent", "cpuset", "pids_limit",
          "oom_kill_disable", "oom_score_adj", "network_mode", "scale", "attach", "expose", "tmpfs", "dns",
          "dns_search", "dns_opt", "cap_add", "cap_drop", "device_cgroup_rules", "security_opt", "group_add",
          "profiles", "links", "external_links", "volumes_from", "labels", "annotations", "sysctls")


def _command(value: Any, what: str, service: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return _units.shell_split(value)
    except ValueError as exc:
        raise ComposeFileError(f"services.{service}.{what}: {exc}") from None


def _mounts(entries: list[Dict]) -> list[FileMount]:
    return [FileMount(source=m["source"], target=m["target"], uid=m.get("uid"), gid=m.get("gid"),
                      mode=m.get("mode")) for m in entries]


def _ulimits(entries: dict[str, Dict]) -> dict[str, Ulimit]:
    return {name: Ulimit(soft=u["soft"], hard=u["hard"]) for name, u in entries.items()}


def _build(raw: Dict, lookup: Lookup, working_dir: str) -> Build:
    args = {k: (v if v is not None else lookup(k)) for k, v in raw.get("args", {}).items()}
    extras = {k: v for k, v in raw.items() if k in ("provenance", "sbom") or k.startswith("x-")}
    dockerfile = raw.get("dockerfile") or (None if raw.get("dockerfile_inline") else "Dockerfile")
    return Build(
        context=raw.get("context") or working_dir, dockerfile=dockerfile,
        dockerfile_inline=raw.get("dockerfile_inline"), args=args,
        ssh=list(raw.get("ssh", [])), labels=dict(raw.get("labels", {})), cache_from=list(raw.get("cache_from", [])),
        cache_to=list(raw.get("cache_to", [])), no_cache=raw.get("no_cache", False),
        additional_contexts=dict(raw.get("additional_contexts", {})), network=raw.get("network"),
        pull=raw.get("pull", False), target=raw.get("target"), shm_size=raw.get("shm_size"),
        extra_hosts=[h.replace("=", ":", 1) for h in raw.get("extra_hosts", [])], isolation=raw.get("isolation"),
        privileged=raw.get("privileged", False), secrets=_mounts(raw.get("secrets", [])),
        tags=list(raw.get("tags", [])), ulimits=_ulimits(raw.get("ulimits", {})),
        platforms=list(raw.get("platforms", [])), entitlements=list(raw.get("entitlements", [])), extras=extras,
    )


def _volume(raw: Dict) -> VolumeSpec:
    bind = raw.get("bind")
    volume = raw.get("volume")
    tmpfs = raw.get("tmpfs")
    return VolumeSpec(
        type=raw["type"], source=raw.get("source"), target=raw["target"], read_only=raw.get("read_only", False),
        consistency=raw.get("consistency"),
        bind=None if bind is None else BindOptions(
            propagation=bind.get("propagation"), create_host_path=bind.get("create_host_path", True),
            selinux=bind.get("selinux"), recursive=bind.get("recursive")),
        volume=None if volume is None else VolumeOptions(
            nocopy=volume.get("nocopy", False), subpath=volume.get("subpath"), labels=volume.get("labels", {})),
        tmpfs=None if tmpfs is None else TmpfsOptions(size=tmpfs.get("size"), mode=tmpfs.get("mode")),
        image_subpath=(raw.get("image") or {}).get("subpath"),
    )


def _healthcheck(raw: Dict) -> HealthCheck:
    return HealthCheck(test=list(raw.get("test", [])), interval_ns=raw.get("interval"), timeout_ns=raw.get("timeout"),
                       start_period_ns=raw.get("start_period"), start_interval_ns=raw.get("start_interval"),
                       retries=raw.get("retries"), disable=raw.get("disable", False))


def _resources(raw: Dict | None) -> Resources | None:
    if raw is None:
        return None
    return Resources(cpus=raw.get("cpus"), memory=raw.get("memory"), pids=raw.get("pids"),
                     devices=list(raw.get("devices", [])), generic_resources=list(raw.get("generic_resources", [])))


def _deploy(raw: Dict) -> Deploy:
    resources = raw.get("resources", {})
    policy = raw.get("restart_policy")
    return Deploy(
        mode=raw.get("mode"), replicas=raw.get("replicas"), labels=dict(raw.get("labels", {})),
        limits=_resources(resources.get("limits")), reservations=_resources(resources.get("reservations")),
        restart_policy=None if policy is None else RestartPolicy(
            condition=policy.get("condition"), delay_ns=policy.get("delay"), max_attempts=policy.get("max_attempts"),
            window_ns=policy.get("window")),
        update_config=dict(raw.get("update_config", {})), rollback_config=dict(raw.get("rollback_config", {})),
        placement=dict(raw.get("placement", {})), endpoint_mode=raw.get("endpoint_mode"),
    )


def _attach(raw: Dict | None) -> NetworkAttach:
    raw = raw or {}
    return NetworkAttach(
        aliases=list(raw.get("aliases", [])), ipv4_address=raw.get("ipv4_address"),
        ipv6_address=raw.get("ipv6_address"), link_local_ips=list(raw.get("link_local_ips", [])),
        mac_address=raw.get("mac_address"), driver_opts=dict(raw.get("driver_opts", {})),
        priority=raw.get("priority", 0), gw_priority=raw.get("gw_priority", 0),
        interface_name=raw.get("interface_name"))


def _environment(raw: Dict, lookup: Lookup) -> dict[str, str | None]:
    """env_file entries (in order, later files winning), then `environment` over them."""
    env: dict[str, str | None] = {}
    for entry in raw.get("env_file", []):
        path = entry["path"]
        if not os.path.exists(path):
            if entry.get("required", True):
                raise ComposeFileError(f"env file {path} not found: stat {path}: no such file or directory")
            continue

        def file_lookup(key: str) -> str | None:
            known = env.get(key)
            return known if known is not None else lookup(key)

        env.update(_dotenv.read_file(path, file_lookup, raw=entry.get("format") == "raw"))
    for key, value in raw.get("environment", {}).items():
        if value is None:
            value = lookup(key)
            if value is None and key in env:
                continue  # a bare name keeps what an env_file gave it
        env[key] = value
    return env


def _implied_dependencies(service: Dict) -> dict[str, Depends]:
    """depends_on entries compose infers from links, volumes_from and service: namespaces."""
    implied: dict[str, Depends] = {}
    for link in service.get("links", []):
        implied.setdefault(link.split(":")[0], Depends(restart=True))
    for ref in (service.get(k) for k in ("network_mode", "ipc", "pid", "uts", "cgroup")):
        if isinstance(ref, str) and ref.startswith("service:"):
            implied.setdefault(ref[len("service:"):], Depends(restart=True))
    for source in service.get("volumes_from", []):
        if not source.startswith("container:"):
            implied.setdefault(source.split(":")[0], Depends())
    return implied


def build_service(name: str, raw: Dict, lookup: Lookup, working_dir: str) -> Service:
    service = Service(name=name)
    for key in _PLAIN:
        if key in raw:
            setattr(service, key, copy.copy(raw[key]))
    service.extras = {k: raw[k] for k in _EXTRAS if k in raw}
    service.extensions = {k: v for k, v in raw.items() if k.startswith("x-")}
    if "build" in raw:
        service.build = _build(raw["build"], lookup, working_dir)
    service.command = _command(raw.get("command"), "command", name)
    service.entrypoint = _command(raw.get("entrypoint"), "entrypoint", name)
    service.environment = _environment(raw, lookup)
    service.env_files = [EnvFile(e["path"], e.get("required", True), e.get("format")) for e in raw.get("env_file", [])]
    service.ports = [PortSpec(**p) for p in raw.get("ports", [])]
    service.volumes = [_volume(v) for v in raw.get("volumes", [])]
    if "networks" in raw:
        service.networks = {net: _attach(attach) for net, attach in raw["networks"].items()}
    elif not service.network_mode:
        service.networks = {"default": NetworkAttach()}
    service.depends_on = {dep: Depends(condition=d.get("condition", "service_started"), restart=d.get("restart", False),
                                       required=d.get("required", True))
                          for dep, d in raw.get("depends_on", {}).items()}
    for dep, implied in _implied_dependencies(raw).items():
        service.depends_on.setdefault(dep, implied)
    if "healthcheck" in raw:
        service.healthcheck = _healthcheck(raw["healthcheck"])
    if "deploy" in raw:
        service.deploy = _deploy(raw["deploy"])
    service.extra_hosts = [h.replace("=", ":", 1) for h in raw.get("extra_hosts", [])]
    service.stop_grace_period_ns = raw.get("stop_grace_period")
    service.ulimits = _ulimits(raw.get("ulimits", {}))
    service.secrets = _mounts(raw.get("secrets", []))
    service.configs = _mounts(raw.get("configs", []))
    service.devices = [DeviceMapping(**d) for d in raw.get("devices", [])]
    if "logging" in raw:
        service.logging = Logging(driver=raw["logging"].get("driver"), options=dict(raw["logging"].get("options", {})))
    _check_service(service)
    return service


def _check_service(service: Service) -> None:
    where = f'service "{service.name}"'
    if not service.image and service.build is None:
        raise ComposeFileError(f"{where} has neither an image nor a build context specified: invalid compose project")
    if service.scale is not None and service.deploy is not None and service.deploy.replicas is not None \
            and service.scale != service.deploy.replicas:
        raise ComposeFileError(f"services.{service.name}: can't set distinct values on 'scale' and 'deploy.replicas'")
    if service.container_name and service.replicas() > 1:
        raise ComposeFileError(f'services.{service.name}: can\'t set container_name and {service.name} as container '
                               "name must be unique: invalid compose project")


# -- project resources ------------------------------------------------------------------------


def _resource_name(project: str, key: str, raw: Dict) -> str:
    if raw.get("name"):
        return str(raw["name"])
    return key if raw.get("external") else f"{project}_{key}"


def _extensions(raw: Dict) -> Dict:
    return {k: v for k, v in raw.items() if k.startswith("x-")}


def build_network(project: str, key: str, raw: Dict) -> Network:
    ipam = raw.get("ipam")
    return Network(
        name=_resource_name(project, key, raw), driver=raw.get("driver"), driver_opts=dict(raw.get("driver_opts", {})),
        ipam=None if ipam is None else Ipam(
            driver=ipam.get("driver"), options=dict(ipam.get("options", {})),
            config=[IpamPool(subnet=p.get("subnet"), gateway=p.get("gateway"), ip_range=p.get("ip_range"),
                             aux_addresses=dict(p.get("aux_addresses", {}))) for p in ipam.get("config", [])]),
        external=raw.get("external", False), internal=raw.get("internal", False),
        attachable=raw.get("attachable", False), labels=dict(raw.get("labels", {})),
        enable_ipv4=raw.get("enable_ipv4"), enable_ipv6=raw.get("enable_ipv6"), extensions=_extensions(raw))


def build_volume(project: str, key: str, raw: Dict) -> Volume:
    return Volume(name=_resource_name(project, key, raw), driver=raw.get("driver"),
                  driver_opts=dict(raw.get("driver_opts", {})), external=raw.get("external", False),
                  labels=dict(raw.get("labels", {})), extensions=_extensions(raw))


def build_file_object(project: str, kind: str, key: str, raw: Dict, lookup: Lookup) -> FileObject:
    sources = [k for k in ("file", "environment", "content") if raw.get(k) is not None]
    if raw.get("external"):
        sources.append("external")
    if len(sources) != 1:
        what = kind[:-1]
        if not sources:
            raise ComposeFileError(f"{kind}.{key}: a {what} needs one of file, environment"
                                   f"{', content' if kind == 'configs' else ''} or external")
        raise ComposeFileError(f"{kind}.{key}: a {what} takes only one of {', '.join(sources)}")
    obj = FileObject(
        name=_resource_name(project, key, raw), file=raw.get("file"), environment=raw.get("environment"),
        content=raw.get("content"), external=raw.get("external", False), labels=dict(raw.get("labels", {})),
        driver=raw.get("driver"), driver_opts=dict(raw.get("driver_opts", {})),
        template_driver=raw.get("template_driver"), inline=raw.get("content") is not None,
        extensions=_extensions(raw))
    if obj.environment is not None:
        obj.content = lookup(obj.environment)
    return obj


# -- the project ------------------------------------------------------------------------------


def _check_references(project: Project, everything: dict[str, Service]) -> None:
    for service in everything.values():
        where = f'service "{service.name}"'
        for dep, d in service.depends_on.items():
            if dep not in everything and d.required:
                raise ComposeFileError(f'{where} depends on undefined service "{dep}": invalid compose project')
        for net in service.networks:
            if net not in project.networks:
                raise ComposeFileError(f"{where} refers to undefined network {net}: invalid compose project")
        for vol in service.volumes:
            if vol.type == "volume" and vol.source and vol.source not in project.volumes:
                raise ComposeFileError(f"{where} refers to undefined volume {vol.source}: invalid compose project")
        for kind, mounts, declared in (("secret", service.secrets, project.secrets),
                                       ("config", service.configs, project.configs)):
            for mount in mounts:
                if mount.source not in declared:
                    raise ComposeFileError(f"{where} refers to undefined {kind} {mount.source}: "
                                           "invalid compose project")
        if service.network_mode and service.networks:
            raise ComposeFileError(f"{where} declares mutually exclusive `network_mode` and `networks`: "
                                   "invalid compose project")


def build_project(model: Dict, name: str, working_dir: str, environment: dict[str, str], profiles: list[str],
                  config_files: list[str], warnings: list[str]) -> Project:
    def lookup(key: str) -> str | None:
        return environment.get(key)

    everything = {n: build_service(n, raw, lookup, working_dir) for n, raw in sorted(model.get("services", {}).items())}
    networks = dict(model.get("networks", {}))
    if any("default" in s.networks for s in everything.values()):
        networks.setdefault("default", {})
    project = Project(
        name=name, working_dir=working_dir, environment=dict(environment), config_files=list(config_files),
        warnings=warnings, profiles=sorted(set(profiles)), extensions=_extensions(model),
        networks={k: build_network(name, k, v) for k, v in sorted(networks.items())},
        volumes={k: build_volume(name, k, v) for k, v in sorted(model.get("volumes", {}).items())},
        secrets={k: build_file_object(name, "secrets", k, v, lookup)
                 for k, v in sorted(model.get("secrets", {}).items())},
        configs={k: build_file_object(name, "configs", k, v, lookup)
                 for k, v in sorted(model.get("configs", {}).items())},
    )
    _check_references(project, everything)
    _graph.check_cycles(everything)
    active = set(project.profiles)
    project.services = {n: s for n, s in everything.items() if profile_enabled(s, active)}
    project.disabled = {n: s for n, s in everything.items() if n not in project.services}
    project.with_services([])  # an enabled service must not need a disabled one
    return project
