"""Bookkeeping for the processes a shim runs: the container's init and its execs.

A Process owns the shim's ends of its stdio: the read ends of its stdout and
stderr pipes (or the pty master, read as "stdout"), the write end of its stdin
(a pipe, or a dup of the pty master) with what is waiting to be written, and
the clients attached to it. The server wires these fds into its loop.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pallet.shim._attach import Attacher

CREATED, RUNNING, PAUSED, STOPPED = "created", "running", "paused", "stopped"


class Process:
    __slots__ = (
        "exec_id", "terminal", "stdin", "logged", "pid", "started_at_ns", "exit_status",
        "exited_at_ns", "outputs", "master", "winsize", "stdin_fd", "stdin_buf", "stdin_eof",
        "stdin_closed", "stdin_writing", "stdin_paused", "stdin_nl", "attachers",
        "output_done", "drain_deadline", "done",
    )

    def __init__(self, exec_id: str, *, terminal: bool, stdin: bool, logged: bool) -> None:
        self.exec_id = exec_id
        self.terminal = terminal
        self.stdin = stdin  # the process gets a stdin the shim holds
        self.logged = logged  # output goes to the container's json-file log
        self.pid = 0
        self.started_at_ns = 0
        self.exit_status: int | None = None
        self.exited_at_ns = 0
        self.outputs: dict[int, str] = {}  # read end fd (or pty master) -> "stdout" | "stderr"
        self.master = -1  # pty master
        self.winsize: tuple[int, int] | None = None  # (width, height) to apply to the pty
        self.stdin_fd = -1  # write end: pipe or dup of the pty master
        self.stdin_buf = bytearray()  # received from attachers, not yet written
        self.stdin_eof = False  # close stdin once the buffer is written
        self.stdin_closed = False
        self.stdin_writing = False  # stdin_fd is registered for EVENT_WRITE
        self.stdin_paused = False  # attachers' stdin not read while the buffer is full
        self.stdin_nl = True  # the last byte written to a terminal ended a line
        self.attachers: list[Attacher] = []
        self.output_done = False  # stdout/stderr reached EOF; attachers were ended
        self.drain_deadline: float | None = None
        self.done = False  # exited and stdio closed

    @property
    def is_init(self) -> bool:
        return not self.exec_id

    @property
    def name(self) -> str:
        return f"exec {self.exec_id}" if self.exec_id else "container"

    @property
    def running(self) -> bool:
        return bool(self.started_at_ns) and self.exit_status is None

    def status(self, paused: bool) -> str:
        if self.exit_status is not None:
            return STOPPED
        if not self.started_at_ns:
            return CREATED
        return PAUSED if paused else RUNNING

    def make_pipes(self) -> tuple[int | None, int, int]:
        """Pipes for a runtime run: returns the runtime's (stdin, stdout, stderr); keeps ours.

        stdin is None (the runtime gets /dev/null) unless the process has one.
        The caller closes the returned fds once the runtime has run.
        """
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.outputs = {out_r: "stdout", err_r: "stderr"}
        stdin_r = None
        if self.stdin:
            stdin_r, self.stdin_fd = os.pipe()
            os.set_blocking(self.stdin_fd, False)
        return stdin_r, out_w, err_w

    def use_master(self, master: int) -> None:
        """Take the pty master the runtime sent: output, and stdin when the process has one."""
        self.master = master
        self.outputs = {master: "stdout"}
        if self.stdin:
            self.stdin_fd = os.dup(master)

    def stderr_fd(self) -> int:
        for fd, stream in self.outputs.items():
            if stream == "stderr":
                return fd
        return -1

    def close_fds(self) -> None:
        """Close every fd still held (after a failed start; the loop never saw them)."""
        for fd in list(self.outputs):
            os.close(fd)
        self.outputs.clear()
        self.master = -1
        if self.stdin_fd >= 0:
            os.close(self.stdin_fd)
            self.stdin_fd = -1
