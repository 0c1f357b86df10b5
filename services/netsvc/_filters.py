"""`network ls` filters (Docker's): parsed from KEY=VALUE strings and matched against pallet.net.v1
Networks. Pure: palletd uses them too, for the cluster's overlay networks a node has no local part of."""

from __future__ import annotations

from typing import Any

from pallet import errors

PREDEFINED = ("bridge", "host", "none")
KEYS = ("name", "id", "driver", "label", "label!", "type", "dangling", "scope")


def labels_match(labels: Any, wanted: list[str], negate: bool = False) -> bool:
    for w in wanted:
        k, eq, v = w.partition("=")
        hit = k in labels and (not eq or labels[k] == v)
        if hit == negate:
            return False
    return True


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in filters:
        key, eq, value = f.partition("=")
        if key.endswith("!") and eq:
            key, value = key[:-1] + "!", value
        if not eq:
            raise errors.InvalidArgument(f"bad filter {f!r}: want KEY=VALUE")
        out.setdefault(key, []).append(value)
    return out


def matches(net: Any, f: dict[str, list[str]]) -> bool:
    """Whether a pallet.net.v1.Network (with its endpoints) passes every filter."""
    for key, values in f.items():
        if key not in KEYS:
            raise errors.InvalidArgument(f"invalid filter '{key}'")
        if key == "name" and not any(v in net.name for v in values):
            return False
        if key == "id" and not any(net.id.startswith(v) for v in values):
            return False
        if key == "driver" and net.driver not in values:
            return False
        if key == "scope" and (net.scope or "local") not in values:
            return False
        if key == "label" and not labels_match(net.labels, values):
            return False
        if key == "label!" and not labels_match(net.labels, values, negate=True):
            return False
        if key == "type" and ("builtin" if net.name in PREDEFINED else "custom") not in values:
            return False
        if key == "dangling" and (len(net.endpoints) == 0 and net.name not in PREDEFINED) != (
                values[-1].lower() in ("true", "1")):
            return False
    return True
