"""Version and Info: what `palletctl version` and `palletctl info` show."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from collections.abc import Callable
from functools import cache

from pallet import __version__
from pallet.engine.containers import RUNNING_STATES, ContainerManager, Status
from pallet.engine.v1 import engine_pb2 as pb

API_VERSION = "1"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def goarch() -> str:
    m = platform.machine()
    return _ARCH.get(m, m)


@cache
def runtime_version(runtime: str) -> str:
    try:
        out = subprocess.run([runtime, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    first = out.splitlines()[0] if out else ""
    return first.split()[-1] if first else ""


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


class SystemInfo:
    def __init__(self, manager: ContainerManager, runtime: str, data_root: str, exec_root: str,
                 count_images: Callable[[], int], services: dict[str, str]) -> None:
        self.m = manager
        self.runtime = runtime
        self.data_root = data_root
        self.exec_root = exec_root
        self.count_images = count_images
        self.services = services

    def version(self) -> pb.VersionResponse:
        return pb.VersionResponse(
            version=__version__, api_version=API_VERSION, python_version=platform.python_version(),
            os="linux", arch=goarch(), kernel_version=platform.release(),
            runtime=os.path.basename(self.runtime), runtime_version=runtime_version(self.runtime),
            components=[self._component(name, addr) for name, addr in sorted(self.services.items())],
        )

    @staticmethod
    def _component(name: str, address: str) -> pb.Component:
        """A service palletd talks to, with its health as the service itself reports it. The
        services are programs of the same installation as palletd, so they share its version."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        from pallet import rpc

        try:
            with rpc.channel(address) as ch:
                res = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)
        except Exception as exc:  # noqa: BLE001 - shown, not raised: version must answer anyway
            status = f"unreachable ({type(exc).__name__})"
        return pb.Component(name=f"pallet-{name}", version=__version__,
                            details={"Address": address, "Status": status})

    def info(self) -> pb.InfoResponse:
        ctrs = self.m.store.all()
        running = sum(1 for c in ctrs if c.state.status == Status.STATUS_RUNNING)
        paused = sum(1 for c in ctrs if c.state.status == Status.STATUS_PAUSED)
        stopped = sum(1 for c in ctrs if c.state.status not in RUNNING_STATES)
        try:
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            mem = 0
        return pb.InfoResponse(
            containers=len(ctrs), containers_running=running, containers_paused=paused,
            containers_stopped=stopped, images=self.count_images(), driver="overlayfs",
            data_root=self.data_root, exec_root=self.exec_root, runtime=os.path.basename(self.runtime),
            cgroup_driver="cgroupfs", cgroup_version=cgroup_version(),
            kernel_version=platform.release(), operating_system=_os_name(), os_type="linux",
            architecture=platform.machine(), ncpu=os.cpu_count() or 0, mem_total=mem,
            name=socket.gethostname(), server_version=__version__, logging_driver="json-file",
            services=self.services,
        )
