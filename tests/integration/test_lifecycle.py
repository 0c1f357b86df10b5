"""exec, attach, TTYs, stdin, pause, rename, restart policies and events, end to end."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from tests.conftest import Engine
from tests.integration.test_containers import inspect, wait_for


def run_in_pty(engine: Engine, *args: str, script: list[tuple[bytes | None, bytes]] = (),  # type: ignore[assignment]
               rows: int = 33, cols: int = 101, timeout: float = 20) -> tuple[int | None, bytes]:
    """Run palletctl on a real terminal of the given size; returns (status, output).

    script: (expected, keys) steps: once `expected` has appeared in the output
    (or 1.5 s after the previous step when it is None) the keys are typed. Keys
    b"RESIZE:rows,cols" resize the terminal instead and send SIGWINCH.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "pallet.client.cli", "-H", engine.host, *args],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    steps = list(script)
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if steps:
                expected, keys = steps[0]
                if (expected is not None and expected in out) or (
                        expected is None and time.monotonic() - last >= 1.5):
                    if keys.startswith(b"RESIZE:"):
                        r_, c_ = (int(x) for x in keys[7:].split(b","))
                        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", r_, c_, 0, 0))
                        os.kill(proc.pid, signal.SIGWINCH)
                    else:
                        os.write(master, keys)
                    steps.pop(0)
                    last = time.monotonic()
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        os.close(master)
    return proc.returncode, out


def test_exec_runs_in_the_container(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "--name", "exectarget", "-e", "FROM_RUN=1", "busybox", "sleep", "60",
                     check=True).stdout.strip()
    try:
        res = engine.ctl("exec", "exectarget", "sh", "-c", 'echo "$FROM_RUN $EXTRA $(pwd) $(id -u)"',
                         check=True)
        assert res.stdout == "1  / 0\n"
        res = engine.ctl("exec", "-e", "EXTRA=x", "-w", "/tmp", "-u", "nobody", "exectarget",
                         "sh", "-c", 'echo "$EXTRA $(pwd) $(id -u)"', check=True)
        assert res.stdout == "x /tmp 65534\n"
        assert engine.ctl("exec", "exectarget", "sh", "-c", "exit 5").returncode == 5
        res = engine.ctl("exec", "exectarget", "nope-not-here")
        assert res.returncode == 127 and "nope-not-here" in res.stderr
        # The exec sees the container's processes, and its pid 1.
        res = engine.ctl("exec", "exectarget", "ps", "-o", "pid,comm", check=True)
        assert "1 sleep" in " ".join(res.stdout.split())
        engine.ctl("exec", "-d", "exectarget", "sh", "-c", "echo done > /tmp/detached", check=True)
        assert wait_for(lambda: engine.ctl("exec", "exectarget", "cat", "/tmp/detached").stdout == "done\n")
        res = engine.ctl("exec", "-i", "exectarget", "cat", input=b"piped in\n")
        assert res.returncode == 0 and res.stdout == "piped in\n"
    finally:
        engine.ctl("rm", "-f", cid)
    res = engine.ctl("exec", "exectarget", "true")
    assert res.returncode == 125 and "No such container" in res.stderr


