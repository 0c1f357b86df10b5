"""`palletctl run` and friends end to end: real palletd, imagesvc, shim and runc."""

from __future__ import annotations

import json
import os
import time

from tests.conftest import Engine


def wait_for(pred, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return False


def inspect(engine: Engine, ref: str) -> dict:  # type: ignore[type-arg]
    res = engine.ctl("inspect", ref, check=True)
    return json.loads(res.stdout)[0]


def test_run_rm_prints_output_and_removes(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--name", "hello", "busybox", "echo", "hi")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hi\n"
    assert "hello" not in engine.ctl("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()


def test_exit_codes_propagate(engine: Engine) -> None:
    assert engine.ctl("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    res = engine.ctl("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (res.returncode, res.stdout, res.stderr) == (7, "out\n", "err\n")


def test_command_not_found_is_127(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "busybox", "no-such-command")
    assert res.returncode == 127
    assert "no-such-command" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_detach_logs_stop_rm(engine: Engine) -> None:
    res = engine.ctl("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                     "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    assert len(cid) == 64
    try:
        assert wait_for(lambda: "tick 3" in engine.ctl("logs", "ticker").stdout)
        tail = engine.ctl("logs", "--tail", "1", "ticker", check=True).stdout
        assert len(tail.splitlines()) == 1 and tail.startswith("tick ")
        stamped = engine.ctl("logs", "-t", "--tail", "1", cid[:12], check=True).stdout
        assert stamped[:4].isdigit() and "Z tick" in stamped
        follower = engine.ctl_popen("logs", "-f", "ticker")
        time.sleep(0.3)
        assert engine.ctl("stop", "-t", "5", "ticker", check=True).stdout.strip() == "ticker"
        out, _ = follower.communicate(timeout=10)
        assert follower.returncode == 0
        assert "tick 0" in out and out.rstrip().endswith("bye")
        state = inspect(engine, "ticker")["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 0
    finally:
        engine.ctl("rm", "-f", "ticker")
    assert engine.ctl("inspect", cid).returncode != 0
    assert not os.path.exists(os.path.join(engine.data_root, "containers", cid))
    assert not os.path.exists(os.path.join(engine.exec_root, "bundles", cid))


def test_ps_shows_state_transitions(engine: Engine) -> None:
    cid = engine.ctl("create", "--name", "states", "busybox", "sleep", "30", check=True).stdout.strip()
    try:
        def status() -> str:
            return engine.ctl("ps", "-a", "--filter", "name=^states$", "--format", "{{.Status}}",
                              check=True).stdout.strip()

        assert status() == "Created"
        assert "states" not in engine.ctl("ps", check=True).stdout
        engine.ctl("start", "states", check=True)
        assert status().startswith("Up ")
        assert cid[:12] in engine.ctl("ps", "-q", check=True).stdout.split()
        engine.ctl("kill", "states", check=True)
        assert engine.ctl("wait", "states", check=True).stdout.strip() == "137"
        assert status().startswith("Exited (137)")
        assert engine.ctl("ps", "-a", "--filter", "status=exited", "-q", check=True).stdout.count(cid[:12]) == 1
    finally:
        engine.ctl("rm", "-f", "states")


def test_env_workdir_user_hostname_reach_the_process(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROM_FILE=yes\n")
    res = engine.ctl(
        "run", "--rm", "-e", "GREETING=hello world", "--env-file", str(envfile), "-w", "/tmp/work",
        "-u", "nobody", "--hostname", "box1", "busybox",
        "sh", "-c", 'echo "$GREETING|$FROM_FILE|$(pwd)|$(id -u):$(id -g)|$(hostname)|$(cat /etc/hostname)"',
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "hello world|yes|/tmp/work|65534:65534|box1|box1"
    res = engine.ctl("run", "--rm", "-u", "1234:5678", "busybox", "id", check=True)
    assert "uid=1234" in res.stdout and "gid=5678" in res.stdout
    res = engine.ctl("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b", check=True)
    assert res.stdout == "a b\n"


def test_container_sees_only_its_own_processes(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "busybox", "ps", "-o", "pid,comm")
    assert res.returncode == 0, res.stderr
    rows = res.stdout.strip().splitlines()[1:]
    assert [r.split() for r in rows] == [["1", "ps"]]
    # And its own network namespace: loopback and its end of a veth on the bridge.
    res = engine.ctl("run", "--rm", "busybox", "cat", "/proc/net/dev", check=True)
    ifaces = [line.split(":")[0].strip() for line in res.stdout.splitlines()[2:]]
    assert sorted(ifaces) == ["eth0", "lo"]


def test_two_containers_share_image_layers(engine: Engine) -> None:
    ids = [engine.ctl("run", "-d", "busybox", "sleep", "30", check=True).stdout.strip() for _ in range(2)]
    try:
        inodes = set()
        for cid in ids:
            pid = inspect(engine, cid)["State"]["Pid"]
            st = os.stat(f"/proc/{pid}/root/bin/busybox")
            inodes.add(st.st_ino)
        assert len(inodes) == 1  # both read the one file in the shared layer
        copies = [os.path.join(d, f) for d, _, fs in os.walk(engine.data_root) for f in fs if f == "busybox"]
        assert len(copies) == 1, copies
        # Writes stay private to each container.
        engine.ctl("run", "--rm", "busybox", "sh", "-c", "echo x > /bin/busybox-note", check=True)
        assert engine.ctl("run", "--rm", "busybox", "ls", "/bin/busybox-note").returncode != 0
    finally:
        engine.ctl("rm", "-f", *ids)


def test_labels_filters_and_inspect_shape(engine: Engine) -> None:
    cid = engine.ctl("create", "-l", "tier=web", "--name", "labelled", "busybox", "true",
                     check=True).stdout.strip()
    try:
        out = engine.ctl("ps", "-a", "-q", "--no-trunc", "--filter", "label=tier=web", check=True).stdout
        assert out.split() == [cid]
        assert engine.ctl("ps", "-a", "-q", "--filter", "label=tier=db", check=True).stdout == ""
        data = inspect(engine, "labelled")
        assert data["Id"] == cid and data["Name"] == "/labelled"
        assert data["Config"]["Labels"] == {"tier": "web"}
        assert data["Path"] == "true" and data["Image"].startswith("sha256:")
        fmt = engine.ctl("inspect", "-f", "{{.State.Status}} {{json .Config.Labels}}", "labelled", check=True)
        assert fmt.stdout.strip() == 'created {"tier":"web"}'
        # Unique prefixes resolve; the name must be unique.
        assert inspect(engine, cid[:10])["Id"] == cid
        dup = engine.ctl("create", "--name", "labelled", "busybox", "true")
        assert dup.returncode == 125 and "already in use" in dup.stderr
    finally:
        engine.ctl("rm", "-f", "labelled")


def test_bad_input_is_one_clear_line_and_125(engine: Engine) -> None:
    # --pull never: a missing image is not looked for on docker.io (tests send nothing off the host)
    res = engine.ctl("run", "--rm", "--pull", "never", "nosuchimage:1.0", "true")
    assert res.returncode == 125 and "No such image" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = engine.ctl("run", "--bogus-flag", "busybox")
    assert res.returncode == 125 and "bogus-flag" in res.stderr
    res = engine.ctl("run", "--rm", "Bad/Name:x", "true")
    assert res.returncode == 125 and "Traceback" not in res.stderr
    res = engine.ctl("run", "--rm", "--name", "bad name!", "busybox", "true")
    assert res.returncode == 125 and "Invalid container name" in res.stderr
    res = engine.ctl("logs", "nosuchcontainer")
    assert res.returncode == 125 and "No such container" in res.stderr
    running = engine.ctl("run", "-d", "busybox", "sleep", "30", check=True).stdout.strip()
    try:
        res = engine.ctl("rm", running)
        assert res.returncode != 0 and "cannot remove a running container" in res.stderr
    finally:
        engine.ctl("rm", "-f", running)


def test_daemon_restart_keeps_containers(fresh_engine: Engine) -> None:
    eng = fresh_engine
    cid = eng.ctl("run", "-d", "--name", "survivor", "busybox", "sh", "-c",
                  "while true; do echo alive; sleep 0.1; done", check=True).stdout.strip()
    pid = inspect(eng, cid)["State"]["Pid"]
    eng.stop()  # SIGTERM: containers keep running
    assert os.path.exists(f"/proc/{pid}")
    eng.start()
    state = inspect(eng, "survivor")["State"]
    assert state["Running"] and state["Pid"] == pid
    eng.ctl("stop", "-t", "1", "survivor", check=True)
    assert inspect(eng, "survivor")["State"]["Status"] == "exited"
    assert not os.path.exists(f"/proc/{pid}")
    eng.ctl("rm", "survivor", check=True)


def test_not_executable_is_126(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "busybox", "/etc/passwd")
    assert res.returncode == 126, res.stderr
    assert "permission denied" in res.stderr.lower()


def test_network_host_and_none(engine: Engine) -> None:
    with open("/proc/net/dev") as f:
        host_ifaces = {line.split(":")[0].strip() for line in f.readlines()[2:]}
    res = engine.ctl("run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev", check=True)
    ifaces = {line.split(":")[0].strip() for line in res.stdout.splitlines()[2:]}
    assert ifaces == host_ifaces
    res = engine.ctl("run", "--rm", "--network", "none", "busybox", "cat", "/etc/hosts", check=True)
    assert "localhost" in res.stdout
    res = engine.ctl("run", "--rm", "--network", "nosuchnet", "busybox", "true")
    assert res.returncode == 125 and "nosuchnet" in res.stderr


def test_log_rotation_options(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
                     "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done", check=True).stdout.strip()
    try:
        assert engine.ctl("wait", cid, check=True).stdout.strip() == "0"
        logdir = os.path.join(engine.data_root, "containers", cid)
        files = sorted(f for f in os.listdir(logdir) if "-json.log" in f)
        assert files == [f"{cid}-json.log", f"{cid}-json.log.1"]
        assert all(os.path.getsize(os.path.join(logdir, f)) <= 2000 for f in files)
        tail = engine.ctl("logs", "--tail", "2", cid, check=True).stdout
        assert tail == "line 298\nline 299\n"
    finally:
        engine.ctl("rm", "-f", cid)
    res = engine.ctl("run", "--rm", "--log-opt", "max-size=lots", "busybox", "true")
    assert res.returncode == 125 and "max-size" in res.stderr
    res = engine.ctl("run", "--rm", "--log-driver", "none", "busybox", "echo", "unlogged")
    assert res.returncode == 0 and res.stdout == "unlogged\n"
