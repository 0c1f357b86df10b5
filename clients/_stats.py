"""`palletctl stats` and `palletctl top`, printed the way docker prints them."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pallet.client import _format
from pallet.client._conn import client, describe_error
from pallet.client.cli import CLIError

STATS_HEADERS = {
    "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
DEFAULT_STATS_FORMAT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}"
                        "\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")
CLEAR_SCREEN = "\033[2J\033[H"

Add = Callable[..., argparse.ArgumentParser]


def add_stats_parser(sub: Any, add: Add) -> argparse.ArgumentParser:
    """Register `stats` on cli.build_parser's subparsers (add is cli._add)."""
    p = add(sub, "stats", cmd_stats, "Display a live stream of container(s) resource usage statistics",
            "palletctl stats [OPTIONS] [CONTAINER...]",
            "examples:\n  palletctl stats\n  palletctl stats --no-stream web\n"
            "  palletctl stats --format 'table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}'")
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("--no-stream", action="store_true", help="disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("--format", default="", help="format output using a Go-template-like string, "
                   "e.g. 'table {{.Name}}\\t{{.CPUPerc}}'")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    return p


def add_top_parser(sub: Any, add: Add) -> argparse.ArgumentParser:
    """Register `top` on cli.build_parser's subparsers (add is cli._add)."""
    p = add(sub, "top", cmd_top, "Display the running processes of a container",
            "palletctl top CONTAINER [ps OPTIONS]",
            "examples:\n  palletctl top web\n  palletctl top web -o pid,user,args")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="ps OPTIONS")
    return p


# ---- sizes and tables, as docker's go-units and tabwriter produce them ----

def tabwrite(rows: Sequence[Sequence[str]], minwidth: int, padding: int = 3) -> str:
    """text/tabwriter with ' ' padding: every column but the last is max(width + padding, minwidth)."""
    ncols = max((len(r) for r in rows), default=0)
    widths = [0] * ncols
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + padding, minwidth)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "\n".join(lines)


# ---- stats ----

def cpu_percent(res: Any) -> float:
    """Docker's CPU %: the container's CPU delta over the host's, times the online CPUs."""
    cpu_delta = res.cpu_usage_ns - res.precpu_usage_ns
    system_delta = res.system_cpu_usage_ns - res.presystem_cpu_usage_ns
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return cpu_delta / system_delta * (res.online_cpus or 1) * 100.0


def stats_row(res: Any | None, label: str, cid: str, name: str, trunc: bool) -> dict[str, str]:
    """The template fields of one container; res None (no data, or gone) shows dashes."""
    cid = cid or (res.id if res is not None else "")
    name = (res.name if res is not None and res.name else name).lstrip("/")
    row = {"Container": label, "ID": cid[:12] if trunc else cid, "Name": name or "--"}
    if res is None:
        row.update(CPUPerc="--", MemUsage="-- / --", MemPerc="--", NetIO="--", BlockIO="--", PIDs="--")
        return row
    mem_perc = res.memory_usage / res.memory_limit * 100.0 if res.memory_limit else 0.0
    row.update(
        CPUPerc=f"{cpu_percent(res):.2f}%",
        MemUsage=f"{_format.bytes_size(res.memory_usage)} / {_format.bytes_size(res.memory_limit)}",
        MemPerc=f"{mem_perc:.2f}%",
        NetIO=f"{_format.human_size(res.net_rx_bytes)} / {_format.human_size(res.net_tx_bytes)}",
        BlockIO=f"{_format.human_size(res.block_read_bytes)} / {_format.human_size(res.block_write_bytes)}",
        PIDs=str(res.pids_current),
    )
    return row


def render_stats(rows: list[dict[str, str]], fmt: str) -> str:
    """Rows through --format: "table ..." gets a header and aligned columns, anything else a line each."""
    from pallet.client._inspect import render

    fmt = fmt or DEFAULT_STATS_FORMAT
    try:
        if not fmt.startswith("table"):
            return "\n".join(render(fmt, r) for r in rows)
        body = fmt.removeprefix("table").strip() or DEFAULT_STATS_FORMAT.removeprefix("table ")
        header = render(body, STATS_HEADERS)
        lines = [header.split("\t")] + [render(body, r).split("\t") for r in rows]
    except ValueError as exc:
        raise CLIError(f"palletctl: {exc}") from None
    return tabwrite(lines, minwidth=10)


