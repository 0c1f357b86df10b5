"""The Python SDK: a thin client over palletd's gRPC API.

    from pallet.client.sdk import Client
    c = Client("unix:///run/pallet/pallet.sock")
    print([x.name for x in c.containers.List(pb.ListContainersRequest(all=True)).containers])
"""

from __future__ import annotations

from pallet import rpc
from pallet.client import DEFAULT_HOST, default_host
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

__all__ = ["DEFAULT_HOST", "Client", "default_host"]


class Client:
    """Stubs for palletd's services on one channel."""

    def __init__(self, host: str | None = None) -> None:
        self.host = host or default_host()
        self.channel = rpc.channel(self.host)
        self.containers = pb_grpc.ContainersStub(self.channel)
        self.images = pb_grpc.ImagesStub(self.channel)
        self.system = pb_grpc.SystemStub(self.channel)
        self.volumes = pb_grpc.VolumesStub(self.channel)
        self.networks = pb_grpc.NetworksStub(self.channel)
        self.builder = pb_grpc.BuilderStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
