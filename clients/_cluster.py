"""Cluster mode: `palletctl node ...` and `palletctl service ...`, with Docker swarm's flags.

Specs are built and edited as pallet.engine.cluster._model.ServiceSpec (spec_from_args for
`service create`, apply_update for `service update`) and sent as the Cluster service's typed
ServiceSpec; `service update` reads the current spec, changes it and sends the whole of it back.
Without -d, create/update/scale/rollback follow the service's tasks until it converges.
`service logs` gets every task's log, from every node, through the palletd it talks to.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pallet.client.cli import CLIError

if TYPE_CHECKING:  # the model loads with the cluster commands, not on every palletctl start
    from pallet.engine.cluster._model import ServiceSpec

AddFn = Callable[..., argparse.ArgumentParser]

_TRUE = ("1", "t", "true", "yes", "on")
_FALSE = ("0", "f", "false", "no", "off")
_PROTOCOLS = ("tcp", "udp", "sctp")


# -- flag values (argparse types: a bad value is a usage error, exit 125) ----------------------

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


def _kv(items: list[str]) -> dict[str, str]:
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


# -- flags shared by create and update -----------------------------------------------------

def _add_common_flags(p: argparse.ArgumentParser) -> None:
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
    spec.labels = _kv(args.label)
    spec.container_labels = _kv(args.container_label)
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
        labels.update(_kv(getattr(args, add_flag)))
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


# -- talking to the daemon -----------------------------------------------------------------

def _stub(args: argparse.Namespace) -> Any:
    from pallet.client._conn import client
    from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

    return pb_grpc.ClusterStub(client(args).channel)


def _error(exc: BaseException, args: argparse.Namespace, kind: str = "", ref: str = "") -> CLIError:
    """Docker's wording: `Error: No such service: web` for an unknown one, else the daemon's message."""
    import grpc
    from pallet.client._conn import describe_error

    if kind and isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.NOT_FOUND:
        return CLIError(f"Error: No such {kind}: {ref}", 1)
    return CLIError(describe_error(exc, getattr(args, "host", None)) or str(exc), 1)


@contextlib.contextmanager
def _errors(args: argparse.Namespace, kind: str = "", ref: str = "") -> Iterator[None]:
    import grpc

    try:
        yield
    except grpc.RpcError as exc:
        raise _error(exc, args, kind, ref) from None


def _each(args: argparse.Namespace, refs: list[str], kind: str, call: Callable[[str], Any],
          echo: bool = True) -> int:
    """call(ref) for each ref, printing the ref (or the failure) and going on after a failure."""
    import grpc

    failed = False
    for ref in refs:
        try:
            call(ref)
        except grpc.RpcError as exc:
            print(_error(exc, args, kind, ref), file=sys.stderr)
            failed = True
            continue
        if echo:
            print(ref)
    return 1 if failed else 0


# -- output helpers ------------------------------------------------------------------------

def go_duration(secs: float) -> str:
    """Go's time.Duration String: "0s", "500ms", "5s", "1m30s", "1h0m0s"."""
    ns = round(secs * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{sign}{ns / size:.9g}{unit}"
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    s = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".") + "s"
    if h:
        return f"{sign}{h}h{m}m{s}"
    if m:
        return f"{sign}{m}m{s}"
    return sign + s


