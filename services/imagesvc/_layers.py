"""Applying a layer tarball to a snapshot directory, safely.

The input is hostile until proven otherwise. Every filesystem operation is
relative to a directory file descriptor reached one component at a time with
O_NOFOLLOW, so nothing the archive creates (a symlink, a hardlink) can make a
later entry land outside the root. On top of that the archive is checked the
way Docker checks it, and refused with one clear InvalidArgument:

- absolute names, names whose `..` leave the root;
- entries whose parent path is a symlink (or not a directory);
- relative symlinks pointing outside the root (absolute targets are fine:
  the container resolves them inside its own root);
- hardlinks whose target escapes, is missing, is a directory or is reached
  through a symlink;
- block and character devices, except the 0:0 character device that is an
  overlay whiteout.

OCI whiteouts become overlay whiteouts: `.wh.name` a 0:0 character device,
`.wh..wh..opq` the trusted.overlay.opaque=y xattr on the directory. Mode
(setuid included), ownership, mtime and `security.capability` / `user.*`
xattrs are preserved. tarfile's extract functions are never used.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import stat
import tarfile
from typing import Any

from pallet import errors, log
from pallet.images._streams import CHUNK, Reader
from pallet.scopedfs import RESOURCE_ERRNOS, LimitedTarInfo

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX = "SCHILY.xattr."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Shared with `palletctl cp`'s extractor: the pax/GNU header size limit and
# which errnos mean "the host is out of something" rather than "bad input".
_RESOURCE_ERRNOS = RESOURCE_ERRNOS


def _bad(name: str, why: str) -> errors.InvalidArgument:
    shown = name if len(name) <= 120 else name[:120] + "..."
    return errors.InvalidArgument(f"invalid tar entry {shown!r}: {why}")


def clean_path(name: str, entry: str, allow_absolute: bool = False) -> list[str]:
    """The components of an archive path inside the root; refuses escapes."""
    if "\x00" in name:
        raise _bad(entry, "NUL in path")
    if name.startswith("/") and not allow_absolute:
        raise _bad(entry, "absolute path")
    out: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                raise _bad(entry, "path escapes the root")
            out.pop()
        else:
            out.append(part)
    return out


def check_symlink(parts: list[str], target: str, entry: str) -> None:
    """Docker's rule: join(dirname(path), target) must stay inside the root."""
    if not target:
        raise _bad(entry, "empty symlink target")
    if "\x00" in target:
        raise _bad(entry, "NUL in symlink target")
    if target.startswith("/"):
        return
    joined = posixpath.normpath("/".join([*parts[:-1], target]))
    if joined == ".." or joined.startswith("../"):
        raise _bad(entry, f"symlink target {target!r} points outside the root")


