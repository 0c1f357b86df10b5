"""Resource and isolation settings without a runtime: flag parsing, validation, spec building."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from pallet import errors
from pallet.client import _hostconfig
from pallet.client.cli import CLIError
from pallet.engine import _resources, _seccomp, _security, _spec
from pallet.engine.v1 import engine_pb2 as pb

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _swap_accounting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see a host with swap accounting unless they say otherwise."""
    monkeypatch.setattr(_resources, "swap_limit_supported", lambda: True)


# -- client flag parsing ---------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("512m", 512 * MiB), ("1g", 1 << 30), ("1G", 1 << 30), ("100", 100), ("1.5g", 3 << 29),
    ("64MiB", 64 * MiB), ("64mb", 64 * MiB), ("10k", 10240), ("2 m", 2 * MiB),
])
def test_ram_in_bytes_is_binary_like_docker(text: str, expected: int) -> None:
    assert _hostconfig.ram_in_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "m", "12x", "-1", "1.2.3q", "1gg"])
def test_ram_in_bytes_rejects(text: str) -> None:
    with pytest.raises(CLIError, match="invalid size"):
        _hostconfig.ram_in_bytes(text)


def test_swap_minus_one_is_unlimited() -> None:
    assert _hostconfig.swap_bytes("-1") == -1
    assert _hostconfig.swap_bytes("1g") == 1 << 30


def test_nano_cpus() -> None:
    assert _hostconfig.nano_cpus("1.5") == 1_500_000_000
    assert _hostconfig.nano_cpus("0.01") == 10_000_000
    with pytest.raises(CLIError, match="too precise"):
        _hostconfig.nano_cpus("0.0000000001")
    with pytest.raises(CLIError, match="rational"):
        _hostconfig.nano_cpus("abc")


def test_parse_ulimit() -> None:
    assert _hostconfig.parse_ulimit("nofile=1024:2048") == ("nofile", 1024, 2048)
    assert _hostconfig.parse_ulimit("nproc=100") == ("nproc", 100, 100)
    assert _hostconfig.parse_ulimit("core=-1") == ("core", -1, -1)
    assert _hostconfig.parse_ulimit("core=0:-1") == ("core", 0, -1)
    with pytest.raises(CLIError, match="invalid ulimit type"):
        _hostconfig.parse_ulimit("bogus=1")
    with pytest.raises(CLIError, match="soft limit must be less"):
        _hostconfig.parse_ulimit("nofile=10:5")
    with pytest.raises(CLIError, match="invalid ulimit argument"):
        _hostconfig.parse_ulimit("nofile")


def test_parse_device() -> None:
    assert _hostconfig.parse_device("/dev/null") == ("/dev/null", "/dev/null", "rwm")
    assert _hostconfig.parse_device("/dev/null:r") == ("/dev/null", "/dev/null", "r")
    assert _hostconfig.parse_device("/dev/null:/dev/x") == ("/dev/null", "/dev/x", "rwm")
    assert _hostconfig.parse_device("/dev/null:/dev/x:rw") == ("/dev/null", "/dev/x", "rw")
    with pytest.raises(CLIError, match="invalid device mode"):
        _hostconfig.parse_device("/dev/null:/dev/x:rwx")


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    _hostconfig.add_create_flags(p)
    return p.parse_args(argv)


