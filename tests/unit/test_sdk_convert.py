"""The Python SDK without palletd: protobuf -> dataclasses, requests, error mapping, retries and timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from typing import Any, get_type_hints

import grpc
import pytest
from pallet import errors as perrors
from pallet.client import _sdk_convert as cv
from pallet.client import _sdk_ops as ops
from pallet.client import sdk
from pallet.client._sdk_errors import from_rpc_error
from pallet.client._sdk_types import CreateOptions
from pallet.engine.v1 import engine_pb2 as pb
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc
from pallet.images.v1 import images_pb2 as ipb
from pallet.net.v1 import net_pb2 as npb


def _ts(dt: datetime) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromDatetime(dt)
    return ts


WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

# -- protobuf -> dataclasses -------------------------------------------------------


def _container_pb() -> Any:
    c = pb.Container(id="a" * 64, name="web", image="busybox", image_id="sha256:" + "b" * 64, path="sh",
                     args=["-c", "sleep 1"], env=["A=1"], working_dir="/w", user="nobody", restart_count=2)
    c.created.CopyFrom(_ts(WHEN))
    c.state.status = pb.ContainerState.STATUS_EXITED
    c.state.exit_code = 3
    c.state.finished_at.CopyFrom(_ts(WHEN + timedelta(seconds=5)))
    c.state.health.status = "unhealthy"
    c.config.labels["app"] = "demo"
    c.config.hostname = "h"
    c.config.tty = True
    c.config.restart_policy.name = "on-failure"
    c.mounts.append(pb.Mount(type="volume", source="data", target="/data", path="/var/lib/x/_data"))
    c.network_settings.ports.append(npb.PortBinding(protocol="tcp", container_port=80, host_ip="0.0.0.0",
                                                    host_port=8080))
    c.network_settings.networks.append(npb.Endpoint(network_id="n1", network_name="front", ipv4_address="10.0.0.2/24",
                                                    aliases=["db"]))
    return c


def test_timestamps_are_aware_utc_datetimes_and_unset_is_none() -> None:
    assert cv.timestamp(_ts(WHEN)) == WHEN
    assert cv.timestamp(pb.Container().created) is None
    assert cv.timestamp(_ts(WHEN)).tzinfo is UTC  # type: ignore[union-attr]


def test_container_summary_and_container() -> None:
    msg = _container_pb()
    s = cv.container_summary(msg)
    assert isinstance(s, sdk.ContainerSummary) and not isinstance(s, sdk.Container)
    assert (s.id, s.short_id, s.name, s.image, s.status, s.exit_code) == (msg.id, "a" * 12, "web", "busybox",
                                                                          "exited", 3)
    assert s.command == ("sh", "-c", "sleep 1")
    assert s.created == WHEN and s.labels == {"app": "demo"} and s.networks == ("front",)
    assert s.ports == (sdk.Port(container_port=80, protocol="tcp", host_ip="0.0.0.0", host_port=8080),)
    assert s.raw is msg and not s.running
    c = cv.container(msg)
    assert isinstance(c, sdk.ContainerSummary)
    assert c.state.status == "exited" and c.state.health == "unhealthy" and c.state.started_at is None
    assert c.state.finished_at == WHEN + timedelta(seconds=5)
    assert (c.env, c.working_dir, c.user, c.hostname, c.tty, c.restart_policy, c.restart_count) == (
        ("A=1",), "/w", "nobody", "h", True, "on-failure", 2)
    assert c.mounts == (sdk.Mount(type="volume", source="data", target="/data", path="/var/lib/x/_data"),)
    assert c.endpoints[0].network_name == "front" and c.endpoints[0].aliases == ("db",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.name = "other"  # type: ignore[misc]
    # .raw does not take part in equality: two conversions of equal messages are equal.
    assert cv.container(_container_pb()) == c
    res = pb.ListContainersResponse(containers=[msg, msg])
    assert [x.id for x in cv.container_summaries(res)] == [msg.id, msg.id]


def test_running_states() -> None:
    for status, running in ((pb.ContainerState.STATUS_RUNNING, True), (pb.ContainerState.STATUS_PAUSED, True),
                            (pb.ContainerState.STATUS_CREATED, False), (pb.ContainerState.STATUS_DEAD, False)):
        c = pb.Container(id="x")
        c.state.status = status
        assert cv.container(c).running is running
        assert cv.container(c).state.running is running


def test_images_pull_progress_and_removal() -> None:
    msg = ipb.Image(id="sha256:" + "c" * 64, repo_tags=["busybox:latest"], repo_digests=["busybox@sha256:d"],
                    size=4096, author="me")
    msg.created.CopyFrom(_ts(WHEN))
    msg.config.labels["k"] = "v"
    msg.platform.architecture, msg.platform.os = "amd64", "linux"
    img = cv.image(msg)
    assert (img.short_id, img.tags, img.digests, img.size, img.labels, img.architecture, img.os, img.created) == (
        "c" * 12, ("busybox:latest",), ("busybox@sha256:d",), 4096, {"k": "v"}, "amd64", "linux", WHEN)
    assert cv.images(ipb.ListImagesResponse(images=[msg]))[0] == img
    p = cv.pull_progress(ipb.PullImageResponse(id="layer1", status="Downloading", current=5, total=10))
    assert (p.id, p.status, p.current, p.total, p.image) == ("layer1", "Downloading", 5, 10, None)
    done = cv.pull_progress(ipb.PullImageResponse(status="Digest: sha256:e", digest="sha256:e", image=msg,
                                                  ref="docker.io/library/busybox:latest"))
    assert done.image == img and done.ref.endswith("busybox:latest")
    r = cv.image_removal(ipb.DeleteImageResponse(untagged=["a:1"], deleted=["sha256:x"]))
    assert (r.untagged, r.deleted) == (("a:1",), ("sha256:x",))


def test_networks_volumes_system() -> None:
    n = npb.Network(id="f" * 64, name="front", driver="bridge", scope="local", internal=True,
                    ipam=[npb.IPAMConfig(subnet="10.9.0.0/24", gateway="10.9.0.1")], labels={"a": "b"},
                    endpoints=[npb.Endpoint(container_id="c1", container_name="web", network_name="front")])
    net = cv.network(n)
    assert (net.short_id, net.name, net.internal, net.labels) == ("f" * 12, "front", True, {"a": "b"})
    assert net.ipam == (sdk.IPAMPool(subnet="10.9.0.0/24", gateway="10.9.0.1"),)
    assert net.containers[0].container_name == "web" and net.created is None
    v = pb.Volume(name="data", driver="local", mountpoint="/m", labels={"x": "y"}, used_by=["c1"], size=7)
    vol = cv.volume(v)
    assert (vol.name, vol.scope, vol.used_by, vol.size, vol.labels) == ("data", "local", ("c1",), 7, {"x": "y"})
    ver = cv.version(pb.VersionResponse(version="0.1.0", api_version="1.0", os="linux", runtime="runc"))
    assert (ver.version, ver.api_version, ver.runtime, ver.build_time) == ("0.1.0", "1.0", "runc", None)
    info = cv.info(pb.InfoResponse(containers=3, containers_running=1, ncpu=2, mem_total=1 << 30,
                                   services={"imagesvc": "unix:///x"}))
    assert (info.containers, info.containers_running, info.ncpu, info.mem_total) == (3, 1, 2, 1 << 30)
    assert info.services == {"imagesvc": "unix:///x"}
    ev = pb.Event(type="container", action="die", id="c1", attributes={"exitCode": "3"})
    ev.time.CopyFrom(_ts(WHEN))
    assert cv.event(ev) == sdk.Event(type="container", action="die", id="c1", attributes={"exitCode": "3"},
                                     time=WHEN)
    du = pb.DiskUsageResponse(images_size=10, containers_size=2, volumes_size=3, build_cache_entries=4,
                              images=[pb.ImageUsage(image=ipb.Image(id="sha256:1"), size=10, containers=1)],
                              containers=[_container_pb()], volumes=[v])
    d = cv.disk_usage(du)
    assert (d.images_size, d.containers_size, d.volumes_size, d.build_cache_entries) == (10, 2, 3, 4)
    assert d.images[0].image.id == "sha256:1" and d.images[0].containers == 1
    assert d.containers[0].name == "web" and d.volumes[0].name == "data"


def test_prune_results_and_log_entries() -> None:
    assert cv.containers_pruned(pb.PruneResponse(containers_deleted=["a"], space_reclaimed=9)) == sdk.PruneResult(
        deleted=("a",), space_reclaimed=9)
    res = pb.PruneResponse(images_deleted=[ipb.DeleteImageResponse(untagged=["x:1"], deleted=["sha256:2"])])
    assert cv.images_pruned(res).deleted == ("x:1", "sha256:2")
    assert cv.volumes_pruned(pb.PruneVolumesResponse(volumes_deleted=["v"], space_reclaimed=1)).deleted == ("v",)
    assert cv.networks_pruned(npb.PruneNetworksResponse(deleted=["n"])).deleted == ("n",)
    e = cv.log_entry(pb.LogEntry(stream=pb.LogEntry.STREAM_STDERR, data=b"oops\n"))
    assert (e.stream, e.data, e.text, e.time) == ("stderr", b"oops\n", "oops\n", None)


def test_output_collector_folds_an_attach_stream() -> None:
    def out(stream: int, data: bytes) -> Any:
        return pb.AttachResponse(output=pb.LogEntry(stream=stream, data=data))

    col = cv.OutputCollector(stdout=True, stderr=False)
    assert col.feed(pb.AttachResponse()) is False and col.acknowledged
    assert col.feed(out(1, b"a")) is False
    assert col.feed(out(2, b"e")) is False
    assert col.feed(out(1, b"b")) is False
    assert col.feed(pb.AttachResponse(exit=pb.WaitContainerResponse(exit_code=4))) is True
    assert (bytes(col.output), col.exit_code, bytes(col.parts["stderr"])) == (b"ab", 4, b"e")
    both = cv.OutputCollector()
    for r in (pb.AttachResponse(), out(1, b"a"), out(2, b"e")):
        both.feed(r)
    res = both.exec_result()
    assert (res.output, res.stdout, res.stderr, res.exit_code) == (b"ae", b"a", b"e", -1)
    assert cv.OutputCollector().feed(pb.AttachResponse(detached=True)) is True


# -- requests ----------------------------------------------------------------------


def test_create_request_maps_the_options() -> None:
    req = ops.create_request(
        "busybox", "sh -c 'echo hi'", name="web", env={"A": "1"}, labels={"app": "x"}, working_dir="/w",
        network="front", restart_policy="on-failure:3", stop_timeout=5,
        volumes={"data": "/data", "/srv": "/srv:ro", "./rel": {"bind": "/rel", "mode": "ro"}},
        ports={"80/tcp": 8080, "53/udp": ("127.0.0.1", 5353), 9000: None}, mem_limit="512m", cpus=1.5,
        cap_add=["NET_ADMIN"], extra_hosts={"db": "10.0.0.5"}, init=True, auto_remove=True)
    cfg = req.config
    assert req.name == "web" and cfg.image == "busybox"
    assert list(cfg.cmd) == ["sh", "-c", "echo hi"] and not cfg.entrypoint_set
    assert list(cfg.env) == ["A=1"] and dict(cfg.labels) == {"app": "x"}
    assert (cfg.working_dir, cfg.network_mode, cfg.stop_timeout, cfg.auto_remove) == ("/w", "front", 5, True)
    assert (cfg.restart_policy.name, cfg.restart_policy.maximum_retry_count) == ("on-failure", 3)
    mounts = [(m.type, m.source, m.target, m.read_only, m.create_source) for m in cfg.mounts]
    assert mounts == [("volume", "data", "/data", False, False), ("bind", "/srv", "/srv", True, True),
                      ("bind", "./rel", "/rel", True, True)]
    ports = [(b.protocol, b.container_port, b.host_ip, b.host_port) for b in cfg.port_bindings]
    assert ports == [("tcp", 80, "", 8080), ("udp", 53, "127.0.0.1", 5353), ("tcp", 9000, "", 0)]
    assert list(cfg.exposed_ports) == ["80/tcp", "53/udp", "9000/tcp"]
    hc = cfg.host_config
    assert (hc.memory, hc.nano_cpus, list(hc.cap_add), hc.init) == (512 << 20, 1_500_000_000, ["NET_ADMIN"], True)
    assert list(cfg.extra_hosts) == ["db:10.0.0.5"]


def test_create_request_entrypoint_lists_and_raw_config() -> None:
    raw = pb.ContainerConfig(user="1000", stop_signal="SIGINT")
    req = ops.create_request("img", ["a b", "c"], entrypoint="", volumes=["/anon", "v:/v:ro"], raw_config=raw,
                             env=["B=2"])
    cfg = req.config
    assert list(cfg.cmd) == ["a b", "c"] and cfg.entrypoint_set and list(cfg.entrypoint) == []
    assert (cfg.user, cfg.stop_signal, list(cfg.env)) == ("1000", "SIGINT", ["B=2"])
    assert [(m.type, m.source, m.target, m.read_only) for m in cfg.mounts] == [("volume", "", "/anon", False),
                                                                               ("volume", "v", "/v", True)]
    assert not raw.mounts  # the caller's message is copied, not changed


def test_create_options_match_the_request_builder() -> None:
    """CreateOptions (what create()/run() accept) and create_request's keywords stay the same set."""
    params = inspect.signature(ops.create_request).parameters
    keywords = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords == set(get_type_hints(CreateOptions))


