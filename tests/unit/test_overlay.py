"""Overlay networks, the pure parts: VNI and subnet choice, address allocation, what a node derives
from the cluster's records (peers, DNS records, addresses to release), and the ls filters."""

from __future__ import annotations

import ipaddress

import pytest
from pallet import errors
from pallet.engine.cluster._model import Service, ServiceSpec, Task, TaskStatus
from pallet.engine.cluster._overlay import (
    VNI_MAX,
    VNI_MIN,
    VNI_OPT,
    OverlayNetwork,
    View,
    choose_subnet,
    next_address,
    plan_ipam,
    vni_for,
)
from pallet.net._filters import matches, parse_filters
from pallet.net.v1 import net_pb2 as npb


def _net(subnet: str = "10.0.0.0/24", gateway: str = "10.0.0.1", ip_range: str = "", **kw: object) -> OverlayNetwork:
    return OverlayNetwork(id="ab" * 12 + "c", name="front", subnet=subnet, gateway=gateway, ip_range=ip_range,
                          vni=4097, **kw)  # type: ignore[arg-type]


def test_vni_derives_from_the_id_and_skips_taken_ones() -> None:
    nid = "0" * 24 + "5"
    assert vni_for(nid, []) == VNI_MIN + 5
    assert vni_for(nid, [VNI_MIN + 5, VNI_MIN + 6]) == VNI_MIN + 7
    assert vni_for("f" * 25, []) == VNI_MIN + int("f" * 25, 16) % (VNI_MAX - VNI_MIN + 1)
    # the last one wraps around to the first
    last = "%025x" % (VNI_MAX - VNI_MIN)
    assert vni_for(last, []) == VNI_MAX and vni_for(last, [VNI_MAX]) == VNI_MIN
    for nid in ("1" * 25, "9a" * 12 + "7", "%025x" % 10**20):
        assert VNI_MIN <= vni_for(nid, []) <= VNI_MAX


def test_subnet_is_a_free_24_of_10_0_0_0_8() -> None:
    assert choose_subnet([]) == ipaddress.ip_network("10.0.0.0/24")
    taken = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("10.0.1.0/25"),
             ipaddress.ip_network("172.17.0.0/16"), ipaddress.ip_network("fd00::/8")]
    assert choose_subnet(taken) == ipaddress.ip_network("10.0.2.0/24")
    # a node's route over a /16 (the cluster's own underlay, say) is avoided as a whole
    assert choose_subnet([ipaddress.ip_network("10.0.0.0/16")]) == ipaddress.ip_network("10.1.0.0/24")
    with pytest.raises(errors.ResourceExhausted, match="give --subnet"):
        choose_subnet([ipaddress.ip_network("10.0.0.0/8")])


def test_plan_ipam() -> None:
    others = [_net("10.0.0.0/24")]
    here = [ipaddress.ip_network("10.0.1.0/24")]
    assert plan_ipam([], others, here) == ("10.0.2.0/24", "10.0.2.1", "")
    asked = [npb.IPAMConfig(subnet="10.9.0.0/16", gateway="10.9.0.254", ip_range="10.9.8.0/24")]
    assert plan_ipam(asked, others, here) == ("10.9.0.0/16", "10.9.0.254", "10.9.8.0/24")
    assert plan_ipam([npb.IPAMConfig(subnet="10.9.0.0/16")], others, here) == ("10.9.0.0/16", "10.9.0.1", "")
    with pytest.raises(errors.FailedPrecondition, match="overlay network front"):
        plan_ipam([npb.IPAMConfig(subnet="10.0.0.128/25")], others, here)
    with pytest.raises(errors.FailedPrecondition, match="on this node"):
        plan_ipam([npb.IPAMConfig(subnet="10.0.0.0/8")], [], here)
    with pytest.raises(errors.InvalidArgument, match="IPv4 only"):
        plan_ipam([npb.IPAMConfig(subnet="fd00::/64")], [], [])
    with pytest.raises(errors.InvalidArgument, match="once"):
        plan_ipam([npb.IPAMConfig(subnet="10.1.0.0/24"), npb.IPAMConfig(subnet="10.2.0.0/24")], [], [])
    with pytest.raises(errors.InvalidArgument, match="not in subnet"):
        plan_ipam([npb.IPAMConfig(subnet="10.1.0.0/24", gateway="10.2.0.1")], [], [])


def test_addresses_skip_the_gateway_and_go_round() -> None:
    net = _net()
    assert next_address(net, []) == "10.0.0.2"
    assert next_address(net, ["10.0.0.2", "10.0.0.3"]) == "10.0.0.4"
    # round robin: after the last one handed out, even if a lower one is free again
    assert next_address(net, ["10.0.0.5"], last="10.0.0.5") == "10.0.0.6"
    assert next_address(net, [], last="10.0.0.254") == "10.0.0.2"  # wraps, never .255 nor the gateway
    ranged = _net("10.0.0.0/16", "10.0.0.1", ip_range="10.0.7.0/30")
    assert [next_address(ranged, taken) for taken in ([], ["10.0.7.0"], ["10.0.7.0", "10.0.7.1"])] == [
        "10.0.7.0", "10.0.7.1", "10.0.7.2"]
    tiny = _net("10.0.0.0/30", "10.0.0.1")
    assert next_address(tiny, []) == "10.0.0.2"
    with pytest.raises(errors.ResourceExhausted):
        next_address(tiny, ["10.0.0.2"])


