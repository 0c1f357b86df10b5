"""The Cluster API and palletctl node/service against a real palletd joined to a real etcd.

One node (n1, on an etcd prefix of its own), so its orchestrator leads and its agent runs every
task; the session `engine` (no --cluster-store) shows the not-in-a-cluster errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from pallet import rpc
from pallet.engine.v1 import engine_pb2 as pb
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

from tests import _host
from tests._engine import Engine, make_engine
from tests.cluster.conftest import ETCD, EtcdServer
from tests.conftest import _need_root

T = TypeVar("T")

# Fast tasks: busybox's sleep as PID 1 ignores SIGTERM, so stops take the whole grace period.
FAST = ["--stop-grace-period", "1s", "--restart-delay", "200ms", "--update-monitor", "1s",
        "--rollback-monitor", "1s"]


@pytest.fixture(scope="module")
def cluster(busybox_tar: str) -> Iterator[Engine]:
    """palletd joined to a fresh etcd as n1, with busybox:latest."""
    _need_root()
    if not os.access(ETCD, os.X_OK):
        pytest.skip("needs etcd (Debian package etcd-server)")
    root = tempfile.mkdtemp(prefix="pallet-etcd-")
    etcd = EtcdServer(root)
    eng = make_engine()
    eng.daemon_args = ["--cluster-store", f"etcd://127.0.0.1:{etcd.client_port}", "--node-name", "n1",
                       "--cluster-prefix", f"/test-{uuid.uuid4().hex[:8]}/"]
    try:
        etcd.start()
        eng.start()
        eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
        wait("n1 leads", lambda: "Leader" in eng.ctl("node", "ls").stdout)
        yield eng
    finally:
        eng.stop()
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)
        etcd.stop()
        shutil.rmtree(root, ignore_errors=True)


def wait(what: str, check: Callable[[], T | None], timeout: float = 30, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def ok(eng: Engine, *args: str, timeout: float = 90) -> str:
    return eng.ctl(*args, check=True, timeout=timeout).stdout


def fails(eng: Engine, *args: str, status: int = 1) -> str:
    res = eng.ctl(*args)
    assert res.returncode == status, f"palletctl {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stderr


def table(out: str) -> list[list[str]]:
    """The rows of a table, cells split at runs of 2+ spaces (header dropped)."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:] if line.strip()]


def inspect(eng: Engine, service: str) -> dict[str, Any]:
    docs = json.loads(ok(eng, "service", "inspect", service))
    assert len(docs) == 1
    return dict(docs[0])


def running(eng: Engine, service: str) -> list[list[str]]:
    rows = table(ok(eng, "service", "ps", "--filter", "desired-state=running", service))
    return [r for r in rows if len(r) >= 6 and r[5].startswith("Running")]


