"""palletctl node/service: flags into a ServiceSpec, `service update`'s merging, the spec's protobuf
round trip, and the pieces of output (ps rows, convergence), without a daemon."""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any

import pytest
from pallet.client import _cluster as cl
from pallet.client import _cluster_json as cj
from pallet.client import _service_flags as sf
from pallet.client.cli import CLIError, build_parser
from pallet.engine.cluster._convert import spec_from_pb, spec_to_pb
from pallet.engine.cluster._model import ServiceSpec, UpdateConfig
from pallet.engine.v1 import engine_pb2 as pb

PARSER = build_parser()


def _args(*argv: str) -> argparse.Namespace:
    return PARSER.parse_args(list(argv))


def _create(*argv: str) -> ServiceSpec:
    return sf.spec_from_args(_args("service", "create", *argv))


def _update(spec: ServiceSpec, *argv: str) -> ServiceSpec:
    sf.apply_update(spec, _args("service", "update", *argv, "web"))
    return spec


def _usage_error(*argv: str) -> None:
    with pytest.raises(SystemExit) as exc:
        PARSER.parse_args(list(argv))
    assert exc.value.code == 125


# -- service create --------------------------------------------------------------------------

def test_create_defaults() -> None:
    spec = _create("busybox")
    assert spec == ServiceSpec(name="", image="busybox")
    args = _args("service", "create", "busybox")
    assert not args.detach and args.func is cl.cmd_service_create


def test_create_image_command_and_args() -> None:
    spec = _create("--name", "web", "--replicas", "3", "busybox", "sleep", "300", "--not-a-flag")
    assert (spec.name, spec.image, spec.replicas) == ("web", "busybox", 3)
    assert spec.args == ["sleep", "300", "--not-a-flag"]
    assert spec.command == []
    spec = _create("--entrypoint", "sh -c", "busybox", "echo hi")
    assert spec.command == ["sh", "-c"] and spec.args == ["echo hi"]


