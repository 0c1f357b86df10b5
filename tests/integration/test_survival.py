"""Containers outlive palletd: kill -9, dead shims, and a host reboot."""

from __future__ import annotations

import os
import shutil
import signal
import time

from tests import _host
from tests.conftest import Engine
from tests.integration.test_containers import inspect, wait_for


def _log_size(eng: Engine, cid: str) -> int:
    return os.path.getsize(os.path.join(eng.data_root, "containers", cid, f"{cid}-json.log"))


def test_kill_9_palletd_containers_keep_running(fresh_engine: Engine) -> None:
    eng = fresh_engine
    writer = eng.ctl("run", "-d", "--name", "writer", "busybox", "sh", "-c",
                     "while true; do echo line; sleep 0.05; done", check=True).stdout.strip()
    quitter = eng.ctl("run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1.5; exit 7",
                      check=True).stdout.strip()
    pid = inspect(eng, writer)["State"]["Pid"]
    eng.stop(sig=signal.SIGKILL)
    size = _log_size(eng, writer)
    time.sleep(2.0)  # quitter exits while palletd is down
    assert os.path.exists(f"/proc/{pid}")
    assert _log_size(eng, writer) > size  # the shim kept writing the log
    eng.start()
    state = inspect(eng, "writer")["State"]
    assert state["Running"] and state["Pid"] == pid
    q = inspect(eng, "quitter")["State"]
    assert q["Status"] == "exited" and q["ExitCode"] == 7
    assert q["FinishedAt"] > q["StartedAt"]
    assert eng.ctl("wait", "quitter", check=True).stdout.strip() == "7"
    assert "exited (7)" in eng.ctl("ps", "-a", "--filter", "name=quitter", "--format",
                                    "{{lower .Status}}", check=True).stdout
    assert eng.ctl("exec", "writer", "echo", "still here", check=True).stdout == "still here\n"
    eng.ctl("rm", "-f", writer, quitter, check=True)


def test_killed_shim_marks_container_exited_255(fresh_engine: Engine) -> None:
    eng = fresh_engine
    cid = eng.ctl("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    pid = inspect(eng, cid)["State"]["Pid"]
    with open(os.path.join(eng.exec_root, "bundles", cid, "shim.pid")) as f:
        shim_pid = int(f.read())
    os.kill(shim_pid, signal.SIGKILL)
    assert wait_for(lambda: inspect(eng, cid)["State"]["Status"] == "exited")
    state = inspect(eng, cid)["State"]
    assert state["ExitCode"] == 255 and "shim" in state["Error"]
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))  # not left running unmanaged
    eng.ctl("rm", cid, check=True)


def test_reboot_containers_come_back_exited_and_policies_apply(fresh_engine: Engine) -> None:
    eng = fresh_engine
    plain = eng.ctl("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    always = eng.ctl("run", "-d", "--restart", "always", "busybox", "sleep", "60", check=True).stdout.strip()
    eng.stop()
    # A reboot: every process gone, /run (the exec root) wiped, the data root kept.
    _host.kill_runtime_containers(os.path.join(eng.exec_root, "runc"))
    _host.kill_processes_mentioning(eng.exec_root)
    _host.umount_under(eng.exec_root)
    shutil.rmtree(eng.exec_root)
    eng.start()
    state = inspect(eng, plain)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 255
    assert wait_for(lambda: inspect(eng, always)["State"]["Running"])
    assert eng.ctl("exec", always, "true").returncode == 0
    eng.ctl("rm", "-f", plain, always, check=True)


def test_stuck_containers_do_not_block_ps_or_logs(fresh_engine: Engine) -> None:
    eng = fresh_engine
    stubborn = eng.ctl("run", "-d", "busybox", "sh", "-c", "trap '' TERM; echo up; sleep 60",
                       check=True).stdout.strip()
    frozen = eng.ctl("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    # Freeze the second one behind palletd's back: its processes cannot run or die.
    freezer = f"/sys/fs/cgroup/freezer/{eng.cgroup_parent}/{frozen}/freezer.state"
    if os.path.exists(freezer):
        with open(freezer, "w") as f:
            f.write("FROZEN")
    stopper = eng.ctl_popen("stop", "-t", "20", stubborn)
    try:
        time.sleep(0.5)
        t = time.monotonic()
        assert stubborn[:12] in eng.ctl("ps", "-q", check=True).stdout
        assert eng.ctl("logs", stubborn, check=True).stdout == "up\n"
        assert eng.ctl("run", "--rm", "busybox", "echo", "free").stdout == "free\n"
        assert time.monotonic() - t < 10
        assert stopper.poll() is None  # still waiting for its timeout
    finally:
        if os.path.exists(freezer):
            with open(freezer, "w") as f:
                f.write("THAWED")
        eng.ctl("rm", "-f", stubborn, frozen)
        stopper.wait(timeout=30)


def test_imagesvc_restart_is_survived(fresh_engine: Engine) -> None:
    eng = fresh_engine
    assert eng.proc is not None
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == eng.proc.pid]
    imagesvc = [p for p in children if b"pallet.images" in _cmdline(p)]
    assert len(imagesvc) == 1
    os.kill(imagesvc[0], signal.SIGKILL)
    res = eng.ctl("images", timeout=15)  # right after: the answer or one clear error line, never a hang
    assert res.returncode == 0 or (res.returncode == 125 and len(res.stderr.strip().splitlines()) == 1), res.stderr
    assert wait_for(lambda: eng.ctl("images").returncode == 0, timeout=20)
    assert "busybox" in eng.ctl("images", check=True).stdout
    assert eng.ctl("run", "--rm", "busybox", "echo", "back").stdout == "back\n"


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
