""".dockerignore files, with Docker's semantics (moby/patternmatcher and its ignorefile reader).

Reading (`load`, ignorefile.ReadAll): a UTF-8 BOM is dropped; a line starting with "#" is a
comment (only in the first column: "  # x" is the pattern "# x"); other lines are trimmed,
blank ones skipped, "!" marks an exception, and the rest is cleaned with Go's filepath.Clean
and loses one leading "/" ("/a/../b" -> "b").

Matching (`Matcher`, patternmatcher.MatchesOrParentMatches): a path is excluded when the last
pattern matching it, or matching one of its parent directories, is not an exception. The
syntax is Go's filepath.Match (`*` and `?` stop at "/", `[a-z]` / `[^a-z]` classes, `\\`
escapes) plus `**`, which spans any number of directories, with Docker's three shortcuts kept
for the patterns they apply to: a pattern ending in `/**` (and otherwise literal) matches only
below its prefix ("a/**" does not match "a"), a pattern starting with `**` followed by literal
text matches by suffix ("**foo" matches "xfoo"), and a literal pattern matches itself.

Where Docker turns a pattern into a Go regexp textually, a few malformed spellings do odd
things there; here they follow filepath.Match instead: `*` and `?` inside a class are literal
characters, `\\d`, `\\w`... mean the letter, `^` outside a class is a literal, POSIX classes
such as `[[:alpha:]]` are not special. A reversed range (`[z-a]`), which Docker accepts first
and fails on at the first match, is refused up front.

Walking (`Matcher.can_skip_dir`) follows BuildKit's sender (tonistiigi/fsutil, what `docker
build` uses today): an excluded directory is skipped without being read unless an exception
could re-include something beneath it. The classic builder's tar walker only checked for an
exception spelled below the directory, and so lost files a wildcard exception such as
`!**/*.go` re-includes.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence

from pallet import errors

# Go's unicode.IsSpace, which strings.TrimSpace strips (str.strip() also strips \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"
_BOM = b"\xef\xbb\xbf"
_GLOB_CHARS = frozenset("*[]?^\\")  # fsutil's patternChars: an exception with one of these is a wildcard

_EXACT, _PREFIX, _SUFFIX, _REGEX = range(4)


class DockerignoreError(errors.InvalidArgument):
    """A .dockerignore that cannot be read, or a pattern with a syntax error."""


def go_clean(path: str) -> str:
    """Go's filepath.Clean for "/"-separated paths."""
    out = posixpath.normpath(path) if path else "."
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def parse(data: bytes) -> list[str]:
    """The patterns of a .dockerignore file's content (ignorefile.ReadAll)."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # bufio.Scanner yields no empty token after a final newline
    out: list[str] = []
    for raw in lines:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        text = line.decode("utf-8", "surrogateescape")
        if text.startswith("#"):
            continue
        pattern = text.strip(_GO_SPACE)
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip(_GO_SPACE)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def load(path: str) -> list[str]:
    """The patterns of the .dockerignore file at path; a missing file has none."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DockerignoreError(f"error reading .dockerignore: {path}: {(exc.strerror or str(exc)).lower()}") \
            from None
    return parse(data)


def _bad(pattern: str) -> DockerignoreError:
    return DockerignoreError(f'syntax error in pattern "{pattern}"')


def _class_char(pat: str, i: int, whole: str) -> tuple[str, int]:
    """One character of a class at pat[i] (filepath.Match's getEsc): the character and the next index."""
    n = len(pat)
    if i >= n or pat[i] in "-]":
        raise _bad(whole)
    if pat[i] == "\\":
        i += 1
        if i >= n:
            raise _bad(whole)
    ch = pat[i]
    i += 1
    if i >= n:  # a class must be closed
        raise _bad(whole)
    return ch, i


