"""The blocking client behind pallet.client.sdk.Client.

Each resource (client.containers, .images, ...) has typed snake_case methods
and passes CamelCase names to its gRPC stub, so raw calls keep working:

    client.containers.list(all=True)                              # -> list[ContainerSummary]
    client.containers.List(pb.ListContainersRequest(all=True))    # -> pb.ListContainersResponse

The palletctl CLI imports this module on every command and only makes raw
calls, so it is kept small: a resource starts as a ResourceBase that forwards
to its stub, and becomes its typed class (pallet.client._sdk_resources, which
loads the request building, result types and errors) on the first typed
attribute used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pallet import rpc
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

from . import default_host

if TYPE_CHECKING:
    from ._sdk_ops import RetryPolicy
    from ._sdk_resources import Builder, Containers, Images, Networks, System, Volumes

# Reconnect soon after a failed connection (gRPC waits a second or more by default), so
# that a retried read reaches a daemon that has just come up. Shared with the asyncio client.
CHANNEL_OPTIONS: list[tuple[str, object]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class ResourceBase:
    """One service's stub: CamelCase attributes are its raw RPCs, snake_case ones typed methods.

    The sync and asyncio resources derive from it and add how a typed call is made.
    Created with typed="Containers" (the sync client), the object turns into that class
    of pallet.client._sdk_resources when a typed attribute is first asked for.
    """

    _service = ""
    _client: Any

    def __init__(self, client: Any, stub: Any, typed: str = "") -> None:
        self._client = client
        self._stub = stub
        if typed:
            self._typed = typed

    @property
    def stub(self) -> Any:
        """The generated gRPC stub (raw calls raise grpc.RpcError)."""
        return self._stub

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class does not define: List, Inspect, Create, ... or,
        # before the upgrade, the typed methods.
        if name[:1].isupper():
            return getattr(self._stub, name)
        if not name.startswith("__") and self._upgrade():
            return object.__getattribute__(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _upgrade(self) -> bool:
        """Become the typed class (idempotent, and safe from several threads at once)."""
        typed = self.__dict__.get("_typed", "")
        if not typed:
            return False
        if type(self).__name__ != typed:
            cls = getattr(importlib.import_module("pallet.client._sdk_resources"), typed)
            object.__setattr__(self, "__class__", cls)
        return True

    def __dir__(self) -> Iterable[str]:
        self._upgrade()
        return sorted({*super().__dir__(), *(n for n in dir(self._stub) if n[:1].isupper())})

    def _describe(self, rpc_name: str, timeout: float | None) -> Callable[[BaseException], Exception]:
        """How a failed call of rpc_name becomes the SDK's typed error."""
        from ._sdk_errors import from_rpc_error

        host = self._client.host
        method = f"{self._service}.{rpc_name}"

        def describe(exc: BaseException) -> Exception:
            return from_rpc_error(exc, host=host, method=method, timeout=timeout)

        return describe


def _resource(client: Client, stub: Any, typed: str) -> Any:
    return ResourceBase(client, stub, typed)


class Client:
    """A connection to palletd (see pallet.client.sdk for examples).

    host: unix:///path or tcp://host:port (default: $PALLET_HOST or the local socket).
    tls: client TLS files for a tcp:// daemon. timeout: default seconds for unary typed
    calls (None: no deadline). retries: how often an idempotent read is retried while the
    daemon is unavailable.
    """

    def __init__(self, host: str | None = None, *, tls: rpc.TLSConfig | None = None, timeout: float | None = None,
                 retries: int = 3) -> None:
        self.host = host or default_host()
        self.tls = tls
        self.timeout = timeout
        self.retries = max(0, retries)
        self._retry_policy: RetryPolicy | None = None
        self.channel = rpc.channel(self.host, tls=tls, options=CHANNEL_OPTIONS)
        self.containers: Containers = _resource(self, pb_grpc.ContainersStub(self.channel), "Containers")
        self.images: Images = _resource(self, pb_grpc.ImagesStub(self.channel), "Images")
        self.system: System = _resource(self, pb_grpc.SystemStub(self.channel), "System")
        self.volumes: Volumes = _resource(self, pb_grpc.VolumesStub(self.channel), "Volumes")
        self.networks: Networks = _resource(self, pb_grpc.NetworksStub(self.channel), "Networks")
        self.builder: Builder = _resource(self, pb_grpc.BuilderStub(self.channel), "Builder")

    @property
    def retry_policy(self) -> RetryPolicy:
        """How reads are retried (RetryPolicy(retries=retries) unless set)."""
        if self._retry_policy is None or self._retry_policy.retries != self.retries:
            from ._sdk_ops import RetryPolicy

            self._retry_policy = RetryPolicy(retries=self.retries)
        return self._retry_policy

    @retry_policy.setter
    def retry_policy(self, policy: RetryPolicy) -> None:
        self._retry_policy = policy
        self.retries = policy.retries

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.host!r})"
