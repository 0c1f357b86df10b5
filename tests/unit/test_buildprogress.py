"""palletctl build's progress printers, fed made-up events: the plain lines, the live view's frames,
its throttling, the final frame left on screen, colours and NO_COLOR, and a failed step's output."""

from __future__ import annotations

import argparse
import io
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pallet.client import _build
from pallet.client import _buildprogress as bp
from pallet.engine.v1 import engine_pb2 as pb

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def step(index: int, total: int, instruction: str, stage: str = "0") -> pb.BuildEvent:
    return pb.BuildEvent(step=pb.BuildEvent.Step(index=index, total=total, stage=stage, instruction=instruction))


def feed(printer: Any, *events: pb.BuildEvent) -> None:
    for ev in events:
        printer.event(ev.WhichOneof("event"), ev)


def screen(text: str) -> list[str]:
    """What a terminal shows after `text`: enough of VT100 for the live view's codes."""
    rows: list[str] = [""]
    row = col = 0
    i = 0
    while i < len(text):
        m = re.match(r"\x1b\[(\d*)([A-Za-z])", text[i:])
        if m:
            n, code = int(m.group(1) or 1), m.group(2)
            if code == "A":
                row = max(0, row - n)
            elif code == "K":
                rows[row] = rows[row][:col]
            elif code == "J":
                rows[row] = rows[row][:col]
                del rows[row + 1:]
            elif code == "m":
                pass
            else:
                raise AssertionError(f"unexpected escape {m.group(0)!r}")
            i += len(m.group(0))
            continue
        ch = text[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row, col = row + 1, 0
            if row == len(rows):
                rows.append("")
        else:
            line = rows[row].ljust(col)
            rows[row] = line[:col] + ch + line[col + 1:]
            col += 1
    while rows and rows[-1] == "":
        rows.pop()
    return rows


def live(clock: Clock, out: io.StringIO | None = None, color: bool = False, width: int = 60,
         height: int = 40) -> bp.Live:
    return bp.Live(out if out is not None else io.StringIO(), color=color, clock=clock,
                   size=lambda: (width, height))


# -- plain -------------------------------------------------------------------------------------


def test_plain_lines_are_unchanged() -> None:
    out = io.StringIO()
    p = bp.Plain(out)
    feed(p, pb.BuildEvent(warning="empty continuation line"),
         step(1, 3, "FROM busybox"), pb.BuildEvent(done=0.04),
         step(2, 3, "RUN echo a && echo b"), pb.BuildEvent(output=b"a\nb"), pb.BuildEvent(output=b"c\n"),
         pb.BuildEvent(done=0.42),
         step(3, 3, "COPY x /x"), pb.BuildEvent(cached=True), pb.BuildEvent(done=0.0),
         )
    p.finish()
    assert out.getvalue() == (
        "WARNING: empty continuation line\n"
        "[1/3] FROM busybox\n[1/3] DONE 0.0s\n"
        "[2/3] RUN echo a && echo b\na\nbc\n[2/3] DONE 0.4s\n"
        "[3/3] COPY x /x\n[3/3] CACHED\n[3/3] DONE 0.0s\n")


def test_plain_flushes_a_partial_line_on_failure_and_quiet_prints_nothing() -> None:
    out = io.StringIO()
    p = bp.Plain(out)
    feed(p, step(1, 1, "RUN false"), pb.BuildEvent(output=b"no newline"))
    p.finish(failed=True)
    assert out.getvalue() == "[1/1] RUN false\nno newline\n"
    q = bp.Plain(None)
    feed(q, step(1, 1, "RUN x"), pb.BuildEvent(output=b"y\n"), pb.BuildEvent(done=1))
    q.finish()


# -- choosing ----------------------------------------------------------------------------------


def test_choice_of_printer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert bp.use_tty("auto", Tty()) and not bp.use_tty("auto", io.StringIO())
    assert bp.use_tty("tty", io.StringIO()) and not bp.use_tty("plain", Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert not bp.use_tty("auto", Tty())
    assert isinstance(bp.make("auto", io.StringIO()), bp.Plain)
    assert isinstance(bp.make("tty", io.StringIO(), quiet=True), bp.Plain)
    made = bp.make("tty", io.StringIO())
    assert isinstance(made, bp.Ticking) and made.printer.color
    monkeypatch.setenv("NO_COLOR", "1")
    assert not bp.make("tty", io.StringIO()).printer.color
    assert bp.color_allowed({"NO_COLOR": ""}) and not bp.color_allowed({"NO_COLOR": "x"})


# -- the live view -----------------------------------------------------------------------------


def test_frame_lines_steps_times_and_the_running_steps_last_output() -> None:
    clock = Clock()
    v = live(clock)
    feed(v, step(1, 4, "FROM busybox"))
    clock.advance(0.3)
    feed(v, pb.BuildEvent(done=0.25), step(2, 4, "RUN echo cached"), pb.BuildEvent(cached=True),
         pb.BuildEvent(done=0.0), step(3, 4, "RUN make", stage="builder"))
    feed(v, *(pb.BuildEvent(output=f"line {i}\n".encode()) for i in range(10)))
    feed(v, pb.BuildEvent(output=b"partial"))
    clock.advance(1.3)
    lines = v.frame(clock.now)
    assert lines[0] == "[+] Building 1.6s (2/4)"
    assert re.fullmatch(r" => \[1/4\] FROM busybox +0\.2s", lines[1])  # the server's time, not ours
    assert re.fullmatch(r" => \[2/4\] RUN echo cached +CACHED", lines[2])
    assert re.fullmatch(r" => \[builder 3/4\] RUN make +1\.3s", lines[3])
    assert all(len(line) == 59 for line in lines[1:4])  # right-aligned, short of the last column
    assert lines[4:] == [f" => => # {t}" for t in ("line 5", "line 6", "line 7", "line 8", "line 9", "partial")]


def test_throttled_to_one_frame_per_interval() -> None:
    clock = Clock()
    out = io.StringIO()
    v = live(clock, out)
    feed(v, step(1, 2, "RUN seq 1000"))
    assert v.frames == 1  # the first event draws at once
    for i in range(99):  # 99 chunks within 0.495s: a frame at 0.1, 0.2, 0.3 and 0.4
        clock.advance(0.005)
        feed(v, pb.BuildEvent(output=f"{i}\n".encode()))
    assert v.frames == 1 + 4
    assert v.dirty and screen(out.getvalue())[-1] == " => => # 79"  # the last chunks are not drawn yet...
    v.tick()
    assert v.frames == 5  # ...and a tick within the interval draws nothing
    clock.advance(0.005)
    v.tick()
    assert v.frames == 6 and not v.dirty
    assert screen(out.getvalue())[-1] == " => => # 98"
    for _ in range(20):  # ticks while a step is quiet: the time moves, 10 frames a second
        clock.advance(0.05)
        v.tick()
    assert v.frames == 6 + 10
    assert re.fullmatch(r" => \[1/2\] RUN seq 1000 +1\.5s", screen(out.getvalue())[1])


def test_redraws_in_place_and_leaves_the_final_frame() -> None:
    clock = Clock()
    out = Tty()
    v = live(clock, out)
    feed(v, pb.BuildEvent(warning="MAINTAINER is deprecated"), step(1, 3, "FROM busybox"))
    clock.advance(0.2)
    feed(v, pb.BuildEvent(done=0.1), step(2, 3, "RUN build"))
    for i in range(8):
        clock.advance(0.2)
        feed(v, pb.BuildEvent(output=f"compiling {i}\n".encode()))
    shown = screen(out.getvalue())
    assert shown[:1] == ["[+] Building 1.8s (1/3)"] and shown[-1] == " => => # compiling 7"
    assert len(shown) == 1 + 2 + 6  # redrawn over itself, not appended
    clock.advance(0.05)
    feed(v, pb.BuildEvent(done=1.7), step(3, 3, "COPY a /a"), pb.BuildEvent(cached=True),
         pb.BuildEvent(done=0.0))  # within the interval: not drawn yet
    clock.advance(0.01)
    v.finish()
    final = screen(out.getvalue())
    assert final[0] == "[+] Building 1.9s (3/3) FINISHED"
    assert [re.sub(r" {2,}", "  ", line) for line in final[1:]] == [
        " => [1/3] FROM busybox  0.1s",
        " => [2/3] RUN build  1.7s",
        " => [3/3] COPY a /a  CACHED",
        "WARNING: MAINTAINER is deprecated",
    ]
    frames = v.frames
    clock.advance(1)
    v.tick()
    feed(v, pb.BuildEvent(output=b"late\n"))
    v.finish()
    assert v.frames == frames and screen(out.getvalue()) == final  # finished: nothing moves any more


def test_colour_codes_and_no_color() -> None:
    clock = Clock()
    coloured, plain = io.StringIO(), io.StringIO()
    for out, color in ((coloured, True), (plain, False)):
        v = live(clock, out, color=color)
        feed(v, step(1, 1, "RUN make"), pb.BuildEvent(output=b"cc main.c\n"))
        clock.advance(0.2)
        v.tick()
    assert f"{bp.DIM} => => # cc main.c{bp.RESET}" in coloured.getvalue()
    assert bp.BLUE in coloured.getvalue()
    text = plain.getvalue()
    assert "\x1b[2A\r" in text  # the cursor still moves to redraw...
    assert not re.search(r"\x1b\[[0-9;]*m", text)  # ...but no colour
    assert screen(text)[-1] == " => => # cc main.c"


def test_failure_prints_the_failed_steps_whole_output() -> None:
    clock = Clock()
    out = io.StringIO()
    v = live(clock, out, color=True)
    feed(v, step(1, 2, "FROM busybox"), pb.BuildEvent(done=0.0), step(2, 2, "RUN ./test.sh"))
    for i in range(40):
        feed(v, pb.BuildEvent(output=f"test {i} ok\n".encode()))
    feed(v, pb.BuildEvent(output=b"FAIL: test 40"))
    clock.advance(2.5)
    v.finish(failed=True)
    shown = [ANSI.sub("", line) for line in screen(out.getvalue())]
    assert shown[0] == "[+] Building 2.5s (1/2)"
    assert re.fullmatch(r" => ERROR \[2/2\] RUN \./test\.sh +2\.5s", shown[2])
    assert shown[3:] == ["------", " > [2/2] RUN ./test.sh:", *(f"test {i} ok" for i in range(40)),
                         "FAIL: test 40", "------"]
    assert f"{bp.RED} => ERROR [2/2]" in out.getvalue()


def test_failure_outside_a_step_and_cancel() -> None:
    clock = Clock()
    out = io.StringIO()
    v = live(clock, out)
    feed(v, step(1, 1, "RUN true"), pb.BuildEvent(output=b"x\n"), pb.BuildEvent(done=0.1))
    v.finish(failed=True)  # e.g. the image could not be written: no step to blame
    shown = screen(out.getvalue())
    assert shown[0] == "[+] Building 0.0s (1/1)"  # not FINISHED
    assert len(shown) == 2 and re.fullmatch(r" => \[1/1\] RUN true +0\.1s", shown[1])
    assert "------" not in out.getvalue()
    out = io.StringIO()
    v = live(clock, out)
    feed(v, step(1, 1, "RUN sleep 100"), pb.BuildEvent(output=b"zz\n"))
    clock.advance(3)
    v.finish(cancelled=True)
    shown = screen(out.getvalue())
    assert re.fullmatch(r" => CANCELED \[1/1\] RUN sleep 100 +3\.0s", shown[1]) and len(shown) == 2


def test_output_is_made_safe_to_draw() -> None:
    clock = Clock()
    v = live(clock, width=30)
    feed(v, step(1, 1, "RUN apt-get install -y a-very-long-list-of-packages"),
         pb.BuildEvent(output=b"\x1b[1mbold\x1b[0m\ttab\n10%\r50%\r100%\nbell\x07\n" + b"w" * 100 + b"\n"))
    lines = v.frame(clock.now)
    assert lines[1] == " => [1/1] RUN apt-get... 0.0s"  # 29 columns of 30: the last is never written
    assert lines[2:] == [" => => # bold    tab", " => => # 100%", " => => # bell",
                         " => => # " + "w" * 17 + "..."]
    assert all(len(line) <= 29 for line in lines)


def test_frame_fits_a_short_terminal_but_the_final_frame_has_every_step() -> None:
    clock = Clock()
    out = io.StringIO()
    v = live(clock, out, height=8)
    for i in range(1, 12):
        feed(v, step(i, 12, f"RUN echo {i}"), pb.BuildEvent(done=0.1))
    feed(v, step(12, 12, "RUN make"), *(pb.BuildEvent(output=f"{i}\n".encode()) for i in range(10)))
    lines = v.frame(clock.now)
    assert len(lines) == 7  # the running step and as much of its output as fits, older steps go
    assert lines[1].startswith(" => [12/12] RUN make")
    assert lines[2:] == [" => => # 5", " => => # 6", " => => # 7", " => => # 8", " => => # 9"]
    clock.advance(0.2)
    v.tick()
    feed(v, pb.BuildEvent(done=0.5))
    v.finish()
    shown = screen(out.getvalue())
    assert len(shown) == 13 and shown[0].endswith("(12/12) FINISHED")
    assert [line.split("]")[0] for line in shown[1:]] == [f" => [{i}/12" for i in range(1, 13)]


def test_a_failed_steps_kept_output_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bp, "KEEP_OUTPUT", 100)
    clock = Clock()
    out = io.StringIO()
    v = live(clock, out)
    feed(v, step(1, 1, "RUN yes"), *(pb.BuildEvent(output=b"%03d\n" % i) for i in range(100)))
    v.finish(failed=True)
    dump = out.getvalue().split("------\n")[1].splitlines()
    assert dump[1].startswith("[... ") and dump[1].endswith(" bytes of earlier output not kept ...]")
    assert dump[-1] == "099" and 20 <= len(dump) - 2 <= 50


def test_ticking_drives_ticks_from_a_thread_and_stops() -> None:
    ticked = threading.Event()

    class Printer:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def event(self, kind: str | None, ev: Any) -> None:
            self.calls.append(f"event {kind}")

        def tick(self) -> None:
            self.calls.append("tick")
            ticked.set()

        def finish(self, failed: bool = False, cancelled: bool = False) -> None:
            self.calls.append(f"finish {failed}")

    p = Printer()
    with bp.Ticking(p, interval=0.01) as t:
        t.event("done", None)
        assert ticked.wait(5)
        t.finish(failed=True)
        after = len(p.calls)
    assert not t.thread.is_alive() and p.calls[-1] == "finish True" and len(p.calls) == after


# -- palletctl build's output around the printers ----------------------------------------------


def _run_build(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], events: list[Any],
               *flags: str) -> tuple[int, str, str]:
    class Builder:
        def Build(self, requests: Iterator[Any]) -> Iterator[Any]:  # noqa: N802
            list(requests)
            for ev in events:
                if isinstance(ev, Exception):
                    raise ev
                yield ev

    class Client:
        builder = Builder()

    monkeypatch.setattr(_build, "client", lambda args: Client())
    monkeypatch.setattr(_build, "_context", lambda args: ("Dockerfile", iter([b"tar"])))
    p = argparse.ArgumentParser()
    p.add_argument("-H", "--host", default="")
    _build.add_build_flags(p)
    code = _build.cmd_build(p.parse_args([*flags, "."]))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


