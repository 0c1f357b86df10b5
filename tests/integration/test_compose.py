"""palletctl compose end to end: a two-service app with a healthy dependency, names, ports, volumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

from tests._engine import Engine

APP = """\
name: {name}
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-$$GREETING > /www/index.html && exec httpd -f -p 80 -h /www"]
    environment:
      GREETING: ${{GREETING:-compose}}
    ports: ["127.0.0.1::80"]
    volumes: ["data:/data"]
    stop_grace_period: 1s  # busybox as PID 1 ignores SIGTERM
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1/"]
      interval: 1s
      retries: 30
  client:
    image: busybox
    depends_on:
      web:
        condition: service_healthy
    command: ["sh", "-c", "wget -q -O- http://web/ && echo done > /data/client && sleep 300"]
    stop_grace_period: 1s
    volumes:
      - type: volume
        source: data
        target: /data
  job:
    image: busybox
    profiles: ["tools"]
    command: ["echo", "only-with-the-profile"]
volumes:
  data: {{}}
"""


def _compose(engine: Engine, project_dir: str, *args: str, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "pallet.client.cli", "-H", engine.host, "compose", *args],
                         cwd=project_dir, capture_output=True, text=True, timeout=180,
                         env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        raise AssertionError(f"compose {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def test_compose_up_ps_logs_port_exec_and_down(engine: Engine, tmp_path: object) -> None:
    name = f"app{uuid.uuid4().hex[:6]}"
    d = str(tmp_path)
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write(APP.format(name=name))
    try:
        assert _compose(engine, d, "config", "--services").stdout.split() == ["client", "web"]
        _compose(engine, d, "up", "-d", env={"GREETING": "pallet"})
        ps = _compose(engine, d, "ps").stdout
        assert f"{name}-web-1" in ps and f"{name}-client-1" in ps and "healthy" in ps
        deadline = time.monotonic() + 20
        while "hello-pallet" not in _compose(engine, d, "logs", "client").stdout:
            assert time.monotonic() < deadline, _compose(engine, d, "logs").stdout
            time.sleep(0.3)
        port = _compose(engine, d, "port", "web", "80").stdout.strip().rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.read() == b"hello-pallet\n"
        out = _compose(engine, d, "exec", "-T", "web", "cat", "/data/client").stdout
        assert out == "done\n"
        # A second up changes nothing; a changed service is recreated, the other kept.
        before = {c["Name"]: c["ID"] for c in json.loads(_compose(engine, d, "ps", "--format", "json").stdout)}
        _compose(engine, d, "up", "-d", env={"GREETING": "pallet"})
        again = {c["Name"]: c["ID"] for c in json.loads(_compose(engine, d, "ps", "--format", "json").stdout)}
        assert again == before
        _compose(engine, d, "up", "-d", env={"GREETING": "changed"})
        changed = {c["Name"]: c["ID"] for c in json.loads(_compose(engine, d, "ps", "--format", "json").stdout)}
        assert changed[f"{name}-web-1"] != before[f"{name}-web-1"]
        assert changed[f"{name}-client-1"] == before[f"{name}-client-1"]
        res = _compose(engine, d, "run", "--rm", "-T", "--no-deps", "job")
        assert "only-with-the-profile" in res.stdout
    finally:
        _compose(engine, d, "down", "-v", check=False)
    assert name not in engine.ctl("ps", "-a").stdout
    assert f"{name}_default" not in engine.ctl("network", "ls").stdout
    assert f"{name}_data" not in engine.ctl("volume", "ls").stdout


def test_compose_file_errors_are_one_clear_line(engine: Engine, tmp_path: object) -> None:
    d = str(tmp_path)
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write("services:\n  web:\n    image: busybox\n    portz: [80]\n")
    res = _compose(engine, d, "up", "-d", check=False)
    assert res.returncode != 0 and "services.web.portz" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_scale_replicas_resolve_by_service_name(engine: Engine, tmp_path: object) -> None:
    name = f"scale{uuid.uuid4().hex[:6]}"
    d = str(tmp_path)
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write(f"name: {name}\nservices:\n  api:\n    image: busybox\n    command: [sleep, '300']\n"
                "    stop_grace_period: 1s\n"
                "  probe:\n    image: busybox\n    command: [sleep, '300']\n    stop_grace_period: 1s\n")
    try:
        _compose(engine, d, "up", "-d", "--scale", "api=3")
        names = sorted(c["Name"] for c in json.loads(_compose(engine, d, "ps", "--format", "json").stdout))
        assert names == [f"{name}-api-1", f"{name}-api-2", f"{name}-api-3", f"{name}-probe-1"]
        out = _compose(engine, d, "exec", "-T", "probe", "nslookup", "api", "127.0.0.11").stdout
        assert len([line for line in out.splitlines() if line.startswith("Address") and "#53" not in line
                    and ":53" not in line]) == 3, out
        _compose(engine, d, "up", "-d", "--scale", "api=1")
        names = sorted(c["Name"] for c in json.loads(_compose(engine, d, "ps", "--format", "json").stdout))
        assert names == [f"{name}-api-1", f"{name}-probe-1"]
    finally:
        _compose(engine, d, "down", check=False)


def test_invalid_files_create_nothing(engine: Engine, tmp_path: object) -> None:
    cases = {
        "yaml": "services:\n  web: [unclosed\n",
        "type": "services:\n  web:\n    image: busybox\n    ports: 80\n",
        "cycle": "services:\n  a:\n    image: busybox\n    depends_on: [b]\n"
                 "  b:\n    image: busybox\n    depends_on: [a]\n",
        "required": "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n",
    }
    before = engine.ctl("ps", "-aq", check=True).stdout
    nets = engine.ctl("network", "ls", "-q", check=True).stdout
    for case, text in cases.items():
        d = os.path.join(str(tmp_path), case)
        os.makedirs(d)
        with open(os.path.join(d, "compose.yaml"), "w") as f:
            f.write(text)
        res = _compose(engine, d, "up", "-d", check=False)
        assert res.returncode != 0, case
        assert len(res.stderr.strip().splitlines()) == 1, (case, res.stderr)
    assert "set IMAGE" in res.stderr
    assert engine.ctl("ps", "-aq", check=True).stdout == before
    assert engine.ctl("network", "ls", "-q", check=True).stdout == nets


def _write(d: str, name: str, text: str) -> None:
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def _state(engine: Engine, container: str) -> tuple[str, int]:
    out = engine.ctl("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", container, check=True).stdout.split()
    return out[0], int(out[1])


EXITING = """\
name: {name}
services:
  worker:
    image: busybox
    command: ["sh", "-c", "echo working; sleep 1; exit 3"]
  server:
    image: busybox
    command: ["sleep", "300"]
    stop_grace_period: 1s
