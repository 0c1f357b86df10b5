"""The asyncio client behind pallet.client.aio / pallet.client.sdk.AsyncClient.

The same typed surface as pallet.client.sdk.Client with the methods awaited
and streams iterated with ``async for``; requests, retries, timeouts and the
protobuf -> dataclass conversion are the sync client's (pallet.client._sdk_ops,
pallet.client._sdk_convert). Raw CamelCase calls reach the grpc.aio stubs.
Create the client inside the event loop that uses it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

import grpc
import grpc.aio
from pallet import rpc
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

from . import _sdk_convert as cv
from . import _sdk_errors as errors
from . import _sdk_ops as ops
from . import default_host
from ._sdk_ops import Filters, Op, RetryPolicy, Time
from ._sdk_sync import CHANNEL_OPTIONS, ResourceBase

if TYPE_CHECKING:
    from typing import Unpack

    from ._sdk_types import (
        Container,
        ContainerSummary,
        CreateOptions,
        DiskUsage,
        Event,
        ExecResult,
        Image,
        ImageRemoval,
        Info,
        LogEntry,
        Network,
        PruneResult,
        PullProgress,
        Version,
        Volume,
    )

T = TypeVar("T")


def channel(address: str, tls: rpc.TLSConfig | None = None,
            options: list[tuple[str, object]] | None = None) -> grpc.aio.Channel:
    """A grpc.aio channel to a unix://PATH or tcp://HOST:PORT address (pallet.rpc.channel's rules)."""
    opts = [*rpc.CHANNEL_OPTIONS, *(options or [])]
    path = rpc.unix_path(address)
    if path is not None:
        return grpc.aio.insecure_channel(f"unix://{path}", options=opts)
    target = rpc.tcp_target(address) or address
    if tls is not None:
        return grpc.aio.secure_channel(target, tls.credentials(), options=opts)
    return grpc.aio.insecure_channel(target, options=opts)


class AsyncStream(Generic[T]):
    """The typed items of a server stream, for ``async for``; cancel() ends it quietly."""

    def __init__(self, call: Any, convert: Callable[[Any], T], describe: Callable[[BaseException], Exception]) -> None:
        self._call = call
        self._convert = convert
        self._describe = describe
        self._cancelled = False

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        if self._cancelled:
            raise StopAsyncIteration
        try:
            msg = await self._call.read()
        except asyncio.CancelledError:
            if self._cancelled:
                raise StopAsyncIteration from None
            raise
        except grpc.RpcError as exc:
            if self._cancelled:
                raise StopAsyncIteration from None
            raise self._describe(exc) from exc
        if msg is grpc.aio.EOF:
            raise StopAsyncIteration
        return self._convert(msg)

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()


class _AsyncResource(ResourceBase):
    _client: AsyncClient

    async def _unary(self, op: Op[T], timeout: float | None) -> T:
        deadline = ops.resolve_timeout(timeout, self._client.timeout, op)
        method = getattr(self._stub, op.rpc)
        policy = self._client.retry_policy
        start = time.monotonic()
        attempt = 0
        while True:
            left = None if deadline is None else max(deadline - (time.monotonic() - start), 0.0)
            try:
                return op.convert(await method(op.request, timeout=left))
            except grpc.RpcError as exc:
                left = None if deadline is None else deadline - (time.monotonic() - start)
                delay = policy.next_delay(attempt, exc, read=op.read, remaining=left)
                if delay is None:
                    raise self._describe(op.rpc, deadline)(exc) from exc
            await asyncio.sleep(delay)
            attempt += 1

    def _stream(self, op: Op[T], timeout: float | None) -> AsyncStream[T]:
        deadline = ops.resolve_timeout(timeout, self._client.timeout, None)
        call = getattr(self._stub, op.rpc)(op.request, timeout=deadline)
        return AsyncStream(call, op.convert, self._describe(op.rpc, deadline))

    async def _collect(self, rpc_name: str, ref: str, out: cv.OutputCollector, deadline: float | None,
                       on_ack: Callable[[], Any] | None = None) -> None:
        """Feed an Attach/ExecStart stream into out; on_ack runs (awaited) once attached."""
        call = getattr(self._stub, rpc_name)([ops.attach_request(ref)], timeout=deadline)
        try:
            acked = False
            while True:
                res = await call.read()
                if res is grpc.aio.EOF or out.feed(res):
                    break
                if out.acknowledged and not acked:
                    acked = True
                    if on_ack is not None:
                        await on_ack()
        except grpc.RpcError as exc:
            raise self._describe(rpc_name, deadline)(exc) from exc
        finally:
            call.cancel()


