"""pallet-shim's command line.

    pallet-shim start --id ID --bundle DIR [--runtime PATH] --runtime-root DIR
                      --log-path FILE [--log-max-size BYTES] [--log-max-files N]
                      [--log-driver json-file|none] [--create-only] [--stdin] [--debug]

`start` forks: the child detaches (setsid) and becomes the long-lived shim
(pallet.shim.server); this process waits for it to report and prints one JSON
line — {"pid", "shim_pid", "address"} and exit 0, or {"error"} and exit 1
once everything the start did has been undone and the shim is gone. With
--create-only the container is left CREATED (`runc create` only) and the
shim's Start method runs it.

Only os and sys are imported up front; the shim's modules load in the child.
"""

from __future__ import annotations

import os
import sys

USAGE = """\
usage: pallet-shim start --id ID --bundle DIR [--runtime PATH] --runtime-root DIR
                         --log-path FILE [--log-max-size BYTES] [--log-max-files N]
                         [--log-driver json-file|none] [--create-only] [--stdin] [--debug]

Start a container through its OCI runtime and keep a shim serving it on
DIR/shim.sock. Prints {"pid", "shim_pid", "address"} on success or
{"error"} (exit status 1) on failure, as one JSON line.

options:
  --id ID             container id (the runtime's name for it)
  --bundle DIR        OCI bundle: config.json, optional mounts.json
  --runtime PATH      OCI runtime binary (default: runc)
  --runtime-root DIR  the runtime's state directory (runc --root)
  --log-path FILE     container log, Docker json-file format (appended)
  --log-max-size BYTES
                      rotate the log before it would grow past BYTES: FILE.1,
                      FILE.2, ... as Docker does (default 0: never rotate)
  --log-max-files N   files kept, FILE included (default 1: a full FILE is
                      replaced); older rotated files are removed
  --log-driver NAME   json-file (default), or none: keep no log file (output
                      still goes to attached clients)
  --create-only       `runc create` only: the container stays CREATED until the
                      shim's Start method is called
  --stdin             give the container a stdin the shim holds (a pipe, or the
                      terminal with process.terminal); default /dev/null
  --debug             detailed shim log in DIR/shim.log
"""

_VALUE_OPTS = ("id", "bundle", "runtime", "runtime-root", "log-path", "log-max-size", "log-max-files",
               "log-driver")
_LOG_DRIVERS = ("json-file", "none")
_REQUIRED = ("id", "bundle", "runtime-root", "log-path")
_FLAGS = ("debug", "create-only", "stdin")


class UsageError(Exception):
    pass


def parse_start(argv: list[str]) -> dict[str, object]:
    """Options of `start` as a dict keyed by option name without dashes.

    --create-only and --stdin appear (as True) only when given, and so do
    log-max-size and log-max-files (checked, as ints) and log-driver.
    """
    opts: dict[str, object] = {"runtime": "runc", "debug": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument: {arg}")
        name, eq, value = arg[2:].partition("=")
        if name in _FLAGS and not eq:
            opts[name] = True
        elif name in _VALUE_OPTS:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"--{name} needs a value")
                value = argv[i]
            opts[name] = value
        else:
            raise UsageError(f"unknown option: --{name}")
        i += 1
    missing = [f"--{n}" for n in _REQUIRED if not opts.get(n)]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    for name, least in (("log-max-size", 0), ("log-max-files", 1)):
        if name in opts:
            opts[name] = _count(opts[name], name, least)
    if opts.get("log-driver", "json-file") not in _LOG_DRIVERS:
        raise UsageError(f"--log-driver must be one of {', '.join(_LOG_DRIVERS)}, "
                         f"not {opts['log-driver']!r}")
    return opts


def _count(value: object, name: str, least: int) -> int:
    text = str(value)
    if not (text.isascii() and text.isdigit()) or int(text) < least:
        raise UsageError(f"--{name} needs a whole number >= {least}, not {text!r}")
    return int(text)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def start(opts: dict[str, object]) -> int:
    import json

    bundle = os.path.abspath(str(opts["bundle"]))
    if not os.path.isfile(os.path.join(bundle, "config.json")):
        print(json.dumps({"error": f"{bundle}/config.json: no such file"}), flush=True)
        return 1
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the shim
        code = 1
        try:
            os.close(rfd)
            from pallet.shim import _logfile, server

            # the settings of the JsonFileLog the server opens (this process only)
            _logfile.configure(max_size=int(str(opts.get("log-max-size", 0))),
                               max_files=int(str(opts.get("log-max-files", 1))),
                               driver=str(opts.get("log-driver", "json-file")))

            code = server.run(
                str(opts["id"]), bundle, str(opts["runtime"]),
                os.path.abspath(str(opts["runtime-root"])),
                os.path.abspath(str(opts["log-path"])), bool(opts["debug"]), wfd,
                create_only=bool(opts.get("create-only")), stdin=bool(opts.get("stdin")),
            )
        finally:
            os._exit(code)
    os.close(wfd)
    data = _read_all(rfd)
    os.close(rfd)
    try:
        reply = json.loads(data.splitlines()[0])
        if not isinstance(reply, dict):
            raise ValueError(reply)
    except (IndexError, ValueError):
        reply = {"error": f"shim exited without reporting (see {bundle}/shim.log)"}
    if "error" in reply:
        os.waitpid(pid, 0)  # it has undone everything and is on its way out
        print(json.dumps({"error": reply["error"]}), flush=True)
        return 1
    print(json.dumps(reply), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write(USAGE)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if argv[0] != "start":
        sys.stderr.write(f"pallet-shim: unknown command {argv[0]!r}\n{USAGE}")
        return 2
    if any(a in ("-h", "--help") for a in argv[1:]):
        sys.stdout.write(USAGE)
        return 0
    try:
        opts = parse_start(argv[1:])
    except UsageError as exc:
        sys.stderr.write(f"pallet-shim: {exc}\n{USAGE}")
        return 2
    return start(opts)


if __name__ == "__main__":
    raise SystemExit(main())
