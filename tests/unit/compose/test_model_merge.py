"""Several compose files merged by the Compose Specification's rules."""

from __future__ import annotations

from tests.unit.compose._model_util import load, write

BASE = """
services:
  web:
    image: web:1
    command: ["echo", "base"]
    entrypoint: /bin/sh -c
    ports:
      - "8080:80"
      - "9000:9000"
    expose: ["3000"]
    environment:
      - A=base
      - B=base
    labels:
      tier: front
    volumes:
      - ./one:/data
      - logs:/var/log
    dns: [1.1.1.1]
    cap_add: [NET_ADMIN]
    networks: [front]
    depends_on: [db]
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
    logging:
      driver: json-file
      options: {max-size: 10m}
    ulimits:
      nofile: {soft: 100, hard: 200}
    secrets: [token]
    deploy:
      resources:
        limits: {memory: 1g}
  db:
    image: postgres
networks:
  front: {}
  back: {}
volumes:
  logs: {}
secrets:
  token:
    file: ./token
"""


def merged(tmp_path, override: str, *more: str):
    write(tmp_path, "compose.yaml", BASE)
    names = ["compose.yaml"]
    for i, text in enumerate((override, *more)):
        write(tmp_path, f"o{i}.yaml", text)
        names.append(f"o{i}.yaml")
    return load(tmp_path, files=names)


