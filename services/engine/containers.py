"""Container lifecycle: the engine's domain logic, independent of gRPC.

State lives in SQLite (ContainerStore); each running container has a shim and
a monitor thread that waits on it. No lock is held across a runtime call:
per-container locks guard record updates, and waiting (stop, wait, logs)
happens on a condition variable without holding any of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pallet import errors, log, signals
from pallet.engine import (
    _attach,
    _logs,
    _names,
    _network,
    _restart,
    _rootfs,
    _security,
    _spec,
    _userns,
    _volumes,
)
from pallet.engine._events import EventBus
from pallet.engine._oom import OomWatcher
from pallet.engine._store import ContainerStore
from pallet.engine.v1 import engine_pb2 as pb
from pallet.errors import exit_code_for_start_error
from pallet.fsutil import write_atomic
from pallet.images.v1 import images_pb2 as ipb

IDMAP_LABEL = "pallet.io/idmap"  # imagesvc makes the snapshot's layers owned by UID:GID

Status = pb.ContainerState.Status
RUNNING_STATES = (Status.STATUS_RUNNING, Status.STATUS_PAUSED, Status.STATUS_RESTARTING)
LIVE_STATES = (Status.STATUS_RUNNING, Status.STATUS_PAUSED)  # a shim holds the container
Cond = pb.WaitContainerRequest.Condition


class ImageBackend(Protocol):
    """What the container manager needs from imagesvc."""

    def get_image(self, ref: str) -> ipb.Image: ...
    def prepare(self, key: str, parent: str, labels: dict[str, str] | None = None) -> list[ipb.Mount]: ...
    def mounts(self, key: str) -> list[ipb.Mount]: ...
    def remove_snapshot(self, key: str) -> None: ...


@dataclass
class Paths:
    data_root: str
    exec_root: str

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.data_root, "containers", cid)

    def bundle(self, cid: str) -> str:
        return os.path.join(self.exec_root, "bundles", cid)

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.exec_root, "runc")


@dataclass
class RuntimeConfig:
    runtime: str = "runc"
    cgroup_parent: str = "pallet"
    shim_argv: tuple[str, ...] = ()  # argv prefix to start a shim; empty = this python
    userns_remap: _userns.Remap | None = None  # palletd --userns-remap


def _now_ts() -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromNanoseconds(time.time_ns())
    return ts


class ContainerManager:
    def __init__(
        self, store: ContainerStore, images: ImageBackend, paths: Paths, runtime: RuntimeConfig
    ) -> None:
        self.store = store
        self.images = images
        self.paths = paths
        self.runtime = runtime
        self.log = log.get("containers")
        self._cond = threading.Condition()
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._exit_seq: dict[str, int] = {}
        self._last_exit: dict[str, tuple[int, str]] = {}
        self._removed: set[str] = set()
        self._stopping = False
        self._pending: dict[str, list[_attach.Session]] = {}
        self._restarts: dict[str, threading.Timer] = {}
        self._backoff: dict[str, float] = {}
        self.events = EventBus()
        # Called (outside any lock) with the record of each container that starts or is reattached.
        self.started_hooks: list[Callable[[pb.Container], None]] = []
        self.oom = OomWatcher(self.emit, self.cgroups_path)  # `oom` events while containers run
        self.started_hooks.append(self.oom.watch)
        self.volumes: _volumes.VolumeStore | None = None  # set by palletd (main.py)
        self.net: _network.EngineNetworks | None = None  # set by palletd (main.py)

    def volume_users(self, name: str) -> list[str]:
        """IDs of the containers whose mounts use the named volume."""
        return [c.id for c in self.store.all()
                if any(m.type == "volume" and m.source == name for m in c.mounts)]

    # -- helpers -----------------------------------------------------------

    def _lock(self, cid: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(cid, threading.RLock())

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wait_until(self, pred: Callable[[], bool], timeout: float | None,
                    alive: Callable[[], bool] = lambda: True) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not pred():
                if not alive():
                    return False
                left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _running(self, cid: str) -> bool:
        ctr = self.store.get(cid)
        return ctr is not None and ctr.state.status in LIVE_STATES

    def emit(self, action: str, ctr: pb.Container, **attrs: Any) -> None:
        """A container event carrying its name, image and labels, as Docker's do."""
        self.events.emit("container", action, ctr.id, **dict(ctr.config.labels),
                         name=ctr.name, image=ctr.image, **attrs)

    def cgroups_path(self, cid: str) -> str:
        return f"/{self.runtime.cgroup_parent.strip('/')}/{cid}"

    def require_live(self, ref: str) -> pb.Container:
        ctr = self.store.resolve(ref)
        if ctr.state.status not in LIVE_STATES:
            raise errors.FailedPrecondition(f"Container {ctr.id} is not running")
        return ctr

    def _shim_address(self, cid: str) -> str:
        return os.path.join(self.paths.bundle(cid), "shim.sock")

    def _shim(self, cid: str, timeout: float | None = 10.0) -> Any:
        from pallet.shim.client import ShimClient

        return ShimClient(self._shim_address(cid), timeout=timeout)

    # -- create ------------------------------------------------------------

    def create(self, config: pb.ContainerConfig, name: str = "") -> pb.Container:
        if config.working_dir and not config.working_dir.startswith("/"):
            raise errors.InvalidArgument(
                f"the working directory '{config.working_dir}' is invalid, it needs to be an absolute path")
        for e in config.env:
            if not e or e.startswith("="):
                raise errors.InvalidArgument(f"invalid environment variable: {e!r}")
        _restart.validate(config.restart_policy, config.auto_remove)
        if config.log_config.type not in ("", "json-file", "none"):
            raise errors.InvalidArgument(f'logging driver "{config.log_config.type}" is not supported '
                                         "(use json-file or none)")
        _logs.parse_log_opts(dict(config.log_config.config))
        _attach.parse_detach_keys(config.detach_keys)
        mode, shared = self._network_mode(config)
        mkind = _network.kind(mode)
        remap = self._remap(config, mkind)
        pid_mode, ipc_mode = (self._namespace_mode(config, kind, remap is not None) for kind in ("pid", "ipc"))
        _security.validate(config.host_config, "host" if mkind == "host" else "none")  # fills in defaults too
        _volumes.validate_mounts(config.mounts)
        for spec in config.extra_hosts:
            _network.parse_extra_host(spec)
        _network.port_bindings(config, [])
        image = self.images.get_image(config.image)
        ic = image.config
        if config.entrypoint_set:
            argv = list(config.entrypoint) + list(config.cmd)
        else:
            argv = list(ic.entrypoint) + (list(config.cmd) or list(ic.cmd))
        if not argv:
            raise errors.InvalidArgument("no command specified")

        cid = os.urandom(32).hex()
        if shared is not None:
            hostname = shared.config.hostname
        else:
            hostname = config.hostname or (socket.gethostname() if mkind == "host" else cid[:12])
        env = _merge_env(list(ic.env), list(config.env), hostname, config.tty)

        ctr = pb.Container(
            id=cid,
            image=config.image,
            image_id=image.id,
            created=_now_ts(),
            path=argv[0],
            args=argv[1:],
            env=env,
            working_dir=config.working_dir or ic.working_dir or "/",
            user=config.user or ic.user,
            driver="overlayfs",
        )
        ctr.config.CopyFrom(config)
        ctr.config.network_mode = mode
        ctr.config.host_config.pid_mode = pid_mode
        ctr.config.host_config.ipc_mode = ipc_mode
        ctr.config.hostname = hostname
        if not ctr.config.stop_signal:
            ctr.config.stop_signal = ic.stop_signal or "SIGTERM"
        labels = dict(ic.labels)
        labels.update(config.labels)
        ctr.config.labels.clear()
        ctr.config.labels.update(labels)
        ctr.state.status = Status.STATUS_CREATED
        if remap is not None:
            ctr.idmap.uid, ctr.idmap.gid, ctr.idmap.size = remap.uid, remap.gid, remap.size

        cdir = self.paths.container_dir(cid)
        ctr.log_path = os.path.join(cdir, f"{cid}-json.log")
        files = shared if shared is not None else None
        ctr.hostname_path = files.hostname_path if files else os.path.join(cdir, "hostname")
        ctr.hosts_path = files.hosts_path if files else os.path.join(cdir, "hosts")
        ctr.resolv_conf_path = files.resolv_conf_path if files else os.path.join(cdir, "resolv.conf")
        ctr.bundle_path = self.paths.bundle(cid)

        names_given = bool(name)
        ctr.name = _names.validate(name) if name else _names.random_name()
        if names_given and self.store.find_by_name(ctr.name) is not None:
            raise self.store.name_conflict(ctr.name)
        asked = list(config.mounts)
        asked += self._volumes_from(list(config.volumes_from), {os.path.normpath(m.target) for m in asked})
        os.makedirs(cdir, mode=0o710, exist_ok=True)
        created_anon: list[str] = []
        added = False
        try:
            if files is None:
                write_atomic(ctr.hostname_path, f"{hostname}\n".encode())
                write_atomic(ctr.hosts_path, _network.hosts_file(hostname, mode, [], list(config.extra_hosts)))
                write_atomic(ctr.resolv_conf_path, _network.resolv_conf(mode, mode == "bridge", config))
            rootfs_mounts = self.images.prepare(
                cid, image.chain_id, {IDMAP_LABEL: f"{remap.uid}:{remap.gid}:{remap.size}"} if remap else None)
            # Volumes in use are decided under the volume lock: `volume rm` never
            # removes one between this container taking it and its record landing.
            vlock = self.volumes.lock if self.volumes is not None else contextlib.nullcontext()
            with vlock:
                self._resolve_mounts(ctr, asked, list(ic.volumes), created_anon, rootfs_mounts)
                if remap is not None:
                    _volumes.give_to(ctr.mounts, remap.uid, remap.gid)
                for attempt in range(20):
                    try:
                        self.store.add(ctr)
                        added = True
                        break
                    except errors.AlreadyExists:
                        if names_given or attempt == 19:
                            raise
                        ctr.name = f"{_names.random_name()}{attempt}"
            if mkind == "network":
                ep = self._net().attach(ctr, mode, config.endpoint)
                ctr.network_settings.networks.append(ep)
                self.store.put(ctr)
                write_atomic(ctr.hosts_path, self._hosts(ctr))
        except BaseException:
            if added:
                self.store.delete(cid)
                if mkind == "network" and self.net is not None:
                    self.net.release(cid)
            self._remove_snapshot(cid)
            for vol in created_anon:
                with contextlib.suppress(errors.PalletError, OSError):
                    self._volume_store().remove(vol, force=True)
            shutil.rmtree(cdir, ignore_errors=True)
            raise
        self.log.info("container created", id=cid, name=ctr.name, image=config.image)
        self.emit("create", ctr)
        return ctr

    def _remap(self, config: pb.ContainerConfig, mkind: str) -> _userns.Remap | None:
        """The user-namespace remap this container runs with (none with --userns host)."""
        mode = config.host_config.userns_mode
        if mode not in ("", "host"):
            raise errors.InvalidArgument(f"invalid --userns {mode!r}: the only value is host")
        remap = self.runtime.userns_remap if mode != "host" else None
        if remap is not None and config.host_config.privileged:
            raise errors.InvalidArgument(
                "privileged mode is incompatible with user namespaces. You must run the container in the "
                "host namespace when running privileged mode (--userns host)")
        if remap is not None and mkind == "host":
            raise errors.InvalidArgument("--network host needs the host's user namespace: add --userns host")
        return remap

    def _net(self) -> _network.EngineNetworks:
        if self.net is None:
            raise errors.Unavailable("networking is not available: palletd runs without netsvc")
        return self.net

    def _network_mode(self, config: pb.ContainerConfig) -> tuple[str, pb.Container | None]:
        """The normalized mode, and for container:X the container X whose namespace is shared."""
        mode = _network.normalize(config.network_mode)
        mkind = _network.kind(mode)
        ep = config.endpoint
        if (ep.ipv4_address or ep.ipv6_address or ep.aliases) and mkind != "network":
            raise errors.InvalidArgument("--ip, --ip6 and --network-alias need a bridge or user-defined network")
        if mkind == "network":
            return self._net().check(mode), None
        if mkind == "container":
            if config.hostname:
                raise errors.InvalidArgument("conflicting options: hostname and the network mode")
            if config.port_bindings or config.publish_all_ports:
                raise errors.InvalidArgument(
                    "conflicting options: port publishing and the container type network mode")
            if config.dns or config.extra_hosts or ep.mac_address:
                raise errors.InvalidArgument(
                    "conflicting options: dns, add-host and mac-address and the container type network mode")
            other = self.store.resolve(mode[len(_network.CONTAINER_PREFIX):])
            if _network.kind(other.config.network_mode) == "container":
                raise errors.InvalidArgument(f"cannot join the network of container {other.name}: it shares "
                                             "another container's network itself; join that one")
            return _network.CONTAINER_PREFIX + other.id, other
        return mode, None

    def _namespace_mode(self, config: pb.ContainerConfig, kind: str, remapped: bool) -> str:
        """--pid / --ipc checked, container:NAME_OR_ID made container:<id> (kind is "pid" or "ipc")."""
        mode = getattr(config.host_config, f"{kind}_mode")
        target = _spec.namespace_target(kind, mode)
        if kind == "ipc":
            _spec.check_ipc_sysctls(dict(config.host_config.sysctls), mode)
        if mode == "host" and remapped:
            raise errors.InvalidArgument(f"--{kind} host needs the host's user namespace: add --userns host")
        if not target:
            return str(mode)
        other = self.store.resolve(target)
        if remapped != other.HasField("idmap"):
            raise errors.InvalidArgument(f"cannot share the {kind.upper()} namespace of container {other.name}: "
                                         "one of the two runs with --userns host, the other not")
        return _spec.CONTAINER_PREFIX + other.id

    def _joined_namespaces(self, ctr: pb.Container) -> dict[str, str]:
        """For --pid/--ipc container:X, {"pid"/"ipc": the namespace path of X's init} (X must be
        running); with a user namespace, X's is joined too, as the others belong to it."""
        out: dict[str, str] = {}
        hc = ctr.config.host_config
        for kind, mode in (("pid", hc.pid_mode), ("ipc", hc.ipc_mode)):
            if not mode.startswith(_spec.CONTAINER_PREFIX):
                continue
            other_id = mode[len(_spec.CONTAINER_PREFIX):]
            other = self.store.get(other_id)
            if other is None or other.state.status not in LIVE_STATES or not other.state.pid:
                raise _spec.join_error(kind, other.name if other is not None else other_id[:12])
            out[kind] = f"/proc/{other.state.pid}/ns/{kind}"
            if ctr.HasField("idmap"):
                out["user"] = f"/proc/{other.state.pid}/ns/user"
        return out

    def _hosts(self, ctr: pb.Container) -> bytes:
        return _network.hosts_file(ctr.config.hostname, ctr.config.network_mode,
                                   list(ctr.network_settings.networks), list(ctr.config.extra_hosts))

    def _volume_store(self) -> _volumes.VolumeStore:
        if self.volumes is None:
            raise errors.Unavailable("volumes are not available")
        return self.volumes

    def _volumes_from(self, specs: list[str], taken: set[str]) -> list[pb.Mount]:
        """The volume and bind mounts of other containers (`--volumes-from CTR[:ro|:rw]`)."""
        out: list[pb.Mount] = []
        for spec in specs:
            ref, _, mode = spec.partition(":")
            if mode not in ("", "ro", "rw") or not ref:
                raise errors.InvalidArgument(f"invalid --volumes-from '{spec}': want CONTAINER[:ro|:rw]")
            src = self.store.resolve(ref)
            for m in src.mounts:
                target = os.path.normpath(m.target)
                if m.type not in ("volume", "bind") or target in taken:
                    continue
                taken.add(target)
                read_only = m.read_only if not mode else mode == "ro"
                out.append(pb.Mount(type=m.type, source=m.source, target=target, read_only=read_only))
        return out

    def _resolve_mounts(self, ctr: pb.Container, asked: list[pb.Mount], image_volumes: list[str],
                        created_anon: list[str], rootfs_mounts: list[ipb.Mount]) -> None:
        """Fill ctr.mounts: create volumes (anonymous ones for the image's Volumes
        not otherwise mounted) and -v bind sources; populate new volumes."""
        targets = {os.path.normpath(m.target) for m in asked}
        for path in image_volumes:
            if os.path.normpath(path) not in targets:
                asked.append(pb.Mount(type="volume", target=os.path.normpath(path)))
                targets.add(os.path.normpath(path))
        if not asked:
            return
        store = self._volume_store()
        todo: list[tuple[str, str, str]] = []
        for m in asked:
            r = pb.Mount()
            r.CopyFrom(m)
            if m.type == "volume":
                labels = {} if m.source else {_volumes.ANON_LABEL: ""}
                vol, new = store.create(m.source, labels)
                if new and not m.source:
                    created_anon.append(vol.name)
                r.source, r.anonymous, r.path = vol.name, not m.source, vol.mountpoint
                if store.mark_populated(vol.name) and not m.no_copy and not vol.options:
                    todo.append((vol.name, r.target, vol.mountpoint))
            elif m.type == "bind":
                if m.create_source and not os.path.exists(m.source):
                    os.makedirs(m.source, mode=0o755, exist_ok=True)
                r.path = m.source
            ctr.mounts.append(r)
        if todo:
            _volumes.populate([(x.type, x.source, list(x.options)) for x in rootfs_mounts],
                              os.path.join(self.paths.container_dir(ctr.id), "populate"),
                              [(t, d) for _n, t, d in todo])

    # -- start -------------------------------------------------------------

    def start(self, ref: str, by_user: bool = True) -> pb.Container:
        ctr = self.store.resolve(ref)
        with self._lock(ctr.id):
            ctr = self.store.resolve(ctr.id)
            if ctr.state.status in LIVE_STATES:
                return ctr
            self._cancel_restart(ctr.id)
            try:
                pid, started = self._spawn(ctr)
            except errors.PalletError as exc:
                ctr.state.status = (Status.STATUS_EXITED if ctr.state.HasField("started_at")
                                    else Status.STATUS_CREATED)
                ctr.state.error = str(exc)
                ctr.state.exit_code = exit_code_for_start_error(str(exc))
                self.store.put(ctr)
                self._fail_pending(ctr.id, ctr.state.exit_code, str(exc))
                if ctr.config.auto_remove:
                    self._remove_now(ctr.id, volumes=True)
                raise
            if by_user:
                ctr.stopped_by_user = False
            ctr.state.status = Status.STATUS_RUNNING
            ctr.state.pid = pid
            ctr.state.exit_code = 0
            ctr.state.error = ""
            ctr.state.started_at.CopyFrom(started)
            ctr.state.ClearField("finished_at")
            self.store.put(ctr)
        self._watch(ctr.id)
        self._notify()
        self.log.info("container started", id=ctr.id, pid=pid)
        self.emit("start", ctr)
        self._run_started_hooks(ctr)
        return ctr

    def _run_started_hooks(self, ctr: pb.Container) -> None:
        for hook in self.started_hooks:
            try:
                hook(ctr)
            except Exception:  # noqa: BLE001 - a hook must not fail a start
                self.log.exception("start hook failed", id=ctr.id)

    def _spawn(self, ctr: pb.Container) -> tuple[int, Any]:
        bundle = self.paths.bundle(ctr.id)
        if os.path.isdir(bundle):
            for leftover in ("exit.json", "init.pid", "shim.pid", "shim.sock"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(bundle, leftover))
        os.makedirs(os.path.join(bundle, "rootfs"), mode=0o711, exist_ok=True)
        joined = self._joined_namespaces(ctr)
        netns = self._network_namespace(ctr)
        try:
            return self._spawn_in(ctr, bundle, netns, joined)
        except BaseException:
            if _network.kind(ctr.config.network_mode) == "network":
                self._net().teardown(ctr.id)
                ctr.network_settings.sandbox_key = ""
                del ctr.network_settings.ports[:]
            raise

    def _network_namespace(self, ctr: pb.Container) -> str:
        """The namespace path the spec joins ("" for a new one, or none with host);
        for networks, netsvc sets it up and ctr.network_settings records the result."""
        mkind = _network.kind(ctr.config.network_mode)
        if mkind == "container":
            other = self.store.get(ctr.config.network_mode[len(_network.CONTAINER_PREFIX):])
            if other is None or other.state.status not in LIVE_STATES or not other.state.pid:
                raise errors.FailedPrecondition(
                    f"cannot join network of a non running container: {ctr.config.network_mode}")
            return f"/proc/{other.state.pid}/ns/net"
        if mkind != "network" or ctr.HasField("idmap"):
            return ""  # a remapped container's namespace is made by the runtime, wired after create
        return self._setup_network(ctr, "")

    def _setup_network(self, ctr: pb.Container, adopt: str) -> str:
        exposed = list(self.images.get_image(ctr.image_id).config.exposed_ports) \
            if ctr.config.publish_all_ports else []
        sb = self._net().setup(ctr, exposed, adopt)
        ns = ctr.network_settings
        ns.sandbox_key = sb.netns_path
        del ns.ports[:]
        ns.ports.extend(sb.ports)
        del ns.networks[:]
        ns.networks.extend(sb.endpoints)
        return sb.netns_path

    def _spawn_in(self, ctr: pb.Container, bundle: str, netns: str, joined: dict[str, str]) -> tuple[int, Any]:
        from pallet.shim.client import start_shim

        mounts = self.images.mounts(ctr.id)
        for m in ctr.mounts:
            if m.type == "volume":
                self._volume_store().ensure_mounted(m.source)
        dirs = _rootfs.layer_dirs([(m.type, m.source, list(m.options)) for m in mounts])
        uid, gid, extra = _rootfs.resolve_user(dirs, ctr.user) if ctr.user else (0, 0, [])
        if ctr.working_dir != "/" and not _rootfs.exists(dirs, ctr.working_dir):
            shift = (ctr.idmap.uid, ctr.idmap.gid) if ctr.HasField("idmap") else (0, 0)
            _ensure_dir(dirs[0], ctr.working_dir, uid + shift[0], gid + shift[1])
        spec = _spec.build(
            _spec.SpecInput(
                process=_spec.Process(
                    args=[ctr.path, *ctr.args], env=list(ctr.env), cwd=ctr.working_dir,
                    uid=uid, gid=gid, additional_gids=extra, terminal=ctr.config.tty,
                ),
                hostname=ctr.config.hostname,
                domainname=ctr.config.domainname,
                network_mode=ctr.config.network_mode,
                netns_path=netns,
                cgroups_path=self.cgroups_path(ctr.id),
                hostname_path=ctr.hostname_path,
                hosts_path=ctr.hosts_path,
                resolv_conf_path=ctr.resolv_conf_path,
                mounts=_volumes.spec_mounts(ctr.mounts),
                readonly_rootfs=ctr.config.host_config.read_only_rootfs,
                pid_mode=ctr.config.host_config.pid_mode,
                ipc_mode=ctr.config.host_config.ipc_mode,
                pid_ns_path=joined.get("pid", ""),
                ipc_ns_path=joined.get("ipc", ""),
            )
        )
        hc = ctr.config.host_config
        _security.apply(spec, hc, _security.resolve_groups(dirs, hc.group_add) if hc.group_add else ())
        propagation = _volumes.rootfs_propagation(ctr.mounts)
        if propagation:
            spec["linux"]["rootfsPropagation"] = propagation
        if ctr.HasField("idmap"):
            m = ctr.idmap
            _userns.apply(spec, _userns.Remap(m.uid, m.gid, m.size))
            if "user" in joined:  # another container's PID/IPC namespace belongs to its user namespace
                for ns in spec["linux"]["namespaces"]:
                    if ns["type"] == "user":
                        ns["path"] = joined["user"]
        write_atomic(os.path.join(bundle, "config.json"), json.dumps(spec).encode())
        write_atomic(
            os.path.join(bundle, "mounts.json"),
            json.dumps([{"type": m.type, "source": m.source, "options": list(m.options)}
                        for m in mounts]).encode(),
        )
        started = _now_ts()
        max_size, max_files = _logs.parse_log_opts(dict(ctr.config.log_config.config))
        reply = start_shim(
            id=ctr.id,
            bundle=bundle,
            runtime=self.runtime.runtime,
            runtime_root=self.paths.runtime_root,
            log_path=ctr.log_path,
            argv_prefix=list(self.runtime.shim_argv) or None,
            create_only=True,
            stdin=ctr.config.open_stdin,
            **_log_kwargs(ctr.config.log_config.type, max_size, max_files),
        )
        shim = self._shim(ctr.id)
        try:
            if ctr.HasField("idmap") and _network.kind(ctr.config.network_mode) == "network":
                # Its network namespace belongs to its user namespace (so it may mount sysfs and
                # exec can join both): netsvc wires the one runc made, between create and start.
                self._setup_network(ctr, f"/proc/{int(reply['pid'])}/ns/net")
            # Attach waiting clients between create and start: no output is lost.
            for session in self._pending.pop(ctr.id, []):
                session.connect(shim.attach(stdin=session.want_stdin, stdout=session.wants_output,
                                            stderr=session.wants_output))
                if ctr.config.tty and session.initial_size and all(session.initial_size):
                    shim.resize_pty(*session.initial_size)  # sized before the process starts
            shim.start()
        except errors.PalletError:
            with contextlib.suppress(errors.PalletError):
                shim.kill(signal.SIGKILL, all=True)
            self._release_shim(ctr.id)
            raise
        return int(reply["pid"]), started

    # -- exits -------------------------------------------------------------

    def _watch(self, cid: str) -> None:
        threading.Thread(target=self._monitor, args=(cid,), name=f"monitor-{cid[:12]}",
                         daemon=True).start()

    def _monitor(self, cid: str) -> None:
        """Wait for the container's exit through its shim, then record it."""
        status, error, oom = 255, "", False
        try:
            res = self._shim(cid, timeout=None).wait()
            status, oom = res.exit_status, res.oom_killed
        except errors.PalletError as exc:
            if self._stopping:
                return
            saved = self._read_exit_file(cid)
            if saved is None:
                error = f"container's shim is gone, exit status unknown ({exc})"
                self.log.warning("shim died; killing its container", id=cid)
                self._cleanup_runtime(cid)  # nobody holds its stdio or would reap it
            else:
                status = saved
        self._on_exit(cid, status, error, oom)

    def _read_exit_file(self, cid: str) -> int | None:
        try:
            with open(os.path.join(self.paths.bundle(cid), "exit.json"), "rb") as f:
                return int(json.load(f)["exit_status"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _on_exit(self, cid: str, status: int, error: str = "", oom: bool = False) -> None:
        with self._lock(cid):
            oom_reported = self.oom.forget(cid)
            oom = oom or oom_reported
            ctr = self.store.get(cid)
            if ctr is None or ctr.state.status not in LIVE_STATES:
                return
            ctr.state.status = Status.STATUS_EXITED
            ctr.state.exit_code = status
            ctr.state.pid = 0
            ctr.state.error = error
            ctr.state.oom_killed = oom
            ctr.state.finished_at.CopyFrom(_now_ts())
            delay = self._plan_restart(ctr)
            if delay is not None:
                ctr.state.status = Status.STATUS_RESTARTING
            if _network.kind(ctr.config.network_mode) == "network":
                self._net().teardown(cid)
                ctr.network_settings.sandbox_key = ""
                del ctr.network_settings.ports[:]
            self.store.put(ctr)
            self._release_shim(cid)
            self._unmount_unused_volumes(ctr)
            self.log.info("container exited", id=cid, exit_code=status, oom_killed=oom)
            if oom and not oom_reported:
                self.emit("oom", ctr)
            self.emit("die", ctr, exitCode=str(status))  # before waiters (stop, wait) wake up
            with self._cond:
                self._exit_seq[cid] = self._exit_seq.get(cid, 0) + 1
                self._last_exit[cid] = (status, error)
                self._cond.notify_all()
            if delay is not None:
                self._schedule_restart(cid, delay)
            elif ctr.config.auto_remove:
                self._remove_now(cid, volumes=True)

    def _unmount_unused_volumes(self, ctr: pb.Container) -> None:
        """Volumes with driver options are unmounted when no running container uses them."""
        if self.volumes is None:
            return
        for m in ctr.mounts:
            if m.type != "volume" or not self.volumes.exists(m.source) or not self.volumes.get(m.source).options:
                continue
            if not any(c.id != ctr.id and c.state.status in LIVE_STATES and any(
                    x.type == "volume" and x.source == m.source for x in c.mounts) for c in self.store.all()):
                self.volumes.unmount(m.source)

    # -- restart policies --------------------------------------------------

    def _plan_restart(self, ctr: pb.Container) -> float | None:
        """Seconds until the policy restarts this exited container, or None."""
        if self._stopping or ctr.stopped_by_user:
            return None
        if not _restart.should_restart(ctr.config.restart_policy, ctr.state.exit_code, ctr.restart_count):
            return None
        ran = (ctr.state.finished_at.ToNanoseconds() - ctr.state.started_at.ToNanoseconds()) / 1e9
        delay = _restart.next_delay(self._backoff.get(ctr.id), ran)
        self._backoff[ctr.id] = delay
        return delay

    def _schedule_restart(self, cid: str, delay: float) -> None:
        timer = threading.Timer(delay, self._restart_now, args=(cid,))
        timer.daemon = True
        self._restarts[cid] = timer
        timer.start()

    def _restart_now(self, cid: str) -> None:
        with self._lock(cid):
            self._restarts.pop(cid, None)
            ctr = self.store.get(cid)
            if ctr is None or ctr.state.status != Status.STATUS_RESTARTING or self._stopping:
                return
            ctr.restart_count += 1
            self.store.put(ctr)
        try:
            self.start(cid, by_user=False)
            self.emit("restart", ctr)
        except errors.PalletError as exc:
            self.log.warning("restart failed", id=cid, error=str(exc))
            latest = self.store.get(cid)
            if latest is not None:
                with self._lock(cid):
                    latest.state.status = Status.STATUS_RUNNING  # let _on_exit plan the next try
                    self.store.put(latest)
                self._on_exit(cid, latest.state.exit_code or 128, str(exc))

    def _cancel_restart(self, cid: str) -> bool:
        timer = self._restarts.pop(cid, None)
        if timer is not None:
            timer.cancel()
        return timer is not None

    def _stop_restarting(self, ctr: pb.Container) -> None:
        """A container waiting to be restarted is simply marked exited."""
        with self._lock(ctr.id):
            self._cancel_restart(ctr.id)
            latest = self.store.get(ctr.id)
            if latest is not None and latest.state.status == Status.STATUS_RESTARTING:
                latest.state.status = Status.STATUS_EXITED
                latest.stopped_by_user = True
                self.store.put(latest)
        self._notify()

    def _release_shim(self, cid: str) -> None:
        """Tell the shim we have the exit status; it cleans up and exits."""
        try:
            self._shim(cid, timeout=5).delete()
        except errors.PalletError:
            self._cleanup_runtime(cid)

    def _cleanup_runtime(self, cid: str) -> None:
        """Best effort when the shim is gone: runtime state and rootfs mounts."""
        import subprocess

        subprocess.run(
            [self.runtime.runtime, "--root", self.paths.runtime_root, "delete", "--force", cid],
            capture_output=True, check=False,
        )
        rootfs = os.path.join(self.paths.bundle(cid), "rootfs")
        _umount_all(rootfs)

    # -- stop / kill -------------------------------------------------------

    def kill(self, ref: str, sig: str | int = "SIGKILL") -> None:
        ctr = self.store.resolve(ref)
        num = signals.parse(sig or "SIGKILL")
        if ctr.state.status == Status.STATUS_RESTARTING:
            self._stop_restarting(ctr)
            return
        if ctr.state.status not in LIVE_STATES:
            raise errors.FailedPrecondition(f"Cannot kill container: {ref}: container {ctr.id} is not running")
        if num in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            self._mark_stopped_by_user(ctr.id)
        self._shim(ctr.id).kill(num, all=num == signal.SIGKILL)
        self.emit("kill", ctr, signal=str(num))

    def _mark_stopped_by_user(self, cid: str) -> None:
        with self._lock(cid):
            latest = self.store.get(cid)
            if latest is not None and not latest.stopped_by_user:
                latest.stopped_by_user = True
                self.store.put(latest)

    def stop(self, ref: str, timeout: int | None = None, sig: str = "") -> None:
        ctr = self.store.resolve(ref)
        self._stop(ctr, timeout, sig)
        self.emit("stop", ctr)

    def _stop(self, ctr: pb.Container, timeout: int | None, sig: str) -> None:
        if ctr.state.status == Status.STATUS_RESTARTING:
            self._stop_restarting(ctr)
            return
        if ctr.state.status not in LIVE_STATES:
            return
        self._mark_stopped_by_user(ctr.id)
        if ctr.state.status == Status.STATUS_PAUSED:
            sig = "SIGKILL"  # a frozen process cannot handle its stop signal
        num = signals.parse(sig or ctr.config.stop_signal or "SIGTERM")
        if timeout is None:
            timeout = ctr.config.stop_timeout if ctr.config.HasField("stop_timeout") else 10
        cid = ctr.id
        try:
            if timeout != 0 or num != signal.SIGKILL:
                self._shim(cid).kill(num)
            if timeout < 0 or self._wait_until(lambda: not self._running(cid), timeout):
                return
            self.log.info("container did not stop in time, killing", id=cid, timeout=timeout)
            self._shim(cid).kill(signal.SIGKILL, all=True)
        except errors.FailedPrecondition:
            pass  # exited meanwhile
        if not self._wait_until(lambda: not self._running(cid), 30):
            raise errors.Unavailable(f"container {cid[:12]} did not exit after SIGKILL")

    # -- remove ------------------------------------------------------------

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        ctr = self.store.resolve(ref)
        if ctr.state.status in RUNNING_STATES:
            if not force:
                raise errors.FailedPrecondition(
                    f"You cannot remove a running container {ctr.id}. Stop the container before "
                    "attempting removal or force remove")
            self.stop(ctr.id, timeout=0, sig="SIGKILL")
        with self._lock(ctr.id):
            if self.store.get(ctr.id) is None:
                return
            self._remove_now(ctr.id, volumes=volumes)

    def _remove_now(self, cid: str, volumes: bool = False) -> None:
        self._cancel_restart(cid)
        self._backoff.pop(cid, None)
        ctr = self.store.get(cid)
        if ctr is not None and _network.kind(ctr.config.network_mode) == "network" and self.net is not None:
            self.net.release(cid)
        self._remove_snapshot(cid)
        shutil.rmtree(self.paths.bundle(cid), ignore_errors=True)
        shutil.rmtree(self.paths.container_dir(cid), ignore_errors=True)
        self.store.delete(cid)
        with self._cond:
            self._removed.add(cid)
            self._cond.notify_all()
        with self._locks_guard:
            self._locks.pop(cid, None)
        self.log.info("container removed", id=cid)
        if ctr is not None:
            self.emit("destroy", ctr)
        if ctr is not None and volumes and self.volumes is not None:
            for m in ctr.mounts:
                if m.type == "volume" and m.anonymous:
                    with contextlib.suppress(errors.PalletError, OSError):
                        self.volumes.remove(m.source, force=True)

    def _remove_snapshot(self, cid: str) -> None:
        with contextlib.suppress(errors.NotFound):
            self.images.remove_snapshot(cid)

    # -- wait --------------------------------------------------------------

    def wait(self, ref: str, condition: int = Cond.CONDITION_NOT_RUNNING,
             alive: Callable[[], bool] = lambda: True) -> tuple[int, str]:
        try:
            ctr = self.store.resolve(ref)
        except errors.NotFound:
            if ref in self._removed and ref in self._last_exit:
                return self._last_exit[ref]  # auto-removed just before the call
            raise
        cid = ctr.id
        with self._cond:
            seq = self._exit_seq.get(cid, 0)
        if condition == Cond.CONDITION_REMOVED:
            self._wait_until(lambda: cid in self._removed or self.store.get(cid) is None, None, alive)
            code, err = self._last_exit.get(cid, (ctr.state.exit_code, ctr.state.error))
            return code, err
        if condition == Cond.CONDITION_NOT_RUNNING and ctr.state.status not in RUNNING_STATES:
            return ctr.state.exit_code, ctr.state.error
        self._wait_until(lambda: self._exit_seq.get(cid, 0) != seq or cid in self._removed, None, alive)
        if self._exit_seq.get(cid, 0) != seq:
            return self._last_exit[cid]
        latest = self.store.get(cid)
        return (latest.state.exit_code, latest.state.error) if latest else (ctr.state.exit_code, "")

    # -- queries -----------------------------------------------------------

    def inspect(self, ref: str) -> pb.Container:
        return self.store.resolve(ref)

    def list(self, all_: bool = False, filters: list[str] | None = None, limit: int = 0) -> list[pb.Container]:
        parsed = _parse_filters(filters or [])
        out = []
        for ctr in self.store.all():
            if not all_ and ctr.state.status not in RUNNING_STATES and "status" not in parsed:
                continue
            if _matches(ctr, parsed):
                out.append(ctr)
        return out[:limit] if limit > 0 else out

    def logs(self, req: pb.LogsRequest, alive: Callable[[], bool] = lambda: True) -> Iterator[_logs.Entry]:
        ctr = self.store.resolve(req.id)
        cid = ctr.id
        want_out = req.stdout or not (req.stdout or req.stderr)
        want_err = req.stderr or not (req.stdout or req.stderr)

        def done() -> bool:
            return not alive() or not self._running(cid)

        def wait(t: float) -> None:
            with self._cond:
                self._cond.wait(t)

        for e in _logs.read(
            ctr.log_path,
            tail=req.tail,
            since_ns=req.since.ToNanoseconds() if req.HasField("since") else 0,
            until_ns=req.until.ToNanoseconds() if req.HasField("until") else 0,
            follow=req.follow,
            done=done,
            wait=wait,
        ):
            if (e.stream == "stderr" and want_err) or (e.stream != "stderr" and want_out):
                yield e

    def attach(self, requests: Iterator[pb.AttachRequest], alive: Callable[[], bool] = lambda: True
               ) -> Iterator[_attach.Output | tuple[int, str] | str | None]:
        """Yields None once attached, then output, then (exit_code, error) or DETACHED.

        A container that has not started yet is attached when it starts,
        between the runtime's create and start, so nothing it writes is lost.
        """
        first = next(iter(requests))
        ctr = self.store.resolve(first.id)
        cid = ctr.id
        if ctr.state.status in (Status.STATUS_EXITED, Status.STATUS_DEAD) or (
                ctr.state.status == Status.STATUS_CREATED and ctr.state.HasField("finished_at")):
            raise errors.FailedPrecondition("You cannot attach to a stopped container, start it first")
        if first.stdin and not ctr.config.open_stdin:
            first.stdin = False  # like docker: stdin only if the container keeps it open
        session = _attach.Session(
            requests, first, first.detach_keys or ctr.config.detach_keys,
            on_resize=lambda w, h: self._shim(cid).resize_pty(w, h))
        with self._lock(cid):
            ctr = self.store.resolve(cid)
            with self._cond:
                seq = self._exit_seq.get(cid, 0)
            if ctr.state.status in LIVE_STATES:
                session.connect(self._shim(cid).attach(
                    stdin=session.want_stdin, stdout=session.wants_output, stderr=session.wants_output))
            else:
                self._pending.setdefault(cid, []).append(session)
        try:
            yield None
            if first.logs:
                for e in _logs.read(ctr.log_path):
                    if (e.stream == "stderr" and session.want_stderr) or (
                            e.stream != "stderr" and session.want_stdout):
                        yield _attach.Output(e.stream, e.data, e.time_ns)
            if (yield from _attach.relay(session, alive)):
                yield self._exit_after(cid, seq, alive)
        finally:
            session.close()
            with self._lock(cid):
                if session in self._pending.get(cid, []):
                    self._pending[cid].remove(session)

    def _exit_after(self, cid: str, seq: int, alive: Callable[[], bool]) -> tuple[int, str]:
        """The exit recorded after sequence number seq (waiting for it)."""
        self._wait_until(lambda: self._exit_seq.get(cid, 0) != seq or cid in self._removed, None, alive)
        if self._exit_seq.get(cid, 0) != seq:
            return self._last_exit[cid]
        return 0, "container was removed"

    def _fail_pending(self, cid: str, code: int, error: str) -> None:
        with self._cond:
            self._exit_seq[cid] = self._exit_seq.get(cid, 0) + 1
            self._last_exit[cid] = (code, error)
            self._cond.notify_all()
        for session in self._pending.pop(cid, []):
            session.events.put(_attach.END)

    def resize(self, ref: str, width: int, height: int) -> None:
        ctr = self.store.resolve(ref)
        if ctr.state.status not in LIVE_STATES:
            raise errors.FailedPrecondition(f"container {ctr.id[:12]} is not running")
        self._shim(ctr.id).resize_pty(width, height)

    # -- pause / restart / rename ------------------------------------------

    def pause(self, ref: str) -> None:
        ctr = self.store.resolve(ref)
        with self._lock(ctr.id):
            ctr = self.store.resolve(ctr.id)
            if ctr.state.status == Status.STATUS_PAUSED:
                raise errors.FailedPrecondition(f"container {ctr.id} is already paused")
            if ctr.state.status != Status.STATUS_RUNNING:
                raise errors.FailedPrecondition(f"container {ctr.id} is not running")
            self._shim(ctr.id).pause()
            ctr.state.status = Status.STATUS_PAUSED
            self.store.put(ctr)
        self.emit("pause", ctr)

    def unpause(self, ref: str) -> None:
        ctr = self.store.resolve(ref)
        with self._lock(ctr.id):
            ctr = self.store.resolve(ctr.id)
            if ctr.state.status != Status.STATUS_PAUSED:
                raise errors.FailedPrecondition(f"container {ctr.id} is not paused")
            self._shim(ctr.id).resume()
            ctr.state.status = Status.STATUS_RUNNING
            self.store.put(ctr)
        self.emit("unpause", ctr)

    def restart(self, ref: str, timeout: int | None = None) -> None:
        ctr = self.store.resolve(ref)
        self._stop(ctr, timeout, "")
        self.start(ctr.id)
        self.emit("restart", ctr)

    def rename(self, ref: str, new_name: str) -> None:
        new_name = _names.validate(new_name)
        ctr = self.store.resolve(ref)
        with self._lock(ctr.id):
            ctr = self.store.resolve(ctr.id)
            old = ctr.name
            if old == new_name:
                raise errors.InvalidArgument("Renaming a container with the same name as its current name")
            if self.store.find_by_name(new_name) is not None:
                raise self.store.name_conflict(new_name)
            ctr.name = new_name
            for ep in ctr.network_settings.networks:
                ep.container_name = new_name
                if old.lower() in ep.dns_names:
                    ep.dns_names[list(ep.dns_names).index(old.lower())] = new_name.lower()
            self.store.put(ctr)
            if _network.kind(ctr.config.network_mode) == "network":
                self._net().client.rename(ctr.id, new_name)
        self.emit("rename", ctr, oldName="/" + old)

    # -- networks ------------------------------------------------------------

    def connect(self, network: str, ref: str, epc: pb.EndpointConfig) -> None:
        """`network connect`: one more endpoint, wired at once when the container runs."""
        ctr = self.store.resolve(ref)
        if _network.kind(ctr.config.network_mode) != "network":
            raise errors.FailedPrecondition(
                f"container {ctr.name} cannot be connected to a network: it uses network mode "
                f"{ctr.config.network_mode.split(':')[0]}")
        with self._lock(ctr.id):
            ep = self._net().attach(ctr, network, epc)
            latest = self.store.get(ctr.id) or ctr
            latest.network_settings.networks.append(ep)
            if latest.state.status in LIVE_STATES:
                sb = self._net().client.get(ctr.id)
                del latest.network_settings.networks[:]
                latest.network_settings.networks.extend(sb.endpoints)
            self.store.put(latest)
            _network.write_in_place(latest.hosts_path, self._hosts(latest))
        self.events.emit("network", "connect", ep.network_id, container=ctr.id, name=ep.network_name)

    def disconnect(self, network: str, ref: str, force: bool = False) -> None:
        try:
            ctr = self.store.resolve(ref)
        except errors.NotFound:
            if not force:
                raise
            return
        with self._lock(ctr.id):
            name = self._net().check(network)
            self._net().client.detach(ctr.id, network, force)
            latest = self.store.get(ctr.id) or ctr
            keep = [ep for ep in latest.network_settings.networks if ep.network_name != name]
            del latest.network_settings.networks[:]
            latest.network_settings.networks.extend(keep)
            self.store.put(latest)
            _network.write_in_place(latest.hosts_path, self._hosts(latest))
        self.events.emit("network", "disconnect", network, container=ctr.id, name=name)

    # -- daemon start / stop -----------------------------------------------

    def recover(self) -> None:
        """Reconnect to the shims of containers that ran before palletd (re)started.

        Exits that happened meanwhile are recorded with their real status (the
        shim keeps it until acknowledged); a shim that is gone (killed, or /run
        wiped by a reboot) leaves exit.json or, failing that, exit code 255.
        Restart policies then apply as for any exit.
        """
        if self.net is not None:
            # First, while nothing is starting: sandboxes of containers recorded as stopped, and
            # endpoints of removed ones, go (a restart scheduled below must not lose its new one).
            every = self.store.all()
            self.net.reconcile([c.id for c in every], [c.id for c in every if c.state.status in LIVE_STATES])
        for ctr in self.store.all():
            cid = ctr.id
            if ctr.state.status == Status.STATUS_RESTARTING:
                self._schedule_restart(cid, _restart.INITIAL_DELAY)
            elif ctr.state.status in LIVE_STATES:
                self._reattach(ctr)
            elif ctr.state.status == Status.STATUS_EXITED and _restart.on_daemon_start(
                    ctr.config.restart_policy, ctr.stopped_by_user):
                try:
                    self.start(cid, by_user=False)
                except errors.PalletError as exc:
                    self.log.warning("restart on daemon start failed", id=cid, error=str(exc))

    def _reattach(self, ctr: pb.Container) -> None:
        cid = ctr.id
        try:
            st = self._shim(cid, timeout=2).state()
        except errors.PalletError as exc:
            saved = self._read_exit_file(cid)
            self.log.warning("shim unreachable on recovery", id=cid, error=str(exc))
            self._cleanup_runtime(cid)
            self._on_exit(cid, 255 if saved is None else saved,
                          "" if saved is not None else "container's shim is gone, exit status unknown")
            return
        if st.status == 3:  # TASK_STATUS_STOPPED: it exited while palletd was away
            self._on_exit(cid, st.exit_status, oom=st.oom_killed)
            return
        self.log.info("reattached to running container", id=cid, pid=st.pid)
        self._watch(cid)
        self._run_started_hooks(ctr)

    def shutdown(self) -> None:
        """Stop watching; running containers and their shims are left alone."""
        self._stopping = True
        self.oom.stop()


def _log_kwargs(driver: str, max_size: int, max_files: int) -> dict[str, Any]:
    """start_shim keywords for the container's log configuration."""
    return {"log_driver": driver or "json-file", "log_max_size": max_size, "log_max_files": max_files}


def _merge_env(image_env: list[str], user_env: list[str], hostname: str, tty: bool) -> list[str]:
    merged: dict[str, str] = {}
    for item in image_env:
        k, _, v = item.partition("=")
        merged[k] = v
    merged.setdefault("PATH", _spec.DEFAULT_PATH)
    merged["HOSTNAME"] = hostname
    if tty:
        merged.setdefault("TERM", "xterm")
    for item in user_env:
        k, sep, v = item.partition("=")
        merged[k] = v if sep else os.environ.get(k, "")
    return [f"{k}={v}" for k, v in merged.items()]


def _ensure_dir(upper: str, path: str, uid: int, gid: int) -> None:
    """mkdir -p path inside a layer directory without following symlinks."""
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in [p for p in path.split("/") if p and p != "."]:
            if part == "..":
                raise errors.InvalidArgument(f"invalid working directory {path}")
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                os.chown(part, uid, gid, dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                pass
            try:
                nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                raise errors.InvalidArgument(f"cannot create working directory {path}: {exc.strerror}") from None
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)


def _umount_all(target: str) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(8):
        if libc.umount2(target.encode(), 2) != 0:  # MNT_DETACH
            break


def _parse_filters(filters: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in ("name", "id", "label", "status", "ancestor", "exited"):
            raise errors.InvalidArgument(f"invalid filter '{f}'")
        out.setdefault(key, []).append(value)
    return out


_STATUS_NAMES = {
    Status.STATUS_CREATED: "created", Status.STATUS_RUNNING: "running", Status.STATUS_PAUSED: "paused",
    Status.STATUS_RESTARTING: "restarting", Status.STATUS_REMOVING: "removing",
    Status.STATUS_EXITED: "exited", Status.STATUS_DEAD: "dead",
}


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, "unknown")


def _matches(ctr: pb.Container, f: dict[str, list[str]]) -> bool:
    import re

    checks: dict[str, Callable[[str], bool]] = {
        "name": lambda v: re.search(v, ctr.name) is not None,
        "id": lambda v: ctr.id.startswith(v),
        "status": lambda v: status_name(ctr.state.status) == v,
        "ancestor": lambda v: v in (ctr.image, ctr.image_id) or ctr.image_id.removeprefix("sha256:").startswith(v),
        "exited": lambda v: ctr.state.status == Status.STATUS_EXITED and str(ctr.state.exit_code) == v,
        "label": lambda v: (v.partition("=")[0] in ctr.config.labels) and (
            "=" not in v or ctr.config.labels[v.partition("=")[0]] == v.partition("=")[2]),
    }
    # Values of one key are alternatives (OR), except labels, which must all match (as Docker's
    # MatchKVList); different keys must all match (AND).
    return all((all if k == "label" else any)(checks[k](v) for v in vs) for k, vs in f.items())
