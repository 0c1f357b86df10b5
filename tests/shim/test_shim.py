"""pallet-shim against real runc: start, logs, exit status, kill, delete, failures."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
from pallet import errors
from pallet.shim import protocol
from pallet.shim.server import DRAIN_GRACE
from pallet.shim.v1 import shim_pb2

from .conftest import RUNC, Box, _alive, processes_mentioning, wait_gone

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def test_output_goes_to_json_log(box: Box) -> None:
    reply = box.start(["sh", "-c", "echo out1; echo err1 >&2; echo out2; printf partial"])
    assert reply["address"] == str(box.bundle / "shim.sock")
    assert int((box.bundle / "shim.pid").read_text()) == reply["shim_pid"]
    assert box.client().wait(timeout=10).exit_status == 0
    entries = box.log_entries()
    assert [(e["stream"], e["log"]) for e in entries if e["stream"] == "stdout"] == [
        ("stdout", "out1\n"), ("stdout", "out2\n"), ("stdout", "partial")]
    assert [e["log"] for e in entries if e["stream"] == "stderr"] == ["err1\n"]
    assert all(TIME_RE.match(e["time"]) and set(e) == {"log", "stream", "time"} for e in entries)
    # the exact byte layout Docker's json-file driver uses
    first = box.log_path.read_text().splitlines()[0]
    assert first.startswith('{"log":"out1\\n","stream":"stdout","time":"')


def test_exit_code_propagates_and_wait_means_cleaned_up(box: Box) -> None:
    reply = box.start(["sh", "-c", "exit 3"])
    res = box.client().wait(timeout=10)
    assert res.exit_status == 3
    # by the time Wait answers the runtime state, the rootfs mount and init are gone
    assert box.mounts() == []
    assert box.runc_ids() == []
    exit_json = json.loads((box.bundle / "exit.json").read_text())
    assert exit_json["exit_status"] == 3
    assert TIME_RE.match(exit_json["exited_at"])
    assert exit_json["exited_at"][:19] == res.exited_at.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S")
    st = box.client().state()
    assert st.status == shim_pb2.TASK_STATUS_STOPPED
    assert (st.exit_status, st.pid, st.shim_pid) == (3, reply["pid"], reply["shim_pid"])
    assert st.id == box.id and st.bundle == str(box.bundle)
    assert st.started_at.ToNanoseconds() <= st.exited_at.ToNanoseconds()
    with pytest.raises(errors.FailedPrecondition):
        box.client().kill(signal.SIGTERM)


def test_sigterm_kills_sleep_with_143(box: Box) -> None:
    # In its own pid namespace `sleep` would be PID 1, which the kernel shields
    # from every signal it has no handler for (except SIGKILL): share the host's.
    reply = box.start(["sleep", "100"], pid_ns=False)
    client = box.client()
    st = client.state()
    assert st.status == shim_pb2.TASK_STATUS_RUNNING and st.pid == reply["pid"]
    with pytest.raises(errors.FailedPrecondition):
        client.delete()
    with pytest.raises(errors.FailedPrecondition):
        client.shutdown()
    with pytest.raises(errors.DeadlineExceeded):
        client.wait(timeout=0.2)
    client.kill(signal.SIGTERM)
    res = client.wait(timeout=10)
    assert res.exit_status == 128 + signal.SIGTERM
    # noticed at once: Wait answers a few ms after the exit (runc delete included)
    assert time.time_ns() - res.exited_at.ToNanoseconds() < 300_000_000


def test_kill_all_sigkill_in_pid_namespace(box: Box) -> None:
    box.start(["sh", "-c", "sleep 100 & sleep 100"])
    client = box.client()
    waiter = box.client(timeout=None)
    client.kill(signal.SIGKILL, all=True)
    assert waiter.wait().exit_status == 137
    assert box.runc_ids() == []


def test_leftover_process_holding_stdout_does_not_block_the_exit(box: Box) -> None:
    # Without a pid namespace the background sleep outlives init and keeps the pipes.
    box.start(["sh", "-c", "echo before; sleep 41 & exit 7"], pid_ns=False)  # 41: no other test's sleep
    t0 = time.monotonic()
    assert box.client().wait(timeout=10).exit_status == 7
    assert time.monotonic() - t0 < 0.5 + DRAIN_GRACE + 1
    assert [e["log"] for e in box.log_entries()] == ["before\n"]
    assert box.runc_ids() == [] and box.mounts() == []
    deadline = time.monotonic() + 3  # runc delete --force killed it (the kernel may take a moment to reap)
    while processes_mentioning("sleep 41") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning("sleep 41") == []


def test_bad_command_leaves_nothing(box: Box) -> None:
    box.write(["nope"])
    with pytest.raises(errors.FailedPrecondition) as err:
        box.start()
    assert str(err.value) == 'exec: "nope": executable file not found in $PATH'
    assert box.mounts() == []
    assert box.runc_ids() == []
    assert not (box.bundle / "shim.sock").exists()
    assert not (box.bundle / "shim.pid").exists()
    assert processes_mentioning(str(box.bundle)) == []
    assert all(not _alive(p) for p in box.shim_pids)


def test_start_errors_before_runc(box: Box) -> None:
    box.write(["true"], mounts=[{"type": "bind", "source": str(box.bundle / "missing"),
                                 "options": ["rbind", "ro"]}])
    with pytest.raises(errors.FailedPrecondition, match="No such file"):
        box.start()
    assert box.mounts() == [] and box.runc_ids() == []
    assert not (box.bundle / "shim.sock").exists()


def test_container_survives_shim_sigkill(box: Box) -> None:
    reply = box.start(["sleep", "100"])
    os.kill(reply["shim_pid"], signal.SIGKILL)
    assert wait_gone(reply["shim_pid"])
    time.sleep(0.1)
    assert _alive(reply["pid"])
    state = subprocess.run([RUNC, "--root", str(box.runtime_root), "state", box.id],
                           capture_output=True, text=True, check=True).stdout
    assert json.loads(state)["status"] == "running"
    with pytest.raises(errors.Unavailable):
        box.client().state()
    # the Box teardown kills and deletes it through runc and unmounts the rootfs


def test_shim_ignores_termination_signals(box: Box) -> None:
    reply = box.start(["sleep", "100"])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        os.kill(reply["shim_pid"], sig)
    time.sleep(0.1)
    assert _alive(reply["shim_pid"]) and _alive(reply["pid"])
    assert box.client().state().status == shim_pb2.TASK_STATUS_RUNNING
    box.client().kill(signal.SIGKILL)
    assert box.client().wait(timeout=10).exit_status == 137


def test_delete_makes_the_shim_exit(box: Box) -> None:
    reply = box.start(["true"])
    client = box.client()
    assert client.wait(timeout=10).exit_status == 0
    res = client.delete()
    assert (res.pid, res.exit_status) == (reply["pid"], 0)
    assert wait_gone(reply["shim_pid"])
    assert not (box.bundle / "shim.sock").exists()
    assert box.mounts() == [] and box.runc_ids() == []
    with pytest.raises(errors.Unavailable):
        client.state()


def test_delete_right_after_exit_waits_for_cleanup(box: Box) -> None:
    reply = box.start(["sh", "-c", "sleep 0.2"])
    client = box.client()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # Delete is refused only while init runs
        try:
            res = client.delete()
            break
        except errors.FailedPrecondition:
            time.sleep(0.005)
    assert res.exit_status == 0
    assert wait_gone(reply["shim_pid"])
    assert box.mounts() == []


def test_shutdown_after_exit(box: Box) -> None:
    reply = box.start(["true"])
    client = box.client()
    client.wait(timeout=10)
    client.shutdown()
    assert wait_gone(reply["shim_pid"])
    assert not (box.bundle / "shim.sock").exists()
    assert json.loads((box.bundle / "exit.json").read_text())["exit_status"] == 0


def _raw_call(sock: socket.socket, sid: int, method: str, payload: bytes = b"",
              service: str = protocol.SERVICE) -> None:
    req = shim_pb2.Request(service=service, method=method, payload=payload)
    sock.sendall(protocol.pack(sid, protocol.TYPE_REQUEST, req.SerializeToString()))


def _raw_reply(sock: socket.socket) -> tuple[int, shim_pb2.Response]:
    sid, mtype, _flags, payload = protocol.recv_frame(sock)
    assert mtype == protocol.TYPE_RESPONSE
    return sid, shim_pb2.Response.FromString(payload)


def test_protocol_on_one_connection_with_a_parked_wait(box: Box) -> None:
    reply = box.start(["sleep", "100"])
    with socket.socket(socket.AF_UNIX) as a, socket.socket(socket.AF_UNIX) as b:
        a.settimeout(5)
        b.settimeout(5)
        a.connect(reply["address"])
        b.connect(reply["address"])
        _raw_call(a, 1, "Wait")  # parks; the connection keeps serving
        _raw_call(a, 3, "State")
        sid, resp = _raw_reply(a)
        assert sid == 3 and resp.status.code == 0
        assert shim_pb2.StateResponse.FromString(resp.payload).pid == reply["pid"]
        _raw_call(b, 1, "Nope")
        _raw_call(b, 3, "State", service="other.Service")
        _raw_call(b, 5, "Kill", shim_pb2.KillRequest(signal=999).SerializeToString())
        codes = [_raw_reply(b)[1].status.code for _ in range(3)]
        assert codes == [protocol.UNIMPLEMENTED, protocol.UNIMPLEMENTED,
                         protocol.INVALID_ARGUMENT]
        # a frame split across writes is still one request
        req = shim_pb2.Request(service=protocol.SERVICE, method="Kill",
                               payload=shim_pb2.KillRequest(signal=9).SerializeToString())
        frame = protocol.pack(7, protocol.TYPE_REQUEST, req.SerializeToString())
        b.sendall(frame[:4])
        time.sleep(0.02)
        b.sendall(frame[4:])
        sid, resp = _raw_reply(b)
        assert sid == 7 and resp.status.code == 0
        sid, resp = _raw_reply(a)
        assert sid == 1 and shim_pb2.WaitResponse.FromString(resp.payload).exit_status == 137


def test_overlay_rootfs_and_long_bundle_path(tmp_path, rootfs, base_spec) -> None:  # noqa: ANN001
    box = Box(tmp_path, rootfs, base_spec, name="b" * 60 + "/" + "c" * 60)
    assert len(str(box.bundle / "shim.sock")) > 108
    try:
        upper, work = tmp_path / "upper", tmp_path / "work"
        upper.mkdir()
        work.mkdir()
        box.write(["sh", "-c", "echo hi > /tmp/made && cat /tmp/made"], readonly=False,
                  mounts=[{"type": "overlay", "source": "overlay",
                           "options": [f"lowerdir={rootfs}", f"upperdir={upper}",
                                       f"workdir={work}"]}])
        box.start()
        client = box.client()
        assert client.state().status in (shim_pb2.TASK_STATUS_RUNNING,
                                          shim_pb2.TASK_STATUS_STOPPED)
        assert client.wait(timeout=10).exit_status == 0
        assert (upper / "tmp" / "made").read_text() == "hi\n"
        assert [e["log"] for e in box.log_entries()] == ["hi\n"]
        assert box.mounts() == []
        client.delete()
    finally:
        box.cleanup()
    assert not box.mounts() and not box.cgroup_dirs()


def test_client_without_a_shim(tmp_path) -> None:  # noqa: ANN001
    from pallet.shim.client import ShimClient

    with pytest.raises(errors.Unavailable):
        ShimClient(str(tmp_path / "nothing.sock")).state()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "dead.sock"))
    sock.close()  # a socket file nobody listens on
    with pytest.raises(errors.Unavailable):
        ShimClient(str(tmp_path / "dead.sock")).wait()