EVENTS = [step(1, 2, "FROM busybox"), pb.BuildEvent(done=0.01), step(2, 2, "RUN echo hi"),
          pb.BuildEvent(output=b"hi\n"), pb.BuildEvent(done=0.2), pb.BuildEvent(image_id="sha256:" + "ab" * 32)]


def test_build_plain_and_quiet(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run_build(monkeypatch, capsys, EVENTS, "-t", "app", "--progress", "plain")
    assert code == 0
    assert out == ("[1/2] FROM busybox\n[1/2] DONE 0.0s\n[2/2] RUN echo hi\nhi\n[2/2] DONE 0.2s\n"
                   "Successfully built abababababab\nSuccessfully tagged app:latest\n")
    code, out, _ = _run_build(monkeypatch, capsys, EVENTS, "-q", "--progress", "tty")
    assert (code, out) == (0, "sha256:" + "ab" * 32 + "\n")


def test_build_tty(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, _ = _run_build(monkeypatch, capsys, EVENTS, "-t", "app:2", "--progress", "tty")
    assert code == 0
    shown = screen(out)
    assert shown[0].startswith("[+] Building ") and shown[0].endswith("(2/2) FINISHED")
    assert re.fullmatch(r" => \[2/2\] RUN echo hi +0\.2s", shown[2])
    assert shown[3:] == ["Successfully built abababababab", "Successfully tagged app:2"]


def test_build_tty_failure(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pallet.client import _conn

    monkeypatch.setattr(_conn, "describe_error", lambda exc, host: f"Error response from daemon: {exc}")
    events = [*EVENTS[:4], pb.BuildEvent(output=b"boom\n"),
              RuntimeError('Dockerfile:2: process "/bin/sh -c echo hi" did not complete successfully: exit code: 1')]
    code, out, err = _run_build(monkeypatch, capsys, events, "--progress", "tty")
    assert code == 1
    shown = [ANSI.sub("", line) for line in screen(out)]
    assert shown[2].startswith(" => ERROR [2/2] RUN echo hi")
    assert shown[3:] == ["------", " > [2/2] RUN echo hi:", "hi", "boom", "------"]
    assert err.startswith("ERROR: Dockerfile:2: process") and "Successfully" not in out