@pytest.mark.parametrize(("value", "expected"), [
    (None, []),
    (["status=exited"], ["status=exited"]),
    ({"label": ["a=b", "c"], "status": "exited", "dangling": True}, ["label=a=b", "label=c", "status=exited",
                                                                     "dangling=true"]),
    ("name=web", ["name=web"]),
])
def test_filters(value: Any, expected: list[str]) -> None:
    assert ops.filters(value) == expected


def test_times_sizes_and_bad_arguments() -> None:
    req = pb.LogsRequest()
    ops.set_time(req.since, WHEN)
    ops.set_time(req.until, 1700000000.5)
    assert req.since.ToDatetime(tzinfo=UTC) == WHEN
    assert req.until.ToNanoseconds() == 1_700_000_000_500_000_000
    assert [ops.size_bytes(x) for x in (100, "100", "1k", "2m", "1.5GiB", "3g")] == [
        100, 100, 1024, 2 << 20, 3 << 29, 3 << 30]
    logs = ops.containers_logs("c", False, None, True, True, None, None).request
    assert logs.tail == -1 and not logs.HasField("since")
    for bad in (lambda: ops.size_bytes("lots"), lambda: ops.containers_wait("c", "soon"),  # type: ignore[arg-type]
                lambda: ops.mounts(["a:b:c:d"]), lambda: ops.port_bindings({"http": 80}),
                lambda: ops.parse_restart_policy("on-failure:x")):
        with pytest.raises(perrors.InvalidArgument):
            bad()


