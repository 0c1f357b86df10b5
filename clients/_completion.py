"""Shell completion: `palletctl completion bash|zsh` prints a script that asks `palletctl __complete`.

`palletctl __complete WORD... CURRENT` (the words after the program name; the last one is the
word being completed, "" after a space) walks build_parser()'s argparse tree along the words and
prints the candidates for CURRENT, one a line as `candidate<TAB>description`, then a last line
`:N`, N a bit set of what the shell adds itself: 1 file names, 2 no space after the word,
4 directory names. So the scripts hold no command list: a command added to the parser completes.

What a positional argument or an option's value names comes from two small tables keyed by the
argparse metavar or dest (POSITIONAL_KINDS, OPTION_KINDS); `choices=` complete as they are.
Names of containers (names and short IDs, the `ps -a` set), images (repo:tag), networks and
volumes come from the daemon that -H/--context/--tls* among the words and the environment choose,
as for any command, within DEADLINE seconds, or silently not at all; grpc loads only then.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

FILES, NOSPACE, DIRS = 1, 2, 4
DEADLINE = 1.0  # seconds for the daemon's lists, all asked at once

Kind = str | tuple[str, ...] | None

# What a positional argument names, looked up as "COMMAND METAVAR", "COMMAND DEST", METAVAR, then
# DEST (COMMAND: the last command word): a kind below, a tuple of fixed values, or None (a new
# name: nothing to offer). Kinds: container, image, network, volume, object (any of those four,
# or --type's), context, service (of the compose project), file, dir, cp (CONTAINER: or a file).
POSITIONAL_KINDS: dict[str, Kind] = {
    "CONTAINER": "container", "container": "container",
    "IMAGE": "image", "image": "image", "NAME[:TAG|@DIGEST]": "image", "NAME[:TAG]": "image",
    "tag source": "image", "tag target": "image", "images reference": "image", "ls reference": "image",
    "NETWORK": "network", "create NETWORK": None,
    "VOLUME": "volume",
    "NAME|ID": "object",
    "CONTEXT": "context", "create CONTEXT": None,
    "SERVICE": "service", "service": "service", "services": "service",
    "import file": "file",
    "PATH | -": "dir",
    "SRC_PATH": "cp", "DEST_PATH": "cp",
}

SIGNALS = ("SIGCONT", "SIGHUP", "SIGINT", "SIGKILL", "SIGQUIT", "SIGSTOP", "SIGTERM", "SIGUSR1", "SIGUSR2")

# The same for options that take a value (choices= need no entry).
OPTION_KINDS: dict[str, Kind] = {
    "network": "network", "volumes_from": "container", "cache_from": "image",
    "use_context": "context", "CONTEXT": "context",
    "exit_code_from": "service",
    "file": "file", "env_file": "file", "input": "file", "output": "file", "iidfile": "file", "PATH": "file",
    "auth_config": "dir", "project_directory": "dir", "out": "dir", "ca_dir": "dir",
    "signal": SIGNALS, "stop_signal": SIGNALS,
    "restart": ("no", "always", "on-failure", "unless-stopped"),
    "pull": ("always", "missing", "never"),
    "log_driver": ("json-file", "none"),
}

# The options that choose the daemon (palletctl's global ones, and pallet-compose's copies).
ENDPOINT_DESTS = ("host", "use_context", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey")

Candidate = tuple[str, str]  # (word, description)


@dataclass
class Position:
    """Where the words before the current one leave the parse."""

    parser: argparse.ArgumentParser
    path: list[str] = field(default_factory=list)  # command words from the root
    values: dict[str, list[str]] = field(default_factory=dict)  # option values seen, by dest
    used: set[argparse.Action] = field(default_factory=set)
    positionals: list[argparse.Action] = field(default_factory=list)  # still to fill, the first filling
    filled: int = 0  # words the first positional holds
    pending: argparse.Action | None = None  # an option whose value is the current word
    dashdash: bool = False
    dead: bool = False  # an unknown command: nothing to offer

    @property
    def subcommands(self) -> argparse._SubParsersAction[Any] | None:
        for a in self.parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                return a
        return None

    @property
    def in_remainder(self) -> bool:
        """Past the command's own positionals into a REMAINDER (run IMAGE CMD..., exec CONTAINER CMD...)."""
        return bool(self.positionals) and self.positionals[0].nargs == argparse.REMAINDER

    def enter(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self.positionals = [a for a in parser._actions
                            if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
        self.filled = 0

    def fill(self) -> None:
        if not self.positionals:
            return
        self.filled += 1
        if self.filled >= _most(self.positionals[0]):
            self.positionals.pop(0)
            self.filled = 0


def _most(a: argparse.Action) -> float:
    if a.nargs is None or a.nargs == argparse.OPTIONAL:
        return 1
    if isinstance(a.nargs, int):
        return a.nargs
    return float("inf")


def _arity(a: argparse.Action) -> int:
    """How many words an option takes after it (an optional value, nargs="?", counts none)."""
    if a.nargs is None:
        return 1
    if isinstance(a.nargs, int):
        return a.nargs
    return 0 if a.nargs == argparse.OPTIONAL else 1


def _long_option(parser: argparse.ArgumentParser, name: str) -> argparse.Action | None:
    """The action for --name, or for a unique prefix of a long option (argparse's abbreviations)."""
    table = parser._option_string_actions
    if name in table:
        return table[name]
    found = {a for s, a in table.items() if s.startswith("--") and s.startswith(name)}
    return found.pop() if len(found) == 1 else None


def _options(parser: argparse.ArgumentParser, word: str) -> tuple[list[argparse.Action], str | None]:
    """The options of a word (several for -it) and a value given in it (--opt=v, -fFILE)."""
    if word.startswith("--"):
        name, eq, value = word.partition("=")
        a = _long_option(parser, name)
        return ([a] if a else []), (value if eq else None)
    table = parser._option_string_actions
    if word in table:
        return [table[word]], None
    if "=" in word and word.partition("=")[0] in table:
        name, _, value = word.partition("=")
        return [table[name]], value
    found: list[argparse.Action] = []
    for i, ch in enumerate(word[1:], 1):
        a = table.get("-" + ch)
        if a is None:
            return found, None
        found.append(a)
        if _arity(a):
            return found, (word[i + 1:] or None)
    return found, None


def walk(root: argparse.ArgumentParser, words: Sequence[str]) -> Position:
    """Follow the parser tree along the words (the current word excluded)."""
    pos = Position(root)
    pos.enter(root)
    i = 0
    while i < len(words):
        if pos.in_remainder:
            break
        w = words[i]
        i += 1
        if w == "--" and not pos.dashdash:
            pos.dashdash = True
            continue
        if w.startswith("-") and w != "-" and not pos.dashdash:
            actions, value = _options(pos.parser, w)
            pos.used.update(actions)
            if not actions:
                continue
            last = actions[-1]
            for a in actions:
                if not _arity(a) and isinstance(a, argparse._StoreTrueAction):
                    pos.values.setdefault(a.dest, []).append("true")
            n = _arity(last)
            if not n:
                continue
            if value is not None:
                pos.values.setdefault(last.dest, []).append(value)
                continue
            for _ in range(n):
                if i >= len(words):
                    pos.pending = last
                    break
                pos.values.setdefault(last.dest, []).append(words[i])
                i += 1
            continue
        sub = pos.subcommands
        if sub is not None:
            parser = sub.choices.get(w)
            if parser is None:
                pos.dead = True
                return pos
            pos.path.append(w)
            pos.enter(parser)
            continue
        pos.fill()
    return pos


def _kind(pos: Position, a: argparse.Action, table: dict[str, Kind]) -> Kind:
    cmd = pos.path[-1] if pos.path else ""
    keys = [k for k in (a.metavar, a.dest) if isinstance(k, str)]
    for key in [f"{cmd} {k}" for k in keys] + keys:
        if key in table:
            return table[key]
    return None


def _describe(a: argparse.Action) -> str:
    text = a.help or ""
    if "%" in text:
        text = text.replace("%(default)s", str(a.default)).replace("%%", "%")
    return " ".join(text.split())


def _flags(pos: Position, cur: str) -> list[Candidate]:
    repeatable = (argparse._AppendAction, argparse._CountAction, argparse._HelpAction)
    out = []
    for a in pos.parser._actions:
        if not a.option_strings or a.help == argparse.SUPPRESS:
            continue
        if a in pos.used and not isinstance(a, repeatable):
            continue
        out += [(s, _describe(a)) for s in a.option_strings if s.startswith(cur)]
    return out


def _commands(sub: argparse._SubParsersAction[Any], cur: str) -> list[Candidate]:
    """The visible subcommands: those registered with a help text (aliases of them too)."""
    helps = {ca.dest: ca.help or "" for ca in sub._choices_actions}
    shown = {id(sub.choices[n]): h for n, h in helps.items() if n in sub.choices}
    return [(name, helps.get(name, shown[id(p)])) for name, p in sub.choices.items()
            if id(p) in shown and not name.startswith("_") and name.startswith(cur)]


NameSource = Callable[[Position, Sequence[str]], list[Candidate]]


def _values(pos: Position, a: argparse.Action, cur: str, option: bool,
            names: NameSource) -> tuple[list[Candidate], int]:
    """Candidates for the value of an option or a positional argument, and the shell's part."""
    if a.choices is not None and not isinstance(a, argparse._SubParsersAction):
        return [(str(c), "") for c in a.choices if str(c)], 0
    kind = _kind(pos, a, OPTION_KINDS if option else POSITIONAL_KINDS)
    if kind is None:
        return [], 0
    if isinstance(kind, tuple):
        return [(v, "") for v in kind], 0
    if kind == "file":
        return [], FILES
    if kind == "dir":
        return [], DIRS
    if kind == "context":
        return [(n, "") for n in context_names()], 0
    if kind == "service":
        return [(n, "service") for n in compose_services(pos.values)], 0
    if kind == "cp":  # CONTAINER:PATH (a path inside a container is not listed) or a local file
        if ":" in cur:
            return [], 0
        return [(f"{w}:", d) for w, d in names(pos, ["container"])], FILES | NOSPACE
    if kind == "object":
        given = pos.values.get("type")
        kinds = [given[-1]] if given else ["container", "image", "network", "volume"]
        return names(pos, kinds), 0
    return names(pos, [kind]), 0


def complete(words: Sequence[str], parser: argparse.ArgumentParser | None = None,
             names: NameSource | None = None) -> tuple[list[Candidate], int]:
    """The candidates for the last word (those starting with it) and the shell's part (FILES, ...)."""
    if parser is None:
        from pallet.client.cli import build_parser

        parser = build_parser()
    names = names or daemon_names
    words = list(words) or [""]
    cur = words[-1]
    pos = walk(parser, words[:-1])
    prefix = ""
    out: list[Candidate]
    if pos.dead:
        return [], 0
    if pos.pending is not None:
        out, directive = _values(pos, pos.pending, cur, True, names)
    elif pos.in_remainder:  # a command line of the container's: its files, if anything
        return [], FILES
    elif cur.startswith("-") and not pos.dashdash:
        name, eq, value = cur.partition("=")
        if not eq:
            return _flags(pos, cur), 0
        a = _long_option(pos.parser, name) if cur.startswith("--") else pos.parser._option_string_actions.get(name)
        if a is None or not _arity(a):
            return [], 0
        prefix, cur = name + "=", value
        out, directive = _values(pos, a, cur, True, names)
    elif pos.subcommands is not None:
        return _commands(pos.subcommands, cur), 0
    elif pos.positionals:
        a = pos.positionals[0]
        out, directive = _values(pos, a, cur, False, names)
        if not out and not directive and cur == "" and _kind(pos, a, POSITIONAL_KINDS) is None and not a.choices:
            return _flags(pos, cur), 0  # a new name to type: the options are all there is to show
    elif cur == "":
        return _flags(pos, cur), 0
    else:
        return [], 0
    seen: set[str] = set()
    result = []
    for word, desc in out:
        if word.startswith(cur) and word not in seen:
            seen.add(word)
            result.append((prefix + word, desc))
    return result, directive


# -- where names come from ------------------------------------------------------------------


def daemon_names(pos: Position, kinds: Sequence[str], timeout: float = DEADLINE) -> list[Candidate]:
    """Names of the kinds from the daemon the words choose; [] if it does not answer in time."""
    try:
        from pallet.client import _conn

        ns = argparse.Namespace(**{d: None for d in ENDPOINT_DESTS})
        for d in ENDPOINT_DESTS:
            if pos.values.get(d):
                value = pos.values[d][-1]
                setattr(ns, d, True if d in ("tls", "tlsverify") else value)
        client = _conn.client(ns)
    except Exception:  # noqa: BLE001 - a bad -H or context: no names, no noise
        return []
    try:
        return _list_names(client, kinds, timeout)
    except Exception:  # noqa: BLE001
        return []
    finally:
        _conn.close_all()


def _list_names(client: Any, kinds: Sequence[str], timeout: float) -> list[Candidate]:
    from pallet.engine.v1 import engine_pb2 as pb

    calls: dict[str, Any] = {}
    if "container" in kinds:
        calls["container"] = client.containers.List.future(pb.ListContainersRequest(all=True), timeout=timeout)
    if "image" in kinds:
        from pallet.images.v1 import images_pb2 as ipb

        calls["image"] = client.images.List.future(ipb.ListImagesRequest(), timeout=timeout)
    if "network" in kinds:
        from pallet.net.v1 import net_pb2 as npb

        calls["network"] = client.networks.List.future(npb.ListNetworksRequest(), timeout=timeout)
    if "volume" in kinds:
        calls["volume"] = client.volumes.List.future(pb.ListVolumesRequest(), timeout=timeout)
    out: list[Candidate] = []
    for kind, call in calls.items():
        try:
            res = call.result()
        except Exception:  # noqa: BLE001 - unreachable, too slow, or refused: no names of this kind
            continue
        if kind == "container":
            for c in res.containers:
                name = c.name.lstrip("/")
                out.append((name, c.image))
                out.append((c.id[:12], name))
        elif kind == "image":
            out += [(t, img.id.removeprefix("sha256:")[:12]) for img in res.images for t in img.repo_tags
                    if t and not t.startswith("<none>")]
        elif kind == "network":
            out += [(n.name, n.driver) for n in res.networks]
        else:
            out += [(v.name, v.driver) for v in res.volumes]
    return out


def context_names() -> list[str]:
    try:
        from pallet.client import _context

        return list(_context.names())
    except Exception:  # noqa: BLE001
        return ["default"]


def compose_services(values: dict[str, list[str]]) -> list[str]:
    """The services of the compose project the words choose (-f, --project-directory, ...), or []."""
    try:
        from pallet.client.compose import model

        def last(dest: str) -> str | None:
            return values[dest][-1] if values.get(dest) else None

        project = model.load(files=[f for f in values.get("file", []) if f != "-"] or None,
                             project_directory=last("project_directory"), project_name=last("project_name"),
                             env_files=values.get("env_file") or None, profiles=values.get("profile", []))
        return sorted({*project.services, *project.disabled})
    except Exception:  # noqa: BLE001 - no compose file, or a broken one
        return []


# -- the commands -------------------------------------------------------------------------------


def main(words: list[str]) -> int:
    """`palletctl __complete WORD...`: the candidates, one a line, then `:DIRECTIVE`."""
    try:
        out, directive = complete(words)
    except Exception:  # noqa: BLE001 - never a traceback into the user's prompt
        out, directive = [], 0
    lines = []
    for word, desc in out:
        word = word.replace("\n", " ").replace("\t", " ")
        desc = " ".join(desc.split())
        lines.append(f"{word}\t{desc}" if desc else word)
    lines.append(f":{directive}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(BASH_SCRIPT if args.shell == "bash" else ZSH_SCRIPT)
    return 0


EXAMPLES = """\
examples:
  source <(palletctl completion bash)    # bash: this shell; the same line in ~/.bashrc keeps it
  source <(palletctl completion zsh)     # zsh: this shell, after compinit (or in ~/.zshrc)
  palletctl completion zsh > "${fpath[1]}/_palletctl"    # zsh: for good, from a directory of $fpath

Both complete pallet-compose too. Commands, options and their values complete, and the names of
containers, images, networks and volumes come from the daemon (-H, --context or $PALLET_HOST)."""


def add_parsers(sub: Any, add: Any) -> None:
    p = add(sub, "completion", cmd_completion, "Generate the autocompletion script for the specified shell",
            "palletctl completion bash|zsh", EXAMPLES)
    p.add_argument("shell", choices=["bash", "zsh"], metavar="SHELL", help="bash or zsh")


BASH_SCRIPT = r"""# bash completion for palletctl and pallet-compose
#
#   source <(palletctl completion bash)     # in this shell, or from ~/.bashrc
#   palletctl completion bash > /etc/bash_completion.d/palletctl    # with the bash-completion package
#
# It needs nothing of the bash-completion package itself.
# The candidates come from `palletctl __complete WORD...` (the last word is the one completed).

__palletctl_complete() {
    local ctl=${COMP_WORDS[0]} extra=()
    if [[ ${ctl##*/} == pallet-compose ]]; then
        extra=(compose)
        ctl=${ctl%pallet-compose}palletctl
    fi
    ctl=${ctl/#\~/$HOME}
    if [[ $ctl == */* && ! -x $ctl ]]; then
        ctl=palletctl
    fi

    # The words up to the cursor, with what COMP_WORDBREAKS split off (--opt=VALUE, NAME:PATH) joined.
    local words=() i w lead n=-1 line=${COMP_LINE-}
    if [[ -z $line ]]; then
        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
        n=$COMP_CWORD
    else
        line=${line:0:${COMP_POINT-${#line}}}
        for ((i = 0; i <= COMP_CWORD; i++)); do
            w=${COMP_WORDS[i]}
            lead=${line%%[![:space:]]*}
            line=${line#"$lead"}
            ((i == COMP_CWORD)) && w=$line
            if ((n >= 0)) && [[ -z $lead ]]; then
                words[n]+=$w
            else
                words[++n]=$w
            fi
            line=${line:${#w}}
        done
    fi
    local cur=${words[n]} out
    out=$("$ctl" __complete "${extra[@]}" "${words[@]:1:n}" 2>/dev/null) || return 0

    local lines=() directive=0
    mapfile -t lines <<<"$out"
    if ((${#lines[@]})) && [[ ${lines[${#lines[@]}-1]} == :* ]]; then
        directive=${lines[${#lines[@]}-1]#:}
        unset 'lines[${#lines[@]}-1]'
    fi
    # readline replaces only what follows the word's last COMP_WORDBREAKS character (= or :)
    local skip= c k
    for c in = :; do
        [[ $COMP_WORDBREAKS == *"$c"* && $cur == *"$c"* ]] || continue
        k=${cur%"$c"*}$c
        ((${#k} > ${#skip})) && skip=$k
    done
    COMPREPLY=()
    for w in "${lines[@]}"; do
        w=${w%%$'\t'*}
        [[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("${w#"$skip"}")
    done
    ((directive & 2)) && compopt -o nospace 2>/dev/null
    if ((directive & 5)); then
        local fpre= how=-f
        ((directive & 1)) || how=-d
        [[ $cur == -*=* ]] && fpre=${cur%%=*}=
        # readline's file name handling (quoting, a / after directories) would quote the : of NAME:
        local names=${#COMPREPLY[@]}
        ((names)) || compopt -o filenames 2>/dev/null
        while IFS= read -r w; do
            ((names)) && [[ -d $w ]] && w+=/
            COMPREPLY+=("${fpre#"$skip"}$w")
        done < <(compgen "$how" -- "${cur#"$fpre"}")
    fi
    return 0
}

complete -F __palletctl_complete palletctl pallet-compose
"""

ZSH_SCRIPT = r"""#compdef palletctl pallet-compose
# zsh completion for palletctl and pallet-compose
#
#   source <(palletctl completion zsh)      # in this shell, after compinit (or from ~/.zshrc)
#   palletctl completion zsh > "${fpath[1]}/_palletctl"
#
# The candidates come from `palletctl __complete WORD...` (the last word is the one completed).

_palletctl() {
    local ctl=${words[1]} cur=${(Q)PREFIX} directive=0 w d
    local -a extra lines items sopt
    if [[ ${ctl:t} == pallet-compose ]]; then
        extra=(compose)
        ctl=${ctl%pallet-compose}palletctl
    fi
    ctl=${ctl/#\~/$HOME}
    if [[ $ctl == */* && ! -x $ctl ]]; then
        ctl=palletctl
    fi
    lines=("${(@f)$("$ctl" __complete "${extra[@]}" "${(@Q)words[2,CURRENT-1]}" "$cur" 2>/dev/null)}")
    if [[ ${lines[-1]} == :* ]]; then
        directive=${lines[-1]#:}
        lines[-1]=()
    fi
    local strip=
    if [[ $cur == -*=* ]]; then
        strip=${cur%%=*}=
        compset -P 1 '*='
    fi
    for w in "${lines[@]}"; do
        [[ -n $w ]] || continue
        d=
        [[ $w == *$'\t'* ]] && d=${w#*$'\t'}
        w=${${w%%$'\t'*}#$strip}
        items+=("${w//:/\\:}${d:+:$d}")
    done
    (( directive & 2 )) && sopt=(-S '')
    local ret=1
    (( ${#items} )) && _describe -t palletctl 'palletctl' items "${sopt[@]}" && ret=0
    if (( directive & 1 )); then
        _files && ret=0
    elif (( directive & 4 )); then
        _files -/ && ret=0
    fi
    return ret
}

if [[ ${funcstack[1]-} == _palletctl ]]; then
    _palletctl "$@"
else
    compdef _palletctl palletctl pallet-compose
fi
"""
