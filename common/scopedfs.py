"""Filesystem access confined to a root directory, and tar streams out of and into it.

Used by `palletctl cp` on both sides: palletd reads and writes a container's
root filesystem, the CLI extracts what a container sent. Both treat the other
side's content as hostile:

- Paths are resolved with chroot semantics (`Root.resolve`, like Docker's
  FollowSymlinkInScope): symlinks are followed but absolute targets restart
  at the root, and `..` stops at the root.
- Every operation then walks the resolved path from the root's directory file
  descriptor one component at a time with O_NOFOLLOW, so a symlink swapped in
  meanwhile makes the operation fail instead of leaving the root. Files are
  created with O_EXCL|O_NOFOLLOW and their metadata set through their own fd.
- The extractor refuses entries whose names leave the destination, device
  nodes, relative symlinks pointing outside the destination (Docker's rule)
  and hardlinks to anything outside it; tarfile's extract functions are never
  used.

This module imports only the standard library and pallet.errors (the CLI
loads it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pallet import errors

CHUNK = 1 << 20
MAX_LINKS = 255  # symlinks followed while resolving one path (Docker's limit)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_EXTENDED_HEADER = 1 << 20
_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)
RESOURCE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM)

# Go's os.FileMode bits, as Docker reports a path's mode.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MODE_IRREGULAR = 1 << 19


def go_file_mode(st_mode: int) -> int:
    """A stat st_mode as Go's os.FileMode (what Docker's PathStat.mode carries)."""
    mode = st_mode & 0o777
    fmt = stat.S_IFMT(st_mode)
    mode |= {
        stat.S_IFDIR: MODE_DIR, stat.S_IFLNK: MODE_SYMLINK, stat.S_IFBLK: MODE_DEVICE,
        stat.S_IFCHR: MODE_DEVICE | MODE_CHAR_DEVICE, stat.S_IFIFO: MODE_NAMED_PIPE,
        stat.S_IFSOCK: MODE_SOCKET,
    }.get(fmt, 0)
    if st_mode & stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


class Root:
    """A directory (by file descriptor) that every operation stays under."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, path: str) -> Root:
        return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- walking -------------------------------------------------------------

    def walk(self, parts: Sequence[str]) -> int:
        """A new fd for the directory at parts, never following a symlink.

        Raises FileNotFoundError, NotADirectoryError, or OSError(ELOOP) when a
        component is a symlink.
        """
        fd = os.dup(self.fd)
        try:
            for part in parts:
                if part in ("", ".", "..") or "/" in part:
                    raise ValueError(f"invalid path component {part!r}")
                nfd = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _try_walk(self, parts: Sequence[str]) -> int | None:
        try:
            return self.walk(parts)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def resolve(self, path: str | Sequence[str], follow_last: bool = True) -> list[str]:
        """The components of path inside the root, symlinks followed with chroot semantics.

        Components that do not exist are kept as they are (the rest of the path
        is then taken literally). With follow_last=False a symlink in the last
        position is not followed (lstat semantics). Raises OSError(ELOOP) after
        MAX_LINKS symlinks.
        """
        todo = list(path.split("/")) if isinstance(path, str) else list(path)
        todo.reverse()
        out: list[str] = []
        fd: int | None = os.dup(self.fd)  # the directory `out` names; None if it does not exist
        links = 0
        try:
            while todo:
                part = todo.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    if out:
                        out.pop()
                    if fd is not None:
                        os.close(fd)
                    fd = None
                    fd = self._try_walk(out)
                    continue
                last = not any(p not in ("", ".") for p in todo)
                if fd is None or (last and not follow_last):
                    out.append(part)
                    continue
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    out.append(part)
                    os.close(fd)
                    fd = None
                    continue
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_LINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), "/" + "/".join(out + [part]))
                    target = os.readlink(part, dir_fd=fd)
                    todo.extend(reversed(target.split("/")))
                    if target.startswith("/"):
                        out = []
                        os.close(fd)
                        fd = None
                        fd = self._try_walk(out)
                    continue
                out.append(part)
                if stat.S_ISDIR(st.st_mode):
                    nfd = os.open(part, DIR_FLAGS, dir_fd=fd)  # ELOOP if swapped for a symlink meanwhile
                    os.close(fd)
                    fd = nfd
                else:
                    os.close(fd)
                    fd = None
            return out
        finally:
            if fd is not None:
                os.close(fd)

    def lstat(self, parts: Sequence[str]) -> os.stat_result:
        """lstat of parts (the root itself if empty); intermediate symlinks are refused."""
        if not parts:
            return os.fstat(self.fd)
        fd = self.walk(parts[:-1])
        try:
            return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)

    def makedirs(self, parts: Sequence[str], owner: tuple[int, int] | None = None) -> int:
        """mkdir -p without following symlinks; returns an fd of the directory."""
        fd = os.dup(self.fd)
        try:
            for part in parts:
                if part in ("", ".", "..") or "/" in part:
                    raise ValueError(f"invalid path component {part!r}")
                try:
                    nfd = os.open(part, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nfd = os.open(part, DIR_FLAGS, dir_fd=fd)
                    if owner is not None:
                        os.fchown(nfd, *owner)
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise


def resolve_in_root(root: str, path: str, follow_last: bool = True) -> str:
    """The host path of `path` seen from inside `root` (chroot semantics, like FollowSymlinkInScope)."""
    with Root.open(root) as r:
        parts = r.resolve(path, follow_last)
    return os.path.join(root, *parts) if parts else root


# -- Docker's path rules (pkg/archive/copy.go), for "/"-separated paths -------------


def go_clean(path: str) -> str:
    """Go's path.Clean."""
    out = posixpath.normpath(path) if path else "."
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def go_base(path: str) -> str:
    """Go's path.Base: the last element, trailing slashes ignored."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


def go_dir(path: str) -> str:
    """Go's path.Dir."""
    return go_clean(path[: path.rfind("/") + 1]) if "/" in path else "."


def specifies_current_dir(path: str) -> bool:
    return go_base(path) == "."


def has_trailing_separator(path: str) -> bool:
    return path.endswith("/")


def preserve_trailing_dot_or_separator(cleaned: str, original: str) -> str:
    """Put back the trailing "/." or "/" that cleaning removed (they carry meaning in cp)."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_separator(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_separator(cleaned) and has_trailing_separator(original):
        cleaned += "/"
    return cleaned


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """(dir, base) of a cleaned path, keeping a trailing "." (SplitPathDirEntry).

    The root's base is "." here (the archive of "/" holds its contents).
    """
    cleaned = go_clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    base = go_base(cleaned)
    return go_dir(cleaned), "." if base == "/" else base


def container_abs_path(path: str) -> str:
    """A path given for a container as an absolute, clean path, trailing "/" or "/." kept."""
    return preserve_trailing_dot_or_separator(go_clean("/" + path), path)


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """Docker's GetRebaseName: (resolved with path's trailing "/." or "/", name to rebase to or "")."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_separator(path) and not has_trailing_separator(resolved):
        resolved += "/"
    return resolved, go_base(path) if go_base(path) != go_base(resolved) else ""


