"""Test helpers that clean the host: mounts, runtime state, cgroups, processes."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time

MNT_DETACH = 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].encode().decode("unicode_escape")
            if target == path or target.startswith(path + "/"):
                out.append(target)
    return out


def umount_under(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for target in sorted(mounts_under(path), key=len, reverse=True):
        libc.umount2(target.encode(), MNT_DETACH)


def kill_runtime_containers(runtime_root: str, runtime: str = "runc") -> None:
    if not os.path.isdir(runtime_root):
        return
    res = subprocess.run([runtime, "--root", runtime_root, "list", "--format", "json"],
                         capture_output=True, text=True, check=False)
    try:
        items = json.loads(res.stdout or "[]") or []
    except ValueError:
        items = []
    for item in items:
        subprocess.run([runtime, "--root", runtime_root, "kill", "--all", item["id"], "KILL"],
                       capture_output=True, check=False)
    for item in items:
        subprocess.run([runtime, "--root", runtime_root, "delete", "--force", item["id"]],
                       capture_output=True, check=False)


def kill_processes_mentioning(text: str) -> None:
    """SIGKILL every process whose command line mentions text (e.g. a tmp root)."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def remove_cgroup(parent: str) -> None:
    """Remove a cgroup subtree (leaf first) in every v1 hierarchy and cgroup2."""
    base = "/sys/fs/cgroup"
    roots = [os.path.join(base, d) for d in os.listdir(base)] + [base]
    for root in roots:
        top = os.path.join(root, parent.strip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            for _ in range(20):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def net_cleanup(data_root: str, exec_root: str) -> None:
    """Remove the bridges, veths, namespaces and iptables chains a netsvc on these roots made."""
    if os.path.isdir(os.path.join(data_root, "network")):
        subprocess.run([sys.executable, "-m", "pallet.net", "--root", data_root, "--exec-root", exec_root,
                        "--cleanup"], capture_output=True, check=False, timeout=60)


def teardown_roots(tmp: str, runtime_root: str, cgroup_parent: str) -> None:
    kill_runtime_containers(runtime_root)
    kill_processes_mentioning(tmp)
    net_cleanup(os.path.join(tmp, "data"), os.path.join(tmp, "exec"))
    umount_under(tmp)
    remove_cgroup(cgroup_parent)
    shutil.rmtree(tmp, ignore_errors=True)