def test_flags_fill_host_config(tmp_path: Any) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    hc = pb.HostConfig()
    _hostconfig.fill_host_config(_args([
        "-m", "64m", "--memory-swap", "-1", "--cpus", "0.5", "-c", "512", "--pids-limit", "10",
        "--ulimit", "nofile=10:20", "--cap-add", "sys_admin", "--cap-drop", "ALL", "--sysctl",
        "kernel.shmmax=1", "--security-opt", f"seccomp={profile}", "--device", "/dev/null:/dev/n:r",
        "--group-add", "daemon", "--init", "--shm-size", "1g"]), hc)
    assert (hc.memory, hc.memory_swap, hc.nano_cpus, hc.cpu_shares) == (64 * MiB, -1, 500_000_000, 512)
    assert hc.HasField("pids_limit") and hc.pids_limit == 10
    assert [(u.name, u.soft, u.hard) for u in hc.ulimits] == [("nofile", 10, 20)]
    assert list(hc.cap_add) == ["sys_admin"] and list(hc.cap_drop) == ["ALL"]
    assert dict(hc.sysctls) == {"kernel.shmmax": "1"}
    assert list(hc.security_opt) == ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']
    assert (hc.devices[0].path_on_host, hc.devices[0].path_in_container, hc.devices[0].cgroup_permissions) == (
        "/dev/null", "/dev/n", "r")
    assert hc.init and hc.shm_size == 1 << 30
    empty = pb.HostConfig()
    _hostconfig.fill_host_config(_args([]), empty)
    assert not empty.HasField("pids_limit") and not empty.HasField("init")


# -- resources -------------------------------------------------------------------


def _invalid(hc: pb.HostConfig, match: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=match):
        _resources.validate(hc, ncpu=2)


def test_resource_validation_matches_docker() -> None:
    _invalid(pb.HostConfig(memory=MiB), "Minimum memory limit allowed is 6MB")
    _invalid(pb.HostConfig(memory_swap=64 * MiB), "always set the Memory limit")
    _invalid(pb.HostConfig(memory=64 * MiB, memory_swap=32 * MiB), "larger than memory limit")
    _invalid(pb.HostConfig(memory=64 * MiB, memory_reservation=128 * MiB), "memory reservation")
    _invalid(pb.HostConfig(nano_cpus=3_000_000_000), "Range of CPUs is from 0.01 to 2.00")
    _invalid(pb.HostConfig(nano_cpus=1_000_000_000, cpu_period=100000), "Nano CPUs and CPU Period")
    _invalid(pb.HostConfig(cpu_period=10), "CPU cfs period")
    _invalid(pb.HostConfig(cpu_quota=10), "CPU cfs quota")
    _invalid(pb.HostConfig(blkio_weight=5), "blkio weight")
    _invalid(pb.HostConfig(cpuset_cpus="0-999"), "Requested CPUs are not available")
    _invalid(pb.HostConfig(cpuset_cpus="x"), "Invalid value x for cpuset cpus")
    _invalid(pb.HostConfig(ulimits=[pb.Ulimit(name="nofile", soft=10, hard=5)]), "soft limit")
    _invalid(pb.HostConfig(ulimits=[pb.Ulimit(name="what", soft=1, hard=1)]), "invalid ulimit type")


def test_resource_defaults_like_dockerd() -> None:
    hc = pb.HostConfig(memory=64 * MiB, pids_limit=-1)
    _resources.validate(hc)
    assert hc.memory_swap == 128 * MiB  # twice the memory
    assert not hc.HasField("pids_limit")  # -1 is unlimited
    assert hc.shm_size == 64 * MiB


def test_no_swap_accounting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_resources, "swap_limit_supported", lambda: False)
    hc = pb.HostConfig(memory=64 * MiB)
    assert _resources.validate(hc) == []
    assert hc.memory_swap == 0
    hc.memory_swap = 128 * MiB
    assert "does not support swap limit" in _resources.validate(hc)[0]
    assert _resources.linux_resources(hc, v2=False) == {"memory": {"limit": 64 * MiB}}


def test_ulimit_above_the_hosts_hard_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    monkeypatch.setattr(_resources, "_has_cap_sys_resource", lambda: False)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("unlimited host nofile")
    hc = pb.HostConfig(ulimits=[pb.Ulimit(name="nofile", soft=10, hard=hard + 1)])
    _invalid(hc, f"exceeds the host's hard limit {hard}")
    _resources.validate(pb.HostConfig(ulimits=[pb.Ulimit(name="nofile", soft=10, hard=hard)]))


