"""Resource and isolation flags of `run`/`create`/`update`, parsed like the docker CLI
into a pallet.engine.v1.HostConfig, and the HostConfig part of `inspect`."""

from __future__ import annotations

import argparse
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pallet.client.cli import CLIError

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_ULIMITS = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
            "rss", "rtprio", "rttime", "sigpending", "stack"}


def ram_in_bytes(text: str) -> int:
    """Docker's RAMInBytes: "512m", "1g", "1.5GiB", "100" -> bytes (binary units)."""
    m = _SIZE.match(text.strip())
    if m is None:
        raise CLIError(f"palletctl: invalid size: '{text}'")
    try:
        value = float(m.group(1))
    except ValueError:
        raise CLIError(f"palletctl: invalid size: '{text}'") from None
    return int(value * _UNITS[(m.group(2) or "").lower()])


def swap_bytes(text: str) -> int:
    """--memory-swap: a size, or -1 for unlimited swap."""
    return -1 if text.strip() == "-1" else ram_in_bytes(text)


def nano_cpus(text: str) -> int:
    """--cpus 1.5 -> 1500000000 (Docker's ParseCPUs)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise CLIError(f"palletctl: failed to parse {text} as a rational number") from None
    nano = value * 1_000_000_000
    if nano != nano.to_integral_value():
        raise CLIError("palletctl: value is too precise")
    return int(nano)


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """name=soft[:hard] (hard defaults to soft; -1 is unlimited)."""
    name, sep, limits = text.partition("=")
    if not sep or not limits:
        raise CLIError(f"palletctl: invalid ulimit argument: {text}")
    if name not in _ULIMITS:
        raise CLIError(f"palletctl: invalid ulimit type: {name}")
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise CLIError(f"palletctl: invalid ulimit argument: {text}") from None
    if soft < -1 or hard < -1:
        raise CLIError(f"palletctl: invalid ulimit argument: {text}")
    if (float("inf") if soft == -1 else soft) > (float("inf") if hard == -1 else hard):
        raise CLIError(f"palletctl: ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return name, soft, hard


def _valid_mode(mode: str) -> bool:
    return bool(mode) and all(c in "rwm" for c in mode) and len(set(mode)) == len(mode)


def parse_device(text: str) -> tuple[str, str, str]:
    """--device SRC[:DST][:PERMS] as (path_on_host, path_in_container, permissions)."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise CLIError(f"palletctl: invalid device specification: {text}")
    src, dst, perms = parts[0], "", "rwm"
    if len(parts) == 3:
        dst, perms = parts[1], parts[2]
    elif len(parts) == 2:
        if _valid_mode(parts[1]):
            perms = parts[1]
        else:
            dst = parts[1]
    if not _valid_mode(perms):
        raise CLIError(f"palletctl: invalid device mode: {perms}")
    return src, dst or src, perms


def security_opts(values: list[str]) -> list[str]:
    """seccomp=<file> becomes seccomp=<the file's JSON>, as the docker CLI sends it."""
    out = []
    for opt in values:
        key, sep, value = opt.partition("=")
        if key == "seccomp" and sep and value and value != "unconfined":
            try:
                with open(value, encoding="utf-8") as f:
                    data = json.load(f)
            except OSError as exc:
                raise CLIError(f"palletctl: opening seccomp profile ({value}) failed: {exc.strerror}") from None
            except ValueError as exc:
                raise CLIError(f"palletctl: decoding seccomp profile ({value}) failed: {exc}") from None
            opt = "seccomp=" + json.dumps(data, separators=(",", ":"))
        out.append(opt)
    return out


_NAMESPACE_MODES = {"pid": ("host",), "ipc": ("host", "private", "shareable", "none")}


def namespace_mode(kind: str, value: str) -> str:
    """--pid / --ipc (kind "pid" or "ipc"): one of its modes, or container:NAME_OR_ID."""
    if value in ("", *_NAMESPACE_MODES[kind]) or (value.startswith("container:") and value != "container:"):
        return value
    allowed = ", ".join(_NAMESPACE_MODES[kind])
    raise CLIError(f"palletctl: invalid --{kind} {value!r}: use {allowed} or container:NAME_OR_ID")


