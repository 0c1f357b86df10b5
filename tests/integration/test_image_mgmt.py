"""Local image management end to end: history, rmi conflicts, prune, system df, GC (real palletd, imagesvc, runc)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest
from pallet.client.sdk import Client
from pallet.engine.v1 import engine_pb2 as pb
from pallet.images._snapshots import disk_usage

from tests.conftest import Engine, _running_engine


@pytest.fixture(scope="module")
def eng(busybox_tar: str) -> Iterator[Engine]:
    """An engine of this module's own: prune -a here must not take busybox from the other tests."""
    yield from _running_engine(busybox_tar)


def _image(eng: Engine, tar: str, name: str = "", label: str = "") -> str:
    """A new image (its own ID: a label makes the config differ) on busybox's layer; returns its ID."""
    args = ["import", "-c", 'CMD ["sh"]', "-c", f"LABEL t={label or name or 'dangling'}", tar]
    return eng.ctl(*args, *([name] if name else []), check=True).stdout.strip()


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _exists(eng: Engine, ref: str) -> bool:
    return eng.ctl("image", "inspect", ref).returncode == 0


def _on_disk(eng: Engine) -> int:
    """Bytes of blobs (file sizes) plus snapshots (usage), measured on disk, as the GC counts them."""
    blobs = os.path.join(eng.data_root, "content", "blobs", "sha256")
    total = sum(os.stat(os.path.join(blobs, n)).st_size for n in os.listdir(blobs))
    snaps = os.path.join(eng.data_root, "snapshots")
    for entry in os.listdir(snaps):
        if entry.isdigit():
            total += disk_usage(os.path.join(snaps, entry, "fs"))[0]
    return total


def _clean(eng: Engine) -> None:
    eng.ctl("rm", "-f", *eng.ctl("ps", "-aq").stdout.split())
    eng.ctl("image", "prune", "-a", "-f", check=True)


def stable(lines: list[str]) -> list[list[str]]:
    """History rows without CREATED (it ages): IMAGE, then SIZE and COMMENT."""
    return [[cols[0], *cols[-2:]] for cols in (re.split(r"\s{2,}", x) for x in lines[1:])]


def test_history(eng: Engine, busybox_tar: str) -> None:
    image_id = _image(eng, busybox_tar, "hist:1")
    out = eng.ctl("history", "hist:1", check=True).stdout.splitlines()
    assert re.split(r"\s{2,}", out[0]) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    assert len(out) == 2 and out[1].startswith(_short(image_id) + "   ")
    assert out[1].endswith("Imported from -") and " ago " in out[1]
    assert stable(eng.ctl("image", "history", "hist:1", check=True).stdout.splitlines()) == stable(out)
    assert eng.ctl("history", "-q", "hist:1", check=True).stdout == _short(image_id) + "\n"
    assert eng.ctl("history", "-q", "--no-trunc", "hist:1", check=True).stdout == image_id + "\n"
    raw = eng.ctl("history", "-H=false", "--format", "{{.ID}}|{{.CreatedSince}}|{{.Size}}|{{.Comment}}",
                  "hist:1", check=True).stdout.strip().split("|")
    assert raw[0] == _short(image_id) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", raw[1])
    snaps = os.path.join(eng.data_root, "snapshots")
    layer_sizes = {disk_usage(os.path.join(snaps, d, "fs"))[0] for d in os.listdir(snaps) if d.isdigit()}
    assert int(raw[2]) in layer_sizes and int(raw[2]) > 0 and raw[3] == "Imported from -"
    assert stable(eng.ctl("history", "-H", "hist:1", check=True).stdout.splitlines()) == stable(out)
    size_raw = eng.ctl("history", "--human=false", "--format", "{{.Size}}", "hist:1", check=True).stdout
    assert size_raw == raw[2] + "\n"
    res = eng.ctl("history")
    assert res.returncode == 125 and "requires exactly 1 argument" in res.stderr
    res = eng.ctl("history", "no-such-image:1")
    assert res.returncode != 0 and "No such image" in res.stderr
    eng.ctl("rmi", "hist:1", check=True)


