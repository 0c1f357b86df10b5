"""Virtual IPs inside sandboxes (pallet.net._balance): the rules, and applying them in a real namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pallet.net import _balance, _netns


def test_shares_give_each_backend_an_equal_part() -> None:
    assert _balance.shares(1) == []
    assert _balance.shares(3) == ["0.33333", "0.50000"]
    # what reaches rule i, times its share, is 1/n for every backend
    n, left = 5, 1.0
    for p in _balance.shares(n):
        assert abs(left * float(p) - 1 / n) < 1e-4
        left *= 1 - float(p)
    assert abs(left - 1 / n) < 1e-4


def test_vip_rules_sorted_and_deduplicated() -> None:
    rules = _balance.vip_rules([("10.0.0.9", ["10.0.0.10", "10.0.0.3", "10.0.0.3"]), ("10.0.0.8", []),
                                ("10.0.0.7", ["10.0.0.4"])])
    assert rules == [
        "-d 10.0.0.7/32 -j DNAT --to-destination 10.0.0.4",
        "-d 10.0.0.9/32 -m statistic --mode random --probability 0.50000 -j DNAT --to-destination 10.0.0.3",
        "-d 10.0.0.9/32 -j DNAT --to-destination 10.0.0.10",
    ]
    with pytest.raises(ValueError):
        _balance.vip_rules([("10.0.0.1; rm -rf /", ["10.0.0.2"])])
    text = _balance.restore_text(rules[:1], with_jump=True)
    assert text.splitlines() == ["*nat", ":PALLET-VIP - [0:0]", "-A OUTPUT -j PALLET-VIP",
                                 "-A PALLET-VIP -d 10.0.0.7/32 -j DNAT --to-destination 10.0.0.4", "COMMIT"]


@pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in ("iptables-restore", "nsenter")),
                    reason="needs root, iptables and nsenter")
def test_apply_in_a_namespace_rewrites_the_chain(tmp_path: Path) -> None:
    ns = str(tmp_path / "ns")
    try:
        _netns.create(ns)
    except OSError as exc:
        pytest.skip(f"cannot create a network namespace: {exc}")
    try:
        def rules() -> list[str]:
            out = subprocess.run(["nsenter", f"--net={ns}", "iptables-save", "-t", "nat"], check=True,
                                 capture_output=True, text=True).stdout
            return [line for line in out.splitlines() if line.startswith("-A ")]

        _balance.apply(ns, [])
        assert rules() == []  # never balanced: untouched
        _balance.apply(ns, _balance.vip_rules([("10.0.0.9", ["10.0.0.3", "10.0.0.4"])]))
        _balance.apply(ns, _balance.vip_rules([("10.0.0.9", ["10.0.0.3", "10.0.0.4"])]))
        got = rules()
        assert got.count("-A OUTPUT -j PALLET-VIP") == 1 and len(got) == 3
        _balance.apply(ns, _balance.vip_rules([("10.0.0.9", ["10.0.0.5"])]))
        assert rules() == ["-A OUTPUT -j PALLET-VIP", "-A PALLET-VIP -d 10.0.0.9/32 -j DNAT --to-destination 10.0.0.5"]
        _balance.apply(ns, [])
        assert rules() == ["-A OUTPUT -j PALLET-VIP"]
        with pytest.raises(_balance.BalanceError):
            _balance.apply(str(tmp_path / "not-a-namespace"), [])
    finally:
        _netns.remove(ns)
