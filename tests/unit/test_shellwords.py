"""Dockerfile variable substitution, checked against BuildKit's shell lexer behaviour."""

from __future__ import annotations

import pytest
from pallet import errors
from pallet.engine._shellwords import expand, expand_with_used, expand_words, used_vars

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": "", "FOO": "xxyy", "SP": "a  b"}


@pytest.mark.parametrize(("word", "expected"), [
    ("hello", "hello"),
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("x${PWD}y", "x/homey"),
    ("$PWD/x", "/home/x"),
    ("$PWDx", ""),  # the name runs to the first non-name character
    ("${KOREAN}", "한국어"),
    ("$NOPE", ""),
    ("${NOPE}", ""),
    ("$", "$"),
    ("a$", "a$"),
    ("$.x", "$.x"),
    ("$$", ""),  # $$ is a variable named "$", like $1 and $@: unset, so empty
    ("$1", ""),
    ("$@x", "x"),
    ("$0", ""),
    ("$12a", "a"),
    ("${SP}", "a  b"),  # whitespace kept by expand()
])
def test_plain_references(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


@pytest.mark.parametrize(("word", "expected"), [
    ("${NULL:-def}", "def"),
    ("${NOPE:-def}", "def"),
    ("${PWD:-def}", "/home"),
    ("${NULL-def}", ""),
    ("${NOPE-def}", "def"),
    ("${NOPE-}", ""),
    ("${NOPE:-a b}", "a b"),
    ("${NOPE:-$PWD}", "/home"),
    ("${NOPE:-${SHELL:-x}}", "bash"),
    ("${NOPE:-'$PWD'}", "$PWD"),
    ("${NOPE:-\"$PWD\"}", "/home"),
    ("${PWD:+alt}", "alt"),
    ("${NULL:+alt}", ""),
    ("${NOPE:+alt}", ""),
    ("${NULL+alt}", "alt"),
    ("${NOPE+alt}", ""),
    ("${PWD?msg}", "/home"),
    ("${NULL?msg}", ""),
    ("${PWD:?msg}", "/home"),
    ("${FOO#x}", "xyy"),
    ("${FOO##*x}", "yy"),
    ("${FOO#*}", "xxyy"),
    ("${FOO#}", "xxyy"),
    ("${FOO%y}", "xxy"),
    ("${FOO%%y*}", "xx"),
    ("${FOO%}", "xxyy"),
    ("${FOO#?\\?}", "xxyy"),
    ("${FOO/x/z}", "zxyy"),
    ("${FOO//x/z}", "zzyy"),
    ("${FOO///}", "xxyy"),
    ("${NOPE///}", ""),
    ("${FOO:#x}", "xyy"),
])
def test_operators(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


@pytest.mark.parametrize(("word", "env", "expected"), [
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
    ("${FOO/$N/.} - ${FOO//$N/.}", {"FOO": "/foo*/*/*.txt", "N": "\\*/"}, "/foo.*/*.txt - /foo..*.txt"),
    ("${FOO/$N/} - ${FOO//$N/}", {"FOO": "/tmp/tmp/bar.txt", "N": "/tmp"}, "/tmp/bar.txt - /bar.txt"),
    ("${FOO/$N/$R}", {"FOO": "http://google.de", "N": "http://", "R": "https://"}, "https://google.de"),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO/x/$R}", {"FOO": "x", "R": "\\1$0"}, "\\1$0"),  # the replacement is literal
    ("v-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}", {"TARGETARCH": "arm", "TARGETVARIANT": "v7"}, "v-arm-v7"),
    ("v-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}", {"TARGETARCH": "amd64"}, "v-amd64"),
])
def test_patterns_as_buildkit(word: str, env: dict[str, str], expected: str) -> None:
    assert expand(word, env) == expected


@pytest.mark.parametrize(("word", "expected"), [
    ("'$PWD'", "$PWD"),
    ('"$PWD"', "/home"),
    ("'a b'", "a b"),
    ('"a \'b\' c"', "a 'b' c"),
    ("'a \"b\" c'", 'a "b" c'),
    ("'\\$PWD'", "\\$PWD"),  # nothing escapes inside single quotes
    ("\\$PWD", "$PWD"),
    ("\\'a", "'a"),
    ('\\"a', '"a'),
    ("a\\nb", "anb"),  # unquoted, the escape escapes anything and is dropped
    ('"a\\nb"', "a\\nb"),  # in double quotes only ", $ and the escape itself are escaped
    ('"a\\"b"', 'a"b'),
    ('"\\$PWD"', "$PWD"),
    ('"a\\\\b"', "a\\b"),
    ("a\\", "a"),  # a trailing escape is dropped
    ('"a\\', None),
    ("x'y'z\"w\"", "xyzw"),
    ('""', ""),
])
def test_quotes_and_escapes(word: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(errors.InvalidArgument):
            expand(word, ENV)
    else:
        assert expand(word, ENV) == expected


def test_backtick_escape() -> None:
    assert expand("`$PWD", ENV, "`") == "$PWD"
    assert expand("\\$PWD", ENV, "`") == "\\/home"  # backslash is an ordinary character then
    assert expand('"a`"b"', ENV, "`") == 'a"b'
    assert expand("C:\\dir\\$SHELL", ENV, "`") == "C:\\dir\\bash"
    with pytest.raises(errors.InvalidArgument, match="invalid escape token"):
        expand("x", ENV, "!")


@pytest.mark.parametrize(("word", "message"), [
    ("${", "syntax error: missing '}'"),
    ("${PWD", "syntax error: missing '}'"),
    ("${PWD:-x", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("${:x}", "syntax error: bad substitution"),
    ("${{x}", "syntax error: bad substitution"),
    ("${FOO=x}", "unsupported modifier (=) in substitution"),
    ("${FOO:=x}", "unsupported modifier (:=) in substitution"),
    ("${FOO:/x/y}", "unsupported modifier (:/) in substitution"),
    ("${FOO//ww}", "syntax error: missing '/' in ${}"),
    ("'abc", "unexpected end of statement while looking for matching single-quote"),
    ('"abc', "unexpected end of statement while looking for matching double-quote"),
    ("${NOPE?}", "NOPE: is not allowed to be unset"),
    ("${NOPE:?}", "NOPE: is not allowed to be unset"),
    ("${NULL:?}", "NULL: is not allowed to be empty"),
    ("${NOPE?custom $SHELL}", "NOPE: custom bash"),
    ("${NULL:?custom}", "NULL: custom"),
    ("${FOO#\\x}", "invalid pattern (\\x) in substitution: invalid escape '\\x'"),
])
def test_errors(word: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument) as exc:
        expand(word, ENV)
    assert str(exc.value) == f'failed to process "{word}": {message}'


@pytest.mark.parametrize(("text", "expected"), [
    ("a b  c", ["a", "b", "c"]),
    ("  a\tb\n", ["a", "b"]),
    ('"a b" c', ["a b", "c"]),
    ("'a b'c d", ["a bc", "d"]),
    ("a\\ b c", ["a b", "c"]),
    ("$SP", ["a", "b"]),  # words from a variable are split too
    ('"$SP"', ["a  b"]),
    ("x$SP", ["xa", "b"]),
    ('"" a', ["a"]),  # empty words are dropped
    ("$NOPE", []),
    ("", []),
    ("80/tcp ${PORT:-8080}", ["80/tcp", "8080"]),
])
def test_expand_words(text: str, expected: list[str]) -> None:
    assert expand_words(text, ENV) == expected


def test_keep_unset() -> None:
    assert expand("$A ${B} ${C:-x} ${D/a/b} $PWD", ENV, keep_unset=True) == "$A ${B} ${C:-x} ${D/a/b} /home"
    assert expand_words('"E"O\\F', {}, keep_unset=True) == ["EOF"]


def test_used_vars() -> None:
    assert used_vars("plain") == set()
    assert used_vars("$A ${B} ${C:-$D} ${E:+${F}} ${G?$H} ${I#$J} ${K/$L/$M}") == set("ABCDEFGHIJKLM")
    assert used_vars("'$A' \"$B\" \\$C") == {"B"}
    assert used_vars("`$A $B", "`") == {"B"}
    assert used_vars("$1 $$") == {"1", "$"}
    assert used_vars("${X:?} ${Y?}") == {"X", "Y"}  # never fails, even if unset
    assert used_vars("$A ${B:-$C") == {"A", "C"}  # a malformed word reports what it read before the error


def test_expand_with_used() -> None:
    value, used = expand_with_used("${A:-$B}-$C", {"A": "1", "C": "3"})
    assert value == "1-3"
    assert used == {"A", "B", "C"}