def _bytes_size(n: float) -> str:
    """go-units BytesSize: binary units ("7.629GiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def _ns(ts: Any) -> int:
    return int(ts.ToNanoseconds()) if ts.seconds or ts.nanos else 0


def _image(image: str, no_trunc: bool = False) -> str:
    return image if no_trunc else image.split("@", 1)[0]


def _ports_text(ports: Any) -> str:
    return ", ".join(f"*:{p.published}->{p.target}/{p.protocol or 'tcp'}" for p in ports if p.published)


def _render_each(fmt: str, objs: list[dict[str, Any]]) -> None:
    from pallet.client._inspect import render

    for obj in objs:
        try:
            print(render(fmt, obj))
        except ValueError as exc:
            raise CLIError(f"palletctl: {exc}") from None


def _filters(values: list[str], allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise CLIError(f"Error: bad format of filter (expected name=value): {item}", 1)
        if key not in allowed:
            raise CLIError(f"Error: invalid filter '{key}'", 1)
        out.append((key, value))
    return out


def _label_match(labels: Any, want: str) -> bool:
    k, sep, v = want.partition("=")
    return k in labels and (not sep or labels[k] == v)


# -- palletctl node ------------------------------------------------------------------------

def _info(args: argparse.Namespace) -> Any:
    from pallet.engine.v1 import engine_pb2 as pb

    with _errors(args):
        return _stub(args).ClusterInfo(pb.ClusterInfoRequest())


def _manager_status(n: Any) -> str:
    return "Leader" if n.leader else "Reachable" if n.state == "ready" else "Unreachable"


def node_row(n: Any, self_name: str = "") -> dict[str, Any]:
    return {"ID": n.name, "Name": n.name, "Self": n.name == self_name, "Hostname": n.hostname,
            "Status": n.state.capitalize(), "Availability": n.availability.capitalize(),
            "ManagerStatus": _manager_status(n), "EngineVersion": n.engine_version, "Addr": n.addr}


def _node_matches(n: Any, filters: list[tuple[str, str]]) -> bool:
    by: dict[str, list[bool]] = {}
    for key, value in filters:
        if key in ("id", "name"):
            hit = n.name.startswith(value)
        elif key in ("label", "node.label"):
            hit = _label_match(n.labels, value)
        elif key == "role":
            hit = value == "manager"
        elif key == "membership":
            hit = value == "accepted"
        else:  # availability, state
            hit = getattr(n, key) == value.lower()
        by.setdefault(key, []).append(hit)
    return all(any(hits) for hits in by.values())  # OR within a key, AND across keys, as Docker


def cmd_node_ls(args: argparse.Namespace) -> int:
    from pallet.client import _format
    from pallet.engine.v1 import engine_pb2 as pb

    filters = _filters(args.filter, ("id", "name", "label", "node.label", "role", "membership", "availability",
                                     "state"))
    stub = _stub(args)
    with _errors(args):
        nodes = [n for n in stub.NodeList(pb.NodeListRequest()).nodes if _node_matches(n, filters)]
    self_name = "" if args.quiet else _info(args).node_name
    rows = [node_row(n, self_name) for n in nodes]
    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format:
        _format.print_rows(args.format, rows, id_header="ID")
    else:
        headers = ["NAME", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"]
        print(_format.table(headers, [[r["Name"] + (" *" if r["Self"] else ""), r["Hostname"], r["Status"],
                                       r["Availability"], r["ManagerStatus"], r["EngineVersion"]] for r in rows]))
    return 0


def node_json(n: Any) -> dict[str, Any]:
    from pallet.client._inspect import rfc3339

    return {
        "ID": n.name,
        "CreatedAt": rfc3339(_ns(n.created)),
        "Spec": {"Name": n.name, "Labels": dict(sorted(n.labels.items())), "Role": "manager",
                 "Availability": n.availability},
        "Description": {"Hostname": n.hostname,
                        "Resources": {"NanoCPUs": n.ncpu * 1_000_000_000, "MemoryBytes": n.memory},
                        "Engine": {"EngineVersion": n.engine_version}},
        "Status": {"State": n.state, "Addr": n.addr, "Since": rfc3339(_ns(n.since))},
        "ManagerStatus": {"Leader": n.leader, "Reachability": "reachable" if n.state == "ready" else "unreachable",
                          "Addr": n.addr},
    }


def node_pretty(n: Any) -> str:
    from pallet.client._inspect import rfc3339

    lines = [f"ID:\t\t\t{n.name}"]
    if n.labels:
        lines.append("Labels:")
        lines += [f" - {k} = {v}" for k, v in sorted(n.labels.items())]
    lines += [f"Hostname:\t\t{n.hostname}", f"Joined at:\t\t{rfc3339(_ns(n.created))}", "Status:",
              f" State:\t\t\t{n.state.capitalize()}", f" Availability:\t\t{n.availability.capitalize()}",
              f" Address:\t\t{n.addr}", "Manager Status:", f" Address:\t\t{n.addr}",
              f" Raft Status:\t\t{'Reachable' if n.state == 'ready' else 'Unreachable'}",
              f" Leader:\t\t{'Yes' if n.leader else 'No'}"]
    if n.state == "ready":
        lines += ["Resources:", f" CPUs:\t\t\t{n.ncpu}", f" Memory:\t\t{_bytes_size(n.memory)}",
                  f"Engine Version:\t\t{n.engine_version}"]
    return "\n".join(line.expandtabs(8) for line in lines)


def _node_ref(args: argparse.Namespace, ref: str) -> str:
    """`self` is this daemon's node, as Docker's."""
    return _info(args).node_name if ref == "self" else ref


def cmd_node_inspect(args: argparse.Namespace) -> int:
    import grpc
    from pallet.engine.v1 import engine_pb2 as pb

    if args.pretty and args.format:
        raise CLIError("palletctl: --format is incompatible with human friendly format")
    stub = _stub(args)
    found, failed = [], False
    for ref in args.nodes:
        try:
            found.append(stub.NodeInspect(pb.NodeInspectRequest(name=_node_ref(args, ref))))
        except grpc.RpcError as exc:
            print(_error(exc, args, "node", ref), file=sys.stderr)
            failed = True
    if args.pretty:
        print("\n\n".join(node_pretty(n) for n in found))
    elif args.format:
        _render_each(args.format, [node_json(n) for n in found])
    else:
        print(json.dumps([node_json(n) for n in found], indent=4))
    return 1 if failed else 0


def cmd_node_update(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    ref = _node_ref(args, args.node)
    with _errors(args, "node", ref):
        _stub(args).NodeUpdate(pb.NodeUpdateRequest(name=ref, availability=args.availability or "",
                                                    label_add=_kv(args.label_add), label_rm=args.label_rm))
    print(args.node)
    return 0


def cmd_node_rm(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    stub = _stub(args)
    return _each(args, args.nodes, "node", lambda ref: stub.NodeRemove(pb.NodeRemoveRequest(name=ref,
                                                                                            force=args.force)))


def cmd_node_ps(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    stub = _stub(args)
    names = [_node_ref(args, ref) for ref in (args.nodes or ["self"])]
    with _errors(args):
        known = {n.name for n in stub.NodeList(pb.NodeListRequest()).nodes}
        for name in names:
            if name not in known:
                raise CLIError(f"Error: No such node: {name}", 1)
        tasks = [t for t in stub.ServicePs(pb.ServicePsRequest()).tasks if t.node in names]
    _print_tasks(args, tasks)
    return 0


# -- palletctl service: reading ------------------------------------------------------------

def _replicas(s: Any) -> str:
    return f"{s.running}/{s.desired}"


def service_row(s: Any, no_trunc: bool = False) -> dict[str, Any]:
    return {"ID": s.id if no_trunc else s.id[:12], "Name": s.spec.name, "Mode": s.spec.mode or "replicated",
            "Replicas": _replicas(s), "Image": _image(s.spec.image, no_trunc), "Ports": _ports_text(s.spec.ports)}


def _service_matches(s: Any, filters: list[tuple[str, str]]) -> bool:
    by: dict[str, list[bool]] = {}
    for key, value in filters:
        if key == "name":
            hit = s.spec.name.startswith(value)
        elif key == "id":
            hit = s.id.startswith(value)
        elif key == "label":
            hit = _label_match(s.spec.labels, value)
        else:  # mode
            hit = (s.spec.mode or "replicated") == value
        by.setdefault(key, []).append(hit)
    return all(any(hits) for hits in by.values())


def cmd_service_ls(args: argparse.Namespace) -> int:
    from pallet.client import _format
    from pallet.engine.v1 import engine_pb2 as pb

    filters = _filters(args.filter, ("id", "name", "label", "mode"))
    with _errors(args):
        services = [s for s in _stub(args).ServiceList(pb.ServiceListRequest()).services
                    if _service_matches(s, filters)]
    rows = [service_row(s) for s in services]
    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format:
        _format.print_rows(args.format, rows, id_header="ID")
    else:
        keys = ["ID", "Name", "Mode", "Replicas", "Image", "Ports"]
        print(_format.table(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], [[r[k] for k in keys] for r in rows]))
    return 0


def _ns_of(secs: float) -> int:
    return round(secs * 1e9)


def _update_config_json(cfg: Any) -> dict[str, Any]:
    return {"Parallelism": cfg.parallelism, "Delay": _ns_of(cfg.delay), "FailureAction": cfg.failure_action,
            "Monitor": _ns_of(cfg.monitor), "MaxFailureRatio": cfg.max_failure_ratio, "Order": cfg.order}


def _ports_json(ports: Any) -> list[dict[str, Any]]:
    return [{"Protocol": p.protocol, "TargetPort": p.target, "PublishedPort": p.published, "PublishMode": p.mode}
            for p in ports]


def spec_json(spec: Any) -> dict[str, Any]:
    """A ServiceSpec message in Docker's shape (durations in nanoseconds)."""
    cs: dict[str, Any] = {"Image": spec.image}
    for key, value in (("Labels", dict(sorted(spec.container_labels.items()))), ("Command", list(spec.command)),
                       ("Args", list(spec.args)), ("Env", list(spec.env)), ("Dir", spec.workdir),
                       ("User", spec.user)):
        if value:
            cs[key] = value
    if spec.mounts:
        cs["Mounts"] = [{"Type": m.type, "Source": m.source, "Target": m.target, "ReadOnly": m.readonly}
                        for m in spec.mounts]
    cs["StopGracePeriod"] = _ns_of(spec.stop_grace_period)
    if spec.health_cmd:
        cs["Healthcheck"] = {"Test": list(spec.health_cmd), "Interval": _ns_of(spec.health_interval),
                             "Retries": spec.health_retries}
    task: dict[str, Any] = {
        "ContainerSpec": cs,
        "RestartPolicy": {"Condition": spec.restart_condition, "Delay": _ns_of(spec.restart_delay),
                          "MaxAttempts": spec.restart_max_attempts},
        "Placement": {"Constraints": list(spec.constraints)} if spec.constraints else {},
    }
    if spec.networks:
        task["Networks"] = [{"Target": n} for n in spec.networks]
    mode = {"Global": {}} if spec.mode == "global" else {"Replicated": {"Replicas": spec.replicas}}
    return {"Name": spec.name, "Labels": dict(sorted(spec.labels.items())), "TaskTemplate": task, "Mode": mode,
            "UpdateConfig": _update_config_json(spec.update), "RollbackConfig": _update_config_json(spec.rollback),
            "EndpointSpec": {"Mode": spec.endpoint_mode or "vip",
                             **({"Ports": _ports_json(spec.ports)} if spec.ports else {})}}


