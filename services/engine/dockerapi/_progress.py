"""Registry credentials and progress for the Docker API: X-Registry-Auth in, jsonmessage lines out.

Pull and push progress is imagesvc's (pallet.images.v1.PullImageResponse / PushImageResponse):
per-layer messages carry an id, whole-operation lines do not, and the last message of each
reference carries the result. Docker's jsonmessage shape is what the docker CLI and docker-py
read: {"status", "id", "progressDetail": {"current", "total"}, "progress": "[==>  ] 1MB/2MB"};
the bar is the one palletctl draws (pallet.client._registry).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from pallet.engine.dockerapi._http import Request

# "latest: Pulling from library/busybox" (imagesvc) is Docker's {"status": "Pulling from ...", "id": "latest"}
_PULLING = re.compile(r"^(\S+): (Pulling from .+)$")
_BAR_STATUSES = ("Downloading", "Extracting", "Pushing")
T = TypeVar("T")


def decode_auth_json(header: str) -> dict[str, Any]:
    """A base64url (or plain base64) JSON object, as Docker's clients encode X-Registry-Auth; {} if unreadable.

    Docker ignores a header it cannot decode (a pull without credentials), and so does this."""
    raw = header.strip()
    if not raw:
        return {}
    padded = raw + "=" * (-len(raw) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            doc = json.loads(decode(padded))
        except (binascii.Error, ValueError):
            continue
        return doc if isinstance(doc, dict) else {}
    return {}


def auth_proto(doc: dict[str, Any]) -> Any:
    """Docker's AuthConfig ({username, password, auth, identitytoken, registrytoken}) as a RegistryAuth."""
    from pallet.images.v1 import images_pb2 as ipb

    low = {str(k).lower(): v for k, v in doc.items()}  # Go's encoding/json matches names case-insensitively

    def text(key: str) -> str:
        value = low.get(key)
        return value if isinstance(value, str) else ""

    user, password = text("username"), text("password")
    encoded = text("auth")
    if encoded and not user:
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            user, _, password = base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode().partition(":")
    return ipb.RegistryAuth(username=user, password=password, identity_token=text("identitytoken"),
                            registry_token=text("registrytoken"))


def registry_auth(req: Request) -> Any:
    """The request's X-Registry-Auth as a pallet.images.v1.RegistryAuth (empty without one)."""
    return auth_proto(decode_auth_json(req.headers.get("X-Registry-Auth", "")))


def progress_json(msg: Any) -> list[dict[str, Any]]:
    """Docker's jsonmessage lines for one pull or push progress message (none for a pull's result)."""
    from pallet.client._registry import _bar

    if not msg.id:
        if not msg.status:
            return []  # a pull's last message: the image record, which Docker does not send
        m = _PULLING.match(msg.status)
        out = [{"status": m.group(2), "id": m.group(1)} if m else {"status": msg.status}]
        if getattr(msg, "tag", "") and msg.digest:  # a push's result: Docker adds it as aux
            out.append({"progressDetail": {}, "aux": {"Tag": msg.tag, "Digest": msg.digest, "Size": msg.size}})
        return out
    line: dict[str, Any] = {"status": msg.status, "progressDetail": {}, "id": msg.id}
    if msg.status in _BAR_STATUSES and msg.total:
        line["progressDetail"] = {"current": msg.current, "total": msg.total}
        line["progress"] = _bar(msg.current, msg.total)
    return [line]


def progress_lines(stream: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for msg in stream:
        yield from progress_json(msg)


def started(items: Iterable[T]) -> Iterator[T]:
    """items, its first one produced now: what fails before any output fails the request with its HTTP
    status (as Docker answers when nothing was written yet); later failures end the stream with an
    error line (pallet.engine.dockerapi._http)."""
    it = iter(items)
    try:
        first = next(it)
    except StopIteration:
        return iter(())

    def rest() -> Iterator[T]:
        try:
            yield first
            yield from it
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    return rest()
