"""`palletctl context`: named daemon endpoints, stored the way Docker stores its contexts.

    $PALLET_CONFIG (~/.pallet)/
      config.json                          {"currentContext": "prod"}
      contexts/meta/<sha256(name)>/meta.json
      contexts/tls/<sha256(name)>/pallet/{ca,cert,key}.pem    copies, so a context stands alone

`default` is built in: $PALLET_HOST or the local socket. Writes are atomic (write, rename).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from typing import Any

from pallet.client._endpoint import Endpoint, EndpointError, config_dir, normalize_host

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$")
_TLS_FILES = (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem"))


def _id(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()


def _meta_dir(name: str) -> str:
    return os.path.join(config_dir(), "contexts", "meta", _id(name))


def _tls_dir(name: str) -> str:
    return os.path.join(config_dir(), "contexts", "tls", _id(name), "pallet")


def _config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def _write_json(path: str, doc: Any, mode: int = 0o644) -> None:
    import tempfile

    d = os.path.dirname(path)
    os.makedirs(d, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _load_config() -> dict[str, Any]:
    try:
        with open(_config_path(), encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise EndpointError(f"loading {_config_path()}: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def current_name() -> str:
    return str(_load_config().get("currentContext") or "default")


def set_current(name: str) -> None:
    doc = _load_config()
    if name == "default":
        doc.pop("currentContext", None)
    else:
        doc["currentContext"] = name
    _write_json(_config_path(), doc, 0o600)


def load(name: str) -> dict[str, Any]:
    """The stored meta.json of a context (the built-in `default` made on the fly)."""
    if name == "default":
        from pallet.client import default_host

        return {"Name": "default", "Metadata": {"Description": "Current PALLET_HOST based configuration"},
                "Endpoints": {"pallet": {"Host": default_host(), "SkipTLSVerify": False}}}
    try:
        with open(os.path.join(_meta_dir(name), "meta.json"), encoding="utf-8") as f:
            doc: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        raise EndpointError(f"context {name!r} does not exist (see 'palletctl context ls')") from None
    except (OSError, ValueError) as exc:
        raise EndpointError(f"context {name!r} is unreadable: {exc}") from None
    return doc


def names() -> list[str]:
    base = os.path.join(config_dir(), "contexts", "meta")
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(base):
            with contextlib.suppress(OSError, ValueError), open(os.path.join(base, entry, "meta.json")) as f:
                found.append(str(json.load(f)["Name"]))
    return ["default", *sorted(n for n in found if n != "default")]


def tls_files(name: str) -> dict[str, str]:
    """The context's stored TLS files that exist: {"ca": path, "cert": path, "key": path}."""
    d = _tls_dir(name)
    return {k: os.path.join(d, f) for k, f in _TLS_FILES if os.path.exists(os.path.join(d, f))}


def endpoint(name: str) -> Endpoint:
    doc = load(name)
    ep = (doc.get("Endpoints") or {}).get("pallet") or {}
    host = str(ep.get("Host") or "")
    if not host:
        raise EndpointError(f"context {name!r} has no pallet endpoint")
    files = tls_files(name) if name != "default" else {}
    tls = bool(files) or bool(ep.get("TLS"))
    return Endpoint(host=host, ca=files.get("ca", ""), cert=files.get("cert", ""), key=files.get("key", ""),
                    tls=tls, context=name)


