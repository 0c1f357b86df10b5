"""palletctl compose (also `pallet-compose`): multi-container applications from compose files."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC
from typing import Any, NamedTuple

from pallet.client.cli import CLIError


def add_parsers(sub: Any, add: Any) -> None:
    p = sub.add_parser("compose", help="Define and run multi-container applications",
                       description="Define and run multi-container applications with Pallet")
    add_global_flags(p)
    g = p.add_subparsers(dest="compose_command", metavar="COMMAND")
    _commands(g, add)


def add_global_flags(p: argparse.ArgumentParser) -> None:
    # -H here too, so that `pallet-compose -H HOST up` works; SUPPRESS keeps `palletctl -H HOST compose`'s.
    p.add_argument("-H", "--host", default=argparse.SUPPRESS, help="daemon socket to connect to")
    p.add_argument("-c", "--context", dest="use_context", default=argparse.SUPPRESS,
                   help="name of the context to use")
    for flag in ("--tls", "--tlsverify"):
        p.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=f"as palletctl {flag}")
    for flag in ("--tlscacert", "--tlscert", "--tlskey"):
        p.add_argument(flag, default=argparse.SUPPRESS, metavar="PATH", help=f"as palletctl {flag}")
    p.add_argument("-f", "--file", action="append", default=[], help="compose configuration files")
    p.add_argument("-p", "--project-name", default=None, help="project name")
    p.add_argument("--project-directory", default=None, help="alternate working directory (default: the first file's)")
    p.add_argument("--env-file", action="append", default=[], help="alternate environment files")
    p.add_argument("--profile", action="append", default=[], help="profiles to enable")
    p.add_argument("--ansi", default="auto", choices=["never", "always", "auto"], help="control ANSI output")


def _commands(g: Any, add: Any) -> None:
    p = add(g, "config", cmd_config, "Parse, resolve and render the compose file in canonical format",
            "compose config [OPTIONS] [SERVICE...]")
    p.add_argument("--services", action="store_true", help="print the service names, one per line")
    p.add_argument("--volumes", action="store_true", help="print the volume names, one per line")
    p.add_argument("-q", "--quiet", action="store_true", help="only validate the configuration")
    p.add_argument("--format", default="yaml", choices=["yaml", "json"])
    p.add_argument("service_names", nargs="*", metavar="SERVICE")

    p = add(g, "up", cmd_up, "Create and start containers", "compose up [OPTIONS] [SERVICE...]")
    p.add_argument("-d", "--detach", action="store_true", help="run containers in the background")
    p.add_argument("--build", action="store_true", help="build images before starting containers")
    p.add_argument("--no-build", action="store_true", help="don't build an image, even if it's missing")
    p.add_argument("--force-recreate", action="store_true", help="recreate containers even if unchanged")
    p.add_argument("--no-recreate", action="store_true", help="don't recreate existing containers")
    p.add_argument("--no-start", action="store_true", help="don't start the services after creating them")
    p.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM", help="scale a service")
    p.add_argument("--wait", action="store_true", help="wait for services to be running|healthy (implies -d)")
    p.add_argument("--wait-timeout", type=int, default=300)
    p.add_argument("--remove-orphans", action="store_true", help="remove containers of services not defined")
    p.add_argument("--abort-on-container-exit", action="store_true", help="stop all when any container stops")
    p.add_argument("--exit-code-from", default="",
                   help="return the exit code of the selected service (implies --abort-on-container-exit)")
    p.add_argument("--attach-dependencies", action="store_true",
                   help="also follow the output of the named services' dependencies")
    p.add_argument("--pull", default="missing", choices=["always", "missing", "never"])
    p.add_argument("-t", "--timeout", type=int, default=None, help="shutdown timeout in seconds")
    p.add_argument("services", nargs="*")

    p = add(g, "down", cmd_down, "Stop and remove containers, networks", "compose down [OPTIONS]")
    p.add_argument("-v", "--volumes", action="store_true", help="remove named and anonymous volumes")
    p.add_argument("--rmi", default="", choices=["", "local", "all"], help="remove images used by services")
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("-t", "--timeout", type=int, default=None)

    p = add(g, "ps", cmd_ps, "List containers", "compose ps [OPTIONS] [SERVICE...]")
    p.add_argument("-a", "--all", action="store_true", help="show all stopped containers")
    p.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
    p.add_argument("--format", default="", help="table (default) or json")
    p.add_argument("services", nargs="*")

    p = add(g, "logs", cmd_logs, "View output from containers", "compose logs [OPTIONS] [SERVICE...]")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--no-log-prefix", action="store_true")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("services", nargs="*")

    for name, func, help_ in (("start", cmd_start, "Start services"), ("stop", cmd_stop, "Stop services"),
                              ("restart", cmd_restart, "Restart service containers")):
        p = add(g, name, func, help_, f"compose {name} [SERVICE...]")
        if name != "start":
            p.add_argument("-t", "--timeout", type=int, default=None)
        p.add_argument("services", nargs="*")

    p = add(g, "rm", cmd_rm, "Removes stopped service containers", "compose rm [OPTIONS] [SERVICE...]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-s", "--stop", action="store_true", help="stop the containers first")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes")
    p.add_argument("services", nargs="*")

    p = add(g, "exec", cmd_exec, "Execute a command in a running container",
            "compose exec [OPTIONS] SERVICE COMMAND [ARGS...]")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("--index", type=int, default=1)
    p.add_argument("--privileged", action="store_true")
    p.add_argument("service")
    p.add_argument("cmd", nargs=argparse.REMAINDER)

    p = add(g, "run", cmd_run, "Run a one-off command on a service", "compose run [OPTIONS] SERVICE [COMMAND]")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--name", default="")
    p.add_argument("--no-deps", action="store_true", help="don't start linked services")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("--entrypoint", default=None)
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("service")
    p.add_argument("cmd", nargs=argparse.REMAINDER)

    for name, func, help_ in (("pull", cmd_pull, "Pull service images"), ("build", cmd_build, "Build services"),
                              ("push", cmd_push, "Push service images")):
        p = add(g, name, func, help_, f"compose {name} [SERVICE...]")
        p.add_argument("services", nargs="*")

    p = add(g, "images", cmd_images, "List images used by the created containers", "compose images [SERVICE...]")
    p.add_argument("services", nargs="*")
    p = add(g, "port", cmd_port, "Print the public port for a port binding",
            "compose port [OPTIONS] SERVICE PRIVATE_PORT")
    p.add_argument("--protocol", default="tcp")
    p.add_argument("--index", type=int, default=1)
    p.add_argument("service")
    p.add_argument("private_port")
    p = add(g, "top", cmd_top, "Display the running processes", "compose top [SERVICE...]")
    p.add_argument("services", nargs="*")
    p = add(g, "events", cmd_events, "Receive real time events from containers", "compose events [SERVICE...]")
    p.add_argument("--json", action="store_true", help="output events as a stream of json objects")
    p.add_argument("services", nargs="*")
    p = add(g, "version", cmd_version, "Show the compose version information", "compose version")


# -- loading -------------------------------------------------------------------------------


class Loaded(NamedTuple):
    data: dict[str, Any]  # the normalized model, as `compose config` prints it
    name: str
    working_dir: str
    files: list[str]
    environment: dict[str, str]  # what interpolation used: the process environment over .env
    disabled: list[str]  # services whose profiles are off


def _load(args: argparse.Namespace, names: list[str] | None = None, *, only: bool = False) -> Loaded:
    """The project. names: services named on the command line, their profiles enabled (as compose
    does; an unknown one is an error); with only, just them and their dependencies."""
    from pallet.client.compose import _graph, model

    files = list(args.file) or None
    try:
        project = model.load(files=files, project_directory=args.project_directory,
                             project_name=args.project_name, env_files=list(args.env_file) or None,
                             profiles=list(args.profile), environ=dict(os.environ))
        if names:
            project = project.with_services(names) if only else _graph.enable(project, names)
    except model.ComposeFileError as exc:
        raise CLIError(f"palletctl compose: {exc}", 1) from None
    for w in project.warnings:
        print(f"WARN[0000] {w}", file=sys.stderr)
    return Loaded(project.to_dict(), project.name, project.working_dir, list(project.config_files),
                  dict(project.environment), sorted(project.disabled))


def _orch(args: argparse.Namespace, names: list[str] | None = None) -> Any:
    """The orchestrator of the project; names as for _load."""
    from pallet.client._conn import client
    from pallet.client.compose._orchestrator import Orchestrator

    p = _load(args, names)
    return Orchestrator(client(args), p.data, p.name, p.working_dir, p.files, environment=p.environment,
                        disabled=p.disabled)


def _run(fn: Any) -> int:
    from pallet.client.compose._orchestrator import ComposeError

    try:
        return int(fn() or 0)
    except ComposeError as exc:
        raise CLIError(f"palletctl compose: {exc}", 1) from None


# -- commands --------------------------------------------------------------------------------


def cmd_config(args: argparse.Namespace) -> int:
    import json

    from pallet.client.compose import model

    data = _load(args, args.service_names, only=True).data
    if args.quiet:
        return 0
    if args.services:
        print("\n".join(sorted(data.get("services") or {})))
        return 0
    if args.volumes:
        print("\n".join(sorted(data.get("volumes") or {})))
        return 0
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(model.dump_yaml(data))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    if (args.abort_on_container_exit or args.exit_code_from) and (args.detach or args.wait):
        raise CLIError("palletctl compose: --abort-on-container-exit and --detach are incompatible", 1)
    o = _orch(args, args.services)
    if args.exit_code_from and args.exit_code_from not in o.services:
        raise CLIError(f"palletctl compose: no such service: {args.exit_code_from}", 1)
    scale = {}
    for item in args.scale:
        k, _, v = item.partition("=")
        if not v.isdigit():
            raise CLIError(f"palletctl compose: invalid --scale {item!r}: want SERVICE=NUM", 1)
        scale[k] = int(v)

    def go() -> int:
        ctrs = o.up(args.services or None, build=args.build, force_recreate=args.force_recreate,
                    no_recreate=args.no_recreate, scale=scale, remove_orphans=args.remove_orphans,
                    pull=args.pull, no_start=args.no_start)
        if args.wait:
            return _wait(o, ctrs, args.wait_timeout)
        if args.detach or args.no_start:
            return 0
        return _attached(o, ctrs, args)

    return _run(go)


def _wait(o: Any, ctrs: list[Any], timeout: int) -> int:
    import time

    deadline = time.monotonic() + timeout
    pb = o.pb
    while True:
        current = [o.c.containers.Inspect(pb.InspectContainerRequest(id=c.id)) for c in ctrs]
        bad = [c for c in current if c.state.status == pb.ContainerState.STATUS_EXITED and c.state.exit_code != 0]
        if bad:
            raise CLIError(f"palletctl compose: container {bad[0].name} exited ({bad[0].state.exit_code})", 1)
        ready = all(c.state.status == pb.ContainerState.STATUS_RUNNING and (
            not c.state.HasField("health") or c.state.health.status == "healthy") for c in current)
        if ready:
            for c in current:
                o._say("Container", c.name, "Healthy" if c.state.HasField("health") else "Running")
            return 0
        if time.monotonic() > deadline:
            raise CLIError("palletctl compose: timed out waiting for the services to be running or healthy", 1)
        time.sleep(0.3)


def _attached(o: Any, ctrs: list[Any], args: argparse.Namespace) -> int:
    """Follow the containers' output until they have all exited; ^C stops the project.

    With --abort-on-container-exit (implied by --exit-code-from) the first exit stops every
    container; the status is then that container's, or with --exit-code-from that service's.
    Services named on the command line are followed without their dependencies unless
    --attach-dependencies (as compose, those keep running when the followed ones exit).
    """
    import threading

    from pallet.client.compose import _convert as cv

    if args.services and not args.attach_dependencies:
        ctrs = [c for c in ctrs if c.config.labels.get(cv.LABEL_SERVICE) in args.services]
    exited = o.pb.ContainerState.STATUS_EXITED
    abort = bool(args.abort_on_container_exit or args.exit_code_from)
    stop = threading.Event()
    first_exit: list[Any] = []

    def watch() -> None:
        while not stop.wait(0.3):
            ended = [c for c in (_current(o, c) for c in ctrs) if c.state.status == exited]
            if ended:
                first_exit.append(ended[0])
                print("Aborting on container exit...", flush=True)
                o.stop(None, args.timeout)
                stop.wait(10)  # the log streams end with their containers; do not wait for ever
                stop.set()
                return

    watcher = threading.Thread(target=watch, name="compose-abort", daemon=True) if abort else None
    if watcher is not None:
        watcher.start()
    try:
        o.logs(None, follow=True, containers=ctrs, colour=_colour(args), stop=stop)
    except KeyboardInterrupt:
        print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr)
        o.stop(None, args.timeout)
    stop.set()
    if watcher is not None:
        watcher.join()
    final = [_current(o, c) for c in ctrs]
    if abort:
        if not first_exit:  # all of them ended before the watcher looked
            first_exit = sorted((c for c in final if c.state.status == exited),
                                key=lambda c: c.state.finished_at.ToNanoseconds())[:1]
        o.stop(None, args.timeout)  # the dependencies not followed, too
    for c in final:
        if c.state.status == exited:
            print(f"{c.name} exited with code {c.state.exit_code}", flush=True)
    if args.exit_code_from:
        of_service = o.containers(args.exit_code_from)  # by container number
        return int(of_service[0].state.exit_code) if of_service else 0
    return int(first_exit[0].state.exit_code) if first_exit else 0


def _current(o: Any, ctr: Any) -> Any:
    """ctr as it is now; one that is gone counts as exited (status 0)."""
    import grpc

    try:
        return o.c.containers.Inspect(o.pb.InspectContainerRequest(id=ctr.id))
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
            raise
        gone = type(ctr)()
        gone.CopyFrom(ctr)
        gone.state.status = o.pb.ContainerState.STATUS_EXITED
        gone.state.exit_code = 0
        return gone


def cmd_down(args: argparse.Namespace) -> int:
    o = _orch(args)
    return _run(lambda: o.down(volumes=args.volumes, rmi=args.rmi, remove_orphans=args.remove_orphans,
                               timeout=args.timeout))


def cmd_ps(args: argparse.Namespace) -> int:
    import json

    from pallet.client._containers import _status
    from pallet.client._network import ps_ports
    from pallet.client.compose import _convert as cv

    o = _orch(args, args.services)
    if args.services:
        wanted = set(args.services)
    ctrs = [c for c in o.containers(all_=args.all)
            if not args.services or c.config.labels.get(cv.LABEL_SERVICE) in wanted]
    if args.quiet:
        for c in ctrs:
            print(c.id)
        return 0
    rows = [{"Name": c.name, "Image": c.image, "Command": _command(c),
             "Service": c.config.labels.get(cv.LABEL_SERVICE, ""), "Status": _status(c), "Ports": ps_ports(c),
             "ID": c.id} for c in ctrs]
    if args.format == "json":
        print(json.dumps(rows))
        return 0
    cols = ["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"]
    keys = ["Name", "Image", "Command", "Service", "Status", "Ports"]
    widths = [max([len(h)] + [len(str(r[k])) for r in rows]) for h, k in zip(cols, keys, strict=True)]
    print("   ".join(h.ljust(w) for h, w in zip(cols, widths, strict=True)).rstrip())
    for r in rows:
        print("   ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)).rstrip())
    return 0


def _command(c: Any) -> str:
    text = " ".join([c.path, *c.args])
    return f'"{text[:17]}…"' if len(text) > 20 else f'"{text}"'


def cmd_logs(args: argparse.Namespace) -> int:
    o = _orch(args, args.services)
    tail = -1 if args.tail == "all" else int(args.tail)
    return _run(lambda: o.logs(args.services or None, follow=args.follow, tail=tail, timestamps=args.timestamps,
                               no_prefix=args.no_log_prefix, colour=_colour(args) and not args.no_color))


def cmd_start(args: argparse.Namespace) -> int:
    o = _orch(args, args.services)

    def go() -> None:
        for s in o.order(args.services or None):
            o.wait_for_dependencies(s)
            for c in o.containers(s):
                if c.state.status != o.pb.ContainerState.STATUS_RUNNING:
                    o.start(c.id, c.name)

    return _run(go)


def cmd_stop(args: argparse.Namespace) -> int:
    o = _orch(args, args.services)
    return _run(lambda: o.stop(args.services or None, args.timeout))


def cmd_restart(args: argparse.Namespace) -> int:
    o = _orch(args, args.services)

    def go() -> None:
        for s in o.order(args.services or None):
            for c in o.containers(s):
                o.c.containers.Restart(o.pb.RestartContainerRequest(id=c.id, timeout=args.timeout
                                                                    if args.timeout is not None else 10))
                o._say("Container", c.name, "Started")

    return _run(go)


def cmd_rm(args: argparse.Namespace) -> int:
    from pallet.client._prune import confirm

    o = _orch(args, args.services)
    names = args.services or sorted(o.services)
    if args.stop:
        o.stop(names)
    ctrs = [c for s in names for c in o.containers(s) if c.state.status != o.pb.ContainerState.STATUS_RUNNING]
    if not ctrs:
        print("No stopped containers", file=sys.stderr)
        return 0
    if not args.force and not confirm(f"Going to remove {', '.join(c.name for c in ctrs)}"):
        return 0
    for c in ctrs:
        o.c.containers.Remove(o.pb.RemoveContainerRequest(id=c.id, volumes=args.volumes))
        o._say("Container", c.name, "Removed")
    return 0


def _colour(args: argparse.Namespace) -> bool:
    from pallet.client._format import colour_enabled

    return colour_enabled(sys.stdout, getattr(args, "ansi", "auto"))


def _ctl_args(args: argparse.Namespace, **kw: Any) -> argparse.Namespace:
    base = {k: getattr(args, k, None) for k in ("host", "use_context", "tls", "tlsverify", "tlscacert", "tlscert",
                                                 "tlskey")}
    base.update({"debug": False, "detach_keys": ""})
    base.update(kw)
    return argparse.Namespace(**base)


def cmd_exec(args: argparse.Namespace) -> int:
    from pallet.client._containers import cmd_exec as exec_

    o = _orch(args, [args.service])
    ctrs = [c for c in o.containers(args.service, all_=False)
            if c.config.labels.get("com.docker.compose.container-number") == str(args.index)]
    if not ctrs:
        raise CLIError(f"palletctl compose: service \"{args.service}\" is not running", 1)
    if not args.cmd:
        raise CLIError("palletctl compose: exec needs a command", 1)
    tty = not args.no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    return int(exec_(_ctl_args(args, container=ctrs[0].id, cmd=args.cmd, env=args.env, env_file=[],
                               user=args.user, workdir=args.workdir, tty=tty, interactive=not args.detach,
                               detach=args.detach, privileged=args.privileged)))


def cmd_run(args: argparse.Namespace) -> int:
    from pallet.client._containers import _attach_and_start

    o = _orch(args, [args.service])

    def go() -> int:
        o.check_injected_files(o.order([args.service]) if not args.no_deps else [args.service])
        if not args.no_deps:
            deps = [d for d in o.order([args.service]) if d != args.service]
            if deps:
                o.up(deps)
        else:
            o.ensure_networks([args.service])
            o.ensure_volumes()
        o.ensure_images([args.service])
        svc = o.services[args.service]
        tty = not args.no_tty and sys.stdin.isatty() and sys.stdout.isatty()

        def tweak(cfg: Any) -> None:
            cfg.env.extend(args.env)
            if args.entrypoint is not None:
                del cfg.entrypoint[:]
                cfg.entrypoint.extend(args.entrypoint.split() if args.entrypoint else [])
                cfg.entrypoint_set = True
            if args.user:
                cfg.user = args.user
            if args.workdir:
                cfg.working_dir = args.workdir
            cfg.auto_remove = args.rm
            cfg.tty = tty
            cfg.open_stdin = not args.detach
            del cfg.port_bindings[:]  # `run` publishes no ports of the service (compose's default)

        name = args.name or f"{o.name}-{args.service}-run-{os.urandom(6).hex()}"
        cid = o.create_container(args.service, 1, name=name, oneoff=True, cmd=args.cmd or None, extra=tweak)
        del svc
        if args.detach:
            o.start(cid, name)
            print(name)
            return 0
        return int(_attach_and_start(_ctl_args(args), cid, True, tty=tty, interactive=sys.stdin.isatty()))

    return _run(go)


def cmd_pull(args: argparse.Namespace) -> int:
    o = _orch(args, args.services)

    def go() -> None:
        for s in o.order(args.services or None):
            if o.services[s].get("image"):
                o.pull_service(s)

    return _run(go)


def cmd_build(args: argparse.Namespace) -> int:
    o = _orch(args, args.services)

    def go() -> None:
        for s in o.order(args.services or None):
            if o.services[s].get("build") is not None:
                o.build_service(s)

    return _run(go)


def cmd_push(args: argparse.Namespace) -> int:
    from pallet.client import _registry

    o = _orch(args, args.services)
    for s in o.order(args.services or None):
        from pallet.client.compose import _convert as cv

        image = cv.image_of(o.name, s, o.services[s])
        _registry.cmd_push(_ctl_args(args, name=image, quiet=False, all_tags=False, max_concurrent_uploads=0))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    from pallet.client._format import human_size

    o = _orch(args, args.services)
    print(f"{'CONTAINER':30} {'REPOSITORY':30} {'TAG':10} {'IMAGE ID':14} SIZE")
    for c in o.containers():
        img = o.c.images.Inspect(o.ipb.GetImageRequest(ref=c.image_id))
        repo, _, tag = (img.repo_tags[0] if img.repo_tags else "<none>:<none>").rpartition(":")
        print(f"{c.name:30} {repo:30} {tag:10} {img.id.removeprefix('sha256:')[:12]:14} {human_size(img.size)}")
    return 0


def cmd_port(args: argparse.Namespace) -> int:
    o = _orch(args, [args.service])
    port, _, proto = args.private_port.partition("/")
    proto = proto or args.protocol
    for c in o.containers(args.service, all_=False):
        if c.config.labels.get("com.docker.compose.container-number") != str(args.index):
            continue
        for b in c.network_settings.ports:
            if str(b.container_port) == port and b.protocol == proto:
                print(f"{b.host_ip or '0.0.0.0'}:{b.host_port}")
                return 0
    raise CLIError(f"palletctl compose: no port {args.private_port} published for {args.service}", 1)


def cmd_top(args: argparse.Namespace) -> int:
    o = _orch(args, args.services)
    for s in o.order(args.services or None):
        for c in o.containers(s, all_=False):
            res = o.c.containers.Top(o.pb.TopRequest(id=c.id))
            print(c.name)
            print("\t".join(res.titles))
            for p in res.processes:
                print("\t".join(p.fields))
            print()
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """The project's container events as they happen (compose's text or --json lines)."""
    import json
    from datetime import datetime

    from pallet.client.compose import _convert as cv

    o = _orch(args, args.services)
    filters = [f"label={cv.LABEL_PROJECT}={o.name}", "type=container"]
    for ev in o.c.system.Events(o.pb.EventsRequest(filters=filters)):
        attrs = dict(ev.attributes)
        service = attrs.get(cv.LABEL_SERVICE, "")
        if args.services and service not in args.services:
            continue
        when = datetime.fromtimestamp(ev.time.ToNanoseconds() / 1e9, UTC)
        if args.json:
            print(json.dumps({"time": when.isoformat(), "type": "container", "action": ev.action, "id": ev.id,
                              "service": service, "attributes": {"name": attrs.get("name", ""),
                                                                 "image": attrs.get("image", "")}}), flush=True)
        else:
            extra = ", ".join(f"{k}={attrs[k]}" for k in ("image", "name") if k in attrs)
            print(f"{when.strftime('%Y-%m-%d %H:%M:%S.%f')} container {ev.action} {ev.id} ({extra})", flush=True)
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    from pallet.client.compose._convert import VERSION

    print(f"Pallet Compose version v{VERSION}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """pallet-compose: the same as `palletctl compose`."""
    from pallet.client import cli

    return cli.main(["compose", *(sys.argv[1:] if argv is None else argv)])
