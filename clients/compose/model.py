"""The Compose Specification model, loaded as docker compose v2 (compose-go) loads it.

    project = load(files=["compose.yaml"], environ=os.environ)
    for name in services_in_dependency_order(project.with_services(["web"])):
        ...
    print(dump_yaml(project))      # what `compose config` prints

What load() does, in compose's order:
1. the project directory: --project-directory, else the first file's directory;
2. the environment: the process environment over `.env` in the project directory (or over the
   --env-file files instead, later ones winning); COMPOSE_FILE, COMPOSE_PROFILES,
   COMPOSE_PROJECT_NAME and COMPOSE_PATH_SEPARATOR are read from it;
3. the files: -f (several, "-" is standard input), else COMPOSE_FILE, else compose.yaml (or
   compose.yml, docker-compose.yml, docker-compose.yaml) and its override file in the current
   directory or the nearest parent that has one;
4. the project name: -p, else COMPOSE_PROJECT_NAME, else the files' `name:`, else the project
   directory's name made valid (lower case, [a-z0-9_-], starting with a letter or digit);
5. each file interpolated, validated, brought to canonical form, its `extends` and `include`
   applied, and merged onto the previous ones (see _merge for the rules);
6. the model normalized and checked (see _build), services split by active profiles.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pallet.client.compose import _dotenv
from pallet.client.compose._build import build_project
from pallet.client.compose._errors import ComposeFileError
from pallet.client.compose._graph import services_in_dependency_order
from pallet.client.compose._interpolate import substitute_at
from pallet.client.compose._loader import Loader, Source
from pallet.client.compose._types import (
    BindOptions,
    Build,
    Config,
    Depends,
    Deploy,
    DeviceMapping,
    EnvFile,
    FileMount,
    FileObject,
    HealthCheck,
    Ipam,
    IpamPool,
    Logging,
    Network,
    NetworkAttach,
    PortSpec,
    Project,
    Resources,
    RestartPolicy,
    Secret,
    Service,
    TmpfsOptions,
    Ulimit,
    Volume,
    VolumeOptions,
    VolumeSpec,
)
from pallet.client.compose._yaml import dump

__all__ = [
    "BindOptions", "Build", "ComposeFileError", "Config", "Depends", "Deploy", "DeviceMapping", "EnvFile",
    "FileMount", "FileObject", "HealthCheck", "Ipam", "IpamPool", "Logging", "Network", "NetworkAttach", "PortSpec",
    "Project", "Resources", "RestartPolicy", "Secret", "Service", "TmpfsOptions", "Ulimit", "Volume", "VolumeOptions",
    "VolumeSpec", "dump_yaml", "find_files", "load", "normalize_project_name", "services_in_dependency_order",
]

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                  "docker-compose.override.yaml")


def find_files(cwd: str, warnings: list[str] | None = None) -> list[str]:
    """The default compose file (and its override) of cwd or its nearest parent having one; [] if none.

    When a directory holds several candidates, the first in compose's order wins and a warning
    is added to warnings (if given).
    """
    directory = os.path.abspath(cwd)
    while True:
        found = [os.path.join(directory, n) for n in DEFAULT_FILES if os.path.isfile(os.path.join(directory, n))]
        if found:
            overrides = [os.path.join(directory, n) for n in OVERRIDE_FILES
                         if os.path.isfile(os.path.join(directory, n))]
            for group in (found, overrides):
                if len(group) > 1 and warnings is not None:
                    warnings.append(f"Found multiple config files with supported names: {', '.join(group)}")
                    warnings.append(f"Using {group[0]}")
            return [found[0]] + overrides[:1]
        parent = os.path.dirname(directory)
        if parent == directory:
            return []
        directory = parent


def normalize_project_name(name: str) -> str:
    """What compose makes of a directory name: lower case, only [a-z0-9_-], no leading _ or -."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def _check_project_name(name: str) -> str:
    if not name:
        raise ComposeFileError("project name must not be empty")
    if normalize_project_name(name) != name:
        raise ComposeFileError(f'invalid project name "{name}": must consist only of lowercase alphanumeric '
                               "characters, hyphens, and underscores as well as start with a letter or number")
    return name


