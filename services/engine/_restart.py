"""Restart policies: when a container is restarted, and after how long.

Back-off starts at 100 ms and doubles up to a minute; it resets once the
container has run for 10 seconds, as Docker does.
"""

from __future__ import annotations

from typing import Any

from pallet import errors

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0
POLICIES = ("", "no", "always", "on-failure", "unless-stopped")


def parse(text: str) -> tuple[str, int]:
    """Docker's --restart value: no | always | unless-stopped | on-failure[:N]."""
    name, _, count = text.partition(":")
    if name not in POLICIES or (count and name != "on-failure"):
        raise errors.InvalidArgument(f"invalid restart policy '{text}'")
    try:
        n = int(count) if count else 0
    except ValueError:
        raise errors.InvalidArgument(f"maximum retry count must be an integer: {count}") from None
    if n < 0:
        raise errors.InvalidArgument("maximum retry count cannot be negative")
    return name or "no", n


def validate(policy: Any, auto_remove: bool) -> None:
    if policy.name not in POLICIES:
        raise errors.InvalidArgument(f"invalid restart policy '{policy.name}'")
    if policy.maximum_retry_count and policy.name != "on-failure":
        raise errors.InvalidArgument(f"maximum retry count cannot be used with restart policy '{policy.name}'")
    if auto_remove and policy.name not in ("", "no"):
        raise errors.InvalidArgument("Conflicting options: --restart and --rm")


def should_restart(policy: Any, exit_code: int, restart_count: int) -> bool:
    if policy.name in ("always", "unless-stopped"):
        return True
    if policy.name == "on-failure":
        return exit_code != 0 and (not policy.maximum_retry_count or restart_count < policy.maximum_retry_count)
    return False


def next_delay(previous: float | None, ran_seconds: float) -> float:
    if previous is None or ran_seconds >= RESET_AFTER:
        return INITIAL_DELAY
    return min(previous * 2, MAX_DELAY)


def on_daemon_start(policy: Any, stopped_by_user: bool) -> bool:
    """Whether an exited container is started when palletd starts."""
    return policy.name == "always" or (policy.name == "unless-stopped" and not stopped_by_user)
