"""The OCI runtime spec palletd writes for a container: Docker's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pallet import errors

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]

READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# Devices every container may use (type, major, minor), as Docker allows.
_ALLOWED_DEVICES = [
    ("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9),  # null zero full random urandom
    ("c", 5, 0), ("c", 5, 1), ("c", 5, 2),  # tty console ptmx
    ("c", 136, -1),  # pts
    ("c", 10, 200),  # tun
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

CONTAINER_PREFIX = "container:"
# The --pid / --ipc values besides container:NAME_OR_ID ("" is the default: a new namespace).
_NAMESPACE_MODES = {"pid": ("", "host"), "ipc": ("", "host", "private", "shareable", "none")}
_NAMESPACE_TITLES = {"pid": "PID", "ipc": "IPC"}
# Sysctls that live in the IPC namespace: not settable in a namespace the container does not own.
_IPC_SYSCTLS = ("kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue.")


def namespace_target(kind: str, mode: str) -> str:
    """The container named by a --pid/--ipc value of container:NAME_OR_ID, "" for the other modes;
    InvalidArgument for a value that is neither (kind is "pid" or "ipc")."""
    if mode.startswith(CONTAINER_PREFIX) and mode[len(CONTAINER_PREFIX):]:
        return mode[len(CONTAINER_PREFIX):]
    if mode in _NAMESPACE_MODES[kind]:
        return ""
    allowed = ", ".join(m for m in _NAMESPACE_MODES[kind] if m)
    raise errors.InvalidArgument(f"invalid --{kind} {mode!r}: use {allowed} or container:NAME_OR_ID")


def owns_namespace(mode: str) -> bool:
    """Whether a container with this --pid/--ipc mode has a namespace of its own."""
    return mode != "host" and not mode.startswith(CONTAINER_PREFIX)


def check_ipc_sysctls(sysctls: dict[str, str], ipc_mode: str) -> None:
    """IPC sysctls only in an IPC namespace of the container's own (as runc requires)."""
    if owns_namespace(ipc_mode):
        return
    for key in sysctls:
        if key.startswith(_IPC_SYSCTLS):
            where = "the host's" if ipc_mode == "host" else "another container's"
            raise errors.InvalidArgument(f"sysctl '{key}' is not allowed with --ipc {ipc_mode}: it would change "
                                         f"{where} IPC namespace")


def join_error(kind: str, name: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"cannot join the {_NAMESPACE_TITLES[kind]} namespace of container {name}: it is not running")


@dataclass
class Process:
    args: list[str]
    env: list[str]
    cwd: str
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    terminal: bool = False


@dataclass
class SpecInput:
    """What the spec depends on, resolved by the engine beforehand."""

    process: Process
    hostname: str
    domainname: str
    network_mode: str
    cgroups_path: str
    hostname_path: str
    hosts_path: str
    resolv_conf_path: str
    readonly_rootfs: bool = False
    # A network namespace to join (netsvc's sandbox, another container's); "" makes a new one.
    netns_path: str = ""
    # Volumes, binds and tmpfs mounts (OCI mount objects), after the defaults.
    mounts: list[dict[str, Any]] = field(default_factory=list)
    # --pid and --ipc ("" for the default) and, for container:X, the namespace path of X's init.
    pid_mode: str = ""
    ipc_mode: str = ""
    pid_ns_path: str = ""
    ipc_ns_path: str = ""


def _mount(dest: str, typ: str, source: str, options: list[str]) -> dict[str, Any]:
    return {"destination": dest, "type": typ, "source": source, "options": options}


def process(proc: Process) -> dict[str, Any]:
    """The OCI process object (also what an exec runs)."""
    caps = list(DEFAULT_CAPS)
    user: dict[str, Any] = {"uid": proc.uid, "gid": proc.gid}
    if proc.additional_gids:
        user["additionalGids"] = proc.additional_gids
    return {
        "terminal": proc.terminal,
        "user": user,
        "args": proc.args,
        "env": proc.env,
        "cwd": proc.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": False,
        "oomScoreAdj": 0,
    }


def build(inp: SpecInput) -> dict[str, Any]:
    """The config.json for a container's bundle (root.path is "rootfs")."""
    namespaces: list[dict[str, Any]] = []
    for kind, mode, path in (("pid", inp.pid_mode, inp.pid_ns_path), ("ipc", inp.ipc_mode, inp.ipc_ns_path)):
        if mode == "host":
            continue  # no entry: the runtime leaves the container in the host's namespace
        if mode.startswith(CONTAINER_PREFIX) and not path:
            raise ValueError(f"{kind} mode {mode} needs the namespace path to join")
        namespaces.append({"type": kind, **({"path": path} if path else {})})
    namespaces += [{"type": t} for t in ("uts", "mount")]
    if inp.network_mode != "host":
        namespaces.append({"type": "network", **({"path": inp.netns_path} if inp.netns_path else {})})
    mounts = [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount("/dev/pts", "devpts", "devpts",
               ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro", "nosuid", "noexec", "nodev"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
    ]
    if inp.ipc_mode == "host":  # the host's IPC namespace comes with the host's /dev/shm (as Docker)
        mounts.append(_mount("/dev/shm", "bind", "/dev/shm", ["rbind", "rprivate"]))
    elif inp.ipc_mode != "none":  # none: an IPC namespace of its own and no /dev/shm at all
        mounts.append(_mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]))
    # User mounts before the /etc files, which stay on top unless a user mount replaces one.
    mounts.extend(inp.mounts)
    taken = {m["destination"] for m in inp.mounts}
    for dest, source in (("/etc/resolv.conf", inp.resolv_conf_path), ("/etc/hostname", inp.hostname_path),
                         ("/etc/hosts", inp.hosts_path)):
        if dest not in taken:
            mounts.append(_mount(dest, "bind", source, ["rbind", "rprivate"]))
    devices = [{"allow": False, "access": "rwm"}] + [
        {"allow": True, "type": t, "major": ma, **({"minor": mi} if mi >= 0 else {}), "access": "rwm"}
        for t, ma, mi in _ALLOWED_DEVICES
    ]
    return {
        "ociVersion": "1.0.2",
        "process": process(inp.process),
        "root": {"path": "rootfs", "readonly": inp.readonly_rootfs},
        "hostname": inp.hostname,
        **({"domainname": inp.domainname} if inp.domainname else {}),
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": inp.cgroups_path,
            "resources": {"devices": devices},
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    }
