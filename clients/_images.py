"""Image commands: images, rmi, tag, import, load, save."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from pallet.client import _format
from pallet.client._conn import client, describe_error
from pallet.client.cli import CLIError

CHUNK = 1 << 20


def _split_tag(name: str) -> tuple[str, str]:
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "<none>"
    return repo, tag


def cmd_images(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    filters = list(args.filter)
    if args.reference:
        filters.append(f"reference={args.reference}")
    res = client(args).images.List(ipb.ListImagesRequest(filters=filters, all=args.all))
    trunc = not args.no_trunc
    if args.quiet:
        seen: set[str] = set()
        for img in res.images:
            iid = _format.short_id(img.id) if trunc else img.id
            if iid not in seen:
                seen.add(iid)
                print(iid)
        return 0
    rows = []
    for img in res.images:
        names = list(img.repo_tags) or ["<none>:<none>"]
        for name in names:
            repo, tag = ("<none>", "<none>") if name == "<none>:<none>" else _split_tag(name)
            digest = next((d.partition("@")[2] for d in img.repo_digests if d.startswith(repo + "@")), "<none>")
            rows.append({
                "Repository": repo, "Tag": tag, "Digest": digest,
                "ID": _format.short_id(img.id) if trunc else img.id,
                "CreatedSince": _format.ago(img.created.ToNanoseconds()),
                "Size": _format.human_size(img.size),
            })
    if args.format:
        _format.print_rows(args.format, rows, id_header="IMAGE ID")
        return 0
    headers = ["REPOSITORY", "TAG", *(["DIGEST"] if args.digests else []), "IMAGE ID", "CREATED", "SIZE"]
    keys = ["Repository", "Tag", *(["Digest"] if args.digests else []), "ID", "CreatedSince", "Size"]
    print(_format.table(headers, [[r[k] for k in keys] for r in rows]))
    return 0


def cmd_rmi(args: argparse.Namespace) -> int:
    import grpc
    from pallet.engine.v1 import engine_pb2 as pb

    c = client(args)
    failed = False
    for ref in args.images:
        try:
            res = c.images.Remove(pb.RemoveImageRequest(ref=ref, force=args.force, no_prune=args.no_prune))
        except grpc.RpcError as exc:
            print(describe_error(exc, args.host), file=sys.stderr)
            failed = True
            continue
        for name in res.untagged:
            print(f"Untagged: {name}")
        for digest in res.deleted:
            print(f"Deleted: {digest}")
    return 1 if failed else 0


def cmd_tag(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    client(args).images.Tag(ipb.TagImageRequest(source=args.source, target=args.target))
    return 0


def _open_input(path: str) -> BinaryIO:
    if path in ("", "-"):
        if sys.stdin.isatty():
            raise CLIError("palletctl: requested load from stdin, but stdin is empty (use -i FILE)")
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CLIError(f"palletctl: open {path}: {exc.strerror}") from None


def _chunks(f: BinaryIO) -> Iterator[bytes]:
    while True:
        data = f.read(CHUNK)
        if not data:
            return
        yield data


def platform_proto(text: str) -> Any:
    """"os/arch[/variant]" as a pallet.images.v1.Platform; None for "" (import's --platform, the API's platform)."""
    from pallet.images.v1 import images_pb2 as ipb

    if not text:
        return None
    os_, _, arch = text.partition("/")
    arch, _, variant = arch.partition("/")
    return ipb.Platform(os=os_, architecture=arch, variant=variant)


def cmd_import(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    header = ipb.ImportImageHeader(ref=args.reference, message=args.message, changes=args.change,
                                   platform=platform_proto(args.platform))
    f = _open_input(args.file)

    def requests() -> Iterator[Any]:
        yield ipb.ImportImageRequest(header=header)
        for data in _chunks(f):
            yield ipb.ImportImageRequest(chunk=data)

    try:
        res = client(args).images.Import(requests())
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    print(res.image.id)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    f = _open_input(args.input)
    try:
        res = client(args).images.Load(ipb.LoadImageRequest(chunk=d) for d in _chunks(f))
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    if not args.quiet:
        for line in loaded_lines(res.loaded):
            print(line)
    return 0


def loaded_lines(loaded: Iterable[str]) -> list[str]:
    """What `load` reports for each loaded name (an ID for an untagged image), as docker load prints it.

    Also the Docker API's POST /images/load stream (pallet.engine.dockerapi._images)."""
    return [f"Loaded image ID: {name}" if name.startswith("sha256:") else f"Loaded image: {name}" for name in loaded]


def cmd_save(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    if not args.output and sys.stdout.isatty():
        raise CLIError("palletctl: cowardly refusing to save to a terminal. Use the -o flag or redirect",
                       1)
    stream = client(args).images.Save(ipb.SaveImagesRequest(refs=args.images))
    if not args.output:
        out = sys.stdout.buffer
        for chunk in stream:
            out.write(chunk.data)
        out.flush()
        return 0
    target = os.path.abspath(args.output)
    fd, tmp = tempfile.mkstemp(prefix=".palletctl-save-", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in stream:
                f.write(chunk.data)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return 0
