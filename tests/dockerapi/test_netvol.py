"""Networks, volumes and events through the docker CLI and docker-py."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.dockerapi.conftest import DockerAPIEngine

pytestmark = pytest.mark.integration


def test_docker_network_commands(dapi: DockerAPIEngine) -> None:
    name = f"dnet{os.getpid()}"
    ctr = f"dnetc{os.getpid()}"
    try:
        res = dapi.docker("network", "create", "--subnet", "10.231.0.0/24", "--label", "k=v", name, check=True)
        net_id = res.stdout.strip()
        assert len(net_id) == 64
        ls = dapi.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}", check=True).stdout.splitlines()
        assert f"{name} bridge" in ls and "bridge bridge" in ls
        doc = json.loads(dapi.docker("network", "inspect", name, check=True).stdout)[0]
        assert doc["IPAM"]["Config"][0]["Subnet"] == "10.231.0.0/24" and doc["Labels"] == {"k": "v"}
        assert dapi.docker("network", "ls", "-q", "--filter", "label=k=v", check=True).stdout.split() == [net_id[:12]]
        res = dapi.docker("network", "create", name)
        assert res.returncode == 1 and "already exists" in res.stderr
        dapi.engine.ctl("create", "--name", ctr, "busybox", "true", check=True)
        dapi.docker("network", "connect", "--alias", "web", name, ctr, check=True)
        doc = json.loads(dapi.docker("network", "inspect", name, check=True).stdout)[0]
        assert [c["Name"] for c in doc["Containers"].values()] == [ctr]
        dapi.docker("network", "disconnect", name, ctr, check=True)
        res = dapi.docker("network", "rm", "nope-net")
        assert res.returncode == 1 and res.stderr == "Error: No such network: nope-net\n"  # Docker's words
        dapi.docker("network", "rm", name, check=True)
        assert name not in dapi.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    finally:
        dapi.engine.ctl("rm", "-f", ctr)
        dapi.engine.ctl("network", "rm", name)


def test_docker_volume_commands(dapi: DockerAPIEngine) -> None:
    name = f"dvol{os.getpid()}"
    try:
        assert dapi.docker("volume", "create", "--label", "a=b", name, check=True).stdout.strip() == name
        doc = json.loads(dapi.docker("volume", "inspect", name, check=True).stdout)[0]
        assert doc["Name"] == name and doc["Driver"] == "local" and doc["Labels"] == {"a": "b"}
        assert os.path.isdir(doc["Mountpoint"])
        assert name in dapi.docker("volume", "ls", "-q", check=True).stdout.split()
        assert dapi.docker("volume", "ls", "-q", "--filter", "label=a=b", check=True).stdout.split() == [name]
        res = dapi.docker("volume", "inspect", "nope-vol")
        assert res.returncode == 1 and "no such volume" in res.stderr.lower()
        dapi.docker("volume", "rm", name, check=True)
        assert name not in dapi.docker("volume", "ls", "-q").stdout.split()
        dapi.docker("volume", "create", name, check=True)
        res = dapi.docker("volume", "prune", "-f", "--filter", "all=true", check=True)
        assert name in res.stdout
    finally:
        dapi.engine.ctl("volume", "rm", "-f", name)


def test_docker_py_networks_and_volumes(dapi: DockerAPIEngine) -> None:
    import docker

    c = dapi.client()
    try:
        net = c.networks.create(f"pynet{os.getpid()}", driver="bridge")
        try:
            assert c.networks.get(net.id).name == net.name
            assert net.name in [n.name for n in c.networks.list()]
        finally:
            net.remove()
        with pytest.raises(docker.errors.NotFound):
            c.networks.get(net.id)
        vol = c.volumes.create(f"pyvol{os.getpid()}", labels={"x": "1"})
        try:
            assert c.volumes.get(vol.name).attrs["Labels"] == {"x": "1"}
        finally:
            vol.remove()
        with pytest.raises(docker.errors.NotFound):
            c.volumes.get(vol.name)
    finally:
        c.close()


def test_docker_events_since_until(dapi: DockerAPIEngine) -> None:
    name = f"devt{os.getpid()}"
    start = time.time()
    try:
        dapi.engine.ctl("create", "--name", name, "busybox", "true", check=True)
        dapi.engine.ctl("rm", name, check=True)
        time.sleep(0.2)
        res = dapi.docker("events", "--since", f"{start:.3f}", "--until", f"{time.time():.3f}",
                          "--filter", f"container={name}",
                          "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", check=True, timeout=30)
        assert res.stdout.splitlines() == [f"container create {name}", f"container destroy {name}"]
    finally:
        dapi.engine.ctl("rm", "-f", name)
