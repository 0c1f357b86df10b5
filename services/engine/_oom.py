"""`oom` events at the moment of the kill, as dockerd emits them.

The shim reports OOM kills when the container exits (`OOMKilled`); a child
killed by the OOM killer in a container that keeps running would otherwise go
unreported until then. One daemon thread reads the memory cgroup's oom_kill
count of every running container with a memory limit once a second, and emits
`oom` when it grows. The exit path asks `forget` whether an event was already
emitted for this run, so each run reports its OOM once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from pallet.engine.v1 import engine_pb2 as pb

INTERVAL = 1.0


class OomWatcher:
    def __init__(self, emit: Callable[[str, pb.Container], Any], cgroups_path: Callable[[str], str],
                 interval: float = INTERVAL) -> None:
        self._emit = emit
        self._cgroups_path = cgroups_path
        self._interval = interval
        self._lock = threading.Lock()
        # cid -> (record, where the count is, count seen, event emitted)
        self._watched: dict[str, tuple[pb.Container, tuple[str, str] | None, int, bool]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def watch(self, ctr: pb.Container) -> None:
        """A started (or reattached) container: follow its OOM kills if it has a memory limit."""
        if not ctr.config.host_config.memory:
            return
        from pallet.shim import _cgroup

        where = _cgroup.oom_file(self._cgroups_path(ctr.id), ctr.state.pid)
        with self._lock:
            self._watched[ctr.id] = (ctr, where, _cgroup.oom_kills(where), False)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="oom-watcher", daemon=True)
                self._thread.start()

    def forget(self, cid: str) -> bool:
        """Stop following a container that exited; True if an oom event was emitted for this run."""
        with self._lock:
            entry = self._watched.pop(cid, None)
        return entry is not None and entry[3]

    def stop(self) -> None:
        self._stop.set()

    def poll(self) -> None:
        """One round: emit `oom` for each container whose count grew."""
        from pallet.shim import _cgroup

        with self._lock:
            items = list(self._watched.items())
        for cid, (_, where, _, _) in items:
            count = _cgroup.oom_kills(where)
            with self._lock:  # emitted under the lock: never after the exit path's `die`
                entry = self._watched.get(cid)
                if entry is None or count <= entry[2]:
                    continue
                self._watched[cid] = (entry[0], entry[1], count, True)
                self._emit("oom", entry[0])

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # the watcher must keep going
                self.poll()
