"""pallet-registry: an OCI Distribution Spec v1.1 registry.

    pallet-registry --addr 127.0.0.1:5000 --root DIR [--config FILE] [--read-only] [--admin-socket PATH] [--debug]
    pallet-registry garbage-collect --root DIR [--dry-run] [--delete-untagged] [--grace-period S]   (offline)

The config file is JSON::

    {"addr": "0.0.0.0:5000", "root": "/var/lib/pallet/registry", "read_only": false,
     "admin_socket": "/run/pallet/registry.sock",
     "gc": {"grace_period": 3600, "upload_max_age": 86400},
     "proxy": {"remote_url": "https://upstream:5000", "username": "u", "password": "p"},
     "auth": {...see pallet.registry._auth...},
     "tls": {"cert": "/etc/pallet/registry.crt", "key": "/etc/pallet/registry.key"}}

Command-line flags override the file. The flags themselves may also come from the [registry] table of
/etc/pallet/pallet.toml (`--config-file PATH`, see pallet.configfile; e.g. `config = "/etc/pallet/registry.json"`),
which the command line overrides in turn. Under systemd (Type=notify) the registry reports READY=1 once it
listens. The gRPC admin API (pallet.registry.v1.Admin: garbage collection,
usage, repositories) is served on the unix socket `admin_socket` ("" turns it off) in the same process.
With "proxy" the registry is a pull-through cache of `remote_url` (see _proxy): what is missing is fetched,
verified and kept; tags are re-resolved upstream (the cached copy serves while upstream is down); pushes and
deletes are refused (405 UNSUPPORTED).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import sys
from typing import Any

from aiohttp import web
from pallet import configfile, log, sdnotify

from . import _auth
from ._app import AccessLogger, Registry
from ._gc import GarbageCollector, GCOptions
from ._proxy import Upstream, parse_config
from ._storage import RootBusy, Storage, lock_root

DEFAULT_ADDR = "127.0.0.1:5000"
DEFAULT_ROOT = "/var/lib/pallet/registry"
DEFAULT_ADMIN_SOCKET = "/run/pallet/registry.sock"
CONFIG_KEYS = {"addr", "root", "read_only", "admin_socket", "gc", "auth", "tls", "proxy"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pallet-registry", description="Pallet's OCI distribution registry.")
    p.add_argument("--addr", help=f"listen address host:port (default {DEFAULT_ADDR})")
    p.add_argument("--root", help=f"storage directory (default {DEFAULT_ROOT})")
    p.add_argument("--config", help="JSON config file")
    p.add_argument("--read-only", action="store_true", default=None, help="refuse every write (405 UNSUPPORTED)")
    p.add_argument("--admin-socket", help=f"unix socket of the gRPC admin API (default {DEFAULT_ADMIN_SOCKET}; "
                   "'' turns it off)")
    p.add_argument("--debug", action="store_true", help="log debug detail")
    configfile.add_option(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line after the [registry] table of the TOML config file (the command line wins)."""
    return configfile.parse_args(build_parser(), "registry", argv)


def load_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    if not isinstance(cfg, dict):
        raise SystemExit(f"pallet-registry: {path}: the config must be a JSON object")
    unknown = set(cfg) - CONFIG_KEYS
    if unknown:
        raise SystemExit(f"pallet-registry: {path}: unknown keys {sorted(unknown)}")
    return cfg


def gc_options(cfg: Any) -> GCOptions:
    """GC defaults from the config's "gc" section."""
    if cfg is None:
        return GCOptions()
    if not isinstance(cfg, dict) or set(cfg) - {"grace_period", "upload_max_age"}:
        raise SystemExit('pallet-registry: config "gc" takes only "grace_period" and "upload_max_age" (seconds)')
    out = GCOptions()
    for key in ("grace_period", "upload_max_age"):
        v = cfg.get(key, getattr(out, key))
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise SystemExit(f'pallet-registry: config "gc.{key}" must be a number of seconds >= 0')
        setattr(out, key, float(v))
    return out


