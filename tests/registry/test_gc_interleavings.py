"""The interleavings of a collection and a push, forced one by one on the plain Storage and GarbageCollector
classes: GC's per-blob re-check sees a reference made after its mark phase, and a push after a removal fails
cleanly instead of recording a manifest whose blobs are gone."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pallet.registry._gc import GarbageCollector, GCOptions, GCReport
from pallet.registry._storage import MissingReference, Storage, digest_of

OLD = time.time() - 7200


@pytest.fixture
def st(tmp_path: Path) -> Iterator[Storage]:
    s = Storage(str(tmp_path / "root"))
    yield s
    s.close()


def old_blob(st: Storage, repo: str, data: bytes) -> str:
    """A blob committed and linked two hours ago."""
    d = digest_of(data)
    tmp = os.path.join(st.upload_dir, "t")
    Path(tmp).write_bytes(data)
    st.commit_blob(repo, tmp, d)
    os.utime(st.blob_path(d), (OLD, OLD))
    with st.db.tx() as c:
        c.execute("UPDATE repo_blobs SET linked=? WHERE digest=?", (OLD, d))
    return d


def manifest(layer: str) -> tuple[bytes, str]:
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": layer,
                                  "size": 1}, "layers": []}).encode()
    return body, digest_of(body)


def put(st: Storage, repo: str, layer: str) -> str:
    body, d = manifest(layer)
    st.put_manifest(repo, d, body, "application/vnd.oci.image.manifest.v1+json", [layer], None, None, None, "t",
                    need_blobs=[layer])
    return d


def test_reference_made_after_the_mark_phase_keeps_the_blob(st: Storage) -> None:
    gc = GarbageCollector(st)
    b = old_blob(st, "r", b"reused old blob")
    assert b not in gc._marked(set())  # mark phase: garbage
    put(st, "r", b)  # a push lands between mark and sweep
    assert gc._sweep_blob(b, st.blob_path(b), time.time(), GCReport(False, time.time())) is None
    assert st.repo_has_blob("r", b)


def test_push_after_the_removal_fails_cleanly(st: Storage) -> None:
    gc = GarbageCollector(st)
    b = old_blob(st, "r", b"old blob")
    assert gc._sweep_blob(b, st.blob_path(b), time.time(), GCReport(False, time.time())) == len(b"old blob")
    body, d = manifest(b)
    with pytest.raises(MissingReference):
        st.put_manifest("r", d, body, "application/vnd.oci.image.manifest.v1+json", [b], None, None, None, "t",
                        need_blobs=[b])
    assert st.get_manifest("r", d) is None and st.resolve_tag("r", "t") is None
    # Pushing the blob again brings it back, linked and fresh.
    tmp = os.path.join(st.upload_dir, "again")
    Path(tmp).write_bytes(b"old blob")
    st.commit_blob("r", tmp, b)
    assert put(st, "r", b) == d
    assert GarbageCollector(st).run(GCOptions(grace_period=0)).blobs == []


def test_fresh_link_or_file_is_kept(st: Storage) -> None:
    gc = GarbageCollector(st)
    b = old_blob(st, "r", b"mounted just now")
    st.link_blob("other", b)  # a cross-repository mount refreshes the link time
    r = gc.run(GCOptions(grace_period=600))
    assert r.blobs == [] and st.repo_has_blob("other", b)
    c = old_blob(st, "r", b"uploaded again just now")
    os.utime(st.blob_path(c))  # a re-upload renames a fresh file over it
    assert gc.run(GCOptions(grace_period=600)).blobs == []
    assert {d for d, _ in gc.run(GCOptions(grace_period=0)).blobs} == {b, c}


def test_busy_collector_refuses_a_second_run(st: Storage) -> None:
    gc = GarbageCollector(st)
    with gc._running:
        assert gc.status().running
        with pytest.raises(Exception, match="already running"):
            gc.run()
    assert not gc.status().running
