"""Merging compose files (and `extends`), by the Compose Specification's merge rules.

Both sides are in canonical form (see _canonical), so one generic rule covers most cases:
mappings merge key by key (environment, labels, sysctls, networks, depends_on, deploy,
ulimits...), sequences append, scalars are overridden. The exceptions: `command`, `entrypoint`
and `healthcheck.test` are replaced; `logging` is replaced when the driver changes; `x-*`
extensions are replaced. Then, as compose's EnforceUnicity does, sequences whose entries have
an identity (ports by host ip/port/target/protocol; volumes, secrets, configs, devices by
target; env_file by path; dns, cap_add, expose, tmpfs... by value) keep one entry per identity:
at the place of the first, with the value of the last.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

Path = tuple[str, ...]
Pattern = tuple[str, ...]


def _matches(path: Path, pattern: Pattern) -> bool:
    return len(path) == len(pattern) and all(p in ("*", part) for part, p in zip(path, pattern, strict=True))


def _first(path: Path, patterns: Iterable[Pattern]) -> bool:
    return any(_matches(path, p) for p in patterns)


_REPLACED: tuple[Pattern, ...] = (
    ("services", "*", "command"),
    ("services", "*", "entrypoint"),
    ("services", "*", "healthcheck", "test"),
)
_NULL_KEEPS_BASE: tuple[Pattern, ...] = (("services", "*", "networks", "*"),)
_LOGGING: Pattern = ("services", "*", "logging")


def merge(base: Any, over: Any, path: Path = ()) -> Any:
    """over merged onto base (neither is modified)."""
    if _first(path, _REPLACED):
        return copy.deepcopy(over)
    if _matches(path, _LOGGING) and isinstance(base, dict) and isinstance(over, dict):
        driver, other = base.get("driver"), over.get("driver")
        if driver and other and driver != other:
            return copy.deepcopy(over)
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            if key in out and not key.startswith("x-"):
                out[key] = merge(out[key], value, path + (key,))
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(over, list):
        return base + copy.deepcopy(over)
    if over is None and _first(path, _NULL_KEEPS_BASE):
        return base
    return copy.deepcopy(over)


def merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A service definition merged onto another (files and `extends` alike)."""
    merged: dict[str, Any] = merge({"services": {"s": base}}, {"services": {"s": over}})["services"]["s"]
    return merged


def delete_path(model: dict[str, Any], path: Path) -> None:
    """Remove the value at path (a `!reset` or `!override` of a later file), if there is one."""
    node: Any = model
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)


# -- unicity ----------------------------------------------------------------------------------


def port_key(port: dict[str, Any]) -> str:
    return f"{port.get('host_ip') or '0.0.0.0'}:{port.get('published') or ''}:{port['target']}/{port['protocol']}"


def _by(field: str) -> Callable[[Any], str]:
    return lambda entry: str(entry.get(field)) if isinstance(entry, dict) else str(entry)


def _itself(entry: Any) -> str:
    return str(entry)


_UNIQUE: tuple[tuple[Pattern, Callable[[Any], str]], ...] = (
    (("services", "*", "ports"), port_key),
    (("services", "*", "volumes"), _by("target")),
    (("services", "*", "secrets"), _by("target")),
    (("services", "*", "configs"), _by("target")),
    (("services", "*", "devices"), _by("target")),
    (("services", "*", "env_file"), _by("path")),
    (("services", "*", "build", "secrets"), _by("target")),
    (("networks", "*", "ipam", "config"), _by("subnet")),
    *((("services", "*", key), _itself) for key in (
        "expose", "cap_add", "cap_drop", "dns", "dns_opt", "dns_search", "links", "profiles", "tmpfs",
        "extra_hosts", "external_links", "security_opt", "group_add", "device_cgroup_rules")),
    *((("services", "*", "build", key), _itself) for key in ("tags", "platforms", "extra_hosts", "cache_from")),
    *((("services", "*", "networks", "*", key), _itself) for key in ("aliases", "link_local_ips")),
)


def dedupe(entries: list[Any], key: Callable[[Any], str]) -> list[Any]:
    """One entry per key: at the position of the first occurrence, with the value of the last."""
    out: list[Any] = []
    index: dict[str, int] = {}
    for entry in entries:
        k = key(entry)
        if k in index:
            out[index[k]] = entry
        else:
            index[k] = len(out)
            out.append(entry)
    return out


def enforce_unique(tree: Any, path: Path = ()) -> Any:
    """The tree with its identity-keyed sequences deduplicated."""
    if isinstance(tree, dict):
        return {key: enforce_unique(value, path + (key,)) for key, value in tree.items()}
    if isinstance(tree, list):
        for pattern, key in _UNIQUE:
            if _matches(path, pattern):
                return dedupe(tree, key)
    return tree
