"""pallet-imagesvc: content store, overlayfs snapshotter and image records over gRPC.

    pallet-imagesvc --root DIR --address unix:///PATH.sock [--insecure-registry HOST:PORT]...
                    [--registry-mirror URL]... [--debug] [--config-file PATH]

Settings also come from the [imagesvc] table of /etc/pallet/pallet.toml (pallet.configfile); the
command line wins. Under systemd (Type=notify) it reports READY=1 once the socket serves.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import stat
import sys

from pallet import configfile, log, rpc, sdnotify
from pallet import server as server_mod


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pallet-imagesvc", description="Pallet's image, content and snapshot service.")
    p.add_argument("--root", default="/var/lib/pallet", help="state directory (default %(default)s)")
    p.add_argument("--address", default="unix:///run/pallet/imagesvc.sock",
                   help="gRPC address: unix:///path.sock or host:port (default %(default)s)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                   help="registry to reach over plain HTTP (repeatable; loopback always is)")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="URL",
                   help="mirror to try first for docker.io images (repeatable)")
    p.add_argument("--max-concurrent-downloads", type=int, default=3, metavar="N",
                   help="layers one pull downloads at once (default %(default)s)")
    p.add_argument("--max-concurrent-uploads", type=int, default=5, metavar="N",
                   help="layers one push uploads at once (default %(default)s)")
    p.add_argument("--debug", action="store_true", help="log debug detail")
    configfile.add_option(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line after the [imagesvc] table of the config file (the command line wins)."""
    return configfile.parse_args(build_parser(), "imagesvc", argv)


def _lock_root(root: str) -> int:
    """One imagesvc per root: hold an flock on <root>/imagesvc.lock."""
    fd = os.open(os.path.join(root, "imagesvc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SystemExit(f"pallet-imagesvc: another imagesvc is running on --root {root}") from None
    return fd


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sdnotify.claim()
    log.setup("imagesvc", args.debug)
    logger = log.get("imagesvc")
    root = os.path.abspath(args.root)
    os.makedirs(root, mode=0o711, exist_ok=True)
    lock_fd = _lock_root(root)
    final = rpc.unix_path(args.address)
    if final is not None and os.path.lexists(final) and stat.S_ISSOCK(os.lstat(final).st_mode):
        os.unlink(final)  # a crashed predecessor's: we hold the root lock, nobody serves it

    from pallet.images import _registry, servicer
    from pallet.images._backend import Backend
    from pallet.images._images import ImageService

    _registry.configure(args.insecure_registry, args.registry_mirror, args.max_concurrent_downloads,
                        args.max_concurrent_uploads)
    backend = Backend(root)
    backend.recover()
    images = ImageService(backend)
    server, _health = server_mod.make_server(servicer.registrations(backend, images), servicer.SERVICE_NAMES)
    publish = server_mod.listen_atomically(server, args.address)
    server.start()
    publish()  # clients polling for the path can connect once it exists
    logger.info("imagesvc started", root=root, address=args.address, pid=os.getpid())
    sdnotify.ready_when_handled(f"serving on {args.address}")  # READY=1 once wait_for_shutdown handles SIGTERM

    server_mod.wait_for_shutdown()
    logger.info("imagesvc shutting down")
    sdnotify.stopping()
    server.stop(5).wait()
    backend.close()
    if final is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(final)
    os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
