"""The loop shape the node's agent and overlay share: a pass run on every wake-up (an etcd watch,
container events) and at least every `poll` seconds, that outlives etcd outages (logged once
when they begin and once when they end) and any other surprise (logged with its traceback)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pallet.engine.cluster._etcd import EtcdError


def run_passes(one_pass: Callable[[], None], wake: threading.Event, stop: threading.Event, poll: float, log: Any,
               what: str, settle: float = 0.0) -> None:
    """Call one_pass until stop is set: again at once when woken, else after poll seconds. settle:
    after a wake-up, wait this long first (changes come in bursts: one pass for them)."""
    outage = False
    while not stop.is_set():
        wake.clear()
        try:
            one_pass()
            if outage:
                log.info(f"{what}: etcd reachable again")
            outage = False
        except EtcdError as exc:
            if not outage:
                log.warning(f"{what}: etcd unavailable; retrying", error=str(exc))
            outage = True
        except Exception:  # noqa: BLE001 - the loop must outlive any surprise
            log.exception(f"{what}: pass failed")
        if wake.wait(poll) and settle:
            stop.wait(settle)


def watch_wakes(etcd: Any, prefix: str, wake: threading.Event, stop: threading.Event, log: Any, what: str,
                on_watch: Callable[[Any], None] | None = None) -> None:
    """Set wake on every change under prefix, and once each time the watch (re)connects: anything
    may have changed while it was away. Runs until stop is set; on_watch gets each new watch (so
    that the owner can close it to end this at once)."""
    while not stop.is_set():
        try:
            with etcd.watch_prefix(prefix, retry_for=5.0) as w:
                if on_watch is not None:
                    on_watch(w)
                wake.set()
                for _ in w:
                    wake.set()
                    if stop.is_set():
                        return
        except EtcdError:
            pass
        except Exception:  # noqa: BLE001 - only a wake-up source; polling covers for it
            log.exception(f"{what}: watch failed")
        stop.wait(1.0)