# -- writing tar streams ------------------------------------------------------


_T = TypeVar("_T")
_Descend = tuple[int, Iterator[str]]  # a directory's fd and the names in it


def _pump(gen: Generator[bytes, None, _T], buf: bytearray, chunk: int) -> Generator[bytes, None, _T]:
    """Forward gen's pieces through buf in chunks; returns gen's return value."""
    while True:
        try:
            piece = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        buf += piece
        if len(buf) >= chunk:
            yield bytes(buf)
            buf.clear()


class TarWriter:
    """A tar stream of one path under a Root (a directory recursively), like Docker's.

    overrides maps component tuples to host files served in their place (a
    container's /etc/hosts, /etc/hostname, /etc/resolv.conf live outside its
    root filesystem); they also appear in their directory's listing.
    """

    def __init__(self, root: Root, overrides: Mapping[tuple[str, ...], str] | None = None,
                 chunk: int = CHUNK) -> None:
        self.root = root
        self.overrides = dict(overrides or {})
        self.chunk = chunk
        self._links: dict[tuple[int, int], str] = {}

    def stream(self, parts: Sequence[str], arcname: str) -> Iterator[bytes]:
        buf = bytearray()
        stack: list[tuple[int, tuple[str, ...], str, Iterator[str]]] = []
        try:
            top: _Descend | None
            if parts:
                # An override needs no parent in the root (an image without /etc).
                pfd = -1 if tuple(parts) in self.overrides else self.root.walk(parts[:-1])
                try:
                    top = yield from _pump(self._entry(pfd, parts[-1], tuple(parts), arcname), buf, self.chunk)
                finally:
                    if pfd >= 0:
                        os.close(pfd)
            else:
                top = yield from _pump(self._dir_entry(os.dup(self.root.fd), (), arcname), buf, self.chunk)
            if top is not None:
                stack.append((top[0], tuple(parts), arcname, top[1]))
            while stack:
                dfd, dparts, darc, names = stack[-1]
                name = next(names, None)
                if name is None:
                    os.close(dfd)
                    stack.pop()
                    continue
                child = yield from _pump(self._entry(dfd, name, (*dparts, name), f"{darc}/{name}"), buf,
                                         self.chunk)
                if child is not None:
                    stack.append((child[0], (*dparts, name), f"{darc}/{name}", child[1]))
            buf += b"\0" * (2 * tarfile.BLOCKSIZE)
            yield bytes(buf)
        finally:
            for frame in stack:
                os.close(frame[0])

    @staticmethod
    def _header(arcname: str, st: os.stat_result, kind: bytes, size: int = 0, linkname: str = "") -> bytes:
        ti = tarfile.TarInfo(arcname)
        ti.type = kind
        ti.mode = st.st_mode & 0o7777
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.mtime = int(st.st_mtime)
        ti.size = size
        ti.linkname = linkname
        if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def _entry(self, pfd: int, name: str, parts: tuple[str, ...], arcname: str
               ) -> Generator[bytes, None, _Descend | None]:
        """Yields the entry's bytes; returns (dir fd, child names) for a directory to descend into."""
        override = self.overrides.get(parts)
        if override is not None:
            fd = os.open(override, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                yield from self._file(fd, arcname)
            finally:
                os.close(fd)
            return None
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return None  # removed while we walked
        mode = st.st_mode
        if stat.S_ISREG(mode):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=pfd)
            except FileNotFoundError:
                return None
            try:
                yield from self._file(fd, arcname)
            finally:
                os.close(fd)
        elif stat.S_ISDIR(mode):
            try:
                dfd = os.open(name, DIR_FLAGS, dir_fd=pfd)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # swapped for a symlink meanwhile
                    return None
                raise
            return (yield from self._dir_entry(dfd, parts, arcname))
        elif stat.S_ISLNK(mode):
            yield self._header(arcname, st, tarfile.SYMTYPE, linkname=os.readlink(name, dir_fd=pfd))
        elif stat.S_ISFIFO(mode):
            yield self._header(arcname, st, tarfile.FIFOTYPE)
        elif stat.S_ISCHR(mode):
            yield self._header(arcname, st, tarfile.CHRTYPE)
        elif stat.S_ISBLK(mode):
            yield self._header(arcname, st, tarfile.BLKTYPE)
        # sockets are skipped, as Docker does
        return None

    def _dir_entry(self, dfd: int, parts: tuple[str, ...], arcname: str) -> Generator[bytes, None, _Descend]:
        try:
            st = os.fstat(dfd)
            names = sorted(os.listdir(dfd))
        except BaseException:
            os.close(dfd)
            raise
        extra = sorted(p[-1] for p in self.overrides if len(p) == len(parts) + 1 and p[:-1] == parts)
        names = sorted(set(names) | set(extra))
        yield self._header(arcname, st, tarfile.DIRTYPE)
        return dfd, iter(names)

    def _file(self, fd: int, arcname: str) -> Iterator[bytes]:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped meanwhile
            return
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1:
            first = self._links.get(key)
            if first is not None:
                yield self._header(arcname, st, tarfile.LNKTYPE, linkname=first)
                return
            self._links[key] = arcname
        size = st.st_size
        yield self._header(arcname, st, tarfile.REGTYPE, size=size)
        left = size
        while left > 0:
            try:
                data = os.read(fd, min(CHUNK, left))
            except BlockingIOError:
                data = b""
            if not data:  # the file shrank while we read it: keep the header's promise
                yield b"\0" * left
                break
            left -= len(data)
            yield data
        pad = -size % tarfile.BLOCKSIZE
        if pad:
            yield b"\0" * pad


