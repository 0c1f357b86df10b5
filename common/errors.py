"""One error vocabulary for every Pallet process.

Each error carries the gRPC status code it maps to (by name and number) so
that servers, the shim protocol and the CLI agree without importing grpc here.
"""

from __future__ import annotations


class PalletError(Exception):
    """Base of all expected errors: one clear message, no traceback."""

    code_name = "UNKNOWN"
    code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(PalletError):
    code_name, code = "INVALID_ARGUMENT", 3


class DeadlineExceeded(PalletError):
    code_name, code = "DEADLINE_EXCEEDED", 4


class NotFound(PalletError):
    code_name, code = "NOT_FOUND", 5


class AlreadyExists(PalletError):
    code_name, code = "ALREADY_EXISTS", 6


class PermissionDenied(PalletError):
    code_name, code = "PERMISSION_DENIED", 7


class ResourceExhausted(PalletError):
    code_name, code = "RESOURCE_EXHAUSTED", 8


class FailedPrecondition(PalletError):
    code_name, code = "FAILED_PRECONDITION", 9


class Internal(PalletError):
    code_name, code = "INTERNAL", 13


class Unavailable(PalletError):
    code_name, code = "UNAVAILABLE", 14


_BY_CODE: dict[int, type[PalletError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Internal,
        Unavailable,
    )
}


def from_code(code: int, message: str) -> PalletError:
    """The error class for a gRPC status code number."""
    return _BY_CODE.get(code, PalletError)(message)


def exit_code_for_start_error(message: str) -> int:
    """Docker's exit status for a process that could not be started (126, 127)."""
    low = message.lower()
    if "executable file not found" in low or "no such file or directory" in low:
        return 127
    if "permission denied" in low or "is a directory" in low:
        return 126
    return 128
