"""Shell completion without a daemon: the walk of palletctl's parser tree and `__complete`'s output."""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence

import pytest
from pallet.client import _completion as comp
from pallet.client.cli import build_parser, main

PARSER = build_parser()

NAMES = {
    "container": [("web", "busybox"), ("0123456789ab", "web"), ("db", "postgres")],
    "image": [("busybox:latest", "0123abcd"), ("alpine:3.19", "4567ef01")],
    "network": [("bridge", "bridge"), ("backend", "bridge")],
    "volume": [("data", "local")],
}
asked: list[list[str]] = []


def fake_names(pos: comp.Position, kinds: Sequence[str]) -> list[comp.Candidate]:
    asked.append(list(kinds))
    return [c for k in kinds for c in NAMES.get(k, [])]


def words(line: str) -> list[str]:
    """The words after `palletctl`, the last one the word being completed ("" after a space)."""
    parts = line.split()
    return parts + [""] if line.endswith(" ") or not line else parts


def cands(line: str) -> list[str]:
    return [w for w, _ in comp.complete(words(line), PARSER, fake_names)[0]]


def directive(line: str) -> int:
    return comp.complete(words(line), PARSER, fake_names)[1]


@pytest.fixture(autouse=True)
def _clear() -> None:
    asked.clear()


# -- commands ----------------------------------------------------------------------------------


def test_top_level_commands_come_from_the_parser() -> None:
    top = cands("")
    for name in ("run", "ps", "image", "container", "network", "volume", "system", "builder", "compose",
                 "completion"):
        assert name in top
    assert "__complete" not in top
    assert cands("ne") == ["network"]
    assert set(cands("co")) == {"container", "compose", "context", "completion"}


def test_subcommands_carry_their_help() -> None:
    out = dict(comp.complete(["network", ""], PARSER, fake_names)[0])
    assert {"create", "ls", "list", "inspect", "rm", "remove", "prune", "connect", "disconnect"} <= set(out)
    assert out["create"] == "Create a network"
    assert cands("image l") == ["ls", "load"]
    assert cands("builder ") == ["build", "prune"]
    assert cands("system ") == ["df", "prune", "info", "events"]


def test_an_unknown_command_completes_nothing() -> None:
    assert comp.complete(["nosuch", ""], PARSER, fake_names) == ([], 0)
    assert comp.complete(["network", "nosuch", "--"], PARSER, fake_names) == ([], 0)


def test_hidden_commands_stay_hidden() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    sub.add_parser("shown", help="a command")
    sub.add_parser("hidden")
    sub.add_parser("_private", help="internal")
    assert [w for w, _ in comp.complete([""], p, fake_names)[0]] == ["shown"]


# -- options ------------------------------------------------------------------------------------


def test_flags_of_the_current_command_long_and_short() -> None:
    ps = cands("ps -")
    for flag in ("-a", "--all", "-q", "--quiet", "--no-trunc", "-f", "--filter", "--format", "-n", "--last"):
        assert flag in ps
    assert "--volumes" not in ps  # rm's, not ps's
    assert cands("ps --f") == ["--filter", "--format"]
    described = dict(comp.complete(["ps", "--all"], PARSER, fake_names)[0])
    assert described == {"--all": "show all containers (default shows just running)"}


def test_global_flags_before_the_command() -> None:
    top = cands("-")
    assert {"-H", "--host", "-D", "--debug", "-v", "--version"} <= set(top)
    assert "--all" not in top


def test_flags_of_nested_groups() -> None:
    flags = cands("network create --")
    assert {"--driver", "--subnet", "--gateway", "--ip-range", "--internal", "--ipv6", "--opt", "--label"} <= set(flags)
    assert "--force" not in flags  # network rm's
    assert "--all" in cands("image prune --")
    assert "--verbose" in cands("system df --")
    assert "--all" in cands("builder prune --")
    assert "--progress" in cands("builder build --")


def test_hidden_flags_stay_hidden() -> None:
    assert "--disable-content-trust" not in cands("pull --")
    assert "--name" not in cands("volume create --")


def test_flags_given_once_are_not_offered_again() -> None:
    assert "--all" not in cands("ps --all --")
    assert "-a" not in cands("ps -a -")
    assert "--filter" in cands("ps --filter a=b --")  # append: again and again
    assert "--tty" not in cands("run -it --")
    assert "--interactive" not in cands("run -it --")


def test_options_after_a_new_name_when_nothing_else_completes() -> None:
    assert "--driver" in cands("volume create ")
    assert cands("ps ")[:2] == ["-h", "--help"]


# -- option values -----------------------------------------------------------------------------


