"""Connecting to palletd and turning gRPC failures into one line of text."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pallet.client import default_host

if TYPE_CHECKING:
    from pallet.client.sdk import Client

_clients: dict[str, Client] = {}


def client(args: argparse.Namespace) -> Client:
    """The SDK client for --host (grpc loads here, not for --help)."""
    from pallet.client.sdk import Client

    host = args.host or default_host()
    if host not in _clients:
        _clients[host] = Client(host)
    return _clients[host]


def close_all() -> None:
    for c in _clients.values():
        c.close()
    _clients.clear()


def describe_error(exc: BaseException, host: str | None) -> str | None:
    """The message for a failed call, or None if exc is not an RPC error."""
    import grpc

    if not isinstance(exc, grpc.RpcError) or not isinstance(exc, grpc.Call):
        return None
    code, details = exc.code(), exc.details() or ""
    low = details.lower()
    # gRPC's own words for a daemon it cannot reach (not an Unavailable the daemon reports itself).
    if code == grpc.StatusCode.UNAVAILABLE and (
        "failed to connect" in low or "no such file" in low or low.startswith("connection refused")
    ):
        return (f"Cannot connect to the Pallet daemon at {host or default_host()}. "
                "Is palletd running?")
    if code == grpc.StatusCode.CANCELLED:
        return "palletctl: request cancelled"
    return f"Error response from daemon: {details}"


def error_message(exc: Any) -> str:
    return describe_error(exc, None) or str(exc)
