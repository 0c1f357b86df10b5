"""The typed resources of pallet.client.sdk.Client: client.containers, .images, ...

Loaded on the first typed call (see ResourceBase in pallet.client._sdk_sync);
each method builds its request and converter with pallet.client._sdk_ops and
adds the blocking call: deadline, retries of idempotent reads, typed errors.
"""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

import grpc

from . import _sdk_convert as cv
from . import _sdk_errors as errors
from . import _sdk_ops as ops
from ._sdk_ops import Filters, Op, Time
from ._sdk_sync import ResourceBase

if TYPE_CHECKING:
    from typing import Unpack

    from ._sdk_sync import Client
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


class Stream(Generic[T]):
    """The typed items of a server stream (logs, events, pull progress).

    Iterate it; cancel() (or leaving a ``with`` block, or close()) ends the call,
    after which iteration stops quietly. Failures raise the SDK's typed errors.
    """

    def __init__(self, call: Any, convert: Callable[[Any], T], describe: Callable[[BaseException], Exception]) -> None:
        self._call = call
        self._convert = convert
        self._describe = describe
        self._cancelled = False

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> T:
        try:
            msg = next(self._call)
        except grpc.RpcError as exc:
            if self._cancelled:
                raise StopIteration from None
            raise self._describe(exc) from exc
        return self._convert(msg)

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()

    close = cancel

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class _Resource(ResourceBase):
    _client: Client

    def _unary(self, op: Op[T], timeout: float | None) -> T:
        """Call op with the deadline, retrying idempotent reads while the daemon is unavailable."""
        deadline = ops.resolve_timeout(timeout, self._client.timeout, op)
        method = getattr(self._stub, op.rpc)
        policy = self._client.retry_policy
        start = time.monotonic()
        attempt = 0
        while True:
            left = None if deadline is None else max(deadline - (time.monotonic() - start), 0.0)
            try:
                return op.convert(method(op.request, timeout=left))
            except grpc.RpcError as exc:
                left = None if deadline is None else deadline - (time.monotonic() - start)
                delay = policy.next_delay(attempt, exc, read=op.read, remaining=left)
                if delay is None:
                    raise self._describe(op.rpc, deadline)(exc) from exc
            time.sleep(delay)
            attempt += 1

    def _stream(self, op: Op[T], timeout: float | None) -> Stream[T]:
        deadline = ops.resolve_timeout(timeout, self._client.timeout, None)
        call = getattr(self._stub, op.rpc)(op.request, timeout=deadline)
        return Stream(call, op.convert, self._describe(op.rpc, deadline))


