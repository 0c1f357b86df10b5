"""Schema errors: one clear message naming the file and the place."""

from __future__ import annotations

import pytest
from pallet.client.compose.model import ComposeFileError

from tests.unit.compose._model_util import load


def error(tmp_path, text: str) -> str:
    with pytest.raises(ComposeFileError) as info:
        load(tmp_path, text)
    return str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  web:\n    image: x\n    portz: ['80']\n", "services.web.portz: unknown key"),
    ("servics:\n  web:\n    image: x\n", "servics: unknown key"),
    ("services:\n  web:\n    image: x\n    build:\n      contxt: .\n", "services.web.build.contxt: unknown key"),
    ("services:\n  web:\n    image: x\n    healthcheck:\n      intervall: 1s\n",
     "services.web.healthcheck.intervall: unknown key"),
    ("services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits:\n          mem: 1g\n",
     "services.web.deploy.resources.limits.mem: unknown key"),
    ("services:\n  web:\n    image: x\n    ports:\n      - target: 80\n        publish: 8080\n",
     "services.web.ports[0].publish: unknown key"),
    ("services:\n  web:\n    image: x\nnetworks:\n  front:\n    drivr: bridge\n", "networks.front.drivr: unknown key"),
    ("services:\n  web:\n    image: x\nvolumes:\n  data:\n    external: {nam: x}\n",
     "volumes.data.external.nam: unknown key"),
])
def test_unknown_keys(tmp_path, text, message):
    got = error(tmp_path, text)
    assert got.startswith(f"validating {tmp_path / 'compose.yaml'}: ")
    assert got.endswith(message)


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  web:\n    image: x\n    ports: '80:80'\n", "services.web.ports: must be a list"),
    ("services:\n  web:\n    image: [x]\n", "services.web.image: must be a string"),
    ("services:\n  web:\n    image: x\n    command: {a: b}\n",
     "services.web.command: must be a string or a list of strings"),
    ("services:\n  web:\n    image: x\n    privileged: maybe\n", "services.web.privileged: must be a boolean"),
    ("services:\n  web:\n    image: x\n    scale: many\n", "services.web.scale: must be an integer"),
    ("services:\n  web:\n    image: x\n    environment: FOO=1\n",
     "services.web.environment: must be a mapping or a list"),
    ("services:\n  web:\n    image: x\n    healthcheck:\n      interval: soon\n",
     "services.web.healthcheck.interval: invalid duration 'soon'"),
    ("services:\n  web:\n    image: x\n    stop_grace_period: 10\n",
     "services.web.stop_grace_period: must be a duration string"),
    ("services:\n  web:\n    image: x\n    mem_limit: lots\n", "services.web.mem_limit: invalid size: 'lots'"),
    ("services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: started\n",
     "services.web.depends_on.db.condition: must be one of service_started, service_healthy, "
     "service_completed_successfully"),
    ("services:\n  web:\n    image: x\n    restart: sometimes\n",
     'services.web.restart: invalid restart policy "sometimes"'),
    ("services:\n  web:\n    image: x\n    ulimits:\n      nofile: {soft: 1}\n",
     'services.web.ulimits.nofile: missing required key "hard"'),
    ("services:\n  web:\n    image: x\n    volumes:\n      - type: bind\n        source: /a\n",
     'services.web.volumes[0]: missing required key "target"'),
    ("services:\n  web:\n    image: x\n    volumes:\n      - type: blob\n        target: /a\n",
     "services.web.volumes[0].type: must be one of bind, volume, tmpfs"),
    ("services:\n  web:\n    image: x\n    ports:\n      - published: 80\n",
     'services.web.ports[0]: missing required key "target"'),
    ("services:\n  'bad name':\n    image: x\n", "services.bad name: invalid service name"),
    ("services: [web]\n", "services: must be a mapping"),
    ("services:\n  web:\n    image: x\n    networks: front\n", "services.web.networks: must be a list or a mapping"),
    ("services:\n  web:\n    image: x\n    cpu_percent: 200\n", "services.web.cpu_percent: must be between 0 and 100"),
    ("services:\n  web:\n    image: x\n    pull_policy: sometimes\n", 'invalid pull policy "sometimes"'),
])
def test_type_errors(tmp_path, text, message):
    assert message in error(tmp_path, text)


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  web:\n    image: x\n    ports: ['80:80:80:80']\n",
     'services.web.ports[0]: invalid port "80:80:80:80"'),
    ("services:\n  web:\n    image: x\n    ports: ['99999']\n", 'invalid container port "99999"'),
    ("services:\n  web:\n    image: x\n    ports: ['80/icmp']\n", 'invalid protocol "icmp"'),
    ("services:\n  web:\n    image: x\n    ports: ['8000-8002:80-81']\n", "port ranges differ in size"),
    ("services:\n  web:\n    image: x\n    ports: ['nothere:80:80']\n", 'invalid IP address "nothere"'),
    ("services:\n  web:\n    image: x\n    volumes: ['a::b']\n", "empty section between colons"),
    ("services:\n  web:\n    image: x\n    expose: ['http']\n", 'services.web.expose[0]: invalid port "http"'),
    ("services:\n  web:\n    image: x\n    extra_hosts: ['nocolon']\n", 'invalid extra host "nocolon"'),
])
def test_format_errors(tmp_path, text, message):
    assert message in error(tmp_path, text)


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  web: {}\n", 'service "web" has neither an image nor a build context specified'),
    ("services:\n  web:\n    image: x\n    depends_on: [db]\n", 'service "web" depends on undefined service "db"'),
    ("services:\n  web:\n    image: x\n    networks: [front]\n", 'service "web" refers to undefined network front'),
    ("services:\n  web:\n    image: x\n    volumes: ['data:/data']\n", 'service "web" refers to undefined volume data'),
    ("services:\n  web:\n    image: x\n    secrets: [pw]\n", 'service "web" refers to undefined secret pw'),
    ("services:\n  web:\n    image: x\n    configs: [cfg]\n", 'service "web" refers to undefined config cfg'),
    ("services:\n  web:\n    image: x\n    network_mode: host\n    networks: [default]\n",
     "mutually exclusive `network_mode` and `networks`"),
    ("services:\n  web:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n",
     "can't set distinct values on 'scale' and 'deploy.replicas'"),
    ("services:\n  web:\n    image: x\n    scale: 2\n    container_name: web\n", "can't set container_name"),
    ("services:\n  web:\n    image: x\nsecrets:\n  pw: {}\n", "secrets.pw: a secret needs one of"),
    ("services:\n  web:\n    image: x\n    env_file: missing.env\n", "env file"),
])
def test_project_consistency(tmp_path, text, message):
    assert message in error(tmp_path, text)


def test_extensions_are_accepted(tmp_path):
    project = load(tmp_path, """
        x-defaults: &defaults
          restart: always
        services:
          web:
            <<: *defaults
            image: x
            x-custom: {anything: [1, 2]}
            build:
              context: .
              x-build-ext: 1
    """)
    web = project.services["web"]
    assert web.restart == "always"
    assert web.extensions == {"x-custom": {"anything": [1, 2]}}
    assert project.extensions == {"x-defaults": {"restart": "always"}}


def test_optional_env_file_may_be_missing(tmp_path):
    project = load(tmp_path, "services:\n  web:\n    image: x\n    env_file:\n      - path: missing.env\n"
                             "        required: false\n")
    assert project.services["web"].environment == {}


def test_null_values_mean_unset(tmp_path):
    project = load(tmp_path, "services:\n  web:\n    image: x\n    environment:\n    ports:\n")
    assert project.services["web"].environment == {}
    assert project.services["web"].ports == []