def add_resource_flags(p: argparse.ArgumentParser) -> None:
    """The flags `run`, `create` and `update` share."""
    p.add_argument("-m", "--memory", default="", help="memory limit (e.g. 512m, 1g)")
    p.add_argument("--memory-swap", default="",
                   help="swap limit equal to memory plus swap: -1 to enable unlimited swap")
    p.add_argument("--memory-reservation", default="", help="memory soft limit")
    p.add_argument("--cpus", default="", help="number of CPUs (e.g. 1.5)")
    p.add_argument("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight)")
    p.add_argument("--cpu-period", type=int, default=0, help="limit CPU CFS (Completely Fair Scheduler) period")
    p.add_argument("--cpu-quota", type=int, default=0, help="limit CPU CFS (Completely Fair Scheduler) quota")
    p.add_argument("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, default=None, help="tune container pids limit (set -1 for unlimited)")
    p.add_argument("--blkio-weight", type=int, default=0,
                   help="block IO (relative weight), between 10 and 1000, or 0 to disable")


def add_create_flags(p: argparse.ArgumentParser) -> None:
    """Resource and isolation flags of `run` and `create`."""
    add_resource_flags(p)
    p.add_argument("--oom-kill-disable", action="store_true", help="disable OOM Killer")
    p.add_argument("--ulimit", action="append", default=[], help="ulimit options (name=soft[:hard])")
    p.add_argument("--shm-size", default="", help="size of /dev/shm (default 64m)")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to this container")
    p.add_argument("--security-opt", action="append", default=[],
                   help="security options (seccomp=unconfined|PROFILE.json, no-new-privileges)")
    p.add_argument("--sysctl", action="append", default=[], help="sysctl options (name=value)")
    p.add_argument("--device", action="append", default=[], help="add a host device to the container")
    p.add_argument("--device-cgroup-rule", action="append", default=[],
                   help="add a rule to the cgroup allowed devices list (e.g. 'c 1:3 rwm')")
    p.add_argument("--group-add", action="append", default=[], help="add additional groups to join")
    p.add_argument("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    p.add_argument("--userns", default="", metavar="host",
                   help="user namespace: 'host' opts out of the daemon's --userns-remap")
    p.add_argument("--init", action="store_true", default=None,
                   help="run an init inside the container that forwards signals and reaps processes")
    p.add_argument("--pid", default="", metavar="MODE",
                   help="PID namespace to use: host, or container:NAME_OR_ID")
    p.add_argument("--ipc", default="", metavar="MODE",
                   help="IPC mode to use: private (default), shareable, none, host, or container:NAME_OR_ID")


def fill_resources(args: argparse.Namespace, hc: Any) -> None:
    """The resource flags into a HostConfig (only those given)."""
    if args.memory:
        hc.memory = ram_in_bytes(args.memory)
    if args.memory_swap:
        hc.memory_swap = swap_bytes(args.memory_swap)
    if args.memory_reservation:
        hc.memory_reservation = ram_in_bytes(args.memory_reservation)
    if args.cpus:
        hc.nano_cpus = nano_cpus(args.cpus)
    hc.cpu_shares = args.cpu_shares
    hc.cpu_period = args.cpu_period
    hc.cpu_quota = args.cpu_quota
    hc.cpuset_cpus = args.cpuset_cpus
    hc.cpuset_mems = args.cpuset_mems
    if args.pids_limit is not None:
        hc.pids_limit = args.pids_limit
    if args.blkio_weight < 0:
        raise CLIError("palletctl: invalid blkio weight: must be between 10 and 1000")
    hc.blkio_weight = args.blkio_weight


def fill_host_config(args: argparse.Namespace, hc: Any) -> None:
    """Every resource and isolation flag of run/create into cfg.host_config."""
    fill_resources(args, hc)
    hc.oom_kill_disable = args.oom_kill_disable
    for text in args.ulimit:
        name, soft, hard = parse_ulimit(text)
        hc.ulimits.add(name=name, soft=soft, hard=hard)
    if args.shm_size:
        hc.shm_size = ram_in_bytes(args.shm_size)
    hc.cap_add.extend(args.cap_add)
    hc.cap_drop.extend(args.cap_drop)
    hc.privileged = args.privileged
    hc.security_opt.extend(security_opts(args.security_opt))
    for item in args.sysctl:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"palletctl: invalid argument \"{item}\" for \"--sysctl\" flag: "
                           "sysctl must be of the form name=value")
        hc.sysctls[key] = value
    for text in args.device:
        src, dst, perms = parse_device(text)
        hc.devices.add(path_on_host=src, path_in_container=dst, cgroup_permissions=perms)
    for rule in args.device_cgroup_rule:
        if not re.match(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$", rule):
            raise CLIError(f"palletctl: invalid device cgroup format '{rule}'")
        hc.device_cgroup_rules.append(rule)
    hc.group_add.extend(args.group_add)
    if args.init:
        hc.init = True
    if args.userns and args.userns != "host":
        raise CLIError(f"palletctl: invalid --userns {args.userns!r}: the only value is host")
    hc.userns_mode = args.userns
    hc.read_only_rootfs = args.read_only
    hc.pid_mode = namespace_mode("pid", args.pid)
    hc.ipc_mode = namespace_mode("ipc", args.ipc)


def hostconfig_json(cfg: Any) -> dict[str, Any]:
    """The HostConfig keys of `inspect` that come from cfg.host_config, as Docker names them."""
    hc = cfg.host_config
    return {
        "RestartPolicy": {"Name": cfg.restart_policy.name or "no",
                          "MaximumRetryCount": cfg.restart_policy.maximum_retry_count},
        "Memory": hc.memory,
        "MemorySwap": hc.memory_swap,
        "MemoryReservation": hc.memory_reservation,
        "OomKillDisable": hc.oom_kill_disable,
        "NanoCpus": hc.nano_cpus,
        "CpuShares": hc.cpu_shares,
        "CpuPeriod": hc.cpu_period,
        "CpuQuota": hc.cpu_quota,
        "CpusetCpus": hc.cpuset_cpus,
        "CpusetMems": hc.cpuset_mems,
        "PidsLimit": hc.pids_limit if hc.HasField("pids_limit") else None,
        "BlkioWeight": hc.blkio_weight,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in hc.ulimits] or None,
        "ShmSize": hc.shm_size or 64 * 1024 * 1024,
        "CapAdd": list(hc.cap_add) or None,
        "CapDrop": list(hc.cap_drop) or None,
        "Privileged": hc.privileged,
        "SecurityOpt": list(hc.security_opt) or None,
        **({"Sysctls": dict(hc.sysctls)} if hc.sysctls else {}),
        "Devices": [{"PathOnHost": d.path_on_host, "PathInContainer": d.path_in_container,
                     "CgroupPermissions": d.cgroup_permissions} for d in hc.devices],
        "DeviceCgroupRules": list(hc.device_cgroup_rules) or None,
        "GroupAdd": list(hc.group_add) or None,
        "Init": hc.init if hc.HasField("init") else None,
        "UsernsMode": hc.userns_mode,
        "ReadonlyRootfs": hc.read_only_rootfs,
        "PidMode": hc.pid_mode,
        "IpcMode": hc.ipc_mode or "private",
    }
