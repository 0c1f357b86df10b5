"""Log rotation and the none log driver in pallet-shim, against real runc."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from pallet.engine import _logs
from pallet.shim.client import start_command, start_shim

from .conftest import RUNC, Box
from .streams import read_all

MAX = 16 * 1024
LINES = 2000
# 2000 lines of ~100 bytes: ~200 KB of output, ~340 KB of json-file log
WRITER = ["sh", "-c", f"i=0; while [ $i -lt {LINES} ]; do printf 'line %05d {'x' * 88}\\n' $i; "
                      "i=$((i+1)); done"]
LINE_RE = re.compile(r"^line (\d{5}) x{88}\n$")


def start(box: Box, args: list[str], create_only: bool = False, **log: Any) -> dict:
    """box.start() with log options."""
    box.write(args)
    try:
        reply = start_shim(box.id, str(box.bundle), runtime=RUNC, runtime_root=str(box.runtime_root),
                           log_path=str(box.log_path), debug=True, timeout=20,
                           create_only=create_only, **log)
    finally:
        box._note_pids()
    box.shim_pids.add(reply["shim_pid"])
    box.init_pids.add(reply["pid"])
    return reply


def numbers(path: Path) -> list[int]:
    """The line numbers logged in one file, checking each entry on the way."""
    out = []
    for raw in path.read_bytes().splitlines(keepends=True):
        assert raw.endswith(b"\n")
        entry = json.loads(raw)
        assert entry["stream"] == "stdout"
        m = LINE_RE.match(entry["log"])
        assert m, entry
        out.append(int(m.group(1)))
    return out


def test_start_command_log_flags() -> None:
    argv = start_command("c1", "/b", runtime_root="/r", log_path="/l", argv_prefix=["shim"],
                         log_max_size=MAX, log_max_files=3, log_driver="none")
    assert argv[argv.index("--log-max-size") + 1] == str(MAX)
    assert argv[argv.index("--log-max-files") + 1] == "3"
    assert argv[argv.index("--log-driver") + 1] == "none"
    plain = start_command("c1", "/b", runtime_root="/r", log_path="/l", argv_prefix=["shim"])
    assert not [a for a in plain if a.startswith("--log-m") or a == "--log-driver"]


def test_rotation_keeps_max_files_of_max_size(box: Box) -> None:
    start(box, WRITER, log_max_size=MAX, log_max_files=3)
    assert box.client().wait(timeout=20).exit_status == 0
    log = box.log_path
    assert sorted(p.name for p in log.parent.iterdir()) == [
        log.name, log.name + ".1", log.name + ".2"]
    files = [Path(f"{log}.2"), Path(f"{log}.1"), log]  # oldest first
    sizes = [p.stat().st_size for p in files]
    line_size = len(log.read_bytes().splitlines(keepends=True)[0])
    # never past the limit (lines are not split), and the rotated ones were full
    assert all(s <= MAX for s in sizes), sizes
    assert all(s > MAX - 2 * line_size for s in sizes[:2]), sizes
    # the newest output is all there, whole and in order, up to the last line
    got = [n for p in files for n in numbers(p)]
    assert got == list(range(got[0], LINES))
    assert got[0] > 0  # the oldest was dropped
    # the engine's reader sees the same, across the files
    entries = list(_logs.read(str(log)))
    assert [int(e.data[5:10]) for e in entries] == got
    assert [int(e.data[5:10]) for e in _logs.read(str(log), tail=300)] == got[-300:]
    since = entries[-5].time_ns
    assert all(e.time_ns >= since for e in _logs.read(str(log), since_ns=since))


def test_single_file_is_replaced_when_full(box: Box) -> None:
    box.log_path.parent.mkdir(parents=True)
    stale = Path(f"{box.log_path}.4")
    stale.write_text("from a run with more files\n")
    start(box, WRITER, log_max_size=MAX, log_max_files=1)
    assert box.client().wait(timeout=20).exit_status == 0
    assert [p.name for p in box.log_path.parent.iterdir()] == [box.log_path.name]
    assert box.log_path.stat().st_size <= MAX
    got = numbers(box.log_path)
    assert got == list(range(got[0], LINES)) and got[0] > 0


def test_follow_keeps_up_with_rotations(box: Box) -> None:
    """A reader following the log while the shim rotates it sees every line once, in order."""
    box.log_path.parent.mkdir(parents=True)
    box.log_path.touch()
    exited = threading.Event()
    start(box, ["sh", "-c", "sleep 0.3; " + WRITER[2]], log_max_size=4096, log_max_files=1000)
    client = box.client(timeout=None)

    def wait_exit() -> None:
        try:
            client.wait(timeout=20)
        finally:
            exited.set()

    waiter = threading.Thread(target=wait_exit, daemon=True)
    waiter.start()
    seen = [int(e.data[5:10]) for e in _logs.read(str(box.log_path), follow=True, done=exited.is_set,
                                                  wait=lambda t: exited.wait(min(t, 0.01)))]
    waiter.join(5)
    rotated = _logs.rotated_paths(str(box.log_path))
    assert len(rotated) > 50  # it did rotate, a lot, while we followed
    assert seen == list(range(LINES))


def test_log_driver_none_writes_no_file_but_attach_gets_output(box: Box) -> None:
    start(box, ["sh", "-c", "echo out; echo err >&2"], create_only=True, log_driver="none")
    client = box.client()
    with client.attach() as att:
        client.start()
        out, eofs = read_all(att)
    assert out == {1: b"out\n", 2: b"err\n"} and sorted(eofs) == [1, 2]
    assert client.wait(timeout=10).exit_status == 0
    assert not box.log_path.exists()
    assert not box.log_path.parent.exists() or list(box.log_path.parent.iterdir()) == []
