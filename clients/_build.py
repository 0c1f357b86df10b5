"""palletctl build and builder prune.

The context streams to palletd as a tar (what .dockerignore excludes is never
read or sent); progress comes back as events, shown live on a terminal
(BuildKit-like) or as plain lines: `[2/5] RUN make`, the step's output,
`CACHED` or `DONE 0.4s` (see _buildprogress); then Docker's classic
`Successfully built …` / `Successfully tagged …` lines that older tools parse.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any

from pallet.client._conn import client
from pallet.client.cli import CLIError


def add_parsers(sub: Any, add: Any) -> None:
    p = add(sub, "build", cmd_build, "Build an image from a Dockerfile",
            "palletctl build [OPTIONS] PATH | -",
            "examples:\n  palletctl build -t app:1 .\n  palletctl build -f docker/Dockerfile --build-arg V=2 .\n"
            "  palletctl build - < Dockerfile")
    add_build_flags(p)
    g = sub.add_parser("builder", help="Manage builds", description="Manage builds")
    gs = g.add_subparsers(dest="builder_command", metavar="COMMAND")
    p = add(gs, "build", cmd_build, "Build an image from a Dockerfile", "palletctl builder build [OPTIONS] PATH | -")
    add_build_flags(p)
    p = add(gs, "prune", cmd_builder_prune, "Remove build cache", "palletctl builder prune [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true", help="remove all unused build cache, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="provide filter values (e.g. 'until=24h')")


def add_build_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--tag", action="append", default=[], help="name and optionally a tag (name:tag)")
    p.add_argument("-f", "--file", default=None, help="name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY[=VALUE]", help="set build-time variables")
    p.add_argument("--target", default="", help="set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="always attempt to pull a newer version of the image")
    p.add_argument("--network", default="", help="networking mode for the RUN instructions (default, host, none)")
    p.add_argument("--label", action="append", default=[], help="set metadata for an image")
    p.add_argument("--platform", default="", help="set platform (only the host's is built)")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the build output and print image ID on success")
    p.add_argument("--iidfile", default="", help="write the image ID to the file")
    p.add_argument("--secret", action="append", default=[], metavar="id=ID,src=PATH",
                   help="secret to expose to RUN --mount=type=secret (never stored in the image)")
    p.add_argument("--cache-from", action="append", default=[], help="images to consider as cache sources")
    p.add_argument("--reproducible", action="store_true",
                   help="same inputs, same image digest: clamp times to $SOURCE_DATE_EPOCH (default 1)")
    p.add_argument("--progress", default="auto", choices=["auto", "plain", "tty", "quiet"],
                   help="type of progress output")
    p.add_argument("context", metavar="PATH | -")


def _kv(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not k:
            raise CLIError(f"palletctl: invalid {flag} {v!r}: want KEY=VALUE")
        if not eq:
            if k not in os.environ:
                continue  # Docker: a bare --build-arg K takes K from the environment, if set
            val = os.environ[k]
        out[k] = val
    return out


def _secrets(values: list[str]) -> dict[str, bytes]:
    out = {}
    for spec in values:
        fields = dict(f.partition("=")[::2] for f in spec.split(","))
        sid = fields.get("id", "")
        src = fields.get("src") or fields.get("source") or ""
        env = fields.get("env", "")
        if not sid:
            raise CLIError(f"palletctl: invalid --secret {spec!r}: id= is required")
        if env:
            out[sid] = os.environ.get(env, "").encode()
            continue
        try:
            with open(src or os.path.join(os.getcwd(), sid), "rb") as f:
                out[sid] = f.read()
        except OSError as exc:
            raise CLIError(f"palletctl: --secret {sid}: {exc}") from None
    return out


def _context(args: argparse.Namespace) -> tuple[str, Iterator[bytes]]:
    """(the Dockerfile's name in the context, the context tar)."""
    from pallet import dockerignore
    from pallet.client import _buildctx

    if args.context == "-":
        kind, data = _buildctx.from_stdin(sys.stdin.buffer, args.file)
        return (args.file if kind == "tar" and args.file else "Dockerfile"), data
    src = _buildctx.resolve_dockerfile(args.context, args.file,
                                       stdin=sys.stdin.buffer if args.file == "-" else None)
    try:
        matcher = dockerignore.Matcher(dockerignore.load(os.path.join(src.context, ".dockerignore")))
    except dockerignore.DockerignoreError as exc:
        raise CLIError(f"palletctl: .dockerignore: {exc}", 1) from None
    return src.name, _buildctx.context_tar(src.context, src.name, matcher, dockerfile_content=src.content)


def cmd_build(args: argparse.Namespace) -> int:
    from pallet.client import _buildprogress
    from pallet.engine.v1 import engine_pb2 as pb

    dockerfile, chunks = _context(args)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch and not epoch.isdigit():
        raise CLIError(f"palletctl: invalid SOURCE_DATE_EPOCH {epoch!r}: want Unix seconds")
    opts = pb.BuildOptions(
        tags=args.tag, dockerfile=dockerfile, build_args=_kv(args.build_arg, "--build-arg"), target=args.target,
        no_cache=args.no_cache, pull=args.pull, network=args.network, labels=_kv(args.label, "--label"),
        platform=args.platform, source_date_epoch=int(epoch or (1 if args.reproducible else 0)),
        secrets=_secrets(args.secret), cache_from=args.cache_from)

    def requests() -> Iterator[Any]:
        yield pb.BuildRequest(options=opts)
        for chunk in chunks:
            yield pb.BuildRequest(context=chunk)

    quiet = args.quiet or args.progress == "quiet"
    image_id = ""
    with _buildprogress.make(args.progress, sys.stdout, quiet) as printer:
        try:
            for ev in client(args).builder.Build(requests()):
                kind = ev.WhichOneof("event")
                if kind == "image_id":
                    image_id = ev.image_id
                else:
                    printer.event(kind, ev)
        except KeyboardInterrupt:
            printer.finish(cancelled=True)
            raise
        except Exception as exc:
            from pallet.client._conn import describe_error

            printer.finish(failed=True)
            message = describe_error(exc, args.host)
            if message is None:
                raise
            print(message.replace("Error response from daemon: ", "ERROR: ", 1), file=sys.stderr)
            return 1
        printer.finish()
    if args.iidfile:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    if quiet:
        print(image_id)
    else:
        print("\n".join(success_lines(image_id, args.tag)))
    return 0


def success_lines(image_id: str, tags: list[str]) -> list[str]:
    """The classic builder's last lines, which older tools parse (palletctl's and the Docker API's):
    `Successfully built <12 hex>`, then `Successfully tagged <familiar name:tag>` for each tag."""
    from pallet import errors, reference

    out = [f"Successfully built {image_id.removeprefix('sha256:')[:12]}"]
    for tag in tags:
        try:
            name = reference.parse_tag_target(tag).familiar()
        except errors.PalletError:
            name = tag
        out.append(f"Successfully tagged {name}")
    return out


def cmd_builder_prune(args: argparse.Namespace) -> int:
    from pallet.client._format import human_size
    from pallet.client._prune import confirm
    from pallet.engine.v1 import engine_pb2 as pb

    if not args.force and not confirm("WARNING! This will remove all dangling build cache."):
        raise CLIError("builder prune has been cancelled", 1)
    res = client(args).builder.Prune(pb.BuilderPruneRequest(all=args.all, filters=args.filter))
    print(f"Deleted build cache objects: {res.entries}")
    print(f"Total reclaimed space: {human_size(res.space_reclaimed)}")
    return 0
