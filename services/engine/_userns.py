"""User-namespace remapping (palletd --userns-remap): root in a container is not root on the host.

As dockerd: the value names a user (and group) whose first subordinate ID ranges in
/etc/subuid and /etc/subgid become the container's 0..N-1; "default" makes and uses the
system user `pallet-remap` with a free 65536-ID range. Containers opt out with `--userns host`.
"""

from __future__ import annotations

import grp
import pwd
import subprocess
from dataclasses import dataclass
from typing import Any

from pallet import errors

DEFAULT_USER = "pallet-remap"
RANGE = 65536


@dataclass(frozen=True)
class Remap:
    uid: int
    gid: int
    size: int

    def spec(self) -> dict[str, list[dict[str, int]]]:
        """The OCI linux.uidMappings / gidMappings."""
        return {"uidMappings": [{"containerID": 0, "hostID": self.uid, "size": self.size}],
                "gidMappings": [{"containerID": 0, "hostID": self.gid, "size": self.size}]}


def apply(spec: dict[str, Any], remap: Remap) -> None:
    """A user namespace in the OCI spec. When the container joins a network namespace of another
    user namespace (container: mode) sysfs cannot be mounted: /sys is the host's, read-only, as
    runc does for rootless containers."""
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"].update(remap.spec())
    joins_netns = any(ns["type"] == "network" and ns.get("path") for ns in spec["linux"]["namespaces"])
    for m in spec["mounts"]:
        if joins_netns and m["destination"] == "/sys" and m["type"] == "sysfs":
            m.update(type="bind", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])


def _ranges(path: str) -> list[tuple[str, int, int]]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    out.append((parts[0], int(parts[1]), int(parts[2])))
    except FileNotFoundError:
        pass
    return out


def _first(path: str, names: tuple[str, ...]) -> tuple[int, int] | None:
    for owner, start, count in _ranges(path):
        if owner in names:
            return start, count
    return None


def _free_start(paths: tuple[str, str]) -> int:
    taken = [(s, s + c) for p in paths for _, s, c in _ranges(p)]
    start = 100000
    while any(a < start + RANGE and start < b for a, b in taken):
        start += RANGE
    return start


def _ensure_default(subuid: str, subgid: str) -> None:
    """dockerd's `default`: a system user with subordinate ranges of its own."""
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", DEFAULT_USER])
    if _first(subuid, (DEFAULT_USER,)) is None or _first(subgid, (DEFAULT_USER,)) is None:
        start = _free_start((subuid, subgid))
        _run(["usermod", "--add-subuids", f"{start}-{start + RANGE - 1}",
              "--add-subgids", f"{start}-{start + RANGE - 1}", DEFAULT_USER])


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise errors.FailedPrecondition(f"--userns-remap: {' '.join(argv)} failed: {res.stderr.strip()}")


def resolve(value: str, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid") -> Remap | None:
    """USER[:GROUP] (names or IDs) or "default" → the remap; "" → None."""
    if not value:
        return None
    if value == "default":
        _ensure_default(subuid, subgid)
        value = DEFAULT_USER
    user, _, group = value.partition(":")
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise errors.InvalidArgument(f"--userns-remap: no such user {user!r}") from None
    group = group or pw.pw_name
    try:
        gr = grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)
    except KeyError:
        raise errors.InvalidArgument(f"--userns-remap: no such group {group!r}") from None
    u = _first(subuid, (pw.pw_name, str(pw.pw_uid)))
    g = _first(subgid, (gr.gr_name, str(gr.gr_gid)))
    if u is None or g is None:
        missing = subuid if u is None else subgid
        raise errors.FailedPrecondition(
            f"--userns-remap: no subordinate ID range for {value} in {missing}; add one, e.g. "
            f"`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {pw.pw_name}`")
    return Remap(uid=u[0], gid=g[0], size=min(u[1], g[1]))
