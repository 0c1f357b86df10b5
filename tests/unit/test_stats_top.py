"""Stats from cgroup files (fake v1 and v2 trees, and a real cgroup), top over real ps."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pallet import errors
from pallet.client import _stats as cli_stats
from pallet.client.cli import Parser, _add
from pallet.engine import _stats, _top

CG = "/pallet/abc123"
PID = 4242
MEMTOTAL_KIB = 8_000_000
# cpu line: first seven fields sum to 1000 ticks; guest fields after them are ignored.
PROC_STAT = ("cpu  400 0 100 450 30 10 10 7 0 0\ncpu0 200 0 50 225 15 5 5 3 0 0\n"
             "cpu1 200 0 50 225 15 5 5 4 0 0\nintr 1 2 3\nctxt 99\n")
NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier
    lo:    9631      88    0    0    0     0          0         0     9631      88    0    0    0     0       0 0
  eth0:    1500      10    0    0    0     0          0         0      700       5    0    0    0     0       0 0
  eth1:     500       2    0    0    0     0          0         0      300       1    0    0    0     0       0 0
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    _write(root / "stat", PROC_STAT)
    _write(root / "meminfo", f"MemTotal:       {MEMTOTAL_KIB} kB\nMemFree:  100 kB\n")
    _write(root / str(PID) / "net" / "dev", NET_DEV)
    return root


def _v1_tree(root: Path, limit: int = 9223372036854771712) -> Path:
    base = {c: root / c / CG.strip("/") for c in ("memory", "cpuacct", "cpu", "pids", "blkio")}
    _write(base["cpuacct"] / "cpuacct.usage", "123456789\n")
    _write(base["memory"] / "memory.usage_in_bytes", "10485760\n")
    _write(base["memory"] / "memory.limit_in_bytes", f"{limit}\n")
    _write(base["memory"] / "memory.stat",
           "cache 4096\ninactive_file 1000\ntotal_cache 3145728\ntotal_inactive_file 2097152\n")
    _write(base["pids"] / "pids.current", "3\n")
    _write(base["pids"] / "pids.max", "max\n")
    _write(base["pids"] / "cgroup.procs", "11\n12\n")
    _write(base["pids"] / "sub" / "cgroup.procs", "13\n")
    _write(base["memory"] / "cgroup.procs", "11\n12\n")
    _write(base["blkio"] / "blkio.throttle.io_service_bytes_recursive",
           "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\n"
           "8:16 Read 100\n8:16 Write 200\n8:16 Total 300\nTotal 12588\n")
    base["cpu"].mkdir(parents=True, exist_ok=True)
    return root


def _v2_tree(root: Path, memory_max: str = "max", pids_max: str = "max") -> Path:
    _write(root / "cgroup.controllers", "cpuset cpu io memory pids\n")
    base = root / CG.strip("/")
    _write(base / "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    _write(base / "memory.current", "20000000\n")
    _write(base / "memory.max", f"{memory_max}\n")
    _write(base / "memory.stat", "anon 100\nfile 6000000\ninactive_file 5000000\nactive_file 1000\n")
    _write(base / "pids.current", "2\n")
    _write(base / "pids.max", f"{pids_max}\n")
    _write(base / "io.stat", "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
                             "253:0 rbytes=24 wbytes=48 rios=1 wios=1 dbytes=0 dios=0\n")
    _write(base / "cgroup.procs", "21\n")
    _write(base / "init" / "cgroup.procs", "22\n23\n")
    return root


def _host_cpu_ns() -> int:
    return 1000 * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


# ---- fake trees ----

def test_sample_v1(tmp_path: Path, proc: Path) -> None:
    root = _v1_tree(tmp_path / "cg")
    s = _stats.sample(CG, PID, cgroup_root=str(root), proc_root=str(proc))
    assert s.cpu_usage_ns == 123456789
    assert s.system_cpu_usage_ns == _host_cpu_ns()
    assert s.online_cpus == 2
    assert s.memory_usage == 10485760 - 2097152 and s.memory_cache == 2097152
    assert s.memory_limit == MEMTOTAL_KIB * 1024  # unlimited: the host's memory
    assert (s.pids_current, s.pids_limit) == (3, 0)
    assert (s.block_read_bytes, s.block_write_bytes) == (4196, 8392)
    assert (s.net_rx_bytes, s.net_tx_bytes) == (2000, 1000)
    assert s.read_ns > 0


def test_sample_v1_limits(tmp_path: Path, proc: Path) -> None:
    root = _v1_tree(tmp_path / "cg", limit=64 << 20)
    (root / "pids" / CG.strip("/") / "pids.max").write_text("50\n")
    s = _stats.sample(CG, PID, cgroup_root=str(root), proc_root=str(proc))
    assert s.memory_limit == 64 << 20 and s.pids_limit == 50


def test_sample_v1_bfq_when_throttle_is_empty(tmp_path: Path, proc: Path) -> None:
    root = _v1_tree(tmp_path / "cg")
    blkio = root / "blkio" / CG.strip("/")
    (blkio / "blkio.throttle.io_service_bytes_recursive").write_text("Total 0\n")
    (blkio / "blkio.bfq.io_service_bytes_recursive").write_text("8:0 Read 10\n8:0 Write 20\nTotal 30\n")
    s = _stats.sample(CG, PID, cgroup_root=str(root), proc_root=str(proc))
    assert (s.block_read_bytes, s.block_write_bytes) == (10, 20)


def test_sample_missing_files_read_as_zero(tmp_path: Path, proc: Path) -> None:
    root = tmp_path / "cg"
    (root / "pids" / CG.strip("/")).mkdir(parents=True)  # only an empty pids cgroup is left
    s = _stats.sample(CG, 999999, cgroup_root=str(root), proc_root=str(tmp_path / "noproc"))
    assert (s.cpu_usage_ns, s.memory_usage, s.memory_cache, s.memory_limit, s.pids_current,
            s.block_read_bytes, s.net_rx_bytes, s.system_cpu_usage_ns) == (0, 0, 0, 0, 0, 0, 0, 0)
    assert s.online_cpus >= 1  # falls back to os.cpu_count()
    # garbage in the files is no reason to fail either
    _write(root / "memory" / CG.strip("/") / "memory.usage_in_bytes", "garbage\n")
    _write(root / "memory" / CG.strip("/") / "memory.stat", "total_inactive_file x\nbroken\n")
    assert _stats.sample(CG, 0, cgroup_root=str(root), proc_root=str(proc)).memory_usage == 0


def test_sample_gone_cgroup_is_not_found(tmp_path: Path, proc: Path) -> None:
    root = _v1_tree(tmp_path / "cg")
    with pytest.raises(errors.NotFound):
        _stats.sample("/pallet/other", PID, cgroup_root=str(root), proc_root=str(proc))
    root2 = _v2_tree(tmp_path / "cg2")
    with pytest.raises(errors.NotFound):
        _stats.sample("/pallet/other", PID, cgroup_root=str(root2), proc_root=str(proc))
    with pytest.raises(errors.NotFound):
        _top.cgroup_pids("/pallet/other", cgroup_root=str(root))
    with pytest.raises(errors.NotFound):
        _top.cgroup_pids("/pallet/other", cgroup_root=str(root2))


def test_sample_v2(tmp_path: Path, proc: Path) -> None:
    root = _v2_tree(tmp_path / "cg")
    s = _stats.sample(CG, PID, cgroup_root=str(root), proc_root=str(proc))
    assert s.cpu_usage_ns == 2_500_000
    assert s.system_cpu_usage_ns == _host_cpu_ns() and s.online_cpus == 2
    assert s.memory_usage == 15_000_000 and s.memory_cache == 5_000_000
    assert s.memory_limit == MEMTOTAL_KIB * 1024
    assert (s.pids_current, s.pids_limit) == (2, 0)
    assert (s.block_read_bytes, s.block_write_bytes) == (1024, 2048)
    assert (s.net_rx_bytes, s.net_tx_bytes) == (2000, 1000)


def test_sample_v2_limits(tmp_path: Path, proc: Path) -> None:
    root = _v2_tree(tmp_path / "cg", memory_max=str(32 << 20), pids_max="7")
    s = _stats.sample(CG, PID, cgroup_root=str(root), proc_root=str(proc))
    assert (s.memory_limit, s.pids_limit) == (32 << 20, 7)
    # a limit above the host's memory reports the host's memory, as dockerd does
    (root / CG.strip("/") / "memory.max").write_text(str(MEMTOTAL_KIB * 1024 * 2))
    assert _stats.sample(CG, PID, cgroup_root=str(root), proc_root=str(proc)).memory_limit == MEMTOTAL_KIB * 1024


def test_cgroup_pids_fake_trees(tmp_path: Path) -> None:
    assert _top.cgroup_pids(CG, cgroup_root=str(_v1_tree(tmp_path / "v1"))) == [11, 12, 13]
    assert _top.cgroup_pids(CG, cgroup_root=str(_v2_tree(tmp_path / "v2"))) == [21, 22, 23]


def test_cpu_percent_and_to_pb() -> None:
    prev = _stats.Sample(read_ns=1_000_000_000, cpu_usage_ns=1_000, system_cpu_usage_ns=10_000, online_cpus=4)
    cur = _stats.Sample(read_ns=2_000_000_000, cpu_usage_ns=1_500, system_cpu_usage_ns=12_000, online_cpus=4,
                        memory_usage=5, memory_limit=10, pids_current=1, net_rx_bytes=7)
    assert _stats.cpu_percent(prev, cur) == pytest.approx(500 / 2000 * 4 * 100)
    assert _stats.cpu_percent(cur, cur) == 0.0
    assert _stats.cpu_percent(cur, prev) == 0.0  # counters going backwards are no usage
    assert _stats.memory_percent(cur) == 50.0
    msg = _stats.to_pb(cur, prev, id="abc", name="web")
    assert (msg.id, msg.name, msg.cpu_usage_ns, msg.precpu_usage_ns, msg.presystem_cpu_usage_ns) == (
        "abc", "web", 1500, 1000, 10_000)
    assert (msg.memory_usage, msg.memory_limit, msg.pids_current, msg.net_rx_bytes) == (5, 10, 1, 7)
    assert msg.read.ToNanoseconds() == 2_000_000_000
    first = _stats.to_pb(cur, None)
    assert first.precpu_usage_ns == 0 and first.presystem_cpu_usage_ns == 0
    assert cli_stats.cpu_percent(msg) == pytest.approx(_stats.cpu_percent(prev, cur))


def test_stream_shapes(tmp_path: Path, proc: Path) -> None:
    root = _v1_tree(tmp_path / "cg")
    kw = {"cgroup_root": str(root), "proc_root": str(proc), "sleep": lambda _t: None, "interval": 0.0}
    one = list(_stats.stream(CG, PID, stream=False, id="x", **kw))  # type: ignore[arg-type]
    assert len(one) == 1 and one[0].precpu_usage_ns == 123456789 and one[0].id == "x"
    left = iter([True, True, True, True, False])
    many = list(_stats.stream(CG, PID, stream=True, alive=lambda: next(left, False), **kw))  # type: ignore[arg-type]
    assert len(many) >= 2 and many[0].precpu_usage_ns == 0 and many[1].precpu_usage_ns == 123456789
    # the cgroup going away ends a stream quietly
    gen = _stats.stream(CG, PID, stream=True, **kw)  # type: ignore[arg-type]
    next(gen)
    shutil.rmtree(root)
    assert list(gen) == []


# ---- top over the host's ps ----

def test_top_keeps_only_given_pids() -> None:
    me = os.getpid()
    titles, rows = _top.top([me], ["-ef"])
    assert titles[:3] == ["UID", "PID", "PPID"] and titles[-1] == "CMD"
    assert len(rows) == 1 and rows[0][1] == str(me) and len(rows[0]) == len(titles)
    assert "py" in rows[0][-1]  # the whole command line, arguments joined into the last column
    titles, rows = _top.top([me], [])  # default -ef
    assert titles[1] == "PID" and [r[1] for r in rows] == [str(me)]
    titles, rows = _top.top([me], ["-o", "pid,comm"])
    assert titles == ["PID", "COMMAND"] and [r[0] for r in rows] == [str(me)]


def test_top_bsd_and_forest_args_fall_back_to_filtering() -> None:
    me = os.getpid()
    titles, rows = _top.top([me], ["aux"])
    assert titles[1] == "PID" and [r[1] for r in rows] == [str(me)]
    titles, rows = _top.top([me, os.getppid()], ["-ef", "f"])  # forest refuses -q
    assert sorted(r[1] for r in rows) == sorted([str(me), str(os.getppid())])


def test_top_rejects_args_without_pid_column() -> None:
    with pytest.raises(errors.InvalidArgument, match="Couldn't find PID field in ps output"):
        _top.top([os.getpid()], ["-o", "comm"])
    with pytest.raises(errors.InvalidArgument, match="not allowed"):
        _top.top([os.getpid()], ["-o", "pid,user=PID"])
    with pytest.raises(errors.InvalidArgument, match="ps"):
        _top.top([os.getpid()], ["--no-such-ps-option"])


def test_top_without_procps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(errors.FailedPrecondition, match="procps"):
        _top.top([1], ["-ef"])


def test_parse_ps_output_threads_and_overhang() -> None:
    out = ("  PID   LWP TTY          TIME CMD\n"
           "   10     - ?        00:00:00 sh -c sleep 1\n"
           "    -    10 -        00:00:00 -\n"
           "   11     - ?        00:00:00 other\n"
           "    -    11 -        00:00:00 -\n")
    titles, rows = _top.parse_ps_output(out, [10])
    assert titles == ["PID", "LWP", "TTY", "TIME", "CMD"]
    assert rows == [["10", "-", "?", "00:00:00", "sh -c sleep 1"], ["-", "10", "-", "00:00:00", "-"]]
    with pytest.raises(errors.InvalidArgument, match="Unexpected pid"):
        _top.parse_ps_output("PID CMD\nabc x\n", [1])


# ---- CLI rendering ----

def test_bytes_size_and_rows() -> None:
    from pallet.client._format import bytes_size

    assert bytes_size(0) == "0B"
    assert bytes_size(1536 * 1024) == "1.5MiB"
    assert bytes_size(8_191_000_000) == "7.628GiB"
    assert bytes_size(1023) == "1023B"
    msg = _stats.to_pb(_stats.Sample(
        memory_usage=1536 * 1024, memory_limit=4 << 30, net_rx_bytes=1234, net_tx_bytes=0,
        block_read_bytes=5_000_000, block_write_bytes=0, pids_current=1,
        cpu_usage_ns=1500, system_cpu_usage_ns=12_000, online_cpus=2),
        _stats.Sample(cpu_usage_ns=1000, system_cpu_usage_ns=10_000), id="a" * 64, name="/web")
    row = cli_stats.stats_row(msg, "web", "", "", trunc=True)
    assert row == {"Container": "web", "ID": "a" * 12, "Name": "web", "CPUPerc": "50.00%",
                   "MemUsage": "1.5MiB / 4GiB", "MemPerc": "0.04%", "NetIO": "1.23kB / 0B",
                   "BlockIO": "5MB / 0B", "PIDs": "1"}
    assert cli_stats.stats_row(None, "gone", "b" * 64, "", trunc=False)["PIDs"] == "--"
    table = cli_stats.render_stats([row], "").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT",
                                "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS"]
    assert table[0].startswith("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %")
    assert table[1].split()[-1] == "1" and table[1].startswith("a" * 12 + "   web       50.00%")
    assert cli_stats.render_stats([row], "{{.Name}}: {{.PIDs}}") == "web: 1"
    assert cli_stats.render_stats([row], "table {{.Container}}\\t{{.PIDs}}").splitlines() == [
        "CONTAINER   PIDS", "web         1"]


def test_top_table_and_parsers() -> None:
    assert cli_stats.tabwrite([["UID", "PID", "CMD"], ["root", "1", "sleep 30"]], minwidth=20).splitlines() == [
        "UID" + " " * 17 + "PID" + " " * 17 + "CMD", "root" + " " * 16 + "1" + " " * 19 + "sleep 30"]
    parser = Parser(prog="palletctl")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    cli_stats.add_stats_parser(sub, _add)
    cli_stats.add_top_parser(sub, _add)
    a = parser.parse_args(["stats", "--no-stream", "--no-trunc", "-a", "--format", "{{.ID}}", "x", "y"])
    assert (a.no_stream, a.no_trunc, a.all, a.format, a.containers) == (True, True, True, "{{.ID}}", ["x", "y"])
    assert parser.parse_args(["stats"]).containers == []
    a = parser.parse_args(["top", "web", "-o", "pid,args"])
    assert (a.container, a.ps_args) == ("web", ["-o", "pid,args"])
    assert parser.parse_args(["top", "web", "aux"]).ps_args == ["aux"]
    assert parser.parse_args(["top", "web"]).ps_args == []


# ---- a real cgroup on this host ----

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "blkio")


def _join(procs: list[str]) -> None:
    for path in procs:
        with open(path, "w") as f:
            f.write(str(os.getpid()))


def _rmdir(path: str) -> None:
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


@contextlib.contextmanager
def _real_cgroup(dirs: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """`sleep 60` started inside the cgroup dirs (joined before exec, so its memory is charged there)."""
    child: subprocess.Popen[bytes] | None = None
    try:
        for d in dirs:
            os.mkdir(d)
        procs = [os.path.join(d, "cgroup.procs") for d in dirs]
        child = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: _join(procs))
        yield child
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGKILL)
            child.wait()
        for d in reversed(dirs):
            _rmdir(d)


def _wait_member(procs_file: str, pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(procs_file) as f:
            if str(pid) in f.read().split():
                return
        time.sleep(0.02)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_real_cgroup_v1() -> None:
    if _stats.is_v2() or not all(os.path.isdir(f"/sys/fs/cgroup/{c}") for c in V1_CONTROLLERS):
        pytest.skip("needs cgroup v1 controllers at /sys/fs/cgroup/<controller>")
    name = f"pallet-statstest-{uuid.uuid4().hex[:8]}"
    dirs = [f"/sys/fs/cgroup/{c}/{name}" for c in V1_CONTROLLERS]
    with _real_cgroup(dirs) as child:
        _wait_member(f"/sys/fs/cgroup/pids/{name}/cgroup.procs", child.pid)
        time.sleep(0.1)  # let the exec finish charging its pages
        with open(f"/sys/fs/cgroup/memory/{name}/memory.limit_in_bytes", "w") as f:
            f.write(str(256 << 20))
        with open(f"/sys/fs/cgroup/pids/{name}/pids.max", "w") as f:
            f.write("10")
        s = _stats.sample(f"/{name}", child.pid)
        assert s.memory_usage > 0, s
        assert s.memory_limit == 256 << 20
        assert (s.pids_current, s.pids_limit) == (1, 10)
        assert s.system_cpu_usage_ns > 0 and s.online_cpus >= 1
        assert _top.cgroup_pids(f"/{name}") == [child.pid]
        titles, rows = _top.top(_top.cgroup_pids(f"/{name}"), ["-ef"])
        assert len(rows) == 1 and rows[0][titles.index("CMD")] == "sleep 60"
    with pytest.raises(errors.NotFound):
        _stats.sample(f"/{name}", 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_real_cgroup_v2() -> None:
    """The unified hierarchy: /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one."""
    root = "/sys/fs/cgroup" if _stats.is_v2() else "/sys/fs/cgroup/unified"
    if not _stats.is_v2(root):
        pytest.skip("no cgroup2 hierarchy mounted")
    name = f"pallet-statstest-{uuid.uuid4().hex[:8]}"
    with open(os.path.join(root, "cgroup.subtree_control")) as f:
        enabled = f.read().split()
    with _real_cgroup([os.path.join(root, name)]) as child:
        _wait_member(os.path.join(root, name, "cgroup.procs"), child.pid)
        time.sleep(0.1)
        s = _stats.sample(f"/{name}", child.pid, cgroup_root=root)
        assert _top.cgroup_pids(f"/{name}", cgroup_root=root) == [child.pid]
        assert s.system_cpu_usage_ns > 0 and s.memory_limit > 0
        if "memory" in enabled:
            assert s.memory_usage > 0
        if "pids" in enabled:
            assert s.pids_current == 1
        if "cpu" in enabled:
            assert s.cpu_usage_ns >= 0
    with pytest.raises(errors.NotFound):
        _stats.sample(f"/{name}", 0, cgroup_root=root)
