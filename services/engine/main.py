"""palletd: the engine. Started alone it also runs imagesvc as a child."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys

from pallet import errors, log, rpc
from pallet import server as server_mod

DEFAULT_HOST = "unix:///run/pallet/pallet.sock"


def _boolean(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def build_parser() -> argparse.ArgumentParser:
    from pallet import configfile

    p = argparse.ArgumentParser(prog="palletd", description="The Pallet container engine.")
    p.add_argument("--data-root", default="/var/lib/pallet", help="persistent state (default %(default)s)")
    p.add_argument("--exec-root", default="/run/pallet", help="runtime state (default %(default)s)")
    p.add_argument("-H", "--host", action="append", dest="hosts",
                   help=f"address to listen on, repeatable (default {DEFAULT_HOST})")
    p.add_argument("--docker-host", action="append", default=[], metavar="ADDRESS",
                   help="also serve the Docker Engine REST API here (unix:///run/pallet/docker.sock or tcp://, "
                        "with the same TLS rules as -H; repeatable)")
    p.add_argument("--cluster-store", default="", metavar="etcd://HOST:PORT[,HOST:PORT]",
                   help="join the cluster whose state is in this etcd (cluster mode: node, service)")
    p.add_argument("--node-name", default="", help="this node's name in the cluster (default the hostname)")
    p.add_argument("--advertise-addr", default="", metavar="IP", help="address other nodes reach this one at")
    p.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE",
                   help="label of this node, for placement constraints (repeatable)")
    p.add_argument("--cluster-prefix", default="/pallet/cluster/", help=argparse.SUPPRESS)
    p.add_argument("-G", "--group", default=None,
                   help="group owning the unix sockets, made 0660 (default pallet, if that group exists)")
    p.add_argument("--tls", nargs="?", const=True, default=None, type=_boolean, metavar="BOOL",
                   help="TLS on tcp:// endpoints without verifying clients; --tls=false forces plain TCP")
    p.add_argument("--tlsverify", action="store_true",
                   help="mutual TLS on tcp:// endpoints: clients need a certificate signed by --tlscacert")
    p.add_argument("--tlscacert", default="", metavar="PATH", help="CA that signs client certificates "
                   "(default /etc/pallet/tls/ca.pem)")
    p.add_argument("--tlscert", default="", metavar="PATH",
                   help="server certificate (default /etc/pallet/tls/server-cert.pem)")
    p.add_argument("--tlskey", default="", metavar="PATH",
                   help="server key (default /etc/pallet/tls/server-key.pem)")
    p.add_argument("--runtime", default="runc", help="OCI runtime binary (default %(default)s)")
    p.add_argument("--imagesvc", default="", metavar="ADDRESS",
                   help="use a running imagesvc instead of starting one")
    p.add_argument("--netsvc", default="", metavar="ADDRESS",
                   help="use a running netsvc instead of starting one")
    p.add_argument("--bridge", default="", help="device of the default bridge network (netsvc --bridge)")
    p.add_argument("--bip", default="", metavar="CIDR", help="the default bridge's address/prefix (netsvc --bip)")
    p.add_argument("--default-address-pool", action="append", default=[], metavar="base=CIDR,size=N",
                   help="subnets new networks are taken from (repeatable)")
    p.add_argument("--userns-remap", default="", metavar="USER[:GROUP]|default",
                   help="run containers in a user namespace mapped to the user's /etc/subuid and /etc/subgid "
                        "ranges (default: make and use the pallet-remap user)")
    p.add_argument("--cgroup-parent", default="pallet", help="parent cgroup of containers")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                   help="registry to reach over plain HTTP (repeatable; loopback always is)")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="URL",
                   help="mirror to try first for docker.io images (repeatable)")
    p.add_argument("--max-concurrent-downloads", type=int, default=3, metavar="N",
                   help="layers one pull downloads at once (default %(default)s)")
    p.add_argument("--max-concurrent-uploads", type=int, default=5, metavar="N",
                   help="layers one push uploads at once (default %(default)s)")
    p.add_argument("-D", "--debug", action="store_true", help="log debug detail")
    configfile.add_option(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line over the [palletd] table of --config-file (the command line wins)."""
    from pallet import configfile

    return configfile.parse_args(build_parser(), "palletd", argv)


