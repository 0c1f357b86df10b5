"""`palletctl stats` and `palletctl top` against a real palletd, shim and runc."""

from __future__ import annotations

import subprocess

from tests.conftest import Engine


def _run_sleeper(engine: Engine, name: str) -> str:
    res = engine.ctl("run", "-d", "--name", name, "busybox", "sleep", "30")
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_stats_no_stream_shows_the_container(engine: Engine) -> None:
    cid = _run_sleeper(engine, "statsctr")
    try:
        res = engine.ctl("stats", "--no-stream", "statsctr", timeout=30)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].startswith("CONTAINER ID   NAME")
        assert lines[0].split()[-1] == "PIDS" and "MEM USAGE / LIMIT" in lines[0] and "BLOCK I/O" in lines[0]
        assert len(lines) == 2, res.stdout
        row = lines[1].split()
        assert row[0] == cid[:12] and row[1] == "statsctr"
        assert row[-1] == "1"  # PIDS: just `sleep 30`
        assert row[2].endswith("%")  # CPU %
        assert row[4] == "/" and row[3].endswith("B") and row[5].endswith("iB")  # MEM USAGE / LIMIT

        res = engine.ctl("stats", "--no-stream", "--no-trunc", "--format", "{{.ID}} {{.Name}} {{.PIDs}}",
                         cid[:12], timeout=30)
        assert res.returncode == 0, res.stderr
        assert res.stdout == f"{cid} statsctr 1\n"

        # with no container named: every running one
        res = engine.ctl("stats", "--no-stream", "--format", "{{.Name}}", timeout=30)
        assert res.returncode == 0, res.stderr
        assert "statsctr" in res.stdout.split()
    finally:
        engine.ctl("rm", "-f", "statsctr")


def test_stats_unknown_container_fails(engine: Engine) -> None:
    res = engine.ctl("stats", "--no-stream", "no-such-ctr", timeout=30)
    assert res.returncode != 0
    assert "no-such-ctr" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_stats_stream_ends_when_the_container_stops(engine: Engine) -> None:
    _run_sleeper(engine, "statsstream")
    proc: subprocess.Popen[str] | None = None
    try:
        proc = engine.ctl_popen("stats", "--format", "{{.Name}} {{.PIDs}}", "statsstream")
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()  # a second block a second later
        assert first.strip() == "statsstream 1" and second.startswith("statsstream"), (first, second)
        engine.ctl("kill", "statsstream", check=True)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.ctl("rm", "-f", "statsstream")


def test_top_lists_the_container_processes(engine: Engine) -> None:
    _run_sleeper(engine, "topctr")
    try:
        res = engine.ctl("top", "topctr", timeout=30)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        titles = lines[0].split()
        assert titles[:3] == ["UID", "PID", "PPID"] and titles[-1] == "CMD"
        assert len(lines) == 2 and lines[1].endswith("sleep 30"), res.stdout

        res = engine.ctl("top", "topctr", "-o", "pid,args", timeout=30)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].split() == ["PID", "COMMAND"] and lines[1].endswith("sleep 30")

        res = engine.ctl("top", "topctr", "-o", "comm", timeout=30)
        assert res.returncode != 0 and "Couldn't find PID field in ps output" in res.stderr
    finally:
        engine.ctl("rm", "-f", "topctr")


def test_top_of_a_stopped_container_fails(engine: Engine) -> None:
    engine.ctl("create", "--name", "topstopped", "busybox", "sleep", "30", check=True)
    try:
        res = engine.ctl("top", "topstopped", timeout=30)
        assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    finally:
        engine.ctl("rm", "-f", "topstopped")
