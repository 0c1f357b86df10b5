"""deploy/: the systemd units, install.sh into a staging root, the sample pallet.toml.

Nothing here installs into / or starts a unit: install.sh runs with --root TMP --no-venv, and
systemd-analyze / systemd-sysusers / systemd-tmpfiles work on that staged root.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import os
import re
import shlex
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pallet import configfile

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS_DIR = DEPLOY / "systemd"
INSTALL = DEPLOY / "install.sh"
PREFIX = "/opt/pallet"

# unit -> (program table in pallet.toml, module of its main, console script)
SERVICES = {
    "palletd.service": ("palletd", "pallet.engine.main", "palletd"),
    "pallet-imagesvc.service": ("imagesvc", "pallet.images.main", "pallet-imagesvc"),
    "pallet-netsvc.service": ("netsvc", "pallet.net.main", "pallet-netsvc"),
    "pallet-registry.service": ("registry", "pallet.registry.main", "pallet-registry"),
}
# settings that give a service a mount namespace of its own, or filters its children inherit
MOUNT_NAMESPACE_KEYS = {
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts", "MountFlags",
    "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths", "TemporaryFileSystem",
    "BindPaths", "BindReadOnlyPaths", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "ProtectProc", "ProcSubset", "RootDirectory", "RootImage",
}
INHERITED_BY_CONTAINERS = {
    "NoNewPrivileges", "SystemCallFilter", "SystemCallArchitectures", "RestrictSUIDSGID", "LockPersonality",
    "RestrictNamespaces", "MemoryDenyWriteExecute", "RestrictAddressFamilies", "CapabilityBoundingSet",
    "ProtectHostname", "ProtectClock", "PrivateNetwork", "PrivateUsers", "DevicePolicy", "DeviceAllow",
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (keys may repeat; an empty assignment resets)."""
    out: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"{path.name}: {line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not key=value: {line!r}"
        key, value = key.strip(), value.strip()
        if value == "":
            section[key] = []
        else:
            section.setdefault(key, []).append(value)
    return out


