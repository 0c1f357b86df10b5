"""Volume parsing, validation and the store, without a daemon."""

from __future__ import annotations

import os

import pytest
from pallet import errors
from pallet.client._volumes import parse_mount, parse_tmpfs, parse_volume
from pallet.client.cli import CLIError
from pallet.engine import _volumes
from pallet.engine.v1 import engine_pb2 as pb


def test_parse_volume_forms() -> None:
    m = parse_volume("/data")
    assert (m.type, m.source, m.target, m.read_only) == ("volume", "", "/data", False)
    m = parse_volume("name:/data:ro")
    assert (m.type, m.source, m.target, m.read_only) == ("volume", "name", "/data", True)
    m = parse_volume("/host:/data")
    assert (m.type, m.source, m.target, m.create_source) == ("bind", "/host", "/data", True)
    for bad in ("a:b:c:d", "name:/x:bogus", ":/x"):
        with pytest.raises(CLIError):
            parse_volume(bad)


def test_parse_mount_and_tmpfs() -> None:
    m = parse_mount("type=bind,src=/h,dst=/c,readonly")
    assert (m.type, m.source, m.target, m.read_only, m.create_source) == ("bind", "/h", "/c", True, False)
    m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700")
    assert (m.tmpfs_size, m.tmpfs_mode) == (1 << 20, 0o700)
    for bad in ("type=foo,target=/x", "source=v", "type=volume,target=/x,bogus=1"):
        with pytest.raises(CLIError):
            parse_mount(bad)
    t = parse_tmpfs("/run:size=64k,mode=755")
    assert (t.type, t.target, t.tmpfs_size, t.tmpfs_mode) == ("tmpfs", "/run", 65536, 0o755)


def test_validate_mounts() -> None:
    _volumes.validate_mounts([pb.Mount(type="volume", source="ok", target="/x")])
    for bad in (pb.Mount(type="volume", source="bad@", target="/x"),
                pb.Mount(type="volume", target="rel"),
                pb.Mount(type="nfs", target="/x"),
                pb.Mount(type="bind", source="/no/such/dir/here", target="/x")):
        with pytest.raises(errors.InvalidArgument):
            _volumes.validate_mounts([bad])
    with pytest.raises(errors.InvalidArgument, match="Duplicate mount point"):
        _volumes.validate_mounts([pb.Mount(type="tmpfs", target="/a"), pb.Mount(type="tmpfs", target="/a/")])


def test_store_create_remove_prune(tmp_path: object) -> None:
    root = os.path.join(str(tmp_path), "volumes")
    users: dict[str, list[str]] = {}
    store = _volumes.VolumeStore(root, users=lambda n: users.get(n, []))
    v, new = store.create("named", {"k": "v"})
    assert new and os.path.isdir(v.mountpoint)
    assert store.create("named")[1] is False
    anon, _ = store.create("", {_volumes.ANON_LABEL: ""})
    users["named"] = ["c1"]
    with pytest.raises(errors.FailedPrecondition, match=r"volume is in use - \[c1\]"):
        store.remove("named")
    assert [x.name for x in store.list(["dangling=true"])] == [anon.name]
    assert list(store.prune().volumes_deleted) == [anon.name]
    os.makedirs(os.path.join(root, "halfmade", "_data"))  # a create that crashed before its record
    assert [x.name for x in _volumes.VolumeStore(root).list()] == ["named"]
    assert not os.path.exists(os.path.join(root, "halfmade"))
    assert store.mark_populated("named") and not store.mark_populated("named")
