"""Terminals: runc's console socket and the pty master it hands over.

With process.terminal the runtime makes the pty inside the container and sends
its master to the unix socket named by --console-socket: one message whose
data is the pty's name and whose SCM_RIGHTS control message carries the fd
(runc's docs/terminals.md; its `recvtty` is the reference receiver). The
runtime connects and sends before `runc create` / `runc exec --detach`
returns, so the shim listens before running it and accepts afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import struct
import termios

MAX_UNIX_PATH = 107


class ConsoleSocket:
    """A listening socket the runtime sends one pty master to."""

    def __init__(self, bundle: str) -> None:
        path = os.path.join(bundle, "console.sock")
        self.tmpdir = ""
        if len(os.fsencode(path)) > MAX_UNIX_PATH:  # the runtime must connect by path
            import tempfile

            self.tmpdir = tempfile.mkdtemp(prefix="pallet-pty-")
            path = os.path.join(self.tmpdir, "console.sock")
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(path)
            os.chmod(path, 0o600)
            self.sock.listen(1)
        except OSError:
            self.close()
            raise

    def receive(self, timeout: float = 5.0) -> int:
        """The pty master fd the runtime sent (non-blocking, close-on-exec)."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise OSError("the runtime did not send the terminal")
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(timeout)
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
        if not fds:
            raise OSError("the runtime sent no terminal fd")
        for extra in fds[1:]:
            os.close(extra)
        master = fds[0]
        os.set_inheritable(master, False)
        os.set_blocking(master, False)
        return master

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        if self.tmpdir:
            with contextlib.suppress(OSError):
                os.rmdir(self.tmpdir)

    def __enter__(self) -> ConsoleSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def set_winsize(fd: int, width: int, height: int) -> None:
    """TIOCSWINSZ on a pty master: the foreground process group gets SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def eof_char(fd: int) -> bytes:
    """The terminal's VEOF character (^D unless changed): EOF to a reader in canonical mode."""
    try:
        c = termios.tcgetattr(fd)[6][termios.VEOF]
    except (termios.error, OSError, IndexError):
        return b"\x04"
    return c if isinstance(c, bytes) and c else b"\x04"
