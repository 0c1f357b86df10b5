"""Service discovery and load balancing across nodes: virtual IPs, the routing mesh, the way out.

A three-node lab (network namespaces on a test bridge, each node with its palletd and netsvc).
`web` runs two httpd tasks on nodes 1 and 2, each answering with its own hostname; `probe`, on
node 3, is on the same overlay network only. Checked for real, over VXLAN between the namespaces:

- `web` resolves to one virtual IP (shown by `service inspect`), tasks.web to both tasks; connections
  to the VIP reach both tasks (netsvc's DNAT in the probe's sandbox); with --endpoint-mode dnsrr
  the name resolves to the tasks instead;
- a port published in ingress mode answers on every node, also node 3 which runs no web task, and
  from there reaches both tasks (the routing mesh over the ingress network);
- probe, on an overlay network only, reaches an address outside the cluster (pallet_gwbridge);
- a port published with mode=host answers on the task's node only;
- when the services are gone, the ingress network's local parts and every address go too.

And images: a service's image, from the lab's registry, is pinned to its digest at create; nodes
that lack it pull exactly that digest, also after the tag has moved on, until `--image` asks again.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import shutil
import subprocess
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pallet import errors
from pallet.engine.cluster._model import Service, ServiceSpec, new_id

from tests.cluster._lab import Lab
from tests.registry._server import run_docker_registry

HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"


@pytest.fixture(scope="module")
def lab(busybox_tar: str) -> Iterator[Lab]:
    """Three nodes, and a registry (Debian's docker-registry) on the lab's bridge: lab.registry."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("etcd", "nsenter", "docker-registry")):
        pytest.skip("needs root, etcd, nsenter and docker-registry")
    with Lab(3, busybox_tar) as lab, run_docker_registry(lab.tmp, host=lab.gateway) as registry:
        lab.registry = registry  # type: ignore[attr-defined]
        lab.etcd.start()
        for i in range(3):
            lab.start_node(i, ["--insecure-registry", registry])
        lab.wait("three nodes ready", lambda: sum(1 for n in lab.store.nodes() if n.alive) == 3)
        yield lab


def _ctl(lab: Lab, i: int, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    eng = lab.engines[i]
    assert eng is not None
    return eng.ctl(*args, check=check)


def _running(lab: Lab, sid: str) -> dict[str, tuple[str, str]]:
    """task id -> (node, container id) of the service's running tasks."""
    return {t.id: (t.node, st.container_id) for t, st in lab.store.tasks(sid)
            if t.desired_state == "running" and st is not None and st.state == "running"}


def _exec(lab: Lab, i: int, cid: str, script: str) -> subprocess.CompletedProcess[str]:
    return _ctl(lab, i, "exec", cid, "sh", "-c", script, check=False)


def _hostnames(lab: Lab, i: int, cid: str, url: str, n: int = 16) -> set[str]:
    """What n fetches of url from the container answer (each a task's hostname)."""
    script = f"for i in $(seq {n}); do timeout 5 wget -qO- {url}; done"
    return set(_exec(lab, i, cid, script).stdout.split())


def _http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode().strip()


def _ingress_devices(lab: Lab, i: int) -> list[str]:
    out = subprocess.run(["ip", "-n", lab.namespaces[i], "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    ingress = [n for n in lab.store.etcd.get_prefix(lab.store.key("networks", ""))[0]
               if json.loads(n.value).get("ingress")]
    ids = [json.loads(n.value)["id"][:11] for n in ingress]
    return [str(link["ifname"]) for link in json.loads(out) if any(str(link["ifname"]).endswith(x) for x in ids)]


def _remove(lab: Lab, *services: Service | None) -> None:
    for svc in services:
        if svc is None:
            continue
        try:
            lab.store.remove_service(svc.id)
        except errors.NotFound:
            continue
        lab.wait(f"{svc.spec.name}'s tasks forgotten", lambda svc=svc: not lab.store.tasks(svc.id), timeout=60)


@pytest.mark.integration
def test_vip_routing_mesh_and_the_way_out(lab: Lab) -> None:
    net = "mesh" + uuid.uuid4().hex[:6]
    _ctl(lab, 0, "network", "create", "--driver", "overlay", net)
    port = random.randint(20000, 29999)
    web = probe = rr = hm = None
    outside: http.server.HTTPServer | None = None
    try:
        _ctl(lab, 0, "service", "create", "--name", "web", "--replicas", "2", "--network", net,
                   "--constraint", "node.labels.index!=3", "-p", f"{port}:80", "--stop-grace-period", "1s",
                   "busybox:latest", "sh", "-c", HTTPD)
        web = lab.store.service("web")
        probe = lab.store.create_service(Service(id=new_id(), spec=ServiceSpec(
            name="probe", image="busybox:latest", args=["sleep", "600"], networks=[net],
            constraints=["node.name==n3"], stop_grace_period=1.0)))
        tasks = lab.wait("2 web tasks running", lambda: len(r := _running(lab, web.id)) == 2 and r)
        assert sorted(node for node, _ in tasks.values()) == ["n1", "n2"]
        [(_, pcid)] = lab.wait("probe running", lambda: list(_running(lab, probe.id).values()) or None)
        names = {_exec(lab, int(node[1]) - 1, cid, "hostname").stdout.strip() for node, cid in tasks.values()}
        assert len(names) == 2

        # the VIP: shown by inspect, the service's name resolves to it, tasks.web to the tasks
        doc = json.loads(_ctl(lab, 2, "service", "inspect", "web").stdout)[0]
        assert doc["Spec"]["EndpointSpec"]["Mode"] == "vip"
        netid = json.loads(_ctl(lab, 2, "network", "inspect", net).stdout)[0]["Id"]
        vips = {v["NetworkID"]: v["Addr"] for v in doc["Endpoint"]["VirtualIPs"]}
        vip = vips[netid].split("/")[0]
        task_ips = [ip for ip, owner in _ipam(lab, netid).items() if owner in tasks]
        assert len(task_ips) == 2 and vip not in task_ips
        lab.wait("web resolves to its VIP", lambda: (
            r := _exec(lab, 2, pcid, "nslookup web 127.0.0.11").stdout) and vip in r
            and not any(ip in r for ip in task_ips), timeout=30)
        lab.wait("tasks.web resolves to both tasks", lambda: all(
            ip in _exec(lab, 2, pcid, "nslookup tasks.web 127.0.0.11").stdout for ip in task_ips), timeout=30)

        # connections to the VIP (by name) are balanced across both tasks, on the other nodes
        seen = lab.wait("both tasks answer through the VIP", lambda: (
            r := _hostnames(lab, 2, pcid, "http://web/")) == names and r, timeout=30, interval=1)
        assert seen == names
        assert _hostnames(lab, 2, pcid, f"http://{vip}/", 8) <= names

        # the routing mesh: the published port answers on every node, node 3 (no web task) too,
        # and from there reaches both tasks
        for i in range(3):
            url = f"http://{lab.addrs[i]}:{port}/"
            assert lab.wait(f"the port published on node {i + 1}", lambda url=url: _http(url), timeout=30) in names
        via3 = lab.wait("node 3 forwards to both tasks", lambda: (
            r := {_http(f"http://{lab.addrs[2]}:{port}/") for _ in range(24)}) == names and r, timeout=30)
        assert via3 == names
        ls = _ctl(lab, 2, "service", "ls", "--format", "{{.Name}} {{.Ports}}").stdout.split("\n")
        assert f"web *:{port}->80/tcp" in ls

        # probe is on an overlay network only: its way out is pallet_gwbridge (default route,
        # masqueraded as node 3's address)
        seen_from: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                seen_from.append(self.client_address[0])
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"outside\n")

            def log_message(self, *args: Any) -> None:
                pass

        outside = http.server.HTTPServer((lab.gateway, 0), Handler)
        threading.Thread(target=outside.serve_forever, daemon=True).start()
        out = _exec(lab, 2, pcid, f"timeout 5 wget -qO- http://{lab.gateway}:{outside.server_port}/")
        assert out.returncode == 0 and out.stdout.strip() == "outside", out.stderr
        assert seen_from == [lab.addrs[2]]
        ctr = json.loads(_ctl(lab, 2, "inspect", pcid).stdout)[0]
        assert set(ctr["NetworkSettings"]["Networks"]) == {net, "pallet_gwbridge"}
        gw = json.loads(_ctl(lab, 2, "network", "inspect", "pallet_gwbridge").stdout)[0]
        assert gw["Options"]["com.docker.network.bridge.enable_icc"] == "false"  # tasks meet on overlays only

        # mode=host: published only on the node that runs the task (through pallet_gwbridge, the
        # task being on an overlay network only)
        _ctl(lab, 2, "service", "create", "--name", "hostmode", "--network", net, "--constraint", "node.name==n3",
             "--publish", f"mode=host,published={port + 1},target=80", "--stop-grace-period", "1s",
             "busybox:latest", "sh", "-c", HTTPD)
        hm = lab.store.service("hostmode")
        [(_, hcid)] = lab.wait("hostmode running", lambda: list(_running(lab, hm.id).values()) or None)
        hname = _exec(lab, 2, hcid, "hostname").stdout.strip()
        assert lab.wait("the host port on node 3", lambda: _http(f"http://{lab.addrs[2]}:{port + 1}/")) == hname
        with pytest.raises(OSError):
            _http(f"http://{lab.addrs[0]}:{port + 1}/")

        # a second published service may not take the same port
        dup = _ctl(lab, 1, "service", "create", "--name", "other", "-p", f"{port}:80", "busybox:latest", check=False)
        assert dup.returncode != 0 and f"port '{port}' is already in use by service 'web'" in dup.stderr

        # endpoint mode dnsrr: the name resolves to the tasks, no VIP
        _ctl(lab, 0, "service", "create", "--name", "rr", "--replicas", "2", "--network", net,
                   "--endpoint-mode", "dnsrr", "--stop-grace-period", "1s", "busybox:latest", "sleep", "600")
        rr = lab.store.service("rr")
        lab.wait("2 rr tasks running", lambda: len(_running(lab, rr.id)) == 2)
        rr_ips = [ip for ip, owner in _ipam(lab, netid).items() if owner in _running(lab, rr.id)]
        lab.wait("rr resolves to its tasks", lambda: all(
            ip in _exec(lab, 2, pcid, "nslookup rr 127.0.0.11").stdout for ip in rr_ips), timeout=30)
        assert "VirtualIPs" not in json.loads(_ctl(lab, 0, "service", "inspect", "rr").stdout)[0]["Endpoint"]
    finally:
        if outside is not None:
            outside.shutdown()
            outside.server_close()
        _remove(lab, hm, rr, probe, web)
    # nothing publishes through the mesh any more: every node drops its ingress part and address
    for i in range(3):
        lab.wait(f"node {i + 1}'s ingress part removed", lambda i=i: not _ingress_devices(lab, i), timeout=30)
    lab.wait("every address released", lambda: not any(
        _ipam(lab, n).values() for n in _network_ids(lab)), timeout=30)
    _ctl(lab, 0, "network", "rm", net)


def _network_ids(lab: Lab) -> list[str]:
    return [json.loads(kv.value)["id"] for kv in lab.store.etcd.get_prefix(lab.store.key("networks", ""))[0]]


def _ipam(lab: Lab, nid: str) -> dict[str, str]:
    """address -> owner on the network, from etcd."""
    prefix = lab.store.key("ipam", nid, "")
    return {kv.key[len(prefix):]: kv.value.decode() for kv in lab.store.etcd.get_prefix(prefix)[0]}


def _digest_of(lab: Lab, i: int, cid: str) -> str:
    """The manifest digest of the image node i's container runs (from the image's RepoDigests)."""
    image = json.loads(_ctl(lab, i, "inspect", cid).stdout)[0]["Image"]
    digests = json.loads(_ctl(lab, i, "image", "inspect", image).stdout)[0]["RepoDigests"]
    return str(digests[0].split("@", 1)[1])


@pytest.mark.integration
def test_image_pinned_to_its_digest_and_pulled_by_every_node(lab: Lab, busybox_tar: str) -> None:
    reg = lab.registry  # type: ignore[attr-defined]
    ref = f"{reg}/pin{uuid.uuid4().hex[:6]}/busybox:1"
    _ctl(lab, 0, "tag", "busybox:latest", ref)
    _ctl(lab, 0, "push", ref)
    first = _ctl(lab, 0, "image", "inspect", "--format", "{{index .RepoDigests 0}}", ref).stdout.strip()
    digest = first.split("@", 1)[1]
    svc = None
    try:
        _ctl(lab, 1, "service", "create", "-d", "--name", "pinned", "--mode", "global", "--stop-grace-period", "1s",
             "--update-parallelism", "0", "--update-monitor", "1s", ref, "sleep", "600")
        svc = lab.store.service("pinned")
        assert svc.spec.image == f"{ref}@{digest}"
        running = lab.wait("a task on every node", lambda: len(r := _running(lab, svc.id)) == 3 and r)
        for node, cid in running.values():
            assert _digest_of(lab, int(node[1]) - 1, cid) == digest  # nodes 2 and 3 pulled it
        # the tag moves on (another image pushed under it): a forced update keeps the pinned digest
        _ctl(lab, 0, "import", "-c", 'CMD ["sh", "-c", "sleep 600"]', busybox_tar, ref)
        _ctl(lab, 0, "push", ref)
        moved = _ctl(lab, 0, "image", "inspect", "--format", "{{index .RepoDigests 0}}", ref).stdout.strip()
        assert moved.split("@", 1)[1] != digest
        _ctl(lab, 2, "service", "update", "-d", "--force", "pinned")
        lab.wait("the forced update rolled out", lambda: len(r := _running(lab, svc.id)) == 3
                 and not set(r) & set(running) and r, timeout=90)
        for node, cid in _running(lab, svc.id).values():
            assert _digest_of(lab, int(node[1]) - 1, cid) == digest
        # --image asks the registry again: the new digest, on every node
        _ctl(lab, 2, "service", "update", "-d", "--image", ref, "pinned")
        new = moved.split("@", 1)[1]
        assert lab.store.service("pinned").spec.image == f"{ref}@{new}"
        lab.wait("every node runs the new digest", lambda: len(r := _running(lab, svc.id)) == 3 and all(
            _digest_of(lab, int(node[1]) - 1, cid) == new for node, cid in r.values()), timeout=90)
    finally:
        _remove(lab, svc)