def test_choices_of_an_option() -> None:
    assert cands("inspect --type ") == ["container", "image", "network", "volume"]
    assert cands("build --progress p") == ["plain"]
    assert cands("run --sig-proxy ") == ["true", "false"]
    assert cands("compose --ansi ") == ["never", "always", "auto"]
    assert cands("compose down --rmi ") == ["local", "all"]


def test_choices_in_the_same_word() -> None:
    assert cands("build --progress=") == ["--progress=auto", "--progress=plain", "--progress=tty", "--progress=quiet"]
    assert cands("build --progress=t") == ["--progress=tty"]
    assert cands("run --restart=on") == ["--restart=on-failure"]
    assert cands("ps --nosuch=") == []


def test_fixed_values_from_the_table() -> None:
    assert cands("run --restart ") == ["no", "always", "on-failure", "unless-stopped"]
    assert "SIGKILL" in cands("kill -s ")
    assert "SIGTERM" in cands("run --stop-signal ")
    assert cands("run --pull m") == ["missing"]


def test_an_option_value_is_not_taken_for_a_command_or_positional() -> None:
    assert cands("-H unix:///x.sock ps --a") == ["--all"]
    assert cands("--host=unix:///x.sock net") == ["network"]
    # -f takes a value in build: the next word is it, then the PATH
    assert directive("build -f Dockerfile ") == comp.DIRS
    assert directive("build -tapp:1 -f ") == comp.FILES


def test_file_options_complete_as_files() -> None:
    assert comp.complete(["build", "-f", ""], PARSER, fake_names) == ([], comp.FILES)
    assert comp.complete(["build", "--file="], PARSER, fake_names) == ([], comp.FILES)
    assert directive("run --env-file ") == comp.FILES
    assert directive("exec --env-file ") == comp.FILES
    assert directive("save -o ") == comp.FILES
    assert directive("load --input ") == comp.FILES
    assert directive("compose -f ") == comp.FILES
    assert directive("compose --project-directory ") == comp.DIRS
    assert directive("import ") == comp.FILES
    assert directive("--tlscacert ") == comp.FILES


def test_name_options() -> None:
    assert cands("run --network ") == ["bridge", "backend"]
    assert cands("run --volumes-from w") == ["web"]
    assert cands("build --cache-from b") == ["busybox:latest"]
    assert cands("run --network=b") == ["--network=bridge", "--network=backend"]


# -- positional arguments -----------------------------------------------------------------------


def test_container_positionals() -> None:
    assert cands("start ") == ["web", "0123456789ab", "db"]
    assert cands("rm -f w") == ["web"]
    assert cands("rm web d") == ["db"]  # CONTAINER [CONTAINER...]
    assert cands("logs --tail 10 ") == ["web", "0123456789ab", "db"]
    assert cands("exec -it w") == ["web"]
    assert cands("container port ") == ["web", "0123456789ab", "db"]
    assert asked and all(k == ["container"] for k in asked)


def test_names_are_asked_for_only_when_needed() -> None:
    cands("ps -")
    cands("network ")
    cands("volume create ")
    assert asked == []


def test_image_network_volume_positionals() -> None:
    assert cands("rmi ") == ["busybox:latest", "alpine:3.19"]
    assert cands("run -d --name x b") == ["busybox:latest"]
    assert cands("image inspect a") == ["alpine:3.19"]
    assert cands("tag busybox:latest ") == ["busybox:latest", "alpine:3.19"]
    assert cands("history ") == ["busybox:latest", "alpine:3.19"]
    assert cands("network inspect ") == ["bridge", "backend"]
    assert cands("network rm b") == ["bridge", "backend"]
    assert cands("network connect back") == ["backend"]
    assert cands("network connect backend ") == ["web", "0123456789ab", "db"]
    assert cands("volume rm ") == ["data"]
    assert cands("volume inspect d") == ["data"]


def test_new_names_offer_only_the_options() -> None:
    for line in ("network create ", "rename web ", "context create ", "volume create "):
        assert all(w.startswith("-") for w in cands(line)), line
    assert cands("network create b") == []
    assert asked == []


def test_inspect_any_object_or_of_type() -> None:
    assert set(cands("inspect ")) == {w for k in NAMES.values() for w, _ in k}
    assert cands("inspect --type network ") == ["bridge", "backend"]
    assert cands("inspect --type=volume ") == ["data"]


def test_the_container_command_line_completes_files() -> None:
    assert comp.complete(["run", "busybox", ""], PARSER, fake_names) == ([], comp.FILES)
    assert comp.complete(["run", "-it", "busybox", "sh", "-"], PARSER, fake_names) == ([], comp.FILES)
    assert comp.complete(["exec", "web", "ls", "-"], PARSER, fake_names) == ([], comp.FILES)


