"""The shim's Update: `runc update --resources -` on the running container."""

from __future__ import annotations

import json
import os
import signal

import pytest
from pallet import errors

from .conftest import Box

CGROUP_ROOT = "/sys/fs/cgroup"


def _pids_max(box: Box) -> str:
    v1 = os.path.join(CGROUP_ROOT, "pids", box.cgroup_parent, box.id, "pids.max")
    v2 = os.path.join(CGROUP_ROOT, box.cgroup_parent, box.id, "pids.max")
    with open(v1 if os.path.exists(v1) else v2) as f:
        return f.read().strip()


def test_update_changes_the_running_containers_cgroup(box: Box) -> None:
    box.start(["sleep", "30"])
    c = box.client()
    c.update(json.dumps({"pids": {"limit": 42}}).encode())
    assert _pids_max(box) == "42"
    c.update(json.dumps({"pids": {"limit": -1}}).encode())
    assert _pids_max(box) == "max"
    with pytest.raises(errors.PalletError):
        c.update(b"{not json")
    c.kill(signal.SIGKILL, all=True)
    c.wait(timeout=10)
    with pytest.raises(errors.FailedPrecondition, match="not running"):
        c.update(json.dumps({"pids": {"limit": 42}}).encode())
