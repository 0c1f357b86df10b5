"""Docker's variable substitution for Dockerfile instructions (BuildKit's shell lexer).

Quotes are removed, `$VAR`/`${VAR}` and the `${VAR<op>word}` forms are expanded, and the escape
character (`\\` or the `# escape=` backtick) escapes the next character.  As in Docker, `$1`, `$@`
and `$$` are looked up as variables of those names (so they usually expand to ""), and a `$`
before any other character stays literal.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping

from pallet import errors

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class _Error(Exception):
    """A lexing error; re-raised as InvalidArgument naming the whole word."""


class _Words:
    """Word splitting alongside expansion: unquoted whitespace separates words."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word, self.in_word = "", False
        else:
            self.add_raw(ch)

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word, self.in_word = "", False
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, keep_unset: bool = False) -> None:
        if escape not in ("\\", "`"):
            raise errors.InvalidArgument(f"invalid escape token '{escape}' does not match ` or \\")
        self.text, self.pos, self.env, self.escape = text, 0, env, escape
        self.keep_unset = keep_unset
        self.raw_escapes = False
        self.used: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.until("", False)
        except _Error as exc:
            raise errors.InvalidArgument(f'failed to process "{self.text}": {exc}') from None

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to (and past) `stop`, or to the end when stop is ""."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            out: list[str] = []
            words = _Words()
            while (ch := self.peek()) != "":
                if stop and ch == stop:
                    self.pos += 1
                    return "".join(out), words.result()
                if ch == "$":
                    value = self.dollar()
                    words.add_string(value)
                elif ch in "'\"":
                    value = self.single_quoted() if ch == "'" else self.double_quoted()
                    words.add_raw(value)
                else:
                    self.pos += 1
                    if ch == self.escape:
                        if self.raw_escapes:
                            words.add_raw(ch)
                            out.append(ch)
                        ch = self.next()
                        if ch == "":
                            break
                        words.add_raw(ch)
                    else:
                        words.add_char(ch)
                    value = ch
                out.append(value)
            if stop:
                raise _Error(f"unexpected end of statement while looking for matching {stop}")
            return "".join(out), words.result()
        finally:
            self.raw_escapes = saved

    def single_quoted(self) -> str:
        """Everything up to the next single quote, literally (nothing escapes inside)."""
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise _Error("unexpected end of statement while looking for matching single-quote")
        value, self.pos = self.text[self.pos:end], end + 1
        return value

    def double_quoted(self) -> str:
        """Up to the next double quote; `$` expands and the escape only escapes `"`, `$` and itself."""
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == "":
                raise _Error("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == "":
                    continue
                if nxt in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def lookup(self, name: str) -> tuple[str, bool]:
        self.used.add(name)
        if name in self.env:
            return self.env[name], True
        return "", False

    def name(self) -> str:
        """A variable name: letters, digits and `_`; or all leading digits; or one special parameter."""
        start = self.pos
        ch = self.peek()
        if ch.isdigit():
            while self.peek().isdigit():
                self.pos += 1
            return self.text[start:self.pos]
        if ch and ch in _SPECIAL_PARAMS:
            self.pos += 1
            return ch
        while (ch := self.peek()) and (ch.isalnum() or ch == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def dollar(self) -> str:
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            return "$" + name if not found and self.keep_unset else value
        self.pos += 1
        if self.peek() == "":
            raise _Error("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _Error("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            value, found = self.lookup(name)
            return "${" + name + "}" if not found and self.keep_unset else value
        if op == "/":
            return self.replace(name)
        colon = op == ":"
        if colon:
            op = self.next()
        if not colon and op not in "+-?#%":
            raise _Error(f"unsupported modifier ({op}) in substitution")
        word = self.braced(op in "#%")
        value, found = self.lookup(name)
        if not found and self.keep_unset:
            return "${" + name + (":" if colon else "") + op + word + "}"
        empty = not found or (colon and value == "")
        if op == "-":
            return word if empty else value
        if op == "+":
            return "" if empty else word
        if op == "?":
            if empty:
                default = "is not allowed to be unset" if not found else "is not allowed to be empty"
                raise _Error(f"{name}: {word or default}")
            return value
        if op in "#%":
            greedy = word.startswith(op)
            pattern = word[1:] if greedy else word
            return _trim(value, pattern, greedy, suffix=op == "%")
        raise _Error(f"unsupported modifier ({':' if colon else ''}{op}) in substitution")

    def braced(self, raw_escapes: bool, stop: str = "}") -> str:
        try:
            return self.until(stop, raw_escapes)[0]
        except _Error:
            if self.peek() == "":
                raise _Error("syntax error: " + ("missing '}'" if stop == "}" else "missing '/' in ${}")) from None
            raise

    def replace(self, name: str) -> str:
        """`${name/pattern/repl}` (first match) and `${name//pattern/repl}` (all matches)."""
        replace_all = self.peek() == "/"
        self.pos += 1 if replace_all else 0
        pattern = self.braced(True, "/")
        replacement = self.braced(True)
        value, found = self.lookup(name)
        if not found and self.keep_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        rx = _pattern_regex(pattern, greedy=True, anchored=False)
        return rx.sub(lambda _m: replacement, value, count=0 if replace_all else 1)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (`*`, `?`, backslash escapes; no brackets) as a regular expression."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            if nxt not in ("*", "?", "\\"):
                raise _Error(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _reverse_pattern(pattern: str) -> str:
    """The pattern reversed, keeping each escape before the character it escapes."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        step = 2 if pattern[i] == "\\" and i + 1 < len(pattern) else 1
        tokens.append(pattern[i:i + step])
        i += step
    return "".join(reversed(tokens))


def _trim(value: str, pattern: str, greedy: bool, suffix: bool) -> str:
    """`${v#p}`/`${v##p}` trim a prefix; `%`/`%%` a suffix (by matching the reversed strings)."""
    if suffix:
        return _trim(value[::-1], _reverse_pattern(pattern), greedy, False)[::-1]
    m = _pattern_regex(pattern, greedy, anchored=True).match(value)
    return value[m.end():] if m else value


def expand(word: str, env: Mapping[str, str], escape: str = "\\", *, keep_unset: bool = False) -> str:
    """`word` with variables substituted, quotes removed and escapes applied (whitespace kept).

    keep_unset leaves references to unset variables as written (BuildKit's SkipUnsetEnv).
    """
    return _Lexer(word, env, escape, keep_unset).run()[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\", *, keep_unset: bool = False) -> list[str]:
    """Like expand, then split on unquoted whitespace (also whitespace that came from a variable)."""
    return _Lexer(text, env, escape, keep_unset).run()[1]


def expand_with_used(word: str, env: Mapping[str, str], escape: str = "\\") -> tuple[str, set[str]]:
    """expand() and the names of every variable the word looked up (set or not)."""
    lexer = _Lexer(word, env, escape)
    return lexer.run()[0], lexer.used


class _EveryName(Mapping[str, str]):
    """An environment in which every variable is set (so no `${X:?}` fails and every branch is read)."""

    def __getitem__(self, key: str) -> str:
        return "x"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def used_vars(text: str, escape: str = "\\") -> set[str]:
    """The names of the variables `text` refers to, including those in `${A:-$B}` defaults.

    Never raises: a malformed word reports the names read before the error (expanding it fails later).
    """
    lexer = _Lexer(text, _EveryName(), escape)
    with contextlib.suppress(errors.InvalidArgument):
        lexer.run()
    return lexer.used
