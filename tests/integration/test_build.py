"""palletctl build end to end: instructions, stages, cache hits and misses, errors, secrets, reproducibility."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import uuid

import pytest

from tests._engine import Engine


def _tag(prefix: str = "b") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}:1"


def _ctx(tmp_path: object, dockerfile: str, files: dict[str, str] | None = None) -> str:
    root = str(tmp_path)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    for name, content in (files or {}).items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)
    return root


def _build(engine: Engine, ctx: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return engine.ctl("build", *args, ctx, check=check, timeout=180)


def _steps(out: str) -> tuple[list[int], list[int]]:
    """(steps that ran, steps taken from the cache) by index."""
    cached = [int(m) for m in re.findall(r"^\[(\d+)/\d+\] CACHED$", out, re.M)]
    started = [int(m) for m in re.findall(r"^\[(\d+)/\d+\] (?!CACHED|DONE)", out, re.M)]
    return [s for s in started if s not in cached], cached


def _id(engine: Engine, ref: str) -> str:
    return json.loads(engine.ctl("image", "inspect", ref, check=True).stdout)[0]["Id"]


def test_every_instruction_and_the_image_config(engine: Engine, tmp_path: object) -> None:
    tag = _tag()
    ctx = _ctx(tmp_path, """\
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS base
ARG WHO=world
ENV GREETING="hello" \\
    TARGET=/srv/app
LABEL org.example.team="core" version=1
WORKDIR $TARGET
COPY app.txt ./
COPY --chmod=750 --chown=1:2 tool.sh /usr/local/bin/tool
ADD archive.tar.gz /opt/
RUN echo "$GREETING $WHO" > greeting && chmod 600 greeting
RUN <<EOF
echo from-heredoc > /srv/heredoc
EOF
USER 1:2
EXPOSE 8080/tcp 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=2 CMD true
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting"]
""", {"app.txt": "app\n", "tool.sh": "#!/bin/sh\necho tool\n"})
    with tarfile.open(os.path.join(ctx, "archive.tar.gz"), "w:gz") as tar:
        tar.add(os.path.join(ctx, "app.txt"), arcname="inside/extracted.txt")
    res = _build(engine, ctx, "-t", tag, "--build-arg", "WHO=pallet")
    assert "Successfully tagged " + tag in res.stdout
    assert "syntax" in res.stdout  # the ignored directive is reported
    out = engine.ctl("run", "--rm", "--user", "0", tag, check=True).stdout
    assert out == "hello pallet\n"
    res = engine.ctl("run", "--rm", "--user", "0", "--entrypoint", "sh", tag, "-c",
                     "stat -c '%a %u:%g' /usr/local/bin/tool; cat /opt/inside/extracted.txt /srv/heredoc; "
                     "stat -c '%a' /srv/app/greeting; pwd", check=True)
    assert res.stdout.split("\n")[:5] == ["750 1:2", "app", "from-heredoc", "600", "/srv/app"]
    cfg = json.loads(engine.ctl("image", "inspect", tag, check=True).stdout)[0]["Config"]
    assert cfg["User"] == "1:2" and cfg["WorkingDir"] == "/srv/app" and cfg["StopSignal"] == "SIGQUIT"
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "53/udp"} and "/data" in cfg["Volumes"]
    assert cfg["Labels"] == {"org.example.team": "core", "version": "1"}
    assert "GREETING=hello" in cfg["Env"] and not any(e.startswith("WHO=") for e in cfg["Env"])
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["cat greeting"]
    assert cfg["OnBuild"] == ["RUN echo child"]
    history = engine.ctl("history", "--no-trunc", tag, check=True).stdout
    assert "RUN echo \"$GREETING $WHO\"" in history
    engine.ctl("rmi", tag)


def test_cache_reuses_exactly_the_unchanged_steps(engine: Engine, tmp_path: object) -> None:
    tag = _tag()
    ctx = _ctx(tmp_path, """\
