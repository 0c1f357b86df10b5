"""Container streams over the Docker API: logs, attach, exec, stats and archives (docker CLI, docker-py)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pathlib
import pty
import re
import select
import socket
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.dockerapi.conftest import DOCKER, DockerAPIEngine

pytestmark = pytest.mark.integration

TICKER = "i=0; while true; do echo out$i; echo err$i >&2; i=$((i+1)); sleep 0.2; done"


def _name() -> str:
    return "s-" + uuid.uuid4().hex[:10]


@contextlib.contextmanager
def _container(dapi: DockerAPIEngine, *args: str) -> Iterator[str]:
    """`docker run -d [args]` under a fresh name, removed (killed) afterwards."""
    name = _name()
    try:
        dapi.docker("run", "-d", "--name", name, *args, check=True)
        yield name
    finally:
        if dapi.docker("rm", "-f", name).returncode != 0:
            dapi.engine.ctl("rm", "-f", name)


def _wait_for(fn: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _raw(dapi: DockerAPIEngine, request: bytes) -> tuple[str, bytes]:
    """One request on its own connection: (head, body as sent, chunked or not)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(dapi.docker_host.removeprefix("unix://"))
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode(), body


def _pty_session(args: list[str], dapi: DockerAPIEngine, script: list[tuple[float, bytes]],
                 timeout: float = 30) -> tuple[bytes, int]:
    """Run the docker CLI on a pty, typing each (delay, bytes); (all its output, exit status)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": dapi.config_dir, "DOCKER_HOST": dapi.docker_host,
           "DOCKER_CONFIG": dapi.config_dir, "TERM": "xterm"}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(DOCKER, [DOCKER, *args], env)
    out = b""

    def pump(seconds: float) -> bool:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return False
                if not data:
                    return False
                out += data
        return True

    try:
        for delay, data in script:
            pump(delay)
            os.write(fd, data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pump(0.2)
                return out, os.waitstatus_to_exitcode(status)
            pump(0.2)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"docker {' '.join(args)} did not finish: {out!r}")
    finally:
        os.close(fd)


# --- docker CLI ---------------------------------------------------------------------------------

def test_run_prints_output_and_exit_code(dapi: DockerAPIEngine) -> None:
    res = dapi.docker("run", "--rm", "busybox", "echo", "hi")
    assert (res.returncode, res.stdout) == (0, "hi\n"), res.stderr
    res = dapi.docker("run", "--rm", "busybox", "sh", "-c", "echo o; echo e >&2; exit 5")
    assert (res.returncode, res.stdout, res.stderr) == (5, "o\n", "e\n")


def test_run_with_stdin(dapi: DockerAPIEngine) -> None:
    res = dapi.docker("run", "-i", "--rm", "busybox", "cat", input="line one\nline two\n", timeout=30)
    assert (res.returncode, res.stdout) == (0, "line one\nline two\n"), res.stderr


def test_logs_streams_tail_and_timestamps(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "busybox", "sh", "-c", TICKER) as name:
        _wait_for(lambda: "out4" in dapi.docker("logs", name).stdout)
        res = dapi.docker("logs", name, check=True)
        assert res.stdout.startswith("out0\nout1\n") and "err" not in res.stdout
        assert res.stderr.startswith("err0\nerr1\n") and "out" not in res.stderr
        res = dapi.docker("logs", "--tail", "2", name, check=True)
        assert len(res.stdout.splitlines()) + len(res.stderr.splitlines()) == 2
        res = dapi.docker("logs", "-t", "--tail", "4", name, check=True)
        lines = res.stdout.splitlines() + res.stderr.splitlines()
        assert len(lines) == 4
        for line in lines:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (out|err)\d+", line), line
        res = dapi.docker("logs", "--since", "1h", "--until", "2000-01-01T00:00:00", name, check=True)
        assert res.stdout == res.stderr == ""
        res = dapi.docker("logs", "nope-" + name)
        assert res.returncode != 0 and "No such container" in res.stderr


def test_logs_follow_ends_when_the_container_exits(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo l$i; sleep 0.3; done") as name:
        start = time.monotonic()
        res = dapi.docker("logs", "-f", name, timeout=30)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "l1\nl2\nl3\nl4\nl5\n"
        assert time.monotonic() - start < 15


def test_logs_of_a_tty_container_are_raw(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "-t", "busybox", "sh", "-c", "echo tty-out; echo tty-err >&2; sleep 60") as name:
        _wait_for(lambda: "tty-err" in dapi.docker("logs", name).stdout)
        res = dapi.docker("logs", name, input=b"", check=True)  # bytes: no newline translation
        assert res.stdout == b"tty-out\r\ntty-err\r\n" and res.stderr == b""


def test_exec(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "busybox", "sleep", "60") as name:
        cid = dapi.docker("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
        res = dapi.docker("exec", name, "cat", "/etc/hostname", check=True)
        assert res.stdout == cid[:12] + "\n"
        res = dapi.docker("exec", name, "sh", "-c", "exit 3")
        assert res.returncode == 3
        res = dapi.docker("exec", name, "sh", "-c", "echo to-err >&2; echo to-out")
        assert (res.returncode, res.stdout, res.stderr) == (0, "to-out\n", "to-err\n")
        res = dapi.docker("exec", "-i", name, "sh", "-c", "tr a-z A-Z", input="hello\nworld\n", timeout=30)
        assert (res.returncode, res.stdout) == (0, "HELLO\nWORLD\n"), res.stderr
        res = dapi.docker("exec", "-e", "A=1", "-w", "/tmp", "-u", "nobody", name,
                          "sh", "-c", "echo $A $(pwd) $(id -u)", check=True)
        assert res.stdout == "1 /tmp 65534\n"
        res = dapi.docker("exec", name, "no-such-command")
        assert res.returncode in (126, 127) and "no-such-command" in res.stdout + res.stderr
        res = dapi.docker("exec", "-d", name, "sh", "-c", "echo detached > /tmp/d")
        assert res.returncode == 0 and res.stdout == ""
        _wait_for(lambda: dapi.docker("exec", name, "cat", "/tmp/d").stdout == "detached\n")


def test_exec_with_a_terminal(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "busybox", "sleep", "60") as name:
        out, status = _pty_session(["exec", "-it", name, "sh"], dapi,
                                   [(1.0, b"echo $((6*7)) $TERM; tty\r"), (1.0, b"exit 9\r")])
        assert status == 9, out
        assert b"42 xterm\r\n" in out and b"/dev/pts/" in out


def test_run_with_a_terminal(dapi: DockerAPIEngine) -> None:
    out, status = _pty_session(["run", "-it", "--rm", "busybox", "sh"], dapi,
                               [(1.5, b"echo $((6*7))\r"), (1.0, b"exit 4\r")])
    assert status == 4, out
    assert b"42\r\n" in out


def test_attach_prints_until_exit(dapi: DockerAPIEngine) -> None:
    script = "sleep 1; for i in 1 2 3 4; do echo a$i; echo b$i >&2; sleep 0.3; done; exit 7"
    with _container(dapi, "busybox", "sh", "-c", script) as name:
        res = dapi.docker("attach", name, timeout=30)
        assert res.returncode == 7, res.stderr
        assert "a4\n" in res.stdout and "b" not in res.stdout
        assert "b4\n" in res.stderr


def test_attach_and_detach_with_a_terminal(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "-it", "busybox", "sh") as name:
        out, _ = _pty_session(["attach", name], dapi, [(1.0, b"echo $((6*7))\r"), (1.0, b"\x10\x11")])
        assert b"42\r\n" in out and b"read escape sequence" in out
        state = dapi.docker("inspect", "--format", "{{.State.Running}}", name, check=True)
        assert state.stdout.strip() == "true"


def test_cp_both_ways(dapi: DockerAPIEngine, tmp_path: pathlib.Path) -> None:
    tmp = str(tmp_path)
    src = os.path.join(tmp, "src")
    os.makedirs(os.path.join(src, "sub"))
    with open(os.path.join(src, "top.txt"), "w") as f:
        f.write("top\n")
    with open(os.path.join(src, "sub", "f.txt"), "w") as f:
        f.write("nested\n")
    with _container(dapi, "busybox", "sleep", "60") as name:
        dapi.docker("cp", os.path.join(src, "top.txt"), f"{name}:/tmp/renamed.txt", check=True)
        dapi.docker("cp", src, f"{name}:/tmp/", check=True)
        res = dapi.docker("exec", name, "sh", "-c", "cat /tmp/renamed.txt /tmp/src/top.txt /tmp/src/sub/f.txt",
                          check=True)
        assert res.stdout == "top\ntop\nnested\n"
        dapi.docker("cp", f"{name}:/etc/hostname", os.path.join(tmp, "hostname"), check=True)
        with open(os.path.join(tmp, "hostname")) as f:
            assert f.read().strip() == dapi.docker("exec", name, "hostname", check=True).stdout.strip()
        dapi.docker("cp", f"{name}:/tmp/src", os.path.join(tmp, "back"), check=True)
        with open(os.path.join(tmp, "back", "sub", "f.txt")) as f:
            assert f.read() == "nested\n"
        res = dapi.docker("cp", f"{name}:/nope", os.path.join(tmp, "x"))
        assert res.returncode != 0 and "No such container:path" in res.stderr
        res = dapi.docker("cp", f"{name}:/tmp/renamed.txt", "-", input=b"")
        with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
            member = tar.extractfile("renamed.txt")
            assert member is not None and member.read() == b"top\n"


def test_stats_no_stream(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "busybox", "sleep", "60") as name:
        res = dapi.docker("stats", "--no-stream", name, timeout=30, check=True)
        header, row = res.stdout.splitlines()
        assert "CPU %" in header and "MEM USAGE / LIMIT" in header
        assert row.split()[1] == name
        assert re.search(r"\d+\.\d\d%", row)
        assert re.search(r"\d+(\.\d+)?[KMG]?i?B / \d+(\.\d+)?[KMGT]i?B", row), row


# --- docker-py ----------------------------------------------------------------------------------

def test_docker_py_logs_exec_and_stats(dapi: DockerAPIEngine) -> None:
    c = dapi.client()
    try:
        with _container(dapi, "busybox", "sh", "-c", TICKER) as name:
            ct = c.containers.get(name)
            _wait_for(lambda: b"out3" in ct.logs())
            assert ct.logs(stdout=True, stderr=False).startswith(b"out0\nout1\n")
            assert ct.logs(stdout=False, stderr=True).startswith(b"err0\nerr1\n")
            got = []
            for chunk in ct.logs(stream=True, follow=True, tail=0):
                got.append(chunk)
                if len(got) >= 3:
                    break
            assert all(re.fullmatch(rb"(out|err)\d+\n", x) for x in got), got
            res = ct.exec_run(["sh", "-c", "echo x; echo y >&2; exit 2"])
            assert res.exit_code == 2 and res.output in (b"x\ny\n", b"y\nx\n")
            res = ct.exec_run(["sh", "-c", "echo x; echo y >&2"], demux=True)
            assert res.exit_code == 0 and res.output == (b"x\n", b"y\n")
            stats = ct.stats(stream=False)
            assert stats["name"] == "/" + name and stats["id"] == ct.id
            assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
            assert stats["cpu_stats"]["system_cpu_usage"] >= stats["precpu_stats"]["system_cpu_usage"] > 0
            assert stats["memory_stats"]["usage"] > 0 and stats["memory_stats"]["limit"] > 0
            assert stats["pids_stats"]["current"] >= 1 and "eth0" in stats["networks"]
            gen = ct.stats(decode=True)
            first, second = next(gen), next(gen)
            gen.close()
            assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 0
            assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
    finally:
        c.close()


def test_docker_py_archives(dapi: DockerAPIEngine) -> None:
    c = dapi.client()
    try:
        with _container(dapi, "busybox", "sleep", "60") as name:
            ct = c.containers.get(name)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for path, data in (("d/a.txt", b"alpha\n"), ("b.txt", b"beta\n")):
                    info = tarfile.TarInfo(path)
                    info.size, info.mode, info.uid = len(data), 0o640, 1234
                    tar.addfile(info, io.BytesIO(data))
            assert ct.put_archive("/tmp", buf.getvalue()) is True
            assert ct.exec_run(["cat", "/tmp/d/a.txt", "/tmp/b.txt"]).output == b"alpha\nbeta\n"
            assert ct.exec_run(["stat", "-c", "%u %a", "/tmp/b.txt"]).output == b"0 640\n"
            bits, stat = ct.get_archive("/tmp/d")
            assert stat["name"] == "d" and stat["mode"] & (1 << 31)  # os.ModeDir
            with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
                member = tar.extractfile("d/a.txt")
                assert member is not None and member.read() == b"alpha\n"
            bits, stat = ct.get_archive("/tmp/b.txt")
            assert stat["name"] == "b.txt" and stat["size"] == 5 and stat["mode"] == 0o640
            import docker.errors

            with pytest.raises(docker.errors.NotFound) as err:
                ct.get_archive("/nope")
            assert f"Could not find the file /nope in container {ct.id}" in str(err.value)
            with pytest.raises(docker.errors.NotFound):
                ct.put_archive("/nope", buf.getvalue())
    finally:
        c.close()


# --- the wire -----------------------------------------------------------------------------------

def test_wire_shapes(dapi: DockerAPIEngine) -> None:
    with _container(dapi, "busybox", "sh", "-c", "echo hello; sleep 60") as name:
        _wait_for(lambda: dapi.docker("logs", name).stdout == "hello\n")
        head, body = _raw(dapi, f"GET /v1.41/containers/{name}/logs?stdout=1 HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n".encode())
        assert "Content-Type: application/vnd.docker.raw-stream" in head
        assert b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n" in body
        head, _ = _raw(dapi, f"GET /v1.43/containers/{name}/logs?stdout=1 HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n".encode())
        assert "Content-Type: application/vnd.docker.multiplexed-stream" in head
        head, body = _raw(dapi, f"GET /v1.43/containers/{name}/logs HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n".encode())
        assert head.startswith("HTTP/1.1 400") and b"at least one stream" in body

        head, body = _raw(dapi, f"HEAD /v1.43/containers/{name}/archive?path=/etc/hostname HTTP/1.1\r\n"
                          "Host: x\r\nConnection: close\r\n\r\n".encode())
        assert head.startswith("HTTP/1.1 200") and body == b""
        value = next(line.split(": ", 1)[1] for line in head.split("\r\n")
                     if line.lower().startswith("x-docker-container-path-stat:"))
        stat = json.loads(base64.b64decode(value))
        assert stat["name"] == "hostname" and stat["mode"] == 0o644 and stat["linkTarget"] == ""
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", stat["mtime"])
        head, body = _raw(dapi, f"GET /v1.43/containers/{name}/archive?path=/nope HTTP/1.1\r\n"
                          "Host: x\r\nConnection: close\r\n\r\n".encode())
        assert head.startswith("HTTP/1.1 404")
        assert json.loads(body)["message"] == f"Could not find the file /nope in container {name}"

        create = json.dumps({"Cmd": ["sh", "-c", "exit 6"], "AttachStdout": True, "User": "nobody"}).encode()
        head, body = _raw(dapi, f"POST /v1.43/containers/{name}/exec HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(create)}\r\n\r\n".encode() + create)
        assert head.startswith("HTTP/1.1 201")
        exec_id = json.loads(body)["Id"]
        head, body = _raw(dapi, f"GET /v1.43/exec/{exec_id}/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          .encode())
        info = json.loads(body)
        assert info["Running"] is False and info["ExitCode"] is None and info["Pid"] == 0
        start = b'{"Detach": false, "Tty": false}'
        head, body = _raw(dapi, f"POST /v1.43/exec/{exec_id}/start HTTP/1.1\r\nHost: x\r\n"
                          "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(start)}\r\n\r\n".encode() + start)
        assert head.startswith("HTTP/1.1 101") and body == b""
        head, body = _raw(dapi, f"GET /v1.43/exec/{exec_id}/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          .encode())
        info = json.loads(body)
        assert info["ExitCode"] == 6 and info["Running"] is False and info["Pid"] > 0
        assert info["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 6"],
                                         "privileged": False, "user": "nobody"}
        assert info["ContainerID"].startswith(dapi.docker("inspect", "--format", "{{.Id}}", name).stdout.strip())
        head, _ = _raw(dapi, b"GET /v1.43/exec/nope/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith("HTTP/1.1 404")


def test_stats_of_a_stopped_container_is_empty(dapi: DockerAPIEngine) -> None:
    name = _name()
    try:
        dapi.docker("create", "--name", name, "busybox", "true", check=True)
        head, body = _raw(dapi, f"GET /v1.43/containers/{name}/stats?stream=0 HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n".encode())
        assert head.startswith("HTTP/1.1 200")
        doc = json.loads(body)
        assert doc["name"] == "/" + name and doc["read"] == "0001-01-01T00:00:00Z"
    finally:
        dapi.docker("rm", "-f", name)


def test_docker_py_attach_and_exec_resize(dapi: DockerAPIEngine) -> None:
    import docker.errors

    c = dapi.client()
    try:
        with _container(dapi, "busybox", "sh", "-c", "echo first; sleep 1; echo second; sleep 0.5; exit 3") as name:
            ct = c.containers.get(name)
            got = b"".join(ct.attach(stdout=True, stderr=True, stream=True, logs=True))
            assert got == b"first\nsecond\n"
            assert ct.wait(timeout=10)["StatusCode"] == 3
            assert ct.attach(stdout=True, stderr=True, stream=False, logs=True) == b"first\nsecond\n"
        with _container(dapi, "busybox", "sleep", "60") as name:
            api = c.api
            # the size is read once the resize has landed (however slow the host), else after 5 s
            script = ('for i in $(seq 50); do s=$(stty size 2>/dev/null); [ "$s" = "33 111" ] && break; sleep 0.1; '
                      'done; echo $s')
            exec_id = api.exec_create(name, ["sh", "-c", script], tty=True)["Id"]
            sock = api.exec_start(exec_id, tty=True, socket=True)
            try:
                for attempt in range(20):  # as the docker CLI does: the exec may not be running yet
                    try:
                        api.exec_resize(exec_id, height=33, width=111)
                        break
                    except docker.errors.NotFound:
                        time.sleep(0.05 * (attempt + 1))
                out = b""
                while data := sock.read(4096):
                    out += data
            finally:
                sock.close()
            assert out == b"33 111\r\n"
            assert api.exec_inspect(exec_id)["ExitCode"] == 0
    finally:
        c.close()
