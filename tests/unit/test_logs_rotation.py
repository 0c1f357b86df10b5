"""Rotated json-file logs: the engine's reader (tail, since, until, follow) and the shim's writer."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pallet import errors
from pallet.engine import _logs
from pallet.shim import _logfile

T0 = _logs.parse_time("2026-11-28T12:00:00Z")


def entry(i: int, stream: str = "stdout") -> str:
    ts = f"2026-11-28T12:{i // 60:02d}:{i % 60:02d}.000000001Z"
    return json.dumps({"log": f"line {i}\n", "stream": stream, "time": ts}) + "\n"


def write(path: Path, numbers: range, mode: str = "a") -> None:
    with open(path, mode) as f:
        f.write("".join(entry(i) for i in numbers))


def rotate(path: Path, max_files: int = 3) -> None:
    """What the shim does: log.N-1 -> log.N ... log -> log.1, a new empty log."""
    oldest = Path(f"{path}.{max_files - 1}")
    oldest.unlink(missing_ok=True)
    for n in range(max_files - 1, 1, -1):
        if Path(f"{path}.{n - 1}").exists():
            os.rename(f"{path}.{n - 1}", f"{path}.{n}")
    os.rename(path, f"{path}.1")
    path.touch()


def nums(entries: Iterator[_logs.Entry] | list[_logs.Entry]) -> list[int]:
    return [int(e.data.split()[1]) for e in entries]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """log.2 = 0..9, log.1 = 10..19, log = 20..29 and a partial line."""
    path = tmp_path / "c-json.log"
    write(Path(f"{path}.2"), range(0, 10))
    write(Path(f"{path}.1"), range(10, 20))
    write(path, range(20, 30))
    with open(path, "a") as f:
        f.write('{"log":"partial')
    return path


# -- reading rotated files ----------------------------------------------------------


def test_reads_rotated_files_oldest_first(log: Path) -> None:
    assert nums(_logs.read(str(log))) == list(range(30))
    assert _logs.rotated_paths(str(log)) == [f"{log}.2", f"{log}.1"]


def test_tail_across_files(log: Path) -> None:
    assert nums(_logs.read(str(log), tail=5)) == list(range(25, 30))
    assert nums(_logs.read(str(log), tail=15)) == list(range(15, 30))
    assert nums(_logs.read(str(log), tail=25)) == list(range(5, 30))
    assert nums(_logs.read(str(log), tail=100)) == list(range(30))
    assert list(_logs.read(str(log), tail=0)) == []


def test_tail_reads_backwards_over_block_boundaries(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for block in (1, 7, 64, 100, 1000):
        monkeypatch.setattr(_logs, "_BLOCK", block)
        for n in (1, 2, 9, 10, 11, 29, 30, 31):
            assert nums(_logs.read(str(log), tail=n)) == list(range(max(0, 30 - n), 30)), (block, n)


def test_since_and_until_across_files(log: Path) -> None:
    since = T0 + 8 * 1_000_000_000
    assert nums(_logs.read(str(log), since_ns=since)) == list(range(8, 30))
    until = T0 + 21 * 1_000_000_000 + 1
    assert nums(_logs.read(str(log), since_ns=since, until_ns=until)) == list(range(8, 22))
    # tail counts only what since/until let through
    assert nums(_logs.read(str(log), tail=3, until_ns=until)) == [19, 20, 21]
    assert nums(_logs.read(str(log), tail=30, since_ns=since)) == list(range(8, 30))


def test_only_numbered_files_count(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    write(path, range(5, 6))
    write(Path(f"{path}.3"), range(0, 2))  # a gap is fine: order is by number
    write(Path(f"{path}.1"), range(2, 5))
    for junk in (".gz", ".01", ".x", ".1.gz", "-old"):
        write(Path(f"{path}{junk}"), range(90, 91))
    assert nums(_logs.read(str(path))) == list(range(6))
    assert nums(_logs.read(str(path), tail=4)) == [2, 3, 4, 5]


def test_rotated_files_without_a_live_one(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    write(Path(f"{path}.1"), range(3))  # caught between the rename and the new file
    assert nums(_logs.read(str(path))) == [0, 1, 2]
    assert list(_logs.read(str(tmp_path / "nothing.log"))) == []


# -- following across rotations ---------------------------------------------------


def script(*steps: Callable[[], None]) -> tuple[Callable[[], bool], Callable[[float], None]]:
    """done/wait callbacks for read(): each wait() runs the next step; done once all have run."""
    todo = list(steps)

    def wait(_t: float) -> None:
        if todo:
            todo.pop(0)()

    return (lambda: not todo), wait


def test_follow_across_a_rotation_done_while_waiting(log: Path) -> None:
    write(log, range(20, 30), mode="w")  # no partial line: the writer adds to the file

    def step1() -> None:  # lines into the old file, rotate, lines into the new one
        write(log, range(30, 32))
        rotate(log)
        write(log, range(32, 35))

    def step2() -> None:
        write(log, range(35, 37))

    done, wait = script(step1, step2)
    assert nums(_logs.read(str(log), tail=2, follow=True, done=done, wait=wait)) == list(range(28, 37))


def test_follow_from_the_start_reads_every_file(log: Path) -> None:
    write(log, range(20, 30), mode="w")

    def step() -> None:
        rotate(log)
        write(log, range(30, 31))

    done, wait = script(step)
    assert nums(_logs.read(str(log), follow=True, done=done, wait=wait)) == list(range(31))


def test_follow_behind_by_several_rotations(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    write(path, range(2))

    def burst() -> None:  # three rotations before the reader looks again
        write(path, range(2, 4))
        for k in range(3):
            rotate(path, max_files=5)
            write(path, range(4 + 2 * k, 6 + 2 * k))

    done, wait = script(burst, lambda: write(path, range(10, 11)))
    assert nums(_logs.read(str(path), follow=True, start_at_end=True, done=done, wait=wait)) == \
        list(range(2, 11))


def test_follow_when_the_held_file_was_rotated_out(tmp_path: Path) -> None:
    """max-file 1 (or a reader far behind): the old file is gone; the new one is read whole."""
    path = tmp_path / "c-json.log"
    write(path, range(3))

    def replace() -> None:
        write(path, range(3, 4))
        path.unlink()
        write(path, range(4, 6))

    done, wait = script(replace)
    assert nums(_logs.read(str(path), tail=1, follow=True, done=done, wait=wait)) == [2, 3, 4, 5]


def test_follow_a_file_truncated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    write(path, range(5))
    done, wait = script(lambda: write(path, range(5, 7), mode="w"))
    assert nums(_logs.read(str(path), follow=True, done=done, wait=wait)) == list(range(7))


def test_follow_waits_for_the_file_and_through_a_missing_moment(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"

    def mid_rotation() -> None:  # renamed, the new file not there yet
        write(path, range(1, 2))
        os.rename(path, f"{path}.1")

    done, wait = script(lambda: write(path, range(1)), mid_rotation, lambda: write(path, range(2, 3)))
    assert nums(_logs.read(str(path), follow=True, done=done, wait=wait)) == [0, 1, 2]


def test_follow_until_stops_inside_the_rotated_files(log: Path) -> None:
    until = T0 + 12 * 1_000_000_000
    assert nums(_logs.read(str(log), until_ns=until, follow=True, done=lambda: False,
                           wait=lambda t: None)) == list(range(12))


def test_follow_the_shims_writer(tmp_path: Path) -> None:
    """The real writer rotating (3 files of 1 KiB) while a reader follows: nothing lost or repeated."""
    path = tmp_path / "c-json.log"
    writer = _logfile.JsonFileLog(str(path), max_size=1024, max_files=3)
    batches = list(range(0, 200, 10))

    def wait(_t: float) -> None:  # ~0.5 KiB per call: the reader never falls 2 files behind
        if batches:
            start = batches.pop(0)
            writer.feed("stdout", "".join(f"line {i}\n" for i in range(start, start + 10)).encode())

    got = nums(_logs.read(str(path), follow=True, done=lambda: not batches, wait=wait))
    writer.close()
    assert got == list(range(200))
    assert writer.rotations >= 5 and writer.errors == 0


# -- the shim's writer ----------------------------------------------------------------


def lines_of(path: Path) -> list[str]:
    return [json.loads(raw)["log"] for raw in path.read_bytes().splitlines()]


def test_writer_rotates_by_size_with_dockers_names(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "c.log"
    w = _logfile.JsonFileLog(str(path), max_size=1000, max_files=3)
    for i in range(100):
        w.feed("stdout", f"line {i:03d}\n".encode())
    # one feed with many lines is split between files at line boundaries
    w.feed("stderr", b"".join(f"burst {i:03d}\n".encode() for i in range(30)))
    w.close()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["c.log", "c.log.1", "c.log.2"]
    files = [Path(f"{path}.2"), Path(f"{path}.1"), path]
    assert all(0 < p.stat().st_size <= 1000 for p in files)
    logged = [x for p in files for x in lines_of(p)]
    everything = [f"line {i:03d}\n" for i in range(100)] + [f"burst {i:03d}\n" for i in range(30)]
    assert logged == everything[-len(logged):]
    assert all(p.read_bytes().endswith(b"\n") for p in files)


def test_writer_one_file_and_oversized_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    Path(f"{path}.7").write_text("stale\n")
    w = _logfile.JsonFileLog(str(path), max_size=200, max_files=1)
    assert not Path(f"{path}.7").exists()  # beyond max-files: dropped
    w.feed("stdout", b"a" * 500 + b"\n")  # bigger than max-size on its own: still whole
    w.feed("stdout", b"b\n")
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == ["c.log"]
    assert lines_of(path) == ["b\n"]


def test_writer_reopens_where_it_left_off(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    w = _logfile.JsonFileLog(str(path), max_size=300, max_files=2)
    w.feed("stdout", b"first\n")
    w.close()
    w = _logfile.JsonFileLog(str(path), max_size=300, max_files=2)
    assert w.size == path.stat().st_size > 0
    for i in range(10):
        w.feed("stdout", f"again {i}\n".encode())
    w.close()
    assert path.stat().st_size <= 300 and Path(f"{path}.1").stat().st_size <= 300


def test_writer_without_rotation_and_defaults(tmp_path: Path) -> None:
    w = _logfile.JsonFileLog(str(tmp_path / "c.log"))
    assert (w.max_size, w.max_files, w.driver) == (0, 1, "json-file")
    for _ in range(100):
        w.feed("stdout", b"x" * 100 + b"\n")
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == ["c.log"]
    try:
        _logfile.configure(max_size=5000, max_files=4)
        w = _logfile.JsonFileLog(str(tmp_path / "d.log"))
        assert (w.max_size, w.max_files) == (5000, 4)
        w.close()
    finally:
        _logfile.configure()
    with pytest.raises(ValueError):
        _logfile.configure(max_files=0)
    with pytest.raises(ValueError):
        _logfile.JsonFileLog(str(tmp_path / "e.log"), driver="syslog")


def test_writer_none_driver_keeps_nothing(tmp_path: Path) -> None:
    w = _logfile.JsonFileLog(str(tmp_path / "sub" / "c.log"), driver="none")
    w.feed("stdout", b"hello\n")
    w.feed("stderr", b"partial")
    w.close()
    assert list(tmp_path.iterdir()) == []


# -- log options ------------------------------------------------------------------


def test_parse_log_opts() -> None:
    assert _logs.parse_log_opts({}) == (10_000_000, 3)
    assert _logs.parse_log_opts({"max-size": "10m", "max-file": "3"}) == (10_000_000, 3)
    assert _logs.parse_log_opts({"max-size": "500k"}) == (500_000, 3)
    assert _logs.parse_log_opts({"max-size": "1g", "max-file": "1"}) == (1_000_000_000, 1)
    assert _logs.parse_log_opts({"max-size": "4096", "compress": "false"}) == (4096, 3)
    assert _logs.parse_log_opts({"max-size": "1.5MB"})[0] == 1_500_000
    assert _logs.parse_log_opts({"max-size": "2 KiB"})[0] == 2000  # SI, as Docker's json-file
    assert _logs.parse_log_opts({"max-size": "7b"})[0] == 7
    assert _logs.parse_log_opts({"max-file": "+5"})[1] == 5
    bad = [{"max-size": ""}, {"max-size": "0"}, {"max-size": "-1m"}, {"max-size": "10x"},
           {"max-size": "10mbb"}, {"max-size": "m"}, {"max-file": "0"}, {"max-file": "two"},
           {"max-file": "1.5"}, {"compress": "true"}, {"compress": "maybe"}, {"tag": "x"},
           {"labels": "a"}, {"max-files": "3"}]
    for opts in bad:
        with pytest.raises(errors.InvalidArgument):
            _logs.parse_log_opts(opts)


def test_follow_sees_every_line_while_the_writer_rotates_fast(tmp_path: Path) -> None:
    """Rotations every few lines, with many files kept: no file is skipped or read twice."""
    import threading
    import time

    log = tmp_path / "c.log"
    writer = _logfile.JsonFileLog(str(log), max_size=400, max_files=100_000)
    count = 3000
    finished = threading.Event()

    def produce() -> None:
        try:
            for i in range(count):
                writer.feed("stdout", f"line {i}\n".encode())
                if i % 50 == 0:
                    time.sleep(0.0005)  # let the reader fall behind and catch up
        finally:
            writer.close()
            finished.set()

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        got = nums(_logs.read(str(log), follow=True, done=finished.is_set,
                              wait=lambda t: finished.wait(min(t, 0.001))))
    finally:
        thread.join()
    assert writer.rotations > 500
    assert got == list(range(count))


def test_a_torn_listing_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listing made while the writer renamed files (a gap in .1 ... .N) is taken again."""
    log = tmp_path / "c.log"
    write(log, range(0, 2))
    rotate(log, max_files=10)
    write(log, range(2, 4))
    rotate(log, max_files=10)
    write(log, range(4, 6))
    # mid-rotation: log.2 -> log.3 is done, log.1 -> log.2 is not yet
    os.rename(f"{log}.2", f"{log}.3")
    real = _logs.rotated_paths
    calls = []

    def listing(path: str) -> list[str]:
        calls.append(path)
        if len(calls) == 3:  # the writer finishes its rotation while the reader waits
            os.rename(f"{log}.1", f"{log}.2")
            os.rename(log, f"{log}.1")
            log.touch()
        return real(path)

    monkeypatch.setattr(_logs, "rotated_paths", listing)
    assert nums(_logs.read(str(log))) == list(range(6))
    assert len(calls) > 3
