"""Every palletctl command's --help shows examples, and every example parses as the command it documents.

Each example line is split as a shell would (quotes, `|`, `<`/`>` redirections, `<(...)`, `# comments`,
`\\` continuations); every `palletctl ...` in it goes through build_parser().parse_args() and must land
on the documented command: the command itself, an alias of it (`network list` shows `network ls`), or,
for a group (`image`, `compose` ...), one of its subcommands. A line that lands elsewhere is only allowed
as a setup step before a line that does land (`palletctl tag ...` ahead of `palletctl push ...`).
The lines of clients/_examples.py are held to more: each starts with `palletctl` and lands.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Iterator

import pytest
from pallet.client import _examples
from pallet.client.cli import build_parser

Path = tuple[str, ...]
_MARK = "_help_examples_path"
_PUNCT = "();<>|&"
_REDIRECTS = {"<", ">", ">>", "<<", "<<<", ">|", "&>", ">&"}


def _walk(p: argparse.ArgumentParser, path: Path = ()) -> Iterator[tuple[Path, argparse.ArgumentParser]]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sp in action.choices.items():
                if id(sp) in seen:
                    continue
                seen.add(id(sp))
                yield (*path, name), sp
                yield from _walk(sp, (*path, name))


def _is_group(p: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in p._actions)


def _example_lines(epilog: str | None) -> list[str]:
    """The logical lines of the epilog's "examples:" section (continuations joined, comments dropped)."""
    lines = (epilog or "").splitlines()
    starts = [n for n, line in enumerate(lines) if line.strip() == "examples:"]
    if not starts:
        return []
    out: list[str] = []
    pending = ""
    for raw in lines[starts[0] + 1:]:
        if not raw.strip() or not raw[0].isspace():
            break
        pending = f"{pending} {raw.strip()}" if pending else raw.strip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        if not pending.startswith("#"):
            out.append(pending)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _invocations(line: str) -> list[list[str]]:
    """The argument lists of the `palletctl` commands in one shell line (without `palletctl` itself)."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    stages: list[list[str]] = [[]]
    skip = False
    for tok in lex:
        if skip:
            skip = False
            continue
        if tok and all(c in _PUNCT for c in tok):
            skip = tok in _REDIRECTS
            stages.append([])
            continue
        stages[-1].append(tok)
    return [stage[1:] for stage in stages if stage[:1] == ["palletctl"]]


def _marked_parser() -> argparse.ArgumentParser:
    """A parser whose every command records its path in the namespace (the deepest parser's default wins)."""
    parser = build_parser()
    for path, sp in _walk(parser):
        sp.set_defaults(**{_MARK: path})
    return parser


PARSER = build_parser()
BEFORE = {path: sp.epilog for path, sp in _walk(PARSER)}
_examples.apply(PARSER)
COMMANDS = dict(_walk(PARSER))
MARKED = _marked_parser()
MARKED_COMMANDS = dict(_walk(MARKED))


def _func(path: Path) -> Callable[..., object] | None:
    sp = MARKED_COMMANDS.get(path)
    return None if sp is None else sp.get_default("func")


def _lands_on(landed: Path, path: Path) -> bool:
    if _is_group(MARKED_COMMANDS[path]):  # a group shows its subcommands, not its bare name
        return landed[:len(path)] == path and len(landed) > len(path)
    if landed == path:
        return True
    # an alias: a sibling with the same handler (`network list` -> `network ls`)
    return landed[:-1] == path[:-1] and _func(path) is not None and _func(landed) is _func(path)


def _check(line: str) -> tuple[list[str], list[Path]]:
    """Parse each palletctl command of the line: (problems, where each one landed)."""
    problems: list[str] = []
    landed: list[Path] = []
    invocations = _invocations(line)
    if not invocations:
        return [f"runs no palletctl command: {line!r}"], []
    for argv in invocations:
        try:
            ns = MARKED.parse_args(argv)
        except SystemExit as exc:
            problems.append(f"does not parse (exit {exc.code}): {line!r}")
            continue
        landed.append(getattr(ns, _MARK, ()))
    return problems, landed


def test_every_command_has_examples() -> None:
    missing = [" ".join(path) for path, sp in COMMANDS.items() if not _example_lines(sp.epilog)]
    assert not missing, f"commands whose --help shows no examples: {missing}"


def test_examples_survive_formatting() -> None:
    """--help prints each epilog as written (RawDescriptionHelpFormatter), not reflowed into one paragraph."""
    bad = [" ".join(path) for path, sp in COMMANDS.items()
           if sp.epilog and sp.epilog.strip("\n") not in sp.format_help()]
    assert not bad, f"epilog reflowed in --help of: {bad}"


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_examples_parse_as_their_command(path: Path) -> None:
    lines = _example_lines(COMMANDS[path].epilog)
    problems: list[str] = []
    hits: list[bool] = []
    for line in lines:
        line_problems, landed = _check(line)
        problems += line_problems
        hits.append(bool(landed) and all(_lands_on(where, path) for where in landed))
    last_hit = max((n for n, hit in enumerate(hits) if hit), default=-1)
    for n, line in enumerate(lines):
        if not hits[n] and n > last_hit:
            problems.append(f"does not run `{' '.join(path)}`: {line!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", sorted(_examples.EXAMPLES))
def test_own_examples_are_plain_and_land(key: str) -> None:
    path = tuple(key.split())
    assert path in COMMANDS, f"EXAMPLES has {key!r}, which is no palletctl command"
    lines = _examples.EXAMPLES[key].splitlines()
    assert 1 <= len(lines) <= 4
    for line in lines:
        assert line.startswith("palletctl "), line
        if path[0] == "compose":
            assert line.startswith("palletctl compose "), line
        problems, landed = _check(line)
        assert not problems, "\n".join(problems)
        assert len(landed) == 1 and _lands_on(landed[0], path), f"{line!r} lands on {landed}, not {key!r}"


def test_aliases_share_examples() -> None:
    assert _examples.EXAMPLES["network list"] == _examples.EXAMPLES["network ls"]
    assert _examples.EXAMPLES["network remove"] == _examples.EXAMPLES["network rm"]


def test_apply_keeps_existing_epilogs() -> None:
    """Epilogs that already show examples stay as written; prose-only ones (cp, login) keep their prose first."""
    for path, before in BEFORE.items():
        after = COMMANDS[path].epilog
        if before and "examples:" in before:
            assert after == before, " ".join(path)
        elif before:
            assert after is not None and after.startswith(before.rstrip()), " ".join(path)


def test_apply_is_idempotent() -> None:
    parser = build_parser()
    _examples.apply(parser)
    once = {path: sp.epilog for path, sp in _walk(parser)}
    _examples.apply(parser)
    assert {path: sp.epilog for path, sp in _walk(parser)} == once


@pytest.mark.parametrize(("line", "expected"), [
    ("palletctl ps -q", [["ps", "-q"]]),
    ("cat rootfs.tar.gz | palletctl import -c 'CMD [\"sh\"]' - base",
     [["import", "-c", 'CMD ["sh"]', "-", "base"]]),
    ("palletctl build - < Dockerfile", [["build", "-"]]),
    ("palletctl save app:1 > app.tar", [["save", "app:1"]]),
    ("source <(palletctl completion bash)   # in ~/.bashrc", [["completion", "bash"]]),
    ("palletctl stats --format 'table {{.Name}}\\t{{.CPUPerc}}'",
     [["stats", "--format", "table {{.Name}}\\t{{.CPUPerc}}"]]),
])
def test_invocations(line: str, expected: list[list[str]]) -> None:
    assert _invocations(line) == expected


def test_example_lines_join_continuations() -> None:
    epilog = "Some prose.\n\nexamples:\n  palletctl a \\\n      --b c\n  # a comment\n  palletctl d\n\nMore prose."
    assert _example_lines(epilog) == ["palletctl a --b c", "palletctl d"]
