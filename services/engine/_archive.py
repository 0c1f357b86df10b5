"""palletctl cp, engine side: stat, read and write paths of a container's filesystem.

Docker's /containers/{id}/archive semantics. A running or paused container is
reached through the root filesystem its shim mounted at
<exec_root>/bundles/<id>/rootfs; any other container's snapshot is mounted
here, on a private directory under <exec_root>/tmp/, for the time of the call
(read-only for stat and get: the snapshot's upper directory becomes one more
lower layer, so nothing conflicts with a start meanwhile; read-write for put,
holding the container's lock so it cannot start until the copy is done).

/etc/hosts, /etc/hostname and /etc/resolv.conf are the container's own files
bind-mounted by the runtime, not part of the root filesystem: they are served
from those files, and refused as write targets, as Docker's mounted view does.

Paths are resolved with chroot semantics and every file operation goes
through pallet.scopedfs, so a symlink planted by the container cannot make
the engine read or write outside the container's root.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pallet import errors, log
from pallet.engine.v1 import engine_pb2 as pb
from pallet.scopedfs import (
    ChunkReader,
    Extractor,
    Root,
    TarWriter,
    container_abs_path,
    go_base,
    go_file_mode,
    resolve_in_root,
)

if TYPE_CHECKING:
    from pallet.engine.containers import ContainerManager

__all__ = ["ArchiveService", "resolve_in_root"]

_LIVE = (pb.ContainerState.Status.STATUS_RUNNING, pb.ContainerState.Status.STATUS_PAUSED)
_MOUNT_PREFIX = "cp-"
_ACTIVE: set[str] = set()  # our mount points in use (the rest under <exec_root>/tmp/cp-* are stale)
_ACTIVE_LOCK = threading.Lock()


@dataclass
class _View:
    root: Root
    ref: str  # the container as the user named it, for messages
    files: dict[tuple[str, ...], str]  # /etc/hosts etc.: components -> the container's file


def _display(parts: Sequence[str]) -> str:
    return "/" + "/".join(parts)


def _read_only(mtype: str, options: list[str]) -> list[str]:
    """Mount options for a read-only view of a snapshot's mount."""
    if mtype == "overlay":
        upper = next((o.split("=", 1)[1] for o in options if o.startswith("upperdir=")), "")
        out = []
        for o in options:
            if o.startswith(("upperdir=", "workdir=")) or o in ("rw", "ro"):
                continue
            if o.startswith("lowerdir=") and upper:
                o = f"lowerdir={upper}:{o.split('=', 1)[1]}"
            out.append(o)
        return [*out, "ro"]
    return [*(o for o in options if o not in ("rw", "ro")), "ro"]


