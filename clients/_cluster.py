"""Cluster mode: `palletctl node ...` and `palletctl service ...`, with Docker swarm's flags.

Specs are built and edited as pallet.engine.cluster._model.ServiceSpec (_service_flags:
spec_from_args for `service create`, apply_update for `service update`) and sent as the Cluster
service's typed ServiceSpec; `service update` reads the current spec, changes it and sends the
whole of it back. Output in Docker's shapes comes from _cluster_json.
Without -d, create/update/scale/rollback follow the service's tasks until it converges.
`service logs` gets every task's log, from every node, through the palletd it talks to.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pallet.client._cluster_json import node_json, node_pretty, service_json, service_pretty, timestamp_ns
from pallet.client._service_flags import (
    add_common_flags,
    apply_update,
    parse_kv,
    parse_mount,
    parse_port,
    spec_from_args,
)
from pallet.client.cli import CLIError

if TYPE_CHECKING:  # the model loads with the cluster commands, not on every palletctl start
    from pallet.engine.cluster._model import ServiceSpec

AddFn = Callable[..., argparse.ArgumentParser]

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
                                                    label_add=parse_kv(args.label_add), label_rm=args.label_rm))
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
    return (t.service, t.slot, "" if t.slot else t.node, -timestamp_ns(t.created))


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
                     "CurrentState": f"{t.state.capitalize()} {ago(timestamp_ns(t.timestamp))}".strip(),
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
    from pallet.engine.cluster._convert import spec_to_pb
    from pallet.engine.v1 import engine_pb2 as pb

    spec = spec_from_args(args)
    with _errors(args):
        svc = _stub(args).ServiceCreate(pb.ServiceCreateRequest(spec=spec_to_pb(spec)))
    print(svc.id, flush=True)
    if not args.detach:
        wait_converged(args, svc)
    return 0


def _update(args: argparse.Namespace, ref: str, change: Callable[[ServiceSpec], None], force: bool = False) -> Any:
    from pallet.engine.cluster._convert import spec_from_pb, spec_to_pb
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
    add_common_flags(p)
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
    add_common_flags(p)
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