def test_linux_resources() -> None:
    hc = pb.HostConfig(memory=64 * MiB, memory_swap=-1, memory_reservation=32 * MiB, oom_kill_disable=True,
                       nano_cpus=1_500_000_000, cpu_shares=512, cpuset_cpus="0", cpuset_mems="0",
                       pids_limit=20, blkio_weight=300)
    assert _resources.linux_resources(hc, v2=False) == {
        "memory": {"limit": 64 * MiB, "swap": -1, "reservation": 32 * MiB, "disableOOMKiller": True},
        "cpu": {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 20},
        "blockIO": {"weight": 300},
    }
    assert "disableOOMKiller" not in _resources.linux_resources(hc, v2=True)["memory"]
    assert _resources.linux_resources(pb.HostConfig(cpu_quota=5000, cpu_period=10000), v2=False) == {
        "cpu": {"quota": 5000, "period": 10000}}


def test_update_merges_and_checks_swap() -> None:
    cur = pb.HostConfig(memory=64 * MiB, memory_swap=128 * MiB, pids_limit=10, shm_size=64 * MiB)
    with pytest.raises(errors.InvalidArgument, match="smaller than already set memoryswap"):
        _resources.merge_update(cur, pb.HostConfig(memory=256 * MiB))
    new, res, _ = _resources.merge_update(cur, pb.HostConfig(memory=96 * MiB))
    assert (new.memory, new.memory_swap, new.pids_limit) == (96 * MiB, 128 * MiB, 10)
    assert res == {"memory": {"limit": 96 * MiB, "swap": 128 * MiB}}
    new, res, _ = _resources.merge_update(cur, pb.HostConfig(pids_limit=-1, cpu_shares=100))
    assert not new.HasField("pids_limit")
    assert res == {"pids": {"limit": -1}, "cpu": {"shares": 100}}
    unlimited = pb.HostConfig(shm_size=64 * MiB)
    new, res, _ = _resources.merge_update(unlimited, pb.HostConfig(memory=32 * MiB))
    assert (new.memory, new.memory_swap) == (32 * MiB, 0)


# -- isolation -------------------------------------------------------------------


def test_capabilities_like_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_security, "_bounding_set", lambda: (1 << 41) - 1)
    assert _security.capabilities(pb.HostConfig()) == _spec.DEFAULT_CAPS
    caps = _security.capabilities(pb.HostConfig(cap_add=["sys_admin", "CAP_NET_ADMIN"], cap_drop=["chown"]))
    assert "CAP_SYS_ADMIN" in caps and "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert _security.capabilities(pb.HostConfig(cap_drop=["ALL"])) == []
    assert _security.capabilities(pb.HostConfig(cap_drop=["all"], cap_add=["kill"])) == ["CAP_KILL"]
    everything = _security.capabilities(pb.HostConfig(cap_add=["ALL"], cap_drop=["SYS_ADMIN"]))
    assert "CAP_SYS_ADMIN" not in everything and "CAP_SYS_MODULE" in everything
    assert "CAP_SYS_ADMIN" in _security.capabilities(pb.HostConfig(privileged=True))
    with pytest.raises(errors.InvalidArgument, match='unknown capability: "CAP_NOPE"'):
        _security.capabilities(pb.HostConfig(cap_add=["nope"]))


def test_capability_the_engine_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_security, "_bounding_set", lambda: ((1 << 41) - 1) & ~(1 << 24))
    with pytest.raises(errors.InvalidArgument, match="CAP_SYS_RESOURCE cannot be added"):
        _security.capabilities(pb.HostConfig(cap_add=["SYS_RESOURCE"]))
    assert "CAP_SYS_RESOURCE" not in _security.capabilities(pb.HostConfig(privileged=True))