class Containers(_Resource):
    """client.containers: create, run and manage containers."""

    _service = "Containers"

    def list(self, all: bool = False, filters: Filters = None, *, limit: int = 0, size: bool = False,
             timeout: float | None = None) -> builtins.list[ContainerSummary]:
        """Running containers (all=True: every one). filters: {"label": "k=v", "status": "exited", "name": ...}."""
        return self._unary(ops.containers_list(all, filters, limit, size), timeout)

    def get(self, container: str, *, timeout: float | None = None) -> Container:
        """A container by ID, ID prefix or name (palletctl inspect); NotFound when there is none."""
        return self._unary(ops.containers_get(container), timeout)

    def create(self, image: str, command: str | Sequence[str] | None = None, *, timeout: float | None = None,
               **options: Unpack[CreateOptions]) -> Container:
        """Create a container (not started); options are CreateOptions (name=, env=, labels=, volumes=, ...)."""
        cid = self._unary(ops.containers_create(image, command, options), timeout)
        return self.get(cid, timeout=timeout)

    def start(self, container: str, *, timeout: float | None = None) -> None:
        self._unary(ops.containers_start(container), timeout)

    def stop(self, container: str, timeout: int | None = None, *, signal: str = "",
             request_timeout: float | None = None) -> None:
        """Stop: the stop signal, then SIGKILL after timeout seconds (the container's stop timeout when None).

        request_timeout bounds the call; by default it is the client's timeout plus timeout, or none
        when timeout is None.
        """
        self._unary(ops.containers_stop(container, timeout, signal), request_timeout)

    def restart(self, container: str, timeout: int | None = None, *, request_timeout: float | None = None) -> None:
        """Stop (as stop()) and start again."""
        self._unary(ops.containers_restart(container, timeout), request_timeout)

    def kill(self, container: str, signal: str | int = "", *, timeout: float | None = None) -> None:
        """Send a signal (name or number; SIGKILL by default)."""
        self._unary(ops.containers_kill(container, signal), timeout)

    def pause(self, container: str, *, timeout: float | None = None) -> None:
        self._unary(ops.containers_pause(container), timeout)

    def unpause(self, container: str, *, timeout: float | None = None) -> None:
        self._unary(ops.containers_unpause(container), timeout)

    def rename(self, container: str, new_name: str, *, timeout: float | None = None) -> None:
        self._unary(ops.containers_rename(container, new_name), timeout)

    def remove(self, container: str, *, force: bool = False, volumes: bool = False,
               timeout: float | None = None) -> None:
        """Remove a container (force: a running one too; volumes: its anonymous volumes too)."""
        self._unary(ops.containers_remove(container, force, volumes), timeout)

    def wait(self, container: str, *, condition: Literal["not-running", "next-exit", "removed"] = "not-running",
             timeout: float | None = None) -> int:
        """Block until the container stops; its exit code. No deadline unless timeout= is given."""
        return self._unary(ops.containers_wait(container, condition), timeout)

    def logs(self, container: str, *, follow: bool = False, tail: int | None = None, stdout: bool = True,
             stderr: bool = True, since: Time = None, until: Time = None,
             timeout: float | None = None) -> Stream[LogEntry]:
        """The container's output as LogEntry items; follow=True streams until the container stops.

        tail: only the last lines. since/until: datetime or Unix seconds.
        """
        return self._stream(ops.containers_logs(container, follow, tail, stdout, stderr, since, until), timeout)

    @overload
    def run(self, image: str, command: str | Sequence[str] | None = None, *, detach: Literal[False] = False,
            remove: bool = False, stdout: bool = True, stderr: bool = False, timeout: float | None = None,
            **options: Unpack[CreateOptions]) -> bytes: ...

    @overload
    def run(self, image: str, command: str | Sequence[str] | None = None, *, detach: Literal[True],
            remove: bool = False, stdout: bool = True, stderr: bool = False, timeout: float | None = None,
            **options: Unpack[CreateOptions]) -> Container: ...

    def run(self, image: str, command: str | Sequence[str] | None = None, *, detach: bool = False,
            remove: bool = False, stdout: bool = True, stderr: bool = False, timeout: float | None = None,
            **options: Unpack[CreateOptions]) -> bytes | Container:
        """Create and start a container, like docker-py's containers.run().

        The image is pulled when missing. detach=True returns the started Container at once
        (remove=True then removes it when it exits). Otherwise waits for it to exit and returns its
        output (stdout, and stderr when stderr=True); remove=True removes it afterwards; a non-zero
        exit raises ContainerError. timeout bounds the wait (none by default).
        """
        if detach and remove:
            options["auto_remove"] = True
        cid = self._create_pulling(image, command, options)
        if detach:
            try:
                self.start(cid)
            except errors.PalletError:
                if remove:
                    self._remove_quietly(cid)
                raise
            return self.get(cid)
        deadline = ops.resolve_timeout(timeout, None)
        stream = self._stub.Attach(iter([ops.attach_request(cid)]), timeout=deadline)
        out = cv.OutputCollector(stdout, stderr)
        try:
            started = False
            for res in stream:
                if out.feed(res):
                    break
                if out.acknowledged and not started:
                    started = True
                    self.start(cid)
            if out.exit_code is None:  # the stream ended early: ask the daemon
                out.exit_code = self.wait(cid, timeout=timeout)
        except grpc.RpcError as exc:
            raise self._describe("Attach", deadline)(exc) from exc
        finally:
            stream.cancel()
            if remove:
                self._remove_quietly(cid)
        if out.exit_code != 0:
            raise errors.ContainerError(cid, out.exit_code, ops.argv(command) if command is not None else None,
                                        image, bytes(out.parts["stderr"]))
        return bytes(out.output)

    def _create_pulling(self, image: str, command: str | Sequence[str] | None, options: Mapping[str, Any]) -> str:
        try:
            return self._unary(ops.containers_create(image, command, options), None)
        except errors.NotFound as exc:
            if not ops.is_missing_image(exc):
                raise
        self._client.images.pull(image)
        return self._unary(ops.containers_create(image, command, options), None)

    def _remove_quietly(self, cid: str) -> None:
        with contextlib.suppress(errors.PalletError):
            self.remove(cid, force=True)

    def exec_run(self, container: str, cmd: str | Sequence[str], *,
                 env: Mapping[str, str] | Iterable[str] | None = None, user: str = "", workdir: str = "",
                 privileged: bool = False, tty: bool = False, timeout: float | None = None) -> ExecResult:
        """Run a command in a running container and collect its exit code and output."""
        exec_id = self._unary(ops.exec_create(container, cmd, env, user, workdir, privileged, tty), timeout)
        deadline = ops.resolve_timeout(timeout, None)
        stream = self._stub.ExecStart(iter([ops.attach_request(exec_id)]), timeout=deadline)
        out = cv.OutputCollector()
        try:
            for res in stream:
                if out.feed(res):
                    break
        except grpc.RpcError as exc:
            raise self._describe("ExecStart", deadline)(exc) from exc
        finally:
            stream.cancel()
        if out.exit_code is None:
            out.exit_code = self._unary(ops.exec_exit_code(exec_id), timeout)
        return out.exec_result()

    def prune(self, filters: Filters = None, *, timeout: float | None = None) -> PruneResult:
        """Remove stopped containers."""
        return self._unary(ops.containers_prune(filters), timeout)


