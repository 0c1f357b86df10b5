"""Output helpers shaped like Docker's: human durations and sizes, tables."""

from __future__ import annotations

import time
from collections.abc import Sequence


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


def print_rows(fmt: str, rows: list[dict[str, str]]) -> None:
    """--format output: one rendered template per row ("table ..." prints no header here)."""
    from pallet.client._inspect import render
    from pallet.client.cli import CLIError

    template = fmt.removeprefix("table").strip() if fmt.startswith("table") else fmt
    for row in rows:
        try:
            print(render(template, row))
        except ValueError as exc:
            raise CLIError(f"palletctl: {exc}") from None