def test_stdin_is_piped_with_i(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z; echo end", input=b"hello\nworld\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "HELLO\nWORLD\nend\n"
    # Without -i the container's stdin is empty.
    res = engine.ctl("run", "--rm", "busybox", "cat", input=b"ignored\n")
    assert res.returncode == 0 and res.stdout == ""


def test_run_it_has_a_real_terminal_with_the_callers_size(engine: Engine) -> None:
    status, out = run_in_pty(engine, "run", "--rm", "-it", "busybox", "sh", "-c",
                                "tty; stty size; exit 3", rows=33, cols=101)
    text = out.decode(errors="replace")
    assert status == 3, text
    assert "/dev/pts/0" in text and "33 101" in text


def test_interactive_shell_over_tty(engine: Engine) -> None:
    status, out = run_in_pty(engine, "run", "--rm", "-it", "busybox", "sh",
                             script=[(b"#", b"echo $((6*7)); exit 4\r")])
    assert status == 4, out
    assert b"42" in out


def test_attach_and_detach_keys(engine: Engine) -> None:
    cid = engine.ctl("run", "-dit", "--name", "attachable", "busybox", "sh", check=True).stdout.strip()
    try:
        status, out = run_in_pty(engine, "attach", "attachable", timeout=15,
                                 script=[(None, b"echo attached-$((1+1))\r"), (b"attached-2", b"\x10\x11")])
        assert status == 0, out
        assert b"attached-2" in out
        assert inspect(engine, cid)["State"]["Running"]
        res = engine.ctl("attach", "--no-stdin", "nosuch")
        assert res.returncode == 125
    finally:
        engine.ctl("rm", "-f", cid)


def test_pause_unpause_rename(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "--name", "pausable", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        engine.ctl("pause", "pausable", check=True)
        status = engine.ctl("ps", "--filter", "name=pausable", "--format", "{{.Status}}", check=True).stdout
        assert "(Paused)" in status
        assert inspect(engine, cid)["State"]["Paused"] is True
        res = engine.ctl("exec", "pausable", "true")
        assert res.returncode != 0 and "paused" in res.stderr
        assert engine.ctl("pause", "pausable").returncode != 0
        engine.ctl("unpause", "pausable", check=True)
        assert inspect(engine, cid)["State"]["Status"] == "running"
        engine.ctl("rename", "pausable", "renamed", check=True)
        assert inspect(engine, cid)["Name"] == "/renamed"
        assert engine.ctl("inspect", "pausable").returncode != 0
        engine.ctl("restart", "-t", "1", "renamed", check=True)
        assert inspect(engine, cid)["State"]["Running"]
    finally:
        engine.ctl("rm", "-f", cid)


def test_restart_policy_on_failure_and_always(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 1",
                     check=True).stdout.strip()
    try:
        assert wait_for(lambda: inspect(engine, cid)["RestartCount"] == 2
                        and inspect(engine, cid)["State"]["Status"] == "exited", timeout=15)
        assert engine.ctl("logs", cid, check=True).stdout.count("try") == 3
    finally:
        engine.ctl("rm", "-f", cid)
    cid = engine.ctl("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2",
                     check=True).stdout.strip()
    try:
        assert wait_for(lambda: inspect(engine, cid)["RestartCount"] >= 2, timeout=15)
        engine.ctl("stop", "-t", "1", cid, check=True)
        count = inspect(engine, cid)["RestartCount"]
        time.sleep(1.0)
        data = inspect(engine, cid)
        assert data["State"]["Status"] == "exited" and data["RestartCount"] == count
    finally:
        engine.ctl("rm", "-f", cid)
    res = engine.ctl("run", "--rm", "--restart", "always", "busybox", "true")
    assert res.returncode == 125 and "Conflicting options" in res.stderr
    assert engine.ctl("run", "--restart", "sometimes", "busybox", "true").returncode == 125


def test_events_stream(engine: Engine) -> None:
    watcher = engine.ctl_popen("events", "--filter", "type=container", "--filter", "container=evented",
                               "--format", "{{.Action}}")
    try:
        time.sleep(0.5)
        engine.ctl("run", "--name", "evented", "busybox", "sh", "-c", "exit 2")
        engine.ctl("rm", "evented", check=True)
        time.sleep(0.5)
    finally:
        watcher.send_signal(signal.SIGINT)
        out, _ = watcher.communicate(timeout=10)
    actions = out.split()
    assert actions[:4] == ["create", "start", "die", "destroy"], out
    since = engine.ctl("events", "--since", "1m", "--until", "0s", "--filter", "event=die",
                       "--format", "{{json .Actor.Attributes}}", check=True).stdout
    assert any(json.loads(line).get("exitCode") == "2" for line in since.splitlines())


def test_health_checks(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
                     "--health-retries", "2", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        assert inspect(engine, cid)["State"]["Health"]["Status"] == "starting"
        assert wait_for(lambda: inspect(engine, cid)["State"]["Health"]["Status"] == "unhealthy")
        assert "(unhealthy)" in engine.ctl("ps", "--filter", f"id={cid}", "--format", "{{.Status}}").stdout
        engine.ctl("exec", cid, "touch", "/tmp/ok", check=True)
        assert wait_for(lambda: inspect(engine, cid)["State"]["Health"]["Status"] == "healthy")
        health = inspect(engine, cid)["State"]["Health"]
        assert health["FailingStreak"] == 0 and health["Log"][-1]["ExitCode"] == 0
    finally:
        engine.ctl("rm", "-f", cid)


def test_image_healthcheck_and_restart_on_unhealthy(engine: Engine, busybox_tar: str) -> None:
    engine.ctl("import", "-c", 'HEALTHCHECK --interval=200ms --retries=1 CMD ["test", "-f", "/tmp/ok"]',
               "-c", 'CMD ["sleep", "60"]', busybox_tar, "healthy-image:1", check=True)
    cid = engine.ctl("run", "-d", "--health-on-failure", "restart", "healthy-image:1", check=True).stdout.strip()
    try:
        first = inspect(engine, cid)["State"]["StartedAt"]
        assert wait_for(lambda: inspect(engine, cid)["State"]["StartedAt"] != first, timeout=15)
        disabled = engine.ctl("run", "-d", "--no-healthcheck", "healthy-image:1", check=True).stdout.strip()
        assert "Health" not in inspect(engine, disabled)["State"]
        engine.ctl("rm", "-f", disabled, check=True)
    finally:
        engine.ctl("rm", "-f", cid)
        engine.ctl("rmi", "healthy-image:1")


def test_port_lists_nothing_yet(engine: Engine) -> None:
    cid = engine.ctl("create", "busybox", "true", check=True).stdout.strip()
    try:
        assert engine.ctl("port", cid, check=True).stdout == ""
        res = engine.ctl("port", cid, "80")
        assert res.returncode == 1 and "No public port '80/tcp'" in res.stderr
    finally:
        engine.ctl("rm", cid)


def test_exec_it_follows_window_resizes(engine: Engine) -> None:
    cid = engine.ctl("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        status, out = run_in_pty(engine, "exec", "-it", cid, "sh", rows=20, cols=70, script=[
            (b"#", b"stty size\r"), (b"20 70", b"RESIZE:40,120"), (None, b"stty size\r"),
            (b"40 120", b"\x04")])
        assert b"20 70" in out and b"40 120" in out, out
        assert status == 0, out  # Ctrl-D ended the shell
    finally:
        engine.ctl("rm", "-f", cid)