def words(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> list[str]:
    return [w for v in unit.get(section, {}).get(key, []) for w in v.split()]


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str | None:
    values = unit.get(section, {}).get(key, [])
    assert len(values) <= 1, f"{key} set {len(values)} times"
    return values[0] if values else None


def units() -> dict[str, dict[str, dict[str, list[str]]]]:
    return {name: parse_unit(UNITS_DIR / name) for name in SERVICES}


def scripts() -> dict[str, str]:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


class _Grabbed(Exception):
    pass


def parser_of(program: str) -> argparse.ArgumentParser:
    """The argparse parser of a service's command line."""
    module = importlib.import_module(SERVICES_BY_PROGRAM[program][1])
    build = getattr(module, "build_parser", None)
    if build is not None:
        return build()
    # palletd builds its parser inside parse_args: catch it on the way
    grabbed: list[argparse.ArgumentParser] = []
    real = argparse.ArgumentParser.parse_args

    def grab(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> argparse.Namespace:
        grabbed.append(self)
        raise _Grabbed

    argparse.ArgumentParser.parse_args = grab  # type: ignore[assignment,method-assign]
    try:
        with contextlib.suppress(_Grabbed):
            module.parse_args(["--config-file", ""] if _has_config_option(module) else [])
    finally:
        argparse.ArgumentParser.parse_args = real  # type: ignore[method-assign]
    assert grabbed, f"{module.__name__}.parse_args made no parser"
    return grabbed[0]


def _has_config_option(module: object) -> bool:
    return "configfile" in inspect.getsource(module)  # type: ignore[arg-type]


SERVICES_BY_PROGRAM = {prog: (unit, mod, script) for unit, (prog, mod, script) in SERVICES.items()}


def run_install(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DESTDIR"}
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, check=check, env=env)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    run_install("--root", str(root), "--no-venv")
    return root


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# -- install.sh ------------------------------------------------------------------------------------


def test_install_layout_and_modes(staged: Path) -> None:
    expected = {
        "etc/pallet": 0o755,
        "etc/pallet/pallet.toml": 0o644,
        "etc/pallet/tls": 0o711,
        "etc/pallet/tls/registry": 0o750,
        "var/lib/pallet": 0o711,
        "etc/tmpfiles.d/pallet.conf": 0o644,
        "etc/sysusers.d/pallet.conf": 0o644,
        **{f"etc/systemd/system/{u}": 0o644 for u in SERVICES},
    }
    for rel, want in expected.items():
        path = staged / rel
        assert path.exists(), rel
        assert mode(path) == want, f"{rel}: {oct(mode(path))}, want {oct(want)}"
    for unit in SERVICES:
        assert (staged / "etc/systemd/system" / unit).read_text() == (UNITS_DIR / unit).read_text()
    assert (staged / "etc/pallet/pallet.toml").read_text() == (DEPLOY / "pallet.toml").read_text()
    assert (staged / "etc/tmpfiles.d/pallet.conf").read_text() == (UNITS_DIR / "pallet-tmpfiles.conf").read_text()
    # every console script gets a /usr/local/bin symlink into the venv
    for name in scripts():
        link = staged / "usr/local/bin" / name
        assert link.is_symlink(), name
        assert os.readlink(link) == f"{PREFIX}/bin/{name}"
    # a staging root holds files only: no venv (--no-venv), no /run, no users
    assert not (staged / "opt").exists()
    assert not (staged / "run").exists()
    assert not (staged / "etc/passwd").exists()


def test_install_is_idempotent_and_keeps_the_config(tmp_path: Path) -> None:
    run_install("--root", str(tmp_path), "--no-venv")
    conf = tmp_path / "etc/pallet/pallet.toml"
    conf.write_text('[palletd]\ngroup = "docker"\n')
    (tmp_path / "var/lib/pallet").chmod(0o755)
    res = run_install("--root", str(tmp_path), "--no-venv")
    assert "keeping" in res.stdout
    assert conf.read_text() == '[palletd]\ngroup = "docker"\n'
    assert mode(tmp_path / "var/lib/pallet") == 0o711  # modes are put back


def test_install_prefix_rewrites_execstart(tmp_path: Path) -> None:
    run_install("--root", str(tmp_path), "--no-venv", "--prefix", "/srv/pallet")
    for unit in SERVICES:
        text = (tmp_path / "etc/systemd/system" / unit).read_text()
        assert "/opt/pallet" not in text
        assert "ExecStart=/srv/pallet/bin/" in text
    assert os.readlink(tmp_path / "usr/local/bin/palletd") == "/srv/pallet/bin/palletd"


def test_install_dry_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    res = run_install("--root", str(root), "--no-venv", "--dry-run")
    assert not root.exists()
    assert f"+ install -m 0644 {UNITS_DIR}/palletd.service {root}/etc/systemd/system/palletd.service" in res.stdout
    assert "dry run: nothing was changed" in res.stdout
    for tool in ("apt-get", "systemctl", "systemd-sysusers", "useradd", "chown"):  # not for a staging root
        assert f"+ {tool}" not in res.stdout, tool


def test_install_refuses_bad_options(tmp_path: Path) -> None:
    assert run_install("--bogus", check=False).returncode != 0
    assert run_install("--root", str(tmp_path), "--prefix", "relative", check=False).returncode != 0
    assert run_install("--root", str(tmp_path), "--purge", check=False).returncode != 0
    assert not any(tmp_path.iterdir())


def test_uninstall(tmp_path: Path) -> None:
    run_install("--root", str(tmp_path), "--no-venv")
    venv = tmp_path / "opt/pallet"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    other = tmp_path / "usr/local/bin/not-ours"
    other.symlink_to("/usr/bin/true")
    run_install("--root", str(tmp_path), "--uninstall")
    assert not venv.exists()
    assert not list((tmp_path / "etc/systemd/system").iterdir())
    assert [p.name for p in (tmp_path / "usr/local/bin").iterdir()] == ["not-ours"]
    assert not (tmp_path / "etc/tmpfiles.d/pallet.conf").exists()
    assert (tmp_path / "etc/pallet/pallet.toml").exists()  # settings and data stay
    assert (tmp_path / "var/lib/pallet").is_dir()
    run_install("--root", str(tmp_path), "--uninstall")  # again: nothing left to do, no error
    run_install("--root", str(tmp_path), "--uninstall", "--purge")
    assert not (tmp_path / "etc/pallet").exists()
    assert not (tmp_path / "var/lib/pallet").exists()


# -- the units -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verify_root(staged: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The staged install plus what systemd-analyze verify needs: systemd's own units, and
    executables where ExecStart= points."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    host_units = Path("/usr/lib/systemd/system")
    if not (host_units / "sysinit.target").exists():
        pytest.skip("no systemd units in /usr/lib/systemd/system to verify against")
    root = tmp_path_factory.mktemp("verify")
    shutil.copytree(staged, root, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    for _prog, _mod, script in SERVICES.values():
        exe = root / PREFIX.lstrip("/") / "bin" / script
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    yield root


@pytest.mark.parametrize("unit", sorted(SERVICES))
def test_systemd_analyze_verify(verify_root: Path, unit: str) -> None:
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={verify_root}",
                          str(verify_root / "etc/systemd/system" / unit)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    # warnings (unknown keys, bad values) do not fail verify: there must be none
    assert res.stdout.strip() == "" and res.stderr.strip() == "", res.stdout + res.stderr


def test_verify_notices_a_missing_binary(verify_root: Path, tmp_path: Path) -> None:
    """The check above really checks: a unit whose ExecStart= is missing fails."""
    unit = verify_root / "etc/systemd/system/pallet-broken.service"
    unit.write_text("[Service]\nExecStart=/opt/pallet/bin/not-there\n")
    try:
        res = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={verify_root}", str(unit)],
                             capture_output=True, text=True)
    finally:
        unit.unlink()
    assert res.returncode != 0
    assert "not-there" in res.stderr


def test_sysusers_makes_the_group_and_the_registry_user(staged: Path, tmp_path: Path) -> None:
    if shutil.which("systemd-sysusers") is None:
        pytest.skip("systemd-sysusers is not installed (Debian package systemd)")
    root = tmp_path / "root"
    shutil.copytree(staged, root, symlinks=True)
    subprocess.run(["systemd-sysusers", f"--root={root}", str(root / "etc/sysusers.d/pallet.conf")],
                   check=True, capture_output=True)
    groups = {line.split(":")[0] for line in (root / "etc/group").read_text().splitlines()}
    assert {"pallet", "pallet-registry"} <= groups
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    reg = users["pallet-registry"]
    assert int(reg[2]) < 1000  # a system user
    assert reg[6] == "/usr/sbin/nologin"
    unit = parse_unit(UNITS_DIR / "pallet-registry.service")
    assert one(unit, "Service", "User") == "pallet-registry"


def test_tmpfiles_makes_run_pallet(staged: Path, tmp_path: Path) -> None:
    if shutil.which("systemd-tmpfiles") is None:
        pytest.skip("systemd-tmpfiles is not installed (Debian package systemd)")
    root = tmp_path / "root"
    shutil.copytree(staged, root, symlinks=True)
    subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create", str(root / "etc/tmpfiles.d/pallet.conf")],
                   check=True, capture_output=True)
    assert mode(root / "run/pallet") == 0o711
    assert mode(root / "var/lib/pallet") == 0o711


def test_ordering_and_dependencies() -> None:
    u = units()
    d = u["palletd.service"]
    for dep in ("pallet-imagesvc.service", "pallet-netsvc.service"):
        assert dep in words(d, "Unit", "Requires"), dep
        assert dep in words(d, "Unit", "After"), dep
        # no cycle, and the services do not need palletd
        other = u[dep]
        for key in ("After", "Requires", "Wants", "BindsTo", "Requisite", "PartOf"):
            assert "palletd.service" not in words(other, "Unit", key), (dep, key)
    assert "network-online.target" in words(d, "Unit", "After")
    for name, unit in u.items():
        after, wants = words(unit, "Unit", "After"), words(unit, "Unit", "Wants") + words(unit, "Unit", "Requires")
        if "network-online.target" in wants:  # Wants= without After= would not wait for the network
            assert "network-online.target" in after, name
        assert "Before" not in unit["Unit"], name
        assert words(unit, "Install", "WantedBy") == ["multi-user.target"], name
    # the registry stands alone
    reg = u["pallet-registry.service"]
    assert not any(w.startswith("pallet") for k in ("After", "Requires", "Wants") for w in words(reg, "Unit", k))


def test_palletd_uses_the_units_sockets() -> None:
    from pallet.engine._supervisor import sock_address

    d = units()["palletd.service"]
    argv = shlex.split(one(d, "Service", "ExecStart") or "")
    assert argv[0] == f"{PREFIX}/bin/palletd"
    ns = parser_of("palletd").parse_args(argv[1:])
    exec_root = parser_of("palletd").get_default("exec_root")
    for svc in ("imagesvc", "netsvc"):
        want = sock_address(exec_root, svc)
        assert want == f"unix:///run/pallet/{svc}.sock"
        assert getattr(ns, svc) == want, svc  # palletd starts no children of its own
        # ... and the service listens there by default
        unit = units()[SERVICES_BY_PROGRAM[svc][0]]
        svc_argv = shlex.split(one(unit, "Service", "ExecStart") or "")
        assert parser_of(svc).parse_args(svc_argv[1:]).address == want


def test_execstart_flags_are_real_flags() -> None:
    names = scripts()
    for unit_name, (program, module, script) in SERVICES.items():
        argv = shlex.split(one(units()[unit_name], "Service", "ExecStart") or "")
        assert argv[0] == f"{PREFIX}/bin/{script}", unit_name
        assert names[script] == f"{module}:main"
        parser_of(program).parse_args(argv[1:])  # exits on an unknown flag


def test_palletd_keeps_containers_across_restarts() -> None:
    s = units()["palletd.service"]["Service"]
    assert s["KillMode"] == ["process"]
    assert s["Delegate"] == ["yes"]
    assert s["Restart"] == ["on-failure"]
    # systemd deletes a RuntimeDirectory= when the unit stops: /run/pallet holds bundles and netns
    assert "RuntimeDirectory" not in s or s.get("RuntimeDirectoryPreserve") == ["yes"]
    for key in MOUNT_NAMESPACE_KEYS | INHERITED_BY_CONTAINERS:
        assert key not in s, f"palletd.service sets {key}="
    # netsvc's namespace bind mounts must land in the host's mount namespace
    net = units()["pallet-netsvc.service"]["Service"]
    for key in MOUNT_NAMESPACE_KEYS:
        assert key not in net, f"pallet-netsvc.service sets {key}="


def test_every_unit_restarts_and_has_limits() -> None:
    for name, unit in units().items():
        s = unit["Service"]
        assert s.get("Restart") == ["on-failure"], name
        assert "LimitNOFILE" in s, name
        assert s.get("Type", ["simple"])[0] in ("exec", "notify", "simple"), name
        if name != "palletd.service":
            assert "KillMode" not in s, name


def test_unit_type_matches_sd_notify_support() -> None:
    """Type=notify exactly for the programs that send READY=1 (else systemd times their start out)."""
    for name, (_prog, module, _script) in SERVICES.items():
        source = inspect.getsource(importlib.import_module(module))
        notifies = re.search(r"sdnotify\.ready(_when_handled)?\(", source) is not None
        kind = one(units()[name], "Service", "Type")
        assert (kind == "notify") == notifies, f"{name}: Type={kind} but {module} notifies: {notifies}"


def test_registry_is_sandboxed() -> None:
    s = units()["pallet-registry.service"]["Service"]
    assert s["User"] == ["pallet-registry"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["NoNewPrivileges"] == ["yes"]
    assert s["StateDirectory"] == ["pallet/registry"]
    argv = shlex.split(s["ExecStart"][0])
    ns = parser_of("registry").parse_args(argv[1:])
    runtime_dir = "/run/" + s["RuntimeDirectory"][0]
    assert os.path.dirname(ns.admin_socket) == runtime_dir  # the one place it may write under /run
    from pallet.registry.main import DEFAULT_ROOT

    state_dir = "/var/lib/" + s["StateDirectory"][0]
    assert state_dir == DEFAULT_ROOT


# -- the sample config -------------------------------------------------------------------------------


def _sample_uncommented(tmp_path: Path) -> str:
    """deploy/pallet.toml with every commented-out `# key = value` line switched on."""
    text = (DEPLOY / "pallet.toml").read_text()
    text = re.sub(r"(?m)^# ([a-z][a-z0-9-]* = )", r"\1", text)
    path = tmp_path / "all.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("program", configfile.PROGRAMS)
def test_sample_config_is_valid(program: str, tmp_path: Path) -> None:
    parser = parser_of(program)
    configfile.config_argv(str(DEPLOY / "pallet.toml"), program, parser)
    argv = configfile.config_argv(_sample_uncommented(tmp_path), program, parser)
    assert argv, f"the sample documents no [{program}] settings"
    parser.parse_args(argv)


def test_sample_config_sets_the_socket_group() -> None:
    with open(DEPLOY / "pallet.toml", "rb") as f:
        data = tomllib.load(f)
    assert data["palletd"] == {"group": "pallet"}  # everything else is commented out
    assert all(data[p] == {} for p in ("imagesvc", "netsvc", "registry"))
    assert "g pallet" in (UNITS_DIR / "pallet-sysusers.conf").read_text()
