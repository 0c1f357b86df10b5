"""Isolation defaults end to end: what a default container may not do, and the flags
that loosen or tighten it (--privileged, --cap-add/--cap-drop, --security-opt,
--sysctl, --device, --device-cgroup-rule, --group-add, --init)."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import Engine

# Each line prints "<name> <exit status>" so one container checks many things.
PROBES = {
    "mount": "mkdir -p /mnt && mount -t tmpfs none /mnt",
    "unshare_mnt": "unshare -m true",
    "unshare_user": "unshare -U true",
    "hostname_sysctl": "echo evil > /proc/sys/kernel/hostname",
    "module": "echo x > /tmp/x.ko && insmod /tmp/x.ko",
    "kmsg_node": "mknod /tmp/kmsg c 1 11 && : > /tmp/kmsg",
    "chown": "chown 1 /tmp",
}


def probe_script(names: list[str]) -> str:
    return "; ".join(f"( {PROBES[n]} ) >/dev/null 2>&1; echo {n} $?" for n in names)


def results(stdout: str) -> dict[str, int]:
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in PROBES:
            out[parts[0]] = int(parts[1])
    return out


def test_default_container_is_confined(engine: Engine) -> None:
    names = list(PROBES)
    script = probe_script(names) + (
        "; echo masked $(cat /proc/timer_list /proc/keys 2>/dev/null | wc -c)"
        "; echo seccomp $(grep '^Seccomp:' /proc/self/status | cut -f2)"
        "; ps -o pid,args | sed 's/^/ps: /'")
    res = engine.ctl("run", "--rm", "busybox", "sh", "-c", script)
    got = results(res.stdout)
    assert set(got) == set(names), res.stdout + res.stderr
    denied = {n for n, rc in got.items() if rc != 0}
    assert denied == set(names) - {"chown"}, got  # chown is in Docker's default set
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    assert lines["masked"] == "0"  # masked paths read empty
    assert lines["seccomp"] == "2"  # a filter is installed
    procs = [line.split()[1:] for line in res.stdout.splitlines() if line.startswith("ps: ")][1:]
    assert procs[0][:2] == ["1", "sh"], procs  # our command is PID 1 ...
    assert len(procs) <= 3, procs  # ... and no host process is visible (sh, ps, sed)


def test_privileged_may_do_it_all(engine: Engine) -> None:
    script = probe_script(["mount", "unshare_mnt", "kmsg_node", "chown"]) + (
        "; echo seccomp $(grep '^Seccomp:' /proc/self/status | cut -f2)"
        "; echo sys $(grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1)"
        "; echo kmsg $(ls /dev/kmsg)")
    res = engine.ctl("run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    assert results(res.stdout) == {"mount": 0, "unshare_mnt": 0, "kmsg_node": 0, "chown": 0}
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    assert lines["seccomp"] == "0" and lines["sys"] == "rw" and lines["kmsg"] == "/dev/kmsg"


def test_cap_drop_all_and_cap_add(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--cap-drop", "ALL", "busybox", "sh", "-c",
                     probe_script(["chown"]) + "; grep CapEff /proc/self/status")
    assert results(res.stdout) == {"chown": 1}
    assert "CapEff:\t0000000000000000" in res.stdout
    res = engine.ctl("run", "--rm", "--cap-drop", "chown", "--cap-add", "cap_sys_admin", "--security-opt",
                     "seccomp=unconfined", "busybox", "sh", "-c", probe_script(["chown", "mount"]))
    assert results(res.stdout) == {"chown": 1, "mount": 0}, res.stderr
    res = engine.ctl("create", "--cap-add", "NOT_A_CAP", "busybox", "true")
    assert res.returncode == 125 and 'unknown capability: "CAP_NOT_A_CAP"' in res.stderr


def test_exec_keeps_the_containers_capabilities(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "--cap-drop", "ALL", "busybox", "sleep", "30", check=True).stdout.strip()
    try:
        assert engine.ctl("exec", cid, "chown", "1", "/tmp").returncode != 0
        assert engine.ctl("exec", "--privileged", cid, "chown", "1", "/tmp").returncode == 0
    finally:
        engine.ctl("rm", "-f", cid)


def test_seccomp_profile_file_and_no_new_privileges(engine: Engine, tmp_path: str) -> None:
    profile = os.path.join(str(tmp_path), "no-mkdir.json")
    with open(profile, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}, f)
    res = engine.ctl("run", "--rm", "--security-opt", f"seccomp={profile}", "--security-opt",
                     "no-new-privileges", "busybox", "sh", "-c",
                     "mkdir /tmp/d; echo mkdir $?; grep NoNewPrivs /proc/self/status")
    assert "mkdir 1" in res.stdout and "Operation not permitted" in res.stderr
    assert "NoNewPrivs:\t1" in res.stdout
    res = engine.ctl("run", "--rm", "--security-opt", "seccomp=/no/such/profile.json", "busybox", "true")
    assert res.returncode == 125 and "opening seccomp profile" in res.stderr
    res = engine.ctl("create", "--security-opt", "bogus=1", "busybox", "true")
    assert res.returncode == 125 and "invalid --security-opt" in res.stderr


def test_sysctls(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1234567",
                     "busybox", "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmax")
    assert res.stdout.split() == ["1", "1234567"], res.stderr
    res = engine.ctl("create", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true")
    assert res.returncode == 125 and "not allowed with --network host" in res.stderr
    for bad in ("kernel.hostname=x", "vm.swappiness=10", "kernel.pid_max=100"):
        res = engine.ctl("create", "--sysctl", bad, "busybox", "true")
        assert res.returncode == 125
        assert f"sysctl '{bad.split('=')[0]}' is not allowed" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_devices_and_cgroup_rules(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--device", "/dev/null:/dev/mynull:rw", "--device-cgroup-rule", "c 1:11 w",
                     "busybox", "sh", "-c",
                     "echo data > /dev/mynull && echo wrote; ls -l /dev/mynull; " + probe_script(["kmsg_node"]))
    assert "wrote" in res.stdout, res.stderr
    assert "1,   3" in res.stdout  # the host's /dev/null numbers
    assert results(res.stdout) == {"kmsg_node": 0}
    res = engine.ctl("create", "--device", "/dev/does-not-exist", "busybox", "true")
    assert res.returncode == 125 and 'adding custom device "/dev/does-not-exist"' in res.stderr
    res = engine.ctl("create", "--device-cgroup-rule", "x 1:2 rwm", "busybox", "true")
    assert res.returncode == 125 and "invalid device cgroup" in res.stderr


def test_user_and_group_add(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--user", "65534:65534", "--group-add", "daemon", "--group-add", "4242",
                     "busybox", "id")
    assert res.returncode == 0, res.stderr
    assert "uid=65534(nobody) gid=65534(nogroup)" in res.stdout
    assert "1(daemon)" in res.stdout and "4242" in res.stdout
    res = engine.ctl("run", "--rm", "--group-add", "no-such-group", "busybox", "id")
    assert res.returncode != 0 and "Unable to find group no-such-group" in res.stderr


ZOMBIE = 'sh -c "sleep 0.2 &"; exec sleep 30'  # the orphaned sleep is reparented to PID 1


@pytest.mark.skipif(not any(os.path.exists(p) for p in ("/usr/bin/tini-static", "/usr/libexec/docker/docker-init",
                                                          "/usr/bin/docker-init")),
                    reason="no tini (apt-get install tini)")
def test_init_reaps_zombies_and_forwards_signals(engine: Engine) -> None:
    with_init = engine.ctl("run", "-d", "--init", "busybox", "sh", "-c", ZOMBIE, check=True).stdout.strip()
    without = engine.ctl("run", "-d", "busybox", "sh", "-c", ZOMBIE, check=True).stdout.strip()
    try:
        time.sleep(0.8)
        ps = engine.ctl("exec", with_init, "ps", "-o", "pid,stat,args", check=True).stdout
        pid1 = next(line for line in ps.splitlines() if line.split()[0] == "1")
        assert "/dev/init -- sh -c" in pid1
        assert not [line for line in ps.splitlines()[1:] if line.split()[1].startswith("Z")], ps
        ps = engine.ctl("exec", without, "ps", "-o", "pid,stat,args", check=True).stdout
        assert [line for line in ps.splitlines()[1:] if line.split()[1].startswith("Z")], ps
        assert json.loads(engine.ctl("inspect", with_init, check=True).stdout)[0]["HostConfig"]["Init"] is True
        start = time.monotonic()
        engine.ctl("stop", "-t", "10", with_init, check=True)  # tini passes SIGTERM on to sleep
        assert time.monotonic() - start < 5
        assert json.loads(engine.ctl("inspect", with_init, check=True).stdout)[0]["State"]["ExitCode"] == 143
    finally:
        engine.ctl("rm", "-f", with_init, without)
