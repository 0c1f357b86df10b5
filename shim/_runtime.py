"""Calling the OCI runtime (runc, crun) and making sense of its errors."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pallet.shim._log import Logger

# Wrappers runc and crun put around the part of an error a user cares about
# (compiled on first use: `re` is only needed on the error path).
_PREFIXES = (
    r"^(?:(?:runc|crun|OCI runtime) (?:create|start|run|exec|kill|delete)(?: failed)?: "
    r"|unable to start container process: "
    r"|unable to create container: "
    r"|container_linux\.go:\d+: starting container process caused: "
    r"|error during container init: "
    r"|process_linux\.go:\d+: "
    r"|exec failed: )+"
)


def trim_error(msg: str) -> str:
    """The meaningful end of a runtime error message.

    `runc create failed: unable to start container process: exec: "nope":
    executable file not found in $PATH` -> `exec: "nope": executable file not
    found in $PATH`.
    """
    msg = msg.strip()
    if msg.startswith("time=") and " msg=" in msg:  # runc's text log format
        msg = msg.split(" msg=", 1)[1].strip()
        if msg.startswith('"') and msg.endswith('"'):
            try:
                msg = json.loads(msg)
            except ValueError:
                msg = msg[1:-1]
    import re

    msg = re.sub(_PREFIXES, "", msg).strip()
    return msg


def last_error(log_path: str, offset: int) -> str:
    """The last error a runtime wrote to its --log (json format) after offset, or ""."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    found = ""
    for raw in data.splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("level") in ("error", "fatal", "panic") and rec.get("msg"):
            found = str(rec["msg"])
    return found


def text_error(text: str) -> str:
    """The last meaningful line of a runtime's stderr."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


class Runtime:
    """`runc --root ROOT --log LOG --log-format json <command> ...` with error capture."""

    def __init__(self, binary: str, root: str, log_path: str, logger: Logger) -> None:
        self.binary = binary
        self.root = root
        self.log_path = log_path
        self.log = logger

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, "--log", self.log_path, "--log-format", "json",
                *args]

    def _offset(self) -> int:
        try:
            return os.stat(self.log_path).st_size
        except OSError:
            return 0

    def run(self, *args: str, stdin: int | None = None, stdout: int | None = None,
            stderr: int | None = None) -> str | None:
        """Run a runtime command; None on success, else its trimmed error message.

        With stdout/stderr given (the container's pipes for `create` / `exec`)
        runc's own stderr is not ours to read, so the error comes from its json
        log. stdin defaults to /dev/null.
        """
        argv = self.argv(*args)
        offset = self._offset()
        capture = stderr is None
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL if stdin is None else stdin,
                stdout=subprocess.DEVNULL if stdout is None else stdout,
                stderr=subprocess.PIPE if capture else stderr,
                check=False,
            )
        except OSError as exc:
            return f"{self.binary}: {exc.strerror or exc}"
        self.log.debug("runtime", argv=argv, rc=proc.returncode)
        if proc.returncode == 0:
            return None
        err = last_error(self.log_path, offset)
        if not err and capture:
            err = text_error(proc.stderr.decode("utf-8", "replace"))
        if not err:
            err = f"{self.binary} {args[0]} exited with status {proc.returncode}"
        self.log.error("runtime failed", argv=argv, rc=proc.returncode, error=err)
        return trim_error(err)