def _char_class(pat: str, i: int, whole: str) -> tuple[str, int]:
    """The regexp of the class whose "[" is at pat[i - 1], and the index after its "]"."""
    negate = i < len(pat) and pat[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    while not (parts and pat[i] == "]"):
        lo, i = _class_char(pat, i, whole)
        hi = lo
        if pat[i] == "-":
            hi, i = _class_char(pat, i + 1, whole)
        if lo > hi:
            raise _bad(whole)
        parts.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    return "[" + ("^" if negate else "") + "".join(parts) + "]", i + 1


class _Pattern:
    """One cleaned pattern, compiled the way patternmatcher's Pattern.compile classifies it."""

    __slots__ = ("text", "exception", "kind", "regex")

    def __init__(self, text: str, exception: bool, whole: str) -> None:
        self.text = text
        self.exception = exception
        self.regex: re.Pattern[str] | None = None
        out: list[str] = []
        kind = _EXACT
        i, n, step = 0, len(text), 0
        while i < n:
            ch = text[i]
            i += 1
            if ch == "*":
                if i < n and text[i] == "*":
                    i += 1
                    if i < n and text[i] == "/":  # "**/" is "**"
                        i += 1
                    if i == n:
                        if kind == _EXACT:
                            kind = _PREFIX
                        else:
                            out.append(".*")
                            kind = _REGEX
                    else:
                        out.append("(?:.*/)?")  # any number of directories, even none
                        kind = _REGEX
                    if step == 0:
                        kind = _SUFFIX
                else:
                    out.append("[^/]*")
                    kind = _REGEX
            elif ch == "?":
                out.append("[^/]")
                kind = _REGEX
            elif ch == "\\":
                if i >= n:
                    raise _bad(whole)
                out.append(re.escape(text[i]))
                i += 1
                kind = _REGEX
            elif ch == "[":
                cls, i = _char_class(text, i, whole)
                out.append(cls)
                kind = _REGEX
            elif ch == "]":  # a stray "]" is literal, but Docker no longer takes the shortcuts then
                out.append(re.escape(ch))
                kind = _REGEX
            else:
                out.append(re.escape(ch))
            step += 1
        self.kind = kind
        if kind == _REGEX:
            self.regex = re.compile("".join(out))

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None

    def spelled_prefix(self) -> str | None:
        """The literal path an exception re-includes below (fsutil's patternWithoutTrailingGlob),
        or None when it holds a wildcard and could match anywhere."""
        text = self.text
        for tail in ("/**", "/*"):
            if text.endswith(tail):
                text = text[: -len(tail)]
        return None if _GLOB_CHARS.intersection(text) else text


class Matcher:
    """Docker's .dockerignore matching over paths relative to the build context ("/"-separated)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns: list[_Pattern] = []
        for raw in patterns:
            p = raw.strip(_GO_SPACE)
            if not p:
                continue
            p = go_clean(p)
            exception = p[0] == "!"
            if exception:
                if len(p) == 1:
                    raise DockerignoreError('illegal exclusion pattern: "!"')
                # patternmatcher does not clean again here; load() already cleaned both halves.
                p = go_clean(p[1:])
            self._patterns.append(_Pattern(p, exception, raw.strip(_GO_SPACE)))
        self._exceptions = [p for p in self._patterns if p.exception]
        prefixes = [p.spelled_prefix() for p in self._exceptions]
        # The literal spellings exceptions re-include below, or None if one is a wildcard.
        self._exception_prefixes: list[str] | None = (
            None if any(x is None for x in prefixes) else [x + "/" for x in prefixes if x is not None])

    @property
    def patterns(self) -> list[str]:
        """The cleaned patterns, exceptions with their "!"."""
        return [("!" if p.exception else "") + p.text for p in self._patterns]

    @property
    def has_exceptions(self) -> bool:
        return bool(self._exceptions)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def hits(self, rel_path: str, parent_hits: Sequence[bool] | None = None) -> tuple[bool, ...]:
        """For each pattern, whether it matches rel_path or one of its parent directories.

        rel_path must be clean. parent_hits, the result for its parent directory, saves matching
        the parents again (a walk passes it down); without it they are matched here.
        """
        if parent_hits is not None:
            return tuple(ph or p.match(rel_path) for p, ph in zip(self._patterns, parent_hits, strict=True))
        parent = posixpath.dirname(rel_path)
        parents: list[str] = []
        if parent and parent not in (".", "/"):
            dirs = parent.split("/")
            parents = ["/".join(dirs[: k + 1]) for k in range(len(dirs))]
        return tuple(p.match(rel_path) or any(p.match(d) for d in parents) for p in self._patterns)

    def decide(self, hits: Sequence[bool]) -> bool:
        """Excluded, given hits(): the last pattern that matches wins."""
        for p, hit in zip(reversed(self._patterns), reversed(hits), strict=True):
            if hit:
                return not p.exception
        return False

    def excluded(self, rel_path: str, is_dir: bool = False) -> bool:
        """Whether rel_path is left out of the build context.

        The context root (".") never is. is_dir does not change the answer: Docker cleans "dir/"
        to "dir", which excludes a file of that name as well.
        """
        del is_dir
        path = go_clean(rel_path)
        if path == "." or not self._patterns:
            return False
        return self.decide(self.hits(path))

    def may_reinclude_below(self, rel_dir: str) -> bool:
        """Whether an exception could re-include something beneath rel_dir (fsutil's check)."""
        if self._exception_prefixes is None:
            return True
        dir_slash = go_clean(rel_dir) + "/"
        return any(p.startswith(dir_slash) for p in self._exception_prefixes)

    def can_skip_dir(self, rel_dir: str) -> bool:
        """Whether a walk may leave rel_dir unread: it is excluded and nothing below can come back."""
        return self.excluded(rel_dir, True) and not self.may_reinclude_below(rel_dir)