def test_record_round_trip_and_as_ls_shows_it() -> None:
    net = _net(labels={"a": "b"}, options={"x": "y"}, port=4790)
    assert OverlayNetwork.load(net.dump()) == net
    assert OverlayNetwork.load(b'{"id":"1","name":"n","subnet":"10.0.0.0/24","gateway":"10.0.0.1","vni":4096,'
                               b'"later":"ignored"}').port == 4789
    pb = net.to_pb()
    assert (pb.driver, pb.scope, pb.name, pb.options[VNI_OPT], pb.labels["a"]) == ("overlay", "swarm", "front",
                                                                                  "4097", "b")
    assert [(c.subnet, c.gateway) for c in pb.ipam] == [("10.0.0.0/24", "10.0.0.1")]
    f = parse_filters(["driver=overlay", "scope=swarm"])
    assert matches(pb, f) and not matches(pb, parse_filters(["scope=local"]))
    assert matches(pb, parse_filters(["dangling=true", "label=a=b", "name=fro"]))
    with pytest.raises(errors.InvalidArgument, match="invalid filter"):
        matches(pb, parse_filters(["colour=red"]))


def _svc(sid: str, name: str, **kw: object) -> Service:
    return Service(id=sid, spec=ServiceSpec(name=name, image="x", **kw))  # type: ignore[arg-type]


def _view() -> View:
    def task(tid: str, node: str, slot: int, service: str = "web", desired: str = "running") -> Task:
        return Task(id=tid, service_id="s-" + service, service_name=service, slot=slot, node=node, version=1,
                    desired_state=desired)

    tasks = [task("t1", "n1", 1), task("t2", "n2", 2), task("t3", "n3", 3), task("t4", "n2", 1, "api"),
             task("t5", "n1", 4, desired="shutdown"), task("t6", "n2", 1, "rr")]
    ingress = OverlayNetwork(id="cd" * 12 + "e", name="ingress", subnet="10.9.0.0/24", gateway="10.9.0.1", vni=4098,
                             ingress=True)
    return View(
        networks={"N": _net(), "I": ingress},
        ipam={"N": {"10.0.0.2": "t1", "10.0.0.3": "t2", "10.0.0.10": "t3", "10.0.0.4": "t4", "10.0.0.5": "t5",
                    "10.0.0.6": "gone", "10.0.0.20": "vip:s-web", "10.0.0.30": "vip:s-web",
                    "10.0.0.21": "vip:s-gone", "10.0.0.22": "vip:s-rr", "10.0.0.7": "t6"},
              "M": {"10.1.0.2": "t4"},
              "I": {"10.9.0.2": "node:n4", "10.9.0.3": "t1", "10.9.0.4": "t3", "10.9.0.5": "node:removed"}},
        services={"s-web": _svc("s-web", "web", networks=["front"], ports=[{"target": 80, "published": 8080,
                                                                             "protocol": "tcp", "mode": "ingress"}]),
                  "s-api": _svc("s-api", "api", networks=["front"]),
                  "s-rr": _svc("s-rr", "rr", networks=[_net().id], endpoint_mode="dnsrr")},
        tasks={t.id: t for t in tasks},
        statuses={"t1": TaskStatus("running"), "t2": TaskStatus("running"), "t3": TaskStatus("running"),
                  "t4": TaskStatus("starting"), "t5": TaskStatus("running"), "t6": TaskStatus("running")},
        nodes={"n1", "n2", "n3", "n4"},
        alive={"n1": "192.0.2.1", "n2": "192.0.2.2", "n4": "192.0.2.4"},  # n3 is down
    )


def test_peers_are_the_other_live_nodes_with_an_address_on_the_network() -> None:
    v = _view()
    assert v.peers("N", "n1") == ["192.0.2.2"]
    assert v.peers("N", "n2") == ["192.0.2.1"]
    assert v.peers("N", "n4") == ["192.0.2.1", "192.0.2.2"]
    assert v.peers("M", "n2") == [] and v.peers("unknown", "n1") == []
    assert v.peers("I", "n1") == ["192.0.2.4"]  # n4 holds a node address on the ingress network


def test_local_part_is_needed_where_a_task_or_the_node_holds_an_address() -> None:
    v = _view()
    assert v.used_on("N", "n1") and v.used_on("N", "n3") and v.used_on("M", "n2")
    assert not v.used_on("M", "n1") and not v.used_on("N", "n4")
    assert v.used_on("I", "n4") and not v.used_on("I", "n2")


