"""Kernel NAT and filter rules of Pallet's bridge networks, like Docker's iptables driver, in chains we own.

For a tag T ("PALLET"; "PALLET-1a2b" for a test instance) and each family managed (iptables, and
ip6tables with ipv6=True):

    nat     PREROUTING     -m addrtype --dst-type LOCAL -j T             first rule
    nat     OUTPUT         -m addrtype --dst-type LOCAL -j T             first rule; loopback included
    nat     POSTROUTING    -j T-POSTROUTING                              first rule
    filter  FORWARD        -j T-FORWARD                                  first rule
    filter  T-FORWARD      -j T-ISOLATION                                first rule

A network (bridge B, subnet S); each rule carries `-m comment --comment "net=S"`:

    nat     T-POSTROUTING  -s S ! -o B -j MASQUERADE                     masquerade, not internal
    nat     T-POSTROUTING  -s S -o B -m conntrack --ctstate DNAT -j MASQUERADE   not internal (hairpin)
    nat     T-POSTROUTING  -s 127.0.0.0/8 -o B -j MASQUERADE             IPv4, not internal (loopback ports)
    nat     T-POSTROUTING  -o B -m conntrack --ctstate DNAT -j MASQUERADE  ingress (routing mesh)
    filter  T-FORWARD      -o B -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT      not internal
    filter  T-FORWARD      -o B -m conntrack --ctstate DNAT -j ACCEPT                     not internal
    filter  T-FORWARD      -i B ! -o B -j ACCEPT                         not internal
    filter  T-FORWARD      -i B -o B -j ACCEPT                           (-j DROP with ICC off)
    filter  T-FORWARD      -o B -j DROP                                  not internal: nothing unpublished in
    filter  T-ISOLATION    -i B ! -o B -m conntrack ! --ctstate DNAT -j T-ISOLATION-2      not internal
    filter  T-ISOLATION-2  -o B -j DROP                                  not internal
    filter  T-ISOLATION    -i B ! -o B -j DROP                           internal
    filter  T-ISOLATION    ! -i B -o B -j DROP                           internal

A published port (container address C on bridge B, proto HIP:HP -> CP):

    nat     T              [-d HIP] -p P -m P --dport HP -j DNAT --to-destination C:CP
    filter  T-FORWARD      -d C ! -i B -o B -p P -m P --dport CP -j ACCEPT
    nat     T-POSTROUTING  -s C -d C -p P -m P --dport CP -j MASQUERADE  hairpin

The routing mesh (the cluster's ingress network, whose bridge holds this node's address on it): a
published port of a service goes to one of its tasks, wherever it runs, picked per connection, and
leaves masqueraded as this node's ingress address so that the replies come back through it:

    nat     T              -j T-INGRESS                                  last rule
    nat     T-INGRESS      -p P -m P --dport HP -m statistic --mode random --probability 1/n
                               -j DNAT --to-destination TASK1:CP         ... one per task, the last without statistic

Isolation is Docker's two stages: leaving one of our bridges for another one is dropped, except for
connections to a published port (ctstate DNAT, both directions), which other networks may use through
a host address (moby#38784). Internal networks drop all but bridge-local traffic, published or not.

Every public call reads the tables once (iptables-save) and applies its changes with one
`iptables-restore --noflush` per family, so it is atomic. Rules are compared by meaning (options
parsed, addresses normalised), never by text, so adding twice adds nothing and removing deletes only
what exists. Chains are declared only when missing: `--noflush` still flushes a declared user chain.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from pallet.net._balance import split_rules

PROTOS = ("tcp", "udp", "sctp")
_ANY = ("", "0.0.0.0", "::")
_TOOLS = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}
_TAG_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")  # the longest chain, T-POSTROUTING, stays <= 28 chars
_IFNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,15}")  # no '+': iptables reads it as a wildcard
_TARGET_RE = re.compile(r"(?:^|\s)-[jg] (\S+)")

Key = tuple[str, str, frozenset[tuple[str, str]]]


class FirewallError(Exception):
    """An iptables command failed, or the rules asked for cannot be expressed."""


@dataclass(frozen=True)
class PortBinding:
    """One published port; host_ip "", "0.0.0.0" and "::" all mean any address (kept as "")."""

    proto: str
    host_ip: str
    host_port: int
    container_port: int

    def __post_init__(self) -> None:
        if self.proto not in PROTOS:
            raise ValueError(f"unsupported protocol {self.proto!r}")
        if not (0 < self.host_port < 65536 and 0 < self.container_port < 65536):
            raise ValueError(f"port out of range in {self}")
        host = "" if self.host_ip in _ANY else str(ipaddress.ip_address(self.host_ip))
        object.__setattr__(self, "host_ip", host)


def _family(addr: str) -> int:
    return 6 if ":" in addr else 4


def _host(value: str) -> str:
    """"10.0.0.2/32" -> "10.0.0.2" (as iptables-save prints single addresses)."""
    return str(ipaddress.ip_interface(value).ip)


def _dest(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _split_dest(value: str) -> tuple[str, int]:
    ip, _, port = value.rpartition(":")
    return str(ipaddress.ip_address(ip.strip("[]"))), int(port)


def _key(table: str, chain: str, spec: str) -> Key:
    return table, chain, frozenset(_options(spec).items())


def _options(spec: str) -> dict[str, str]:
    """A rule's options as {"-o": "br0", "!-i": "br0", ...}; modules (-m) are implied, addresses normalised."""
    toks, out, neg, i = shlex.split(spec), {}, False, 0
    while i < len(toks):
        opt, i = toks[i], i + 1
        if opt == "!":
            neg = True
            continue
        val = ""
        if i < len(toks) and toks[i] != "!" and not toks[i].startswith("-"):
            val, i = toks[i], i + 1
        try:
            if opt in ("-s", "-d"):
                val = str(ipaddress.ip_network(val, strict=False))
            elif opt == "--to-destination":
                val = _dest(*_split_dest(val))
        except ValueError:  # a form we never write (ranges, masks): compare it as printed
            pass
        if opt != "-m":
            out[("!" if neg else "") + opt] = val
        neg = False
    return out


