"""The content store: verified, atomic writes; reads by range; crash leftovers cleaned."""

from __future__ import annotations

import os

import pytest
from pallet import errors
from pallet.images._content import ContentStore

from tests.images._tars import sha


@pytest.fixture
def store(tmp_path: os.PathLike[str]) -> ContentStore:
    return ContentStore(os.path.join(str(tmp_path), "content"))


def test_write_verify_commit_and_read(store: ContentStore) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    with store.writer(sha(data), len(data)) as w:
        for i in range(0, len(data), 100_000):
            w.write(data[i:i + 100_000])
        digest, created = w.commit()
    assert digest == sha(data) and created
    assert os.listdir(store.ingest_dir) == []
    info = store.info(digest)
    assert info.size == len(data)
    chunks = list(store.read(digest))
    assert len(chunks) == 4 and all(len(c) <= 1 << 20 for _, c in chunks)
    assert b"".join(c for _, c in chunks) == data
    assert chunks[1][0] == 1 << 20
    assert b"".join(c for _, c in store.read(digest, offset=10, size=5)) == data[10:15]
    assert [b.digest for b in store.list_blobs()] == [digest]
    # Writing the same content again keeps the existing blob.
    assert store.put(data) == (digest, False)


@pytest.mark.parametrize("bad", ["digest", "size"])
def test_mismatch_is_refused_and_leaves_nothing(store: ContentStore, bad: str) -> None:
    data = b"hello world"
    expected = sha(b"something else") if bad == "digest" else sha(data)
    size = len(data) + (1 if bad == "size" else 0)
    with store.writer(expected, size) as w:
        w.write(data)
        with pytest.raises(errors.InvalidArgument, match="mismatch"):
            w.commit()
    assert os.listdir(store.ingest_dir) == [] and os.listdir(store.blob_dir) == []


def test_errors_and_cleanup(store: ContentStore) -> None:
    with pytest.raises(errors.NotFound):
        store.info(sha(b"missing"))
    with pytest.raises(errors.InvalidArgument):
        store.info("sha256:xyz")
    with pytest.raises(errors.InvalidArgument, match="unsupported"):
        store.info("sha512:" + "a" * 128)
    digest, _ = store.put(b"abc")
    with pytest.raises(errors.InvalidArgument, match="beyond"):
        list(store.read(digest, offset=10))
    store.delete(digest)
    with pytest.raises(errors.NotFound):
        store.delete(digest)
    # A crash mid-write leaves an ingest file; the next start removes it.
    w = store.writer()
    w.write(b"partial")
    assert store.cleanup() == 1
    assert os.listdir(store.ingest_dir) == []
