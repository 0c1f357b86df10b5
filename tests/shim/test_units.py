"""The shim's pieces without a container: framing, log format, errors, options."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pallet import errors
from pallet.shim import _logfile, protocol
from pallet.shim._runtime import last_error, trim_error
from pallet.shim.client import parse_start_reply, start_command
from pallet.shim.main import UsageError, parse_start


def test_frames_roundtrip_in_pieces() -> None:
    frames = protocol.pack(1, 1, b"hello") + protocol.pack(3, 2, b"") + protocol.pack(5, 1, b"x" * 70000)
    assert frames[:10] == bytes([0, 0, 0, 5, 0, 0, 0, 1, 1, 0])
    dec = protocol.Decoder()
    got = []
    for i in range(0, len(frames), 7):
        got += dec.feed(frames[i:i + 7])
    assert got == [(1, 1, 0, b"hello"), (3, 2, 0, b""), (5, 1, 0, b"x" * 70000)]
    assert dec.pending == 0


def test_oversized_frame_is_refused() -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.Decoder().feed(protocol.HEADER.pack(protocol.MAX_PAYLOAD + 1, 1, 1, 0))


def test_json_log_lines_partial_and_eof(tmp_path) -> None:  # noqa: ANN001
    log = _logfile.JsonFileLog(str(tmp_path / "sub" / "c.log"))
    log.feed("stdout", b"a\nb")
    log.feed("stderr", b"err \xff\n")
    log.feed("stdout", b"c\n" + b"z" * (_logfile.MAX_PARTIAL + 10))
    log.feed("stdout", b"\xc3\xa9\n")
    log.feed("stdout", b"tail")
    log.close()
    entries = [json.loads(x) for x in (tmp_path / "sub" / "c.log").read_text().splitlines()]
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "a\n"),
        ("stderr", "err \ufffd\n"),
        ("stdout", "bc\n"),
        ("stdout", "z" * _logfile.MAX_PARTIAL),
        ("stdout", "z" * 10 + "é\n"),
        ("stdout", "tail"),
    ]


@pytest.mark.parametrize(("raw", "want"), [
    ('runc create failed: unable to start container process: exec: "nope": executable file '
     'not found in $PATH', 'exec: "nope": executable file not found in $PATH'),
    ("runc run failed: container with given ID already exists", "container with given ID already exists"),
    ('time="2026-01-01T00:00:00Z" level=error msg="container does not exist"',
     "container does not exist"),
    ("plain message", "plain message"),
])
def test_trim_error(raw: str, want: str) -> None:
    assert trim_error(raw) == want


def test_last_error_reads_after_offset(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "runc.log"
    old = json.dumps({"level": "error", "msg": "old"}) + "\n"
    p.write_text(old + json.dumps({"level": "warning", "msg": "w"}) + "\n"
                 + json.dumps({"level": "error", "msg": "new"}) + "\nnot json\n")
    assert last_error(str(p), len(old)) == "new"
    assert last_error(str(p), p.stat().st_size) == ""


def test_parse_start_options() -> None:
    opts = parse_start(["--id", "c1", "--bundle=/b", "--runtime-root", "/r", "--log-path", "/l",
                        "--debug"])
    assert opts == {"id": "c1", "bundle": "/b", "runtime": "runc", "runtime-root": "/r",
                    "log-path": "/l", "debug": True}
    with pytest.raises(UsageError, match="missing --log-path"):
        parse_start(["--id", "c1", "--bundle", "/b", "--runtime-root", "/r"])
    with pytest.raises(UsageError):
        parse_start(["--id"])
    with pytest.raises(UsageError):
        parse_start(["--bogus", "x"])


def test_start_reply_parsing() -> None:
    assert parse_start_reply(0, b'{"pid": 5, "shim_pid": 4, "address": "/b/shim.sock"}\n') == {
        "pid": 5, "shim_pid": 4, "address": "/b/shim.sock"}
    with pytest.raises(errors.FailedPrecondition, match="no such"):
        parse_start_reply(1, '{"error": "no such thing"}\n')
    with pytest.raises(errors.Internal, match="boom"):
        parse_start_reply(1, b"", b"Traceback...\nboom\n")
    argv = start_command("c1", "/b", runtime_root="/r", log_path="/l", argv_prefix=["shim"])
    assert argv == ["shim", "start", "--id", "c1", "--bundle", "/b", "--runtime", "runc",
                    "--runtime-root", "/r", "--log-path", "/l"]


def test_missing_config_is_an_error_reply(tmp_path) -> None:  # noqa: ANN001
    proc = subprocess.run(
        [sys.executable, "-m", "pallet.shim", "start", "--id", "x", "--bundle", str(tmp_path),
         "--runtime-root", str(tmp_path / "r"), "--log-path", str(tmp_path / "l")],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "config.json" in json.loads(proc.stdout)["error"]
    assert not os.path.exists(tmp_path / "shim.sock")


def test_shim_imports_stay_lean() -> None:
    code = ("import sys; import pallet.shim.main, pallet.shim.server, pallet.shim.client; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('grpc', 'asyncio', 'structlog', 'logging')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_data_frames_and_eof_flag() -> None:
    frame = protocol.pack(protocol.STREAM_STDERR, protocol.TYPE_DATA, b"", protocol.FLAG_EOF)
    assert frame == bytes([0, 0, 0, 0, 0, 0, 0, 2, 3, 1])
    assert protocol.Decoder().feed(frame) == [(2, 3, 1, b"")]


def test_start_flags() -> None:
    opts = parse_start(["--id", "c", "--bundle", "/b", "--runtime-root", "/r", "--log-path", "/l",
                        "--create-only", "--stdin"])
    assert opts["create-only"] is True and opts["stdin"] is True
    argv = start_command("c1", "/b", runtime_root="/r", log_path="/l", argv_prefix=["shim"],
                         create_only=True, stdin=True)
    assert argv[-2:] == ["--create-only", "--stdin"]


def test_exec_ids_and_start_exit_status() -> None:
    from pallet.errors import exit_code_for_start_error as start_exit_status
    from pallet.shim._exec import valid_exec_id

    assert all(valid_exec_id(x) for x in ("e1", "exec-1.2_x", "A" * 128))
    assert not any(valid_exec_id(x) for x in ("", ".hidden", "../x", "a/b", "é", "A" * 129, "a b"))
    assert start_exit_status('exec: "nope": executable file not found in $PATH') == 127
    assert start_exit_status("exec: /etc: permission denied") == 126
    assert start_exit_status("something else") == 128


def test_oom_file_and_count(tmp_path) -> None:  # noqa: ANN001
    from pallet.shim import _cgroup

    v1 = tmp_path / "v1"
    d = v1 / "memory" / "parent" / "ctr"
    d.mkdir(parents=True)
    (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    where = _cgroup.oom_file("/parent/ctr", root=str(v1))
    assert where == (str(d / "memory.oom_control"), "oom_kill")
    assert _cgroup.oom_kills(where) == 2
    assert _cgroup.oom_kills(_cgroup.oom_file("/parent/missing", root=str(v1))) == 0
    v2 = tmp_path / "v2"
    d2 = v2 / "system.slice" / "pallet-c1.scope"
    d2.mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("memory\n")
    (d2 / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    where = _cgroup.oom_file("system.slice:pallet:c1", root=str(v2))
    assert where == (str(d2 / "memory.events"), "oom_kill") and _cgroup.oom_kills(where) == 1
    assert _cgroup._systemd_path("user-1000.slice:p:x") == "user.slice/user-1000.slice/p-x.scope"
    assert _cgroup.oom_file("", root=str(tmp_path / "none")) is None
    own = _cgroup._from_proc(os.getpid(), v1=True).rstrip("/")
    rel = _cgroup.oom_file("rel/c", root=str(v1))
    assert rel is not None and rel[0] == str(v1 / "memory") + f"{own}/rel/c/memory.oom_control"
    # no cgroupsPath: the process's own cgroup
    mine = _cgroup._from_proc(os.getpid(), v1=os.path.isdir("/sys/fs/cgroup/memory"))
    assert mine.startswith("/")


def test_console_socket_receives_the_master(tmp_path) -> None:  # noqa: ANN001
    import socket

    from pallet.shim import _tty

    long_dir = tmp_path / ("d" * 100)
    long_dir.mkdir()
    for bundle in (tmp_path, long_dir):
        master, slave = os.openpty()
        try:
            with _tty.ConsoleSocket(str(bundle)) as cs:
                assert (bundle == long_dir) == (not cs.path.startswith(str(bundle)))
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(cs.path)
                    socket.send_fds(s, [b"/dev/pts/9"], [master])
                got = cs.receive(timeout=2)
            try:
                assert not os.get_inheritable(got) and not os.get_blocking(got)
                _tty.set_winsize(got, 132, 43)
                import fcntl
                import struct
                import termios

                rows, cols, _, _ = struct.unpack(
                    "HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))
                assert (rows, cols) == (43, 132)
                assert _tty.eof_char(got) == b"\x04"
            finally:
                os.close(got)
            assert not os.path.exists(cs.path)
            if cs.tmpdir:
                assert not os.path.exists(cs.tmpdir)
        finally:
            os.close(master)
            os.close(slave)
    with _tty.ConsoleSocket(str(tmp_path)) as cs, pytest.raises(OSError):
        cs.receive(timeout=0.05)


def test_attachment_reads_frames_and_sends_stdin() -> None:
    import socket

    from pallet.shim.client import Attachment

    a, b = socket.socketpair()
    att = Attachment(a, "test")
    b.sendall(protocol.pack(1, protocol.TYPE_DATA, b"out")
              + protocol.pack(7, protocol.TYPE_RESPONSE, b"")  # not data: skipped
              + protocol.pack(2, protocol.TYPE_DATA, b"", protocol.FLAG_EOF))
    assert att.recv() == (1, b"out")
    assert att.recv() == (2, None)
    att.send_stdin(b"in")
    att.close_stdin()
    dec = protocol.Decoder()
    frames: list = []
    while len(frames) < 2:
        frames += dec.feed(b.recv(100))
    assert frames == [(0, 3, 0, b"in"), (0, 3, 1, b"")]
    b.close()
    assert att.recv() == (None, None)
    assert att.recv() == (None, None)
    att.close()
    with pytest.raises(errors.Unavailable):
        att.send_stdin(b"late")
