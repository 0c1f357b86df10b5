"""Shared set-up for benchmarks: a palletd on temporary roots with busybox imported."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

from mkrootfs import write_busybox_rootfs  # noqa: E402

from tests import _host  # noqa: E402
from tests._engine import Engine, make_engine  # noqa: E402


def start_engine() -> Engine:
    eng = make_engine()
    eng.start()
    with tempfile.TemporaryDirectory() as d:
        tar = os.path.join(d, "busybox.tar")
        write_busybox_rootfs(tar)
        eng.ctl("import", "-c", 'CMD ["sh"]', tar, "busybox:latest", check=True)
    return eng


def stop_engine(eng: Engine) -> None:
    eng.stop()
    _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


def time_command(argv: list[str], runs: int, warmup: int = 3,
                 check: Callable[[subprocess.CompletedProcess[bytes]], None] | None = None) -> list[float]:
    out = []
    for i in range(warmup + runs):
        t = time.perf_counter()
        res = subprocess.run(argv, capture_output=True)
        dt = time.perf_counter() - t
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {res.stderr.decode(errors='replace')}")
        if check:
            check(res)
        if i >= warmup:
            out.append(dt)
    return out


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000