class _Feed:
    """One container's Stats stream, read on a thread; the latest message wins."""

    def __init__(self, label: str, cid: str = "", name: str = "") -> None:
        self.label, self.cid, self.name = label, cid, name
        self.latest: Any | None = None
        self.error: str | None = None
        self.done = False
        self.ready = threading.Event()
        self.call: Any | None = None

    def run(self, args: argparse.Namespace, stream: bool) -> None:
        import grpc
        from pallet.engine.v1 import engine_pb2 as pb

        try:
            self.call = client(args).containers.Stats(pb.StatsRequest(id=self.cid or self.label, stream=stream))
            for msg in self.call:
                self.latest = msg
                self.ready.set()
                if not stream:
                    break
        except grpc.RpcError as exc:
            if not (isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.CANCELLED):
                self.error = describe_error(exc, args.host) or str(exc)
        except Exception as exc:  # noqa: BLE001 - shown as the container's error line
            self.error = f"palletctl: {exc}"
        finally:
            self.done = True
            self.ready.set()

    def start(self, args: argparse.Namespace, stream: bool) -> None:
        threading.Thread(target=self.run, args=(args, stream), daemon=True,
                         name=f"stats-{self.label}").start()

    def cancel(self) -> None:
        if self.call is not None and not self.done:
            self.call.cancel()

    def row(self, trunc: bool) -> dict[str, str]:
        data = None if self.error else self.latest
        return stats_row(data, self.label, self.cid, self.name, trunc)


def _list(args: argparse.Namespace) -> list[Any]:
    from pallet.engine.v1 import engine_pb2 as pb

    return list(client(args).containers.List(pb.ListContainersRequest(all=args.all)).containers)


def cmd_stats(args: argparse.Namespace) -> int:
    trunc = not args.no_trunc
    named = bool(args.containers)
    feeds: dict[str, _Feed] = {}

    def add_listed() -> None:
        for ctr in _list(args):
            if ctr.id not in feeds:
                feed = feeds[ctr.id] = _Feed(ctr.id[:12], ctr.id, ctr.name)
                feed.start(args, not args.no_stream)

    if named:
        for ref in dict.fromkeys(args.containers):
            feeds[ref] = _Feed(ref)
            feeds[ref].start(args, not args.no_stream)
    else:
        add_listed()

    try:
        for feed in list(feeds.values()):
            feed.ready.wait()
        failed = [f for f in feeds.values() if f.error and f.latest is None]
        if failed and (named or args.no_stream):
            for f in failed:
                print(f.error, file=sys.stderr)
            if not args.no_stream:
                return 1
        if args.no_stream:
            ok = [f for f in feeds.values() if f not in failed]
            if ok or not failed:
                print(render_stats([f.row(trunc) for f in ok], args.format), flush=True)
            return 1 if failed else 0
        return _stream(args, feeds, named, trunc, add_listed)
    finally:
        for feed in feeds.values():
            feed.cancel()


def _stream(args: argparse.Namespace, feeds: dict[str, _Feed], named: bool, trunc: bool,
            add_listed: Callable[[], None]) -> int:
    """Redraw every second (clearing a terminal first) until ^C, or until every named stream ends."""
    tty = sys.stdout.isatty()
    while True:
        if not named:
            add_listed()
            if not args.all:
                for key in [k for k, f in feeds.items() if f.done]:
                    del feeds[key]
        block = render_stats([f.row(trunc) for f in feeds.values()], args.format)
        sys.stdout.write((CLEAR_SCREEN if tty else "") + block + "\n")
        sys.stdout.flush()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not (named and all(f.done for f in feeds.values())):
            time.sleep(0.1)
        if named and all(f.done for f in feeds.values()):
            break
    failed = [f.error for f in feeds.values() if f.error]
    for error in failed:
        print(error, file=sys.stderr)
    return 1 if failed else 0


# ---- top ----

def cmd_top(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    res = client(args).containers.Top(pb.TopRequest(id=args.container, ps_args=args.ps_args))
    rows = [list(res.titles)] + [list(p.fields) for p in res.processes]
    print(tabwrite(rows, minwidth=20))
    return 0