"""


def test_abort_on_container_exit_and_exit_code_from(engine: Engine, tmp_path: object) -> None:
    name = f"abort{uuid.uuid4().hex[:6]}"
    d = str(tmp_path)
    _write(d, "compose.yaml", EXITING.format(name=name))
    try:
        started = time.monotonic()
        res = _compose(engine, d, "up", "--abort-on-container-exit", check=False)
        assert res.returncode == 3, (res.stdout, res.stderr)  # the first container to exit
        assert time.monotonic() - started < 60
        assert "working" in res.stdout and f"{name}-worker-1 exited with code 3" in res.stdout
        assert _state(engine, f"{name}-server-1")[0] == "exited"  # the rest was stopped
        # --exit-code-from: that service's status, here the server's, stopped with SIGKILL after 1s.
        res = _compose(engine, d, "up", "--exit-code-from", "server", check=False)
        assert res.returncode == 137, (res.stdout, res.stderr)
        res = _compose(engine, d, "up", "--exit-code-from", "worker", check=False)
        assert res.returncode == 3, (res.stdout, res.stderr)
        assert _state(engine, f"{name}-server-1")[0] == "exited"
    finally:
        _compose(engine, d, "down", check=False)


def test_up_of_a_service_whose_profile_is_off(engine: Engine, tmp_path: object) -> None:
    name = f"prof{uuid.uuid4().hex[:6]}"
    d = str(tmp_path)
    _write(d, "compose.yaml", f"""\
name: {name}
services:
  web:
    image: busybox
    command: ["sleep", "300"]
    stop_grace_period: 1s
  job:
    image: busybox
    profiles: ["tools"]
    depends_on: [web]
    command: ["echo", "ran-with-its-profile"]
""")
    try:
        res = _compose(engine, d, "up", "job")  # named: its profile is enabled, web started as its dependency
        assert "ran-with-its-profile" in res.stdout
        assert _state(engine, f"{name}-job-1") == ("exited", 0)
        assert _state(engine, f"{name}-web-1")[0] == "running"  # not followed, so left running
        res = _compose(engine, d, "up", "-d")
        assert "orphan" not in res.stderr  # job's container belongs to the project
        assert _state(engine, f"{name}-job-1") == ("exited", 0)
    finally:
        _compose(engine, d, "down", check=False)
    assert name not in engine.ctl("ps", "-a").stdout


SECRETS = """\
name: {name}
services:
  app:
    image: busybox
    command: ["sleep", "300"]
    stop_grace_period: 1s
    secrets:
      - from_file
      - source: from_env
        target: token
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - source: inline
        target: /etc/app/inline.conf
      - from_dotenv
secrets:
  from_file:
    file: ./secret.txt
  from_env:
    environment: API_TOKEN
configs:
  inline:
    content: inline-value
  from_dotenv:
    environment: CFG_VALUE