def test_rmi_refusals_stopped_running_and_force(eng: Engine, busybox_tar: str) -> None:
    image_id = _image(eng, busybox_tar, "rmitest:1")
    short = _short(image_id)
    stopped = eng.ctl("create", "rmitest:1", "echo", "still-runs", check=True).stdout.strip()
    res = eng.ctl("rmi", "rmitest:1")
    assert res.returncode == 1 and res.stderr.strip() == (
        'Error response from daemon: conflict: unable to remove repository reference "rmitest:1" (must force) - '
        f"container {stopped[:12]} is using its referenced image {short}")
    res = eng.ctl("image", "rm", short)
    assert res.returncode == 1 and res.stderr.strip() == (
        f"Error response from daemon: conflict: unable to delete {short} (must be forced) - "
        f"image is being used by stopped container {stopped[:12]}")
    running = eng.ctl("run", "-d", "rmitest:1", "sleep", "60", check=True).stdout.strip()
    try:
        res = eng.ctl("rmi", "-f", short)
        assert res.returncode == 1 and res.stderr.strip() == (
            f"Error response from daemon: conflict: unable to delete {short} (cannot be forced) - "
            f"image is being used by running container {running[:12]}")
        # By name, forced: the name goes, the image stays (dangling) for the running container.
        res = eng.ctl("rmi", "-f", "rmitest:1", check=True)
        assert res.stdout == "Untagged: rmitest:1\n"
        assert _exists(eng, image_id) and not _exists(eng, "rmitest:1")
        assert image_id in eng.ctl("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout
    finally:
        eng.ctl("rm", "-f", running, check=True)
    # Only a stopped container left: forced delete by ID goes through, and the container still runs
    # (its snapshot and the layers beneath survive the image and the GC after it).
    res = eng.ctl("rmi", "-f", image_id, check=True)
    assert res.stdout.splitlines()[0] == f"Deleted: {image_id}"
    assert not _exists(eng, image_id)
    assert eng.ctl("start", "-a", stopped, check=True).stdout == "still-runs\n"
    eng.ctl("rm", stopped, check=True)


def test_rmi_untag_vs_delete(eng: Engine, busybox_tar: str) -> None:
    image_id = _image(eng, busybox_tar, "untag:1")
    eng.ctl("image", "tag", "untag:1", "untag:2", check=True)
    assert eng.ctl("rmi", "untag:1", check=True).stdout == "Untagged: untag:1\n"
    res = eng.ctl("rmi", "--no-prune", "untag:2", check=True)
    assert res.stdout.splitlines()[:2] == ["Untagged: untag:2", f"Deleted: {image_id}"]
    res = eng.ctl("rmi", "untag:2")
    assert res.returncode == 1 and "No such image: untag:2" in res.stderr


def test_image_prune_dangling_by_default_then_all(eng: Engine, busybox_tar: str) -> None:
    _clean(eng)
    eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
    dangling = _image(eng, busybox_tar)
    unused = _image(eng, busybox_tar, "unused:1")
    used = _image(eng, busybox_tar, "used:1")
    ctr = eng.ctl("create", "used:1", "true", check=True).stdout.strip()
    res = eng.ctl("image", "prune", input=b"n\n")
    assert res.returncode == 1 and "image prune has been cancelled" in res.stderr
    assert res.stdout == "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    assert _exists(eng, dangling)
    res = eng.ctl("image", "prune", input=b"y\n", check=True)
    assert f"Deleted Images:\ndeleted: {dangling}\n" in res.stdout
    assert re.search(r"\nTotal reclaimed space: [\d.]+k?B\n$", res.stdout)
    assert not _exists(eng, dangling) and _exists(eng, unused) and _exists(eng, used)
    res = eng.ctl("image", "prune", "-a", "-f", "--filter", "label=t=unused:1", check=True)
    assert f"untagged: unused:1\ndeleted: {unused}\n" in res.stdout and _exists(eng, "busybox")
    res = eng.ctl("image", "prune", "-a", "-f", check=True)
    assert "untagged: busybox:latest\n" in res.stdout and used not in res.stdout
    assert eng.ctl("images", "-q", "--no-trunc", check=True).stdout == used + "\n"
    eng.ctl("rm", ctr, check=True)
    eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)


