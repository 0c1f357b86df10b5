"""Isolation settings: capabilities, --privileged, seccomp and no-new-privileges,
sysctls, devices, supplementary groups and --init, validated as dockerd does
and applied to the OCI spec _spec.build wrote.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pallet import errors
from pallet.engine import _resources, _rootfs, _seccomp, _spec
from pallet.engine.v1 import engine_pb2 as pb

# Every capability by number (linux/capability.h); the kernel's cap_last_cap bounds it.
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

# Where the --init binary is looked for (tini, as Docker ships it as docker-init).
INIT_PATHS = ("/usr/libexec/docker/docker-init", "/usr/bin/tini-static", "/usr/bin/docker-init")
INIT_DEST = "/dev/init"

_SYSCTL_EXACT = {"kernel.sem"}
_SYSCTL_PREFIXES = ("kernel.msg", "kernel.shm", "fs.mqueue.", "net.")
_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")
# Skipped when giving a privileged container every host device (as runc's HostDevices).
_SKIP_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}


def _bounding_set() -> int:
    """This process's capability bounding set: what the runtime can give a container."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return (1 << len(ALL_CAPS)) - 1


def all_caps() -> list[str]:
    """Every capability the kernel knows and the engine holds (--privileged, --cap-add ALL)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read().strip())
    except (OSError, ValueError):
        last = len(ALL_CAPS) - 1
    bounding = _bounding_set()
    return [c for i, c in enumerate(ALL_CAPS[: last + 1]) if bounding >> i & 1]


def normalize_cap(name: str) -> str:
    """CAP_X for "x", "cap_x", "CAP_X"; "ALL" stays; InvalidArgument for an unknown one."""
    up = name.strip().upper()
    if up == "ALL":
        return up
    if not up.startswith("CAP_"):
        up = "CAP_" + up
    if up not in ALL_CAPS:
        raise errors.InvalidArgument(f'unknown capability: "{up}"')
    return up


def capabilities(hc: pb.HostConfig) -> list[str]:
    """The container's capability set: Docker's defaults tweaked by --cap-add/--cap-drop."""
    if hc.privileged:
        return all_caps()
    adds = [normalize_cap(c) for c in hc.cap_add]
    drops = [normalize_cap(c) for c in hc.cap_drop]
    if not adds and not drops:
        return list(_spec.DEFAULT_CAPS)
    if "ALL" in adds:
        base = all_caps()
    elif "ALL" in drops:
        base = []
    else:
        base = list(_spec.DEFAULT_CAPS)
    caps = [c for c in base if c not in drops or c in adds]
    known = set(all_caps())
    for c in adds:
        if c != "ALL" and c not in caps:
            if c not in known:
                raise errors.InvalidArgument(
                    f"capability {c} cannot be added: the engine does not hold it (not in its bounding set)")
            caps.append(c)
    return [c for c in caps if c in known]


@dataclass
class SecurityOpts:
    seccomp: str = ""  # "" = the default profile, "unconfined", or a profile's JSON
    no_new_privileges: bool = False


def parse_security_opts(opts: Iterable[str]) -> SecurityOpts:
    out = SecurityOpts()
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")  # the old "seccomp:unconfined" form
        if key == "no-new-privileges":
            if not sep or value.lower() in ("true", "1"):
                out.no_new_privileges = True
            elif value.lower() in ("false", "0"):
                out.no_new_privileges = False
            else:
                raise errors.InvalidArgument(f"invalid --security-opt 2: {opt!r}")
        elif key == "seccomp" and sep and value:
            if value != "unconfined":
                if not value.lstrip().startswith("{"):
                    raise errors.InvalidArgument(
                        f"invalid --security-opt {opt!r}: the client sends a profile's JSON, not a path")
                _seccomp.load(value)
            out.seccomp = value
        elif key in ("apparmor", "label") and sep:
            continue  # no AppArmor or SELinux on this engine: accepted, nothing to do
        else:
            raise errors.InvalidArgument(f"invalid --security-opt 1: {opt!r}")
    return out


def check_sysctls(sysctls: dict[str, str], network_mode: str) -> None:
    """Only namespaced sysctls, and net.* only in a network namespace of the container's own."""
    for key, value in sysctls.items():
        if not key or key != key.strip() or "\n" in value:
            raise errors.InvalidArgument(f"invalid sysctl {key!r}")
        if key.startswith("net."):
            if network_mode == "host":
                raise errors.InvalidArgument(
                    f"sysctl '{key}' is not allowed with --network host: it would change the host's "
                    "network namespace")
            continue
        if key in _SYSCTL_EXACT or key.startswith(_SYSCTL_PREFIXES):
            continue
        raise errors.InvalidArgument(
            f"sysctl '{key}' is not allowed: only namespaced sysctls can be set (kernel.msg*, "
            "kernel.sem, kernel.shm*, fs.mqueue.* and, without --network host, net.*)")


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """A --device-cgroup-rule ("c 1:3 rwm") as an OCI linux.resources.devices entry."""
    m = _RULE.match(rule.strip())
    if m is None:
        raise errors.InvalidArgument(f"invalid device cgroup rule format: '{rule}'")
    typ, major, minor, access = m.groups()
    entry: dict[str, Any] = {"allow": True, "type": typ, "access": access}
    if major != "*":
        entry["major"] = int(major)
    if minor != "*":
        entry["minor"] = int(minor)
    return entry


