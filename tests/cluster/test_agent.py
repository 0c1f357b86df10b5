"""The node agent (pallet.engine.cluster._agent) in a real palletd joined to a real etcd.

One node, so its own orchestrator leads and assigns every task to it; the tests drive the
cluster through the store (services, tasks) and look at the containers through palletd's API.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import grpc
import pytest
from pallet import rpc
from pallet.engine.cluster._agent import (
    NODE_ID,
    SERVICE_NAME,
    TASK_ID,
    TASK_NAME,
    TASK_SLOT,
    Agent,
    _Rejected,
    container_config,
)
from pallet.engine.cluster._etcd import Etcd
from pallet.engine.cluster._model import Service, ServiceSpec, Task, TaskStatus, UpdateConfig, dump, new_id
from pallet.engine.cluster._store import ClusterStore
from pallet.engine.v1 import engine_pb2 as pb
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

from tests import _host
from tests._engine import Engine, make_engine
from tests.cluster.conftest import EtcdServer
from tests.conftest import _need_root

T = TypeVar("T")
RUNNING = pb.ContainerState.STATUS_RUNNING


@dataclass
class Node:
    eng: Engine
    store: ClusterStore
    etcd_server: EtcdServer
    containers: Any = None

    def connect(self) -> None:
        self.containers = pb_grpc.ContainersStub(rpc.channel(self.eng.host))

    def ctrs(self, service: str = "", all_: bool = True) -> list[pb.Container]:
        filters = [f"label={NODE_ID}=n1"] + ([f"label={SERVICE_NAME}={service}"] if service else [])
        return list(self.containers.List(pb.ListContainersRequest(all=all_, filters=filters), timeout=10).containers)

    def running(self, service: str) -> list[pb.Container]:
        return [c for c in self.ctrs(service) if c.state.status == RUNNING]

    def status(self, task: Task) -> TaskStatus | None:
        kv = self.store.etcd.get(self.store.key("status", task.id))
        return TaskStatus.load(kv.value) if kv is not None else None

    def tasks(self, svc: Service) -> list[tuple[Task, TaskStatus | None]]:
        return self.store.tasks(svc.id)

    def live(self, svc: Service) -> list[tuple[Task, TaskStatus | None]]:
        return [(t, st) for t, st in self.tasks(svc) if t.desired_state == "running" and st is not None
                and not st.terminal]

    def all_running(self, svc: Service, n: int) -> list[tuple[Task, TaskStatus | None]] | None:
        live = self.live(svc)
        return live if len(live) == n and all(st is not None and st.state == "running" for _, st in live) else None


def wait(what: str, check: Callable[[], T | None], timeout: float = 20, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
        except (grpc.RpcError, OSError):
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def node(etcd_server: EtcdServer, busybox_tar: str) -> Iterator[Node]:
    """palletd joined to etcd as n1 (on a prefix of its own), with busybox:latest."""
    _need_root()
    prefix = f"/test-{uuid.uuid4().hex[:8]}/"
    eng = make_engine()
    eng.daemon_args = ["--cluster-store", f"etcd://127.0.0.1:{etcd_server.client_port}", "--node-name", "n1",
                       "--cluster-prefix", prefix]
    try:
        eng.start()
        eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
        n = Node(eng, ClusterStore(Etcd([etcd_server.endpoint], timeout=3), prefix), etcd_server)
        n.connect()
        yield n
    finally:
        print(eng.logs())  # shown when the test failed
        eng.stop()
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


def service(store: ClusterStore, name: str = "web", **kw: Any) -> Service:
    kw.setdefault("args", ["sleep", "300"])
    kw.setdefault("stop_grace_period", 1)  # busybox's sleep as PID 1 ignores SIGTERM
    kw.setdefault("restart_delay", 0.2)
    return store.create_service(Service(id=new_id(), spec=ServiceSpec(name=name, image="busybox:latest", **kw)))


def test_service_runs_scales_and_goes(node: Node) -> None:
    t0 = time.monotonic()
    svc = service(node.store, replicas=2, env=["A=1"], container_labels={"team": "x"})
    live = wait("2 tasks running", lambda: node.all_running(svc, 2))
    elapsed = time.monotonic() - t0
    print(f"service create -> 2 tasks running: {elapsed:.2f}s")
    ctrs = node.running("web")
    assert len(ctrs) == 2
    by_task = {c.config.labels[TASK_ID]: c for c in ctrs}
    for t, st in live:
        assert st is not None
        c = by_task[t.id]
        assert c.name == f"web.{t.slot}.{t.id}" == c.config.labels[TASK_NAME]
        assert st.container_id == c.id
        assert c.config.labels[TASK_SLOT] == str(t.slot)
        assert c.config.labels["team"] == "x"
        assert "A=1" in c.env
        assert c.config.stop_timeout == 1
        assert c.config.restart_policy.name in ("", "no")
    assert sorted(t.slot for t, _ in live) == [1, 2]

    # Scale to 1: one task shut down, its container stopped and removed.
    node.store.update_service(svc.id, lambda s: setattr(s.spec, "replicas", 1))
    wait("one container left", lambda: len(node.ctrs("web")) == 1)
    wait("the other task shut down", lambda: [st for t, st in node.tasks(svc)
                                              if t.desired_state == "shutdown" and st and st.state == "shutdown"])
    assert len(node.live(svc)) == 1

    # Remove the service: containers removed, tasks forgotten.
    node.store.remove_service(svc.id)
    wait("containers removed", lambda: not node.ctrs("web"))
    wait("tasks forgotten", lambda: not node.tasks(svc))


def test_killed_task_fails_and_is_replaced(node: Node) -> None:
    svc = service(node.store, replicas=1)
    [(first, _)] = wait("the task running", lambda: node.all_running(svc, 1))
    [c] = node.running("web")
    node.eng.ctl("kill", c.id, check=True)
    st = wait("the task failed", lambda: (s := node.status(first)) and s.state == "failed" and s)
    assert st.exit_code == 137 and st.message == "task: non-zero exit (137)"
    [(second, _)] = wait("a replacement running", lambda: node.all_running(svc, 1))
    assert second.id != first.id and second.slot == first.slot
    # The exited container stays as the failed task's history.
    names = {x.name: x for x in node.ctrs("web")}
    assert names[f"web.1.{first.id}"].state.status == pb.ContainerState.STATUS_EXITED
    assert names[f"web.1.{second.id}"].state.status == RUNNING


def test_bad_records_are_skipped(node: Node) -> None:
    svc = service(node.store, replicas=1, restart_delay=60)
    [(task, _)] = wait("the task running", lambda: node.all_running(svc, 1))
    [c] = node.running("web")
    # Unreadable records: a task, and a status of a task of this node. (The orchestrator cannot plan
    # while a task record is unreadable, so nothing is replaced meanwhile: only the agent is tested.)
    node.store.etcd.put(node.store.key("tasks", "garbage"), b"{not json")
    node.store.etcd.put(node.store.key("tasks", "half"), b'{"id": "half", "node": "n1"}')
    node.eng.ctl("kill", c.id, check=True)

    st = wait("the failure reported", lambda: (s := node.status(task)) and s.state == "failed" and s)
    assert st.exit_code == 137
    assert "skipping a bad record" in node.eng.logs()
    node.store.etcd.delete(node.store.key("tasks", "garbage"))
    node.store.etcd.delete(node.store.key("tasks", "half"))


def test_health_gates_running(node: Node) -> None:
    t0 = time.monotonic()
    svc = service(node.store, replicas=1, args=["sh", "-c", "sleep 2; touch /tmp/ok; sleep 300"],
                  health_cmd=["CMD-SHELL", "test -e /tmp/ok"], health_interval=0.5, health_retries=20)
    seen: set[str] = set()

    def running() -> bool:
        for _, st in node.tasks(svc):
            if st is not None:
                seen.add(st.state)
                return st.state == "running"
        return False

    wait("the task running", running)
    assert "starting" in seen
    assert time.monotonic() - t0 >= 2
    [c] = node.running("web")
    assert c.state.health.status == "healthy"


def test_unhealthy_task_fails(node: Node) -> None:
    svc = service(node.store, replicas=1, health_cmd=["false"], health_interval=0.3, health_retries=1,
                  restart_condition="none")
    st = wait("the task failed", lambda: (x := [s for _, s in node.tasks(svc) if s]) and x[0].state == "failed"
              and x[0])
    assert st.message == "task: unhealthy container"
    wait("its container stopped", lambda: not node.running("web"))


def test_rejected_when_the_image_cannot_be_pulled(node: Node) -> None:
    with socket.socket() as s:  # a port nothing listens on: the pull fails at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = node.store.create_service(Service(id=new_id(), spec=ServiceSpec(
        name="nope", image=f"127.0.0.1:{port}/nope:latest", restart_delay=60)))
    st = wait("the task rejected", lambda: (x := [s for _, s in node.tasks(svc) if s]) and x[0].state == "rejected"
              and x[0])
    assert "nope" in st.error
    assert not node.ctrs("nope")


def test_stale_containers_go(node: Node) -> None:
    svc = service(node.store, replicas=1, restart_delay=60)
    wait("the task running", lambda: node.all_running(svc, 1))
    # A container labelled as a task of this node that etcd does not know (forgotten while the node was away).
    node.eng.ctl("run", "-d", "--name", "ghost", "--label", f"{NODE_ID}=n1", "--label", f"{TASK_ID}=gone",
                 "--stop-timeout", "1", "busybox:latest", "sleep", "300", check=True)
    wait("the stale container removed", lambda: not [c for c in node.ctrs() if c.name == "ghost"])
    assert len(node.running("web")) == 1


def test_palletd_restart_adopts_running_tasks(node: Node) -> None:
    svc = service(node.store, replicas=2)
    live = wait("2 tasks running", lambda: node.all_running(svc, 2))
    before = {c.id for c in node.running("web")}
    node.eng.stop()
    node.eng.start()
    node.connect()
    time.sleep(3)  # the agent's first passes, and the orchestrator's when it is leader again
    again = wait("2 tasks running", lambda: node.all_running(svc, 2))
    assert {t.id for t, _ in again} == {t.id for t, _ in live}
    assert {c.id for c in node.ctrs("web")} == before
    assert {c.id for c in node.running("web")} == before


def test_etcd_outage_keeps_containers_and_catches_up(node: Node) -> None:
    svc = service(node.store, replicas=1, restart_delay=60)
    [(task, _)] = wait("the task running", lambda: node.all_running(svc, 1))
    [c] = node.running("web")
    node.etcd_server.stop()
    try:
        time.sleep(2)
        assert [x.id for x in node.running("web")] == [c.id]
        node.eng.ctl("kill", c.id, check=True)  # exits while etcd is away
        time.sleep(1)
    finally:
        node.etcd_server.start()
    st = wait("the failure reported", lambda: (s := node.status(task)) and s.state == "failed" and s)
    assert st.exit_code == 137


def test_status_record_is_rewritten_on_start(node: Node) -> None:
    """A status changed behind the agent's back is put right when palletd starts again."""
    svc = service(node.store, replicas=1)
    [(task, st)] = wait("the task running", lambda: node.all_running(svc, 1))
    node.eng.stop()
    node.store.etcd.put(node.store.key("status", task.id), dump(TaskStatus("preparing", "made up")))
    node.eng.start()
    node.connect()
    got = wait("the truth rewritten", lambda: (s := node.status(task)) and s.state == "running" and s)
    assert st is not None and got.container_id == st.container_id


