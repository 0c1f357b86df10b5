"""pallet-netsvc: bridge networks, container network namespaces, IPAM, NAT, published ports and DNS.

    pallet-netsvc --root DIR --exec-root DIR --address unix:///PATH.sock [--bridge NAME] [--bip CIDR]
                  [--default-address-pool base=CIDR,size=N]... [--debug]
    pallet-netsvc --root DIR --exec-root DIR --cleanup    # remove every device, rule and namespace it made

Settings also come from the [netsvc] table of /etc/pallet/pallet.toml (--config-file PATH, see
pallet.configfile); the command line wins. Under systemd (Type=notify) it reports READY=1 once the
socket serves.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import stat
import sys

from pallet import configfile, log, rpc, sdnotify
from pallet import server as server_mod

DEFAULT_ROOT = "/var/lib/pallet"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pallet-netsvc", description="Pallet's network service.")
    p.add_argument("--root", default=DEFAULT_ROOT, help="state directory (default %(default)s)")
    p.add_argument("--exec-root", default="/run/pallet",
                   help="runtime state: network namespaces live in EXEC_ROOT/netns (default %(default)s)")
    p.add_argument("--address", default="unix:///run/pallet/netsvc.sock",
                   help="gRPC address: unix:///path.sock or host:port (default %(default)s)")
    p.add_argument("--bridge", default="",
                   help="device of the default bridge network (default pallet0, or one derived from --root)")
    p.add_argument("--bip", default="", metavar="CIDR",
                   help="the default bridge's address and prefix, e.g. 172.17.0.1/16 (default: a free subnet)")
    p.add_argument("--default-address-pool", action="append", default=[], metavar="base=CIDR,size=N",
                   help="where new networks take subnets from (repeatable; default Docker's pools)")
    p.add_argument("--mtu", type=int, default=1500, help="MTU of bridges and veths (default %(default)s)")
    p.add_argument("--cleanup", action="store_true",
                   help="remove every bridge, rule and namespace of this root, then exit")
    p.add_argument("--debug", action="store_true", help="log debug detail")
    configfile.add_option(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line after the [netsvc] table of the config file (the command line wins)."""
    return configfile.parse_args(build_parser(), "netsvc", argv)


def instance_tag(root: str) -> tuple[str, str]:
    """Chain prefix and default bridge of this root: PALLET/pallet0 for the default install;
    other roots (tests, side-by-side instances) get names of their own."""
    if root == DEFAULT_ROOT:
        return "PALLET", "pallet0"
    h = hashlib.sha256(root.encode()).hexdigest()[:6]
    return f"PALLET-{h}", f"pl{h}0"


def _lock_root(root: str) -> int:
    fd = os.open(os.path.join(root, "netsvc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    import time

    deadline = time.monotonic() + 15  # a predecessor that is still shutting down (palletd restarted) lets go
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise SystemExit(f"pallet-netsvc: another netsvc is running on --root {root}") from None
            time.sleep(0.1)
    return fd


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sdnotify.claim()
    if os.geteuid() != 0:
        print("pallet-netsvc: must run as root", file=sys.stderr)
        return 1
    log.setup("netsvc", args.debug)
    import logging

    # pyroute2 and asyncio log every netlink message at debug level: keep the stdlib loggers at INFO
    # (Pallet's own --debug detail goes through structlog).
    logging.getLogger().setLevel(logging.INFO)
    logger = log.get("netsvc")
    root = os.path.abspath(args.root)
    os.makedirs(os.path.join(root, "network"), mode=0o711, exist_ok=True)
    lock_fd = _lock_root(root)

    from pallet import errors
    from pallet.net import _ipam, servicer
    from pallet.net._dns import DnsServer
    from pallet.net._store import NetStore
    from pallet.net.networks import Config, NetworkManager

    tag, bridge = instance_tag(root)
    try:
        pools = [_ipam.parse_pool(p) for p in args.default_address_pool] or list(_ipam.DEFAULT_POOLS)
    except errors.PalletError as exc:
        print(f"pallet-netsvc: {exc}", file=sys.stderr)
        return 2
    cfg = Config(exec_root=os.path.abspath(args.exec_root), tag=tag, bridge=args.bridge or bridge,
                 bip=args.bip, pools=pools, mtu=args.mtu)
    store = NetStore(os.path.join(root, "network", "net.db"))
    manager = NetworkManager(store, cfg, dns_factory=lambda m: DnsServer(m, log.get("dns")))
    if args.cleanup:
        manager.cleanup()
        manager.close()
        store.close()
        return 0
    try:
        manager.start()
    except errors.PalletError as exc:
        logger.error("netsvc failed to start", error=str(exc))
        return 1

    final = rpc.unix_path(args.address)
    if final is not None and os.path.lexists(final) and stat.S_ISSOCK(os.lstat(final).st_mode):
        os.unlink(final)
    server, _health = server_mod.make_server(servicer.registrations(manager), servicer.SERVICE_NAMES)
    publish = server_mod.listen_atomically(server, args.address)
    server.start()
    publish()
    logger.info("netsvc started", root=root, address=args.address, bridge=cfg.bridge, chains=tag, pid=os.getpid())
    sdnotify.ready_when_handled(f"serving on {args.address}")  # READY=1 once wait_for_shutdown handles SIGTERM

    server_mod.wait_for_shutdown()
    logger.info("netsvc shutting down; container networks stay up")
    sdnotify.stopping()
    server.stop(2).wait()
    manager.close()
    store.close()
    if final is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(final)
    os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