class _Applier:
    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS)
        self.size = 0
        self._dir_times: list[tuple[list[str], int]] = []
        self._cached: tuple[tuple[str, ...], int] | None = None
        self.log = log.get("layers")

    def close(self) -> None:
        self._drop_cache()
        os.close(self.root_fd)

    # -- walking -------------------------------------------------------------

    def _drop_cache(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def _walk(self, parts: list[str], entry: str, create: bool) -> int:
        """A new fd for the directory at parts, never following a symlink."""
        fd = os.dup(self.root_fd)
        try:
            for i, part in enumerate(parts):
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise _bad(entry, f"{'/'.join(parts[:i + 1])} does not exist") from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                    what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                    raise _bad(entry, f"parent path {'/'.join(parts[:i + 1])} is {what}") from None
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _parent(self, parts: list[str], entry: str) -> int:
        """The (cached) fd of an entry's parent directory, created as needed."""
        key = tuple(parts)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        fd = self._walk(parts, entry, create=True)
        self._drop_cache()
        self._cached = (key, fd)
        return fd

    # -- entries -------------------------------------------------------------

    def apply(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = clean_path(m.name, m.name)
        if not parts:
            if m.isdir():
                self._set_dir_meta(self.root_fd, [], m)
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts, m)
            return
        kind = self._check(parts, m)
        pfd = self._parent(parts[:-1], m.name)
        link_src: tuple[int, str] | None = None
        if kind == "hardlink":
            link_src = self._hardlink_source(m)
        try:
            self._replace_existing(pfd, base, m.isdir())
            if kind == "file":
                self._file(tar, pfd, base, m)
            elif kind == "dir":
                self._dir(pfd, base, parts, m)
            elif kind == "symlink":
                os.symlink(m.linkname, base, dir_fd=pfd)
                self._set_meta_nofollow(pfd, base, m)
            elif kind == "hardlink":
                assert link_src is not None
                os.link(link_src[1], base, src_dir_fd=link_src[0], dst_dir_fd=pfd, follow_symlinks=False)
            elif kind == "fifo":
                os.mkfifo(base, 0o600, dir_fd=pfd)
                self._set_meta_nofollow(pfd, base, m, chmod=True)
            elif kind == "whiteout-dev":
                os.mknod(base, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=pfd)
                self._set_meta_nofollow(pfd, base, m, chmod=True)
        finally:
            if link_src is not None:
                os.close(link_src[0])

    def _check(self, parts: list[str], m: tarfile.TarInfo) -> str:
        if m.isreg():
            return "file"
        if m.isdir():
            return "dir"
        if m.issym():
            check_symlink(parts, m.linkname, m.name)
            return "symlink"
        if m.islnk():
            return "hardlink"
        if m.isfifo():
            return "fifo"
        if m.ischr() and m.devmajor == 0 and m.devminor == 0:
            return "whiteout-dev"
        if m.ischr() or m.isblk():
            raise _bad(m.name, "device nodes are not allowed in layers")
        raise _bad(m.name, f"unsupported entry type {m.type!r}")

    def _hardlink_source(self, m: tarfile.TarInfo) -> tuple[int, str]:
        try:
            target = clean_path(m.linkname, m.name, allow_absolute=True)
        except errors.InvalidArgument:
            raise _bad(m.name, f"hardlink target {m.linkname!r} points outside the root") from None
        if not target:
            raise _bad(m.name, "hardlink to the root directory")
        try:
            tfd = self._walk(target[:-1], m.name, create=False)
        except errors.InvalidArgument as exc:
            raise _bad(m.name, f"hardlink target {m.linkname!r}: {exc.message.split(': ', 1)[-1]}") from None
        try:
            st = os.stat(target[-1], dir_fd=tfd, follow_symlinks=False)
        except FileNotFoundError:
            os.close(tfd)
            raise _bad(m.name, f"hardlink target {m.linkname!r} does not exist") from None
        if stat.S_ISDIR(st.st_mode):
            os.close(tfd)
            raise _bad(m.name, f"hardlink target {m.linkname!r} is a directory")
        if clean_path(m.name, m.name) == target:
            os.close(tfd)
            raise _bad(m.name, "hardlink to itself")
        return tfd, target[-1]

    def _replace_existing(self, pfd: int, base: str, is_dir: bool) -> None:
        """lstat, then unlink (or remove the tree): never follow what is there."""
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if is_dir:
                return
            self._drop_cache_if_not(pfd)
            shutil.rmtree(base, dir_fd=pfd)
        else:
            os.unlink(base, dir_fd=pfd)

    def _drop_cache_if_not(self, keep_fd: int) -> None:
        # Removing a tree can orphan a cached descendant fd; keep only the parent in use.
        if self._cached is not None and self._cached[1] != keep_fd:
            self._drop_cache()

    def _file(self, tar: tarfile.TarFile, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=pfd)
        try:
            src = tar.extractfile(m)
            if src is not None:
                while True:
                    data = src.read(CHUNK)
                    if not data:
                        break
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
            self.size += m.size
            self._set_fd_meta(fd, m)
            os.utime(fd, ns=(_ns(m.mtime), _ns(m.mtime)))
        finally:
            os.close(fd)

    def _dir(self, pfd: int, base: str, parts: list[str], m: tarfile.TarInfo) -> None:
        with contextlib.suppress(FileExistsError):  # an existing directory is kept, as Docker does
            os.mkdir(base, 0o700, dir_fd=pfd)
        fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
        try:
            self._set_dir_meta(fd, parts, m)
        finally:
            os.close(fd)

    def _set_dir_meta(self, fd: int, parts: list[str], m: tarfile.TarInfo) -> None:
        self._set_fd_meta(fd, m)
        self._dir_times.append((parts, _ns(m.mtime)))

    def _set_fd_meta(self, fd: int, m: tarfile.TarInfo) -> None:
        os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears setuid
        for key, value in m.pax_headers.items():
            if not key.startswith(_XATTR_PAX):
                continue
            name = key[len(_XATTR_PAX):]
            if name != "security.capability" and not name.startswith("user."):
                continue  # never trusted.* (overlay's own) or other namespaces
            try:
                os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
            except OSError as exc:
                self.log.debug("xattr not set", entry=m.name, xattr=name, error=exc.strerror)

    def _set_meta_nofollow(self, pfd: int, base: str, m: tarfile.TarInfo, chmod: bool = False) -> None:
        os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if chmod:  # only for nodes we just made (fifo, whiteout): not a symlink
            os.chmod(base, m.mode & 0o7777, dir_fd=pfd)
        mt = _ns(m.mtime)
        os.utime(base, ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)

    def _whiteout(self, parts: list[str], m: tarfile.TarInfo) -> None:
        base = parts[-1]
        if base == WHITEOUT_OPAQUE:
            pfd = self._parent(parts[:-1], m.name)
            os.setxattr(pfd, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # aufs metadata (.wh..wh.plnk etc.): nothing to do on overlay
        target = base[len(WHITEOUT_PREFIX):]
        if target in ("", ".", ".."):
            raise _bad(m.name, "invalid whiteout")
        pfd = self._parent(parts[:-1], m.name)
        self._replace_existing(pfd, target, False)
        os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
        os.chown(target, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory mtimes last: creating children changed them."""
        self._drop_cache()
        for parts, mtime in reversed(self._dir_times):
            try:
                fd = self._walk(parts, "", create=False)
            except (errors.InvalidArgument, OSError):
                continue
            try:
                os.utime(fd, ns=(mtime, mtime))
            except OSError:
                pass
            finally:
                os.close(fd)


def _ns(mtime: Any) -> int:
    try:
        return max(0, int(float(mtime) * 1_000_000_000))
    except (ValueError, OverflowError):
        return 0


def apply_tar(stream: Reader, root: str) -> int:
    """Apply an uncompressed tar stream to root; returns the bytes of file content written.

    Reads the tar up to its end marker only: the caller drains the rest (the
    DiffID covers the whole stream).
    """
    applier = _Applier(root)
    try:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=LimitedTarInfo)  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.TarError as exc:
            raise errors.InvalidArgument(f"not a tar archive: {exc}") from None
        with tar:
            while True:
                try:
                    m = tar.next()
                except tarfile.TarError as exc:
                    raise errors.InvalidArgument(f"invalid tar archive: {exc}") from None
                if m is None:
                    break
                tar.members.clear()  # type: ignore[attr-defined]  # stream mode: keep no headers
                try:
                    applier.apply(tar, m)
                except tarfile.TarError as exc:
                    raise errors.InvalidArgument(f"invalid tar archive at {m.name!r}: {exc}") from None
                except OSError as exc:
                    if exc.errno in _RESOURCE_ERRNOS:
                        raise errors.Unavailable(f"applying layer: {exc}") from None
                    raise _bad(m.name, exc.strerror or str(exc)) from None
        applier.finish()
        return applier.size
    finally:
        applier.close()
