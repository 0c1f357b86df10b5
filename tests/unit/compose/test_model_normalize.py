"""Short and long syntaxes brought to one normalized model."""

from __future__ import annotations

import pytest
from pallet.client.compose import _units
from pallet.client.compose.model import (
    BindOptions,
    Depends,
    DeviceMapping,
    FileMount,
    HealthCheck,
    NetworkAttach,
    PortSpec,
    TmpfsOptions,
    Ulimit,
    VolumeOptions,
    VolumeSpec,
)

from tests.unit.compose._model_util import load, write


def service(tmp_path, body: str, top: str = "", **kwargs):
    text = "services:\n  web:\n    image: x\n" + "".join(f"    {line}\n" for line in body.strip("\n").split("\n"))
    return load(tmp_path, text + top, **kwargs).services["web"]


@pytest.mark.parametrize(("spec", "expected"), [
    ("80", [PortSpec(80)]),
    ("8080:80", [PortSpec(80, "8080")]),
    ("127.0.0.1:8080:80/udp", [PortSpec(80, "8080", "127.0.0.1", "udp")]),
    ("127.0.0.1::80", [PortSpec(80, None, "127.0.0.1")]),
    ("[::1]:8080:80", [PortSpec(80, "8080", "::1")]),
    ("8000-8001:80-81", [PortSpec(80, "8000"), PortSpec(81, "8001")]),
    ("8000-8010:80", [PortSpec(80, "8000-8010")]),
    ("3000-3001", [PortSpec(3000), PortSpec(3001)]),
    ("53:53/SCTP", [PortSpec(53, "53", protocol="sctp")]),
])
def test_port_short_syntax(tmp_path, spec, expected):
    assert service(tmp_path, f"ports: ['{spec}']").ports == expected


def test_port_numbers_and_long_syntax(tmp_path):
    web = service(tmp_path, """
ports:
  - 9090
  - target: 80
    published: 8080
    host_ip: 0.0.0.0
    protocol: udp
    mode: host
  - target: 81
    published: "9000-9005"
""")
    assert web.ports == [PortSpec(9090), PortSpec(80, "8080", "0.0.0.0", "udp", "host"), PortSpec(81, "9000-9005")]
    assert web.ports[2].published_range() == (9000, 9005)


def test_unquoted_port_mapping_is_not_sexagesimal(tmp_path):
    assert service(tmp_path, "ports:\n  - 22:22").ports == [PortSpec(22, "22")]


def test_volume_short_syntax(tmp_path):
    write(tmp_path, "x", "")
    web = service(tmp_path, """
volumes:
  - ./src:/app:ro
  - /abs/path:/abs:rw,z
  - ~/cache:/cache
  - data:/data:nocopy
  - /anonymous
  - ../up:/up:rshared
""", "volumes:\n  data: {}\n", environ={"HOME": "/home/me"})
    home = "/home/me"
    assert web.volumes == [
        VolumeSpec("bind", str(tmp_path / "src"), "/app", read_only=True, bind=BindOptions()),
        VolumeSpec("bind", "/abs/path", "/abs", bind=BindOptions(selinux="z")),
        VolumeSpec("bind", f"{home}/cache", "/cache", bind=BindOptions()),
        VolumeSpec("volume", "data", "/data", volume=VolumeOptions(nocopy=True)),
        VolumeSpec("volume", None, "/anonymous", volume=VolumeOptions()),
        VolumeSpec("bind", str(tmp_path.parent / "up"), "/up", bind=BindOptions(propagation="rshared")),
    ]


def test_volume_long_syntax(tmp_path):
    web = service(tmp_path, """
volumes:
  - type: bind
    source: ./conf
    target: /etc/app/
    read_only: true
    bind:
      propagation: rprivate
      create_host_path: false
  - type: volume
    source: data
    target: /data
    volume:
      nocopy: true
  - type: tmpfs
    target: /run
    tmpfs:
      size: 64m
      mode: 0o1777
""", "volumes:\n  data: {}\n")
    assert web.volumes == [
        VolumeSpec("bind", str(tmp_path / "conf"), "/etc/app", read_only=True,
                   bind=BindOptions(propagation="rprivate", create_host_path=False)),
        VolumeSpec("volume", "data", "/data", volume=VolumeOptions(nocopy=True)),
        VolumeSpec("tmpfs", None, "/run", tmpfs=TmpfsOptions(size=64 << 20, mode=0o1777)),
    ]


