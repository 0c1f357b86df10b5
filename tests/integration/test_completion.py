"""Shell completion in real shells: the scripts load in bash and zsh, and complete names from a real engine."""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import Engine

BIN = os.path.dirname(os.path.abspath(sys.executable))  # the venv's palletctl and pallet-compose
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
ENV.pop("PALLET_HOST", None)

need_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh (the Makefile's DEBS)")


def _bash(script: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=60)


def _bash_complete(line: str, cwd: str | None = None) -> list[str]:
    """COMPREPLY of the completion function for a command line typed up to its end, as bash sets it up."""
    # bash splits words at COMP_WORDBREAKS too: --host=unix:///x is --host = unix : ///x
    words = [piece for w in shlex.split(line) for piece in re.findall(r"[=:]+|[^=:]+", w)]
    words += [""] if line.endswith(" ") else []
    script = (
        "source <(palletctl completion bash) || exit 9\n"
        f"COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "fn=$(complete -p \"${COMP_WORDS[0]##*/}\" | sed -E 's/.*-F ([^ ]+).*/\\1/')\n"
        "\"$fn\" \"${COMP_WORDS[0]}\" \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    res = _bash(script, cwd)
    assert res.returncode == 0, res.stderr
    return [w for w in res.stdout.splitlines() if w]


def _zsh_complete(line: str) -> list[str]:
    """What _palletctl hands to _describe for a line, compsys's builtins stubbed (they need a live ZLE)."""
    script = (
        "autoload -U compinit; compinit -u -D\n"
        "source <(palletctl completion zsh) || exit 9\n"
        "_describe() { local -a a; a=(\"${(@P)4}\"); print -rl -- \"${a[@]}\" }\n"
        "_files() { print -r -- FILES }\n"
        "compset() { : }\n"
        f"line={shlex.quote(line)}\n"
        "words=(\"${(@z)line}\"); [[ $line == *' ' ]] && words+=('')\n"
        "CURRENT=${#words}; PREFIX=${words[CURRENT]}\n"
        "_palletctl\n")
    res = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=ENV, timeout=60)
    assert res.returncode in (0, 1), res.stderr
    # _describe's items are NAME[:DESCRIPTION], the colons of NAME escaped
    return [re.split(r"(?<!\\):", w)[0].replace("\\:", ":") for w in res.stdout.splitlines() if w]


def test_bash_script_loads() -> None:
    res = _bash("source <(palletctl completion bash) && complete -p palletctl && complete -p pallet-compose")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert "complete -F __palletctl_complete palletctl" in res.stdout
    assert "complete -F __palletctl_complete pallet-compose" in res.stdout


@need_zsh
def test_zsh_script_loads_sourced_and_from_fpath(tmp_path: pathlib.Path) -> None:
    script = ("autoload -U compinit; compinit -u -D; source <(palletctl completion zsh) || exit 9\n"
              "print -r -- $_comps[palletctl] $_comps[pallet-compose]")
    res = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=ENV, timeout=60)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.split() == ["_palletctl", "_palletctl"]
    # saved as _palletctl in $fpath: compinit picks it up by its #compdef line
    fdir = os.path.join(str(tmp_path), "zfunc")
    os.makedirs(fdir)
    with open(os.path.join(fdir, "_palletctl"), "w") as f:
        f.write(subprocess.run(["palletctl", "completion", "zsh"], capture_output=True, text=True, env=ENV,
                               check=True).stdout)
    script = (f"fpath=({shlex.quote(fdir)} $fpath); autoload -U compinit; compinit -u -D\n"
              "print -r -- $_comps[palletctl] $_comps[pallet-compose]")
    res = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=ENV, timeout=60)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.split() == ["_palletctl", "_palletctl"]


def test_bash_completes_commands_flags_and_values_without_a_daemon() -> None:
    assert _bash_complete("palletctl netw") == ["network"]
    assert _bash_complete("palletctl network create --dr") == ["--driver"]
    assert _bash_complete("palletctl inspect --type v") == ["volume"]
    assert _bash_complete("pallet-compose u") == ["up"]
    assert "--remove-orphans" in _bash_complete("pallet-compose down --")
    # COMP_WORDBREAKS splits --opt=value into three words; readline replaces only what follows the '='
    assert _bash_complete("palletctl run --restart=unl") == ["unless-stopped"]
    assert _bash_complete("palletctl -H unix:///nonexistent.sock rm ") == []


def test_bash_completes_files(tmp_path: pathlib.Path) -> None:
    d = str(tmp_path)
    open(os.path.join(d, "app.env"), "w").close()
    os.makedirs(os.path.join(d, "ctx"))
    assert _bash_complete("palletctl run --env-file ap", cwd=d) == ["app.env"]
    assert _bash_complete("palletctl run --env-file=ap", cwd=d) == ["app.env"]
    assert _bash_complete("palletctl build ", cwd=d) == ["ctx"]


def test_bash_completes_compose_services(tmp_path: pathlib.Path) -> None:
    d = str(tmp_path)
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write("services:\n  web:\n    image: busybox\n  worker:\n    image: busybox\n")
    assert _bash_complete("pallet-compose logs w", cwd=d) == ["web", "worker"]
    assert _bash_complete("palletctl compose up --detach wo", cwd=d) == ["worker"]


def test_names_from_a_running_engine(engine: Engine) -> None:
    name = f"xyz-{uuid.uuid4().hex[:8]}"
    cid = engine.ctl("create", "--name", name, "busybox", "true", check=True).stdout.strip()
    vol = f"vol-{uuid.uuid4().hex[:8]}"
    engine.ctl("volume", "create", vol, check=True)
    try:
        h = engine.host
        assert _bash_complete(f"palletctl -H {h} rm {name[:6]}") == [name]
        assert _bash_complete(f"palletctl --host={h} start {cid[:6]}") == [cid[:12]]
        assert _bash_complete(f"palletctl -H {h} container port {name[:6]}") == [name]
        # cp: CONTAINER: with no space after it, then the path (bash splits at the ':')
        assert _bash_complete(f"palletctl -H {h} cp {name}") == [f"{name}:"]
        assert _bash_complete(f"palletctl -H {h} run --rm busy") == ["busybox:latest"]
        assert _bash_complete(f"palletctl -H {h} volume rm {vol[:6]}") == [vol]
        assert "bridge" in _bash_complete(f"palletctl -H {h} network inspect ")
        assert _bash_complete(f"pallet-compose -H {h} ps") == ["ps"]
        # $PALLET_HOST when the words give no -H
        env = {**ENV, "PALLET_HOST": h}
        res = subprocess.run(["palletctl", "__complete", "logs", name[:6]], capture_output=True, text=True,
                             env=env, timeout=30)
        assert res.stdout.splitlines() == [f"{name}\tbusybox", ":0"]
        if shutil.which("zsh"):
            assert _zsh_complete(f"palletctl -H {h} kill {name[:6]}") == [name]
            assert _zsh_complete(f"palletctl -H {h} cp {name}") == [f"{name}:", "FILES"]
        # a name completion answers well within the deadline
        start = time.monotonic()
        subprocess.run(["palletctl", "__complete", "-H", h, "rm", ""], capture_output=True, env=ENV, check=True)
        assert time.monotonic() - start < 3
    finally:
        engine.ctl("rm", "-f", name)
        engine.ctl("volume", "rm", vol)
