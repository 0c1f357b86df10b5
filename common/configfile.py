"""/etc/pallet/pallet.toml: the services' command-line flags, written down once.

One table per program, keys named like its long flags without the dashes::

    [palletd]
    data-root = "/var/lib/pallet"
    host = ["unix:///run/pallet/pallet.sock", "tcp://0.0.0.0:2376"]
    tlsverify = true

    [imagesvc]
    insecure-registry = ["registry.internal:5000"]

    [netsvc]
    mtu = 1450

    [registry]
    addr = "0.0.0.0:5000"

A table becomes argv (`argv_from_config`) that goes *before* the command line's, so:

- a flag given on the command line wins over the file (argparse keeps the last value);
- a repeatable flag (action "append": host, insecure-registry, ...) adds up: the file's values
  come first, then the command line's;
- an on/off flag (store_true: debug, tlsverify, ...) set to true in the file cannot be turned off
  on the command line; false in the file means "not given".

Values: strings for string flags, integers for int flags (float flags take both), true/false for
on/off flags, a list (or a single value) for repeatable flags. Flags with their own parsing (e.g.
palletd --tls=BOOL) take a string, a number or a boolean, checked by the flag's own type. Any
other key, a wrong type, an unknown table or a TOML syntax error stops the program with exit
status 2 and a message naming the file, the table and the key.

Every program takes `--config-file PATH` (`add_option`): default /etc/pallet/pallet.toml, which
may be missing; an explicit PATH must exist; `--config-file ""` reads no file.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tomllib
from collections.abc import Sequence
from typing import Any, NoReturn

DEFAULT_PATH = "/etc/pallet/pallet.toml"
PROGRAMS = ("palletd", "imagesvc", "netsvc", "registry")
OPTION = "--config-file"
_DEST = "config_file"


class ConfigError(Exception):
    """A config file that cannot be turned into flags; the message names file, table and key."""


def add_option(parser: argparse.ArgumentParser, default: str = DEFAULT_PATH) -> None:
    """Give parser the --config-file flag (the convention every Pallet service follows)."""
    parser.add_argument(OPTION, dest=_DEST, default=None, metavar="PATH",
                        help=f"TOML settings file, read before the command line (default {default}; "
                             "'' reads none)")


def parse_args(parser: argparse.ArgumentParser, program: str, argv: Sequence[str] | None = None,
               default_path: str = DEFAULT_PATH) -> argparse.Namespace:
    """parser.parse_args over the config file's [program] table followed by argv (sys.argv[1:] by default).

    parser must have --config-file (add_option). Exits 2 on a bad config file, as argparse does on a bad flag.
    """
    return parser.parse_args(full_argv(parser, program, argv, default_path))


def full_argv(parser: argparse.ArgumentParser, program: str, argv: Sequence[str] | None = None,
              default_path: str = DEFAULT_PATH) -> list[str]:
    """The config file's flags followed by argv: what parse_args parses."""
    args = list(sys.argv[1:] if argv is None else argv)
    # The parser itself finds --config-file (abbreviations, --config-file=PATH), exactly as the final parse will.
    known, _rest = parser.parse_known_args(args)
    explicit = getattr(known, _DEST, None)
    if explicit is None:
        if not os.path.exists(default_path):
            return args
        path = default_path
    elif explicit == "":
        return args
    else:
        path = explicit
    return argv_from_config(path, program, parser) + args


def argv_from_config(path: str, program: str, parser: argparse.ArgumentParser) -> list[str]:
    """The [program] table of TOML file path as command-line flags of parser.

    Exits with status 2 and a message on stderr when the file is missing or unreadable, is not
    TOML, or has an unknown table, an unknown key or a value of the wrong type.
    """
    try:
        return config_argv(path, program, parser)
    except ConfigError as exc:
        _fail(parser, str(exc))