def test_tmpfs_string_or_list(tmp_path):
    assert service(tmp_path, "tmpfs: /run").tmpfs == ["/run"]
    assert service(tmp_path, "tmpfs: [/run, '/tmp:size=10m']").tmpfs == ["/run", "/tmp:size=10m"]


def test_depends_on_both_syntaxes(tmp_path):
    top = "  db:\n    image: db\n  cache:\n    image: c\n"
    project = load(tmp_path, "services:\n  web:\n    image: x\n    depends_on: [db, cache]\n" + top)
    assert project.services["web"].depends_on == {"db": Depends(), "cache": Depends()}
    project = load(tmp_path, """
        services:
          web:
            image: x
            depends_on:
              db:
                condition: service_healthy
                restart: true
              cache:
                condition: service_completed_successfully
                required: false
          db:
            image: db
          cache:
            image: c
    """)
    assert project.services["web"].depends_on == {
        "db": Depends("service_healthy", restart=True),
        "cache": Depends("service_completed_successfully", required=False),
    }


def test_optional_dependency_may_be_missing(tmp_path):
    project = load(tmp_path, "services:\n  web:\n    image: x\n    depends_on:\n      gone:\n"
                             "        condition: service_started\n        required: false\n")
    assert project.services["web"].depends_on["gone"].required is False


def test_links_and_namespaces_imply_dependencies(tmp_path):
    project = load(tmp_path, """
        services:
          web:
            image: x
            links: ["db:database"]
            volumes_from: [store, "container:other"]
            network_mode: service:vpn
          db: {image: db}
          store: {image: s}
          vpn: {image: v}
    """)
    deps = project.services["web"].depends_on
    assert deps == {"db": Depends(restart=True), "store": Depends(), "vpn": Depends(restart=True)}
    assert project.services["web"].networks == {}


def test_healthcheck_forms(tmp_path):
    web = service(tmp_path, """
healthcheck:
  test: curl -f http://localhost/
  interval: 1m30s
  timeout: 500ms
  start_period: 1h
  start_interval: 2s
  retries: 3
""")
    assert web.healthcheck == HealthCheck(["CMD-SHELL", "curl -f http://localhost/"], 90 * 10**9, 500 * 10**6,
                                          3600 * 10**9, 2 * 10**9, 3)
    web = service(tmp_path, "healthcheck:\n  test: [CMD, pg_isready]")
    assert web.healthcheck == HealthCheck(["CMD", "pg_isready"])
    web = service(tmp_path, "healthcheck:\n  disable: true")
    assert web.healthcheck == HealthCheck(disable=True)


def test_ulimits(tmp_path):
    web = service(tmp_path, "ulimits:\n  nproc: 65535\n  nofile:\n    soft: 20000\n    hard: 40000")
    assert web.ulimits == {"nproc": Ulimit(65535, 65535), "nofile": Ulimit(20000, 40000)}


def test_secrets_and_configs(tmp_path):
    write(tmp_path, "pw.txt", "secret")
    web = service(tmp_path, """
secrets:
  - pw
  - source: pw
    target: other
    uid: "103"
    gid: "103"
    mode: 0440
configs:
  - cfg
  - source: cfg
    target: /etc/app.conf
""", """secrets:
  pw:
    file: ./pw.txt
configs:
  cfg:
    content: |
      key=value
""")
    assert web.secrets == [FileMount("pw", "/run/secrets/pw"),
                           FileMount("pw", "/run/secrets/other", "103", "103", 0o440)]
    assert web.configs == [FileMount("cfg", "/cfg"), FileMount("cfg", "/etc/app.conf")]


def test_secret_and_config_sources(tmp_path):
    project = load(tmp_path, """
        services:
          web:
            image: x
        secrets:
          from_file:
            file: ./s.txt
          from_env:
            environment: TOKEN
          outside:
            external: true
          renamed:
            external: true
            name: real-name
        configs:
          inline:
            content: "a=${TOKEN}"
    """, environ={"TOKEN": "t0k"})
    secrets = project.secrets
    assert secrets["from_file"].file == str(tmp_path / "s.txt")
    assert (secrets["from_env"].environment, secrets["from_env"].content) == ("TOKEN", "t0k")
    assert (secrets["outside"].name, secrets["renamed"].name) == ("outside", "real-name")
    assert secrets["from_file"].name == f"{project.name}_from_file"
    assert project.configs["inline"].content == "a=t0k"