FROM busybox
RUN echo one > /one
COPY a.txt /a.txt
RUN cat /a.txt > /copy
COPY b.txt /b.txt
""", {"a.txt": "A1\n", "b.txt": "B\n"})
    first = _build(engine, ctx, "-t", tag).stdout
    ran, cached = _steps(first)
    assert ran == [1, 2, 3, 4, 5] and cached == []
    again = _build(engine, ctx, "-t", tag).stdout
    assert _steps(again) == ([1], [2, 3, 4, 5])
    image_id = _id(engine, tag)
    os.utime(os.path.join(ctx, "a.txt"), (1, 1))  # times are not content
    assert _steps(_build(engine, ctx, "-t", tag).stdout)[1] == [2, 3, 4, 5]
    assert _id(engine, tag) == image_id
    with open(os.path.join(ctx, "a.txt"), "w") as f:
        f.write("A2\n")
    changed = _build(engine, ctx, "-t", tag).stdout
    assert _steps(changed) == ([1, 3, 4, 5], [2])
    assert engine.ctl("run", "--rm", tag, "cat", "/copy", check=True).stdout == "A2\n"
    no_cache = _build(engine, ctx, "-t", tag, "--no-cache").stdout
    assert _steps(no_cache)[1] == []
    # A build arg only changes the steps that see it.
    with open(os.path.join(ctx, "Dockerfile"), "a") as f:
        f.write("ARG V=1\nRUN echo $V > /v\n")
    _build(engine, ctx, "-t", tag)
    res = _build(engine, ctx, "-t", tag, "--build-arg", "V=2").stdout
    assert _steps(res)[1] == [2, 3, 4, 5]
    assert engine.ctl("run", "--rm", tag, "cat", "/v", check=True).stdout == "2\n"
    engine.ctl("rmi", tag)


def test_multi_stage_target_and_dockerignore(engine: Engine, tmp_path: object) -> None:
    tag = _tag()
    ctx = _ctx(tmp_path, """\
FROM busybox AS builder
COPY . /src
RUN ls /src | sort > /manifest && echo built > /artifact

FROM busybox AS unused
RUN echo never-runs && exit 1

FROM busybox AS final
COPY --from=builder /artifact /manifest /out/
RUN cat /out/artifact

FROM final AS debug
RUN echo debug > /debug
""", {"keep.txt": "k", "secret.env": "password", "logs/a.log": "x", "logs/keep.log": "y",
      ".dockerignore": "*.env\nlogs/\n!logs/keep.log\n"})
    res = _build(engine, ctx, "-t", tag, "--target", "final")
    assert "never-runs" not in res.stdout and "debug" not in res.stdout
    manifest = engine.ctl("run", "--rm", tag, "cat", "/out/manifest", check=True).stdout.split()
    assert "keep.txt" in manifest and "secret.env" not in manifest and "logs" in manifest
    res = engine.ctl("run", "--rm", tag, "sh", "-c", "test -e /debug || echo no-debug")
    assert "no-debug" in res.stdout
    bad = _build(engine, ctx, "--target", "nope", check=False)
    assert bad.returncode != 0 and "nope" in bad.stderr
    engine.ctl("rmi", tag)


def test_errors_point_at_the_line_and_tag_nothing(engine: Engine, tmp_path: object) -> None:
    tag = _tag()
    ctx = _ctx(tmp_path, "FROM busybox\nRUN true\nRUNN echo\n")
    res = _build(engine, ctx, "-t", tag, check=False)
    assert res.returncode != 0 and "Dockerfile:3" in res.stderr and "unknown instruction" in res.stderr.lower()
    ctx2 = _ctx(os.path.join(str(tmp_path), "fail"), "FROM busybox\nRUN echo before-failing && exit 3\n")
    res = _build(engine, ctx2, "-t", tag, check=False)
    assert res.returncode != 0
    assert "before-failing" in res.stdout and "exit code: 3" in res.stderr and "Dockerfile:2" in res.stderr
    assert engine.ctl("image", "inspect", tag).returncode != 0
    missing = _ctx(os.path.join(str(tmp_path), "missing"), "FROM busybox\nCOPY nothere /x\n")
    res = _build(engine, missing, check=False)
    assert res.returncode != 0 and "nothere" in res.stderr
    res = _build(engine, os.path.join(str(tmp_path), "does-not-exist"), check=False)
    assert res.returncode != 0 and "unable to prepare context" in res.stderr


def test_secret_mounts_never_land_in_a_layer(engine: Engine, tmp_path: object) -> None:
    tag = _tag()
    secret = os.path.join(str(tmp_path), "token")
    with open(secret, "w") as f:
        f.write("s3cr3t-value")
    ctx = _ctx(os.path.join(str(tmp_path), "ctx"), """\
