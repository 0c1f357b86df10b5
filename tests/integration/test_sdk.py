"""The Python SDK (pallet.client.sdk) against a real palletd: sync and asyncio, typed results and errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pallet.client.sdk import (
    AsyncClient,
    Client,
    Conflict,
    Container,
    ContainerError,
    ContainerSummary,
    DeadlineExceeded,
    FailedPrecondition,
    NotFound,
    PalletError,
    Unavailable,
)
from pallet.engine.v1 import engine_pb2 as pb

from tests.conftest import Engine


def _name(what: str) -> str:
    return f"sdk-{what}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(engine: Engine) -> Iterator[Client]:
    with Client(engine.host, timeout=60) as c:
        yield c


@contextlib.contextmanager
def cleanup(c: Client) -> Iterator[list[tuple[str, str]]]:
    """Removes what the test registers as ("container"|"network"|"volume"|"image", name), even on failure."""
    made: list[tuple[str, str]] = []
    try:
        yield made
    finally:
        for kind, ref in reversed(made):
            with contextlib.suppress(NotFound):
                if kind == "container":
                    c.containers.remove(ref, force=True, volumes=True)
                elif kind == "network":
                    c.networks.remove(ref)
                elif kind == "volume":
                    c.volumes.remove(ref, force=True)
                else:
                    c.images.remove(ref)


def test_run_logs_wait_list_get(client: Client) -> None:
    name = _name("run")
    with cleanup(client) as made:
        made.append(("container", name))
        out = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], name=name, stderr=True,
                                    labels={"sdk-test": name})
        assert sorted(out.decode().split()) == ["err", "out"]
        ctr = client.containers.get(name)
        assert isinstance(ctr, Container)
        assert (ctr.name, ctr.image, ctr.status, ctr.exit_code, ctr.labels) == (
            name, "busybox", "exited", 0, {"sdk-test": name})
        assert ctr.command == ("sh", "-c", "echo out; echo err >&2")
        assert ctr.state.finished_at is not None and ctr.state.finished_at.tzinfo is UTC
        assert ctr.created is not None and ctr.created <= ctr.state.finished_at
        assert ctr.raw.id == ctr.id
        entries = list(client.containers.logs(name))
        assert {(e.stream, e.data) for e in entries} == {("stdout", b"out\n"), ("stderr", b"err\n")}
        assert b"".join(e.data for e in client.containers.logs(name, stderr=False)) == b"out\n"
        assert client.containers.wait(name) == 0
        listed = client.containers.list(all=True, filters={"label": f"sdk-test={name}"})
        assert [(type(x), x.id) for x in listed] == [(ContainerSummary, ctr.id)]
        assert client.containers.list(filters={"label": f"sdk-test={name}"}) == []  # not running
        # The raw RPCs of the CLI still work on the same objects.
        raw = client.containers.List(pb.ListContainersRequest(all=True, filters=[f"name={name}"]))
        assert [x.id for x in raw.containers] == [ctr.id]


def test_run_failures_and_remove(client: Client) -> None:
    name = _name("fail")
    with cleanup(client) as made:
        made.append(("container", name))
        with pytest.raises(ContainerError) as info:
            client.containers.run("busybox", "sh -c 'echo bad >&2; exit 3'", name=name, remove=True)
        assert info.value.exit_status == 3 and info.value.stderr == b"bad\n"
        assert "exit status 3: bad" in str(info.value)
        with pytest.raises(NotFound):
            client.containers.get(name)  # remove=True removed it
        assert client.containers.run("busybox", ["echo", "gone"], remove=True) == b"gone\n"


def test_detached_exec_kill_and_timeouts(client: Client) -> None:
    name = _name("detach")
    with cleanup(client) as made:
        made.append(("container", name))
        ctr = client.containers.run("busybox", ["sleep", "300"], name=name, detach=True, env={"WHO": "sdk"})
        assert ctr.state.status == "running" and ctr.state.pid > 0 and ctr.running
        assert ctr.id in [x.id for x in client.containers.list()]
        res = client.containers.exec_run(name, ["sh", "-c", 'echo "$WHO"; echo e >&2; exit 2'])
        assert (res.exit_code, res.stdout, res.stderr) == (2, b"sdk\n", b"e\n")
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"Containers.Wait timed out after 0.5s"):
            client.containers.wait(name, timeout=0.5)
        assert time.monotonic() - started < 5
        # A container that runs cannot be removed without force.
        with pytest.raises(FailedPrecondition):
            client.containers.remove(name)
        client.containers.kill(name)
        assert client.containers.wait(name) == 137
        assert client.containers.get(name).state.status == "exited"
        client.containers.remove(name)
        with pytest.raises(NotFound):
            client.containers.get(name)


def test_not_found_and_conflict_are_typed(client: Client) -> None:
    missing = _name("missing")
    with pytest.raises(NotFound, match=f"No such container: {missing}") as info:
        client.containers.get(missing)
    assert isinstance(info.value, PalletError) and isinstance(info.value.__cause__, grpc.RpcError)
    for call in (lambda: client.containers.start(missing), lambda: client.images.get(f"{missing}:1"),
                 lambda: client.networks.get(missing), lambda: client.volumes.get(missing)):
        with pytest.raises(NotFound):
            call()
    # Raw calls keep raising grpc.RpcError.
    with pytest.raises(grpc.RpcError) as raw:
        client.containers.Inspect(pb.InspectContainerRequest(id=missing))
    assert raw.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    name = _name("dup")
    with cleanup(client) as made:
        made.append(("container", name))
        first = client.containers.create("busybox", "true", name=name)
        assert first.status == "created" and first.name == name
        with pytest.raises(Conflict, match="already in use"):
            client.containers.create("busybox", "true", name=name)


def test_networks_and_volumes(client: Client) -> None:
    net_name, vol_name, ctr_name = _name("net"), _name("vol"), _name("ctr")
    with cleanup(client) as made:
        made.append(("network", net_name))
        net = client.networks.create(net_name, labels={"sdk": "1"})
        assert (net.name, net.driver, net.labels) == (net_name, "bridge", {"sdk": "1"})
        assert net.ipam and net.ipam[0].subnet
        assert net.id in [n.id for n in client.networks.list(filters={"name": net_name})]
        assert client.networks.get(net_name).id == net.id
        with pytest.raises(Conflict):
            client.networks.create(net_name)
        made.append(("volume", vol_name))
        vol = client.volumes.create(vol_name, labels={"sdk": "1"})
        assert (vol.name, vol.driver, vol.labels) == (vol_name, "local", {"sdk": "1"})
        assert vol.created is not None and vol.mountpoint
        assert [v.name for v in client.volumes.list(filters={"label": "sdk=1", "name": vol_name})] == [vol_name]
        made.append(("container", ctr_name))
        ctr = client.containers.create("busybox", "true", name=ctr_name, volumes={vol_name: "/data"})
        assert [(m.type, m.source, m.target) for m in ctr.mounts] == [("volume", vol_name, "/data")]
        client.networks.connect(net_name, ctr_name, aliases=["sdkalias"])
        assert ctr_name in [e.container_name for e in client.networks.get(net_name).containers]
        assert net_name in client.containers.get(ctr_name).networks
        with pytest.raises(FailedPrecondition):
            client.volumes.remove(vol_name)  # in use
        client.networks.disconnect(net_name, ctr_name)
        assert client.networks.get(net_name).containers == ()
        client.containers.remove(ctr_name)
        client.volumes.remove(vol_name)
        client.networks.remove(net_name)
        for call in (lambda: client.networks.get(net_name), lambda: client.volumes.get(vol_name)):
            with pytest.raises(NotFound):
                call()


def test_system_and_images(client: Client) -> None:
    ver = client.system.version()
    assert ver.version and ver.api_version
    assert client.system.ping() is True
    info = client.system.info()
    assert info.ncpu >= 1 and info.mem_total > 0 and info.images >= 1
    df = client.system.df()
    assert df.images_size > 0 and any("busybox:latest" in u.image.tags for u in df.images)
    busybox = client.images.get("busybox")
    assert "busybox:latest" in busybox.tags and busybox.size > 0 and busybox.id.startswith("sha256:")
    assert busybox.id in [i.id for i in client.images.list()]
    tag = f"{_name('tag')}:1"
    with cleanup(client) as made:
        made.append(("image", tag))
        client.images.tag("busybox", tag)
        assert client.images.get(tag).id == busybox.id
        removed = client.images.remove(tag)
        assert removed.untagged and not removed.deleted  # busybox:latest still holds the image
    name = _name("events")
    since = datetime.now(UTC) - timedelta(seconds=1)
    with cleanup(client) as made:
        made.append(("container", name))
        client.containers.create("busybox", "true", name=name)
        with client.system.events(since=since, filters={"container": name}, timeout=30) as events:
            first = next(iter(events))
        assert (first.type, first.action, first.attributes.get("name")) == ("container", "create", name)
        assert first.time is not None and first.time >= since - timedelta(seconds=1)


def test_pull_reports_progress(engine: Engine, client: Client, tmp_path: object) -> None:
    from tests.registry._server import run_docker_registry

    with run_docker_registry(os.path.join(str(tmp_path), "registry")) as addr:
        ref = f"{addr}/sdk/busybox:1"
        with cleanup(client) as made:
            made.append(("image", ref))
            client.images.tag("busybox", ref)
            engine.ctl("push", ref, check=True, timeout=120)
            client.images.remove(ref)
            seen: list[str] = []
            img = client.images.pull(ref, progress=lambda p: seen.append(p.status))
            assert ref in img.tags and img.id == client.images.get("busybox").id
            assert "1: Pulling from sdk/busybox" in seen and f"Status: Downloaded newer image for {ref}" in seen
            client.images.remove(ref)
            with client.images.pull_progress(ref) as stream:
                progress = list(stream)
            assert progress[-1].image is not None and progress[-1].image.id == img.id
            assert progress[-1].digest.startswith("sha256:")


def test_unavailable_when_no_daemon_listens() -> None:
    with tempfile.TemporaryDirectory() as d:
        host = f"unix://{d}/nobody.sock"
        with Client(host, retries=1) as c:
            with pytest.raises(Unavailable, match=f"{host}. Is palletd running") as info:
                c.containers.list()
            assert isinstance(info.value, PalletError)
            with pytest.raises(grpc.RpcError):
                c.system.Version(pb.VersionRequest())


def test_async_client(engine: Engine) -> None:
    name, net_name, vol_name = _name("async"), _name("anet"), _name("avol")

    async def main() -> None:
        async with AsyncClient(engine.host, timeout=60) as c:
            try:
                assert (await c.system.version()).version
                out = await c.containers.run("busybox", ["sh", "-c", "echo hi; exit 0"], name=name)
                assert out == b"hi\n"
                ctr = await c.containers.get(name)
                assert (ctr.name, ctr.status, ctr.exit_code) == (name, "exited", 0)
                assert [e.data async for e in c.containers.logs(name)] == [b"hi\n"]
                assert await c.containers.wait(name) == 0
                assert ctr.id in [x.id for x in await c.containers.list(all=True)]
                with pytest.raises(NotFound):
                    await c.containers.get(_name("missing"))
                with pytest.raises(Conflict):
                    await c.containers.create("busybox", "true", name=name)
                await c.containers.remove(name)

                sleeper = await c.containers.run("busybox", "sleep 300", name=name, detach=True)
                assert sleeper.running
                res = await c.containers.exec_run(name, "echo inside")
                assert (res.exit_code, res.output) == (0, b"inside\n")
                with pytest.raises(DeadlineExceeded):
                    await c.containers.wait(name, timeout=0.5)
                await c.containers.stop(name, 1)
                assert await c.containers.wait(name) in (137, 143)

                net = await c.networks.create(net_name)
                assert net.id in [n.id for n in await c.networks.list()]
                vol = await c.volumes.create(vol_name)
                assert vol.name in [v.name for v in await c.volumes.list()]
                await c.volumes.remove(vol_name)
                await c.networks.remove(net_name)
            finally:
                with contextlib.suppress(NotFound):
                    await c.containers.remove(name, force=True)
                with contextlib.suppress(NotFound):
                    await c.networks.remove(net_name)
                await c.volumes.remove(vol_name, force=True)  # force: no error when it is gone

        with tempfile.TemporaryDirectory() as d:
            async with AsyncClient(f"unix://{d}/nobody.sock", retries=0) as c:
                with pytest.raises(Unavailable, match="Is palletd running"):
                    await c.containers.list()

    asyncio.run(main())
