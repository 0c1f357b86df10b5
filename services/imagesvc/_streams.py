"""Small file-like adapters: request streams as readers, hashing, teeing, decompression.

Every byte of a layer goes through each adapter once: the compressed blob is
teed into the content store, the decompressed stream is hashed for the DiffID
and parsed as tar in the same pass.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from pallet import errors

CHUNK = 1 << 20

PLAIN, GZIP, BZIP2, XZ, ZSTD = "", "gzip", "bzip2", "xz", "zstd"
_MAGIC = ((b"\x1f\x8b", GZIP), (b"BZh", BZIP2), (b"\xfd7zXZ\x00", XZ), (b"\x28\xb5\x2f\xfd", ZSTD))


class Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def detect(head: bytes) -> str:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return PLAIN


class IterReader:
    """A reader over an iterator of byte chunks (a gRPC request stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._buf, *self._it]
            self._buf, self._eof = b"", True
            return b"".join(parts)
        while not self._buf and not self._eof:
            try:
                self._buf = next(self._it)
            except StopIteration:
                self._eof = True
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


class PeekReader:
    """A reader that can look at its first bytes without consuming them."""

    def __init__(self, raw: Reader) -> None:
        self._raw = raw
        self._head = b""

    def peek(self, n: int) -> bytes:
        while len(self._head) < n:
            data = self._raw.read(n - len(self._head))
            if not data:
                break
            self._head += data
        return self._head[:n]

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + self._raw.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._raw.read(n)


class TeeReader:
    """Passes every byte read to a sink (a content Writer's write)."""

    def __init__(self, raw: Reader, sink: Callable[[bytes], Any]) -> None:
        self._raw = raw
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._sink(data)
        return data


class HashReader:
    """sha256 and length of everything read through it."""

    def __init__(self, raw: Reader) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._hash.update(data)
            self.count += len(data)
        return data

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class GuardedReader:
    """Turns decompression errors into one clear InvalidArgument."""

    def __init__(self, raw: Reader, what: str) -> None:
        self._raw = raw
        self._what = what

    def read(self, n: int = -1) -> bytes:
        try:
            return self._raw.read(n)
        except errors.PalletError:
            raise
        except (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError, ValueError) as exc:
            raise errors.InvalidArgument(f"{self._what}: corrupt compressed data: {exc}") from None


class _ZstdReader:
    """zstandard's stream reader with its errors as ValueError (what GuardedReader reports)."""

    def __init__(self, raw: Any, error: type[Exception]) -> None:
        self._raw = raw
        self._error = error

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._raw.read(n))
        except self._error as exc:
            raise ValueError(str(exc)) from None


def decompress(raw: Reader, kind: str, what: str = "layer") -> Reader:
    """A reader of the uncompressed bytes of raw, compressed as `kind`."""
    if kind == PLAIN:
        return raw
    src: Any = raw
    opened: Any
    if kind == ZSTD:
        import zstandard

        opened = _ZstdReader(zstandard.ZstdDecompressor().stream_reader(src, read_size=CHUNK, closefd=False,
                                                                        read_across_frames=True),
                             zstandard.ZstdError)
    elif kind == GZIP:
        opened = gzip.GzipFile(fileobj=src, mode="rb")  # noqa: SIM115 - returned open
    elif kind == BZIP2:
        opened = bz2.BZ2File(src, mode="rb")
    elif kind == XZ:
        opened = lzma.LZMAFile(src, mode="rb")  # noqa: SIM115 - returned open
    else:
        raise errors.InvalidArgument(f"{what}: unknown compression {kind}")
    return GuardedReader(opened, what)


def drain(reader: Reader) -> None:
    while reader.read(CHUNK):
        pass


def copy(reader: Reader, sink: Callable[[bytes], Any]) -> int:
    n = 0
    while True:
        data = reader.read(CHUNK)
        if not data:
            return n
        sink(data)
        n += len(data)
