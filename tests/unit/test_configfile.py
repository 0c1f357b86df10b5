"""/etc/pallet/pallet.toml -> command-line flags (pallet.configfile): types, lists, booleans, errors, precedence."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest
from pallet import configfile


def _boolean(text: str) -> bool:
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _parser() -> argparse.ArgumentParser:
    """Flags of every kind the services use (palletd's shapes among them)."""
    p = argparse.ArgumentParser(prog="palletd")
    p.add_argument("--data-root", default="/var/lib/pallet")
    p.add_argument("-H", "--host", action="append", dest="hosts")
    p.add_argument("--insecure-registry", action="append", default=[])
    p.add_argument("--max-concurrent-downloads", type=int, default=3)
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("-D", "--debug", action="store_true")
    p.add_argument("--read-only", action="store_true", default=None)
    p.add_argument("--tls", nargs="?", const=True, default=None, type=_boolean)
    p.add_argument("--mode", choices=["a", "b"], default="a")
    p.add_argument("--color", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q")  # short only: not settable from a file
    configfile.add_option(p)
    return p


def _write(tmp_path: Path, text: str, name: str = "pallet.toml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def _argv(tmp_path: Path, text: str, program: str = "palletd") -> list[str]:
    return configfile.argv_from_config(_write(tmp_path, text), program, _parser())


def _fails(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, program: str = "palletd") -> str:
    path = _write(tmp_path, text)
    with pytest.raises(SystemExit) as exc:
        configfile.argv_from_config(path, program, _parser())
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("palletd: ")
    assert path in err
    return err


def test_types_map_to_flags(tmp_path: Path) -> None:
    argv = _argv(tmp_path, """
        [palletd]
        data-root = "/srv/pallet"
        max-concurrent-downloads = 6
        ratio = 2
        debug = true
        mode = "b"
    """)
    assert argv == ["--data-root=/srv/pallet", "--max-concurrent-downloads=6", "--ratio=2", "--debug", "--mode=b"]
    ns = _parser().parse_args(argv)
    got = (ns.data_root, ns.max_concurrent_downloads, ns.ratio, ns.debug, ns.mode)
    assert got == ("/srv/pallet", 6, 2.0, True, "b")


def test_lists_for_repeatable_flags(tmp_path: Path) -> None:
    argv = _argv(tmp_path, """
        [palletd]
        host = ["unix:///run/pallet/pallet.sock", "tcp://0.0.0.0:2376"]
        insecure-registry = "registry.internal:5000"
    """)
    ns = _parser().parse_args(argv)
    assert ns.hosts == ["unix:///run/pallet/pallet.sock", "tcp://0.0.0.0:2376"]
    assert ns.insecure_registry == ["registry.internal:5000"]  # one value is a list of one
    assert _parser().parse_args(_argv(tmp_path, "[palletd]\nhost = []\n")).hosts is None


def test_booleans(tmp_path: Path) -> None:
    assert _argv(tmp_path, "[palletd]\ndebug = false\nread-only = false\n") == []
    assert _parser().parse_args(_argv(tmp_path, "[palletd]\nread-only = true\n")).read_only is True
    assert _argv(tmp_path, "[palletd]\ncolor = true\n") == ["--color"]
    assert _argv(tmp_path, "[palletd]\ncolor = false\n") == ["--no-color"]
    assert _argv(tmp_path, "[palletd]\nno-color = true\n") == ["--no-color"]
    assert _argv(tmp_path, "[palletd]\nverbose = 2\n") == ["--verbose", "--verbose"]
    # a flag with its own boolean parser (palletd --tls=BOOL) takes a TOML boolean or its text
    assert _parser().parse_args(_argv(tmp_path, "[palletd]\ntls = false\n")).tls is False
    assert _parser().parse_args(_argv(tmp_path, "[palletd]\ntls = true\n")).tls is True
    assert _parser().parse_args(_argv(tmp_path, '[palletd]\ntls = "yes"\n')).tls is True


def test_values_that_look_like_flags_stay_values(tmp_path: Path) -> None:
    ns = _parser().parse_args(_argv(tmp_path, '[palletd]\ndata-root = "-odd"\nhost = ["", "--x"]\n'))
    assert ns.data_root == "-odd"
    assert ns.hosts == ["", "--x"]


def test_other_tables_and_missing_table(tmp_path: Path) -> None:
    text = """
        [imagesvc]
        root = "/x"
        [registry]
        addr = "0.0.0.0:5000"
    """
    assert _argv(tmp_path, text) == []
    assert _argv(tmp_path, "") == []


def test_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(tmp_path, capsys, '[palletd]\ndata_root = "/x"\n')
    assert "[palletd]" in err and "'data_root'" in err
    assert "did you mean 'data-root'" in err
    err = _fails(tmp_path, capsys, '[palletd]\nq = "x"\n')  # short-only flags have no key
    assert "unknown key 'q'" in err
    err = _fails(tmp_path, capsys, '[palletd]\nhelp = true\n')
    assert "unknown key 'help'" in err
    err = _fails(tmp_path, capsys, '[palletd]\nconfig-file = "/etc/other.toml"\n')
    assert "cannot be set inside a config file" in err


def test_unknown_table_and_keys_outside_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(tmp_path, capsys, '[netsv]\nmtu = 1400\n')
    assert "unknown table [netsv]" in err and "did you mean 'netsvc'" in err
    err = _fails(tmp_path, capsys, 'debug = true\n')
    assert "'debug' is outside a table" in err


@pytest.mark.parametrize(("text", "message"), [
    ('max-concurrent-downloads = "6"', "max-concurrent-downloads: expected an integer, got string '6'"),
    ("max-concurrent-downloads = true", "max-concurrent-downloads: expected an integer, got boolean true"),
    ("max-concurrent-downloads = 1.5", "max-concurrent-downloads: expected an integer, got float 1.5"),
    ("ratio = true", "ratio: expected a number"),
    ("data-root = 5", "data-root: expected a string, got integer 5"),
    ('data-root = ["/a", "/b"]', "data-root: expected a single value, got a list"),
    ("data-root = {a = 1}", "data-root: expected a string, got a table"),
    ('debug = "yes"', "debug: expected true or false, got string 'yes'"),
    ("debug = 1", "debug: expected true or false, got integer 1"),
    ('host = ["unix:///a", 5]', "host: expected a string, got integer 5"),
    ('host = [["a"]]', "host: expected a string, got a list"),
    ('mode = "c"', "mode: invalid value string 'c' (choose from 'a', 'b')"),
    ('tls = "maybe"', "tls: invalid value string 'maybe': invalid boolean value 'maybe'"),
    ("verbose = -1", "verbose: expected a count >= 0"),
    ("data-root = 1979-05-27", "data-root: expected a string, got date"),
])
def test_wrong_types(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    err = _fails(tmp_path, capsys, f"[palletd]\n{text}\n")
    assert f"[palletd] {message}" in err


def test_not_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(tmp_path, capsys, "[palletd]\ndebug = \n")
    assert "not valid TOML" in err


def test_missing_explicit_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "nope.toml")
    with pytest.raises(SystemExit) as exc:
        configfile.parse_args(_parser(), "palletd", ["--config-file", path])
    assert exc.value.code == 2
    assert f"config file {path}: no such file" in capsys.readouterr().err


def test_missing_default_file_is_fine(tmp_path: Path) -> None:
    ns = configfile.parse_args(_parser(), "palletd", ["--debug"], default_path=str(tmp_path / "nope.toml"))
    assert ns.debug is True
    assert ns.data_root == "/var/lib/pallet"


def test_default_file_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, '[palletd]\ndata-root = "/srv"\n')
    assert configfile.parse_args(_parser(), "palletd", [], default_path=path).data_root == "/srv"
    # --config-file "" reads no file at all
    assert configfile.parse_args(_parser(), "palletd", ["--config-file", ""], default_path=path).data_root \
        == "/var/lib/pallet"


def test_command_line_wins_and_lists_add_up(tmp_path: Path) -> None:
    path = _write(tmp_path, """
        [palletd]
        data-root = "/from/file"
        max-concurrent-downloads = 6
        host = ["unix:///a.sock", "tcp://0.0.0.0:2376"]
        debug = true
    """)
    ns = configfile.parse_args(_parser(), "palletd",
                               ["--data-root", "/from/cli", "-H", "unix:///b.sock", f"--config-file={path}"])
    assert ns.data_root == "/from/cli"
    assert ns.max_concurrent_downloads == 6
    assert ns.hosts == ["unix:///a.sock", "tcp://0.0.0.0:2376", "unix:///b.sock"]
    assert ns.debug is True
    assert ns.config_file == path
    # argparse's abbreviations reach the same flag
    assert configfile.parse_args(_parser(), "palletd", ["--config-f", path]).data_root == "/from/file"


def test_bad_file_exits_before_anything_else(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "[palletd]\nbogus = 1\n")
    with pytest.raises(SystemExit) as exc:
        configfile.parse_args(_parser(), "palletd", ["--config-file", path])
    assert exc.value.code == 2
    assert "unknown key 'bogus'" in capsys.readouterr().err


def test_config_error_without_exit(tmp_path: Path) -> None:
    path = _write(tmp_path, "[palletd]\nbogus = 1\n")
    with pytest.raises(configfile.ConfigError, match="bogus"):
        configfile.config_argv(path, "palletd", _parser())
    with pytest.raises(ValueError, match="unknown program"):
        configfile.config_argv(path, "dockerd", _parser())


# -- the services wired to it ------------------------------------------------------------------


def test_imagesvc(tmp_path: Path) -> None:
    from pallet.images import main

    path = _write(tmp_path, """
        [imagesvc]
        root = "/srv/pallet"
        insecure-registry = ["a:5000", "b:5000"]
        max-concurrent-downloads = 8
        debug = true
    """)
    ns = main.parse_args(["--config-file", path, "--insecure-registry", "c:5000", "--root", "/x"])
    assert ns.root == "/x"
    assert ns.insecure_registry == ["a:5000", "b:5000", "c:5000"]
    assert ns.max_concurrent_downloads == 8
    assert ns.debug is True


def test_netsvc(tmp_path: Path) -> None:
    from pallet.net import main

    path = _write(tmp_path, """
        [netsvc]
        bip = "172.30.0.1/16"
        mtu = 1450
        default-address-pool = ["base=172.80.0.0/16,size=24"]
    """)
    ns = main.parse_args(["--config-file", path])
    assert (ns.bip, ns.mtu, ns.default_address_pool) == ("172.30.0.1/16", 1450, ["base=172.80.0.0/16,size=24"])


def test_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pallet.registry import main

    path = _write(tmp_path, """
        [registry]
        addr = "0.0.0.0:5000"
        read-only = true
        admin-socket = ""
        config = "/etc/pallet/registry.json"
    """)
    ns = main.parse_args(["--config-file", path, "--addr", "127.0.0.1:5001"])
    got = (ns.addr, ns.read_only, ns.admin_socket, ns.config)
    assert got == ("127.0.0.1:5001", True, "", "/etc/pallet/registry.json")
    assert main.parse_args(["--config-file", ""]).read_only is None
    bad = _write(tmp_path, '[registry]\nread-only = "yes"\n', "bad.toml")
    with pytest.raises(SystemExit) as exc:
        main.parse_args(["--config-file", bad])
    assert exc.value.code == 2
    assert "pallet-registry: " in capsys.readouterr().err