def test_container_follows_the_spec(node: Node, tmp_path: Any) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    (tmp_path / "f").write_text("from the host\n")
    os.chmod(tmp_path, 0o755)
    web = service(node.store, replicas=2, command=["sh", "-c"], args=["cat /host/f > /data/seen; exec sleep 300"],
                  workdir="/tmp", networks=["appnet"],
                  mounts=[{"type": "bind", "source": str(tmp_path), "target": "/host", "readonly": True},
                          {"type": "volume", "source": "webdata", "target": "/data"},
                          {"type": "tmpfs", "target": "/scratch"}],
                  ports=[{"target": 80, "published": ports[0], "protocol": "tcp", "mode": "ingress"}])
    solo = service(node.store, "solo", mode="global", user="1000:1000",
                   ports=[{"target": 80, "published": ports[1], "protocol": "tcp", "mode": "host"}])
    wait("web running", lambda: node.all_running(web, 2))
    wait("solo running", lambda: node.all_running(solo, 1))
    ctrs = node.running("web")
    assert len(ctrs) == 2
    for c in ctrs:
        assert (c.path, list(c.args), c.working_dir) == ("sh", ["-c", "cat /host/f > /data/seen; exec sleep 300"],
                                                         "/tmp")
        assert c.config.entrypoint_set
        assert [(m.type, m.source, m.target, m.read_only) for m in c.mounts] == [
            ("bind", str(tmp_path), "/host", True), ("volume", "webdata", "/data", False),
            ("tmpfs", "", "/scratch", False)]
        assert [(e.network_name, list(e.aliases)) for e in c.network_settings.networks] == [("appnet", ["web"])]
    # The ingress port, until the routing mesh: published once on this node, by one of the replicas.
    assert sorted(len(c.config.port_bindings) for c in ctrs) == [0, 1]
    assert [c.config.port_bindings[0].host_port for c in ctrs if c.config.port_bindings] == [ports[0]]
    [c] = node.running("solo")
    assert c.name == f"solo.n1.{c.config.labels[TASK_ID]}" and c.config.labels[TASK_SLOT] == "0"
    assert c.user == "1000:1000"
    assert [(b.container_port, b.host_port) for b in c.network_settings.ports] == [(80, ports[1])]
    # The replicas resolve each other by the service's name; the bind and the volume are there.
    r = node.eng.ctl("exec", ctrs[0].name, "nslookup", "web", check=True)
    ips = {e.ipv4_address.split("/")[0] for c in ctrs for e in c.network_settings.networks}
    assert len(ips) == 2 and all(ip in r.stdout for ip in ips), r.stdout
    assert node.eng.ctl("exec", ctrs[1].name, "cat", "/data/seen", check=True).stdout == "from the host\n"


