"""Connecting to palletd and turning gRPC failures into one line of text."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pallet.client import default_host

if TYPE_CHECKING:
    from pallet.client._endpoint import Endpoint
    from pallet.client.sdk import Client

_clients: dict[Endpoint, Client] = {}
_last: list[Endpoint] = []


def endpoint(args: argparse.Namespace) -> Endpoint:
    """The daemon -H/--context/--tls* and the environment choose (a usage error if they clash)."""
    from pallet.client._endpoint import EndpointError, resolve
    from pallet.client.cli import CLIError

    try:
        return resolve(args)
    except EndpointError as exc:
        raise CLIError(f"palletctl: {exc}", 1) from None


def client(args: argparse.Namespace) -> Client:
    """The SDK client for the chosen daemon (grpc loads here, not for --help)."""
    from pallet.client.sdk import Client

    ep = endpoint(args)
    if ep not in _clients:
        tls = ep.tls_config()
        _clients[ep] = Client(ep.host, tls=tls) if tls is not None else Client(ep.host)
        _last[:] = [ep]
    return _clients[ep]


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
    if _last:
        host = _last[0].host
    if code == grpc.StatusCode.UNAVAILABLE and ("handshake" in low or "ssl_error" in low):
        reason = details.rsplit("SSL routines:", 1)[-1].split(":")[-2:] if "SSL routines:" in details else [details]
        return (f"Cannot connect to the Pallet daemon at {host}: TLS handshake failed "
                f"({': '.join(r.strip() for r in reason if r.strip())}). Check --tlscacert, --tlscert and "
                "--tlskey (or $PALLET_CERT_PATH): the daemon's certificate must be signed by your CA, and yours "
                "by the daemon's.")
    if code == grpc.StatusCode.UNAVAILABLE and "socket closed" in low and host and host.startswith("tcp://"):
        return (f"Cannot connect to the Pallet daemon at {host}: it closed the connection. If it requires TLS, "
                "use --tlsverify with a client certificate signed by its CA (--tlscacert, --tlscert, --tlskey "
                "or $PALLET_CERT_PATH).")
    from pallet.client._sdk_errors import is_connect_failure

    if code == grpc.StatusCode.UNAVAILABLE and is_connect_failure(details):
        return (f"Cannot connect to the Pallet daemon at {host or default_host()}. "
                "Is palletd running?")
    if code == grpc.StatusCode.CANCELLED:
        return "palletctl: request cancelled"
    return f"Error response from daemon: {details}"


def error_message(exc: Any) -> str:
    return describe_error(exc, None) or str(exc)