def test_environment_resolution(tmp_path):
    write(tmp_path, "a.env", "A=from-a\nB=from-a\nREF=${HOSTVAR}\n")
    write(tmp_path, "b.env", "B=from-b\nC=${A}-c\n")
    web = service(tmp_path, """
env_file: [a.env, b.env]
environment:
  C: own
  HOSTVAR:
  UNKNOWN:
  NUM: 1
  FLAG: true
""", environ={"HOSTVAR": "host"})
    assert web.environment == {"A": "from-a", "B": "from-b", "REF": "host", "C": "own", "HOSTVAR": "host",
                               "UNKNOWN": None, "NUM": "1", "FLAG": "true"}


def test_environment_list_form(tmp_path):
    web = service(tmp_path, "environment: [A=1, 'B=x=y', C, D=]", environ={"C": "c"})
    assert web.environment == {"A": "1", "B": "x=y", "C": "c", "D": ""}


def test_build_forms(tmp_path):
    web = service(tmp_path, "build: ./app")
    assert web.build is not None
    assert (web.build.context, web.build.dockerfile) == (str(tmp_path / "app"), "Dockerfile")
    web = service(tmp_path, """
build:
  context: https://github.com/example/repo.git
  dockerfile: Dockerfile.prod
  args: [VERSION=1, FROM_ENV]
  target: prod
  labels: {a: b}
  cache_from: [app:cache]
  network: host
  shm_size: 1g
  secrets: [npmrc]
""", "secrets:\n  npmrc:\n    file: ~/.npmrc\n", environ={"FROM_ENV": "e"})
    build = web.build
    assert build is not None
    assert build.context == "https://github.com/example/repo.git"
    assert (build.dockerfile, build.target, build.network) == ("Dockerfile.prod", "prod", "host")
    assert build.shm_size == 1 << 30
    assert build.args == {"VERSION": "1", "FROM_ENV": "e"}
    assert build.secrets == [FileMount("npmrc", "/run/secrets/npmrc")]


def test_command_and_entrypoint_forms(tmp_path):
    web = service(tmp_path, "command: sh -c 'echo \"a b\"'\nentrypoint: ['/bin/tini', '--']")
    assert web.command == ["sh", "-c", 'echo "a b"']
    assert web.entrypoint == ["/bin/tini", "--"]
    web = service(tmp_path, "command: ''\nentrypoint: []")
    assert (web.command, web.entrypoint) == ([], [])
    assert service(tmp_path, "user: '0'").command is None


def test_networks_forms_and_default_network(tmp_path):
    project = load(tmp_path, """
        services:
          web:
            image: x
            networks:
              front:
                aliases: [www]
                ipv4_address: 172.20.0.5
                priority: 10
              back:
          worker:
            image: y
          host:
            image: z
            network_mode: host
        networks:
          front:
            ipam:
              config:
                - subnet: 172.20.0.0/16
          back:
            internal: true
    """)
    web = project.services["web"]
    assert web.networks == {"front": NetworkAttach(aliases=["www"], ipv4_address="172.20.0.5", priority=10),
                            "back": NetworkAttach()}
    assert project.services["worker"].networks == {"default": NetworkAttach()}
    assert project.services["host"].networks == {}
    assert sorted(project.networks) == ["back", "default", "front"]
    assert project.networks["default"].name == f"{project.name}_default"
    assert project.networks["back"].internal is True
    ipam = project.networks["front"].ipam
    assert ipam is not None and ipam.config[0].subnet == "172.20.0.0/16"


def test_no_implicit_default_network_when_unused(tmp_path):
    project = load(tmp_path, "services:\n  web:\n    image: x\n    network_mode: none\n")
    assert project.networks == {}


def test_external_resources(tmp_path):
    project = load(tmp_path, """
        services:
          web:
            image: x
            networks: [proxy]
            volumes: ["shared:/s"]
        networks:
          proxy:
            external: true
        volumes:
          shared:
            external:
              name: the-shared-volume
    """)
    assert (project.networks["proxy"].name, project.networks["proxy"].external) == ("proxy", True)
    assert (project.volumes["shared"].name, project.volumes["shared"].external) == ("the-shared-volume", True)


