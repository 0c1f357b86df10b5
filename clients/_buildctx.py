"""The build context `palletctl build` sends, by docker/cli's rules (cli/command/image/build).

- `resolve_dockerfile`: the context directory and the Dockerfile to build, as
  GetContextFromLocalDir decides them. `-f` is relative to the current directory;
  a Dockerfile inside the context is named by its path there (symlinks resolved);
  one outside it, or `-f -` (read from stdin), travels in the context under a
  generated name (`.dockerfile.<20 hex>`, named after its content where Docker
  draws it at random, so the same input gives the same bytes) which the context's
  .dockerignore lists, so the daemon leaves it out of what COPY sees.
- `walk_context` / `context_tar`: what a context directory contributes, filtered by
  .dockerignore (pallet.dockerignore) and walked like BuildKit's sender: sorted per
  directory, excluded directories left unread when no exception can reach below
  them, an excluded directory still sent when something under it comes back. The
  Dockerfile and .dockerignore are always sent (TrimBuildFilesFromExcludes).
- `from_stdin`: `palletctl build -`, a tar archive (plain or compressed, sent as
  is) or a Dockerfile (sent as a context holding only `Dockerfile`).

The tar is uncompressed, written as it is read (64 KiB chunks) with normalized
ownership (uid/gid 0, no user or group names); names, types, permission bits and
mtimes (whole seconds) are the files'. Hard links inside the context are sent as
tar hard links, as Docker does.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from typing import BinaryIO, Literal, NamedTuple

from pallet.client.cli import CLIError
from pallet.dockerignore import Matcher, go_clean

CHUNK = 64 * 1024
BLOCK = 512
DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"

Warn = Callable[[str], None]
Kind = Literal["file", "dir", "symlink"]

# docker's archive.DetectCompression magics, in its order
_MAGICS = (("bzip2", b"BZh"), ("gzip", b"\x1f\x8b\x08"), ("xz", b"\xfd7zXZ\x00"), ("zstd", b"\x28\xb5\x2f\xfd"))
_SPECIAL = ((stat.S_ISSOCK, "socket"), (stat.S_ISFIFO, "named pipe"), (stat.S_ISCHR, "character device"),
            (stat.S_ISBLK, "block device"))


def _fail(message: str) -> CLIError:
    return CLIError(f"palletctl: {message}", 1)


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _stderr_warn(message: str) -> None:
    print(message, file=sys.stderr)


def _quiet(message: str) -> None:
    del message


# -- which Dockerfile, which context ------------------------------------------------


class DockerfileSource(NamedTuple):
    """Where a build's Dockerfile comes from.

    context: the context directory, absolute with symlinks resolved.
    name: the Dockerfile's path inside the context that is sent ("/"-separated): what
    the daemon is told to build.
    content: None when the file is in the context directory; otherwise its bytes,
    which context_tar adds to the context as `name`.
    """

    context: str
    name: str
    content: bytes | None = None


def resolve_context_dir(context_dir: str) -> str:
    """The context directory, absolute with symlinks resolved (ResolveAndValidateContextPath)."""
    if not os.path.exists(context_dir):
        raise _fail(f'unable to prepare context: path "{context_dir}" not found')
    real = os.path.realpath(os.path.abspath(context_dir))
    if not os.path.isdir(real):
        raise _fail(f"unable to prepare context: context must be a directory: {real}")
    return real


def generated_name(content: bytes) -> str:
    """The name a Dockerfile from outside the context is sent under."""
    import hashlib

    return ".dockerfile." + hashlib.sha256(content).hexdigest()[:20]


def resolve_dockerfile(context_dir: str, f_flag: str | None, stdin: BinaryIO | None = None) -> DockerfileSource:
    """Docker's `-f` rules for a local context directory.

    No -f: CONTEXT/Dockerfile, or CONTEXT/dockerfile when only that exists. `-f PATH`:
    PATH relative to the current directory. `-f -`: the Dockerfile is read from stdin
    (or the given stream).
    """
    context = resolve_context_dir(context_dir)
    if f_flag == "-":
        data = _read_all(stdin if stdin is not None else sys.stdin.buffer, "stdin")
        return DockerfileSource(context, generated_name(data), data)
    shown = f_flag or DEFAULT_DOCKERFILE
    if f_flag:
        given = os.path.abspath(f_flag)
    else:
        given = os.path.join(context, DEFAULT_DOCKERFILE)
        alt = os.path.join(context, DEFAULT_DOCKERFILE.lower())
        if not os.path.lexists(given) and os.path.lexists(alt):
            given = alt
    try:
        real = os.path.realpath(given, strict=True)
        st = os.stat(real)
    except OSError:
        raise _fail(f"Cannot locate specified Dockerfile: {shown}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(f"unable to prepare context: the Dockerfile ({shown}) is a directory")
    rel = os.path.relpath(real, context)
    if rel.startswith("../"):
        try:
            with open(real, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise _fail(f"unable to open Dockerfile: {_reason(exc)}") from None
        return DockerfileSource(context, generated_name(data), data)
    return DockerfileSource(context, rel)


def _read_all(stream: BinaryIO, what: str) -> bytes:
    try:
        return stream.read()
    except OSError as exc:
        raise _fail(f"unable to read Dockerfile from {what}: {_reason(exc)}") from None


# -- walking a context directory -----------------------------------------------------


class Entry(NamedTuple):
    """One path of the context: rel inside it ("/"-separated), path on disk, its lstat."""

    rel: str
    path: str
    kind: Kind
    st: os.stat_result
    link: str = ""


def _names(path: str, excluded: bool) -> Iterator[str]:
    """A directory's names in Go's order (bytewise); an excluded one that cannot be read is empty."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return iter(())
    except OSError as exc:
        if excluded and isinstance(exc, PermissionError):
            return iter(())
        raise _fail(f"error checking context: can't read directory '{path}': {_reason(exc)}") from None
    names.sort(key=os.fsencode)
    return iter(names)


