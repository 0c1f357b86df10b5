"""The progress displays of `palletctl build`: plain lines, or a live BuildKit-style view on a terminal.

Both are pure: they are fed the build's events (`event(kind, ev)`, kind being the `BuildEvent`
oneof's name) and write to the stream they are given; the live view also takes its clock and the
terminal's size as functions, and only redraws when `tick()`/`event()` find at least `interval`
seconds gone since the last frame. `Ticking` is the one piece with a thread: it calls `tick()`
about ten times a second so the elapsed times move while a step is quiet.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

LOG_LINES = 6  # lines of a running RUN step's output under it
KEEP_OUTPUT = 4 << 20  # bytes of a step's output kept to show if it fails (its end)
_TAIL_BYTES = 16 << 10  # of which the live tail is taken

_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

DIM, BLUE, RED, RESET = "\x1b[2m", "\x1b[34m", "\x1b[31m", "\x1b[0m"


def use_tty(progress: str, out: TextIO) -> bool:
    """Whether --progress asks for the live view: `tty`, or `auto` on a terminal that is not dumb."""
    if progress == "tty":
        return True
    if progress != "auto":
        return False
    try:
        return out.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


def color_allowed(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """https://no-color.org: a set, non-empty NO_COLOR turns colours off."""
    return not (environ if environ is not None else os.environ).get("NO_COLOR", "")


def terminal_line(text: str) -> str:
    """One line of a program's output made safe to draw: what a \\r overwrote, escapes and controls go."""
    text = text.rstrip("\r")
    if "\r" in text:
        text = text.rsplit("\r", 1)[1]
    text = _ESCAPES.sub("", text).expandtabs(8)
    return _CONTROLS.sub("", text)


