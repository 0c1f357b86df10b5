"""Prune and disk usage commands: image prune, container prune, system prune, system df.

Also the Docker command groups (`image ...`, `container ...`, `system ...`),
whose subcommands reuse the top-level commands' parsers and handlers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from pallet.client import _format
from pallet.client._conn import client
from pallet.client.cli import CLIError


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSize (4 significant digits), as df and prune print sizes."""
    return _format.human_size(size, precision)


def confirm(warning: str) -> bool:
    """Docker's PromptForConfirmation: the warning, then '[y/N] ', answered on stdin."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline()
    if not answer:
        sys.stdout.write("\n")
    return answer.strip().lower() in ("y", "yes")


def _cancelled(what: str) -> CLIError:
    return CLIError(f"{what} has been cancelled", 1)


def _images_output(items: Any) -> str:
    lines = []
    for item in items:
        lines += [f"untagged: {name}" for name in item.untagged]
        lines += [f"deleted: {digest}" for digest in item.deleted]
    return "Deleted Images:\n" + "\n".join(lines) + "\n" if lines else ""


def _containers_output(ids: Any) -> str:
    return "Deleted Containers:\n" + "\n".join(ids) + "\n" if ids else ""


# -- image prune -----------------------------------------------------------------

IMAGE_PRUNE_DANGLING = "WARNING! This will remove all dangling images."
IMAGE_PRUNE_ALL = "WARNING! This will remove all images without at least one container associated to them."


def cmd_image_prune(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    if not args.force and not confirm(IMAGE_PRUNE_ALL if args.all else IMAGE_PRUNE_DANGLING):
        raise _cancelled("image prune")
    res = client(args).images.Prune(pb.PruneRequest(filters=args.filter, all=args.all))
    out = _images_output(res.images_deleted)
    if out:
        print(out)
    print(f"Total reclaimed space: {human_size(res.space_reclaimed)}")
    return 0


# -- container prune -------------------------------------------------------------

CONTAINER_PRUNE = "WARNING! This will remove all stopped containers."


def cmd_container_prune(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    if not args.force and not confirm(CONTAINER_PRUNE):
        raise _cancelled("container prune")
    res = client(args).containers.Prune(pb.PruneRequest(filters=args.filter))
    out = _containers_output(res.containers_deleted)
    if out:
        print(out)
    print(f"Total reclaimed space: {human_size(res.space_reclaimed)}")
    return 0


# -- system prune ----------------------------------------------------------------


def _system_warning(all_: bool, volumes: bool = False) -> str:
    images = ("all images without at least one container associated to them" if all_
              else "all dangling images")
    vols = "  - all anonymous volumes not used by at least one container\n" if volumes else ""
    return ("WARNING! This will remove:\n  - all stopped containers\n"
            "  - all networks not used by at least one container\n"
            f"{vols}  - {images}\n  - unused build cache\n")


def cmd_system_prune(args: argparse.Namespace) -> int:
    """Containers first (so their images become unused), then images and garbage, as Docker orders it."""
    from pallet.engine.v1 import engine_pb2 as pb

    if not args.force and not confirm(_system_warning(args.all, args.volumes)):
        raise _cancelled("system prune")
    c = client(args)
    total = 0
    res = c.containers.Prune(pb.PruneRequest(filters=args.filter))
    total += res.space_reclaimed
    out = _containers_output(res.containers_deleted)
    if out:
        print(out)
    from pallet.net.v1 import net_pb2 as npb

    nets = [f for f in args.filter if f.split("=", 1)[0] in ("until", "label", "label!")]
    nres = c.networks.Prune(npb.PruneNetworksRequest(filters=nets))
    if nres.deleted:
        print("Deleted Networks:\n" + "\n".join(nres.deleted) + "\n")
    if args.volumes:  # before images, as Docker orders it; anonymous volumes only
        vres = c.volumes.Prune(pb.PruneVolumesRequest(filters=args.filter))
        total += vres.space_reclaimed
        if vres.volumes_deleted:
            print("Deleted Volumes:\n" + "\n".join(vres.volumes_deleted) + "\n")
    res = c.images.Prune(pb.PruneRequest(filters=args.filter, all=args.all))
    total += res.space_reclaimed
    out = _images_output(res.images_deleted)
    if out:
        print(out)
    print(f"Total reclaimed space: {human_size(total)}")
    return 0


# -- system df -------------------------------------------------------------------


def _reclaimable(reclaimable: int, total: int) -> str:
    if total > 0:
        return f"{human_size(reclaimable)} ({reclaimable * 100 // total}%)"
    return human_size(reclaimable)


def df_rows(res: Any) -> list[dict[str, str]]:
    running = sum(1 for c in res.containers if c.state.status in (2, 3, 4))
    return [
        {"Type": "Images", "TotalCount": str(len(res.images)),
         "Active": str(sum(1 for i in res.images if i.containers > 0)),
         "Size": human_size(res.images_size), "Reclaimable": _reclaimable(res.images_reclaimable, res.images_size)},
        {"Type": "Containers", "TotalCount": str(len(res.containers)), "Active": str(running),
         "Size": human_size(res.containers_size),
         "Reclaimable": _reclaimable(res.containers_reclaimable, res.containers_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(res.volumes)),
         "Active": str(sum(1 for v in res.volumes if v.used_by)), "Size": human_size(res.volumes_size),
         "Reclaimable": _reclaimable(res.volumes_reclaimable, res.volumes_size)},
        {"Type": "Build Cache", "TotalCount": str(res.build_cache_entries), "Active": "0",
         "Size": human_size(res.build_cache_size),
         "Reclaimable": _reclaimable(res.build_cache_size, res.build_cache_size)},
    ]


def _split_tag(name: str) -> tuple[str, str]:
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "<none>"
    return repo, tag


def _verbose(res: Any) -> str:
    from pallet.client._containers import ps_row

    image_rows = []
    for u in res.images:
        img = u.image
        for name in list(img.repo_tags) or ["<none>:<none>"]:
            repo, tag = ("<none>", "<none>") if name == "<none>:<none>" else _split_tag(name)
            image_rows.append([repo, tag, _format.short_id(img.id), _format.ago(img.created.ToNanoseconds()),
                               human_size(u.size, 3), human_size(u.shared_size), human_size(u.unique_size),
                               str(u.containers)])
    ctr_rows = []
    for c in res.containers:
        row = ps_row(c, True)
        local = sum(1 for v in res.volumes if c.id in v.used_by)
        ctr_rows.append([row["ID"], row["Image"], row["Command"], str(local), human_size(c.size_rw),
                         row["RunningFor"], row["Status"], row["Names"]])
    parts = [
        "Images space usage:\n",
        _format.table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE",
                       "CONTAINERS"], image_rows),
        "\nContainers space usage:\n",
        _format.table(["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"],
                      ctr_rows),
        "\nLocal Volumes space usage:\n",
        _format.table(["VOLUME NAME", "LINKS", "SIZE"],
                      [[v.name, str(len(v.used_by)), human_size(v.size)] for v in res.volumes]),
        f"\nBuild cache usage: {human_size(res.build_cache_size)}\n",
        _format.table(["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"], []),
    ]
    return "\n".join(parts)


def cmd_system_df(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    res = client(args).system.DiskUsage(pb.DiskUsageRequest())
    if args.verbose and not args.format:
        print(_verbose(res))
        return 0
    rows = df_rows(res)
    if args.format:
        _format.print_rows(args.format, rows)
        return 0
    keys = ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
    print(_format.table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], [[r[k] for k in keys] for r in rows]))
    return 0


# -- command groups ----------------------------------------------------------------

AddFn = Callable[..., argparse.ArgumentParser]


def _group(sub: Any, add: AddFn, name: str, help_: str) -> Any:
    from pallet.client.cli import Parser

    holder: list[argparse.ArgumentParser] = []
    p = add(sub, name, lambda _args: _print_help(holder[0]), help_, f"palletctl {name} COMMAND")
    holder.append(p)
    return p.add_subparsers(dest=f"{name}_command", metavar="COMMAND", parser_class=Parser)


def _print_help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 0


def _alias(group: Any, top: Any, name: str, command: str, usage: str) -> None:
    """`palletctl GROUP name` with the arguments, defaults and handler of `palletctl command`."""
    parent = top.choices.get(command)
    if parent is None:
        return
    group.add_parser(name, parents=[parent], add_help=False, help=parent.description,
                     description=parent.description, usage=usage,
                     formatter_class=argparse.RawDescriptionHelpFormatter)


def _prune_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[],
                   help="provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')")


def _image_inspect(args: argparse.Namespace) -> int:
    from pallet.client._system import cmd_inspect

    args.type = "image"
    return cmd_inspect(args)


def add_parsers(sub: Any, add: AddFn) -> None:
    """history, and the image / container / system groups (call after the top-level commands exist)."""
    from pallet.client import _history as h

    p = add(sub, "history", h.cmd_history, "Show the history of an image", "palletctl history [OPTIONS] IMAGE")
    h.add_history_flags(p)

    g = _group(sub, add, "image", "Manage images")
    _alias(g, sub, "ls", "images", "palletctl image ls [OPTIONS] [REPOSITORY[:TAG]]")
    p = add(g, "inspect", _image_inspect, "Display detailed information on one or more images",
            "palletctl image inspect [OPTIONS] IMAGE [IMAGE...]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")
    p.add_argument("objects", nargs="+", metavar="IMAGE")
    p = add(g, "history", h.cmd_history, "Show the history of an image", "palletctl image history [OPTIONS] IMAGE")
    h.add_history_flags(p)
    _alias(g, sub, "tag", "tag", "palletctl image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    _alias(g, sub, "rm", "rmi", "palletctl image rm [OPTIONS] IMAGE [IMAGE...]")
    p = add(g, "prune", cmd_image_prune, "Remove unused images", "palletctl image prune [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images, not just dangling ones")
    _prune_flags(p)
    _alias(g, sub, "save", "save", "palletctl image save [OPTIONS] IMAGE [IMAGE...]")
    _alias(g, sub, "load", "load", "palletctl image load [OPTIONS]")
    _alias(g, sub, "import", "import", "palletctl image import [OPTIONS] file|- [REPOSITORY[:TAG]]")
    _alias(g, sub, "pull", "pull", "palletctl image pull [OPTIONS] NAME[:TAG|@DIGEST]")
    _alias(g, sub, "push", "push", "palletctl image push [OPTIONS] NAME[:TAG]")

    g = _group(sub, add, "container", "Manage containers")
    _alias(g, sub, "ls", "ps", "palletctl container ls [OPTIONS]")
    _alias(g, sub, "update", "update", "palletctl container update [OPTIONS] CONTAINER [CONTAINER...]")
    _alias(g, sub, "port", "port", "palletctl container port CONTAINER [PRIVATE_PORT[/PROTO]]")
    p = add(g, "prune", cmd_container_prune, "Remove all stopped containers", "palletctl container prune [OPTIONS]")
    _prune_flags(p)

    g = _group(sub, add, "system", "Manage Pallet")
    p = add(g, "df", cmd_system_df, "Show pallet disk usage", "palletctl system df [OPTIONS]")
    p.add_argument("-v", "--verbose", action="store_true", help="show detailed information on space usage")
    p.add_argument("--format", default="", help="format output using a Go-template-like string")
    p = add(g, "prune", cmd_system_prune, "Remove unused data", "palletctl system prune [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images not just dangling ones")
    p.add_argument("--volumes", action="store_true", help="prune anonymous volumes")
    _prune_flags(p)
    _alias(g, sub, "info", "info", "palletctl system info [OPTIONS]")
    _alias(g, sub, "events", "events", "palletctl system events [OPTIONS]")
