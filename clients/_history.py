"""palletctl history / image history: the image config's history, newest first."""

from __future__ import annotations

import argparse
import time
from typing import Any

from pallet.client import _format
from pallet.client._conn import client
from pallet.client.cli import CLIError


def ellipsis(text: str, width: int) -> str:
    """Docker's stringutils.Ellipsis: cut to width characters, the last one '…'."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _rfc3339_local(ns: int) -> str:
    """Go's time.Format(time.RFC3339) in local time (what `history -H=false` prints)."""
    secs = ns // 1_000_000_000
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(secs))
    return stamp[:-5] + "Z" if stamp.endswith("+0000") else stamp[:-2] + ":" + stamp[-2:]


def history_row(entry: Any, trunc: bool, human: bool) -> dict[str, str]:
    created = entry.created.ToNanoseconds() if entry.HasField("created") else 0
    created_by = entry.created_by.replace("\t", " ")
    return {
        "ID": _format.short_id(entry.id) if trunc else entry.id,
        "CreatedSince": (_format.ago(created) if human else _rfc3339_local(created)) if created else "",
        "CreatedAt": _rfc3339_local(created) if created else "",
        "CreatedBy": ellipsis(created_by, 45) if trunc else created_by,
        "Size": _format.human_size(entry.size) if human else str(entry.size),
        "Comment": entry.comment,
    }


def _bool(value: str) -> bool | None:
    """Go's strconv.ParseBool; None if value is not a boolean."""
    v = value.strip().lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    return None


def add_history_flags(p: argparse.ArgumentParser) -> None:
    # A boolean flag as Go's: -H, -H=false, --human=false (`-H IMAGE` is the flag, then the image).
    p.add_argument("-H", "--human", nargs="?", const="true", default="true", metavar="BOOL",
                   help="print sizes and dates in human readable format (default true; -H=false for raw)")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--format", default="", help="format output using a Go-template-like string")
    p.add_argument("image", metavar="IMAGE", nargs="?")


def cmd_history(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    human = _bool(args.human)
    if human is None and args.image is None:  # `history -H IMAGE`
        human, args.image = True, args.human
    if human is None:
        raise CLIError(f'palletctl: invalid boolean value "{args.human}" for -H/--human', 125)
    if not args.image:
        raise CLIError('"palletctl history" requires exactly 1 argument.\nSee \'palletctl history --help\'.', 125)
    entries = client(args).images.History(ipb.GetImageRequest(ref=args.image)).entries
    trunc = not args.no_trunc
    rows = [history_row(e, trunc, human) for e in entries]
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    if args.format:
        _format.print_rows(args.format, rows, id_header="IMAGE")
        return 0
    keys = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
    print(_format.table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], [[r[k] for k in keys] for r in rows]))
    return 0
