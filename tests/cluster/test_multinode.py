"""Three nodes on one machine (network namespaces on a test bridge, each with its palletd) and an
etcd on the bridge: services spread, survive a node's death, drain, roll back a failed update,
and the cluster carries on when etcd restarts."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pallet.engine.cluster._model import Service, ServiceSpec, UpdateConfig, new_id

from tests.cluster._lab import Lab

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(busybox_tar: str) -> Iterator[Lab]:
    import os
    import shutil

    if os.geteuid() != 0 or not shutil.which("etcd") or not shutil.which("nsenter"):
        pytest.skip("needs root, etcd and nsenter")
    with Lab(3, busybox_tar) as lab:
        lab.etcd.start()
        for i in range(3):
            lab.start_node(i)
        lab.wait("three nodes ready", lambda: sum(1 for n in lab.store.nodes() if n.alive) == 3)
        yield lab


def _spec(name: str, replicas: int = 3, **kw: object) -> ServiceSpec:
    return ServiceSpec(name=name, image="busybox:latest", args=["sleep", "300"], replicas=replicas,
                       stop_grace_period=1.0, restart_delay=0.5, **kw)  # type: ignore[arg-type]


def _running(lab: Lab, sid: str) -> dict[str, str]:
    """task id -> node, for the tasks of a service that are desired and observed running."""
    return {t.id: t.node for t, st in lab.store.tasks(sid)
            if t.desired_state == "running" and st is not None and st.state == "running"}


def _containers(lab: Lab, i: int, service: str) -> list[str]:
    eng = lab.engines[i]
    assert eng is not None
    res = eng.ctl("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    return res.stdout.split()


def _remove(lab: Lab, name: str) -> None:
    try:
        svc = lab.store.remove_service(name)
    except Exception:  # noqa: BLE001 - already gone
        return
    def up(i: int) -> bool:
        eng = lab.engines[i]
        return eng is not None and eng.proc is not None and eng.proc.poll() is None

    lab.wait(f"{name}'s containers gone", lambda: all(not _containers(lab, i, name) for i in range(3) if up(i)),
             timeout=60)
    lab.wait(f"{name}'s tasks forgotten", lambda: not lab.store.tasks(svc.id) or None, timeout=30)


def test_service_spreads_and_is_rescheduled_when_a_node_dies(lab: Lab) -> None:
    svc = lab.store.create_service(Service(id=new_id(), spec=_spec("web")))
    try:
        t0 = time.monotonic()
        placed = lab.wait("3 tasks running", lambda: len(_running(lab, svc.id)) == 3 and _running(lab, svc.id))
        converge = time.monotonic() - t0
        assert sorted(placed.values()) == ["n1", "n2", "n3"], placed
        assert all(len(_containers(lab, i, "web")) == 1 for i in range(3))

        lab.kill_node(1)  # n2's palletd dies; its container keeps running, unmanaged
        t0 = time.monotonic()
        moved = lab.wait("n2's task rescheduled", lambda: (len(r := _running(lab, svc.id)) == 3
                                                           and "n2" not in r.values() and r), timeout=60)
        recover = time.monotonic() - t0
        assert sorted(moved.values()).count("n2") == 0
        node2 = [n for n in lab.store.nodes() if n.spec.name == "n2"][0]
        assert node2.state == "down"

        lab.start_node(1)  # n2 returns: its stale task's container is removed
        lab.wait("n2's stale container removed", lambda: not _containers(lab, 1, "web"), timeout=60)
        assert len(_running(lab, svc.id)) == 3
        print(f"converged in {converge:.1f}s, recovered from a dead node in {recover:.1f}s")
    finally:
        _remove(lab, "web")


def test_drain_moves_tasks_away(lab: Lab) -> None:
    svc = lab.store.create_service(Service(id=new_id(), spec=_spec("api")))
    try:
        lab.wait("3 tasks running", lambda: len(_running(lab, svc.id)) == 3)
        lab.store.update_node("n1", lambda n: setattr(n, "availability", "drain"))
        lab.wait("no task on n1", lambda: len(r := _running(lab, svc.id)) == 3 and "n1" not in r.values())
        lab.wait("n1's container removed", lambda: not _containers(lab, 0, "api"))
    finally:
        lab.store.update_node("n1", lambda n: setattr(n, "availability", "active"))
        _remove(lab, "api")


def test_failed_rolling_update_rolls_back(lab: Lab) -> None:
    spec = _spec("rolling", replicas=2)
    spec.update = UpdateConfig(parallelism=1, monitor=2.0, failure_action="rollback")
    svc = lab.store.create_service(Service(id=new_id(), spec=spec))
    try:
        lab.wait("2 tasks running", lambda: len(_running(lab, svc.id)) == 2)

        def bad(s: Service) -> None:
            s.previous = s.spec
            s.spec = ServiceSpec.from_dict({**s.spec.__dict__, "args": ["sh", "-c", "sleep 0.5; exit 3"]})
            s.version += 1
            s.update_state = ""

        lab.store.update_service("rolling", bad)
        done = lab.wait("rollback completed", lambda: lab.store.service("rolling").update_state
                        == "rollback_completed" and lab.store.service("rolling"), timeout=90)
        assert done.spec.args == ["sleep", "300"]
        lab.wait("2 tasks of the old spec running", lambda: len(_running(lab, svc.id)) == 2)
        versions = {t.version for t, st in lab.store.tasks(svc.id)
                    if t.desired_state == "running" and st and st.state == "running"}
        assert versions == {done.version}
    finally:
        _remove(lab, "rolling")


def test_cluster_carries_on_when_etcd_restarts(lab: Lab) -> None:
    svc = lab.store.create_service(Service(id=new_id(), spec=_spec("steady", replicas=2)))
    try:
        lab.wait("2 tasks running", lambda: len(_running(lab, svc.id)) == 2)
        lab.etcd.restart()
        lab.wait("three nodes ready again", lambda: sum(1 for n in lab.store.nodes() if n.alive) == 3, timeout=60)
        lab.store.update_service("steady", lambda s: setattr(s.spec, "replicas", 3))
        lab.wait("scaled to 3 after the restart", lambda: len(_running(lab, svc.id)) == 3, timeout=60)
    finally:
        _remove(lab, "steady")
