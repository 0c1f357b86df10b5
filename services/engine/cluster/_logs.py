"""`service logs`: the logs of a service's tasks (or of one task), gathered from every node.

    for entry in service_logs(cluster, request, context):   # the Cluster servicer's ServiceLogs
        ...

The palletd the client talks to reads the tasks from the store, then:

- its own tasks' containers: the Containers servicer's Logs, called in process;
- every other node that ran a task: one ServiceLogs(local=true) call to that node's palletd, which
  does the same for its own tasks in process. The node's palletd is reached through the endpoints
  it announces (NodeAlive.endpoints, its -H values): a unix:// one when that socket exists on this
  machine (nodes sharing a host, as the test lab's), a tcp:// one (a wildcard address is replaced
  by the node's advertise address) over TLS with this palletd's own --tlscacert/--tlscert/--tlskey
  when it runs with --tlsverify, else plain. The palletd found there must answer ClusterInfo with
  the node's name, so that a path or address that means something else here is not read from.

A node that is down or cannot be reached is one entry without task_id on STREAM_STDERR
(`error from n2: node is down`); the others' logs still come. Without follow every stream is read
to its end and the lines come ordered by time; with follow they come as they are written, the
store is looked at again every second for tasks that start later (and nodes that get one), and
the stream lasts until the client goes, or the service is removed and its tasks' logs ended.
Readers are threads feeding one bounded queue: a slow client slows them down, never the other way.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from pallet import errors, log, rpc
from pallet.engine.cluster._etcd import EtcdError
from pallet.engine.cluster._model import NodeAlive, Task, TaskStatus
from pallet.engine.v1 import engine_pb2 as pb
from pallet.engine.v1 import engine_pb2_grpc as pb_grpc

POLL = 1.0              # follow: how often the store is looked at for new tasks
CONNECT_TIMEOUT = 3.0   # ClusterInfo on a node's endpoint, before its logs are asked for
QUEUE = 4096            # entries in flight between the readers and the client
PARALLEL = 16           # without follow: task logs read at once on one node
_DONE = object()

STDERR = pb.LogEntry.STREAM_STDERR


class _Context:
    """The gRPC context the Containers servicer expects, for its Logs called in process: active
    while the client of ServiceLogs is."""

    def __init__(self, alive: Callable[[], bool]) -> None:
        self._alive = alive

    def is_active(self) -> bool:
        return self._alive()

    def add_callback(self, fn: Callable[[], None]) -> bool:
        return True


def task_name(t: Task) -> str:
    """service.slot (replicated) or service.node (global), as `service ps` shows it."""
    return f"{t.service_name}.{t.slot if t.slot else t.node}"


def resolve(cluster: Any, ref: str) -> tuple[str, str]:
    """(service id, task id or "") of a service name, ID or ID prefix, or of a task ID (prefix)."""
    try:
        return str(cluster.store.service(ref).id), ""
    except errors.NotFound:
        pass
    tasks = [t for t, _ in cluster.store.tasks()]
    found = [t for t in tasks if t.id == ref] or ([t for t in tasks if t.id.startswith(ref)] if ref else [])
    if len({t.id for t in found}) == 1:
        return found[0].service_id, found[0].id
    raise errors.NotFound(f"no such task or service: {ref}")


def has_container(st: TaskStatus | None) -> bool:
    """The task's container may still be there to read: it was created and not removed (a task shut
    down has its container removed; one that ended by itself keeps it as history)."""
    return st is not None and bool(st.container_id) and st.state != "shutdown"


def candidates(alive: NodeAlive, own: list[str]) -> list[str]:
    """The endpoints of a node's palletd to try from here, best first: unix sockets that exist on this
    machine (not this palletd's own), then tcp:// with a wildcard host replaced by the node's address,
    loopback ones last (they reach the node only when it shares this machine's network)."""
    own_paths = {rpc.unix_path(e) for e in own} - {None}
    unix: list[str] = []
    tcp: list[str] = []
    loopback: list[str] = []
    for ep in alive.endpoints:
        path = rpc.unix_path(ep)
        if path is not None:
            if path and path not in own_paths and os.path.exists(path):
                unix.append(f"unix://{path}")
            continue
        target = rpc.tcp_target(ep) or ""
        host, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            continue
        bare = host.strip("[]")
        if bare in ("", "0.0.0.0", "::"):
            if not alive.addr:
                continue
            bare = alive.addr
            host = f"[{bare}]" if ":" in bare else bare
        (loopback if bare in ("localhost", "::1") or bare.startswith("127.") else tcp).append(f"tcp://{host}:{port}")
    return unix + tcp + loopback


def _details(exc: grpc.RpcError) -> str:
    if isinstance(exc, grpc.Call):
        return exc.details() or exc.code().name
    return str(exc)


class _Gather:
    def __init__(self, cluster: Any, service_id: str, task_id: str, req: pb.ServiceLogsRequest,
                 alive: Callable[[], bool]) -> None:
        self.cluster = cluster
        self.service_id, self.task_id = service_id, task_id
        self.follow = req.follow
        self.tail = req.tail if req.HasField("tail") else -1
        self.timestamps = req.timestamps
        self.local_only = req.local
        self._client_alive = alive
        self.stop = threading.Event()
        self.log = log.get("cluster")
        self._q: queue.Queue[Any] = queue.Queue(QUEUE)
        self._lock = threading.Lock()
        self._pending = 0
        self._notes: list[pb.ServiceLogEntry] = []
        self._noted: set[tuple[str, str]] = set()
        self._calls: list[Any] = []
        self._started: set[str] = set()         # tasks of this node whose log is (or was) read
        self._opened: dict[str, int] = {}        # other node -> streams opened to it
        self._streaming: set[str] = set()        # other nodes with a stream open now
        self._retry_at: dict[str, float] = {}    # other node -> when a failed stream may be opened again
        self._slots = threading.BoundedSemaphore(PARALLEL)

    def alive(self) -> bool:
        return not self.stop.is_set() and self._client_alive()

    # -- the stream the client gets ---------------------------------------------------------------

    def run(self) -> Iterator[pb.ServiceLogEntry]:
        try:
            self._scan(first=True)
            if self.follow:
                yield from self._follow()
            else:
                yield from self._collect()
        finally:
            self.close()

    def _collect(self) -> Iterator[pb.ServiceLogEntry]:
        got: list[pb.ServiceLogEntry] = []
        notes: list[pb.ServiceLogEntry] = []   # other nodes' notes: after the lines, as this node's
        while self.alive():
            item = self._get()
            if isinstance(item, pb.ServiceLogEntry):
                (got if item.task_id else notes).append(item)
            elif self._idle():
                break
        got.sort(key=lambda e: (e.time.seconds, e.time.nanos))
        yield from got
        yield from self._take_notes()
        yield from notes

    def _follow(self) -> Iterator[pb.ServiceLogEntry]:
        next_scan = time.monotonic() + POLL
        gone = False
        while self.alive():
            item = self._get()
            if isinstance(item, pb.ServiceLogEntry):
                yield item
            yield from self._take_notes()
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + POLL
                try:
                    gone = self._service_gone()
                    if not gone:
                        self._scan(first=False)
                except EtcdError as exc:  # the store is away: what is streaming goes on
                    self.log.debug("service logs: store unavailable", error=str(exc))
            if gone and self._idle():
                yield from self._take_notes()
                return

    def _get(self) -> Any:
        try:
            return self._q.get(timeout=0.25)
        except queue.Empty:
            return None

    def _idle(self) -> bool:
        with self._lock:
            return self._pending == 0 and self._q.empty()

    def close(self) -> None:
        self.stop.set()
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            with contextlib.suppress(Exception):
                call.cancel()

    # -- what to read ---------------------------------------------------------------------------

    def _service_gone(self) -> bool:
        return self.cluster.etcd.get(self.cluster.store.key("services", self.service_id)) is None

    def _scan(self, first: bool) -> None:
        """Start reading the tasks of this node, and streams to the other nodes, not read yet."""
        me = self.cluster.name
        nodes: set[str] = set()   # other nodes with a task to read
        for t, st in self.cluster.store.tasks(self.service_id):
            if self.task_id and t.id != self.task_id:
                continue
            if t.node == me:
                if t.id in self._started or not has_container(st):
                    continue
                if self.follow and st is not None and st.state == "starting":
                    continue  # not started yet: a follow would end at once; next look
                assert st is not None
                self._started.add(t.id)
                self._spawn(self._read_local, t, st.container_id, self.tail if first else -1)
            elif not self.local_only and (has_container(st) or (self.follow and t.desired_state == "running")):
                nodes.add(t.node)
        if nodes:
            self._open_nodes(sorted(nodes), first)

    def _open_nodes(self, names: list[str], first: bool) -> None:
        with self._lock:
            todo = [n for n in names if n not in self._streaming and time.monotonic() >= self._retry_at.get(n, 0)]
        if not todo:
            return
        alive = {v.spec.name: v.alive for v in self.cluster.store.nodes()}
        for name in todo:
            node = alive.get(name)
            if node is None:
                self._note(name, "node is down")
                with self._lock:
                    self._retry_at[name] = time.monotonic() + 5 * POLL
                continue
            opened = self._opened.get(name, 0)
            # the first stream to a node: the tail asked for (all lines for a node whose tasks came
            # later); a stream opened again after a failure: only what comes from now on
            tail = (self.tail if first else -1) if not opened else 0
            self._opened[name] = opened + 1
            with self._lock:
                self._streaming.add(name)
            self._spawn(self._read_node, name, node, tail)

    # -- readers (threads) ----------------------------------------------------------------------

    def _spawn(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._pending += 1

        def run() -> None:
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one reader's surprise must not end the others
                self.log.exception("service logs: reader failed")
            finally:
                with self._lock:
                    self._pending -= 1
                self._put(_DONE)

        threading.Thread(target=run, name="service-logs", daemon=True).start()

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self._q.put(item, timeout=0.25)
                return
            except queue.Full:
                continue

    def _note(self, node: str, message: str) -> None:
        """One line on the stderr stream about a node (once per node and message)."""
        with self._lock:
            if (node, message) in self._noted:
                return
            self._noted.add((node, message))
            entry = pb.ServiceLogEntry(node=node, stream=STDERR, data=f"error from {node}: {message}\n".encode())
            entry.time.FromNanoseconds(time.time_ns())
            self._notes.append(entry)
        self.log.info("service logs: node skipped", node=node, reason=message)

    def _take_notes(self) -> list[pb.ServiceLogEntry]:
        with self._lock:
            notes, self._notes = self._notes, []
        return notes

    def _read_local(self, t: Task, container_id: str, tail: int) -> None:
        """One task of this node: its container's log through the Containers servicer, in process."""
        req = pb.LogsRequest(id=container_id, follow=self.follow, tail=tail, stdout=True, stderr=True)
        name = task_name(t)
        with contextlib.ExitStack() as stack:
            if not self.follow:
                stack.enter_context(self._slots)
            try:
                for e in self.cluster.engine.containers.Logs(req, _Context(self.alive)):
                    if self.stop.is_set():
                        return
                    out = pb.ServiceLogEntry(task_id=t.id, task_name=name, node=t.node, stream=e.stream, data=e.data)
                    out.time.CopyFrom(e.time)
                    self._put(out)
            except errors.NotFound:
                return  # the container is gone (task shut down, or forgotten meanwhile)
            except grpc.RpcError as exc:
                err = rpc.to_error(exc)
                if not isinstance(err, errors.NotFound):
                    self._note(t.node, f"{name}.{t.id[:12]}: {err}")
            except errors.PalletError as exc:
                self._note(t.node, f"{name}.{t.id[:12]}: {exc}")

    def _read_node(self, name: str, node: NodeAlive, tail: int) -> None:
        """Another node's tasks: ServiceLogs(local) to its palletd, entries passed on as they come."""
        try:
            channel, why = self._connect(name, node)
            if channel is None:
                self._note(name, why)
                self._failed(name)
                return
            with channel:
                req = pb.ServiceLogsRequest(service=self.task_id or self.service_id, follow=self.follow,
                                            timestamps=self.timestamps, local=True)
                if tail >= 0:
                    req.tail = tail
                call = pb_grpc.ClusterStub(channel).ServiceLogs(req)
                with self._lock:
                    self._calls.append(call)
                if self.stop.is_set():
                    call.cancel()
                try:
                    for entry in call:
                        self._put(entry)
                except grpc.RpcError as exc:
                    if self.stop.is_set():
                        return
                    code = exc.code() if isinstance(exc, grpc.Call) else None
                    if code == grpc.StatusCode.NOT_FOUND and self.follow:
                        return  # the service was removed meanwhile
                    self._note(name, _details(exc) if code != grpc.StatusCode.UNAVAILABLE
                               else f"its palletd went away ({_details(exc)})")
                    self._failed(name)
                finally:
                    with self._lock:
                        self._calls.remove(call)
        finally:
            with self._lock:
                self._streaming.discard(name)

    def _failed(self, name: str) -> None:
        with self._lock:
            self._retry_at[name] = time.monotonic() + 5 * POLL

    def _connect(self, name: str, node: NodeAlive) -> tuple[grpc.Channel | None, str]:
        """A channel to the node's palletd (checked: it answers as that node), or None and why not."""
        eps = candidates(node, list(self.cluster.cfg.endpoints))
        if not eps:
            have = ", ".join(node.endpoints) or "none"
            return None, (f"no endpoint of its palletd can be used from this node (announced: {have}); "
                          "give its palletd a tcp:// -H address this node can reach")
        tried = []
        for ep in eps:
            tls = self.cluster.client_tls() if ep.startswith("tcp://") else None
            try:
                channel = rpc.channel(ep, tls)
            except errors.PalletError as exc:  # unreadable TLS files
                tried.append(f"{ep}: {exc}")
                continue
            try:
                info = pb_grpc.ClusterStub(channel).ClusterInfo(pb.ClusterInfoRequest(), timeout=CONNECT_TIMEOUT)
            except grpc.RpcError as exc:
                channel.close()
                why = _details(exc)
                if tls is not None and any(w in why.lower() for w in ("socket closed", "handshake", "ssl")):
                    why += (" (TLS refused? this palletd shows its --tlscert as its client certificate: it must "
                            "allow client authentication (extended key usage clientAuth) and be signed by the CA "
                            "the node verifies clients with)")
                tried.append(f"{ep}: {why}")
                continue
            if info.node_name != name:
                channel.close()
                tried.append(f"{ep}: answered as {info.node_name or 'a palletd outside the cluster'}")
                continue
            return channel, ""
        return None, "cannot reach its palletd: " + "; ".join(tried)


def service_logs(cluster: Any, req: pb.ServiceLogsRequest, context: Any) -> Iterator[pb.ServiceLogEntry]:
    """The entries of ServiceLogs (NotFound: no such service or task; EtcdError: the store is away)."""
    service_id, task_id = resolve(cluster, req.service)
    g = _Gather(cluster, service_id, task_id, req, context.is_active)
    with contextlib.suppress(Exception):
        context.add_callback(g.stop.set)
    yield from g.run()
