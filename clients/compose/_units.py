"""Compose's scalar formats: Go durations, byte sizes, YAML-ish booleans and command lines."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

NS_PER_S = 1_000_000_000

# str2duration, which compose-go uses: Go's units plus days and weeks.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)")
_UNIT_NS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": NS_PER_S, "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S, "w": 7 * 86400 * NS_PER_S,
}
# go-units RAMInBytes: binary units, an optional "i" and "b".
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

TRUE_WORDS = ("y", "yes", "true", "on")
FALSE_WORDS = ("n", "no", "false", "off")


def parse_duration(text: str) -> int:
    """"1m30s", "500ms", "1.5h", "2d" → nanoseconds; ValueError when not a duration."""
    s = text.strip()
    sign = 1
    if s[:1] in ("-", "+"):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    pos, total = 0, Decimal(0)
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        total += Decimal(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    return sign * int(total)


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def format_duration(ns: int) -> str:
    """Nanoseconds as Go's time.Duration prints them: "1m30s", "1h0m0s", "500ms", "0s"."""
    if ns == 0:
        return "0s"
    u = abs(ns)
    if u < 1_000:
        text = f"{u}ns"
    elif u < 1_000_000:
        text = _fraction(u, 1_000) + "µs"
    elif u < NS_PER_S:
        text = _fraction(u, 1_000_000) + "ms"
    else:
        hours, rest = divmod(u, 3600 * NS_PER_S)
        minutes, rest = divmod(rest, 60 * NS_PER_S)
        text = _fraction(rest, NS_PER_S) + "s"
        if hours:
            text = f"{hours}h{minutes}m{text}"
        elif minutes:
            text = f"{minutes}m{text}"
    return "-" + text if ns < 0 else text


def parse_size(value: int | float | str) -> int:
    """"512m", "1g", "1.5GiB", 1024 → bytes (binary units, as docker's RAMInBytes)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid size: '{value}'")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    m = _SIZE.match(value.strip())
    if m is None:
        raise ValueError(f"invalid size: '{value}'")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        raise ValueError(f"invalid size: '{value}'") from None
    return int(number * _SIZE_UNITS[(m.group(2) or "").lower()])


def parse_bool(value: bool | str) -> bool:
    """A boolean, or one of the words YAML 1.1 reads as one (compose casts interpolated strings so)."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"invalid boolean: {value}")


def is_bool_like(value: object) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS)


def parse_int(value: int | str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"invalid integer: {value}")
    if isinstance(value, int):
        return value
    return int(value.strip(), 10)


def is_int_like(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value) is not None


def is_number_like(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def scalar_text(value: object) -> str:
    """A YAML scalar as the string compose makes of it (booleans lower-case, None empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def shell_split(command: str) -> list[str]:
    """A command line split into words as compose does (POSIX shell quoting, no expansion)."""
    import shlex

    try:
        return shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"invalid command line {command!r}: {exc}") from None
