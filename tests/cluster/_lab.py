"""A cluster on one machine: nodes are network namespaces on a test bridge, each with its palletd.

    with Lab(3, busybox_tar) as lab:       # bridge pcbXXXX 10.R.0.1/24, nodes 10.R.0.11-13
        lab.etcd.start()                  # etcd on the bridge address
        lab.start_node(0) ...             # palletd inside node 0's namespace, joined to etcd
        lab.store                         # a ClusterStore on the lab's prefix

Everything made (namespaces, bridge, veths, daemons, roots, cgroups, iptables chains inside the
namespaces vanish with them) is removed by close(), also after a failure.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import subprocess
import tempfile
import time
import uuid
from typing import Any

from tests import _host
from tests._engine import Engine, make_engine
from tests.cluster.conftest import EtcdServer


def _ip(*args: str, ns: str = "") -> None:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")


def _free_subnet() -> str:
    """A 10.R.0.0/24 that no host route overlaps."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    used = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):
            if word not in ("default", "local", "broadcast"):
                used.append(ipaddress.ip_network(word, strict=False))
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free 10.x.y.0/24 for the test bridge")


class Lab:
    def __init__(self, nodes: int, busybox_tar: str) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.bridge = f"pcb{self.tag}"
        self.subnet = ipaddress.ip_network(_free_subnet())
        hosts = list(self.subnet.hosts())
        self.gateway = str(hosts[0])
        self.addrs = [str(hosts[10 + i]) for i in range(nodes)]
        self.names = [f"n{i + 1}" for i in range(nodes)]
        self.namespaces = [f"pcn{self.tag}{i + 1}" for i in range(nodes)]
        self.busybox_tar = busybox_tar
        self.tmp = tempfile.mkdtemp(prefix="pallet-lab-")
        self.prefix = f"/lab-{self.tag}/"
        self.engines: list[Engine | None] = [None] * nodes
        self._made: list[Engine] = []
        self.etcd = EtcdServer(os.path.join(self.tmp, "etcd"), host=self.gateway)
        os.makedirs(self.etcd.root)
        self._store: Any = None

    def __enter__(self) -> Lab:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i, ns in enumerate(self.namespaces):
                _ip("netns", "add", ns)
                host_end, node_end = f"pcv{self.tag}{i + 1}", "eth0"
                _ip("link", "add", host_end, "type", "veth", "peer", "name", f"pcp{self.tag}{i + 1}")
                _ip("link", "set", f"pcp{self.tag}{i + 1}", "netns", ns)
                _ip("link", "set", f"pcp{self.tag}{i + 1}", "name", node_end, ns=ns)
                _ip("link", "set", host_end, "master", self.bridge)
                _ip("link", "set", host_end, "up")
                _ip("addr", "add", f"{self.addrs[i]}/{self.subnet.prefixlen}", "dev", node_end, ns=ns)
                _ip("link", "set", node_end, "up", ns=ns)
                _ip("link", "set", "lo", "up", ns=ns)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def store_url(self) -> str:
        return f"etcd://{self.gateway}:{self.etcd.client_port}"

    @property
    def store(self) -> Any:
        if self._store is None:
            from pallet.engine.cluster._etcd import Etcd
            from pallet.engine.cluster._store import ClusterStore

            self._store = ClusterStore(Etcd([self.etcd.endpoint], timeout=5), self.prefix)
        return self._store

    def start_node(self, i: int, ttl_args: list[str] | None = None) -> Engine:
        """palletd of node i (its roots kept across restarts), joined to the lab's etcd."""
        eng = self.engines[i]
        fresh = eng is None
        if eng is None:
            eng = make_engine()
            # nsenter changes only the network namespace (ip netns exec would also make a mount namespace)
            eng.prefix = ["nsenter", f"--net=/run/netns/{self.namespaces[i]}", "--"]
            eng.daemon_args = ["--cluster-store", self.store_url, "--node-name", self.names[i],
                               "--advertise-addr", self.addrs[i], "--cluster-prefix", self.prefix,
                               "--node-label", f"index={i + 1}", *(ttl_args or [])]
            self.engines[i] = eng
            self._made.append(eng)
        eng.start()
        if fresh:
            eng.ctl("import", "-c", 'CMD ["sh"]', self.busybox_tar, "busybox:latest", check=True)
        return eng

    def kill_node(self, i: int) -> None:
        """SIGKILL node i's palletd (its containers keep running, as after a crash)."""
        eng = self.engines[i]
        if eng is not None and eng.proc is not None and eng.proc.poll() is None:
            eng.proc.kill()
            eng.proc.wait(10)

    def wait(self, what: str, check: Any, timeout: float = 60, interval: float = 0.3) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                last = check()
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def close(self) -> None:
        for eng in self._made:
            with contextlib.suppress(Exception):
                eng.stop()
            with contextlib.suppress(Exception):
                _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.etcd.close()
        with contextlib.suppress(Exception):
            self.etcd.stop()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for i in range(len(self.namespaces)):
            subprocess.run(["ip", "link", "del", f"pcv{self.tag}{i + 1}"], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["rm", "-rf", self.tmp], capture_output=True)
