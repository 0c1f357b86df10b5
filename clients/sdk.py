"""The Pallet Python SDK: drive palletd over gRPC with typed results and typed errors.

    from pallet.client.sdk import Client, NotFound

    with Client("unix:///run/pallet/pallet.sock", timeout=10) as c:
        print(c.containers.run("busybox", ["echo", "hello"], remove=True))   # b'hello\\n'
        web = c.containers.run("busybox", "sleep 300", name="web", detach=True)
        print(web.id, web.state.status)                                        # ... running
        for ctr in c.containers.list(all=True, filters={"label": "app=demo"}):
            print(ctr.short_id, ctr.name, ctr.status)
        try:
            c.containers.get("nope")
        except NotFound as exc:
            print(exc)                                                         # No such container: nope

asyncio, with the same methods awaited (pallet.client.aio):

    from pallet.client.sdk import AsyncClient

    async with AsyncClient() as c:
        print(await c.system.version())
        async for entry in c.containers.logs("web", follow=True):
            print(entry.text, end="")

Every resource (containers, images, networks, volumes, system, builder) also
passes CamelCase names to its generated gRPC stub, so raw calls work as
before and raise grpc.RpcError:

    c.containers.List(pb.ListContainersRequest(all=True)).containers

Results are frozen dataclasses (pallet.client._sdk_types) with ``.raw``
holding the protobuf message. Errors derive from PalletError (NotFound,
Conflict/AlreadyExists, InvalidArgument, FailedPrecondition, PermissionDenied,
Unavailable, DeadlineExceeded, ...). See docs/sdk.md.

Only Client loads with this module (the CLI imports it on every command); the
result types, the errors and AsyncClient load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pallet.rpc import TLSConfig

from . import DEFAULT_HOST, default_host
from ._sdk_sync import Client

if TYPE_CHECKING:
    from . import _sdk_errors as errors
    from . import _sdk_types as types
    from ._sdk_async import AsyncClient, AsyncStream
    from ._sdk_errors import (
        AlreadyExists,
        Cancelled,
        Conflict,
        ContainerError,
        DeadlineExceeded,
        FailedPrecondition,
        Internal,
        InvalidArgument,
        NotFound,
        PalletError,
        PermissionDenied,
        ResourceExhausted,
        Unavailable,
        Unimplemented,
    )
    from ._sdk_ops import RetryPolicy
    from ._sdk_resources import Stream
    from ._sdk_types import (
        Container,
        ContainerState,
        ContainerSummary,
        CreateOptions,
        DiskUsage,
        Endpoint,
        Event,
        ExecResult,
        Image,
        ImageRemoval,
        ImageUsage,
        Info,
        IPAMPool,
        LogEntry,
        Mount,
        Network,
        Port,
        PruneResult,
        PullProgress,
        Version,
        Volume,
    )

_ERRORS = ("AlreadyExists", "Cancelled", "Conflict", "ContainerError", "DeadlineExceeded", "FailedPrecondition",
           "Internal", "InvalidArgument", "NotFound", "PalletError", "PermissionDenied", "ResourceExhausted",
           "Unavailable", "Unimplemented")
_TYPES = ("Container", "ContainerState", "ContainerSummary", "CreateOptions", "DiskUsage", "Endpoint", "Event",
          "ExecResult", "IPAMPool", "Image", "ImageRemoval", "ImageUsage", "Info", "LogEntry", "Mount", "Network",
          "Port", "PruneResult", "PullProgress", "Version", "Volume")
_LAZY: dict[str, tuple[str, str | None]] = {
    "AsyncClient": ("pallet.client._sdk_async", "AsyncClient"),
    "AsyncStream": ("pallet.client._sdk_async", "AsyncStream"),
    "RetryPolicy": ("pallet.client._sdk_ops", "RetryPolicy"),
    "Stream": ("pallet.client._sdk_resources", "Stream"),
    "errors": ("pallet.client._sdk_errors", None),
    "types": ("pallet.client._sdk_types", None),
    **{name: ("pallet.client._sdk_errors", name) for name in _ERRORS},
    **{name: ("pallet.client._sdk_types", name) for name in _TYPES},
}

__all__ = [
    "DEFAULT_HOST", "AlreadyExists", "AsyncClient", "AsyncStream", "Cancelled", "Client", "Conflict", "Container",
    "ContainerError", "ContainerState", "ContainerSummary", "CreateOptions", "DeadlineExceeded", "DiskUsage",
    "Endpoint", "Event", "ExecResult", "FailedPrecondition", "IPAMPool", "Image", "ImageRemoval", "ImageUsage",
    "Info", "Internal", "InvalidArgument", "LogEntry", "Mount", "Network", "NotFound", "PalletError",
    "PermissionDenied", "Port", "PruneResult", "PullProgress", "ResourceExhausted", "RetryPolicy", "Stream",
    "TLSConfig", "Unavailable", "Unimplemented", "Version", "Volume", "default_host", "errors", "types",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
