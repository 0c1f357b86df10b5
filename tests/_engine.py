"""A palletd on temporary roots, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class Engine:
    """A palletd started on its own roots; `ctl` runs palletctl against it."""

    tmp: str
    host: str
    data_root: str
    exec_root: str
    cgroup_parent: str
    proc: subprocess.Popen[bytes] | None = None
    log_path: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    daemon_args: list[str] = field(default_factory=list)  # more palletd flags
    prefix: list[str] = field(default_factory=list)  # e.g. ["nsenter", "--net=/run/netns/NS", "--"]

    def start(self) -> None:
        self.log_path = os.path.join(self.tmp, "palletd.log")
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "pallet.engine", "--data-root", self.data_root,
             "--exec-root", self.exec_root, "-H", self.host, "--cgroup-parent", self.cgroup_parent,
             "--debug", *self.daemon_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"palletd exited with {self.proc.returncode}:\n{self.logs()}")
            if self.ctl("version").returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"palletd did not answer in 30s:\n{self.logs()}")

    def stop(self, sig: int = 15) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def ctl(self, *args: str, input: bytes | None = None, timeout: float = 60,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [sys.executable, "-m", "pallet.client.cli", "-H", self.host, *args],
            input=input.decode() if input is not None else None,
            capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **self.extra_env},
        )
        if check and res.returncode != 0:
            raise AssertionError(f"palletctl {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res

    def ctl_popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "pallet.client.cli", "-H", self.host, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ctl_bytes(self, *args: str, stdin: bytes | None = None,
                  timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "pallet.client.cli", "-H", self.host, *args],
                              input=stdin, capture_output=True, timeout=timeout)


def make_engine() -> Engine:
    """Roots, socket and cgroup parent of its own, so instances run side by side."""
    tmp = tempfile.mkdtemp(prefix="pallet-test-")
    os.chmod(tmp, 0o755)
    return Engine(
        tmp=tmp,
        host=f"unix://{tmp}/pallet.sock",
        data_root=os.path.join(tmp, "data"),
        exec_root=os.path.join(tmp, "exec"),
        cgroup_parent=f"pallet-test-{uuid.uuid4().hex[:8]}",
    )


