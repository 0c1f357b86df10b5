"""The orchestrator: whichever palletd wins the etcd election turns desired state into tasks.

Every daemon campaigns; the leader loops load state → plan → apply, woken by any change under
the cluster prefix and at least once a second (restart delays and update monitors are timed).
Writes are compare-and-swap, so a leader that lost its lease without noticing yet cannot undo
what the next leader did: its task creations use fresh keys, shutdowns are idempotent, and
service changes check the revision they read.
"""

from __future__ import annotations

import contextlib
import threading
import time

from pallet import log
from pallet.engine.cluster._election import Election
from pallet.engine.cluster._etcd import EtcdError
from pallet.engine.cluster._plan import Actions, plan
from pallet.engine.cluster._store import ClusterStore


class Orchestrator(threading.Thread):
    def __init__(self, store: ClusterStore, node: str, lease_id: int, stop: threading.Event) -> None:
        super().__init__(name="cluster-orchestrator", daemon=True)
        self.store = store
        self.node = node
        self.election = Election(store.etcd, store.key("leader"), node.encode(), lease_id)
        self.stop_event = stop
        self.leading = False
        self._wake = threading.Event()
        self.log = log.get("cluster")

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                if self.election.campaign(timeout=1.0):
                    self.log.info("orchestrator elected", node=self.node)
                    self.leading = True
                    self._lead()
            except EtcdError as exc:
                self.log.warning("orchestrator: etcd unavailable", error=str(exc))
                self.stop_event.wait(1.0)
            except Exception:  # noqa: BLE001 - the loop must survive a bad record
                self.log.exception("orchestrator failed; campaigning again")
                self.stop_event.wait(1.0)
            finally:
                if self.leading:
                    self.log.info("orchestrator stepped down", node=self.node)
                self.leading = False
        with contextlib.suppress(EtcdError):
            self.election.resign()

    def _lead(self) -> None:
        watcher = threading.Thread(target=self._watch, name="cluster-orchestrator-watch", daemon=True)
        watcher.start()
        while not self.stop_event.is_set():
            if not self.election.is_leader():
                return
            state, revs = self.store.load_state()
            acts = plan(state, time.time())
            if acts:
                self._apply(acts, revs)
                continue  # look again at once: applying may enable more (e.g. the next batch)
            self._wake.wait(1.0)
            self._wake.clear()

    def _watch(self) -> None:
        rev = 0
        while self.leading and not self.stop_event.is_set():
            try:
                with self.store.etcd.watch_prefix(self.store.prefix, start_revision=rev, retry_for=None) as w:
                    for _ in w:
                        self._wake.set()
                        rev = w.revision + 1
                        if not self.leading or self.stop_event.is_set():
                            return
            except EtcdError:
                rev = 0
                self.stop_event.wait(1.0)

    def _apply(self, acts: Actions, revs: dict[str, int]) -> None:
        # Services first: a task of a new version (a rollback's) must never be seen before the
        # service at that version. A service changed meanwhile (CAS lost) gets no new task this
        # pass: the next plan starts from what is there.
        stale = set()
        for svc in acts.services:
            if self.store.put_service_if_unchanged(svc, revs.get(svc.id, 0)):
                self.log.info("service update state", service=svc.spec.name, state=svc.update_state,
                              message=svc.update_message)
            else:
                stale.add(svc.id)
        for tid in acts.shutdown:
            self.store.shutdown_task(tid)
        for task in acts.create:
            if task.service_id in stale:
                continue
            self.store.create_task(task)
            self.log.info("task assigned", task=task.id, service=task.service_name, slot=task.slot, node=task.node,
                          version=task.version)
        for tid in acts.forget:
            self.store.forget_task(tid)