FROM busybox
RUN --mount=type=secret,id=token wc -c < /run/secrets/token && ls /run/secrets
RUN --mount=type=cache,target=/cache echo cached >> /cache/log && wc -l < /cache/log
""")
    res = _build(engine, ctx, "-t", tag, "--secret", f"id=token,src={secret}")
    assert "12" in res.stdout
    saved = os.path.join(str(tmp_path), "img.tar")
    engine.ctl("save", "-o", saved, tag, check=True)
    with open(saved, "rb") as f:
        assert b"s3cr3t-value" not in f.read()  # layers are plain tars: a secret in any would show
    res = engine.ctl("run", "--rm", tag, "sh", "-c", "ls /run/secrets 2>&1; ls /cache 2>&1")
    assert "token" not in res.stdout and "log" not in res.stdout
    missing = _build(engine, ctx, "--no-cache", check=False)
    assert missing.returncode != 0  # an optional secret that is not given is absent: the RUN fails
    required = _ctx(os.path.join(str(tmp_path), "req"),
                    "FROM busybox\nRUN --mount=type=secret,id=k,required=true true\n")
    res = _build(engine, required, check=False)
    assert res.returncode != 0 and "secret k not provided" in res.stderr
    engine.ctl("rmi", tag)


def test_reproducible_builds_give_the_same_digest(engine: Engine, tmp_path: object) -> None:
    ctx = _ctx(tmp_path, "FROM busybox\nCOPY f /f\nRUN date > /built-at && echo x > /x\nENV A=1\n",
               {"f": "content\n"})
    env_backup = engine.extra_env
    engine.extra_env = {**env_backup, "SOURCE_DATE_EPOCH": "1700000000"}
    try:
        a, b = _tag("repro"), _tag("repro")
        _build(engine, ctx, "-t", a, "--no-cache")
        _build(engine, ctx, "-t", b, "--no-cache")
    finally:
        engine.extra_env = env_backup
    ia, ib = (json.loads(engine.ctl("image", "inspect", t, check=True).stdout)[0] for t in (a, b))
    # `date` writes different bytes each time, so only the COPY layer and the config history may match...
    assert ia["RootFS"]["Layers"][:2] == ib["RootFS"]["Layers"][:2]
    assert ia["Created"].startswith("2023-11-14T22:13:20")
    engine.ctl("rmi", a, b)


def test_same_inputs_same_image_id_across_clean_builds(engine: Engine, tmp_path: object) -> None:
    ctx = _ctx(tmp_path, "FROM busybox\nCOPY f /f\nRUN echo fixed > /x && chmod 640 /x\nCMD [\"cat\", \"/x\"]\n",
               {"f": "content\n"})
    engine.extra_env = {**engine.extra_env, "SOURCE_DATE_EPOCH": "1700000000"}
    try:
        a, b = _tag("same"), _tag("same")
        _build(engine, ctx, "-t", a, "--no-cache")
        _build(engine, ctx, "-t", b, "--no-cache")
    finally:
        engine.extra_env.pop("SOURCE_DATE_EPOCH", None)
    assert _id(engine, a) == _id(engine, b)
    engine.ctl("rmi", a, b)


def test_stdin_dockerfile_iidfile_quiet_and_builder_prune(engine: Engine, tmp_path: object) -> None:
    iid = os.path.join(str(tmp_path), "iid")
    res = subprocess.run([*engine.ctl_argv(), "build", "-q", "--iidfile", iid, "-"], input="FROM busybox\nRUN echo q\n",
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    with open(iid) as f:
        image_id = f.read()
    assert res.stdout.strip() == image_id and image_id.startswith("sha256:")
    df = engine.ctl("system", "df", check=True).stdout
    count = int(re.search(r"^Build Cache\s+(\d+)", df, re.M).group(1))
    assert count > 0
    res = engine.ctl("builder", "prune", "-f", check=True)
    assert "Total reclaimed space" in res.stdout
    df = engine.ctl("system", "df", check=True).stdout
    assert int(re.search(r"^Build Cache\s+(\d+)", df, re.M).group(1)) == 0


@pytest.fixture(autouse=True)
def _ctl_argv(engine: Engine) -> None:
    if not hasattr(engine, "ctl_argv"):
        import sys

        engine.ctl_argv = lambda: [sys.executable, "-m", "pallet.client.cli", "-H", engine.host]  # type: ignore



def test_independent_stages_build_at_the_same_time(engine: Engine, tmp_path: object) -> None:
    """Each stage waits for a marker the other writes in a shared cache mount: only a parallel build passes."""
    mark = uuid.uuid4().hex[:8]
    wait = "for i in $(seq 100); do [ -e /c/{other} ] && exit 0; sleep 0.1; done; echo never saw {other}; exit 1"
    ctx = _ctx(tmp_path, f"""\
FROM busybox AS left
RUN --mount=type=cache,id={mark},target=/c touch /c/left && {wait.format(other="right")}

FROM busybox AS right
RUN --mount=type=cache,id={mark},target=/c touch /c/right && {wait.format(other="left")}