def test_sysctls() -> None:
    for ok in ("net.ipv4.ip_forward", "kernel.shmmax", "kernel.msgmax", "kernel.sem", "fs.mqueue.msg_max"):
        _security.check_sysctls({ok: "1"}, "none")
    with pytest.raises(errors.InvalidArgument, match="not allowed with --network host"):
        _security.check_sysctls({"net.ipv4.ip_forward": "1"}, "host")
    for bad in ("kernel.hostname", "vm.swappiness", "kernel.pid_max"):
        with pytest.raises(errors.InvalidArgument, match=f"sysctl '{bad}' is not allowed"):
            _security.check_sysctls({bad: "1"}, "none")


def test_security_opts() -> None:
    assert _security.parse_security_opts(["no-new-privileges"]).no_new_privileges
    assert _security.parse_security_opts(["no-new-privileges=true"]).no_new_privileges
    assert not _security.parse_security_opts(["no-new-privileges=false"]).no_new_privileges
    assert _security.parse_security_opts(["seccomp=unconfined"]).seccomp == "unconfined"
    assert _security.parse_security_opts(["seccomp:unconfined"]).seccomp == "unconfined"
    for bad in ("bogus=1", "seccomp=/some/path", 'seccomp={"x": ', "no-new-privileges=maybe"):
        with pytest.raises(errors.InvalidArgument):
            _security.parse_security_opts([bad])


def test_device_cgroup_rules() -> None:
    assert _security.parse_cgroup_rule("c 1:3 rwm") == {"allow": True, "type": "c", "major": 1, "minor": 3,
                                                         "access": "rwm"}
    assert _security.parse_cgroup_rule("b *:* m") == {"allow": True, "type": "b", "access": "m"}
    with pytest.raises(errors.InvalidArgument, match="invalid device cgroup rule format"):
        _security.parse_cgroup_rule("c 1:3 rwx")


def test_host_device() -> None:
    [(dev, rule)] = _security.host_devices(pb.DeviceMapping(path_on_host="/dev/null",
                                                            path_in_container="/dev/n", cgroup_permissions="r"))
    assert (dev["path"], dev["type"], dev["major"], dev["minor"]) == ("/dev/n", "c", 1, 3)
    assert rule == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}
    with pytest.raises(errors.InvalidArgument, match="no such file or directory"):
        _security.host_devices(pb.DeviceMapping(path_on_host="/dev/does-not-exist"))


# -- seccomp ---------------------------------------------------------------------


def _names(profile: dict[str, Any]) -> set[str]:
    return {n for rule in profile["syscalls"] if rule["action"] == _seccomp.ALLOW and not rule.get("args")
            for n in rule["names"]}


