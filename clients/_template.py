"""A subset of Go's text/template for --format, over Docker-shaped JSON objects.

Actions: {{.A.B}}, {{.}}, {{$}}, {{$v.A}}, pipes ({{.A | json}}), parentheses
({{(index .Ports "80/tcp" 0).HostPort}}), {{range PIPE}} (also {{range $k, $v := PIPE}}),
{{if PIPE}}, {{with PIPE}}, {{else}}, {{end}}, and {{- -}} trimming. Functions: Docker's
json, upper, lower, title, join, split, and Go's index, len, eq, ne, not, and, or, print,
println. Errors are ValueErrors whose text starts with "template:".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_DELIMS = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)
_TOKEN = re.compile(r'\s*(\(|\)|\||:=|,|"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s()|,]+)')


def go_value(v: Any) -> str:
    """A value as Go's fmt prints it ({{.X}})."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(go_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_value(x)}" for k, x in sorted(v.items())) + "]"
    return str(v)


def _truth(v: Any) -> bool:
    return bool(v) if v is not None else False


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        try:
            v = v[k]
        except (KeyError, IndexError, TypeError):
            if isinstance(v, dict):
                return None  # Go: a missing map key is the zero value
            raise ValueError(f"template: index of {go_value(v)} with {k!r}") from None
    return v


FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: json.dumps(v, separators=(",", ":")),
    "upper": lambda v: go_value(v).upper(),
    "lower": lambda v: go_value(v).lower(),
    "title": lambda v: go_value(v).title(),
    "join": lambda v, sep: sep.join(go_value(x) for x in v or []),
    "split": lambda v, sep: go_value(v).split(sep),
    "index": _index,
    "len": lambda v: len(v or []),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "not": lambda v: not _truth(v),
    "and": lambda *v: next((x for x in v if not _truth(x)), v[-1]),
    "or": lambda *v: next((x for x in v if _truth(x)), v[-1]),
    "print": lambda *v: " ".join(go_value(x) for x in v),
    "println": lambda *v: " ".join(go_value(x) for x in v) + "\n",
}


class _Ctx:
    def __init__(self, root: Any) -> None:
        self.vars: dict[str, Any] = {"$": root}


def _fields(value: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"template: can't evaluate field {part}")
        value = value[part]
    return value


def _operand(tok: str, dot: Any, ctx: _Ctx) -> Any:
    if tok.startswith("."):
        return _fields(dot, tok)
    if tok.startswith("$"):
        name, _, rest = tok.partition(".")
        if name not in ctx.vars:
            raise ValueError(f"template: undefined variable {name}")
        return _fields(ctx.vars[name], rest)
    if tok[0] in "\"`":
        return json.loads(tok) if tok[0] == '"' else tok[1:-1]
    if tok in ("true", "false"):
        return tok == "true"
    if tok == "nil":
        return None
    if re.fullmatch(r"-?\d+", tok):
        return int(tok)
    raise ValueError(f"template: function {tok!r} not defined")


def _eval(tokens: list[str], dot: Any, ctx: _Ctx) -> Any:
    """A pipeline: commands separated by |, each value passed as the next one's last argument."""
    result: Any = None
    piped = False
    while tokens:
        args: list[Any] = []
        fn: str | None = None
        while tokens and tokens[0] != "|":
            tok = tokens.pop(0)
            if tok == "(":
                depth, inner = 1, []
                while depth:
                    if not tokens:
                        raise ValueError("template: unclosed left paren")
                    t = tokens.pop(0)
                    depth += {"(": 1, ")": -1}.get(t, 0)
                    if depth:
                        inner.append(t)
                value = _eval(inner, dot, ctx)
                if tokens and tokens[0].startswith(".") and tokens[0] != ".":
                    value = _fields(value, tokens.pop(0))
                args.append(value)
            elif not args and fn is None and tok in FUNCS:
                fn = tok
            else:
                args.append(_operand(tok, dot, ctx))
        if tokens:
            tokens.pop(0)
        if piped:
            args.append(result)
        if fn is not None:
            try:
                result = FUNCS[fn](*args)
            except TypeError:
                raise ValueError(f"template: wrong number of args for {fn}") from None
        elif len(args) == 1:
            result = args[0]
        else:
            raise ValueError("template: can't give argument to non-function")
        piped = True
    return result


def _parse(template: str) -> list[Any]:
    """Text and actions into nested nodes: str, ("print", toks), (kind, toks, body, else_body)."""
    items: list[Any] = []
    pos = 0
    for m in _DELIMS.finditer(template):
        text = template[pos:m.start()]
        if m.group(1):
            text = text.rstrip()
        items.append(text)
        items.append(m.group(2).strip())
        pos = m.end()
        if m.group(3):
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
    items.append(template[pos:])
    if "{{" in "".join(items[0::2]):
        raise ValueError(f"template: unclosed action in {template!r}")
    root: list[Any] = []
    stack: list[tuple[list[Any], list[Any]]] = []
    current = root
    for i, item in enumerate(items):
        if i % 2 == 0:
            if item:
                current.append(item.replace("\\t", "\t").replace("\\n", "\n"))
            continue
        words = _TOKEN.findall(item)
        head = words[0] if words else ""
        if head in ("range", "if", "with"):
            body: list[Any] = []
            node = [head, words[1:], body, []]
            current.append(node)
            stack.append((current, node))
            current = body
        elif head == "else":
            if not stack or len(words) > 1:
                raise ValueError("template: unexpected {{else}}" if not stack else "template: {{else if}} unsupported")
            current = stack[-1][1][3]
        elif head == "end":
            if not stack:
                raise ValueError("template: unexpected {{end}}")
            current = stack.pop()[0]
        elif head.startswith("/*") or not words:
            continue
        else:
            current.append(["print", words])
    if stack:
        raise ValueError(f"template: unexpected EOF in {template!r}")
    return root


def _run(nodes: list[Any], dot: Any, ctx: _Ctx, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
            continue
        kind, words = node[0], list(node[1])
        names: list[str] = []
        if ":=" in words:
            cut = words.index(":=")
            names, words = [w for w in words[:cut] if w != ","], words[cut + 1:]
        value = _eval(words, dot, ctx)
        if kind == "print":
            if names:
                ctx.vars[names[0]] = value
            else:
                out.append(go_value(value))
        elif kind == "range":
            pairs = sorted(value.items()) if isinstance(value, dict) else list(enumerate(value or []))
            if not pairs:
                _run(node[3], dot, ctx, out)
            for key, item in pairs:
                if len(names) == 2:
                    ctx.vars[names[0]], ctx.vars[names[1]] = key, item
                elif names:
                    ctx.vars[names[0]] = item
                _run(node[2], item, ctx, out)
        elif kind == "if":
            _run(node[2] if _truth(value) else node[3], dot, ctx, out)
        elif _truth(value):  # with
            _run(node[2], value, ctx, out)
        else:
            _run(node[3], dot, ctx, out)


def render(template: str, obj: Any) -> str:
    out: list[str] = []
    _run(_parse(template), obj, _Ctx(obj), out)
    return "".join(out)
