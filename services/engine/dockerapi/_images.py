"""Images: /images/*, /build and /auth, over the Images and Builder servicers the gRPC API serves.

JSON shapes come from where palletctl already draws them: image inspect is
pallet.client._inspect.image_json (with the few fields only the API has), load's lines are
pallet.client._images.loaded_lines, the progress bar is palletctl's. Pull and push progress
is translated in _progress, builds in _build.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pallet import errors
from pallet.engine.dockerapi._http import HTTPError, Reply, Request, Router, Stream, error_status, json_lines

SEARCH_UNSUPPORTED = "search is not supported by Pallet: there is no index to search; pull by name"


def _secs(msg: Any, field: str) -> int:
    return getattr(msg, field).seconds if msg.HasField(field) else 0


def image_summary(img: Any) -> dict[str, Any]:
    """An item of GET /images/json (Docker's ImageSummary)."""
    return {
        "Id": img.id, "ParentId": "", "RepoTags": list(img.repo_tags), "RepoDigests": list(img.repo_digests),
        "Created": _secs(img, "created"), "Size": img.size, "VirtualSize": img.size, "SharedSize": -1,
        "Labels": dict(img.config.labels), "Containers": -1,
    }


def image_inspect(img: Any) -> dict[str, Any]:
    """GET /images/{name}/json: palletctl's image inspect, with the fields of Docker's API it lacks."""
    from pallet.client._inspect import image_json

    doc = image_json(img)
    doc.update({"Parent": "", "Container": "", "DockerVersion": "", "VirtualSize": img.size,
                "GraphDriver": {"Name": "overlayfs", "Data": None}})
    if img.platform.variant:
        doc["Variant"] = img.platform.variant
    return doc


def history_json(entry: Any) -> dict[str, Any]:
    """An item of GET /images/{name}/history."""
    return {"Id": entry.id, "Created": _secs(entry, "created"), "CreatedBy": entry.created_by,
            "Tags": list(entry.tags) or None, "Size": entry.size, "Comment": entry.comment}


def delete_items(res: Any) -> list[dict[str, str]]:
    """A pallet.images.v1.DeleteImageResponse as Docker's [{"Untagged"}, ..., {"Deleted"}, ...]."""
    return [{"Untagged": n} for n in res.untagged] + [{"Deleted": d} for d in res.deleted]


def registry_ref(name: str, tag: str) -> tuple[str, bool]:
    """(the reference to pull or push, every tag?) for an image name and the tag parameter, as Docker
    combines them: tag replaces a tag in name and may be a digest; with neither naming a tag or
    digest, every tag of the repository (the API's behaviour, which Docker keeps)."""
    from pallet import reference

    try:
        ref = reference.parse_normalized(name.strip())
    except errors.PalletError as exc:
        raise HTTPError(400, f"invalid reference format: {exc.message}") from None
    if tag:  # a tag cannot hold ":", a digest does
        return f"{ref.name_only()}{'@' if ':' in tag else ':'}{tag}", False
    return str(ref), not (ref.tag or ref.digest)


def _image_ref(req: Request) -> str:
    name = req["name"]
    if not name:
        raise HTTPError(400, "an image name is required")
    return name


def routes(r: Router, s: Any) -> None:
    from pallet.client._images import loaded_lines, platform_proto
    from pallet.engine.dockerapi import _build, _progress
    from pallet.engine.v1 import engine_pb2 as pb
    from pallet.images.v1 import images_pb2 as ipb

    # -- the fixed paths first: /images/{name}/... must not take them --------------------------

    @r.route("GET", "/images/json")
    def image_list(req: Request) -> Reply:
        filters = req.filter_list()
        filters += [f"reference={x}" for x in req.params("filter") if x]  # the pre-1.28 parameter
        res = s.images.List(ipb.ListImagesRequest(filters=filters, all=req.flag("all")), req)
        return Reply(200, [image_summary(img) for img in res.images])

    @r.route("POST", "/images/create")
    def image_create(req: Request) -> Stream:
        if req.param("fromSrc"):
            return _import(req)
        if not req.param("fromImage"):
            raise HTTPError(400, "fromImage or fromSrc is required")
        ref, all_tags = registry_ref(req.param("fromImage"), req.param("tag"))
        request = ipb.PullImageRequest(ref=ref, auth=_progress.registry_auth(req),
                                       platform=platform_proto(req.param("platform").strip().lower()),
                                       all_tags=all_tags)
        lines = _progress.progress_lines(_progress.started(s.images.Pull(request, req)))
        return Stream(json_lines(lines), "application/json")

    def _import(req: Request) -> Stream:
        if req.param("fromSrc") != "-":
            raise HTTPError(400, "importing from a URL is not supported by Pallet: send the archive as the "
                                 "request body (fromSrc=-)")
        repo, tag = req.param("repo"), req.param("tag")
        name = f"{repo}:{tag}" if repo and tag else repo
        header = ipb.ImportImageHeader(ref=name, message=req.param("message"),
                                       changes=[c for c in req.params("changes") if c],
                                       platform=platform_proto(req.param("platform").strip().lower()))

        def requests() -> Iterator[Any]:
            yield ipb.ImportImageRequest(header=header)
            for chunk in req.body_chunks():
                yield ipb.ImportImageRequest(chunk=chunk)

        res = s.images.Import(requests(), req)
        return Stream(json_lines([{"status": res.image.id}]), "application/json")

    @r.route("POST", "/images/load")
    def image_load(req: Request) -> Reply:
        res = s.images.Load((ipb.LoadImageRequest(chunk=c) for c in req.body_chunks()), req)
        body = b"".join(json_lines({"stream": line + "\n"} for line in loaded_lines(res.loaded)))
        return Reply(200, body, "application/json")

    @r.route("GET", "/images/get")
    def image_save_many(req: Request) -> Stream:
        return _save(req, [n for n in req.params("names") if n])

    def _save(req: Request, refs: list[str]) -> Stream:
        if not refs:
            raise HTTPError(400, "no images to save: name at least one")
        chunks = _progress.started(s.images.Save(ipb.SaveImagesRequest(refs=refs), req))
        return Stream((c.data for c in chunks), "application/x-tar")

    @r.route("GET", "/images/search")
    def image_search(req: Request) -> Reply:
        raise HTTPError(501, SEARCH_UNSUPPORTED)

    @r.route("POST", "/images/prune")
    def image_prune(req: Request) -> Reply:
        all_ = False
        filters = []
        for f in req.filter_list():
            key, _, value = f.partition("=")
            if key == "dangling":
                if value.lower() not in ("true", "1", "false", "0"):
                    raise HTTPError(400, f"invalid filter 'dangling={value}'")
                all_ = value.lower() in ("false", "0")
                continue
            filters.append(f)
        res = s.images.Prune(pb.PruneRequest(filters=filters, all=all_), req)
        deleted = [item for d in res.images_deleted for item in delete_items(d)]
        return Reply(200, {"ImagesDeleted": deleted or None, "SpaceReclaimed": res.space_reclaimed})

    # -- /images/{name}/... ---------------------------------------------------------------------

    @r.route("GET", "/images/(?P<name>.+)/json")
    def image_inspect_route(req: Request) -> Reply:
        return Reply(200, image_inspect(s.images.Inspect(ipb.GetImageRequest(ref=_image_ref(req)), req)))

    @r.route("GET", "/images/(?P<name>.+)/history")
    def image_history(req: Request) -> Reply:
        res = s.images.History(ipb.GetImageRequest(ref=_image_ref(req)), req)
        return Reply(200, [history_json(e) for e in res.entries])

    @r.route("GET", "/images/(?P<name>.+)/get")
    def image_save_one(req: Request) -> Stream:
        return _save(req, [_image_ref(req)])

    @r.route("POST", "/images/(?P<name>.+)/tag")
    def image_tag(req: Request) -> Reply:
        repo, tag = req.param("repo"), req.param("tag")
        if not repo:
            raise HTTPError(400, "repository name must have at least one component")
        target = f"{repo}:{tag}" if tag else repo
        s.images.Tag(ipb.TagImageRequest(source=_image_ref(req), target=target), req)
        return Reply(201, None)

    @r.route("POST", "/images/(?P<name>.+)/push")
    def image_push(req: Request) -> Stream:
        ref, all_tags = registry_ref(_image_ref(req), req.param("tag"))
        request = ipb.PushImageRequest(ref=ref, auth=_progress.registry_auth(req), all_tags=all_tags)
        lines = _progress.progress_lines(_progress.started(s.images.Push(request, req)))
        return Stream(json_lines(lines), "application/json")

    @r.route("DELETE", "/images/(?P<name>.+)")
    def image_delete(req: Request) -> Reply:
        res = s.images.Remove(pb.RemoveImageRequest(ref=_image_ref(req), force=req.flag("force"),
                                                    no_prune=req.flag("noprune")), req)
        return Reply(200, delete_items(res))

    # -- build and login ------------------------------------------------------------------------

    @r.route("POST", "/build")
    def build(req: Request) -> Stream:
        return Stream(json_lines(_build.build(req, s.builder)), "application/json")

    @r.route("POST", "/auth")
    def auth(req: Request) -> Reply:
        body = req.json(default={})
        if not isinstance(body, dict):
            raise HTTPError(400, "invalid JSON body: not an object")
        server = body.get("serveraddress") or body.get("ServerAddress") or ""
        try:
            res = s.images.Login(ipb.LoginRequest(server=str(server), auth=_progress.auth_proto(body)), req)
        except Exception as exc:  # noqa: BLE001 - refused credentials are Docker's 401
            mapped = error_status(exc)
            if mapped is None:
                raise
            status, message = mapped
            raise HTTPError(401 if status in (401, 403) else status, message) from None
        return Reply(200, {"Status": res.status or "Login Succeeded", "IdentityToken": res.identity_token})
