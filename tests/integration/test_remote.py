"""One palletctl, several daemons: -H, contexts, and a TCP endpoint with mutual TLS on loopback.

A second palletd (beside the session's `engine`) listens on its own unix socket and on
tcp://127.0.0.1:PORT with --tlsverify; certificates come from `palletctl tls init`, plus an
expired client certificate and one from another CA, which must be refused.
"""

from __future__ import annotations

import datetime as dt
import grp
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests import _host
from tests._engine import Engine, make_engine

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ctl(*args: str, env: dict[str, str] | None = None, input: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """palletctl with no -H of its own: the endpoint comes from args, contexts and env."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PALLET_")}
    return subprocess.run([sys.executable, "-m", "pallet.client.cli", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, input=input, timeout=timeout)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from pallet.client import _tls

    base = tmp_path_factory.mktemp("tls")
    good, other = str(base / "good"), str(base / "other")
    for d in (good, other):
        res = ctl("tls", "init", "--out", d, "--hostname", "localhost", "--ip", "127.0.0.1")
        assert res.returncode == 0, res.stderr
    # an expired client certificate from the right CA
    ca, ca_key = _tls._load_ca(good)
    key = _tls.new_key()
    now = dt.datetime.now(dt.UTC)
    cert = _tls.make_cert("old", key, ca_cert=ca, ca_key=ca_key, client=True,
                          not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    expired = str(base / "expired")
    os.makedirs(expired)
    for name, data in (("cert.pem", _tls.cert_pem(cert)), ("key.pem", _tls.key_pem(key))):
        with open(os.path.join(expired, name), "wb") as f:
            f.write(data)
    return {"good": good, "other": other, "expired": expired}


@pytest.fixture(scope="module")
def remote(busybox_tar: str, certs: dict[str, str]) -> Iterator[tuple[Engine, str]]:
    """A palletd on a unix socket and tcp://127.0.0.1:PORT with --tlsverify."""
    eng = make_engine()
    addr = f"tcp://127.0.0.1:{_free_port()}"
    g = certs["good"]
    eng.daemon_args = ["-H", addr, "--docker-host", f"tcp://127.0.0.1:{_free_port()}", "--tlsverify",
                       "--tlscacert", f"{g}/ca.pem", "--tlscert", f"{g}/server-cert.pem",
                       "--tlskey", f"{g}/server-key.pem", "--group", "adm"]
    try:
        eng.start()
        eng.ctl("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox:latest", check=True)
        yield eng, addr
    finally:
        eng.stop()
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


def _tls_args(d: str, ca_dir: str | None = None) -> list[str]:
    return ["--tlsverify", "--tlscacert", f"{ca_dir or d}/ca.pem", "--tlscert", f"{d}/cert.pem",
            "--tlskey", f"{d}/key.pem"]


def test_unix_socket_is_0660_and_belongs_to_the_group(remote: tuple[Engine, str]) -> None:
    eng, _ = remote
    st = os.stat(eng.host.removeprefix("unix://"))
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == grp.getgrnam("adm").gr_gid


def test_commands_reach_the_daemon_over_mutual_tls(remote: tuple[Engine, str], certs: dict[str, str],
                                                    engine: Engine) -> None:
    eng, addr = remote
    tls = _tls_args(certs["good"])
    name = f"remote-{os.getpid()}"
    try:
        res = ctl("-H", addr, *tls, "create", "--name", name, "busybox", "true")
        assert res.returncode == 0, res.stderr
        over_tcp = ctl("-H", addr, *tls, "ps", "-a", "--format", "{{.Names}}")
        over_unix = ctl("-H", eng.host, "ps", "-a", "--format", "{{.Names}}")
        other = ctl("-H", engine.host, "ps", "-a", "--format", "{{.Names}}")
        assert name in over_tcp.stdout.split() and over_tcp.stdout == over_unix.stdout
        assert name not in other.stdout.split()
        # the same through the environment, Docker-style
        env = {"PALLET_HOST": addr, "PALLET_TLS_VERIFY": "1", "PALLET_CERT_PATH": certs["good"]}
        assert name in ctl("ps", "-a", "--format", "{{.Names}}", env=env).stdout.split()
    finally:
        eng.ctl("rm", "-f", name)


@pytest.mark.parametrize("case", ["no-cert", "expired", "other-ca-client", "other-ca-server", "plain"])
def test_bad_credentials_are_refused(remote: tuple[Engine, str], certs: dict[str, str], case: str) -> None:
    _, addr = remote
    good, other = certs["good"], certs["other"]
    args = {
        "no-cert": ["--tlsverify", "--tlscacert", f"{good}/ca.pem"],
        "expired": _tls_args(certs["expired"], ca_dir=good),
        "other-ca-client": _tls_args(other, ca_dir=good),  # our CA trusts the server; the server rejects us
        "other-ca-server": _tls_args(good, ca_dir=other),  # the server's certificate is not from our CA
        "plain": [],
    }[case]
    res = ctl("-H", addr, *args, "ps", timeout=30)
    assert res.returncode != 0
    err = res.stderr.strip().splitlines()
    assert err and err[-1].startswith(f"Cannot connect to the Pallet daemon at {addr}")
    assert "Traceback" not in res.stderr
    assert "TLS" in err[-1]


def test_palletd_refuses_plain_tcp_off_loopback(tmp_path: object) -> None:
    eng = make_engine()
    try:
        res = subprocess.run(
            [sys.executable, "-m", "pallet.engine", "--data-root", eng.data_root, "--exec-root", eng.exec_root,
             "-H", f"unix://{eng.tmp}/p.sock", "-H", "tcp://0.0.0.0:2376"], capture_output=True, text=True,
            timeout=30)
        assert res.returncode == 1
        assert "refusing to listen on tcp://0.0.0.0:2376 without TLS" in res.stderr
        assert not os.path.exists(f"{eng.tmp}/p.sock") and not os.path.exists(eng.data_root)
        res = subprocess.run(
            [sys.executable, "-m", "pallet.engine", "--data-root", eng.data_root, "--exec-root", eng.exec_root,
             "-H", "tcp://127.0.0.1:1", "--tlsverify", "--tlscacert", f"{eng.tmp}/nope.pem"],
            capture_output=True, text=True, timeout=30)
        assert res.returncode == 1 and "no such file" in res.stderr
    finally:
        _host.teardown_roots(eng.tmp, os.path.join(eng.exec_root, "runc"), eng.cgroup_parent)


def test_contexts_switch_between_daemons(remote: tuple[Engine, str], certs: dict[str, str], engine: Engine,
                                         tmp_path: object) -> None:
    eng, addr = remote
    env = {"PALLET_CONFIG": str(tmp_path)}
    name = f"ctx-{os.getpid()}"
    try:
        assert eng.ctl("create", "--name", name, "busybox", "true").returncode == 0
        g = certs["good"]
        res = ctl("context", "create", "tcpbox", "--description", "over TLS", "--host", addr, "--tlsverify",
                  "--tlscacert", f"{g}/ca.pem", "--tlscert", f"{g}/cert.pem", "--tlskey", f"{g}/key.pem", env=env)
        assert res.returncode == 0, res.stderr
        res = ctl("context", "create", "local", "--docker", f"host={engine.host}", env=env)
        assert res.returncode == 0, res.stderr
        assert ctl("context", "create", "local", "--host", engine.host, env=env).returncode != 0  # exists
        # copies of the TLS files live in the store: the originals may go away
        meta = json.loads(ctl("context", "inspect", "tcpbox", env=env).stdout)[0]
        assert meta["Endpoints"]["pallet"]["Host"] == addr
        assert meta["TLSMaterial"]["pallet"] == ["ca.pem", "cert.pem", "key.pem"]
        assert stat.S_IMODE(os.stat(os.path.join(meta["Storage"]["TLSPath"], "key.pem")).st_mode) == 0o600

        assert ctl("context", "use", "tcpbox", env=env).returncode == 0
        assert ctl("context", "show", env=env).stdout.strip() == "tcpbox"
        assert name in ctl("ps", "-a", "--format", "{{.Names}}", env=env).stdout.split()
        assert name not in ctl("--context", "local", "ps", "-a", "--format", "{{.Names}}", env=env).stdout.split()
        # -H wins over the current context; PALLET_HOST too; -H with --context is an error
        assert name not in ctl("-H", engine.host, "ps", "-a", "--format", "{{.Names}}", env=env).stdout.split()
        assert name not in ctl("ps", "-a", "--format", "{{.Names}}",
                               env={**env, "PALLET_HOST": engine.host}).stdout.split()
        res = ctl("-H", engine.host, "--context", "local", "ps", env=env)
        assert res.returncode != 0 and "either specify --host or --context" in res.stderr
        res = ctl("--context", "nope", "ps", env=env)
        assert res.returncode != 0 and "context 'nope' does not exist" in res.stderr

        ls = ctl("context", "ls", env=env).stdout.splitlines()
        assert ls[0].split()[:2] == ["NAME", "DESCRIPTION"]
        assert any(line.startswith("tcpbox *") and addr in line for line in ls)
        assert ctl("context", "ls", "-q", env=env).stdout.split() == ["default", "local", "tcpbox"]
        assert ctl("context", "ls", "--format", "{{.Name}}={{.Current}}", env=env).stdout.split() == [
            "default=false", "local=false", "tcpbox=true"]

        res = ctl("context", "rm", "tcpbox", env=env)
        assert res.returncode != 0 and "in use" in res.stderr
        assert ctl("context", "rm", "-f", "tcpbox", env=env).returncode == 0
        assert ctl("context", "show", env=env).stdout.strip() == "default"
        assert ctl("context", "rm", "local", env=env).returncode == 0
        assert ctl("context", "ls", "-q", env=env).stdout.split() == ["default"]
        assert not os.listdir(os.path.join(str(tmp_path), "contexts", "meta"))
    finally:
        eng.ctl("rm", "-f", name)


def test_streaming_commands_work_over_tcp(remote: tuple[Engine, str], certs: dict[str, str],
                                          tmp_path: object) -> None:
    """logs -f, exec, attach-style stdin, cp both ways, build (context upload), save | load."""
    _, addr = remote
    tls = ["-H", addr, *_tls_args(certs["good"])]
    tmp = str(tmp_path)
    name = f"stream-{os.getpid()}"
    try:
        res = ctl(*tls, "run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input="hello over tls\n")
        assert res.returncode == 0 and res.stdout == "HELLO OVER TLS\n", res.stderr
        res = ctl(*tls, "run", "-d", "--name", name, "busybox", "sh", "-c",
                  "for i in 1 2 3; do echo line$i; sleep 0.2; done; sleep 30")
        assert res.returncode == 0, res.stderr
        follow = subprocess.Popen([sys.executable, "-m", "pallet.client.cli", *tls, "logs", "-f", name],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert follow.stdout is not None
            got = [follow.stdout.readline().strip() for _ in range(3)]
            assert got == ["line1", "line2", "line3"]
        finally:
            follow.terminate()
            follow.wait(10)
        res = ctl(*tls, "exec", name, "sh", "-c", "echo $((6*7)) > /tmp/answer; cat /tmp/answer")
        assert res.returncode == 0 and res.stdout == "42\n"
        with open(os.path.join(tmp, "up.txt"), "w") as f:
            f.write("uploaded\n")
        assert ctl(*tls, "cp", os.path.join(tmp, "up.txt"), f"{name}:/tmp/up.txt").returncode == 0
        assert ctl(*tls, "cp", f"{name}:/tmp/answer", os.path.join(tmp, "answer")).returncode == 0
        with open(os.path.join(tmp, "answer")) as f:
            assert f.read() == "42\n"
        assert ctl(*tls, "exec", name, "cat", "/tmp/up.txt").stdout == "uploaded\n"

        ctx = os.path.join(tmp, "ctx")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n")
        with open(os.path.join(ctx, "msg"), "w") as f:
            f.write("built remotely\n")
        res = ctl(*tls, "build", "-q", "-t", "remote-built:1", ctx, timeout=120)
        assert res.returncode == 0, res.stderr
        assert ctl(*tls, "run", "--rm", "remote-built:1").stdout == "built remotely\n"
        archive = os.path.join(tmp, "img.tar")
        assert ctl(*tls, "save", "-o", archive, "remote-built:1").returncode == 0
        assert ctl(*tls, "rmi", "remote-built:1").returncode == 0
        res = ctl(*tls, "load", "-i", archive)
        assert res.returncode == 0 and "remote-built:1" in res.stdout
        start = time.monotonic()
        res = ctl(*tls, "stop", "-t", "1", name)
        assert res.returncode == 0 and time.monotonic() - start < 20
    finally:
        ctl(*tls, "rm", "-f", name)
        ctl(*tls, "rmi", "-f", "remote-built:1")


def test_docker_cli_over_mutual_tls(remote: tuple[Engine, str], certs: dict[str, str], tmp_path: object) -> None:
    """The Docker API endpoint on TCP follows the same TLS rules: Docker's own CLI flags work."""
    eng, _ = remote
    docker = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          ".venv", "docker-cli", "docker")
    if not os.access(docker, os.X_OK):
        pytest.skip("no docker CLI (tools/docker-cli.sh)")
    addr = eng.daemon_args[eng.daemon_args.index("--docker-host") + 1]
    g = certs["good"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path)}

    def docker_cmd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([docker, "-H", addr, *args], capture_output=True, text=True, env=env, timeout=60)

    res = docker_cmd("--tlsverify", "--tlscacert", f"{g}/ca.pem", "--tlscert", f"{g}/cert.pem",
                     "--tlskey", f"{g}/key.pem", "version", "--format", "{{.Server.Platform.Name}}")
    assert res.returncode == 0 and res.stdout.strip() == "Pallet Engine", res.stderr
    res = docker_cmd("--tlsverify", "--tlscacert", f"{g}/ca.pem", "--tlscert", f"{certs['other']}/cert.pem",
                     "--tlskey", f"{certs['other']}/key.pem", "version")
    assert res.returncode != 0 and "Pallet Engine" not in res.stdout
    res = docker_cmd("version")
    assert res.returncode != 0 and "Pallet Engine" not in res.stdout


def test_version_shows_every_service(remote: tuple[Engine, str], certs: dict[str, str]) -> None:
    _, addr = remote
    res = ctl("-H", addr, *_tls_args(certs["good"]), "version", "--format", "{{json .Server.Components}}")
    assert res.returncode == 0, res.stderr
    comps = {c["Name"]: c for c in json.loads(res.stdout)}
    assert set(comps) == {"pallet-imagesvc", "pallet-netsvc"}
    assert all(c["Details"]["Status"] == "SERVING" and c["Version"] for c in comps.values())
    plain = ctl("-H", addr, *_tls_args(certs["good"]), "version").stdout
    assert " pallet-netsvc:" in plain and "SERVING" in plain
