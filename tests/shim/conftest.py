"""Fixtures for the shim tests: real runc, a busybox rootfs, full cleanup.

Every container test gets a Box: its own bundle, runtime root and cgroup
parent under tmp_path / /sys/fs/cgroup, and a teardown that kills the shim,
kills and deletes whatever runc still knows, unmounts everything under the
bundle and removes the cgroups, whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pallet.shim import _mount
from pallet.shim.client import ShimClient, start_shim

RUNC = shutil.which("runc") or "/usr/sbin/runc"
REPO = Path(__file__).resolve().parents[2]
CGROUP_ROOT = "/sys/fs/cgroup"

if os.geteuid() != 0 or not os.path.exists(RUNC) or not os.path.exists("/bin/busybox"):
    pytest.skip("the shim tests need root, runc and /bin/busybox", allow_module_level=True)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox root filesystem, extracted once and bind-mounted read-only per test."""
    spec = importlib.util.spec_from_file_location("mkrootfs", REPO / "tools" / "mkrootfs.py")
    mkrootfs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mkrootfs)
    base = tmp_path_factory.mktemp("busybox")
    tar = base / "rootfs.tar"
    mkrootfs.write_busybox_rootfs(str(tar))
    root = base / "rootfs"
    root.mkdir()
    with tarfile.open(tar) as tf:
        tf.extractall(root, filter="fully_trusted")
    tar.unlink()
    return root


@pytest.fixture(scope="session")
def base_spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`runc spec`'s default config, the shape this runc accepts."""
    d = tmp_path_factory.mktemp("spec")
    subprocess.run([RUNC, "spec", "--bundle", str(d)], check=True)
    spec = json.loads((d / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["env"] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    spec["hostname"] = "shimtest"
    return spec


def _alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_gone(pid: int, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.01)
    return not _alive(pid)


def processes_mentioning(text: str) -> list[int]:
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and _alive(int(p)) and text in _cmdline(int(p))]


class Box:
    """One test container: bundle, runtime root, log, cgroup parent."""

    def __init__(self, tmp_path: Path, rootfs: Path, base_spec: dict, name: str = "box") -> None:
        self.id = f"shimtest-{uuid.uuid4().hex[:12]}"
        self.bundle = tmp_path / name
        self.bundle.mkdir(parents=True)
        self.runtime_root = tmp_path / "runc-root"
        self.log_path = tmp_path / "logs" / "ctr-json.log"
        self.rootfs = rootfs
        self.base_spec = base_spec
        self.cgroup_parent = f"pallet-test-{uuid.uuid4().hex[:8]}"
        self.shim_pids: set[int] = set()
        self.init_pids: set[int] = set()

    # -- setup ---------------------------------------------------------------

    def write(self, args: list[str], *, pid_ns: bool = True, readonly: bool = True,
              mounts: list[dict] | None = None, terminal: bool = False,
              memory: int | None = None) -> None:
        spec = copy.deepcopy(self.base_spec)
        spec["process"]["args"] = args
        spec["process"]["terminal"] = terminal
        spec["root"] = {"path": "rootfs", "readonly": readonly}
        spec["linux"]["cgroupsPath"] = f"/{self.cgroup_parent}/{self.id}"
        if memory is not None:
            spec["linux"].setdefault("resources", {})["memory"] = {"limit": memory,
                                                                  "swap": memory}
        if not pid_ns:
            spec["linux"]["namespaces"] = [
                n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]
        (self.bundle / "config.json").write_text(json.dumps(spec))
        if mounts is None:
            mounts = [{"type": "bind", "source": str(self.rootfs), "options": ["rbind", "ro"]}]
        (self.bundle / "mounts.json").write_text(json.dumps(mounts))

    def start(self, args: list[str] | None = None, *, create_only: bool = False,
              stdin: bool = False, **kw: Any) -> dict:
        if args is not None:
            self.write(args, **kw)
        try:
            reply = start_shim(self.id, str(self.bundle), runtime=RUNC,
                               runtime_root=str(self.runtime_root), log_path=str(self.log_path),
                               debug=True, timeout=20, create_only=create_only, stdin=stdin)
        finally:
            self._note_pids()
        self.shim_pids.add(reply["shim_pid"])
        self.init_pids.add(reply["pid"])
        return reply

    def _note_pids(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.shim_pids.add(int((self.bundle / "shim.pid").read_text()))

    def client(self, timeout: float | None = 10.0) -> ShimClient:
        return ShimClient(str(self.bundle / "shim.sock"), timeout=timeout)

    def process(self, args: list[str], **overrides: object) -> dict:
        """An exec's OCI process object, shaped like the container's own."""
        proc = copy.deepcopy(self.base_spec["process"])
        proc.update(args=args, **overrides)
        return proc

    # -- inspection ------------------------------------------------------------

    def log_entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def mounts(self) -> list[str]:
        return _mount.mounted_under(str(self.bundle))

    def runc_ids(self) -> list[str]:
        if not self.runtime_root.exists():
            return []
        out = subprocess.run([RUNC, "--root", str(self.runtime_root), "list", "-f", "json"],
                             capture_output=True, text=True, check=False).stdout.strip()
        return [c["id"] for c in json.loads(out or "null") or []]

    def cgroup_dirs(self) -> list[str]:
        found = []
        for ctrl in os.listdir(CGROUP_ROOT):
            d = os.path.join(CGROUP_ROOT, ctrl, self.cgroup_parent)
            if os.path.isdir(d):
                found.append(d)
        return found

    # -- teardown --------------------------------------------------------------

    def cleanup(self) -> None:
        self._note_pids()
        for pid in self.shim_pids:
            if _alive(pid) and "pallet.shim" in _cmdline(pid):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid)
        for cid in self.runc_ids():
            root = ["--root", str(self.runtime_root)]
            subprocess.run([RUNC, *root, "resume", cid], capture_output=True, check=False)
            subprocess.run([RUNC, *root, "kill", "--all", cid, "KILL"],
                           capture_output=True, check=False)
            subprocess.run([RUNC, *root, "delete", "--force", cid],
                           capture_output=True, check=False)
        for pid in self.init_pids:
            if _alive(pid) and str(self.bundle) not in _cmdline(pid):
                try:  # still ours only if it is in our cgroup
                    with open(f"/proc/{pid}/cgroup") as f:
                        if self.cgroup_parent in f.read():
                            os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for target in reversed(self.mounts()):
            with contextlib.suppress(OSError):
                _mount.umount(target)
        for d in self.cgroup_dirs():
            deadline = time.monotonic() + 2
            while os.path.isdir(d):
                for sub, _dirs, _files in sorted(os.walk(d), key=lambda w: -len(w[0])):
                    with contextlib.suppress(OSError):
                        os.rmdir(sub)
                if not os.path.isdir(d) or time.monotonic() > deadline:
                    break
                time.sleep(0.02)


@pytest.fixture
def box(tmp_path: Path, rootfs: Path, base_spec: dict):  # noqa: ANN201
    b = Box(tmp_path, rootfs, base_spec)
    try:
        yield b
    finally:
        b.cleanup()
    assert not b.mounts(), "mounts left under the bundle"
    assert not b.cgroup_dirs(), "cgroups left behind"
