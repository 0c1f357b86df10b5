"""COPY and ADD: sources from the build context (or another stage's filesystem) into a step's rootfs.

Sources are resolved inside their root (symlinks followed with chroot semantics,
never out of it); the copy is a tar of the sources extracted by scopedfs's
Extractor into the mounted snapshot, so the destination side gets the same
escape-proof handling as `palletctl cp`. The cache digest of a COPY is the
hash of what it copies — names, types, modes, contents, link targets — never
times, so touching a file does not invalidate the cache and editing one does.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import stat
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from pallet import errors
from pallet.scopedfs import Extractor, Root

_GLOB = re.compile(r"[*?\[]")
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


@dataclass
class Source:
    """One resolved source: its path relative to its root and the name it gets at the destination."""

    rel: str
    path: str  # absolute host path (inside the root)
    is_dir: bool


def _match(pattern: str, rel: str) -> bool:
    """Go filepath.Match per path segment (no `**`), as Docker matches COPY sources."""
    p, r = pattern.split("/"), rel.split("/")
    return len(p) == len(r) and all(fnmatch.fnmatchcase(b, a) for a, b in zip(p, r, strict=True))


def _clean(path: str) -> str:
    return os.path.normpath("/" + path).lstrip("/") or "."


def _inside(root: str, rel: str) -> str:
    """rel resolved under root with chroot semantics (symlinks may not leave it)."""
    from pallet.scopedfs import resolve_in_root

    return resolve_in_root(root, "/" + rel)


def resolve_sources(root: str, patterns: list[str], what: str) -> list[Source]:
    """Each pattern's matches under root (a context dir or a stage's rootfs), in order."""
    out: list[Source] = []
    for pattern in patterns:
        pat = _clean(pattern)
        if _GLOB.search(pat):
            matches = sorted(r for r in _walk_rel(root) if _match(pat, r))
            if not matches:
                raise errors.InvalidArgument(f"{what} failed: no source files were specified matching {pattern!r}")
        else:
            matches = [pat]
        for rel in matches:
            path = root if rel == "." else _inside(root, rel)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                raise errors.InvalidArgument(
                    f"{what} failed: file not found in build context or excluded by .dockerignore: "
                    f"stat {pattern}: file does not exist") from None
            out.append(Source(rel, path, stat.S_ISDIR(st.st_mode)))
    return out


def _walk_rel(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            yield name if rel_dir == "." else f"{rel_dir}/{name}"


def digest(sources: list[Source]) -> str:
    """What the copied content is: names, types, modes, file contents and link targets."""
    h = hashlib.sha256()
    for src in sources:
        h.update(f"source {src.rel}\n".encode())
        for rel, path in _tree(src):
            st = os.lstat(path)
            h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
            h.update(b"\n")
    return h.hexdigest()


def _tree(src: Source) -> Iterator[tuple[str, str]]:
    """(name relative to the source, path): the source itself ("."), then what a directory holds."""
    yield ".", src.path
    if src.is_dir:
        for rel in _walk_rel(src.path):
            yield rel, os.path.join(src.path, rel)


def is_archive(path: str) -> bool:
    """ADD extracts local tar archives (plain or gzip/bzip2/xz), as Docker does."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if head.startswith(_ARCHIVE_MAGIC):
        return True
    return len(head) == 512 and head[257:262] == b"ustar"


@dataclass
class CopySpec:
    dest: str  # absolute path in the image
    uid: int
    gid: int
    chmod: int | None  # --chmod mode bits for files and directories
    add: bool = False  # ADD: local archives are extracted


def copy(rootfs: str, sources: list[Source], spec: CopySpec, workdir: str) -> None:
    """Copy sources into the mounted rootfs at spec.dest with Docker's COPY rules."""
    dest = spec.dest if spec.dest.startswith("/") else os.path.join(workdir or "/", spec.dest)
    dest_is_dir = spec.dest.endswith("/") or len(sources) > 1 or any(s.is_dir for s in sources)
    with Root.open(rootfs) as root:
        parts = root.resolve(dest.rstrip("/") or "/")
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            dest_is_dir = dest_is_dir or stat.S_ISDIR(root.lstat(parts).st_mode)
        if len(sources) > 1 and not spec.dest.endswith("/"):
            raise errors.InvalidArgument("When using COPY with more than one source file, the destination must "
                                         "be a directory and end with a /")
        target_dir = parts if dest_is_dir else parts[:-1]
        fd = root.makedirs(target_dir, owner=(spec.uid, spec.gid))
        os.close(fd)
        for src in sources:
            if spec.add and not src.is_dir and is_archive(src.path):
                os.close(root.makedirs(parts, owner=(spec.uid, spec.gid)))  # extracted into dest as a directory
                with open(src.path, "rb") as f:
                    Extractor(root, parts, owner=lambda m: (m.uid, m.gid),
                              parent_owner=(spec.uid, spec.gid)).extract(f, compressed=True)  # type: ignore[arg-type]
                continue
            name = os.path.basename(src.rel) if dest_is_dir else parts[-1]
            with tempfile.TemporaryFile() as tmp:
                _tar(src, name if not src.is_dir else "", spec, tmp)
                tmp.seek(0)
                Extractor(root, target_dir, owner=lambda m: (spec.uid, spec.gid),
                          parent_owner=(spec.uid, spec.gid)).extract(tmp)  # type: ignore[arg-type]


def _tar(src: Source, name: str, spec: CopySpec, out: object) -> None:
    """src as a tar: a file under `name`, a directory's contents at the top."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for rel, path in _tree(src):
            if rel == "." and src.is_dir:
                continue
            arc = name if rel == "." else rel
            info = tar.gettarinfo(path, arcname=arc)
            info.uname = info.gname = ""
            if spec.chmod is not None and not info.issym():
                info.mode = spec.chmod
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def download(url: str, into: str) -> Source:
    """ADD https://…: the file, named after the URL's last path segment (mode 0600, as Docker)."""
    name = os.path.basename(urllib.parse.urlparse(url).path) or "index.html"
    path = os.path.join(into, name)
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(path, "wb") as f:  # noqa: S310 - user's URL
            for chunk in iter(lambda: r.read(1 << 20), b""):
                f.write(chunk)
    except OSError as exc:
        raise errors.InvalidArgument(f"ADD failed: downloading {url}: {exc}") from None
    os.chmod(path, 0o600)
    return Source(name, path, False)
