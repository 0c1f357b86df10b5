"""The orchestrator's rules: placement, rescheduling, drain, scaling, restarts, rolling updates."""

from __future__ import annotations

from collections import Counter

from pallet.engine.cluster._model import NodeSpec, Service, ServiceSpec, Task, TaskStatus, UpdateConfig
from pallet.engine.cluster._plan import State, constraint_error, matches, plan


def _state(nodes: int = 3) -> State:
    st = State()
    for i in range(1, nodes + 1):
        st.nodes[f"n{i}"] = NodeSpec(name=f"n{i}", labels={"zone": "a" if i < 3 else "b"})
        st.alive.add(f"n{i}")
    return st


def _svc(st: State, replicas: int = 3, **kw: object) -> Service:
    svc = Service(id="s1", spec=ServiceSpec(name="web", image="busybox", replicas=replicas, **kw))  # type: ignore[arg-type]
    st.services[svc.id] = svc
    return svc


def _apply(st: State, now: float, running: bool = True) -> None:
    """What the orchestrator and the nodes would do: write the actions, then report the tasks running."""
    acts = plan(st, now)
    for t in acts.create:
        st.tasks[t.id] = t
        if running:
            st.statuses[t.id] = TaskStatus(state="running", timestamp=now)
    for tid in acts.shutdown:
        st.tasks[tid].desired_state = "shutdown"
        st.statuses[tid] = TaskStatus(state="shutdown", timestamp=now)
    for tid in acts.forget:
        st.tasks.pop(tid, None)
        st.statuses.pop(tid, None)
    for svc in acts.services:
        st.services[svc.id] = svc


def _live(st: State) -> list[Task]:
    return [t for t in st.tasks.values() if t.desired_state == "running"
            and not (st.statuses.get(t.id) and st.statuses[t.id].terminal)]


def test_replicas_spread_over_nodes() -> None:
    st = _state()
    _svc(st, replicas=6)
    _apply(st, 0)
    assert Counter(t.node for t in _live(st)) == {"n1": 2, "n2": 2, "n3": 2}
    assert sorted(t.slot for t in _live(st)) == [1, 2, 3, 4, 5, 6]
    assert not plan(st, 1)  # converged: nothing more to do


def test_node_down_tasks_are_rescheduled_and_shut_down() -> None:
    st = _state()
    _svc(st, replicas=3)
    _apply(st, 0)
    st.alive.discard("n2")
    acts = plan(st, 1)
    lost = [t.id for t in st.tasks.values() if t.node == "n2"]
    assert acts.shutdown == lost
    assert [t.node for t in acts.create] and all(t.node != "n2" for t in acts.create)
    _apply(st, 1)
    assert len(_live(st)) == 3 and all(t.node != "n2" for t in _live(st))


def test_drain_and_pause() -> None:
    st = _state()
    _svc(st, replicas=3)
    _apply(st, 0)
    st.nodes["n1"].availability = "pause"
    assert not plan(st, 1)  # paused: keeps its tasks
    st.nodes["n1"].availability = "drain"
    _apply(st, 2)
    assert sorted(t.node for t in _live(st)) == ["n2", "n3", "n3"] or sorted(t.node for t in _live(st)) == [
        "n2", "n2", "n3"]


def test_scale_down_and_up() -> None:
    st = _state()
    svc = _svc(st, replicas=4)
    _apply(st, 0)
    svc.spec.replicas = 2
    _apply(st, 1)
    assert sorted(t.slot for t in _live(st)) == [1, 2]
    svc.spec.replicas = 3
    _apply(st, 2)
    assert sorted(t.slot for t in _live(st)) == [1, 2, 3]


def test_global_mode_and_constraints() -> None:
    st = _state()
    _svc(st, mode="global", constraints=["node.labels.zone==a"])
    _apply(st, 0)
    assert sorted(t.node for t in _live(st)) == ["n1", "n2"]
    st.nodes["n3"].labels["zone"] = "a"
    _apply(st, 1)
    assert sorted(t.node for t in _live(st)) == ["n1", "n2", "n3"]
    assert matches(NodeSpec(name="x"), ["node.name!=y"]) and not matches(NodeSpec(name="x"), ["node.name==y"])
    assert constraint_error("node.labels.a=b") and constraint_error("engine.x==1") and not constraint_error(
        "node.name==n1")


