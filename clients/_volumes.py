"""Volumes: `palletctl volume ...` and run/create's -v, --mount and --tmpfs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from pallet.client._conn import client, describe_error
from pallet.client.cli import CLIError

AddFn = Callable[..., argparse.ArgumentParser]


# -- run/create flags ---------------------------------------------------------

def add_mount_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--volume", action="append", default=[],
                   help="bind mount a volume ([NAME|/HOST:]/PATH[:ro|rw])")
    p.add_argument("--mount", action="append", default=[],
                   help="attach a filesystem mount (type=volume|bind|tmpfs,source=,target=,readonly)")
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs directory (/PATH[:size=,mode=])")


def _bool(key: str, value: str, spec: str) -> bool:
    if value.lower() in ("", "1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise CLIError(f'palletctl: invalid argument "{spec}" for "--mount" flag: invalid value for {key}: {value}')


_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_V_OPTS = ("ro", "rw", "z", "Z", "nocopy", *_PROPAGATIONS)


def parse_volume(spec: str) -> Any:
    """A -v value: /PATH (anonymous volume), NAME:/PATH or /HOST:/PATH, then :ro|rw,nocopy,rshared…"""
    from pallet.engine.v1 import engine_pb2 as pb

    parts = spec.split(":")
    mode = ""
    if len(parts) == 3 or (len(parts) == 2 and all(o in _V_OPTS for o in parts[1].split(","))):
        mode = parts.pop()
    opts = mode.split(",") if mode else []
    if len(parts) not in (1, 2) or not all(parts) or any(o not in _V_OPTS for o in opts):
        raise CLIError(f"palletctl: invalid volume specification: '{spec}'")
    ro = "ro" in opts
    propagation = next((o for o in opts if o in _PROPAGATIONS), "")
    if len(parts) == 1:
        return pb.Mount(type="volume", target=parts[0], read_only=ro, no_copy="nocopy" in opts)
    src, target = parts
    if src.startswith("/"):
        if "nocopy" in opts:
            raise CLIError(f"palletctl: invalid volume specification: '{spec}': nocopy is for volumes")
        return pb.Mount(type="bind", source=src, target=target, read_only=ro, create_source=True,
                        propagation=propagation)
    if propagation:
        raise CLIError(f"palletctl: invalid volume specification: '{spec}': propagation is for bind mounts")
    return pb.Mount(type="volume", source=src, target=target, read_only=ro, no_copy="nocopy" in opts)


def parse_mount(spec: str) -> Any:
    """A --mount value (comma-separated key=value, as Docker's)."""
    from pallet.client._hostconfig import ram_in_bytes
    from pallet.engine.v1 import engine_pb2 as pb

    m = pb.Mount(type="volume")
    for field in spec.split(","):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            m.read_only = _bool(key, value, spec)
        elif not sep:
            raise CLIError(f'palletctl: invalid argument "{spec}" for "--mount" flag: '
                           f"invalid field '{field}' must be a key=value pair")
        elif key == "type":
            if value not in ("volume", "bind", "tmpfs"):
                raise CLIError(f'palletctl: invalid argument "{spec}" for "--mount" flag: '
                               f'mount type unknown: "{value}"')
            m.type = value
        elif key in ("source", "src"):
            m.source = value
        elif key in ("target", "destination", "dst"):
            m.target = value
        elif key == "tmpfs-size":
            m.tmpfs_size = ram_in_bytes(value)
        elif key == "tmpfs-mode":
            try:
                m.tmpfs_mode = int(value, 8)
            except ValueError:
                raise CLIError(f"palletctl: invalid tmpfs-mode: {value}") from None
        elif key == "bind-propagation":
            if value not in _PROPAGATIONS:
                raise CLIError(f"palletctl: invalid argument \"{spec}\" for \"--mount\" flag: "
                               f"invalid propagation mode: {value}")
            m.propagation = value
        elif key == "volume-nocopy":
            m.no_copy = _bool(key, value, spec)
        elif key == "consistency":
            pass
        else:
            raise CLIError(f'palletctl: invalid argument "{spec}" for "--mount" flag: unexpected key \'{key}\' '
                           f"in '{field}'")
    if not m.target:
        raise CLIError(f'palletctl: invalid argument "{spec}" for "--mount" flag: target is required')
    return m


def parse_tmpfs(spec: str) -> Any:
    from pallet.client._hostconfig import ram_in_bytes
    from pallet.engine.v1 import engine_pb2 as pb

    target, _, opts = spec.partition(":")
    m = pb.Mount(type="tmpfs", target=target)
    for opt in filter(None, opts.split(",")):
        key, _, value = opt.partition("=")
        if key == "size":
            m.tmpfs_size = ram_in_bytes(value)
        elif key == "mode":
            try:
                m.tmpfs_mode = int(value, 8)
            except ValueError:
                raise CLIError(f"palletctl: invalid tmpfs mode: {value}") from None
        elif key == "ro":
            m.read_only = True
        elif key not in ("rw", "exec", "noexec", "nosuid", "nodev"):
            raise CLIError(f"palletctl: invalid tmpfs option: {opt}")
    return m


def mounts(args: argparse.Namespace) -> list[Any]:
    return ([parse_volume(v) for v in getattr(args, "volume", [])]
            + [parse_mount(v) for v in getattr(args, "mount", [])]
            + [parse_tmpfs(v) for v in getattr(args, "tmpfs", [])])


def mounts_json(ctr: Any) -> list[dict[str, Any]]:
    """inspect's Mounts list, as Docker's."""
    out = []
    for m in ctr.mounts:
        item: dict[str, Any] = {"Type": m.type}
        if m.type == "volume":
            item.update(Name=m.source, Source=m.path, Destination=m.target, Driver="local")
        elif m.type == "bind":
            item.update(Source=m.path or m.source, Destination=m.target)
        else:
            item.update(Source="", Destination=m.target)
        item.update(Mode="ro" if m.read_only and m.type != "tmpfs" else ("z" if m.type == "volume" else ""),
                    RW=not m.read_only, Propagation=(m.propagation or "rprivate") if m.type == "bind" else "")
        out.append(item)
    return out


# -- palletctl volume ---------------------------------------------------------

def volume_json(v: Any) -> dict[str, Any]:
    from pallet.client._inspect import rfc3339

    return {
        "CreatedAt": rfc3339(v.created_at.ToNanoseconds()),
        "Driver": v.driver,
        "Labels": dict(v.labels) or None,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": dict(v.options) or None,
        "Scope": v.scope,
    }


def cmd_create(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    labels = dict(item.partition("=")[::2] for item in args.label)
    opts = {}
    for o in args.opt:
        k, sep, v = o.partition("=")
        if not sep:
            raise CLIError(f"palletctl: invalid option '{o}': expected key=value")
        opts[k] = v
    name = args.name or args.name_flag
    res = client(args).volumes.Create(pb.CreateVolumeRequest(
        name=name, driver=args.driver, labels=labels, driver_opts=opts))
    print(res.name)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from pallet.client import _format
    from pallet.engine.v1 import engine_pb2 as pb

    vols = client(args).volumes.List(pb.ListVolumesRequest(filters=args.filter)).volumes
    if args.quiet:
        for v in vols:
            print(v.name)
    elif args.format:
        _format.print_rows(args.format, [{"Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint,
                                          "Scope": v.scope} for v in vols])
    else:
        print(_format.table(["DRIVER", "VOLUME NAME"], [[v.driver, v.name] for v in vols]))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import grpc
    from pallet.client._inspect import render
    from pallet.engine.v1 import engine_pb2 as pb

    c = client(args)
    results, failed = [], False
    for name in args.volumes:
        try:
            results.append(volume_json(c.volumes.Inspect(pb.InspectVolumeRequest(name=name))))
        except grpc.RpcError as exc:
            print(describe_error(exc, args.host), file=sys.stderr)
            failed = True
    if args.format:
        for obj in results:
            print(render(args.format, obj))
    else:
        print(json.dumps(results, indent=4))
    return 1 if failed else 0


def cmd_rm(args: argparse.Namespace) -> int:
    import grpc
    from pallet.engine.v1 import engine_pb2 as pb

    c = client(args)
    failed = False
    for name in args.volumes:
        try:
            c.volumes.Remove(pb.RemoveVolumeRequest(name=name, force=args.force))
        except grpc.RpcError as exc:
            print(describe_error(exc, args.host), file=sys.stderr)
            failed = True
            continue
        print(name)
    return 1 if failed else 0


def cmd_prune(args: argparse.Namespace) -> int:
    from pallet.client._prune import confirm, human_size
    from pallet.engine.v1 import engine_pb2 as pb

    what = "local volumes" if args.all else "anonymous local volumes"
    if not args.force and not confirm(f"WARNING! This will remove {what} not used by at least one container."):
        raise CLIError("Volume prune has been cancelled", 1)
    res = client(args).volumes.Prune(pb.PruneVolumesRequest(filters=args.filter, all=args.all))
    if res.volumes_deleted:
        print("Deleted Volumes:")
        for name in res.volumes_deleted:
            print(name)
        print()
    print(f"Total reclaimed space: {human_size(res.space_reclaimed)}")
    return 0


def add_parsers(sub: Any, add: AddFn) -> None:
    from pallet.client._prune import _group

    vsub = _group(sub, add, "volume", "Manage volumes")

    p = add(vsub, "create", cmd_create, "Create a volume", "palletctl volume create [OPTIONS] [VOLUME]")
    p.add_argument("-d", "--driver", default="local", help='specify volume driver name (default "local")')
    p.add_argument("--label", action="append", default=[], help="set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], help="set driver specific options")
    p.add_argument("--name", dest="name_flag", default="", help=argparse.SUPPRESS)
    p.add_argument("name", nargs="?", default="")

    p = add(vsub, "ls", cmd_ls, "List volumes", "palletctl volume ls [OPTIONS]")
    p.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="provide filter values (dangling=true|false, name=, label=, driver=)")
    p.add_argument("--format", default="", help="Go-template-like format")

    p = add(vsub, "inspect", cmd_inspect, "Display detailed information on one or more volumes",
            "palletctl volume inspect [OPTIONS] VOLUME [VOLUME...]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")

    p = add(vsub, "rm", cmd_rm, "Remove one or more volumes", "palletctl volume rm [OPTIONS] VOLUME [VOLUME...]")
    p.add_argument("-f", "--force", action="store_true", help="do not error when a volume does not exist")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")

    p = add(vsub, "prune", cmd_prune, "Remove unused local volumes", "palletctl volume prune [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true", help="remove all unused volumes, not just anonymous ones")
    p.add_argument("--filter", action="append", default=[], help="provide filter values (e.g. 'label=<label>')")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
