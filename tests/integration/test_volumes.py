"""Volumes end to end: named and anonymous volumes, binds, tmpfs, populate, rm/prune."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

from tests.conftest import Engine


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _volumes(engine: Engine) -> set[str]:
    return set(engine.ctl("volume", "ls", "-q", check=True).stdout.split())


def test_volume_create_ls_inspect_rm(engine: Engine) -> None:
    name = _name("vol")
    assert engine.ctl("volume", "create", "--label", "a=b", name, check=True).stdout.strip() == name
    info = json.loads(engine.ctl("volume", "inspect", name, check=True).stdout)[0]
    assert info["Name"] == name and info["Driver"] == "local" and info["Labels"] == {"a": "b"}
    assert info["Mountpoint"].endswith(f"/volumes/{name}/_data") and os.path.isdir(info["Mountpoint"])
    assert name in engine.ctl("volume", "ls", "-q", "--filter", "label=a=b", check=True).stdout.split()
    assert name not in engine.ctl("volume", "ls", "-q", "--filter", "label=a=c", check=True).stdout.split()
    assert name in engine.ctl("volume", "ls", "-q", "--filter", "dangling=true", check=True).stdout.split()
    assert "DRIVER" in engine.ctl("volume", "ls", check=True).stdout
    anon = engine.ctl("volume", "create", check=True).stdout.strip()
    assert len(anon) == 64 and all(c in "0123456789abcdef" for c in anon)
    assert engine.ctl("volume", "rm", name, anon, check=True).stdout.split() == [name, anon]
    res = engine.ctl("volume", "inspect", name)
    assert res.returncode != 0 and "no such volume" in res.stderr
    assert engine.ctl("volume", "rm", "-f", name).returncode == 0


def test_named_volume_shared_between_containers(engine: Engine) -> None:
    name = _name("data")
    engine.ctl("run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c", "echo hello > /data/f", check=True)
    assert name in _volumes(engine)  # created on first use, survives --rm
    res = engine.ctl("run", "--rm", "--mount", f"type=volume,source={name},target=/mnt", "busybox", "cat", "/mnt/f")
    assert res.stdout == "hello\n", res.stderr
    res = engine.ctl("run", "--rm", "-v", f"{name}:/data:ro", "busybox", "sh", "-c", "echo x > /data/g")
    assert res.returncode != 0 and "Read-only file system" in res.stderr
    engine.ctl("volume", "rm", name, check=True)


def test_rm_refused_while_in_use_and_inspect_mounts(engine: Engine) -> None:
    name = _name("busy")
    cid = engine.ctl("create", "-v", f"{name}:/data:ro", "busybox", "true", check=True).stdout.strip()
    try:
        res = engine.ctl("volume", "rm", name)
        assert res.returncode == 1 and f"volume is in use - [{cid}]" in res.stderr
        assert name in engine.ctl("volume", "ls", "-q", "-f", "dangling=false", check=True).stdout.split()
        mounts = json.loads(engine.ctl("inspect", cid, check=True).stdout)[0]["Mounts"]
        assert mounts == [{"Type": "volume", "Name": name, "Source": mounts[0]["Source"], "Destination": "/data",
                           "Driver": "local", "Mode": "ro", "RW": False, "Propagation": ""}]
    finally:
        engine.ctl("rm", "-v", cid, check=True)
    assert name in _volumes(engine)  # rm -v never removes named volumes
    engine.ctl("volume", "rm", name, check=True)


def test_bind_mounts_both_ways(engine: Engine, tmp_path: object) -> None:
    host = os.path.join(str(tmp_path), "shared")
    os.makedirs(host)
    with open(os.path.join(host, "in.txt"), "w") as f:
        f.write("from host\n")
    res = engine.ctl("run", "--rm", "-v", f"{host}:/h", "busybox", "sh", "-c", "cat /h/in.txt; echo back > /h/out")
    assert res.stdout == "from host\n", res.stderr
    with open(os.path.join(host, "out")) as f:
        assert f.read() == "back\n"
    res = engine.ctl("run", "--rm", "--mount", f"type=bind,source={host},target=/h,readonly", "busybox",
                     "touch", "/h/nope")
    assert res.returncode != 0 and not os.path.exists(os.path.join(host, "nope"))
    missing = os.path.join(str(tmp_path), "made-by-v")
    engine.ctl("run", "--rm", "-v", f"{missing}:/m", "busybox", "true", check=True)
    assert os.path.isdir(missing)  # -v creates a missing host directory
    gone = os.path.join(str(tmp_path), "never")
    res = engine.ctl("run", "--rm", "--mount", f"type=bind,source={gone},target=/m", "busybox", "true")
    assert res.returncode == 125
    assert res.stderr.strip() == ('invalid mount config for type "bind": bind source path does not exist: '
                                  f"{gone}") or res.stderr.strip().endswith(
        f'invalid mount config for type "bind": bind source path does not exist: {gone}')
    assert not os.path.exists(gone)


def test_tmpfs_mounts(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--tmpfs", "/scratch:size=8m,mode=1770", "busybox", "sh", "-c",
                     "grep ' /scratch ' /proc/mounts; stat -c %a /scratch")
    line, mode = res.stdout.splitlines()
    assert line.startswith("tmpfs /scratch tmpfs") and "size=8192k" in line and "noexec" in line, res.stdout
    assert mode == "1770"
    res = engine.ctl("run", "--rm", "--mount", "type=tmpfs,target=/t", "busybox", "grep", " /t ", "/proc/mounts")
    assert res.stdout.startswith("tmpfs /t tmpfs"), res.stderr


def test_populate_on_first_use(engine: Engine) -> None:
    name = _name("etc")
    res = engine.ctl("run", "--rm", "-v", f"{name}:/etc", "busybox", "sh", "-c",
                     "grep -c root /etc/passwd; echo mine > /etc/extra")
    assert res.stdout.strip() != "0" and res.returncode == 0, res.stderr
    mp = json.loads(engine.ctl("volume", "inspect", name, check=True).stdout)[0]["Mountpoint"]
    assert {"extra", "group", "passwd"} <= set(os.listdir(mp))  # plus runc's /etc/hosts etc. mountpoints
    os.unlink(os.path.join(mp, "passwd"))
    engine.ctl("run", "--rm", "-v", f"{name}:/etc", "busybox", "true", check=True)
    assert "passwd" not in os.listdir(mp)  # populated once only
    engine.ctl("volume", "rm", name, check=True)


def test_anonymous_volumes_rm_v_and_run_rm(engine: Engine) -> None:
    before = _volumes(engine)
    engine.ctl("run", "--rm", "-v", "/anon", "busybox", "touch", "/anon/x", check=True)
    assert _volumes(engine) == before  # run --rm removes anonymous volumes
    named = _name("keep")
    cid = engine.ctl("create", "-v", "/anon", "-v", f"{named}:/keep", "busybox", "true", check=True).stdout.strip()
    mounts = json.loads(engine.ctl("inspect", cid, check=True).stdout)[0]["Mounts"]
    anon = next(m["Name"] for m in mounts if m["Destination"] == "/anon")
    info = json.loads(engine.ctl("volume", "inspect", anon, check=True).stdout)[0]
    assert info["Labels"] == {"com.docker.volume.anonymous": ""}
    engine.ctl("rm", "-v", cid, check=True)
    after = _volumes(engine)
    assert anon not in after and named in after
    engine.ctl("volume", "rm", named, check=True)


def test_image_volumes_are_anonymous(engine: Engine, busybox_tar: str) -> None:
    ref = f"withvol:{uuid.uuid4().hex[:6]}"
    engine.ctl("import", "-c", 'CMD ["sh"]', "-c", "VOLUME /vdata", busybox_tar, ref, check=True)
    try:
        cid = engine.ctl("create", ref, "true", check=True).stdout.strip()
        mounts = json.loads(engine.ctl("inspect", cid, check=True).stdout)[0]["Mounts"]
        assert [m["Destination"] for m in mounts] == ["/vdata"] and mounts[0]["Type"] == "volume"
        engine.ctl("rm", cid, check=True)
        assert mounts[0]["Name"] in _volumes(engine)  # rm without -v keeps it
        res = engine.ctl("volume", "prune", "-f", check=True)
        assert mounts[0]["Name"] in res.stdout and "Total reclaimed space" in res.stdout
        assert mounts[0]["Name"] not in _volumes(engine)
    finally:
        engine.ctl("rmi", ref)


def test_prune_keeps_named_unless_all_and_in_use(engine: Engine) -> None:
    named, used = _name("p"), _name("used")
    engine.ctl("volume", "create", named, check=True)
    cid = engine.ctl("create", "-v", f"{used}:/u", "busybox", "true", check=True).stdout.strip()
    try:
        engine.ctl("volume", "prune", "-f", check=True)
        assert named in _volumes(engine)
        res = engine.ctl("volume", "prune", "-a", "-f", check=True)
        assert named in res.stdout and used not in res.stdout
        assert named not in _volumes(engine) and used in _volumes(engine)
    finally:
        engine.ctl("rm", cid)
        engine.ctl("volume", "rm", "-f", used)


def test_bad_input_is_one_line_125_and_creates_nothing(engine: Engine) -> None:
    before = _volumes(engine)
    ps_before = engine.ctl("ps", "-aq", "--no-trunc", check=True).stdout
    for args in (["-v", "bad@name:/x"], ["-v", "okname:relative"], ["--mount", "type=foo,target=/x"],
                 ["--mount", "type=volume,source=okname2,target=rel"], ["-v", "a:b:c:d"]):
        res = engine.ctl("run", "--rm", "-v", "/anon-should-not-exist", *args, "busybox", "true")
        assert res.returncode == 125, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, (args, res.stderr)
    res = engine.ctl("volume", "create", "-bad")
    assert res.returncode != 0
    res = engine.ctl("volume", "create", "x/y")
    assert res.returncode == 125 and "includes invalid characters" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert _volumes(engine) == before
    assert engine.ctl("ps", "-aq", "--no-trunc", check=True).stdout == ps_before


def test_volume_survives_restart_and_df_counts_what_prune_frees(fresh_engine: Engine) -> None:
    eng = fresh_engine
    eng.ctl("run", "--name", "writer", "-v", "keep:/data", "busybox", "sh", "-c", "echo persisted > /data/f",
            check=True)
    eng.ctl("rm", "-v", "writer", check=True)
    eng.stop()
    eng.start()
    assert "keep" in _volumes(eng)
    res = eng.ctl("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f")
    assert res.stdout == "persisted\n", res.stderr
    # system df counts it, and with the other volume below says what prune then frees
    eng.ctl("run", "--rm", "-v", "keep:/data", "busybox", "dd", "if=/dev/zero", "of=/data/blob", "bs=1024",
            "count=2048", check=True)
    cid = eng.ctl("run", "-d", "-v", "busy:/data", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        line = next(x for x in eng.ctl("system", "df", "--format",
                                       "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Reclaimable}}",
                                       check=True).stdout.splitlines() if x.startswith("Local Volumes|"))
        _, total, active, reclaimable = line.split("|")
        assert (total, active) == ("2", "1")
        assert reclaimable.startswith("2.") and "MB" in reclaimable, reclaimable  # keep's 2 MiB, not busy's
        verbose = eng.ctl("system", "df", "-v", check=True).stdout
        assert "keep" in verbose and "busy" in verbose
        pruned = eng.ctl("volume", "prune", "-a", "-f", check=True).stdout
        assert "keep" in pruned and "busy" not in pruned
        assert pruned.strip().splitlines()[-1] == f"Total reclaimed space: {reclaimable.split(' ')[0]}"
    finally:
        eng.ctl("rm", "-f", "-v", cid)


def test_volumes_from(engine: Engine, tmp_path: object) -> None:
    vol, host = _name("vf"), str(tmp_path)
    src = engine.ctl("create", "--name", _name("vf-src"), "-v", f"{vol}:/data", "-v", f"{host}:/hostdir",
                     "busybox", "true", check=True).stdout.strip()
    try:
        engine.ctl("run", "--rm", "--volumes-from", src, "busybox", "sh", "-c",
                   "echo shared > /data/f; echo bound > /hostdir/g", check=True)
        with open(os.path.join(host, "g")) as f:
            assert f.read() == "bound\n"
        res = engine.ctl("run", "--rm", "--volumes-from", f"{src}:ro", "busybox", "sh", "-c",
                         "cat /data/f; touch /data/x")
        assert res.stdout == "shared\n" and res.returncode != 0 and "Read-only" in res.stderr
        # a mount of the new container's own wins over the one it would take
        own = engine.ctl("run", "--rm", "--volumes-from", src, "--tmpfs", "/data", "busybox", "ls", "/data",
                         check=True)
        assert own.stdout == ""
        bad = engine.ctl("run", "--rm", "--volumes-from", "no-such-ctr-vf", "busybox", "true")
        assert bad.returncode == 125 and "no-such-ctr-vf" in bad.stderr
        bad = engine.ctl("run", "--rm", "--volumes-from", f"{src}:rx", "busybox", "true")
        assert bad.returncode == 125 and "invalid --volumes-from" in bad.stderr
        assert engine.ctl("volume", "rm", vol).returncode != 0  # still in use by src
    finally:
        engine.ctl("rm", "-f", src)
        engine.ctl("volume", "rm", "-f", vol)


def test_local_driver_options_tmpfs_volume(engine: Engine) -> None:
    """`volume create -o type=tmpfs`: mounted while containers use it, shared by them, gone after."""
    name = _name("tmpvol")
    engine.ctl("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=8m,mode=0777", name,
               check=True)
    try:
        info = json.loads(engine.ctl("volume", "inspect", name, check=True).stdout)[0]
        assert info["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=8m,mode=0777"}
        a = _name("a")
        engine.ctl("run", "-d", "--name", a, "-v", f"{name}:/v", "busybox", "sh", "-c",
                   "echo shared > /v/f; sleep 300", check=True)
        try:
            res = engine.ctl("run", "--rm", "-v", f"{name}:/v", "busybox", "sh", "-c",
                             "for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /v/f ] && break; sleep 0.2; done; "
                             "cat /v/f; df -k /v | tail -1; grep ' /v ' /proc/mounts", check=True)
            assert "shared" in res.stdout and "tmpfs" in res.stdout and " 8192 " in res.stdout
        finally:
            engine.ctl("rm", "-f", a)
        assert not os.path.ismount(info["Mountpoint"])  # unmounted with its last user
        bad = engine.ctl("volume", "create", "-o", "colour=blue", _name("bad"))
        assert bad.returncode != 0 and "invalid option key" in bad.stderr
    finally:
        engine.ctl("volume", "rm", "-f", name)


def test_nocopy_and_bind_propagation(engine: Engine, tmp_path: object) -> None:
    vol = _name("nocopy")
    try:
        res = engine.ctl("run", "--rm", "-v", f"{vol}:/etc:nocopy", "busybox", "ls", "/etc", check=True)
        assert res.stdout.split() == [] or "passwd" not in res.stdout
    finally:
        engine.ctl("volume", "rm", "-f", vol)
    src = os.path.join(str(tmp_path), "prop")
    os.makedirs(src)
    subprocess.run(["mount", "--bind", src, src], check=True)
    subprocess.run(["mount", "--make-shared", src], check=True)
    name = _name("prop")
    try:
        engine.ctl("run", "-d", "--name", name, "--mount", f"type=bind,source={src},target=/p,bind-propagation=rslave",
                   "busybox", "sleep", "300", check=True)
        info = json.loads(engine.ctl("inspect", name, check=True).stdout)[0]
        assert info["Mounts"][0]["Propagation"] == "rslave"
        # A mount made on the host below the source shows up in the container (slave propagation).
        sub = os.path.join(src, "sub")
        os.makedirs(sub)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", sub], check=True)
        try:
            res = engine.ctl("exec", name, "grep", " /p/sub ", "/proc/mounts")
            assert res.returncode == 0 and "tmpfs" in res.stdout
        finally:
            subprocess.run(["umount", sub], check=False)
    finally:
        engine.ctl("rm", "-f", name)
        subprocess.run(["umount", "-l", src], check=False)


def test_read_only_root_filesystem(engine: Engine) -> None:
    res = engine.ctl("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert res.returncode != 0 and "Read-only file system" in res.stdout + res.stderr
    res = engine.ctl("run", "--rm", "--read-only", "--tmpfs", "/tmp", "-v", "rovol:/data", "busybox", "sh", "-c",
                     "touch /tmp/ok /data/ok && cat /etc/hostname >/dev/null && echo fine", check=True)
    assert res.stdout == "fine\n"
    name = _name("ro")
    engine.ctl("create", "--name", name, "--read-only", "busybox", check=True)
    info = json.loads(engine.ctl("inspect", "-f", "{{json .HostConfig}}", name, check=True).stdout)
    assert info["ReadonlyRootfs"] is True
    engine.ctl("rm", "-f", name)
    engine.ctl("volume", "rm", "rovol")
