"""A thin typed client for netsvc (what palletd uses). Raises pallet.errors, not grpc.RpcError."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from pallet import rpc
from pallet.net.v1 import net_pb2 as pb
from pallet.net.v1 import net_pb2_grpc as pb_grpc


class NetClient:
    def __init__(self, address: str, timeout: float | None = 30.0) -> None:
        self.address = address
        self.timeout = timeout
        self.channel = rpc.channel(address)
        self.networks = pb_grpc.NetworksStub(self.channel)
        self.sandboxes = pb_grpc.SandboxesStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def call(self, method: Any, request: Any) -> Any:
        """One unary call; waits for a restarting netsvc up to the timeout."""
        try:
            return method(request, timeout=self.timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise rpc.to_error(exc) from None

    def attach(self, cid: str, name: str, network: str, ipv4: str = "", ipv6: str = "",
               aliases: Iterable[str] = (), mac: str = "") -> pb.Endpoint:
        return self.call(self.sandboxes.Attach, pb.AttachRequest(
            container_id=cid, container_name=name, network=network, ipv4_address=ipv4, ipv6_address=ipv6,
            aliases=list(aliases), mac_address=mac))

    def detach(self, cid: str, network: str, force: bool = False) -> None:
        self.call(self.sandboxes.Detach, pb.DetachRequest(container_id=cid, network=network, force=force))

    def setup(self, cid: str, ports: Iterable[pb.PortBinding], dns: Iterable[str], netns: str = "") -> pb.Sandbox:
        return self.call(self.sandboxes.Setup, pb.SetupRequest(container_id=cid, ports=list(ports), dns=list(dns),
                                                               netns=netns))

    def teardown(self, cid: str) -> None:
        self.call(self.sandboxes.Teardown, pb.TeardownRequest(container_id=cid))

    def get(self, cid: str) -> pb.Sandbox:
        return self.call(self.sandboxes.Get, pb.GetSandboxRequest(container_id=cid))

    def release(self, cid: str) -> None:
        self.call(self.sandboxes.Release, pb.ReleaseRequest(container_id=cid))

    def rename(self, cid: str, name: str) -> None:
        self.call(self.sandboxes.Rename, pb.RenameRequest(container_id=cid, name=name))

    def reconcile(self, existing: Iterable[str], running: Iterable[str]) -> pb.ReconcileResponse:
        return self.call(self.sandboxes.Reconcile,
                         pb.ReconcileRequest(existing=list(existing), running=list(running)))

    def inspect(self, ref: str) -> pb.Network:
        return self.call(self.networks.Inspect, pb.InspectNetworkRequest(id=ref))

    def list_networks(self, filters: Iterable[str] = ()) -> list[pb.Network]:
        return list(self.call(self.networks.List, pb.ListNetworksRequest(filters=list(filters))).networks)

    def create(self, req: pb.CreateNetworkRequest) -> pb.Network:
        return self.call(self.networks.Create, req)

    def remove(self, ref: str) -> None:
        self.call(self.networks.Remove, pb.RemoveNetworkRequest(id=ref))

    def set_peers(self, network: str, peers: Iterable[str]) -> None:
        self.call(self.networks.SetPeers, pb.SetPeersRequest(network=network, peers=list(peers)))

    def set_records(self, network: str, records: dict[str, list[str]]) -> None:
        """name -> addresses, in order (the first name holding an address answers its PTR query)."""
        self.call(self.networks.SetRecords, pb.SetRecordsRequest(
            network=network, records=[pb.DnsRecord(name=n, addresses=a) for n, a in records.items()]))

    def set_balancers(self, network: str, balancers: Iterable[pb.Balancer]) -> None:
        self.call(self.networks.SetBalancers, pb.SetBalancersRequest(network=network, balancers=list(balancers)))
