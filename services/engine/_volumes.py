"""Named volumes of the local driver, and the container mounts that use them.

Layout, as dockerd's local driver: `<data-root>/volumes/<name>/_data` holds the
data and `<name>/volume.json` the record (labels, created time, populated).
A volume exists once its record is written (atomically, after `_data`); a
directory without one is a create that crashed and is removed at startup.
Removal renames the directory to `.removing-*` first, so a crash never leaves
a half-removed volume that still lists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from pallet import errors
from pallet.engine.v1 import engine_pb2 as pb
from pallet.fsutil import disk_usage, write_atomic

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ANON_LABEL = "com.docker.volume.anonymous"
RECORD = "volume.json"


def validate_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise errors.InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
            "use absolute path")
    return name


class VolumeStore:
    """Volumes on disk; `users(name)` gives the IDs of containers using one."""

    def __init__(self, root: str, users: Callable[[str], list[str]] = lambda _n: []) -> None:
        self.root = root
        self.users = users
        self.lock = threading.RLock()
        os.makedirs(root, mode=0o701, exist_ok=True)
        for entry in os.listdir(root):
            full = os.path.join(root, entry)
            if entry.startswith(".removing-") or (
                    os.path.isdir(full) and not os.path.exists(os.path.join(full, RECORD))):
                shutil.rmtree(full, ignore_errors=True)

    # -- records -------------------------------------------------------------

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def data_path(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def _read(self, name: str) -> dict[str, Any] | None:
        if not NAME_RE.match(name):
            return None
        try:
            with open(os.path.join(self._dir(name), RECORD), "rb") as f:
                rec: dict[str, Any] = json.loads(f.read())
                return rec
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None

    def _to_pb(self, rec: dict[str, Any], used_by: list[str] | None = None) -> pb.Volume:
        v = pb.Volume(name=rec["name"], driver="local", mountpoint=self.data_path(rec["name"]),
                      labels=rec.get("labels", {}), scope="local", options=rec.get("options", {}))
        v.created_at.FromNanoseconds(int(rec.get("created", 0)))
        v.used_by.extend(used_by if used_by is not None else self.users(rec["name"]))
        return v

    def create(self, name: str = "", labels: dict[str, str] | None = None,
               driver: str = "", options: dict[str, str] | None = None) -> tuple[pb.Volume, bool]:
        """The volume (created if missing) and whether it was created now."""
        if driver not in ("", "local"):
            raise errors.InvalidArgument(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        options = dict(options or {})
        for key in options:
            if key not in ("type", "device", "o"):
                raise errors.InvalidArgument(f"invalid option key: {key!r} (the local driver takes type, device, o)")
        if options and not (options.get("type") and options.get("device")):
            raise errors.InvalidArgument("the local driver needs both type= and device= (e.g. -o type=tmpfs "
                                         "-o device=tmpfs -o o=size=100m)")
        name = validate_name(name) if name else os.urandom(32).hex()
        with self.lock:
            rec = self._read(name)
            if rec is not None:
                return self._to_pb(rec), False
            d = self._dir(name)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(os.path.join(d, "_data"), mode=0o755)
            os.chmod(d, 0o701)
            rec = {"name": name, "labels": dict(labels or {}), "created": time.time_ns(),
                   "populated": False, **({"options": options} if options else {})}
            write_atomic(os.path.join(d, RECORD), json.dumps(rec).encode())
            return self._to_pb(rec, []), True

    def get(self, name: str) -> pb.Volume:
        rec = self._read(name)
        if rec is None:
            raise errors.NotFound(f"get {name}: no such volume")
        return self._to_pb(rec)

    def exists(self, name: str) -> bool:
        return self._read(name) is not None

    def ensure_mounted(self, name: str) -> None:
        """A volume with driver options (type/device/o) is mounted on its _data while containers use it."""
        rec = self._read(name)
        opts = (rec or {}).get("options")
        if not opts:
            return
        data = self.data_path(name)
        if os.path.ismount(data):
            return
        argv = ["mount", "-t", opts["type"], *(["-o", opts["o"]] if opts.get("o") else []), opts["device"], data]
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode != 0:
            why = res.stderr.strip() or f"mount exited with {res.returncode}"
            raise errors.FailedPrecondition(f"error while mounting volume {name}: {why} "
                                            "(check the volume's -o type=, device= and o= options)")

    def unmount(self, name: str) -> None:
        data = self.data_path(name)
        if os.path.ismount(data):
            subprocess.run(["umount", "-l", data], capture_output=True, check=False)

    def mark_populated(self, name: str) -> bool:
        """Mark the volume populated; False if it already was (or is gone)."""
        with self.lock:
            rec = self._read(name)
            if rec is None or rec.get("populated"):
                return False
            rec["populated"] = True
            write_atomic(os.path.join(self._dir(name), RECORD), json.dumps(rec).encode())
            return True

    def list(self, filters: Iterable[str] = ()) -> list[pb.Volume]:
        want = _parse_filters(filters)
        out = []
        for entry in sorted(os.listdir(self.root)):
            rec = self._read(entry)
            if rec is None:
                continue
            v = self._to_pb(rec)
            if _match(v, want):
                out.append(v)
        return out

    def remove(self, name: str, force: bool = False) -> None:
        with self.lock:
            rec = self._read(name)
            if rec is None:
                if force:
                    return
                raise errors.NotFound(f"get {name}: no such volume")
            users = self.users(name)
            if users:
                raise errors.FailedPrecondition(
                    f"remove {name}: volume is in use - [{', '.join(users)}]")
            self.unmount(name)
            trash = os.path.join(self.root, f".removing-{os.urandom(8).hex()}")
            os.rename(self._dir(name), trash)
        shutil.rmtree(trash, ignore_errors=True)

    def prune(self, filters: Iterable[str] = (), all_: bool = False) -> pb.PruneVolumesResponse:
        res = pb.PruneVolumesResponse()
        flist = [f for f in filters if not f.startswith("all=")]
        all_ = all_ or any(f in ("all=true", "all=1") for f in filters)
        for v in self.list([*flist, "dangling=true"]):
            if not all_ and ANON_LABEL not in v.labels:
                continue
            size = disk_usage(v.mountpoint)[0]
            try:
                self.remove(v.name)
            except errors.PalletError:
                continue
            res.volumes_deleted.append(v.name)
            res.space_reclaimed += size
        return res


def _parse_filters(filters: Iterable[str]) -> dict[str, list[str]]:
    want: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in ("dangling", "name", "label", "label!", "driver"):
            raise errors.InvalidArgument(f"invalid filter '{f}'")
        if key == "dangling" and value not in ("true", "false", "1", "0"):
            raise errors.InvalidArgument(f"invalid filter 'dangling={value}'")
        want.setdefault(key, []).append(value)
    return want


def _label_match(labels: Any, spec: str) -> bool:
    k, sep, v = spec.partition("=")
    return k in labels and (not sep or labels[k] == v)


def _match(v: pb.Volume, want: dict[str, list[str]]) -> bool:
    for value in want.get("dangling", []):
        if (value in ("true", "1")) != (not v.used_by):
            return False
    if want.get("name") and not any(n in v.name for n in want["name"]):
        return False
    if want.get("driver") and "local" not in want["driver"]:
        return False
    if not all(_label_match(v.labels, s) for s in want.get("label", [])):
        return False
    return not any(_label_match(v.labels, s) for s in want.get("label!", []))


# -- container mounts -------------------------------------------------------

def validate_mounts(mounts: Iterable[pb.Mount]) -> None:
    """Refuse bad mounts before anything is created."""
    seen: set[str] = set()
    for m in mounts:
        if m.type not in ("volume", "bind", "tmpfs"):
            raise errors.InvalidArgument(f'invalid mount config: mount type unknown: "{m.type}"')
        if not m.target:
            raise errors.InvalidArgument(f'invalid mount config for type "{m.type}": field Target must not be empty')
        if not m.target.startswith("/"):
            raise errors.InvalidArgument(
                f"invalid mount config for type \"{m.type}\": invalid mount path: '{m.target}' "
                "mount path must be absolute")
        target = os.path.normpath(m.target)
        if target == "/":
            raise errors.InvalidArgument(f'invalid mount config for type "{m.type}": invalid specification: '
                                         "destination can't be '/'")
        if target in seen:
            raise errors.InvalidArgument(f"Duplicate mount point: {target}")
        seen.add(target)
        if m.type == "volume" and m.source:
            validate_name(m.source)
        elif m.type == "bind":
            if not m.source.startswith("/"):
                raise errors.InvalidArgument(
                    f"invalid mount config for type \"bind\": invalid mount path: '{m.source}' "
                    "mount path must be absolute")
            if not m.create_source and not os.path.exists(m.source):
                raise errors.InvalidArgument(
                    f'invalid mount config for type "bind": bind source path does not exist: {m.source}')
        if m.propagation and (m.propagation not in PROPAGATIONS or m.type != "bind"):
            raise errors.InvalidArgument(f"invalid mount config: propagation {m.propagation!r} is only for bind "
                                         f"mounts and one of {', '.join(PROPAGATIONS)}")
        if m.type == "tmpfs" and m.source:
            raise errors.InvalidArgument('invalid mount config for type "tmpfs": Source must not be specified')


def spec_mounts(mounts: Iterable[pb.Mount]) -> list[dict[str, Any]]:
    """OCI mounts for a container's resolved mounts, parents before children."""
    out = []
    for m in sorted(mounts, key=lambda m: os.path.normpath(m.target).count("/")):
        target = os.path.normpath(m.target)
        if m.type == "tmpfs":
            opts = ["noexec", "nosuid", "nodev", f"mode={oct(m.tmpfs_mode or 0o1777)[2:]}"]
            if m.tmpfs_size:
                opts.append(f"size={m.tmpfs_size}")
            if m.read_only:
                opts.append("ro")
            out.append({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts})
        else:
            opts = ["rbind", m.propagation or "rprivate"] + (["ro"] if m.read_only else [])
            out.append({"destination": target, "type": "bind", "source": m.path, "options": opts})
    return out


PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def rootfs_propagation(mounts: Iterable[pb.Mount]) -> str:
    """Mounts that share or receive mount events need a rootfs that propagates them (as dockerd sets)."""
    kinds = {m.propagation.lstrip("r") for m in mounts}
    return "rshared" if "shared" in kinds else "rslave" if "slave" in kinds else ""


def _scoped(root: str, rel: str) -> str | None:
    """root/rel when no component of rel is a symlink (never leaves root)."""
    path = root
    for part in [p for p in rel.split("/") if p and p != "."]:
        if part == "..":
            return None
        path = os.path.join(path, part)
        if os.path.islink(path) or not os.path.lexists(path):
            return None
    return path


def populate(rootfs_mounts: list[tuple[str, str, list[str]]], work: str,
             todo: list[tuple[str, str]]) -> None:
    """Copy the image's content at each target into each (empty) volume dir.

    The container's rootfs snapshot is mounted on `work` (a private directory)
    for the copy; `cp -a` keeps modes, owners, times and symlinks as symlinks.
    """
    from pallet.shim import _mount

    os.makedirs(work, mode=0o700, exist_ok=True)
    mounted: list[str] = []
    try:
        for typ, source, options in rootfs_mounts:
            _mount.mount(typ, source, work, options)
            mounted.append(work)
        for target, dest in todo:
            src = _scoped(work, target)
            if src is None or not os.path.isdir(src) or os.listdir(dest):
                continue
            subprocess.run(["cp", "-a", "--no-dereference", "--", f"{src}/.", dest],
                           check=True, capture_output=True)
    finally:
        for m in reversed(mounted):
            _mount.umount(m)
        os.rmdir(work)


def give_to(mounts: Iterable[pb.Mount], uid: int, gid: int) -> None:
    """Volumes of a user-namespace remapped container: a new (root-owned) volume directory
    becomes its root's, as dockerd does; content copied from the image is shifted already."""
    for m in mounts:
        if m.type == "volume" and m.path:
            st = os.stat(m.path)
            if st.st_uid == 0 and st.st_gid == 0:
                os.chown(m.path, uid, gid)
