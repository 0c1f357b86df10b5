"""Images, registries and classic builds through the docker CLI (20.10) and docker-py."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dockerapi.conftest import DockerAPIEngine
from tests.registry._server import Registry, run_registry

pytestmark = pytest.mark.integration

PID = os.getpid()
CLASSIC = {"DOCKER_BUILDKIT": "0"}
HEX12 = re.compile(r"^[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """pallet-registry on a loopback port (plain HTTP, which 127.0.0.1 may use)."""
    with run_registry(str(tmp_path_factory.mktemp("dapi-reg") / "root")) as reg:
        yield reg


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """pallet-registry with htpasswd basic auth: alice may push and pull alice/**."""
    import bcrypt

    tmp = tmp_path_factory.mktemp("dapi-authreg")
    (tmp / "htpasswd").write_text(f"alice:{bcrypt.hashpw(b'wonderland', bcrypt.gensalt(4)).decode()}\n")
    (tmp / "config.json").write_text(json.dumps({"auth": {
        "htpasswd": {"realm": "dapi-test", "path": str(tmp / "htpasswd")},
        "access": [{"account": "alice", "repository": "alice/**", "actions": ["pull", "push", "delete"]}]}}))
    with run_registry(str(tmp / "root"), "--config", str(tmp / "config.json")) as reg:
        yield reg


def _rmi(dapi: DockerAPIEngine, *names: str) -> None:
    for n in names:
        dapi.engine.ctl("rmi", "-f", n)


def _ids(dapi: DockerAPIEngine, ref: str) -> list[str]:
    return dapi.docker("images", "-q", ref, check=True).stdout.split()


# -- list, inspect, history, tag, rmi ---------------------------------------------------------


def test_docker_images_list_and_filters(dapi: DockerAPIEngine) -> None:
    res = dapi.docker("images", check=True)
    header, *rows = res.stdout.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(r.split()[:2] == ["busybox", "latest"] for r in rows)
    ids = _ids(dapi, "busybox")
    assert len(ids) == 1 and HEX12.match(ids[0])
    out = dapi.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "--filter", "reference=busybox",
                      check=True).stdout
    assert out.splitlines() == [f"busybox:latest {ids[0]}"]
    assert "busybox" not in dapi.docker("images", "--filter", "dangling=true", "--format", "{{.Repository}}",
                                        check=True).stdout
    assert dapi.docker("images", "-q", "--no-trunc", "busybox", check=True).stdout.strip().startswith("sha256:")
    res = dapi.docker("images", "--filter", "nope=1")
    assert res.returncode == 1 and "invalid filter" in res.stderr


def test_docker_inspect_and_history(dapi: DockerAPIEngine) -> None:
    doc = json.loads(dapi.docker("inspect", "busybox", check=True).stdout)
    assert len(doc) == 1
    img = doc[0]
    assert img["Id"].startswith("sha256:") and "busybox:latest" in img["RepoTags"]
    assert img["Config"]["Cmd"] == ["sh"] and img["Os"] == "linux" and img["RootFS"]["Type"] == "layers"
    assert img["Size"] > 0 and img["VirtualSize"] == img["Size"]
    out = dapi.docker("image", "inspect", "--format", "{{.Os}} {{json .Config.Cmd}}", "busybox", check=True).stdout
    assert out.strip() == 'linux ["sh"]'
    res = dapi.docker("image", "inspect", "dapi-no-such-image")
    assert res.returncode == 1 and "No such image" in res.stderr

    header, *rows = dapi.docker("history", "busybox", check=True).stdout.splitlines()
    assert header.split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert rows and rows[0].split()[0] == img["Id"].removeprefix("sha256:")[:12]
    out = dapi.docker("history", "--format", "{{.ID}}|{{.CreatedBy}}", "--no-trunc", "busybox", check=True).stdout
    assert out.splitlines()[0].startswith(img["Id"] + "|")
    assert dapi.docker("history", "-q", "busybox", check=True).stdout.split()[0] == img["Id"][7:19]


def test_docker_tag_and_rmi(dapi: DockerAPIEngine) -> None:
    name = f"dapi-tag-{PID}"
    try:
        dapi.docker("tag", "busybox", f"{name}:1", check=True)
        dapi.docker("tag", "busybox", f"{name}/sub:2", check=True)
        assert _ids(dapi, f"{name}:1") == _ids(dapi, "busybox")
        res = dapi.docker("rmi", f"{name}:1", f"{name}/sub:2", check=True)
        assert res.stdout.splitlines() == [f"Untagged: {name}:1", f"Untagged: {name}/sub:2"]
        assert _ids(dapi, f"{name}:1") == [] and _ids(dapi, "busybox")
        res = dapi.docker("rmi", f"{name}:1")
        assert res.returncode == 1 and "No such image" in res.stderr
        res = dapi.docker("tag", "busybox", "Bad:Name")
        assert res.returncode != 0
    finally:
        _rmi(dapi, f"{name}:1", f"{name}/sub:2")


def test_docker_rmi_conflict_is_409(dapi: DockerAPIEngine, busybox_tar: str) -> None:
    import docker.errors

    name, ctr = f"dapi-conflict-{PID}:1", f"dapi-conflict-{PID}"
    c = dapi.client()
    try:
        iid = dapi.engine.ctl("import", busybox_tar, name, check=True).stdout.strip()  # an image of one name
        dapi.engine.ctl("create", "--name", ctr, name, "true", check=True)
        res = dapi.docker("rmi", name)
        assert res.returncode == 1
        assert res.stderr == (f'Error response from daemon: conflict: unable to remove repository reference "{name}" '
                              f"(must force) - container {_ctr_id(dapi, ctr)[:12]} is using its referenced image "
                              f"{iid[7:19]}\n")
        with pytest.raises(docker.errors.APIError) as info:
            c.images.remove(iid)
        assert info.value.status_code == 409
        assert "(must be forced) - image is being used by stopped container" in info.value.explanation
        dapi.engine.ctl("rm", ctr, check=True)
        res = dapi.docker("rmi", name, check=True)
        assert res.stdout.splitlines() == [f"Untagged: {name}", f"Deleted: {iid}"]
    finally:
        dapi.engine.ctl("rm", "-f", ctr)
        _rmi(dapi, name)
        c.close()


def _unique_image(dapi: DockerAPIEngine, tmp: Path, name: str) -> str:
    """An image of one layer no other image has (so that a pull downloads it): its ID."""
    import io
    import tarfile

    data = os.urandom(300_000)
    path = tmp / f"layer-{PID}.tar"
    with tarfile.open(path, "w") as tar:
        ti = tarfile.TarInfo("blob.bin")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    return dapi.engine.ctl("import", "-c", 'CMD ["sh"]', str(path), name, check=True).stdout.strip()


def _ctr_id(dapi: DockerAPIEngine, name: str) -> str:
    return dapi.engine.ctl("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()


# -- registries ---------------------------------------------------------------------------------


def test_docker_push_then_pull(dapi: DockerAPIEngine, registry: Registry, tmp_path: Path) -> None:
    repo = f"{registry.addr}/dapi/bb{PID}"
    try:
        iid = _unique_image(dapi, tmp_path, f"{repo}:1")
        res = dapi.docker("push", f"{repo}:1", check=True)
        assert f"The push refers to repository [{repo}]" in res.stdout
        assert re.search(r"Pushed$", res.stdout, re.M)
        assert re.search(r"^1: digest: sha256:[0-9a-f]{64} size: \d+$", res.stdout, re.M), res.stdout
        res = dapi.docker("push", f"{repo}:1", check=True)
        assert "Layer already exists" in res.stdout
        dapi.docker("rmi", f"{repo}:1", check=True)
        assert _ids(dapi, f"{repo}:1") == []

        res = dapi.docker("pull", f"{repo}:1", check=True)
        lines = res.stdout.splitlines()
        assert lines[0] == f"1: Pulling from dapi/bb{PID}"
        assert any(line.endswith(": Pull complete") for line in lines)
        assert any(re.match(r"^Digest: sha256:[0-9a-f]{64}$", line) for line in lines)
        assert f"Status: Downloaded newer image for {repo}:1" in lines and lines[-1] == f"{repo}:1"
        assert _ids(dapi, f"{repo}:1") == [iid[7:19]]
        res = dapi.docker("pull", f"{repo}:1", check=True)
        assert f"Status: Image is up to date for {repo}:1" in res.stdout

        res = dapi.docker("pull", f"{repo}:nope")
        assert res.returncode == 1 and "not found" in res.stderr.lower(), res.stderr
    finally:
        _rmi(dapi, f"{repo}:1")


def test_docker_py_pull_push_progress(dapi: DockerAPIEngine, registry: Registry, tmp_path: Path) -> None:
    import docker.errors

    repo = f"{registry.addr}/dapi/py{PID}"
    c = dapi.client()
    try:
        iid = _unique_image(dapi, tmp_path, f"{repo}:2")
        events = list(c.api.push(repo, tag="2", stream=True, decode=True))
        assert events[0] == {"status": f"The push refers to repository [{repo}]"}
        layer = [e for e in events if e.get("id")]
        assert layer and all(e["progressDetail"] is not None for e in layer)
        assert any(e["status"] == "Pushed" for e in layer)
        aux = [e["aux"] for e in events if "aux" in e]
        assert aux and aux[0]["Tag"] == "2" and aux[0]["Digest"].startswith("sha256:")
        assert not any("error" in e for e in events)
        c.images.remove(f"{repo}:2")

        events = list(c.api.pull(repo, tag="2", stream=True, decode=True))
        assert events[0] == {"status": f"Pulling from dapi/py{PID}", "id": "2"}
        downloading = [e for e in events if e.get("status") == "Downloading"]
        assert downloading
        for e in downloading:
            assert e["progressDetail"]["total"] > 0 and e["progress"].startswith("[")
            assert e["id"] == e["id"].strip() and HEX12.match(e["id"])
        assert {"Pulling fs layer", "Pull complete"} <= {e.get("status") for e in events}
        assert {"status": f"Status: Downloaded newer image for {repo}:2"} in events
        img = c.images.get(f"{repo}:2")
        assert f"{repo}:2" in img.tags and img.id == iid
        c.images.remove(f"{repo}:2")
        img = c.images.pull(repo, tag="2")
        assert f"{repo}:2" in img.tags

        with pytest.raises(docker.errors.APIError) as info:  # before any progress: an HTTP error
            c.api.pull(repo, tag="nope")
        assert info.value.status_code == 404 and "not found" in str(info.value).lower()
    finally:
        _rmi(dapi, f"{repo}:2")
        c.close()


def test_docker_login_and_authenticated_push(dapi: DockerAPIEngine, auth_registry: Registry) -> None:
    server = auth_registry.addr
    repo = f"{server}/alice/bb{PID}"
    try:
        res = dapi.docker("login", "-u", "alice", "--password-stdin", server, input="wrong\n")
        assert res.returncode == 1 and "unauthorized" in res.stderr.lower(), res.stderr
        res = dapi.docker("login", "-u", "alice", "--password-stdin", server, input="wonderland\n", check=True)
        assert "Login Succeeded" in res.stdout
        cfg = json.loads(Path(dapi.config_dir, "config.json").read_text())
        assert server in cfg["auths"]
        dapi.docker("tag", "busybox", f"{repo}:1", check=True)
        res = dapi.docker("push", f"{repo}:1", check=True)
        assert re.search(r"^1: digest: sha256:", res.stdout, re.M)
        dapi.docker("rmi", f"{repo}:1", check=True)
        dapi.docker("pull", f"{repo}:1", check=True)
        dapi.docker("logout", server, check=True)
        res = dapi.docker("pull", f"{repo}:1")
        assert res.returncode == 1
        # docker-py: login, and credentials in X-Registry-Auth
        c = dapi.client()
        try:
            assert c.login("alice", "wonderland", registry=f"http://{server}", reauth=True)["Status"] == \
                "Login Succeeded"
            import docker.errors

            with pytest.raises(docker.errors.APIError) as info:
                c.login("alice", "nope", registry=server, reauth=True)
            assert info.value.status_code == 401
            c.images.remove(f"{repo}:1")
            img = c.images.pull(repo, tag="1", auth_config={"username": "alice", "password": "wonderland"})
            assert f"{repo}:1" in img.tags
        finally:
            c.close()
    finally:
        dapi.docker("logout", server)
        _rmi(dapi, f"{repo}:1")


def test_docker_search_is_a_clear_error(dapi: DockerAPIEngine) -> None:
    res = dapi.docker("search", "busybox")
    assert res.returncode == 1
    assert "search is not supported by Pallet: there is no index to search; pull by name" in res.stderr


# -- save, load, import -------------------------------------------------------------------------


def test_docker_save_and_load(dapi: DockerAPIEngine, tmp_path: Path) -> None:
    name = f"dapi-save-{PID}:1"
    archive = str(tmp_path / "img.tar")
    try:
        dapi.docker("tag", "busybox", name, check=True)
        dapi.docker("save", "-o", archive, name, check=True)
        assert os.path.getsize(archive) > 100_000
        import tarfile

        with tarfile.open(archive) as tar:
            assert "manifest.json" in tar.getnames()
        dapi.docker("rmi", name, check=True)
        res = dapi.docker("load", "-i", archive, check=True)
        assert res.stdout.strip() == f"Loaded image: {name}"
        assert _ids(dapi, name) == _ids(dapi, "busybox")
        # through a pipe, as `docker save | docker load` runs
        data = dapi.docker("save", name, input=b"", check=True).stdout
        dapi.docker("rmi", name, check=True)
        res = dapi.docker("load", input=data, check=True)
        assert res.stdout.decode().strip() == f"Loaded image: {name}"
        res = dapi.docker("save", "-o", archive, "dapi-no-such-image")
        assert res.returncode == 1 and "dapi-no-such-image" in res.stderr
    finally:
        _rmi(dapi, name)


def test_docker_import_and_prune(dapi: DockerAPIEngine, busybox_tar: str) -> None:
    name = f"dapi-import-{PID}:1"
    c = dapi.client()
    try:
        res = dapi.docker("import", "-c", "CMD [\"sh\"]", "-m", "from a tarball", busybox_tar, name, check=True)
        iid = res.stdout.strip()
        assert iid.startswith("sha256:")
        doc = json.loads(dapi.docker("inspect", name, check=True).stdout)[0]
        assert doc["Id"] == iid and doc["Config"]["Cmd"] == ["sh"] and doc["Comment"] == "from a tarball"

        dangling = dapi.docker("import", busybox_tar, check=True).stdout.strip()  # no name
        assert dangling in dapi.docker("images", "-q", "--no-trunc", "--filter", "dangling=true", check=True).stdout
        res = dapi.docker("image", "prune", "-f", check=True)
        assert f"deleted: {dangling}" in res.stdout.splitlines() and "Total reclaimed space: " in res.stdout
        assert _ids(dapi, name) == [iid[7:19]]  # named: not dangling
        dangling = dapi.docker("import", busybox_tar, check=True).stdout.strip()
        res = c.images.prune(filters={"dangling": True})
        assert {"Deleted": dangling} in res["ImagesDeleted"] and res["SpaceReclaimed"] >= 0
        assert c.images.prune(filters={"dangling": True}) == {"ImagesDeleted": None, "SpaceReclaimed": 0}
        dapi.docker("rmi", name, check=True)
    finally:
        _rmi(dapi, name)
        c.close()


# -- docker-py's images -------------------------------------------------------------------------


def test_docker_py_images(dapi: DockerAPIEngine) -> None:
    import docker.errors

    name = f"dapi-py-{PID}"
    c = dapi.client()
    try:
        bb = c.images.get("busybox")
        assert "busybox:latest" in bb.tags and bb.attrs["Config"]["Cmd"] == ["sh"]
        assert bb.id in [i.id for i in c.images.list()]
        assert [i.id for i in c.images.list(name="busybox")] == [bb.id]
        assert bb.tag(name, "x") is True
        assert f"{name}:x" in c.images.get(bb.id).tags
        hist = bb.history()
        assert hist[0]["Id"] == bb.id and isinstance(hist[0]["Created"], int)
        assert bb.id not in [i.id for i in c.images.list(filters={"dangling": True})]
        c.images.remove(f"{name}:x")
        with pytest.raises(docker.errors.ImageNotFound):
            c.images.get(f"{name}:x")
        raw = c.api.images(name="busybox")
        assert raw[0]["Id"] == bb.id and raw[0]["Containers"] == -1 and isinstance(raw[0]["Created"], int)
        assert c.api.inspect_image("busybox")["Id"] == bb.id
    finally:
        _rmi(dapi, f"{name}:x")
        c.close()


# -- classic builds -----------------------------------------------------------------------------


def _context(tmp: Path, dockerfile: str, files: dict[str, str] | None = None) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Dockerfile").write_text(dockerfile)
    for rel, text in (files or {}).items():
        (tmp / rel).write_text(text)
    return str(tmp)


DOCKERFILE = """FROM busybox
RUN echo built-$((6*7)) > /built.txt && echo ran-the-step
COPY hello.txt /hello.txt
CMD ["cat", "/hello.txt"]
"""


def test_docker_build_classic(dapi: DockerAPIEngine, tmp_path: Path) -> None:
    name = f"dapi-build-{PID}"
    ctx = _context(tmp_path / "ctx", DOCKERFILE, {"hello.txt": f"hello {PID}\n"})
    try:
        res = dapi.docker("build", "-t", name, ctx, env=CLASSIC, timeout=180, check=True)
        lines = res.stdout.splitlines()
        assert "Step 1/4 : FROM busybox" in lines
        assert "Step 2/4 : RUN echo built-$((6*7)) > /built.txt && echo ran-the-step" in lines
        assert "ran-the-step" in lines and 'Step 4/4 : CMD ["cat", "/hello.txt"]' in lines
        m = re.match(r"^Successfully built ([0-9a-f]{12})$", lines[-2])
        assert m, res.stdout
        assert lines[-1] == f"Successfully tagged {name}:latest"
        assert _ids(dapi, name) == [m.group(1)]
        doc = json.loads(dapi.docker("inspect", name, check=True).stdout)[0]
        assert doc["Config"]["Cmd"] == ["cat", "/hello.txt"]
        out = dapi.engine.ctl("run", "--rm", name, timeout=120, check=True).stdout
        assert out == f"hello {PID}\n"
        out = dapi.engine.ctl("run", "--rm", name, "cat", "/built.txt", timeout=120, check=True).stdout
        assert out == "built-42\n"

        again = dapi.docker("build", "-t", f"{name}:2", ctx, env=CLASSIC, timeout=180, check=True)
        assert " ---> Using cache" in again.stdout
        assert again.stdout.splitlines()[-2] == lines[-2]

        quiet = dapi.docker("build", "-q", ctx, env=CLASSIC, timeout=180, check=True)
        assert re.match(r"^sha256:[0-9a-f]{64}$", quiet.stdout.strip()) and quiet.stdout.strip()[7:19] == m.group(1)
    finally:
        _rmi(dapi, name, f"{name}:2")


def test_docker_build_context_forms(dapi: DockerAPIEngine, tmp_path: Path) -> None:
    """-f outside the context (the CLI appends it to the tar, which then has no end blocks), a Dockerfile on
    stdin, a gzipped tar on stdin, .dockerignore."""
    import gzip
    import io
    import tarfile

    name = f"dapi-ctx-{PID}"
    ctx = _context(tmp_path / "ctx", "FROM scratch\n", {"kept.txt": "kept\n", "secret.txt": "no\n",
                                                         ".dockerignore": "secret.txt\n"})
    outside = tmp_path / "Dockerfile.outside"
    outside.write_text("FROM busybox\nCOPY . /ctx/\nRUN ls /ctx\n")
    try:
        res = dapi.docker("build", "-t", f"{name}:1", "-f", str(outside), ctx, env=CLASSIC, timeout=180, check=True)
        assert "kept.txt" in res.stdout.splitlines() and "secret.txt" not in res.stdout
        assert "Dockerfile" in res.stdout.splitlines()  # the context's own, not excluded
        assert not any(line.startswith(".dockerfile.") for line in res.stdout.splitlines())
        assert res.stdout.splitlines()[-1] == f"Successfully tagged {name}:1"

        res = dapi.docker("build", "-t", f"{name}:2", "-", input="FROM busybox\nRUN echo from-stdin\n", env=CLASSIC,
                          timeout=180, check=True)
        assert "from-stdin" in res.stdout.splitlines()

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for member, data in (("Dockerfile", b"FROM busybox\nCOPY f /f\nRUN cat /f\n"), ("f", b"in-a-gzip\n")):
                ti = tarfile.TarInfo(member)
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
        res = dapi.docker("build", "-t", f"{name}:3", "-", input=gzip.compress(buf.getvalue()), env=CLASSIC,
                          timeout=180, check=True)
        assert "in-a-gzip" in res.stdout.decode().splitlines()
    finally:
        _rmi(dapi, f"{name}:1", f"{name}:2", f"{name}:3")


def test_docker_build_errors(dapi: DockerAPIEngine, tmp_path: Path) -> None:
    bad = _context(tmp_path / "bad", "FROM busybox\nRUN echo before-failing && exit 3\n")
    res = dapi.docker("build", bad, env=CLASSIC, timeout=180)
    assert res.returncode == 1
    assert "before-failing" in res.stdout and "exit code: 3" in res.stderr, (res.stdout, res.stderr)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x").write_text("x")
    res = dapi.docker("build", "-f", str(empty / "x"), str(empty), env=CLASSIC, timeout=60)
    assert res.returncode == 1 and "unknown instruction" in res.stderr.lower(), res.stderr
    res = dapi.docker("build", "--network", "container:x", bad, env=CLASSIC, timeout=60)
    assert res.returncode == 1 and "not supported" in res.stderr


def test_docker_py_build(dapi: DockerAPIEngine, tmp_path: Path) -> None:
    import docker.errors

    name = f"dapi-pybuild-{PID}"
    ctx = _context(tmp_path / "ctx", "FROM busybox\nARG WHO=nobody\nLABEL who=$WHO\nRUN echo hi-$WHO\n")
    c = dapi.client()
    try:
        image, logs = c.images.build(path=ctx, tag=f"{name}:1", buildargs={"WHO": "py"}, labels={"extra": "1"})
        log = list(logs)
        assert image.labels == {"who": "py", "extra": "1"} and f"{name}:1" in image.tags
        assert any(e.get("stream") == "hi-py\n" for e in log)
        assert {"aux": {"ID": image.id}} in log

        events = list(c.api.build(path=ctx, tag=f"{name}:2", decode=True, nocache=True))
        streams = _stream_of(events)
        assert "Step 1/4 : FROM busybox" in streams and " ---> Using cache" not in streams
        assert streams.endswith(f"Successfully tagged {name}:2\n")
        aux = [e["aux"]["ID"] for e in events if "aux" in e]
        assert len(aux) == 1 and c.images.get(f"{name}:2").id == aux[0]

        with open(os.path.join(ctx, "Dockerfile"), "rb") as df:
            img, _ = c.images.build(fileobj=df, tag=f"{name}:3")
        assert f"{name}:3" in img.tags

        fail = _context(tmp_path / "fail", "FROM busybox\nRUN exit 7\n")
        with pytest.raises(docker.errors.BuildError) as info:
            c.images.build(path=fail)
        assert "exit code: 7" in str(info.value)
    finally:
        _rmi(dapi, f"{name}:1", f"{name}:2", f"{name}:3")
        c.close()


def _stream_of(events: list[dict[str, Any]]) -> str:
    return "".join(e.get("stream", "") for e in events)


def test_build_stops_when_the_client_goes(dapi: DockerAPIEngine) -> None:
    """A client gone mid-RUN (^C): the step is killed and the build's work removed."""
    import io
    import socket
    import subprocess
    import tarfile
    import time

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"FROM busybox\nRUN echo started-$((1+1)); sleep 60\n"
        ti = tarfile.TarInfo("Dockerfile")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    body = buf.getvalue()
    build_root = os.path.join(dapi.engine.exec_root, "build")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(dapi.docker_host.removeprefix("unix://"))
        s.sendall(b"POST /v1.41/build?t=dapi-gone HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        got = b""
        deadline = time.monotonic() + 60
        while b"started-2" not in got and time.monotonic() < deadline:
            got += s.recv(65536)
        assert b"started-2" in got and got.startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = subprocess.run(["runc", "--root", os.path.join(dapi.engine.exec_root, "runc-build"), "list", "-q"],
                                capture_output=True, text=True).stdout.split()
        if not listed and set(os.listdir(build_root)) <= {"run"}:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the build went on: {listed} {os.listdir(build_root)}")
    assert _ids(dapi, "dapi-gone") == []