class Images(_Resource):
    """client.images: list, pull, tag and remove images."""

    _service = "Images"

    def list(self, all: bool = False, filters: Filters = None, *,
             timeout: float | None = None) -> builtins.list[Image]:
        """Images (filters: {"reference": "busybox*", "dangling": True, "label": "k=v"})."""
        return self._unary(ops.images_list(all, filters), timeout)

    def get(self, ref: str, *, timeout: float | None = None) -> Image:
        """An image by reference or ID; NotFound when there is none."""
        return self._unary(ops.images_get(ref), timeout)

    def pull(self, ref: str, *, platform: str = "", username: str = "", password: str = "",
             progress: Callable[[PullProgress], None] | None = None, timeout: float | None = None) -> Image:
        """Pull ref from its registry and return the image; progress gets each PullProgress."""
        last: Image | None = None
        with self.pull_progress(ref, platform=platform, username=username, password=password,
                                timeout=timeout) as stream:
            for p in stream:
                if progress is not None:
                    progress(p)
                if p.image is not None:
                    last = p.image
        return last if last is not None else self.get(ref, timeout=timeout)

    def pull_progress(self, ref: str, *, platform: str = "", all_tags: bool = False, username: str = "",
                      password: str = "", timeout: float | None = None) -> Stream[PullProgress]:
        """Pull, yielding progress as it comes; the last message of each reference carries .image."""
        return self._stream(ops.images_pull(ref, platform, all_tags, username, password), timeout)

    def remove(self, ref: str, *, force: bool = False, no_prune: bool = False,
               timeout: float | None = None) -> ImageRemoval:
        return self._unary(ops.images_remove(ref, force, no_prune), timeout)

    def tag(self, source: str, target: str, *, timeout: float | None = None) -> None:
        """Give the image source the reference target (name[:tag])."""
        self._unary(ops.images_tag(source, target), timeout)

    def prune(self, all: bool = False, filters: Filters = None, *, timeout: float | None = None) -> PruneResult:
        """Remove dangling images (all=True: every unused one)."""
        return self._unary(ops.images_prune(all, filters), timeout)


