"""gRPC client plumbing: addresses, channels and error mapping.

Clients (the CLI on every run) import only this; the server side lives in
pallet.server so health checking and reflection load only in services.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class TLSConfig:
    """Client TLS files (Docker's names: ca.pem, cert.pem, key.pem).

    ca verifies the server (the system roots when empty); cert and key are the client's
    certificate for a daemon that runs with --tlsverify.
    """

    ca: str = ""
    cert: str = ""
    key: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str) -> bytes | None:
            if not path:
                return None
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError as exc:
                raise errors.InvalidArgument(f"cannot read TLS file {path}: {exc.strerror}") from None

        return grpc.ssl_channel_credentials(root_certificates=read(self.ca), private_key=read(self.key),
                                            certificate_chain=read(self.cert))


def tcp_target(address: str) -> str | None:
    """host:port of a tcp:// address (or a bare host:port), else None for unix addresses."""
    if unix_path(address) is not None:
        return None
    rest = address[len("tcp://"):] if address.startswith("tcp://") else address
    return rest.rstrip("/")


def channel(address: str, tls: TLSConfig | None = None,
            options: list[tuple[str, object]] | None = None) -> grpc.Channel:
    """A client channel to a unix://PATH or tcp://HOST:PORT address, over TLS when tls is given."""
    opts = [*CHANNEL_OPTIONS, *(options or [])]
    path = unix_path(address)
    if path is not None:
        return grpc.insecure_channel(f"unix://{path}", options=opts)
    target = tcp_target(address) or address
    if tls is not None:
        return grpc.secure_channel(target, tls.credentials(), options=opts)
    return grpc.insecure_channel(target, options=opts)


def to_error(exc: grpc.RpcError) -> errors.PalletError:
    """The PalletError for a failed call, for clients that want exceptions."""
    if isinstance(exc, grpc.Call):
        code = exc.code()
        details = exc.details() or code.name
        if code == grpc.StatusCode.UNAVAILABLE:
            return errors.Unavailable(details)
        return errors.from_code(code.value[0], details)
    return errors.PalletError(str(exc))