def service_json(s: Any) -> dict[str, Any]:
    from pallet.client._inspect import rfc3339

    out: dict[str, Any] = {"ID": s.id, "Version": {"Index": s.version}, "CreatedAt": rfc3339(_ns(s.created)),
                           "UpdatedAt": rfc3339(_ns(s.updated)), "Spec": spec_json(s.spec)}
    if s.HasField("previous"):
        out["PreviousSpec"] = spec_json(s.previous)
    out["Endpoint"] = {"Spec": out["Spec"]["EndpointSpec"],
                       **({"Ports": _ports_json(s.spec.ports)} if s.spec.ports else {}),
                       **({"VirtualIPs": [{"NetworkID": v.network_id, "Addr": v.addr} for v in s.virtual_ips]}
                          if s.virtual_ips else {})}
    if s.update_state:
        out["UpdateStatus"] = {"State": s.update_state, "Message": s.update_message}
    out["ServiceStatus"] = {"RunningTasks": s.running, "DesiredTasks": s.desired}
    return out


def _pretty_update(title: str, cfg: Any, order_title: str) -> list[str]:
    lines = [f"{title}:", f" Parallelism:\t{cfg.parallelism}"]
    if cfg.delay:
        lines.append(f" Delay:\t\t{go_duration(cfg.delay)}")
    lines += [f" On failure:\t{cfg.failure_action}", f" Monitoring Period: {go_duration(cfg.monitor)}",
              f" Max failure ratio: {cfg.max_failure_ratio:g}", f" {order_title}:    {cfg.order}"]
    return lines


