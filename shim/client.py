"""A small synchronous client for pallet-shim (no grpc), and start_shim().

    reply = start_shim(id=cid, bundle=dir, runtime_root=..., log_path=...)
    shim = ShimClient(reply["address"])
    shim.state().status == shim_pb2.TASK_STATUS_RUNNING
    shim.kill(signal.SIGTERM)
    shim.wait().exit_status
    shim.delete()        # the shim exits

Every call uses its own short connection, so one client may be shared by
threads and a blocked wait() never holds up other calls. Errors are
pallet.errors classes: a shim that is not there (no socket, refused, closed
mid-call) is Unavailable; a call that takes too long is DeadlineExceeded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from itertools import count

from pallet import errors
from pallet.shim import protocol
from pallet.shim.v1 import shim_pb2

_MAX_UNIX_PATH = 107


def start_command(id: str, bundle: str, *, runtime_root: str, log_path: str,  # noqa: A002
                  runtime: str = "runc", debug: bool = False,
                  argv_prefix: Sequence[str] | None = None) -> list[str]:
    """The argv that starts a shim (for callers that run it themselves)."""
    argv = list(argv_prefix) if argv_prefix else [sys.executable, "-m", "pallet.shim"]
    argv += ["start", "--id", id, "--bundle", bundle, "--runtime", runtime,
             "--runtime-root", runtime_root, "--log-path", log_path]
    if debug:
        argv.append("--debug")
    return argv


def parse_start_reply(returncode: int, stdout: bytes | str, stderr: bytes | str = b"") -> dict:
    """The start command's reply: {"pid", "shim_pid", "address"}, or raise.

    FailedPrecondition carries the runtime's error (e.g. `exec: "nope":
    executable file not found in $PATH`); Internal if the command said nothing
    usable.
    """
    out = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    err = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    reply = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            break
    if isinstance(reply, dict):
        if "error" in reply:
            raise errors.FailedPrecondition(str(reply["error"]))
        if returncode == 0 and {"pid", "shim_pid", "address"} <= reply.keys():
            return {"pid": int(reply["pid"]), "shim_pid": int(reply["shim_pid"]),
                    "address": str(reply["address"])}
    detail = (err.strip() or out.strip()).splitlines()
    raise errors.Internal(f"pallet-shim start failed (exit status {returncode})"
                          + (f": {detail[-1]}" if detail else ""))


def start_shim(id: str, bundle: str, *, runtime_root: str, log_path: str,  # noqa: A002
               runtime: str = "runc", debug: bool = False,
               argv_prefix: Sequence[str] | None = None, timeout: float | None = 60.0,
               env: dict[str, str] | None = None) -> dict:
    """Start a container's shim and return {"pid", "shim_pid", "address"}.

    Runs `pallet-shim start ...` (by default `sys.executable -m pallet.shim`,
    or argv_prefix + ["start", ...]) and waits for its one-line reply. The shim
    it leaves behind is detached (own session) and has bound `address`.
    Raises FailedPrecondition with the runtime's message if the container
    could not be started (nothing is left behind then), DeadlineExceeded if
    the command did not answer within timeout seconds.
    """
    argv = start_command(id, bundle, runtime_root=runtime_root, log_path=log_path,
                         runtime=runtime, debug=debug, argv_prefix=argv_prefix)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise errors.DeadlineExceeded(
            f"pallet-shim start did not answer within {timeout}s (see {bundle}/shim.log)"
        ) from None
    except OSError as exc:
        raise errors.Internal(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    return parse_start_reply(proc.returncode, proc.stdout, proc.stderr)


class ShimClient:
    """Calls one shim's Task methods over its unix socket."""

    def __init__(self, address: str, timeout: float | None = 10.0) -> None:
        self.address = address
        self.timeout = timeout
        self._ids = count(1, 2)

    def __repr__(self) -> str:
        return f"ShimClient({self.address!r})"

    def __enter__(self) -> ShimClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: connections last one call."""

    # -- methods -------------------------------------------------------------

    def state(self) -> shim_pb2.StateResponse:
        """id, bundle, pid, status (TASK_STATUS_*), exit_status, exited_at, started_at, shim_pid."""
        return self._call("State", shim_pb2.StateRequest(), shim_pb2.StateResponse)

    def kill(self, sig: int, all: bool = False) -> None:  # noqa: A002 - the protocol's name
        """Signal the container's init (or, with all, every process in it).

        FailedPrecondition if the container is not running.
        """
        self._call("Kill", shim_pb2.KillRequest(signal=int(sig), all=all), shim_pb2.KillResponse)

    def wait(self, timeout: float | None = None) -> shim_pb2.WaitResponse:
        """Block until the container has exited and been cleaned up; exit_status, exited_at.

        timeout None waits forever; otherwise DeadlineExceeded after timeout seconds.
        """
        return self._call("Wait", shim_pb2.WaitRequest(), shim_pb2.WaitResponse,
                          timeout=timeout)

    def delete(self) -> shim_pb2.DeleteResponse:
        """pid, exit_status, exited_at of an exited container; the shim then exits.

        FailedPrecondition while the container is running.
        """
        return self._call("Delete", shim_pb2.DeleteRequest(), shim_pb2.DeleteResponse)

    def shutdown(self) -> None:
        """Make the shim exit (FailedPrecondition while the container is running)."""
        self._call("Shutdown", shim_pb2.ShutdownRequest(), shim_pb2.ShutdownResponse)

    # -- plumbing --------------------------------------------------------------

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        dfd = -1
        try:
            path = self.address
            if len(os.fsencode(path)) > _MAX_UNIX_PATH:
                dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY)
                path = f"/proc/self/fd/{dfd}/{os.path.basename(path)}"
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
            sock.close()
            raise errors.Unavailable(
                f"shim not reachable at {self.address}: {exc.strerror or exc}") from None
        except TimeoutError:
            sock.close()
            raise errors.DeadlineExceeded(f"connecting to shim at {self.address} timed out") \
                from None
        except OSError as exc:
            sock.close()
            raise errors.Unavailable(
                f"shim not reachable at {self.address}: {exc.strerror or exc}") from None
        finally:
            if dfd >= 0:
                os.close(dfd)
        return sock

    def _call(self, method: str, request, response_type, timeout=None):  # noqa: ANN001, ANN202
        req = shim_pb2.Request(service=protocol.SERVICE, method=method,
                               payload=request.SerializeToString())
        sid = next(self._ids) & 0x7FFFFFFF or 1
        sock = self._connect(timeout if method == "Wait" else self.timeout)
        try:
            try:
                sock.sendall(protocol.pack(sid, protocol.TYPE_REQUEST, req.SerializeToString()))
                while True:
                    rsid, mtype, _flags, payload = protocol.recv_frame(sock)
                    if mtype == protocol.TYPE_RESPONSE and rsid == sid:
                        break
            except TimeoutError:
                raise errors.DeadlineExceeded(f"shim {method} timed out") from None
            except (EOFError, ConnectionError) as exc:
                raise errors.Unavailable(f"shim at {self.address} went away during {method}: "
                                         f"{exc}") from None
            except (OSError, protocol.ProtocolError) as exc:
                raise errors.Unavailable(f"shim {method} failed: {exc}") from None
        finally:
            sock.close()
        resp = shim_pb2.Response.FromString(payload)
        if resp.status.code != protocol.OK:
            raise errors.from_code(resp.status.code, resp.status.message or method)
        return response_type.FromString(resp.payload)