def _perms(perms: str) -> str:
    perms = perms or "rwm"
    if not perms or any(c not in "rwm" for c in perms) or len(set(perms)) != len(perms):
        raise errors.InvalidArgument(f"invalid device mode: {perms}")
    return perms


def _device(path: str, dest: str, perms: str, st: os.stat_result) -> tuple[dict[str, Any], dict[str, Any]]:
    typ = "c" if stat.S_ISCHR(st.st_mode) else "b"
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    dev = {"path": dest, "type": typ, "major": major, "minor": minor,
           "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    rule = {"allow": True, "type": typ, "major": major, "minor": minor, "access": perms}
    return dev, rule


def host_devices(mapping: pb.DeviceMapping) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(linux.devices entry, cgroup rule) for a --device; a directory brings every device under it."""
    src = mapping.path_on_host
    dest = mapping.path_in_container or src
    perms = _perms(mapping.cgroup_permissions)
    if not src.startswith("/") or not dest.startswith("/"):
        raise errors.InvalidArgument(f"invalid device {src}:{dest}: paths must be absolute")
    try:
        st = os.stat(src)
    except OSError as exc:
        raise errors.InvalidArgument(
            f'error gathering device information while adding custom device "{src}": '
            f"{(exc.strerror or str(exc)).lower()}") from None
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return [_device(src, dest, perms, st)]
    if not stat.S_ISDIR(st.st_mode):
        raise errors.InvalidArgument(
            f'error gathering device information while adding custom device "{src}": not a device node')
    out = []
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in files:
            p = os.path.join(root, name)
            try:
                fst = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISCHR(fst.st_mode) or stat.S_ISBLK(fst.st_mode):
                out.append(_device(p, os.path.join(dest, os.path.relpath(p, src)), perms, fst))
    return out


def privileged_devices() -> list[dict[str, Any]]:
    """Every device node of the host's /dev, for --privileged."""
    out = []
    for root, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in files:
            p = os.path.join(root, name)
            if p == "/dev/console":
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and st.st_rdev:
                out.append(_device(p, p, "rwm", st)[0])
    return out


def init_path() -> str:
    """The host binary --init runs (tini), or "" when there is none."""
    override = os.environ.get("PALLET_INIT_PATH", "")
    for p in ((override,) if override else INIT_PATHS):
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return ""


def resolve_groups(dirs: Sequence[str], groups: Iterable[str]) -> list[int]:
    """GIDs for --group-add values: numbers as they are, names from the image's /etc/group."""
    lines = (_rootfs.read_file(dirs, "etc/group") or b"").decode(errors="replace").splitlines()
    out: list[int] = []
    for g in groups:
        gid = None
        for line in lines:
            f = line.split(":")
            if len(f) >= 3 and f[0] == g and f[2].isdigit():
                gid = int(f[2])
                break
        if gid is None:
            if not g.isdigit():
                raise errors.InvalidArgument(f"Unable to find group {g}: no matching entries in group file")
            gid = int(g)
        if gid not in out:
            out.append(gid)
    return out


def validate(hc: pb.HostConfig, network_mode: str) -> list[str]:
    """Check the whole HostConfig (resources too) at create; fills in defaults. Returns warnings."""
    warnings = _resources.validate(hc)
    capabilities(hc)  # unknown capability names fail here
    parse_security_opts(hc.security_opt)
    check_sysctls(dict(hc.sysctls), network_mode)
    for rule in hc.device_cgroup_rules:
        parse_cgroup_rule(rule)
    for d in hc.devices:
        host_devices(d)  # the device must exist now, not only at start
    for g in hc.group_add:
        if not g or ":" in g:
            raise errors.InvalidArgument(f"invalid group {g!r}")
    if hc.init and not init_path():
        raise errors.InvalidArgument(
            "--init: no init binary found (install tini: " + ", ".join(INIT_PATHS) + ")")
    return warnings


def process_caps(hc: pb.HostConfig, privileged: bool = False) -> list[str]:
    return all_caps() if privileged else capabilities(hc)


def apply_process(process: dict[str, Any], hc: pb.HostConfig, privileged: bool = False) -> None:
    """The container's capabilities, no-new-privileges and rlimits on an OCI process (init or exec)."""
    caps = process_caps(hc, privileged or hc.privileged)
    process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    if parse_security_opts(hc.security_opt).no_new_privileges:
        process["noNewPrivileges"] = True
    if hc.ulimits:
        process["rlimits"] = _resources.rlimits(hc)


def apply(spec: dict[str, Any], hc: pb.HostConfig, extra_gids: Sequence[int] = ()) -> None:
    """Apply the HostConfig to a spec from _spec.build (call only for a validated HostConfig)."""
    process, linux = spec["process"], spec["linux"]
    apply_process(process, hc)
    opts = parse_security_opts(hc.security_opt)
    if extra_gids:
        user = process["user"]
        user["additionalGids"] = list(dict.fromkeys([*user.get("additionalGids", []), *extra_gids]))
    resources = linux.setdefault("resources", {})
    resources.update(_resources.linux_resources(hc))
    for m in spec["mounts"]:
        if m["destination"] == "/dev/shm" and hc.shm_size:
            m["options"] = [o for o in m["options"] if not o.startswith("size=")] + [f"size={hc.shm_size}"]
        if hc.privileged and m["destination"] in ("/sys", "/sys/fs/cgroup"):
            m["options"] = [o for o in m["options"] if o != "ro"]
    if hc.sysctls:
        linux["sysctl"] = dict(hc.sysctls)
    devices: list[dict[str, Any]] = []
    rules = list(resources.get("devices") or [])
    if hc.privileged:
        devices = privileged_devices()
        for mapping in hc.devices:  # under another path: the host's own is there already
            if (mapping.path_in_container or mapping.path_on_host) != mapping.path_on_host:
                devices.extend(dev for dev, _ in host_devices(mapping))
        rules = [{"allow": True, "access": "rwm"}]
        linux["maskedPaths"] = []
        linux["readonlyPaths"] = []
    else:
        for mapping in hc.devices:
            for dev, rule in host_devices(mapping):
                devices.append(dev)
                rules.append(rule)
        rules.extend(parse_cgroup_rule(r) for r in hc.device_cgroup_rules)
    if devices:
        linux["devices"] = devices
    resources["devices"] = rules
    if not hc.privileged and opts.seccomp != "unconfined":
        profile = _seccomp.load(opts.seccomp) if opts.seccomp else _seccomp.default_profile()
        linux["seccomp"] = _seccomp.oci_profile(profile, process["capabilities"]["bounding"])
    if hc.init:
        path = init_path()
        if not path:
            raise errors.FailedPrecondition("--init: no init binary found (install tini)")
        spec["mounts"].append({"destination": INIT_DEST, "type": "bind", "source": path,
                               "options": ["bind", "ro"]})
        process["args"] = [INIT_DEST, "--", *process["args"]]
