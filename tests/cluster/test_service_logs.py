"""`palletctl service logs`: every task's log, from every node, through one palletd.

Two nodes (network namespaces, each with its palletd, etcd on the lab's bridge); the service's two
tasks echo their hostname (their container's short ID) and then tick every second, so each line
says which container wrote it. The endpoint choice and the CLI's prefixes are checked without a lab.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from pallet.client._cluster import log_prefix, parse_tail
from pallet.engine.cluster._logs import candidates, has_container
from pallet.engine.cluster._model import NodeAlive, TaskStatus

from tests.cluster._lab import Lab

SERVICE = "logsvc"
# (the pause after the stderr line: stdout and stderr are separate pipes, the log has them in the
# order they are read; the ticks must come after the first two lines for the tail checks)
SCRIPT = ('echo "hello from $(hostname)"; echo "oops from $(hostname)" >&2; sleep 1; i=0; '
          'while true; do i=$((i+1)); echo "tick $i $(hostname)"; sleep 1; done')
LINE = re.compile(r"^(?P<name>logsvc\.\d+)\.(?P<id>[0-9a-f]{12})@(?P<node>n\d) *    \| (?P<text>.*)$")


# -- without a lab ---------------------------------------------------------------------------

def test_candidates_prefer_reachable_sockets_then_tcp(tmp_path: Path) -> None:
    sock, mine = str(tmp_path / "n2.sock"), str(tmp_path / "n1.sock")
    for path in (sock, mine):
        open(path, "w").close()
    alive = NodeAlive(name="n2", addr="10.0.0.12", endpoints=[
        "tcp://127.0.0.1:2375", "tcp://0.0.0.0:2376", f"unix://{sock}", "unix:///nonexistent/pallet.sock",
        f"unix://{mine}", "tcp://10.9.9.9:2377", "tcp://[::]:2378"])
    assert candidates(alive, own=[f"unix://{mine}"]) == [
        f"unix://{sock}", "tcp://10.0.0.12:2376", "tcp://10.9.9.9:2377", "tcp://10.0.0.12:2378",
        "tcp://127.0.0.1:2375"]
    assert candidates(NodeAlive(name="n3", endpoints=["tcp://0.0.0.0:2376"]), own=[]) == []  # no address
    assert NodeAlive.load(b'{"name": "old"}').endpoints == []  # a node from before endpoints


def test_which_tasks_have_a_container_to_read() -> None:
    assert not has_container(None)
    assert not has_container(TaskStatus("preparing"))
    assert not has_container(TaskStatus("shutdown", container_id="c1"))  # removed with the task
    assert has_container(TaskStatus("running", container_id="c1"))
    assert has_container(TaskStatus("failed", container_id="c1"))  # kept as the task's history


def test_prefix_and_tail() -> None:
    e = SimpleNamespace(task_name="web.1", task_id="abcdef0123456789abcdef012", node="n2")
    assert log_prefix(e) == "web.1.abcdef012345@n2    | "
    assert log_prefix(e, width=2) == "web.1.abcdef012345@n2     | "  # lines up with web.10
    assert log_prefix(e, no_task_ids=True) == "web.1@n2    | "
    assert log_prefix(e, no_trunc=True) == "web.1.abcdef0123456789abcdef012@n2    | "
    g = SimpleNamespace(task_name="agent.n3", task_id="0123456789abcdef", node="n3")
    assert log_prefix(g, width=2) == "agent.n3.0123456789ab@n3    | "
    assert parse_tail("all") == -1
    assert parse_tail("5") == 5
    assert parse_tail("-3") == -1


# -- two nodes -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(busybox_tar: str) -> Iterator[Lab]:
    if os.geteuid() != 0 or not shutil.which("etcd") or not shutil.which("nsenter") or not shutil.which("runc"):
        pytest.skip("needs root, runc, etcd and nsenter")
    with Lab(2, busybox_tar) as lab:
        lab.etcd.start()
        for i in range(2):
            lab.start_node(i)
        lab.wait("two nodes ready", lambda: sum(1 for n in lab.store.nodes() if n.alive) == 2)
        n1 = lab.engines[0]
        assert n1 is not None
        n1.ctl("service", "create", "-d", "--name", SERVICE, "--replicas", "2", "--stop-grace-period", "1s",
               "busybox", "sh", "-c", SCRIPT, check=True)
        lab.wait("a task running on each node", lambda: sorted(_running(lab).values()) == ["n1", "n2"], timeout=90)
        lab.wait("both tasks ticking", lambda: _logs(lab, "--raw").stdout.count("tick 2 ") == 2, timeout=30)
        yield lab


def _running(lab: Lab) -> dict[str, str]:
    """task id -> node, for the service's tasks running now."""
    svc = lab.store.service(SERVICE)
    return {t.id: t.node for t, st in lab.store.tasks(svc.id)
            if t.desired_state == "running" and st is not None and st.state == "running"}


def _containers(lab: Lab) -> dict[str, tuple[str, str]]:
    """task id -> (node, container hostname: the short container ID) of the running tasks."""
    svc = lab.store.service(SERVICE)
    return {t.id: (t.node, st.container_id[:12]) for t, st in lab.store.tasks(svc.id)
            if t.desired_state == "running" and st is not None and st.state == "running"}