class _Plan:
    """One family's iptables-save output, plus the restore lines that change it.

    Only rules in our chains, or jumping to them, are parsed: the host's own (maybe thousands) are skipped.
    """

    def __init__(self, saved: str, ours: set[str], family: int = 4) -> None:
        self.family = family
        self.chains: set[tuple[str, str]] = set()
        self.rules: dict[Key, list[str]] = {}  # meaning -> the specs as saved (duplicates kept), in saved order
        self.decls: dict[str, list[str]] = {}
        self.lines: dict[str, list[str]] = {}
        table = ""
        for line in saved.splitlines():
            if line.startswith("*"):
                table = line[1:].strip()
            elif line.startswith(":"):
                self.chains.add((table, line[1:].split()[0]))
            elif line.startswith("-A "):
                _, chain, spec = (line + " ").split(" ", 2)
                target = _TARGET_RE.search(spec)
                if chain not in ours and not (target and target.group(1) in ours):
                    continue
                self.rules.setdefault(_key(table, chain, spec), []).append(spec.strip())

    def current(self) -> list[tuple[Key, dict[str, str]]]:
        """The rules as they will be after this plan: (key, options)."""
        return [(key, dict(key[2])) for key in self.rules]

    def ensure_chain(self, table: str, chain: str) -> None:
        if (table, chain) not in self.chains:
            self.chains.add((table, chain))
            self.decls.setdefault(table, []).append(f":{chain} - [0:0]")

    def add(self, table: str, chain: str, spec: str, first: bool = False) -> None:
        """Append (or insert first) unless a rule with the same meaning is there."""
        key = _key(table, chain, spec)
        if key not in self.rules:
            self.rules[key] = [spec]
            where = f"-I {chain} 1" if first else f"-A {chain}"
            self.lines.setdefault(table, []).append(f"{where} {spec}")

    def delete(self, key: Key) -> int:
        """Delete every rule with this meaning that exists; returns how many."""
        saved = self.rules.pop(key, [])
        self.lines.setdefault(key[0], []).extend(f"-D {key[1]} {s}" for s in saved)
        return len(saved)

    def text(self) -> str:
        out = []
        for table in ("raw", "nat", "filter"):
            if self.decls.get(table) or self.lines.get(table):
                out += [f"*{table}", *self.decls.get(table, []), *self.lines.get(table, []), "COMMIT"]
        return "\n".join(out) + "\n" if out else ""