def test_df_reclaimable_is_what_prune_frees(eng: Engine, busybox_tar: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _clean(eng)
    other = tmp_path / "other.tar"
    eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
    eng.ctl("import", str(_small_rootfs(other)), "small:1", check=True)
    _image(eng, busybox_tar, "labelled:1")
    with Client(eng.host) as c:
        ctr = eng.ctl("create", "small:1", "/x", check=True).stdout.strip()  # a stopped container uses small:1
        df = c.system.DiskUsage(pb.DiskUsageRequest())
        assert df.images_size == _on_disk(eng)  # no container has written anything
        assert 0 < df.images_reclaimable < df.images_size
        assert {(u.image.repo_tags[0], u.containers) for u in df.images} == {
            ("busybox:latest", 0), ("labelled:1", 0), ("small:1", 1)}
        busybox = next(u for u in df.images if u.image.repo_tags[0] == "busybox:latest")
        assert busybox.shared_size > 0 and busybox.unique_size == busybox.size - busybox.shared_size
        rows = eng.ctl("system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Reclaimable}}",
                       check=True).stdout.splitlines()
        assert rows[0].startswith("Images|3|1|") and rows[0].endswith(
            f"({df.images_reclaimable * 100 // df.images_size}%)")
        assert rows[1].startswith("Containers|1|0|") and rows[2:] == ["Local Volumes|0|0|0B", "Build Cache|0|0|0B"]
        before = _on_disk(eng)
        res = c.images.Prune(pb.PruneRequest(all=True))
        assert res.space_reclaimed == df.images_reclaimable == before - _on_disk(eng)
        eng.ctl("rm", ctr, check=True)
        df = c.system.DiskUsage(pb.DiskUsageRequest())
        before = _on_disk(eng)
        assert df.images_reclaimable == df.images_size == before
        res = c.images.Prune(pb.PruneRequest(all=True))
        assert res.space_reclaimed == before and _on_disk(eng) == 0
    eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)


def _small_rootfs(path) -> str:  # type: ignore[no-untyped-def]
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        data = b"small image\n" * 100
        ti = tarfile.TarInfo("x")
        ti.size, ti.mode = len(data), 0o755
        tar.addfile(ti, io.BytesIO(data))
    return str(path)


def test_df_verbose_and_ps_size(eng: Engine) -> None:
    cid = eng.ctl("run", "--name", "writer", "busybox", "sh", "-c", "head -c 200000 /dev/zero > /data",
                  check=True).stdout
    assert cid == ""
    size = eng.ctl("ps", "-a", "-s", "--filter", "name=writer", "--format", "{{.Size}}", check=True).stdout.strip()
    assert re.fullmatch(r"2\d\dkB \(virtual [\d.]+MB\)", size), size
    table = eng.ctl("ps", "-a", "--size", "--filter", "name=writer", check=True).stdout.splitlines()
    assert table[0].split()[-1] == "SIZE" and table[1].endswith(")")
    out = eng.ctl("system", "df", "-v", check=True).stdout
    assert out.startswith("Images space usage:\n\nREPOSITORY")
    assert re.search(r"SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\n", out)
    assert "\nContainers space usage:\n\nCONTAINER ID   IMAGE" in out and "LOCAL VOLUMES" in out
    line = next(x for x in out.splitlines() if x.rstrip().endswith("writer"))
    assert re.search(r"\s2\d\d(\.\d+)?kB\s", line) and "Exited (0)" in line
    assert "\nLocal Volumes space usage:\n" in out and "\nBuild cache usage: 0B\n" in out
    eng.ctl("rm", "writer", check=True)


