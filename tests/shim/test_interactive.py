"""Create-only start, stdin, terminals and attach for the container's init, against real runc."""

from __future__ import annotations

import json
import os
import signal

import pytest
from pallet import errors
from pallet.shim.v1 import shim_pb2

from .conftest import Box, _alive
from .streams import read_all, read_until


def test_create_only_then_start(box: Box) -> None:
    reply = box.start(["sh", "-c", "echo started"], create_only=True)
    client = box.client()
    st = client.state()
    assert st.status == shim_pb2.TASK_STATUS_CREATED
    assert st.pid == reply["pid"] and _alive(reply["pid"])
    assert not st.HasField("started_at")
    assert box.runc_ids() == [box.id]
    assert box.log_entries() == []
    with pytest.raises(errors.FailedPrecondition):
        client.pause()
    with client.attach() as att:  # attached before the start: sees everything
        assert client.start().pid == reply["pid"]
        out, eofs = read_all(att)
    assert out == {1: b"started\n"} and sorted(eofs) == [1, 2]
    res = client.wait(timeout=10)
    assert (res.exit_status, res.oom_killed) == (0, False)
    assert [e["log"] for e in box.log_entries()] == ["started\n"]
    assert json.loads((box.bundle / "exit.json").read_text())["oom_killed"] is False
    with pytest.raises(errors.FailedPrecondition):
        client.start()
    # attaching after the end gets the EOFs at once
    with client.attach() as att:
        assert read_all(att) == ({}, [1, 2])


def test_create_only_killed_before_start(box: Box) -> None:
    reply = box.start(["true"], create_only=True)
    client = box.client()
    client.kill(signal.SIGKILL)
    assert client.wait(timeout=10).exit_status == 137
    assert client.state().status == shim_pb2.TASK_STATUS_STOPPED
    with pytest.raises(errors.FailedPrecondition):
        client.start()
    assert box.runc_ids() == [] and box.mounts() == []
    assert not _alive(reply["pid"])


def test_stdin_pipe_and_attach_fan_out(box: Box) -> None:
    box.start(["sh", "-c", "read line; echo got $line; echo done >&2; cat"], stdin=True)
    client = box.client()
    st = client.state()
    assert (st.stdin, st.terminal) == (True, False)
    with client.attach(stdin=True) as a, client.attach(stdout=True, stderr=False) as b:
        a.send_stdin(b"hello\n")
        assert read_until(a, b"got hello\n") == b"got hello\n"
        assert read_until(b, b"got hello\n") == b"got hello\n"
        assert read_until(a, b"done\n", stream=2) == b"done\n"
        a.send_stdin(b"x" * 300_000)  # more than a pipe holds: the shim buffers it
        assert len(read_until(a, b"x" * 300_000)) == 300_000
        a.close_stdin()  # EOF: cat ends, and with it the container
        out_a, eofs_a = read_all(a)
        out_b, eofs_b = read_all(b)
    assert sorted(eofs_a) == [1, 2] and eofs_b == [1]
    assert 2 not in out_b
    assert client.wait(timeout=10).exit_status == 0
    logged = "".join(e["log"] for e in box.log_entries() if e["stream"] == "stdout")
    assert logged == "got hello\n" + "x" * 300_000
    assert [e["log"] for e in box.log_entries() if e["stream"] == "stderr"] == ["done\n"]


def test_close_io_and_stdin_refused_without_flag(box: Box) -> None:
    box.start(["cat"], stdin=True)
    client = box.client()
    client.close_io()
    assert client.wait(timeout=10).exit_status == 0

    other = Box(box.bundle.parent, box.rootfs, box.base_spec, name="nostdin")
    try:
        other.start(["sh", "-c", "cat; echo eof"])  # stdin is /dev/null
        c2 = other.client()
        assert c2.wait(timeout=10).exit_status == 0
        assert [e["log"] for e in other.log_entries()] == ["eof\n"]
        with pytest.raises(errors.FailedPrecondition):
            c2.attach(stdin=True)
    finally:
        other.cleanup()
    assert not other.mounts() and not other.cgroup_dirs()


def test_terminal_init_log_and_resize(box: Box) -> None:
    box.start(["sh", "-c", "stty size; echo out; echo err >&2"], terminal=True,
              create_only=True)
    client = box.client()
    client.resize_pty(100, 30)  # before the start: applied to the pty already
    assert client.state().terminal
    client.start()
    assert client.wait(timeout=10).exit_status == 0
    entries = box.log_entries()
    assert {e["stream"] for e in entries} == {"stdout"}
    assert [e["log"] for e in entries] == ["30 100\r\n", "out\r\n", "err\r\n"]
    assert not (box.bundle / "console.sock").exists()


def test_terminal_stdin_interactive_shell(box: Box) -> None:
    box.start(["sh"], terminal=True, stdin=True)
    client = box.client()
    with client.attach(stdin=True) as att:
        att.send_stdin(b"echo $((6*7))\n")
        assert b"42\r\n" in read_until(att, b"42\r\n")
        client.resize_pty(120, 40)
        att.send_stdin(b"stty size\n")
        read_until(att, b"40 120\r\n")
        att.send_stdin(b"exit 3\n")
        _out, eofs = read_all(att)
        assert sorted(eofs) == [1, 2]
    assert client.wait(timeout=10).exit_status == 3
    assert any("42" in e["log"] for e in box.log_entries())


def test_terminal_with_long_bundle_path(tmp_path, rootfs, base_spec) -> None:  # noqa: ANN001
    box = Box(tmp_path, rootfs, base_spec, name="t" * 60 + "/" + "u" * 60)
    assert len(str(box.bundle / "console.sock")) > 108
    try:
        box.start(["sh", "-c", "echo tty"], terminal=True)
        assert box.client().wait(timeout=10).exit_status == 0
        assert [e["log"] for e in box.log_entries()] == ["tty\r\n"]
        assert not [p for p in os.listdir("/tmp") if p.startswith("pallet-pty-")]
    finally:
        box.cleanup()
    assert not box.mounts() and not box.cgroup_dirs()


def test_terminal_resize_without_terminal_is_refused(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    with pytest.raises(errors.FailedPrecondition, match="no terminal"):
        client.resize_pty(80, 24)
    client.kill(signal.SIGKILL)
    assert client.wait(timeout=10).exit_status == 137


def test_pause_and_resume(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    client.pause()
    assert client.state().status == shim_pb2.TASK_STATUS_PAUSED
    with pytest.raises(errors.FailedPrecondition):
        client.pause()
    client.resume()
    assert client.state().status == shim_pb2.TASK_STATUS_RUNNING
    with pytest.raises(errors.FailedPrecondition):
        client.resume()
    client.pause()
    client.kill(signal.SIGKILL)  # a frozen container is thawed to die
    assert client.wait(timeout=10).exit_status == 137


def test_oom_killed(box: Box) -> None:
    box.start(["tail", "/dev/zero"], memory=8 << 20)
    client = box.client()
    res = client.wait(timeout=20)
    assert (res.exit_status, res.oom_killed) == (137, True)
    st = client.state()
    assert st.status == shim_pb2.TASK_STATUS_STOPPED and st.oom_killed
    assert json.loads((box.bundle / "exit.json").read_text())["oom_killed"] is True
    assert client.delete().oom_killed