def test_cp_offers_containers_with_a_colon_and_files() -> None:
    out, d = comp.complete(["cp", "w"], PARSER, fake_names)
    assert [w for w, _ in out] == ["web:"] and d == comp.FILES | comp.NOSPACE
    assert comp.complete(["cp", "web:/etc/"], PARSER, fake_names) == ([], 0)
    assert [w for w, _ in comp.complete(["cp", "./x", "d"], PARSER, fake_names)[0]] == ["db:"]


def test_build_context_is_a_directory() -> None:
    assert directive("build -t app ") == comp.DIRS
    assert directive("builder build ") == comp.DIRS


def test_positional_choices() -> None:
    assert cands("completion ") == ["bash", "zsh"]
    assert cands("completion z") == ["zsh"]


def test_after_double_dash_words_are_positionals() -> None:
    assert cands("rm -- ") == ["web", "0123456789ab", "db"]
    assert cands("rm -- -") == []


def test_kind_table_prefers_command_then_metavar_then_dest() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("thing", metavar="VOLUME")
    p.add_argument("container")
    pos = comp.walk(p, [])
    assert comp._kind(pos, pos.positionals[0], comp.POSITIONAL_KINDS) == "volume"
    assert comp._kind(pos, pos.positionals[1], comp.POSITIONAL_KINDS) == "container"
    pos.path = ["create"]
    p2 = argparse.ArgumentParser()
    p2.add_argument("name", metavar="NETWORK")
    assert comp._kind(pos, p2._actions[-1], comp.POSITIONAL_KINDS) is None


# -- compose ------------------------------------------------------------------------------------


def test_compose_commands_and_flags() -> None:
    assert "up" in cands("compose ") and "down" in cands("compose ")
    assert {"--detach", "--build", "--pull", "--scale"} <= set(cands("compose up --"))
    assert {"-f", "--file", "-p", "--project-name"} <= set(cands("compose -"))
    assert cands("compose -f x.yaml u") == ["up"]


def test_compose_services_from_the_project(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = str(tmp_path)
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write("services:\n  web:\n    image: busybox\n  db:\n    image: busybox\n"
                "  debug:\n    image: busybox\n    profiles: [tools]\n")
    monkeypatch.chdir(d)
    assert cands("compose up ") == ["db", "debug", "web"]
    assert cands("compose logs -f w") == ["web"]
    assert cands("compose exec ") == ["db", "debug", "web"]
    assert cands("compose up --exit-code-from ") == ["db", "debug", "web"]
    other = os.path.join(d, "sub")
    os.makedirs(other)
    with open(os.path.join(other, "other.yaml"), "w") as f:
        f.write("services:\n  api:\n    image: busybox\n")
    assert cands(f"compose -f {other}/other.yaml up ") == ["api"]
    monkeypatch.chdir(other)
    assert cands(f"compose --project-directory {d} -f {d}/compose.yaml stop ") == ["db", "debug", "web"]


def test_compose_without_a_file_has_no_services(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(str(tmp_path))
    assert cands("compose -f nonexistent.yaml up ") == []


# -- the hidden command and the scripts --------------------------------------------------------


def test_complete_command_prints_candidates_then_directive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["__complete", "network", "c"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "create\tCreate a network", "connect\tConnect a container to a network", ":0"]
    assert main(["__complete", "build", "-f", ""]) == 0
    assert capsys.readouterr().out == f":{comp.FILES}\n"
    assert main(["__complete"]) == 0
    assert "run\tCreate and run a new container from an image" in capsys.readouterr().out.splitlines()


def test_completion_command_prints_the_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert "complete -F __palletctl_complete palletctl pallet-compose" in out and "__complete" in out
    assert main(["completion", "zsh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#compdef palletctl pallet-compose\n") and "compdef _palletctl" in out
    with pytest.raises(SystemExit):
        main(["completion", "fish"])
    sub = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))
    assert "source <(palletctl completion bash)" in sub.choices["completion"].format_help()


def test_unreachable_daemon_means_no_names() -> None:
    pos = comp.walk(PARSER, ["-H", "unix:///nonexistent/pallet.sock", "rm"])
    assert pos.values["host"] == ["unix:///nonexistent/pallet.sock"]
    assert comp.daemon_names(pos, ["container", "image"], timeout=0.5) == []
    bad = comp.walk(PARSER, ["-H", "bogus://x", "rm"])
    assert comp.daemon_names(bad, ["container"]) == []


def test_complete_does_not_load_grpc() -> None:
    code = ("import sys, io, contextlib\nfrom pallet.client.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['__complete', 'ps', '-'])\n"
            "    main(['__complete', 'network', 'create', '--'])\n"
            "    main(['__complete', 'run', '--restart', ''])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc' or m.endswith('_pb2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