def service_pretty(s: Any) -> str:
    spec = s.spec
    lines = [f"ID:\t\t{s.id}", f"Name:\t\t{spec.name}"]
    if spec.labels:
        lines += ["Labels:", *(f" {k}={v}" for k, v in sorted(spec.labels.items()))]
    if spec.mode == "global":
        lines.append("Service Mode:\tGlobal")
    else:
        lines += ["Service Mode:\tReplicated", f" Replicas:\t{spec.replicas}"]
    if s.update_state:
        lines += ["UpdateStatus:", f" State:\t\t{s.update_state}", f" Message:\t{s.update_message}"]
    lines.append("Placement:")
    if spec.constraints:
        lines.append(f" Constraints:\t[{' '.join(spec.constraints)}]")
    lines += _pretty_update("UpdateConfig", spec.update, "Update order")
    lines += _pretty_update("RollbackConfig", spec.rollback, "Rollback order")
    lines += ["ContainerSpec:", f" Image:\t\t{spec.image}"]
    if spec.command:
        lines.append(f" Command:\t{' '.join(spec.command)}")
    if spec.args:
        lines.append(f" Args:\t\t{' '.join(spec.args)} ")
    if spec.env:
        lines.append(f" Env:\t\t{' '.join(spec.env)}")
    if spec.workdir:
        lines.append(f" Dir:\t\t{spec.workdir}")
    if spec.user:
        lines.append(f" User:\t\t{spec.user}")
    if spec.health_cmd:
        lines.append(f" Healthcheck:\t{spec.health_cmd}")
    if spec.mounts:
        lines.append("Mounts:")
        for m in spec.mounts:
            lines += [f" Target:\t{m.target}", f"  Source:\t{m.source}", f"  ReadOnly:\t{str(m.readonly).lower()}",
                      f"  Type:\t\t{m.type}"]
    lines += ["Restart Policy:", f" Condition:\t{spec.restart_condition}",
              f" Delay:\t\t{go_duration(spec.restart_delay)}", f" Max Attempts:\t{spec.restart_max_attempts}",
              f"Stop Grace Period: {go_duration(spec.stop_grace_period)}"]
    if spec.networks:
        lines.append(f"Networks:\t{' '.join(spec.networks)} ")
    lines.append(f"Endpoint Mode:\t{spec.endpoint_mode or 'vip'}")
    if spec.ports:
        lines.append("Ports:")
        for p in spec.ports:
            lines += [f" PublishedPort = {p.published}", f"  Protocol = {p.protocol}", f"  TargetPort = {p.target}",
                      f"  PublishMode = {p.mode}"]
    return "\n".join(line.expandtabs(8) for line in lines)


def _inspect_service(args: argparse.Namespace, ref: str) -> Any:
    from pallet.engine.v1 import engine_pb2 as pb

    with _errors(args, "service", ref):
        return _stub(args).ServiceInspect(pb.ServiceInspectRequest(service=ref))


def cmd_service_inspect(args: argparse.Namespace) -> int:
    if args.pretty and args.format:
        raise CLIError("palletctl: --format is incompatible with human friendly format")
    found, failed = [], False
    for ref in args.services:
        try:
            found.append(_inspect_service(args, ref))
        except CLIError as exc:
            print(exc, file=sys.stderr)
            failed = True
    if args.pretty:
        print("\n\n".join(service_pretty(s) for s in found))
    elif args.format:
        _render_each(args.format, [service_json(s) for s in found])
    else:
        print(json.dumps([service_json(s) for s in found], indent=4))
    return 1 if failed else 0


