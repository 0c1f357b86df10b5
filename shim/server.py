"""The long-lived shim: runs one container through the OCI runtime and serves it.

One process, one selectors loop, no threads. It is a child subreaper, so the
container's init and its execs (`runc exec --detach`) are its children:
SIGCHLD arrives through signal.set_wakeup_fd and every child is reaped with
waitpid(-1, WNOHANG). Runtime commands are run synchronously from the loop,
and the loop is the only place that reaps with -1, so subprocess never has a
child stolen from it, and a pid read from a runtime's --pid-file is known
before its exit can be reaped.

Each process (pallet.shim._process) has its stdio held by the shim: pipes, or
a pty master received on the console socket (pallet.shim._tty). Init's output
goes to the json-file log and to attached clients, an exec's only to attached
clients (pallet.shim._attach, framing in pallet.shim.protocol).

After a process exits the shim drains its stdout/stderr to EOF (giving up
DRAIN_GRACE seconds after the exit, in case something else holds the pipes).
For init it then reads the memory cgroup's OOM kill count, writes exit.json,
deletes the runtime's state, unmounts the rootfs and only then answers Wait:
when Wait returns, the container is fully gone.
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
from typing import Any

from pallet.shim import _attach, _cgroup, _exec, _mount, _stdio, protocol
from pallet.shim._attach import Attacher
from pallet.shim._files import unlink as _unlink
from pallet.shim._files import write_atomic
from pallet.shim._log import Logger, rfc3339_nano
from pallet.shim._logfile import JsonFileLog
from pallet.shim._process import CREATED, PAUSED, RUNNING, Process
from pallet.shim._runtime import Runtime
from pallet.shim.protocol import RpcError

DRAIN_GRACE = 0.5  # seconds to wait for the stdio pipes' EOF once a process is dead
MAX_UNIX_PATH = 107
METHODS = frozenset(("State", "Kill", "Wait", "Delete", "Shutdown", "Start", "Exec",
                     "DeleteProcess", "ResizePty", "CloseIO", "Attach", "Pause", "Resume",
                     "Update"))
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class StartError(Exception):
    """Starting the container failed; the message is what the engine shows."""


def _noop(signum: int, frame: object) -> None:
    """A real handler (not SIG_IGN) so set_wakeup_fd sees the signal and exec resets it."""


def unix_path(path: str, dir_fd_holder: list[int]) -> str:
    """A path usable with bind/connect even past the 108-byte sun_path limit."""
    if len(os.fsencode(path)) <= MAX_UNIX_PATH:
        return path
    dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    dir_fd_holder.append(dfd)
    return f"/proc/self/fd/{dfd}/{os.path.basename(path)}"


class _Conn:
    __slots__ = ("sock", "dec", "out", "events", "attach", "closing", "paused")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.dec = protocol.Decoder()
        self.out = bytearray()
        self.events = 0  # what the selector watches; 0 = not registered
        self.attach: Attacher | None = None
        self.closing = False  # close once `out` is sent
        self.paused = False  # not read (stdin backpressure)


class Shim:
    def __init__(self, cid: str, bundle: str, runtime: str, runtime_root: str, log_path: str,
                 debug: bool = False, create_only: bool = False, stdin: bool = False) -> None:
        self.id = cid
        self.bundle = bundle
        self.rootfs = os.path.join(bundle, "rootfs")
        self.address = os.path.join(bundle, "shim.sock")
        self.log_path = log_path
        self.create_only = create_only
        self.pid = os.getpid()
        self.log = Logger(os.path.join(bundle, "shim.log"), debug, id=cid, pid=self.pid)
        self.runtime = Runtime(runtime, runtime_root, os.path.join(bundle, "runc.log"), self.log)
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.conns: dict[int, _Conn] = {}
        self.parked: list[tuple[_Conn, int, str, Process]] = []
        self.mounts: list[str] = []  # targets we mounted, in order
        self.logfile: JsonFileLog | None = None
        self.init = Process("", terminal=False, stdin=stdin, logged=True)
        self.procs: dict[str, Process] = {"": self.init}
        self.by_pid: dict[int, Process] = {}
        self.created = False
        self.paused = False
        self.cgroups_path = ""
        self.oom_where: tuple[str, str] | None = None
        self.oom_killed = False
        self.finished = False  # exit recorded, runtime state deleted, rootfs unmounted
        self.quit = False
        # pallet.shim.v1.shim_pb2, imported once the start is reported
        self.pb = types.ModuleType("shim_pb2 (not loaded yet)")

    @property
    def init_pid(self) -> int:
        return self.init.pid

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        """Everything up to a running (or created) container and a bound socket.

        StartError on failure.
        """
        self.log.info("shim starting", bundle=self.bundle, runtime=self.runtime.binary,
                      create_only=self.create_only, stdin=self.init.stdin)
        try:
            _mount.set_child_subreaper()
        except OSError as exc:
            raise StartError(str(exc)) from None
        write_atomic(os.path.join(self.bundle, "shim.pid"), str(self.pid).encode())
        for stale in ("exit.json", "init.pid"):
            _unlink(os.path.join(self.bundle, stale))
        self._read_config()
        self._setup_signals()
        self._bind()
        self._mount_rootfs()
        try:
            self.logfile = JsonFileLog(self.log_path)
        except OSError as exc:
            raise StartError(f"open log file {self.log_path}: {exc.strerror}") from None
        self._create()
        if not self.create_only:
            err = self.runtime.run("start", self.id)
            if err is not None:
                raise StartError(err)
            self.init.started_at_ns = time.time_ns()
            self.log.info("container started", init_pid=self.init.pid)

    def _read_config(self) -> None:
        """process.terminal and linux.cgroupsPath; the runtime judges the rest."""
        try:
            with open(os.path.join(self.bundle, "config.json"), "rb") as f:
                spec = json.load(f)
            self.init.terminal = bool((spec.get("process") or {}).get("terminal"))
            self.cgroups_path = str((spec.get("linux") or {}).get("cgroupsPath") or "")
        except (OSError, ValueError, AttributeError):
            pass

    def _setup_signals(self) -> None:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _noop)
        self.sel.register(r, _READ, self._on_signal)

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
        self.sel.register(sock, _READ, self._on_accept)

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

    def _create(self) -> None:
        """`runtime create`: init exists, stopped before exec'ing the user's process."""
        pid_file = os.path.join(self.bundle, "init.pid")
        self.created = True  # from here on, undoing means `runtime delete --force`
        err = _stdio.run_with_stdio(self, self.init, ["create", "--bundle", self.bundle,
                                                      "--pid-file", pid_file], self.id)
        if err is not None:
            raise StartError(err)
        try:
            with open(pid_file, "rb") as f:
                self.init.pid = int(f.read().strip())
        except (OSError, ValueError) as exc:
            raise StartError(f"read {pid_file}: {exc}") from None
        self.by_pid[self.init.pid] = self.init
        self.oom_where = _cgroup.oom_file(self.cgroups_path, self.init.pid)
        _attach.watch(self, self.init)
        self.log.info("container created", init_pid=self.init.pid, terminal=self.init.terminal)

    def abort(self) -> None:
        """Undo a failed start: runtime state, pipes, mounts, socket, pid file."""
        if self.created:
            self.runtime.run("delete", "--force", self.id)
        for fd in list(self.init.outputs):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(fd)
        self.init.close_fds()
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
            deadlines = [p.drain_deadline for p in self.procs.values()
                         if p.drain_deadline is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
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
            now = time.monotonic()
            for proc in list(self.procs.values()):
                if proc.drain_deadline is not None and now >= proc.drain_deadline:
                    self.log.warning("stdio still open after the process exited; giving up on it",
                                     exec_id=proc.exec_id)
                    self._done(proc)
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
            proc = self.by_pid.get(pid)
            if proc is not None and proc.exit_status is None:
                code = os.waitstatus_to_exitcode(status)
                self._exited(proc, 128 - code if code < 0 else code)
            else:
                self.log.debug("reaped", child=pid, status=status)

    def _exited(self, proc: Process, status: int) -> None:
        proc.exit_status = status
        proc.exited_at_ns = time.time_ns()
        self.log.info(f"{proc.name} exited", exit_status=status, pid=proc.pid)
        if proc.is_init:
            self.paused = False
        if proc.outputs:
            proc.drain_deadline = time.monotonic() + DRAIN_GRACE
        else:
            self._done(proc)

    def _done(self, proc: Process) -> None:
        """An exited process's stdio is finished with: close it, end attachers, answer waiters."""
        if proc.done:
            return
        proc.drain_deadline = None
        _attach.drain(self, proc)
        _attach.end_all(self, proc)
        _stdio.drop_stdin(self, proc)
        proc.done = True
        if proc.is_init:
            self._finish()
        else:
            self._answer(proc)

    def _finish(self) -> None:
        """After init's exit: OOM count, exit.json, runtime delete, unmount, answer waiters."""
        if self.finished:
            return
        self.oom_killed = _cgroup.oom_kills(self.oom_where) > 0
        init = self.init
        exit_json = json.dumps({"exit_status": init.exit_status,
                                "exited_at": rfc3339_nano(init.exited_at_ns),
                                "oom_killed": self.oom_killed})
        try:
            write_atomic(os.path.join(self.bundle, "exit.json"), exit_json.encode())
        except OSError as exc:
            self.log.error("write exit.json failed", error=str(exc))
        self.runtime.run("delete", "--force", self.id)  # kills what is left in the cgroup
        self._unmount()
        self.finished = True
        self._reap()  # execs killed with init (or by delete): record their exits now
        self.log.info("container finished", exit_status=init.exit_status,
                      oom_killed=self.oom_killed,
                      ms_since_exit=(time.time_ns() - init.exited_at_ns) // 1_000_000)
        self._answer(init)

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
            self._set_events(conn)

    def _on_conn(self, sock: socket.socket, mask: int) -> None:
        conn = self.conns.get(sock.fileno())
        if conn is None:
            return
        if mask & _WRITE:
            self._flush(conn)
        if not mask & _READ or conn.sock.fileno() < 0:
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
        for sid, mtype, flags, payload in frames:
            if mtype == protocol.TYPE_REQUEST:
                self._handle(conn, sid, payload)
            elif mtype == protocol.TYPE_DATA:
                _attach.on_data(self, conn, sid, flags, payload)
            if conn.sock.fileno() < 0:
                return

    def _set_events(self, conn: _Conn) -> None:
        want = (0 if conn.paused else _READ) | (_WRITE if conn.out else 0)
        if want == conn.events:
            return
        if not conn.events:
            self.sel.register(conn.sock, want, self._on_conn)
        elif not want:
            self.sel.unregister(conn.sock)
        else:
            self.sel.modify(conn.sock, want, self._on_conn)
        conn.events = want

    def _close_conn(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd < 0:
            return
        self.conns.pop(fd, None)
        if conn.events:
            self.sel.unregister(conn.sock)
            conn.events = 0
        conn.sock.close()
        self.parked = [p for p in self.parked if p[0] is not conn]
        _attach.detach(conn)

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
        if conn.closing and not conn.out:
            self._close_conn(conn)
            return
        self._set_events(conn)

    def _reply(self, conn: _Conn, sid: int, code: int, message: str, payload: bytes) -> None:
        if conn.sock.fileno() < 0:
            return
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
        if result is not None:  # None: parked, or answered by the method itself
            self._reply(conn, sid, protocol.OK, "", result)

    def _answer(self, proc: Process) -> None:
        """Answer the Wait/Delete/DeleteProcess calls parked on a process that is done."""
        keep: list[tuple[_Conn, int, str, Process]] = []
        ready: list[tuple[_Conn, int, str, Process]] = []
        for entry in self.parked:
            (ready if entry[3] is proc else keep).append(entry)
        self.parked = keep
        for conn, sid, method, _proc in ready:
            self._reply(conn, sid, protocol.OK, "", self._result(method, proc))

    def _result(self, method: str, proc: Process) -> bytes:
        """The response to a Wait, Delete or DeleteProcess once the process is done."""
        pb = self.pb
        status = proc.exit_status or 0
        resp: Any
        if method == "Delete":
            resp = pb.DeleteResponse(pid=proc.pid, exit_status=status,
                                     oom_killed=self.oom_killed)
            self.quit = True
        elif method == "DeleteProcess":
            resp = pb.DeleteProcessResponse(pid=proc.pid, exit_status=status)
            _exec.forget(self, proc)
        else:
            resp = pb.WaitResponse(exit_status=status, oom_killed=proc.is_init and self.oom_killed)
        if proc.exited_at_ns:
            resp.exited_at.FromNanoseconds(proc.exited_at_ns)
        return resp.SerializeToString()

    # -- helpers for the methods -----------------------------------------------

    def _proc(self, exec_id: str) -> Process:
        proc = self.procs.get(exec_id)
        if proc is None:
            raise RpcError(protocol.NOT_FOUND, f"exec {exec_id!r} not found")
        return proc

    # -- methods ---------------------------------------------------------------

    def _rpc_State(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        pb = self.pb
        proc = self._proc(pb.StateRequest.FromString(payload).exec_id)
        resp = pb.StateResponse(id=self.id, bundle=self.bundle, pid=proc.pid, shim_pid=self.pid,
                                exec_id=proc.exec_id, terminal=proc.terminal, stdin=proc.stdin)
        if proc.started_at_ns:
            resp.started_at.FromNanoseconds(proc.started_at_ns)
        status = proc.status(self.paused)
        if status == CREATED:
            resp.status = pb.TASK_STATUS_CREATED
        elif status == RUNNING:
            resp.status = pb.TASK_STATUS_RUNNING
        elif status == PAUSED:
            resp.status = pb.TASK_STATUS_PAUSED
        else:
            resp.status = pb.TASK_STATUS_STOPPED
            resp.exit_status = proc.exit_status or 0
            resp.exited_at.FromNanoseconds(proc.exited_at_ns)
            if proc.is_init:
                resp.oom_killed = self.oom_killed if self.finished else \
                    _cgroup.oom_kills(self.oom_where) > 0
        return resp.SerializeToString()

    def _rpc_Kill(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        req = self.pb.KillRequest.FromString(payload)
        if not 0 <= req.signal < signal.NSIG:
            raise RpcError(protocol.INVALID_ARGUMENT, f"invalid signal {req.signal}")
        proc = self._proc(req.exec_id)
        if not proc.is_init:
            if req.all:
                raise RpcError(protocol.INVALID_ARGUMENT, "all applies to the container's init only")
            if not proc.running:
                raise RpcError(protocol.FAILED_PRECONDITION, f"{proc.name} is not running")
            try:  # our unreaped child: its pid cannot have been reused
                os.kill(proc.pid, req.signal)
            except ProcessLookupError:
                raise RpcError(protocol.FAILED_PRECONDITION,
                               f"{proc.name} is not running") from None
            self.log.info("killed", exec_id=proc.exec_id, signal=req.signal)
            return b""
        if proc.exit_status is not None:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
        if req.all:
            err = self.runtime.run("kill", "--all", self.id, str(req.signal))
            if err is not None:
                self._reap()
                if proc.exit_status is not None or "not running" in err:
                    raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
                raise RpcError(protocol.INTERNAL, err)
        else:
            # init is our unreaped child, so its pid cannot have been reused.
            try:
                os.kill(proc.pid, req.signal)
            except ProcessLookupError:
                raise RpcError(protocol.FAILED_PRECONDITION, "container is not running") from None
        self.log.info("killed", signal=req.signal, all=req.all)
        # Frozen, it would never die: thaw it (what Docker does for a paused container).
        if self.paused and req.signal == signal.SIGKILL and \
                self.runtime.run("resume", self.id) is None:
            self.paused = False
        return b""

    def _is_done(self, proc: Process) -> bool:
        return self.finished if proc.is_init else proc.done

    def _rpc_Wait(self, conn: _Conn, sid: int, payload: bytes) -> bytes | None:
        proc = self._proc(self.pb.WaitRequest.FromString(payload).exec_id)
        if self._is_done(proc):
            return self._result("Wait", proc)
        self.parked.append((conn, sid, "Wait", proc))
        return None

    def _rpc_Delete(self, conn: _Conn, sid: int, payload: bytes) -> bytes | None:
        if self.finished:
            return self._result("Delete", self.init)
        if self.init.exit_status is None:
            raise RpcError(protocol.FAILED_PRECONDITION,
                           "container is running: stop it before deleting it")
        self.parked.append((conn, sid, "Delete", self.init))  # exited, finishing up: answer then
        return None

    def _rpc_Shutdown(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        if not self.finished:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is running")
        self.quit = True
        return b""

    def _rpc_Start(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        pb = self.pb
        proc = self._proc(pb.StartRequest.FromString(payload).exec_id)
        if proc.exit_status is not None:
            raise RpcError(protocol.FAILED_PRECONDITION, f"{proc.name} is not running")
        if proc.started_at_ns:
            raise RpcError(protocol.FAILED_PRECONDITION, f"{proc.name} was already started")
        if proc.is_init:
            err = self.runtime.run("start", self.id)
            if err is not None:
                self._reap()
                raise RpcError(protocol.FAILED_PRECONDITION, err)
            proc.started_at_ns = time.time_ns()
            self.log.info("container started", init_pid=proc.pid)
        else:
            if self.init.exit_status is not None:
                raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
            _exec.start(self, proc)
        return pb.StartResponse(pid=proc.pid).SerializeToString()

    def _rpc_Pause(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        if not self.init.running:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
        if self.paused:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is already paused")
        err = self.runtime.run("pause", self.id)
        if err is not None:
            raise RpcError(protocol.FAILED_PRECONDITION, err)
        self.paused = True
        self.log.info("container paused")
        return b""

    def _rpc_Resume(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        if not self.paused or not self.init.running:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is not paused")
        err = self.runtime.run("resume", self.id)
        if err is not None:
            raise RpcError(protocol.FAILED_PRECONDITION, err)
        self.paused = False
        self.log.info("container resumed")
        return b""

    def _rpc_Update(self, conn: _Conn, sid: int, payload: bytes) -> bytes:
        """`runtime update --resources -` with the OCI linux.resources JSON on stdin."""
        req = self.pb.UpdateRequest.FromString(payload)
        if len(req.resources_json) > 60000:  # it must fit the pipe's buffer: the loop never blocks
            raise RpcError(protocol.INVALID_ARGUMENT, "resources too large")
        if self.init.exit_status is not None:
            raise RpcError(protocol.FAILED_PRECONDITION, "container is not running")
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            os.write(w, req.resources_json)
            os.close(w)
            w = -1
            err = self.runtime.run("update", "--resources", "-", self.id, stdin=r)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        if err is not None:
            raise RpcError(protocol.FAILED_PRECONDITION, err)
        self.log.info("container resources updated")
        return self.pb.UpdateResponse().SerializeToString()

    _rpc_Exec = _exec.rpc_exec
    _rpc_DeleteProcess = _exec.rpc_delete_process
    _rpc_Attach = _attach.rpc_attach
    _rpc_CloseIO = _stdio.rpc_close_io
    _rpc_ResizePty = _stdio.rpc_resize_pty

    # -- exit ------------------------------------------------------------------

    def _stop_serving(self) -> None:
        """Send what is queued, then remove the socket and go."""
        self._reap()
        for proc in list(self.procs.values()):
            if proc.exit_status is not None:
                self._done(proc)  # answer exec waiters without waiting for their stdio
        _exec.remove_all_files(self)
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
        report_fd: int, create_only: bool = False, stdin: bool = False) -> int:
    """The shim's life in the forked child: detach, start, report, serve."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    os.chdir("/")
    shim = Shim(cid, bundle, runtime, runtime_root, log_path, debug, create_only=create_only,
                stdin=stdin)
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