def walk_context(root: str, matcher: Matcher, keep: AbstractSet[str] = frozenset(), *,
                 warn: Warn | None = None) -> Iterator[Entry]:
    """The files, directories and symlinks of root to send, depth first, each directory's names sorted.

    keep: paths (relative to root) sent even when excluded. An excluded directory is
    not read when nothing below it can be sent; when something is, the directory is
    sent just before it. Symlinks are never followed. Sockets, fifos and devices are
    skipped with a warning (warn, default: a line on stderr). A file or directory
    that cannot be read raises CLIError naming it; excluded ones are not looked at.
    """
    root = os.path.abspath(root)
    say = warn or _stderr_warn
    kept = {go_clean(k) for k in keep}
    kept_dirs = {"/".join(k.split("/")[:i]) for k in kept for i in range(1, k.count("/") + 1)}
    pending: list[Entry] = []  # excluded directories entered, sent before anything found below them
    none = (False,) * len(matcher.patterns)
    stack: list[tuple[str, tuple[bool, ...], Iterator[str]]] = [("", none, _names(root, False))]
    while stack:
        rel_dir, parent_hits, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            if pending and pending[-1].rel == rel_dir:
                pending.pop()
            continue
        rel = f"{rel_dir}/{name}" if rel_dir else name
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _fail(f"error checking context: can't stat '{path}': {_reason(exc)}") from None
        hits = matcher.hits(rel, parent_hits) if none else none
        excluded = rel not in kept and matcher.decide(hits)
        mode = st.st_mode
        entry: Entry
        if stat.S_ISDIR(mode):
            entry = Entry(rel, path, "dir", st)
            if excluded:
                if rel in kept_dirs or matcher.may_reinclude_below(rel):
                    pending.append(entry)
                    stack.append((rel, hits, _names(path, True)))
                continue
            yield from pending
            pending.clear()
            yield entry
            stack.append((rel, hits, _names(path, False)))
            continue
        if excluded:
            continue
        if stat.S_ISLNK(mode):
            try:
                entry = Entry(rel, path, "symlink", st, os.readlink(path))
            except OSError as exc:
                raise _fail(f"error checking context: can't read link '{path}': {_reason(exc)}") from None
        elif stat.S_ISREG(mode):
            if not os.access(path, os.R_OK):
                raise _fail(f"error checking context: no permission to read from '{path}'")
            entry = Entry(rel, path, "file", st)
        else:
            what = next((w for test, w in _SPECIAL if test(mode)), "special file")
            say(f'WARNING: skipping {what} "{rel}" in the build context')
            continue
        yield from pending
        pending.clear()
        yield entry


