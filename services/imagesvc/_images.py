"""Image records as Docker shows them: resolve, get, list (filters), tag, delete."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from pallet import errors, reference
from pallet.images import _oci
from pallet.images._archive import SaveItem
from pallet.images._backend import Backend
from pallet.images._store import ImageRecord
from pallet.images.v1 import images_pb2 as ipb

_FILTERS = ("reference", "label", "dangling", "before", "since")


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _strs(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _keys(value: Any) -> list[str]:
    return sorted(str(k) for k in value) if isinstance(value, dict) else []


class ImageService:
    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._configs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- resolving -----------------------------------------------------------

    def resolve(self, ref: str) -> ImageRecord:
        return self._resolve(ref)[0]

    def _resolve(self, ref: str) -> tuple[ImageRecord, reference.Reference | None]:
        """The image a name, name@digest, ID or unique ID prefix means; and the name if by name."""
        text = ref.strip()
        if not text:
            raise errors.InvalidArgument("image reference must not be empty")
        full = text.removeprefix("sha256:")
        if reference.is_full_id(full) and (text.startswith("sha256:") or text == full):
            rec = self.b.store.get("sha256:" + full)
            if rec is None:
                raise errors.NotFound(f"No such image: {text}")
            return rec, None
        named: reference.Reference | None = None
        name_error: errors.PalletError | None = None
        try:
            named = reference.parse_docker_ref(text)
        except errors.InvalidArgument as exc:
            name_error = exc
        if named is not None:
            rec = self.b.store.by_name(str(named))
            if rec is None and named.digest:  # name@<manifest digest> of an image stored under that name
                rec = next((r for r in self.b.store.all() if r.manifest_digest == named.digest
                            and any(reference.parse(n).name == named.name for n in r.names)), None)
            if rec is not None:
                return rec, named
        if reference.is_short_id(full):
            ids = self.b.store.search(full)
            if len(ids) > 1:
                raise errors.InvalidArgument(
                    f"ambiguous image ID prefix {text!r}: it matches {len(ids)} images, give more characters")
            if ids:
                rec = self.b.store.get(ids[0])
                if rec is not None:
                    return rec, None
        if name_error is not None:
            raise name_error
        raise errors.NotFound(f"No such image: {text}")

    # -- views ---------------------------------------------------------------

    def config(self, image_id: str) -> dict[str, Any]:
        with self._lock:
            cached = self._configs.get(image_id)
        if cached is not None:
            return cached
        try:
            doc = _oci.loads(self.b.content.read_bytes(image_id), "image config")
        except errors.NotFound:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        with self._lock:
            if len(self._configs) > 4096:
                self._configs.clear()
            self._configs[image_id] = doc
        return doc

    def to_proto(self, rec: ImageRecord, names: list[str] | None = None) -> ipb.Image:
        cfg = self.config(rec.id)
        c = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
        assert isinstance(c, dict)
        refs = [reference.parse(n) for n in (rec.names if names is None else names)]
        labels = c.get("Labels") if isinstance(c.get("Labels"), dict) else {}
        assert isinstance(labels, dict)
        img = ipb.Image(
            id=rec.id,
            repo_tags=[r.familiar() for r in refs if not r.digest],
            repo_digests=[r.familiar() for r in refs if r.digest],
            target=ipb.Descriptor(media_type=rec.manifest_media_type, digest=rec.manifest_digest,
                                  size=rec.manifest_size),
            config=ipb.ImageConfig(
                user=str(c.get("User") or ""), env=_strs(c.get("Env")), entrypoint=_strs(c.get("Entrypoint")),
                cmd=_strs(c.get("Cmd")), working_dir=str(c.get("WorkingDir") or ""),
                labels={str(k): str(v) for k, v in labels.items()},
                exposed_ports=_keys(c.get("ExposedPorts")), volumes=_keys(c.get("Volumes")),
                stop_signal=str(c.get("StopSignal") or ""),
                healthcheck=_healthcheck(c.get("Healthcheck")),
                on_build=_strs(c.get("OnBuild")), shell=_strs(c.get("Shell")),
            ),
            platform=ipb.Platform(architecture=str(cfg.get("architecture") or ""), os=str(cfg.get("os") or ""),
                                  variant=str(cfg.get("variant") or "")),
            size=rec.size,
            diff_ids=list(_oci.check_config(cfg)) if cfg else [],
            chain_id=rec.chain_ids[-1] if rec.chain_ids else "",
            author=str(cfg.get("author") or ""),
            comment=str(cfg.get("comment") or ""),
        )
        created = cfg.get("created")
        if isinstance(created, str) and created:
            with contextlib.suppress(ValueError):
                img.created.FromJsonString(created)
        return img

    def get(self, ref: str) -> ipb.Image:
        return self.to_proto(self.resolve(ref))

    def list_images(self, filters: list[str] | None = None) -> list[ipb.Image]:
        refs: list[str] = []
        labels: list[tuple[str, str | None]] = []
        dangling: bool | None = None
        before = since = None
        for f in filters or []:
            key, sep, value = f.partition("=")
            key = key.strip().lower()
            if not sep or key not in _FILTERS:
                raise errors.InvalidArgument(f"invalid filter '{f}'")
            if key == "reference":
                refs.append(value)
            elif key == "label":
                k, has_v, v = value.partition("=")
                labels.append((k, v if has_v else None))
            elif key == "dangling":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise errors.InvalidArgument(f"invalid filter 'dangling={value}'")
                dangling = value.lower() in ("true", "1")
            elif key == "before":
                before = self.get(value).created.ToNanoseconds()
            else:
                since = self.get(value).created.ToNanoseconds()
        out = []
        for rec in self.b.store.all():
            names = rec.names
            if refs:
                parsed = [reference.parse(n) for n in names]
                names = [str(p) for p in parsed if any(reference.familiar_match(pat, p) for pat in refs)]
                if not names:
                    continue
            img = self.to_proto(rec, names)
            is_dangling = not rec.names
            if dangling is not None and is_dangling != dangling:
                continue
            created = img.created.ToNanoseconds()
            if before is not None and created >= before:
                continue
            if since is not None and created <= since:
                continue
            if any(k not in img.config.labels or (v is not None and img.config.labels[k] != v)
                   for k, v in labels):
                continue
            out.append(img)
        out.sort(key=lambda i: i.created.ToNanoseconds(), reverse=True)
        return out

    # -- changes -------------------------------------------------------------

    def tag(self, source: str, target: str) -> None:
        rec = self.resolve(source)
        self.b.store.tag(str(reference.parse_tag_target(target)), rec.id)

    def delete(self, ref: str, force: bool = False, untag_only: bool = False) -> tuple[list[str], list[str]]:
        """Docker's rmi: untag a name, deleting the image with its last name. (untagged, deleted)."""
        rec, named = self._resolve(ref)
        refs = [reference.parse(n) for n in rec.names]
        untagged: list[str] = []
        text = ref.strip()
        # By ID (or by name@digest, which names the image, not one of its names): Docker's ID rules.
        by_id = (named is None or named not in refs
                 or rec.id.removeprefix("sha256:").startswith(text.removeprefix("sha256:")))
        if not by_id:
            assert named is not None
            gone = [named]
            remaining = [r for r in refs if r != named]
            if not named.digest and not any(not r.digest and r.name == named.name for r in remaining):
                gone += [r for r in remaining if r.digest and r.name == named.name]
                remaining = [r for r in remaining if r not in gone]
            self.b.store.untag(str(r) for r in gone)
            untagged += [r.familiar() for r in gone]
            if remaining or untag_only:
                return untagged, []
        elif refs:
            if len(refs) > 1 and not force and not reference.single_reference(refs):
                raise errors.FailedPrecondition(
                    f"conflict: unable to delete {short_id(rec.id)} (must be forced) - "
                    "image is referenced in multiple repositories")
            self.b.store.untag(str(r) for r in refs)
            untagged += [r.familiar() for r in refs]
        return untagged, self.delete_record(rec.id)

    def forget(self, image_id: str) -> None:
        """Drop the cached config of an image deleted elsewhere (prune)."""
        with self._lock:
            self._configs.pop(image_id, None)

    def delete_record(self, image_id: str) -> list[str]:
        """Drop an image record and whatever only it used; returns the deleted IDs (image, layers)."""
        rec = self.b.store.delete(image_id)
        if rec is None:
            return []
        with self._lock:
            self._configs.pop(image_id, None)
        removed = self.b.collect(list(reversed(rec.chain_ids)), rec.blobs)
        return [image_id, *removed]

    # -- save ----------------------------------------------------------------

    def save_items(self, refs: list[str]) -> list[SaveItem]:
        """What `docker save refs` writes: a bare repository name means all its tags."""
        if not refs:
            raise errors.InvalidArgument("no images specified to save")
        items: dict[str, SaveItem] = {}
        for ref in refs:
            found: list[tuple[ImageRecord, reference.Reference | None]] = []
            try:
                named: reference.Reference | None = reference.parse_normalized(ref.strip())
            except errors.InvalidArgument:
                named = None
            if named is not None and not named.tag and not named.digest:
                for rec in self.b.store.all():
                    found += [(rec, r) for r in map(reference.parse, rec.names) if r.tag and r.name == named.name]
            if not found:
                found = [self._resolve(ref)]
            for rec, name in found:
                item = items.setdefault(rec.id, SaveItem(rec, []))
                if name is not None and name not in item.names:
                    item.names.append(name)
        return list(items.values())


def _healthcheck(raw: object) -> ipb.Healthcheck | None:
    """Docker's config.Healthcheck ({Test, Interval, Timeout, StartPeriod, Retries}) as a message."""
    if not isinstance(raw, dict) or not raw.get("Test"):
        return None

    def num(key: str) -> int:
        v = raw.get(key)
        return int(v) if isinstance(v, int | float) else 0

    return ipb.Healthcheck(test=_strs(raw.get("Test")), interval_ns=num("Interval"), timeout_ns=num("Timeout"),
                           start_period_ns=num("StartPeriod"), retries=num("Retries"))
