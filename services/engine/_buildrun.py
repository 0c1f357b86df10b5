"""RUN: one build step's process in a container on the step's snapshot, through runc.

The rootfs is the step's overlay mounted under a bundle of its own; the process
gets Docker's default isolation (capabilities, seccomp, masked paths), the
network the build asked for (a netsvc sandbox on the default bridge, the
host's, or none), and its output is streamed back line by line. Secrets and
cache mounts are bind mounts outside the snapshot, so nothing of them lands
in the layer. Everything made here goes away when the step ends, also on
errors and cancellation.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pallet import errors
from pallet.engine import _rootfs, _security, _spec
from pallet.engine.v1 import engine_pb2 as pb
from pallet.fsutil import write_atomic
from pallet.scopedfs import Root


@dataclass
class RunStep:
    step_id: str
    argv: list[str]
    env: list[str]
    workdir: str
    user: str
    network: str  # "bridge", "host" or "none"
    # Extra OCI mounts (secrets, caches, binds): dicts as _spec takes them.
    mounts: list[dict[str, Any]] = field(default_factory=list)


class Runner:
    def __init__(self, runtime: str, runtime_root: str, cgroup_parent: str, work: str, net: Any,
                 images: Any) -> None:
        self.runtime = runtime
        self.runtime_root = runtime_root
        self.cgroup_parent = cgroup_parent
        self.work = work
        self.net = net  # EngineNetworks or None
        self.images = images

    def run(self, step: RunStep, snapshot: str, alive: Callable[[], bool]) -> Iterator[bytes]:
        """Run the step; yields output chunks; raises InvalidArgument with the exit code on failure."""
        from pallet.shim import _mount

        bundle = os.path.join(self.work, step.step_id)
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(rootfs, mode=0o711, exist_ok=True)
        mounted = False
        stubs: list[str] = []
        netns = ""
        sandboxed = False
        try:
            for m in self.images.mounts(snapshot):
                _mount.mount(m.type or "none", m.source or "none", rootfs, [*m.options, "private"])
                mounted = True
            if step.network == "bridge" and self.net is not None:
                self.net.client.attach(step.step_id, f"build-{step.step_id[:12]}", "bridge")
                sandboxed = True
                netns = self.net.client.setup(step.step_id, [], []).netns_path
            mode = "host" if step.network == "host" else "none" if not netns else "bridge"
            stubs = self._write_bundle(bundle, rootfs, step, mode, netns)
            yield from self._exec(bundle, step, alive)
        finally:
            subprocess.run([self.runtime, "--root", self.runtime_root, "delete", "--force", step.step_id],
                           capture_output=True, check=False)
            for stub in stubs if mounted else []:
                _remove_stub(rootfs, stub)
            if sandboxed:
                with contextlib.suppress(errors.PalletError):
                    self.net.client.release(step.step_id)
            if mounted:
                for _ in range(4):
                    if not _mount.umount(rootfs):
                        break
            shutil.rmtree(bundle, ignore_errors=True)

    def _write_bundle(self, bundle: str, rootfs: str, step: RunStep, mode: str, netns: str) -> list[str]:
        """The bundle's config.json; returns the mount points the runtime will create in the rootfs
        (the first missing component of each), to be removed so they never land in the layer."""
        dirs = [rootfs]
        uid, gid, extra = _rootfs.resolve_user(dirs, step.user) if step.user else (0, 0, [])
        cwd = step.workdir or "/"
        with contextlib.suppress(OSError, ValueError), Root.open(rootfs) as root:
            os.close(root.makedirs(root.resolve(cwd)))  # inside the rootfs: the image's symlinks cannot lead out
        hostname = step.step_id[:12]
        files = {}
        for name, data in (("hostname", f"{hostname}\n".encode()),
                           ("hosts", f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                     f"127.0.1.1\t{hostname}\n".encode()),
                           ("resolv.conf", _resolv(mode))):
            files[name] = os.path.join(bundle, name)
            write_atomic(files[name], data)
        spec = _spec.build(_spec.SpecInput(
            process=_spec.Process(args=step.argv, env=step.env, cwd=cwd, uid=uid, gid=gid, additional_gids=extra),
            hostname=hostname, domainname="", network_mode="host" if mode == "host" else "none",
            netns_path=netns, cgroups_path=f"/{self.cgroup_parent.strip('/')}/build-{step.step_id[:16]}",
            hostname_path=files["hostname"], hosts_path=files["hosts"], resolv_conf_path=files["resolv.conf"],
            mounts=step.mounts))
        hc = pb.HostConfig()
        _security.validate(hc, mode)
        _security.apply(spec, hc)
        spec["root"]["path"] = rootfs
        write_atomic(os.path.join(bundle, "config.json"), json.dumps(spec).encode())
        stubs: set[tuple[str, ...]] = set()
        with Root.open(rootfs) as root:
            for m in spec["mounts"]:
                try:
                    parts = root.resolve(m["destination"])  # chroot semantics, as the runtime resolves it
                except OSError:
                    continue
                for i in range(1, len(parts) + 1):
                    try:
                        root.lstat(parts[:i])
                    except FileNotFoundError:
                        stubs.add(tuple(parts[:i]))
                        break
                    except OSError:
                        break
        return sorted("/".join(p) for p in stubs)

    def _exec(self, bundle: str, step: RunStep, alive: Callable[[], bool]) -> Iterator[bytes]:
        proc = subprocess.Popen([self.runtime, "--root", self.runtime_root, "run", "--bundle", bundle, step.step_id],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                if not alive():
                    subprocess.run([self.runtime, "--root", self.runtime_root, "kill", "--all", step.step_id,
                                    "KILL"], capture_output=True, check=False)
                    proc.wait()
                    raise errors.Unavailable("build cancelled")
                if not sel.select(0.5):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                yield chunk
            code = proc.wait()
        finally:
            sel.close()
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            raise StepFailed(code)


def _remove_stub(rootfs: str, rel: str) -> None:
    """A mount point the runtime made (an empty file, or a directory tree of mount points), removed
    through directory fds inside the rootfs so that no symlink can point the removal elsewhere."""
    parts = rel.split("/")
    with contextlib.suppress(OSError, ValueError), Root.open(rootfs) as root:
        fd = root.walk(parts[:-1])
        try:
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(parts[-1], dir_fd=fd)
            else:
                os.unlink(parts[-1], dir_fd=fd)
        finally:
            os.close(fd)


class StepFailed(errors.InvalidArgument):
    def __init__(self, code: int) -> None:
        super().__init__(f"exit code: {code}")
        self.code = code


def _resolv(mode: str) -> bytes:
    from pallet import resolvconf

    host = resolvconf.host_upstreams()
    return resolvconf.for_container("host" if mode == "host" else "bridge", host, [], [], [])