# -- the tar stream -----------------------------------------------------------------


def _header(name: str, kind: Kind | Literal["hardlink"], mode: int, size: int = 0, mtime: int = 0,
            link: str = "") -> bytes:
    import tarfile

    ti = tarfile.TarInfo(name)
    ti.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
               "hardlink": tarfile.LNKTYPE}[kind]
    ti.mode = mode & 0o7777
    ti.size = size
    ti.mtime = mtime
    ti.linkname = link
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _member(name: str, data: bytes, mode: int = 0o600, mtime: int = 0) -> bytes:
    return _header(name, "file", mode, len(data), mtime) + data + _pad(len(data))


def _mtime(st: os.stat_result) -> int:
    return st.st_mtime_ns // 1_000_000_000


def context_tar(root: str, dockerfile_rel: str, matcher: Matcher, *, dockerfile_content: bytes | None = None,
                warn: Warn | None = None, validate: bool = True) -> Iterator[bytes]:
    """The context directory root as an uncompressed tar stream, in chunks of about 64 KiB.

    dockerfile_rel and dockerfile_content are a DockerfileSource's name and content:
    without content the Dockerfile at dockerfile_rel is sent even if excluded; with
    it, content is added as dockerfile_rel and .dockerignore gains that name.
    .dockerignore is always sent. validate walks the context first, as Docker's
    ValidateContextDirectory does, so that an unreadable file raises here, before a
    byte is produced; what fails later (a file changing meanwhile) raises during
    iteration, and the caller must then abandon the upload.
    """
    keep = {DOCKERIGNORE}
    if dockerfile_content is None:
        keep.add(go_clean(dockerfile_rel))
    if validate:
        for _ in walk_context(root, matcher, keep, warn=_quiet):
            pass
    return _stream(root, dockerfile_rel, matcher, keep, dockerfile_content, warn)


def _stream(root: str, dockerfile_rel: str, matcher: Matcher, keep: AbstractSet[str],
            content: bytes | None, warn: Warn | None) -> Iterator[bytes]:
    buf = bytearray()
    links: dict[tuple[int, int], str] = {}
    ignore_added = False
    for e in walk_context(root, matcher, keep, warn=warn):
        if content is not None and e.rel == DOCKERIGNORE:
            buf += _dockerignore_member(e, dockerfile_rel)
            ignore_added = True
        elif e.kind == "dir":
            buf += _header(e.rel, "dir", e.st.st_mode, mtime=_mtime(e.st))
        elif e.kind == "symlink":
            buf += _header(e.rel, "symlink", e.st.st_mode, mtime=_mtime(e.st), link=e.link)
        else:
            yield from _file(e, buf, links)
        if len(buf) >= CHUNK:
            yield bytes(buf)
            buf.clear()
    if content is not None:
        if not ignore_added:
            buf += _member(DOCKERIGNORE, f"{DOCKERIGNORE}\n{dockerfile_rel}\n".encode())
        buf += _member(dockerfile_rel, content)
    buf += b"\0" * (2 * BLOCK)
    yield bytes(buf)