def _abs(path: str, base: str) -> str:
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def _environment(environ: dict[str, str], env_files: list[str], directory: str) -> dict[str, str]:
    """environ over the env files (the given ones, else directory/.env when there is one)."""
    files = env_files
    if not files:
        default = os.path.join(directory, ".env")
        files = [default] if os.path.isfile(default) else []
    env = _dotenv.read_files(files, environ)
    env.update(environ)
    return env


def _config_paths(files: list[str] | None, env: dict[str, str], cwd: str, search_dir: str,
                  warnings: list[str]) -> list[str]:
    if files:
        return [f if f == "-" else _abs(f, cwd) for f in files]
    from_env = env.get("COMPOSE_FILE")
    if from_env:
        separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        return [_abs(f, search_dir) for f in from_env.split(separator) if f]
    found = find_files(search_dir, warnings)
    if not found:
        raise ComposeFileError("no configuration file provided: not found")
    return found


def _name_from_files(sources: list[Source], env: dict[str, str]) -> str:
    name = ""
    for source in sources:
        for document in source.documents:
            value = document.get("name") if isinstance(document, dict) else None
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise ComposeFileError(f"{source.filename}: project name must be a string")
            name = substitute_at(value, ("name",), env.get) or name
    return name


def _project_name(explicit: str | None, env: dict[str, str], sources: list[Source], project_dir: str) -> str:
    if explicit:
        return _check_project_name(explicit)
    if env.get("COMPOSE_PROJECT_NAME"):
        return _check_project_name(env["COMPOSE_PROJECT_NAME"])
    from_files = _name_from_files(sources, env)
    if from_files:
        return _check_project_name(from_files)
    return _check_project_name(normalize_project_name(os.path.basename(project_dir.rstrip("/")) or ""))


def _active_profiles(profiles: Iterable[str], env: dict[str, str]) -> list[str]:
    given = [p for p in profiles if p]
    if given:
        return given
    return [p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()]


def load(files: list[str] | None = None, project_directory: str | None = None, project_name: str | None = None,
         env_files: list[str] | None = None, profiles: Iterable[str] = (), environ: Mapping[str, str] | None = None,
         *, stdin: str | None = None, cwd: str | None = None) -> Project:
    """Load a compose project as `docker compose` would (see the module's documentation).

    files: -f values (None or [] to look them up); "-" reads stdin (the text given, else sys.stdin).
    project_directory: --project-directory; project_name: -p; env_files: --env-file values;
    profiles: --profile values; environ: the process environment (os.environ when None);
    cwd: the directory relative paths on the command line start from (os.getcwd() when None).
    Raises ComposeFileError with compose's message when the project cannot be loaded.
    """
    environ = dict(os.environ if environ is None else environ)
    cwd = os.path.abspath(cwd or os.getcwd())
    workdir = _abs(project_directory, cwd) if project_directory else None
    explicit_env = [_abs(f, cwd) for f in env_files or []]
    loader = Loader(stdin=stdin, home=environ.get("HOME"))

    search_dir = workdir or cwd
    env = _environment(environ, explicit_env, search_dir)
    paths = _config_paths(files, env, cwd, search_dir, loader.warnings)
    first = next((p for p in paths if p != "-"), None)
    project_dir = workdir or (os.path.dirname(first) if first and paths[0] != "-" else cwd)
    if project_dir != search_dir:
        env = _environment(environ, explicit_env, project_dir)

    sources = [loader.read(p) for p in paths]
    name = _project_name(project_name, env, sources, project_dir)
    env.setdefault("COMPOSE_PROJECT_NAME", name)
    active = _active_profiles(profiles, env)
    model = loader.load_model(sources, project_dir, env)
    model.pop("name", None)
    return build_project(model, name, project_dir, env, active, paths, loader.warnings)


def dump_yaml(project: Project | Mapping[str, Any]) -> str:
    """The model as `docker compose config` prints it (a Project, or a dict from to_dict())."""
    data = project.to_dict() if isinstance(project, Project) else dict(project)
    return dump(data)

