"""System commands: version, info, and inspect (containers and images)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

from pallet.client import _format
from pallet.client._conn import client, describe_error
from pallet.client.cli import CLIError


def _render(fmt: str, obj: dict[str, Any]) -> str:
    from pallet.client._inspect import render

    try:
        return render(fmt, obj)
    except ValueError as exc:
        raise CLIError(f"palletctl: {exc}") from None


def cmd_version(args: argparse.Namespace) -> int:
    import grpc
    from pallet import __version__
    from pallet.engine.v1 import engine_pb2 as pb

    out: dict[str, Any] = {"Client": {"Version": __version__, "PythonVersion": platform.python_version(),
                                      "Os": "linux", "Arch": platform.machine()}}
    try:
        v = client(args).system.Version(pb.VersionRequest(), timeout=10)
        out["Server"] = {"Version": v.version, "ApiVersion": v.api_version, "PythonVersion": v.python_version,
                         "Os": v.os, "Arch": v.arch, "KernelVersion": v.kernel_version,
                         "Runtime": v.runtime, "RuntimeVersion": v.runtime_version,
                         "Components": [{"Name": c.name, "Version": c.version, "Details": dict(c.details)}
                                        for c in v.components]}
    except grpc.RpcError as exc:
        out["Server"] = None
        error = describe_error(exc, args.host)
    else:
        error = None
    if args.format:
        print(_render(args.format, out))
    else:
        cl = out["Client"]
        print(f"Client:\n Version:\t{cl['Version']}\n Python version:\t{cl['PythonVersion']}\n"
              f" OS/Arch:\t{cl['Os']}/{cl['Arch']}".expandtabs(20))
        if out["Server"]:
            s = out["Server"]
            print(f"\nServer: Pallet Engine\n Engine:\n  Version:\t{s['Version']}\n  API version:\t{s['ApiVersion']}\n"
                  f"  Python version:\t{s['PythonVersion']}\n  OS/Arch:\t{s['Os']}/{s['Arch']}\n"
                  f"  Kernel Version:\t{s['KernelVersion']}\n {s['Runtime']}:\n  Version:\t{s['RuntimeVersion']}"
                  .expandtabs(20))
            for comp in s["Components"]:
                print(f" {comp['Name']}:\n  Version:\t{comp['Version']}".expandtabs(20))
                for k, val in sorted(comp["Details"].items()):
                    print(f"  {k}:\t{val}".expandtabs(20))
    if error:
        print(error, file=sys.stderr)
        return 1
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict
    from pallet.engine.v1 import engine_pb2 as pb

    i = client(args).system.Info(pb.InfoRequest(), timeout=10)
    if args.format:
        d = MessageToDict(i, preserving_proto_field_name=False, always_print_fields_with_no_presence=True)
        d = {k[0].upper() + k[1:]: v for k, v in d.items()}
        print(_render(args.format, d))
        return 0
    lines = [
        "Server:",
        f" Containers: {i.containers}",
        f"  Running: {i.containers_running}",
        f"  Paused: {i.containers_paused}",
        f"  Stopped: {i.containers_stopped}",
        f" Images: {i.images}",
        f" Server Version: {i.server_version}",
        f" Storage Driver: {i.driver}",
        f" Logging Driver: {i.logging_driver}",
        f" Cgroup Driver: {i.cgroup_driver}",
        f" Cgroup Version: {i.cgroup_version}",
        f" Default Runtime: {i.runtime}",
        f" Kernel Version: {i.kernel_version}",
        f" Operating System: {i.operating_system}",
        f" OSType: {i.os_type}",
        f" Architecture: {i.architecture}",
        f" CPUs: {i.ncpu}",
        f" Total Memory: {_format.human_size(i.mem_total)}",
        f" Name: {i.name}",
        f" Pallet Root Dir: {i.data_root}",
        f" Exec Root Dir: {i.exec_root}",
    ]
    lines += [f" Service {k}: {v}" for k, v in sorted(i.services.items())]
    print("\n".join(lines))
    return 0


def _net_request(ref: str) -> Any:
    from pallet.net.v1 import net_pb2 as npb

    return npb.InspectNetworkRequest(id=ref)


def _other(method: Any, request: Any, kind: str) -> dict[str, Any] | None:
    """A network or volume in Docker's inspect shape, or None when there is none by that name."""
    import grpc

    try:
        msg = method(request)
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):  # type: ignore[attr-defined]
            return None
        raise
    if kind == "network":
        from pallet.client._network import network_json

        return network_json(msg)
    from pallet.client._volumes import volume_json

    return volume_json(msg)


def cmd_inspect(args: argparse.Namespace) -> int:
    import grpc
    from pallet.client._inspect import container_json, image_json
    from pallet.engine.v1 import engine_pb2 as pb
    from pallet.images.v1 import images_pb2 as ipb

    c = client(args)
    results: list[dict[str, Any]] = []
    failed = False
    for ref in args.objects:
        obj = None
        if args.type in (None, "container"):
            try:
                obj = container_json(c.containers.Inspect(pb.InspectContainerRequest(id=ref)))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    raise
        if obj is None and args.type in (None, "image"):
            try:
                obj = image_json(c.images.Inspect(ipb.GetImageRequest(ref=ref)))
            except grpc.RpcError as exc:
                if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):  # type: ignore[attr-defined]
                    raise
        if obj is None and args.type in (None, "network"):
            obj = _other(c.networks.Inspect, _net_request(ref), "network")
        if obj is None and args.type in (None, "volume"):
            obj = _other(c.volumes.Inspect, pb.InspectVolumeRequest(name=ref), "volume")
        if obj is None:
            print(f"Error: No such object: {ref}", file=sys.stderr)
            failed = True
            continue
        results.append(obj)
    if args.format:
        for obj in results:
            print(_render(args.format, obj))
    else:
        print(json.dumps(results, indent=4))
    return 1 if failed else 0