def _logs(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    n1 = lab.engines[0]
    assert n1 is not None
    return n1.ctl("service", "logs", *args, SERVICE, timeout=60)


def _parsed(text: str) -> list[re.Match[str]]:
    lines = [line for line in text.splitlines() if line]
    matches = [LINE.match(line) for line in lines]
    assert all(matches), f"unexpected lines:\n{text}"
    return [m for m in matches if m is not None]


@pytest.mark.integration
def test_logs_of_every_task_from_every_node(lab: Lab) -> None:
    tasks = _containers(lab)
    res = _logs(lab)
    assert res.returncode == 0, res.stderr
    out, err = _parsed(res.stdout), _parsed(res.stderr)
    assert {m["node"] for m in out} == {"n1", "n2"}
    for tid, (node, host) in tasks.items():
        mine = [m for m in out if m["id"] == tid[:12]]
        assert mine and all(m["node"] == node for m in mine), (tid, res.stdout)
        assert f"hello from {host}" in [m["text"] for m in mine]            # first line kept, on stdout
        assert all(m["text"].endswith(host) for m in mine)                   # every line from its own task
        assert [m["text"] for m in err if m["id"] == tid[:12]] == [f"oops from {host}"]  # stderr stays stderr
    # without -f the lines of the two nodes come merged in time order
    stamped = _logs(lab, "-t", "--no-task-ids")
    assert stamped.returncode == 0, stamped.stderr
    times = [t if "." in t else t[:-1] + ".000000000Z" for t in (line.split(" ", 1)[0]
                                                               for line in stamped.stdout.splitlines())]
    assert times == sorted(times) and len(times) >= 6
    assert all(re.match(r"^\S+Z logsvc\.\d@n\d    \| ", line) for line in stamped.stdout.splitlines())


@pytest.mark.integration
def test_tail_and_raw(lab: Lab) -> None:
    tasks = _containers(lab)
    res = _logs(lab, "--tail", "1")
    assert res.returncode == 0, res.stderr
    out = _parsed(res.stdout)
    assert sorted(m["id"] for m in out) == sorted(t[:12] for t in tasks)  # one line per task
    assert all(m["text"].startswith("tick ") for m in out) and not res.stderr
    raw = _logs(lab, "--raw", "-n", "2")
    assert raw.returncode == 0, raw.stderr
    lines = raw.stdout.splitlines()
    assert len(lines) == 4 and all(re.match(r"^tick \d+ [0-9a-f]{12}$", line) for line in lines), raw.stdout


@pytest.mark.integration
def test_logs_of_one_task(lab: Lab) -> None:
    tid, (node, host) = next((t, v) for t, v in _containers(lab).items() if v[0] == "n2")
    n1 = lab.engines[0]
    assert n1 is not None
    res = n1.ctl("service", "logs", tid[:10])
    assert res.returncode == 0, res.stderr
    out = _parsed(res.stdout)
    assert {(m["id"], m["node"]) for m in out} == {(tid[:12], "n2")}
    assert out[0]["text"] == f"hello from {host}"
    missing = n1.ctl("service", "logs", "nosuchthing")
    assert missing.returncode == 1 and "no such task or service: nosuchthing" in missing.stderr


class _Reader:
    """The lines a running palletctl writes, as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stdout: Iterator[str]) -> None:
        for line in stdout:
            self.lines.put(line)

    def until(self, what: str, done: Callable[[list[str]], bool], timeout: float = 30) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.append(self.lines.get(timeout=0.5).rstrip("\n"))
            except queue.Empty:
                continue
            if done(seen):
                return seen
        raise AssertionError(f"timed out waiting for {what}; got:\n" + "\n".join(seen))


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "terminate"])
def test_follow_streams_new_lines_until_stopped(lab: Lab, sig: int) -> None:
    n1 = lab.engines[0]
    assert n1 is not None
    before = {m["text"] for m in _parsed(_logs(lab).stdout)}
    proc = n1.ctl_popen("service", "logs", "-f", "--tail", "0", SERVICE)
    try:
        reader = _Reader(proc)
        seen = reader.until("new ticks from both nodes", lambda s: {
            m["node"] for line in s if (m := LINE.match(line)) and m["text"] not in before} == {"n1", "n2"})
        assert all(LINE.match(line) for line in seen), seen
        assert not any("hello from" in line for line in seen)  # --tail 0: only what came after
        if sig == signal.SIGINT:
            # a task started while following shows up, from its first line
            n1.ctl("service", "scale", "-d", f"{SERVICE}=3", check=True)
            lab.wait("a third task running", lambda: len(_containers(lab)) == 3, timeout=60)
            new = {host for tid, (_, host) in _containers(lab).items() if f"hello from {host}" not in before}
            assert len(new) == 1
            reader.until("the new task's first line", lambda s: any(line.endswith(f"| hello from {h}")
                                                                    for line in s for h in new))
        proc.send_signal(sig)
        code = proc.wait(15)
        assert code == (130 if sig == signal.SIGINT else -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if sig == signal.SIGINT:
            n1.ctl("service", "scale", "-d", f"{SERVICE}=2")
            lab.wait("back to two tasks", lambda: len(_containers(lab)) == 2, timeout=60)


@pytest.mark.integration
def test_a_node_that_is_down_is_one_line_not_a_failure(lab: Lab) -> None:
    """Last: it kills n2's palletd."""
    on_n1 = {host for _, (node, host) in _containers(lab).items() if node == "n1"}
    assert on_n1
    lab.kill_node(1)
    # down (its lease gone) or not yet (its palletd does not answer): an error line either way
    for expect in ("error from n2: ", "error from n2: node is down"):
        if expect.endswith("down"):
            lab.wait("n2 down", lambda: not next(n for n in lab.store.nodes() if n.spec.name == "n2").alive)
        res = _logs(lab)
        assert res.returncode == 0, res.stderr
        out = _parsed(res.stdout)
        assert {f"hello from {h}" for h in on_n1} <= {m["text"] for m in out}
        errors = [line for line in res.stderr.splitlines() if line.startswith("error from")]
        assert len(errors) == 1 and errors[0].startswith(expect), res.stderr
