"""The container's memory cgroup: how many OOM kills it has seen.

Read just before `runc delete` removes the cgroup. cgroup v1 (also the hybrid
layout, where memory is a v1 controller): memory.oom_control's `oom_kill`
under /sys/fs/cgroup/memory/<cgroupsPath>; v2: memory.events' `oom_kill`
under /sys/fs/cgroup/<cgroupsPath>.
"""

from __future__ import annotations

import os

ROOT = "/sys/fs/cgroup"


def _systemd_path(cgroups_path: str) -> str:
    """runc's systemd form "slice:prefix:name" as a path (a-b.slice -> a.slice/a-b.slice)."""
    slice_, prefix, name = (cgroups_path.split(":") + ["", "", ""])[:3]
    slice_ = slice_ or "system.slice"
    parts = []
    if slice_ != "-.slice":
        stem = slice_[:-len(".slice")] if slice_.endswith(".slice") else slice_
        words = stem.split("-")
        parts = ["-".join(words[:i + 1]) + ".slice" for i in range(len(words))]
    unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return "/".join([*parts, unit])


def _from_proc(pid: int, v1: bool) -> str:
    """The process's memory cgroup path as /proc/<pid>/cgroup shows it, or ""."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if (v1 and "memory" in controllers.split(",")) or (not v1 and controllers == ""):
            return path
    return ""


def oom_file(cgroups_path: str, pid: int = 0, root: str = ROOT) -> tuple[str, str] | None:
    """(file, key) holding the OOM kill count, or None when there is no memory cgroup.

    cgroups_path is the spec's linux.cgroupsPath: absolute, relative to the
    runtime's (the shim's) cgroup, or runc's systemd "slice:prefix:name". When
    it is empty the path is taken from /proc/<pid>/cgroup (call this while the
    process lives).
    """
    v1 = os.path.isdir(os.path.join(root, "memory"))
    if not v1 and not os.path.exists(os.path.join(root, "cgroup.controllers")):
        return None
    if not cgroups_path:
        path = _from_proc(pid, v1) if pid else ""
    elif cgroups_path.startswith("/"):
        path = cgroups_path
    elif ":" in cgroups_path:
        path = _systemd_path(cgroups_path)
    else:  # relative: under the runtime's own cgroup, which is ours
        path = _from_proc(os.getpid(), v1).rstrip("/") + "/" + cgroups_path
    if not path:
        return None
    base = os.path.join(root, "memory") if v1 else root
    d = os.path.join(base, path.strip("/"))
    return (os.path.join(d, "memory.oom_control"), "oom_kill") if v1 else \
        (os.path.join(d, "memory.events"), "oom_kill")


def oom_kills(where: tuple[str, str] | None) -> int:
    """The count in that file, 0 if it cannot be read."""
    if where is None:
        return 0
    path, key = where
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0