class ArchiveService:
    """stat / get / put of paths inside containers (the Archive* RPCs)."""

    def __init__(self, manager: ContainerManager) -> None:
        self.m = manager
        self.log = log.get("archive")

    # -- RPCs ----------------------------------------------------------------

    def stat(self, ref: str, path: str) -> pb.PathStat:
        with self._open(ref, write=False) as view:
            absp, parts, st = self._locate(view, path)
            return self._path_stat(view, absp, st)

    def get(self, ref: str, path: str) -> Iterator[pb.ArchiveChunk]:
        """A tar of path (first message: its stat), entries named after the requested path."""
        with self._open(ref, write=False) as view:
            absp, parts, st = self._locate(view, path)
            yield pb.ArchiveChunk(stat=self._path_stat(view, absp, st))
            arcname = go_base(absp)
            if arcname == "/":
                arcname = "."
            try:
                for data in TarWriter(view.root, view.files).stream(parts, arcname):
                    yield pb.ArchiveChunk(data=data)
            except OSError as exc:
                raise errors.FailedPrecondition(f"reading {path} in container {ref}: {exc.strerror or exc}") from None

    def put(self, header: pb.ArchivePutHeader, chunks: Iterable[bytes]) -> None:
        """Extract a tar (optionally compressed) into the directory header.path."""
        with self._open(header.id, write=True) as view:
            _, parts, st = self._locate(view, header.path)
            if not stat.S_ISDIR(st.st_mode):
                raise errors.FailedPrecondition("extraction point is not a directory")
            reader = ChunkReader(chunks)
            if reader.at_eof():
                return
            if header.copy_uid_gid:
                def owner(m: tarfile.TarInfo) -> tuple[int, int]:
                    return m.uid, m.gid
            else:
                def owner(m: tarfile.TarInfo) -> tuple[int, int]:
                    return 0, 0
            Extractor(view.root, parts, owner=owner, parent_owner=(0, 0),
                      no_overwrite_dir_non_dir=header.no_overwrite_dir_non_dir,
                      busy=view.files.keys(), display=_display).extract(reader, compressed=True)
            reader.drain()

    def put_requests(self, requests: Iterable[pb.ArchivePutRequest]) -> pb.ArchivePutResponse:
        """ArchivePut's request stream: a header, then tar chunks."""
        it = iter(requests)
        first = next(it, None)
        if first is None or first.WhichOneof("part") != "header":
            raise errors.InvalidArgument("the first message of ArchivePut must be its header")
        self.put(first.header, (r.chunk for r in it if r.WhichOneof("part") == "chunk"))
        return pb.ArchivePutResponse()

    # -- paths ---------------------------------------------------------------

    def _lstat(self, view: _View, parts: list[str]) -> os.stat_result:
        host_file = view.files.get(tuple(parts))
        if host_file is not None:
            return os.stat(host_file)
        return view.root.lstat(parts)

    def _locate(self, view: _View, path: str) -> tuple[str, list[str], os.stat_result]:
        """Docker's ResolvePath + lstat: the directory part is resolved, the last element is not
        (unless the path ends in "/" or "/.")."""
        if not path:
            raise errors.InvalidArgument("path cannot be empty")
        absp = container_abs_path(path)
        dirp, _, base = absp.rpartition("/")
        try:
            parts = view.root.resolve(dirp)
            if base not in ("", "."):
                parts.append(base)
            st = self._lstat(view, parts)
            if base in ("", ".") and not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError
        except (FileNotFoundError, NotADirectoryError):
            raise errors.NotFound(f"Could not find the file {path} in container {view.ref}") from None
        except OSError as exc:
            raise errors.FailedPrecondition(f"{path}: {exc.strerror or exc}") from None
        return absp, parts, st

    def _path_stat(self, view: _View, absp: str, st: os.stat_result) -> pb.PathStat:
        link_target = ""
        if stat.S_ISLNK(st.st_mode):
            try:
                link_target = _display(view.root.resolve(absp))
            except OSError as exc:
                raise errors.FailedPrecondition(f"{absp}: {exc.strerror or exc}") from None
        out = pb.PathStat(name=go_base(absp), size=st.st_size, mode=go_file_mode(st.st_mode),
                          link_target=link_target)
        out.mtime.FromNanoseconds(st.st_mtime_ns)
        return out

    # -- the container's filesystem --------------------------------------------

    @contextlib.contextmanager
    def _open(self, ref: str, write: bool) -> Iterator[_View]:
        ctr = self.m.store.resolve(ref)
        lock = self.m._lock(ctr.id)
        lock.acquire()
        held = True
        try:
            with contextlib.ExitStack() as stack:
                ctr = self.m.store.resolve(ctr.id)
                if ctr.state.status in (pb.ContainerState.Status.STATUS_REMOVING,
                                        pb.ContainerState.Status.STATUS_DEAD):
                    raise errors.FailedPrecondition(f"container {ctr.id[:12]} is marked for removal")
                root = self._live_root(ctr.id) if ctr.state.status in _LIVE else None
                live = root is not None
                if root is None:
                    root = self._mount_snapshot(stack, ctr.id, write)
                stack.callback(root.close)
                if live or not write:
                    # A live rootfs stays mounted by its shim (and our fd keeps it reachable
                    # should the container exit); a read-only view does not conflict with a
                    # start. Only a read-write mount of a stopped container's snapshot keeps
                    # the lock, so that it cannot start until the copy is done.
                    lock.release()
                    held = False
                yield _View(root, ref, self._container_files(ctr))
        finally:
            if held:
                lock.release()

    def _live_root(self, cid: str) -> Root | None:
        from pallet.shim import _mount

        rootfs = os.path.join(self.m.paths.bundle(cid), "rootfs")
        try:
            fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None
        if os.path.realpath(rootfs) not in _mount.mounted_under(rootfs):
            os.close(fd)
            return None
        return Root(fd)

    def _mount_snapshot(self, stack: contextlib.ExitStack, cid: str, write: bool) -> Root:
        from pallet.shim import _mount

        mounts = self.m.images.mounts(cid)
        if not mounts:
            raise errors.FailedPrecondition(f"container {cid[:12]} has no filesystem to mount")
        base = os.path.join(self.m.paths.exec_root, "tmp")
        os.makedirs(base, mode=0o700, exist_ok=True)
        with _ACTIVE_LOCK:
            self._sweep(base)
            target = tempfile.mkdtemp(prefix=_MOUNT_PREFIX + cid[:12] + "-", dir=base)
            _ACTIVE.add(target)
        stack.callback(self._remove_dir, target)
        for m in mounts:
            options = list(m.options) if write else _read_only(m.type, list(m.options))
            try:
                _mount.mount(m.type or "none", m.source or "none", target, [*options, "private"])
            except OSError as exc:
                raise errors.Unavailable(f"mounting the filesystem of container {cid[:12]}: {exc}") from None
            stack.callback(self._umount, target)
        return Root.open(target)

    def _umount(self, target: str) -> None:
        from pallet.shim import _mount

        try:
            _mount.umount(target)
        except OSError as exc:
            self.log.error("unmount failed", target=target, error=str(exc))

    def _remove_dir(self, target: str) -> None:
        try:
            os.rmdir(target)
        except OSError as exc:
            self.log.warning("temporary mount point left behind", target=target, error=str(exc))
        with _ACTIVE_LOCK:
            _ACTIVE.discard(target)

    def _sweep(self, base: str) -> None:
        """Unmount and remove mount points left by a palletd that died during a copy."""
        from pallet.shim import _mount

        for name in os.listdir(base):
            path = os.path.join(base, name)
            if not name.startswith(_MOUNT_PREFIX) or path in _ACTIVE:
                continue
            try:
                for _ in range(8):
                    if not _mount.umount(path):
                        break
                os.rmdir(path)
                self.log.info("removed a stale copy mount point", target=path)
            except OSError as exc:
                self.log.warning("stale copy mount point left behind", target=path, error=str(exc))

    @staticmethod
    def _container_files(ctr: pb.Container) -> dict[tuple[str, ...], str]:
        files: dict[tuple[str, ...], str] = {}
        for name, host in (("hosts", ctr.hosts_path), ("hostname", ctr.hostname_path),
                           ("resolv.conf", ctr.resolv_conf_path)):
            if host and os.path.isfile(host):
                files[("etc", name)] = host
        return files
