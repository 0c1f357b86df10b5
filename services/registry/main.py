"""pallet-registry: an OCI Distribution Spec v1.1 registry.

    pallet-registry --addr 127.0.0.1:5000 --root DIR [--config FILE] [--read-only] [--debug]

The config file is JSON::

    {"addr": "0.0.0.0:5000", "root": "/var/lib/pallet/registry", "read_only": false,
     "auth": {...see pallet.registry._auth...},
     "tls": {"cert": "/etc/pallet/registry.crt", "key": "/etc/pallet/registry.key"}}

Command-line flags override the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import ssl
from typing import Any

from aiohttp import web
from pallet import log

from . import _auth
from ._app import AccessLogger, Registry
from ._storage import Storage

DEFAULT_ADDR = "127.0.0.1:5000"
DEFAULT_ROOT = "/var/lib/pallet/registry"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pallet-registry", description="Pallet's OCI distribution registry.")
    p.add_argument("--addr", help=f"listen address host:port (default {DEFAULT_ADDR})")
    p.add_argument("--root", help=f"storage directory (default {DEFAULT_ROOT})")
    p.add_argument("--config", help="JSON config file")
    p.add_argument("--read-only", action="store_true", default=None, help="refuse every write (405 UNSUPPORTED)")
    p.add_argument("--debug", action="store_true", help="log debug detail")
    return p.parse_args(argv)


def load_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    if not isinstance(cfg, dict):
        raise SystemExit(f"pallet-registry: {path}: the config must be a JSON object")
    unknown = set(cfg) - {"addr", "root", "read_only", "auth", "tls"}
    if unknown:
        raise SystemExit(f"pallet-registry: {path}: unknown keys {sorted(unknown)}")
    return cfg


def split_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"pallet-registry: bad --addr {addr!r} (want host:port)")
    return host.strip("[]") or "0.0.0.0", int(port)


def ssl_context(tls: dict[str, Any] | None) -> ssl.SSLContext | None:
    if not tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls["cert"], tls["key"])
    return ctx


async def serve(addr: str, root: str, read_only: bool, auth_cfg: Any, tls: dict[str, Any] | None) -> None:
    logger = log.get("registry")
    try:
        authorizer = _auth.from_config(auth_cfg)
    except ValueError as e:
        raise SystemExit(f"pallet-registry: auth config: {e}") from None
    registry = Registry(Storage(root), authorizer, read_only=read_only)
    runner = web.AppRunner(registry.app(), access_log_class=AccessLogger,
                           access_log=logging.getLogger("pallet.registry.access"), handle_signals=False)
    await runner.setup()
    host, port = split_addr(addr)
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context(tls), reuse_address=True)
    await site.start()
    logger.info("serving", addr=addr, root=root, read_only=read_only, tls=bool(tls), auth=authorizer is not None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("stopping")
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log.setup("registry", args.debug)
    cfg = load_config(args.config)
    addr = args.addr or cfg.get("addr") or DEFAULT_ADDR
    root = args.root or cfg.get("root") or DEFAULT_ROOT
    read_only = bool(args.read_only if args.read_only is not None else cfg.get("read_only", False))
    asyncio.run(serve(addr, root, read_only, cfg.get("auth"), cfg.get("tls")))
    return 0
