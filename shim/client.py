"""A small synchronous client for pallet-shim (no grpc), and start_shim().

    reply = start_shim(id=cid, bundle=dir, runtime_root=..., log_path=...)
    shim = ShimClient(reply["address"])
    shim.state().status == shim_pb2.TASK_STATUS_RUNNING
    shim.kill(signal.SIGTERM)
    shim.wait().exit_status
    shim.delete()        # the shim exits

Execs and attach:

    shim.exec("e1", {"args": ["sh"], "env": [...], "cwd": "/"}, stdin=True)
    att = shim.attach("e1", stdin=True)    # before start: nothing is missed
    shim.start("e1").pid
    att.send_stdin(b"echo hi\n"); att.close_stdin()
    att.recv() -> (1, b"hi\n") ... (1, None) (2, None) (None, None)
    shim.wait(exec_id="e1").exit_status; shim.delete_process("e1")

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
from typing import TYPE_CHECKING, TypeVar

from pallet import errors
from pallet.shim import protocol
from pallet.shim.v1 import shim_pb2

if TYPE_CHECKING:
    from google.protobuf.message import Message

M = TypeVar("M", bound="Message")

_MAX_UNIX_PATH = 107


def start_command(id: str, bundle: str, *, runtime_root: str, log_path: str,  # noqa: A002
                  runtime: str = "runc", debug: bool = False,
                  argv_prefix: Sequence[str] | None = None, create_only: bool = False,
                  stdin: bool = False, log_max_size: int = 0, log_max_files: int = 1,
                  log_driver: str = "json-file") -> list[str]:
    """The argv that starts a shim (for callers that run it themselves).

    log_max_size > 0 rotates the log like Docker's json-file max-size (bytes),
    keeping log_max_files files in all; log_driver "none" keeps no log file.
    """
    argv = list(argv_prefix) if argv_prefix else [sys.executable, "-m", "pallet.shim"]
    argv += ["start", "--id", id, "--bundle", bundle, "--runtime", runtime,
             "--runtime-root", runtime_root, "--log-path", log_path]
    if log_max_size:
        argv += ["--log-max-size", str(int(log_max_size))]
    if log_max_files != 1:
        argv += ["--log-max-files", str(int(log_max_files))]
    if log_driver != "json-file":
        argv += ["--log-driver", log_driver]
    if create_only:
        argv.append("--create-only")
    if stdin:
        argv.append("--stdin")
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
               env: dict[str, str] | None = None, create_only: bool = False,
               stdin: bool = False, log_max_size: int = 0, log_max_files: int = 1,
               log_driver: str = "json-file") -> dict:
    """Start a container's shim and return {"pid", "shim_pid", "address"}.

    Runs `pallet-shim start ...` (by default `sys.executable -m pallet.shim`,
    or argv_prefix + ["start", ...]) and waits for its one-line reply. The shim
    it leaves behind is detached (own session) and has bound `address`; the
    container is running, or with create_only CREATED until
    ShimClient.start(). With stdin the container's stdin is a pipe (or its
    terminal) the shim holds, fed by attach(stdin=True); else /dev/null.
    log_max_size (bytes, 0 = never) and log_max_files rotate the log file as
    Docker's json-file driver does (log_path.1, log_path.2, ...); log_driver
    "none" writes no log file.
    Raises FailedPrecondition with the runtime's message if the container
    could not be started (nothing is left behind then), DeadlineExceeded if
    the command did not answer within timeout seconds.
    """
    argv = start_command(id, bundle, runtime_root=runtime_root, log_path=log_path,
                         runtime=runtime, debug=debug, argv_prefix=argv_prefix,
                         create_only=create_only, stdin=stdin, log_max_size=log_max_size,
                         log_max_files=log_max_files, log_driver=log_driver)
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
    #
    # exec_id "" (the default) is the container's init everywhere.

    def state(self, exec_id: str = "") -> shim_pb2.StateResponse:
        """id, bundle, pid, status (TASK_STATUS_*), exit_status, exited_at, started_at,
        shim_pid, exec_id, oom_killed, terminal, stdin."""
        return self._call("State", shim_pb2.StateRequest(exec_id=exec_id), shim_pb2.StateResponse)

    def kill(self, sig: int, all: bool = False, exec_id: str = "") -> None:  # noqa: A002
        """Signal the container's init (or, with all, every process in it) or an exec.

        FailedPrecondition if it is not running.
        """
        self._call("Kill", shim_pb2.KillRequest(signal=int(sig), all=all, exec_id=exec_id),
                   shim_pb2.KillResponse)

    def wait(self, timeout: float | None = None, exec_id: str = "") -> shim_pb2.WaitResponse:
        """Block until the process has exited (the container: and been cleaned up).

        exit_status, exited_at, oom_killed. timeout None waits forever;
        otherwise DeadlineExceeded after timeout seconds.
        """
        return self._call("Wait", shim_pb2.WaitRequest(exec_id=exec_id), shim_pb2.WaitResponse,
                          timeout=timeout)

    def delete(self) -> shim_pb2.DeleteResponse:
        """pid, exit_status, exited_at, oom_killed of an exited container; the shim then exits.

        FailedPrecondition while the container is running.
        """
        return self._call("Delete", shim_pb2.DeleteRequest(), shim_pb2.DeleteResponse)

    def shutdown(self) -> None:
        """Make the shim exit (FailedPrecondition while the container is running)."""
        self._call("Shutdown", shim_pb2.ShutdownRequest(), shim_pb2.ShutdownResponse)

    def start(self, exec_id: str = "") -> shim_pb2.StartResponse:
        """Start the created container (`runc start`) or a registered exec; .pid.

        FailedPrecondition with the runtime's message if it cannot start (an
        exec that fails to start is then STOPPED with exit status 126/127).
        """
        return self._call("Start", shim_pb2.StartRequest(exec_id=exec_id),
                          shim_pb2.StartResponse)

    def exec(self, exec_id: str, process: dict | bytes | str, stdin: bool = False,
             terminal: bool = False) -> None:
        """Register an exec from an OCI process object (dict or its JSON); start() runs it.

        Its output goes only to attached clients: attach before start().
        AlreadyExists if the id is taken, FailedPrecondition if the container
        is not running, InvalidArgument for a bad id or process.
        """
        if isinstance(process, dict):
            process = json.dumps(process)
        if isinstance(process, str):
            process = process.encode()
        self._call("Exec", shim_pb2.ExecRequest(exec_id=exec_id, process_json=process,
                                                stdin=stdin, terminal=terminal),
                   shim_pb2.ExecResponse)

    def delete_process(self, exec_id: str) -> shim_pb2.DeleteProcessResponse:
        """Forget an exec that exited or never started: pid, exit_status, exited_at.

        FailedPrecondition while it runs.
        """
        return self._call("DeleteProcess", shim_pb2.DeleteProcessRequest(exec_id=exec_id),
                          shim_pb2.DeleteProcessResponse)

    def resize_pty(self, width: int, height: int, exec_id: str = "") -> None:
        """Set the terminal's size (columns, rows); FailedPrecondition without a terminal."""
        self._call("ResizePty", shim_pb2.ResizePtyRequest(exec_id=exec_id, width=width,
                                                          height=height),
                   shim_pb2.ResizePtyResponse)

    def close_io(self, exec_id: str = "") -> None:
        """Close the process's stdin (EOF) once what was sent is written."""
        self._call("CloseIO", shim_pb2.CloseIORequest(exec_id=exec_id), shim_pb2.CloseIOResponse)

    def pause(self) -> None:
        """Freeze the container (`runc pause`); State then says TASK_STATUS_PAUSED."""
        self._call("Pause", shim_pb2.PauseRequest(), shim_pb2.PauseResponse)

    def resume(self) -> None:
        """Thaw a paused container."""
        self._call("Resume", shim_pb2.ResumeRequest(), shim_pb2.ResumeResponse)

    def update(self, resources_json: bytes) -> None:
        """Change the container's cgroup limits (an OCI linux.resources object as JSON)."""
        self._call("Update", shim_pb2.UpdateRequest(resources_json=resources_json), shim_pb2.UpdateResponse)

    def attach(self, exec_id: str = "", stdin: bool = False, stdout: bool = True,
               stderr: bool = True) -> Attachment:
        """Attach to a process's stdio; returns an Attachment (its own connection).

        FailedPrecondition with stdin=True if the process has no stdin.
        """
        req = shim_pb2.AttachRequest(exec_id=exec_id, stdin=stdin, stdout=stdout, stderr=stderr)
        sock = self._connect(self.timeout)
        try:
            self._exchange(sock, "Attach", req, shim_pb2.AttachResponse)
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        return Attachment(sock, self.address)

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

    def _call(self, method: str, request: Message, response_type: type[M], timeout: float | None = None) -> M:
        sock = self._connect(timeout if method == "Wait" else self.timeout)
        try:
            return self._exchange(sock, method, request, response_type)
        finally:
            sock.close()

    def _exchange(self, sock: socket.socket, method: str, request: Message, response_type: type[M]) -> M:
        req = shim_pb2.Request(service=protocol.SERVICE, method=method,
                               payload=request.SerializeToString())
        sid = next(self._ids) & 0x7FFFFFFF or 1
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
        resp = shim_pb2.Response.FromString(payload)
        if resp.status.code != protocol.OK:
            raise errors.from_code(resp.status.code, resp.status.message or method)
        return response_type.FromString(resp.payload)



