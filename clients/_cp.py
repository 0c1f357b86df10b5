"""palletctl cp: copy files between a container and the local filesystem, Docker's rules.

    palletctl cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
    palletctl cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH

The decisions are the CLI's, as in Docker (cli/command/container/cp.go and
pkg/archive/copy.go): the engine streams a tar of a path and extracts a tar
into a directory; the client picks which directory and renames the archive's
top entry so that a directory copied into an existing directory nests in it,
`SRC/.` copies contents, a missing destination takes the source's place, and
a destination ending in "/" must be a directory.

What a container sends is hostile: entries must lie under the path that was
asked for, and local extraction never follows a symlink or leaves DEST.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pallet.client._conn import client
from pallet.client.cli import CLIError


@dataclass
class _Info:
    """Docker's archive.CopyInfo."""

    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


def _fail(message: str) -> CLIError:
    return CLIError(f"palletctl: {message}", 1)


def _os_error(what: str, path: str, exc: OSError) -> CLIError:
    return _fail(f"{what} {path}: {(exc.strerror or str(exc)).lower()}")


def split_cp_arg(arg: str) -> tuple[str, str]:
    """("container", "path") or ("", local path): `/x` and `./a:b` are local."""
    if arg.startswith("/"):
        return "", arg
    ctr, sep, path = arg.partition(":")
    if not sep or ctr.startswith("."):
        return "", arg
    return ctr, path