class Networks(_Resource):
    """client.networks: bridge networks and the containers on them."""

    _service = "Networks"

    def list(self, filters: Filters = None, *, timeout: float | None = None) -> builtins.list[Network]:
        return self._unary(ops.networks_list(filters), timeout)

    def get(self, network: str, *, timeout: float | None = None) -> Network:
        """A network by name, ID or ID prefix; NotFound when there is none."""
        return self._unary(ops.networks_get(network), timeout)

    def create(self, name: str, *, driver: str = "bridge", subnet: str = "", gateway: str = "", ip_range: str = "",
               ipam: Iterable[Mapping[str, str]] | None = None, internal: bool = False, enable_ipv6: bool = False,
               labels: Mapping[str, str] | None = None, options: Mapping[str, str] | None = None,
               timeout: float | None = None) -> Network:
        """Create a network; AlreadyExists (Conflict) when the name is taken.

        subnet/gateway/ip_range give one pool; ipam=[{"subnet": ..., "gateway": ...}] more.
        """
        return self._unary(ops.networks_create(name, driver, subnet, gateway, ip_range, ipam, internal, enable_ipv6,
                                               labels, options), timeout)

    def remove(self, network: str, *, timeout: float | None = None) -> None:
        self._unary(ops.networks_remove(network), timeout)

    def connect(self, network: str, container: str, *, aliases: Iterable[str] = (), ipv4_address: str = "",
                ipv6_address: str = "", mac_address: str = "", timeout: float | None = None) -> None:
        self._unary(ops.networks_connect(network, container, aliases, ipv4_address, ipv6_address, mac_address),
                    timeout)

    def disconnect(self, network: str, container: str, *, force: bool = False, timeout: float | None = None) -> None:
        self._unary(ops.networks_disconnect(network, container, force), timeout)

    def prune(self, filters: Filters = None, *, timeout: float | None = None) -> PruneResult:
        """Remove user-defined networks without containers."""
        return self._unary(ops.networks_prune(filters), timeout)


class Volumes(_Resource):
    """client.volumes: named volumes."""

    _service = "Volumes"

    def list(self, filters: Filters = None, *, timeout: float | None = None) -> builtins.list[Volume]:
        return self._unary(ops.volumes_list(filters), timeout)

    def get(self, name: str, *, timeout: float | None = None) -> Volume:
        return self._unary(ops.volumes_get(name), timeout)

    def create(self, name: str = "", *, driver: str = "local", labels: Mapping[str, str] | None = None,
               driver_opts: Mapping[str, str] | None = None, timeout: float | None = None) -> Volume:
        """Create a volume (a random name when empty); an existing one of that name is returned as it is."""
        return self._unary(ops.volumes_create(name, driver, labels, driver_opts), timeout)

    def remove(self, name: str, *, force: bool = False, timeout: float | None = None) -> None:
        """Remove a volume; FailedPrecondition while a container uses it (force only ignores a missing one)."""
        self._unary(ops.volumes_remove(name, force), timeout)

    def prune(self, all: bool = False, filters: Filters = None, *, timeout: float | None = None) -> PruneResult:
        """Remove unused anonymous volumes (all=True: named ones too)."""
        return self._unary(ops.volumes_prune(all, filters), timeout)


class System(_Resource):
    """client.system: the daemon itself."""

    _service = "System"

    def version(self, *, timeout: float | None = None) -> Version:
        return self._unary(ops.system_version(), timeout)

    def info(self, *, timeout: float | None = None) -> Info:
        return self._unary(ops.system_info(), timeout)

    def ping(self, *, timeout: float | None = None) -> bool:
        """True when the daemon answers; raises Unavailable when it cannot be reached."""
        return self._unary(ops.system_ping(), timeout)

    def df(self, *, timeout: float | None = None) -> DiskUsage:
        """Disk usage of images, containers, volumes and the build cache."""
        return self._unary(ops.system_df(), timeout)

    def events(self, since: Time = None, until: Time = None, filters: Filters = None, *,
               timeout: float | None = None) -> Stream[Event]:
        """Events as they happen (past ones first with since=); until= ends the stream."""
        return self._stream(ops.system_events(since, until, filters), timeout)


class Builder(_Resource):
    """client.builder: raw Build/Prune RPCs (no typed methods yet)."""

    _service = "Builder"