@pytest.fixture
def cleanup(cluster: Engine) -> Iterator[list[str]]:
    """Services a test creates, removed (with their containers) after it."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.ctl("service", "rm", name)
    if names:
        wait("task containers gone", lambda: not cluster.ctl(
            "ps", "-aq", "--filter", "label=com.docker.swarm.service.name").stdout.strip(), timeout=60)


def test_cluster_info_and_nodes(cluster: Engine) -> None:
    stub = pb_grpc.ClusterStub(rpc.channel(cluster.host))
    info = stub.ClusterInfo(pb.ClusterInfoRequest(), timeout=10)
    assert (info.member, info.node_name, info.leader) == (True, "n1", "n1")
    assert info.store.startswith("etcd://127.0.0.1:")

    rows = table(ok(cluster, "node", "ls"))
    assert len(rows) == 1
    name, _hostname, status, availability, manager, version = rows[0]
    assert (name, status, availability, manager) == ("n1 *", "Ready", "Active", "Leader")
    assert version
    assert ok(cluster, "node", "ls", "-q").split() == ["n1"]
    assert ok(cluster, "node", "ls", "--format", "{{.Name}} {{.Status}} {{.ManagerStatus}}").strip() == \
        "n1 Ready Leader"
    assert ok(cluster, "node", "ls", "-q", "--filter", "name=zz").strip() == ""

    doc = json.loads(ok(cluster, "node", "inspect", "n1"))[0]
    assert doc["ID"] == "n1" and doc["Status"]["State"] == "ready" and doc["ManagerStatus"]["Leader"] is True
    assert doc["Description"]["Resources"]["NanoCPUs"] > 0
    pretty = ok(cluster, "node", "inspect", "--pretty", "self")
    assert re.search(r"Availability:\s+Active", pretty) and re.search(r"Leader:\s+Yes", pretty)

    try:
        out = ok(cluster, "node", "update", "--availability", "drain", "--label-add", "zone=east", "n1")
        assert out.strip() == "n1"
        assert table(ok(cluster, "node", "ls"))[0][3] == "Drain"
        assert json.loads(ok(cluster, "node", "inspect", "n1"))[0]["Spec"]["Labels"] == {"zone": "east"}
        assert ok(cluster, "node", "ls", "-q", "--filter", "node.label=zone=east").split() == ["n1"]
    finally:
        ok(cluster, "node", "update", "--availability", "active", "--label-rm", "zone", "n1")
    assert table(ok(cluster, "node", "ls"))[0][3] == "Active"

    assert "Error: No such node: nope" in fails(cluster, "node", "inspect", "nope")
    assert "Error: No such node: nope" in fails(cluster, "node", "update", "--availability", "pause", "nope")
    assert "is not down" in fails(cluster, "node", "rm", "n1")
    fails(cluster, "node", "update", "--availability", "sleepy", "n1", status=125)


def test_service_lifecycle(cluster: Engine, cleanup: list[str]) -> None:
    cleanup.append("web")
    sid = ok(cluster, "service", "create", "-d", "--name", "web", "--replicas", "2", *FAST,
             "busybox", "sleep", "300").strip()
    assert re.fullmatch(r"[0-9a-f]{25}", sid), sid

    rows = table(ok(cluster, "service", "ls"))
    assert [r[1:3] for r in rows] == [["web", "replicated"]]
    assert rows[0][0] == sid[:12] and rows[0][4] == "busybox"
    wait("web 2/2", lambda: table(ok(cluster, "service", "ls"))[0][3] == "2/2")
    assert ok(cluster, "service", "ls", "-q").split() == [sid[:12]]
    assert ok(cluster, "service", "ls", "-q", "--filter", "name=nope").strip() == ""

    doc = inspect(cluster, "web")
    assert doc["ID"] == sid and doc["Spec"]["Name"] == "web"
    assert doc["Spec"]["Mode"] == {"Replicated": {"Replicas": 2}}
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "300"]
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 1_000_000_000
    assert "PreviousSpec" not in doc
    assert inspect(cluster, sid[:8])["ID"] == sid  # by ID prefix
    pretty = ok(cluster, "service", "inspect", "--pretty", "web")
    assert re.search(r"Replicas:\s+2", pretty) and "Args:" in pretty

    assert "already exists" in fails(cluster, "service", "create", "-d", "--name", "web", "busybox")

    out = ok(cluster, "service", "scale", "web=3")
    assert "web scaled to 3" in out and "verify: Service converged" in out
    assert table(ok(cluster, "service", "ls"))[0][3] == "3/3"
    assert len(running(cluster, "web")) == 3
    assert inspect(cluster, "web")["Version"]["Index"] == 1  # scaling is no new version

    out = ok(cluster, "service", "update", "--env-add", "A=1", "web", timeout=120)
    assert out.splitlines()[0] == "web" and "verify: Service converged" in out
    doc = inspect(cluster, "web")
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"]
    assert doc["Version"]["Index"] == 2 and "Env" not in doc["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]
    ps = ok(cluster, "service", "ps", "web")
    assert " \\_ web.1" in ps and "Shutdown" in ps
    assert len(running(cluster, "web")) == 3
    ctrs = ok(cluster, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=web").split()
    assert len(ctrs) == 3
    assert "A=1" in json.loads(ok(cluster, "inspect", ctrs[0]))[0]["Config"]["Env"]

    out = ok(cluster, "service", "rollback", "web", timeout=120)
    assert out.splitlines()[0] == "web" and "verify: Service converged" in out
    doc = inspect(cluster, "web")
    assert "Env" not in doc["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert doc["UpdateStatus"]["State"] == "rollback_completed"

    assert ok(cluster, "service", "rm", "web").strip() == "web"
    assert ok(cluster, "service", "ls", "-q").strip() == ""
    assert "Error: No such service: web" in fails(cluster, "service", "inspect", "web")


def test_service_create_waits_for_running_tasks(cluster: Engine, cleanup: list[str]) -> None:
    cleanup.append("api")
    res = cluster.ctl("service", "create", "--name", "api", "--replicas", "2", "-p", "18080:80", *FAST,
                      "busybox", "sleep", "300", timeout=90)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert re.fullmatch(r"[0-9a-f]{25}", lines[0])
    assert "overall progress: 2 out of 2 tasks" in lines and lines[-1] == "verify: Service converged"
    rows = running(cluster, "api")  # already running: create returned when they were
    assert sorted(r[1] for r in rows) == ["api.1", "api.2"]
    assert all(r[3] == "n1" and r[4] == "Running" for r in rows)
    assert ok(cluster, "service", "ls", "--format", "{{.Name}} {{.Replicas}} {{.Ports}}").strip() == \
        "api 2/2 *:18080->80/tcp"
    assert len(ok(cluster, "service", "ps", "-q", "api").split()) == 2
    assert len(ok(cluster, "node", "ps", "-q", "--filter", "desired-state=running").split()) == 2


def test_service_create_reports_failing_tasks(cluster: Engine, cleanup: list[str]) -> None:
    cleanup.append("broken")
    res = cluster.ctl("service", "create", "--name", "broken", *FAST, "busybox", "/no/such/binary", timeout=90)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "broken.1:" in res.stderr
    assert "did not converge" in res.stderr
    assert "Failed" in ok(cluster, "service", "ps", "broken") or "Rejected" in ok(cluster, "service", "ps", "broken")


def test_failed_update_is_rolled_back(cluster: Engine, cleanup: list[str]) -> None:
    cleanup.append("roll")
    ok(cluster, "service", "create", "--name", "roll", *FAST, "busybox", "sleep", "300")
    res = cluster.ctl("service", "update", "--args", "/no/such/binary", "--update-failure-action", "rollback", "roll",
                      timeout=90)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Error: the update failed and is rolled back" in res.stderr
    wait("rolled back", lambda: inspect(cluster, "roll").get("UpdateStatus", {}).get("State") == "rollback_completed")
    doc = inspect(cluster, "roll")
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "300"]
    wait("running again", lambda: len(running(cluster, "roll")) == 1)
    # scaling it later is no failure, though its last update was rolled back
    out = ok(cluster, "service", "scale", "roll=2")
    assert "verify: Service converged" in out


def test_errors(cluster: Engine, cleanup: list[str]) -> None:
    assert "invalid constraint" in fails(cluster, "service", "create", "-d", "--constraint", "node.nom==n1",
                                         "busybox")
    assert "invalid service name" in fails(cluster, "service", "create", "-d", "--name", "a b", "busybox")
    for args in (["service", "inspect", "nope"], ["service", "ps", "nope"], ["service", "scale", "nope=2"],
                 ["service", "update", "--env-add", "A=1", "nope"], ["service", "rollback", "nope"],
                 ["service", "rm", "nope"]):
        assert "Error: No such service: nope" in fails(cluster, *args), args
    fails(cluster, "service", "create", "--update-delay", "soon", "busybox", status=125)
    fails(cluster, "service", "scale", "web", status=125)

    cleanup.append("solo")
    ok(cluster, "service", "create", "-d", "--name", "solo", *FAST, "busybox", "sleep", "300")
    assert "no previous spec" in fails(cluster, "service", "rollback", "-d", "solo")
    assert "replicas can only be used with replicated mode" in fails(
        cluster, "service", "create", "-d", "--mode", "global", "--replicas", "2", "busybox", status=125)
    # a service removed, then another service's name: rm goes on after an unknown one, and fails
    err = fails(cluster, "service", "rm", "nope", "solo")
    assert "No such service: nope" in err
    assert ok(cluster, "service", "ls", "-q").strip() == ""


def test_not_in_a_cluster(engine: Engine) -> None:
    stub = pb_grpc.ClusterStub(rpc.channel(engine.host))
    assert stub.ClusterInfo(pb.ClusterInfoRequest(), timeout=10).member is False
    for args in (["node", "ls"], ["service", "ls"], ["service", "create", "-d", "busybox"], ["node", "inspect", "x"],
                 ["service", "inspect", "web"]):
        err = fails(engine, *args)
        assert "This node is not part of a cluster: start palletd with --cluster-store etcd://HOST:PORT" in err, args
