"""Connecting to palletd and turning gRPC failures into one line of text."""

from __future__ import annotations

import argparse
from typing import Any

from pallet.client.sdk import Client, default_host

_clients: dict[str, Client] = {}


def client(args: argparse.Namespace) -> Client:
    host = args.host or default_host()
    if host not in _clients:
        _clients[host] = Client(host)
    return _clients[host]


def describe_error(exc: BaseException, host: str | None) -> str | None:
    """The message for a failed call, or None if exc is not an RPC error."""
    import grpc

    if not isinstance(exc, grpc.RpcError) or not isinstance(exc, grpc.Call):
        return None
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE and (
        "connect" in details.lower() or "no such file" in details.lower()
    ):
        return (f"Cannot connect to the Pallet daemon at {host or default_host()}. "
                "Is palletd running?")
    if code == grpc.StatusCode.CANCELLED:
        return "palletctl: request cancelled"
    return f"Error response from daemon: {details}"


def error_message(exc: Any) -> str:
    return describe_error(exc, None) or str(exc)
