"""The client side of `palletctl build`'s context: walking, the tar stream, stdin, -f resolution."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import tracemalloc
from collections.abc import Iterable
from pathlib import Path

import pytest
from pallet.client import _buildctx as bc
from pallet.client.cli import CLIError
from pallet.dockerignore import Matcher, load

ROOT = os.geteuid() == 0


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    _tree(root, {
        "Dockerfile": "FROM busybox\nCOPY . /app\n",
        ".dockerignore": "*.md\n!README.md\nbuild\nnode_modules\nsecret\n!secret/keep.txt\n**/*.pyc\n",
        "README.md": "readme\n",
        "NOTES.md": "notes\n",
        "src/app.py": "print('hi')\n",
        "src/app.pyc": "junk",
        "src/lib/util.py": "x = 1\n",
        "src/lib/util.pyc": "junk",
        "build/out.o": "obj",
        "node_modules/pkg/index.js": "js",
        "secret/key": "k",
        "secret/keep.txt": "kept",
        "secret/deeper/also": "no",
    })
    (root / "empty").mkdir()
    os.symlink("src/app.py", root / "link")
    os.symlink("src", root / "dirlink")
    os.symlink("/nonexistent", root / "dangling")
    os.mkfifo(root / "fifo")
    return root


def _matcher(root: Path) -> Matcher:
    return Matcher(load(str(root / ".dockerignore")))


def _walk(root: Path, keep: set[str] | None = None) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    rels = [e.rel for e in bc.walk_context(str(root), _matcher(root), keep or set(), warn=warnings.append)]
    return rels, warnings


def test_walk_filters_sorts_and_warns(ctx: Path) -> None:
    rels, warnings = _walk(ctx)
    assert rels == [
        ".dockerignore", "Dockerfile", "README.md", "dangling", "dirlink", "empty", "link",
        "secret", "secret/keep.txt", "src", "src/app.py", "src/lib", "src/lib/util.py",
    ]
    assert warnings == ['WARNING: skipping named pipe "fifo" in the build context']


def test_walk_kinds_and_symlinks_not_followed(ctx: Path) -> None:
    entries = {e.rel: e for e in bc.walk_context(str(ctx), _matcher(ctx), warn=lambda m: None)}
    assert entries["dirlink"].kind == "symlink" and entries["dirlink"].link == "src"
    assert entries["link"].link == "src/app.py"
    assert entries["dangling"].link == "/nonexistent"
    assert not any(r.startswith("dirlink/") for r in entries)
    assert entries["src"].kind == "dir" and entries["src/app.py"].kind == "file"
    assert entries["src/app.py"].path == str(ctx / "src" / "app.py")


def test_walk_prunes_excluded_directories(ctx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    real = os.listdir

    def spy(path: str) -> list[str]:
        listed.append(os.path.relpath(path, ctx))
        return real(path)

    monkeypatch.setattr(bc.os, "listdir", spy)
    _walk(ctx)
    # secret is read (an exception reaches into it), build and node_modules are not
    # secret/deeper is not: "!secret/keep.txt" cannot reach below it
    assert sorted(listed) == [".", "empty", "secret", "src", "src/lib"]


def test_walk_wildcard_exception_reaches_everywhere(tmp_path: Path) -> None:
    _tree(tmp_path, {"a/b/c.go": "", "a/b/c.txt": "", "d.go": "", "e.txt": ""})
    rels = [e.rel for e in bc.walk_context(str(tmp_path), Matcher(["*", "!**/*.go"]))]
    # excluded directories holding something sent are sent too, just before it
    assert rels == ["a", "a/b", "a/b/c.go", "d.go"]


def test_walk_keep_overrides_exclusion(tmp_path: Path) -> None:
    _tree(tmp_path, {"Dockerfile": "", ".dockerignore": "", "sub/Dockerfile.dev": "", "sub/x": "", "y": ""})
    m = Matcher(["*"])
    assert [e.rel for e in bc.walk_context(str(tmp_path), m, {"Dockerfile", ".dockerignore"})] == [
        ".dockerignore", "Dockerfile"]
    assert [e.rel for e in bc.walk_context(str(tmp_path), m, {"./sub/Dockerfile.dev"})] == [
        "sub", "sub/Dockerfile.dev"]


def test_walk_without_patterns_sends_everything(tmp_path: Path) -> None:
    _tree(tmp_path, {"b": "", "a/z": "", "a.txt": "", "A": ""})
    # Go's order: each directory's names sorted bytewise, depth first
    assert [e.rel for e in bc.walk_context(str(tmp_path), Matcher([]))] == ["A", "a", "a/z", "a.txt", "b"]


def _deny(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """Make denied unreadable, also for root."""
    real_access, real_listdir = os.access, os.listdir

    def access(path: str, mode: int) -> bool:
        return path != str(denied) and real_access(path, mode)

    def listdir(path: str) -> list[str]:
        if path == str(denied):
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(path)

    monkeypatch.setattr(bc.os, "access", access)
    monkeypatch.setattr(bc.os, "listdir", listdir)


def test_walk_unreadable_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path, {"ok": "", "locked": "secret"})
    _deny(monkeypatch, tmp_path / "locked")
    with pytest.raises(CLIError) as info:
        list(bc.walk_context(str(tmp_path), Matcher([])))
    assert str(info.value) == f"palletctl: error checking context: no permission to read from '{tmp_path / 'locked'}'"
    assert info.value.status == 1
    # excluded, it is not looked at
    assert [e.rel for e in bc.walk_context(str(tmp_path), Matcher(["locked"]))] == ["ok"]


def test_walk_unreadable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path, {"data/x": "", "ok": ""})
    _deny(monkeypatch, tmp_path / "data")
    with pytest.raises(CLIError, match="can't read directory '.*data': permission denied"):
        list(bc.walk_context(str(tmp_path), Matcher([])))
    assert [e.rel for e in bc.walk_context(str(tmp_path), Matcher(["data"]))] == ["ok"]
    # entered because a wildcard exception might match inside: unreadable is fine then
    assert [e.rel for e in bc.walk_context(str(tmp_path), Matcher(["data", "!**/x"]))] == ["ok"]


@pytest.mark.skipif(ROOT, reason="root reads anything")
def test_walk_really_unreadable_file(tmp_path: Path) -> None:
    _tree(tmp_path, {"locked": "secret"})
    (tmp_path / "locked").chmod(0)
    with pytest.raises(CLIError, match="no permission to read from"):
        bc.context_tar(str(tmp_path), "Dockerfile", Matcher([]))


# -- the tar stream -------------------------------------------------------------------


def _tar(chunks: Iterable[bytes]) -> tarfile.TarFile:
    data = b"".join(chunks)
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:")


def test_context_tar_contents(ctx: Path) -> None:
    os.chmod(ctx / "src" / "app.py", 0o751)
    os.utime(ctx / "src" / "app.py", (1_600_000_000.7, 1_600_000_000.7))
    tar = _tar(bc.context_tar(str(ctx), "Dockerfile", _matcher(ctx), warn=lambda m: None))
    members = {m.name: m for m in tar.getmembers()}
    assert list(members) == [
        ".dockerignore", "Dockerfile", "README.md", "dangling", "dirlink", "empty", "link",
        "secret", "secret/keep.txt", "src", "src/app.py", "src/lib", "src/lib/util.py",
    ]
    for m in members.values():
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
    app = members["src/app.py"]
    assert app.isfile() and app.mode == 0o751 and app.mtime == 1_600_000_000
    assert tar.extractfile(app).read() == b"print('hi')\n"  # type: ignore[union-attr]
    assert members["src"].isdir() and members["empty"].isdir()
    assert members["link"].issym() and members["link"].linkname == "src/app.py"
    assert members["dirlink"].issym() and members["dirlink"].linkname == "src"


def test_context_tar_keeps_excluded_dockerfile_and_dockerignore(tmp_path: Path) -> None:
    _tree(tmp_path, {"Dockerfile": "FROM x\n", ".dockerignore": "Dockerfile\n.dockerignore\nsub\n",
                     "sub/Dockerfile.dev": "FROM y\n", "sub/other": ""})
    m = _matcher(tmp_path)
    assert _tar(bc.context_tar(str(tmp_path), "Dockerfile", m)).getnames() == [".dockerignore", "Dockerfile"]
    assert _tar(bc.context_tar(str(tmp_path), "sub/Dockerfile.dev", m)).getnames() == [
        ".dockerignore", "sub", "sub/Dockerfile.dev"]


def test_context_tar_is_deterministic(ctx: Path) -> None:
    m = _matcher(ctx)
    first = b"".join(bc.context_tar(str(ctx), "Dockerfile", m, warn=lambda s: None))
    second = b"".join(bc.context_tar(str(ctx), "Dockerfile", m, warn=lambda s: None))
    assert first == second
    assert len(first) % 512 == 0 and first.endswith(b"\0" * 1024)


def test_context_tar_hardlinks(tmp_path: Path) -> None:
    _tree(tmp_path, {"a": "same"})
    os.link(tmp_path / "a", tmp_path / "b")
    tar = _tar(bc.context_tar(str(tmp_path), "Dockerfile", Matcher([])))
    a, b = tar.getmembers()
    assert a.isfile() and a.size == 4
    assert b.islnk() and b.linkname == "a"


def test_context_tar_streams_big_files(tmp_path: Path) -> None:
    size = 48 * 1024 * 1024 + 123
    with open(tmp_path / "big", "wb") as f:
        f.truncate(size)  # sparse: cheap to make, read as zeros
    (tmp_path / "small").write_bytes(b"x" * 1000)
    stream = bc.context_tar(str(tmp_path), "Dockerfile", Matcher([]))
    tracemalloc.start()
    try:
        total = 0
        biggest = 0
        for chunk in stream:
            total += len(chunk)
            biggest = max(biggest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > size
    assert biggest < 2 * bc.CHUNK
    assert peak < 2 * 1024 * 1024, peak  # a few chunks, not the file


def test_context_tar_validates_before_streaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path, {"a": "", "b": ""})
    calls: list[str] = []

    def boom(path: str, mode: int) -> bool:
        calls.append(path)
        return not path.endswith("/b")

    monkeypatch.setattr(bc.os, "access", boom)
    with pytest.raises(CLIError, match="no permission to read from '.*/b'"):
        bc.context_tar(str(tmp_path), "Dockerfile", Matcher([]))  # raises at the call, before any byte


def test_context_tar_with_dockerfile_from_outside(tmp_path: Path) -> None:
    _tree(tmp_path, {"Dockerfile": "FROM in\n", ".dockerignore": "*.log", "a.log": ""})
    name = bc.generated_name(b"FROM out\n")
    tar = _tar(bc.context_tar(str(tmp_path), name, _matcher(tmp_path), dockerfile_content=b"FROM out\n"))
    assert tar.getnames() == [".dockerignore", "Dockerfile", name]
    assert tar.extractfile(".dockerignore").read() == f"*.log\n{name}\n".encode()  # type: ignore[union-attr]
    assert tar.extractfile(name).read() == b"FROM out\n"  # type: ignore[union-attr]
    assert tar.getmember(name).mode == 0o600

    (tmp_path / ".dockerignore").unlink()
    tar = _tar(bc.context_tar(str(tmp_path), name, Matcher([]), dockerfile_content=b"FROM out\n"))
    assert tar.getnames() == ["Dockerfile", "a.log", ".dockerignore", name]
    assert tar.extractfile(".dockerignore").read() == f".dockerignore\n{name}\n".encode()  # type: ignore[union-attr]


def test_long_and_unicode_names(tmp_path: Path) -> None:
    long = "d" * 120 + "/" + "f" * 150
    _tree(tmp_path, {long: "x", "ünïcode.txt": "y"})
    names = _tar(bc.context_tar(str(tmp_path), "Dockerfile", Matcher([]))).getnames()
    assert names == ["d" * 120, long, "ünïcode.txt"]


# -- palletctl build - -------------------------------------------------------------------


def _tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"FROM busybox\n"
        ti = tarfile.TarInfo("Dockerfile")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress])
def test_stdin_archive_forwarded_as_is(compress) -> None:  # type: ignore[no-untyped-def]
    data = compress(_tar_bytes()) + b"trailing" * 20000
    kind, chunks = bc.from_stdin(io.BytesIO(data))
    assert kind == "tar"
    assert b"".join(chunks) == data


def test_stdin_dockerfile_becomes_a_context() -> None:
    text = b"FROM busybox\nRUN echo hi\n" * 100
    kind, chunks = bc.from_stdin(io.BytesIO(text))
    assert kind == "dockerfile"
    tar = _tar(chunks)
    (m,) = tar.getmembers()
    assert m.name == "Dockerfile" and m.isfile() and m.uid == 0
    assert tar.extractfile(m).read() == text  # type: ignore[union-attr]


@pytest.mark.parametrize("text", [b"", b"FROM x", b"\0" * 1024])
def test_stdin_short_or_empty_is_a_dockerfile(text: bytes) -> None:
    kind, chunks = bc.from_stdin(io.BytesIO(text))
    assert kind == "dockerfile"
    assert _tar(chunks).extractfile("Dockerfile").read() == text  # type: ignore[union-attr]


def test_stdin_flag_errors() -> None:
    with pytest.raises(CLIError, match="can't use stdin for both build context and dockerfile"):
        bc.from_stdin(io.BytesIO(b"FROM x"), "-")
    with pytest.raises(CLIError, match="ambiguous Dockerfile source"):
        bc.from_stdin(io.BytesIO(b"FROM x"), "Dockerfile.dev")
    kind, _ = bc.from_stdin(io.BytesIO(_tar_bytes()), "sub/Dockerfile")
    assert kind == "tar"


def test_detect_compression() -> None:
    assert bc.detect_compression(gzip.compress(b"x")) == "gzip"
    assert bc.detect_compression(b"\x28\xb5\x2f\xfd....") == "zstd"
    assert bc.detect_compression(b"FROM") == ""
    assert bc.is_archive(_tar_bytes()[:1024])
    assert not bc.is_archive(b"FROM scratch\n" + b" " * 600)


# -- -f ----------------------------------------------------------------------------------


def test_resolve_default_and_lowercase(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    src = bc.resolve_dockerfile(str(tmp_path), None)
    assert src == bc.DockerfileSource(str(tmp_path.resolve()), "Dockerfile", None)
    (tmp_path / "Dockerfile").unlink()
    (tmp_path / "dockerfile").write_text("FROM x\n")
    assert bc.resolve_dockerfile(str(tmp_path), "").name == "dockerfile"


def test_resolve_errors(tmp_path: Path) -> None:
    with pytest.raises(CLIError) as info:
        bc.resolve_dockerfile(str(tmp_path), None)
    assert str(info.value) == "palletctl: Cannot locate specified Dockerfile: Dockerfile"
    with pytest.raises(CLIError) as info:
        bc.resolve_dockerfile(str(tmp_path / "nope"), None)
    assert str(info.value) == f'palletctl: unable to prepare context: path "{tmp_path / "nope"}" not found'
    (tmp_path / "file").write_text("")
    with pytest.raises(CLIError, match="unable to prepare context: context must be a directory: .*file$"):
        bc.resolve_dockerfile(str(tmp_path / "file"), None)
    with pytest.raises(CLIError, match="Cannot locate specified Dockerfile: missing.df$"):
        bc.resolve_dockerfile(str(tmp_path), "missing.df")
    (tmp_path / "sub").mkdir()
    with pytest.raises(CLIError, match=r"the Dockerfile \(.*sub\) is a directory"):
        bc.resolve_dockerfile(str(tmp_path), str(tmp_path / "sub"))


def test_resolve_f_is_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = tmp_path / "ctx"
    _tree(ctx, {"docker/Dockerfile.dev": "FROM dev\n", "Dockerfile.dev": "FROM top\n"})
    monkeypatch.chdir(ctx / "docker")
    src = bc.resolve_dockerfile("..", "Dockerfile.dev")
    assert (src.context, src.name, src.content) == (str(ctx.resolve()), "docker/Dockerfile.dev", None)


def test_resolve_outside_context_is_added(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (tmp_path / "Dockerfile.out").write_text("FROM out\n")
    monkeypatch.chdir(tmp_path)
    src = bc.resolve_dockerfile("ctx", "Dockerfile.out")
    assert src.content == b"FROM out\n"
    assert src.name == bc.generated_name(b"FROM out\n")
    assert src.name.startswith(".dockerfile.") and len(src.name) == len(".dockerfile.") + 20


def test_resolve_symlinks(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    _tree(ctx, {"files/real.Dockerfile": "FROM x\n"})
    os.symlink("files/real.Dockerfile", ctx / "Dockerfile")
    os.symlink("ctx", tmp_path / "ctxlink")
    src = bc.resolve_dockerfile(str(tmp_path / "ctxlink"), None)
    assert (src.context, src.name) == (str(ctx.resolve()), "files/real.Dockerfile")
    # a symlink leading out of the context: its content travels instead
    (tmp_path / "outside").write_text("FROM out\n")
    os.unlink(ctx / "Dockerfile")
    os.symlink(tmp_path / "outside", ctx / "Dockerfile")
    src = bc.resolve_dockerfile(str(ctx), None)
    assert src.content == b"FROM out\n" and src.name.startswith(".dockerfile.")


def test_resolve_dockerfile_from_stdin(tmp_path: Path) -> None:
    src = bc.resolve_dockerfile(str(tmp_path), "-", io.BytesIO(b"FROM stdin\n"))
    assert src.content == b"FROM stdin\n" and src.name == bc.generated_name(b"FROM stdin\n")


def test_build_flow_end_to_end(ctx: Path) -> None:
    """What `palletctl build` will do with a local directory."""
    src = bc.resolve_dockerfile(str(ctx), None)
    m = Matcher(load(os.path.join(src.context, ".dockerignore")))
    tar = _tar(bc.context_tar(src.context, src.name, m, dockerfile_content=src.content, warn=lambda s: None))
    assert "Dockerfile" in tar.getnames() and "NOTES.md" not in tar.getnames()
