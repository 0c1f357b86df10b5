"""Which files, which project directory, which project name: compose's lookup rules."""

from __future__ import annotations

import os

import pytest
from pallet.client.compose import model
from pallet.client.compose.model import ComposeFileError

from tests.unit.compose._model_util import load, write

SIMPLE = """
services:
  web:
    image: nginx
"""


def test_find_files_prefers_compose_yaml_and_adds_the_override(tmp_path):
    write(tmp_path, "docker-compose.yml", SIMPLE)
    write(tmp_path, "compose.yaml", SIMPLE)
    write(tmp_path, "compose.override.yml", SIMPLE)
    warnings: list[str] = []
    assert model.find_files(str(tmp_path), warnings) == [str(tmp_path / "compose.yaml"),
                                                         str(tmp_path / "compose.override.yml")]
    assert warnings and "Found multiple config files" in warnings[0]


def test_find_files_walks_up_to_the_nearest_parent(tmp_path):
    write(tmp_path, "docker-compose.yaml", SIMPLE)
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert model.find_files(str(sub)) == [str(tmp_path / "docker-compose.yaml")]
    assert model.find_files(str(tmp_path / "a")) == [str(tmp_path / "docker-compose.yaml")]


def test_find_files_none(tmp_path):
    assert model.find_files(str(tmp_path)) == []
    with pytest.raises(ComposeFileError, match="no configuration file provided: not found"):
        load(tmp_path)


def test_default_files_from_a_subdirectory_use_their_own_directory(tmp_path):
    write(tmp_path, "compose.yaml", SIMPLE)
    write(tmp_path, "compose.override.yaml", "services:\n  web:\n    image: httpd\n")
    sub = tmp_path / "src"
    sub.mkdir()
    project = model.load(environ={}, cwd=str(sub))
    assert project.working_dir == str(tmp_path)
    assert project.services["web"].image == "httpd"
    assert project.config_files == [str(tmp_path / "compose.yaml"), str(tmp_path / "compose.override.yaml")]


def test_compose_file_variable_with_separator(tmp_path):
    write(tmp_path, "a.yml", SIMPLE)
    write(tmp_path, "b.yml", "services:\n  web:\n    image: httpd\n")
    project = load(tmp_path, environ={"COMPOSE_FILE": "a.yml:b.yml"})
    assert project.services["web"].image == "httpd"
    project = load(tmp_path, environ={"COMPOSE_FILE": "b.yml;a.yml", "COMPOSE_PATH_SEPARATOR": ";"})
    assert project.services["web"].image == "nginx"


def test_compose_file_variable_from_dotenv(tmp_path):
    write(tmp_path, "other.yml", SIMPLE)
    write(tmp_path, ".env", "COMPOSE_FILE=other.yml\n")
    assert load(tmp_path).config_files == [str(tmp_path / "other.yml")]


def test_stdin(tmp_path):
    project = load(tmp_path, files=["-"], stdin="services:\n  s:\n    image: busybox\n")
    assert project.working_dir == str(tmp_path)
    assert project.services["s"].image == "busybox"
    assert project.config_files == ["-"]


def test_missing_file(tmp_path):
    with pytest.raises(ComposeFileError, match="no such file or directory"):
        load(tmp_path, files=["nope.yaml"])


def test_project_directory_defaults_to_the_first_file(tmp_path):
    write(tmp_path, "deploy/compose.yaml", """
        services:
          web:
            build: ../app
            volumes: ["./data:/data"]
    """)
    write(tmp_path, "deploy/extra.yaml", "services:\n  web:\n    env_file: web.env\n")
    write(tmp_path, "deploy/web.env", "A=1\n")
    project = load(tmp_path, files=["deploy/compose.yaml", "deploy/extra.yaml"])
    web = project.services["web"]
    assert project.working_dir == str(tmp_path / "deploy")
    assert project.name == "deploy"
    assert web.build is not None and web.build.context == str(tmp_path / "app")
    assert web.volumes[0].source == str(tmp_path / "deploy" / "data")
    assert web.environment == {"A": "1"}


def test_project_directory_option(tmp_path):
    write(tmp_path, "files/compose.yaml", "services:\n  web:\n    image: x\n    volumes: ['./d:/d']\n")
    (tmp_path / "root").mkdir()
    project = load(tmp_path, files=["files/compose.yaml"], project_directory="root")
    assert project.working_dir == str(tmp_path / "root")
    assert project.name == "root"
    assert project.services["web"].volumes[0].source == str(tmp_path / "root" / "d")


