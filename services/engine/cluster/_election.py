"""Lease keeping and leader election on etcd.

Election uses etcd's own recipe (Go's clientv3/concurrency, `etcdctl elect`).

Each candidate creates `<name>/<lease id in hex>` bound to its lease, create-if-absent in one txn;
the leader is the candidate whose key has the lowest create_revision. The others wait for a
deletion under the prefix and look again, so leadership passes in create order (a queue), and a
leader that dies loses its key when its lease expires (or at once if the lease is revoked).
Keys are compatible with `etcdctl elect <name>` and Go's concurrency.Election.

    lease = etcd.lease_grant(10); keep = KeepAlive(etcd, lease, on_lost=...); keep.start()
    el = Election(etcd, "/pallet/cluster/leader", b"node-1", lease)
    if el.campaign(timeout=30): ... lead, until the lease is lost or el.resign()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from pallet.engine.cluster._etcd import KV, Compare, Etcd, EtcdError, Key, Lease, Op, Watch, prefix_end


class KeepAlive(threading.Thread):
    """Renews a lease every ttl/3 in a daemon thread; calls on_lost() once if the lease is lost.

    Lost means etcd says the lease expired, or no renewal got through before the TTL ran out.
    stop(revoke=True) ends it and revokes the lease (deleting its keys at once).
    """

    def __init__(self, etcd: Etcd, lease: Lease, on_lost: Callable[[], None] | None = None) -> None:
        super().__init__(name=f"etcd-keepalive-{lease.id:x}", daemon=True)
        self.etcd, self.lease, self.on_lost = etcd, lease, on_lost
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        interval = max(self.lease.ttl / 3, 0.2)
        expires = time.monotonic() + self.lease.ttl
        wait = interval
        while not self._stop_event.wait(wait):
            sent = time.monotonic()
            try:
                remaining = self.etcd.lease_keepalive(self.lease.id)
            except EtcdError:
                remaining = -1
            if self._stop_event.is_set():
                return
            if remaining > 0:
                expires, wait = sent + remaining, interval
            elif remaining == 0 or time.monotonic() >= expires:
                self.lost = True
                if self.on_lost is not None:
                    self.on_lost()
                return
            else:  # unreachable: retry sooner while the lease may still live
                wait = min(interval, 0.5)

    def stop(self, revoke: bool = False) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
        if revoke:
            self.etcd.lease_revoke(self.lease.id)


class Election:
    """One candidate (one lease) in the election called name."""

    def __init__(self, etcd: Etcd, name: str, value: Key, lease: Lease | int) -> None:
        self.etcd = etcd
        self.prefix = name.rstrip("/") + "/"
        self.value = value
        self.lease_id = lease.id if isinstance(lease, Lease) else lease
        self.key = f"{self.prefix}{self.lease_id:x}"
        self.create_revision = 0  # of our key, once campaigning

    def campaign(self, timeout: float | None = None) -> bool:
        """Join (or rejoin) the queue and wait to lead. True: we lead.

        False: the timeout passed first (our key is then withdrawn, so that we cannot become
        leader without knowing), or our key disappeared or the lease is gone (lost).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            res = self.etcd.txn([Compare.create_revision(self.key, "=", 0)],
                                [Op.put(self.key, self.value, self.lease_id)], [Op.get(self.key)])
        except EtcdError as e:
            if e.code == 5:  # the lease is gone
                self.create_revision = 0
                return False
            raise
        if res.succeeded:
            self.create_revision = res.revision
        else:  # already a candidate with this lease: keep our place, refresh the value
            kvs = res.responses[0].kvs
            self.create_revision = kvs[0].create_revision if kvs else 0
            if not kvs or not self.proclaim(self.value):
                return False
        while True:
            kvs, rev = self.etcd.get_prefix(self.prefix)
            if not any(kv.key == self.key and kv.create_revision == self.create_revision for kv in kvs):
                self.create_revision = 0  # lost (lease expired or revoked, or resigned elsewhere)
                return False
            if min(kvs, key=lambda kv: kv.create_revision).key == self.key:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self.resign()
                return False
            self._wait_delete(rev + 1, remaining)

    def _wait_delete(self, start_revision: int, timeout: float | None) -> None:
        """Block until something under the prefix is deleted after start_revision, or timeout."""
        with self.etcd.watch_prefix(self.prefix, start_revision) as watch:
            timer = None if timeout is None else threading.Timer(timeout, watch.close)
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                for ev in watch:
                    if ev.type == "DELETE":
                        return
            finally:
                if timer is not None:
                    timer.cancel()

    def proclaim(self, value: Key) -> bool:
        """Change our key's value (what observers see) without losing our place; False if not a candidate."""
        if not self.create_revision:
            return False
        res = self.etcd.txn([Compare.create_revision(self.key, "=", self.create_revision)],
                            [Op.put(self.key, value, self.lease_id)])
        if res.succeeded:
            self.value = value
        return res.succeeded

    def resign(self) -> None:
        """Leave the election (and leadership): delete our key if it is still ours."""
        if self.create_revision:
            self.etcd.txn([Compare.create_revision(self.key, "=", self.create_revision)], [Op.delete(self.key)])
        self.create_revision = 0

    def is_leader(self) -> bool:
        current = self.leader()
        return current is not None and current.key == self.key and current.create_revision == self.create_revision

    def leader(self) -> KV | None:
        """The leader's key and value (value: what it campaigned or proclaimed with), None if nobody leads."""
        return leader(self.etcd, self.prefix)

    def observe(self) -> Observation:
        """An iterator of the leader (KV or None) each time it changes, starting with the current one."""
        return Observation(self.etcd, self.prefix)


def leader(etcd: Etcd, name: str) -> KV | None:
    """The current leader of the election called name."""
    prefix = name.rstrip("/") + "/"
    kvs, _ = etcd.range(prefix, prefix_end(prefix), limit=1, sort_target="CREATE", sort_order="ASCEND")
    return kvs[0] if kvs else None


class Observation:
    """Yields the election's leader (KV or None) whenever it changes: a new leader or a new value.

    close() from any thread ends the iteration.
    """

    def __init__(self, etcd: Etcd, name: str) -> None:
        self.etcd = etcd
        self.prefix = name.rstrip("/") + "/"
        self._watch: Watch | None = None
        self._closed = False

    def close(self) -> None:
        self._closed = True
        if self._watch is not None:
            self._watch.close()

    def __enter__(self) -> Observation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[KV | None]:
        last: tuple[str, int, bytes] | None = None
        first = True
        while not self._closed:
            kvs, rev = self.etcd.range(self.prefix, prefix_end(self.prefix), limit=1,
                                       sort_target="CREATE", sort_order="ASCEND")
            current = kvs[0] if kvs else None
            ident = None if current is None else (current.key, current.create_revision, current.value)
            if first or ident != last:
                first, last = False, ident
                yield current
            if self._closed:
                return
            self._watch = self.etcd.watch_prefix(self.prefix, rev + 1)
            if self._closed:
                self._watch.close()
            with self._watch:
                for _ in self._watch:
                    break  # something changed: look again
