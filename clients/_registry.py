"""Registry commands: pull, push, login, logout; and the progress display they share.

Credentials come from Docker's config.json (pallet.client._auth) and travel with each
request, like Docker's X-Registry-Auth. On a terminal, progress is one line per layer,
rewritten in place with ANSI cursor moves (as docker does); otherwise a line is printed
when a layer's status changes.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from pallet.client import _auth, _format
from pallet.client._conn import client
from pallet.client.cli import CLIError


def add_parsers(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(sub, "pull", cmd_pull, "Download an image from a registry", "palletctl pull [OPTIONS] NAME[:TAG|@DIGEST]",
            "examples:\n  palletctl pull busybox\n  palletctl pull --platform linux/arm64 localhost:5000/app:1\n"
            "  palletctl pull -a localhost:5000/app")
    p.add_argument("-a", "--all-tags", action="store_true", help="download all tagged images in the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("--platform", default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
                   help="set platform if server is multi-platform capable (os/arch[/variant])")
    p.add_argument("--max-concurrent-downloads", type=int, default=0, metavar="N",
                   help="layers to download at once (default: the daemon's, 3)")
    p.add_argument("--config", dest="auth_config", default=None, metavar="DIR",
                   help="location of client config files (default $DOCKER_CONFIG or ~/.docker)")
    p.add_argument("--disable-content-trust", default="true", help=argparse.SUPPRESS)  # docker's, a no-op here
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")

    p = add(sub, "push", cmd_push, "Upload an image to a registry", "palletctl push [OPTIONS] NAME[:TAG]",
            "examples:\n  palletctl tag busybox localhost:5000/busybox\n  palletctl push localhost:5000/busybox")
    p.add_argument("-a", "--all-tags", action="store_true", help="push all tags of the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("--max-concurrent-uploads", type=int, default=0, metavar="N",
                   help="layers to upload at once (default: the daemon's, 5)")
    p.add_argument("--config", dest="auth_config", default=None, metavar="DIR",
                   help="location of client config files (default $DOCKER_CONFIG or ~/.docker)")
    p.add_argument("--disable-content-trust", default="true", help=argparse.SUPPRESS)  # docker's, a no-op here
    p.add_argument("name", metavar="NAME[:TAG]")

    p = add(sub, "login", cmd_login, "Log in to a registry", "palletctl login [OPTIONS] [SERVER]",
            "Credentials are checked against the registry, then stored in config.json (0600).")
    p.add_argument("-u", "--username", default="", help="username")
    p.add_argument("-p", "--password", default="", help="password")
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    p.add_argument("--config", dest="auth_config", default=None, metavar="DIR",
                   help="location of client config files (default $DOCKER_CONFIG or ~/.docker)")
    p.add_argument("server", nargs="?", default="")

    p = add(sub, "logout", cmd_logout, "Log out from a registry", "palletctl logout [SERVER]")
    p.add_argument("--config", dest="auth_config", default=None, metavar="DIR",
                   help="location of client config files (default $DOCKER_CONFIG or ~/.docker)")
    p.add_argument("server", nargs="?", default="")


# -- credentials --------------------------------------------------------------------------------


def _domain(name: str) -> str:
    from pallet import errors, reference

    try:
        return reference.parse_normalized(name.strip()).domain
    except errors.PalletError:
        return ""


def _auth_for(args: argparse.Namespace, domain: str) -> Any:
    from pallet.images.v1 import images_pb2 as ipb

    if not domain:
        return ipb.RegistryAuth()
    try:
        user, password, token = _auth.get(_auth.config_path(getattr(args, "auth_config", None)), domain)
    except _auth.AuthFileError as exc:
        print(f"WARNING: {exc}", file=sys.stderr)
        return ipb.RegistryAuth()
    return ipb.RegistryAuth(username=user, password=password, identity_token=token)


def _display_server(server: str) -> str:
    key = _auth.server_key(server)
    return key


# -- progress -----------------------------------------------------------------------------------


def _bar(current: int, total: int, width: int = 50) -> str:
    if total <= 0:
        return ""
    filled = min(width, int(width * current / total))
    arrow = ">" if filled < width else ""
    return f"[{'=' * max(0, filled - (1 if arrow else 0))}{arrow}{' ' * (width - filled)}] " \
           f"{_format.human_size(current, 4)}/{_format.human_size(total, 4)}"


class Progress:
    """Docker's jsonmessage display: per-id lines, rewritten in place on a terminal."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.lines: dict[str, int] = {}  # id -> line index (terminal mode)
        self.count = 0  # lines printed since the first id line
        self.last: dict[str, str] = {}

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
        if self.lines:
            self.count += 1

    def update(self, id_: str, status: str, current: int = 0, total: int = 0) -> None:
        if not id_:
            self.line(status)
            return
        if not self.tty:
            if self.last.get(id_) != status:
                self.last[id_] = status
                self.line(f"{id_}: {status}")
            return
        text = f"{id_}: {status}"
        if status in ("Downloading", "Extracting", "Pushing") and total:
            text += " " + _bar(current, total)
        if id_ not in self.lines:
            self.lines[id_] = self.count
            self.out.write(f"\x1b[2K\r{text}\n")
            self.count += 1
        else:
            up = self.count - self.lines[id_]
            self.out.write(f"\x1b[{up}A\x1b[2K\r{text}\x1b[{up}B\r")
        self.out.flush()


