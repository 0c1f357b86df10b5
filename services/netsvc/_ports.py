"""Host ports held for published container ports.

netsvc binds (TCP: without listening) every published host address and port:
a port another program uses fails here with a clear error before the
container starts, and nothing else can take it while the container runs. The
traffic itself never reaches these sockets: kernel NAT rewrites it first.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import threading

from pallet import errors
from pallet.net.v1 import net_pb2 as pb

_TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM, "sctp": socket.SOCK_SEQPACKET}


def _bind(proto: str, host_ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    sock_proto = socket.IPPROTO_SCTP if proto == "sctp" else 0
    s = socket.socket(family, _TYPES[proto] | socket.SOCK_CLOEXEC, sock_proto)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host_ip, port))
    except BaseException:
        s.close()
        raise
    return s


class PortReservations:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[socket.socket]] = {}

    def reserve(self, owner: str, bindings: list[pb.PortBinding]) -> list[pb.PortBinding]:
        """Bind every host port (a free one when host_port is 0); all or nothing."""
        out: list[pb.PortBinding] = []
        socks: list[socket.socket] = []
        try:
            for b in bindings:
                if b.protocol not in _TYPES:
                    raise errors.InvalidArgument(f"invalid protocol {b.protocol!r}: want tcp, udp or sctp")
                host_ip = b.host_ip or "0.0.0.0"
                try:
                    ipaddress.ip_address(host_ip)
                except ValueError:
                    raise errors.InvalidArgument(f"invalid host IP {host_ip!r} in port binding") from None
                s = self._bind_one(b, host_ip)
                socks.append(s)
                out.append(pb.PortBinding(protocol=b.protocol, container_port=b.container_port,
                                          host_ip=host_ip, host_port=s.getsockname()[1]))
        except BaseException:
            for s in socks:
                s.close()
            raise
        with self._lock:
            self._held.setdefault(owner, []).extend(socks)
        return out

    @staticmethod
    def _bind_one(b: pb.PortBinding, host_ip: str) -> socket.socket:
        ports = [b.host_port] if not b.host_port_end else list(range(b.host_port, b.host_port_end + 1))
        last: OSError | None = None
        for port in ports:
            try:
                return _bind(b.protocol, host_ip, port)
            except OSError as exc:
                last = exc
        where = f"{host_ip}:{b.host_port}" + (f"-{b.host_port_end}" if b.host_port_end else "")
        if last is not None and last.errno == errno.EADDRINUSE:
            raise errors.FailedPrecondition(
                f"Bind for {where}/{b.protocol} failed: port is already allocated; publish another host port "
                f"(-p OTHER:{b.container_port}) or stop what uses it")
        if last is not None and last.errno == errno.EADDRNOTAVAIL:
            raise errors.InvalidArgument(f"Bind for {where} failed: {host_ip} is not an address of this host")
        raise errors.FailedPrecondition(f"Bind for {where}/{b.protocol} failed: {last}")

    def release(self, owner: str) -> None:
        with self._lock:
            socks = self._held.pop(owner, [])
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        for owner in list(self._held):
            self.release(owner)
