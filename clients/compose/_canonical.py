"""One compose file, validated, brought to compose's canonical (long) syntax.

Everything that has a short and a long form takes the long one here, so that files merge on
like terms: ports and volumes become mappings, environment/labels/sysctls/args mappings,
depends_on and networks mappings of mappings, secrets/configs/devices/env_file lists of
mappings; durations become nanoseconds, sizes bytes, cast-able strings booleans and integers.
Relative paths (build contexts, bind sources, env files, secret/config files, extends files)
are made absolute against the directory the file's paths are relative to.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
from typing import Any

from pallet.client.compose import _units
from pallet.client.compose._errors import ComposeFileError

Dict = dict[str, Any]

_PROTOCOLS = ("tcp", "udp", "sctp")
_BOOL_KEYS = ("attach", "init", "oom_kill_disable", "privileged", "read_only", "stdin_open", "tty",
              "use_api_socket")
_INT_KEYS = ("cpu_count", "cpu_percent", "cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_period",
             "cpu_rt_runtime", "mem_swappiness", "oom_score_adj", "pids_limit", "scale")
_SIZE_KEYS = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")
_LIST_KEYS = ("cap_add", "cap_drop", "dns_opt", "security_opt", "links", "external_links", "volumes_from",
              "device_cgroup_rules", "profiles")
_STRING_OR_LIST_KEYS = ("dns", "dns_search", "tmpfs")
_MAPPING_KEYS = ("labels", "annotations", "sysctls")


class Context:
    """Where a file's relative paths point, and how to name places in errors."""

    def __init__(self, base_dir: str, home: str | None = None) -> None:
        self.base_dir = base_dir
        self.home = home or os.path.expanduser("~")

    def abspath(self, path: str) -> str:
        path = expand_user(path, self.home)
        if os.path.isabs(path):
            return os.path.normpath(path)
        return os.path.normpath(os.path.join(self.base_dir, path))


def expand_user(path: str, home: str) -> str:
    """~ and ~/... (only those, as compose) under home."""
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    return path


def _fail(path: str, message: str) -> ComposeFileError:
    return ComposeFileError(f"{path}: {message}")


# -- generic conversions ----------------------------------------------------------------------


def kv_mapping(value: Any, allow_none: bool = True) -> dict[str, str | None]:
    """A list_or_dict as a mapping: ["A=1", "B"] or {"A": 1, "B": null} → {"A": "1", "B": None}.

    Without allow_none, a bare name maps to "" (labels) instead of None (environment, args).
    """
    out: dict[str, str | None] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out[key] = None if item is None and allow_none else _units.scalar_text(item)
        return out
    for entry in value or []:
        key, sep, item = str(entry).partition("=")
        out[key] = item if sep else (None if allow_none else "")
    return out


def str_mapping(value: Any) -> dict[str, str]:
    return {k: v or "" for k, v in kv_mapping(value, allow_none=False).items()}


def str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [_units.scalar_text(v) for v in value]


def _int(value: Any) -> int:
    return _units.parse_int(value)


def _bool(value: Any) -> bool:
    return _units.parse_bool(value)


def _size(value: Any) -> int:
    if isinstance(value, str) and value.strip() == "-1":
        return -1
    return _units.parse_size(value)


def _float(value: Any) -> float:
    return float(value)


