"""`extends` (same file, other files) and `include`."""

from __future__ import annotations

import pytest
from pallet.client.compose.model import ComposeFileError

from tests.unit.compose._model_util import load, write


def test_extends_in_the_same_file(tmp_path):
    project = load(tmp_path, """
        services:
          base:
            image: app
            environment: {A: "1", B: "1"}
            command: run base
            ports: ["80"]
          web:
            extends: base
            environment: {B: "2"}
            command: run web
            ports: ["443"]
          worker:
            extends:
              service: web
            environment: [C=3]
    """)
    web, worker = project.services["web"], project.services["worker"]
    assert web.image == "app"
    assert web.environment == {"A": "1", "B": "2"}
    assert web.command == ["run", "web"]
    assert [p.target for p in web.ports] == [80, 443]
    assert worker.environment == {"A": "1", "B": "2", "C": "3"}
    assert worker.command == ["run", "web"]


def test_extends_another_file_resolves_its_paths_against_that_file(tmp_path):
    write(tmp_path, "common/services.yaml", """
        services:
          app:
            build: ./app
            env_file: app.env
            volumes: ["./data:/data"]
            labels: [from=common]
    """)
    write(tmp_path, "common/app.env", "X=1\n")
    project = load(tmp_path, """
        services:
          web:
            extends:
              file: common/services.yaml
              service: app
            volumes: ["./local:/local"]
    """)
    web = project.services["web"]
    assert web.build is not None and web.build.context == str(tmp_path / "common" / "app")
    assert [v.source for v in web.volumes] == [str(tmp_path / "common" / "data"), str(tmp_path / "local")]
    assert web.environment == {"X": "1"}
    assert web.labels == {"from": "common"}
    assert "app" not in project.services


def test_extends_chain_across_files(tmp_path):
    write(tmp_path, "a/base.yaml", "services:\n  root:\n    image: root\n    user: '1000'\n")
    write(tmp_path, "a/mid.yaml", """
        services:
          mid:
            extends: {file: base.yaml, service: root}
            hostname: mid
    """)
    project = load(tmp_path, "services:\n  web:\n    extends: {file: a/mid.yaml, service: mid}\n")
    web = project.services["web"]
    assert (web.image, web.user, web.hostname) == ("root", "1000", "mid")


def test_extends_errors(tmp_path):
    with pytest.raises(ComposeFileError, match='cannot extend service "web" in .*: service "nope" not found'):
        load(tmp_path, "services:\n  web:\n    extends: nope\n")
    with pytest.raises(ComposeFileError, match="circular reference with extends: a -> b -> a"):
        load(tmp_path, "services:\n  a:\n    extends: b\n  b:\n    extends: a\n")
    write(tmp_path, "other.yaml", "services:\n  x:\n    image: x\n")
    with pytest.raises(ComposeFileError, match='service "y" not found in'):
        load(tmp_path, "services:\n  web:\n    extends: {file: other.yaml, service: y}\n")


def test_include_brings_services_and_resources(tmp_path):
    write(tmp_path, "db/compose.yaml", """
        services:
          db:
            image: postgres:${PG_VERSION}
            volumes: ["./init:/docker-entrypoint-initdb.d", "pgdata:/var/lib/postgresql/data"]
        volumes:
          pgdata: {}
    """)
    write(tmp_path, "db/.env", "PG_VERSION=16\n")
    project = load(tmp_path, """
        include:
          - db/compose.yaml
        services:
          web:
            image: web
            depends_on: [db]
    """)
    db = project.services["db"]
    assert db.image == "postgres:16"
    assert db.volumes[0].source == str(tmp_path / "db" / "init")
    assert project.volumes["pgdata"].name == f"{project.name}_pgdata"
    assert project.working_dir == str(tmp_path)


def test_include_long_syntax(tmp_path):
    write(tmp_path, "lib/one.yaml", "services:\n  svc:\n    image: ${IMG}\n    volumes: ['./v:/v']\n")
    write(tmp_path, "lib/two.yaml", "services:\n  svc:\n    user: nobody\n")
    write(tmp_path, "vars.env", "IMG=from-env-file\n")
    (tmp_path / "root").mkdir()
    project = load(tmp_path, """
        include:
          - path: [lib/one.yaml, lib/two.yaml]
            env_file: vars.env
            project_directory: root
    """)
    svc = project.services["svc"]
    assert (svc.image, svc.user) == ("from-env-file", "nobody")
    assert svc.volumes[0].source == str(tmp_path / "root" / "v")


def test_parent_environment_wins_over_the_included_env_file(tmp_path):
    write(tmp_path, "lib/compose.yaml", "services:\n  svc:\n    image: ${IMG}\n")
    write(tmp_path, "lib/.env", "IMG=included\n")
    project = load(tmp_path, "include: [lib/compose.yaml]\n", environ={"IMG": "outer"})
    assert project.services["svc"].image == "outer"


def test_include_conflicts(tmp_path):
    write(tmp_path, "lib/compose.yaml", "services:\n  web:\n    image: other\n")
    with pytest.raises(ComposeFileError, match="services.web conflicts with imported resource"):
        load(tmp_path, "include: [lib/compose.yaml]\nservices:\n  web:\n    image: mine\n")


def test_identical_included_resources_are_not_a_conflict(tmp_path):
    write(tmp_path, "lib/compose.yaml", "services:\n  a:\n    image: a\nnetworks:\n  shared: {}\n")
    project = load(tmp_path, "include: [lib/compose.yaml]\nnetworks:\n  shared: {}\nservices:\n  b:\n    image: b\n")
    assert sorted(project.services) == ["a", "b"]


def test_include_cycle(tmp_path):
    write(tmp_path, "a.yaml", "include: [b.yaml]\n")
    write(tmp_path, "b.yaml", "include: [a.yaml]\n")
    with pytest.raises(ComposeFileError, match="include cycle detected"):
        load(tmp_path, files=["a.yaml"])
