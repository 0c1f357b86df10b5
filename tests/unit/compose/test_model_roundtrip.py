"""The canonical model as `compose config` prints it, and loading that output again."""

from __future__ import annotations

import textwrap

from pallet.client.compose import model

from tests.unit.compose._model_util import load, write

REALISTIC = """
name: shop
x-logging: &logging
  driver: json-file
  options:
    max-size: 10m
    max-file: "3"
services:
  proxy:
    image: nginx:1.25
    ports:
      - "80:80"
      - "443:443"
    volumes:
      - ./nginx.conf:/etc/nginx/nginx.conf:ro
      - certs:/etc/letsencrypt
    depends_on:
      web:
        condition: service_healthy
    restart: unless-stopped
    logging: *logging
  web:
    build:
      context: ./web
      args:
        NODE_ENV: production
      target: runtime
    image: shop/web:${TAG:-dev}
    command: ["node", "server.js"]
    environment:
      DATABASE_URL: postgres://shop@db/shop
      REDIS_URL: redis://cache:6379
      SECRET_KEY:
    env_file:
      - path: web.env
        required: false
    expose: ["3000"]
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost:3000/health"]
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 1m
    networks:
      front:
        aliases: [shop-web]
      back: {}
    deploy:
      replicas: 2
      resources:
        limits:
          cpus: "1.5"
          memory: 512M
    secrets:
      - source: api_key
        target: api_key
        mode: 0400
    configs:
      - app_config
    ulimits:
      nofile:
        soft: 65536
        hard: 65536
    stop_grace_period: 1m30s
    labels:
      - traefik.enable=true
    x-team: web
  worker:
    extends: web
    command: node worker.js
    deploy:
      replicas: 1
    healthcheck:
      disable: true
    profiles: [workers]
  db:
    image: postgres:16
    environment:
      POSTGRES_DB: shop
    volumes:
      - type: volume
        source: pgdata
        target: /var/lib/postgresql/data
      - type: tmpfs
        target: /dev/shm
        tmpfs:
          size: 256m
    shm_size: 128m
    networks: [back]
    healthcheck:
      test: pg_isready -U shop
      interval: 5s
  cache:
    image: redis:7
    command: redis-server --save ""
    networks: [back]
    sysctls:
      net.core.somaxconn: 1024
    tmpfs: /data
networks:
  front: {}
  back:
    internal: true
    ipam:
      config:
        - subnet: 10.5.0.0/16
          gateway: 10.5.0.1
volumes:
  certs:
    external: true
  pgdata:
    labels:
      backup: daily
secrets:
  api_key:
    file: ./secrets/api_key.txt
configs:
  app_config:
    content: |
      port=3000
"""


def test_to_dict_shape(tmp_path):
    project = load(tmp_path, REALISTIC, environ={"SECRET_KEY": "s3cret"})
    data = project.to_dict()
    assert list(data) == ["name", "services", "networks", "volumes", "secrets", "configs", "x-logging"]
    assert list(data["services"]) == ["cache", "db", "proxy", "web"]
    web = data["services"]["web"]
    assert web["environment"]["SECRET_KEY"] == "s3cret"
    assert web["build"] == {"context": str(tmp_path / "web"), "dockerfile": "Dockerfile",
                            "args": {"NODE_ENV": "production"}, "target": "runtime"}
    assert web["healthcheck"]["interval"] == "30s" and web["healthcheck"]["start_period"] == "1m0s"
    assert web["stop_grace_period"] == "1m30s"
    assert web["deploy"]["resources"]["limits"] == {"cpus": 1.5, "memory": "536870912"}
    assert web["secrets"] == [{"source": "api_key", "target": "/run/secrets/api_key", "mode": "0400"}]
    assert web["networks"] == {"back": None, "front": {"aliases": ["shop-web"]}}
    assert web["x-team"] == "web"
    proxy = data["services"]["proxy"]
    assert proxy["ports"][0] == {"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"}
    assert proxy["logging"] == {"driver": "json-file", "options": {"max-file": "3", "max-size": "10m"}}
    assert data["services"]["cache"]["command"] == ["redis-server", "--save", ""]
    assert data["networks"]["back"] == {"name": "shop_back", "ipam": {"config": [
        {"subnet": "10.5.0.0/16", "gateway": "10.5.0.1"}]}, "internal": True}
    assert data["volumes"]["certs"] == {"name": "certs", "external": True}
    assert data["configs"]["app_config"] == {"name": "shop_app_config", "content": "port=3000\n"}


def test_round_trip(tmp_path):
    original = load(tmp_path, REALISTIC, environ={"SECRET_KEY": "s3cret", "TAG": "1.2"}, profiles=["workers"])
    text = model.dump_yaml(original)
    again_dir = tmp_path / "again"
    write(again_dir, "compose.yaml", text)
    again = model.load(environ={}, cwd=str(again_dir), profiles=["workers"])
    assert again.to_dict() == original.to_dict()
    assert model.dump_yaml(again) == text
    assert again.services["worker"].command == ["node", "worker.js"]


def test_dump_yaml_format(tmp_path):
    project = load(tmp_path, """
        services:
          app:
            image: alpine
            command: echo "hello world"
            ports: ["8080:80"]
            environment:
              ANSWER: "42"
              FLAG: "yes"
            restart: "no"
    """, project_name="demo")
    expected = textwrap.dedent("""\
        name: demo
        services:
          app:
            command:
              - echo
              - hello world
            environment:
              ANSWER: "42"
              FLAG: "yes"
            image: alpine
            networks:
              default: null
            ports:
              - mode: ingress
                target: 80
                published: "8080"
                protocol: tcp
            restart: "no"
        networks:
          default:
            name: demo_default
        """)
    assert model.dump_yaml(project) == expected
    assert model.dump_yaml(project.to_dict()) == expected
    assert project.working_dir == str(tmp_path)
