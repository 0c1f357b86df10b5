"""Variable substitution in compose files, as compose-go's template package does it.

`$VAR` and `${VAR}`; `${VAR:-default}` (unset or empty), `${VAR-default}` (unset);
`${VAR:?err}` and `${VAR?err}` (required); `${VAR:+alt}` and `${VAR+alt}` (replacement);
defaults and messages may hold further substitutions; `$$` is a literal `$`. A `$` followed by
anything else is an invalid template, an error as in compose. Mapping keys are not substituted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pallet.client.compose._errors import ComposeFileError

Lookup = Callable[[str], "str | None"]
Warn = Callable[[str], None]

_NAME_START = "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_CHARS = _NAME_START + "0123456789"
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InvalidTemplate(Exception):
    """A `$` that starts no valid substitution."""


class MissingRequired(Exception):
    def __init__(self, name: str, reason: str) -> None:
        text = f"required variable {name} is missing a value"
        super().__init__(f"{text}: {reason}" if reason else text)


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` at start, counting nested `${`; -1 when unclosed."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _name_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end] in _NAME_CHARS:
        end += 1
    return end


def substitute(template: str, lookup: Lookup, warn: Warn | None = None) -> str:
    """The template with its variables replaced; InvalidTemplate or MissingRequired otherwise."""
    out: list[str] = []
    i = 0
    while i < len(template):
        dollar = template.find("$", i)
        if dollar < 0:
            out.append(template[i:])
            break
        out.append(template[i:dollar])
        nxt = template[dollar + 1:dollar + 2]
        if nxt == "$":
            out.append("$")
            i = dollar + 2
        elif nxt == "{":
            close = _closing_brace(template, dollar)
            if close < 0:
                raise InvalidTemplate(template)
            out.append(_braced(template[dollar + 2:close], template, lookup, warn))
            i = close + 1
        elif nxt and nxt in _NAME_START:
            end = _name_end(template, dollar + 1)
            out.append(_plain(template[dollar + 1:end], lookup, warn))
            i = end
        else:
            raise InvalidTemplate(template)
    return "".join(out)


def _plain(name: str, lookup: Lookup, warn: Warn | None) -> str:
    value = lookup(name)
    if value is None:
        if warn is not None:
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
        return ""
    return value


def _braced(body: str, template: str, lookup: Lookup, warn: Warn | None) -> str:
    if not body or body[0] not in _NAME_START:
        raise InvalidTemplate(template)
    end = _name_end(body, 0)
    name, rest = body[:end], body[end:]
    if not rest:
        return _plain(name, lookup, warn)
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise InvalidTemplate(template)
    arg = rest[len(op):]
    value = lookup(name)
    unset_or_empty = value is None or value == ""
    missing = unset_or_empty if op.startswith(":") else value is None
    if op in (":-", "-"):
        return substitute(arg, lookup, warn) if missing else str(value)
    if op in (":?", "?"):
        if missing:
            raise MissingRequired(name, substitute(arg, lookup, warn))
        return str(value)
    return "" if missing else substitute(arg, lookup, warn)  # ":+" and "+"


def path_text(path: tuple[str | int, ...]) -> str:
    """("services", "web", "ports", 0) → "services.web.ports[0]"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


def substitute_at(template: str, path: tuple[str | int, ...], lookup: Lookup, warn: Warn | None = None) -> str:
    """substitute(), with compose's errors naming where in the file the template is."""
    try:
        return substitute(template, lookup, warn)
    except InvalidTemplate:
        raise ComposeFileError(f"invalid interpolation format for {path_text(path)}.\n"
                               f"You may need to escape any $ with another $.\n{template}") from None
    except MissingRequired as exc:
        raise ComposeFileError(f"error while interpolating {path_text(path)}: {exc}") from None


def interpolate(tree: Any, lookup: Lookup, warn: Warn | None = None,
                path: tuple[str | int, ...] = ()) -> Any:
    """Every string value in the tree substituted (keys are not)."""
    if isinstance(tree, str):
        return substitute_at(tree, path, lookup, warn)
    if isinstance(tree, dict):
        return {key: interpolate(value, lookup, warn, path + (key,)) for key, value in tree.items()}
    if isinstance(tree, list):
        return [interpolate(item, lookup, warn, path + (i,)) for i, item in enumerate(tree)]
    return tree