def _fit(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[:max(0, width - 3)] + "..." if width > 3 else text[:width]


def _one_line(instruction: str) -> str:
    return " ".join(instruction.split())


class Plain:
    """Plain progress: a line per step and per outcome, RUN output as it comes.

    `[2/9] RUN make`, the output lines, `[2/9] CACHED`, `[2/9] DONE 0.4s` — scripts and tests parse it.
    """

    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self.prefix = ""
        self.partial = b""

    def _print(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text + "\n")
            self.out.flush()

    def flush(self) -> None:
        if self.partial:
            self._print(self.partial.decode(errors="replace"))
            self.partial = b""

    def event(self, kind: str | None, ev: Any) -> None:
        if kind == "step":
            self.flush()
            s = ev.step
            self.prefix = f"[{s.index}/{s.total}]"
            self._print(f"{self.prefix} {s.instruction}")
        elif kind == "cached":
            self._print(f"{self.prefix} CACHED")
        elif kind == "output":
            data = self.partial + ev.output
            *lines, self.partial = data.split(b"\n")
            for line in lines:
                self._print(line.decode(errors="replace"))
        elif kind == "done":
            self.flush()
            self._print(f"{self.prefix} DONE {ev.done:.1f}s")
        elif kind == "warning":
            self._print(f"WARNING: {ev.warning}")

    def tick(self) -> None:
        pass

    def finish(self, failed: bool = False, cancelled: bool = False) -> None:
        self.flush()

    def __enter__(self) -> Plain:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Step:
    __slots__ = ("label", "started", "state", "seconds", "output", "dropped", "is_run")

    def __init__(self, label: str, started: float, is_run: bool) -> None:
        self.label = label
        self.started = started
        self.state = "running"  # running | cached | done | error | cancelled
        self.seconds = 0.0
        self.output = bytearray()
        self.dropped = 0  # bytes of output no longer kept (from its start)
        self.is_run = is_run

    def add_output(self, data: bytes) -> None:
        self.output += data
        if len(self.output) > 2 * KEEP_OUTPUT:
            cut = len(self.output) - KEEP_OUTPUT
            del self.output[:cut]
            self.dropped += cut

    def tail(self, n: int) -> list[str]:
        """The last n lines of output as they would look on a terminal (a partial line counts)."""
        if n <= 0 or not self.output:
            return []
        text = bytes(self.output[-_TAIL_BYTES:]).decode(errors="replace")
        lines = text.split("\n")
        if len(self.output) > _TAIL_BYTES and len(lines) > 1:
            lines = lines[1:]  # the first may be cut anywhere
        shown = [terminal_line(line) for line in lines]
        while shown and not shown[-1].strip():
            shown.pop()
        return shown[-n:]


class Live:
    """BuildKit-like live view for a terminal, redrawn in place at most once per `interval` seconds.

        [+] Building 3.2s (4/9)
         => [1/9] FROM busybox                        0.1s
         => [2/9] RUN echo hi                       CACHED
         => [3/9] RUN make                            1.2s
         => => # cc -o app main.c
         => => # ld: ...

    The frame is redrawn by moving the cursor up over the previous one (this works without colour,
    so NO_COLOR only drops the colour codes); `finish()` leaves the last frame, all steps and their
    times, on screen, and after a failure the failed step's whole output below it.
    """

    def __init__(self, out: TextIO, *, color: bool = True, clock: Callable[[], float] = time.monotonic,
                 size: Callable[[], tuple[int, int]] | None = None, interval: float = 0.1,
                 log_lines: int = LOG_LINES) -> None:
        self.out = out
        self.color = color
        self.clock = clock
        self.size = size or _terminal_size(out)
        self.interval = interval
        self.log_lines = log_lines
        self.started = clock()
        self.steps: list[_Step] = []
        self.total = 0
        self.warnings: list[str] = []
        self.drawn = 0  # lines of the frame now on screen
        self.last_draw: float | None = None
        self.dirty = False
        self.finished_at: float | None = None
        self.failed = False
        self.frames = 0  # frames drawn, for tests

    # -- feeding ---------------------------------------------------------------------

    def _current(self) -> _Step | None:
        if self.steps and self.steps[-1].state in ("running", "cached"):
            return self.steps[-1]
        return None

    def event(self, kind: str | None, ev: Any) -> None:
        if self.finished_at is not None:
            return
        now = self.clock()
        cur = self._current()
        if kind == "step":
            s = ev.step
            if cur is not None and cur.state == "running":  # a step with no done: take it as over
                cur.state, cur.seconds = "done", now - cur.started
            self.total = max(self.total, s.total)
            stage = s.stage if s.stage and not s.stage.isdigit() else ""
            label = f"[{stage + ' ' if stage else ''}{s.index}/{s.total}] {_one_line(s.instruction)}"
            self.steps.append(_Step(label, now, s.instruction.lstrip().upper().startswith("RUN")))
        elif kind == "cached":
            if cur is not None:
                cur.state = "cached"
        elif kind == "output":
            if cur is not None:
                cur.add_output(ev.output)
        elif kind == "done":
            if cur is not None:
                cur.seconds = ev.done
                if cur.state == "running":
                    cur.state = "done"
        elif kind == "warning":
            self.warnings.append(ev.warning)
        else:
            return
        self.dirty = True
        self._maybe_draw(now)

    def tick(self) -> None:
        """Called periodically: redraws (for the moving times) once the interval has passed."""
        if self.finished_at is None:
            self._maybe_draw(self.clock())

    def _maybe_draw(self, now: float) -> None:
        if self.last_draw is None or now - self.last_draw >= self.interval - 1e-6:
            self._draw(now, final=False)

    def finish(self, failed: bool = False, cancelled: bool = False) -> None:
        """Draw the final frame and leave it; after a failure, the failed step's full output follows."""
        if self.finished_at is not None:
            return
        now = self.clock()
        self.finished_at = now
        self.failed = failed or cancelled
        failed_step = None
        cur = self._current()
        if cur is not None and cur.state == "running":
            cur.seconds = now - cur.started
            if failed or cancelled:
                cur.state = "cancelled" if cancelled else "error"
                failed_step = cur if failed else None
            else:
                cur.state = "done"
        self._draw(now, final=True)
        tail = [f"WARNING: {w}" for w in self.warnings]
        if failed_step is not None and (failed_step.output or failed_step.dropped):
            tail += self._failure_block(failed_step)
        if tail:
            self.out.write("".join(line + "\n" for line in tail))
            self.out.flush()

    def _failure_block(self, step: _Step) -> list[str]:
        text = bytes(step.output).decode(errors="replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if step.dropped:
            lines.insert(0, f"[... {step.dropped} bytes of earlier output not kept ...]")
        return ["------", f" > {step.label}:", *(line.rstrip("\r") for line in lines), "------"]

    # -- drawing ---------------------------------------------------------------------

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color and code else text

    def frame(self, now: float, final: bool = False) -> list[str]:
        """The lines of the frame at `now` (no cursor codes; colour codes when allowed)."""
        width, height = self.size()
        width = max(20, width - 1)  # never the last column: no wrap, whatever the terminal does
        elapsed = (self.finished_at if self.finished_at is not None else now) - self.started
        done = sum(1 for s in self.steps if s.state in ("done", "cached"))
        header = f"[+] Building {elapsed:.1f}s ({done}/{max(self.total, len(self.steps))})"
        if final and not self.failed and self.steps and all(s.state in ("done", "cached") for s in self.steps):
            header += " FINISHED"
        lines = [self._paint(BLUE if not final else "", _fit(header, width))]
        step_lines: list[str] = []
        logs: list[str] = []
        for step in self.steps:
            if step.state == "cached":
                right, code, prefix = "CACHED", "", " => "
            elif step.state == "running":
                right, code, prefix = f"{now - step.started:.1f}s", BLUE, " => "
            elif step.state == "error":
                right, code, prefix = f"{step.seconds:.1f}s", RED, " => ERROR "
            elif step.state == "cancelled":
                right, code, prefix = f"{step.seconds:.1f}s", RED, " => CANCELED "
            else:
                right, code, prefix = f"{step.seconds:.1f}s", "", " => "
            left = _fit(prefix + step.label, width - len(right) - 1)
            step_lines.append(self._paint(code, left + " " * (width - len(left) - len(right)) + right))
            if step.state == "running" and step.is_run and not final:
                logs = [self._paint(DIM, _fit(" => => # " + line, width)) for line in step.tail(self.log_lines)]
        if not final:  # the frame must fit on the screen (less a line) to be redrawn in place
            room = max(1, height - 1 - len(lines))
            logs = logs[max(0, len(logs) - (room - 1)):] if room > 1 else []
            keep = max(1, room - len(logs))
            step_lines = step_lines[max(0, len(step_lines) - keep):]
        return lines + step_lines + logs

    def _draw(self, now: float, final: bool) -> None:
        lines = self.frame(now, final)
        parts = []
        if self.drawn:
            parts.append(f"\x1b[{self.drawn}A\r")
        parts += [line + "\x1b[K\n" for line in lines]
        if len(lines) < self.drawn:
            parts.append("\x1b[J")  # a shorter frame: clear what the last one left below
        self.out.write("".join(parts))
        self.out.flush()
        self.drawn = len(lines)
        self.last_draw = now
        self.dirty = False
        self.frames += 1


def _terminal_size(out: TextIO) -> Callable[[], tuple[int, int]]:
    def size() -> tuple[int, int]:
        try:
            cols, rows = os.get_terminal_size(out.fileno())
        except (AttributeError, ValueError, OSError):
            return 80, 24
        return cols or 80, rows or 24

    return size


class Ticking:
    """Runs a printer's `tick()` every `interval` seconds from a thread while the build streams.

    Events, ticks and `finish()` go through one lock so frames never interleave.
    """

    def __init__(self, printer: Any, interval: float = 0.1) -> None:
        self.printer = printer
        self.interval = interval
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="build-progress", daemon=True)

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            with self.lock:
                self.printer.tick()

    def __enter__(self) -> Ticking:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join()

    def event(self, kind: str | None, ev: Any) -> None:
        with self.lock:
            self.printer.event(kind, ev)

    def tick(self) -> None:
        with self.lock:
            self.printer.tick()

    def finish(self, failed: bool = False, cancelled: bool = False) -> None:
        self._stop()
        with self.lock:
            self.printer.finish(failed=failed, cancelled=cancelled)


def make(progress: str, out: TextIO, quiet: bool = False) -> Any:
    """The printer --progress asks for: `Plain` (None stream when quiet) or a ticking `Live`."""
    if quiet or progress == "quiet":
        return Plain(None)
    if use_tty(progress, out):
        return Ticking(Live(out, color=color_allowed()))
    return Plain(out)
