"""palletd --userns-remap: container root is an unprivileged host user; --userns host opts out."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests import _host
from tests._engine import Engine, make_engine

BASE = 420000


@pytest.fixture
def remap_user() -> Iterator[str]:
    """A system user with subordinate ranges of its own, removed afterwards (with its ranges)."""
    name = f"plremap{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        subprocess.run(["usermod", "--add-subuids", f"{BASE}-{BASE + 65535}", "--add-subgids",
                        f"{BASE}-{BASE + 65535}", name], check=True)
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path) as f:
                lines = [line for line in f if not line.startswith(name + ":")]
            with open(path, "w") as f:
                f.writelines(lines)


@pytest.fixture
def remapped(remap_user: str, busybox_tar: str) -> Iterator[Engine]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    eng = make_engine()
    eng.daemon_args = ["--userns-remap", remap_user]
    try:
        eng.start()
        eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
        yield eng
    finally:
        eng.stop()
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


def _host_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


def test_root_in_the_container_is_not_root_on_the_host(remapped: Engine) -> None:
    eng = remapped
    res = eng.ctl("run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map; ls -ln /bin/busybox; "
                  "touch /etc/written && echo ok", check=True)
    lines = res.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(BASE), "65536"]
    assert " 0 " in lines[2]  # the image's files are root's in the container
    assert "ok" in res.stdout

    eng.ctl("run", "-d", "--name", "sleeper", "-v", "data:/data", "busybox", "sh", "-c",
            "echo hi > /data/f; sleep 300", check=True)
    try:
        info = json.loads(eng.ctl("inspect", "sleeper", check=True).stdout)[0]
        assert _host_uid(info["State"]["Pid"]) == BASE
        assert eng.ctl("exec", "sleeper", "id", "-u", check=True).stdout.strip() == "0"
        vol = json.loads(eng.ctl("volume", "inspect", "data", check=True).stdout)[0]["Mountpoint"]
        for _ in range(50):
            if os.path.exists(os.path.join(vol, "f")):
                break
            time.sleep(0.1)
        assert os.stat(os.path.join(vol, "f")).st_uid == BASE
    finally:
        eng.ctl("rm", "-f", "sleeper")
    # A host directory only the host's root may write to stays closed to the container's root.
    host_dir = os.path.join(eng.tmp, "rootonly")
    os.mkdir(host_dir, 0o755)
    res = eng.ctl("run", "--rm", "-v", f"{host_dir}:/x", "busybox", "touch", "/x/f")
    assert res.returncode != 0 and not os.path.exists(os.path.join(host_dir, "f"))
    eng.ctl("run", "--rm", "--userns", "host", "-v", f"{host_dir}:/x", "busybox", "touch", "/x/f", check=True)
    assert os.stat(os.path.join(host_dir, "f")).st_uid == 0


def test_userns_host_and_privileged(remapped: Engine) -> None:
    eng = remapped
    res = eng.ctl("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map", check=True)
    assert res.stdout.split() == ["0", "0", "4294967295"]
    bad = eng.ctl("run", "--rm", "--privileged", "busybox", "true")
    assert bad.returncode != 0 and "incompatible with user namespaces" in bad.stderr
    ok = eng.ctl("run", "--rm", "--privileged", "--userns", "host", "busybox", "true")
    assert ok.returncode == 0, ok.stderr


def test_remapped_containers_on_a_network(remapped: Engine) -> None:
    """The runtime makes the namespace inside the container's user namespace; netsvc wires it."""
    import urllib.request

    eng = remapped
    eng.ctl("network", "create", "remapnet", check=True)
    try:
        eng.ctl("run", "-d", "--name", "web", "--network", "remapnet", "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                "mkdir /www && echo remapped > /www/index.html && exec httpd -f -p 80 -h /www", check=True)
        port = int(eng.ctl("port", "web", "80", check=True).stdout.strip().rsplit(":", 1)[1])
        body = ""
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert body == "remapped\n"
        res = eng.ctl("run", "--rm", "--network", "remapnet", "busybox", "sh", "-c",
                      "for i in 1 2 3 4 5; do wget -q -O- http://web/ && exit 0; sleep 0.3; done; exit 1")
        assert res.returncode == 0 and "remapped" in res.stdout, res.stderr
        assert eng.ctl("exec", "web", "grep", "-c", "sysfs", "/proc/mounts", check=True).stdout.strip() != "0"
    finally:
        eng.ctl("rm", "-f", "web")
        eng.ctl("network", "rm", "remapnet")