def save(name: str, description: str, host: str, tls: dict[str, str], use_tls: bool) -> None:
    """Create or replace a context; the TLS files given are copied into the store."""
    import shutil
    import tempfile

    if not _NAME.match(name) or name == "default":
        raise EndpointError(f"invalid context name {name!r}: use letters, digits and _.+- "
                            "(and 'default' is built in)")
    for kind, path in tls.items():
        if path and not os.path.isfile(path):
            raise EndpointError(f"{kind} file {path} does not exist")
    if bool(tls.get("cert")) != bool(tls.get("key")):
        raise EndpointError("a client certificate needs its key and the key its certificate")
    meta = {"Name": name, "Metadata": {"Description": description},
            "Endpoints": {"pallet": {"Host": host, "SkipTLSVerify": False, "TLS": use_tls}}}
    tdir = _tls_dir(name)
    if any(tls.values()):
        staging = tempfile.mkdtemp(dir=os.path.dirname(os.path.dirname(tdir))
                                   if os.path.isdir(os.path.dirname(os.path.dirname(tdir))) else None)
        try:
            for kind, fname in _TLS_FILES:
                if tls.get(kind):
                    shutil.copyfile(tls[kind], os.path.join(staging, fname))
                    os.chmod(os.path.join(staging, fname), 0o600 if kind == "key" else 0o644)
            os.makedirs(os.path.dirname(tdir), mode=0o700, exist_ok=True)
            shutil.rmtree(tdir, ignore_errors=True)
            shutil.move(staging, tdir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _write_json(os.path.join(_meta_dir(name), "meta.json"), meta)


def remove(name: str) -> None:
    import shutil

    if name == "default":
        raise EndpointError("default context cannot be removed")
    load(name)
    shutil.rmtree(_meta_dir(name), ignore_errors=True)
    shutil.rmtree(os.path.dirname(_tls_dir(name)), ignore_errors=True)


# --- commands -------------------------------------------------------------------------------

def _parse_docker_opt(text: str) -> dict[str, str]:
    """Docker's `--docker host=…,ca=…,cert=…,key=…,skip-tls-verify=…` endpoint option."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep or k not in ("host", "ca", "cert", "key", "skip-tls-verify"):
            raise EndpointError(f"invalid endpoint option {part!r}: use host=, ca=, cert=, key=")
        out[k] = v
    return out


def _create_or_update(args: argparse.Namespace, existing: dict[str, Any] | None) -> None:
    import shutil
    import tempfile

    from pallet.client.cli import CLIError

    opts = _parse_docker_opt(args.docker) if args.docker else {}
    host = args.ctx_host or opts.get("host") or ""
    tls = {"ca": args.ctx_ca or opts.get("ca", ""), "cert": args.ctx_cert or opts.get("cert", ""),
           "key": args.ctx_key or opts.get("key", "")}
    tls = {k: os.path.abspath(os.path.expanduser(v)) if v else "" for k, v in tls.items()}
    name = args.name
    if existing is None and getattr(args, "from_", None):
        src = endpoint(args.from_)
        host = host or src.host
        for k in ("ca", "cert", "key"):
            tls[k] = tls[k] or getattr(src, k)
    if existing is not None:
        old = endpoint(name)
        host = host or old.host
        for k in ("ca", "cert", "key"):
            tls[k] = tls[k] or getattr(old, k)
    if not host:
        raise CLIError("palletctl context: --host is required (e.g. --host tcp://server:2376)", 1)
    use_tls = bool(args.ctx_tlsverify or any(tls.values()))
    description = args.description if args.description is not None else (
        ((existing or {}).get("Metadata") or {}).get("Description", ""))
    try:
        host = normalize_host(host, tls=use_tls)
        if existing is not None and any(tls.values()):
            # copies must not be read from the directory save() replaces
            with tempfile.TemporaryDirectory() as keep:
                for k in tls:
                    if tls[k] and tls[k].startswith(_tls_dir(name)):
                        tls[k] = shutil.copy(tls[k], os.path.join(keep, k))
                save(name, description, host, tls, use_tls)
        else:
            save(name, description, host, tls, use_tls)
    except EndpointError as exc:
        raise CLIError(f"palletctl context: {exc}", 1) from None


def cmd_create(args: argparse.Namespace) -> int:
    from pallet.client.cli import CLIError

    if args.name in names():
        raise CLIError(f"palletctl context: context {args.name!r} already exists", 1)
    _create_or_update(args, None)
    print(args.name)
    print(f'Successfully created context "{args.name}"', file=sys.stderr)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from pallet.client.cli import CLIError

    try:
        existing = load(args.name)
    except EndpointError as exc:
        raise CLIError(f"palletctl context: {exc}", 1) from None
    if args.name == "default":
        raise CLIError("palletctl context: the default context cannot be changed", 1)
    _create_or_update(args, existing)
    print(args.name)
    print(f'Successfully updated context "{args.name}"', file=sys.stderr)
    return 0


def _rows() -> list[dict[str, Any]]:
    current = current_name()
    rows = []
    for n in names():
        error = ""
        try:
            doc = load(n)
            host = ((doc.get("Endpoints") or {}).get("pallet") or {}).get("Host", "")
            desc = (doc.get("Metadata") or {}).get("Description", "")
        except EndpointError as exc:
            host, desc, error = "", "", str(exc)
        rows.append({"Name": n, "Description": desc, "PalletEndpoint": host, "Current": n == current,
                     "Error": error})
    return rows


def cmd_ls(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.quiet:
        for r in rows:
            print(r["Name"])
        return 0
    if args.format:
        _print_format(args.format, rows)
        return 0
    from pallet.client._format import table

    print(table(("NAME", "DESCRIPTION", "PALLET ENDPOINT", "ERROR"),
                [(r["Name"] + (" *" if r["Current"] else ""), r["Description"], r["PalletEndpoint"], r["Error"])
                 for r in rows]))
    return 0


def _print_format(fmt: str, rows: list[dict[str, Any]]) -> None:
    if fmt == "json":
        for r in rows:
            print(json.dumps(r))
        return
    from pallet.client._format import print_rows

    print_rows(fmt, rows)


def cmd_use(args: argparse.Namespace) -> int:
    from pallet.client.cli import CLIError

    try:
        load(args.name)
        set_current(args.name)
    except EndpointError as exc:
        raise CLIError(f"palletctl context: {exc}", 1) from None
    print(args.name)
    if os.environ.get("PALLET_HOST"):
        print("Warning: PALLET_HOST environment variable overrides the active context. "
              "To use a context, either set the global --context flag, or unset PALLET_HOST.", file=sys.stderr)
    else:
        print(f'Current context is now "{args.name}"', file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    print(current_name())
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from pallet.client.cli import CLIError

    docs = []
    for n in args.names or [current_name()]:
        try:
            doc = dict(load(n))
        except EndpointError as exc:
            raise CLIError(f"palletctl context: {exc}", 1) from None
        files = tls_files(n) if n != "default" else {}
        doc["TLSMaterial"] = {"pallet": sorted(os.path.basename(p) for p in files.values())} if files else {}
        doc["Storage"] = {"MetadataPath": _meta_dir(n) if n != "default" else "<IN MEMORY>",
                          "TLSPath": _tls_dir(n) if n != "default" else "<IN MEMORY>"}
        docs.append(doc)
    if args.format:
        _print_format(args.format, docs)
        return 0
    print(json.dumps(docs, indent=4))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from pallet.client.cli import CLIError

    current = current_name()
    failed = False
    for n in args.names:
        try:
            if n == current and not args.force:
                raise EndpointError(f"context {n!r} is in use, set -f flag to force remove")
            remove(n)
            if n == current:
                set_current("default")
            print(n)
        except EndpointError as exc:
            print(f"palletctl context: {exc}", file=sys.stderr)
            failed = True
    if failed:
        raise CLIError("", 1)
    return 0


def register(sub: Any, add: Any) -> None:
    """Add `context` and its subcommands to palletctl's parser."""
    from pallet.client._prune import _group

    gs = _group(sub, add, "context", "Manage contexts")

    def endpoint_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--description", default=None, help="description of the context")
        p.add_argument("--host", dest="ctx_host", default="", metavar="HOST",
                       help="daemon address: tcp://HOST:PORT or unix:///path")
        p.add_argument("--docker", default="", metavar="host=…,ca=…,cert=…,key=…",
                       help="the endpoint in Docker's form")
        p.add_argument("--tlsverify", dest="ctx_tlsverify", action="store_true", help="verify the daemon over TLS")
        p.add_argument("--tlscacert", dest="ctx_ca", default="", metavar="PATH", help="CA certificate (copied)")
        p.add_argument("--tlscert", dest="ctx_cert", default="", metavar="PATH",
                       help="client certificate (copied)")
        p.add_argument("--tlskey", dest="ctx_key", default="", metavar="PATH", help="client key (copied)")
        p.add_argument("name", metavar="CONTEXT")

    p = add(gs, "create", cmd_create, "Create a context",
            usage="palletctl context create [OPTIONS] CONTEXT",
            epilog="examples:\n  palletctl context create web1 --host tcp://10.0.0.5:2376 --tlsverify "
                   "--tlscacert ~/.pallet/ca.pem \\\n      --tlscert ~/.pallet/cert.pem --tlskey ~/.pallet/key.pem\n"
                   "  palletctl context create local2 --host unix:///run/pallet2/pallet.sock")
    endpoint_flags(p)
    p.add_argument("--from", dest="from_", default="", metavar="CONTEXT", help="copy the endpoint of a context")
    p = add(gs, "update", cmd_update, "Update a context",
            epilog="examples:\n  palletctl context update web1 --description 'front-end host'")
    endpoint_flags(p)
    for name in ("ls", "list"):
        p = add(gs, name, cmd_ls, "List contexts", epilog="examples:\n  palletctl context ls\n"
                                                        "  palletctl context ls --format '{{.Name}}'")
        p.add_argument("-q", "--quiet", action="store_true", help="only show context names")
        p.add_argument("--format", default="", help="format output using a Go-style template or 'json'")
    p = add(gs, "use", cmd_use, "Set the current context",
            epilog="examples:\n  palletctl context use web1\n  palletctl context use default")
    p.add_argument("name", metavar="CONTEXT")
    add(gs, "show", cmd_show, "Print the name of the current context")
    p = add(gs, "inspect", cmd_inspect, "Display detailed information on one or more contexts",
            epilog="examples:\n  palletctl context inspect web1")
    p.add_argument("--format", default="", help="format output using a Go-style template")
    p.add_argument("names", nargs="*", metavar="CONTEXT")
    for name in ("rm", "remove"):
        p = add(gs, name, cmd_rm, "Remove one or more contexts", epilog="examples:\n  palletctl context rm web1")
        p.add_argument("-f", "--force", action="store_true", help="force the removal of a context in use")
        p.add_argument("names", nargs="+", metavar="CONTEXT")