def test_update_runs_the_new_spec_after_the_old_task_stopped(node: Node) -> None:
    """The new task of a slot waits for the old one's container to stop: it needs the same host port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = service(node.store, replicas=1, env=["V=1"],
                  ports=[{"target": 80, "published": port, "protocol": "tcp", "mode": "host"}],
                  update=UpdateConfig(parallelism=1, monitor=0.5))
    [(old, _)] = wait("v1 running", lambda: node.all_running(svc, 1))

    def update(s: Service) -> None:
        new = ServiceSpec.from_dict(asdict(s.spec))
        new.env = ["V=2"]
        s.previous, s.spec, s.version = s.spec, new, s.version + 1

    t0 = time.monotonic()
    node.store.update_service(svc.id, update)
    [(new, st)] = wait("v2 running", lambda: (x := node.all_running(svc, 1)) and x[0][0].version == 2 and x)
    print(f"update -> new task running: {time.monotonic() - t0:.2f}s")
    assert st is not None
    assert node.status(old).state == "shutdown"  # type: ignore[union-attr]
    [c] = node.ctrs("web")
    assert c.id == st.container_id and "V=2" in c.env
    wait("update completed", lambda: node.store.service(svc.id).update_state == "completed")


def test_the_spec_of_the_task_version(etcd_server: EtcdServer) -> None:
    """A task runs its own version's spec: the service's, or the previous one, else it is rejected."""
    store = ClusterStore(Etcd([etcd_server.endpoint], timeout=3), f"/test-{uuid.uuid4().hex[:8]}/")
    v1, v2 = ServiceSpec(name="web", image="a:1"), ServiceSpec(name="web", image="a:2")
    svc = store.create_service(Service(id=new_id(), spec=v2, version=2, previous=v1))
    agent = Agent(store, "n1", None, threading.Event())

    def task(version: int) -> Task:
        return Task(id=new_id(), service_id=svc.id, service_name="web", slot=1, node="n1", version=version)

    assert agent._spec(task(2)) == v2
    assert agent._spec(task(1)) == v1
    assert agent._spec(task(3)) is None  # the service's version 3 is not visible yet: not started, not rejected
    store.update_service(svc.id, lambda s: setattr(s, "version", 9))
    with pytest.raises(_Rejected, match="version 2 this task was created for is no longer known"):
        agent._spec(task(2))
    store.remove_service(svc.id)
    assert agent._spec(task(2)) is None  # gone: the orchestrator shuts the task down


def test_container_config() -> None:
    t = Task(id="t1", service_id="s1", service_name="web", slot=3, node="n1", version=1)
    spec = ServiceSpec(name="web", image="busybox:latest", command=["/bin/app"], args=["-v"], env=["A=1"],
                       container_labels={"k": "v"}, health_cmd=["curl -f localhost"], health_interval=2,
                       health_retries=4, stop_grace_period=2.5,
                       ports=[{"target": 80, "published": 8080}, {"target": 53, "protocol": "udp", "mode": "host"}],
                       networks=["front", "back"])
    cfg = container_config(t, spec)
    assert (list(cfg.entrypoint), cfg.entrypoint_set, list(cfg.cmd)) == (["/bin/app"], True, ["-v"])
    assert dict(cfg.labels) == {"k": "v", TASK_ID: "t1", TASK_NAME: "web.3.t1", TASK_SLOT: "3", NODE_ID: "n1",
                                SERVICE_NAME: "web", "com.docker.swarm.service.id": "s1"}
    assert (list(cfg.healthcheck.test), cfg.healthcheck.interval_ns, cfg.healthcheck.retries) == (
        ["CMD-SHELL", "curl -f localhost"], 2_000_000_000, 4)
    assert cfg.stop_timeout == 3 and cfg.restart_policy.name == ""
    assert [(b.protocol, b.container_port, b.host_port) for b in cfg.port_bindings] == [
        ("tcp", 80, 8080), ("udp", 53, 0)]
    # with the routing mesh, the ingress port is the mesh's: only the host-mode one is the container's
    assert [(b.protocol, b.container_port) for b in container_config(t, spec, mesh=True).port_bindings] == [
        ("udp", 53)]
    assert (cfg.network_mode, list(cfg.endpoint.aliases)) == ("front", ["web"])
    # No command: the image's entrypoint stays, the args are its cmd.
    plain = container_config(t, ServiceSpec(name="web", image="x", args=["a"], health_cmd=["CMD", "true"]))
    assert (plain.entrypoint_set, list(plain.cmd), list(plain.healthcheck.test)) == (False, ["a"], ["CMD", "true"])
    with pytest.raises(_Rejected):
        container_config(t, ServiceSpec(name="web", image="x", mounts=[{"type": "nfs", "target": "/x"}]))