"""


def test_secrets_and_configs_from_file_environment_and_content(engine: Engine, tmp_path: object) -> None:
    name = f"sec{uuid.uuid4().hex[:6]}"
    d = str(tmp_path)
    _write(d, "compose.yaml", SECRETS.format(name=name))
    _write(d, "secret.txt", "file-value\n")
    _write(d, ".env", "CFG_VALUE=dotenv-value\n")
    script = ("for f in /run/secrets/from_file /run/secrets/token /etc/app/inline.conf /from_dotenv; do "
              "echo \"$f $(stat -c '%a %u %g' $f) $(cat $f)\"; done")
    try:
        _compose(engine, d, "up", "-d", env={"API_TOKEN": "s3cret-1"})
        out = _compose(engine, d, "exec", "-T", "app", "sh", "-c", script).stdout.splitlines()
        assert out[0].split()[-1] == "file-value"  # the bind mount (the file's own mode and owner)
        assert out[1:] == ["/run/secrets/token 400 1000 1001 s3cret-1",
                           "/etc/app/inline.conf 444 0 0 inline-value",
                           "/from_dotenv 444 0 0 dotenv-value"]
        inspect = engine.ctl("inspect", f"{name}-app-1", check=True).stdout
        assert "s3cret-1" not in inspect and "dotenv-value" not in inspect
        # A new value recreates the container (the hash covers a digest of it).
        before = engine.ctl("inspect", "-f", "{{.Id}}", f"{name}-app-1", check=True).stdout
        _compose(engine, d, "up", "-d", env={"API_TOKEN": "s3cret-2"})
        assert engine.ctl("inspect", "-f", "{{.Id}}", f"{name}-app-1", check=True).stdout != before
        out = _compose(engine, d, "exec", "-T", "app", "cat", "/run/secrets/token").stdout
        assert out == "s3cret-2"
    finally:
        _compose(engine, d, "down", check=False)


def test_pid_and_ipc_of_another_service(engine: Engine, tmp_path: object) -> None:
    name = f"pid{uuid.uuid4().hex[:6]}"
    d = str(tmp_path)
    _write(d, "compose.yaml", f"""\
name: {name}
services:
  side:
    image: busybox
    pid: service:main
    ipc: service:main
    command: ["sleep", "301"]
    stop_grace_period: 1s
  main:
    image: busybox
    command: ["sleep", "300"]
    environment:
      VERSION: ${{VERSION:-1}}
    stop_grace_period: 1s
""")
    try:
        _compose(engine, d, "up", "-d")
        ps = _compose(engine, d, "exec", "-T", "side", "ps", "-o", "pid,args").stdout
        assert "1 sleep 300" in " ".join(ps.split()), ps  # main's init is PID 1 in side's namespace
        ns = [_compose(engine, d, "exec", "-T", s, "readlink", "/proc/self/ns/ipc").stdout for s in ("main", "side")]
        assert ns[0] == ns[1]
        # main recreated: side follows it into the new container's namespaces.
        _compose(engine, d, "up", "-d", env={"VERSION": "2"})
        ps = _compose(engine, d, "exec", "-T", "side", "ps", "-o", "pid,args").stdout
        assert "1 sleep 300" in " ".join(ps.split()), ps
    finally:
        _compose(engine, d, "down", check=False)


ERROR_BASE = """\
name: {name}
services:
  web:
    image: busybox
    volumes: [data:/data]
{extra}volumes:
  data: {{}}
"""


def test_errors_are_one_line_and_create_nothing(engine: Engine, tmp_path: object) -> None:
    cases: dict[str, tuple[str, list[str], str]] = {  # what the file adds, `up` arguments, the message
        "required": ("    environment:\n      X: ${NEEDED_X:?need X}\n", ["-d"], "need X"),
        "unknown": ("", ["-d", "nosuch"], "no such service: nosuch"),
        "depends": ("    depends_on: [missing]\n", ["-d"], 'depends on undefined service "missing"'),
        "no_build_context": ("  built:\n    build: ./no-such-dir\n", ["-d"], "no-such-dir"),
        "no_image_nor_build": ("  empty:\n    build:\n", ["-d"], "neither an image nor a build context"),
        "secret_variable": ("    secrets: [token]\nsecrets:\n  token:\n    environment: NO_SUCH_TOKEN_VAR\n",
                            ["-d"], '"NO_SUCH_TOKEN_VAR" required by secret "token" is not set'),
        "exit_code_from": ("", ["--exit-code-from", "nosuch"], "no such service: nosuch"),
        "abort_detach": ("", ["-d", "--abort-on-container-exit"], "incompatible"),
    }
    listings = (("ps", "-aq"), ("network", "ls", "-q"), ("volume", "ls", "-q"))
    before = [engine.ctl(*cmd, check=True).stdout for cmd in listings]
    for case, (extra, args, message) in cases.items():
        d = os.path.join(str(tmp_path), case)
        os.makedirs(d)
        _write(d, "compose.yaml", ERROR_BASE.format(name=f"err{case.replace('_', '')}", extra=extra))
        res = _compose(engine, d, "up", *args, check=False)
        assert res.returncode != 0, case
        assert message in res.stderr, (case, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, (case, res.stderr)
    assert [engine.ctl(*cmd, check=True).stdout for cmd in listings] == before
