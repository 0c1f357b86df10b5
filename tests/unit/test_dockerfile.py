"""The Dockerfile parser: lines, directives, heredocs, every instruction's forms, errors and the stage graph."""

from __future__ import annotations

import pytest
from pallet import errors
from pallet.engine._dockerfile import (
    Dockerfile,
    Instruction,
    needed_stages,
    parse,
    stage_dependencies,
    stage_for_target,
)


def one(body: str) -> Instruction:
    """The single instruction after `FROM scratch` on line 1."""
    df = parse("FROM scratch\n" + body)
    (instr,) = df.stages[0].instructions
    return instr


def fails(text: str, message: str, name: str = "Dockerfile") -> None:
    with pytest.raises(errors.InvalidArgument) as exc:
        parse(text, name)
    assert str(exc.value) == message


# --- structure -------------------------------------------------------------------------------------------

def test_stages_and_global_args() -> None:
    df = parse("ARG BASE=alpine\nARG V\nFROM $BASE AS Build\nRUN make\nfrom --platform=$BUILDPLATFORM busybox\n"
               "COPY --from=build /out /out\n")
    assert isinstance(df, Dockerfile)
    assert [a.key_values for a in df.args_before_from] == [[("BASE", "alpine")], [("V", None)]]
    first, second = df.stages
    assert (first.index, first.base, first.name, first.platform, first.label) == (0, "$BASE", "build", None, "build")
    assert (second.index, second.base, second.name, second.platform) == (1, "busybox", None, "$BUILDPLATFORM")
    assert second.label == "stage-1"
    assert first.from_instruction.cmd == "FROM" and first.from_instruction.line == 3
    assert [(i.cmd, i.line) for i in first.instructions] == [("RUN", 4)]
    assert second.from_instruction.flags == {"platform": ["$BUILDPLATFORM"]}
    assert df.escape == "\\" and df.directives == {} and df.warnings == []


def test_instruction_names_are_case_insensitive() -> None:
    df = parse("from scratch as X\nRun echo hi\ncopy a b\n")
    assert [i.cmd for i in df.stages[0].instructions] == ["RUN", "COPY"]
    assert df.stages[0].name == "x"


def test_comments_blank_lines_crlf_and_bom() -> None:
    df = parse("\ufeff# comment\r\n\r\nFROM scratch\r\n   # indented comment\r\nRUN echo a # not a comment\r\n")
    (run,) = df.stages[0].instructions
    assert run.args == ["echo a # not a comment"]
    assert (run.line, run.end_line) == (5, 5)


# --- parser directives -----------------------------------------------------------------------------------

def test_directives() -> None:
    df = parse("# syntax=docker/dockerfile:1.7\n#  ESCAPE = `\n# check=skip=all\nFROM scratch\n")
    assert df.directives == {"syntax": "docker/dockerfile:1.7", "escape": "`", "check": "skip=all"}
    assert df.escape == "`"
    assert df.warnings == ["Dockerfile:1: # syntax=docker/dockerfile:1.7 is ignored: this builder has one frontend"]


@pytest.mark.parametrize("text", [
    "# a comment\n# escape=`\nFROM scratch\n",  # after an ordinary comment
    "\n# escape=`\nFROM scratch\n",  # after a blank line
    "# unknown=1\n# escape=`\nFROM scratch\n",  # after an unknown directive, which is a comment
    "FROM scratch\n# escape=`\n",  # after an instruction
    "#!/usr/bin/env docker\n# escape=`\nFROM scratch\n",
])
def test_directives_only_at_the_very_top(text: str) -> None:
    df = parse(text)
    assert df.escape == "\\" and "escape" not in df.directives


