"""From the model to engine calls, without an engine: pid/ipc, injected secrets and configs,
the config hash, and the services named on the command line."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest
from pallet.client.compose import _convert as cv
from pallet.client.compose import _graph
from pallet.client.compose.model import ComposeFileError
from pallet.engine.v1 import engine_pb2 as pb
from pallet.images.v1 import images_pb2 as ipb
from pallet.net.v1 import net_pb2 as npb

from tests.unit.compose._model_util import load, write

PROJECT = """
name: demo
services:
  db:
    image: busybox
  app:
    image: busybox
    pid: service:db
    ipc: service:db
    secrets:
      - from_file
      - source: token
        target: api
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - inline
      - source: from_env
        target: /etc/app.conf
secrets:
  from_file: {file: ./secret.txt}
  token: {environment: TOKEN}
configs:
  inline: {content: "inline value"}
  from_env: {environment: APP_CONF}
"""


def _project(tmp_path: Any, environ: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    write(tmp_path, "secret.txt", "from a file\n")
    project = load(tmp_path, PROJECT, environ=environ or {"TOKEN": "s3cret", "APP_CONF": "k=v"})
    data = project.to_dict()
    data["_working_dir"] = project.working_dir
    return data, project.environment


def _config(data: dict[str, Any], service: str, resolve: Any = None) -> Any:
    return cv.container_config(pb, npb, ipb, data, "demo", service, 1, {},
                               resolve or (lambda name, what: f"id-of-{name}"))


def test_pid_and_ipc_service_become_container_modes(tmp_path: Any) -> None:
    data, _env = _project(tmp_path)
    asked: list[tuple[str, str]] = []

    def resolve(name: str, what: str) -> str:
        asked.append((name, what))
        return f"id-of-{name}"

    hc = _config(data, "app", resolve).host_config
    assert (hc.pid_mode, hc.ipc_mode) == ("container:id-of-db", "container:id-of-db")
    assert asked == [("db", "PID namespace"), ("db", "IPC namespace")]
    assert list(data["services"]["app"]["depends_on"]) == ["db"]  # started after db
    data["services"]["db"].update(pid="host", ipc="shareable")
    hc = _config(data, "db").host_config
    assert (hc.pid_mode, hc.ipc_mode) == ("host", "shareable")


def test_file_backed_are_binds_the_others_injected(tmp_path: Any) -> None:
    data, env = _project(tmp_path)
    cfg = _config(data, "app")
    assert [(m.type, m.source, m.target, m.read_only) for m in cfg.mounts] == [
        ("bind", str(tmp_path / "secret.txt"), "/run/secrets/from_file", True)]
    files = cv.injected_files(data, data["services"]["app"], env)
    got = {f.target: (f.kind, f.name, f.content, f.uid, f.gid, oct(f.mode)) for f in files}
    assert got == {
        "/run/secrets/api": ("secret", "token", b"s3cret", 1000, 1001, "0o400"),
        "/inline": ("config", "inline", b"inline value", 0, 0, "0o444"),
        "/etc/app.conf": ("config", "from_env", b"k=v", 0, 0, "0o444"),
    }
    assert [f.owned for f in files] == [True, False, False]
    with tarfile.open(fileobj=io.BytesIO(cv.injected_tar(files))) as tar:
        members = {m.name: (m.mode, m.uid, m.gid, tar.extractfile(m).read())  # type: ignore[union-attr]
                   for m in tar.getmembers()}
    assert members == {"run/secrets/api": (0o400, 1000, 1001, b"s3cret"), "inline": (0o444, 0, 0, b"inline value"),
                       "etc/app.conf": (0o444, 0, 0, b"k=v")}


def test_a_missing_variable_is_named(tmp_path: Any) -> None:
    data, env = _project(tmp_path, {"APP_CONF": "x"})
    with pytest.raises(ValueError, match='environment variable "TOKEN" required by secret "token" is not set'):
        cv.injected_files(data, data["services"]["app"], env)
    assert cv.injected_files(data, data["services"]["db"], env) == []  # only what the service uses


def test_the_hash_follows_secret_values_without_showing_them(tmp_path: Any) -> None:
    data, env = _project(tmp_path)
    svc = data["services"]["app"]
    files = cv.injected_files(data, svc, env)
    first = cv.config_hash(svc, files)
    assert first == cv.config_hash(svc, cv.injected_files(data, svc, dict(env)))
    assert cv.config_hash(svc) != first
    other = cv.injected_files(data, svc, {**env, "TOKEN": "changed"})
    assert cv.config_hash(svc, other) != first
    cfg = _config(data, "app")
    shown = json.dumps(dict(cfg.labels)) + json.dumps(data) + str(cfg)
    assert "s3cret" not in shown and "k=v" not in shown
    # Services without injected files keep the hash they had before there were any.
    db = data["services"]["db"]
    assert cv.config_hash(db, []) == cv.config_hash(db)


def test_bad_uid_and_mode_are_clear(tmp_path: Any) -> None:
    data, env = _project(tmp_path)
    svc = json.loads(json.dumps(data["services"]["app"]))
    svc["secrets"][1]["uid"] = "www"
    with pytest.raises(ValueError, match='secret "token": uid must be a number'):
        cv.injected_files(data, svc, env)
    svc["secrets"][1].update(uid="1", mode="0999")
    with pytest.raises(ValueError, match="invalid mode"):
        cv.injected_files(data, svc, env)


def test_named_services_enable_their_profiles(tmp_path: Any) -> None:
    project = load(tmp_path, """
        services:
          web: {image: busybox}
          job: {image: busybox, profiles: [tools], depends_on: [helper]}
          helper: {image: busybox, profiles: [tools]}
          debug: {image: busybox, profiles: [debug]}
        """)
    assert sorted(project.services) == ["web"]
    wide = _graph.enable(project, ["job"])
    assert sorted(wide.services) == ["helper", "job", "web"]  # every enabled one, not just job's
    assert sorted(wide.disabled) == ["debug"]
    assert _graph.enable(project, []) is project
    with pytest.raises(ComposeFileError, match="no such service: nope"):
        _graph.enable(project, ["nope"])
