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
