"""Nodes, services and their specs in Docker swarm's shapes: `node|service inspect` (JSON and
--pretty) and Go's duration and size texts. Input: the Cluster API's messages."""

from __future__ import annotations

from typing import Any


def go_duration(secs: float) -> str:
    """Go's time.Duration String: "0s", "500ms", "5s", "1m30s", "1h0m0s"."""
    ns = round(secs * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{sign}{ns / size:.9g}{unit}"
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    s = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".") + "s"
    if h:
        return f"{sign}{h}h{m}m{s}"
    if m:
        return f"{sign}{m}m{s}"
    return sign + s


def timestamp_ns(ts: Any) -> int:
    return int(ts.ToNanoseconds()) if ts.seconds or ts.nanos else 0


def node_json(n: Any) -> dict[str, Any]:
    from pallet.client._inspect import rfc3339

    return {
        "ID": n.name,
        "CreatedAt": rfc3339(timestamp_ns(n.created)),
        "Spec": {"Name": n.name, "Labels": dict(sorted(n.labels.items())), "Role": "manager",
                 "Availability": n.availability},
        "Description": {"Hostname": n.hostname,
                        "Resources": {"NanoCPUs": n.ncpu * 1_000_000_000, "MemoryBytes": n.memory},
                        "Engine": {"EngineVersion": n.engine_version}},
        "Status": {"State": n.state, "Addr": n.addr, "Since": rfc3339(timestamp_ns(n.since))},
        "ManagerStatus": {"Leader": n.leader, "Reachability": "reachable" if n.state == "ready" else "unreachable",
                          "Addr": n.addr},
    }


def node_pretty(n: Any) -> str:
    from pallet.client._format import bytes_size
    from pallet.client._inspect import rfc3339

    lines = [f"ID:\t\t\t{n.name}"]
    if n.labels:
        lines.append("Labels:")
        lines += [f" - {k} = {v}" for k, v in sorted(n.labels.items())]
    lines += [f"Hostname:\t\t{n.hostname}", f"Joined at:\t\t{rfc3339(timestamp_ns(n.created))}", "Status:",
              f" State:\t\t\t{n.state.capitalize()}", f" Availability:\t\t{n.availability.capitalize()}",
              f" Address:\t\t{n.addr}", "Manager Status:", f" Address:\t\t{n.addr}",
              f" Raft Status:\t\t{'Reachable' if n.state == 'ready' else 'Unreachable'}",
              f" Leader:\t\t{'Yes' if n.leader else 'No'}"]
    if n.state == "ready":
        lines += ["Resources:", f" CPUs:\t\t\t{n.ncpu}", f" Memory:\t\t{bytes_size(n.memory)}",
                  f"Engine Version:\t\t{n.engine_version}"]
    return "\n".join(line.expandtabs(8) for line in lines)


def _ns_of(secs: float) -> int:
    return round(secs * 1e9)


def _update_config_json(cfg: Any) -> dict[str, Any]:
    return {"Parallelism": cfg.parallelism, "Delay": _ns_of(cfg.delay), "FailureAction": cfg.failure_action,
            "Monitor": _ns_of(cfg.monitor), "MaxFailureRatio": cfg.max_failure_ratio, "Order": cfg.order}


def _ports_json(ports: Any) -> list[dict[str, Any]]:
    return [{"Protocol": p.protocol, "TargetPort": p.target, "PublishedPort": p.published, "PublishMode": p.mode}
            for p in ports]


def spec_json(spec: Any) -> dict[str, Any]:
    """A ServiceSpec message in Docker's shape (durations in nanoseconds)."""
    cs: dict[str, Any] = {"Image": spec.image}
    for key, value in (("Labels", dict(sorted(spec.container_labels.items()))), ("Command", list(spec.command)),
                       ("Args", list(spec.args)), ("Env", list(spec.env)), ("Dir", spec.workdir),
                       ("User", spec.user)):
        if value:
            cs[key] = value
    if spec.mounts:
        cs["Mounts"] = [{"Type": m.type, "Source": m.source, "Target": m.target, "ReadOnly": m.readonly}
                        for m in spec.mounts]
    cs["StopGracePeriod"] = _ns_of(spec.stop_grace_period)
    if spec.health_cmd:
        cs["Healthcheck"] = {"Test": list(spec.health_cmd), "Interval": _ns_of(spec.health_interval),
                             "Retries": spec.health_retries}
    task: dict[str, Any] = {
        "ContainerSpec": cs,
        "RestartPolicy": {"Condition": spec.restart_condition, "Delay": _ns_of(spec.restart_delay),
                          "MaxAttempts": spec.restart_max_attempts},
        "Placement": {"Constraints": list(spec.constraints)} if spec.constraints else {},
    }
    if spec.networks:
        task["Networks"] = [{"Target": n} for n in spec.networks]
    mode = {"Global": {}} if spec.mode == "global" else {"Replicated": {"Replicas": spec.replicas}}
    return {"Name": spec.name, "Labels": dict(sorted(spec.labels.items())), "TaskTemplate": task, "Mode": mode,
            "UpdateConfig": _update_config_json(spec.update), "RollbackConfig": _update_config_json(spec.rollback),
            "EndpointSpec": {"Mode": spec.endpoint_mode or "vip",
                             **({"Ports": _ports_json(spec.ports)} if spec.ports else {})}}