def test_scalars_override_and_new_keys_add(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    image: web:2\n    user: nobody\n").services["web"]
    assert (web.image, web.user) == ("web:2", "nobody")


def test_ports_are_appended_and_identical_ones_kept_once(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    ports: ['8080:80', '127.0.0.1:8443:443']\n").services["web"]
    assert [(p.host_ip, p.published, p.target) for p in web.ports] == [
        (None, "8080", 80), (None, "9000", 9000), ("127.0.0.1", "8443", 443)]


def test_expose_dns_and_caps_are_appended_deduplicated(tmp_path):
    web = merged(tmp_path, """
        services:
          web:
            expose: ["3000", "4000"]
            dns: 8.8.8.8
            cap_add: [NET_ADMIN, SYS_TIME]
    """).services["web"]
    assert web.expose == ["3000", "4000"]
    assert web.dns == ["1.1.1.1", "8.8.8.8"]
    assert web.cap_add == ["NET_ADMIN", "SYS_TIME"]


def test_command_and_entrypoint_are_replaced(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    command: echo over\n    entrypoint: [tini, --]\n").services["web"]
    assert web.command == ["echo", "over"]
    assert web.entrypoint == ["tini", "--"]


def test_environment_merges_as_a_map_across_syntaxes(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    environment:\n      B: over\n      C: new\n").services["web"]
    assert web.environment == {"A": "base", "B": "over", "C": "new"}


def test_labels_merge_as_a_map(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    labels: [tier=back, extra=1]\n").services["web"]
    assert web.labels == {"tier": "back", "extra": "1"}


def test_volumes_merge_by_target(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    volumes: ['./two:/data', '/cache']\n").services["web"]
    assert [(v.type, v.source, v.target) for v in web.volumes] == [
        ("bind", str(tmp_path / "two"), "/data"), ("volume", "logs", "/var/log"), ("volume", None, "/cache")]


def test_secrets_merge_by_target(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    secrets:\n      - source: token\n"
                           "        target: /run/secrets/token\n        mode: 0400\n").services["web"]
    assert len(web.secrets) == 1
    assert web.secrets[0].mode == 0o400


def test_networks_and_depends_on_merge_as_maps(tmp_path):
    web = merged(tmp_path, """
        services:
          web:
            networks:
              front:
                aliases: [www]
              back: {}
            depends_on:
              db:
                condition: service_healthy
    """).services["web"]
    assert sorted(web.networks) == ["back", "front"]
    assert web.networks["front"].aliases == ["www"]
    assert web.depends_on["db"].condition == "service_healthy"


def test_healthcheck_merges_but_its_test_is_replaced(tmp_path):
    web = merged(tmp_path, "services:\n  web:\n    healthcheck:\n      test: curl -f localhost\n      retries: 5\n"
                 ).services["web"]
    assert web.healthcheck is not None
    assert web.healthcheck.test == ["CMD-SHELL", "curl -f localhost"]
    assert (web.healthcheck.interval_ns, web.healthcheck.retries) == (10_000_000_000, 5)


def test_logging_options_merge_for_the_same_driver_only(tmp_path):
    same = merged(tmp_path, "services:\n  web:\n    logging:\n      options: {max-file: '3'}\n").services["web"]
    assert same.logging is not None and same.logging.options == {"max-size": "10m", "max-file": "3"}
    other = merged(tmp_path, "services:\n  web:\n    logging:\n      driver: syslog\n").services["web"]
    assert other.logging is not None and (other.logging.driver, other.logging.options) == ("syslog", {})


def test_ulimits_and_deploy_merge(tmp_path):
    web = merged(tmp_path, """
        services:
          web:
            ulimits:
              nofile: {soft: 150, hard: 200}
              nproc: 10
            deploy:
              replicas: 2
              resources:
                limits: {cpus: '0.5'}
    """).services["web"]
    assert web.ulimits["nofile"].soft == 150 and web.ulimits["nproc"].hard == 10
    assert web.deploy is not None and web.deploy.replicas == 2
    assert web.deploy.limits is not None
    assert (web.deploy.limits.cpus, web.deploy.limits.memory) == (0.5, 1 << 30)


def test_three_files_in_order(tmp_path):
    project = merged(tmp_path, "services:\n  web:\n    image: two\n", "services:\n  web:\n    image: three\n")
    web = project.services["web"]
    assert web.image == "three"


def test_new_services_and_resources_are_added(tmp_path):
    project = merged(tmp_path, "services:\n  cache:\n    image: redis\nvolumes:\n  cache: {}\n")
    assert sorted(project.services) == ["cache", "db", "web"]
    assert sorted(project.volumes) == ["cache", "logs"]


def test_reset_and_override_tags(tmp_path):
    web = merged(tmp_path, """
        services:
          web:
            ports: !reset []
            environment:
              A: !reset null
            volumes: !override
              - ./other:/other
    """).services["web"]
    assert web.ports == []
    assert web.environment == {"B": "base"}
    assert [v.target for v in web.volumes] == ["/other"]


def test_override_file_paths_are_relative_to_the_project_directory(tmp_path):
    write(tmp_path, "compose.yaml", BASE)
    write(tmp_path, "sub/override.yaml", "services:\n  web:\n    volumes: ['./three:/three']\n")
    project = load(tmp_path, files=["compose.yaml", "sub/override.yaml"])
    assert project.services["web"].volumes[-1].source == str(tmp_path / "three")


def test_default_override_file_is_merged(tmp_path):
    write(tmp_path, "compose.yaml", BASE)
    write(tmp_path, "compose.override.yaml", "services:\n  web:\n    environment: [A=dev]\n")
    assert load(tmp_path).services["web"].environment["A"] == "dev"


def test_partial_overrides_keep_what_they_do_not_say(tmp_path):
    write(tmp_path, "compose.yaml", """
        services:
          app:
            build: ./app
            depends_on:
              db:
                condition: service_healthy
          db:
            image: db
    """)
    write(tmp_path, "dev.yaml", """
        services:
          app:
            build:
              target: dev
            depends_on:
              db:
                restart: true
    """)
    app = load(tmp_path, files=["compose.yaml", "dev.yaml"]).services["app"]
    assert app.build is not None
    assert (app.build.context, app.build.target) == (str(tmp_path / "app"), "dev")
    assert app.depends_on["db"].condition == "service_healthy"
    assert app.depends_on["db"].restart is True


def test_build_context_defaults_to_the_project_directory(tmp_path):
    app = load(tmp_path, "services:\n  app:\n    build:\n      dockerfile: Dockerfile.dev\n").services["app"]
    assert app.build is not None and app.build.context == str(tmp_path)
