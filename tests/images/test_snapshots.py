"""The overlayfs snapshotter: mounts shapes, commit, remove with children, crash cleanup."""

from __future__ import annotations

import os

import pytest
from pallet import errors
from pallet.images._snapshots import TEMP_PREFIX, Snapshotter

from tests.images.conftest import snapshot_dirs


@pytest.fixture
def snaps(root: str) -> Snapshotter:
    s = Snapshotter(os.path.join(root, "snapshots"))
    yield s  # type: ignore[misc]
    s.close()


def _commit_layer(s: Snapshotter, name: str, parent: str, files: dict[str, bytes]) -> None:
    s.prepare("tmp-" + name, parent)
    fs = s.fs_path("tmp-" + name)
    for path, data in files.items():
        with open(os.path.join(fs, path), "wb") as f:
            f.write(data)
    s.commit(name, "tmp-" + name)


def test_mount_shapes(snaps: Snapshotter) -> None:
    m = snaps.prepare("empty")
    assert [(x.type, x.options) for x in m] == [("bind", ["rbind", "rw"])]
    _commit_layer(snaps, "l1", "", {"a": b"1"})
    _commit_layer(snaps, "l2", "l1", {"b": b"2"})
    l1 = snaps.fs_dir(snaps.stat("l1").id)
    l2 = snaps.fs_dir(snaps.stat("l2").id)
    m = snaps.prepare("ctr", "l2")
    assert len(m) == 1 and m[0].type == "overlay"
    opts = dict(o.split("=", 1) for o in m[0].options if "=" in o)
    assert opts["lowerdir"] == f"{l2}:{l1}"
    assert opts["upperdir"] == snaps.fs_dir(snaps.stat("ctr").id)
    assert opts["workdir"].endswith("/work")
    assert snaps.mounts("ctr") == m
    v1 = snaps.view("v1", "l1")
    assert [(x.type, x.source, x.options) for x in v1] == [("bind", l1, ["rbind", "ro"])]
    v2 = snaps.view("v2", "l2")
    assert v2[0].type == "overlay" and v2[0].options == ["index=off", f"lowerdir={l2}:{l1}"]
    info = snaps.stat("l2")
    assert (info.kind, info.parent) == ("committed", "l1")
    assert [s.name for s in snaps.list_snapshots(["kind=committed"])] == ["l1", "l2"]
    assert snaps.usage("l1")[1] >= 1


def test_commit_and_remove_rules(snaps: Snapshotter) -> None:
    _commit_layer(snaps, "base", "", {"x": b"x"})
    with pytest.raises(errors.AlreadyExists):
        snaps.prepare("base")
    with pytest.raises(errors.NotFound):
        snaps.prepare("c", "nope")
    snaps.prepare("active-parent")
    with pytest.raises(errors.FailedPrecondition):
        snaps.prepare("c", "active-parent")
    with pytest.raises(errors.FailedPrecondition):
        snaps.commit("again", "base")  # only active snapshots commit
    snaps.prepare("ctr", "base")
    with pytest.raises(errors.FailedPrecondition, match="ctr"):
        snaps.remove("base")
    snaps.remove("ctr")
    snaps.remove("base")
    with pytest.raises(errors.NotFound):
        snaps.stat("base")


def test_cleanup_after_crash(root: str, snaps: Snapshotter) -> None:
    _commit_layer(snaps, "keep", "", {"k": b"k"})
    snaps.prepare(TEMP_PREFIX + "half-unpacked", "keep")
    orphan = os.path.join(root, "snapshots", "999", "fs")
    os.makedirs(orphan)  # a directory whose row never committed
    assert snaps.cleanup() == 2
    assert [s.name for s in snaps.list_snapshots()] == ["keep"]
    assert snapshot_dirs(root) == sorted([os.path.join(root, "snapshots", str(snaps.stat("keep").id)),
                                          snaps.fs_dir(snaps.stat("keep").id)])