# -- errors ------------------------------------------------------------------------


class FakeRpcError(grpc.RpcError):
    """What a failed call raises: code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(("code", "cls"), [
    (grpc.StatusCode.NOT_FOUND, sdk.NotFound),
    (grpc.StatusCode.ALREADY_EXISTS, sdk.Conflict),
    (grpc.StatusCode.INVALID_ARGUMENT, sdk.InvalidArgument),
    (grpc.StatusCode.FAILED_PRECONDITION, sdk.FailedPrecondition),
    (grpc.StatusCode.PERMISSION_DENIED, sdk.PermissionDenied),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, sdk.ResourceExhausted),
    (grpc.StatusCode.INTERNAL, sdk.Internal),
    (grpc.StatusCode.CANCELLED, sdk.Cancelled),
    (grpc.StatusCode.UNIMPLEMENTED, sdk.Unimplemented),
    (grpc.StatusCode.UNKNOWN, sdk.PalletError),
])
def test_status_codes_map_to_typed_errors(code: grpc.StatusCode, cls: type[Exception]) -> None:
    err = from_rpc_error(FakeRpcError(code, "the daemon's words"), host="unix:///s")
    assert type(err) is cls and isinstance(err, sdk.PalletError) and isinstance(err, perrors.PalletError)
    assert str(err) == "the daemon's words"


def test_the_sdk_errors_are_pallet_errors() -> None:
    assert sdk.Conflict is sdk.AlreadyExists is perrors.AlreadyExists
    assert sdk.NotFound is perrors.NotFound and sdk.errors.Unavailable is perrors.Unavailable
    err = sdk.ContainerError("c1", 3, ("sh", "-c", "exit 3"), "busybox", b"bad thing\n")
    assert isinstance(err, sdk.PalletError) and err.exit_status == 3
    assert str(err) == "Command 'sh -c exit 3' in image 'busybox' returned non-zero exit status 3: bad thing"


def test_unavailable_says_which_daemon_and_deadline_which_call() -> None:
    gone = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: "
                                                     "unix:/x.sock: No such file or directory")
    err = from_rpc_error(gone, host="unix:///x.sock")
    assert isinstance(err, sdk.Unavailable)
    assert str(err).startswith("Cannot connect to the Pallet daemon at unix:///x.sock. Is palletd running?")
    # An UNAVAILABLE palletd sends itself (a service it needs is down) keeps its words.
    own = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "imagesvc is not running"), host="h")
    assert isinstance(own, sdk.Unavailable) and str(own) == "imagesvc is not running"
    late = from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
                          host="unix:///x.sock", method="Containers.Wait", timeout=0.5)
    assert isinstance(late, sdk.DeadlineExceeded)
    assert str(late) == "Containers.Wait timed out after 0.5s (daemon at unix:///x.sock)"
    theirs = from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "imagesvc did not answer in 30s"))
    assert isinstance(theirs, sdk.DeadlineExceeded) and str(theirs) == "imagesvc did not answer in 30s"
    assert type(from_rpc_error(ValueError("x"))) is sdk.PalletError


# -- retries and timeouts ----------------------------------------------------------


def test_retry_policy_backs_off_and_retries_only_unavailable_reads() -> None:
    p = ops.RetryPolicy(retries=6, initial_backoff=0.1, max_backoff=1.0, multiplier=2.0)
    assert [p.backoff(i) for i in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    down = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    assert p.next_delay(0, down, read=True) == 0.1
    assert p.next_delay(2, down, read=True, remaining=5) == 0.4
    assert p.next_delay(2, down, read=True, remaining=0.3) is None  # would not finish in the deadline
    assert p.next_delay(6, down, read=True) is None  # out of retries
    assert p.next_delay(0, down, read=False) is None  # never a call that changes something
    for code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL):
        assert p.next_delay(0, FakeRpcError(code), read=True) is None
    assert ops.RetryPolicy(retries=0).next_delay(0, down, read=True) is None
    assert p.next_delay(0, ValueError("not a call"), read=True) is None


def test_which_calls_are_reads_and_which_take_the_default_timeout() -> None:
    reads = [ops.containers_list(False, None, 0, False), ops.containers_get("c"), ops.images_list(False, None),
             ops.images_get("i"), ops.networks_list(None), ops.networks_get("n"), ops.volumes_list(None),
             ops.volumes_get("v"), ops.system_version(), ops.system_info(), ops.system_ping(), ops.system_df()]
    assert all(op.read and op.default_timeout for op in reads)
    writes = [ops.containers_create("i", None, {}), ops.containers_start("c"), ops.containers_kill("c", ""),
              ops.containers_remove("c", True, False), ops.images_tag("a", "b"), ops.images_remove("a", False, False),
              ops.networks_create("n", "bridge", "", "", "", None, False, False, None, None),
              ops.networks_remove("n"), ops.volumes_create("v", "local", None, None), ops.volumes_remove("v", False),
              ops.exec_create("c", "true", None, "", "", False, False)]
    assert not any(op.read for op in writes) and all(op.default_timeout for op in writes)
    blocking = [ops.containers_wait("c", "not-running"), ops.containers_stop("c", None, ""),
                ops.containers_logs("c", True, None, True, True, None, None), ops.system_events(None, None, None),
                ops.images_pull("r", "", False, "", "")]
    assert not any(op.read or op.default_timeout for op in blocking)
    stop = ops.containers_stop("c", 7, "")
    assert stop.default_timeout and stop.extra == 7 and stop.request.timeout == 7


def test_resolve_timeout() -> None:
    read = ops.system_version()
    assert ops.resolve_timeout(None, None, read) is None
    assert ops.resolve_timeout(None, 5, read) == 5
    assert ops.resolve_timeout(2, 5, read) == 2
    assert ops.resolve_timeout(math.inf, 5, read) is None
    assert ops.resolve_timeout(None, 5, ops.containers_wait("c", "not-running")) is None
    assert ops.resolve_timeout(None, 5, None) is None  # streams
    assert ops.resolve_timeout(None, 5, ops.containers_stop("c", 10, "")) == 15
    with pytest.raises(perrors.InvalidArgument):
        ops.resolve_timeout(0, 5, read)


class FakeStub:
    """Records calls; each RPC answers from a script of results and exceptions."""

    def __init__(self, **scripts: list[Any]) -> None:
        self.scripts = scripts
        self.calls: list[tuple[str, Any, float | None]] = []

    def __getattr__(self, name: str) -> Any:
        if name not in self.scripts:
            raise AttributeError(name)

        def call(request: Any, timeout: float | None = None) -> Any:
            self.calls.append((name, request, timeout))
            item = self.scripts[name].pop(0)
            if isinstance(item, BaseException):
                raise item
            return item

        return call


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    from pallet.client import _sdk_resources

    slept: list[float] = []
    monkeypatch.setattr(_sdk_resources.time, "sleep", slept.append)
    return slept


def _client(**kw: Any) -> sdk.Client:
    return sdk.Client("unix:///nonexistent/pallet-sdk-test.sock", **kw)


def test_reads_are_retried_while_unavailable(sleeps: list[float]) -> None:
    down = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    c = _client(retries=3, timeout=30)
    stub = FakeStub(List=[down, down, pb.ListContainersResponse(containers=[_container_pb()])])
    c.containers._stub = stub
    assert [x.name for x in c.containers.list(all=True)] == ["web"]
    assert sleeps == [0.1, 0.2]
    assert [call[0] for call in stub.calls] == ["List"] * 3 and stub.calls[0][1].all
    assert all(t is not None and 29 < t <= 30 for _, _, t in stub.calls)
    c.containers._stub = FakeStub(List=[down] * 4)
    with pytest.raises(sdk.Unavailable, match="Is palletd running"):
        c.containers.list()
    assert sleeps == [0.1, 0.2, 0.1, 0.2, 0.4]


def test_writes_are_never_retried(sleeps: list[float]) -> None:
    down = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")
    c = _client()
    stub = FakeStub(Start=[down, pb.StartContainerResponse()], Create=[down])
    c.containers._stub = stub
    with pytest.raises(sdk.Unavailable):
        c.containers.start("x")
    with pytest.raises(sdk.Unavailable):
        c.containers.create("busybox", name="x")
    assert [call[0] for call in stub.calls] == ["Start", "Create"] and sleeps == []


def test_timeouts_per_client_and_per_call() -> None:
    c = _client(timeout=7)
    stub = FakeStub(Start=[pb.StartContainerResponse()] * 3, Wait=[pb.WaitContainerResponse(exit_code=3)] * 2,
                    Stop=[pb.StopContainerResponse()] * 2)
    c.containers._stub = stub
    c.containers.start("x")
    c.containers.start("x", timeout=1.5)
    c.containers.start("x", timeout=math.inf)
    assert c.containers.wait("x") == 3
    assert c.containers.wait("x", timeout=0.5) == 3
    c.containers.stop("x", 10)
    c.containers.stop("x")
    timeouts = [round(t, 1) if t is not None else None for _, _, t in stub.calls]
    assert timeouts == [7, 1.5, None, None, 0.5, 17, None]


def test_raw_calls_reach_the_stub_and_keep_raising_grpc_errors() -> None:
    c = _client()
    missing = FakeRpcError(grpc.StatusCode.NOT_FOUND, "No such container: x")
    stub = FakeStub(Inspect=[missing, missing])
    c.containers._stub = stub
    with pytest.raises(grpc.RpcError) as info:
        c.containers.Inspect(pb.InspectContainerRequest(id="x"))
    assert not isinstance(info.value, sdk.PalletError)
    with pytest.raises(sdk.NotFound, match="No such container: x") as typed:
        c.containers.get("x")
    assert typed.value.__cause__ is missing
    with pytest.raises(AttributeError):
        c.containers.Nope  # noqa: B018
    with pytest.raises(AttributeError):
        c.containers.nope  # noqa: B018


def test_the_cli_path_loads_no_typed_code() -> None:
    """palletctl imports the SDK on every command: types, requests, errors and asyncio stay unloaded."""
    code = ("import sys\nfrom pallet.client.sdk import Client\nc = Client('unix:///nonexistent.sock')\n"
            "c.containers.List; c.images.Pull; c.system.Version\n"
            "print(sorted(m for m in sys.modules if m.startswith('pallet.client.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pallet.client._sdk_sync', 'pallet.client.sdk']"


# -- against an in-process gRPC server ---------------------------------------------


class _System(pb_grpc.SystemServicer):
    def Version(self, request: Any, context: Any) -> Any:
        return pb.VersionResponse(version="9.9.9")

    def Events(self, request: Any, context: Any) -> Iterator[Any]:
        for i in range(3):
            yield pb.Event(type="container", action=f"a{i}", id=str(i))
        while context.is_active():
            time.sleep(0.05)


def _serve(path: str) -> grpc.Server:
    srv = grpc.server(futures.ThreadPoolExecutor(4))
    pb_grpc.add_SystemServicer_to_server(_System(), srv)
    srv.add_insecure_port(f"unix://{path}")
    srv.start()
    return srv


@pytest.fixture
def sock() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as d:
        yield os.path.join(d, "pallet.sock")


def test_a_read_reaches_a_daemon_that_comes_up_while_retrying(sock: str) -> None:
    servers: list[grpc.Server] = []
    later = threading.Timer(0.3, lambda: servers.append(_serve(sock)))
    later.start()
    try:
        with sdk.Client(f"unix://{sock}", retries=5) as c:
            started = time.monotonic()
            assert c.system.version().version == "9.9.9"
            assert time.monotonic() - started < 2.5
    finally:
        later.join()
        for s in servers:
            s.stop(0)


def test_streams_and_the_async_client(sock: str) -> None:
    srv = _serve(sock)
    try:
        with sdk.Client(f"unix://{sock}") as c, c.system.events() as events:
            assert [next(events).action for _ in range(3)] == ["a0", "a1", "a2"]
            events.cancel()
            assert list(events) == []

        async def main() -> list[str]:
            async with sdk.AsyncClient(f"unix://{sock}", timeout=5) as ac:
                assert (await ac.system.version()).version == "9.9.9"
                assert await ac.system.ping() is True
                seen = []
                async with ac.system.events() as stream:
                    async for ev in stream:
                        seen.append(ev.action)
                        if len(seen) == 3:
                            break
                with pytest.raises(sdk.Unimplemented):
                    await ac.containers.list()
                return seen

        assert asyncio.run(main()) == ["a0", "a1", "a2"]
    finally:
        srv.stop(0)


def test_async_unavailable_names_the_daemon(sock: str) -> None:
    async def main() -> None:
        async with sdk.AsyncClient(f"unix://{sock}", retries=0) as ac:
            with pytest.raises(sdk.Unavailable, match=f"unix://{sock}. Is palletd running"):
                await ac.system.version()

    asyncio.run(main())
