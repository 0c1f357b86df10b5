"""--format: json, table with Docker's headers and aligned columns, plain templates."""

from __future__ import annotations

import json

import pytest
from pallet.client._format import header_of, print_rows

ROWS = [{"ID": "abc", "Names": "web", "Status": "Up 2 minutes", "RunningFor": "2 minutes ago"},
        {"ID": "defdef", "Names": "db-long-name", "Status": "Exited (0) 1 second ago", "RunningFor": "1 hour ago"}]


def test_table_has_headers_and_aligned_columns(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows("table {{.ID}}\t{{.Names}}\t{{.RunningFor}}", ROWS)
    assert capsys.readouterr().out.splitlines() == [
        "CONTAINER ID   NAMES          CREATED",
        "abc            web            2 minutes ago",
        "defdef         db-long-name   1 hour ago",
    ]


def test_table_takes_an_escaped_tab_and_the_id_header(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows("table {{.ID}}\\t{{.Status}}", ROWS[:1], id_header="IMAGE ID")
    assert capsys.readouterr().out.splitlines() == ["IMAGE ID   STATUS", "abc        Up 2 minutes"]


def test_json_and_json_function(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows("json", ROWS)
    print_rows("{{json .}}", ROWS)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x) for x in lines] == ROWS + ROWS


def test_plain_template(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows("{{.Names}}={{upper .Status}}", ROWS[:1])
    assert capsys.readouterr().out == "web=UP 2 MINUTES\n"


def test_headers() -> None:
    assert header_of("CreatedAt") == "CREATED AT"
    assert header_of("LocalVolumes") == "LOCAL VOLUMES"
    assert header_of("ID", "NETWORK ID") == "NETWORK ID"


class _Tty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from pallet.client._format import colour_enabled

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert colour_enabled(_Tty(True)) and not colour_enabled(_Tty(False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_enabled(_Tty(True))
    assert colour_enabled(_Tty(False), "always") and not colour_enabled(_Tty(True), "never")
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setenv("TERM", "dumb")
    assert not colour_enabled(_Tty(True))
