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
