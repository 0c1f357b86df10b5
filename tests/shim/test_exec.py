"""Exec processes in a running container, and slow attachers, against real runc."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
from pallet import errors
from pallet.shim import protocol
from pallet.shim.v1 import shim_pb2

from .conftest import Box, _alive
from .streams import read_all, read_until


def test_exec_output_goes_only_to_attachers(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    client.exec("e1", box.process(["sh", "-c", "echo out; echo err >&2; exit 5"]))
    st = client.state("e1")
    assert (st.status, st.pid, st.exec_id, st.id) == (shim_pb2.TASK_STATUS_CREATED, 0, "e1", box.id)
    with client.attach("e1") as att:
        pid = client.start("e1").pid
        assert pid > 0
        out, eofs = read_all(att)
    assert out == {1: b"out\n", 2: b"err\n"} and sorted(eofs) == [1, 2]
    res = client.wait(exec_id="e1", timeout=10)
    assert res.exit_status == 5
    st = client.state("e1")
    assert (st.status, st.exit_status, st.pid) == (shim_pb2.TASK_STATUS_STOPPED, 5, pid)
    assert st.started_at.ToNanoseconds() <= st.exited_at.ToNanoseconds()
    assert client.state().status == shim_pb2.TASK_STATUS_RUNNING  # init carries on
    assert box.log_entries() == []  # exec output never reaches the container log
    assert (box.bundle / "e1.json").exists()
    res = client.delete_process("e1")
    assert (res.pid, res.exit_status) == (pid, 5)
    assert not (box.bundle / "e1.json").exists() and not (box.bundle / "e1.pid").exists()
    with pytest.raises(errors.NotFound):
        client.state("e1")
    client.exec("e1", box.process(["true"]))  # the id is free again
    client.start("e1")
    assert client.wait(exec_id="e1", timeout=10).exit_status == 0
    client.kill(signal.SIGKILL)
    assert client.wait(timeout=10).exit_status == 137


def test_exec_with_stdin_pipe_and_terminal(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    client.exec("pipe", box.process(["sh", "-c", "tr a-z A-Z"]), stdin=True)
    with client.attach("pipe", stdin=True) as att:
        att.send_stdin(b"sent before start\n")  # buffered until the process exists
        client.start("pipe")
        assert read_until(att, b"SENT BEFORE START\n") == b"SENT BEFORE START\n"
        client.close_io("pipe")
        assert read_all(att)[1] in ([1, 2], [2, 1])
    assert client.wait(exec_id="pipe", timeout=10).exit_status == 0

    client.exec("tty", box.process(["sh"]), stdin=True, terminal=True)
    client.resize_pty(90, 20, exec_id="tty")
    with client.attach("tty", stdin=True) as att:
        client.start("tty")
        att.send_stdin(b"stty size; echo $((2+3))x\n")
        read_until(att, b"5x\r\n")
        client.resize_pty(132, 43, exec_id="tty")
        att.send_stdin(b"stty size\n")
        read_until(att, b"43 132\r\n")
        att.close_stdin()  # ^D: the shell reads EOF and exits
        out, eofs = read_all(att)
        assert sorted(eofs) == [1, 2] and 2 not in out
    assert client.wait(exec_id="tty", timeout=10).exit_status == 0
    assert client.state("tty").terminal
    client.kill(signal.SIGKILL)
    assert client.wait(timeout=10).exit_status == 137


def test_exec_of_a_missing_binary(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    client.exec("bad", box.process(["nope"]))
    with client.attach("bad") as att:
        with pytest.raises(errors.FailedPrecondition) as err:
            client.start("bad")
        assert read_all(att) == ({}, [1, 2])
    assert str(err.value) == 'exec: "nope": executable file not found in $PATH'
    st = client.state("bad")
    assert (st.status, st.exit_status) == (shim_pb2.TASK_STATUS_STOPPED, 127)
    assert client.wait(exec_id="bad", timeout=5).exit_status == 127
    client.delete_process("bad")
    client.exec("badtty", box.process(["nope"]), stdin=True, terminal=True)
    with pytest.raises(errors.FailedPrecondition, match="executable file not found"):
        client.start("badtty")
    assert client.state("badtty").exit_status == 127
    assert not (box.bundle / "console.sock").exists()
    client.kill(signal.SIGKILL)
    assert client.wait(timeout=10).exit_status == 137


def test_exec_kill_and_init_death_kills_execs(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    for name in ("a", "b"):
        client.exec(name, box.process(["sleep", "100"]))
    pid_a = client.start("a").pid
    pid_b = client.start("b").pid
    assert client.state("a").status == shim_pb2.TASK_STATUS_RUNNING
    with pytest.raises(errors.FailedPrecondition):
        client.delete_process("a")
    with pytest.raises(errors.FailedPrecondition):
        client.start("a")
    client.kill(signal.SIGTERM, exec_id="a")  # not pid 1 in its namespace: SIGTERM kills
    assert client.wait(exec_id="a", timeout=10).exit_status == 143
    with pytest.raises(errors.FailedPrecondition):
        client.kill(signal.SIGTERM, exec_id="a")
    client.pause()
    assert client.state("b").status == shim_pb2.TASK_STATUS_PAUSED
    client.resume()
    waiter = box.client(timeout=None)
    client.kill(signal.SIGKILL)  # init dies: the kernel kills b with it
    assert waiter.wait(exec_id="b").exit_status == 137
    assert waiter.wait().exit_status == 137
    assert not _alive(pid_a) and not _alive(pid_b)
    with pytest.raises(errors.FailedPrecondition):
        client.exec("c", box.process(["true"]))


def test_exec_errors(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    with pytest.raises(errors.InvalidArgument):
        client.exec("../x", box.process(["true"]))
    with pytest.raises(errors.InvalidArgument):
        client.exec("", box.process(["true"]))
    with pytest.raises(errors.InvalidArgument):
        client.exec("j", b"{not json")
    with pytest.raises(errors.InvalidArgument):
        client.exec("j", {"args": []})
    client.exec("dup", box.process(["true"]))
    with pytest.raises(errors.AlreadyExists):
        client.exec("dup", box.process(["true"]))
    with pytest.raises(errors.FailedPrecondition):
        client.kill(signal.SIGTERM, exec_id="dup")  # not started
    with pytest.raises(errors.InvalidArgument):
        client.kill(signal.SIGKILL, all=True, exec_id="dup")
    with pytest.raises(errors.FailedPrecondition):
        client.resize_pty(80, 24, exec_id="dup")
    with pytest.raises(errors.FailedPrecondition):
        client.attach("dup", stdin=True)
    for call in (lambda: client.state("missing"), lambda: client.start("missing"),
                 lambda: client.wait(exec_id="missing"), lambda: client.attach("missing"),
                 lambda: client.delete_process("missing")):
        with pytest.raises(errors.NotFound):
            call()
    with pytest.raises(errors.InvalidArgument):
        client.delete_process("")
    # a never-started exec can be deleted; its waiters and attachers are let go
    with socket.socket(socket.AF_UNIX) as raw, client.attach("dup") as att:
        raw.settimeout(5)
        raw.connect(str(box.bundle / "shim.sock"))
        req = shim_pb2.Request(service=protocol.SERVICE, method="Wait",
                               payload=shim_pb2.WaitRequest(exec_id="dup").SerializeToString())
        raw.sendall(protocol.pack(1, protocol.TYPE_REQUEST, req.SerializeToString()))
        time.sleep(0.05)
        assert client.delete_process("dup").pid == 0
        _sid, _t, _f, payload = protocol.recv_frame(raw)
        assert shim_pb2.Response.FromString(payload).status.code == protocol.NOT_FOUND
        assert read_all(att) == ({}, [1, 2])
    client.kill(signal.SIGKILL)
    assert client.wait(timeout=10).exit_status == 137


def test_slow_attacher_is_dropped_and_does_not_block(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    size = 24 << 20
    client.exec("big", box.process(["head", "-c", str(size), "/dev/zero"]))
    slow = client.attach("big", stderr=False)
    slow.__enter__()
    try:
        with client.attach("big") as fast:
            t0 = time.monotonic()
            client.start("big")
            got = 0
            eofs = []
            while True:
                sid, data = fast.recv()
                if sid is None:
                    break
                if data is None:
                    eofs.append(sid)
                else:
                    got += len(data)
            assert got == size and sorted(eofs) == [1, 2]
            assert time.monotonic() - t0 < 10
        assert client.wait(exec_id="big", timeout=10).exit_status == 0
        slow_got = 0
        slow_eof = False
        while True:
            sid, data = slow.recv()
            if sid is None:
                break
            slow_eof |= data is None
            slow_got += len(data or b"")
        assert slow_got < size and not slow_eof  # dropped: closed without an EOF
    finally:
        slow.close()
    client.kill(signal.SIGKILL)
    assert client.wait(timeout=10).exit_status == 137
    assert "not reading" in (box.bundle / "shim.log").read_text()


def test_exec_files_removed_when_the_shim_exits(box: Box) -> None:
    box.start(["sleep", "100"])
    client = box.client()
    client.exec("left", box.process(["true"]))
    client.start("left")
    assert client.wait(exec_id="left", timeout=10).exit_status == 0
    client.kill(signal.SIGKILL)
    client.wait(timeout=10)
    client.delete()
    deadline = time.monotonic() + 3
    while os.path.exists(box.bundle / "shim.sock") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not (box.bundle / "left.json").exists() and not (box.bundle / "left.pid").exists()
