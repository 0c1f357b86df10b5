"""--pid and --ipc end to end: the host's namespaces, another container's, and the errors."""

from __future__ import annotations

import os
import uuid

from tests.conftest import Engine


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_pid_host_sees_host_processes(engine: Engine) -> None:
    me = os.getpid()
    script = f"cat /proc/1/comm; [ -d /proc/{me} ] && echo sees-{me}; ps -o pid | wc -l"
    res = engine.ctl("run", "--rm", "--pid", "host", "busybox", "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    comm, seen, count = res.stdout.split()
    with open("/proc/1/comm") as f:
        assert comm == f.read().strip() != "sh"
    assert seen == f"sees-{me}"
    assert int(count) > 5, res.stdout  # every host process, not just sh and ps
    # The default: a namespace of its own, where our process is not visible.
    res = engine.ctl("run", "--rm", "busybox", "sh", "-c", script)
    assert res.stdout.split()[0] == "sh" and f"sees-{me}" not in res.stdout


def test_pid_container_joins_the_other_containers_namespace(engine: Engine) -> None:
    target = _name("pidtarget")
    try:
        engine.ctl("run", "-d", "--name", target, "busybox", "sleep", "300", check=True)
        res = engine.ctl("run", "--rm", "--pid", f"container:{target}", "busybox", "ps", "-o", "pid,args")
        assert res.returncode == 0, res.stderr
        procs = [line.split(None, 1) for line in res.stdout.splitlines()[1:]]
        assert ["1", "sleep 300"] in procs, res.stdout  # the target's init is PID 1 here too
        cid = engine.ctl("inspect", "-f", "{{.Id}}", target, check=True).stdout.strip()
        joined = _name("pidjoin")
        engine.ctl("create", "--name", joined, "--pid", f"container:{target}", "--ipc", "shareable",
                   "busybox", "true", check=True)
        try:
            got = engine.ctl("inspect", "-f", "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}", joined,
                             check=True).stdout.split()
            assert got == [f"container:{cid}", "shareable"]
        finally:
            engine.ctl("rm", "-f", joined)
    finally:
        engine.ctl("rm", "-f", target)


def test_ipc_host_and_container(engine: Engine) -> None:
    host_ns = os.readlink("/proc/self/ns/ipc")
    marker = f"/dev/shm/pallet-ipc-{uuid.uuid4().hex[:8]}"
    target = _name("ipctarget")
    try:
        with open(marker, "w") as f:
            f.write("x")
        res = engine.ctl("run", "--rm", "--ipc", "host", "busybox", "sh", "-c",
                         f"readlink /proc/self/ns/ipc; ls {marker}")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == [host_ns, marker]  # the host's namespace and its /dev/shm
        own = engine.ctl("run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc", check=True).stdout.strip()
        assert own != host_ns
        res = engine.ctl("run", "--rm", "--ipc", "none", "busybox", "sh", "-c",
                         "readlink /proc/self/ns/ipc; grep -c ' /dev/shm ' /proc/mounts")
        ns, shm_mounts = res.stdout.split()
        assert ns != host_ns and shm_mounts == "0"
        engine.ctl("run", "-d", "--name", target, "--ipc", "shareable", "busybox", "sleep", "300", check=True)
        theirs = engine.ctl("exec", target, "readlink", "/proc/self/ns/ipc", check=True).stdout.strip()
        mine = engine.ctl("run", "--rm", "--ipc", f"container:{target}", "busybox", "readlink",
                          "/proc/self/ns/ipc", check=True).stdout.strip()
        assert mine == theirs != host_ns
    finally:
        os.unlink(marker)
        engine.ctl("rm", "-f", target)


def test_bad_modes_create_nothing(engine: Engine) -> None:
    before = engine.ctl("ps", "-aq", check=True).stdout
    for flag, value, message in (("--pid", "private", "invalid --pid 'private'"),
                                 ("--ipc", "hots", "invalid --ipc 'hots'"),
                                 ("--pid", "container:", "invalid --pid 'container:'"),
                                 ("--pid", "container:no-such-ctr", "no-such-ctr")):
        res = engine.ctl("run", "--rm", flag, value, "busybox", "true")
        assert res.returncode != 0, (flag, value)
        assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert engine.ctl("ps", "-aq", check=True).stdout == before


def test_joining_a_stopped_container_fails_clearly(engine: Engine) -> None:
    target, joiner = _name("stopped"), _name("joiner")
    try:
        engine.ctl("create", "--name", target, "busybox", "sleep", "300", check=True)
        for kind, title in (("pid", "PID"), ("ipc", "IPC")):
            res = engine.ctl("run", "--name", joiner, f"--{kind}", f"container:{target}", "busybox", "true")
            assert res.returncode != 0
            assert f"cannot join the {title} namespace of container {target}: it is not running" in res.stderr
            assert len(res.stderr.strip().splitlines()) == 1, res.stderr
            engine.ctl("rm", "-f", joiner)
        # Once the target runs, the same container starts.
        engine.ctl("start", target, check=True)
        engine.ctl("create", "--name", joiner, "--pid", f"container:{target}", "busybox", "true", check=True)
        res = engine.ctl("start", "-a", joiner)
        assert res.returncode == 0, res.stderr
    finally:
        engine.ctl("rm", "-f", joiner, target)