def cmd_cp(args: argparse.Namespace) -> int:
    if not args.src:
        raise _fail("source can not be empty")
    if not args.dst:
        raise _fail("destination can not be empty")
    src_ctr, src_path = split_cp_arg(args.src)
    dst_ctr, dst_path = split_cp_arg(args.dst)
    if src_ctr and dst_ctr:
        raise _fail("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise _fail("must specify at least one container source")
    if src_ctr:
        return _from_container(args, src_ctr, src_path, dst_path)
    return _to_container(args, dst_ctr, src_path, dst_path)


# -- local paths ----------------------------------------------------------------


def _resolve_local(path: str) -> str:
    from pallet.scopedfs import preserve_trailing_dot_or_separator

    return preserve_trailing_dot_or_separator(os.path.abspath(path), path)


def _validate_output_path(path: str) -> None:
    from pallet.scopedfs import go_clean, go_dir

    parent = go_dir(go_clean(path))
    if parent not in ("", ".") and not os.path.exists(parent):
        raise _fail(f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_error("stat", path, exc) from None
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        return
    kind = "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "an irregular file"
    raise _fail(f'invalid output path: "{path}" must be a directory or a regular file: got {kind}')


def _destination_info(path: str) -> _Info:
    """Docker's CopyInfoDestinationPath: a symlink DEST is followed (up to 10 times)."""
    from pallet.scopedfs import go_clean, split_path_dir_entry

    original = path
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _os_error("lstat", path, exc) from None
    n = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        if n > 10:
            raise _fail(f"too many symlinks in {original}")
        target = os.readlink(path)
        if not target.startswith("/"):
            target = go_clean(posixpath.join(split_path_dir_entry(path)[0], target))
        path = target
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise _os_error("lstat", path, exc) from None
        n += 1
    if st is None:
        parent = split_path_dir_entry(path)[0]
        try:
            pst = os.stat(parent)
        except OSError as exc:
            raise _os_error("stat", parent, exc) from None
        if not stat.S_ISDIR(pst.st_mode):
            raise _fail("not a directory")
        return _Info(path)
    return _Info(path, exists=True, is_dir=stat.S_ISDIR(st.st_mode))


def _source_info(path: str, follow: bool) -> _Info:
    """Docker's CopyInfoSourcePath: the parent's symlinks resolved (and the path's with -L)."""
    from pallet.scopedfs import go_base, has_trailing_separator, rebase_name

    rebase = ""
    try:
        if follow:
            resolved, rebase = rebase_name(path, os.path.realpath(path, strict=True))
        else:
            head, _, tail = path.rpartition("/")
            resolved = os.path.realpath(head + "/", strict=True).rstrip("/") + "/" + tail
            if has_trailing_separator(path) and go_base(path) != go_base(resolved):
                rebase = go_base(path)
        st = os.lstat(resolved)
    except OSError as exc:
        raise _os_error("lstat", exc.filename or path, exc) from None
    return _Info(resolved, exists=True, is_dir=stat.S_ISDIR(st.st_mode), rebase_name=rebase)


def _prepare(src: _Info, dst: _Info) -> tuple[str, str]:
    """Docker's PrepareArchiveCopy: (directory to extract into, name of the archive's top entry)."""
    from pallet.scopedfs import has_trailing_separator, specifies_current_dir, split_path_dir_entry

    dst_dir, dst_base = split_path_dir_entry(dst.path)
    src_base = src.rebase_name or split_path_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return dst.path, src_base
    if dst.exists and src.is_dir:
        raise _fail("cannot copy directory")
    if not dst.exists and not src.is_dir and (has_trailing_separator(dst.path) or specifies_current_dir(dst.path)):
        raise _fail("no such directory")
    return dst_dir, dst_base


# -- from a container --------------------------------------------------------------


def _from_container(args: argparse.Namespace, ctr: str, src: str, dst: str) -> int:
    from pallet.engine.v1 import engine_pb2 as pb
    from pallet.scopedfs import MODE_DIR, MODE_SYMLINK, go_clean, rebase_name, split_path_dir_entry

    containers = client(args).containers
    if dst != "-":
        dst = _resolve_local(dst)
        _validate_output_path(dst)
    rebase = ""
    if args.follow_link:
        st = _stat_or_none(containers, ctr, src)
        if st is not None and st.mode & MODE_SYMLINK:
            target = st.link_target
            if not target.startswith("/"):
                target = go_clean(posixpath.join(split_path_dir_entry(src)[0], target))
            src, rebase = rebase_name(src, target)
    stream = containers.ArchiveGet(pb.ArchiveRequest(id=ctr, path=src))
    try:
        first = next(stream)
        if dst == "-":
            out = sys.stdout.buffer
            out.write(first.data)
            for chunk in stream:
                out.write(chunk.data)
            out.flush()
            return 0
        src_info = _Info(src, exists=True, is_dir=bool(first.stat.mode & MODE_DIR), rebase_name=rebase)
        top = "." if first.stat.name == "/" else first.stat.name  # the archive's top entry
        dst_dir, new_top = _prepare(src_info, _destination_info(dst))
        _extract_local(dst_dir, top, new_top, _data(first, stream))
    finally:
        cancel = getattr(stream, "cancel", None)
        if cancel is not None:
            cancel()
    return 0


def _data(first: Any, stream: Iterator[Any]) -> Iterator[bytes]:
    if first.data:
        yield first.data
    for chunk in stream:
        yield chunk.data


def _extract_local(dst_dir: str, old_top: str, new_top: str, data: Iterator[bytes]) -> None:
    from pallet import errors
    from pallet.scopedfs import ChunkReader, Extractor, Rename, Root

    try:
        root = Root.open(dst_dir)
    except OSError as exc:
        raise _os_error("open", dst_dir, exc) from None
    reader = ChunkReader(data)
    try:
        Extractor(root, [], owner=None, no_overwrite_dir_non_dir=True, rename=Rename(old_top, new_top),
                  follow_symlinks=False, display=lambda p: os.path.join(dst_dir, *p)).extract(reader)
        reader.drain()
    except errors.PalletError as exc:
        raise _fail(exc.message) from None
    finally:
        root.close()


def _stat_or_none(containers: Any, ctr: str, path: str) -> Any:
    """ArchiveStat, or None when the path does not exist (Docker ignores that error here)."""
    import grpc
    from pallet.engine.v1 import engine_pb2 as pb

    try:
        return containers.ArchiveStat(pb.ArchiveRequest(id=ctr, path=path))
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = (exc.details() or "") if isinstance(exc, grpc.Call) else ""
        if code == grpc.StatusCode.NOT_FOUND and details.startswith("Could not find the file"):
            return None
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            return None
        raise


# -- into a container --------------------------------------------------------------


def _to_container(args: argparse.Namespace, ctr: str, src: str, dst: str) -> int:
    from pallet.engine.v1 import engine_pb2 as pb
    from pallet.scopedfs import (
        MODE_DEVICE,
        MODE_DIR,
        MODE_IRREGULAR,
        MODE_SYMLINK,
        go_clean,
        split_path_dir_entry,
    )

    containers = client(args).containers
    if src != "-":
        src = _resolve_local(src)
    dst_info = _Info(dst)
    st = _stat_or_none(containers, ctr, dst)
    if st is not None and st.mode & MODE_SYMLINK:
        target = st.link_target
        if not target.startswith("/"):
            target = go_clean(posixpath.join(split_path_dir_entry(dst)[0], target))
        dst_info.path = target
        st = _stat_or_none(containers, ctr, target)
    if st is not None:
        if st.mode & (MODE_DEVICE | MODE_IRREGULAR):
            kind = "a device" if st.mode & MODE_DEVICE else "an irregular file"
            raise _fail(f'destination "{ctr}:{dst}" must be a directory or a regular file: got {kind}')
        dst_info.exists, dst_info.is_dir = True, bool(st.mode & MODE_DIR)

    local_error: list[OSError] = []
    if src == "-":
        if not dst_info.is_dir:
            raise _fail(f'destination "{ctr}:{dst}" must be a directory')
        put_dir, chunks = dst_info.path, _stdin_chunks()
    else:
        src_info = _source_info(src, args.follow_link)
        put_dir, top = _prepare(src_info, dst_info)
        chunks = _local_tar(src_info.path, top, local_error)

    header = pb.ArchivePutHeader(id=ctr, path=put_dir, no_overwrite_dir_non_dir=True,
                                 copy_uid_gid=args.archive)

    def requests() -> Iterator[Any]:
        yield pb.ArchivePutRequest(header=header)
        for data in chunks:
            yield pb.ArchivePutRequest(chunk=data)

    try:
        containers.ArchivePut(requests())
    except Exception:
        if local_error:
            exc = local_error[0]
            raise _os_error("read", exc.filename or src, exc) from None
        raise
    if local_error:
        exc = local_error[0]
        raise _os_error("read", exc.filename or src, exc)
    return 0


def _stdin_chunks() -> Iterator[bytes]:
    fd = sys.stdin.fileno()
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            return
        yield data


def _local_tar(path: str, arcname: str, failed: list[OSError]) -> Iterator[bytes]:
    """A tar of a local path with its top entry named arcname; a read error ends it early."""
    from pallet.scopedfs import Root, TarWriter, split_path_dir_entry

    source_dir, source_base = split_path_dir_entry(path)
    try:
        with Root.open(source_dir) as root:
            parts = [] if source_base == "." else [source_base]
            yield from TarWriter(root).stream(parts, arcname)
    except OSError as exc:
        failed.append(exc)
