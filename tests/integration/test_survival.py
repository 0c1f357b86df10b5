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
