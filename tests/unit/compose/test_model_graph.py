"""Profiles, service selection and dependency order."""

from __future__ import annotations

import pytest
from pallet.client.compose.model import ComposeFileError, services_in_dependency_order

from tests.unit.compose._model_util import load

PROFILES = """
services:
  web:
    image: web
    depends_on: [db]
  db:
    image: db
  test_lib:
    image: t
    profiles: [test]
  coverage_lib:
    image: c
    depends_on: [test_lib]
    profiles: [test]
  debug_lib:
    image: d
    depends_on: [test_lib]
    profiles: [debug]
  tools:
    image: tools
    profiles: [tools, debug]
"""


def test_services_with_profiles_are_disabled_unless_active(tmp_path):
    project = load(tmp_path, PROFILES)
    assert sorted(project.services) == ["db", "web"]
    assert sorted(project.disabled) == ["coverage_lib", "debug_lib", "test_lib", "tools"]
    assert "test_lib" not in project.to_dict()["services"]


def test_active_profiles(tmp_path):
    project = load(tmp_path, PROFILES, profiles=["test"])
    assert sorted(project.services) == ["coverage_lib", "db", "test_lib", "web"]
    project = load(tmp_path, PROFILES, environ={"COMPOSE_PROFILES": "test,tools"})
    assert sorted(project.services) == ["coverage_lib", "db", "test_lib", "tools", "web"]
    assert project.profiles == ["test", "tools"]
    project = load(tmp_path, PROFILES, profiles=["*"])
    assert len(project.services) == 6


def test_flag_profiles_replace_compose_profiles(tmp_path):
    project = load(tmp_path, PROFILES, profiles=["tools"], environ={"COMPOSE_PROFILES": "test"})
    assert sorted(project.services) == ["db", "tools", "web"]


def test_an_enabled_service_needing_a_disabled_one_is_an_error(tmp_path):
    with pytest.raises(ComposeFileError, match=r'service "test_lib" is required by "debug_lib" but is disabled. '
                                               r"Can be enabled by profiles \[test\]"):
        load(tmp_path, PROFILES, profiles=["debug"])


def test_with_services_enables_named_services_and_their_dependencies(tmp_path):
    project = load(tmp_path, PROFILES)
    selected = project.with_services(["coverage_lib"])
    assert sorted(selected.services) == ["coverage_lib", "test_lib"]
    assert selected.profiles == ["test"]
    assert sorted(project.with_services(["web"]).services) == ["db", "web"]
    assert sorted(project.with_services([]).services) == ["db", "web"]
    with pytest.raises(ComposeFileError, match='service "test_lib" is required by "debug_lib"'):
        project.with_services(["debug_lib"])
    assert sorted(project.with_services(["debug_lib", "test_lib"]).services) == ["debug_lib", "test_lib"]
    with pytest.raises(ComposeFileError, match="no such service: nope"):
        project.with_services(["nope"])


def test_optional_dependency_on_a_disabled_service_is_skipped(tmp_path):
    project = load(tmp_path, """
        services:
          app:
            image: app
            depends_on:
              telemetry:
                condition: service_started
                required: false
          telemetry:
            image: t
            profiles: [observability]
    """)
    assert sorted(project.with_services(["app"]).services) == ["app"]
    assert services_in_dependency_order(project) == ["app"]
    full = load(tmp_path, profiles=["observability"])
    assert services_in_dependency_order(full) == ["telemetry", "app"]


def test_dependency_order(tmp_path):
    project = load(tmp_path, """
        services:
          proxy: {image: p, depends_on: [web, api]}
          web: {image: w, depends_on: {api: {condition: service_healthy}}}
          api: {image: a, depends_on: [db, cache]}
          db: {image: d}
          cache: {image: c}
          lonely: {image: l}
    """)
    assert services_in_dependency_order(project) == ["cache", "db", "api", "lonely", "web", "proxy"]
    assert services_in_dependency_order(project, ["web"]) == ["cache", "db", "api", "web"]
    assert services_in_dependency_order(project, ["db", "lonely"]) == ["db", "lonely"]


def test_dependency_cycle(tmp_path):
    with pytest.raises(ComposeFileError, match="dependency cycle detected: a -> b -> c -> a"):
        load(tmp_path, """
            services:
              a: {image: a, depends_on: [b]}
              b: {image: b, depends_on: [c]}
              c: {image: c, depends_on: [a]}
        """)
    with pytest.raises(ComposeFileError, match="dependency cycle detected: self -> self"):
        load(tmp_path, "services:\n  self:\n    image: s\n    depends_on: [self]\n")