def _lock_root(exec_root: str) -> int:
    """One palletd per exec root: hold an flock on palletd.pid."""
    os.makedirs(exec_root, mode=0o711, exist_ok=True)
    fd = os.open(os.path.join(exec_root, "palletd.pid"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"palletd: another palletd is running with --exec-root {exec_root}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pallet import sdnotify

    sdnotify.claim()  # before any child or shim starts: runc would take NOTIFY_SOCKET as the container's
    if os.geteuid() != 0:
        print("palletd: must run as root", file=sys.stderr)
        return 1
    log.setup("palletd", args.debug)
    logger = log.get("palletd")
    data_root, exec_root = os.path.abspath(args.data_root), os.path.abspath(args.exec_root)
    hosts = args.hosts or [DEFAULT_HOST]
    from pallet.engine import _listen

    try:
        listeners = _listen.plan(hosts, args.tls, args.tlsverify, args.tlscacert, args.tlscert, args.tlskey)
        docker_listeners = _listen.plan(args.docker_host, args.tls, args.tlsverify, args.tlscacert, args.tlscert,
                                        args.tlskey)
        sock_gid = _listen.socket_group(args.group or "pallet", explicit=args.group is not None)
        if args.cluster_store:
            from pallet.engine.cluster.manager import store_endpoints

            store_endpoints(args.cluster_store)
    except errors.PalletError as exc:
        print(f"palletd: {exc}", file=sys.stderr)
        return 1
    lock_fd = _lock_root(exec_root)
    for d in (data_root, os.path.join(exec_root, "bundles")):
        os.makedirs(d, mode=0o711, exist_ok=True)

    from pallet.engine import servicer as sv
    from pallet.engine._store import ContainerStore
    from pallet.engine._supervisor import Child, sock_address
    from pallet.engine._userns import resolve as resolve_remap
    from pallet.engine.containers import ContainerManager, Paths, RuntimeConfig

    try:
        remap = resolve_remap(args.userns_remap)
    except errors.PalletError as exc:
        logger.error("bad --userns-remap", error=str(exc))
        return 1
    from pallet.engine.system import SystemInfo
    from pallet.images.client import ImagesClient

    children: list[Child] = []
    images_addr = args.imagesvc
    if not images_addr:
        images_addr = sock_address(exec_root, "imagesvc")
        argv_img = [sys.executable, "-m", "pallet.images", "--root", data_root, "--address", images_addr]
        if args.config_file is not None:
            argv_img += ["--config-file", args.config_file]
        if args.debug:
            argv_img.append("--debug")
        for reg in args.insecure_registry:
            argv_img += ["--insecure-registry", reg]
        for mirror in args.registry_mirror:
            argv_img += ["--registry-mirror", mirror]
        argv_img += ["--max-concurrent-downloads", str(args.max_concurrent_downloads),
                     "--max-concurrent-uploads", str(args.max_concurrent_uploads)]
        child = Child("imagesvc", argv_img, images_addr)
        try:
            child.start()
        except errors.PalletError as exc:
            logger.error("imagesvc failed to start", error=str(exc))
            return 1
        children.append(child)

    net_addr = args.netsvc
    if not net_addr:
        net_addr = sock_address(exec_root, "netsvc")
        argv_net = [sys.executable, "-m", "pallet.net", "--root", data_root, "--exec-root", exec_root,
                    "--address", net_addr]
        if args.config_file is not None:
            argv_net += ["--config-file", args.config_file]
        if args.debug:
            argv_net.append("--debug")
        for flag in ("bridge", "bip"):
            if getattr(args, flag):
                argv_net += [f"--{flag}", getattr(args, flag)]
        for pool in args.default_address_pool:
            argv_net += ["--default-address-pool", pool]
        child = Child("netsvc", argv_net, net_addr)
        try:
            child.start()
        except errors.PalletError as exc:
            logger.error("netsvc failed to start", error=str(exc))
            for c in children:
                c.stop()
            return 1
        children.append(child)

    images = ImagesClient(images_addr)
    store = ContainerStore(os.path.join(data_root, "engine", "meta.db"))
    manager = ContainerManager(
        store, images, Paths(data_root, exec_root),
        RuntimeConfig(runtime=args.runtime, cgroup_parent=args.cgroup_parent, userns_remap=remap),
    )
    from pallet.engine._exec import ExecManager
    from pallet.engine._health import HealthMonitor

    execs = ExecManager(manager)
    HealthMonitor(manager, execs)
    from pallet.engine._volumes import VolumeStore

    manager.volumes = VolumeStore(os.path.join(data_root, "volumes"), users=manager.volume_users)
    from pallet.engine._network import EngineNetworks
    from pallet.net.client import NetClient

    manager.net = EngineNetworks(NetClient(net_addr))
    manager.recover()

    info = SystemInfo(manager, args.runtime, data_root, exec_root,
                      count_images=lambda: len(images.list_images()),
                      services={"imagesvc": images_addr, "netsvc": net_addr})
    server, _health = server_mod.make_server(
        [], ["pallet.engine.v1.Containers", "pallet.engine.v1.Images", "pallet.engine.v1.System",
             "pallet.engine.v1.Volumes", "pallet.engine.v1.Networks", "pallet.engine.v1.Builder",
             "pallet.engine.v1.Cluster"])
    from pallet.engine.dockerapi.server import DockerAPI, Servicers

    servicers = Servicers(containers=sv.ContainersServicer(manager, execs), images=sv.ImagesServicer(images, manager),
                          system=sv.SystemServicer(info), volumes=sv.VolumesServicer(manager),
                          networks=sv.NetworksServicer(manager), builder=sv.BuilderServicer(manager))
    sv.register(server, servicers.containers, servicers.images, servicers.system, servicers.volumes,
                servicers.networks, servicers.builder)
    docker_api = DockerAPI(servicers, docker_listeners, sock_gid)
    cluster = None
    if args.cluster_store:
        from pallet.engine.cluster.manager import Cluster, ClusterConfig

        labels = dict(item.partition("=")[::2] for item in args.node_label)
        cluster = Cluster(ClusterConfig(store=args.cluster_store, node_name=args.node_name,
                                        advertise_addr=args.advertise_addr, prefix=args.cluster_prefix,
                                        labels=labels, endpoints=hosts,
                                        tls=(args.tlscacert, args.tlscert, args.tlskey) if args.tlsverify else None),
                          servicers)
    from pallet.engine.cluster._servicer import ClusterServicer
    from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

    servicers.cluster = ClusterServicer(cluster)  # the Docker API's swarm routes use it too
    pb_grpc.add_ClusterServicer_to_server(servicers.cluster, server)
    for lst in listeners:
        if lst.warning:
            logger.warning("insecure endpoint", warning=lst.warning)
        try:
            if lst.tls is not None:
                server.add_secure_port(lst.bind, _listen.credentials(lst.tls))
            elif lst.bind.startswith("unix://"):
                server_mod.listen(server, lst.bind)
            else:
                server.add_insecure_port(lst.bind)
        except (RuntimeError, OSError) as exc:
            logger.error("cannot listen", host=lst.address, error=str(exc))
            manager.shutdown()
            for child in children:
                child.stop()
            return 1
    server.start()
    for host in hosts:
        server_mod.chmod_socket(host, gid=sock_gid)
    try:
        if cluster is not None:
            cluster.start()
        docker_api.start()
    except (OSError, errors.PalletError) as exc:
        logger.error("cannot start", error=str(exc))
        server.stop(0)
        manager.shutdown()
        for child in children:
            child.stop()
        return 1
    logger.info("palletd started", hosts=hosts, docker_hosts=args.docker_host, data_root=data_root, exec_root=exec_root,
                pid=os.getpid())

    sdnotify.ready_when_handled("serving")
    server_mod.wait_for_shutdown()
    logger.info("palletd shutting down; containers keep running")
    sdnotify.stopping()
    manager.shutdown()
    if cluster is not None:
        cluster.stop()
    docker_api.stop()
    server.stop(2).wait()
    for child in children:
        child.stop()
    store.close()
    for host in hosts:
        path = rpc.unix_path(host)
        if path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    os.close(lock_fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