FROM busybox
COPY --from=left /bin/busybox /l
COPY --from=right /bin/busybox /r
""")
    res = _build(engine, ctx, "--no-cache", check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_cache_from_an_image_and_copy_heredoc_and_add_url(engine: Engine, tmp_path: object) -> None:
    import http.server
    import threading

    served = os.path.join(str(tmp_path), "www")
    os.makedirs(served)
    with open(os.path.join(served, "remote.txt"), "w") as f:
        f.write("from-the-web\n")

    def handler(*a: object) -> object:
        return http.server.SimpleHTTPRequestHandler(*a, directory=served)  # type: ignore[arg-type]

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        tag = _tag("cf")
        ctx = _ctx(os.path.join(str(tmp_path), "ctx"), f"""\
FROM busybox
ARG WHO=heredoc
COPY <<EOF /greeting
hello $WHO
EOF
ADD http://127.0.0.1:{port}/remote.txt /downloaded/
RUN cat /greeting /downloaded/remote.txt > /both
""")
        _build(engine, ctx, "-t", tag)
        out = engine.ctl("run", "--rm", tag, "sh", "-c", "cat /both; stat -c %a /downloaded/remote.txt",
                         check=True).stdout
        assert out == "hello heredoc\nfrom-the-web\n600\n"
        engine.ctl("builder", "prune", "-a", "-f", check=True)
        res = _build(engine, ctx, "-t", tag, "--cache-from", tag).stdout
        ran, cached = _steps(res)
        assert cached == [3, 4, 5], res  # every layer step from the image's recorded cache keys
        engine.ctl("rmi", tag)
    finally:
        httpd.shutdown()


def test_palletd_killed_mid_build_leaves_nothing_behind(fresh_engine: Engine, tmp_path: object) -> None:
    import signal
    import time

    from tests import _host

    eng = fresh_engine
    ctx = _ctx(tmp_path, "FROM busybox\nRUN echo started && sleep 60\n")
    proc = eng.ctl_popen("build", "-t", _tag("crash"), ctx)
    runc_root = os.path.join(eng.exec_root, "runc-build")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        res = subprocess.run(["runc", "--root", runc_root, "list", "-q"], capture_output=True, text=True)
        if res.stdout.strip():
            break
        time.sleep(0.2)
    assert res.stdout.strip(), "the RUN step never started"
    eng.stop(signal.SIGKILL)
    proc.kill()
    proc.wait()
    eng.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = subprocess.run(["runc", "--root", runc_root, "list", "-q"], capture_output=True, text=True).stdout
        if not left.strip() and not _host.mounts_under(os.path.join(eng.exec_root, "build")):
            break
        time.sleep(0.2)
    assert not left.strip()
    assert _host.mounts_under(os.path.join(eng.exec_root, "build")) == []
    from pallet.images.client import ImagesClient
    from pallet.images.v1 import images_pb2 as ipb

    with ImagesClient("unix://" + os.path.join(eng.exec_root, "imagesvc.sock")) as images:
        names = [s.name for s in images.snapshots.List(ipb.ListSnapshotsRequest()).items]
    assert not [n for n in names if n.startswith("build-")]
    # And building works again.
    _build(eng, _ctx(os.path.join(str(tmp_path), "again"), "FROM busybox\nRUN true\n"))


def test_run_network_modes_proxy_args_and_onbuild(engine: Engine, tmp_path: object) -> None:
    parent = _tag("parent")
    ctx = _ctx(tmp_path, """\
