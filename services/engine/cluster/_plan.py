"""The orchestrator's decisions, as a pure function of the cluster's state.

`plan(state, now)` looks at services, nodes, tasks and their observed statuses and returns what
to change: tasks to create, tasks to shut down, old tasks to forget, services whose update state
moves on. The elected orchestrator applies the actions to etcd (compare-and-swap) and calls plan
again on the next change; nothing here does I/O, so every rule is unit-tested.

Rules (Docker swarm's, simplified):
- A node takes new tasks when it is alive (its leased key exists), `active`, and matches the
  service's constraints. Tasks on a node that is down or `drain` are shut down and replaced.
- Replicated services have slots 1..replicas; global services one task per eligible node.
- A slot's task that ended is replaced according to the restart policy, after restart_delay.
- A service whose version moved on is rolled out `update.parallelism` slots at a time; a batch is
  done when its new tasks have been running (and healthy) for `update.monitor` seconds, and the
  next starts `update.delay` later. A new task that fails meanwhile triggers failure_action:
  pause, continue, or rollback (the previous spec becomes current as a new version).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pallet.engine.cluster._model import NodeSpec, Service, Task, TaskStatus, new_id

HISTORY = 5  # terminal tasks kept per slot, like swarm's task history


@dataclass
class State:
    services: dict[str, Service] = field(default_factory=dict)
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    alive: set[str] = field(default_factory=set)
    tasks: dict[str, Task] = field(default_factory=dict)
    statuses: dict[str, TaskStatus] = field(default_factory=dict)


@dataclass
class Actions:
    create: list[Task] = field(default_factory=list)
    shutdown: list[str] = field(default_factory=list)           # task ids: desired_state -> shutdown
    forget: list[str] = field(default_factory=list)             # task ids to delete with their status
    services: list[Service] = field(default_factory=list)       # services with a new update state/spec

    def __bool__(self) -> bool:
        return bool(self.create or self.shutdown or self.forget or self.services)


def matches(node: NodeSpec, constraints: list[str]) -> bool:
    """Swarm placement constraints: node.name, node.hostname, node.id, node.labels.KEY with == or !=."""
    for c in constraints:
        op = "!=" if "!=" in c else "=="
        key, _, want = (s.strip() for s in c.partition(op))
        if key in ("node.name", "node.hostname", "node.id"):
            have: str | None = node.name
        elif key.startswith("node.labels."):
            have = node.labels.get(key[len("node.labels."):])
        else:
            return False
        if (have == want) != (op == "=="):
            return False
    return True


def constraint_error(c: str) -> str | None:
    """Why a constraint is not understood, or None."""
    op = "!=" if "!=" in c else "==" if "==" in c else ""
    if not op:
        return f"invalid constraint {c!r}: use KEY==VALUE or KEY!=VALUE"
    key = c.partition(op)[0].strip()
    if key not in ("node.name", "node.hostname", "node.id") and not key.startswith("node.labels."):
        return f"invalid constraint {c!r}: supported keys are node.name, node.hostname and node.labels.KEY"
    return None


def _running(st: TaskStatus | None) -> bool:
    return st is not None and st.state == "running"


def plan(state: State, now: float) -> Actions:
    out = Actions()
    eligible_base = {n for n, spec in state.nodes.items() if n in state.alive and spec.availability == "active"}
    by_service: dict[str, list[Task]] = defaultdict(list)
    for t in state.tasks.values():
        by_service[t.service_id].append(t)
    load: dict[str, int] = defaultdict(int)  # live tasks per node, for spreading
    for t in state.tasks.values():
        st = state.statuses.get(t.id)
        if t.desired_state == "running" and not (st and st.terminal):
            load[t.node] += 1

    # Tasks whose node is gone, drained or removed: shut down (a returning node removes them).
    for t in state.tasks.values():
        spec = state.nodes.get(t.node)
        if t.desired_state == "running" and (
                spec is None or t.node not in state.alive or spec.availability == "drain"):
            out.shutdown.append(t.id)
    shut = set(out.shutdown)

    for sid, tasks in by_service.items():
        if sid not in state.services:  # removed service: shut down, then forget when done
            for t in tasks:
                st = state.statuses.get(t.id)
                if t.desired_state == "running" and t.id not in shut:
                    out.shutdown.append(t.id)
                elif st is None or st.terminal or t.node not in state.alive:
                    out.forget.append(t.id)
    for svc in state.services.values():
        _service(state, svc, by_service.get(svc.id, []), eligible_base, load, shut, now, out)
    return out


def _live(t: Task, state: State, shut: set[str]) -> bool:
    st = state.statuses.get(t.id)
    return t.desired_state == "running" and t.id not in shut and not (st and st.terminal)


def _service(state: State, svc: Service, tasks: list[Task], eligible_base: set[str], load: dict[str, int],
             shut: set[str], now: float, out: Actions) -> None:
    spec = svc.spec
    eligible = sorted(n for n in eligible_base if matches(state.nodes[n], spec.constraints))
    if spec.mode == "global":
        slots: dict[object, list[Task]] = defaultdict(list)
        for t in tasks:
            slots[t.node].append(t)
        wanted: list[object] = list(eligible)
    else:
        slots = defaultdict(list)
        for t in tasks:
            slots[t.slot].append(t)
        wanted = list(range(1, spec.replicas + 1))

    # Slots no longer wanted (scaled down, node no longer eligible): shut their live tasks down;
    # their history is bounded like any slot's.
    for key, ts in slots.items():
        if key not in wanted:
            for t in ts:
                if _live(t, state, shut):
                    out.shutdown.append(t.id)
                    shut.add(t.id)
            _forget_history(state, sorted(ts, key=lambda t: t.created_at), [], out)

    updating = _update_progress(state, svc, tasks, shut, now, out)

    for key in wanted:
        ts = sorted(slots.get(key, []), key=lambda t: t.created_at)
        live = [t for t in ts if _live(t, state, shut)]
        _forget_history(state, ts, live, out)
        if live:
            current = live[-1]
            for extra in live[:-1]:  # at most one live task per slot
                out.shutdown.append(extra.id)
                shut.add(extra.id)
            if current.version < svc.version and updating is not None and current.id in updating:
                out.shutdown.append(current.id)
                shut.add(current.id)
                _place(svc, key, eligible, load, out)
            continue
        last = ts[-1] if ts else None
        if last is not None and not _should_restart(state, svc, ts, now):
            continue
        for ended in ts:  # replaced: what ended is history now (desired shutdown, as swarm shows it)
            if ended.desired_state == "running" and ended.id not in shut:
                out.shutdown.append(ended.id)
                shut.add(ended.id)
        if spec.mode == "global":
            node = str(key)
            if node in eligible:
                out.create.append(Task(id=new_id(), service_id=svc.id, service_name=spec.name, slot=0, node=node,
                                       version=svc.version))
                load[node] += 1
        else:
            _place(svc, key, eligible, load, out)


def _place(svc: Service, key: object, eligible: list[str], load: dict[str, int], out: Actions) -> None:
    """A new task for a slot on the eligible node with the fewest live tasks (global: its own node)."""
    if svc.spec.mode == "global":
        node = str(key)
        if node not in eligible:
            return
    else:
        if not eligible:
            return
        node = min(eligible, key=lambda n: (load[n], n))
    out.create.append(Task(id=new_id(), service_id=svc.id, service_name=svc.spec.name,
                           slot=0 if svc.spec.mode == "global" else int(key),  # type: ignore[call-overload]
                           node=node, version=svc.version))
    load[node] += 1


def _should_restart(state: State, svc: Service, ts: list[Task], now: float) -> bool:
    """Whether a slot whose last task ended gets a new one now (restart policy, delay, attempts)."""
    last = ts[-1]
    st = state.statuses.get(last.id)
    if last.desired_state != "running" or st is None or not st.terminal:
        return True  # shut down by us (node gone, update, scale): replace at once
    if last.version < svc.version:
        return True
    cond = svc.spec.restart_condition
    if cond == "none" or (cond == "on-failure" and st.state == "complete" and st.exit_code == 0):
        return False
    if svc.spec.restart_max_attempts:
        attempts = sum(1 for t in ts if t.version == svc.version and (s := state.statuses.get(t.id))
                       and s.state in ("failed", "complete"))
        if attempts > svc.spec.restart_max_attempts:
            return False
    return now - st.timestamp >= svc.spec.restart_delay


def _forget_history(state: State, ts: list[Task], live: list[Task], out: Actions) -> None:
    done = [t for t in ts if t not in live and ((st := state.statuses.get(t.id)) is not None and st.terminal)]
    for t in done[:-HISTORY] if len(done) > HISTORY else []:
        out.forget.append(t.id)


def _update_progress(state: State, svc: Service, tasks: list[Task], shut: set[str], now: float,
                     out: Actions) -> set[str] | None:
    """The live old-version tasks to replace now (a rolling update's next batch), or None when no
    update runs. Moves the service's update state on (completed, paused, rolled back)."""
    live = [t for t in tasks if _live(t, state, shut)]
    old = [t for t in live if t.version < svc.version]
    new = [t for t in tasks if t.version == svc.version]
    cfg = svc.spec.rollback if svc.update_state.startswith("rollback") else svc.spec.update
    if svc.update_state in ("paused", "rollback_paused"):
        return None
    failed = [t for t in new if (st := state.statuses.get(t.id)) is not None and st.state in ("failed", "rejected")
              and svc.update_state in ("updating", "rollback_started")]
    if failed and cfg.failure_action != "continue":
        if cfg.failure_action == "rollback" and svc.previous is not None and svc.update_state == "updating":
            _rollback(svc, f"update failed: task {failed[0].id[:12]} {state.statuses[failed[0].id].state}", out)
        else:
            paused = "rollback_paused" if svc.update_state.startswith("rollback") else "paused"
            _set_state(svc, paused, f"update paused: task {failed[0].id[:12]} failed", out)
        return None
    if not old:
        if svc.update_state in ("updating", "rollback_started"):
            stable = all(_stable(state, t, cfg.monitor, now) for t in new if _live(t, state, shut))
            if stable:
                done = "rollback_completed" if svc.update_state == "rollback_started" else "completed"
                _set_state(svc, done, "update completed" if done == "completed" else "rollback completed", out)
        return set()
    if not svc.update_state or svc.update_state in ("completed", "rollback_completed"):
        _set_state(svc, "updating", "update in progress", out)
    in_flight = [t for t in new if _live(t, state, shut) and not _stable(state, t, cfg.monitor, now)]
    room = max(cfg.parallelism or len(old), 1) - len(in_flight)
    if room <= 0:
        return set()
    if cfg.delay and new:
        last_stable = max((state.statuses[t.id].timestamp + cfg.monitor for t in new
                           if t.id in state.statuses and state.statuses[t.id].state == "running"), default=0.0)
        if in_flight or now < last_stable + cfg.delay:
            return set()
    return {t.id for t in sorted(old, key=lambda t: (t.slot, t.node))[:room]}


def _stable(state: State, t: Task, monitor: float, now: float) -> bool:
    st = state.statuses.get(t.id)
    return _running(st) and now - st.timestamp >= monitor  # type: ignore[union-attr]


def _set_state(svc: Service, update_state: str, message: str, out: Actions) -> None:
    if svc.update_state != update_state:
        svc.update_state, svc.update_message = update_state, message
        out.services.append(svc)


def _rollback(svc: Service, why: str, out: Actions) -> None:
    assert svc.previous is not None
    svc.spec, svc.previous = svc.previous, svc.spec
    svc.version += 1
    svc.update_state, svc.update_message = "rollback_started", f"{why}; rolling back"
    out.services.append(svc)