def test_directive_errors() -> None:
    fails("# escape=`\n# escape=\\\nFROM scratch\n", "Dockerfile:2: only one escape parser directive can be used")
    fails("# escape=x\nFROM scratch\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\")


# --- line continuation -----------------------------------------------------------------------------------

def test_continuation() -> None:
    df = parse("FROM scratch\nRUN echo a \\\n    b \\  \t\n# dropped comment\n  c\nRUN next\n")
    run, nxt = df.stages[0].instructions
    assert run.args == ["echo a     b   c"]  # continuation lines keep their leading whitespace
    assert (run.line, run.end_line) == (2, 5)
    assert run.original == "RUN echo a     b   c"
    assert nxt.line == 6
    assert df.warnings == []


def test_empty_continuation_line_warns() -> None:
    df = parse("FROM scratch\nRUN a \\\n\n   \n  b\n")
    assert df.stages[0].instructions[0].args == ["a   b"]
    assert df.warnings == ["Dockerfile:2: empty continuation line found in: RUN a   b"]


def test_continuation_edge_cases() -> None:
    df = parse("FROM scratch\nRUN echo \\\\\nRUN x\n")  # an escaped escape does not continue
    assert [i.args for i in df.stages[0].instructions] == [["echo \\\\"], ["x"]]
    assert one("RUN a \\\n\\\nb\n").args == ["a b"]  # a lone escape on its own line
    assert one("RUN a \\").args == ["a"]  # continued into the end of the file
    assert one("RUN a\\b\n").args == ["a\\b"]


def test_backtick_escape_directive() -> None:
    df = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /s\nENV p=c:\\x q=`\"y\n")
    run, env = df.stages[0].instructions
    assert run.args == ["dir c:\\   /s"]
    assert env.key_values == [("p", "c:\\x"), ("q", '`"y')]


# --- JSON (exec) form versus shell form ------------------------------------------------------------------

@pytest.mark.parametrize(("body", "json_form", "args"), [
    ('CMD ["echo", "hi"]', True, ["echo", "hi"]),
    ('CMD   [ "a b" ,"c"]  ', True, ["a b", "c"]),
    ("CMD []", True, []),
    ('ENTRYPOINT ["a", "b\\u00e9"]', True, ["a", "bé"]),
    ("CMD [\"a\", 'b']", False, ["[\"a\", 'b']"]),  # not JSON: shell form, as Docker
    ('CMD ["echo", "hi"] # c', False, ['["echo", "hi"] # c']),
    ('RUN ["c:\\x"]', False, ['["c:\\x"]']),
    ("RUN [oops", False, ["[oops"]),
    ("RUN echo hi", False, ["echo hi"]),
    ('SHELL ["/bin/bash", "-c"]', True, ["/bin/bash", "-c"]),
])
def test_json_versus_shell_form(body: str, json_form: bool, args: list[str]) -> None:
    instr = one(body)
    assert (instr.json_form, instr.args) == (json_form, args)


def test_json_array_of_non_strings_is_an_error() -> None:
    fails("FROM scratch\nCMD [\"a\", 1]\n", "Dockerfile:2: when using JSON array syntax, arrays must be comprised "
                                           "of strings only")


@pytest.mark.parametrize("cmd", ["RUN", "CMD", "ENTRYPOINT", "SHELL"])
def test_shell_like_instructions_need_arguments(cmd: str) -> None:
    fails(f"FROM scratch\n{cmd}\n", f"Dockerfile:2: {cmd} requires at least one argument")


def test_shell_instruction() -> None:
    fails("FROM scratch\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form")
    fails("FROM scratch\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument")


# --- flags ----------------------------------------------------------------------------------------------

def test_copy_and_add_flags() -> None:
    instr = one("COPY --from=build --chown=\"app user\" --chmod=0755 --link --exclude=*.md --exclude=*.txt a b /d/\n")
    assert (instr.args, instr.words) == (["a b /d/"], ["a", "b", "/d/"])
    assert instr.flags == {"from": ["build"], "chown": ["app user"], "chmod": ["0755"], "link": ["true"],
                           "exclude": ["*.md", "*.txt"]}
    assert instr.flag("from") == "build" and instr.flag("platform") is None and instr.flag("x", "d") == "d"
    add = one("ADD --link=False --keep-git-dir --checksum=sha256:00 --unpack=true https://x/y.tgz /\n")
    assert add.flags == {"link": ["false"], "keep-git-dir": ["true"], "checksum": ["sha256:00"], "unpack": ["true"]}
    assert one("COPY -- --weird /d\n").words == ["--weird", "/d"]  # `--` ends the flags
    assert one("COPY --parents a/b /d\n").flags == {"parents": ["true"]}


def test_run_and_from_flags() -> None:
    instr = one("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=x --network=none "
                "--security=insecure --device=/dev/fuse go build\n")
    assert instr.flags == {"mount": ["type=cache,target=/root/.cache", "type=secret,id=x"], "network": ["none"],
                           "security": ["insecure"], "device": ["/dev/fuse"]}
    assert instr.args == ["go build"]


@pytest.mark.parametrize(("body", "message"), [
    ("COPY --foo a b", "unknown flag: --foo"),
    ("ENV --from=x a=b", "unknown flag: --from"),
    ("RUN --from=x true", "unknown flag: --from"),
    ("STOPSIGNAL --x=1 TERM", "unknown flag: --x"),
    ("COPY --from=a --from=b a b", "duplicate flag specified: --from"),
    ("COPY --link --link a b", "duplicate flag specified: --link"),
    ("COPY --from a b", "missing a value on flag: --from"),
    ("COPY --link= a b", "missing a value on flag: --link"),
    ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
    ("RUN --network true", "missing a value on flag: --network"),
])
def test_flag_errors(body: str, message: str) -> None:
    fails(f"FROM scratch\n{body}\n", f"Dockerfile:2: {message}")


def test_from_flag_errors() -> None:
    fails("FROM --platform alpine\n", "Dockerfile:1: missing a value on flag: --platform")
    fails("FROM --platform linux/amd64 alpine\n", "Dockerfile:1: FROM requires either one or three arguments")
    fails("FROM --pull=true alpine\n", "Dockerfile:1: unknown flag: --pull")


# --- COPY, ADD, VOLUME, EXPOSE ---------------------------------------------------------------------------

def test_copy_add_forms() -> None:
    instr = one('COPY ["a b", "c", "/dest dir/"]\n')
    assert (instr.json_form, instr.args, instr.words) == (True, ["a b", "c", "/dest dir/"], ["a b", "c", "/dest dir/"])
    assert one('COPY "a b" /x\n').words == ['"a', 'b"', "/x"]  # Docker splits on whitespace only
    add = one("ADD\tsrc \t dst\n")
    assert (add.json_form, add.args, add.words) == (False, ["src \t dst"], ["src", "dst"])
    for cmd in ("COPY", "ADD"):
        message = (f"{cmd} requires at least two arguments, but only one was provided. "
                   "Destination could not be determined")
        fails(f"FROM scratch\n{cmd} onlyone\n", f"Dockerfile:2: {message}")
        fails(f"FROM scratch\n{cmd} --chown=1 [\"x\"]\n", f"Dockerfile:2: {message}")
        fails(f"FROM scratch\n{cmd}\n", f"Dockerfile:2: {message}")


def test_volume_and_expose() -> None:
    assert (one("VOLUME /a /b\n").args, one("VOLUME /a /b\n").words) == (["/a /b"], ["/a", "/b"])
    vol = one('VOLUME ["/a", "/b c"]\n')
    assert (vol.json_form, vol.args, vol.words) == (True, ["/a", "/b c"], ["/a", "/b c"])
    expose = one('EXPOSE 80 443/tcp ${P} ["x"]\n')  # EXPOSE has no JSON form
    assert (expose.json_form, expose.args, expose.words) == (False, ['80 443/tcp ${P} ["x"]'],
                                                             ["80", "443/tcp", "${P}", '["x"]'])
    fails('FROM scratch\nVOLUME [" "]\n', "Dockerfile:2: VOLUME specified can not be an empty string")
    fails("FROM scratch\nVOLUME\n", "Dockerfile:2: VOLUME requires at least one argument")
    fails("FROM scratch\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument")


# --- single-string instructions -------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"])
def test_single_string_instructions(cmd: str) -> None:
    assert one(f"{cmd}   some value  \n").args == ["some value"]
    fails(f"FROM scratch\n{cmd}\n", f"Dockerfile:2: {cmd} requires exactly one argument")


def test_maintainer_is_deprecated_but_accepted() -> None:
    df = parse("FROM scratch\nMAINTAINER Jane <jane@example.com>\n")
    assert df.stages[0].instructions[0].args == ["Jane <jane@example.com>"]
    assert df.warnings == ["Dockerfile:2: MAINTAINER is deprecated, use a LABEL instead"]


# --- ENV, LABEL, ARG ------------------------------------------------------------------------------------

def test_env_forms() -> None:
    env = one('ENV a=b c="d e" f=g\\ h i=\'$j\' k= l=""\n')
    assert env.key_values == [("a", "b"), ("c", '"d e"'), ("f", "g\\ h"), ("i", "'$j'"), ("k", ""), ("l", '""')]
    assert env.args == ["a=b", 'c="d e"', "f=g\\ h", "i='$j'", "k=", 'l=""']
    legacy = parse("FROM scratch\nENV NAME  some value  here\n")
    assert legacy.stages[0].instructions[0].key_values == [("NAME", "some value  here")]
    assert legacy.warnings == ['Dockerfile:2: "ENV key=value" should be used instead of legacy "ENV key value" format']
    assert one('ENV "quoted key"=v\n').key_values == [('"quoted key"', "v")]


def test_label_forms() -> None:
    assert one('LABEL "com.example.v"="1.0" a=b\n').key_values == [('"com.example.v"', '"1.0"'), ("a", "b")]
    assert one("LABEL description some text\n").key_values == [("description", "some text")]


def test_arg_forms() -> None:
    assert one("ARG A\n").key_values == [("A", None)]
    assert one('ARG A=1 B C="x y" D=\n').key_values == [("A", "1"), ("B", None), ("C", '"x y"'), ("D", "")]


@pytest.mark.parametrize(("body", "message"), [
    ("ENV", "ENV requires at least one argument"),
    ("ENV A", "ENV must have two arguments"),
    ("LABEL A", "LABEL must have two arguments"),
    ("ENV a=b c", "Syntax error - can't find = in \"c\". Must be of the form: name=value"),
    ("ENV =x", "ENV names can not be blank"),
    ("LABEL", "LABEL requires at least one argument"),
    ("ARG", "ARG requires at least one argument"),
    ("ARG =x", "ARG names can not be blank"),
])
def test_key_value_errors(body: str, message: str) -> None:
    fails(f"FROM scratch\n{body}\n", f"Dockerfile:2: {message}")


# --- HEALTHCHECK ----------------------------------------------------------------------------------------

def test_healthcheck_forms() -> None:
    none = one("HEALTHCHECK none\n")
    assert (none.health_cmd, none.args) == (["NONE"], [])
    shell = one("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=0s --start-interval=5s --retries=3 "
                "CMD curl -f http://localhost/ || exit 1\n")
    assert shell.health_cmd == ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
    assert (shell.json_form, shell.args) == (False, ["curl -f http://localhost/ || exit 1"])
    assert shell.flags == {"interval": ["30s"], "timeout": ["1m30s"], "start-period": ["0s"],
                           "start-interval": ["5s"], "retries": ["3"]}
    exec_form = one('HEALTHCHECK cmd ["/bin/check", "-v"]\n')
    assert exec_form.health_cmd == ["CMD", "/bin/check", "-v"] and exec_form.json_form


@pytest.mark.parametrize(("body", "message"), [
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK --interval=5s NONE", "unknown flag: --interval"),
    ("HEALTHCHECK TEST x", 'Unknown type "TEST" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK --interval=100us CMD x", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --timeout=5 CMD x", 'time: invalid duration "5"'),
    ("HEALTHCHECK --retries=x CMD x", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --foo=1 CMD x", "unknown flag: --foo"),
])
def test_healthcheck_errors(body: str, message: str) -> None:
    fails(f"FROM scratch\n{body}\n", f"Dockerfile:2: {message}")


# --- ONBUILD --------------------------------------------------------------------------------------------

def test_onbuild() -> None:
    instr = one("ONBUILD COPY --chown=1 . /app\n")
    assert instr.args == ["COPY --chown=1 . /app"]
    assert instr.trigger is not None
    assert (instr.trigger.cmd, instr.trigger.args, instr.trigger.flags) == ("COPY", [". /app"], {"chown": ["1"]})
    assert one("onbuild run echo hi\n").trigger.cmd == "RUN"  # type: ignore[union-attr]


@pytest.mark.parametrize(("body", "message"), [
    ("ONBUILD", "ONBUILD requires at least one argument"),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD from alpine", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("ONBUILD RUNN x", "unknown instruction: RUNN (did you mean RUN?)"),
    ("ONBUILD COPY --foo a b", "unknown flag: --foo"),
    ("ONBUILD --foo RUN x", "unknown flag: --foo"),
])
def test_onbuild_errors(body: str, message: str) -> None:
    fails(f"FROM scratch\n{body}\n", f"Dockerfile:2: {message}")


# --- heredocs -------------------------------------------------------------------------------------------

def test_run_heredoc() -> None:
    df = parse("FROM scratch\nRUN <<EOF\n#!/bin/sh\necho $HOME \\\n# kept\nEOF\nRUN next\n")
    run, nxt = df.stages[0].instructions
    assert run.args == ["<<EOF"] and not run.json_form
    (doc,) = run.heredocs
    assert (doc.name, doc.content, doc.expand, doc.chomp) == ("EOF", "#!/bin/sh\necho $HOME \\\n# kept\n", True, False)
    assert (run.line, run.end_line, nxt.line) == (2, 6, 7)


def test_several_heredocs_on_one_line() -> None:
    instr = one("RUN <<A cat - /dev/fd/3 3<<'B' > out\nfirst\nA\nsecond\nB\n")
    assert [(h.name, h.content, h.expand) for h in instr.heredocs] == [("A", "first\n", True), ("B", "second\n", False)]
    assert instr.end_line == 6


def test_heredoc_chomp_and_quoting() -> None:
    instr = one('COPY <<-EOT <<"Q1" <<E"O"F <<\'Q2\' /dest/\n\t\tindented\n\tEOT\n$a\nQ1\nb\nEOF\nc\nQ2\n')
    docs = {h.name: h for h in instr.heredocs}
    assert list(docs) == ["EOT", "Q1", "EOF", "Q2"]
    assert (docs["EOT"].chomp, docs["EOT"].content, docs["EOT"].data) == (True, "\t\tindented\n", "indented\n")
    assert [docs[n].expand for n in docs] == [True, False, False, False]
    assert docs["Q1"].data == "$a\n"
    assert instr.words == ["<<-EOT", '<<"Q1"', '<<E"O"F', "<<'Q2'", "/dest/"]
    assert [h.name for h in one("RUN <<'a b'\nx\na b\n").heredocs] == ["a b"]
    assert instr.heredoc_for('<<"Q1"') is docs["Q1"]
    assert instr.heredoc_for("/dest/") is None


def test_heredoc_body_is_raw() -> None:
    instr = one("COPY <<EOF /x\r\nline one\r\n  EOF\r\nEOF\r\n")
    assert instr.heredocs[0].content == "line one\r\n  EOF\r\n"


def test_heredoc_in_onbuild() -> None:
    instr = one("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert instr.args == ["RUN <<EOF\necho hi\nEOF"]
    assert instr.trigger is not None and [h.name for h in instr.trigger.heredocs] == ["EOF"]
    assert instr.heredocs == instr.trigger.heredocs and instr.end_line == 4


def test_not_heredocs() -> None:
    assert one('RUN ["<<EOF"]\n').heredocs == []  # JSON form
    assert one('RUN echo "<<EOF" \'<<X\'\n').heredocs == []  # quoted
    assert one("RUN echo <<\n").heredocs == []
    df = parse("FROM scratch\nCMD <<EOF\n")  # only RUN, COPY and ADD take heredocs
    assert df.stages[0].instructions[0].heredocs == []
    # `cat<<EOF` is no heredoc (it must start a word), so its body lines are instructions
    fails("FROM scratch\nRUN cat<<EOF\nhello\nEOF\n", "Dockerfile:3: unknown instruction: hello (did you mean shell?)")


def test_heredoc_errors() -> None:
    fails("FROM scratch\nRUN <<EOF\nno end\n", "Dockerfile:2: unterminated heredoc")
    fails("FROM scratch\nRUN <<A <<B\na\nA\n", "Dockerfile:2: unterminated heredoc")
    fails("FROM scratch\nCOPY a <<EOF\nx\nEOF\n", "Dockerfile:2: COPY cannot accept a heredoc as a destination")
    fails("FROM scratch\nRUN <<EOF\nx\n EOF\n", "Dockerfile:2: unterminated heredoc")  # <<EOF keeps indentation


# --- file-level errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("", "the Dockerfile (Dockerfile) cannot be empty"),
    ("  \n\n", "the Dockerfile (Dockerfile) cannot be empty"),
    ("# only\n# comments\n", "Dockerfile:2: file with no instructions"),
    ("ARG A\n", "Dockerfile contains no stages to build"),
    ("ARG A\nRUN x\nFROM scratch\n", "Dockerfile:2: no build stage in current context"),
    ("FROM a\nRUNN x\n", "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"),
    ("FROM a\ncopyy x y\n", "Dockerfile:2: unknown instruction: copyy (did you mean copy?)"),
    ("FROM a\nWorkDri /x\n", "Dockerfile:2: unknown instruction: WorkDri (did you mean workdir?)"),
    ("FROM a\nXYZZY bar\n", "Dockerfile:2: unknown instruction: XYZZY"),
    ("FROM a\nRUN x \\\n  y\nBOGUS\n", "Dockerfile:4: unknown instruction: BOGUS"),
    ("FROM\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a TO b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS 1st\n", 'Dockerfile:1: invalid name for build stage: "1st", name can\'t start with a number or '
                        "contain symbols"),
    ("FROM a AS b/c\n", 'Dockerfile:1: invalid name for build stage: "b/c", name can\'t start with a number or '
                        "contain symbols"),
    ("FROM a AS x\nFROM b as X\n", 'Dockerfile:2: duplicate stage name "x", stage names should be unique'),
])
def test_file_errors(text: str, message: str) -> None:
    fails(text, message)


def test_error_names_the_file() -> None:
    fails("FROM a\nRUNN\n", "build/app.Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)",
          name="build/app.Dockerfile")
    fails("", "the Dockerfile (x.df) cannot be empty", name="x.df")


def test_valid_stage_names() -> None:
    df = parse("FROM a AS b-1_2.3\nFROM a AS Z9\n")
    assert [s.name for s in df.stages] == ["b-1_2.3", "z9"]


# --- targets and the stage graph ------------------------------------------------------------------------

GRAPH = """\
FROM alpine AS base
RUN apk add make
FROM base AS deps
RUN fetch
FROM golang AS tools
FROM deps AS build
COPY --from=tools /go/bin/x /bin/
RUN --mount=type=cache,target=/c --mount=type=bind,from=1,source=/d,target=/d make
FROM scratch AS unused
COPY --from=nginx:latest /etc/nginx /x
FROM scratch AS final
COPY --from=build /out /
COPY --from=0 /etc/os-release /
"""


def test_stage_for_target() -> None:
    df = parse(GRAPH)
    assert stage_for_target(df, None) == 5
    assert stage_for_target(df, "") == 5
    assert stage_for_target(df, "Build") == 3
    with pytest.raises(errors.InvalidArgument, match='^target stage "nope" could not be found$'):
        stage_for_target(df, "nope")


def test_needed_stages_in_dependency_order() -> None:
    df = parse(GRAPH)
    assert needed_stages(df, 5) == [0, 1, 2, 3, 5]
    assert needed_stages(df, 3) == [0, 1, 2, 3]
    assert needed_stages(df, 2) == [2]
    assert needed_stages(df, 4) == [4]  # COPY --from=nginx:latest is an image, not a stage
    assert stage_dependencies(df, 3) == [(1, 6), (2, 7)]
    assert stage_dependencies(df, 5) == [(3, 12), (0, 13)]


def test_from_only_names_earlier_stages() -> None:
    df = parse("FROM later AS first\nFROM alpine AS later\n")
    assert needed_stages(df, 0) == [0]
    df = parse("FROM alpine AS alpine\nFROM alpine\n")  # a stage may shadow an image name for later stages
    assert needed_stages(df, 1) == [0, 1]


def test_needed_stages_expands_build_args() -> None:
    df = parse("ARG SRC=dev\nFROM alpine AS dev\nFROM alpine AS prod\nFROM ${SRC}\nCOPY --from=${SRC} /a /b\n"
               "RUN --mount=from=$SRC,target=/x true\n")
    args = {"SRC": "prod"}
    assert needed_stages(df, 2, lambda s: s.replace("${SRC}", args["SRC"]).replace("$SRC", args["SRC"])) == [1, 2]
    assert needed_stages(df, 2) == [2]  # unexpanded, "${SRC}" names no stage


def test_stage_graph_errors() -> None:
    df = parse("FROM a\nCOPY --from=5 /a /b\n")
    with pytest.raises(errors.InvalidArgument, match="^Dockerfile:2: invalid stage index 5$"):
        needed_stages(df, 0)
    df = parse("FROM a AS one\nCOPY --from=two /a /b\nFROM b AS two\nCOPY --from=one /a /b\n")
    with pytest.raises(errors.InvalidArgument, match="^Dockerfile:2: circular dependency detected on stage: two$"):
        needed_stages(df, 1)
    df = parse("FROM a\nCOPY --from=0 /a /b\n")
    with pytest.raises(errors.InvalidArgument, match="circular dependency detected on stage: stage-0"):
        needed_stages(df, 0)


def test_copy_from_later_stage_by_name() -> None:
    df = parse("FROM a AS one\nCOPY --from=two /a /b\nFROM b AS two\n")
    assert needed_stages(df, 0) == [1, 0]