class AsyncContainers(_AsyncResource):
    """As pallet.client.sdk Client.containers, awaited."""

    _service = "Containers"

    async def list(self, all: bool = False, filters: Filters = None, *, limit: int = 0, size: bool = False,
                   timeout: float | None = None) -> builtins.list[ContainerSummary]:
        return await self._unary(ops.containers_list(all, filters, limit, size), timeout)

    async def get(self, container: str, *, timeout: float | None = None) -> Container:
        return await self._unary(ops.containers_get(container), timeout)

    async def create(self, image: str, command: str | Sequence[str] | None = None, *, timeout: float | None = None,
                     **options: Unpack[CreateOptions]) -> Container:
        cid = await self._unary(ops.containers_create(image, command, options), timeout)
        return await self.get(cid, timeout=timeout)

    async def start(self, container: str, *, timeout: float | None = None) -> None:
        await self._unary(ops.containers_start(container), timeout)

    async def stop(self, container: str, timeout: int | None = None, *, signal: str = "",
                   request_timeout: float | None = None) -> None:
        await self._unary(ops.containers_stop(container, timeout, signal), request_timeout)

    async def restart(self, container: str, timeout: int | None = None, *,
                      request_timeout: float | None = None) -> None:
        await self._unary(ops.containers_restart(container, timeout), request_timeout)

    async def kill(self, container: str, signal: str | int = "", *, timeout: float | None = None) -> None:
        await self._unary(ops.containers_kill(container, signal), timeout)

    async def pause(self, container: str, *, timeout: float | None = None) -> None:
        await self._unary(ops.containers_pause(container), timeout)

    async def unpause(self, container: str, *, timeout: float | None = None) -> None:
        await self._unary(ops.containers_unpause(container), timeout)

    async def rename(self, container: str, new_name: str, *, timeout: float | None = None) -> None:
        await self._unary(ops.containers_rename(container, new_name), timeout)

    async def remove(self, container: str, *, force: bool = False, volumes: bool = False,
                     timeout: float | None = None) -> None:
        await self._unary(ops.containers_remove(container, force, volumes), timeout)

    async def wait(self, container: str, *,
                   condition: Literal["not-running", "next-exit", "removed"] = "not-running",
                   timeout: float | None = None) -> int:
        return await self._unary(ops.containers_wait(container, condition), timeout)

    def logs(self, container: str, *, follow: bool = False, tail: int | None = None, stdout: bool = True,
             stderr: bool = True, since: Time = None, until: Time = None,
             timeout: float | None = None) -> AsyncStream[LogEntry]:
        return self._stream(ops.containers_logs(container, follow, tail, stdout, stderr, since, until), timeout)

    @overload
    async def run(self, image: str, command: str | Sequence[str] | None = None, *, detach: Literal[False] = False,
                  remove: bool = False, stdout: bool = True, stderr: bool = False, timeout: float | None = None,
                  **options: Unpack[CreateOptions]) -> bytes: ...

    @overload
    async def run(self, image: str, command: str | Sequence[str] | None = None, *, detach: Literal[True],
                  remove: bool = False, stdout: bool = True, stderr: bool = False, timeout: float | None = None,
                  **options: Unpack[CreateOptions]) -> Container: ...

    async def run(self, image: str, command: str | Sequence[str] | None = None, *, detach: bool = False,
                  remove: bool = False, stdout: bool = True, stderr: bool = False, timeout: float | None = None,
                  **options: Unpack[CreateOptions]) -> bytes | Container:
        """As Client.containers.run()."""
        if detach and remove:
            options["auto_remove"] = True
        cid = await self._create_pulling(image, command, options)
        if detach:
            try:
                await self.start(cid)
            except errors.PalletError:
                if remove:
                    await self._remove_quietly(cid)
                raise
            return await self.get(cid)
        deadline = ops.resolve_timeout(timeout, None)
        out = cv.OutputCollector(stdout, stderr)
        try:
            await self._collect("Attach", cid, out, deadline, on_ack=lambda: self.start(cid))
            if out.exit_code is None:
                out.exit_code = await self.wait(cid, timeout=timeout)
        finally:
            if remove:
                await self._remove_quietly(cid)
        if out.exit_code != 0:
            raise errors.ContainerError(cid, out.exit_code, ops.argv(command) if command is not None else None,
                                        image, bytes(out.parts["stderr"]))
        return bytes(out.output)

    async def _create_pulling(self, image: str, command: str | Sequence[str] | None,
                              options: Mapping[str, Any]) -> str:
        try:
            return await self._unary(ops.containers_create(image, command, options), None)
        except errors.NotFound as exc:
            if not ops.is_missing_image(exc):
                raise
        await self._client.images.pull(image)
        return await self._unary(ops.containers_create(image, command, options), None)

    async def _remove_quietly(self, cid: str) -> None:
        with contextlib.suppress(errors.PalletError):
            await self.remove(cid, force=True)

    async def exec_run(self, container: str, cmd: str | Sequence[str], *,
                       env: Mapping[str, str] | Iterable[str] | None = None, user: str = "", workdir: str = "",
                       privileged: bool = False, tty: bool = False, timeout: float | None = None) -> ExecResult:
        exec_id = await self._unary(ops.exec_create(container, cmd, env, user, workdir, privileged, tty), timeout)
        out = cv.OutputCollector()
        await self._collect("ExecStart", exec_id, out, ops.resolve_timeout(timeout, None))
        if out.exit_code is None:
            out.exit_code = await self._unary(ops.exec_exit_code(exec_id), timeout)
        return out.exec_result()

    async def prune(self, filters: Filters = None, *, timeout: float | None = None) -> PruneResult:
        return await self._unary(ops.containers_prune(filters), timeout)


