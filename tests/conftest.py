"""Fixtures: a real palletd on temporary roots, and a busybox base image."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from mkrootfs import write_busybox_rootfs  # noqa: E402

from tests import _host  # noqa: E402
from tests._engine import Engine, make_engine  # noqa: E402

# Started in the background by a non-interactive shell, the run ignores SIGINT, and so would
# every CLI a test starts: tests that press ^C on one (events, an interrupted pull) need it back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if shutil.which("runc") is None:
        pytest.skip("needs runc")


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("rootfs") / "busybox.tar")
    write_busybox_rootfs(path)
    return path


def _running_engine(busybox_tar: str) -> Iterator[Engine]:
    """A palletd with busybox:latest imported, torn down (mounts, processes, cgroups) even on failure."""
    _need_root()
    eng = make_engine()
    try:
        eng.start()
        eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
        yield eng
    finally:
        eng.stop()
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


@pytest.fixture(scope="session")
def engine(busybox_tar: str) -> Iterator[Engine]:
    """One palletd shared by the integration tests."""
    yield from _running_engine(busybox_tar)


@pytest.fixture
def fresh_engine(busybox_tar: str) -> Iterator[Engine]:
    """A palletd of the test's own, for tests that restart or break it."""
    yield from _running_engine(busybox_tar)