def test_create_env_labels(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=1\nB=from-file\n")
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    spec = _create("--env-file", str(env_file), "-e", "B=2", "--env", "FROM_HOST", "-e", "UNSET_VAR",
                   "--label", "tier=web", "-l", "flag", "--container-label", "c=1", "busybox")
    assert spec.env == ["A=1", "B=from-file", "B=2", "FROM_HOST=h"]
    assert spec.labels == {"tier": "web", "flag": ""}
    assert spec.container_labels == {"c": "1"}


@pytest.mark.parametrize(("flag", "expected"), [
    ("80", [{"target": 80, "published": 0, "protocol": "tcp", "mode": "ingress"}]),
    ("8080:80", [{"target": 80, "published": 8080, "protocol": "tcp", "mode": "ingress"}]),
    ("53:53/udp", [{"target": 53, "published": 53, "protocol": "udp", "mode": "ingress"}]),
    ("mode=host,8080:80", [{"target": 80, "published": 8080, "protocol": "tcp", "mode": "host"}]),
    ("published=8443,target=443,protocol=tcp,mode=host",
     [{"target": 443, "published": 8443, "protocol": "tcp", "mode": "host"}]),
    ("target=9000", [{"target": 9000, "published": 0, "protocol": "tcp", "mode": "ingress"}]),
    ("8000-8001:80-81", [{"target": 80, "published": 8000, "protocol": "tcp", "mode": "ingress"},
                         {"target": 81, "published": 8001, "protocol": "tcp", "mode": "ingress"}]),
])
def test_publish(flag: str, expected: list[dict[str, Any]]) -> None:
    assert _create("-p", flag, "busybox").ports == expected
    assert _create("--publish", flag, "busybox").ports == expected


@pytest.mark.parametrize("flag", ["", "x:80", "8080:80/icmp", "mode=bogus,80", "0.0.0.0:8080:80", "target=0",
                                  "published=80", "size=3,target=80", "8000-8002:80-81", "70000:80",
                                  "80,90"])
def test_publish_errors(flag: str) -> None:
    _usage_error("service", "create", "-p", flag, "busybox")


def test_mounts() -> None:
    spec = _create("--mount", "type=bind,source=/srv,target=/data,readonly",
                   "--mount", "source=vol,dst=/v", "--mount", "type=tmpfs,destination=/tmp,ro=false", "busybox")
    assert spec.mounts == [
        {"type": "bind", "source": "/srv", "target": "/data", "readonly": True},
        {"type": "volume", "source": "vol", "target": "/v", "readonly": False},
        {"type": "tmpfs", "source": "", "target": "/tmp", "readonly": False},
    ]


@pytest.mark.parametrize("flag", ["source=x", "type=nfs,target=/x", "type=bind,target=/x",
                                  "type=tmpfs,source=x,target=/x", "target=/x,readonly=maybe", "target=/x,bogus=1",
                                  "target=/x,junk"])
def test_mount_errors(flag: str) -> None:
    _usage_error("service", "create", "--mount", flag, "busybox")


def test_placement_network_mode() -> None:
    spec = _create("--constraint", "node.name==n1", "--constraint", "node.labels.zone!=west",
                   "--network", "appnet", "--mode", "global", "busybox")
    assert spec.constraints == ["node.name==n1", "node.labels.zone!=west"]
    assert spec.networks == ["appnet"]
    assert spec.mode == "global"
    with pytest.raises(CLIError, match="replicas can only be used with replicated mode"):
        _create("--mode", "global", "--replicas", "2", "busybox")
    _usage_error("service", "create", "--mode", "both", "busybox")


def test_update_and_rollback_configs() -> None:
    spec = _create("--update-parallelism", "2", "--update-delay", "10s", "--update-failure-action", "rollback",
                   "--update-monitor", "1m30s", "--update-max-failure-ratio", "0.25", "--update-order", "start-first",
                   "--rollback-parallelism", "0", "--rollback-delay", "500ms", "--rollback-failure-action",
                   "continue", "--rollback-monitor", "2s", "--rollback-order", "stop-first", "busybox")
    assert spec.update == UpdateConfig(parallelism=2, delay=10.0, failure_action="rollback", monitor=90.0,
                                       max_failure_ratio=0.25, order="start-first")
    assert spec.rollback == UpdateConfig(parallelism=0, delay=0.5, failure_action="continue", monitor=2.0,
                                         max_failure_ratio=0.0, order="stop-first")


def test_health_restart_stop() -> None:
    spec = _create("--health-cmd", "wget -q localhost", "--health-interval", "1s", "--health-retries", "3",
                   "--restart-condition", "on-failure", "--restart-delay", "2s", "--restart-max-attempts", "4",
                   "--stop-grace-period", "1m", "-w", "/srv", "-u", "nobody", "busybox")
    assert spec.health_cmd == ["CMD-SHELL", "wget -q localhost"]
    assert (spec.health_interval, spec.health_retries) == (1.0, 3)
    assert (spec.restart_condition, spec.restart_delay, spec.restart_max_attempts) == ("on-failure", 2.0, 4)
    assert spec.stop_grace_period == 60.0
    assert (spec.workdir, spec.user) == ("/srv", "nobody")
    assert _create("--no-healthcheck", "busybox").health_cmd == ["NONE"]
    with pytest.raises(CLIError, match="conflicts"):
        _create("--no-healthcheck", "--health-cmd", "true", "busybox")


@pytest.mark.parametrize("argv", [
    ["--update-delay", "10"], ["--update-delay", "soon"], ["--health-interval", "-1s"], ["--replicas", "-1"],
    ["--replicas", "two"], ["--update-failure-action", "explode"], ["--rollback-failure-action", "rollback"],
    ["--restart-condition", "always"], ["--update-max-failure-ratio", "2"], ["--update-order", "random"],
])
def test_bad_flag_values_are_usage_errors(argv: list[str]) -> None:
    _usage_error("service", "create", *argv, "busybox")


# -- service update ------------------------------------------------------------------------------

def _current() -> ServiceSpec:
    return ServiceSpec(name="web", image="busybox@sha256:abc", args=["sleep", "300"], env=["A=1", "B=2", "C=3"],
                       labels={"keep": "1", "drop": "x"}, container_labels={"c": "1"},
                       ports=[{"target": 80, "published": 8080, "protocol": "tcp", "mode": "ingress"},
                              {"target": 53, "published": 53, "protocol": "udp", "mode": "ingress"}],
                       mounts=[{"type": "volume", "source": "data", "target": "/data", "readonly": False}],
                       networks=["front"], constraints=["node.name==n1"], replicas=2)


def test_update_without_flags_changes_nothing() -> None:
    assert _update(_current()) == _current()


def test_update_env() -> None:
    spec = _update(_current(), "--env-add", "B=20", "--env-add", "D=4", "--env-rm", "A", "--env-rm", "C=whatever")
    assert spec.env == ["B=20", "D=4"]
    # rm before add: the key comes back with the new value
    assert _update(_current(), "--env-rm", "A", "--env-add", "A=9").env == ["B=2", "C=3", "A=9"]


def test_update_labels_constraints_networks() -> None:
    spec = _update(_current(), "--label-add", "new=1", "--label-add", "keep=2", "--label-rm", "drop",
                   "--container-label-rm", "c", "--container-label-add", "d=4",
                   "--constraint-rm", "node.name==n1", "--constraint-add", "node.labels.zone==east",
                   "--constraint-add", "node.labels.zone==east", "--network-add", "back", "--network-rm", "front")
    assert spec.labels == {"keep": "2", "new": "1"}
    assert spec.container_labels == {"d": "4"}
    assert spec.constraints == ["node.labels.zone==east"]
    assert spec.networks == ["back"]


def test_update_ports() -> None:
    spec = _update(_current(), "--publish-rm", "80", "--publish-add", "9090:90")
    assert spec.ports == [{"target": 53, "published": 53, "protocol": "udp", "mode": "ingress"},
                          {"target": 90, "published": 9090, "protocol": "tcp", "mode": "ingress"}]
    # by target and protocol: 53/tcp is not 53/udp
    assert len(_update(_current(), "--publish-rm", "53").ports) == 2
    assert len(_update(_current(), "--publish-rm", "53/udp").ports) == 1
    # the same published port is replaced, not duplicated
    spec = _update(_current(), "--publish-add", "mode=host,8080:81")
    assert spec.ports[-1] == {"target": 81, "published": 8080, "protocol": "tcp", "mode": "host"}
    assert [p["published"] for p in spec.ports].count(8080) == 1


def test_update_mounts_image_args_replicas() -> None:
    spec = _update(_current(), "--mount-rm", "/data", "--mount-add", "type=tmpfs,target=/cache",
                   "--image", "busybox:1.36", "--args", "sleep 'a b'", "--replicas", "5", "--update-delay", "3s")
    assert spec.mounts == [{"type": "tmpfs", "source": "", "target": "/cache", "readonly": False}]
    assert spec.image == "busybox:1.36"
    assert spec.args == ["sleep", "a b"]
    assert spec.replicas == 5
    assert spec.update.delay == 3.0
    glob = _current()
    glob.mode = "global"
    with pytest.raises(CLIError, match="replicated mode"):
        _update(glob, "--replicas", "2")


def test_update_flags_parse() -> None:
    args = _args("service", "update", "--force", "-d", "--rollback", "web")
    assert args.force and args.detach and args.rollback and args.service == "web"
    assert args.rollback_delay is None  # --rollback is not taken for an abbreviation
    _usage_error("service", "update", "--publish-add", "x", "web")


def test_scale_specifiers() -> None:
    assert cl.parse_scale("web=3") == ("web", 3)
    for bad in ("web", "=3", "web=-1", "web=x"):
        with pytest.raises(CLIError):
            cl.parse_scale(bad)


# -- the protobuf spec ---------------------------------------------------------------------------

def test_spec_round_trip() -> None:
    spec = _current()
    spec.health_cmd, spec.health_interval, spec.restart_delay = ["CMD-SHELL", "true"], 1.5, 0.0
    spec.update = UpdateConfig(parallelism=0, delay=2, failure_action="rollback", monitor=0, order="start-first")
    spec.replicas = 0
    assert spec_from_pb(spec_to_pb(spec)) == spec


def test_spec_from_a_sparse_message_takes_the_defaults() -> None:
    spec = spec_from_pb(pb.ServiceSpec(name="web", image="busybox", ports=[pb.ServicePort(target=80)],
                                       mounts=[pb.ServiceMount(target="/d")]))
    assert spec == ServiceSpec(name="web", image="busybox",
                               ports=[{"target": 80, "published": 0, "protocol": "tcp", "mode": "ingress"}],
                               mounts=[{"type": "volume", "source": "", "target": "/d", "readonly": False}])


# -- output --------------------------------------------------------------------------------------

def _task(tid: str, slot: int, state: str, desired: str = "running", version: int = 1, age: float = 5,
          error: str = "", node: str = "n1") -> pb.Task:
    t = pb.Task(id=tid, name=f"web.{slot or node}", service="web", service_id="s1", slot=slot, node=node,
                version=version, image="busybox:latest@sha256:abc", desired_state=desired, state=state, error=error)
    t.timestamp.FromNanoseconds(int((time.time() - age) * 1e9))
    t.created.FromNanoseconds(int((time.time() - age) * 1e9))
    return t


def test_task_rows_history_and_truncation() -> None:
    tasks = [_task("a" * 25, 1, "failed", "shutdown", age=30, error="task: non-zero exit (1) and much more text"),
             _task("b" * 25, 1, "running", age=5), _task("c" * 25, 2, "running", age=4)]
    rows = cl.task_rows(tasks)
    assert [r["Name"] for r in rows] == ["web.1", " \\_ web.1", "web.2"]
    assert rows[0]["ID"] == "b" * 12
    assert rows[0]["Image"] == "busybox:latest"
    assert rows[0]["DesiredState"] == "Running"
    assert rows[0]["CurrentState"] == "Running 5 seconds ago"
    assert rows[1]["CurrentState"] == "Failed 30 seconds ago"
    assert rows[1]["Error"] == '"task: non-zero exit (1) and m…"'
    full = cl.task_rows(tasks, no_trunc=True)
    assert full[1]["Error"] == '"task: non-zero exit (1) and much more text"'
    assert full[0]["Image"].endswith("@sha256:abc") and full[0]["Name"] == f"web.1.{'b' * 25}"


def _svc(replicas: int = 2, version: int = 1, update_state: str = "", mode: str = "replicated",
         restart: str = "any") -> pb.Service:
    return pb.Service(id="s1", version=version, update_state=update_state,
                      spec=pb.ServiceSpec(name="web", image="busybox", replicas=replicas, mode=mode,
                                          restart_condition=restart))


def test_converge_state() -> None:
    assert cl.converge_state(_svc(), [_task("a", 1, "running")])[:3] == (1, 2, False)
    assert cl.converge_state(_svc(), [_task("a", 1, "running"), _task("b", 2, "running")])[:3] == (2, 2, True)
    # an update: old tasks still running, or the rollout still being monitored
    tasks = [_task("a", 1, "running", version=2), _task("b", 2, "running", version=2), _task("c", 2, "running")]
    assert not cl.converge_state(_svc(version=2), tasks)[2]
    assert not cl.converge_state(_svc(version=2, update_state="updating"), tasks[:2])[2]
    assert cl.converge_state(_svc(version=2, update_state="completed"), tasks[:2])[2]
    # global: one per eligible node
    glob = [_task("a", 0, "running", node="n1"), _task("b", 0, "starting", node="n2")]
    assert cl.converge_state(_svc(mode="global"), glob, eligible=2)[:3] == (1, 2, False)


def test_converge_gives_up_on_a_failing_slot() -> None:
    one = [_task("a", 1, "failed", "shutdown", error="boom"), _task("b", 1, "starting")]
    assert cl.converge_state(_svc(replicas=1), one)[3] == []
    two = [_task("a", 1, "failed", "shutdown", error="boom"), _task("b", 1, "rejected", error="no image")]
    assert len(cl.converge_state(_svc(replicas=1), two)[3]) == 1
    assert len(cl.converge_state(_svc(replicas=1, restart="none"), one[:1])[3]) == 1


def test_wait_converged_reports_failures(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    svc = _svc(replicas=1)
    tasks = [_task("a", 1, "failed", "shutdown", error="boom"), _task("b", 1, "failed", error="boom")]
    stub = SimpleNamespace(ServicePs=lambda req: pb.ServicePsResponse(tasks=tasks))
    monkeypatch.setattr(cl, "_stub", lambda args: stub)
    monkeypatch.setattr(cl, "_inspect_service", lambda args, ref: svc)
    with pytest.raises(CLIError, match="did not converge") as exc:
        cl.wait_converged(argparse.Namespace(quiet=False), svc, sleep=lambda s: None)
    assert exc.value.status == 1
    out = capsys.readouterr()
    assert "overall progress: 0 out of 1 tasks" in out.out
    assert "web.1: boom" in out.err


def test_wait_converged_prints_progress(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rounds = [[], [_task("a", 1, "running")], [_task("a", 1, "running"), _task("b", 2, "running")]]
    stub = SimpleNamespace(ServicePs=lambda req: pb.ServicePsResponse(tasks=rounds.pop(0)))
    monkeypatch.setattr(cl, "_stub", lambda args: stub)
    monkeypatch.setattr(cl, "_inspect_service", lambda args, ref: _svc())
    cl.wait_converged(argparse.Namespace(quiet=False), _svc(), sleep=lambda s: None)
    assert capsys.readouterr().out.splitlines() == [
        "overall progress: 0 out of 2 tasks", "overall progress: 1 out of 2 tasks",
        "overall progress: 2 out of 2 tasks", "verify: Service converged"]


def test_go_duration() -> None:
    assert [cj.go_duration(s) for s in (0, 0.5, 5, 90, 3600, 1.5, 0.0015)] == [
        "0s", "500ms", "5s", "1m30s", "1h0m0s", "1.5s", "1.5ms"]


def test_service_row_and_json() -> None:
    svc = _svc(replicas=3)
    svc.id = "x" * 25
    svc.running, svc.desired = 2, 3
    svc.spec.image = "busybox:latest@sha256:abc"
    svc.spec.ports.add(target=80, published=8080, protocol="tcp", mode="ingress")
    row = cl.service_row(svc)
    assert row == {"ID": "x" * 12, "Name": "web", "Mode": "replicated", "Replicas": "2/3",
                   "Image": "busybox:latest", "Ports": "*:8080->80/tcp"}
    doc = cj.service_json(svc)
    assert doc["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    assert doc["Spec"]["EndpointSpec"]["Ports"][0]["PublishedPort"] == 8080
    assert "PreviousSpec" not in doc


def test_node_rows_and_filters() -> None:
    leader = pb.Node(name="n1", state="ready", availability="active", leader=True, labels={"zone": "east"})
    other = pb.Node(name="n2", state="down", availability="drain")
    assert cl.node_row(leader, "n1")["ManagerStatus"] == "Leader"
    assert cl.node_row(leader, "n1")["Self"] is True
    assert cl.node_row(other)["Status"] == "Down" and cl.node_row(other)["Availability"] == "Drain"
    f = cl._filters(["node.label=zone=east"], ("node.label",))
    assert cl._node_matches(leader, f) and not cl._node_matches(other, f)
    with pytest.raises(CLIError, match="invalid filter 'bogus'"):
        cl._filters(["bogus=1"], ("name",))


def _follow(monkeypatch: pytest.MonkeyPatch, start: pb.Service, states: list[pb.Service],
            tasks: list[pb.Task], rollback: bool = False) -> None:
    stub = SimpleNamespace(ServicePs=lambda req: pb.ServicePsResponse(tasks=tasks))
    monkeypatch.setattr(cl, "_stub", lambda args: stub)
    monkeypatch.setattr(cl, "_inspect_service", lambda args, ref: states.pop(0))
    cl.wait_converged(argparse.Namespace(quiet=True), start, rollback=rollback, sleep=lambda s: None)


def test_wait_converged_judges_update_states_by_what_the_change_left(monkeypatch: pytest.MonkeyPatch) -> None:
    both = [_task("a", 1, "running", version=2), _task("b", 2, "running", version=2)]
    # a scale of a service rolled back earlier: the old state is no failure
    done = _svc(version=2, update_state="rollback_completed")
    _follow(monkeypatch, done, [done], both)
    # the update this command made failed and was rolled back (a newer version)
    with pytest.raises(CLIError, match="rolled back: update failed"):
        failed = _svc(version=3, update_state="rollback_started")
        failed.update_message = "update failed: task x failed"
        _follow(monkeypatch, _svc(version=2), [failed], both)
    # a rollout that pauses while followed fails; one paused before only needs the count
    with pytest.raises(CLIError, match="Error: paused"):
        _follow(monkeypatch, _svc(version=2), [_svc(version=2, update_state="paused")], both)
    paused = _svc(version=2, update_state="paused")
    _follow(monkeypatch, paused, [paused], [*both, _task("c", 1, "running", version=1)])
    # a manual rollback is followed to its end
    _follow(monkeypatch, _svc(version=3, update_state="rollback_started"),
            [_svc(version=3, update_state="rollback_started"), _svc(version=3, update_state="rollback_completed")],
            [_task("a", 1, "running", version=3), _task("b", 2, "running", version=3)], rollback=True)
