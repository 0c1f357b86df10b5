"""Load balancing of overlay networks: a service's virtual IP inside each sandbox, and the routing
mesh's published ports on the node (their host rules live in _nat.Firewall.set_ingress).

A connection to a virtual IP, made in a sandbox attached to the network, goes to one of the
service's tasks. Docker does it with IPVS in every sandbox; here it is iptables DNAT in the
sandbox's own nat table, one random pick per connection (kube-proxy's iptables mode):

    nat  OUTPUT       -j PALLET-VIP                                              added once
    nat  PALLET-VIP   -d VIP/32 -m statistic --mode random --probability 1/n -j DNAT --to-destination B1
                      -d VIP/32 -m statistic --mode random --probability 1/(n-1) -j DNAT --to-destination B2
                      ...
                      -d VIP/32 -j DNAT --to-destination Bn

The chain is rewritten whole at each change (iptables-restore --noflush flushes a declared chain),
so it is atomic for the sandbox. Conntrack in the sandbox undoes the DNAT on the replies, which
come straight from the task (it shares the network's L2 segment): nothing to do on the hosts.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence

CHAIN = "PALLET-VIP"


class BalanceError(Exception):
    """iptables in a sandbox failed."""


def shares(n: int) -> list[str]:
    """The --probability of each of n rules tried in order so that each backend gets 1/n: rule i
    takes 1/(n-i) of what reaches it; the last takes the rest (no statistic match)."""
    return [f"{1 / (n - i):.5f}" for i in range(n - 1)]


def split_rules(match: str, targets: Sequence[str]) -> list[str]:
    """Rule specs sending what `match` matches to one of targets (--to-destination values) at random."""
    if not targets:
        return []
    probs = shares(len(targets))
    out = [f"{match} -m statistic --mode random --probability {p} -j DNAT --to-destination {t}"
           for p, t in zip(probs, targets, strict=False)]
    out.append(f"{match} -j DNAT --to-destination {targets[-1]}")
    return out


def vip_rules(balancers: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """PALLET-VIP's rule specs for (vip, backends) pairs; a VIP without backends gets none."""
    out: list[str] = []
    for vip, backends in sorted(balancers):
        addr = ipaddress.IPv4Address(vip)
        targets = [str(ipaddress.IPv4Address(b)) for b in backends]
        out += split_rules(f"-d {addr}/32", sorted(dict.fromkeys(targets), key=ipaddress.IPv4Address))
    return out


def restore_text(rules: Sequence[str], with_jump: bool) -> str:
    lines = ["*nat", f":{CHAIN} - [0:0]"]
    if with_jump:
        lines.append(f"-A OUTPUT -j {CHAIN}")
    lines += [f"-A {CHAIN} {r}" for r in rules]
    return "\n".join([*lines, "COMMIT", ""])


def _run(netns_path: str, argv: list[str], stdin: str | None = None) -> str:
    try:
        res = subprocess.run(["nsenter", f"--net={netns_path}", "--", *argv], input=stdin, capture_output=True,
                             text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BalanceError(f"{argv[0]} in {netns_path}: {exc}") from exc
    if res.returncode != 0:
        raise BalanceError(f"{' '.join(argv)} in {netns_path} failed (exit {res.returncode}): {res.stderr.strip()}")
    return res.stdout


def apply(netns_path: str, rules: Sequence[str]) -> None:
    """Make the sandbox's PALLET-VIP chain exactly rules (the jump from OUTPUT added if missing)."""
    saved = _run(netns_path, ["iptables-save", "-t", "nat"])
    has_jump = f"-A OUTPUT -j {CHAIN}" in saved.splitlines()
    if not rules and f":{CHAIN} " not in saved:
        return  # never balanced here: leave the table untouched
    _run(netns_path, ["iptables-restore", "--noflush", "--wait"], restore_text(rules, not has_jump))