def config_argv(path: str, program: str, parser: argparse.ArgumentParser) -> list[str]:
    """argv_from_config, raising ConfigError instead of exiting."""
    if program not in PROGRAMS:
        raise ValueError(f"unknown program {program!r} (want one of {', '.join(PROGRAMS)})")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for name, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: key {name!r} is outside a table; settings go under one of "
                              f"{', '.join(f'[{p}]' for p in PROGRAMS)}")
        if name not in PROGRAMS:
            raise ConfigError(f"{path}: unknown table [{name}]{_hint(name, PROGRAMS)} "
                              f"(tables: {', '.join(PROGRAMS)})")
    table: dict[str, Any] = data.get(program, {})
    options = _long_options(parser)
    out: list[str] = []
    for key, value in table.items():
        where = f"{path}: [{program}] {key}"
        if key == OPTION[2:]:
            raise ConfigError(f"{where}: --{key} cannot be set inside a config file")
        action = options.get(key)
        if action is None:
            raise ConfigError(f"{path}: [{program}] unknown key {key!r}{_hint(key, options)}; "
                              f"the keys are {parser.prog}'s long flags: {', '.join(sorted(options))}")
        out += _flag_argv(where, "--" + key, action, value)
    return out


def _fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.exit(2, f"{parser.prog}: {message}\n")


def _hint(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word.replace("_", "-"), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _long_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long flag name (without --) -> action, for every flag a config file may set."""
    out: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse has no public listing
        if isinstance(action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction):
            continue
        if action.dest == _DEST:
            continue
        for opt in action.option_strings:
            if opt.startswith("--") and len(opt) > 2:
                out[opt[2:]] = action
    return out


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value}"


def _flag_argv(where: str, flag: str, action: argparse.Action, value: Any) -> list[str]:
    if action.nargs == 0:  # on/off flags: store_true/false/const, append_const, count, BooleanOptionalAction
        if isinstance(action, argparse._CountAction) and isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ConfigError(f"{where}: expected a count >= 0, got {value}")
            return [flag] * value
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_describe(value)}")
        if isinstance(action, argparse.BooleanOptionalAction):
            positive = not flag.startswith("--no-")
            base = flag if positive else "--" + flag[len("--no-"):]
            on = value if positive else not value
            return [base] if on else ["--no-" + base[2:]]
        return [flag] if value else []
    repeatable = isinstance(action, argparse._AppendAction | argparse._ExtendAction)
    multi = action.nargs in ("*", "+") or isinstance(action.nargs, int) and action.nargs > 1
    if isinstance(value, list):
        if not (repeatable or multi):
            raise ConfigError(f"{where}: expected a single value, got a list (--{flag[2:]} is not repeatable)")
        items = value
    else:
        items = [value]
    texts = [_text(where, action, item) for item in items]
    if multi:
        if not texts and action.nargs == "+":
            raise ConfigError(f"{where}: expected at least one value")
        if isinstance(action.nargs, int) and len(texts) != action.nargs:
            raise ConfigError(f"{where}: expected {action.nargs} values, got {len(texts)}")
        return [flag, *texts]
    # --flag=VALUE: a value that starts with "-" (or is empty) stays the flag's value
    return [f"{flag}={t}" for t in texts]


def _text(where: str, action: argparse.Action, value: Any) -> str:
    """A TOML scalar as the flag's command-line text, after checking its type."""
    kind = action.type
    if isinstance(value, list | dict) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: expected {_expected(kind)}, got {_describe(value)}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_describe(value)}")
        text = str(value)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {_describe(value)}")
        text = str(value)
    elif kind is None or kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_describe(value)}")
        text = value
    else:  # the flag's own parser decides (e.g. palletd --tls=BOOL)
        text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        converted = kind(text) if callable(kind) else text
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise ConfigError(f"{where}: invalid value {_describe(value)}: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        raise ConfigError(f"{where}: invalid value {_describe(value)} (choose from "
                          f"{', '.join(repr(c) for c in action.choices)})")
    return text


def _expected(kind: Any) -> str:
    if kind is int:
        return "an integer"
    if kind is float:
        return "a number"
    if kind is None or kind is str:
        return "a string"
    return "a string, number or boolean"
