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