def test_container_prune_and_filters(eng: Engine) -> None:
    eng.ctl("rm", "-f", *eng.ctl("ps", "-aq").stdout.split())
    a = eng.ctl("create", "--label", "group=a", "busybox", "true", check=True).stdout.strip()
    b = eng.ctl("run", "--label", "group=b", "busybox", "sh", "-c", "head -c 5000 /dev/zero > /f",
                check=True)
    b_id = eng.ctl("ps", "-aq", "--no-trunc", "--filter", "label=group=b", check=True).stdout.strip()
    assert b.returncode == 0 and b_id
    running = eng.ctl("run", "-d", "--label", "group=a", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        res = eng.ctl("container", "prune", input=b"no\n")
        assert res.returncode == 1 and "container prune has been cancelled" in res.stderr
        assert res.stdout.startswith("WARNING! This will remove all stopped containers.\n")
        res = eng.ctl("container", "prune", "-f", "--filter", "until=1h", check=True)
        assert res.stdout == "Total reclaimed space: 0B\n"
        res = eng.ctl("container", "prune", "-f", "--filter", "label=group=a", check=True)
        assert res.stdout.startswith(f"Deleted Containers:\n{a}\n\nTotal reclaimed space: ")
        res = eng.ctl("container", "prune", "-f", "--filter", "label!=group=b", check=True)
        assert "Deleted Containers" not in res.stdout
        res = eng.ctl("container", "prune", "-f", check=True)
        assert res.stdout.startswith(f"Deleted Containers:\n{b_id}\n\nTotal reclaimed space: ")
        assert not res.stdout.endswith(" 0B\n")  # b wrote 5kB
        assert eng.ctl("ps", "-aq", "--no-trunc", check=True).stdout.split() == [running]
        res = eng.ctl("container", "prune", "-f", "--filter", "bogus=1")
        assert res.returncode == 125 and "invalid filter 'bogus=1'" in res.stderr
    finally:
        eng.ctl("rm", "-f", running, check=True)


def test_system_prune(eng: Engine, busybox_tar: str) -> None:
    eng.ctl("rm", "-f", *eng.ctl("ps", "-aq").stdout.split())
    dangling = _image(eng, busybox_tar)
    unused = _image(eng, busybox_tar, "sysunused:1")
    exited = eng.ctl("create", "sysunused:1", "true", check=True).stdout.strip()
    running = eng.ctl("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        res = eng.ctl("system", "prune", input=b"\n")
        assert res.returncode == 1 and res.stdout.startswith(
            "WARNING! This will remove:\n  - all stopped containers\n"
            "  - all networks not used by at least one container\n  - all dangling images\n")
        res = eng.ctl("system", "prune", "-f", check=True)
        assert res.stdout.startswith(f"Deleted Containers:\n{exited}\n\nDeleted Images:\n")
        assert f"deleted: {dangling}\n" in res.stdout and "Total reclaimed space: " in res.stdout
        assert unused not in res.stdout and _exists(eng, "sysunused:1")
        res = eng.ctl("system", "prune", "-a", "-f", check=True)
        assert "Deleted Containers" not in res.stdout
        assert f"untagged: sysunused:1\ndeleted: {unused}\n" in res.stdout
        assert _exists(eng, "busybox") and eng.ctl("ps", "-q", "--no-trunc").stdout.split() == [running]
        # What the running container uses stays, and it still works.
        assert eng.ctl("exec", running, "echo", "alive", check=True).stdout == "alive\n"
    finally:
        eng.ctl("rm", "-f", running, check=True)


def test_images_flags_and_filters(eng: Engine, busybox_tar: str) -> None:
    first = _image(eng, busybox_tar, "flt/one:1", label="one")
    second = _image(eng, busybox_tar, "flt/two:1", label="two")
    eng.ctl("tag", "flt/two:1", "flt/two:latest", check=True)
    dangling = _image(eng, busybox_tar, label="flt-dangling")

    def names(*args: str) -> list[str]:
        return eng.ctl("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", *args, check=True).stdout.split()

    assert names("--filter", "reference=flt/*") == ["flt/two:1", "flt/two:latest", "flt/one:1"]
    assert names("--filter", "reference=flt/*:latest") == ["flt/two:latest"]
    assert names("flt/one") == ["flt/one:1"]
    assert names("--filter", "label=t=one") == ["flt/one:1"]
    assert names("--filter", "label=t", "--filter", "reference=flt/*") == ["flt/two:1", "flt/two:latest",
                                                                          "flt/one:1"]
    assert "<none>:<none>" in names("--filter", "dangling=true")
    assert "<none>:<none>" not in names("--filter", "dangling=false")
    assert names("--filter", "since=flt/one:1", "--filter", "reference=flt/*") == ["flt/two:1", "flt/two:latest"]
    assert names("--filter", "before=flt/two:1", "--filter", "reference=flt/*") == ["flt/one:1"]
    ids = eng.ctl("images", "-q", "--filter", "reference=flt/two", check=True).stdout.split()
    assert ids == [_short(second)]  # one line per image, not per tag
    full = eng.ctl("images", "-a", "-q", "--no-trunc", check=True).stdout.split()
    assert {first, second, dangling} <= set(full)
    head = eng.ctl("images", "--digests", "flt/one", check=True).stdout.splitlines()[0]
    assert head.split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    res = eng.ctl("images", "--filter", "bogus=1")
    assert res.returncode == 125 and "invalid filter" in res.stderr
    for ref in ("flt/one:1", "flt/two:1", "flt/two:latest", dangling):
        eng.ctl("image", "rm", ref, check=True)


def test_image_group_aliases(eng: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert eng.ctl("image", "tag", "busybox", "alias:1", check=True).returncode == 0
    data = json.loads(eng.ctl("image", "inspect", "alias:1", check=True).stdout)[0]
    assert data["RepoTags"] and data["Id"].startswith("sha256:")
    archive = tmp_path / "a.tar"
    eng.ctl("image", "save", "-o", str(archive), "alias:1", check=True)
    assert eng.ctl("image", "rm", "alias:1", check=True).stdout == "Untagged: alias:1\n"
    assert "Loaded image: alias:1" in eng.ctl("image", "load", "-i", str(archive), check=True).stdout
    assert eng.ctl("container", "ls", "-a", check=True).stdout.startswith("CONTAINER ID")
    assert eng.ctl("system", "info", "--format", "{{.Images}}", check=True).stdout.strip().isdigit()
    assert "Manage images" in eng.ctl("image", check=True).stdout
    eng.ctl("image", "rm", "alias:1", check=True)


def test_gc_racing_loads_through_the_services(eng: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Loads that unpack new layers while image prune (and its GC) runs in a loop: every load is whole."""
    import threading

    archive = tmp_path / "race.tar"
    eng.ctl("import", str(_small_rootfs(tmp_path / "rootfs.tar")), "gcrace:1", check=True)
    eng.ctl("save", "-o", str(archive), "gcrace:1", check=True)
    eng.ctl("rmi", "gcrace:1", check=True)
    stop = threading.Event()
    freed: list[int] = []

    def gc_loop() -> None:
        with Client(eng.host) as c:
            while not stop.is_set():
                freed.append(c.images.Prune(pb.PruneRequest()).space_reclaimed)

    gc = threading.Thread(target=gc_loop)
    gc.start()
    try:
        for _ in range(3):
            assert "Loaded image: gcrace:1" in eng.ctl("load", "-i", str(archive), check=True).stdout
            eng.ctl("save", "-o", str(tmp_path / "again.tar"), "gcrace:1", check=True)  # reads every blob
            cid = eng.ctl("create", "gcrace:1", "/x", check=True).stdout.strip()  # the layer snapshot is there
            eng.ctl("rm", cid, check=True)
            eng.ctl("rmi", "gcrace:1", check=True)
    finally:
        stop.set()
        gc.join()
    assert freed  # GC ran meanwhile