# -- reading tar streams -----------------------------------------------------


class LimitedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax or GNU long-name header's body whole: refuse absurd sizes first."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise tarfile.HeaderError(f"extended header of {self.size} bytes is too large")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


class Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class ChunkReader:
    """A file-like reader over an iterator of byte chunks (a gRPC stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        """Make sure unread bytes are buffered; False at the end of the stream."""
        while self._pos >= len(self._buf):
            if self._eof:
                return False
            try:
                self._buf, self._pos = next(self._it), 0
            except StopIteration:
                self._buf, self._pos, self._eof = b"", 0, True
        return True

    def read(self, n: int = -1, /) -> bytes:
        if n is None or n < 0:
            parts = [self._buf[self._pos:], *self._it]
            self._buf, self._pos, self._eof = b"", 0, True
            return b"".join(parts)
        if not self._fill():
            return b""
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def at_eof(self) -> bool:
        """True if nothing at all is left (reads ahead one chunk)."""
        return not self._fill()

    def drain(self) -> None:
        for _ in self._it:
            pass
        self._buf, self._pos, self._eof = b"", 0, True


def _bad(name: str, why: str) -> errors.InvalidArgument:
    shown = name if len(name) <= 120 else name[:120] + "..."
    return errors.InvalidArgument(f"invalid tar entry {shown!r}: {why}")


def entry_parts(name: str, entry: str) -> list[str]:
    """The components of an archive name below the destination; refuses escapes.

    A leading "/" is ignored (as Docker's Untar does); `..` may not climb
    above the destination.
    """
    if "\x00" in name:
        raise _bad(entry, "NUL in path")
    out: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                raise _bad(entry, "path escapes the destination")
            out.pop()
        else:
            out.append(part)
    return out


class Rename:
    """Docker's RebaseArchiveEntries, strict: every entry must lie under `old`."""

    def __init__(self, old: str, new: str) -> None:
        self.old = entry_parts(old, old)
        self.new = entry_parts(new, new)

    def apply(self, parts: list[str], entry: str) -> list[str]:
        n = len(self.old)
        if parts[:n] != self.old:
            raise _bad(entry, f"not under {'/'.join(self.old)!r}, the path that was asked for")
        return [*self.new, *parts[n:]]


class Extractor:
    """Extracts a tar stream into a directory under a Root, Docker's Untar rules, safely.

    - dest: components (resolved, inside root) of the directory to extract into.
    - owner: None keeps whoever runs us as owner (client side, Docker's
      NoLchown); otherwise a function of the entry giving (uid, gid).
    - busy: component tuples that may not be replaced (mount points).
    - rename: entries are rebased from one top name to another.
    - follow_symlinks: resolve entries' parent directories with chroot
      semantics inside root (palletd, inside a container: as Docker's
      chrooted extraction does). Off (the client), a parent that is a symlink
      is refused, so nothing lands outside dest whatever the stream holds.
    - display: how a path (components under root) is named in errors.
    """

    def __init__(self, root: Root, dest: Sequence[str], *,
                 owner: Callable[[tarfile.TarInfo], tuple[int, int]] | None = None,
                 parent_owner: tuple[int, int] | None = None,
                 no_overwrite_dir_non_dir: bool = True,
                 busy: Collection[tuple[str, ...]] = (),
                 rename: Rename | None = None,
                 follow_symlinks: bool = True,
                 display: Callable[[Sequence[str]], str] | None = None) -> None:
        self.root = root
        self.dest = list(dest)
        self.owner = owner
        self.parent_owner = parent_owner
        self.no_overwrite = no_overwrite_dir_non_dir
        self.busy = set(busy)
        self.rename = rename
        self.follow = follow_symlinks
        self.display = display or (lambda p: "/" + "/".join(p))
        self._cached: tuple[tuple[str, ...], int] | None = None
        self._dir_times: list[tuple[list[str], int]] = []

    # -- driving -------------------------------------------------------------

    def extract(self, stream: Reader, compressed: bool = False) -> None:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|*" if compressed else "r|",  # type: ignore[call-overload]  # noqa: SIM115
                               tarinfo=LimitedTarInfo)
        except tarfile.TarError as exc:
            raise errors.InvalidArgument(f"not a tar archive: {exc}") from None
        try:
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
                        self._apply(tar, m)
                    except tarfile.TarError as exc:
                        raise errors.InvalidArgument(f"invalid tar archive at {m.name!r}: {exc}") from None
                    except OSError as exc:
                        if exc.errno in RESOURCE_ERRNOS:
                            raise errors.Unavailable(f"extracting {m.name!r}: {exc.strerror}") from None
                        if exc.errno == errno.ELOOP:
                            raise _bad(m.name, "too many symlinks, or a path component turned into one") from None
                        raise errors.FailedPrecondition(
                            f"extracting {m.name!r}: {exc.strerror or exc}") from None
            self._finish()
        finally:
            self._drop_cache()

    # -- entries -------------------------------------------------------------

    def _apply(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = entry_parts(m.name, m.name)
        if self.rename is not None:
            parts = self.rename.apply(parts, m.name)
        if not parts:
            if not m.isdir():
                raise _bad(m.name, "not a directory")
            return  # the destination itself: kept as it is (Docker skips ".")
        kind = self._kind(parts, m)
        parent = self._resolve([*self.dest, *parts[:-1]])
        name = parts[-1]
        path = [*parent, name]
        if tuple(path) in self.busy:
            raise errors.FailedPrecondition(f"unlinkat {self.display(path)}: device or resource busy")
        try:
            pfd = self._parent(parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
                raise
            raise _bad(m.name, "a parent path is a symlink or not a directory") from None
        link_src: tuple[int, str] | None = self._hardlink_source(m) if kind == "hardlink" else None
        try:
            self._replace_existing(pfd, name, path, m)
            if kind == "file":
                self._file(tar, pfd, name, m)
            elif kind == "dir":
                self._dir(pfd, name, path, m)
            elif kind == "symlink":
                os.symlink(m.linkname, name, dir_fd=pfd)
                if self.owner is not None:
                    os.chown(name, *self.owner(m), dir_fd=pfd, follow_symlinks=False)
                mt = _ns(m.mtime)
                os.utime(name, ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)
            elif kind == "hardlink":
                assert link_src is not None
                os.link(link_src[1], name, src_dir_fd=link_src[0], dst_dir_fd=pfd, follow_symlinks=False)
            elif kind == "fifo":
                os.mkfifo(name, 0o600, dir_fd=pfd)
                fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
                try:
                    self._set_meta(fd, m)
                finally:
                    os.close(fd)
        finally:
            if link_src is not None:
                os.close(link_src[0])

    def _kind(self, parts: list[str], m: tarfile.TarInfo) -> str:
        if m.isreg():
            return "file"
        if m.isdir():
            return "dir"
        if m.issym():
            if not m.linkname or "\x00" in m.linkname:
                raise _bad(m.name, "invalid symlink target")
            if not m.linkname.startswith("/"):
                joined = posixpath.normpath("/".join([*parts[:-1], m.linkname]))
                if joined == ".." or joined.startswith("../"):
                    raise _bad(m.name, f"symlink target {m.linkname!r} points outside the destination")
            return "symlink"
        if m.islnk():
            return "hardlink"
        if m.isfifo():
            return "fifo"
        if m.ischr() or m.isblk():
            raise _bad(m.name, "device nodes are not allowed")
        raise _bad(m.name, f"unsupported entry type {m.type!r}")

    def _hardlink_source(self, m: tarfile.TarInfo) -> tuple[int, str]:
        try:
            target = entry_parts(m.linkname, m.name)
            if self.rename is not None:
                target = self.rename.apply(target, m.name)
        except errors.InvalidArgument:
            raise _bad(m.name, f"hardlink target {m.linkname!r} points outside the destination") from None
        if not target:
            raise _bad(m.name, "hardlink to a directory")
        parent = self._resolve([*self.dest, *target[:-1]])
        try:
            tfd = self.root.walk(parent)
        except OSError:
            raise _bad(m.name, f"hardlink target {m.linkname!r} does not exist") from None
        try:
            st = os.stat(target[-1], dir_fd=tfd, follow_symlinks=False)
        except OSError:
            os.close(tfd)
            raise _bad(m.name, f"hardlink target {m.linkname!r} does not exist") from None
        if stat.S_ISDIR(st.st_mode):
            os.close(tfd)
            raise _bad(m.name, f"hardlink target {m.linkname!r} is a directory")
        return tfd, target[-1]

    def _replace_existing(self, pfd: int, name: str, path: list[str], m: tarfile.TarInfo) -> None:
        """Docker's rules for what is already there; never follows it."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        is_dir = stat.S_ISDIR(st.st_mode)
        if self.no_overwrite and is_dir and not m.isdir():
            raise errors.FailedPrecondition(
                f'cannot overwrite directory "{self.display(path)}" with non-directory "{m.name}"')
        if self.no_overwrite and not is_dir and m.isdir():
            raise errors.FailedPrecondition(
                f'cannot overwrite non-directory "{self.display(path)}" with directory "{m.name}"')
        if is_dir and m.isdir():
            return
        if is_dir:
            self._drop_cache_except(pfd)
            shutil.rmtree(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)

    def _file(self, tar: tarfile.TarFile, pfd: int, name: str, m: tarfile.TarInfo) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
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
            self._set_meta(fd, m)
        finally:
            os.close(fd)

    def _dir(self, pfd: int, name: str, path: list[str], m: tarfile.TarInfo) -> None:
        with contextlib.suppress(FileExistsError):  # an existing directory is kept, its metadata updated
            os.mkdir(name, 0o700, dir_fd=pfd)
        fd = os.open(name, DIR_FLAGS, dir_fd=pfd)
        try:
            if self.owner is not None:
                os.fchown(fd, *self.owner(m))
            os.fchmod(fd, m.mode & 0o7777)
        finally:
            os.close(fd)
        self._dir_times.append((path, _ns(m.mtime)))

    def _set_meta(self, fd: int, m: tarfile.TarInfo) -> None:
        if self.owner is not None:
            os.fchown(fd, *self.owner(m))
        os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears setuid
        mt = _ns(m.mtime)
        os.utime(fd, ns=(mt, mt))

    # -- parent directories ----------------------------------------------------

    def _resolve(self, parts: list[str]) -> list[str]:
        return self.root.resolve(parts) if self.follow else parts

    def _parent(self, parts: list[str]) -> int:
        key = tuple(parts)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        self._drop_cache()
        fd = self.root.makedirs(parts, self.parent_owner)
        self._cached = (key, fd)
        return fd

    def _drop_cache(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def _drop_cache_except(self, keep_fd: int) -> None:
        if self._cached is not None and self._cached[1] != keep_fd:
            self._drop_cache()

    def _finish(self) -> None:
        """Directory mtimes last: creating their children changed them."""
        self._drop_cache()
        for parts, mtime in reversed(self._dir_times):
            try:
                fd = self.root.walk(parts)
            except (OSError, ValueError):
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
