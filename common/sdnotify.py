"""sd_notify(3) for services run by systemd with Type=notify: stdlib only, no libsystemd.

    sdnotify.claim()      # early in main(), before any child process is started
    ...serve...
    sdnotify.ready()      # once clients can connect and SIGTERM is handled: systemd starts the
                          # units ordered after this one, and may stop this one from now on
    ...wait for SIGTERM...
    sdnotify.stopping()

A main thread that installs its SIGTERM handler in the same call that blocks
(pallet.server.wait_for_shutdown) uses ready_when_handled() instead of ready() just before it:
READY=1 then goes out once the handler is in place, so a stop right after it is a clean shutdown
and not a kill by SIGTERM's default action.

Outside systemd (no $NOTIFY_SOCKET) every call is a no-op that returns False.

claim() takes $NOTIFY_SOCKET out of the environment so that no child inherits it: a child that
notifies would be ignored (NotifyAccess=main) at best, and `runc` treats NOTIFY_SOCKET as the
container's own notify socket and waits for the container to report READY=1.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

_claimed = False
_address: str | None = None


def claim() -> str | None:
    """Remove $NOTIFY_SOCKET from os.environ (and so from every child's), keeping it for this process."""
    global _claimed, _address
    if not _claimed:
        _address = os.environ.pop("NOTIFY_SOCKET", None) or None
        _claimed = True
    return _address


def notify(*fields: str) -> bool:
    """Send "KEY=VALUE" fields in one datagram; True if it was sent."""
    address = claim()
    if not address or not fields:
        return False
    if address.startswith("@"):  # abstract namespace
        target = "\0" + address[1:]
    elif address.startswith("/"):
        target = address
    else:  # vsock:... and other transports: not supported
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall("\n".join(fields).encode())
    except OSError:
        return False
    return True


def ready(status: str = "") -> bool:
    """READY=1: startup is finished."""
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def ready_when_handled(status: str = "", signum: int = signal.SIGTERM, interval: float = 0.005) -> threading.Thread:
    """ready(status) from a thread, as soon as signum's handler is no longer the one it has now."""
    before = signal.getsignal(signum)

    def run() -> None:
        while signal.getsignal(signum) is before:
            time.sleep(interval)
        ready(status)

    thread = threading.Thread(target=run, name="sdnotify-ready", daemon=True)
    thread.start()
    return thread


def stopping(status: str = "") -> bool:
    """STOPPING=1: the service is shutting down."""
    return notify("STOPPING=1", *([f"STATUS={status}"] if status else []))


def status(text: str) -> bool:
    """STATUS=...: a one-line state `systemctl status` shows."""
    return notify(f"STATUS={text}")
