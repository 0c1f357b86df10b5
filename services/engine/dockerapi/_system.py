"""System routes: /_ping, /version, /info (events and df live beside them in _sysextra, /auth in _images)."""

from __future__ import annotations

from typing import Any

from pallet.engine.dockerapi._http import API_VERSION, MIN_API_VERSION, Reply, Request, Router


def _ping_headers(swarm: bool) -> dict[str, str]:
    return {"Api-Version": API_VERSION, "Builder-Version": "1", "Docker-Experimental": "false",
            "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache", "Ostype": "linux",
            "Swarm": "active/manager" if swarm else "inactive"}


INACTIVE = {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False, "Error": "",
            "RemoteManagers": None}


def swarm_info(cluster: Any, ctx: Any) -> dict[str, Any]:
    """/info's Swarm: this node in the cluster (every Pallet node manages), or inactive."""
    if cluster is None or cluster.cluster is None:
        return INACTIVE
    from pallet.engine.dockerapi._swarm import cluster_info

    return cluster_info(cluster, ctx)


def version_json(v: Any) -> dict[str, Any]:
    """Docker's /version object for a pallet.engine.v1.VersionResponse."""
    engine = {"ApiVersion": API_VERSION, "Arch": v.arch, "BuildTime": "", "Experimental": "false",
              "GitCommit": v.git_commit, "GoVersion": f"python{v.python_version}", "KernelVersion": v.kernel_version,
              "MinAPIVersion": MIN_API_VERSION, "Os": v.os}
    components = [{"Name": "Engine", "Version": v.version, "Details": engine}]
    if v.runtime:
        components.append({"Name": v.runtime, "Version": v.runtime_version, "Details": {"GitCommit": ""}})
    for c in getattr(v, "components", []):
        components.append({"Name": c.name, "Version": c.version, "Details": dict(c.details)})
    return {"Platform": {"Name": "Pallet Engine"}, "Components": components, "Version": v.version,
            "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": v.git_commit,
            "GoVersion": f"python{v.python_version}", "Os": v.os, "Arch": v.arch, "KernelVersion": v.kernel_version,
            "BuildTime": ""}


def info_json(i: Any, swarm: dict[str, Any] | None = None) -> dict[str, Any]:
    """Docker's /info object for a pallet.engine.v1.InfoResponse (swarm: its Swarm section)."""
    return {
        "ID": i.name, "Name": i.name, "Containers": i.containers, "ContainersRunning": i.containers_running,
        "ContainersPaused": i.containers_paused, "ContainersStopped": i.containers_stopped, "Images": i.images,
        "Driver": i.driver, "DriverStatus": [["Backing Filesystem", "overlayfs"]], "DockerRootDir": i.data_root,
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": False, "KernelMemory": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True, "BridgeNfIptables": True,
        "BridgeNfIp6tables": True, "Debug": False, "NFd": 0, "OomKillDisable": False, "NGoroutines": 0,
        "SystemTime": _now(), "LoggingDriver": i.logging_driver, "CgroupDriver": i.cgroup_driver,
        "CgroupVersion": i.cgroup_version, "NEventsListener": 0, "KernelVersion": i.kernel_version,
        "OperatingSystem": i.operating_system, "OSVersion": "", "OSType": i.os_type, "Architecture": i.architecture,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
                           "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
        "NCPU": i.ncpu, "MemTotal": i.mem_total, "GenericResources": None, "HttpProxy": "", "HttpsProxy": "",
        "NoProxy": "", "Labels": [], "ExperimentalBuild": False, "ServerVersion": i.server_version,
        "Runtimes": {i.runtime: {"path": i.runtime}}, "DefaultRuntime": i.runtime,
        "Swarm": swarm or INACTIVE,
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "tini",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""}, "SecurityOptions": ["name=seccomp,profile=default"],
        "Warnings": None, "ExecRoot": i.exec_root, "PalletServices": dict(i.services),
    }


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def routes(r: Router, s: Any) -> None:
    from pallet.engine.v1 import engine_pb2 as pb

    @r.route("GET", "/_ping")
    def ping(req: Request) -> Reply:
        swarm = s.cluster is not None and s.cluster.cluster is not None
        return Reply(200, b"OK", "text/plain; charset=utf-8", _ping_headers(swarm))

    @r.route("GET", "/version")
    def version(req: Request) -> Reply:
        return Reply(200, version_json(s.system.Version(pb.VersionRequest(), req)))

    @r.route("GET", "/info")
    def info(req: Request) -> Reply:
        return Reply(200, info_json(s.system.Info(pb.InfoRequest(), req), swarm_info(s.cluster, req)))

    from pallet.engine.dockerapi import _sysextra

    _sysextra.routes(r, s)

