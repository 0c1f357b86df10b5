"""Variable substitution, dotenv files and where variables come from."""

from __future__ import annotations

import pytest
from pallet.client.compose._dotenv import DotenvError, parse
from pallet.client.compose._interpolate import InvalidTemplate, MissingRequired, substitute
from pallet.client.compose.model import ComposeFileError

from tests.unit.compose._model_util import load, write

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080", "NESTED": "inner"}


def lookup(name: str) -> str | None:
    return ENV.get(name)


@pytest.mark.parametrize(("template", "expected"), [
    ("plain", "plain"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("x${SET}y", "xvaluey"),
    ("$SET/path", "value/path"),
    ("$SETx", ""),
    ("${UNSET}", ""),
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${SET:-default}", "value"),
    ("${UNSET-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${UNSET:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-${NESTED}}", "inner"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-a ${SET} b}", "a value b"),
    ("${UNSET:-}", ""),
    ("${SET:?must be set}", "value"),
    ("${EMPTY?fine when set}", ""),
    ("$$", "$"),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("a $$ b", "a $ b"),
    ("${PORT}:80", "8080:80"),
    ("${UNSET:-x}-${SET}", "x-value"),
    ("${UNSET:-{braces}}", "{braces}"),  # the first } closes; the second is text
])
def test_substitute(template, expected):
    assert substitute(template, lookup) == expected


@pytest.mark.parametrize("template", ["$", "a $ b", "$1", "${", "${SET", "${}", "${1A}", "${SET:x}", "${A B}"])
def test_invalid_templates(template):
    with pytest.raises(InvalidTemplate):
        substitute(template, lookup)


@pytest.mark.parametrize(("template", "message"), [
    ("${UNSET:?you must set it}", "required variable UNSET is missing a value: you must set it"),
    ("${EMPTY:?empty too}", "required variable EMPTY is missing a value: empty too"),
    ("${UNSET?}", "required variable UNSET is missing a value"),
    ("${UNSET:?port ${PORT} needed}", "required variable UNSET is missing a value: port 8080 needed"),
])
def test_required(template, message):
    with pytest.raises(MissingRequired) as info:
        substitute(template, lookup)
    assert str(info.value) == message


def test_unset_variables_warn_once(tmp_path):
    project = load(tmp_path, """
        services:
          web:
            image: "nginx:${TAG}"
            labels: ["a=${TAG}"]
    """)
    assert project.services["web"].image == "nginx:"
    assert project.warnings.count('The "TAG" variable is not set. Defaulting to a blank string.') == 1


def test_errors_name_the_place(tmp_path):
    with pytest.raises(ComposeFileError) as info:
        load(tmp_path, "services:\n  web:\n    image: ${TAG:?set TAG}\n")
    assert str(info.value) == ("error while interpolating services.web.image: "
                               "required variable TAG is missing a value: set TAG")
    with pytest.raises(ComposeFileError) as info:
        load(tmp_path, "services:\n  web:\n    image: x\n    command: [echo, $1]\n")
    assert str(info.value).startswith("invalid interpolation format for services.web.command[1].")
    assert "You may need to escape any $ with another $" in str(info.value)


def test_dollar_escape_in_a_file(tmp_path):
    project = load(tmp_path, """
        services:
          web:
            image: x
            command: sh -c 'echo $$HOME'
            environment:
              PRICE: "$$5"
    """)
    web = project.services["web"]
    assert web.command == ["sh", "-c", "echo $HOME"]
    assert web.environment == {"PRICE": "$5"}


def test_keys_are_not_interpolated(tmp_path):
    project = load(tmp_path, "services:\n  web:\n    image: x\n    labels:\n      ${K}: ${SET}\n",
                   environ={"SET": "v", "K": "k"})
    assert project.services["web"].labels == {"${K}": "v"}


def test_interpolated_values_are_cast(tmp_path):
    project = load(tmp_path, """
        services:
          web:
            image: x
            privileged: ${PRIV:-false}
            read_only: "yes"
            scale: ${N}
            ports:
              - target: ${T}
                published: ${P}
    """, environ={"N": "2", "T": "80", "P": "8080"})
    web = project.services["web"]
    assert web.privileged is False and web.read_only is True and web.scale == 2
    assert (web.ports[0].target, web.ports[0].published) == (80, "8080")


def test_interpolation_in_extension_fields(tmp_path):
    project = load(tmp_path, "x-common: ${SET}\nservices:\n  web:\n    image: x\n", environ={"SET": "v"})
    assert project.extensions == {"x-common": "v"}


# -- dotenv -------------------------------------------------------------------------------------


def test_dotenv_syntax():
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED=yes\n"
        "SPACED = around  \n"
        "INLINE=value # comment\n"
        "HASH=a#b\n"
        "SINGLE='literal $PLAIN \\n'\n"
        'DOUBLE="line1\\nline2 \\"q\\" $PLAIN"\n'
        'MULTI="first\nsecond"\n'
        "REF=${PLAIN}-x\n"
        "DEFAULTED=${NOPE:-fallback}\n"
        "EMPTY=\n"
        "YAML_STYLE: colon\n"
        "ESCAPED=\"\\$PLAIN\"\n"
        "DOTTED.KEY=1\n"
    )
    assert parse(text) == {
        "PLAIN": "value", "EXPORTED": "yes", "SPACED": "around", "INLINE": "value", "HASH": "a#b",
        "SINGLE": "literal $PLAIN \\n", "DOUBLE": 'line1\nline2 "q" value', "MULTI": "first\nsecond",
        "REF": "value-x", "DEFAULTED": "fallback", "EMPTY": "", "YAML_STYLE": "colon", "ESCAPED": "$PLAIN",
        "DOTTED.KEY": "1",
    }


