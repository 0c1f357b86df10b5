"""A palletd serving the Docker API on its own socket, Debian's docker CLI and docker-py against it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import _host
from tests._engine import Engine, make_engine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER = os.path.join(ROOT, ".venv", "docker-cli", "docker")


@dataclass
class DockerAPIEngine:
    engine: Engine
    docker_host: str
    config_dir: str

    def docker(self, *args: str, input: str | bytes | None = None, timeout: float = 60,
               check: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[Any]:
        """The real docker CLI (docker.io 20.10's client) against palletd."""
        text = not isinstance(input, bytes)
        res = subprocess.run([DOCKER, *args], input=input, capture_output=True, text=text, timeout=timeout,
                             env={"PATH": os.environ.get("PATH", ""), "HOME": self.config_dir,
                                  "DOCKER_HOST": self.docker_host, "DOCKER_CONFIG": self.config_dir,
                                  **(env or {})})
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res

    def client(self) -> Any:
        """A docker-py client."""
        import docker

        return docker.DockerClient(base_url=self.docker_host, version="auto", timeout=60)


@contextlib.contextmanager
def docker_engine(busybox_tar: str, *daemon_args: str) -> Iterator[DockerAPIEngine]:
    """A palletd (with daemon_args) serving the Docker API on a socket of its own, busybox imported."""
    if os.geteuid() != 0 or shutil.which("runc") is None:
        pytest.skip("needs root and runc")
    if not os.access(DOCKER, os.X_OK):
        pytest.skip(f"no docker CLI at {DOCKER} (make install runs tools/docker-cli.sh)")
    eng = make_engine()
    sock = f"unix://{eng.tmp}/docker.sock"
    eng.daemon_args = ["--docker-host", sock, *daemon_args]
    try:
        eng.start()
        eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
        cfg = os.path.join(eng.tmp, "docker-config")
        os.makedirs(cfg)
        yield DockerAPIEngine(eng, sock, cfg)
    finally:
        eng.stop()
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


@pytest.fixture(scope="session")
def dapi(busybox_tar: str) -> Iterator[DockerAPIEngine]:
    with docker_engine(busybox_tar) as d:
        yield d
