"""The Dockerfile front end: text to stages of instructions, as BuildKit's parser reads it.

Nothing here expands variables or touches images; the builder does that with `_shellwords`.
Errors are InvalidArgument with the file name and line, e.g. "Dockerfile:7: unknown instruction: RUNN".
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pallet import errors
from pallet.engine import _shellwords
from pallet.units import parse_duration

INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_CMDS = ("RUN", "COPY", "ADD")
# Allowed flags per instruction: name -> kind ("str", "bool", or "list" for repeatable strings).
_FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": "str"},
    "RUN": {"mount": "list", "network": "str", "security": "str", "device": "list"},
    "COPY": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool", "exclude": "list"},
    "ADD": {"chown": "str", "chmod": "str", "link": "bool", "keep-git-dir": "bool", "checksum": "str",
            "unpack": "bool", "exclude": "list"},
    "HEALTHCHECK": {"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                    "retries": "str"},
}
_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_RE = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_WS = re.compile(r"[\t\v\f\r ]+")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")


@dataclass
class Heredoc:
    """A here-document body: `content` is raw (line endings kept); `data` applies `<<-` tab stripping."""

    name: str
    content: str
    expand: bool  # False when any part of the delimiter was quoted
    chomp: bool  # `<<-`

    @property
    def data(self) -> str:
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


@dataclass
class Instruction:
    """One instruction, unexpanded. `args` by instruction (exec form: always the JSON list):

    RUN CMD ENTRYPOINT SHELL COPY ADD VOLUME EXPOSE USER WORKDIR STOPSIGNAL MAINTAINER: [rest of the line]
    (see `words`); FROM: its words; ENV LABEL ARG: quote-aware words (also split into key_values);
    HEALTHCHECK: the command after CMD ([] for NONE); ONBUILD: [trigger text, heredocs appended].
    `flags` maps names without dashes to values ("true"/"false" for boolean flags).
    """

    cmd: str
    line: int
    end_line: int
    original: str
    args: list[str] = field(default_factory=list)
    flags: dict[str, list[str]] = field(default_factory=dict)
    json_form: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)
    key_values: list[tuple[str, str | None]] = field(default_factory=list)  # ENV, LABEL, ARG (raw values)
    health_cmd: list[str] | None = None  # HEALTHCHECK as Docker's Test: ["NONE"], ["CMD", ...], ["CMD-SHELL", s]
    trigger: Instruction | None = None  # ONBUILD's instruction

    @property
    def words(self) -> list[str]:
        """The arguments as Docker splits them before expanding each one (COPY ADD VOLUME EXPOSE):

        the JSON list, or the shell-form text split on whitespace only (quotes do not group words).
        """
        return list(self.args) if self.json_form else [w for a in self.args for w in _WS.split(a) if w]

    def flag(self, name: str, default: str | None = None) -> str | None:
        """The (last) value of a flag, without the leading dashes."""
        values = self.flags.get(name)
        return values[-1] if values else default

    def heredoc_for(self, word: str) -> Heredoc | None:
        """The heredoc an argument such as `<<EOF` stands for (COPY/ADD sources), else None."""
        try:
            marker = _heredoc_marker(word)
        except errors.InvalidArgument:
            return None
        if marker is None:
            return None
        return next((h for h in self.heredocs if h.name == marker.name), None)


@dataclass
class Stage:
    index: int
    base: str  # the FROM image text, unexpanded
    name: str | None  # the AS name, lower-cased
    platform: str | None
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass
class Dockerfile:
    name: str
    directives: dict[str, str]
    escape: str
    warnings: list[str]
    args_before_from: list[Instruction]
    stages: list[Stage]


def _fail(name: str, line: int, message: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"{name}:{line}: {message}")


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _unknown_instruction(word: str) -> str:
    """BuildKit's message, with a suggestion within edit distance 2 in the word's own case."""
    best, best_dist = "", 3
    for option in INSTRUCTIONS:
        dist = _levenshtein(word.lower(), option.lower())
        if dist < best_dist:
            best, best_dist = option, dist
    if not best:
        return f"unknown instruction: {word}"
    return f"unknown instruction: {word} (did you mean {best if word.isupper() else best.lower()}?)"


def _raw_words(text: str, escape: str) -> list[str]:
    """Whitespace-separated words keeping quotes and escapes (BuildKit's parseWords)."""
    words: list[str] = []
    word, quote, phase, blank_ok, i = "", "", "space", False, 0
    while i < len(text):
        ch = text[i]
        if phase == "space":
            if ch.isspace():
                i += 1
                continue
            phase = "word"
        if phase == "word" and ch.isspace():
            if blank_ok or word:
                words.append(word)
            word, blank_ok, phase = "", False, "space"
        elif phase == "word":
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            elif ch == escape:
                if i + 1 == len(text):
                    break
                word += ch
                i += 1
                ch = text[i]
            word += ch
        else:
            if ch == quote:
                phase = "word"
            elif ch == escape and quote != "'":
                if i + 1 == len(text):
                    phase = "word"
                    break
                word += ch
                i += 1
                ch = text[i]
            word += ch
        i += 1
    if phase != "space" and (blank_ok or word):
        words.append(word)
    return words


def _extract_flags(text: str) -> tuple[list[str], str]:
    """Leading `--flag[=value]` words (quotes removed, `\\` escapes) and the rest of the line."""
    flags: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if not text.startswith("--", i):
            return flags, text[i:]
        word, quote = "", ""
        while i < len(text) and (quote or not text[i].isspace()):
            ch = text[i]
            i += 1
            if ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            elif ch == "\\" and i < len(text):
                word += text[i]
                i += 1
            elif ch != "\\":
                word += ch
        if word == "--":
            return flags, text[i:].lstrip()
        flags.append(word)


def _json_args(text: str) -> list[str] | None:
    """A JSON array of strings (exec form); None when `text` is not valid JSON (shell form)."""
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise errors.InvalidArgument("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _heredoc_marker(word: str) -> Heredoc | None:
    """The heredoc a word like `<<EOF`, `<<-"EOF"` or `3<<EOF` opens (empty content), else None."""
    m = _HEREDOC_RE.match(word)
    if m is None or not m.group(3):
        return None
    rest = m.group(3)
    names = _shellwords.expand_words(rest, {}, "\\", keep_unset=True)
    if len(names) != 1:
        return None
    quotes = sum(names[0].count(q) for q in "'\"")
    return Heredoc(names[0], "", expand=quotes == sum(rest.count(q) for q in "'\""), chomp=m.group(2) == "-")


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.name = name
        parts = text.removeprefix("\ufeff").split("\n")  # lines end only at \n (\r\n is trimmed later)
        self.lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        self.pos = 0
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.warnings: list[str] = []

    def fail(self, line: int, message: str) -> errors.InvalidArgument:
        return _fail(self.name, line, message)

    def read_directives(self) -> None:
        for number, raw in enumerate(self.lines, 1):
            m = _DIRECTIVE_RE.match(raw.rstrip("\r\n").lstrip())
            key = m.group(1).lower() if m else ""
            if m is None or key not in _DIRECTIVES:
                return
            if key in self.directives:
                raise self.fail(number, f"only one {key} parser directive can be used")
            value = self.directives[key] = m.group(2)
            if key == "escape":
                if value not in ("\\", "`"):
                    raise self.fail(number, f"invalid escape token '{value}' does not match ` or \\")
                self.escape = value
            elif key == "syntax":
                self.warnings.append(f"{self.name}:{number}: # syntax={value} is ignored: "
                                     "this builder has one frontend")

    def continued(self, text: str) -> tuple[str, bool]:
        """The line without a trailing escape (spaces after it allowed), and whether it continues."""
        e = re.escape(self.escape)
        m = re.search(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$", text)
        if m is None:
            return text, False
        return text[:m.start()] + (m.group(1) or ""), True

    def logical_lines(self) -> list[Instruction]:
        out: list[Instruction] = []
        while self.pos < len(self.lines):
            start = self.pos + 1
            text = self.lines[self.pos].rstrip("\r\n").lstrip()
            self.pos += 1
            if text.startswith("#"):
                continue
            line, more = self.continued(text)
            empty_continuation = False
            while more and self.pos < len(self.lines):
                text = self.lines[self.pos].rstrip("\r\n")
                self.pos += 1
                if text.lstrip().startswith("#"):
                    continue
                if not text.strip():
                    empty_continuation = True
                    continue
                part, more = self.continued(text)
                line += part
            if not line.strip():
                continue
            if empty_continuation:
                self.warnings.append(f"{self.name}:{start}: empty continuation line found in: {line.strip()}")
            instr = self.instruction(line, start)
            self.read_heredocs(instr, line)
            instr.end_line = self.pos
            if instr.trigger is not None:
                instr.trigger.end_line = self.pos
            out.append(instr)
        return out

    def read_heredocs(self, instr: Instruction, line: str) -> None:
        target = instr.trigger or instr
        if target.cmd not in _HEREDOC_CMDS or target.json_form:
            return
        try:
            markers = [m for word in _raw_words(line, "\\") if (m := _heredoc_marker(word))]
        except errors.InvalidArgument as exc:
            raise self.fail(instr.line, exc.message) from None
        for doc in markers:
            body: list[str] = []
            while True:
                if self.pos >= len(self.lines):
                    raise self.fail(instr.line, "unterminated heredoc")
                raw = self.lines[self.pos]
                self.pos += 1
                candidate = raw.rstrip("\r\n")
                if (candidate.lstrip("\t") if doc.chomp else candidate) == doc.name:
                    break
                body.append(raw)
            doc.content = "".join(body)
            target.heredocs.append(doc)
        if instr.trigger is not None:
            instr.heredocs = target.heredocs
            instr.args = [instr.args[0] + "".join(f"\n{d.content}{d.name}" for d in target.heredocs)]

    def instruction(self, line: str, number: int) -> Instruction:
        parts = _WS.split(line.strip(), maxsplit=1)
        word = parts[0]
        flag_words, rest = _extract_flags(parts[1]) if len(parts) > 1 else ([], "")
        rest = rest.strip()
        cmd = word.upper()
        if cmd not in INSTRUCTIONS:
            raise self.fail(number, _unknown_instruction(word))
        instr = Instruction(cmd=cmd, line=number, end_line=number, original=line)
        try:
            self.arguments(instr, rest)
            self.parse_flags(instr, flag_words)
            if cmd == "HEALTHCHECK" and instr.health_cmd != ["NONE"]:
                self.check_health_flags(instr)
        except errors.InvalidArgument as exc:
            if exc.message.startswith(f"{self.name}:"):
                raise
            raise self.fail(number, exc.message) from None
        return instr

    def arguments(self, instr: Instruction, rest: str) -> None:
        cmd = instr.cmd
        if cmd in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
            args = _json_args(rest)
            instr.json_form = args is not None
            instr.args = args if args is not None else [rest] if rest else []
            if not rest:
                raise errors.InvalidArgument(f"{cmd} requires at least one argument")
            if cmd == "SHELL" and not instr.json_form:
                raise errors.InvalidArgument("SHELL requires the arguments to be in JSON form")
            if cmd == "SHELL" and not instr.args:
                raise errors.InvalidArgument("SHELL requires at least one argument")
        elif cmd in ("ADD", "COPY", "VOLUME", "EXPOSE"):
            args = _json_args(rest) if cmd != "EXPOSE" else None
            instr.json_form = args is not None
            instr.args = args if args is not None else [rest] if rest else []
            words = instr.words
            if cmd in ("ADD", "COPY"):
                if len(words) < 2:
                    raise errors.InvalidArgument(f"{cmd} requires at least two arguments, but only one was provided. "
                                                 "Destination could not be determined")
                if not instr.json_form and _heredoc_marker(words[-1]):
                    raise errors.InvalidArgument(f"{cmd} cannot accept a heredoc as a destination")
            elif not words:
                raise errors.InvalidArgument(f"{cmd} requires at least one argument")
            if cmd == "VOLUME" and any(not w.strip() for w in words):
                raise errors.InvalidArgument("VOLUME specified can not be an empty string")
        elif cmd == "FROM":
            instr.args = [w for w in _WS.split(rest) if w]
            if not (len(instr.args) == 1 or (len(instr.args) == 3 and instr.args[1].lower() == "as")):
                raise errors.InvalidArgument("FROM requires either one or three arguments")
        elif cmd in ("USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"):
            if not rest:
                raise errors.InvalidArgument(f"{cmd} requires exactly one argument")
            instr.args = [rest]
            if cmd == "MAINTAINER":
                self.warnings.append(f"{self.name}:{instr.line}: MAINTAINER is deprecated, use a LABEL instead")
        elif cmd in ("ENV", "LABEL", "ARG"):
            self.key_values(instr, rest)
        elif cmd == "HEALTHCHECK":
            self.healthcheck(instr, rest)
        else:
            self.onbuild(instr, rest)

    def key_values(self, instr: Instruction, rest: str) -> None:
        """ENV/LABEL `k=v ...` or legacy `k v...`; ARG `name[=default] ...`. Values stay quoted."""
        cmd = instr.cmd
        instr.args = _raw_words(rest, self.escape)
        if not instr.args:
            raise errors.InvalidArgument(f"{cmd} requires at least one argument")
        if cmd != "ARG" and "=" not in instr.args[0]:
            parts = _WS.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise errors.InvalidArgument(f"{cmd} must have two arguments")
            instr.args = parts
            instr.key_values = [(parts[0], parts[1])]
            self.warnings.append(f'{self.name}:{instr.line}: "{cmd} key=value" should be used instead of legacy '
                                 f'"{cmd} key value" format')
        else:
            for word in instr.args:
                key, eq, value = word.partition("=")
                if not eq and cmd != "ARG":
                    raise errors.InvalidArgument(f"Syntax error - can't find = in {json.dumps(word)}. "
                                                 "Must be of the form: name=value")
                instr.key_values.append((key, value if eq else None))
        if any(not k for k, _ in instr.key_values):
            raise errors.InvalidArgument(f"{cmd} names can not be blank")

    def healthcheck(self, instr: Instruction, rest: str) -> None:
        parts = [w for w in _WS.split(rest, maxsplit=1) if w]
        if not parts:
            raise errors.InvalidArgument("HEALTHCHECK requires at least one argument")
        kind, command = parts[0].upper(), parts[1] if len(parts) > 1 else ""
        if kind == "NONE":
            if command:
                raise errors.InvalidArgument("HEALTHCHECK NONE takes no arguments")
            instr.health_cmd = ["NONE"]
            return
        if kind != "CMD":
            raise errors.InvalidArgument(f"Unknown type {json.dumps(kind)} in HEALTHCHECK (try CMD)")
        args = _json_args(command)
        instr.json_form = args is not None
        instr.args = args if args is not None else [command] if command else []
        if not instr.args:
            raise errors.InvalidArgument("Missing command after HEALTHCHECK CMD")
        instr.health_cmd = ["CMD", *instr.args] if instr.json_form else ["CMD-SHELL", command]

    @staticmethod
    def check_health_flags(instr: Instruction) -> None:
        for name in ("interval", "timeout", "start-period", "start-interval"):
            value = instr.flag(name)
            if value and 0 < parse_duration(value) < 1_000_000:
                raise errors.InvalidArgument(f'Interval "{name}" cannot be less than 1ms')
        retries = instr.flag("retries")
        if retries:
            try:
                count = int(retries)
            except ValueError:
                raise errors.InvalidArgument(f'strconv.ParseInt: parsing "{retries}": invalid syntax') from None
            if count < 0:
                raise errors.InvalidArgument(f"--retries cannot be negative ({count})")

    def onbuild(self, instr: Instruction, rest: str) -> None:
        if not rest:
            raise errors.InvalidArgument("ONBUILD requires at least one argument")
        trigger = _WS.split(rest, maxsplit=1)[0].upper()
        if trigger == "ONBUILD":
            raise errors.InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise errors.InvalidArgument(f"{trigger} isn't allowed as an ONBUILD trigger")
        instr.trigger = self.instruction(rest, instr.line)
        instr.args = [re.sub(r"(?i)^\s*ONBUILD\s*", "", instr.original)]

    @staticmethod
    def parse_flags(instr: Instruction, words: list[str]) -> None:
        allowed = {} if instr.health_cmd == ["NONE"] else _FLAGS.get(instr.cmd, {})
        for word in words:
            name, eq, value = word[2:].partition("=")
            kind = allowed.get(name)
            if kind is None:
                raise errors.InvalidArgument(f"unknown flag: --{name}")
            if name in instr.flags and kind != "list":
                raise errors.InvalidArgument(f"duplicate flag specified: --{name}")
            if (kind != "bool" and not eq) or (kind == "bool" and eq and not value):
                raise errors.InvalidArgument(f"missing a value on flag: --{name}")
            if kind == "bool":
                if eq and value.lower() not in ("true", "false"):
                    raise errors.InvalidArgument(f"expecting boolean value for flag --{name}, not: {value}")
                value = value.lower() if eq else "true"
            instr.flags.setdefault(name, []).append(value)


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile into global ARGs and stages; raise InvalidArgument naming file and line."""
    if not text.strip():
        raise errors.InvalidArgument(f"the Dockerfile ({name}) cannot be empty")
    p = _Parser(text, name)
    p.read_directives()
    instructions = p.logical_lines()
    if not instructions:
        raise _fail(name, len(p.lines), "file with no instructions")
    df = Dockerfile(name, p.directives, p.escape, p.warnings, [], [])
    names: dict[str, int] = {}
    for instr in instructions:
        if instr.cmd == "FROM":
            stage = Stage(len(df.stages), instr.args[0], None, instr.flag("platform"), instr)
            if len(instr.args) == 3:
                stage.name = instr.args[2].lower()
                if not _STAGE_NAME.match(stage.name):
                    raise _fail(name, instr.line, f"invalid name for build stage: {json.dumps(instr.args[2])}, "
                                                  "name can't start with a number or contain symbols")
                if stage.name in names:
                    raise _fail(name, instr.line, f"duplicate stage name {json.dumps(stage.name)}, "
                                                  "stage names should be unique")
                names[stage.name] = stage.index
            df.stages.append(stage)
        elif df.stages:
            df.stages[-1].instructions.append(instr)
        elif instr.cmd == "ARG":
            df.args_before_from.append(instr)
        else:
            raise _fail(name, instr.line, "no build stage in current context")
    if not df.stages:
        raise errors.InvalidArgument(f"{name} contains no stages to build")
    return df


def stage_for_target(df: Dockerfile, target: str | None) -> int:
    """The index of the `--target` stage (by name, case-insensitive); the last stage when target is empty."""
    if not target:
        return len(df.stages) - 1
    for stage in df.stages:
        if stage.name == target.lower():
            return stage.index
    raise errors.InvalidArgument(f"target stage {json.dumps(target)} could not be found")


def _mount_from(spec: str) -> str | None:
    """The `from=` of a RUN --mount value (CSV fields, as BuildKit reads them)."""
    for fields in csv.reader([spec]):
        for item in fields:
            key, eq, value = item.partition("=")
            if eq and key.strip().lower() == "from":
                return value
    return None


def stage_dependencies(df: Dockerfile, index: int,
                       resolve_from: Callable[[str], str] | None = None) -> list[tuple[int, int]]:
    """The stages stage `index` uses directly, as (stage index, line) in order of first use.

    A FROM names an earlier stage (else it is an image); `COPY --from` and `RUN --mount=from=` name any
    stage, or give its number. `resolve_from` expands build args in those texts (identity by default).
    """
    resolve = resolve_from or (lambda s: s)
    stage = df.stages[index]
    by_name = {s.name: s.index for s in df.stages if s.name}
    out: list[tuple[int, int]] = []
    base = resolve(stage.base).lower()
    if base in by_name and by_name[base] < index:
        out.append((by_name[base], stage.from_instruction.line))
    refs: list[tuple[str | None, int]] = []
    for instr in stage.instructions:
        if instr.cmd == "COPY":
            refs.append((instr.flag("from"), instr.line))
        elif instr.cmd == "RUN":
            refs += [(_mount_from(m), instr.line) for m in instr.flags.get("mount", [])]
    for ref, line in refs:
        if not ref:
            continue
        value = resolve(ref)
        if value.isascii() and value.isdigit():
            dep = int(value)
            if dep >= len(df.stages):
                raise _fail(df.name, line, f"invalid stage index {dep}")
        elif value.lower() in by_name:
            dep = by_name[value.lower()]
        else:
            continue  # an image reference
        if all(dep != d for d, _ in out):
            out.append((dep, line))
    return out


def needed_stages(df: Dockerfile, target_index: int, resolve_from: Callable[[str], str] | None = None) -> list[int]:
    """The stages the target needs (itself last), each after the stages it depends on."""
    order: list[int] = []
    visiting: set[int] = set()

    def visit(index: int, line: int) -> None:
        if index in order:
            return
        if index in visiting:
            raise _fail(df.name, line, f"circular dependency detected on stage: {df.stages[index].label}")
        visiting.add(index)
        for dep, dep_line in stage_dependencies(df, index, resolve_from):
            visit(dep, dep_line)
        visiting.discard(index)
        order.append(index)

    visit(target_index, df.stages[target_index].from_instruction.line)
    return order
