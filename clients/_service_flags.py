"""`palletctl service create|update` flags: their value types (a bad value is a usage error, exit
125), the flags both commands take, and the ServiceSpec they build (create) or change (update)."""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from pallet.client.cli import CLIError

if TYPE_CHECKING:  # the model loads with the cluster commands, not on every palletctl start
    from pallet.engine.cluster._model import ServiceSpec

_TRUE = ("1", "t", "true", "yes", "on")
_FALSE = ("0", "f", "false", "no", "off")
_PROTOCOLS = ("tcp", "udp", "sctp")


def seconds(text: str) -> float:
    """A Go duration ("10s", "1m30s", "500ms") in seconds."""
    from pallet.errors import PalletError
    from pallet.units import parse_duration

    try:
        return parse_duration(text) / 1e9
    except PalletError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count(text: str) -> int:
    """A non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid value "{text}": not an integer') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'invalid value "{text}": must be 0 or more')
    return value


def ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid value "{text}": not a number') from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f'invalid value "{text}": must be between 0 and 1')
    return value


def _bool(text: str, what: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f'invalid value "{text}" for {what}: want true or false')


def _port_range(text: str, what: str, spec: str, allow_zero: bool = False) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    if not first.isdigit() or (sep and not last.isdigit()):
        raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": invalid {what} "{text}"')
    start, end = int(first), int(last) if sep else int(first)
    low = 0 if allow_zero else 1
    if not (low <= start <= 65535 and low <= end <= 65535) or end < start:
        raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": invalid {what} "{text}"')
    return start, end


def parse_port(spec: str) -> list[dict[str, Any]]:
    """A --publish value: `[PUBLISHED:]TARGET[/PROTO]` (ranges of equal length allowed), the long form
    `published=8080,target=80,protocol=udp,mode=host`, or both (`mode=host,8080:80`)."""
    fields: dict[str, str] = {}
    short = ""
    for part in (p.strip() for p in spec.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            if short or not part:
                raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}"')
            short = part
            continue
        key = key.strip().lower()
        if key not in ("published", "target", "protocol", "mode"):
            raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": invalid field key "{key}"')
        fields[key] = value.strip()
    if short:
        if "target" in fields or "published" in fields:
            raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": ports given twice')
        ports, _, proto = short.partition("/")
        if proto:
            fields["protocol"] = proto
        parts = ports.split(":")
        if len(parts) > 2:
            raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": a host IP is not supported '
                                             "(use published:target)")
        fields["target"] = parts[-1]
        if len(parts) == 2:
            fields["published"] = parts[0]
    if not fields.get("target"):
        raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": missing target port')
    proto = (fields.get("protocol") or "tcp").lower()
    if proto not in _PROTOCOLS:
        raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": invalid protocol "{proto}": '
                                         "want tcp, udp or sctp")
    mode = (fields.get("mode") or "ingress").lower()
    if mode not in ("ingress", "host"):
        raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": invalid mode "{mode}": want ingress or host')
    t_start, t_end = _port_range(fields["target"], "target port", spec)
    published = fields.get("published", "")
    p_start, p_end = _port_range(published, "published port", spec, allow_zero=True) if published else (0, 0)
    n = t_end - t_start + 1
    if published and p_end - p_start + 1 != n:
        raise argparse.ArgumentTypeError(f'invalid publish spec "{spec}": published and target ranges differ '
                                         "in length")
    return [{"target": t_start + i, "published": p_start + i if published else 0, "protocol": proto, "mode": mode}
            for i in range(n)]


def parse_mount(spec: str) -> dict[str, Any]:
    """A --mount value: type=volume|bind|tmpfs,source=,target=[,readonly] (src, dst, destination, ro too)."""
    out: dict[str, Any] = {"type": "volume", "source": "", "target": "", "readonly": False}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            out["readonly"] = _bool(value, f"{key} in --mount") if sep else True
        elif not sep:
            raise argparse.ArgumentTypeError(f'invalid mount "{spec}": invalid field "{part}" must be a key=value pair')
        elif key == "type":
            if value not in ("volume", "bind", "tmpfs"):
                raise argparse.ArgumentTypeError(f'invalid mount "{spec}": invalid type "{value}": '
                                                 "want volume, bind or tmpfs")
            out["type"] = value
        elif key in ("source", "src"):
            out["source"] = value
        elif key in ("target", "destination", "dst"):
            out["target"] = value
        else:
            raise argparse.ArgumentTypeError(f'invalid mount "{spec}": unexpected key "{key}"')
    if not out["target"]:
        raise argparse.ArgumentTypeError(f'invalid mount "{spec}": target is required')
    if out["type"] == "bind" and not out["source"]:
        raise argparse.ArgumentTypeError(f'invalid mount "{spec}": a bind mount needs a source')
    if out["type"] == "tmpfs" and out["source"]:
        raise argparse.ArgumentTypeError(f'invalid mount "{spec}": a tmpfs mount takes no source')
    return out


def parse_kv(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _env_item(item: str) -> str:
    import os

    key, sep, _ = item.partition("=")
    if not key:
        raise CLIError(f"palletctl: invalid environment variable: {item}")
    return item if sep else f"{key}={os.environ[key]}" if key in os.environ else item


def _env_key(item: str) -> str:
    return item.partition("=")[0]


def add_common_flags(p: argparse.ArgumentParser) -> None:
    """The flags both commands take; their default None means "not given" (update keeps the value)."""
    p.add_argument("--replicas", type=count, default=None, help="number of tasks")
    p.add_argument("-w", "--workdir", default=None, help="working directory inside the container")
    p.add_argument("-u", "--user", default=None, help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", default=None, help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("--health-cmd", default=None, help="command to run to check health")
    p.add_argument("--health-interval", type=seconds, default=None, help="time between running the check (ms|s|m|h)")
    p.add_argument("--health-retries", type=count, default=None,
                   help="consecutive failures needed to report unhealthy")
    p.add_argument("--no-healthcheck", action="store_true", help="disable any container-specified HEALTHCHECK")
    p.add_argument("--endpoint-mode", default=None, choices=["vip", "dnsrr"],
                   help='endpoint mode ("vip" or "dnsrr") (default "vip")')
    p.add_argument("--restart-condition", default=None, choices=["any", "on-failure", "none"],
                   help='restart when condition is met ("none", "on-failure", "any") (default "any")')
    p.add_argument("--restart-delay", type=seconds, default=None,
                   help="delay between restart attempts (ns|us|ms|s|m|h) (default 5s)")
    p.add_argument("--restart-max-attempts", type=count, default=None,
                   help="maximum number of restarts before giving up")
    p.add_argument("--stop-grace-period", type=seconds, default=None,
                   help="time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)")
    for kind, actions in (("update", ["pause", "continue", "rollback"]), ("rollback", ["pause", "continue"])):
        p.add_argument(f"--{kind}-parallelism", type=count, default=None,
                       help=f"maximum number of tasks {'updated' if kind == 'update' else 'rolled back'} "
                            f"simultaneously (0 to {kind} all at once)")
        p.add_argument(f"--{kind}-delay", type=seconds, default=None, help=f"delay between {kind}s (ns|us|ms|s|m|h)")
        p.add_argument(f"--{kind}-failure-action", default=None, choices=actions,
                       help=f"action on {kind} failure ({', '.join(repr(a) for a in actions)}) (default \"pause\")")
        p.add_argument(f"--{kind}-monitor", type=seconds, default=None,
                       help=f"duration after each task {kind} to monitor for failure (ns|us|ms|s|m|h) (default 5s)")
        p.add_argument(f"--{kind}-max-failure-ratio", type=ratio, default=None,
                       help=f"failure rate to tolerate during a{'n' if kind == 'update' else ''} {kind}")
        p.add_argument(f"--{kind}-order", default=None, choices=["start-first", "stop-first"],
                       help=f'{kind} order ("start-first", "stop-first")')
    p.add_argument("-d", "--detach", action="store_true",
                   help="exit immediately instead of waiting for the service to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output")


def _apply_common(spec: ServiceSpec, args: argparse.Namespace) -> None:
    if args.replicas is not None:
        if spec.mode != "replicated":
            raise CLIError("palletctl: replicas can only be used with replicated mode")
        spec.replicas = args.replicas
    if args.workdir is not None:
        spec.workdir = args.workdir
    if args.user is not None:
        spec.user = args.user
    if args.entrypoint is not None:
        spec.command = shlex.split(args.entrypoint)
    if args.no_healthcheck:
        if args.health_cmd or args.health_interval is not None or args.health_retries is not None:
            raise CLIError("palletctl: --no-healthcheck conflicts with --health-* options")
        spec.health_cmd = ["NONE"]
    if args.health_cmd is not None:
        spec.health_cmd = ["CMD-SHELL", args.health_cmd] if args.health_cmd else []
    if args.health_interval is not None:
        spec.health_interval = args.health_interval
    if args.health_retries is not None:
        spec.health_retries = args.health_retries
    if args.restart_condition is not None:
        spec.restart_condition = args.restart_condition
    if args.endpoint_mode is not None:
        spec.endpoint_mode = args.endpoint_mode
    if args.restart_delay is not None:
        spec.restart_delay = args.restart_delay
    if args.restart_max_attempts is not None:
        spec.restart_max_attempts = args.restart_max_attempts
    if args.stop_grace_period is not None:
        spec.stop_grace_period = args.stop_grace_period
    for kind, cfg in (("update", spec.update), ("rollback", spec.rollback)):
        for attr in ("parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order"):
            value = getattr(args, f"{kind}_{attr}")
            if value is not None:
                setattr(cfg, attr, value)


def spec_from_args(args: argparse.Namespace) -> ServiceSpec:
    """`service create`'s flags as a ServiceSpec (the daemon validates the rest)."""
    from pallet.client._containers import _read_env_file
    from pallet.engine.cluster._model import ServiceSpec

    if args.mode == "global" and args.replicas is not None:
        raise CLIError("palletctl: replicas can only be used with replicated mode")
    spec = ServiceSpec(name=args.name, image=args.image, args=list(args.cmd), mode=args.mode)
    env = [e for path in args.env_file for e in _read_env_file(path)] + [_env_item(e) for e in args.env]
    spec.env = [e for e in env if "=" in e]
    spec.labels = parse_kv(args.label)
    spec.container_labels = parse_kv(args.container_label)
    spec.mounts = list(args.mount)
    spec.ports = [p for ports in args.publish for p in ports]
    spec.networks = list(args.network)
    spec.constraints = list(args.constraint)
    _apply_common(spec, args)
    return spec