def _mode(value: Any, path: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise _fail(path, f'invalid file mode "{value}"') from None


# -- ports ------------------------------------------------------------------------------------


def _port_range(text: str, what: str, spec: str, path: str) -> tuple[int, int]:
    if not text:
        raise _fail(path, f'invalid port "{spec}": empty {what}')
    first, sep, last = text.partition("-")
    try:
        start = int(first)
        end = int(last) if sep else start
    except ValueError:
        raise _fail(path, f'invalid port "{spec}": invalid {what} "{text}"') from None
    if not (0 <= start <= 65535 and 0 <= end <= 65535) or end < start:
        raise _fail(path, f'invalid port "{spec}": invalid {what} "{text}"')
    return start, end


def _split_port_spec(spec: str) -> tuple[str, str, str]:
    """ip, host port(s) and container port(s), cut as go-connections' nat.splitParts does."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port(spec: str, path: str) -> list[Dict]:
    """"[ip:][host[-end]:]container[-end][/proto]" → one long-syntax mapping per container port."""
    ip, host, container = _split_port_spec(spec)
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise _fail(path, f'invalid port "{spec}": invalid IP address "{ip}"') from None
    container, _, proto = container.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in _PROTOCOLS:
        raise _fail(path, f'invalid port "{spec}": invalid protocol "{proto}"')
    start, end = _port_range(container, "container port", spec, path)
    host_start = host_end = 0
    if host:
        host_start, host_end = _port_range(host, "host port", spec, path)
        if end - start != host_end - host_start and end != start:
            raise _fail(path, f'invalid port "{spec}": container and host port ranges differ in size')
    out = []
    for offset in range(end - start + 1):
        published: str | None = None
        if host:
            published = str(host_start + offset)
            if start == end and host_start != host_end:
                published = f"{host_start}-{host_end}"  # one container port, a host range to pick from
        entry: Dict = {"mode": "ingress", "target": start + offset, "published": published, "protocol": proto}
        if ip:
            entry["host_ip"] = ip
        out.append(entry)
    return out


def canonical_ports(value: list[Any], path: str) -> list[Dict]:
    ports: list[Dict] = []
    for i, entry in enumerate(value):
        here = f"{path}[{i}]"
        if isinstance(entry, dict):
            port: Dict = {"mode": entry.get("mode") or "ingress", "target": _int(entry["target"]),
                          "published": None, "protocol": (entry.get("protocol") or "tcp").lower()}
            published = entry.get("published")
            if published is not None and published != "":
                port["published"] = _units.scalar_text(published)
                _port_range(port["published"], "published port", port["published"], here)
            for key in ("host_ip", "name", "app_protocol"):
                if entry.get(key):
                    port[key] = str(entry[key])
            if not 0 < port["target"] <= 65535:
                raise _fail(here, f"invalid target port {port['target']}")
            ports.append(port)
        elif isinstance(entry, int):
            ports.extend(parse_port(str(entry), here))
        else:
            ports.extend(parse_port(entry, here))
    return ports


def canonical_expose(value: list[Any], path: str) -> list[str]:
    out = []
    for i, entry in enumerate(value):
        text = _units.scalar_text(entry)
        port, _, proto = text.partition("/")
        _port_range(port, "port", text, f"{path}[{i}]")
        if proto and proto.lower() not in _PROTOCOLS:
            raise _fail(f"{path}[{i}]", f'invalid port "{text}": invalid protocol "{proto}"')
        out.append(text)
    return out


# -- volumes ----------------------------------------------------------------------------------

_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def _is_file_path(source: str) -> bool:
    return source[:1] in (".", "/", "~")


def parse_volume(spec: str, path: str) -> Dict:
    """"[source:]target[:options]" → a long-syntax mapping (compose's format.ParseVolume)."""
    if not spec:
        raise _fail(path, "invalid empty volume spec")
    fields: list[str] = []
    buffer, depth, i = "", 0, 0
    while i < len(spec):
        c = spec[i]
        if spec.startswith("${", i):
            depth += 1
        elif c == "}" and depth:
            depth -= 1
        if c == ":" and depth == 0:
            fields.append(buffer)
            buffer = ""
        else:
            buffer += c
        i += 1
    fields.append(buffer)
    if any(not f for f in fields):
        raise _fail(path, f'invalid volume "{spec}": empty section between colons')
    if len(fields) > 3:
        raise _fail(path, f'invalid volume "{spec}": too many colons')
    volume: Dict = {}
    if len(fields) == 1:
        volume["target"] = fields[0]
    else:
        volume["source"], volume["target"] = fields[0], fields[1]
    options = fields[2].split(",") if len(fields) == 3 else []
    source = volume.get("source", "")
    if source and _is_file_path(source):
        volume = {"type": "bind", **volume, "bind": {"create_host_path": True}}
    else:
        volume = {"type": "volume", **volume, "volume": {}}
    for option in options:
        if option in ("ro", "rw"):
            volume["read_only"] = option == "ro"
        elif option == "nocopy":
            volume.setdefault("volume", {})["nocopy"] = True
        elif option in ("z", "Z"):
            volume.setdefault("bind", {})["selinux"] = option
        elif option in _PROPAGATIONS:
            volume.setdefault("bind", {})["propagation"] = option
        # other options (consistency: cached, delegated...) are ignored, as compose does
    return volume


def canonical_volume(entry: Any, path: str, ctx: Context) -> Dict:
    if isinstance(entry, str):
        volume = parse_volume(entry, path)
    else:
        volume = {k: v for k, v in entry.items() if v is not None}
        if "read_only" in volume:
            volume["read_only"] = _bool(volume["read_only"])
        if "bind" in volume:
            bind = dict(volume["bind"])
            bind["create_host_path"] = _bool(bind.get("create_host_path", True))
            volume["bind"] = bind
        elif volume["type"] == "bind":
            volume["bind"] = {"create_host_path": True}
        if "volume" in volume:
            opts = dict(volume["volume"])
            if "nocopy" in opts:
                opts["nocopy"] = _bool(opts["nocopy"])
            if "labels" in opts:
                opts["labels"] = str_mapping(opts["labels"])
            volume["volume"] = opts
        if "tmpfs" in volume:
            opts = dict(volume["tmpfs"])
            if "size" in opts:
                opts["size"] = _size(opts["size"])
            if "mode" in opts:
                opts["mode"] = _mode(opts["mode"], f"{path}.tmpfs.mode")
            volume["tmpfs"] = opts
    volume["target"] = posixpath.normpath(volume["target"]) if volume["target"] else volume["target"]
    if volume["type"] == "bind":
        if not volume.get("source"):
            raise _fail(path, 'invalid mount config for type "bind": field Source must not be empty')
        volume["source"] = ctx.abspath(volume["source"])
    if volume["type"] == "tmpfs" and volume.get("source"):
        raise _fail(path, 'invalid mount config for type "tmpfs": field Source must not be specified')
    return volume


# -- services ---------------------------------------------------------------------------------


def _env_files(value: Any, ctx: Context) -> list[Dict]:
    out = []
    for entry in [value] if isinstance(value, str) else value:
        if isinstance(entry, str):
            out.append({"path": ctx.abspath(entry), "required": True})
        else:
            item: Dict = {"path": ctx.abspath(entry["path"]), "required": _bool(entry.get("required", True))}
            if entry.get("format"):
                item["format"] = entry["format"]
            out.append(item)
    return out


def _mounts(value: list[Any], default_dir: str, path: str) -> list[Dict]:
    """secrets/configs references: "name" or {source, target, uid, gid, mode}, target defaulted."""
    out = []
    for i, entry in enumerate(value):
        mount: Dict = {"source": entry} if isinstance(entry, str) else {
            k: v for k, v in entry.items() if v is not None}
        target = mount.get("target") or mount["source"]
        if not target.startswith("/"):
            target = f"{default_dir}/{target}"
        mount["target"] = target
        for key in ("uid", "gid"):
            if key in mount:
                mount[key] = _units.scalar_text(mount[key])
        if "mode" in mount:
            mount["mode"] = _mode(mount["mode"], f"{path}[{i}].mode")
        out.append(mount)
    return out


def _extra_hosts(value: Any, path: str) -> list[str]:
    """extra_hosts as compose's canonical "host=ip" entries."""
    out: list[str] = []
    if isinstance(value, dict):
        for host, ips in value.items():
            for ip in str_list(ips):
                out.append(f"{host}={ip}")
        return out
    for i, entry in enumerate(value):
        if "=" in entry:
            host, _, ip = entry.partition("=")
        else:
            host, sep, ip = entry.partition(":")
            if not sep:
                raise _fail(f"{path}[{i}]", f'invalid extra host "{entry}": want host:ip or host=ip')
        out.append(f"{host}={ip.removeprefix('[').removesuffix(']')}")
    return out


def _ulimits(value: dict[str, Any]) -> dict[str, Dict]:
    out = {}
    for name, limit in value.items():
        if isinstance(limit, dict):
            out[name] = {"soft": _int(limit["soft"]), "hard": _int(limit["hard"])}
        else:
            out[name] = {"soft": _int(limit), "hard": _int(limit)}
    return out


def _devices(value: list[Any], path: str) -> list[Dict]:
    out = []
    for i, entry in enumerate(value):
        if isinstance(entry, dict):
            out.append({"source": entry["source"], "target": entry.get("target") or entry["source"],
                        "permissions": entry.get("permissions") or "rwm"})
            continue
        parts = entry.split(":")
        if len(parts) > 3:
            raise _fail(f"{path}[{i}]", f"confusing device mapping, please use long syntax: {entry}")
        source = parts[0]
        target = parts[1] if len(parts) > 1 else source
        perms = parts[2] if len(parts) > 2 else "rwm"
        out.append({"source": source, "target": target, "permissions": perms})
    return out


def _is_remote_context(context: str) -> bool:
    return "://" in context or context.startswith(("service:", "github.com/", "git@"))


def _build(value: Any, path: str, ctx: Context) -> Dict:
    raw: Dict = {"context": value} if isinstance(value, str) else {k: v for k, v in value.items() if v is not None}
    build: Dict = {}
    for key, item in raw.items():
        if key == "context":
            build[key] = item if _is_remote_context(item) else ctx.abspath(item)
        elif key == "args":
            build[key] = kv_mapping(item)
        elif key in ("labels", "additional_contexts"):
            build[key] = str_mapping(item)
        elif key == "ssh":
            build[key] = [f"{k}={v}" if v else k for k, v in kv_mapping(item).items()]
        elif key == "extra_hosts":
            build[key] = _extra_hosts(item, f"{path}.extra_hosts")
        elif key == "secrets":
            build[key] = _mounts(item, "/run/secrets", f"{path}.secrets")
        elif key == "shm_size":
            build[key] = _size(item)
        elif key == "ulimits":
            build[key] = _ulimits(item)
        elif key in ("no_cache", "pull", "privileged"):
            build[key] = _bool(item)
        elif key in ("cache_from", "cache_to", "tags", "platforms", "entitlements"):
            build[key] = str_list(item)
        else:
            build[key] = item
    for key, context in list(build.get("additional_contexts", {}).items()):
        if not _is_remote_context(context) and not context.startswith(("docker-image:", "target:")):
            build["additional_contexts"][key] = ctx.abspath(context)
    return build


def _healthcheck(value: Dict) -> Dict:
    out: Dict = {}
    for key, item in value.items():
        if item is None:
            continue
        if key == "test":
            out[key] = ["CMD-SHELL", item] if isinstance(item, str) else list(item)
        elif key in ("interval", "timeout", "start_period", "start_interval"):
            out[key] = _units.parse_duration(item)
        elif key == "retries":
            out[key] = _int(item)
        elif key == "disable":
            out[key] = _bool(item)
        else:
            out[key] = item
    return out


def _resource(value: Dict) -> Dict:
    out: Dict = {}
    for key, item in value.items():
        if item is None:
            continue
        if key == "cpus":
            out[key] = _float(item)
        elif key == "memory":
            out[key] = _size(item)
        elif key == "pids":
            out[key] = _int(item)
        else:
            out[key] = item
    return out


def _deploy(value: Dict) -> Dict:
    out: Dict = {}
    for key, item in value.items():
        if item is None:
            continue
        if key == "replicas":
            out[key] = _int(item)
        elif key == "labels":
            out[key] = str_mapping(item)
        elif key == "resources":
            out[key] = {k: _resource(v) for k, v in item.items() if v is not None}
        elif key == "restart_policy":
            policy = {k: v for k, v in item.items() if v is not None}
            for k in ("delay", "window"):
                if k in policy:
                    policy[k] = _units.parse_duration(policy[k])
            if "max_attempts" in policy:
                policy["max_attempts"] = _int(policy["max_attempts"])
            out[key] = policy
        elif key in ("update_config", "rollback_config"):
            update = {k: v for k, v in item.items() if v is not None}
            for k in ("delay", "monitor"):
                if k in update:
                    update[k] = _units.parse_duration(update[k])
            if "parallelism" in update:
                update["parallelism"] = _int(update["parallelism"])
            if "max_failure_ratio" in update:
                update["max_failure_ratio"] = _float(update["max_failure_ratio"])
            out[key] = update
        else:
            out[key] = item
    return out


def _networks(value: Any) -> dict[str, Dict | None]:
    if isinstance(value, list):
        return {name: None for name in value}
    out: dict[str, Dict | None] = {}
    for name, attach in value.items():
        if attach is None:
            out[name] = None
            continue
        entry = {k: v for k, v in attach.items() if v is not None}
        for key in ("priority", "gw_priority"):
            if key in entry:
                entry[key] = _int(entry[key])
        if "driver_opts" in entry:
            entry["driver_opts"] = str_mapping(entry["driver_opts"])
        out[name] = entry
    return out


def _depends_on(value: Any) -> dict[str, Dict]:
    if isinstance(value, list):
        return {name: {"condition": "service_started", "required": True} for name in value}
    out = {}
    for name, dep in value.items():
        entry: Dict = {}  # what is not given is defaulted after merging, so as not to undo an earlier file
        for key, item in (dep or {}).items():
            if item is not None:
                entry[key] = _bool(item) if key in ("restart", "required") else item
        out[name] = entry
    return out


def _logging(value: Dict) -> Dict:
    out: Dict = {k: v for k, v in value.items() if v is not None}
    if "options" in out:
        out["options"] = {k: _units.scalar_text(v) for k, v in out["options"].items() if v is not None}
    return out


def _extends(value: Any, ctx: Context) -> Dict:
    if isinstance(value, str):
        return {"service": value}
    out = {"service": value["service"]}
    if value.get("file"):
        out["file"] = ctx.abspath(value["file"])
    return out


def _develop(value: Dict, ctx: Context) -> Dict:
    """develop (compose watch) is passed through, its watched paths made absolute."""
    out = dict(value)
    if isinstance(out.get("watch"), list):
        out["watch"] = [dict(w, path=ctx.abspath(w["path"])) if isinstance(w, dict) and isinstance(w.get("path"), str)
                        else w for w in out["watch"]]
    return out


def canonical_service(service: Dict | None, path: str, ctx: Context) -> Dict:
    out: Dict = {}
    for key, value in (service or {}).items():
        if value is None:
            continue
        here = f"{path}.{key}"
        out[key] = _service_value(key, value, here, ctx)
    return out


def _service_value(key: str, value: Any, here: str, ctx: Context) -> Any:
    try:
        return _convert_service_value(key, value, here, ctx)
    except ValueError as exc:
        raise _fail(here, str(exc)) from None


def _convert_service_value(key: str, value: Any, here: str, ctx: Context) -> Any:
    if key in _BOOL_KEYS:
        return _bool(value)
    if key in _INT_KEYS:
        return _int(value)
    if key in _SIZE_KEYS:
        return _size(value)
    if key in _LIST_KEYS or key in _STRING_OR_LIST_KEYS or key == "group_add":
        return str_list(value)
    if key in _MAPPING_KEYS:
        return str_mapping(value)
    if key == "environment":
        return kv_mapping(value)
    if key == "cpus":
        return _float(value)
    if key == "user":
        return _units.scalar_text(value)
    if key == "stop_grace_period":
        return _units.parse_duration(value)
    if key == "build":
        return _build(value, here, ctx)
    if key == "env_file":
        return _env_files(value, ctx)
    if key == "ports":
        return canonical_ports(value, here)
    if key == "expose":
        return canonical_expose(value, here)
    if key == "volumes":
        return [canonical_volume(v, f"{here}[{i}]", ctx) for i, v in enumerate(value)]
    if key == "networks":
        return _networks(value)
    if key == "depends_on":
        return _depends_on(value)
    if key == "healthcheck":
        return _healthcheck(value)
    if key == "deploy":
        return _deploy(value)
    if key == "logging":
        return _logging(value)
    if key == "ulimits":
        return _ulimits(value)
    if key == "secrets":
        return _mounts(value, "/run/secrets", here)
    if key == "configs":
        return _mounts(value, "", here)
    if key == "devices":
        return _devices(value, here)
    if key == "extra_hosts":
        return _extra_hosts(value, here)
    if key == "extends":
        return _extends(value, ctx)
    if key == "develop":
        return _develop(value, ctx)
    if key == "pull_policy" and value == "if_not_present":
        return "missing"
    return value


# -- top-level resources ----------------------------------------------------------------------


def _external(resource: Dict) -> None:
    external = resource.get("external")
    if isinstance(external, dict):
        resource["external"] = True
        if external.get("name"):
            resource.setdefault("name", external["name"])
    elif external is not None:
        resource["external"] = _bool(external)


def _resource_entry(kind: str, value: Dict | None, ctx: Context) -> Dict:
    entry: Dict = {k: v for k, v in (value or {}).items() if v is not None}
    _external(entry)
    if "labels" in entry:
        entry["labels"] = str_mapping(entry["labels"])
    if "driver_opts" in entry:
        entry["driver_opts"] = str_mapping(entry["driver_opts"])
    for key in ("internal", "attachable", "enable_ipv4", "enable_ipv6"):
        if key in entry:
            entry[key] = _bool(entry[key])
    if kind in ("secrets", "configs") and entry.get("file"):
        entry["file"] = ctx.abspath(entry["file"])
    if kind == "volumes" and entry.get("driver_opts", {}).get("o") == "bind" and entry["driver_opts"].get("device"):
        entry["driver_opts"]["device"] = ctx.abspath(entry["driver_opts"]["device"])
    if kind == "networks" and "ipam" in entry:
        ipam = {k: v for k, v in entry["ipam"].items() if v is not None}
        if "config" in ipam:
            ipam["config"] = [{k: v for k, v in pool.items() if v is not None} for pool in ipam["config"]]
        entry["ipam"] = ipam
    return entry


def canonical_model(model: Dict, ctx: Context) -> Dict:
    """The validated file in canonical form (`include` and `version` left for the loader)."""
    out: Dict = {}
    for key, value in model.items():
        if key == "services":
            out[key] = {name: canonical_service(svc, f"services.{name}", ctx) for name, svc in (value or {}).items()}
        elif key in ("networks", "volumes", "secrets", "configs"):
            out[key] = {name: _resource_entry(key, entry, ctx) for name, entry in (value or {}).items()}
        elif value is not None:
            out[key] = value
    return out
