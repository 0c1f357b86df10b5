"""Overlay networks across nodes.

With a real etcd: the records (create races, cluster-wide IPAM, rm refused while in use, release of
forgotten tasks' addresses). With a two-node lab (network namespaces on a test bridge, each node with
its palletd and netsvc): a service's tasks on both nodes reach each other by address and by name over
VXLAN between the node namespaces, another service reaches them by name, and removing the service
and the network removes the bridge and VXLAN devices from the nodes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pallet import errors
from pallet.engine.cluster._etcd import Etcd
from pallet.engine.cluster._model import Service, ServiceSpec, Task, new_id
from pallet.engine.cluster._overlay import OverlayNetwork, OverlayStore, _range_empty, _range_unchanged_since
from pallet.engine.cluster._store import ClusterStore
from pallet.net.v1 import net_pb2 as npb

from tests._engine import Engine
from tests.cluster._lab import Lab
from tests.cluster.conftest import EtcdServer

# -- the records, with a real etcd -------------------------------------------------------------------


@pytest.fixture
def overlays(etcd_server: EtcdServer) -> Iterator[OverlayStore]:
    etcd = Etcd([etcd_server.endpoint], timeout=3)
    try:
        yield OverlayStore(ClusterStore(etcd, f"/test-{uuid.uuid4().hex[:8]}/"))
    finally:
        etcd.close()


def _create(o: OverlayStore, name: str, subnet: str = "") -> OverlayNetwork:
    return o.create(name, [npb.IPAMConfig(subnet=subnet)] if subnet else [], False, {}, {}, 4789, [])


def test_range_conditions(overlays: OverlayStore) -> None:
    """What create and rm rely on: etcd compares every key of a range (the gateway takes range_end)."""
    etcd, p = overlays.etcd, overlays.store.key("networks", "")
    _, rev = etcd.get_prefix(p)
    assert etcd.txn(compare=[_range_unchanged_since(p, rev), _range_empty(p)]).succeeded
    etcd.put(p + "a", b"1")
    assert not etcd.txn(compare=[_range_unchanged_since(p, rev)]).succeeded
    assert not etcd.txn(compare=[_range_empty(p)]).succeeded
    _, rev = etcd.get_prefix(p)
    etcd.put(p[:-1] + "x", b"1")  # beside the prefix: not in the range
    assert etcd.txn(compare=[_range_unchanged_since(p, rev)]).succeeded


def test_concurrent_creates_get_distinct_subnets_vnis_and_names(overlays: OverlayStore) -> None:
    made: list[OverlayNetwork] = []
    failed: list[Exception] = []

    def create(i: int) -> None:
        try:
            made.append(_create(overlays, f"net{i % 6}"))  # every name twice
        except errors.AlreadyExists as exc:
            failed.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    nets = overlays.networks()
    assert len(made) == 6 and len(failed) == 6 and len(nets) == 6
    assert sorted(n.name for n in nets) == [f"net{i}" for i in range(6)]
    assert len({n.subnet for n in nets}) == 6 and len({n.vni for n in nets}) == 6
    assert all(n.vni >= 4096 and n.subnet.startswith("10.") and n.subnet.endswith("/24") for n in nets)
    with pytest.raises(errors.FailedPrecondition, match="overlaps overlay network"):
        _create(overlays, "other", nets[0].subnet)
    assert overlays.network("net3").name == "net3" and overlays.network(nets[0].id[:10]).id == nets[0].id


def test_addresses_are_handed_out_once_cluster_wide(overlays: OverlayStore) -> None:
    net = _create(overlays, "front", "10.77.0.0/28")  # 13 usable addresses besides the gateway
    got: dict[str, str] = {}
    lock = threading.Lock()

    def reserve(tid: str) -> None:
        ip = overlays.reserve(net, tid)
        with lock:
            got[tid] = ip

    threads = [threading.Thread(target=reserve, args=(f"t{i}",)) for i in range(13)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(got.values())) == 13 and "10.77.0.1" not in got.values()
    assert overlays.reserve(net, "t3") == got["t3"]  # a task keeps its address (a retried create)
    with pytest.raises(errors.ResourceExhausted):
        overlays.reserve(net, "one-too-many")
    # forgotten tasks' addresses are released (only while still theirs), and not handed out again at once
    store = overlays.store
    alive = Task(id="t0", service_id="s", service_name="web", slot=1, node="n1", version=1)
    store.create_task(alive)
    view = overlays.view()
    garbage = view.garbage()
    assert sorted(tid for _, _, tid in garbage) == sorted(f"t{i}" for i in range(1, 13))
    assert not overlays.release(net.id, got["t1"], "somebody-else")
    for nid, ip, tid in garbage:
        assert overlays.release(nid, ip, tid)
    assert overlays.view().ipam == {net.id: {got["t0"]: "t0"}}
    # round robin: a released address is not the next one handed out
    other = _create(overlays, "side", "10.78.0.0/24")
    first = overlays.reserve(other, "a")
    assert overlays.release(other.id, first, "a")
    assert overlays.reserve(other, "b") not in (first, "10.78.0.1")


def test_rm_refuses_a_network_in_use(overlays: OverlayStore) -> None:
    net = _create(overlays, "back")
    store = overlays.store
    svc = store.create_service(Service(id=new_id(), spec=ServiceSpec(name="api", image="x", networks=["back"])))
    with pytest.raises(errors.FailedPrecondition, match="in use by service api"):
        overlays.remove("back")
    store.remove_service(svc.id)
    overlays.reserve(net, "t1")
    with pytest.raises(errors.FailedPrecondition, match="addresses of 1 task"):
        overlays.remove("back")
    overlays.release(net.id, "10.0.0.2", "t1")
    assert overlays.remove("back").name == "back"
    with pytest.raises(errors.NotFound):
        overlays.network("back")
    with pytest.raises(errors.NotFound, match="was removed"):
        overlays.reserve(net, "t2")
    assert not store.etcd.get_prefix(store.key("ipam-last", ""))[0]
    assert _create(overlays, "back")  # the name is free again


# -- across nodes, in the lab ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(busybox_tar: str) -> Iterator[Lab]:
    if os.geteuid() != 0 or not shutil.which("etcd") or not shutil.which("nsenter"):
        pytest.skip("needs root, etcd and nsenter")
    with Lab(2, busybox_tar) as lab:
        lab.etcd.start()
        for i in range(2):
            lab.start_node(i)
        lab.wait("two nodes ready", lambda: sum(1 for n in lab.store.nodes() if n.alive) == 2)
        yield lab


def _links(lab: Lab, i: int) -> list[dict[str, Any]]:
    """The links of node i's namespace, with details (ip -d -j link)."""
    out = subprocess.run(["ip", "-n", lab.namespaces[i], "-d", "-j", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    return list(json.loads(out))


def _vxlans(lab: Lab, i: int) -> dict[str, dict[str, Any]]:
    return {str(link["ifname"]): link["linkinfo"]["info_data"] for link in _links(lab, i)
            if link.get("linkinfo", {}).get("info_kind") == "vxlan"}


def _overlay_devices(lab: Lab, i: int, nid: str) -> list[str]:
    return [str(link["ifname"]) for link in _links(lab, i) if str(link["ifname"]).endswith(nid[:11])]


def _flood(lab: Lab, i: int, dev: str) -> list[str]:
    out = subprocess.run(["bridge", "-n", lab.namespaces[i], "fdb", "show", "dev", dev], capture_output=True,
                         text=True, check=True).stdout
    return sorted(line.split()[2] for line in out.splitlines() if line.startswith("00:00:00:00:00:00 dst"))


def _tasks(lab: Lab, sid: str) -> dict[str, tuple[str, str]]:
    """task id -> (node, container id) of the service's running tasks."""
    return {t.id: (t.node, st.container_id) for t, st in lab.store.tasks(sid)
            if t.desired_state == "running" and st is not None and st.state == "running"}


def _ctl(lab: Lab, i: int, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    eng = lab.engines[i]
    assert eng is not None
    return eng.ctl(*args, check=check)


def _exec(lab: Lab, i: int, cid: str, script: str) -> subprocess.CompletedProcess[str]:
    return _ctl(lab, i, "exec", cid, "sh", "-c", script, check=False)


def _ip_of(lab: Lab, i: int, cid: str, network: str) -> str:
    ctr = json.loads(_ctl(lab, i, "inspect", cid).stdout)[0]
    return str(ctr["NetworkSettings"]["Networks"][network]["IPAddress"])


def _service(lab: Lab, name: str, network: str, replicas: int = 2, constraints: list[str] | None = None) -> Service:
    spec = ServiceSpec(name=name, image="busybox:latest", args=["sleep", "600"], replicas=replicas,
                       networks=[network], constraints=constraints or [], stop_grace_period=1.0, restart_delay=0.5)
    return lab.store.create_service(Service(id=new_id(), spec=spec))


def _vip(lab: Lab, sid: str, nid: str) -> str:
    prefix = lab.store.key("ipam", nid, "")
    return next(kv.key[len(prefix):] for kv in lab.store.etcd.get_prefix(prefix)[0]
                if kv.value.decode() == f"vip:{sid}")


def _remove_service(lab: Lab, svc: Service) -> None:
    try:
        lab.store.remove_service(svc.id)
    except errors.NotFound:
        return
    lab.wait(f"{svc.spec.name}'s tasks forgotten", lambda: not lab.store.tasks(svc.id), timeout=60)


@pytest.mark.integration
def test_overlay_network_needs_cluster_mode(engine: Engine) -> None:
    res = engine.ctl("network", "create", "--driver", "overlay", "ov-" + uuid.uuid4().hex[:6])
    assert res.returncode != 0 and "not part of" in res.stderr and "--cluster-store" in res.stderr


@pytest.mark.integration
def test_tasks_on_two_nodes_reach_each_other_by_ip_and_name(lab: Lab) -> None:
    name = "ov" + uuid.uuid4().hex[:6]
    port = str(random.randint(20000, 60000))  # the tunnels' port: configurable, the same on every node
    nid = _ctl(lab, 0, "network", "create", "--driver", "overlay", "-o",
               f"com.pallet.network.driver.overlay.vxlan_port={port}", name).stdout.strip()
    web = api = None
    try:
        # every node shows it, cluster-scoped, before any task uses it (no local part yet)
        for i in range(2):
            rows = _ctl(lab, i, "network", "ls", "--filter", "driver=overlay", "--format",
                        "{{.Name}} {{.Driver}} {{.Scope}}").stdout.split("\n")
            assert f"{name} overlay swarm" in rows
            doc = json.loads(_ctl(lab, i, "network", "inspect", name).stdout)[0]
            assert (doc["Id"], doc["Driver"], doc["Scope"]) == (nid, "overlay", "swarm")
            subnet = doc["IPAM"]["Config"][0]["Subnet"]
            assert subnet.startswith("10.") and subnet.endswith("/24")
            assert int(doc["Options"]["com.docker.network.driver.overlay.vxlanid_list"]) >= 4096
            assert not _overlay_devices(lab, i, nid)
        dup = _ctl(lab, 1, "network", "create", "--driver", "overlay", name, check=False)
        assert dup.returncode != 0 and "already exists" in dup.stderr

        web = _service(lab, "web", name)
        placed = lab.wait("2 web tasks running", lambda: len(r := _tasks(lab, web.id)) == 2 and r)
        assert sorted(n for n, _ in placed.values()) == ["n1", "n2"]
        cid = {int(node[1]) - 1: c for node, c in placed.values()}
        ips = {i: _ip_of(lab, i, cid[i], name) for i in range(2)}
        assert len(set(ips.values())) == 2

        # each node has its local part: a bridge and a VXLAN device (the VNI, its address, the port),
        # flooding to the other node
        vni = int(json.loads(_ctl(lab, 0, "network", "inspect", name).stdout)[0]["Options"][
            "com.docker.network.driver.overlay.vxlanid_list"])
        for i in range(2):
            vx = _vxlans(lab, i)[f"plx-{nid[:11]}"]
            assert (vx["id"], vx["local"], vx["port"], vx["learning"]) == (vni, lab.addrs[i], int(port), True)
            assert f"plo-{nid[:11]}" in _overlay_devices(lab, i, nid)
            lab.wait(f"node {i + 1} floods to the other", lambda i=i: _flood(lab, i, f"plx-{nid[:11]}")
                     == [lab.addrs[1 - i]], timeout=20)

        assert _exec(lab, 0, cid[0], "cat /sys/class/net/eth0/mtu").stdout.strip() == "1450"  # room for VXLAN

        # by address, both ways
        for i in range(2):
            res = lab.wait(f"ping from node {i + 1}'s task", lambda i=i: (
                r := _exec(lab, i, cid[i], f"ping -c 1 -W 2 {ips[1 - i]}")).returncode == 0 and r, timeout=30)
            assert "1 packets received" in res.stdout
        # tasks.web: both tasks' addresses; web: the service's virtual IP, which reaches a task
        vip = _vip(lab, web.id, nid)
        for i in range(2):
            lab.wait(f"tasks.web resolves to both on node {i + 1}", lambda i=i: (
                r := _exec(lab, i, cid[i], "nslookup tasks.web 127.0.0.11")).returncode == 0
                and all(ip in r.stdout for ip in ips.values()), timeout=30)
            lab.wait(f"web resolves to its VIP on node {i + 1}", lambda i=i: (
                r := _exec(lab, i, cid[i], "nslookup web 127.0.0.11").stdout) and vip in r
                and not any(ip in r for ip in ips.values()), timeout=30)
        assert _exec(lab, 0, cid[0], "ping -c 1 -W 2 web").returncode == 0
        # each task's own name resolves on the other node, to it
        names = {t.node: t.name for t, _ in lab.store.tasks(web.id) if t.id in placed}
        for i in range(2):
            res = _exec(lab, i, cid[i], f"ping -c 1 -W 2 {names[f'n{2 - i}']}")
            assert res.returncode == 0 and f"bytes from {ips[1 - i]}" in res.stdout, res.stdout

        # a second service, on node 2 only: web's task on node 1 reaches it by its name, and it
        # resolves web to both tasks and reaches the one on node 1 by name
        api = _service(lab, "api", name, replicas=1, constraints=["node.name==n2"])
        [(_, api_cid)] = lab.wait("api running", lambda: list(_tasks(lab, api.id).values()) or None)
        api_ip = _ip_of(lab, 1, api_cid, name)
        res = lab.wait("web on node 1 reaches api on node 2 by name", lambda: (
            r := _exec(lab, 0, cid[0], "ping -c 1 -W 2 tasks.api")).returncode == 0 and r, timeout=30)
        assert f"bytes from {api_ip}" in res.stdout
        assert _exec(lab, 0, cid[0], "ping -c 1 -W 2 api").returncode == 0  # its VIP
        res = _exec(lab, 1, api_cid, f"nslookup tasks.web 127.0.0.11 && ping -c 1 -W 2 {names['n1']}")
        assert res.returncode == 0 and all(ip in res.stdout for ip in ips.values()), res.stdout
        assert f"bytes from {ips[0]}" in res.stdout

        # in use: not removable
        busy = _ctl(lab, 1, "network", "rm", name, check=False)
        assert busy.returncode != 0 and "in use by service" in busy.stderr
    finally:
        for svc in (api, web):
            if svc is not None:
                _remove_service(lab, svc)
    # no task uses it: the local parts go; the network stays until rm
    for i in range(2):
        lab.wait(f"node {i + 1}'s local part removed", lambda i=i: not _overlay_devices(lab, i, nid), timeout=30)
    assert not lab.store.etcd.get_prefix(lab.store.key("ipam", nid, ""))[0]  # addresses released
    assert name in _ctl(lab, 1, "network", "ls", "--format", "{{.Name}}").stdout.split()
    _ctl(lab, 1, "network", "rm", name)
    for i in range(2):
        assert name not in _ctl(lab, i, "network", "ls", "--format", "{{.Name}}").stdout.split()
        assert not _vxlans(lab, i)


@pytest.mark.integration
def test_peers_follow_nodes_leaving_and_joining(lab: Lab) -> None:
    name = "ov" + uuid.uuid4().hex[:6]
    nid = _ctl(lab, 0, "network", "create", "--driver", "overlay", "--subnet", "10.231.7.0/24", name).stdout.strip()
    vx = f"plx-{nid[:11]}"
    spec = ServiceSpec(name="everywhere", image="busybox:latest", args=["sleep", "600"], mode="global",
                       networks=[name], stop_grace_period=1.0, restart_delay=0.5)
    svc = lab.store.create_service(Service(id=new_id(), spec=spec))
    try:
        lab.wait("a task on each node", lambda: len(_tasks(lab, svc.id)) == 2)
        for i in range(2):
            lab.wait(f"node {i + 1} floods to the other", lambda i=i: _flood(lab, i, vx) == [lab.addrs[1 - i]],
                     timeout=20)
        lab.kill_node(1)  # node 2 leaves (its lease runs out): node 1 stops flooding to it
        lab.wait("node 2 no longer a peer of node 1", lambda: _flood(lab, 0, vx) == [], timeout=30)
        lab.start_node(1)  # back: its task is replaced by a new one, and it is a peer again
        running = lab.wait("a task on each node again", lambda: len(r := _tasks(lab, svc.id)) == 2 and r,
                           timeout=60)
        lab.wait("node 2 a peer of node 1 again", lambda: _flood(lab, 0, vx) == [lab.addrs[1]], timeout=30)
        cid = {int(node[1]) - 1: c for node, c in running.values()}
        far = _ip_of(lab, 0, cid[0], name)
        assert far.startswith("10.231.7.")
        res = lab.wait("node 2's new task reaches node 1's", lambda: (
            r := _exec(lab, 1, cid[1], f"ping -c 1 -W 2 {far}")).returncode == 0 and r, timeout=30)
        assert f"bytes from {far}" in res.stdout
    finally:
        _remove_service(lab, svc)
    lab.wait("the local parts removed", lambda: not any(_overlay_devices(lab, i, nid) for i in range(2)), timeout=30)
    _ctl(lab, 0, "network", "rm", name)
