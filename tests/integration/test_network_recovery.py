"""netsvc and palletd killed mid-way: running containers keep their network, and leaks go at start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

from tests._engine import Engine
from tests.integration.test_network import _wget

WEB = "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"


def _pids(text: str, module: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and f"-m {module} " in cmd:
            out.append(int(pid))
    return out


def _http(port: int, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _by_name(eng: Engine, net: str, name: str) -> bool:
    res = _wget(eng, net, f"http://{name}/")
    return res.returncode == 0 and "hello" in res.stdout


def _rules() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout


def test_kill_netsvc_and_palletd_then_recover(fresh_engine: Engine) -> None:
    eng = fresh_engine
    eng.ctl("network", "create", "app", check=True)
    eng.ctl("run", "-d", "--name", "web", "--network", "app", "-p", "127.0.0.1::80", "busybox", "sh", "-c", WEB,
            check=True)
    port = int(eng.ctl("port", "web", "80", check=True).stdout.strip().rsplit(":", 1)[1])
    assert "hello" in _http(port)
    ip = json.loads(eng.ctl("inspect", "web", check=True).stdout)[0]["NetworkSettings"]["Networks"]["app"][
        "IPAddress"]

    # netsvc dies hard: the supervisor starts it again; the container never lost its network.
    (old,) = _pids(eng.tmp, "pallet.net")
    os.kill(old, signal.SIGKILL)
    assert "hello" in _http(port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not _pids(eng.tmp, "pallet.net") or _pids(eng.tmp, "pallet.net") == [old]):
        time.sleep(0.1)
    assert _by_name(eng, "app", "web")
    # The port is held again: nobody else can bind it.
    busy = eng.ctl("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert busy.returncode != 0 and "already allocated" in busy.stderr

    # palletd dies hard too (its netsvc follows); a leaked namespace appears meanwhile.
    eng.stop(signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _pids(eng.tmp, "pallet.net"):
        time.sleep(0.1)
    leak = os.path.join(eng.exec_root, "netns", "f" * 64)
    open(leak, "w").close()
    subprocess.run(["unshare", f"--net={leak}", "true"], check=True)
    assert "hello" in _http(port)
    eng.start()
    assert not os.path.exists(leak)
    assert "hello" in _http(port)
    assert _by_name(eng, "app", "web")

    # Removing the container removes its namespace, veth and rules.
    eng.ctl("rm", "-f", "web", check=True)
    assert os.listdir(os.path.join(eng.exec_root, "netns")) == []
    assert ip not in _rules()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    bridge = json.loads(eng.ctl("network", "inspect", "app", check=True).stdout)[0]["Options"].get(
        "com.docker.network.bridge.name") or ""
    assert not bridge or f"master {bridge}" not in links
    eng.ctl("network", "rm", "app", check=True)


def test_container_killed_while_palletd_is_down(fresh_engine: Engine) -> None:
    """The container dies while nobody watches: at start its sandbox and rules go."""
    eng = fresh_engine
    eng.ctl("run", "-d", "--name", "lonely", "-p", "127.0.0.1::80", "busybox", "sh", "-c", WEB, check=True)
    cid = json.loads(eng.ctl("inspect", "lonely", check=True).stdout)[0]["Id"]
    ip = json.loads(eng.ctl("inspect", "lonely", check=True).stdout)[0]["NetworkSettings"]["IPAddress"]
    assert ip and ip in _rules()
    eng.stop(signal.SIGKILL)
    for pid in _pids(eng.tmp, "pallet.shim"):
        os.kill(pid, signal.SIGKILL)
    subprocess.run(["runc", "--root", os.path.join(eng.exec_root, "runc"), "kill", "--all", cid, "KILL"],
                   capture_output=True, check=False)
    time.sleep(0.5)
    eng.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and os.path.exists(os.path.join(eng.exec_root, "netns", cid)):
        time.sleep(0.2)
    assert not os.path.exists(os.path.join(eng.exec_root, "netns", cid))
    assert ip not in _rules()
    state = json.loads(eng.ctl("inspect", "lonely", check=True).stdout)[0]["State"]
    assert state["Running"] is False
    eng.ctl("rm", "lonely", check=True)
