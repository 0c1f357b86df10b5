"""palletctl: the Docker-style command line for palletd.

Imports stay lean: grpc and the generated code load only when a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn


class CLIError(Exception):
    """An error to print as one line, with the exit status to use."""

    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """Usage errors exit 125 with one line and a pointer to --help, as docker does."""

    def error(self, message: str) -> NoReturn:
        print(f"palletctl: {message}\nSee '{self.prog} --help'.", file=sys.stderr)
        raise SystemExit(125)


def _add(sub: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str,
         usage: str = "", epilog: str = "", add_help: bool = True) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, usage=usage or None, epilog=epilog or None,
        add_help=add_help, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    from pallet.client import _containers as c
    from pallet.client import _cp as cp
    from pallet.client import _images as i
    from pallet.client import _system as s

    parser = Parser(prog="palletctl", description="A self-sufficient runtime for containers.",
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    from pallet.client._endpoint import add_flags

    add_flags(parser)
    parser.add_argument("-D", "--debug", action="store_true", help="enable debug output")
    parser.add_argument("-v", "--version", action="store_true", help="print version information and quit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = _add(sub, "run", c.cmd_run, "Create and run a new container from an image",
             "palletctl run [OPTIONS] IMAGE [COMMAND] [ARG...]",
             "examples:\n  palletctl run --rm busybox echo hi\n  palletctl run -d --name web busybox httpd -f",
             add_help=False)
    c.add_create_flags(p)
    p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the ID")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"],
                   help="proxy received signals to the process (default true)")
    p.add_argument("image", help=argparse.SUPPRESS)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    p = _add(sub, "create", c.cmd_create, "Create a new container",
             "palletctl create [OPTIONS] IMAGE [COMMAND] [ARG...]", add_help=False)
    c.add_create_flags(p)
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("image", help=argparse.SUPPRESS)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    p = _add(sub, "start", c.cmd_start, "Start one or more stopped containers",
             "palletctl start [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-a", "--attach", action="store_true", help="attach output and wait for exit")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = _add(sub, "exec", c.cmd_exec, "Execute a command in a running container",
             "palletctl exec [OPTIONS] CONTAINER COMMAND [ARG...]",
             "examples:\n  palletctl exec web ls /\n  palletctl exec -it web sh", add_help=False)
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-u", "--user", default="", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to the command")
    p.add_argument("--detach-keys", default="", help="override the key sequence for detaching")
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("container")
    p.add_argument("cmd", nargs=argparse.REMAINDER)

    p = _add(sub, "attach", c.cmd_attach, "Attach local standard input, output, and error streams to a container",
             "palletctl attach [OPTIONS] CONTAINER")
    p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"], help="proxy all received signals")
    p.add_argument("--detach-keys", default="", help="override the key sequence for detaching")
    p.add_argument("container")

    for name, func, text in (("pause", c.cmd_pause, "Pause all processes within one or more containers"),
                             ("unpause", c.cmd_unpause, "Unpause all processes within one or more containers")):
        p = _add(sub, name, func, text, f"palletctl {name} CONTAINER [CONTAINER...]")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = _add(sub, "cp", cp.cmd_cp, "Copy files/folders between a container and the local filesystem",
             "palletctl cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
             "       palletctl cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
             "Use '-' as the source to read a tar archive from stdin and extract it to a directory\n"
             "destination in a container. Use '-' as the destination to stream a tar archive of a\n"
             "container source to stdout.")
    p.add_argument("-a", "--archive", action="store_true", help="archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output during copy")
    p.add_argument("src", metavar="SRC_PATH")
    p.add_argument("dst", metavar="DEST_PATH")

    p = _add(sub, "port", c.cmd_port, "List port mappings or a specific mapping for the container",
             "palletctl port CONTAINER [PRIVATE_PORT[/PROTO]]")
    p.add_argument("container")
    p.add_argument("private_port", nargs="?", default="")

    p = _add(sub, "rename", c.cmd_rename, "Rename a container", "palletctl rename CONTAINER NEW_NAME")
    p.add_argument("container")
    p.add_argument("new_name")

    p = _add(sub, "events", c.cmd_events, "Get real time events from the server", "palletctl events [OPTIONS]",
             "examples:\n  palletctl events --filter type=container --filter event=die")
    p.add_argument("--since", default="", help="show all events created since timestamp")
    p.add_argument("--until", default="", help="stream events until this timestamp")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output (type=, event=, container=)")
    p.add_argument("--format", default="", help="format the output using a Go-template-like string")

    from pallet.client import _stats as st

    st.add_stats_parser(sub, _add)
    st.add_top_parser(sub, _add)

    from pallet.client import _update as up

    up.add_update_parser(sub, _add)

    from pallet.client import _registry as rg

    rg.add_parsers(sub, _add)  # pull, push, login, logout

    p = _add(sub, "ps", c.cmd_ps, "List containers", "palletctl ps [OPTIONS]",
             "examples:\n  palletctl ps -a --filter status=exited\n  palletctl ps -q")
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="filter output (name=, id=, label=, status=, ancestor=, exited=)")
    p.add_argument("-n", "--last", type=int, default=0, help="show n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="show the latest created container")
    p.add_argument("--format", default="", help="Go-template-like format, e.g. '{{.ID}} {{.Names}}'")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")

    p = _add(sub, "logs", c.cmd_logs, "Fetch the logs of a container", "palletctl logs [OPTIONS] CONTAINER")
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-n", "--tail", default="all", help='number of lines to show from the end (default "all")')
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("--since", default="", help="show logs since a timestamp or relative time (e.g. 10m)")
    p.add_argument("--until", default="", help="show logs before a timestamp or relative time")
    p.add_argument("container")

    p = _add(sub, "stop", c.cmd_stop, "Stop one or more running containers",
             "palletctl stop [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-t", "--time", "--timeout", type=int, default=None, dest="time",
                   help="seconds to wait before killing the container")
    p.add_argument("-s", "--signal", default="", help="signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = _add(sub, "restart", c.cmd_restart, "Restart one or more containers",
             "palletctl restart [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-t", "--time", "--timeout", type=int, default=None, dest="time",
                   help="seconds to wait before killing the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = _add(sub, "kill", c.cmd_kill, "Kill one or more running containers",
             "palletctl kill [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-s", "--signal", default="KILL", help="signal to send (default KILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = _add(sub, "rm", c.cmd_rm, "Remove one or more containers",
             "palletctl rm [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-f", "--force", action="store_true", help="force the removal of a running container")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = _add(sub, "wait", c.cmd_wait, "Block until containers stop, then print their exit codes",
             "palletctl wait CONTAINER [CONTAINER...]")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = _add(sub, "inspect", s.cmd_inspect, "Return low-level information on objects",
             "palletctl inspect [OPTIONS] NAME|ID [NAME|ID...]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")
    p.add_argument("--type", choices=["container", "image", "network", "volume"], default=None)
    p.add_argument("objects", nargs="+", metavar="NAME|ID")

    p = _add(sub, "images", i.cmd_images, "List images", "palletctl images [OPTIONS] [REPOSITORY[:TAG]]")
    p.add_argument("-a", "--all", action="store_true", help="show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output (reference=, label=, dangling=)")
    p.add_argument("--format", default="", help="Go-template-like format")
    p.add_argument("reference", nargs="?")

    p = _add(sub, "rmi", i.cmd_rmi, "Remove one or more images", "palletctl rmi [OPTIONS] IMAGE [IMAGE...]")
    p.add_argument("-f", "--force", action="store_true", help="force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="do not delete untagged parents")
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = _add(sub, "tag", i.cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
             "palletctl tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    p.add_argument("source")
    p.add_argument("target")

    p = _add(sub, "import", i.cmd_import, "Import the contents from a tarball to create a filesystem image",
             "palletctl import [OPTIONS] file|- [REPOSITORY[:TAG]]",
             "examples:\n  palletctl import rootfs.tar myimage:1.0\n"
             "  cat rootfs.tar.gz | palletctl import -c 'CMD [\"sh\"]' - base")
    p.add_argument("-c", "--change", action="append", default=[], help="apply a Dockerfile instruction to the image")
    p.add_argument("-m", "--message", default="", help="set a commit message")
    p.add_argument("--platform", default="", help="set platform (os/arch)")
    p.add_argument("file")
    p.add_argument("reference", nargs="?", default="")

    p = _add(sub, "load", i.cmd_load, "Load an image from a tar archive or STDIN", "palletctl load [OPTIONS]")
    p.add_argument("-i", "--input", default="", help="read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")

    p = _add(sub, "save", i.cmd_save, "Save one or more images to a tar archive (streamed to STDOUT by default)",
             "palletctl save [OPTIONS] IMAGE [IMAGE...]")
    p.add_argument("-o", "--output", default="", help="write to a file, instead of STDOUT")
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = _add(sub, "version", s.cmd_version, "Show the Pallet version information", "palletctl version [OPTIONS]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")

    p = _add(sub, "info", s.cmd_info, "Display system-wide information", "palletctl info [OPTIONS]")
    p.add_argument("-f", "--format", default="", help="format output using a Go-template-like string")

    from pallet.client import _prune as pr

    pr.add_parsers(sub, _add)  # history and the image/container/system groups, aliasing the commands above

    from pallet.client import _volumes as vol

    vol.add_parsers(sub, _add)

    from pallet.client import _network as net

    net.add_parsers(sub, _add)

    from pallet.client import _cluster

    _cluster.add_parsers(sub, _add)  # node, service

    from pallet.client import _build as bld

    bld.add_parsers(sub, _add)

    from pallet.client.compose import cli as compose

    compose.add_parsers(sub, _add)

    from pallet.client import _context, _tls

    _context.register(sub, _add)
    _tls.register(sub, _add)

    from pallet.client import _completion

    _completion.add_parsers(sub, _add)  # completion; its scripts call the hidden `__complete` (main)

    from pallet.client import _examples

    _examples.apply(parser)  # the "examples:" section at the end of each --help
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["__complete"]:  # the completion scripts' callback: candidates for the words
        from pallet.client._completion import main as complete

        return complete(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.version:
        from pallet import __version__

        print(f"Pallet version {__version__}")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(exc, file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        # ^C may land inside gRPC's own code, leaving a call half torn down that would
        # hold the interpreter's exit: flush what was printed and leave at once.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - gRPC errors become one clear line
        from pallet.client._conn import describe_error

        message = describe_error(exc, args.host)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 125
    finally:
        if "pallet.client._conn" in sys.modules:
            sys.modules["pallet.client._conn"].close_all()


if __name__ == "__main__":
    # Run as `python -m pallet.client.cli`, this file is __main__ while the command
    # modules import pallet.client.cli: use that module's main so CLIError is one class.
    from pallet.client.cli import main as _main

    raise SystemExit(_main())
