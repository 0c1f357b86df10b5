"""Resource limits end to end: each limit is exceeded by a real runc container, and
the cgroup files show what was asked for (cgroup v1, or v2 where the host is unified)."""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

from tests.conftest import Engine

MiB = 1 << 20
V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
SWAP_LIMITS = V2 or os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")


def inspect(engine: Engine, ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(engine.ctl("inspect", ref, check=True).stdout)[0]


def cgroup_file(engine: Engine, cid: str, controller: str, v1_name: str, v2_name: str = "") -> str:
    """A cgroup file of the container, as the host sees it."""
    if V2:
        return os.path.join("/sys/fs/cgroup", engine.cgroup_parent, cid, v2_name or v1_name)
    return os.path.join("/sys/fs/cgroup", controller, engine.cgroup_parent, cid, v1_name)


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_memory_limit_oom_kills_and_reports_it(engine: Engine) -> None:
    since = str(time.time() - 1)
    res = engine.ctl("run", "--name", "oom-victim", "-m", "32m", "busybox", "sh", "-c",
                     "head -c 200m /dev/zero | tail")
    try:
        assert res.returncode == 137, res.stderr
        info = inspect(engine, "oom-victim")
        assert info["State"]["OOMKilled"] is True
        assert info["State"]["ExitCode"] == 137
        assert info["HostConfig"]["Memory"] == 32 * MiB
        if SWAP_LIMITS:
            assert info["HostConfig"]["MemorySwap"] == 64 * MiB  # dockerd's default: twice the memory
        events = engine.ctl("events", "--since", since, "--until", str(time.time() + 1),
                            "--filter", "container=oom-victim", "--format", "{{.Action}}", check=True)
        actions = events.stdout.split()
        assert "oom" in actions and actions.index("oom") < actions.index("die")
    finally:
        engine.ctl("rm", "-f", "oom-victim")


def test_oom_event_while_the_container_keeps_running(engine: Engine) -> None:
    since = str(time.time() - 1)
    # the hog asks to be the OOM killer's choice, so the kernel never picks PID 1 instead
    cid = engine.ctl("run", "-d", "-m", "32m", "busybox", "sh", "-c",
                     "(echo 1000 > /proc/self/oom_score_adj; head -c 200m /dev/zero | tail); sleep 30",
                     check=True).stdout.strip()
    try:
        deadline = time.monotonic() + 10
        actions: list[str] = []
        while time.monotonic() < deadline and "oom" not in actions:
            time.sleep(0.3)
            actions = engine.ctl("events", "--since", since, "--until", str(time.time()), "--filter",
                                 f"container={cid}", "--format", "{{.Action}}", check=True).stdout.split()
        assert "oom" in actions and "die" not in actions  # reported while it runs
        engine.ctl("kill", cid, check=True)
        engine.ctl("wait", cid, check=True)
        assert inspect(engine, cid)["State"]["OOMKilled"] is True
        actions = engine.ctl("events", "--since", since, "--until", str(time.time()), "--filter",
                             f"container={cid}", "--format", "{{.Action}}", check=True).stdout.split()
        assert actions.count("oom") == 1 and "die" in actions  # once: not again at exit
    finally:
        engine.ctl("rm", "-f", cid)


def test_shm_size_and_memory_limit_on_tmpfs(engine: Engine) -> None:
    """/dev/shm can be larger than the memory limit; filling it past the limit is an OOM kill."""
    res = engine.ctl("run", "--rm", "-m", "32m", "--shm-size", "256m", "busybox", "sh", "-c",
                     "df -k /dev/shm | tail -n 1; dd if=/dev/zero of=/dev/shm/fill bs=1M count=100 2>&1")
    assert res.returncode == 137, (res.stdout, res.stderr)
    assert res.stdout.split()[1] == str(256 * 1024)


def test_pids_limit_stops_forks(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--pids-limit", "8", "busybox", "sh", "-c",
                     "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; "
                     "for i in $(seq 16); do sleep 2 & done; echo forked")
    assert res.stdout.split()[0] == "8", res.stdout
    assert "can't fork" in res.stderr or "Resource temporarily unavailable" in res.stderr, res.stderr


def test_cpu_cpuset_blkio_memory_files_and_update(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "--cpus", "0.5", "-c", "512", "--cpuset-cpus", "0", "--cpuset-mems", "0",
                     "--blkio-weight", "300", "--pids-limit", "50", "-m", "64m", "--memory-swap", "100m",
                     "--memory-reservation", "32m", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        if V2:
            assert read(cgroup_file(engine, cid, "cpu", "", "cpu.max")) == "50000 100000"
            assert read(cgroup_file(engine, cid, "memory", "", "memory.max")) == str(64 * MiB)
        else:
            assert read(cgroup_file(engine, cid, "cpu", "cpu.cfs_quota_us")) == "50000"
            assert read(cgroup_file(engine, cid, "cpu", "cpu.cfs_period_us")) == "100000"
            assert read(cgroup_file(engine, cid, "cpu", "cpu.shares")) == "512"
            assert read(cgroup_file(engine, cid, "memory", "memory.limit_in_bytes")) == str(64 * MiB)
            assert read(cgroup_file(engine, cid, "memory", "memory.soft_limit_in_bytes")) == str(32 * MiB)
            memsw = cgroup_file(engine, cid, "memory", "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                assert read(memsw) == str(100 * MiB)
            weight = [p for p in (cgroup_file(engine, cid, "blkio", "blkio.weight"),
                                  cgroup_file(engine, cid, "blkio", "blkio.bfq.weight")) if os.path.exists(p)]
            if weight:
                assert read(weight[0]).split()[-1] == "300"
        assert read(cgroup_file(engine, cid, "cpuset", "cpuset.cpus")) == "0"
        assert read(cgroup_file(engine, cid, "cpuset", "cpuset.mems")) == "0"
        assert read(cgroup_file(engine, cid, "pids", "pids.max")) == "50"
        hc = inspect(engine, cid)["HostConfig"]
        assert (hc["NanoCpus"], hc["CpuShares"], hc["CpusetCpus"], hc["BlkioWeight"], hc["PidsLimit"]) == (
            500_000_000, 512, "0", 300, 50)
        assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (64 * MiB, 100 * MiB, 32 * MiB)

        # update: the running container's cgroup changes, and the record keeps it
        refused = engine.ctl("update", "--memory", "200m", cid)
        assert refused.returncode != 0 and "memoryswap" in refused.stderr
        engine.ctl("update", "--memory", "80m", "--cpus", "1", "--pids-limit", "70", cid, check=True)
        limit = cgroup_file(engine, cid, "memory", "memory.limit_in_bytes", "memory.max")
        assert read(limit) == str(80 * MiB)
        assert read(cgroup_file(engine, cid, "pids", "pids.max")) == "70"
        if not V2:
            assert read(cgroup_file(engine, cid, "cpu", "cpu.cfs_quota_us")) == "100000"
        hc = inspect(engine, cid)["HostConfig"]
        assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == (80 * MiB, 1_000_000_000, 70)
        engine.ctl("restart", "-t", "0", cid, check=True)
        assert read(limit) == str(80 * MiB)
        assert read(cgroup_file(engine, cid, "pids", "pids.max")) == "70"
        engine.ctl("update", "--pids-limit", "-1", cid, check=True)
        assert read(cgroup_file(engine, cid, "pids", "pids.max")) == "max"
        assert inspect(engine, cid)["HostConfig"]["PidsLimit"] is None
    finally:
        engine.ctl("rm", "-f", cid)


def test_update_stopped_container_and_restart_policy(engine: Engine) -> None:
    cid = engine.ctl("create", "busybox", "true", check=True).stdout.strip()
    try:
        res = engine.ctl("update", "--memory", "48m", "--restart", "on-failure:3", cid)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == cid
        hc = inspect(engine, cid)["HostConfig"]
        assert hc["Memory"] == 48 * MiB
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert "one or more flags" in engine.ctl("update", cid).stderr
        assert engine.ctl("update", "--memory", "48m", "no-such-ctr").returncode != 0
    finally:
        engine.ctl("rm", "-f", cid)


def test_ulimits(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c",
                     "ulimit -n; ulimit -Hn")
    assert res.stdout.split() == ["100", "200"], res.stderr
    _, host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if host_hard == resource.RLIM_INFINITY:
        pytest.skip("the host's nofile hard limit is unlimited")
    res = engine.ctl("run", "--rm", "--ulimit", f"nofile=100:{host_hard + 1}", "busybox", "true")
    if res.returncode == 0:
        pytest.skip("the engine may raise hard limits here (CAP_SYS_RESOURCE)")
    assert res.returncode == 125
    assert f"exceeds the host's hard limit {host_hard}" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("flags", "message"), [
    (["-m", "1m"], "Minimum memory limit allowed is 6MB"),
    (["--cpus", "1000"], "Range of CPUs is from 0.01"),
    (["--memory-swap", "1g"], "always set the Memory limit"),
    (["--blkio-weight", "5"], "Range of blkio weight is from 10 to 1000"),
    (["--cpuset-cpus", "0-4096"], "Requested CPUs are not available"),
    (["-m", "64m", "--memory-reservation", "128m"], "memory reservation"),
])
def test_invalid_resources_are_refused(engine: Engine, flags: list[str], message: str) -> None:
    res = engine.ctl("create", *flags, "busybox", "true")
    assert res.returncode == 125
    assert message in res.stderr


@pytest.mark.skipif(V2, reason="OOM killer disabling is cgroup v1 only")
def test_oom_kill_disable(engine: Engine) -> None:
    res = engine.ctl("create", "--oom-kill-disable", "busybox", "true")
    assert res.returncode == 0
    assert "WARNING: OOM killer is disabled for the container, but no memory limit is set" in res.stderr
    engine.ctl("rm", res.stdout.strip())
    cid = engine.ctl("run", "-d", "-m", "32m", "--oom-kill-disable", "busybox", "sleep", "30",
                     check=True).stdout.strip()
    try:
        control = read(cgroup_file(engine, cid, "memory", "memory.oom_control"))
        assert "oom_kill_disable 1" in control
        assert inspect(engine, cid)["HostConfig"]["OomKillDisable"] is True
    finally:
        engine.ctl("rm", "-f", cid)
