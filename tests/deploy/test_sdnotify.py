"""pallet.sdnotify, and the services that report READY=1 to systemd (Type=notify)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pallet import sdnotify


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket where systemd's would be, with $NOTIFY_SOCKET naming it."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setattr(sdnotify, "_claimed", False)
    monkeypatch.setattr(sdnotify, "_address", None)
    yield sock
    sock.close()


def test_ready_and_stopping(notify_socket: socket.socket) -> None:
    assert sdnotify.claim() == notify_socket.getsockname()
    assert "NOTIFY_SOCKET" not in os.environ  # children do not inherit it
    assert sdnotify.ready("serving") is True
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=serving"
    assert sdnotify.stopping() is True
    assert notify_socket.recv(4096) == b"STOPPING=1"
    assert sdnotify.status("busy") is True
    assert notify_socket.recv(4096) == b"STATUS=busy"


def test_ready_once_sigterm_is_handled(notify_socket: socket.socket) -> None:
    before = signal.getsignal(signal.SIGTERM)
    thread = sdnotify.ready_when_handled("up")
    try:
        notify_socket.settimeout(0.2)
        with pytest.raises(TimeoutError):
            notify_socket.recv(4096)  # nothing while SIGTERM keeps its old handler
        signal.signal(signal.SIGTERM, lambda *_: None)
        notify_socket.settimeout(10)
        assert notify_socket.recv(4096) == b"READY=1\nSTATUS=up"
        thread.join(10)
        assert not thread.is_alive()
    finally:
        signal.signal(signal.SIGTERM, before)


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"pallet-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        monkeypatch.setattr(sdnotify, "_claimed", False)
        assert sdnotify.ready() is True
        assert sock.recv(4096) == b"READY=1"


def test_without_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setattr(sdnotify, "_claimed", False)
    assert sdnotify.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    monkeypatch.setattr(sdnotify, "_claimed", False)
    assert sdnotify.ready() is False  # nobody listening: no error either
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    monkeypatch.setattr(sdnotify, "_claimed", False)
    assert sdnotify.ready() is False


def _service_notifies(argv: list[str], notify_socket: socket.socket) -> None:
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname()}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            msg = notify_socket.recv(4096)
        except TimeoutError:
            proc.kill()
            pytest.fail(f"no READY=1 from {argv}: {proc.communicate()[1].decode()[-2000:]}")
        assert msg.startswith(b"READY=1\nSTATUS=serving on ")
        proc.send_signal(signal.SIGTERM)
        assert notify_socket.recv(4096) == b"STOPPING=1"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_imagesvc_reports_ready(notify_socket: socket.socket, tmp_path: Path) -> None:
    sock = tmp_path / "imagesvc.sock"
    _service_notifies([sys.executable, "-m", "pallet.images", "--config-file", "", "--root", str(tmp_path / "root"),
                       "--address", f"unix://{sock}"], notify_socket)


def test_registry_reports_ready(notify_socket: socket.socket, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _service_notifies([sys.executable, "-m", "pallet.registry", "--config-file", "", "--root", str(tmp_path / "root"),
                       "--addr", f"127.0.0.1:{port}", "--admin-socket", str(tmp_path / "admin.sock")], notify_socket)


def test_palletd_reports_ready_once_and_children_stay_quiet(notify_socket: socket.socket) -> None:
    """palletd says READY=1 when it serves; imagesvc and netsvc, its children, must not speak for it."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from tests import _host
    from tests._engine import make_engine

    eng = make_engine()
    argv = [sys.executable, "-m", "pallet.engine", "--config-file", "", "--data-root", eng.data_root,
            "--exec-root", eng.exec_root, "-H", eng.host, "--cgroup-parent", eng.cgroup_parent]
    proc = subprocess.Popen(argv, env={**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname()},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert notify_socket.recv(4096) == b"READY=1\nSTATUS=serving"
        assert os.path.exists(eng.host.removeprefix("unix://"))
        proc.send_signal(signal.SIGTERM)
        assert notify_socket.recv(4096) == b"STOPPING=1"
        assert proc.wait(30) == 0
        notify_socket.settimeout(0.2)
        with pytest.raises(TimeoutError):
            notify_socket.recv(4096)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)
