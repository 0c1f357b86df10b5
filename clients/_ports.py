"""Published and exposed ports: Docker's -p/--expose syntax, and how ports are shown.

Parsing follows go-connections' nat.ParsePortSpec, which the docker CLI uses:
``[ip:][hostPort[-hostPortEnd]:]containerPort[-containerPortEnd][/proto]``, IPv6 host
addresses in brackets (``[::1]:8080:80``), and the long form
``target=80,published=8080,protocol=udp,host_ip=127.0.0.1``. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pallet.client.cli import CLIError

PROTOCOLS = ("tcp", "udp", "sctp")


def _fail(spec: str, reason: str, flag: str = "publish") -> CLIError:
    return CLIError(f'palletctl: invalid {flag} spec "{spec}": {reason}')


def split_proto(text: str) -> tuple[str, str]:
    """"80/udp" → ("80", "udp"); the protocol defaults to tcp (nat.SplitProtoPort)."""
    port, _, proto = text.partition("/")
    return port, (proto or "tcp").lower()


def parse_range(text: str, what: str, allow_zero: bool = False) -> tuple[int, int]:
    """"80" or "8000-8005" → (start, end); ValueError with the reason otherwise."""
    first, sep, last = text.partition("-")
    if not first.isdigit() or (sep and not last.isdigit()):
        raise ValueError(f'invalid {what} "{text}"')
    start, end = int(first), int(last) if sep else int(first)
    low = 0 if allow_zero else 1
    for port in (start, end):
        if not low <= port <= 65535:
            raise ValueError(f"{what} {port} out of range ({low}-65535)")
    if end < start:
        raise ValueError(f'invalid {what} range "{text}": end before start')
    return start, end


def _host_ip(ip: str, spec: str) -> str:
    import ipaddress

    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if not ip:
        return ""
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise _fail(spec, f'invalid host IP address "{ip}"') from None


def _long_form(spec: str) -> str:
    """target=80,published=8080,protocol=udp[,mode=host][,host_ip=IP] as the short form."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("target", "published", "protocol", "mode", "host_ip"):
            raise _fail(spec, f"unexpected field '{item}'")
        fields[key] = value.strip()
    if not fields.get("target"):
        raise _fail(spec, "target is required")
    if fields.get("mode", "host") not in ("host", "ingress"):
        raise _fail(spec, f"invalid mode \"{fields['mode']}\"")
    ip = fields.get("host_ip", "")
    if ":" in ip and not ip.startswith("["):
        ip = f"[{ip}]"
    proto = fields.get("protocol") or "tcp"
    return f"{ip}:{fields.get('published', '')}:{fields['target']}/{proto}"


def _split_parts(spec: str) -> tuple[str, str, str]:
    """ip, host port(s) and container port(s), as nat.splitParts cuts them."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_publish(spec: str) -> list[Any]:
    """One -p value → net.v1.PortBinding messages (one per container port).

    Equal-length host and container ranges map one to one; a host range with a
    single container port is kept whole (host_port..host_port_end: the first free
    port of it is taken); no host port (or 0) asks for a random one.
    """
    from pallet.net.v1 import net_pb2 as npb

    text = _long_form(spec) if "=" in spec else spec
    ip, host, container = _split_parts(text)
    container, proto = split_proto(container)
    if proto not in PROTOCOLS:
        raise _fail(spec, f'invalid protocol "{proto}": want tcp, udp or sctp')
    if not container:
        raise _fail(spec, "no container port specified")
    host_ip = _host_ip(ip, spec)
    try:
        c_start, c_end = parse_range(container, "container port")
        h_start, h_end = parse_range(host, "host port", allow_zero=True) if host else (0, 0)
    except ValueError as exc:
        raise _fail(spec, str(exc)) from None
    if host and h_start == 0 and h_end != 0:
        raise _fail(spec, "a host port range cannot start at 0")
    count = c_end - c_start + 1
    if host and count > 1 and h_end - h_start + 1 != count:
        raise _fail(spec, f"host port range {host} and container port range {container} differ in length")
    out = []
    for i in range(count):
        b = npb.PortBinding(protocol=proto, container_port=c_start + i, host_ip=host_ip)
        if host and count > 1:
            b.host_port = h_start + i
        elif host:
            b.host_port = h_start
            if h_end != h_start:
                b.host_port_end = h_end
        out.append(b)
    return out


def expand_expose(spec: str) -> list[str]:
    """An --expose value ("80", "80/udp", "8000-8005") → ["80/tcp", ...]."""
    if ":" in spec:
        raise _fail(spec, "an exposed port takes no host part", "expose")
    port, proto = split_proto(spec)
    if proto not in PROTOCOLS:
        raise _fail(spec, f'invalid protocol "{proto}": want tcp, udp or sctp', "expose")
    try:
        start, end = parse_range(port, "port")
    except ValueError as exc:
        raise _fail(spec, str(exc), "expose") from None
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def exposed_ports(bindings: Iterable[Any], expose: Iterable[str]) -> list[str]:
    """Config.ExposedPorts as the docker CLI builds it: published container ports, then --expose."""
    out = [port_key(b) for b in bindings]
    for spec in expose:
        out.extend(expand_expose(spec))
    return list(dict.fromkeys(out))


# -- showing ports ---------------------------------------------------------------


def port_key(b: Any) -> str:
    return f"{b.container_port}/{b.protocol or 'tcp'}"


def join_host_port(ip: str, port: int | str) -> str:
    """Go's net.JoinHostPort: IPv6 addresses in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def host_port_text(b: Any) -> str:
    """HostConfig.PortBindings' HostPort: "" for a random port, "8000-8010" for a range."""
    if not b.host_port:
        return ""
    return f"{b.host_port}-{b.host_port_end}" if b.host_port_end else str(b.host_port)


