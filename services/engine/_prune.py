"""Local image management that needs to know about containers: rmi, prune, system df, sizes.

imagesvc owns the bytes and the one size accounting (pallet.images._gc); the
engine adds what only it knows: which images containers use (never pruned, not
reclaimable) and which snapshots are containers' writable layers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from pallet import errors, log, reference
from pallet.engine.containers import RUNNING_STATES, ContainerManager
from pallet.engine.v1 import engine_pb2 as pb
from pallet.images.v1 import images_pb2 as ipb

_log = log.get("prune")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def is_image_id_prefix(image_id: str, text: str) -> bool:
    """moby's isImageIDPrefix: the reference names the image by (a prefix of) its ID."""
    return bool(text) and (image_id.startswith(text) or image_id.removeprefix("sha256:").startswith(text))


def single_reference(image: ipb.Image) -> bool:
    """moby's isSingleReference: one tag, and any digests are of that same repository."""
    refs: list[reference.Reference] = []
    for name in [*image.repo_tags, *image.repo_digests]:
        with contextlib.suppress(errors.PalletError):
            refs.append(reference.parse_normalized(name))
    return reference.single_reference(refs)


def _running(ctr: pb.Container) -> bool:
    return ctr.state.status in RUNNING_STATES


class Housekeeping:
    """rmi with Docker's container conflicts, image and container prune, disk usage."""

    def __init__(self, images: Any, manager: ContainerManager) -> None:
        self.images = images  # pallet.images.client.ImagesClient
        self.m = manager

    def _users(self, image_id: str) -> list[pb.Container]:
        return [c for c in self.m.store.all() if c.image_id == image_id]

    def collect(self) -> int:
        """Run imagesvc's GC; returns the bytes freed (0 if it failed: GC is best effort here)."""
        try:
            return int(self.images.collect_garbage().bytes)
        except errors.PalletError as exc:
            _log.warning("garbage collection failed", error=str(exc))
            return 0

    # -- rmi ---------------------------------------------------------------------

    def remove_image(self, ref: str, force: bool) -> ipb.DeleteImageResponse:
        """docker rmi: by name untags (deleting with the last name), by ID deletes, refusing as Docker does.

        By name, an image a container uses keeps its only name unless forced;
        forced, the name goes and the image stays (dangling) while a running
        container uses it. By ID, a running container's image can never be
        deleted; a stopped container's only when forced.
        """
        image = self.images.get_image(ref)
        users = self._users(image.id)
        running = [c for c in users if _running(c)]
        stopped = [c for c in users if not _running(c)]
        text = ref.strip()
        untag_only = False
        if not is_image_id_prefix(image.id, text):
            if users and not force and single_reference(image):
                raise errors.FailedPrecondition(
                    f'conflict: unable to remove repository reference "{text}" (must force) - container '
                    f"{users[0].id[:12]} is using its referenced image {_short(image.id)}")
            untag_only = bool(running) or (bool(stopped) and not force)
        else:
            if running:
                raise errors.FailedPrecondition(
                    f"conflict: unable to delete {_short(image.id)} (cannot be forced) - image is being used "
                    f"by running container {running[0].id[:12]}")
            # Several names and no force: imagesvc refuses ("referenced in multiple repositories") first.
            if stopped and not force and (single_reference(image) or not (image.repo_tags or image.repo_digests)):
                raise errors.FailedPrecondition(
                    f"conflict: unable to delete {_short(image.id)} (must be forced) - image is being used "
                    f"by stopped container {stopped[0].id[:12]}")
        res: ipb.DeleteImageResponse = self.images.images.Delete(
            ipb.DeleteImageRequest(ref=ref, force=force, untag_only=untag_only))
        for name in res.untagged:
            self.m.events.emit("image", "untag", image.id, name=name)
        for digest in res.deleted:
            self.m.events.emit("image", "delete", digest)
        if res.deleted:
            self.collect()
        return res

    # -- prune -------------------------------------------------------------------

    def prune_images(self, filters: Iterable[str], all_: bool) -> pb.PruneResponse:
        in_use = {c.image_id for c in self.m.store.all()}
        res = self.images.prune_images(list(filters), all_, sorted(in_use))
        for item in res.images:
            for digest in item.deleted[:1]:
                self.m.events.emit("image", "delete", digest)
        self.m.events.emit("image", "prune", "", reclaimed=str(res.space_reclaimed))
        return pb.PruneResponse(images_deleted=list(res.images), space_reclaimed=res.space_reclaimed)

    def prune_containers(self, filters: Iterable[str]) -> pb.PruneResponse:
        match = _container_filter(list(filters))
        candidates = [c for c in self.m.store.all() if not _running(c) and match(c)]
        sizes = self._snapshot_sizes([c.id for c in candidates])
        deleted: list[str] = []
        reclaimed = 0
        for ctr in candidates:
            try:
                self.m.remove(ctr.id, force=False)
            except errors.PalletError as exc:  # started meanwhile, or removed by someone else
                _log.info("container prune skipped a container", id=ctr.id, error=str(exc))
                continue
            deleted.append(ctr.id)
            reclaimed += sizes.get(ctr.id, 0)
        if deleted:  # layers only these containers still held (their image was deleted) are garbage now
            reclaimed += self.collect()
        self.m.events.emit("container", "prune", "", reclaimed=str(reclaimed))
        return pb.PruneResponse(containers_deleted=deleted, space_reclaimed=reclaimed)

    # -- sizes -------------------------------------------------------------------

    def _snapshot_sizes(self, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        try:
            return dict(self.images.disk_usage((), keys).snapshots)
        except errors.PalletError as exc:
            _log.warning("cannot measure container snapshots", error=str(exc))
            return {}

    def fill_sizes(self, containers: list[pb.Container]) -> None:
        """ps --size: the writable snapshot's usage, and with the image's layers (virtual size)."""
        sizes = self._snapshot_sizes([c.id for c in containers])
        image_sizes = {}
        with contextlib.suppress(errors.PalletError):
            image_sizes = {i.id: i.size for i in self.images.list_images()}
        for c in containers:
            c.size_rw = sizes.get(c.id, 0)
            c.size_root_fs = c.size_rw + image_sizes.get(c.image_id, 0)

    def disk_usage(self) -> pb.DiskUsageResponse:
        containers = self.m.store.all()
        in_use = sorted({c.image_id for c in containers})
        usage = self.images.disk_usage(in_use, [c.id for c in containers])
        images = {i.id: i for i in self.images.list_images()}
        counts: dict[str, int] = {}
        for c in containers:
            counts[c.image_id] = counts.get(c.image_id, 0) + 1
        out = pb.DiskUsageResponse(images_size=usage.images_size, images_reclaimable=usage.images_reclaimable,
                                   build_cache_size=usage.build_cache_size,
                                   build_cache_entries=usage.build_cache_entries)
        for u in usage.images:
            img = images.get(u.id)
            if img is None:
                continue
            out.images.append(pb.ImageUsage(image=img, size=u.size, shared_size=u.shared_size,
                                            unique_size=u.unique_size, containers=counts.get(u.id, 0)))
        for c in containers:
            size_rw = usage.snapshots.get(c.id, 0)
            c.size_rw = size_rw
            c.size_root_fs = size_rw + (images[c.image_id].size if c.image_id in images else 0)
            out.containers.append(c)
            out.containers_size += size_rw
            if not _running(c):
                out.containers_reclaimable += size_rw
        from pallet.fsutil import disk_usage

        for vol in self.m._volume_store().list():
            vol.size = disk_usage(vol.mountpoint)[0]
            out.volumes.append(vol)
            out.volumes_size += vol.size
            if not vol.used_by:
                out.volumes_reclaimable += vol.size
        return out



def _parse_until(value: str) -> int:
    from pallet.images._gc import parse_until

    return parse_until(value)


def _container_filter(filters: list[str]) -> Callable[[pb.Container], bool]:
    until: int | None = None
    want: list[str] = []
    avoid: list[str] = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in ("until", "label", "label!"):
            raise errors.InvalidArgument(f"invalid filter '{f}'")
        if key == "until":
            until = _parse_until(value)
        elif key == "label":
            want.append(value)
        else:
            avoid.append(value)

    def has(labels: Any, spec: str) -> bool:
        k, has_v, v = spec.partition("=")
        return k in labels and (not has_v or labels[k] == v)

    def match(ctr: pb.Container) -> bool:
        if until is not None and ctr.created.ToNanoseconds() >= until:
            return False
        labels = ctr.config.labels
        return all(has(labels, w) for w in want) and not any(has(labels, a) for a in avoid)

    return match