def test_dns_records_name_the_vip_the_tasks_and_dnsrr_services() -> None:
    records = _view().records("N")
    ips = ["10.0.0.2", "10.0.0.3", "10.0.0.10"]  # numeric order; t4 is starting, t5 is shut down
    # api: no VIP yet and no running task, so no name
    assert records == {"rr.1.t6": ["10.0.0.7"], "web.1.t1": ["10.0.0.2"], "web.2.t2": ["10.0.0.3"],
                       "web.3.t3": ["10.0.0.10"],
                       "rr": ["10.0.0.7"], "tasks.rr": ["10.0.0.7"], "web": ["10.0.0.20"], "tasks.web": ips}
    assert list(records)[:4] == ["rr.1.t6", "web.1.t1", "web.2.t2", "web.3.t3"]  # tasks first: PTR answers
    assert _view().records("M") == {}
    assert _view().records("I") == {}  # the ingress network carries ports, not names


def test_balancers_vips_and_the_routing_mesh() -> None:
    v = _view()
    assert v.vip("N", "s-web") == "10.0.0.20" and v.vip("N", "s-api") == ""
    assert v.balancers("N") == [npb.Balancer(vip="10.0.0.20", backends=["10.0.0.2", "10.0.0.3", "10.0.0.10"])]
    assert v.balancers("I") == [npb.Balancer(backends=["10.9.0.3", "10.9.0.4"], ports=[
        npb.PortBinding(protocol="tcp", host_port=8080, container_port=80)])]
    assert v.mesh_needed() and v.ingress() is v.networks["I"]


def test_garbage_forgotten_tasks_gone_vips_duplicates_and_removed_nodes() -> None:
    v = _view()
    assert sorted(v.garbage()) == [("I", "10.9.0.5", "node:removed"), ("N", "10.0.0.21", "vip:s-gone"),
                                   ("N", "10.0.0.22", "vip:s-rr"), ("N", "10.0.0.30", "vip:s-web"),
                                   ("N", "10.0.0.6", "gone")]
    v.services["s-web"].spec.ports = []  # nothing published through the mesh: node addresses go
    assert ("I", "10.9.0.2", "node:n4") in v.garbage()


def test_netsvc_answers_set_records_beside_its_endpoints(tmp_path: object) -> None:
    """SetRecords: names of other nodes' tasks, answered on the network only, with the local endpoints'."""
    from pallet.net._store import NetStore
    from pallet.net.networks import Config, NetworkManager

    store = NetStore(f"{tmp_path}/net.db")
    m = NetworkManager(store, Config(exec_root=str(tmp_path), tag="PALLET-unit"))
    try:
        ov = npb.Network(id="ab" * 12 + "c", name="front", driver="overlay", scope="swarm")
        other = npb.Network(id="cd" * 32, name="back", driver="bridge")
        for net in (ov, other):
            store.add_network(net)
        ep = npb.Endpoint(id="e1", network_id=ov.id, network_name="front", container_id="c" * 64,
                          container_name="web.1.t1", ipv4_address="10.0.0.2/24", interface="eth0",
                          dns_names=["web.1.t1", "web"])
        store.add_endpoint(ep, "10.0.0.2", None)
        lonely = npb.Endpoint(id="e2", network_id=other.id, network_name="back", container_id="d" * 64,
                              container_name="x", ipv4_address="172.30.0.2/24", interface="eth0", dns_names=["x"])
        store.add_endpoint(lonely, "172.30.0.2", None)
        m.set_records("front", [npb.DnsRecord(name="web.2.t2", addresses=["10.0.0.3"]),
                                npb.DnsRecord(name="Web", addresses=["10.0.0.2", "10.0.0.3"]),
                                npb.DnsRecord(name="tasks.web", addresses=["10.0.0.2", "10.0.0.3"])])
        assert sorted(m.lookup("c" * 64, "web", "A") or []) == ["10.0.0.2", "10.0.0.3"]  # deduplicated
        assert m.lookup("c" * 64, "tasks.web", "A") == ["10.0.0.2", "10.0.0.3"]
        assert m.lookup("c" * 64, "web", "AAAA") == []  # ours, no IPv6 address: NODATA, not forwarded
        assert m.lookup("c" * 64, "nothing", "A") is None
        assert m.reverse("c" * 64, "10.0.0.3") == "web.2.t2.front"
        assert m.reverse("c" * 64, "10.0.0.2") == "web.1.t1.front"  # the local endpoint first
        assert m.lookup("d" * 64, "web", "A") is None  # not on the overlay: not its names
        with pytest.raises(errors.InvalidArgument):
            m.set_records("front", [npb.DnsRecord(name="bad", addresses=["10.0.0.300"])])
        m.set_records("front", [])
        assert m.lookup("c" * 64, "tasks.web", "A") is None
        with pytest.raises(errors.InvalidArgument, match="not an overlay"):
            m.set_peers("back", ["192.0.2.1"])
    finally:
        m.close()
        store.close()
