"""Output helpers shaped like Docker's: human durations and sizes, tables."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any


def colour_enabled(stream: Any, ansi: str = "auto") -> bool:
    """Colour only on a terminal, never with NO_COLOR set (https://no-color.org) or TERM=dumb;
    `ansi` ("always"/"never", compose's --ansi) overrides."""
    import os

    if ansi in ("always", "never"):
        return ansi == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "3 minutes", "About an hour"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def ago(ns: int) -> str:
    if not ns:
        return ""
    return human_duration(time.time() - ns / 1e9) + " ago"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `precision` significant digits ("4.26MB").

    docker's image lists use 3 digits; go-units' HumanSize (df, prune, progress) uses 4.
    """
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits ("1.5MiB", "7.629GiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{units[i]}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded with three spaces, as docker's tabwriter does."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def short_id(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


_HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "RunningFor": "CREATED", "CreatedSince": "CREATED",
            "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "PalletEndpoint": "PALLET ENDPOINT"}
_FIELD = re.compile(r"{{-?\s*\.(\w+)\s*-?}}")


def header_of(field: str, id_header: str = "CONTAINER ID") -> str:
    """Docker's column title for a --format field: ID is per object, the rest split at capitals."""
    if field == "ID":
        return id_header
    return _HEADERS.get(field) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", field).upper()


def print_rows(fmt: str, rows: list[dict[str, Any]], id_header: str = "CONTAINER ID") -> None:
    """--format output: `json` (one object per line), `table TEMPLATE` (a header and aligned
    columns where the template has tabs, like Docker's tabwriter) or a template per row."""
    from pallet.client._inspect import render
    from pallet.client.cli import CLIError

    if fmt.strip() == "json":
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
        return
    is_table = fmt.startswith("table")
    template = fmt.removeprefix("table").strip() if is_table else fmt
    template = template.replace("\\t", "\t")
    try:
        lines = [render(template, row) for row in rows]
    except ValueError as exc:
        raise CLIError(f"palletctl: {exc}") from None
    if not is_table:
        for line in lines:
            print(line)
        return
    header = _FIELD.sub(lambda m: header_of(m.group(1), id_header), template)
    cells = [line.split("\t") for line in [header, *lines]]
    widths: dict[int, int] = {}
    for row_cells in cells:
        for i, c in enumerate(row_cells[:-1]):
            widths[i] = max(widths.get(i, 0), len(c))
    for row_cells in cells:
        print("".join(c.ljust(widths[i] + 3) if i < len(row_cells) - 1 else c
                      for i, c in enumerate(row_cells)).rstrip())
