"""Address management: choosing subnets for new networks and addresses inside them.

Pure functions over the ipaddress module; the store keeps what is taken, and a
UNIQUE (network, address) constraint makes a double hand-out impossible.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable

from pallet import errors

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Addr = ipaddress.IPv4Address | ipaddress.IPv6Address

# Docker's default pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
DEFAULT_POOLS: list[tuple[str, int]] = [("172.17.0.0/16", 16), ("172.18.0.0/15", 16), ("172.20.0.0/14", 16),
                                        ("172.24.0.0/13", 16), ("192.168.0.0/16", 20)]


def parse_pool(spec: str) -> tuple[str, int]:
    """`base=172.80.0.0/12,size=24` (dockerd's --default-address-pool)."""
    fields = dict(kv.partition("=")[::2] for kv in spec.split(","))
    try:
        base = ipaddress.ip_network(fields["base"], strict=True)
        size = int(fields.get("size", base.prefixlen))
    except (KeyError, ValueError) as exc:
        raise errors.InvalidArgument(f"invalid address pool {spec!r}: want base=CIDR,size=N ({exc})") from None
    if not base.prefixlen <= size <= base.max_prefixlen - 2:
        raise errors.InvalidArgument(f"invalid address pool {spec!r}: size must be between /{base.prefixlen} "
                                     f"and /{base.max_prefixlen - 2}")
    return str(base), size


def network(cidr: str, what: str = "subnet") -> Net:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise errors.InvalidArgument(f"invalid {what} {cidr!r}: want CIDR notation like 172.20.0.0/16") from None


def address(text: str, what: str = "address") -> Addr:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise errors.InvalidArgument(f"invalid {what} {text!r}") from None


def choose_subnet(pools: list[tuple[str, int]], taken: Iterable[Net]) -> Net:
    """The first subnet of the pools that overlaps none of taken (routes and networks)."""
    used = list(taken)
    for base, size in pools:
        for candidate in ipaddress.ip_network(base).subnets(new_prefix=size):
            if not any(candidate.overlaps(t) for t in used if t.version == candidate.version):
                return candidate
    raise errors.ResourceExhausted(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign "
        "to the network: remove unused networks (palletctl network prune) or give --subnet")


def ula_subnet() -> ipaddress.IPv6Network:
    """A random unique-local /64 (RFC 4193: fd + 40 random bits + subnet 0)."""
    rand = int.from_bytes(os.urandom(5), "big")
    return ipaddress.IPv6Network(((0xFD << 120) | (rand << 80), 64))


def check_config(subnet: Net, gateway: str, ip_range: str) -> tuple[Addr, Net]:
    """Validate gateway and ip-range against subnet; the gateway defaults to the first address."""
    if subnet.num_addresses < 4:
        raise errors.InvalidArgument(f"subnet {subnet} is too small: it leaves no address for containers")
    gw: Addr = address(gateway, "gateway") if gateway else next(subnet.hosts())  # type: ignore[assignment]
    if gw not in subnet:
        raise errors.InvalidArgument(f"gateway {gw} is not in subnet {subnet}")
    rng = network(ip_range, "ip-range") if ip_range else subnet
    if rng.version != subnet.version or not rng.subnet_of(subnet):  # type: ignore[arg-type]
        raise errors.InvalidArgument(f"ip-range {rng} is not inside subnet {subnet}")
    return gw, rng


def allocate(subnet: Net, rng: Net, taken: set[Addr], after: Addr | None = None) -> Addr:
    """A free address of rng, the first one after `after` (round robin, so a released
    address is not handed out again at once), never the subnet's network, broadcast
    or a taken one (the gateway is in taken)."""
    first, last = int(rng.network_address), int(rng.broadcast_address)
    lo, hi = int(subnet.network_address), int(subnet.broadcast_address)
    if subnet.version == 4 or subnet.prefixlen < 127:
        lo += 1
        if subnet.version == 4:
            hi -= 1
    first, last = max(first, lo), min(last, hi)
    start = first if after is None or not first <= int(after) < last else int(after) + 1
    # Walk at most the range once; in big IPv6 ranges the taken set is tiny, so this is quick.
    for base, end in ((start, last), (first, start - 1)):
        n = base
        while n <= end:
            candidate = ipaddress.ip_address(n)
            if candidate not in taken:
                return candidate
            n += 1
    raise errors.ResourceExhausted(f"no available IP addresses on the network ({rng}): all {last - first + 1} "
                                   "are in use; disconnect or remove containers, or create a bigger network")
