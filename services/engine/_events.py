"""The event bus behind `palletctl events`: a bounded history plus live subscribers."""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

HISTORY = 1024


@dataclass
class Event:
    type: str
    action: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_ns: int = field(default_factory=time.time_ns)


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    from pallet import errors

    out: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in ("type", "event", "container", "image", "label", "name"):
            raise errors.InvalidArgument(f"invalid filter '{f}'")
        out.setdefault(key, []).append(value)
    return out


def matches(e: Event, f: dict[str, list[str]]) -> bool:
    def one(key: str, value: str) -> bool:
        if key == "type":
            return e.type == value
        if key == "event":
            return e.action == value or e.action.split(":")[0] == value
        if key in ("container", "name"):
            return e.type == "container" and (e.id.startswith(value) or e.attributes.get("name") == value)
        if key == "image":
            return e.attributes.get("image") == value or (e.type == "image" and e.id == value)
        k, _, v = value.partition("=")
        return k in e.attributes and ("=" not in value or e.attributes[k] == v)

    return all(any(one(k, v) for v in vs) for k, vs in f.items())


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self._subscribers: list[queue.SimpleQueue[Event]] = []

    def emit(self, type_: str, action: str, id_: str, **attributes: str) -> None:
        e = Event(type_, action, id_, {k: str(v) for k, v in attributes.items()})
        with self._lock:
            self._history.append(e)
            subs = list(self._subscribers)
        for q in subs:
            q.put(e)

    def stream(self, since_ns: int = 0, until_ns: int = 0, filters: list[str] | None = None,
               alive: Callable[[], bool] = lambda: True) -> Iterator[Event]:
        """Past events from since_ns, then live ones until until_ns (or forever)."""
        f = parse_filters(filters or [])
        q: queue.SimpleQueue[Event] = queue.SimpleQueue()
        with self._lock:
            past = [e for e in self._history if since_ns and e.time_ns >= since_ns]
            live = not until_ns or until_ns > time.time_ns()
            if live:
                self._subscribers.append(q)
        try:
            for e in past:
                if until_ns and e.time_ns > until_ns:
                    return
                if matches(e, f):
                    yield e
            while live and alive():
                if until_ns and time.time_ns() > until_ns:
                    return
                try:
                    e = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if until_ns and e.time_ns > until_ns:
                    return
                if matches(e, f):
                    yield e
        finally:
            with self._lock:
                if q in self._subscribers:
                    self._subscribers.remove(q)
