"""The long-lived shim: runs one container through the OCI runtime and serves it.

One process, one selectors loop, no threads. It is a child subreaper, so the
container's init is its child: SIGCHLD arrives through signal.set_wakeup_fd
and every child is reaped with waitpid(-1, WNOHANG). Runtime commands are run
synchronously from the loop, and the loop is the only place that reaps with
-1, so subprocess never has a child stolen from it.

After init exits the shim drains the container's stdout/stderr to EOF (giving
up DRAIN_GRACE seconds after the exit, in case something else holds the
pipes), writes exit.json, deletes the runtime's state, unmounts the rootfs and
only then answers Wait: when Wait returns, the container is fully gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import time
import types

from pallet.shim import _mount, protocol
from pallet.shim._log import Logger, rfc3339_nano
from pallet.shim._logfile import JsonFileLog
from pallet.shim._runtime import Runtime

DRAIN_GRACE = 0.5  # seconds to wait for the stdio pipes' EOF once init is dead
MAX_UNIX_PATH = 107
METHODS = ("State", "Kill", "Wait", "Delete", "Shutdown")


class StartError(Exception):
    """Starting the container failed; the message is what the engine shows."""


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_PARKED = object()


def _noop(signum: int, frame: object) -> None:
    """A real handler (not SIG_IGN) so set_wakeup_fd sees the signal and exec resets it."""


def write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def unix_path(path: str, dir_fd_holder: list[int]) -> str:
    """A path usable with bind/connect even past the 108-byte sun_path limit."""
    if len(os.fsencode(path)) <= MAX_UNIX_PATH:
        return path
    dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    dir_fd_holder.append(dfd)
    return f"/proc/self/fd/{dfd}/{os.path.basename(path)}"


class _Conn:
    __slots__ = ("sock", "dec", "out")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.dec = protocol.Decoder()
        self.out = bytearray()


class Shim:
    def __init__(self, cid: str, bundle: str, runtime: str, runtime_root: str, log_path: str,
                 debug: bool = False) -> None:
        self.id = cid
        self.bundle = bundle
        self.rootfs = os.path.join(bundle, "rootfs")
        self.address = os.path.join(bundle, "shim.sock")
        self.log_path = log_path
        self.pid = os.getpid()
        self.log = Logger(os.path.join(bundle, "shim.log"), debug, id=cid, pid=self.pid)
        self.runtime = Runtime(runtime, runtime_root, os.path.join(bundle, "runc.log"), self.log)
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.conns: dict[int, _Conn] = {}
        self.parked: list[tuple[_Conn, int, str]] = []
        self.mounts: list[str] = []  # targets we mounted, in order
        self.logfile: JsonFileLog | None = None
        self.pipes: dict[int, str] = {}  # read end fd -> "stdout" | "stderr"
        self.init_pid = 0
        self.created = False
        self.started_at_ns = 0
        self.exit_status: int | None = None  # set when init is reaped
        self.exited_at_ns = 0
        self.finished = False  # exit recorded, runtime state deleted, rootfs unmounted
        self.drain_deadline: float | None = None
        self.quit = False
        # pallet.shim.v1.shim_pb2, imported once the start is reported
        self.pb = types.ModuleType("shim_pb2 (not loaded yet)")

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        """Everything up to a running container and a bound socket; StartError on failure."""
        self.log.info("shim starting", bundle=self.bundle, runtime=self.runtime.binary)
        try:
            _mount.set_child_subreaper()
        except OSError as exc:
            raise StartError(str(exc)) from None
        write_atomic(os.path.join(self.bundle, "shim.pid"), str(self.pid).encode())
        for stale in ("exit.json", "init.pid"):
            _unlink(os.path.join(self.bundle, stale))
        self._setup_signals()
        self._bind()
        self._mount_rootfs()
        try:
            self.logfile = JsonFileLog(self.log_path)
        except OSError as exc:
            raise StartError(f"open log file {self.log_path}: {exc.strerror}") from None
        self._create_and_start()

    def _setup_signals(self) -> None:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _noop)
        self.sel.register(r, selectors.EVENT_READ, self._on_signal)

    def _bind(self) -> None:
        _unlink(self.address)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        held: list[int] = []
        try:
            sock.bind(unix_path(self.address, held))
            os.chmod(self.address, 0o600)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise StartError(f"listen on {self.address}: {exc.strerror or exc}") from None
        finally:
            for fd in held:
                os.close(fd)
        sock.setblocking(False)
        self.listener = sock
        self.sel.register(sock, selectors.EVENT_READ, self._on_accept)

    def _mount_rootfs(self) -> None:
        path = os.path.join(self.bundle, "mounts.json")
        try:
            with open(path, "rb") as f:
                mounts = json.load(f)
        except FileNotFoundError:
            mounts = []
        except ValueError as exc:
            raise StartError(f"invalid {path}: {exc}") from None
        os.makedirs(self.rootfs, mode=0o711, exist_ok=True)
        for m in mounts or ():
            try:
                _mount.mount(m.get("type") or "none", m.get("source") or "none", self.rootfs,
                             list(m.get("options") or ()))
            except OSError as exc:
                raise StartError(exc.strerror or str(exc)) from None
            except (AttributeError, TypeError) as exc:
                raise StartError(f"invalid mount in {path}: {m!r}") from exc
            self.mounts.append(self.rootfs)
            self.log.debug("mounted", type=m.get("type"), source=m.get("source"))

    def _create_and_start(self) -> None:
        pid_file = os.path.join(self.bundle, "init.pid")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.pipes = {out_r: "stdout", err_r: "stderr"}
        try:
            self.created = True  # from here on, undoing means `runtime delete --force`
            err = self.runtime.run("create", "--bundle", self.bundle, "--pid-file", pid_file,
                                   self.id, stdout=out_w, stderr=err_w)
        finally:
            os.close(out_w)
            os.close(err_w)
        if err is not None:
            if " exited with status " in err:  # no json log: runc's stderr went to the pipe
                os.set_blocking(err_r, False)
                try:
                    text = os.read(err_r, 65536).decode("utf-8", "replace")
                except OSError:
                    text = ""
                from pallet.shim._runtime import text_error, trim_error

                err = trim_error(text_error(text)) or err
            raise StartError(err)
        try:
            with open(pid_file, "rb") as f:
                self.init_pid = int(f.read().strip())
        except (OSError, ValueError) as exc:
            raise StartError(f"read {pid_file}: {exc}") from None
        err = self.runtime.run("start", self.id)
        if err is not None:
            raise StartError(err)
        self.started_at_ns = time.time_ns()
        for fd in self.pipes:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, self._on_pipe)
        self.log.info("container started", init_pid=self.init_pid)

    def abort(self) -> None:
        """Undo a failed start: runtime state, pipes, mounts, socket, pid file."""
        if self.created:
            self.runtime.run("delete", "--force", self.id)
        for fd in list(self.pipes):
            os.close(fd)
        self.pipes.clear()
        self._unmount()
        if self.listener is not None:
            self.listener.close()
            _unlink(self.address)
        _unlink(os.path.join(self.bundle, "shim.pid"))
        _unlink(os.path.join(self.bundle, "init.pid"))
        if self.logfile is not None:
            self.logfile.close()

    def _unmount(self) -> None:
        while self.mounts:
            target = self.mounts.pop()
            try:
                if not _mount.umount(target):
                    self.mounts.clear()  # nothing mounted there any more
            except OSError as exc:
                self.log.error("unmount failed", target=target, error=str(exc))

    # -- loop ----------------------------------------------------------------

    def serve(self) -> None:
        from pallet.shim.v1 import shim_pb2

        self.pb = shim_pb2
        self._reap()
        while not self.quit:
            timeout = None
            if self.drain_deadline is not None:
                timeout = max(0.0, self.drain_deadline - time.monotonic())
            try:
                events = self.sel.select(timeout)
            except InterruptedError:
                continue
            registered = self.sel.get_map()
            for key, mask in events:
                try:
                    if registered[key.fileobj] is not key:
                        continue
                except (KeyError, ValueError):
                    continue  # closed by an earlier callback in this batch
                try:
                    key.data(key.fileobj, mask)
                except Exception as exc:  # noqa: BLE001 - the shim must keep serving
                    self.log.error("internal error", error=repr(exc))
            if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
                self.log.warning("stdio still open after init exited; giving up on it")
                self._finish()
        self._stop_serving()

    def _on_signal(self, fd: int, mask: int) -> None:
        try:
            sigs = os.read(fd, 4096)
        except BlockingIOError:
            sigs = b""
        for num in set(sigs):
            if num != signal.SIGCHLD:
                self.log.info("ignoring signal", signal=num)
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.init_pid and self.exit_status is None:
                code = os.waitstatus_to_exitcode(status)
                self._init_exited(128 - code if code < 0 else code)
            else:
                self.log.debug("reaped", child=pid, status=status)

    def _init_exited(self, status: int) -> None:
        self.exit_status = status
        self.exited_at_ns = time.time_ns()
        self.log.info("container exited", exit_status=status)
        if self.pipes:
            self.drain_deadline = time.monotonic() + DRAIN_GRACE
        else:
            self._finish()

    def _on_pipe(self, fd: int, mask: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            assert self.logfile is not None
            self.logfile.feed(self.pipes[fd], data)
            return
        self._close_pipe(fd)
        if self.exit_status is not None and not self.pipes:
            self._finish()

    def _close_pipe(self, fd: int) -> None:
        stream = self.pipes.pop(fd)
        self.sel.unregister(fd)
        os.close(fd)
        if self.logfile is not None:
            self.logfile.flush(stream)

    def _finish(self) -> None:
        """After init's exit: log EOF, exit.json, runtime delete, unmount, answer waiters."""
        if self.finished:
            return
        self.drain_deadline = None
        for fd in list(self.pipes):
            while True:  # take what is there without waiting any longer
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data or self.logfile is None:
                    break
                self.logfile.feed(self.pipes[fd], data)
            self._close_pipe(fd)
        exit_json = json.dumps({"exit_status": self.exit_status,
                                "exited_at": rfc3339_nano(self.exited_at_ns)})
        try:
            write_atomic(os.path.join(self.bundle, "exit.json"), exit_json.encode())
        except OSError as exc:
            self.log.error("write exit.json failed", error=str(exc))
        self.runtime.run("delete", "--force", self.id)
        self._unmount()
        self.finished = True
        self.log.info("container finished", exit_status=self.exit_status,
                      ms_since_exit=(time.time_ns() - self.exited_at_ns) // 1_000_000)
        parked, self.parked = self.parked, []
        for conn, sid, method in parked:
            if conn.sock.fileno() < 0:
                continue
            self._reply(conn, sid, protocol.OK, "", self._result(method))

    # -- connections -----------------------------------------------------------

    def _on_accept(self, sock: socket.socket, mask: int) -> None:
        while True:
            try:
                conn_sock, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: try again on the next event
                self.log.error("accept failed", error=str(exc))
                return
            conn_sock.setblocking(False)
            conn = _Conn(conn_sock)
            self.conns[conn_sock.fileno()] = conn
            self.sel.register(conn_sock, selectors.EVENT_READ, self._on_conn)

    def _on_conn(self, sock: socket.socket, mask: int) -> None:
        conn = self.conns.get(sock.fileno())
        if conn is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if not mask & selectors.EVENT_READ or conn.sock.fileno() < 0:
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_conn(conn)
            return
        try:
            frames = conn.dec.feed(data)
        except protocol.ProtocolError as exc:
            self.log.warning("bad frame", error=str(exc))
            self._close_conn(conn)
            return
        for sid, mtype, _flags, payload in frames:
            if mtype != protocol.TYPE_REQUEST:
                continue
            self._handle(conn, sid, payload)
            if conn.sock.fileno() < 0:
                return

    def _close_conn(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd < 0:
            return
        self.conns.pop(fd, None)
        self.sel.unregister(conn.sock)
        conn.sock.close()
        self.parked = [p for p in self.parked if p[0] is not conn]

    def _flush(self, conn: _Conn) -> None:
        while conn.out:
            try:
                n = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close_conn(conn)
                return
            del conn.out[:n]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        self.sel.modify(conn.sock, events, self._on_conn)

    def _reply(self, conn: _Conn, sid: int, code: int, message: str, payload: bytes) -> None:
        pb = self.pb
        resp = pb.Response(status=pb.Status(code=code, message=message), payload=payload)
        conn.out += protocol.pack(sid, protocol.TYPE_RESPONSE, resp.SerializeToString())
        self._flush(conn)

    def _handle(self, conn: _Conn, sid: int, payload: bytes) -> None:
        pb = self.pb
        try:
            req = pb.Request.FromString(payload)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError
            self._reply(conn, sid, protocol.INVALID_ARGUMENT, "malformed request", b"")
            return
        if req.service != protocol.SERVICE or req.method not in METHODS:
            self._reply(conn, sid, protocol.UNIMPLEMENTED,
                        f"unknown method {req.service}/{req.method}", b"")
            return
        self.log.debug("request", method=req.method)
        try:
            result = getattr(self, "_rpc_" + req.method)(conn, sid, req.payload)
        except RpcError as exc:
            self._reply(conn, sid, exc.code, exc.message, b"")
            return
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            self.log.error("request failed", method=req.method, error=repr(exc))
            self._reply(conn, sid, protocol.INTERNAL, f"{req.method}: {exc}", b"")
            return
        if result is not _PARKED:
            self._reply(conn, sid, protocol.OK, "", result)

    def _result(self, method: str) -> bytes:
        """The response to a Wait or Delete once the container has finished."""
        pb = self.pb
        if method == "Delete":
            resp = pb.DeleteResponse(pid=self.init_pid, exit_status=self.exit_status)
            self.quit = True
        else:
            resp = pb.WaitResponse(exit_status=self.exit_status)
        resp.exited_at.FromNanoseconds(self.exited_at_ns)
        return resp.SerializeToString()

    # -- methods ---------------------------------------------------------------

    def _rpc_State(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        pb = self.pb
        resp = pb.StateResponse(id=self.id, bundle=self.bundle, pid=self.init_pid,
                                shim_pid=self.pid)
        if self.started_at_ns:
            resp.started_at.FromNanoseconds(self.started_at_ns)
        if self.exit_status is None:
            resp.status = pb.TASK_STATUS_RUNNING if self.started_at_ns else pb.TASK_STATUS_CREATED
        else:
            resp.status = pb.TASK_STATUS_STOPPED
            resp.exit_status = self.exit_status
            resp.exited_at.FromNanoseconds(self.exited_at_ns)
        return resp.SerializeToString()

    def _rpc_Kill(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        req = self.pb.KillRequest.FromString(payload)
        if not 0 <= req.signal < signal.NSIG:
            raise RpcError(protocol.INVALID_ARGUMENT, f"invalid signal {req.signal}")
        if self.exit_status is not None:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
        if req.all:
            err = self.runtime.run("kill", "--all", self.id, str(req.signal))
            if err is not None:
                self._reap()
                if self.exit_status is not None or "not running" in err:
                    raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
                raise RpcError(protocol.INTERNAL, err)
        else:
            # init is our unreaped child, so its pid cannot have been reused.
            try:
                os.kill(self.init_pid, req.signal)
            except ProcessLookupError:
                raise RpcError(protocol.FAILED_PRECONDITION, "container is not running") from None
        self.log.info("killed", signal=req.signal, all=req.all)
        return b""

    def _rpc_Wait(self, conn: _Conn, sid: int, payload: bytes) -> object:
        if self.finished:
            return self._result("Wait")
        self.parked.append((conn, sid, "Wait"))
        return _PARKED

    def _rpc_Delete(self, conn: _Conn, sid: int, payload: bytes) -> object:
        if self.finished:
            return self._result("Delete")
        if self.exit_status is None:
            raise RpcError(protocol.FAILED_PRECONDITION,
                           "container is running: stop it before deleting it")
        self.parked.append((conn, sid, "Delete"))  # exited, finishing up: answer then
        return _PARKED

    def _rpc_Shutdown(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        if not self.finished:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is running")
        self.quit = True
        return b""

    # -- exit ------------------------------------------------------------------

    def _stop_serving(self) -> None:
        """Send what is queued, then remove the socket and go."""
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            _unlink(self.address)
        for conn in list(self.conns.values()):
            if conn.out:
                try:
                    conn.sock.setblocking(True)
                    conn.sock.settimeout(1.0)
                    conn.sock.sendall(conn.out)
                except OSError:
                    pass
            self._close_conn(conn)
        if self.logfile is not None:
            self.logfile.close()
        self.log.info("shim exiting")


def _report(fd: int, reply: dict) -> None:
    with contextlib.suppress(OSError):  # whoever started us may be gone; carry on
        os.write(fd, (json.dumps(reply) + "\n").encode())
    with contextlib.suppress(OSError):
        os.close(fd)


def run(cid: str, bundle: str, runtime: str, runtime_root: str, log_path: str, debug: bool,
        report_fd: int) -> int:
    """The shim's life in the forked child: detach, start, report, serve."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    os.chdir("/")
    shim = Shim(cid, bundle, runtime, runtime_root, log_path, debug)
    try:
        shim.start()
    except Exception as exc:  # noqa: BLE001 - reported to the engine
        message = str(exc) if isinstance(exc, StartError) else f"shim: {exc!r}"
        shim.log.error("start failed", error=message)
        try:
            shim.abort()
        except Exception as undo:  # noqa: BLE001
            shim.log.error("undoing the start failed", error=repr(undo))
        _report(report_fd, {"error": message})
        return 1
    _report(report_fd, {"pid": shim.init_pid, "shim_pid": shim.pid, "address": shim.address})
    try:
        shim.serve()
    except Exception as exc:  # noqa: BLE001
        shim.log.error("shim crashed", error=repr(exc))
        return 1
    return 0


__all__ = ["DRAIN_GRACE", "Shim", "StartError", "run"]