def test_default_seccomp_profile() -> None:
    prof = _seccomp.oci_profile(_seccomp.default_profile(), _spec.DEFAULT_CAPS, arch="amd64", kernel=(6, 1))
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["defaultErrnoRet"] == 1
    assert prof["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = _names(prof)
    assert {"read", "write", "execve", "arch_prctl", "chroot", "ptrace"} <= allowed
    assert not {"mount", "unshare", "init_module", "reboot", "setns", "cacheflush"} & allowed
    clone_rules = [r for r in prof["syscalls"] if r["names"] == ["clone"]]
    assert clone_rules and clone_rules[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    assert any(r["names"] == ["clone3"] and r.get("errnoRet") == 38 for r in prof["syscalls"])
    old = _seccomp.oci_profile(_seccomp.default_profile(), _spec.DEFAULT_CAPS, arch="amd64", kernel=(4, 4))
    assert "ptrace" not in _names(old)


def test_seccomp_follows_capabilities() -> None:
    caps = [*_spec.DEFAULT_CAPS, "CAP_SYS_ADMIN", "CAP_SYS_MODULE"]
    prof = _seccomp.oci_profile(_seccomp.default_profile(), caps, arch="arm64", kernel=(6, 1))
    allowed = _names(prof)
    assert {"mount", "unshare", "setns", "init_module", "clone", "cacheflush"} <= allowed
    assert "arch_prctl" not in allowed
    assert not any(r["names"] == ["clone3"] for r in prof["syscalls"])
    assert prof["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


def _built_spec() -> dict[str, Any]:
    return _spec.build(_spec.SpecInput(
        process=_spec.Process(args=["sh"], env=[], cwd="/"), hostname="h", domainname="",
        network_mode="none", cgroups_path="/p/c", hostname_path="/x", hosts_path="/y",
        resolv_conf_path="/z"))


def test_apply_defaults() -> None:
    spec = _built_spec()
    _security.apply(spec, pb.HostConfig())
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["process"]["capabilities"]["bounding"] == _spec.DEFAULT_CAPS
    assert spec["linux"]["maskedPaths"] and spec["linux"]["readonlyPaths"]
    assert spec["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}


def test_apply_privileged_and_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_security, "init_path", lambda: "/usr/bin/tini-static")
    spec = _built_spec()
    _security.apply(spec, pb.HostConfig(privileged=True, init=True, shm_size=MiB,
                                        sysctls={"kernel.shmmax": "1"},
                                        devices=[pb.DeviceMapping(path_on_host="/dev/null",
                                                                  path_in_container="/dev/n2")]))
    paths = [d["path"] for d in spec["linux"]["devices"]]
    assert "/dev/null" in paths and "/dev/n2" in paths and "/dev/console" not in paths
    assert "seccomp" not in spec["linux"]
    assert spec["linux"]["maskedPaths"] == [] and spec["linux"]["readonlyPaths"] == []
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount["options"]
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert f"size={MiB}" in shm["options"]
    assert spec["process"]["args"] == ["/dev/init", "--", "sh"]
    assert {"destination": "/dev/init", "type": "bind", "source": "/usr/bin/tini-static",
            "options": ["bind", "ro"]} in spec["mounts"]
    assert spec["linux"]["sysctl"] == {"kernel.shmmax": "1"}


def test_apply_unconfined_nnp_rlimits_groups() -> None:
    spec = _built_spec()
    hc = pb.HostConfig(security_opt=["seccomp=unconfined", "no-new-privileges"],
                       ulimits=[pb.Ulimit(name="nofile", soft=10, hard=-1)],
                       device_cgroup_rules=["c 10:229 rwm"])
    _security.apply(spec, hc, extra_gids=[5, 7])
    assert "seccomp" not in spec["linux"]
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 2**64 - 1}]
    assert spec["process"]["user"]["additionalGids"] == [5, 7]
    assert spec["linux"]["resources"]["devices"][-1] == {"allow": True, "type": "c", "major": 10,
                                                         "minor": 229, "access": "rwm"}


# -- oom events ------------------------------------------------------------------


def test_oom_watcher_emits_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from pallet.engine._oom import OomWatcher
    from pallet.shim import _cgroup

    counts = {"c1": 0}
    monkeypatch.setattr(_cgroup, "oom_file", lambda path, pid=0: (path, "oom_kill"))
    monkeypatch.setattr(_cgroup, "oom_kills", lambda where: counts[where[0]] if where else 0)
    emitted: list[tuple[str, str]] = []
    watcher = OomWatcher(lambda action, ctr: emitted.append((action, ctr.id)), lambda cid: cid,
                         interval=3600)
    try:
        watcher.watch(pb.Container(id="c0"))  # no memory limit: not followed
        ctr = pb.Container(id="c1")
        ctr.config.host_config.memory = 64 * MiB
        watcher.watch(ctr)
        watcher.poll()
        assert emitted == []
        counts["c1"] = 1
        watcher.poll()
        watcher.poll()
        assert emitted == [("oom", "c1")]
        assert watcher.forget("c1") is True  # the exit path does not emit it again
        assert watcher.forget("c1") is False
        counts["c1"] = 2
        watcher.poll()
        assert emitted == [("oom", "c1")]
    finally:
        watcher.stop()


# -- --pid and --ipc ------------------------------------------------------------------


def test_pid_and_ipc_flags() -> None:
    hc = pb.HostConfig()
    _hostconfig.fill_host_config(_args(["--pid", "host", "--ipc", "container:db"]), hc)
    assert (hc.pid_mode, hc.ipc_mode) == ("host", "container:db")
    assert _hostconfig.hostconfig_json(pb.ContainerConfig(host_config=hc))["PidMode"] == "host"
    default = pb.ContainerConfig()
    _hostconfig.fill_host_config(_args([]), default.host_config)
    got = _hostconfig.hostconfig_json(default)
    assert (got["PidMode"], got["IpcMode"]) == ("", "private")
    for mode in ("private", "shareable", "none", "host"):
        assert _hostconfig.namespace_mode("ipc", mode) == mode
    for kind, bad in (("pid", "private"), ("pid", "container:"), ("ipc", "hots"), ("pid", "bogus")):
        with pytest.raises(CLIError, match=f"invalid --{kind} '{bad}'"):
            _hostconfig.namespace_mode(kind, bad)


def test_engine_checks_namespace_modes() -> None:
    assert _spec.namespace_target("pid", "container:web") == "web"
    assert _spec.namespace_target("ipc", "shareable") == ""
    assert _spec.namespace_target("pid", "") == ""
    for kind, bad in (("pid", "none"), ("ipc", "container:"), ("ipc", "x")):
        with pytest.raises(errors.InvalidArgument, match=f"invalid --{kind}"):
            _spec.namespace_target(kind, bad)
    _spec.check_ipc_sysctls({"kernel.shmmax": "1"}, "private")
    _spec.check_ipc_sysctls({"net.ipv4.ip_forward": "1"}, "host")
    with pytest.raises(errors.InvalidArgument, match="host's IPC namespace"):
        _spec.check_ipc_sysctls({"kernel.shmmax": "1"}, "host")
    with pytest.raises(errors.InvalidArgument, match="another container's"):
        _spec.check_ipc_sysctls({"fs.mqueue.msg_max": "1"}, "container:abc")
    assert "not running" in str(_spec.join_error("pid", "web"))


def _ns_spec(**kw: str) -> dict[str, Any]:
    return _spec.build(_spec.SpecInput(
        process=_spec.Process(args=["sh"], env=[], cwd="/"), hostname="h", domainname="",
        network_mode="none", cgroups_path="/p/c", hostname_path="/x", hosts_path="/y",
        resolv_conf_path="/z", **kw))  # type: ignore[arg-type]


def _namespaces(spec: dict[str, Any]) -> dict[str, str | None]:
    return {ns["type"]: ns.get("path") for ns in spec["linux"]["namespaces"]}


def _shm(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in spec["mounts"] if m["destination"] == "/dev/shm"]


def test_spec_namespaces_for_pid_and_ipc_modes() -> None:
    default = _ns_spec()
    assert _namespaces(default) == {"pid": None, "ipc": None, "uts": None, "mount": None, "network": None}
    assert [m["type"] for m in _shm(default)] == ["tmpfs"]
    host = _ns_spec(pid_mode="host", ipc_mode="host")
    assert "pid" not in _namespaces(host) and "ipc" not in _namespaces(host)
    assert [(m["type"], m["source"]) for m in _shm(host)] == [("bind", "/dev/shm")]
    joined = _ns_spec(pid_mode="container:abc", pid_ns_path="/proc/42/ns/pid",
                      ipc_mode="container:abc", ipc_ns_path="/proc/42/ns/ipc")
    assert _namespaces(joined)["pid"] == "/proc/42/ns/pid" and _namespaces(joined)["ipc"] == "/proc/42/ns/ipc"
    none = _ns_spec(ipc_mode="none")
    assert "ipc" in _namespaces(none) and _shm(none) == []
    with pytest.raises(ValueError, match="namespace path"):
        _ns_spec(pid_mode="container:abc")