def test_project_directory_is_where_default_files_are_searched(tmp_path):
    write(tmp_path, "app/compose.yaml", SIMPLE)
    project = load(tmp_path, project_directory="app")
    assert project.config_files == [str(tmp_path / "app" / "compose.yaml")]


@pytest.mark.parametrize(("directory", "expected"), [
    ("My App", "myapp"),
    ("_Hello.World-1", "helloworld-1"),
    ("--x", "x"),
])
def test_project_name_from_the_directory_is_normalized(tmp_path, directory, expected):
    write(tmp_path, f"{directory}/compose.yaml", SIMPLE)
    assert load(tmp_path / directory).name == expected


def test_project_name_precedence(tmp_path):
    load_dir = tmp_path / "dir"
    write(load_dir, "compose.yaml", "name: fromfile\n" + SIMPLE)
    assert load(load_dir).name == "fromfile"
    assert load(load_dir, environ={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert load(load_dir, environ={"COMPOSE_PROJECT_NAME": "fromenv"}, project_name="flag").name == "flag"
    write(load_dir, ".env", "COMPOSE_PROJECT_NAME=dotenv\n")
    assert load(load_dir).name == "dotenv"


def test_project_name_from_file_is_interpolated_and_the_last_file_wins(tmp_path):
    write(tmp_path, "a.yaml", "name: first\n" + SIMPLE)
    write(tmp_path, "b.yaml", "name: ${PREFIX}-second\n")
    project = load(tmp_path, files=["a.yaml", "b.yaml"], environ={"PREFIX": "my"})
    assert project.name == "my-second"
    assert project.environment["COMPOSE_PROJECT_NAME"] == "my-second"


def test_project_name_is_available_to_interpolation(tmp_path):
    project = load(tmp_path, "services:\n  web:\n    image: ${COMPOSE_PROJECT_NAME}-web\n", project_name="demo")
    assert project.services["web"].image == "demo-web"


@pytest.mark.parametrize("name", ["MyApp", "-app", "app!", "_x"])
def test_invalid_explicit_project_names(tmp_path, name):
    write(tmp_path, "compose.yaml", SIMPLE)
    with pytest.raises(ComposeFileError, match=f'invalid project name "{name}"'):
        load(tmp_path, project_name=name)
    with pytest.raises(ComposeFileError, match="invalid project name"):
        load(tmp_path, environ={"COMPOSE_PROJECT_NAME": name})


def test_invalid_name_in_file(tmp_path):
    with pytest.raises(ComposeFileError, match='invalid project name "Bad Name"'):
        load(tmp_path, "name: Bad Name\n" + SIMPLE)


def test_version_is_obsolete_but_accepted(tmp_path):
    project = load(tmp_path, 'version: "3.9"\n' + SIMPLE)
    assert any("`version` is obsolete" in w for w in project.warnings)
    assert "version" not in project.to_dict()


def test_multiple_documents_in_one_file_merge(tmp_path):
    project = load(tmp_path, SIMPLE + "---\nservices:\n  web:\n    command: echo hi\n")
    assert project.services["web"].command == ["echo", "hi"]


def test_empty_override_file(tmp_path):
    write(tmp_path, "compose.yaml", SIMPLE)
    write(tmp_path, "compose.override.yaml", "# nothing yet\n")
    assert list(load(tmp_path).services) == ["web"]


def test_yaml_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(ComposeFileError, match=r"compose.yaml: yaml: line 4: "):
        load(tmp_path, "services:\n  web:\n    image: [\n")
    with pytest.raises(ComposeFileError, match='mapping key "image" already defined'):
        load(tmp_path, "services:\n  web:\n    image: a\n    image: b\n")
    with pytest.raises(ComposeFileError, match="top level of a compose file must be a mapping"):
        load(tmp_path, "- a\n- b\n")


def test_relative_paths_on_the_command_line_start_from_cwd(tmp_path):
    write(tmp_path, "x/compose.yaml", SIMPLE)
    write(tmp_path, "x/vars.env", "A=1\n")
    project = model.load(files=["x/compose.yaml"], env_files=["x/vars.env"], environ={}, cwd=str(tmp_path))
    assert project.environment["A"] == "1"
    assert os.path.isabs(project.config_files[0])
