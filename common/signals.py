"""Signal names as Docker accepts them: KILL, SIGKILL, 9."""

from __future__ import annotations

import signal

from pallet import errors


def parse(value: str | int, default: int = signal.SIGKILL) -> int:
    """A signal number from a name or number; InvalidArgument if unknown."""
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if not text:
        return int(default)
    if text.isdigit():
        num = int(text)
        if 0 < num < signal.NSIG:
            return num
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise errors.InvalidArgument(f"invalid signal: {value}")
