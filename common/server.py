"""gRPC server plumbing shared by the services: bootstrap and error mapping.

Servicers stay thin: they raise PalletError subclasses and this module turns
them into status codes; grpc.RpcError raised by a downstream call keeps its
code, so an imagesvc NotFound reaches the CLI as NotFound.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from pallet import errors, log
from pallet.rpc import CHANNEL_OPTIONS, unix_path


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """The status a handler's exception maps to, or None for an unexpected one."""
    if isinstance(exc, errors.PalletError):
        return grpc.StatusCode[exc.code_name], exc.message
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return exc.code(), exc.details() or str(exc.code())
    return None


def _wrap(behavior: Callable[..., Any], streaming_response: bool, method: str) -> Callable[..., Any]:
    logger = log.get("rpc")

    def fail(exc: BaseException, context: grpc.ServicerContext) -> None:
        mapped = status_of(exc)
        if mapped is None:
            logger.exception("unexpected error", method=method)
            mapped = (grpc.StatusCode.INTERNAL, f"internal error in {method}: {exc}")
        else:
            logger.debug("request failed", method=method, code=mapped[0].name, error=mapped[1])
        context.abort(*mapped)

    if streaming_response:

        def stream(request: Any, context: grpc.ServicerContext) -> Iterable[Any]:
            try:
                yield from behavior(request, context)
            except Exception as exc:  # noqa: BLE001 - mapped to a status
                fail(exc, context)

        return stream

    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status
            fail(exc, context)

    return unary


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps PalletError (and downstream RpcError) raised by handlers to statuses."""

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap(handler.unary_unary, False, method),
                handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap(handler.unary_stream, True, method),
                handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap(handler.stream_unary, False, method),
                handler.request_deserializer, handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(
            _wrap(handler.stream_stream, True, method),
            handler.request_deserializer, handler.response_serializer)


def make_server(
    registrations: Iterable[tuple[Callable[[Any, grpc.Server], None], Any]],
    service_names: Iterable[str],
    max_workers: int = 64,
) -> tuple[grpc.Server, health.HealthServicer]:
    """A server with the given servicers plus health checking and reflection."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=[ErrorInterceptor()],
        options=CHANNEL_OPTIONS,
    )
    for add, servicer in registrations:
        add(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(service_names)
    for name in names:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    return server, health_servicer


def listen(server: grpc.Server, address: str) -> None:
    """Bind an address; a unix socket's stale file is replaced and made 0660."""
    path = unix_path(address)
    if path is not None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass
        server.add_insecure_port(f"unix://{path}")
        return
    server.add_insecure_port(address)


def chmod_socket(address: str, gid: int | None = None) -> None:
    """Make a unix socket 0660 (and group gid's, when given)."""
    path = unix_path(address)
    if path is not None and os.path.exists(path):
        os.chmod(path, 0o660)
        if gid is not None:
            os.chown(path, -1, gid)




def listen_atomically(server: grpc.Server, address: str) -> Callable[[], None]:
    """Bind address; a unix socket under a temporary name. Call the returned function once the
    server serves: it renames the socket into place (0660), so a client that waits for the path
    to appear connects to a server that answers."""
    path = unix_path(address)
    if path is None:
        listen(server, address)
        return lambda: None
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.tmp")
    listen(server, "unix://" + tmp)

    def publish() -> None:
        os.chmod(tmp, 0o660)
        os.replace(tmp, path)

    return publish


def wait_for_shutdown() -> None:
    """Block until SIGTERM or SIGINT (a service's main thread, once it serves)."""
    import signal
    import threading

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
