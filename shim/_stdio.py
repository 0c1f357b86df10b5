"""A process's stdio as the shim holds it: set up for the runtime, and stdin.

For `runtime create` / `runtime exec --detach` the process gets either pipes
(stdout, stderr, and stdin when asked; /dev/null otherwise) or, with a
terminal, a pty made by the runtime whose master arrives on the console
socket (pallet.shim._tty). The shim keeps the read ends (or the master) and
the stdin write end; what clients send for stdin is buffered in the Process
and written as the process reads it, with backpressure on the clients.

Functions here take the Shim (pallet.shim.server) as their first argument.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from typing import TYPE_CHECKING

from pallet.shim import _tty, protocol
from pallet.shim._process import Process
from pallet.shim._runtime import text_error, trim_error
from pallet.shim.protocol import RpcError

if TYPE_CHECKING:
    from pallet.shim.server import Shim, _Conn

STDIN_HIGH = 1 << 20  # stop reading clients' stdin while this much waits to be written


def run_with_stdio(shim: Shim, proc: Process, args: list[str], cid: str) -> str | None:
    """Run `runtime create|exec ... cid` with proc's stdio; the shim keeps its ends.

    None on success, else the runtime's error (proc's fds are closed then).
    """
    if proc.terminal:
        try:
            cs = _tty.ConsoleSocket(shim.bundle)
        except OSError as exc:
            return f"console socket: {exc.strerror or exc}"
        with cs:
            err = shim.runtime.run(*args, "--console-socket", cs.path, cid)
            if err is not None:
                return err
            try:
                proc.use_master(cs.receive())
            except OSError as exc:
                return f"receive the terminal from the runtime: {exc.strerror or exc}"
        if proc.winsize:
            with contextlib.suppress(OSError):
                _tty.set_winsize(proc.master, *proc.winsize)
        return None
    stdin_r, out_w, err_w = proc.make_pipes()
    try:
        err = shim.runtime.run(*args, cid, stdin=stdin_r, stdout=out_w, stderr=err_w)
    finally:
        for fd in (stdin_r, out_w, err_w):
            if fd is not None:
                os.close(fd)
    if err is not None:
        if " exited with status " in err:  # no json log: runc's stderr went to the pipe
            err_r = proc.stderr_fd()
            os.set_blocking(err_r, False)
            try:
                text = os.read(err_r, 65536).decode("utf-8", "replace")
            except OSError:
                text = ""
            err = trim_error(text_error(text)) or err
        proc.close_fds()
    return err


def write_stdin(shim: Shim, proc: Process, data: bytes) -> None:
    if not proc.stdin or proc.stdin_eof or proc.stdin_closed:
        return  # nowhere to go: dropped
    proc.stdin_buf += data
    flush_stdin(shim, proc)


def close_stdin(shim: Shim, proc: Process) -> None:
    """EOF on the process's stdin once what is buffered is written (CloseIO)."""
    if not proc.stdin or proc.stdin_eof or proc.stdin_closed:
        return
    if proc.terminal:
        # The pty stays (closing it would hang up the terminal): VEOF ends the
        # input of a reader in canonical mode; a second one if a line is pending.
        eof = _tty.eof_char(proc.master) if proc.master >= 0 else b"\x04"
        last = proc.stdin_buf[-1:] if proc.stdin_buf else (b"\n" if proc.stdin_nl else b"x")
        proc.stdin_buf += eof if last == b"\n" else eof * 2
    proc.stdin_eof = True
    flush_stdin(shim, proc)


def flush_stdin(shim: Shim, proc: Process) -> None:
    """Write what the process will take now; watch for writability if more is left."""
    fd = proc.stdin_fd
    buf = proc.stdin_buf
    if fd >= 0:
        while buf:
            try:
                n = os.write(fd, buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # EPIPE, EIO: the reader is gone
                drop_stdin(shim, proc)
                return
            proc.stdin_nl = buf[n - 1:n] == b"\n"
            del buf[:n]
        if not buf and proc.stdin_eof:
            drop_stdin(shim, proc)
            return
        want = bool(buf)
        if want != proc.stdin_writing:
            if want:
                shim.sel.register(fd, selectors.EVENT_WRITE,
                                  lambda _fd, _mask: flush_stdin(shim, proc))
            else:
                shim.sel.unregister(fd)
            proc.stdin_writing = want
    pause_stdin(shim, proc, len(buf) > STDIN_HIGH)


def drop_stdin(shim: Shim, proc: Process) -> None:
    """Close the process's stdin for good; anything unwritten is dropped."""
    if proc.stdin_writing:
        shim.sel.unregister(proc.stdin_fd)
        proc.stdin_writing = False
    if proc.stdin_fd >= 0:
        os.close(proc.stdin_fd)
        proc.stdin_fd = -1
    proc.stdin_closed = True
    proc.stdin_buf.clear()
    pause_stdin(shim, proc, False)


def pause_stdin(shim: Shim, proc: Process, paused: bool) -> None:
    """Backpressure: stop reading from stdin clients while the process does not read."""
    if proc.stdin_paused == paused:
        return
    proc.stdin_paused = paused
    for att in proc.attachers:
        if att.stdin:
            att.conn.paused = paused
            shim._set_events(att.conn)


def rpc_close_io(shim: Shim, conn: _Conn, sid: int, payload: bytes) -> bytes:
    close_stdin(shim, shim._proc(shim.pb.CloseIORequest.FromString(payload).exec_id))
    return b""


def rpc_resize_pty(shim: Shim, conn: _Conn, sid: int, payload: bytes) -> bytes:
    req = shim.pb.ResizePtyRequest.FromString(payload)
    proc = shim._proc(req.exec_id)
    if not proc.terminal:
        raise RpcError(protocol.FAILED_PRECONDITION, f"{proc.name} has no terminal")
    if not (0 < req.width < 65536 and 0 < req.height < 65536):
        raise RpcError(protocol.INVALID_ARGUMENT, f"invalid terminal size {req.width}x{req.height}")
    proc.winsize = (req.width, req.height)  # applied when the pty arrives, if not yet there
    if proc.master >= 0:
        try:
            _tty.set_winsize(proc.master, req.width, req.height)
        except OSError as exc:
            raise RpcError(protocol.FAILED_PRECONDITION,
                           f"resize {proc.name}'s terminal: {exc.strerror}") from None
    return b""