def _dockerignore_member(e: Entry, name: str) -> bytes:
    """.dockerignore with the generated Dockerfile's name added (AddDockerfileToBuildContext)."""
    try:
        with open(e.path, "rb") as f:
            data = f.read() + f"\n{name}\n".encode()
    except OSError as exc:
        raise _fail(f"error sending context: {e.path}: {_reason(exc)}") from None
    if e.kind == "file":
        return _member(e.rel, data, e.st.st_mode, _mtime(e.st))
    return _member(e.rel, data)


def _file(e: Entry, buf: bytearray, links: dict[tuple[int, int], str]) -> Iterator[bytes]:
    """A regular file's header and content appended to buf, full chunks of buf yielded on the way."""
    try:
        fd = os.open(e.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # gone since the walk
    except OSError as exc:
        raise _fail(f"error sending context: {e.path}: {_reason(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return  # replaced since the walk
        if st.st_nlink > 1:
            first = links.setdefault((st.st_dev, st.st_ino), e.rel)
            if first != e.rel:
                buf += _header(e.rel, "hardlink", st.st_mode, mtime=_mtime(st), link=first)
                return
        size = st.st_size
        buf += _header(e.rel, "file", st.st_mode, size, _mtime(st))
        left = size
        while left:
            data = os.read(fd, min(CHUNK, left))
            if not data:
                raise _fail(f"error sending context: {e.path} shrank while being read")
            buf += data
            left -= len(data)
            if len(buf) >= CHUNK:
                yield bytes(buf)
                buf.clear()
        buf += _pad(size)
    finally:
        os.close(fd)


# -- `palletctl build -` ----------------------------------------------------------------


def detect_compression(head: bytes) -> str:
    """"gzip", "bzip2", "xz" or "zstd" by magic number, "" for none (archive.DetectCompression)."""
    for name, magic in _MAGICS:
        if head.startswith(magic):
            return name
    if len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18":
        return "zstd"  # a zstd skippable frame
    return ""


def is_archive(head: bytes) -> bool:
    """Whether a stream starting with head is a tar, plain or compressed (build.IsArchive)."""
    if detect_compression(head):
        return True
    import tarfile

    try:
        tarfile.TarInfo.frombuf(head[:BLOCK], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        data = stream.read(n - len(out))
        if not data:
            break
        out += data
    return bytes(out)


def _forward(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    if head:
        yield head
    while data := stream.read(CHUNK):
        yield data


def single_file_tar(name: str, data: bytes, mode: int = 0o644) -> bytes:
    """A whole tar holding one regular file (uid/gid 0, mtime 0)."""
    return _member(name, data, mode) + b"\0" * (2 * BLOCK)


def from_stdin(stream: BinaryIO, f_flag: str | None = None) -> tuple[Literal["tar", "dockerfile"], Iterator[bytes]]:
    """`palletctl build -`: ("tar", the stream as is) when it holds an archive, plain or compressed
    (the daemon decompresses), else ("dockerfile", a tar holding it as `Dockerfile`).

    f_flag is the -f value: `-f -` cannot also read stdin; with a Dockerfile on stdin,
    -f would name a second one. With a tar, -f (default Dockerfile) names the
    Dockerfile inside it.
    """
    if f_flag == "-":
        raise _fail("invalid argument: can't use stdin for both build context and dockerfile")
    try:
        head = _read_up_to(stream, 2 * BLOCK)
    except OSError as exc:
        raise _fail(f"failed to peek context header from STDIN: {_reason(exc)}") from None
    if is_archive(head):
        return "tar", _forward(head, stream)
    if f_flag:
        raise _fail("unable to prepare context: ambiguous Dockerfile source: both stdin and flag correspond to "
                    "Dockerfiles")
    data = head + _read_all(stream, "stdin")
    return "dockerfile", iter([single_file_tar(DEFAULT_DOCKERFILE, data)])
