"""Container commands: run, create, start, ps, logs, stop, restart, kill, rm, wait."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from typing import Any

from pallet.client import _format
from pallet.client._conn import client, describe_error
from pallet.client.cli import CLIError


def add_create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="", help="assign a name to the container")
    p.add_argument("--volumes-from", action="append", default=[], metavar="CONTAINER[:ro|:rw]",
                   help="mount volumes from the specified container(s)")
    p.add_argument("--pull", default="missing", help='pull image before running ("always", "missing", "never")')
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the pull output")
    p.add_argument("--platform", default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
                   help="set platform if server is multi-platform capable")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
    p.add_argument("-u", "--user", default="", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", default=None, help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("-h", "--hostname", default="", help="container host name")
    p.add_argument("--domainname", default="", help="container NIS domain name")
    p.add_argument("-l", "--label", action="append", default=[], help="set meta data on a container")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("--stop-signal", default="", help="signal to stop the container")
    p.add_argument("--stop-timeout", type=int, default=None, help="timeout (in seconds) to stop a container")
    p.add_argument("--restart", default="no", help="restart policy: no, always, on-failure[:N], unless-stopped")
    p.add_argument("--log-driver", default="", help="logging driver: json-file (default) or none")
    p.add_argument("--log-opt", action="append", default=[], help="log driver options (max-size=10m, max-file=3)")
    p.add_argument("--detach-keys", default="", help="override the key sequence for detaching a container")
    p.add_argument("--health-cmd", default="", help="command to run to check health")
    p.add_argument("--health-interval", default="", help="time between running the check (ms|s|m|h)")
    p.add_argument("--health-timeout", default="", help="maximum time to allow one check to run (ms|s|m|h)")
    p.add_argument("--health-start-period", default="", help="start period before failures count (ms|s|m|h)")
    p.add_argument("--health-retries", type=int, default=0, help="consecutive failures needed to report unhealthy")
    p.add_argument("--no-healthcheck", action="store_true", help="disable any container-specified HEALTHCHECK")
    p.add_argument("--health-on-failure", default="none", choices=["none", "restart", "stop", "kill"],
                   help="action when the container turns unhealthy (default none)")
    from pallet.client import _hostconfig

    _hostconfig.add_create_flags(p)
    from pallet.client import _volumes

    _volumes.add_mount_flags(p)
    from pallet.client import _network

    _network.add_run_flags(p)
    p.add_argument("--help", action="help", help="show this help message and exit")


def _read_env_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise CLIError(f"palletctl: open {path}: {exc.strerror}") from None
    out = []
    for n, raw in enumerate(lines, 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key or any(c.isspace() for c in key):
            raise CLIError(f"palletctl: {path}:{n}: variable '{key}' contains whitespaces")
        out.append(f"{key}={value}" if sep else f"{key}={os.environ.get(key, '')}")
    return out


def _env(args: argparse.Namespace) -> list[str]:
    env: list[str] = []
    for path in args.env_file:
        env.extend(_read_env_file(path))
    for item in args.env:
        key, sep, _ = item.partition("=")
        if not key:
            raise CLIError(f"palletctl: invalid environment variable: {item}")
        env.append(item if sep else f"{key}={os.environ[key]}" if key in os.environ else item)
    return [e for e in env if "=" in e]


def _config(args: argparse.Namespace, auto_remove: bool) -> Any:
    from pallet.engine.v1 import engine_pb2 as pb

    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    cfg = pb.ContainerConfig(
        image=args.image, cmd=args.cmd, env=_env(args), working_dir=args.workdir, user=args.user,
        hostname=args.hostname, domainname=args.domainname, labels=labels,
        auto_remove=auto_remove, tty=args.tty,
        open_stdin=args.interactive, stop_signal=args.stop_signal,
    )
    if args.entrypoint is not None:
        cfg.entrypoint_set = True
        if args.entrypoint:
            cfg.entrypoint.append(args.entrypoint)
    if args.stop_timeout is not None:
        cfg.stop_timeout = args.stop_timeout
    name, _, count = args.restart.partition(":")
    if count and not count.isdigit():
        raise CLIError(f"palletctl: invalid restart policy '{args.restart}'")
    cfg.restart_policy.name = name
    cfg.restart_policy.maximum_retry_count = int(count or 0)
    cfg.log_config.type = args.log_driver
    for opt in args.log_opt:
        k, sep, v = opt.partition("=")
        if not sep:
            raise CLIError(f"palletctl: invalid log opt '{opt}': expected key=value")
        cfg.log_config.config[k] = v
    cfg.detach_keys = args.detach_keys
    _health_config(args, cfg)
    from pallet.client import _hostconfig

    _hostconfig.fill_host_config(args, cfg.host_config)
    from pallet.client import _volumes

    cfg.mounts.extend(_volumes.mounts(args))
    cfg.volumes_from.extend(args.volumes_from)
    from pallet.client import _network

    _network.fill_config(args, cfg)
    return cfg


def _health_config(args: argparse.Namespace, cfg: Any) -> None:
    from pallet.errors import PalletError
    from pallet.units import parse_duration

    if args.no_healthcheck and (args.health_cmd or args.health_interval or args.health_timeout
                                or args.health_start_period or args.health_retries):
        raise CLIError("palletctl: --no-healthcheck conflicts with --health-* options")
    cfg.no_healthcheck = args.no_healthcheck
    cfg.health_on_failure = args.health_on_failure
    hc = cfg.healthcheck
    if args.health_cmd:
        hc.test.extend(["CMD-SHELL", args.health_cmd])
    try:
        for flag, field in (("health_interval", "interval_ns"), ("health_timeout", "timeout_ns"),
                            ("health_start_period", "start_period_ns")):
            value = getattr(args, flag)
            if value:
                setattr(hc, field, parse_duration(value))
    except PalletError as exc:
        raise CLIError(f"palletctl: {exc}") from None
    if args.health_retries < 0:
        raise CLIError("palletctl: --health-retries cannot be negative")
    hc.retries = args.health_retries


def _create(args: argparse.Namespace, auto_remove: bool) -> str:
    import grpc
    from pallet.engine.v1 import engine_pb2 as pb

    c = client(args)
    policy = args.pull
    if policy not in ("missing", "always", "never"):
        raise CLIError(f'palletctl: invalid pull option: \'{policy}\': must be one of "always", "missing" or "never"',
                       125)
    config = _config(args, auto_remove)
    if policy == "always":
        _pull(args)
    try:
        res = c.containers.Create(pb.CreateContainerRequest(config=config, name=args.name))
    except grpc.RpcError as exc:
        missing = isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.NOT_FOUND \
            and "No such image" in (exc.details() or "")
        if not missing or policy != "missing":
            raise
        print(f"Unable to find image '{args.image}' locally", file=sys.stderr)
        _pull(args)
        res = c.containers.Create(pb.CreateContainerRequest(config=config, name=args.name))
    for w in res.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    return str(res.id)


def _pull(args: argparse.Namespace) -> None:
    from pallet.client._registry import pull_for_run

    pull_for_run(args, args.image, args.quiet, args.platform)


def cmd_create(args: argparse.Namespace) -> int:
    print(_create(args, args.rm))
    return 0


def _start_error_status(exc: BaseException) -> int:
    """126/127 when the command could not be run, as docker run reports."""
    from pallet.errors import exit_code_for_start_error

    text = str(getattr(exc, "details", lambda: "")() or exc)
    code = exit_code_for_start_error(text)
    return code if code in (126, 127) else 125


def _write_entry(entry: Any, timestamps: bool = False) -> None:
    out = sys.stderr.buffer if entry.stream == 2 else sys.stdout.buffer
    if timestamps:
        from pallet.client._inspect import rfc3339

        out.write(rfc3339(entry.time.ToNanoseconds()).encode() + b" ")
    out.write(entry.data)
    out.flush()


def _attach_and_start(args: argparse.Namespace, cid: str, sig_proxy: bool, tty: bool = False,
                      interactive: bool = False, start: bool = True) -> int:
    """Attach to the container's stdio, start it, relay until it exits."""
    import grpc
    from pallet.client._io import Relay
    from pallet.engine.v1 import engine_pb2 as pb

    c = client(args)
    first = pb.AttachRequest(id=cid, stdin=interactive, stdout=True, stderr=True,
                             detach_keys=getattr(args, "detach_keys", ""))
    if tty:
        from pallet.client._io import terminal_size

        w, h = terminal_size()
        if w and h:
            first.resize.CopyFrom(pb.TtySize(width=w, height=h))
    relay = Relay(first, tty, interactive)
    stream = c.containers.Attach(relay.requests())

    def start_it() -> None:
        if start:
            c.containers.Start(pb.StartContainerRequest(id=cid))
        if sig_proxy and not tty:
            def forward(signum: int, _frame: Any) -> None:
                with contextlib.suppress(grpc.RpcError):
                    c.containers.Kill(pb.KillContainerRequest(id=cid, signal=str(signum)), timeout=5)
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
                signal.signal(s, forward)

    try:
        status = relay.run(stream, after_ack=start_it)
    except grpc.RpcError as exc:
        stream.cancel()
        print(describe_error(exc, args.host), file=sys.stderr)
        return _start_error_status(exc)
    return 0 if status is None else status