class Attachment:
    """One Attach stream (see pallet.shim.protocol): output in, stdin out.

    recv() blocks for the next frame: (1, bytes) stdout, (2, bytes) stderr,
    (stream, None) that stream's EOF, (None, None) once the shim has closed
    the stream (the process's output is done, or this client was dropped for
    not reading). fileno() is for select(): recv() reads exactly one frame,
    so nothing is left buffered in this object between calls.
    """

    def __init__(self, sock: socket.socket, address: str = "") -> None:
        self._sock = sock
        self._address = address
        self._ended = False

    def __repr__(self) -> str:
        return f"Attachment({self._address!r})"

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def recv(self) -> tuple[int | None, bytes | None]:
        while not self._ended:
            try:
                sid, mtype, flags, payload = protocol.recv_frame(self._sock)
            except (EOFError, OSError, protocol.ProtocolError):
                self._ended = True
                break
            if mtype != protocol.TYPE_DATA:
                continue
            return sid, None if flags & protocol.FLAG_EOF else payload
        return None, None

    def send_stdin(self, data: bytes) -> None:
        """Bytes for the process's stdin (Unavailable once the stream is closed)."""
        view = memoryview(data)
        step = protocol.MAX_PAYLOAD
        frames = (protocol.pack(protocol.STREAM_STDIN, protocol.TYPE_DATA, bytes(view[i:i + step]))
                  for i in range(0, len(view), step))
        for frame in frames:
            self._sendall(frame)

    def close_stdin(self) -> None:
        """EOF on the process's stdin (as CloseIO)."""
        self._sendall(protocol.pack(protocol.STREAM_STDIN, protocol.TYPE_DATA, b"",
                                    protocol.FLAG_EOF))

    def close(self) -> None:
        """Detach; the process carries on."""
        self._ended = True
        self._sock.close()

    def _sendall(self, frame: bytes) -> None:
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            raise errors.Unavailable(f"attach stream to {self._address} closed: "
                                     f"{exc.strerror or exc}") from None
