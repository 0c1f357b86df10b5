"""gRPC client plumbing: addresses, channels and error mapping.

Clients (the CLI on every run) import only this; the server side lives in
pallet.server so health checking and reflection load only in services.
"""

from __future__ import annotations

import grpc
from pallet import errors

MAX_MESSAGE = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
]


def unix_path(address: str) -> str | None:
    """The filesystem path of a unix:// address, else None."""
    if address.startswith("unix://"):
        return address[len("unix://"):]
    if address.startswith("unix:"):
        return address[len("unix:"):]
    return None


def channel(address: str) -> grpc.Channel:
    """A client channel to a unix:// or host:port address."""
    path = unix_path(address)
    target = f"unix://{path}" if path is not None else address
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)


def to_error(exc: grpc.RpcError) -> errors.PalletError:
    """The PalletError for a failed call, for clients that want exceptions."""
    if isinstance(exc, grpc.Call):
        code = exc.code()
        details = exc.details() or code.name
        if code == grpc.StatusCode.UNAVAILABLE:
            return errors.Unavailable(details)
        return errors.from_code(code.value[0], details)
    return errors.PalletError(str(exc))
