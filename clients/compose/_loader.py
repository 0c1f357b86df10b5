"""Compose files to one merged canonical model: interpolation, validation, extends, include, merge.

Each file (each YAML document of it) goes through the same steps: `!reset`/`!override` markers
noted, variables substituted, the schema checked, the canonical form taken with relative paths
made absolute, `extends` applied within the file, `include`d projects imported; then it is
merged onto the files before it.
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass
from typing import Any

from pallet.client.compose import _dotenv
from pallet.client.compose._canonical import Context, canonical_model, str_list
from pallet.client.compose._errors import ComposeFileError
from pallet.client.compose._interpolate import interpolate
from pallet.client.compose._merge import delete_path, enforce_unique, merge, merge_service
from pallet.client.compose._validate import validate
from pallet.client.compose._yaml import TagPath, extract_tags, load_documents

Dict = dict[str, Any]

OBSOLETE_VERSION = ("the attribute `version` is obsolete, it will be ignored, please remove it to avoid "
                    "potential confusion")
_RESOURCES = ("services", "volumes", "networks", "secrets", "configs")


@dataclass
class Source:
    """A compose file read: its absolute path ("-" for standard input) and its YAML documents."""

    filename: str
    documents: list[Any]


class Loader:
    """Loads files into canonical models; collects warnings (each once)."""

    def __init__(self, stdin: str | None = None, home: str | None = None) -> None:
        self.warnings: list[str] = []
        self.stdin = stdin
        self.home = home
        self._extended: dict[tuple[str, tuple[tuple[str, str], ...]], Dict] = {}

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def read(self, path: str) -> Source:
        if path == "-":
            text = self.stdin if self.stdin is not None else sys.stdin.read()
            self.stdin = text
        else:
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except FileNotFoundError:
                raise ComposeFileError(f"open {path}: no such file or directory") from None
            except OSError as exc:
                raise ComposeFileError(f"open {path}: {exc.strerror or exc}") from None
        return Source(path, load_documents(text, path))

    # -- files ----------------------------------------------------------------------------------

    def load_model(self, sources: list[Source], base_dir: str, env: dict[str, str],
                   included: tuple[str, ...] = ()) -> Dict:
        """The files merged in order, relative paths against base_dir, variables from env."""
        model: Dict = {}
        for source in sources:
            for document in source.documents:
                layer, tags = self._layer(document, source.filename, base_dir, env, included)
                for path in tags:
                    delete_path(model, path)
                model = enforce_unique(merge(model, layer))
        return model

    def _prepare(self, document: Any, filename: str, base_dir: str, env: dict[str, str]) -> tuple[Dict, list[TagPath]]:
        if not isinstance(document, dict):
            raise ComposeFileError(f"{filename}: the top level of a compose file must be a mapping")
        tree, tags = extract_tags(document)
        tree = interpolate(tree, env.get, self.warn)
        try:
            validate(tree)
            canonical = canonical_model(tree, Context(base_dir, self.home))
        except ComposeFileError as exc:
            raise ComposeFileError(f"validating {filename}: {exc}") from None
        if "version" in canonical:
            self.warn(f"{filename}: {OBSOLETE_VERSION}")
            del canonical["version"]
        return canonical, [path for path, _kind in tags]

    def _layer(self, document: Any, filename: str, base_dir: str, env: dict[str, str],
               included: tuple[str, ...]) -> tuple[Dict, list[TagPath]]:
        model, tags = self._prepare(document, filename, base_dir, env)
        self._apply_extends(model.get("services", {}), filename, env)
        includes = model.pop("include", [])
        for entry in includes:
            self._include(model, entry, base_dir, env, included + (filename,))
        return model, tags

    # -- extends ----------------------------------------------------------------------------------

    def _apply_extends(self, services: Dict, filename: str, env: dict[str, str]) -> None:
        for name in list(services):
            self._extended_service(name, services, filename, env, ())

    def _extended_service(self, name: str, services: Dict, filename: str, env: dict[str, str],
                          stack: tuple[tuple[str, str], ...]) -> Dict:
        service: Dict = services[name]
        extends = service.get("extends")
        if extends is None:
            return service
        if (filename, name) in stack:
            chain = [n for _f, n in stack[stack.index((filename, name)):]] + [name]
            raise ComposeFileError(f"circular reference with extends: {' -> '.join(chain)}")
        stack += ((filename, name),)
        ref = extends["service"]
        if "file" in extends:
            other_file = extends["file"]
            other = self._extended_file(other_file, env).get("services", {})
            if ref not in other:
                raise ComposeFileError(f'cannot extend service "{name}" in {filename}: '
                                       f'service "{ref}" not found in {other_file}')
            base = self._extended_service(ref, other, other_file, env, stack)
        else:
            if ref not in services:
                raise ComposeFileError(f'cannot extend service "{name}" in {filename}: service "{ref}" not found')
            base = self._extended_service(ref, services, filename, env, stack)
        own = {k: v for k, v in service.items() if k != "extends"}
        merged = merge_service(copy.deepcopy(base), own)
        services[name] = merged
        return merged

    def _extended_file(self, path: str, env: dict[str, str]) -> Dict:
        """A file named by `extends.file`: its paths relative to its own directory, no include."""
        key = (path, tuple(sorted(env.items())))
        if key not in self._extended:
            model: Dict = {}
            for document in self.read(path).documents:
                layer, _tags = self._prepare(document, path, os.path.dirname(path), env)
                layer.pop("include", None)
                model = merge(model, layer)
            self._extended[key] = enforce_unique(model)
        return self._extended[key]

    # -- include ----------------------------------------------------------------------------------

    def _include(self, model: Dict, entry: Any, base_dir: str, env: dict[str, str],
                 included: tuple[str, ...]) -> None:
        if isinstance(entry, str):
            entry = {"path": entry}
        ctx = Context(base_dir, self.home)
        paths = [ctx.abspath(p) for p in str_list(entry["path"])]
        for path in paths:
            if path in included:
                raise ComposeFileError(f"include cycle detected: {' -> '.join(included + (path,))}")
        project_dir = ctx.abspath(entry["project_directory"]) if entry.get("project_directory") \
            else os.path.dirname(paths[0])
        env_files = [ctx.abspath(f) for f in str_list(entry.get("env_file"))]
        if not env_files and os.path.isfile(os.path.join(project_dir, ".env")):
            env_files = [os.path.join(project_dir, ".env")]
        sub_env = dict(env)
        for key, value in _dotenv.read_files(env_files, env).items():
            sub_env.setdefault(key, value)
        sources = [self.read(p) for p in paths]
        imported = self.load_model(sources, project_dir, sub_env, included)
        for kind in _RESOURCES:
            for key, resource in imported.get(kind, {}).items():
                existing = model.setdefault(kind, {})
                if key in existing and existing[key] != resource:
                    raise ComposeFileError(f"{kind}.{key} conflicts with imported resource")
                existing[key] = resource
