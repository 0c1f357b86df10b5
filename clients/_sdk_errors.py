"""The SDK's typed errors: pallet.errors' classes, raised for failed calls.

    from pallet.client.sdk import Client, NotFound, Unavailable

    try:
        Client().containers.get("nope")
    except NotFound as exc:
        print(exc)            # No such container: nope
    except Unavailable as exc:
        print(exc)            # Cannot connect to the Pallet daemon at unix://... Is palletd running? (...)

Every class derives from PalletError; each carries the gRPC status it stands
for (``code_name``, ``code``). The grpc.RpcError that caused one is its
``__cause__``. Raw CamelCase calls (client.containers.List(...)) still raise
grpc.RpcError: only the typed methods translate.
"""

from __future__ import annotations

from typing import Any

import grpc
from pallet import rpc
from pallet.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PalletError,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
    from_code,
)

__all__ = [
    "AlreadyExists",
    "Cancelled",
    "Conflict",
    "ContainerError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PalletError",
    "PermissionDenied",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
    "from_rpc_error",
    "is_connect_failure",
]

# Docker calls a name already in use a conflict; palletd answers ALREADY_EXISTS.
Conflict = AlreadyExists


class Cancelled(PalletError):
    """The call was cancelled (by the client, or the daemon shutting down)."""

    code_name, code = "CANCELLED", 1


class Unimplemented(PalletError):
    """The daemon does not know the call: it is older than this SDK."""

    code_name, code = "UNIMPLEMENTED", 12


class ContainerError(PalletError):
    """containers.run(): the container exited with a non-zero status."""

    def __init__(self, container: str, exit_status: int, command: tuple[str, ...] | list[str] | str | None,
                 image: str, stderr: bytes) -> None:
        err = stderr.decode(errors="replace").strip()
        cmd = " ".join(command) if isinstance(command, list | tuple) else (command or "")
        super().__init__(f"Command '{cmd}' in image '{image}' returned non-zero exit status {exit_status}"
                         + (f": {err}" if err else ""))
        self.container = container
        self.exit_status = exit_status
        self.command = command
        self.image = image
        self.stderr = stderr


_SDK_CODES: dict[int, type[PalletError]] = {Cancelled.code: Cancelled, Unimplemented.code: Unimplemented}


def is_connect_failure(details: str) -> bool:
    """gRPC's own words for a daemon it cannot reach (not an UNAVAILABLE the daemon sends itself)."""
    low = details.lower()
    return "failed to connect" in low or "no such file" in low or "connection refused" in low


def from_rpc_error(exc: BaseException, *, host: str = "", method: str = "",
                   timeout: float | None = None) -> PalletError:
    """The PalletError for a failed call (a grpc.RpcError, sync or asyncio).

    host names the daemon for Unavailable; method and timeout make the
    DeadlineExceeded message say which call ran out of time.
    """
    code_fn = getattr(exc, "code", None)
    if code_fn is None:
        return PalletError(str(exc))
    code: Any = code_fn()
    details = (exc.details() if hasattr(exc, "details") else "") or ""  # type: ignore[attr-defined]
    name = getattr(code, "name", "UNKNOWN")
    number = code.value[0] if hasattr(code, "value") else 2
    if name == "UNAVAILABLE":
        if not details or is_connect_failure(details):
            where = host or "the configured host"
            return Unavailable(f"Cannot connect to the Pallet daemon at {where}. Is palletd running?"
                               + (f" ({details})" if details else ""))
        return Unavailable(details)
    if name == "DEADLINE_EXCEEDED":
        if timeout is None and details and details != "Deadline Exceeded":
            return DeadlineExceeded(details)  # the daemon's own deadline, in its words
        what = method or "the call"
        after = f" after {timeout:g}s" if timeout is not None else ""
        at = f" (daemon at {host})" if host else ""
        return DeadlineExceeded(f"{what} timed out{after}{at}")
    if number in _SDK_CODES:
        return _SDK_CODES[number](details or name.lower())
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return rpc.to_error(exc)
    return from_code(number, details or name)