def _same_port(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """b (a --publish-rm value) names port a: same target and protocol, and published when given."""
    return (a["target"] == b["target"] and a.get("protocol", "tcp") == b["protocol"]
            and (not b["published"] or a.get("published") == b["published"]))


def apply_update(spec: ServiceSpec, args: argparse.Namespace) -> None:
    """`service update`'s flags on the current spec. Each *-rm applies before its *-add, so
    `--env-rm A --env-add A=2` sets A=2."""
    if args.image:
        spec.image = args.image
    if args.args is not None:
        spec.args = shlex.split(args.args)
    # env: KEY or KEY=VALUE removed by key; added in place of the same key, else appended
    rm = {_env_key(e) for e in args.env_rm}
    spec.env = [e for e in spec.env if _env_key(e) not in rm]
    for item in (_env_item(e) for e in args.env_add):
        if "=" not in item:
            continue
        keys = [_env_key(e) for e in spec.env]
        if _env_key(item) in keys:
            spec.env[keys.index(_env_key(item))] = item
        else:
            spec.env.append(item)
    for attr, rm_flag, add_flag in (("labels", "label_rm", "label_add"),
                                    ("container_labels", "container_label_rm", "container_label_add")):
        labels: dict[str, str] = getattr(spec, attr)
        for key in getattr(args, rm_flag):
            labels.pop(key.partition("=")[0], None)
        labels.update(parse_kv(getattr(args, add_flag)))
    for attr, rm_flag, add_flag in (("constraints", "constraint_rm", "constraint_add"),
                                    ("networks", "network_rm", "network_add")):
        items = [c for c in getattr(spec, attr) if c not in getattr(args, rm_flag)]
        for c in getattr(args, add_flag):
            if c not in items:
                items.append(c)
        setattr(spec, attr, items)
    gone = [p for ports in args.publish_rm for p in ports]
    spec.ports = [p for p in spec.ports if not any(_same_port(p, g) for g in gone)]
    for new in (p for ports in args.publish_add for p in ports):
        spec.ports = [p for p in spec.ports if not (
            p.get("protocol", "tcp") == new["protocol"]
            and (p.get("published") == new["published"] if new["published"] else p["target"] == new["target"]))]
        spec.ports.append(new)
    spec.mounts = [m for m in spec.mounts if m.get("target") not in args.mount_rm]
    for m in args.mount_add:
        spec.mounts = [old for old in spec.mounts if old.get("target") != m["target"]]
        spec.mounts.append(m)
    _apply_common(spec, args)
