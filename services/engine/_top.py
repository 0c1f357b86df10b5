"""`top`: the host's ps output, cut down to a container's processes (as dockerd does)."""

from __future__ import annotations

import os
import re
import subprocess
from typing import TYPE_CHECKING

from pallet import errors
from pallet.engine._stats import CGROUP_ROOT, is_v2

if TYPE_CHECKING:
    from pallet.engine.v1 import engine_pb2

DEFAULT_PS_ARGS = ["-ef"]

# v1 controllers to read cgroup.procs from, in order; every task is in each of them.
_V1_PROCS_CONTROLLERS = ("pids", "memory", "cpu", "cpuacct", "freezer", "devices", "blkio", "cpuset")

# "-o user=PID": a column renamed PID would fool the PID lookup (dockerd refuses it too).
_RENAMED_PID = re.compile(r"(?:^|\s|,)([^\s,=]*)=\s*(PID\S*)")

_PS_MISSING = "ps not found on the host: install procps (apt-get install procps) for top"


def _cgroup_dir(cgroups_path: str, cgroup_root: str) -> str:
    rel = cgroups_path.strip("/")
    if is_v2(cgroup_root):
        d = os.path.join(cgroup_root, rel)
        if os.path.isdir(d):
            return d
    else:
        for ctl in _V1_PROCS_CONTROLLERS:
            d = os.path.join(cgroup_root, ctl, rel)
            if os.path.isfile(os.path.join(d, "cgroup.procs")):
                return d
    raise errors.NotFound(f"cgroup {cgroups_path} not found")


def cgroup_pids(cgroups_path: str, *, cgroup_root: str = CGROUP_ROOT) -> list[int]:
    """Host pids of every process in the cgroup and its sub-cgroups, sorted.

    v1 reads the first controller hierarchy that has the cgroup (pids, memory,
    cpu, ...), v2 the unified one. Raises NotFound if the cgroup is gone.
    """
    base = _cgroup_dir(cgroups_path, cgroup_root)
    pids: set[int] = set()
    for dirpath, _dirs, files in os.walk(base):
        if "cgroup.procs" not in files:
            continue
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids.update(int(x) for x in f.read().split() if x.isdigit())
        except OSError:
            continue  # a sub-cgroup removed while walking
    return sorted(pids)


def validate_ps_args(ps_args: list[str]) -> None:
    for m in _RENAMED_PID.finditer(" ".join(ps_args)):
        if m.group(1).lower() != "pid":
            raise errors.InvalidArgument(f'specifying "{m.group(1)}={m.group(2)}" is not allowed')


def _run_ps(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["ps", *args], capture_output=True, text=True, errors="replace",
                              timeout=30, check=False)
    except FileNotFoundError:
        raise errors.FailedPrecondition(_PS_MISSING) from None
    except subprocess.TimeoutExpired:
        raise errors.Unavailable("ps: timed out") from None


def ps_output(ps_args: list[str], pids: list[int]) -> str:
    """ps's output for ps_args, narrowed with -q PIDS when ps accepts that alongside them."""
    if pids:
        res = _run_ps([*ps_args, "-q", ",".join(str(p) for p in pids)])
        if res.returncode == 0:
            return res.stdout
    # Some options (f, and BSD-style ones) refuse -q: list everything, filter below.
    res = _run_ps(ps_args)
    if res.returncode != 0:
        first = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[0]
        raise errors.InvalidArgument(f"ps: {first}")
    return res.stdout


def parse_ps_output(output: str, pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """Titles, and the rows whose PID is one of pids (thread lines "-" follow their process)."""
    lines = output.split("\n")
    titles = lines[0].split()
    try:
        pid_index = titles.index("PID")
    except ValueError:
        raise errors.InvalidArgument("Couldn't find PID field in ps output") from None
    wanted = set(pids)
    rows: list[list[str]] = []
    keep_threads = False
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        if pid_index >= len(fields):
            continue
        value = fields[pid_index]
        if value == "-":
            if keep_threads:
                rows.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(value)
        except ValueError:
            raise errors.InvalidArgument(f"Unexpected pid '{value}' in ps output") from None
        keep_threads = pid in wanted
        if keep_threads:
            rows.append(_fit(fields, len(titles)))
    return titles, rows


def _fit(fields: list[str], n: int) -> list[str]:
    """As many fields as titles: the overhanging ones (a command's arguments) joined by spaces."""
    if len(fields) <= n:
        return fields + [""] * (n - len(fields))
    return [*fields[: n - 1], " ".join(fields[n - 1:])]


def top(pids: list[int], ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(titles, rows) of the host's `ps ps_args` (default -ef) for the given pids."""
    args = [a for a in (ps_args or []) if a] or list(DEFAULT_PS_ARGS)
    validate_ps_args(args)
    return parse_ps_output(ps_output(args, pids), pids)


def top_pb(pids: list[int], ps_args: list[str] | None = None) -> engine_pb2.TopResponse:
    """The TopResponse for top(pids, ps_args)."""
    from pallet.engine.v1 import engine_pb2 as pb

    titles, rows = top(pids, ps_args)
    return pb.TopResponse(titles=titles, processes=[pb.TopResponse.Row(fields=r) for r in rows])
