"""Dockerfile-style `--change` instructions applied to an image config (docker import -c)."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from typing import Any

from pallet import errors, signals

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "WORKDIR", "USER", "LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL",
           "HEALTHCHECK")
_PORT_RE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$")


def _json_list(rest: str) -> list[str] | None:
    text = rest.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _words(rest: str, what: str) -> list[str]:
    try:
        return shlex.split(rest, posix=True)
    except ValueError as exc:
        raise errors.InvalidArgument(f"{what}: {exc}") from None


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    """KEY=VALUE ... (quotes allowed), or the legacy `KEY VALUE...` form."""
    words = _words(rest, what)
    if not words:
        raise errors.InvalidArgument(f"{what} requires at least one argument")
    if "=" not in words[0]:
        parts = rest.strip().split(None, 1)
        if len(parts) < 2:
            raise errors.InvalidArgument(f"{what} must have two arguments")
        return [(parts[0], parts[1])]
    out = []
    for w in words:
        key, sep, value = w.partition("=")
        if not sep or not key:
            raise errors.InvalidArgument(f"{what}: invalid key=value pair {w!r}")
        out.append((key, value))
    return out


def _ports(rest: str) -> list[str]:
    out = []
    for word in _words(rest, "EXPOSE"):
        m = _PORT_RE.match(word)
        if m is None:
            raise errors.InvalidArgument(f"invalid containerPort: {word}")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        proto = m.group(3) or "tcp"
        if not (0 < lo <= hi <= 65535):
            raise errors.InvalidArgument(f"invalid port range: {word}")
        out += [f"{p}/{proto}" for p in range(lo, hi + 1)]
    return out


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """The container config (Docker's `config` object) after the changes."""
    for change in changes:
        text = change.strip()
        if not text:
            continue
        parts = text.split(None, 1)
        instr, rest = parts[0], parts[1] if len(parts) > 1 else ""
        cmd = instr.upper()
        if cmd not in ALLOWED:
            raise errors.InvalidArgument(f"{instr} is not a valid change command")
        if not rest.strip() and cmd not in ("CMD", "ENTRYPOINT"):
            raise errors.InvalidArgument(f"{cmd} requires at least one argument")
        if cmd in ("CMD", "ENTRYPOINT"):
            argv = _json_list(rest)
            if argv is None:
                argv = ["/bin/sh", "-c", rest.strip()] if rest.strip() else []
            config["Cmd" if cmd == "CMD" else "Entrypoint"] = argv
        elif cmd == "ENV":
            env = list(config.get("Env") or [])
            for key, value in _pairs(rest, "ENV"):
                keys = [e.split("=", 1)[0] for e in env]
                if key in keys:  # replaced in place, as Docker does
                    env[keys.index(key)] = f"{key}={value}"
                else:
                    env.append(f"{key}={value}")
            config["Env"] = env
        elif cmd == "LABEL":
            labels = dict(config.get("Labels") or {})
            labels.update(_pairs(rest, "LABEL"))
            config["Labels"] = labels
        elif cmd == "WORKDIR":
            path = rest.strip()
            config["WorkingDir"] = posixpath.normpath(posixpath.join("/", config.get("WorkingDir") or "/", path))
        elif cmd == "USER":
            config["User"] = rest.strip()
        elif cmd == "EXPOSE":
            ports = dict(config.get("ExposedPorts") or {})
            ports.update({p: {} for p in _ports(rest)})
            config["ExposedPorts"] = ports
        elif cmd == "VOLUME":
            paths = _json_list(rest)
            if paths is None:
                paths = rest.split()
            if not paths or any(not p for p in paths):
                raise errors.InvalidArgument("VOLUME specified can not be an empty string")
            vols = dict(config.get("Volumes") or {})
            vols.update({p: {} for p in paths})
            config["Volumes"] = vols
        elif cmd == "HEALTHCHECK":
            config["Healthcheck"] = _healthcheck(rest)
        elif cmd == "STOPSIGNAL":
            sig = rest.strip()
            signals.parse(sig)
            config["StopSignal"] = sig
    return config


def _healthcheck(rest: str) -> dict[str, Any]:
    """HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--retries=N] CMD ... | NONE."""
    from pallet.units import parse_duration

    words = rest.split(None)
    check: dict[str, Any] = {}
    keys = {"--interval": "Interval", "--timeout": "Timeout", "--start-period": "StartPeriod"}
    while words and words[0].startswith("--"):
        flag, _, value = words.pop(0).partition("=")
        if flag in keys:
            check[keys[flag]] = parse_duration(value)
        elif flag == "--retries" and value.isdigit():
            check["Retries"] = int(value)
        else:
            raise errors.InvalidArgument(f"HEALTHCHECK: unknown flag or bad value: {flag}")
    kind = words[0].upper() if words else ""
    if kind == "NONE" and len(words) == 1:
        return {"Test": ["NONE"]}
    if kind != "CMD" or len(words) < 2:
        raise errors.InvalidArgument("HEALTHCHECK requires CMD followed by a command, or NONE")
    after = rest.strip().split(None, len(rest.split()) - len(words) + 1)[-1]  # the text after CMD
    argv = _json_list(after)
    check["Test"] = ["CMD", *argv] if argv is not None else ["CMD-SHELL", after]
    return check