def test_sizes_durations_and_scalars(tmp_path):
    web = service(tmp_path, """
mem_limit: 512m
mem_reservation: 1.5GiB
memswap_limit: -1
shm_size: 67108864
cpus: 1.5
stop_grace_period: 1m
pids_limit: 100
restart: no
pull_policy: if_not_present
init: true
user: 1000
group_add: [100, audio]
deploy:
  replicas: 3
  resources:
    limits: {cpus: '0.25', memory: 64M, pids: 50}
    reservations: {memory: 32m}
  restart_policy:
    condition: on-failure
    delay: 5s
    max_attempts: 3
""")
    assert (web.mem_limit, web.mem_reservation, web.memswap_limit, web.shm_size) == (
        512 << 20, int(1.5 * (1 << 30)), -1, 64 << 20)
    assert (web.cpus, web.stop_grace_period_ns, web.pids_limit) == (1.5, 60 * 10**9, 100)
    assert (web.restart, web.pull_policy, web.init, web.user) == ("no", "missing", True, "1000")
    assert web.group_add == ["100", "audio"]
    deploy = web.deploy
    assert deploy is not None and deploy.replicas == 3 and web.replicas() == 3
    assert deploy.limits is not None and (deploy.limits.cpus, deploy.limits.memory, deploy.limits.pids) == (
        0.25, 64 << 20, 50)
    assert deploy.reservations is not None and deploy.reservations.memory == 32 << 20
    assert deploy.restart_policy is not None
    assert (deploy.restart_policy.condition, deploy.restart_policy.delay_ns) == ("on-failure", 5 * 10**9)


def test_small_list_and_map_forms(tmp_path):
    web = service(tmp_path, """
extra_hosts:
  - "somehost:162.242.195.82"
  - "otherhost=50.31.209.229"
  - "v6host:::1"
sysctls: [net.core.somaxconn=1024]
dns: 8.8.8.8
dns_search: example.com
labels: [a=1, b]
devices: ["/dev/ttyUSB0:/dev/ttyUSB1:rw", "/dev/fuse"]
""")
    assert web.extra_hosts == ["somehost:162.242.195.82", "otherhost:50.31.209.229", "v6host:::1"]
    assert web.sysctls == {"net.core.somaxconn": "1024"}
    assert (web.dns, web.dns_search) == (["8.8.8.8"], ["example.com"])
    assert web.labels == {"a": "1", "b": ""}
    assert web.devices == [DeviceMapping("/dev/ttyUSB0", "/dev/ttyUSB1", "rw"), DeviceMapping("/dev/fuse", "/dev/fuse")]
    web = service(tmp_path, "extra_hosts:\n  host1: 10.0.0.1\n  host2: ['10.0.0.2', '::2']")
    assert web.extra_hosts == ["host1:10.0.0.1", "host2:10.0.0.2", "host2:::2"]


@pytest.mark.parametrize(("text", "ns"), [
    ("10s", 10 * 10**9), ("1m30s", 90 * 10**9), ("1.5s", 1_500_000_000), ("500ms", 500_000_000),
    ("2h", 7200 * 10**9), ("1d", 86400 * 10**9), ("100us", 100_000), ("0", 0),
])
def test_durations(text, ns):
    assert _units.parse_duration(text) == ns


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (1_500_000_000, "1.5s"), (500_000_000, "500ms"),
    (1_500, "1.5µs"), (42, "42ns"), (3723 * 10**9, "1h2m3s"),
])
def test_durations_printed_as_go_does(ns, text):
    assert _units.format_duration(ns) == text


@pytest.mark.parametrize(("text", "size"), [
    ("512", 512), ("1k", 1024), ("1kb", 1024), ("1KiB", 1024), ("512m", 512 << 20), ("2G", 2 << 30),
    ("1.5g", 3 << 29), ("10 MB", 10 << 20),
])
def test_sizes(text, size):
    assert _units.parse_size(text) == size


def test_yaml_scalars_read_as_compose_reads_them(tmp_path):
    web = service(tmp_path, """
environment:
  YES_WORD: yes
  OFF_WORD: off
  OCTAL: 0755
  DATE: 2024-01-02
  FLOAT: 1.50
  NULLISH: ~
""")
    assert web.environment == {"YES_WORD": "yes", "OFF_WORD": "off", "OCTAL": "493", "DATE": "2024-01-02",
                               "FLOAT": "1.5", "NULLISH": None}