class AsyncImages(_AsyncResource):
    _service = "Images"

    async def list(self, all: bool = False, filters: Filters = None, *,
                   timeout: float | None = None) -> builtins.list[Image]:
        return await self._unary(ops.images_list(all, filters), timeout)

    async def get(self, ref: str, *, timeout: float | None = None) -> Image:
        return await self._unary(ops.images_get(ref), timeout)

    async def pull(self, ref: str, *, platform: str = "", username: str = "", password: str = "",
                   progress: Callable[[PullProgress], Any] | None = None, timeout: float | None = None) -> Image:
        last: Image | None = None
        async with self.pull_progress(ref, platform=platform, username=username, password=password,
                                      timeout=timeout) as stream:
            async for p in stream:
                if progress is not None:
                    progress(p)
                if p.image is not None:
                    last = p.image
        return last if last is not None else await self.get(ref, timeout=timeout)

    def pull_progress(self, ref: str, *, platform: str = "", all_tags: bool = False, username: str = "",
                      password: str = "", timeout: float | None = None) -> AsyncStream[PullProgress]:
        return self._stream(ops.images_pull(ref, platform, all_tags, username, password), timeout)

    async def remove(self, ref: str, *, force: bool = False, no_prune: bool = False,
                     timeout: float | None = None) -> ImageRemoval:
        return await self._unary(ops.images_remove(ref, force, no_prune), timeout)

    async def tag(self, source: str, target: str, *, timeout: float | None = None) -> None:
        await self._unary(ops.images_tag(source, target), timeout)

    async def prune(self, all: bool = False, filters: Filters = None, *,
                    timeout: float | None = None) -> PruneResult:
        return await self._unary(ops.images_prune(all, filters), timeout)


class AsyncNetworks(_AsyncResource):
    _service = "Networks"

    async def list(self, filters: Filters = None, *, timeout: float | None = None) -> builtins.list[Network]:
        return await self._unary(ops.networks_list(filters), timeout)

    async def get(self, network: str, *, timeout: float | None = None) -> Network:
        return await self._unary(ops.networks_get(network), timeout)

    async def create(self, name: str, *, driver: str = "bridge", subnet: str = "", gateway: str = "",
                     ip_range: str = "", ipam: Iterable[Mapping[str, str]] | None = None, internal: bool = False,
                     enable_ipv6: bool = False, labels: Mapping[str, str] | None = None,
                     options: Mapping[str, str] | None = None, timeout: float | None = None) -> Network:
        return await self._unary(ops.networks_create(name, driver, subnet, gateway, ip_range, ipam, internal,
                                                     enable_ipv6, labels, options), timeout)

    async def remove(self, network: str, *, timeout: float | None = None) -> None:
        await self._unary(ops.networks_remove(network), timeout)

    async def connect(self, network: str, container: str, *, aliases: Iterable[str] = (), ipv4_address: str = "",
                      ipv6_address: str = "", mac_address: str = "", timeout: float | None = None) -> None:
        await self._unary(ops.networks_connect(network, container, aliases, ipv4_address, ipv6_address,
                                               mac_address), timeout)

    async def disconnect(self, network: str, container: str, *, force: bool = False,
                         timeout: float | None = None) -> None:
        await self._unary(ops.networks_disconnect(network, container, force), timeout)

    async def prune(self, filters: Filters = None, *, timeout: float | None = None) -> PruneResult:
        return await self._unary(ops.networks_prune(filters), timeout)


