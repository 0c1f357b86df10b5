"""Docker's swarm API over Pallet's cluster mode: Debian's docker CLI (`docker node`, `docker service`)
and docker-py against a palletd joined to an etcd the test starts, and against one that is not."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.conftest import EtcdServer
from tests.dockerapi.conftest import DockerAPIEngine, docker_engine
from tests.registry._server import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def swarm(busybox_tar: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerAPIEngine]:
    """A palletd in cluster mode (one node, "solo") serving the Docker API."""
    if shutil.which("etcd") is None:
        pytest.skip("needs etcd")
    etcd = EtcdServer(str(tmp_path_factory.mktemp("etcd")))
    etcd.start()
    try:
        with docker_engine(busybox_tar, "--cluster-store", f"etcd://127.0.0.1:{etcd.client_port}", "--node-name",
                           "solo", "--cluster-prefix", f"/swarm-{uuid.uuid4().hex[:8]}/") as d:
            yield d
    finally:
        etcd.stop()


def _wait(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def test_not_in_a_cluster_says_how_to_join(dapi: DockerAPIEngine) -> None:
    info = dapi.docker("info", "--format", "{{.Swarm.LocalNodeState}}", check=True)
    assert info.stdout.strip() == "inactive"
    res = dapi.docker("node", "ls")
    assert res.returncode != 0 and "swarm" in res.stderr.lower()
    res = dapi.docker("swarm", "init")
    assert res.returncode != 0 and "--cluster-store" in res.stderr


def test_docker_cli_node_and_service_commands(swarm: DockerAPIEngine) -> None:
    d = swarm.docker
    assert d("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}",
             check=True).stdout.split() == ["active", "true", "solo"]
    rows = d("node", "ls", "--format", "{{.ID}} {{.Status}} {{.Availability}} {{.Self}}", check=True).stdout
    assert rows.split() == ["solo", "Ready", "Active", "true"]
    d("node", "update", "--label-add", "zone=a", "solo", check=True)
    assert d("node", "inspect", "solo", "--format", "{{.Spec.Labels.zone}}", check=True).stdout.strip() == "a"

    port = free_port()
    name = "web" + uuid.uuid4().hex[:6]
    script = "echo hello-from-$(hostname); mkdir -p /w && hostname > /w/index.html && exec httpd -f -p 80 -h /w"
    try:
        # without -d the CLI follows the rollout through /services, /tasks and /nodes until it converges
        res = d("service", "create", "--name", name, "--replicas", "2", "-p", f"{port}:80", "--constraint",
                "node.labels.zone==a", "--stop-grace-period", "1s", "busybox:latest", "sh", "-c", script,
                timeout=120)
        assert res.returncode == 0, res.stderr
        assert "verify: Service converged" in res.stdout + res.stderr
        ls = d("service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Ports}}", check=True).stdout
        assert f"{name} replicated 2/2 *:{port}->80/tcp" in ls.splitlines()
        ps = d("service", "ps", name, "--format", "{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}}",
               check=True).stdout.splitlines()
        assert len(ps) == 2 and all(" solo Running Running" in row for row in ps), ps
        doc = json.loads(d("service", "inspect", name, check=True).stdout)[0]
        assert doc["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
        assert doc["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == ["node.labels.zone==a"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:  # published on the node
            assert resp.read().strip()

        d("service", "scale", "-d", f"{name}=3", check=True)
        _wait("3/3", lambda: f"{name} 3/3" in d("service", "ls", "--format", "{{.Name}} {{.Replicas}}").stdout)
        d("service", "update", "-d", "--env-add", "COLOUR=blue", name, check=True)
        env = d("service", "inspect", name, "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
                check=True).stdout
        assert json.loads(env) == ["COLOUR=blue"]
        logs = _wait("the tasks' logs", lambda: (r := d("service", "logs", name)).returncode == 0
                     and r.stdout.count("hello-from-") >= 3 and r)
        assert f"{name}." in logs.stdout and "@solo" in logs.stdout  # task and node, from the details
        d("service", "rollback", "-d", name, check=True)
        env = d("service", "inspect", name, "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
                check=True).stdout
        assert json.loads(env) in (None, [])
    finally:
        d("service", "rm", name)
    assert name not in d("service", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    bad = d("service", "create", "--secret", "x", "busybox:latest")
    assert bad.returncode != 0


def test_docker_py_services_and_nodes(swarm: DockerAPIEngine) -> None:
    client = swarm.client()
    try:
        assert client.info()["Swarm"]["LocalNodeState"] == "active"
        assert [n.attrs["ID"] for n in client.nodes.list()] == ["solo"]
        name = "py" + uuid.uuid4().hex[:6]
        svc = client.services.create("busybox:latest", ["sleep", "600"], name=name,
                                     mode={"Replicated": {"Replicas": 1}}, stop_grace_period=1_000_000_000)
        try:
            _wait("its task running", lambda: [t for t in svc.tasks() if t["Status"]["State"] == "running"])
            assert client.services.get(name).name == name
            svc.scale(2)  # docker-py sends {"replicated": ...}: matched as Go matches fields
            _wait("two tasks running", lambda: len([t for t in svc.tasks(filters={"desired-state": "running"})
                                                    if t["Status"]["State"] == "running"]) == 2)
            assert [s.name for s in client.services.list(filters={"name": name})] == [name]
        finally:
            svc.remove()
        assert not client.services.list(filters={"name": name})
    finally:
        client.close()
