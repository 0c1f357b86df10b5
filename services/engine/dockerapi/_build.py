"""POST /build: Docker's classic builder protocol over the Builder servicer.

The request is what docker's CLI sends with DOCKER_BUILDKIT=0 (and docker-py's images.build):
options in the query, the context as a tar body (plain or compressed; the builder extracts
either, as it does palletctl's), registry auth in X-Registry-Config. The answer is the classic
builder's NDJSON: `Step 1/3 : FROM busybox`, RUN output, ` ---> Using cache`, then
{"aux": {"ID": ...}}, `Successfully built <12 hex>` and `Successfully tagged <name>` (the lines
palletctl build ends with too); an error ends the stream as {"errorDetail", "error"}.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

from pallet import errors
from pallet.engine.dockerapi._http import HTTPError, Request

_NETWORKS = ("", "default", "bridge", "host", "none")


def _json_param(req: Request, name: str, kind: type) -> Any:
    raw = req.param(name)
    if not raw or raw == "null":
        return kind()
    try:
        doc = json.loads(raw)
    except ValueError:
        raise HTTPError(400, f"invalid {name}: {raw!r} is not JSON") from None
    if doc is None:
        return kind()
    if not isinstance(doc, kind):
        raise HTTPError(400, f"invalid {name}: want a JSON {'object' if kind is dict else 'array'}")
    return doc


def build_options(req: Request) -> Any:
    """Docker's /build query as pallet.engine.v1.BuildOptions.

    rm, forcerm (no intermediate containers are kept anyway), shmsize, extrahosts, ulimits and
    the resource limits are accepted and ignored: RUN steps use the builder's defaults."""
    from pallet.engine.v1 import engine_pb2 as pb

    if req.param("version") == "2":
        raise HTTPError(400, "BuildKit builds (version=2) are not supported by Pallet: build with DOCKER_BUILDKIT=0")
    if req.param("remote"):
        raise HTTPError(400, "remote build contexts are not supported by Pallet: send the context as a tar body")
    network = req.param("networkmode")
    if network not in _NETWORKS:
        raise HTTPError(400, f"network mode {network!r} is not supported for builds: want default, bridge, host "
                             "or none")
    build_args = {str(k): str(v) for k, v in _json_param(req, "buildargs", dict).items() if v is not None}
    labels = {str(k): str(v) for k, v in _json_param(req, "labels", dict).items()}
    cache_from = [str(x) for x in _json_param(req, "cachefrom", list)]
    return pb.BuildOptions(
        tags=[t for t in req.params("t") if t], dockerfile=req.param("dockerfile"), build_args=build_args,
        target=req.param("target"), no_cache=req.flag("nocache"), pull=_pull_flag(req.param("pull")),
        network="" if network == "default" else network, labels=labels, platform=req.param("platform"),
        cache_from=cache_from)


def _pull_flag(value: str) -> bool:
    # Docker's CLI sends pull=1; docker-py True; some tools a non-empty string ("always")
    return value.lower() not in ("", "0", "false", "no")


def classic_lines(events: Iterator[Any], tags: list[str], quiet: bool) -> Iterator[dict[str, Any]]:
    """The classic builder's messages for the Builder servicer's events.

    quiet (q=1): nothing but the aux ID and the image ID, unless the build fails: then what
    it printed comes first, before the error (as Docker does)."""
    held: list[dict[str, Any]] = []
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def say(text: str) -> Iterator[dict[str, Any]]:
        if not text:
            return
        if quiet:
            held.append({"stream": text})
        else:
            yield {"stream": text}

    image_id = ""
    try:
        for ev in events:
            kind = ev.WhichOneof("event")
            if kind != "output":
                yield from say(decoder.decode(b"", final=True))
                decoder.reset()
            if kind == "step":
                yield from say(f"Step {ev.step.index}/{ev.step.total} : {ev.step.instruction}\n")
            elif kind == "cached":
                yield from say(" ---> Using cache\n")
            elif kind == "output":
                yield from say(decoder.decode(ev.output))
            elif kind == "warning":
                yield from say(f"[WARNING]: {ev.warning}\n")
            elif kind == "image_id":
                image_id = ev.image_id
    except Exception:
        yield from held
        raise
    finally:
        close = getattr(events, "close", None)
        if close is not None:  # a client gone mid-build: the builder's generator cleans up as it closes
            close()
    if not image_id:
        raise errors.Internal("the build ended without an image")
    short = image_id.removeprefix("sha256:")[:12]
    if quiet:
        yield {"aux": {"ID": image_id}}
        yield {"stream": image_id + "\n"}
        return
    yield {"stream": f" ---> {short}\n"}
    yield {"aux": {"ID": image_id}}
    from pallet.client._build import success_lines

    for line in success_lines(image_id, list(tags)):
        yield {"stream": line + "\n"}


def completed_tar(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The context as sent, an uncompressed tar given its end: padding to a whole block and two zero blocks.

    docker's CLI adds a Dockerfile from outside the context (`-f ../Dockerfile`) with
    archive.ReplaceFileTarWrapper, which closes its pipe before the tar writer: the last
    member's padding and the end-of-archive blocks never come. Go's reader takes that as
    the end; the builder's extractor (Python's tarfile) wants the padding. Zero blocks after
    a complete archive are read as its end again, so adding them changes nothing else;
    compressed contexts (the CLI's --compress, docker-py's gzip) go through as they are."""
    from pallet.client._buildctx import BLOCK, detect_compression

    size = 0
    head = b""
    for chunk in chunks:
        if len(head) < 8:
            head += chunk[:8]
        size += len(chunk)
        yield chunk
    if size and not detect_compression(head):
        yield b"\0" * (-size % BLOCK + 2 * BLOCK)


def build(req: Request, builder: Any) -> Iterator[dict[str, Any]]:
    """Run the build the request asks for; its classic messages (the first event is produced before
    returning, so that a build failing at once is an HTTP error, as Docker answers it)."""
    from pallet.engine.dockerapi._progress import started
    from pallet.engine.v1 import engine_pb2 as pb

    opts = build_options(req)

    def requests() -> Iterator[Any]:
        yield pb.BuildRequest(options=opts)
        for chunk in completed_tar(req.body_chunks()):
            yield pb.BuildRequest(context=chunk)

    events = started(builder.Build(requests(), req))
    return classic_lines(events, list(opts.tags), req.flag("q"))
