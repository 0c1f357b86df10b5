"""Which daemon a command talks to, and how: -H, --context, TLS flags and the environment.

Docker's rules carry over with Pallet's names:

- `-H/--host` wins, then `--context`, then `$PALLET_HOST`, then `$PALLET_CONTEXT`, then the
  current context saved by `palletctl context use`, then the default unix socket. Giving both
  -H and --context is an error.
- `--tlsverify` (or `$PALLET_TLS_VERIFY` set to anything but empty/0/false) verifies the daemon
  with `ca.pem` and shows it `cert.pem`/`key.pem` from `$PALLET_CERT_PATH` (default ~/.pallet);
  `--tlscacert/--tlscert/--tlskey` name the files one by one. `--tls` alone uses TLS too.
- A context carries its own host and TLS files (see pallet.client._context).

Nothing here imports grpc: the CLI resolves its endpoint before it needs a channel.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pallet.client import DEFAULT_HOST

if TYPE_CHECKING:
    from pallet.rpc import TLSConfig


class EndpointError(Exception):
    """A bad combination of flags, or a context that does not exist."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    ca: str = ""
    cert: str = ""
    key: str = ""
    tls: bool = False
    context: str = "default"

    def tls_config(self) -> TLSConfig | None:
        """The channel's TLS files (pallet.rpc loads grpc, so it is imported here, late)."""
        if not self.tls:
            return None
        from pallet.rpc import TLSConfig

        return TLSConfig(ca=self.ca, cert=self.cert, key=self.key)


def config_dir() -> str:
    """Where palletctl keeps contexts and its config.json: $PALLET_CONFIG or ~/.pallet."""
    return os.environ.get("PALLET_CONFIG") or os.path.join(os.path.expanduser("~"), ".pallet")


def cert_dir() -> str:
    return os.environ.get("PALLET_CERT_PATH") or config_dir()


def _truthy(value: str | None) -> bool:
    return bool(value) and value.strip().lower() not in ("0", "false", "no", "off")  # type: ignore[union-attr]


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The global flags that choose the daemon (palletctl and pallet-compose share them)."""
    parser.add_argument("-H", "--host", default=None,
                        help=f"daemon socket to connect to (default $PALLET_HOST or {DEFAULT_HOST}; "
                             "tcp://HOST:PORT for a remote daemon)")
    parser.add_argument("-c", "--context", dest="use_context", default=None,
                        help="name of the context to use (overrides $PALLET_HOST and the one set by "
                             "'palletctl context use')")
    parser.add_argument("--tls", action="store_true", default=None, help="use TLS; implied by --tlsverify")
    parser.add_argument("--tlsverify", action="store_true", default=None,
                        help="use TLS and verify the daemon (default $PALLET_TLS_VERIFY)")
    parser.add_argument("--tlscacert", default=None, metavar="PATH",
                        help="trust certs signed only by this CA (default $PALLET_CERT_PATH/ca.pem)")
    parser.add_argument("--tlscert", default=None, metavar="PATH",
                        help="path to TLS certificate file (default $PALLET_CERT_PATH/cert.pem)")
    parser.add_argument("--tlskey", default=None, metavar="PATH",
                        help="path to TLS key file (default $PALLET_CERT_PATH/key.pem)")


def resolve(args: argparse.Namespace) -> Endpoint:
    """The endpoint for the parsed global flags and the environment."""
    host = getattr(args, "host", None)
    context = getattr(args, "use_context", None)  # not "context": build's positional has that name
    if host and context:
        raise EndpointError("conflicting options: either specify --host or --context, not both")
    if not host and not context:
        host = os.environ.get("PALLET_HOST") or None
        if not host:
            context = os.environ.get("PALLET_CONTEXT") or None
        if not host and not context:
            from pallet.client import _context

            context = _context.current_name()
    if context and context != "default":
        from pallet.client import _context

        ep = _context.endpoint(context)
        if not _explicit_tls(args):
            return ep
        host = ep.host
    return _from_flags(host or os.environ.get("PALLET_HOST") or DEFAULT_HOST, args, context or "default")


def _explicit_tls(args: argparse.Namespace) -> bool:
    return any(getattr(args, k, None) for k in ("tls", "tlsverify", "tlscacert", "tlscert", "tlskey"))


def _from_flags(host: str, args: argparse.Namespace, context: str) -> Endpoint:
    verify = getattr(args, "tlsverify", None)
    if verify is None:
        verify = _truthy(os.environ.get("PALLET_TLS_VERIFY"))
    tls = bool(verify or getattr(args, "tls", None) or getattr(args, "tlscacert", None)
               or getattr(args, "tlscert", None))
    if not tls:
        return Endpoint(host=normalize_host(host, tls=False), context=context)
    base = cert_dir()

    def pick(flag: str, name: str) -> str:
        given = getattr(args, flag, None)
        if given:
            return str(given)
        path = os.path.join(base, name)
        return path if os.path.exists(path) else ""

    ep = Endpoint(host=normalize_host(host, tls=True), ca=pick("tlscacert", "ca.pem"), cert=pick("tlscert", "cert.pem"),
                  key=pick("tlskey", "key.pem"), tls=True, context=context)
    if verify and not ep.ca:
        raise EndpointError(f"--tlsverify needs the CA certificate: {os.path.join(base, 'ca.pem')} does not exist "
                            "(set $PALLET_CERT_PATH or --tlscacert)")
    if bool(ep.cert) != bool(ep.key):
        raise EndpointError("a client certificate needs its key and the key its certificate "
                            "(--tlscert and --tlskey)")
    if ep.host.startswith("unix:"):
        raise EndpointError(f"TLS applies to tcp:// hosts only, not {ep.host}")
    return ep


def normalize_host(host: str, tls: bool) -> str:
    """unix:///path or tcp://host:port (with Docker's default ports: 2376 for TLS, else 2375)."""
    host = host.strip()
    if host.startswith("/"):
        return "unix://" + host
    if host.startswith("unix:"):
        return host
    if host.startswith("tcp://"):
        rest = host[len("tcp://"):].rstrip("/")
    elif "://" in host:
        raise EndpointError(f"invalid host {host!r}: use unix:///path/to/socket or tcp://HOST:PORT")
    else:
        rest = host
    if not rest:
        raise EndpointError(f"invalid host {host!r}: no address after tcp://")
    if rest.startswith("[") and "]:" not in rest or not rest.startswith("[") and ":" not in rest:
        rest += ":2376" if tls else ":2375"
    return "tcp://" + rest
