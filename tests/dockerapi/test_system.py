"""Version negotiation and the system endpoints, through the docker CLI and docker-py."""

from __future__ import annotations

import json
import socket

import pytest

from tests.dockerapi.conftest import DockerAPIEngine

pytestmark = pytest.mark.integration


def _raw(dapi: DockerAPIEngine, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(dapi.docker_host.removeprefix("unix://"))
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_ping_headers(dapi: DockerAPIEngine) -> None:
    head = _raw(dapi, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    assert head.startswith("HTTP/1.1 200")
    for h in ("Api-Version: 1.43", "Ostype: linux", "Builder-Version: 1"):
        assert h in head
    body = _raw(dapi, b"GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert body.endswith(b"\r\n\r\nOK")


def test_too_old_and_unknown_paths_are_docker_errors(dapi: DockerAPIEngine) -> None:
    res = _raw(dapi, b"GET /v1.12/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    assert res.startswith("HTTP/1.1 400") and "Minimum supported API version is 1.24" in res
    res = _raw(dapi, b"GET /v1.41/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    assert res.startswith("HTTP/1.1 404")
    assert json.loads(res.split("\r\n\r\n", 1)[1])["message"]


def test_docker_version_and_info(dapi: DockerAPIEngine) -> None:
    res = dapi.docker("version", "--format", "{{json .Server}}", check=True)
    server = json.loads(res.stdout)
    assert server["Platform"]["Name"] == "Pallet Engine"
    assert server["ApiVersion"] == "1.43" and server["MinAPIVersion"] == "1.24"
    res = dapi.docker("info", "--format", "{{.OSType}} {{.Driver}} {{.Images}}", check=True)
    assert res.stdout.split() == ["linux", "overlayfs", "1"]


def test_docker_py_negotiates(dapi: DockerAPIEngine) -> None:
    c = dapi.client()
    try:
        assert c.ping() is True
        assert c.version()["ApiVersion"] == "1.43"
        assert c.api.api_version == "1.43"
        assert c.info()["OSType"] == "linux"
    finally:
        c.close()


def test_docker_system_df(dapi: DockerAPIEngine) -> None:
    name = f"dfc{__import__('os').getpid()}"
    try:
        dapi.engine.ctl("create", "--name", name, "busybox", "true", check=True)
        res = dapi.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}}", check=True)
        rows = dict(line.rsplit(" ", 1) for line in res.stdout.splitlines())
        assert int(rows["Images"]) >= 1 and int(rows["Containers"]) >= 1
        assert "Local Volumes" in rows and "Build Cache" in rows
        verbose = dapi.docker("system", "df", "-v", check=True).stdout
        assert name in verbose and "busybox" in verbose
        c = dapi.client()
        try:
            df = c.df()
            assert df["LayersSize"] > 0 and any(x["Names"] == ["/" + name] for x in df["Containers"])
        finally:
            c.close()
    finally:
        dapi.engine.ctl("rm", "-f", name)