class Firewall:
    """Pallet's iptables rules under one tag; every public call is one atomic iptables-restore per family."""

    def __init__(self, tag: str, ipv6: bool = False) -> None:
        if not _TAG_RE.fullmatch(tag):
            raise ValueError(f"invalid firewall tag {tag!r}: want 1-16 of [A-Za-z0-9_-]")
        self.tag, self.ipv6 = tag, ipv6
        self.nat, self.post = tag, f"{tag}-POSTROUTING"
        self.fwd, self.iso1, self.iso2 = f"{tag}-FORWARD", f"{tag}-ISOLATION", f"{tag}-ISOLATION-2"
        self.raw, self.ingress = f"{tag}-RAW", f"{tag}-INGRESS"
        self.chains = [("nat", self.nat), ("nat", self.post), ("filter", self.fwd), ("filter", self.iso1),
                       ("filter", self.iso2), ("raw", self.raw), ("nat", self.ingress)]
        self._ours = {chain for _, chain in self.chains}
        self._lock = threading.Lock()
        self._ingress: list[str] | None = None  # the routing mesh's rules as last written (None: not yet)

    # -- plumbing

    def _families(self) -> list[int]:
        return [4, 6] if self.ipv6 else [4]

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        try:
            res = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise FirewallError(f"{argv[0]}: {exc}") from exc
        if res.returncode != 0:
            msg = f"{' '.join(argv)} failed (exit {res.returncode}): {res.stderr.strip()}"
            bad = re.search(r"line (\d+) failed", res.stderr)
            if bad and stdin is not None and 0 < int(bad.group(1)) <= len(stdin.splitlines()):
                msg += f" [line {bad.group(1)}: {stdin.splitlines()[int(bad.group(1)) - 1]}]"
            raise FirewallError(msg)
        return res.stdout

    def _read(self, family: int) -> _Plan:
        if family == 6 and not self.ipv6:
            raise FirewallError("IPv6 rules asked for, but this Firewall was made with ipv6=False")
        return _Plan(self._run([_TOOLS[family][0]]), self._ours, family)

    def _apply(self, family: int, plan: _Plan) -> None:
        text = plan.text()
        if text:
            self._run([_TOOLS[family][1], "--noflush", "--wait"], text)

    def _base(self, plan: _Plan) -> None:
        """Our chains and the jumps into them (no-op when all there)."""
        for table, chain in self.chains:
            plan.ensure_chain(table, chain)
        local = f"-m addrtype --dst-type LOCAL -j {self.nat}"
        plan.add("nat", "PREROUTING", local, first=True)
        plan.add("nat", "OUTPUT", local, first=True)
        plan.add("nat", "POSTROUTING", f"-j {self.post}", first=True)
        plan.add("filter", "FORWARD", f"-j {self.fwd}", first=True)
        plan.add("filter", self.fwd, f"-j {self.iso1}", first=True)
        plan.add("raw", "PREROUTING", f"-j {self.raw}", first=True)
        plan.add("nat", self.nat, f"-j {self.ingress}")
        # Loopback destinations arriving on any other interface are dropped before NAT: with
        # route_localnet on our bridges, neither a container (CVE-2020-8558) nor a LAN neighbour
        # may reach the host's 127.0.0.1 services or ports published on 127.0.0.1.
        if plan.family == 4:
            plan.add("raw", self.raw, "-d 127.0.0.0/8 ! -i lo -j DROP")

    # -- setup

    def setup(self) -> None:
        """Create the chains and hook them at the top of the built-in ones; idempotent."""
        with self._lock:
            for family in self._families():
                plan = self._read(family)
                self._base(plan)
                self._apply(family, plan)

    def teardown(self) -> None:
        """Remove every jump into our chains, then the chains; missing pieces are fine."""
        with self._lock:
            for family in self._families():
                plan = self._read(family)
                for key in list(plan.rules):
                    if key[1] not in self._ours:  # a jump into ours
                        plan.delete(key)
                present = [(t, c) for t, c in self.chains if (t, c) in plan.chains]
                for table, chain in present:
                    plan.lines.setdefault(table, []).append(f"-F {chain}")
                for table, chain in present:
                    plan.lines[table].append(f"-X {chain}")
                self._apply(family, plan)

    # -- networks

    def _network_rules(self, bridge: str, subnet: str, internal: bool, masquerade: bool,
                       ingress: bool = False, icc: bool = True) -> list[tuple[str, str, str]]:
        """(table, chain, spec) of a network, in the order they are added. icc=False: containers of
        the network do not reach each other (bridged traffic, seen through br_netfilter)."""
        if not _IFNAME_RE.fullmatch(bridge):
            raise ValueError(f"invalid bridge name {bridge!r}")
        net = ipaddress.ip_network(subnet, strict=False)
        b, c = bridge, f'-m comment --comment "net={net}"'
        if internal:
            return [("filter", self.iso1, f"-i {b} ! -o {b} {c} -j DROP"),
                    ("filter", self.iso1, f"! -i {b} -o {b} {c} -j DROP"),
                    ("filter", self.fwd, f"-i {b} -o {b} {c} -j {'ACCEPT' if icc else 'DROP'}")]
        rules = [("nat", self.post, f"-s {net} ! -o {b} {c} -j MASQUERADE")] if masquerade else []
        # Hairpin: a container reaching a published port of its own network through a host address.
        rules.append(("nat", self.post, f"-s {net} -o {b} -m conntrack --ctstate DNAT {c} -j MASQUERADE"))
        if net.version == 4:
            rules.append(("nat", self.post, f"-s 127.0.0.0/8 -o {b} {c} -j MASQUERADE"))
        if ingress:
            rules.append(("nat", self.post, f"-o {b} -m conntrack --ctstate DNAT {c} -j MASQUERADE"))
        return rules + [
            ("filter", self.iso1, f"-i {b} ! -o {b} -m conntrack ! --ctstate DNAT {c} -j {self.iso2}"),
            ("filter", self.iso2, f"-o {b} {c} -j DROP"),
            ("filter", self.fwd, f"-o {b} -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT"),
            ("filter", self.fwd, f"-o {b} -m conntrack --ctstate DNAT {c} -j ACCEPT"),
            ("filter", self.fwd, f"-i {b} ! -o {b} {c} -j ACCEPT"),
            ("filter", self.fwd, f"-i {b} -o {b} {c} -j {'ACCEPT' if icc else 'DROP'}"),
            # Anything else into the bridge (a neighbour routing to the subnet) is dropped: only
            # published ports (DNAT) and replies come in, whatever the FORWARD policy is.
            ("filter", self.fwd, f"-o {b} {c} -j DROP"),
        ]

    def add_network(self, bridge: str, subnet: str, internal: bool, masquerade: bool = True,
                    ingress: bool = False, icc: bool = True) -> None:
        """Forwarding, isolation and masquerading for a bridge network; adds only what is missing."""
        rules = self._network_rules(bridge, subnet, internal, masquerade, ingress, icc)
        with self._lock:
            plan = self._read(_family(subnet))
            self._base(plan)
            for table, chain, spec in rules:
                plan.add(table, chain, spec)
            self._apply(_family(subnet), plan)

    def remove_network(self, bridge: str, subnet: str, internal: bool = False, masquerade: bool = True,
                       ingress: bool = False, icc: bool = True) -> None:
        """Delete the network's rules that exist. Every variant goes (the flags only mirror add_network),
        so a wrong flag, a half-made network or a second call still ends with nothing left."""
        rules = {r for i in (False, True) for m in (False, True) for g in (False, True) for icc in (False, True)
                 for r in self._network_rules(bridge, subnet, i, m, g, icc)}
        with self._lock:
            plan = self._read(_family(subnet))
            for table, chain, spec in rules:
                plan.delete(_key(table, chain, spec))
            self._apply(_family(subnet), plan)

    def list_networks(self) -> list[tuple[str, str]]:
        """(bridge, subnet) of every network with at least one rule left."""
        found: set[tuple[str, str]] = set()
        for family in self._families():
            for (_, chain, _), opts in self._read(family).current():
                note = opts.get("--comment", "")
                bridge = opts.get("-i") or opts.get("!-i") or opts.get("-o") or opts.get("!-o")
                if note.startswith("net=") and bridge and chain in (self.post, self.fwd, self.iso1, self.iso2):
                    found.add((bridge, note[4:]))
        return sorted(found)

    # -- published ports

    def _port_rules(self, bridge: str, container_ip: str, b: PortBinding) -> list[tuple[str, str, str]]:
        """(table, chain, spec): the DNAT rule first, then the forward accept and the hairpin masquerade."""
        if not _IFNAME_RE.fullmatch(bridge):
            raise ValueError(f"invalid bridge name {bridge!r}")
        cip = str(ipaddress.ip_address(container_ip))
        if b.host_ip and _family(b.host_ip) != _family(cip):
            raise ValueError(f"host address {b.host_ip} and container address {cip} differ in family")
        match = f"-d {b.host_ip} " if b.host_ip else ""
        p, to = f"-p {b.proto} -m {b.proto}", _dest(cip, b.container_port)
        return [
            ("nat", self.nat, f"{match}{p} --dport {b.host_port} -j DNAT --to-destination {to}"),
            ("filter", self.fwd, f"-d {cip} ! -i {bridge} -o {bridge} {p} --dport {b.container_port} -j ACCEPT"),
            ("nat", self.post, f"-s {cip} -d {cip} {p} --dport {b.container_port} -j MASQUERADE"),
        ]

    def _dnats(self, plan: _Plan) -> list[tuple[str, PortBinding]]:
        """(container_ip, binding) of the DNAT rules in our chain."""
        out = []
        for (table, chain, _), opts in plan.current():
            if table == "nat" and chain == self.nat and opts.get("-j") == "DNAT":
                try:
                    cip, cport = _split_dest(opts["--to-destination"])
                    host = _host(opts["-d"]) if "-d" in opts else ""
                    out.append((cip, PortBinding(opts.get("-p", ""), host, int(opts["--dport"]), cport)))
                except (KeyError, ValueError):  # not one of ours
                    continue
        return out

    def add_ports(self, bridge: str, container_ip: str, bindings: list[PortBinding]) -> None:
        """Publish container ports; a host port already forwarded elsewhere is an error."""
        family, cip = _family(container_ip), str(ipaddress.ip_address(container_ip))
        with self._lock:
            plan = self._read(family)
            taken = {(b.proto, b.host_ip, b.host_port): ip for ip, b in self._dnats(plan)}
            self._base(plan)
            for b in bindings:
                other = taken.get((b.proto, b.host_ip, b.host_port), cip)
                if other != cip:
                    raise FirewallError(f"{b.proto} port {b.host_ip or '*'}:{b.host_port} already goes to {other}")
                for table, chain, spec in self._port_rules(bridge, cip, b):
                    plan.add(table, chain, spec)
            self._apply(family, plan)

    def remove_ports(self, bridge: str, container_ip: str, bindings: list[PortBinding]) -> None:
        """Unpublish; a forward/hairpin rule another remaining binding still needs stays."""
        family, cip = _family(container_ip), str(ipaddress.ip_address(container_ip))
        with self._lock:
            plan = self._read(family)
            rules = [self._port_rules(bridge, cip, b) for b in bindings]
            for (dnat, *_shared) in rules:
                plan.delete(_key(*dnat))
            needed = {(ip, b.proto, b.container_port) for ip, b in self._dnats(plan)}
            for b, (_dnat, *shared) in zip(bindings, rules, strict=True):
                if (cip, b.proto, b.container_port) not in needed:
                    for rule in shared:
                        plan.delete(_key(*rule))
            self._apply(family, plan)

    def list_port_rules(self) -> list[tuple[str, PortBinding]]:
        """(container_ip, binding) of every DNAT rule in our chain."""
        return [pair for family in self._families() for pair in self._dnats(self._read(family))]

    def flush_ports_except(self, keep: set[str]) -> int:
        """Delete DNAT, forward and hairpin rules of container addresses not in keep; returns how many."""
        kept = {str(ipaddress.ip_address(ip)) for ip in keep}
        removed = 0
        with self._lock:
            for family in self._families():
                plan = self._read(family)
                for key, opts in plan.current():
                    chain = key[1]
                    if chain == self.nat and opts.get("-j") == "DNAT" and ":" in opts.get("--to-destination", ""):
                        ip = _split_dest(opts["--to-destination"])[0]
                    elif (chain == self.fwd and "-d" in opts and "--dport" in opts) or (
                            chain == self.post and "-d" in opts and opts.get("-s") == opts["-d"]):
                        ip = _host(opts["-d"])
                    else:
                        continue
                    if ip not in kept:
                        removed += plan.delete(key)
                self._apply(family, plan)
        return removed

    # -- the routing mesh

    def set_ingress(self, entries: Sequence[tuple[str, int, Sequence[tuple[str, int]]]]) -> None:
        """Make T-INGRESS exactly the rules for entries: (protocol, published port, [(task address,
        target port)]); a port without tasks gets no rule. Rewritten whole (in order: each rule's
        share depends on the ones before it) when it differs from what was last written."""
        want: list[str] = []
        for proto, port, targets in sorted(entries, key=lambda e: (e[0], e[1])):
            if proto not in PROTOS or not 0 < port < 65536:
                raise ValueError(f"invalid published port {proto}/{port}")
            dests = [_dest(str(ipaddress.IPv4Address(ip)), p) for ip, p in sorted(set(targets))]
            want += split_rules(f"-p {proto} -m {proto} --dport {port}", dests)
        with self._lock:
            if want == self._ingress:
                return
            plan = self._read(4)
            self._base(plan)
            plan.lines.setdefault("nat", []).extend([f"-F {self.ingress}", *(f"-A {self.ingress} {w}" for w in want)])
            self._apply(4, plan)
            self._ingress = want
