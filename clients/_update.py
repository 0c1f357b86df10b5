"""palletctl update: change the resource limits or restart policy of containers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from pallet.client import _hostconfig
from pallet.client._conn import client
from pallet.client.cli import CLIError


def add_update_parser(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(sub, "update", cmd_update, "Update configuration of one or more containers",
            "palletctl update [OPTIONS] CONTAINER [CONTAINER...]",
            "examples:\n  palletctl update --memory 256m --memory-swap 512m web\n"
            "  palletctl update --cpus 0.5 --pids-limit 100 web")
    _hostconfig.add_resource_flags(p)
    p.add_argument("--restart", default="", help="restart policy to apply when a container exits")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def cmd_update(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    req = pb.UpdateContainerRequest(ids=args.containers)
    _hostconfig.fill_resources(args, req.resources)
    if args.restart:
        name, _, count = args.restart.partition(":")
        if count and not count.isdigit():
            raise CLIError(f"palletctl: invalid restart policy '{args.restart}'")
        req.restart_policy.name = name
        req.restart_policy.maximum_retry_count = int(count or 0)
    status = 0
    for ref in args.containers:  # one call each: every container reports on its own
        req.ClearField("ids")
        req.ids.append(ref)
        try:
            res = client(args).containers.Update(req)
        except Exception as exc:  # noqa: BLE001 - gRPC errors are shown as one line
            from pallet.client._conn import describe_error

            message = describe_error(exc, args.host)
            if message is None:
                raise
            print(message, file=sys.stderr)
            status = 1
            continue
        for w in res.warnings:
            print(f"WARNING: {w}", file=sys.stderr)
        print(ref)
    return status
