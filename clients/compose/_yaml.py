"""Compose files as YAML: read like compose's Go YAML library does, written like `compose config`.

Reading follows YAML 1.2 as go-yaml v3 resolves plain scalars: only true/false are booleans
(`restart: no` stays the string "no"), `22:22` is a string, `0755` is octal, dates stay strings.
Mapping keys are their source text, and a key given twice in one mapping is an error. The
compose merge tags `!reset` and `!override` are kept as markers for the loader to act on.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pallet.client.compose._errors import ComposeFileError

if TYPE_CHECKING:
    import yaml

_STR = "tag:yaml.org,2002:str"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+|[-+]?0o[0-7_]+|[-+]?0b[01_]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                    r"|\.(?:nan|NaN|NAN))$")


class Reset:
    """`!reset`: drop what earlier files set at this place."""


RESET = Reset()


@dataclass
class Override:
    """`!override value`: replace what earlier files set at this place instead of merging with it."""

    value: Any


# -- reading (PyYAML is imported on first use) ----------------------------------------------


@functools.cache
def _loader_class() -> type[yaml.SafeLoader]:
    import yaml

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:  # type: ignore[override]
            explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.flatten_mapping(node)
            merged = len(node.value) - explicit  # entries brought by `<<:` come first and may be overridden
            out: dict[str, Any] = {}
            seen: set[str] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError(None, None, "mapping keys must be scalars",
                                                            key_node.start_mark)
                key = key_node.value
                if index >= merged:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f'mapping key "{key}" already defined', key_node.start_mark)
                    seen.add(key)
                out[key] = self.construct_object(value_node, deep=deep)
            return out

    def construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
        text = str(loader.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return sign * int(digits, 8)  # Go's ParseInt(s, 0, 64): a leading 0 means octal
        return sign * int(digits, 0)

    def plain_node(loader: yaml.SafeLoader, node: yaml.Node) -> yaml.Node:
        if isinstance(node, yaml.MappingNode):
            return yaml.MappingNode("tag:yaml.org,2002:map", node.value, node.start_mark, node.end_mark)
        if isinstance(node, yaml.SequenceNode):
            return yaml.SequenceNode("tag:yaml.org,2002:seq", node.value, node.start_mark, node.end_mark)
        tag = loader.resolve(yaml.ScalarNode, node.value, (True, False))
        return yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark)

    def construct_reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
        return RESET

    def construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
        return Override(loader.construct_object(plain_node(loader, node), deep=True))

    Loader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
    Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))
    Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Loader.add_constructor("!reset", construct_reset)
    Loader.add_constructor("!override", construct_override)
    return Loader


def load_documents(text: str, filename: str) -> list[Any]:
    """Every YAML document in the text (usually one), as plain Python values."""
    import yaml

    try:
        return [doc for doc in yaml.load_all(text, Loader=_loader_class()) if doc is not None]  # noqa: S506
    except yaml.YAMLError as exc:
        raise ComposeFileError(f"{filename}: {_yaml_error(exc)}") from None


def _yaml_error(exc: yaml.YAMLError) -> str:
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"yaml: line {exc.problem_mark.line + 1}: {exc.problem}"
    return f"yaml: {exc}"


# -- markers ----------------------------------------------------------------------------------

TagPath = tuple[str, ...]


def extract_tags(tree: Any, path: TagPath = ()) -> tuple[Any, list[tuple[TagPath, str]]]:
    """The tree without its !reset/!override markers, and where each was: [(path, "reset"|"override")].

    A !reset entry is removed from the tree; an !override one keeps its value.
    """
    found: list[tuple[TagPath, str]] = []
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            if isinstance(value, Reset):
                found.append((path + (key,), "reset"))
                continue
            if isinstance(value, Override):
                found.append((path + (key,), "override"))
                value = value.value
            out[key], inner = extract_tags(value, path + (key,))
            found.extend(inner)
        return out, found
    if isinstance(tree, list):
        items = []
        for item in tree:
            if isinstance(item, Reset):
                continue
            if isinstance(item, Override):
                item = item.value
            items.append(extract_tags(item, path)[0])
        return items, found
    if isinstance(tree, Override):
        return extract_tags(tree.value, path)
    return tree, found


# -- writing --------------------------------------------------------------------------------


def _implicit_tag(resolver: type[yaml.resolver.BaseResolver], value: str) -> str:
    for tag, regexp in resolver.yaml_implicit_resolvers.get(value[:1], []):
        if regexp.match(value):
            return str(tag)
    return _STR


@functools.cache
def _dumper_class() -> type[yaml.SafeDumper]:
    import yaml

    reader = _loader_class()

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)  # sequences indented under their key, as compose prints

        def ignore_aliases(self, data: Any) -> bool:
            return True

    def represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        if "\n" in data:
            return dumper.represent_scalar(_STR, data, style="|")
        # quoted when either reader (compose's, or a YAML 1.1 one) would take the plain text for a non-string
        if _implicit_tag(reader, data) != _STR or _implicit_tag(yaml.resolver.Resolver, data) != _STR:
            return dumper.represent_scalar(_STR, data, style='"')
        return dumper.represent_scalar(_STR, data)

    Dumper.add_representer(str, represent_str)
    return Dumper


def dump(data: Any) -> str:
    import yaml

    return str(yaml.dump(data, Dumper=_dumper_class(), sort_keys=False, allow_unicode=True, width=1 << 30,
                         default_flow_style=False, indent=2))