def _task_sort_key(t: Any) -> tuple[str, int, str, int]:
    return (t.service, t.slot, "" if t.slot else t.node, -_ns(t.created))


def task_rows(tasks: list[Any], no_trunc: bool = False) -> list[dict[str, Any]]:
    """`service ps` rows: per slot (node, for global) the newest task first, older ones as ` \\_ web.1`."""
    from pallet.client._format import ago

    rows = []
    prev = ""
    for t in sorted(tasks, key=_task_sort_key):
        name = f"{t.name}.{t.id}" if no_trunc else t.name
        shown = f" \\_ {name}" if t.name == prev else name
        prev = t.name
        err = t.error
        if err and not no_trunc and len(err) > 30:
            err = err[:29] + "…"
        rows.append({"ID": t.id if no_trunc else t.id[:12], "Name": shown, "Image": _image(t.image, no_trunc),
                     "Node": t.node, "DesiredState": t.desired_state.capitalize(),
                     "CurrentState": f"{t.state.capitalize()} {ago(_ns(t.timestamp))}".strip(),
                     "Error": f'"{err}"' if err else "", "Ports": _ports_text(t.ports)})
    return rows


def _task_matches(t: Any, filters: list[tuple[str, str]]) -> bool:
    by: dict[str, list[bool]] = {}
    for key, value in filters:
        if key == "desired-state":
            hit = t.desired_state == ("running" if value == "accepted" else value)
        elif key == "id":
            hit = t.id.startswith(value)
        elif key == "name":
            hit = t.name.startswith(value)
        else:  # node
            hit = t.node == value
        by.setdefault(key, []).append(hit)
    return all(any(hits) for hits in by.values())


def _print_tasks(args: argparse.Namespace, tasks: list[Any]) -> None:
    from pallet.client import _format

    filters = _filters(args.filter, ("desired-state", "id", "name", "node"))
    rows = task_rows([t for t in tasks if _task_matches(t, filters)], args.no_trunc)
    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format:
        _format.print_rows(args.format, rows, id_header="ID")
    else:
        keys = ["ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports"]
        print(_format.table(["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"],
                            [[r[k] for k in keys] for r in rows]))