class AsyncVolumes(_AsyncResource):
    _service = "Volumes"

    async def list(self, filters: Filters = None, *, timeout: float | None = None) -> builtins.list[Volume]:
        return await self._unary(ops.volumes_list(filters), timeout)

    async def get(self, name: str, *, timeout: float | None = None) -> Volume:
        return await self._unary(ops.volumes_get(name), timeout)

    async def create(self, name: str = "", *, driver: str = "local", labels: Mapping[str, str] | None = None,
                     driver_opts: Mapping[str, str] | None = None, timeout: float | None = None) -> Volume:
        return await self._unary(ops.volumes_create(name, driver, labels, driver_opts), timeout)

    async def remove(self, name: str, *, force: bool = False, timeout: float | None = None) -> None:
        await self._unary(ops.volumes_remove(name, force), timeout)

    async def prune(self, all: bool = False, filters: Filters = None, *,
                    timeout: float | None = None) -> PruneResult:
        return await self._unary(ops.volumes_prune(all, filters), timeout)


class AsyncSystem(_AsyncResource):
    _service = "System"

    async def version(self, *, timeout: float | None = None) -> Version:
        return await self._unary(ops.system_version(), timeout)

    async def info(self, *, timeout: float | None = None) -> Info:
        return await self._unary(ops.system_info(), timeout)

    async def ping(self, *, timeout: float | None = None) -> bool:
        return await self._unary(ops.system_ping(), timeout)

    async def df(self, *, timeout: float | None = None) -> DiskUsage:
        return await self._unary(ops.system_df(), timeout)

    def events(self, since: Time = None, until: Time = None, filters: Filters = None, *,
               timeout: float | None = None) -> AsyncStream[Event]:
        return self._stream(ops.system_events(since, until, filters), timeout)


class AsyncBuilder(_AsyncResource):
    _service = "Builder"


class AsyncClient:
    """pallet.client.sdk.Client for asyncio:

        async with AsyncClient("unix:///run/pallet/pallet.sock", timeout=10) as c:
            out = await c.containers.run("busybox", "echo hi", remove=True)
    """

    def __init__(self, host: str | None = None, *, tls: rpc.TLSConfig | None = None, timeout: float | None = None,
                 retries: int = 3) -> None:
        self.host = host or default_host()
        self.tls = tls
        self.timeout = timeout
        self.retries = max(0, retries)
        self._retry_policy: RetryPolicy | None = None
        self.channel = channel(self.host, tls=tls, options=CHANNEL_OPTIONS)
        self.containers = AsyncContainers(self, pb_grpc.ContainersStub(self.channel))
        self.images = AsyncImages(self, pb_grpc.ImagesStub(self.channel))
        self.system = AsyncSystem(self, pb_grpc.SystemStub(self.channel))
        self.volumes = AsyncVolumes(self, pb_grpc.VolumesStub(self.channel))
        self.networks = AsyncNetworks(self, pb_grpc.NetworksStub(self.channel))
        self.builder = AsyncBuilder(self, pb_grpc.BuilderStub(self.channel))

    @property
    def retry_policy(self) -> RetryPolicy:
        """How reads are retried (RetryPolicy(retries=retries) unless set)."""
        if self._retry_policy is None or self._retry_policy.retries != self.retries:
            self._retry_policy = RetryPolicy(retries=self.retries)
        return self._retry_policy

    @retry_policy.setter
    def retry_policy(self, policy: RetryPolicy) -> None:
        self._retry_policy = policy
        self.retries = policy.retries

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient({self.host!r})"
