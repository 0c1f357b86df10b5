"""Registry credentials in Docker's config.json (`auths`), read by the CLI and sent with each request.

The file is $DOCKER_CONFIG/config.json, else ~/.docker/config.json (or `palletctl --config DIR`).
Entries are keyed like Docker's: "https://index.docker.io/v1/" for Docker Hub, host[:port]
otherwise, with a base64 "user:password" in "auth" (or an "identitytoken"). Other keys of the
file are kept as they are. The file is written 0600, atomically.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from typing import Any

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = ("", "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


class AuthFileError(Exception):
    pass


def config_path(config_dir: str | None = None) -> str:
    d = config_dir or os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(d, "config.json")


def hostname(server: str) -> str:
    """Docker's ConvertToHostname: the host[:port] of a server address or URL."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        s = s.removeprefix(prefix)
    return s.split("/", 1)[0]


def server_key(server: str) -> str:
    """The config.json key for a registry: Docker Hub's legacy URL, else host[:port]."""
    host = hostname(server)
    return DOCKER_HUB_KEY if host in _HUB_NAMES else host


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AuthFileError(f"loading config file {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise AuthFileError(f"loading config file {path}: not a JSON object")
    return doc


def save(path: str, doc: dict[str, Any]) -> None:
    d = os.path.dirname(path) or "."
    os.makedirs(d, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=d)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent="\t")
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _entry(doc: dict[str, Any], server: str) -> dict[str, Any] | None:
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        return None
    key = server_key(server)
    if isinstance(auths.get(key), dict):
        return auths[key]  # type: ignore[no-any-return]
    for k, v in auths.items():  # "https://host", "http://host/v2/" ... as older clients wrote them
        if isinstance(v, dict) and server_key(k) == key:
            return v
    return None


def get(path: str, server: str) -> tuple[str, str, str]:
    """(username, password, identity token) stored for a registry, or empty strings."""
    e = _entry(load(path), server)
    if e is None:
        return "", "", ""
    user, password = str(e.get("username") or ""), str(e.get("password") or "")
    raw = e.get("auth")
    if isinstance(raw, str) and raw:
        try:
            user, _, password = base64.b64decode(raw).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthFileError(f"{path}: invalid auth configuration for {server_key(server)}") from None
    return user, password, str(e.get("identitytoken") or "")


def store(path: str, server: str, username: str, password: str, identity_token: str = "") -> None:
    doc = load(path)
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        auths = {}
        doc["auths"] = auths
    entry: dict[str, Any] = {"auth": base64.b64encode(f"{username}:{'' if identity_token else password}".encode())
                             .decode()}
    if identity_token:
        entry["identitytoken"] = identity_token
    auths[server_key(server)] = entry
    save(path, doc)


def remove(path: str, server: str) -> bool:
    """Forget a registry's credentials; False if there were none."""
    doc = load(path)
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        return False
    key = server_key(server)
    gone = [k for k in auths if k == key or server_key(k) == key]
    for k in gone:
        del auths[k]
    if gone:
        save(path, doc)
    return bool(gone)