def test_restart_policy() -> None:
    st = _state(1)
    _svc(st, replicas=1, restart_condition="on-failure", restart_delay=5.0)
    _apply(st, 0)
    t = _live(st)[0]
    st.statuses[t.id] = TaskStatus(state="complete", exit_code=0, timestamp=10)
    assert not plan(st, 100).create  # completed cleanly: on-failure does not restart
    st.statuses[t.id] = TaskStatus(state="failed", exit_code=1, timestamp=10)
    assert not plan(st, 12).create  # within restart_delay
    assert len(plan(st, 15).create) == 1


def test_history_is_bounded() -> None:
    st = _state(1)
    _svc(st, replicas=1, restart_delay=0.0)
    for i in range(10):
        _apply(st, i)
        for t in _live(st):
            st.statuses[t.id] = TaskStatus(state="failed", exit_code=1, timestamp=i)
    assert len(st.tasks) <= 6


def test_rolling_update_one_at_a_time_with_monitor() -> None:
    st = _state()
    svc = _svc(st, replicas=3, update=UpdateConfig(parallelism=1, monitor=5, delay=0))
    _apply(st, 0)
    svc.previous, svc.spec = svc.spec, ServiceSpec.from_dict({**svc.spec.__dict__, "image": "busybox:2"})
    svc.spec.update = UpdateConfig(parallelism=1, monitor=5)
    svc.version = 2
    _apply(st, 10)
    assert svc.update_state == "updating"
    assert sorted(t.version for t in _live(st)) == [1, 1, 2]
    _apply(st, 12)  # the new task is not stable yet: no next batch
    assert sorted(t.version for t in _live(st)) == [1, 1, 2]
    _apply(st, 16)
    assert sorted(t.version for t in _live(st)) == [1, 2, 2]
    _apply(st, 22)
    _apply(st, 28)
    assert sorted(t.version for t in _live(st)) == [2, 2, 2]
    assert svc.update_state == "completed"


def test_failed_update_rolls_back() -> None:
    st = _state()
    svc = _svc(st, replicas=2)
    _apply(st, 0)
    svc.previous, svc.spec = svc.spec, ServiceSpec.from_dict({**svc.spec.__dict__, "image": "busybox:bad"})
    svc.spec.update = UpdateConfig(parallelism=1, monitor=5, failure_action="rollback")
    svc.version = 2
    _apply(st, 10)
    new = [t for t in _live(st) if t.version == 2]
    assert len(new) == 1
    st.statuses[new[0].id] = TaskStatus(state="failed", exit_code=1, timestamp=11)
    _apply(st, 12)
    assert svc.update_state == "rollback_started" and svc.spec.image == "busybox" and svc.version == 3
    for now in (20, 30, 40, 50):
        _apply(st, now)
    assert sorted((t.version, st.services["s1"].spec.image) for t in _live(st)) == [(3, "busybox"), (3, "busybox")]
    assert svc.update_state == "rollback_completed"


def test_removed_service_is_shut_down_then_forgotten() -> None:
    st = _state()
    _svc(st, replicas=2)
    _apply(st, 0)
    del st.services["s1"]
    _apply(st, 1)
    assert not _live(st)
    _apply(st, 2)
    assert not st.tasks


def test_replaced_tasks_become_history_and_unused_slots_are_forgotten() -> None:
    st = _state(1)
    svc = _svc(st, replicas=2, restart_delay=0.0)
    _apply(st, 0)
    failed = _live(st)[0]
    st.statuses[failed.id] = TaskStatus(state="failed", exit_code=1, timestamp=1)
    _apply(st, 2)
    assert st.tasks[failed.id].desired_state == "shutdown"  # swarm: desired Shutdown, current Failed
    assert st.statuses[failed.id].state == "shutdown" or st.statuses[failed.id].state == "failed"
    svc.spec.replicas = 1
    for now in range(3, 20):  # slot 2 keeps failing and being replaced... until it is scaled away
        _apply(st, now)
    assert not [t for t in _live(st) if t.slot == 2]
    assert len([t for t in st.tasks.values() if t.slot == 2]) <= 5  # bounded history