def _stream(stream: Iterable[Any], quiet: bool, on_final: Callable[[Any], None], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    prog = Progress(out, out.isatty())
    for msg in stream:
        final = bool(msg.digest) and not msg.id
        if final:
            on_final(msg)
            continue
        if quiet:
            continue
        prog.update(msg.id, msg.status, msg.current, msg.total)


def _platform(text: str) -> Any:
    from pallet.images.v1 import images_pb2 as ipb

    if not text:
        return None
    parts = text.strip().lower().split("/")
    if len(parts) < 2 or len(parts) > 3 or not all(parts):
        raise CLIError(f'palletctl: invalid platform "{text}": expected os/arch[/variant]', 125)
    return ipb.Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) > 2 else "")


# -- commands -----------------------------------------------------------------------------------


def cmd_pull(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    name = args.name
    domain = _domain(name)
    if not args.all_tags and not args.quiet and domain and ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
        print("Using default tag: latest")
    req = ipb.PullImageRequest(ref=name, auth=_auth_for(args, domain), platform=_platform(args.platform),
                               all_tags=args.all_tags, max_concurrent_downloads=args.max_concurrent_downloads)
    refs: list[str] = []

    def final(msg: Any) -> None:
        from pallet import reference

        refs.append(msg.ref)
        if args.all_tags:
            return
        if not args.quiet:
            print(str(reference.parse(msg.ref)) if msg.ref else name)

    _stream(client(args).images.Pull(req), args.quiet, final)
    if args.quiet:
        for r in refs:
            print(r)
    elif args.all_tags and refs:
        from pallet import reference

        print(str(reference.parse(refs[0]).name_only()))
    return 0


def pull_for_run(args: argparse.Namespace, name: str, quiet: bool, platform: str = "") -> None:
    """Pull the image of `run`/`create`, its progress on stderr as docker shows it."""
    from pallet.images.v1 import images_pb2 as ipb

    domain = _domain(name)
    req = ipb.PullImageRequest(ref=name, auth=_auth_for(args, domain), platform=_platform(platform))
    digests: list[str] = []

    def final(msg: Any) -> None:
        digests.append(msg.digest)

    _stream(client(args).images.Pull(req), quiet, final, sys.stderr)


def cmd_push(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    name = args.name
    req = ipb.PushImageRequest(ref=name, auth=_auth_for(args, _domain(name)),
                               max_concurrent_uploads=args.max_concurrent_uploads, all_tags=args.all_tags)
    pushed: list[Any] = []

    def final(msg: Any) -> None:
        pushed.append(msg)
        if not args.quiet:
            print(msg.status)

    _stream(client(args).images.Push(req), args.quiet, final)
    if args.quiet:  # docker prints the references pushed
        from pallet import reference

        repo = reference.parse_normalized(name.strip()).name_only()
        for msg in pushed:
            print(f"{repo}:{msg.tag}")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from pallet.images.v1 import images_pb2 as ipb

    path = _auth.config_path(args.auth_config)
    server = args.server or _auth.DOCKER_HUB_KEY
    user, password = args.username, args.password
    if args.password and args.password_stdin:
        raise CLIError("palletctl: --password and --password-stdin are mutually exclusive", 1)
    if args.password_stdin:
        if not user:
            raise CLIError("palletctl: must provide --username with --password-stdin", 1)
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    token = ""
    if not user and not password:
        try:
            stored_user, stored_pw, token = _auth.get(path, server)
        except _auth.AuthFileError:
            stored_user, stored_pw = "", ""
        if stored_user and (stored_pw or token) and not sys.stdin.isatty():
            user, password = stored_user, stored_pw
    if not user:
        if not sys.stdin.isatty():
            raise CLIError("palletctl: cannot perform an interactive login from a non TTY device", 1)
        user = input("Username: ").strip()
    if not password and not token:
        if not sys.stdin.isatty():
            raise CLIError("palletctl: cannot perform an interactive login from a non TTY device", 1)
        password = getpass.getpass("Password: ")
    if not user:
        raise CLIError("palletctl: username is required", 1)
    if not password and not token:
        raise CLIError("palletctl: password is required", 1)
    res = client(args).images.Login(ipb.LoginRequest(
        server=server, auth=ipb.RegistryAuth(username=user, password=password, identity_token=token)))
    try:
        _auth.store(path, server, user, password, res.identity_token)
    except (OSError, _auth.AuthFileError) as exc:
        raise CLIError(f"palletctl: error saving credentials: {exc}", 1) from None
    print(res.status or "Login Succeeded")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    path = _auth.config_path(args.auth_config)
    server = args.server or _auth.DOCKER_HUB_KEY
    key = _display_server(server)
    try:
        removed = _auth.remove(path, server)
    except (OSError, _auth.AuthFileError) as exc:
        raise CLIError(f"palletctl: {exc}", 1) from None
    if not removed:
        print(f"Not logged in to {key}")
        return 0
    print(f"Removing login credentials for {key}")
    return 0
