"""palletd's endpoints: unix sockets (0660 root:GROUP) and TCP, which wants mutual TLS.

The rules, checked before anything listens:

- unix:///path: plain; the socket is made 0660 and given to --group (default `pallet`, kept
  root's when that group does not exist and was not asked for by name).
- tcp://ADDR:PORT with --tlsverify: clients must show a certificate signed by --tlscacert.
- tcp:// on a loopback address may be plain.
- Any other plain or server-only-TLS tcp:// endpoint lets anyone who reaches the port drive the
  daemon, i.e. be root on the host: it is refused unless asked for outright (--tls=false for
  plain, --tls for TLS without client certificates), and then logged as a warning.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pallet import errors, rpc

if TYPE_CHECKING:
    import grpc

DEFAULT_TLS_DIR = "/etc/pallet/tls"


@dataclass(frozen=True)
class TLSFiles:
    ca: str
    cert: str
    key: str
    verify: bool


@dataclass(frozen=True)
class Listener:
    address: str            # unix:///path or tcp://host:port as given
    bind: str               # what grpc binds: unix:///path or host:port
    tls: TLSFiles | None
    warning: str = ""


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def _split(address: str) -> tuple[str, str]:
    rest = address[len("tcp://"):].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise errors.InvalidArgument(f"invalid -H {address!r}: use tcp://ADDRESS:PORT (e.g. tcp://0.0.0.0:2376)")
    return host, port


def plan(hosts: list[str], tls: bool | None, tlsverify: bool, ca: str, cert: str, key: str) -> list[Listener]:
    """Listeners for -H values and the TLS flags, or InvalidArgument saying what to change."""
    out: list[Listener] = []
    for address in hosts:
        path = rpc.unix_path(address)
        if path is not None:
            if not path:
                raise errors.InvalidArgument(f"invalid -H {address!r}: no socket path")
            out.append(Listener(address, f"unix://{path}", None))
            continue
        if address.startswith("fd://"):
            raise errors.InvalidArgument("fd:// (socket activation) is not supported: gRPC cannot serve on an "
                                         "inherited socket; use unix:// or tcp://")
        if not address.startswith("tcp://"):
            raise errors.InvalidArgument(f"invalid -H {address!r}: use unix:///path or tcp://ADDRESS:PORT")
        host, port = _split(address)
        bind = f"{host}:{port}"
        if tlsverify:
            out.append(Listener(address, bind, _files(ca, cert, key, verify=True)))
        elif tls:
            out.append(Listener(address, bind, _files(ca, cert, key, verify=False),
                                "" if _is_loopback(host) else
                                f"{address}: TLS without client verification (--tls): anyone who can reach "
                                "this port can control palletd; use --tlsverify"))
        elif _is_loopback(host):
            out.append(Listener(address, bind, None))
        elif tls is False:
            out.append(Listener(address, bind, None,
                                f"{address}: plain TCP without TLS (--tls=false): anyone who can reach this "
                                "port is root on this host; use --tlsverify"))
        else:
            raise errors.InvalidArgument(
                f"refusing to listen on {address} without TLS: anyone who can reach it would be root on this "
                "host. Use --tlsverify with --tlscacert, --tlscert and --tlskey (`palletctl tls init` makes "
                "them), bind to 127.0.0.1, or force plain TCP with --tls=false")
    return out


def _files(ca: str, cert: str, key: str, verify: bool) -> TLSFiles:
    files = TLSFiles(ca or os.path.join(DEFAULT_TLS_DIR, "ca.pem"),
                     cert or os.path.join(DEFAULT_TLS_DIR, "server-cert.pem"),
                     key or os.path.join(DEFAULT_TLS_DIR, "server-key.pem"), verify)
    for flag, path in (("--tlscert", files.cert), ("--tlskey", files.key)) + (
            (("--tlscacert", files.ca),) if verify else ()):
        if not os.path.isfile(path):
            raise errors.InvalidArgument(f"{flag} {path}: no such file (`palletctl tls init --out DIR` makes a CA "
                                         "and certificates)")
    return files


def credentials(files: TLSFiles) -> grpc.ServerCredentials:
    import grpc

    def read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    return grpc.ssl_server_credentials(
        [(read(files.key), read(files.cert))],
        root_certificates=read(files.ca) if files.verify else None,
        require_client_auth=files.verify)


def socket_group(name: str, explicit: bool) -> int | None:
    """The gid for unix sockets, None to leave them root's (the default group is missing)."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        if explicit:
            raise errors.InvalidArgument(f"--group {name}: no such group (create it with `groupadd {name}`)") \
                from None
        return None
