"""Child services palletd runs itself in the embedded default (imagesvc, later netsvc).

Each child is restarted when it dies and gets SIGTERM when palletd dies
(PR_SET_PDEATHSIG), so a killed palletd never leaves two copies on one root.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pallet import errors, log, rpc

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_healthy(address: str, timeout: float) -> None:
    """Block until the gRPC service at address reports SERVING."""
    deadline = time.monotonic() + timeout
    with rpc.channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while True:
            try:
                res = stub.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
                if res.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise errors.Unavailable(f"service at {address} did not become healthy in {timeout:.0f}s")
            time.sleep(0.05)


class Child:
    def __init__(self, name: str, argv: list[str], address: str) -> None:
        self.name = name
        self.argv = argv
        self.address = address
        self.log = log.get("supervisor", child=name)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30) -> None:
        """Spawn the child, supervise it, and return once it answers its health check. One child at a
        time: started together, one's fork() ran while the other's health check was inside gRPC,
        and gRPC's epoll broke in the forked process (palletd hung)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            # This thread spawns the child and lives as long as it is supervised:
            # PR_SET_PDEATHSIG fires when the spawning thread exits.
            backoff = 0.2
            first = True
            while not self._stopping.is_set():
                self._proc = subprocess.Popen(self.argv, preexec_fn=_die_with_parent)  # noqa: PLW1509
                self.log.info("child started", pid=self._proc.pid)
                if first:
                    try:
                        wait_healthy(self.address, timeout)
                    except BaseException as exc:  # noqa: BLE001 - reported to start()
                        failure.append(exc)
                    ready.set()
                    first = False
                code = self._proc.wait()
                if self._stopping.is_set() or failure:
                    return
                self.log.error("child exited, restarting", code=code, backoff=backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

        self._thread = threading.Thread(target=run, name=f"supervise-{self.name}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self.stop()
            raise failure[0]

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.log.info("child stopped", pid=proc.pid)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


def sock_address(exec_root: str, name: str) -> str:
    return "unix://" + os.path.join(exec_root, f"{name}.sock")