def cmd_service_ps(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    stub = _stub(args)
    tasks: list[Any] = []
    for ref in args.services:
        svc = _inspect_service(args, ref)
        with _errors(args, "service", ref):
            tasks += stub.ServicePs(pb.ServicePsRequest(service=svc.id)).tasks
    _print_tasks(args, tasks)
    return 0


# -- palletctl service logs ------------------------------------------------------------------

def parse_tail(text: str) -> int:
    """--tail: "all" or a number of lines (negative: all, as Docker)."""
    if text == "all":
        return -1
    try:
        return max(-1, int(text))
    except ValueError:
        raise CLIError(f'palletctl: invalid value for --tail: "{text}"') from None


def log_prefix(entry: Any, width: int = 1, no_task_ids: bool = False, no_trunc: bool = False) -> str:
    """Docker's `web.1.abc123def456@n2    | `: the task, its ID, its node, with the slot padded to
    `width` digits (the replicas' count) so that the bars line up."""
    name = entry.task_name
    if not no_task_ids:
        name += "." + (entry.task_id if no_trunc else entry.task_id[:12])
    slot = entry.task_name.rsplit(".", 1)[-1]
    pad = max(0, width - len(slot)) if slot.isdigit() else 0
    return f"{name}@{entry.node}{' ' * pad}    | "


def write_log_entry(entry: Any, args: argparse.Namespace, width: int) -> None:
    """One ServiceLogEntry: a task's line (stdout or stderr, as the task wrote it) with its prefix, or
    a line about a node (`error from n2: node is down`) on stderr as it is."""
    from pallet.client._inspect import rfc3339
    from pallet.engine.v1 import engine_pb2 as pb

    if not entry.task_id:
        sys.stdout.flush()
        sys.stderr.buffer.write(entry.data)
        sys.stderr.buffer.flush()
        return
    out = sys.stderr.buffer if entry.stream == pb.LogEntry.STREAM_STDERR else sys.stdout.buffer
    head = ""
    if args.timestamps:
        head = rfc3339(entry.time.ToNanoseconds()) + " "
    if not args.raw:
        head += log_prefix(entry, width, args.no_task_ids, args.no_trunc)
    out.write(head.encode() + entry.data)
    if args.follow:
        out.flush()


def cmd_service_logs(args: argparse.Namespace) -> int:
    import grpc
    from pallet.engine.v1 import engine_pb2 as pb

    tail = parse_tail(args.tail)
    stub = _stub(args)
    width = 0  # a task's logs (Docker pads only a service's slots)
    try:
        svc = stub.ServiceInspect(pb.ServiceInspectRequest(service=args.target))
        width = len(str(svc.spec.replicas)) if svc.spec.mode != "global" else 0
    except grpc.RpcError as exc:
        if not (isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.NOT_FOUND):
            raise _error(exc, args) from None
    req = pb.ServiceLogsRequest(service=args.target, follow=args.follow, timestamps=args.timestamps)
    if tail >= 0:
        req.tail = tail
    try:
        with _errors(args):
            for entry in stub.ServiceLogs(req):
                write_log_entry(entry, args, width)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


# -- palletctl service: changing -----------------------------------------------------------

_FAILED = frozenset({"failed", "rejected", "complete", "orphaned"})


def _attempts_allowed(spec: Any) -> int:
    """Failed tasks of one slot after which waiting gives up (the orchestrator may keep trying)."""
    if spec.restart_condition == "none":
        return 1
    return min(2, spec.restart_max_attempts + 1) if spec.restart_max_attempts else 2


def _eligible_nodes(stub: Any, spec: Any) -> int:
    from pallet.engine.cluster._model import NodeSpec
    from pallet.engine.cluster._plan import matches
    from pallet.engine.v1 import engine_pb2 as pb

    nodes = stub.NodeList(pb.NodeListRequest()).nodes
    return sum(1 for n in nodes if n.state == "ready" and n.availability == "active"
               and matches(NodeSpec(name=n.name, labels=dict(n.labels)), list(spec.constraints)))


def converge_state(svc: Any, tasks: list[Any], eligible: int = 0,
                   stuck: bool = False) -> tuple[int, int, bool, list[Any]]:
    """(running, desired, converged, failed tasks that make waiting pointless) for the service's
    current version: a slot (node, for global) counts when a current task runs there. stuck: the
    service's rollout was paused before (old tasks stay; only the count matters)."""
    glob = svc.spec.mode == "global"

    def where(t: Any) -> str | int:
        return t.node if glob else t.slot

    current = [t for t in tasks if t.version == svc.version]
    running = {where(t) for t in current if t.desired_state == "running" and t.state == "running"}
    desired = eligible if glob else svc.spec.replicas
    old_live = [t for t in tasks if t.version != svc.version and t.desired_state == "running"
                and t.state not in _FAILED and t.state != "shutdown"]
    settling = svc.update_state in ("updating", "rollback_started")
    converged = len(running) >= desired and (stuck or (not old_live and not settling))
    failed: dict[str | int, list[Any]] = {}
    for t in current:
        if t.state in _FAILED and where(t) not in running:
            failed.setdefault(where(t), []).append(t)
    limit = _attempts_allowed(svc.spec)
    hopeless = [ts[0] for ts in failed.values() if len(ts) >= limit]
    return len(running), desired, converged, hopeless


def wait_converged(args: argparse.Namespace, start: Any, rollback: bool = False,
                   poll: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
    """Follow the service until its tasks run (Docker's progress, kept simple). start: the service
    as the change that is followed left it (its version and update state then)."""
    from pallet.engine.v1 import engine_pb2 as pb

    stub = _stub(args)
    out = (lambda _line: None) if args.quiet else (lambda line: print(line, flush=True))
    ref = start.id
    stuck = start.update_state in ("paused", "rollback_paused")
    last = ""
    while True:
        svc = _inspect_service(args, ref)
        with _errors(args, "service", ref):
            tasks = list(stub.ServicePs(pb.ServicePsRequest(service=svc.id)).tasks)
            eligible = _eligible_nodes(stub, svc.spec) if svc.spec.mode == "global" else 0
        if svc.update_state in ("paused", "rollback_paused") and not stuck:
            raise CLIError(f"Error: {svc.update_state.replace('_', ' ')}: {svc.update_message}", 1)
        if svc.version > start.version and svc.update_state.startswith("rollback") and not rollback:
            raise CLIError(f"Error: the update failed and is rolled back: {svc.update_message}", 1)
        running, desired, converged, hopeless = converge_state(svc, tasks, eligible, stuck)
        what = "rolling back update: " if rollback else ""
        line = f"overall progress: {what}{running} out of {desired} tasks"
        if line != last:
            out(line)
            last = line
        if converged:
            out("verify: Service converged")
            return
        if hopeless:
            for t in sorted(hopeless, key=_task_sort_key):
                reason = t.error or t.message or t.state
                if t.state == "complete" or (t.exit_code and "exit" not in reason):
                    reason = f"{reason} (exit code {t.exit_code})"
                print(f"{t.name}: {reason}", file=sys.stderr)
            raise CLIError(f"Error: service {svc.spec.name} did not converge: {len(hopeless)} of {desired} tasks "
                           f"failed (see `palletctl service ps {svc.spec.name}`)", 1)
        sleep(poll)


def cmd_service_create(args: argparse.Namespace) -> int:
    from pallet.engine.cluster._servicer import spec_to_pb
    from pallet.engine.v1 import engine_pb2 as pb

    spec = spec_from_args(args)
    with _errors(args):
        svc = _stub(args).ServiceCreate(pb.ServiceCreateRequest(spec=spec_to_pb(spec)))
    print(svc.id, flush=True)
    if not args.detach:
        wait_converged(args, svc)
    return 0


def _update(args: argparse.Namespace, ref: str, change: Callable[[ServiceSpec], None], force: bool = False) -> Any:
    from pallet.engine.cluster._servicer import spec_from_pb, spec_to_pb
    from pallet.engine.v1 import engine_pb2 as pb

    current = _inspect_service(args, ref)
    spec = spec_from_pb(current.spec)
    change(spec)
    with _errors(args, "service", ref):
        return _stub(args).ServiceUpdate(pb.ServiceUpdateRequest(service=current.id, spec=spec_to_pb(spec),
                                                                 force=force, version=current.version))


def _rollback(args: argparse.Namespace, ref: str) -> Any:
    from pallet.engine.v1 import engine_pb2 as pb

    svc = _inspect_service(args, ref)
    with _errors(args, "service", ref):
        return _stub(args).ServiceRollback(pb.ServiceRollbackRequest(service=svc.id))


def cmd_service_update(args: argparse.Namespace) -> int:
    from pallet.engine.cluster._model import ServiceSpec

    if args.rollback:
        probe = ServiceSpec(name="probe", image="probe")
        apply_update(probe, args)
        if probe != ServiceSpec(name="probe", image="probe") or args.no_healthcheck:
            raise CLIError("palletctl: --rollback cannot be combined with other update flags")
        svc = _rollback(args, args.service)
    else:
        svc = _update(args, args.service, lambda spec: apply_update(spec, args), args.force)
    print(args.service, flush=True)
    if not args.detach:
        wait_converged(args, svc, rollback=args.rollback)
    return 0


def cmd_service_rollback(args: argparse.Namespace) -> int:
    svc = _rollback(args, args.service)
    print(args.service, flush=True)
    if not args.detach:
        wait_converged(args, svc, rollback=True)
    return 0


def parse_scale(item: str) -> tuple[str, int]:
    name, sep, n = item.partition("=")
    if not sep or not name:
        raise CLIError(f"palletctl: invalid scale specifier '{item}'.\nSee 'palletctl service scale --help'.")
    if not n.isdigit():
        raise CLIError(f"palletctl: invalid replicas value {n}: must be a non-negative integer")
    return name, int(n)


def cmd_service_scale(args: argparse.Namespace) -> int:
    targets = [parse_scale(item) for item in args.scales]
    failed, done = False, []
    for ref, n in targets:
        def change(spec: ServiceSpec, n: int = n, ref: str = ref) -> None:
            if spec.mode != "replicated":
                raise CLIError(f"Error: scale can only be used with replicated mode: {ref}", 1)
            spec.replicas = n

        try:
            svc = _update(args, ref, change)
        except CLIError as exc:
            print(exc, file=sys.stderr)
            failed = True
            continue
        print(f"{ref} scaled to {n}", flush=True)
        done.append(svc)
    if not args.detach:
        for svc in done:
            wait_converged(args, svc)
    return 1 if failed else 0


def cmd_service_rm(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    stub = _stub(args)
    return _each(args, args.services, "service",
                 lambda ref: stub.ServiceRemove(pb.ServiceRemoveRequest(service=ref)))


# -- the parsers ---------------------------------------------------------------------------

def _list_flags(p: argparse.ArgumentParser, what: str, id_help: str, filters: str) -> None:
    p.add_argument("-f", "--filter", action="append", default=[], help=f"filter output ({filters})")
    p.add_argument("--format", default="", help="format output using a Go-template-like string")
    p.add_argument("-q", "--quiet", action="store_true", help=f"only display {id_help}")


def add_service_create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="", help="service name")
    p.add_argument("--mode", default="replicated", choices=["replicated", "global"],
                   help='service mode ("replicated" or "global") (default "replicated")')
    p.add_argument("-p", "--publish", action="append", default=[], type=parse_port,
                   help="publish a port as a node port ([published:]target[/proto] or "
                        "published=,target=,protocol=,mode=host|ingress)")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-l", "--label", action="append", default=[], help="service labels")
    p.add_argument("--container-label", action="append", default=[], help="container labels")
    p.add_argument("--mount", action="append", default=[], type=parse_mount,
                   help="attach a filesystem mount to the service (type=volume|bind|tmpfs,source=,target=,readonly)")
    p.add_argument("--network", action="append", default=[], help="network attachments")
    p.add_argument("--constraint", action="append", default=[],
                   help="placement constraints (node.name==N, node.labels.KEY!=V)")
    _add_common_flags(p)
    p.add_argument("image", metavar="IMAGE", help=argparse.SUPPRESS)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def add_service_update_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", default="", help="service image tag")
    p.add_argument("--args", default=None, help="service command args")
    for flag, what in (("env", "environment variable"), ("label", "service label"),
                       ("container-label", "container label"), ("constraint", "placement constraint"),
                       ("network", "network attachment")):
        p.add_argument(f"--{flag}-add", action="append", default=[], help=f"add or update a {what}")
        p.add_argument(f"--{flag}-rm", action="append", default=[], help=f"remove a {what}")
    p.add_argument("--publish-add", action="append", default=[], type=parse_port, help="add or update a published port")
    p.add_argument("--publish-rm", action="append", default=[], type=parse_port,
                   help="remove a published port by its target port (TARGET[/PROTO] or PUBLISHED:TARGET)")
    p.add_argument("--mount-add", action="append", default=[], type=parse_mount, help="add or update a mount")
    p.add_argument("--mount-rm", action="append", default=[], help="remove a mount by its target path")
    p.add_argument("--force", action="store_true", help="force update even if no changes require it")
    p.add_argument("--rollback", action="store_true", help="rollback to previous specification")
    _add_common_flags(p)
    p.add_argument("service", metavar="SERVICE")


def add_parsers(sub: Any, add: AddFn) -> None:
    from pallet.client._prune import _group

    g = _group(sub, add, "node", "Manage cluster nodes")
    for name in ("ls", "list"):
        p = add(g, name, cmd_node_ls, "List nodes in the cluster", f"palletctl node {name} [OPTIONS]")
        _list_flags(p, "node", "node names", "id=, name=, label=, node.label=, role=, membership=, availability=")
    p = add(g, "inspect", cmd_node_inspect, "Display detailed information on one or more nodes",
            "palletctl node inspect [OPTIONS] self|NODE [NODE...]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")
    p.add_argument("--pretty", action="store_true", help="print the information in a human friendly format")
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p = add(g, "update", cmd_node_update, "Update a node", "palletctl node update [OPTIONS] NODE")
    p.add_argument("--availability", choices=["active", "pause", "drain"], default=None,
                   help='availability of the node ("active", "pause", "drain")')
    p.add_argument("--label-add", action="append", default=[], help="add or update a node label (key=value)")
    p.add_argument("--label-rm", action="append", default=[], help="remove a node label if exists")
    p.add_argument("node", metavar="NODE")
    for name in ("rm", "remove"):
        p = add(g, name, cmd_node_rm, "Remove one or more nodes from the cluster",
                f"palletctl node {name} [OPTIONS] NODE [NODE...]")
        p.add_argument("-f", "--force", action="store_true", help="force remove a node from the cluster")
        p.add_argument("nodes", nargs="+", metavar="NODE")
    p = add(g, "ps", cmd_node_ps, "List tasks running on one or more nodes, defaults to current node",
            "palletctl node ps [OPTIONS] [NODE...]")
    _list_flags(p, "task", "task IDs", "desired-state=, id=, name=, node=")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("nodes", nargs="*", metavar="NODE")

    g = _group(sub, add, "service", "Manage cluster services")
    p = add(g, "create", cmd_service_create, "Create a new service",
            "palletctl service create [OPTIONS] IMAGE [COMMAND] [ARG...]")
    add_service_create_flags(p)
    for name in ("ls", "list"):
        p = add(g, name, cmd_service_ls, "List services", f"palletctl service {name} [OPTIONS]")
        _list_flags(p, "service", "service IDs", "id=, name=, label=, mode=")
    p = add(g, "ps", cmd_service_ps, "List the tasks of one or more services",
            "palletctl service ps [OPTIONS] SERVICE [SERVICE...]")
    _list_flags(p, "task", "task IDs", "desired-state=running|shutdown, id=, name=, node=")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("services", nargs="+", metavar="SERVICE")
    p = add(g, "inspect", cmd_service_inspect, "Display detailed information on one or more services",
            "palletctl service inspect [OPTIONS] SERVICE [SERVICE...]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")
    p.add_argument("--pretty", action="store_true", help="print the information in a human friendly format")
    p.add_argument("services", nargs="+", metavar="SERVICE")
    p = add(g, "logs", cmd_service_logs, "Fetch the logs of a service or task",
            "palletctl service logs [OPTIONS] SERVICE|TASK")
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-n", "--tail", default="all", help='number of lines to show from the end of the logs of each '
                   'task (default "all")')
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("--no-task-ids", action="store_true", help="do not include task IDs in output")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("--raw", action="store_true", help="do not neatly format logs (no task prefix)")
    p.add_argument("target", metavar="SERVICE|TASK")
    p = add(g, "scale", cmd_service_scale, "Scale one or multiple replicated services",
            "palletctl service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]")
    p.add_argument("-d", "--detach", action="store_true",
                   help="exit immediately instead of waiting for the service to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output")
    p.add_argument("scales", nargs="+", metavar="SERVICE=REPLICAS")
    p = add(g, "update", cmd_service_update, "Update a service", "palletctl service update [OPTIONS] SERVICE")
    add_service_update_flags(p)
    p = add(g, "rollback", cmd_service_rollback, "Revert changes to a service's configuration",
            "palletctl service rollback [OPTIONS] SERVICE")
    p.add_argument("-d", "--detach", action="store_true",
                   help="exit immediately instead of waiting for the service to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output")
    p.add_argument("service", metavar="SERVICE")
    for name in ("rm", "remove"):
        p = add(g, name, cmd_service_rm, "Remove one or more services",
                f"palletctl service {name} SERVICE [SERVICE...]")
        p.add_argument("services", nargs="+", metavar="SERVICE")
