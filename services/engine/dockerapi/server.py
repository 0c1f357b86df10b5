"""The Docker API server: the routes of every area over palletd's servicers, on its endpoints."""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from pallet import log
from pallet.engine.dockerapi._http import Router, make_server


@dataclass
class Servicers:
    """The gRPC servicers the REST handlers call in process (context: the HTTP request)."""

    containers: Any
    images: Any
    system: Any
    volumes: Any
    networks: Any
    builder: Any
    cluster: Any = None  # the Cluster servicer (its .cluster is None without --cluster-store)


def build_router(s: Servicers) -> Router:
    from pallet.engine.dockerapi import _containers, _cstreams, _images, _netvol, _swarm, _system

    router = Router()
    for area in (_system, _containers, _cstreams, _images, _netvol, _swarm):
        area.routes(router, s)
    return router


def _tls_context(files: Any) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert, files.key)
    if files.verify:
        ctx.load_verify_locations(files.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class DockerAPI:
    """Serves the routes on each listener (pallet.engine._listen.Listener) in its own thread."""

    def __init__(self, servicers: Servicers, listeners: list[Any], gid: int | None = None) -> None:
        self.router = build_router(servicers)
        self.listeners = listeners
        self.gid = gid
        self._servers: list[Any] = []

    def start(self) -> None:
        logger = log.get("dockerapi")
        for lst in self.listeners:
            tls = _tls_context(lst.tls) if lst.tls is not None else None
            srv = make_server(self.router, lst.bind, tls)
            if lst.bind.startswith("unix://"):
                path = lst.bind[len("unix://"):]
                os.chmod(path, 0o660)
                if self.gid is not None:
                    os.chown(path, -1, self.gid)
            self._servers.append((srv, lst))
            threading.Thread(target=srv.serve_forever, name=f"dockerapi-{lst.address}", daemon=True).start()
            if lst.warning:
                logger.warning("insecure endpoint", warning=lst.warning)
            logger.info("docker API listening", host=lst.address)

    def stop(self) -> None:
        for srv, lst in self._servers:
            srv.shutdown()
            srv.server_close()
            if lst.bind.startswith("unix://"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lst.bind[len("unix://"):])
        self._servers.clear()