def check_admin_socket(path: str) -> None:
    """Refuse a socket another live process serves, or a directory we cannot create the socket in."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
        probe.connect(path)
        raise SystemExit(f"pallet-registry: admin socket {path} is served by another process")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise SystemExit(f"pallet-registry: cannot listen on admin socket {path}: {e}") from None
    if not os.access(parent, os.W_OK):
        raise SystemExit(f"pallet-registry: cannot listen on admin socket {path}: {parent} is not writable")


def start_admin(path: str, storage: Storage, gc: GarbageCollector) -> Any:
    """The gRPC admin server on unix socket `path` (its own threads); returns it started."""
    from pallet import server as server_mod

    from . import servicer

    server, _health = server_mod.make_server(servicer.registrations(storage, gc), servicer.SERVICE_NAMES,
                                             max_workers=8)
    try:
        server_mod.listen(server, "unix://" + path)
    except (OSError, RuntimeError) as e:
        raise SystemExit(f"pallet-registry: cannot listen on admin socket {path}: {e}") from None
    server.start()
    server_mod.chmod_socket("unix://" + path)
    return server


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


async def serve(addr: str, root: str, read_only: bool, auth_cfg: Any, tls: dict[str, Any] | None,
                admin_socket: str, gc_defaults: GCOptions, proxy_cfg: Any = None) -> None:
    logger = log.get("registry")
    try:
        authorizer = _auth.from_config(auth_cfg)
    except ValueError as e:
        raise SystemExit(f"pallet-registry: auth config: {e}") from None
    try:
        proxy = parse_config(proxy_cfg)
    except ValueError as e:
        raise SystemExit(f"pallet-registry: config: {e}") from None
    if admin_socket:
        check_admin_socket(admin_socket)
    try:
        lock_fd = lock_root(root)
    except RootBusy as e:
        raise SystemExit(f"pallet-registry: {e}") from None
    storage = Storage(root)
    gc = GarbageCollector(storage, gc_defaults)
    admin = start_admin(admin_socket, storage, gc) if admin_socket else None
    registry = Registry(storage, authorizer, read_only=read_only, proxy=Upstream(proxy) if proxy else None)
    runner = web.AppRunner(registry.app(), access_log_class=AccessLogger,
                           access_log=logging.getLogger("pallet.registry.access"), handle_signals=False)
    await runner.setup()
    host, port = split_addr(addr)
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context(tls), reuse_address=True)
    await site.start()
    logger.info("serving", addr=addr, root=root, read_only=read_only, tls=bool(tls), auth=authorizer is not None,
                admin_socket=admin_socket or None, proxy=proxy.remote_url if proxy else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sdnotify.ready(f"serving on {addr}")  # after the handlers: a stop from now on is a clean one
    await stop.wait()
    logger.info("stopping")
    sdnotify.stopping()
    if admin is not None:
        await asyncio.to_thread(lambda: admin.stop(2).wait())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(admin_socket)
    await runner.cleanup()
    os.close(lock_fd)


def gc_main(argv: list[str]) -> int:
    """`pallet-registry garbage-collect`: one collection on a root no registry is serving."""
    p = argparse.ArgumentParser(prog="pallet-registry garbage-collect",
                                description="Remove unreferenced blobs (offline; use the admin API while serving).")
    p.add_argument("--root", default=DEFAULT_ROOT, help="storage directory (default %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="report what would be removed, remove nothing")
    p.add_argument("--delete-untagged", action="store_true", help="also remove manifests no tag reaches")
    p.add_argument("--grace-period", type=float, default=0.0,
                   help="keep blobs written within this many seconds (default 0: nobody is pushing)")
    p.add_argument("--upload-max-age", type=float, default=0.0,
                   help="remove uploads idle this many seconds (default 0: all)")
    args = p.parse_args(argv)
    log.setup("registry", False)
    if args.grace_period < 0 or args.upload_max_age < 0:
        raise SystemExit("pallet-registry: --grace-period and --upload-max-age must be >= 0")
    if not os.path.isfile(os.path.join(args.root, "registry.db")):
        raise SystemExit(f"pallet-registry: {args.root} is not a registry root (no registry.db)")
    try:
        lock_fd = lock_root(args.root)
    except RootBusy as e:
        raise SystemExit(f"pallet-registry: {e}; use the admin API's GarbageCollect instead") from None
    storage = Storage(args.root)
    try:
        r = GarbageCollector(storage).run(GCOptions(dry_run=args.dry_run, delete_untagged=args.delete_untagged,
                                                    grace_period=args.grace_period,
                                                    upload_max_age=args.upload_max_age))
    finally:
        storage.close()
        os.close(lock_fd)
    verb = "would remove" if r.dry_run else "removed"
    for d, n in r.blobs:
        print(f"{verb} blob {d} ({n} bytes)")
    for repo, d in r.manifests:
        print(f"{verb} manifest {repo}@{d}")
    for repo, u, n in r.uploads:
        print(f"{verb} upload {u} of {repo or '-'} ({n} bytes)")
    print(f"{verb} {len(r.blobs)} blobs ({r.blob_bytes} bytes), {len(r.manifests)} manifests, "
          f"{len(r.uploads)} uploads ({r.upload_bytes} bytes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["garbage-collect"]:
        return gc_main(argv[1:])
    args = parse_args(argv)
    sdnotify.claim()
    log.setup("registry", args.debug)
    cfg = load_config(args.config)
    addr = args.addr or cfg.get("addr") or DEFAULT_ADDR
    root = args.root or cfg.get("root") or DEFAULT_ROOT
    read_only = bool(args.read_only if args.read_only is not None else cfg.get("read_only", False))
    admin = args.admin_socket if args.admin_socket is not None else cfg.get("admin_socket", DEFAULT_ADMIN_SOCKET)
    if not isinstance(admin, str):
        raise SystemExit('pallet-registry: config "admin_socket" must be a path (or "" for none)')
    asyncio.run(serve(addr, root, read_only, cfg.get("auth"), cfg.get("tls"), admin, gc_options(cfg.get("gc")),
                      cfg.get("proxy")))
    return 0