FROM busybox
RUN --network=none ip -o link | wc -l > /links-none
RUN ip -o link | wc -l > /links-default
RUN echo "proxy=$http_proxy" > /proxy
ONBUILD RUN echo triggered > /onbuild
""")
    _build(engine, ctx, "-t", parent, "--build-arg", "http_proxy=http://proxy.invalid:3128")
    out = engine.ctl("run", "--rm", parent, "cat", "/links-none", "/links-default", "/proxy", check=True).stdout
    none, default, proxy = out.split("\n")[:3]
    assert none == "1" and int(default) >= 2  # loopback only / loopback and the bridge's veth
    assert proxy == "proxy=http://proxy.invalid:3128"
    assert "proxy.invalid" not in engine.ctl("history", "--no-trunc", parent, check=True).stdout
    child = _tag("child")
    _build(engine, _ctx(os.path.join(str(tmp_path), "child"), f"FROM {parent}\nRUN cat /onbuild\n"), "-t", child)
    assert engine.ctl("run", "--rm", child, "cat", "/onbuild", check=True).stdout == "triggered\n"
    engine.ctl("rmi", child, parent)


def test_dockerfile_outside_the_context_and_ignored_build_files(engine: Engine, tmp_path: object) -> None:
    ctx = _ctx(os.path.join(str(tmp_path), "ctx"), "FROM busybox\n", {"data.txt": "d\n",
                                                                       ".dockerignore": "Dockerfile\n.dockerignore\n"})
    outside = os.path.join(str(tmp_path), "build.Dockerfile")
    with open(outside, "w") as f:
        f.write("FROM busybox\nCOPY . /ctx/\nRUN ls -A /ctx\n")
    tag = _tag("outside")
    _build(engine, ctx, "-t", tag, "-f", outside)
    listing = engine.ctl("run", "--rm", tag, "ls", "-A", "/ctx", check=True).stdout.split()
    assert listing == ["data.txt"]  # neither Dockerfile, .dockerignore nor the generated file
    engine.ctl("rmi", tag)


def test_built_image_pushes_pulls_and_seeds_cache_from(engine: Engine, tmp_path: object) -> None:
    """A built image is a normal image: it goes to a registry and back, and its recorded step keys
    let another build reuse its layers after the local cache is gone (--cache-from)."""
    from tests.registry._server import run_docker_registry

    ctx = _ctx(tmp_path, "FROM busybox\nRUN echo pushed > /where\nCOPY f /f\n", {"f": "file\n"})
    with run_docker_registry(os.path.join(str(tmp_path), "registry")) as addr:
        ref = f"{addr}/built/app:1"
        _build(engine, ctx, "-t", ref)
        engine.ctl("push", ref, check=True, timeout=120)
        engine.ctl("rmi", ref, check=True)
        engine.ctl("builder", "prune", "-a", "-f", check=True)
        engine.ctl("pull", ref, check=True, timeout=120)
        assert engine.ctl("run", "--rm", ref, "cat", "/where", "/f", check=True).stdout == "pushed\nfile\n"
        res = _build(engine, ctx, "-t", "rebuilt-from-cache:1", "--cache-from", ref).stdout
        assert _steps(res)[1] == [2, 3], res
        engine.ctl("rmi", ref, "rebuilt-from-cache:1")


def test_hostile_dockerfiles_stay_inside(engine: Engine, tmp_path: object) -> None:
    """A Dockerfile cannot write host files through heredoc names or image symlinks, nor take the
    host's network without the builder's consent."""
    mark = f"pallet-escape-{uuid.uuid4().hex[:8]}"
    heredoc = _ctx(os.path.join(str(tmp_path), "heredoc"),
                   f"FROM busybox\nCOPY <</tmp/{mark} /x\npwned\n/tmp/{mark}\n")
    res = _build(engine, heredoc, check=False)
    assert res.returncode != 0 and "heredoc" in res.stderr
    assert not os.path.exists(f"/tmp/{mark}")
    link = _ctx(os.path.join(str(tmp_path), "link"),
                f"FROM busybox\nRUN ln -s / /h\nWORKDIR /h/tmp/{mark}\nRUN pwd\n")
    _build(engine, link, "--no-cache")
    assert not os.path.exists(f"/tmp/{mark}")
    hostnet = _ctx(os.path.join(str(tmp_path), "hostnet"), "FROM busybox\nRUN --network=host true\n")
    res = _build(engine, hostnet, check=False)
    assert res.returncode != 0 and "--network host" in res.stderr
    _build(engine, hostnet, "--network", "host")


def test_run_bind_mounts_count_in_the_cache_and_may_come_from_a_stage(engine: Engine, tmp_path: object) -> None:
    tag = _tag("bind")
    ctx = _ctx(tmp_path, """\
FROM busybox AS tools
RUN echo tool > /tool

FROM busybox
RUN --mount=type=bind,source=src,target=/src cat /src/a > /copied
RUN --mount=type=bind,from=tools,source=/tool,target=/t cat /t > /fromstage
EXPOSE 7000-7002
""", {"src/a": "one\n"})
    _build(engine, ctx, "-t", tag)
    assert engine.ctl("run", "--rm", tag, "cat", "/copied", "/fromstage", check=True).stdout == "one\ntool\n"
    with open(os.path.join(ctx, "src/a"), "w") as f:
        f.write("two\n")
    _build(engine, ctx, "-t", tag)
    assert engine.ctl("run", "--rm", tag, "cat", "/copied", check=True).stdout == "two\n"
    name = f"exposed-{uuid.uuid4().hex[:6]}"
    engine.ctl("run", "-d", "--name", name, "-P", tag, "sleep", "30", check=True)
    try:
        ports = engine.ctl("port", name, check=True).stdout
        assert all(f"{p}/tcp" in ports for p in (7000, 7001, 7002))
    finally:
        engine.ctl("rm", "-f", name)
        engine.ctl("rmi", tag)
