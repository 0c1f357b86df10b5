"""Fixtures for the imagesvc tests: a backend on a temporary root, cleaned up whatever happens."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from pallet.images._backend import Backend
from pallet.images._images import ImageService

from tests import _host

if os.geteuid() != 0:
    pytest.skip("the imagesvc tests need root (chown, mknod, overlay mounts)", allow_module_level=True)


@pytest.fixture
def root(tmp_path: os.PathLike[str]) -> Iterator[str]:
    path = os.path.join(str(tmp_path), "root")
    os.makedirs(path)
    try:
        yield path
    finally:
        _host.umount_under(str(tmp_path))
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def backend(root: str) -> Iterator[Backend]:
    b = Backend(root)
    b.recover()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def images(backend: Backend) -> ImageService:
    return ImageService(backend)


def snapshot_dirs(root: str) -> list[str]:
    """Every directory under <root>/snapshots (as the engine's hostile-input test counts them)."""
    out = []
    for dirpath, dirs, _files in os.walk(os.path.join(root, "snapshots")):
        out += [os.path.join(dirpath, d) for d in dirs]
    return sorted(out)