def test_dotenv_lookup_and_bare_names():
    env = {"OUTER": "o", "BARE": "from-env"}
    assert parse("A=$OUTER\nBARE\nMISSING\n", env.get) == {"A": "o", "BARE": "from-env"}


def test_dotenv_errors():
    with pytest.raises(DotenvError, match="line 2: unterminated quoted value"):
        parse('A=1\nB="open\n')
    with pytest.raises(DotenvError, match="line 1: unexpected character"):
        parse("BAD KEY=1\n")
    with pytest.raises(DotenvError, match="required variable X"):
        parse("A=${X:?needed}\n")


def test_dotenv_file_feeds_interpolation_and_environ_wins(tmp_path):
    write(tmp_path, ".env", "TAG=1.0\nREPO=myrepo\n")
    project = load(tmp_path, "services:\n  web:\n    image: ${REPO}/web:${TAG}\n", environ={"TAG": "2.0"})
    assert project.services["web"].image == "myrepo/web:2.0"


def test_env_file_option_replaces_dotenv_and_later_files_win(tmp_path):
    write(tmp_path, ".env", "A=dotenv\nB=dotenv\n")
    write(tmp_path, "one.env", "A=one\nB=one\nC=one\n")
    write(tmp_path, "two.env", "B=two\nD=${C}-two\n")
    project = load(tmp_path, "services:\n  web:\n    image: x\n", env_files=["one.env", "two.env"],
                   environ={"C": "environ"})
    env = project.environment
    assert (env["A"], env["B"], env["C"], env["D"]) == ("one", "two", "environ", "environ-two")


def test_missing_env_file_option(tmp_path):
    with pytest.raises(ComposeFileError, match="couldn't find env file"):
        load(tmp_path, "services:\n  web:\n    image: x\n", env_files=["nope.env"])


def test_compose_profiles_from_dotenv(tmp_path):
    write(tmp_path, ".env", "COMPOSE_PROFILES=debug\n")
    project = load(tmp_path, "services:\n  web:\n    image: x\n  dbg:\n    image: y\n    profiles: [debug]\n")
    assert sorted(project.services) == ["dbg", "web"]
