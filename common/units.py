"""Go-style durations ("1m30s", "500ms") as Docker's flags take them."""

from __future__ import annotations

import re

from pallet import errors

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Nanoseconds for a Go duration; InvalidArgument when malformed or negative."""
    s = text.strip()
    if s == "0":
        return 0
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise errors.InvalidArgument(f'time: invalid duration "{text}"')
    return int(total)