def _split_key(key: str) -> tuple[int, str]:
    port, proto = split_proto(key)
    return (int(port) if port.isdigit() else 0), proto


def _form_group(ip: str, proto: str, first: int, last: int) -> str:
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{join_host_port(ip, group)}->{group}"
    return f"{group}/{proto}"


def ps_ports(bound: Iterable[Any], exposed: Iterable[str] = ()) -> str:
    """The PORTS column, as the docker CLI's DisplayablePorts writes it.

    bound are PortBindings as bound (host_ip and host_port set); exposed are
    "80/tcp" keys shown bare when nothing publishes them. Ports published on
    the same number group into ranges ("0.0.0.0:8000-8002->8000-8002/tcp").
    """
    entries = [(b.container_port, b.host_ip or "0.0.0.0", b.host_port, b.protocol or "tcp") for b in bound]
    published = {(e[0], e[3]) for e in entries}
    for key in exposed:
        port, proto = _split_key(key)
        if (port, proto) not in published:
            entries.append((port, "", 0, proto))
    entries.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    groups: dict[tuple[str, str], list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []
    for private, ip, public, proto in entries:
        if ip and public != private:
            mappings.append(f"{join_host_port(ip, public)}->{private}/{proto}")
            continue
        group = groups.get((ip, proto))
        if group is None:
            groups[(ip, proto)] = [private, private]
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_form_group(ip, proto, *group))
            groups[(ip, proto)] = [private, private]
    result.extend(_form_group(ip, proto, *group) for (ip, proto), group in groups.items())
    return ", ".join(result + mappings)


def _sorted(bound: Iterable[Any]) -> list[Any]:
    return sorted(bound, key=lambda b: (b.container_port, b.protocol, b.host_ip, b.host_port))


def port_lines(bound: Iterable[Any], private: str = "") -> list[str]:
    """`palletctl port`: "80/tcp -> 0.0.0.0:32768" lines, or with a private port "0.0.0.0:32768"."""
    ports = _sorted(bound)
    if not private:
        return [f"{port_key(b)} -> {join_host_port(b.host_ip or '0.0.0.0', b.host_port)}" for b in ports]
    port, proto = split_proto(private)
    key = f"{port}/{proto}"
    return [join_host_port(b.host_ip or "0.0.0.0", b.host_port) for b in ports if port_key(b) == key]


def port_bindings_json(bindings: Iterable[Any]) -> dict[str, list[dict[str, str]]]:
    """HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} as asked for.

    Keys come sorted, as Go's encoding/json writes maps.
    """
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(port_key(b), []).append({"HostIp": b.host_ip, "HostPort": host_port_text(b)})
    return dict(sorted(out.items()))


def ports_json(bound: Iterable[Any], exposed: Iterable[str] = ()) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: bound ports by key; exposed ones nothing publishes map to None."""
    bound_by_key: dict[str, list[dict[str, str]]] = {}
    for b in _sorted(bound):
        bound_by_key.setdefault(port_key(b), []).append(
            {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
    out: dict[str, list[dict[str, str]] | None] = {key: None for key in exposed}
    out.update(bound_by_key)
    return dict(sorted(out.items()))
