"""Unit tests of engine and CLI logic that needs no daemon."""

from __future__ import annotations

import json
import os

import pytest
from pallet import errors, signals
from pallet.client import _format
from pallet.client._inspect import render, rfc3339
from pallet.engine import _logs, _names, _rootfs
from pallet.engine.containers import _merge_env


def test_log_reader_tail_since_and_partial_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c-json.log"
    lines = [
        {"log": f"line {i}\n", "stream": "stderr" if i % 2 else "stdout",
         "time": f"2026-11-28T12:00:0{i}.000000001Z"}
        for i in range(5)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"log":"partial')
    got = list(_logs.read(str(path)))
    assert [e.data for e in got] == [f"line {i}\n".encode() for i in range(5)]
    assert [e.stream for e in got][:2] == ["stdout", "stderr"]
    assert [e.data for e in _logs.read(str(path), tail=2)] == [b"line 3\n", b"line 4\n"]
    since = _logs.parse_time("2026-11-28T12:00:03Z")
    assert [e.data for e in _logs.read(str(path), since_ns=since)] == [b"line 3\n", b"line 4\n"]
    assert list(_logs.read(str(path), tail=0)) == []
    assert _logs.parse_time("2026-11-28T12:00:00.5Z") % 1_000_000_000 == 500_000_000


def test_follow_stops_when_done(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "log"
    path.write_text('{"log":"a\\n","stream":"stdout","time":"2026-11-28T12:00:00Z"}\n')
    calls = []

    def wait(t: float) -> None:
        calls.append(t)
        with open(path, "a") as f:
            f.write('{"log":"b\\n","stream":"stdout","time":"2026-11-28T12:00:01Z"}\n')

    done = iter([False, True, True, True])
    got = [e.data for e in _logs.read(str(path), follow=True, done=lambda: next(done), wait=wait)]
    assert got == [b"a\n", b"b\n"]


def test_names_validate_and_generate() -> None:
    assert _names.validate("/web-1") == "web-1"
    with pytest.raises(errors.InvalidArgument):
        _names.validate("bad name")
    with pytest.raises(errors.InvalidArgument):
        _names.validate("x")  # docker needs two characters
    assert "_" in _names.random_name()


def test_signals_parse() -> None:
    assert signals.parse("KILL") == 9 and signals.parse("SIGTERM") == 15 and signals.parse("2") == 2
    with pytest.raises(errors.InvalidArgument):
        signals.parse("SIGNOPE")
    with pytest.raises(errors.InvalidArgument):
        signals.parse("999")


def test_merge_env_user_overrides_image() -> None:
    env = _merge_env(["PATH=/bin", "A=1"], ["A=2", "B=3"], "host1", tty=True)
    assert env == ["PATH=/bin", "A=2", "HOSTNAME=host1", "TERM=xterm", "B=3"]


def test_resolve_user_from_layers_refuses_symlinks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (upper / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")
    (lower / "etc" / "group").write_text("app:x:1000:\nstaff:x:50:app\n")
    dirs = [str(upper), str(lower)]
    assert _rootfs.resolve_user(dirs, "app") == (1000, 1000, [50])
    assert _rootfs.resolve_user(dirs, "app:staff") == (1000, 50, [])
    assert _rootfs.resolve_user(dirs, "42:43") == (42, 43, [])
    with pytest.raises(errors.InvalidArgument, match="unable to find user ghost"):
        _rootfs.resolve_user(dirs, "ghost")
    os.symlink("/etc/shadow", upper / "etc" / "passwd")
    with pytest.raises(errors.InvalidArgument):
        _rootfs.resolve_user(dirs, "app")


def test_layer_dirs_from_mounts() -> None:
    mounts = [("overlay", "overlay", ["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"])]
    assert _rootfs.layer_dirs(mounts) == ["/u", "/a", "/b"]
    assert _rootfs.layer_dirs([("bind", "/r", ["rbind", "rw"])]) == ["/r"]


def test_human_formats() -> None:
    assert _format.human_duration(0.5) == "Less than a second"
    assert _format.human_duration(5) == "5 seconds"
    assert _format.human_duration(90) == "About a minute"
    assert _format.human_duration(3 * 3600) == "3 hours"
    assert _format.human_size(4_260_000) == "4.26MB"
    assert _format.human_size(0) == "0B"


def test_template_render() -> None:
    obj = {"State": {"Status": "running", "Running": True}, "Config": {"Env": ["A=1", "B=2"]}}
    assert render("{{.State.Status}}", obj) == "running"
    assert render("{{.State.Running}} {{.Config.Env}}", obj) == "true [A=1 B=2]"
    assert render("{{json .State}}", obj) == '{"Status":"running","Running":true}'
    with pytest.raises(ValueError):
        render("{{.Nope}}", obj)
    assert rfc3339(0) == "0001-01-01T00:00:00Z"
    assert rfc3339(1_795_867_200_000_000_001) == "2026-11-28T12:00:00.000000001Z"
