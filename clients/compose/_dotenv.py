"""`.env` files as compose reads them (compose-go's dotenv package).

`KEY=value` (or `KEY: value`), an optional `export ` prefix, `#` comment lines, and
- unquoted values: up to the end of the line, a ` #` starting a comment, trailing blanks dropped;
- 'single quoted': taken as written, over several lines if need be;
- "double quoted": `\\n`, `\\t`, `\\"`, `\\\\` and `\\$` escapes, several lines allowed;
- `${VAR}` references (unquoted and double quoted), resolved against the given lookup first
  and then the keys defined above in the same file;
- a bare `KEY` takes its value from the lookup, when it has one.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pallet.client.compose._errors import ComposeFileError
from pallet.client.compose._interpolate import InvalidTemplate, MissingRequired, substitute

Lookup = Callable[[str], "str | None"]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$", "'": "'"}


class DotenvError(ValueError):
    pass


def parse(text: str, lookup: Lookup | None = None) -> dict[str, str]:
    """The variables a dotenv text defines."""
    parser = _Parser(text.removeprefix("\ufeff"), lookup or (lambda _k: None))
    return parser.run()


class _Parser:
    def __init__(self, text: str, lookup: Lookup) -> None:
        self.text = text
        self.pos = 0
        self.lookup = lookup
        self.out: dict[str, str] = {}

    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def fail(self, message: str) -> DotenvError:
        return DotenvError(f"line {self.line()}: {message}")

    def run(self) -> dict[str, str]:
        while True:
            self._skip_blank()
            if self.pos >= len(self.text):
                return self.out
            if self.text[self.pos] == "#":
                self._skip_line()
                continue
            self._statement()

    def _skip_blank(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def _statement(self) -> None:
        text = self.text
        if text.startswith("export", self.pos) and text[self.pos + 6:self.pos + 7] in (" ", "\t"):
            self.pos += 6
            while self.pos < len(text) and text[self.pos] in " \t":
                self.pos += 1
        start = self.pos
        while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] in "_.-"):
            self.pos += 1
        key = text[start:self.pos]
        while self.pos < len(text) and text[self.pos] in " \t":
            self.pos += 1
        sep = text[self.pos:self.pos + 1]
        if sep in ("", "\n", "\r", "#"):
            if not key:
                raise self.fail("missing variable name")
            inherited = self.lookup(key)
            if inherited is not None:
                self.out[key] = inherited
            self._skip_line()
            return
        if sep not in ("=", ":") or not key:
            raise self.fail(f"unexpected character {sep!r} in variable name {text[start:self.pos + 1]!r}")
        self.pos += 1
        while self.pos < len(text) and text[self.pos] in " \t":
            self.pos += 1
        self.out[key] = self._value()

    def _value(self) -> str:
        quote = self.text[self.pos:self.pos + 1]
        if quote in ("'", '"'):
            return self._quoted(quote)
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        raw = self.text[self.pos:end]
        self.pos = end
        comment = raw.find(" #")
        if comment >= 0:
            raw = raw[:comment]
        return self._expand(raw.rstrip())

    def _quoted(self, quote: str) -> str:
        text = self.text
        i = self.pos + 1
        while i < len(text):
            if text[i] == "\\" and quote == '"':
                i += 2
                continue
            if text[i] == quote:
                break
            i += 1
        else:
            raise self.fail(f"unterminated quoted value {text[self.pos:].splitlines()[0]}")
        raw = text[self.pos + 1:i]
        self.pos = i + 1
        self._skip_line()  # whatever follows the closing quote on that line is a comment
        if quote == "'":
            return raw
        return self._expand(_unescape(raw))

    def _expand(self, value: str) -> str:
        def lookup(name: str) -> str | None:
            found = self.lookup(name)
            return found if found is not None else self.out.get(name)

        try:
            return substitute(value, lookup)
        except (InvalidTemplate, MissingRequired) as exc:
            message = f"invalid interpolation format in {value!r}" if isinstance(exc, InvalidTemplate) else str(exc)
            raise self.fail(message) from None


def _unescape(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) and raw[i + 1] in _ESCAPES:
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
            continue
        if c == "\\" and i + 1 < len(raw):
            out.append(raw[i:i + 2])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_raw(text: str) -> dict[str, str]:
    """`format: raw` env files: KEY=VALUE lines taken as they are."""
    out: dict[str, str] = {}
    for line in text.removeprefix("\ufeff").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value
    return out


def read_file(path: str, lookup: Lookup | None = None, raw: bool = False) -> dict[str, str]:
    """A dotenv file's variables; ComposeFileError naming the file when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ComposeFileError(f"failed to read {path}: {exc.strerror or exc}") from None
    if raw:
        return parse_raw(text)
    try:
        return parse(text, lookup)
    except DotenvError as exc:
        raise ComposeFileError(f"failed to read {path}: {exc}") from None


def read_files(paths: list[str], environ: dict[str, str]) -> dict[str, str]:
    """Several env files, later ones overriding earlier ones; references see environ first."""
    merged: dict[str, str] = {}
    for path in paths:
        if not os.path.exists(path):
            raise ComposeFileError(f"couldn't find env file: {path}")
        if os.path.isdir(path):
            raise ComposeFileError(f"{path} is a directory, not an env file")

        def lookup(name: str) -> str | None:
            return environ[name] if name in environ else merged.get(name)

        merged.update(read_file(path, lookup))
    return merged
