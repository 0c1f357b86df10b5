"""`palletctl tls`: a CA and certificates for palletd's TCP endpoint (mutual TLS).

    palletctl tls init --out /etc/pallet/tls --hostname web1.example --ip 10.0.0.5
        ca.pem ca-key.pem                 the CA (keep ca-key.pem offline once clients exist)
        server-cert.pem server-key.pem    for palletd --tlsverify (its default file names)
        cert.pem key.pem                  a first client certificate (Docker's names)
    palletctl tls client --ca-dir /etc/pallet/tls --out ~/.pallet --name alice

Keys are ECDSA P-256, written 0600; everything is written to a temporary directory and renamed
into place, so an interrupted run leaves nothing half made.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt


def _crypto() -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def new_key() -> Any:
    _, _, _, ec, _, _ = _crypto()
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: Any) -> bytes:
    _, _, serialization, _, _, _ = _crypto()
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def cert_pem(cert: Any) -> bytes:
    _, _, serialization, _, _, _ = _crypto()
    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_cert(common_name: str, key: Any, *, ca_cert: Any = None, ca_key: Any = None, is_ca: bool = False,
              server_names: list[str] | None = None, server_ips: list[str] | None = None, client: bool = False,
              not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
              days: int = 825) -> Any:
    """A certificate for key: self-signed when ca_key is None (the CA), else signed by the CA."""
    import datetime as dt
    import ipaddress

    x509, hashes, _, _, eku, name_oid = _crypto()
    now = dt.datetime.now(dt.UTC)
    start = not_before or now - dt.timedelta(minutes=5)
    end = not_after or now + dt.timedelta(days=days)
    subject = x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, common_name),
                         x509.NameAttribute(name_oid.ORGANIZATION_NAME, "Pallet")])
    issuer = ca_cert.subject if ca_cert is not None else subject
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if is_ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
            content_commitment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        # a server certificate also authenticates its daemon as a client of the other nodes'
        # daemons (cluster mode: service logs from every node)
        usages = [eku.CLIENT_AUTH] if client else [eku.SERVER_AUTH, eku.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    sans: list[Any] = [x509.DNSName(n) for n in server_names or []]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in server_ips or []]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key if ca_key is not None else key, hashes.SHA256())


def _write_all(out: str, files: dict[str, bytes], overwrite: bool) -> None:
    """Write files into out all together: staged in a temporary directory, then renamed."""
    import shutil
    import tempfile

    os.makedirs(out, mode=0o755, exist_ok=True)
    clash = [f for f in files if os.path.exists(os.path.join(out, f))]
    if clash and not overwrite:
        raise FileExistsError(f"{', '.join(clash)} already exist in {out} (use --force to replace them)")
    stage = tempfile.mkdtemp(dir=out, prefix=".tls-")
    try:
        for name, data in files.items():
            path = os.path.join(stage, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if "key" in name else 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for name in files:
            os.replace(os.path.join(stage, name), os.path.join(out, name))
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _load_ca(ca_dir: str) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    with open(os.path.join(ca_dir, "ca.pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(ca_dir, "ca-key.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return cert, key


def cmd_init(args: argparse.Namespace) -> int:
    import ipaddress
    import socket

    from pallet.client.cli import CLIError

    names = args.hostname or [socket.gethostname(), "localhost"]
    ips = args.ip or ["127.0.0.1", "::1"]
    try:
        for ip in ips:
            ipaddress.ip_address(ip)
    except ValueError as exc:
        raise CLIError(f"palletctl tls init: {exc}", 1) from None
    ca_key, server_key, client_key = new_key(), new_key(), new_key()
    ca = make_cert("Pallet CA", ca_key, is_ca=True, days=args.days)
    server = make_cert(names[0], server_key, ca_cert=ca, ca_key=ca_key, server_names=names, server_ips=ips,
                       days=args.days)
    client = make_cert(args.client_name, client_key, ca_cert=ca, ca_key=ca_key, client=True, days=args.days)
    try:
        _write_all(args.out, {"ca.pem": cert_pem(ca), "ca-key.pem": key_pem(ca_key),
                              "server-cert.pem": cert_pem(server), "server-key.pem": key_pem(server_key),
                              "cert.pem": cert_pem(client), "key.pem": key_pem(client_key)}, args.force)
    except (OSError, FileExistsError) as exc:
        raise CLIError(f"palletctl tls init: {exc}", 1) from None
    out = os.path.abspath(args.out)
    print(f"Wrote a CA, a server certificate for {', '.join(names + ips)} and a client certificate "
          f"({args.client_name}) to {out}.\n\n"
          f"On the server:\n  palletd -H unix:///run/pallet/pallet.sock -H tcp://0.0.0.0:2376 --tlsverify \\\n"
          f"    --tlscacert {out}/ca.pem --tlscert {out}/server-cert.pem --tlskey {out}/server-key.pem\n"
          f"On a client (copy ca.pem, cert.pem and key.pem):\n"
          f"  palletctl context create {names[0].split('.')[0]} --host tcp://{names[0]}:2376 --tlsverify \\\n"
          f"    --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem")
    return 0


def cmd_client(args: argparse.Namespace) -> int:
    from pallet.client.cli import CLIError

    try:
        ca, ca_key = _load_ca(args.ca_dir)
        key = new_key()
        cert = make_cert(args.name, key, ca_cert=ca, ca_key=ca_key, client=True, days=args.days)
        _write_all(args.out, {"ca.pem": cert_pem(ca), "cert.pem": cert_pem(cert), "key.pem": key_pem(key)},
                   args.force)
    except (OSError, ValueError, FileExistsError) as exc:
        raise CLIError(f"palletctl tls client: {exc}", 1) from None
    print(f"Wrote ca.pem, cert.pem and key.pem for client {args.name} to {os.path.abspath(args.out)}",
          file=sys.stderr)
    return 0


def register(sub: Any, add: Any) -> None:
    from pallet.client._prune import _group

    g = _group(sub, add, "tls", "Make certificates for palletd's TCP endpoint")
    p = add(g, "init", cmd_init, "Create a CA, a server certificate and a client certificate",
            usage="palletctl tls init [OPTIONS]",
            epilog="examples:\n  palletctl tls init --out /etc/pallet/tls --hostname web1.example --ip 10.0.0.5")
    p.add_argument("--out", default="/etc/pallet/tls", help="directory to write to (default %(default)s)")
    p.add_argument("--hostname", action="append", default=[], metavar="NAME",
                   help="DNS name of the server (repeatable; default this host's name and localhost)")
    p.add_argument("--ip", action="append", default=[], metavar="ADDR",
                   help="IP address of the server (repeatable; default 127.0.0.1 and ::1)")
    p.add_argument("--client-name", default="client", help="common name of the client certificate")
    p.add_argument("--days", type=int, default=825, help="validity in days (default %(default)s)")
    p.add_argument("-f", "--force", action="store_true", help="replace existing files")
    p = add(g, "client", cmd_client, "Issue another client certificate from the CA",
            usage="palletctl tls client [OPTIONS]",
            epilog="examples:\n  palletctl tls client --ca-dir /etc/pallet/tls --out ~/.pallet --name alice")
    p.add_argument("--ca-dir", default="/etc/pallet/tls", help="directory with ca.pem and ca-key.pem")
    p.add_argument("--out", default=os.path.join(os.path.expanduser("~"), ".pallet"),
                   help="directory to write ca.pem, cert.pem, key.pem to (default %(default)s)")
    p.add_argument("--name", default="client", help="common name of the client")
    p.add_argument("--days", type=int, default=825, help="validity in days (default %(default)s)")
    p.add_argument("-f", "--force", action="store_true", help="replace existing files")
