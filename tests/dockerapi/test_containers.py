"""Containers' lifecycle through the Docker API: the docker CLI (20.10) and docker-py against palletd."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dockerapi.conftest import DockerAPIEngine

pytestmark = pytest.mark.integration


def _name(prefix: str = "dctr") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cleanup(dapi: DockerAPIEngine) -> Iterator[list[str]]:
    """Names of containers (and "volume:X", "network:X") to remove after the test, whatever happens."""
    made: list[str] = []
    try:
        yield made
    finally:
        for item in reversed(made):
            kind, _, name = item.rpartition(":")
            if kind == "volume":
                dapi.engine.ctl("volume", "rm", "-f", name)
            elif kind == "network":
                dapi.engine.ctl("network", "rm", name)
            else:
                dapi.engine.ctl("rm", "-f", name)


def _inspect(dapi: DockerAPIEngine, name: str) -> dict[str, Any]:
    res = dapi.docker("inspect", name, check=True)
    doc = json.loads(res.stdout)
    assert isinstance(doc, list) and len(doc) == 1
    return dict(doc[0])


def _run_d(dapi: DockerAPIEngine, cleanup: list[str], *args: str, cmd: tuple[str, ...] = ("sleep", "30")) -> str:
    name = _name()
    cleanup.append(name)
    res = dapi.docker("run", "-d", "--name", name, *args, "busybox", *cmd, check=True)
    cid = res.stdout.strip()
    assert len(cid) == 64
    return name


def _attach_served(dapi: DockerAPIEngine) -> bool:
    """Whether the attach route is there yet (it belongs to the streams area)."""
    c = dapi.client()
    try:
        res = c.api._post(c.api._url("/containers/{0}/attach", "no-such-container-x"), params={"stream": 1})
        return "page not found" not in res.text
    finally:
        c.close()


# --- the docker CLI ---------------------------------------------------------------------------

def test_run_detached_ps_and_inspect(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    vol = _name("dvol")
    cleanup.append(f"volume:{vol}")
    host_dir = tempfile.mkdtemp(prefix="dapi-bind-")
    try:
        with open(os.path.join(host_dir, "f"), "w") as f:
            f.write("x")
        name = _run_d(dapi, cleanup, "-e", "FOO=bar", "--label", "team=blue", "-p", "127.0.0.1::80",
                      "-v", f"{vol}:/data", "-v", f"{host_dir}:/x:ro", "--restart", "on-failure:2")
        doc = _inspect(dapi, name)
        assert doc["Name"] == "/" + name
        assert doc["State"]["Running"] is True and doc["State"]["Status"] == "running"
        assert "FOO=bar" in doc["Config"]["Env"]
        assert doc["Config"]["Labels"]["team"] == "blue"
        assert doc["Config"]["Cmd"] == ["sleep", "30"]
        assert doc["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        bound = doc["NetworkSettings"]["Ports"]["80/tcp"]
        assert bound[0]["HostIp"] == "127.0.0.1" and int(bound[0]["HostPort"]) > 0
        mounts = {m["Destination"]: m for m in doc["Mounts"]}
        assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == vol and mounts["/data"]["RW"]
        assert mounts["/x"]["Type"] == "bind" and mounts["/x"]["Source"] == host_dir
        assert mounts["/x"]["RW"] is False

        res = dapi.docker("inspect", "-f", "{{.State.Running}} {{.HostConfig.NetworkMode}}", name, check=True)
        assert res.stdout.split() == ["true", "bridge"]

        res = dapi.docker("ps", "--filter", f"name={name}", "--format",
                          "{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}|{{.Ports}}|{{.Labels}}", check=True)
        names, image, command, status, ports, labels = res.stdout.strip().split("|")
        assert (names, image, command) == (name, "busybox", '"sleep 30"')
        assert status.startswith("Up ")
        assert ports == f"127.0.0.1:{bound[0]['HostPort']}->80/tcp"
        assert "team=blue" in labels

        res = dapi.docker("ps", check=True)
        assert res.stdout.splitlines()[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                                      "PORTS", "NAMES"]
        assert name in res.stdout
        ids = dapi.docker("ps", "-q", check=True).stdout.split()
        assert doc["Id"][:12] in ids
        res = dapi.docker("ps", "-q", "--no-trunc", "--filter", "label=team=blue", "--filter", f"name={name}",
                          check=True)
        assert res.stdout.split() == [doc["Id"]]

        res = dapi.docker("rm", "-f", name, check=True)
        assert res.stdout.strip() == name
        res = dapi.docker("inspect", "--type", "container", name)
        assert res.returncode == 1 and f"No such container: {name}" in res.stderr
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


def test_create_start_wait_and_ps_all(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    name = _name()
    cleanup.append(name)
    res = dapi.docker("create", "--name", name, "busybox", "sh", "-c", "exit 3", check=True)
    cid = res.stdout.strip()
    res = dapi.docker("ps", "-a", "--filter", f"id={cid}", "--format", "{{.Names}} {{.Status}}", check=True)
    assert res.stdout.strip() == f"{name} Created"
    assert cid[:12] not in dapi.docker("ps", "-q", check=True).stdout
    res = dapi.docker("start", name, check=True)
    assert res.stdout.strip() == name
    res = dapi.docker("wait", name, check=True)
    assert res.stdout.strip() == "3"
    res = dapi.docker("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert res.stdout.startswith("Exited (3) ")
    res = dapi.docker("ps", "-a", "-q", "--filter", "exited=3", "--filter", f"name={name}", check=True)
    assert res.stdout.split() == [cid[:12]]
    doc = _inspect(dapi, name)
    assert doc["State"]["ExitCode"] == 3 and doc["State"]["Running"] is False
    res = dapi.docker("rm", name, check=True)
    assert res.stdout.strip() == name


def test_stop_kill_restart_pause(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    name = _run_d(dapi, cleanup)
    dapi.docker("pause", name, check=True)
    assert _inspect(dapi, name)["State"]["Paused"] is True
    res = dapi.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True)
    assert res.stdout.strip().endswith("(Paused)")
    res = dapi.docker("pause", name)
    assert res.returncode == 1 and "already paused" in res.stderr
    dapi.docker("unpause", name, check=True)
    assert _inspect(dapi, name)["State"]["Status"] == "running"

    started = time.monotonic()
    res = dapi.docker("stop", "-t", "1", name, check=True)
    assert res.stdout.strip() == name and time.monotonic() - started < 15
    assert _inspect(dapi, name)["State"]["Running"] is False
    dapi.docker("stop", "-t", "1", name, check=True)  # already stopped: 304, still a success

    dapi.docker("start", name, check=True)
    dapi.docker("start", name, check=True)  # already started: 304
    pid = _inspect(dapi, name)["State"]["Pid"]
    res = dapi.docker("restart", "-t", "1", name, check=True)
    assert res.stdout.strip() == name
    doc = _inspect(dapi, name)
    assert doc["State"]["Running"] is True and doc["State"]["Pid"] != pid

    res = dapi.docker("kill", name, check=True)
    assert res.stdout.strip() == name
    assert dapi.docker("wait", name, check=True).stdout.strip() == "137"
    res = dapi.docker("kill", name)
    assert res.returncode == 1 and "is not running" in res.stderr

    dapi.docker("start", name, check=True)
    dapi.docker("kill", "-s", "USR1", name, check=True)  # PID 1 without a handler: ignored
    assert _inspect(dapi, name)["State"]["Running"] is True
    res = dapi.docker("kill", "-s", "NOPE", name)
    assert res.returncode == 1 and "NOPE" in res.stderr


def test_name_conflict_is_dockers(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    name = _name()
    cleanup.append(name)
    cid = dapi.docker("create", "--name", name, "busybox", "true", check=True).stdout.strip()
    conflict = (f'Conflict. The container name "/{name}" is already in use by container "{cid}". '
                "You have to remove (or rename) that container to be able to reuse that name.")
    res = dapi.docker("run", "-d", "--name", name, "busybox", "true")
    assert res.returncode == 125
    assert res.stderr.startswith(f"docker: Error response from daemon: {conflict}\n")
    res = dapi.docker("create", "--name", name, "busybox", "true")
    assert res.returncode == 1 and res.stderr.strip() == f"Error response from daemon: {conflict}"


def test_rm_errors(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    res = dapi.docker("rm", "missing-ctr-xyz")
    assert res.returncode == 1 and res.stderr == "Error: No such container: missing-ctr-xyz\n"
    name = _run_d(dapi, cleanup)
    res = dapi.docker("rm", name)
    assert res.returncode == 1
    assert "You cannot remove a running container" in res.stderr and "force remove" in res.stderr
    res = dapi.docker("stop", "missing-ctr-xyz")
    assert res.returncode == 1 and "No such container: missing-ctr-xyz" in res.stderr


def test_rename_update_top(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    name = _run_d(dapi, cleanup)
    new = _name()
    cleanup.append(new)
    dapi.docker("rename", name, new, check=True)
    assert _inspect(dapi, new)["Name"] == "/" + new
    other = _run_d(dapi, cleanup)
    res = dapi.docker("rename", other, new)
    assert res.returncode == 1 and f'The container name "/{new}" is already in use' in res.stderr

    res = dapi.docker("update", "--memory", "64m", "--memory-swap", "128m", "--restart", "always", new, check=True)
    assert res.stdout.strip() == new
    hc = _inspect(dapi, new)["HostConfig"]
    assert hc["Memory"] == 64 * 1024 * 1024 and hc["MemorySwap"] == 128 * 1024 * 1024
    assert hc["RestartPolicy"]["Name"] == "always"
    res = dapi.docker("update", "--cpus", "0.5", "--pids-limit", "50", new, check=True)
    hc = _inspect(dapi, new)["HostConfig"]
    assert hc["NanoCpus"] == 500_000_000 and hc["PidsLimit"] == 50

    res = dapi.docker("top", new, check=True)
    lines = res.stdout.splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"]
    assert any(line.endswith("sleep 30") for line in lines[1:])
    res = dapi.docker("top", new, "-o", "pid,comm", check=True)
    assert res.stdout.split()[:2] == ["PID", "COMMAND"] and "sleep" in res.stdout
    dapi.docker("stop", "-t", "1", new, check=True)
    res = dapi.docker("top", new)
    assert res.returncode == 1 and "is not running" in res.stderr


def test_network_and_restart_flags(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    net = _name("dnet")
    dapi.engine.ctl("network", "create", net, check=True)
    cleanup.append(f"network:{net}")
    name = _run_d(dapi, cleanup, "--network", net, "--network-alias", "web", "--restart", "unless-stopped",
                  "--hostname", "box", "--dns-search", "example.test", "--add-host", "db:10.1.2.3",
                  "--cap-drop", "NET_RAW", "--init", "--read-only", "--tmpfs", "/run:size=1m")
    doc = _inspect(dapi, name)
    hc = doc["HostConfig"]
    assert hc["NetworkMode"] == net
    assert hc["RestartPolicy"]["Name"] == "unless-stopped"
    assert hc["DnsSearch"] == ["example.test"] and hc["ExtraHosts"] == ["db:10.1.2.3"]
    assert hc["CapDrop"] == ["NET_RAW"] and hc["Init"] is True and hc["ReadonlyRootfs"] is True
    assert doc["Config"]["Hostname"] == "box"
    ep = doc["NetworkSettings"]["Networks"][net]
    assert "web" in ep["Aliases"] and ep["IPAddress"]
    assert {m["Destination"]: m["Type"] for m in doc["Mounts"]}["/run"] == "tmpfs"
    res = dapi.docker("ps", "--filter", f"network={net}", "--format", "{{.Names}} {{.Networks}}", check=True)
    assert res.stdout.split() == [name, net]


def test_mount_and_port_flags(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    host_dir = tempfile.mkdtemp(prefix="dapi-mount-")
    try:
        name = _name()
        cleanup.append(name)
        res = dapi.docker("create", "--name", name, "-v", "/anon",
                          "--mount", f"type=bind,src={host_dir},dst=/m,readonly",
                          "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
                          "--mount", "type=volume,dst=/v", "-p", "8080", "-P", "--expose", "9000",
                          "--entrypoint", "", "--stop-timeout", "1", "-w", "/tmp", "-u", "nobody",
                          "busybox", "sleep", "30", check=True)
        doc = _inspect(dapi, name)
        mounts = {m["Destination"]: m for m in doc["Mounts"]}
        assert mounts["/anon"]["Type"] == "volume" and mounts["/v"]["Type"] == "volume"
        assert mounts["/m"]["Type"] == "bind" and mounts["/m"]["RW"] is False
        assert mounts["/t"]["Type"] == "tmpfs"
        for m in ("/anon", "/v"):
            cleanup.append("volume:" + mounts[m]["Name"])
        assert doc["HostConfig"]["PublishAllPorts"] is True
        assert doc["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": ""}]}
        assert set(doc["Config"]["ExposedPorts"]) >= {"8080/tcp", "9000/tcp"}
        assert doc["Config"]["Entrypoint"] == [] and doc["Path"] == "sleep"
        assert doc["Config"]["WorkingDir"] == "/tmp" and doc["Config"]["User"] == "nobody"
        dapi.docker("start", name, check=True)
        res = dapi.docker("port", name, check=True)
        lines = res.stdout.splitlines()
        assert any(line.startswith("8080/tcp -> 0.0.0.0:") for line in lines)
        assert any(line.startswith("9000/tcp -> 0.0.0.0:") for line in lines)
        res = dapi.docker("ps", "-s", "--filter", f"name={name}", "--format", "{{.Names}} {{.Size}}", check=True)
        assert res.stdout.startswith(f"{name} ") and "virtual" in res.stdout
        res = dapi.docker("ps", "--filter", f"name={name}", "--filter", "publish=8080", "-q", check=True)
        assert res.stdout.split() == [doc["Id"][:12]]
        res = dapi.docker("ps", "--filter", f"name={name}", "--filter", "publish=8081", "-q", check=True)
        assert res.stdout.split() == []
        dapi.docker("rm", "-f", "-v", name, check=True)
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


def test_run_exit_codes_and_missing_image(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    res = dapi.docker("run", "--rm", "busybox", "false")
    assert res.returncode == 1
    res = dapi.docker("run", "--rm", "busybox", "no-such-binary")
    assert res.returncode == 127 and "docker: Error response from daemon:" in res.stderr
    res = dapi.docker("create", "--pull", "never", "busybox:nope")
    assert res.returncode == 1 and "No such image: busybox:nope" in res.stderr
    res = dapi.docker("run", "-d", "--name", "bad/name", "busybox")
    assert res.returncode == 125 and "Invalid container name (bad/name)" in res.stderr


def test_filters_and_prune(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    first = _name()
    cleanup.append(first)
    dapi.docker("create", "--name", first, "--label", "dapi-prune=yes", "busybox", "true", check=True)
    second = _name()
    cleanup.append(second)
    dapi.docker("create", "--name", second, "--label", "dapi-prune=yes", "busybox", "true", check=True)
    res = dapi.docker("ps", "-a", "--filter", f"since={first}", "--filter", "label=dapi-prune",
                      "--format", "{{.Names}}", check=True)
    assert res.stdout.split() == [second]
    res = dapi.docker("ps", "-a", "--filter", f"before={second}", "--filter", "label=dapi-prune",
                      "--format", "{{.Names}}", check=True)
    assert res.stdout.split() == [first]
    res = dapi.docker("ps", "-a", "-n", "1", "--filter", "label=dapi-prune", "--format", "{{.Names}}", check=True)
    assert res.stdout.split() == [second]
    res = dapi.docker("ps", "--filter", "bogus=1")
    assert res.returncode == 1 and "bogus" in res.stderr

    res = dapi.docker("container", "prune", "-f", "--filter", "label=dapi-prune=yes", check=True)
    assert "Deleted Containers:" in res.stdout
    for name in (first, second):
        assert dapi.docker("inspect", "--type", "container", name).returncode == 1


def test_run_attached(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    if not _attach_served(dapi):
        pytest.skip("attach (the streams area) is not served yet")
    res = dapi.docker("run", "--rm", "busybox", "echo", "hi", check=True)
    assert res.stdout == "hi\n"
    name = _name()
    cleanup.append(name)
    res = dapi.docker("run", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert res.returncode == 4 and res.stdout == "out\n" and res.stderr == "err\n"


# --- docker-py ------------------------------------------------------------------------------

def test_docker_py_lifecycle(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    import docker

    c = dapi.client()
    name = _name()
    cleanup.append(name)
    try:
        ctr = c.containers.create("busybox", ["sleep", "30"], name=name, environment={"A": "1"},
                                  labels={"who": "py"}, ports={"80/tcp": ("127.0.0.1", None)},
                                  mem_limit="32m", stop_signal="SIGKILL")
        assert ctr.status == "created" and ctr.name == name
        ctr.start()
        ctr.reload()
        assert ctr.status == "running" and ctr.attrs["State"]["Running"] is True
        assert "A=1" in ctr.attrs["Config"]["Env"] and ctr.labels == {"who": "py"}
        assert ctr.attrs["HostConfig"]["Memory"] == 32 * 1024 * 1024
        assert ctr.ports["80/tcp"][0]["HostIp"] == "127.0.0.1"
        assert name in [x.name for x in c.containers.list()]
        assert [x.id for x in c.containers.list(filters={"label": "who=py", "name": name})] == [ctr.id]
        assert c.containers.get(name).id == ctr.id
        assert c.containers.get(ctr.id[:12]).name == name
        assert ctr.top()["Titles"][:2] == ["UID", "PID"]
        ctr.stop(timeout=1)
        ctr.reload()
        assert ctr.status == "exited"
        assert ctr.wait(timeout=10) == {"StatusCode": 137, "Error": None}
        assert name in [x.name for x in c.containers.list(all=True)]
        ctr.remove()
        with pytest.raises(docker.errors.NotFound):
            c.containers.get(name)
        with pytest.raises(docker.errors.NotFound):
            c.api.start("no-such-container-py")
        with pytest.raises(docker.errors.ImageNotFound):
            c.containers.create("busybox:nope", "true")
    finally:
        c.close()


def test_docker_py_errors(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    import docker

    c = dapi.client()
    name = _name()
    cleanup.append(name)
    try:
        ctr = c.containers.run("busybox", ["sleep", "30"], name=name, detach=True)
        with pytest.raises(docker.errors.APIError) as err:
            c.containers.create("busybox", "true", name=name)
        assert err.value.status_code == 409 and "is already in use" in str(err.value)
        with pytest.raises(docker.errors.APIError) as err:
            ctr.remove()
        assert err.value.status_code == 409 and "You cannot remove a running container" in str(err.value)
        ctr.remove(force=True)
        with pytest.raises(docker.errors.NotFound):
            ctr.reload()
    finally:
        c.close()


def test_docker_py_run_output(dapi: DockerAPIEngine) -> None:
    import docker

    c = dapi.client()
    try:
        try:
            out = c.containers.run("busybox", "echo hi", remove=True)
        except docker.errors.APIError as exc:
            if exc.status_code == 404 and "page not found" in str(exc):
                pytest.skip("logs (the streams area) are not served yet")
            raise
        assert out == b"hi\n"
    finally:
        c.close()


# --- the API itself ---------------------------------------------------------------------------

def test_raw_statuses_and_shapes(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    c = dapi.client()
    api = c.api
    try:
        res = api._post_json(api._url("/containers/create"), data={"Image": "busybox:nope", "Cmd": ["true"]})
        assert res.status_code == 404 and res.json() == {"message": "No such image: busybox:nope"}
        res = api._post(api._url("/containers/create"), data="{not json",
                        headers={"Content-Type": "application/json"})
        assert res.status_code == 400
        res = api._post_json(api._url("/containers/create"), data={"Image": "busybox", "Cmd": "true",
                                                                   "Env": "A=1"})
        assert res.status_code == 400 and "Env" in res.json()["message"]
        res = api._post_json(api._url("/containers/create"), params={"name": "bad/name"},
                             data={"Image": "busybox"})
        assert res.status_code == 400 and "Invalid container name" in res.json()["message"]

        name = _name()
        cleanup.append(name)
        body = {"Image": "busybox", "Cmd": ["sleep", "30"], "Labels": {"k": "v"},
                "ExposedPorts": {"81/tcp": {}}, "StopTimeout": 1, "Volumes": {"/anon": {}},
                "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000, "Retries": 2},
                "HostConfig": {"NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1"}]},
                               "Mounts": [{"Type": "tmpfs", "Target": "/scratch",
                                           "TmpfsOptions": {"SizeBytes": 1 << 20}}],
                               "Ulimits": [{"Name": "nofile", "Soft": 512, "Hard": 1024}],
                               "Sysctls": {"net.ipv4.ip_forward": "1"}, "CpuShares": 512, "UTSMode": "host"}}
        res = api._post_json(api._url("/containers/create"), params={"name": name}, data=body)
        assert res.status_code == 201, res.text
        created = res.json()
        assert set(created) == {"Id", "Warnings"}
        assert "UTSMode is not supported by Pallet: ignored" in created["Warnings"]
        cid = created["Id"]

        res = api._post(api._url("/containers/{0}/start", cid))
        assert res.status_code == 204
        res = api._post(api._url("/containers/{0}/start", cid))
        assert res.status_code == 304

        res = api._get(api._url("/containers/json"), params={"filters": json.dumps({"id": [cid]}), "size": 1})
        [item] = res.json()
        assert item["Id"] == cid and item["Names"] == ["/" + name] and item["Image"] == "busybox"
        assert item["ImageID"].startswith("sha256:") and item["Command"] == "sleep 30"
        assert isinstance(item["Created"], int) and abs(item["Created"] - time.time()) < 120
        assert item["State"] == "running" and item["Status"].startswith("Up ")
        assert item["Labels"] == {"k": "v"} and item["HostConfig"] == {"NetworkMode": "bridge"}
        assert "bridge" in item["NetworkSettings"]["Networks"]
        ports = {(p["PrivatePort"], p["Type"]): p for p in item["Ports"]}
        assert ports[(80, "tcp")]["IP"] == "127.0.0.1" and ports[(80, "tcp")]["PublicPort"] > 0
        assert ports[(81, "tcp")] == {"PrivatePort": 81, "Type": "tcp"}
        assert {m["Destination"] for m in item["Mounts"]} >= {"/anon", "/scratch"}
        assert "SizeRw" in item and "SizeRootFs" in item

        doc = api._get(api._url("/containers/{0}/json", name)).json()
        assert doc["State"]["Health"]["Status"] in ("starting", "healthy")
        assert doc["HostConfig"]["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
        assert doc["HostConfig"]["CpuShares"] == 512 and doc["Config"]["StopTimeout"] == 1

        res = api._post(api._url("/containers/{0}/resize", cid), params={"h": 24, "w": 80})
        assert res.status_code == 200
        res = api._post(api._url("/containers/{0}/wait", cid), params={"condition": "sideways"})
        assert res.status_code == 400
        res = api._post(api._url("/containers/{0}/kill", cid), params={"signal": "NOPE"})
        assert res.status_code == 400
        res = api._post(api._url("/containers/{0}/stop", cid), params={"t": 1})
        assert res.status_code == 204
        res = api._post(api._url("/containers/{0}/stop", cid), params={"t": 1})
        assert res.status_code == 304
        res = api._post(api._url("/containers/{0}/wait", cid), params={"condition": "not-running"})
        assert res.status_code == 200 and res.json()["StatusCode"] == 137
        res = api._post(api._url("/containers/{0}/kill", cid))
        assert res.status_code == 409
        res = api._get(api._url("/containers/{0}/top", cid))
        assert res.status_code == 409
        res = api._post_json(api._url("/containers/{0}/update", cid), data={"Memory": 16 * 1024 * 1024})
        assert res.status_code == 200 and res.json() == {"Warnings": []}
        res = api._delete(api._url("/containers/{0}", cid), params={"v": 1})
        assert res.status_code == 204
        res = api._delete(api._url("/containers/{0}", cid))
        assert res.status_code == 404 and res.json() == {"message": f"No such container: {cid}"}
        res = api._post(api._url("/containers/{0}/wait", "missing-ctr-xyz"))
        assert res.status_code == 404
    finally:
        c.close()


def test_wait_next_exit_and_removed(dapi: DockerAPIEngine, cleanup: list[str]) -> None:
    import threading

    c = dapi.client()
    api = c.api
    try:
        name = _name()
        cleanup.append(name)
        cid = c.containers.create("busybox", ["sh", "-c", "sleep 1; exit 5"], name=name, auto_remove=True).id
        results: dict[str, Any] = {}

        def wait(cond: str) -> None:
            res = api._post(api._url("/containers/{0}/wait", cid), params={"condition": cond}, timeout=30)
            results[cond] = (res.status_code, res.json())

        threads = [threading.Thread(target=wait, args=(cond,)) for cond in ("next-exit", "removed")]
        for t in threads:
            t.start()
        time.sleep(0.3)
        api.start(cid)
        for t in threads:
            t.join(30)
        assert results["next-exit"] == (200, {"StatusCode": 5, "Error": None})
        assert results["removed"] == (200, {"StatusCode": 5, "Error": None})
        with pytest.raises(Exception, match="No such container"):
            c.containers.get(cid)
    finally:
        c.close()