def service_json(s: Any) -> dict[str, Any]:
    from pallet.client._inspect import rfc3339

    out: dict[str, Any] = {"ID": s.id, "Version": {"Index": s.version}, "CreatedAt": rfc3339(timestamp_ns(s.created)),
                           "UpdatedAt": rfc3339(timestamp_ns(s.updated)), "Spec": spec_json(s.spec)}
    if s.HasField("previous"):
        out["PreviousSpec"] = spec_json(s.previous)
    out["Endpoint"] = {"Spec": out["Spec"]["EndpointSpec"],
                       **({"Ports": _ports_json(s.spec.ports)} if s.spec.ports else {}),
                       **({"VirtualIPs": [{"NetworkID": v.network_id, "Addr": v.addr} for v in s.virtual_ips]}
                          if s.virtual_ips else {})}
    if s.update_state:
        out["UpdateStatus"] = {"State": s.update_state, "Message": s.update_message}
    out["ServiceStatus"] = {"RunningTasks": s.running, "DesiredTasks": s.desired}
    return out


def _pretty_update(title: str, cfg: Any, order_title: str) -> list[str]:
    lines = [f"{title}:", f" Parallelism:\t{cfg.parallelism}"]
    if cfg.delay:
        lines.append(f" Delay:\t\t{go_duration(cfg.delay)}")
    lines += [f" On failure:\t{cfg.failure_action}", f" Monitoring Period: {go_duration(cfg.monitor)}",
              f" Max failure ratio: {cfg.max_failure_ratio:g}", f" {order_title}:    {cfg.order}"]
    return lines


def service_pretty(s: Any) -> str:
    spec = s.spec
    lines = [f"ID:\t\t{s.id}", f"Name:\t\t{spec.name}"]
    if spec.labels:
        lines += ["Labels:", *(f" {k}={v}" for k, v in sorted(spec.labels.items()))]
    if spec.mode == "global":
        lines.append("Service Mode:\tGlobal")
    else:
        lines += ["Service Mode:\tReplicated", f" Replicas:\t{spec.replicas}"]
    if s.update_state:
        lines += ["UpdateStatus:", f" State:\t\t{s.update_state}", f" Message:\t{s.update_message}"]
    lines.append("Placement:")
    if spec.constraints:
        lines.append(f" Constraints:\t[{' '.join(spec.constraints)}]")
    lines += _pretty_update("UpdateConfig", spec.update, "Update order")
    lines += _pretty_update("RollbackConfig", spec.rollback, "Rollback order")
    lines += ["ContainerSpec:", f" Image:\t\t{spec.image}"]
    if spec.command:
        lines.append(f" Command:\t{' '.join(spec.command)}")
    if spec.args:
        lines.append(f" Args:\t\t{' '.join(spec.args)} ")
    if spec.env:
        lines.append(f" Env:\t\t{' '.join(spec.env)}")
    if spec.workdir:
        lines.append(f" Dir:\t\t{spec.workdir}")
    if spec.user:
        lines.append(f" User:\t\t{spec.user}")
    if spec.health_cmd:
        lines.append(f" Healthcheck:\t{spec.health_cmd}")
    if spec.mounts:
        lines.append("Mounts:")
        for m in spec.mounts:
            lines += [f" Target:\t{m.target}", f"  Source:\t{m.source}", f"  ReadOnly:\t{str(m.readonly).lower()}",
                      f"  Type:\t\t{m.type}"]
    lines += ["Restart Policy:", f" Condition:\t{spec.restart_condition}",
              f" Delay:\t\t{go_duration(spec.restart_delay)}", f" Max Attempts:\t{spec.restart_max_attempts}",
              f"Stop Grace Period: {go_duration(spec.stop_grace_period)}"]
    if spec.networks:
        lines.append(f"Networks:\t{' '.join(spec.networks)} ")
    lines.append(f"Endpoint Mode:\t{spec.endpoint_mode or 'vip'}")
    if spec.ports:
        lines.append("Ports:")
        for p in spec.ports:
            lines += [f" PublishedPort = {p.published}", f"  Protocol = {p.protocol}", f"  TargetPort = {p.target}",
                      f"  PublishMode = {p.mode}"]
    return "\n".join(line.expandtabs(8) for line in lines)