def cmd_run(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    cid = _create(args, args.rm)
    if args.detach:
        import grpc

        try:
            client(args).containers.Start(pb.StartContainerRequest(id=cid))
        except grpc.RpcError as exc:
            print(describe_error(exc, args.host), file=sys.stderr)
            return _start_error_status(exc)
        print(cid)
        return 0
    return _attach_and_start(args, cid, args.sig_proxy == "true", tty=args.tty, interactive=args.interactive)


def cmd_attach(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    ctr = client(args).containers.Inspect(pb.InspectContainerRequest(id=args.container))
    interactive = ctr.config.open_stdin and not args.no_stdin
    return _attach_and_start(args, ctr.id, args.sig_proxy == "true", tty=ctr.config.tty,
                             interactive=interactive, start=False)


def cmd_exec(args: argparse.Namespace) -> int:
    import grpc
    from pallet.client._io import Relay
    from pallet.engine.v1 import engine_pb2 as pb

    c = client(args)
    env = []
    for item in args.env:
        key, sep, _ = item.partition("=")
        env.append(item if sep else f"{key}={os.environ.get(key, '')}")
    for path in args.env_file:
        env.extend(_read_env_file(path))
    res = c.containers.ExecCreate(pb.ExecCreateRequest(
        container_id=args.container, cmd=args.cmd, env=env, user=args.user, working_dir=args.workdir,
        tty=args.tty, attach_stdin=args.interactive and not args.detach, privileged=args.privileged,
        detach_keys=args.detach_keys))
    attached = not args.detach
    relay = Relay(pb.AttachRequest(id=res.id, stdin=args.interactive and attached, stdout=attached,
                                   stderr=attached, detach_keys=args.detach_keys),
                  args.tty, args.interactive and attached)
    stream = c.containers.ExecStart(relay.requests())
    try:
        if not attached:
            for _ in stream:
                pass
            return 0
        status = relay.run(stream)
    except grpc.RpcError as exc:
        print(describe_error(exc, args.host), file=sys.stderr)
        return _start_error_status(exc)
    return 0 if status is None else status


def cmd_start(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    if args.attach:
        if len(args.containers) > 1:
            raise CLIError("palletctl: you cannot start and attach multiple containers at once")
        ctr = client(args).containers.Inspect(pb.InspectContainerRequest(id=args.containers[0]))
        return _attach_and_start(args, ctr.id, True)
    return _each(args, args.containers, lambda c, ref: c.containers.Start(pb.StartContainerRequest(id=ref)))


def _each(args: argparse.Namespace, refs: list[str], call: Any, echo: bool = True) -> int:
    """Run a call per container; print each ref on success, errors on stderr."""
    import grpc

    c = client(args)
    failed = False
    for ref in refs:
        try:
            res = call(c, ref)
        except grpc.RpcError as exc:
            print(describe_error(exc, args.host), file=sys.stderr)
            failed = True
            continue
        if echo:
            print(ref if res is None or not isinstance(res, str) else res)
    return 1 if failed else 0


def cmd_stop(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    def stop(c: Any, ref: str) -> None:
        req = pb.StopContainerRequest(id=ref, signal=args.signal)
        if args.time is not None:
            req.timeout = args.time
        c.containers.Stop(req)

    return _each(args, args.containers, stop)


def cmd_restart(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    def restart(c: Any, ref: str) -> None:
        req = pb.RestartContainerRequest(id=ref)
        if args.time is not None:
            req.timeout = args.time
        c.containers.Restart(req)

    return _each(args, args.containers, restart)


def cmd_pause(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    return _each(args, args.containers, lambda c, ref: c.containers.Pause(pb.PauseContainerRequest(id=ref)))


def cmd_unpause(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    return _each(args, args.containers, lambda c, ref: c.containers.Unpause(pb.UnpauseContainerRequest(id=ref)))


def cmd_port(args: argparse.Namespace) -> int:
    from pallet.client._ports import port_lines, split_proto
    from pallet.engine.v1 import engine_pb2 as pb

    private = args.private_port
    if private:
        port, proto = split_proto(private)
        if not port.isdigit() or int(port) > 65535:
            raise CLIError(f"Error: invalid port ({port})", 1)
        private = f"{port}/{proto}"
    ctr = client(args).containers.Inspect(pb.InspectContainerRequest(id=args.container))
    lines = port_lines(ctr.network_settings.ports, private)
    if private and not lines:
        raise CLIError(f"Error: No public port '{private}' published for {args.container}", 1)
    for line in lines:
        print(line)
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    client(args).containers.Rename(pb.RenameContainerRequest(id=args.container, new_name=args.new_name))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from pallet.client._inspect import render, rfc3339
    from pallet.engine.v1 import engine_pb2 as pb

    req = pb.EventsRequest(filters=args.filter)
    if args.since:
        req.since.FromNanoseconds(_parse_time(args.since))
    if args.until:
        req.until.FromNanoseconds(_parse_time(args.until))
    for ev in client(args).system.Events(req):
        attrs = dict(ev.attributes)
        if args.format:
            obj = {"Type": ev.type, "Action": ev.action, "ID": ev.id, "Status": ev.action,
                   "Actor": {"ID": ev.id, "Attributes": attrs}, "Time": ev.time.seconds,
                   "TimeNano": ev.time.ToNanoseconds()}
            print(render(args.format, obj), flush=True)
            continue
        detail = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
        print(f"{rfc3339(ev.time.ToNanoseconds())} {ev.type} {ev.action} {ev.id}"
              + (f" ({detail})" if detail else ""), flush=True)
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    return _each(args, args.containers,
                 lambda c, ref: c.containers.Kill(pb.KillContainerRequest(id=ref, signal=args.signal)))


def cmd_rm(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    return _each(args, args.containers, lambda c, ref: c.containers.Remove(
        pb.RemoveContainerRequest(id=ref, force=args.force, volumes=args.volumes)))


def cmd_wait(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    return _each(args, args.containers,
                 lambda c, ref: str(c.containers.Wait(pb.WaitContainerRequest(id=ref)).exit_code))


def _command(ctr: Any, trunc: bool) -> str:
    cmd = " ".join([ctr.path, *ctr.args])
    if trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return f'"{cmd}"'


def _status(ctr: Any) -> str:
    st = ctr.state
    if st.status == 2:
        health = {"starting": " (health: starting)", "healthy": " (healthy)",
                  "unhealthy": " (unhealthy)"}.get(st.health.status, "")
        return "Up " + _format.human_duration(time.time() - st.started_at.ToNanoseconds() / 1e9) + health
    if st.status == 3:
        return "Up " + _format.human_duration(time.time() - st.started_at.ToNanoseconds() / 1e9) + " (Paused)"
    if st.status == 6:
        return f"Exited ({st.exit_code}) " + _format.ago(st.finished_at.ToNanoseconds())
    if st.status == 4:
        return f"Restarting ({st.exit_code}) " + _format.ago(st.finished_at.ToNanoseconds())
    if st.status == 7:
        return "Dead"
    return "Created"


def ps_row(ctr: Any, trunc: bool) -> dict[str, str]:
    from pallet.client import _network
    from pallet.client._inspect import status_name

    return {
        "ID": ctr.id[:12] if trunc else ctr.id,
        "Image": ctr.image,
        "Command": _command(ctr, trunc),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ctr.created.seconds)),
        "RunningFor": _format.ago(ctr.created.ToNanoseconds()),
        "Status": _status(ctr),
        "State": status_name(ctr.state.status),
        "Ports": _network.ps_ports(ctr),
        "Names": ctr.name,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(ctr.config.labels.items())),
    }


def size_text(size_rw: int, size_root_fs: int) -> str:
    """ps --size: the writable layer, and with the image (Docker's "2B (virtual 4.26MB)")."""
    rw = _format.human_size(size_rw)
    return f"{rw} (virtual {_format.human_size(size_root_fs)})" if size_root_fs > 0 else rw


def cmd_ps(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    limit = 1 if args.latest else args.last
    size = getattr(args, "size", False)
    res = client(args).containers.List(pb.ListContainersRequest(
        all=args.all or limit > 0, filters=args.filter, limit=limit, size=size))
    trunc = not args.no_trunc
    if args.quiet:
        for ctr in res.containers:
            print(ctr.id[:12] if trunc else ctr.id)
        return 0
    rows = [ps_row(ctr, trunc) for ctr in res.containers]
    for row, ctr in zip(rows, res.containers, strict=True):
        row["Size"] = size_text(ctr.size_rw, ctr.size_root_fs)
    if args.format:
        _format.print_rows(args.format, rows)
        return 0
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", *(["SIZE"] if size else [])]
    keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names", *(["Size"] if size else [])]
    print(_format.table(headers, [[r[k] for k in keys] for r in rows]))
    return 0


def _parse_time(value: str) -> int:
    """ns since the epoch from a relative duration (10m, 1h30m) or a timestamp."""
    import re

    from pallet.engine._logs import parse_time

    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+)", value)
    if m:
        total = 0.0
        unit_s = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value):
            total += float(num) * unit_s[unit]
        return time.time_ns() - int(total * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return int(float(value) * 1e9)
    try:
        return parse_time(value if value.endswith("Z") else value + ("Z" if "T" in value else "T00:00:00Z"))
    except ValueError:
        raise CLIError(f"palletctl: invalid time value {value!r}") from None


def cmd_logs(args: argparse.Namespace) -> int:
    from pallet.engine.v1 import engine_pb2 as pb

    if args.tail == "all":
        tail = -1
    else:
        try:
            tail = int(args.tail)
        except ValueError:
            raise CLIError(f'palletctl: invalid value for --tail: "{args.tail}"') from None
    req = pb.LogsRequest(id=args.container, follow=args.follow, tail=tail, stdout=True, stderr=True)
    if args.since:
        req.since.FromNanoseconds(_parse_time(args.since))
    if args.until:
        req.until.FromNanoseconds(_parse_time(args.until))
    for entry in client(args).containers.Logs(req):
        _write_entry(entry, args.timestamps)
    return 0
