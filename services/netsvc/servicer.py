"""Thin gRPC servicers over NetworkManager: messages in, messages out."""

from __future__ import annotations

from typing import Any

from pallet.net.networks import NetworkManager
from pallet.net.v1 import net_pb2 as pb
from pallet.net.v1 import net_pb2_grpc as pb_grpc

SERVICE_NAMES = ("pallet.net.v1.Networks", "pallet.net.v1.Sandboxes")


class NetworksServicer(pb_grpc.NetworksServicer):
    def __init__(self, m: NetworkManager) -> None:
        self.m = m

    def Create(self, request: pb.CreateNetworkRequest, context: Any) -> pb.Network:
        return self.m.create(request)

    def Inspect(self, request: pb.InspectNetworkRequest, context: Any) -> pb.Network:
        return self.m.inspect(request.id)

    def List(self, request: pb.ListNetworksRequest, context: Any) -> pb.ListNetworksResponse:
        return pb.ListNetworksResponse(networks=self.m.list_networks(list(request.filters)))

    def Remove(self, request: pb.RemoveNetworkRequest, context: Any) -> pb.RemoveNetworkResponse:
        self.m.remove(request.id)
        return pb.RemoveNetworkResponse()

    def Prune(self, request: pb.PruneNetworksRequest, context: Any) -> pb.PruneNetworksResponse:
        return pb.PruneNetworksResponse(deleted=self.m.prune(list(request.filters)))

    def SetPeers(self, request: pb.SetPeersRequest, context: Any) -> pb.SetPeersResponse:
        self.m.set_peers(request.network, list(request.peers))
        return pb.SetPeersResponse()

    def SetRecords(self, request: pb.SetRecordsRequest, context: Any) -> pb.SetRecordsResponse:
        self.m.set_records(request.network, list(request.records))
        return pb.SetRecordsResponse()

    def SetBalancers(self, request: pb.SetBalancersRequest, context: Any) -> pb.SetBalancersResponse:
        self.m.set_balancers(request.network, list(request.balancers))
        return pb.SetBalancersResponse()


class SandboxesServicer(pb_grpc.SandboxesServicer):
    def __init__(self, m: NetworkManager) -> None:
        self.m = m

    def Attach(self, request: pb.AttachRequest, context: Any) -> pb.Endpoint:
        return self.m.attach(request)

    def Detach(self, request: pb.DetachRequest, context: Any) -> pb.DetachResponse:
        self.m.detach(request.container_id, request.network, request.force)
        return pb.DetachResponse()

    def Setup(self, request: pb.SetupRequest, context: Any) -> pb.Sandbox:
        return self.m.setup(request)

    def Teardown(self, request: pb.TeardownRequest, context: Any) -> pb.TeardownResponse:
        self.m.teardown(request.container_id)
        return pb.TeardownResponse()

    def Get(self, request: pb.GetSandboxRequest, context: Any) -> pb.Sandbox:
        return self.m.get(request.container_id)

    def Release(self, request: pb.ReleaseRequest, context: Any) -> pb.ReleaseResponse:
        self.m.release(request.container_id)
        return pb.ReleaseResponse()

    def Rename(self, request: pb.RenameRequest, context: Any) -> pb.RenameResponse:
        self.m.rename(request.container_id, request.name)
        return pb.RenameResponse()

    def Reconcile(self, request: pb.ReconcileRequest, context: Any) -> pb.ReconcileResponse:
        eps, sbs = self.m.reconcile(set(request.existing), set(request.running))
        return pb.ReconcileResponse(removed_endpoints=eps, removed_sandboxes=sbs)


def registrations(m: NetworkManager) -> list[tuple[Any, Any]]:
    return [(pb_grpc.add_NetworksServicer_to_server, NetworksServicer(m)),
            (pb_grpc.add_SandboxesServicer_to_server, SandboxesServicer(m))]
