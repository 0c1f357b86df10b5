"""Docker-shaped JSON for `inspect` and a small Go-template subset for --format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(ns: int) -> str:
    if not ns:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z" if frac else f"{base}Z"


def _ts(msg: Any, field: str) -> int:
    return getattr(msg, field).ToNanoseconds() if msg.HasField(field) else 0


_STATUS = {1: "created", 2: "running", 3: "paused", 4: "restarting", 5: "removing", 6: "exited", 7: "dead"}


def status_name(code: int) -> str:
    return _STATUS.get(code, "unknown")


def container_json(c: Any) -> dict[str, Any]:
    from pallet.client import _network

    st = c.state
    cfg = c.config
    return {
        "Id": c.id,
        "Created": rfc3339(_ts(c, "created")),
        "Path": c.path,
        "Args": list(c.args),
        "State": {
            "Status": status_name(st.status),
            "Running": st.status == 2,
            "Paused": st.status == 3,
            "Restarting": st.status == 4,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == 7,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": rfc3339(_ts(st, "started_at")),
            "FinishedAt": rfc3339(_ts(st, "finished_at")),
            **({"Health": {
                "Status": st.health.status,
                "FailingStreak": st.health.failing_streak,
                "Log": [{"Start": rfc3339(_ts(r, "start")), "End": rfc3339(_ts(r, "end")),
                         "ExitCode": r.exit_code, "Output": r.output} for r in st.health.log],
            }} if st.HasField("health") and st.health.status else {}),
        },
        "Image": c.image_id,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": c.driver,
        "Platform": "linux",
        "Mounts": _mounts_json(c),
        "HostConfig": {
            "AutoRemove": cfg.auto_remove,
            "LogConfig": {"Type": "json-file", "Config": {}},
            **_network.hostconfig_json(cfg),
            **_hostconfig_json(cfg),
        },
        "Config": {
            "Hostname": cfg.hostname,
            "Domainname": cfg.domainname,
            "User": c.user,
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "Env": list(c.env),
            "Cmd": list(cfg.cmd) or None,
            "Image": cfg.image,
            "WorkingDir": c.working_dir,
            "Entrypoint": list(cfg.entrypoint) if cfg.entrypoint_set else None,
            "Labels": dict(cfg.labels),
            "StopSignal": cfg.stop_signal,
            **({"StopTimeout": cfg.stop_timeout} if cfg.HasField("stop_timeout") else {}),
            **({"ExposedPorts": {p: {} for p in sorted(cfg.exposed_ports)}} if cfg.exposed_ports else {}),
        },
        "NetworkSettings": _network.network_settings_json(c),
    }


def _mounts_json(c: Any) -> list[dict[str, Any]]:
    from pallet.client._volumes import mounts_json

    return mounts_json(c)


def _hostconfig_json(cfg: Any) -> dict[str, Any]:
    from pallet.client._hostconfig import hostconfig_json

    return hostconfig_json(cfg)


def _healthcheck_json(h: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Test": list(h.test)}
    for key, value in (("Interval", h.interval_ns), ("Timeout", h.timeout_ns), ("StartPeriod", h.start_period_ns),
                       ("Retries", h.retries)):
        if value:
            out[key] = value
    return out


def image_json(img: Any) -> dict[str, Any]:
    cfg = img.config
    return {
        "Id": img.id,
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(img.repo_digests),
        "Created": rfc3339(_ts(img, "created")),
        "Author": img.author,
        "Comment": img.comment,
        "Architecture": img.platform.architecture,
        "Os": img.platform.os,
        "Size": img.size,
        "Config": {
            "User": cfg.user,
            "Env": list(cfg.env) or None,
            "Entrypoint": list(cfg.entrypoint) or None,
            "Cmd": list(cfg.cmd) or None,
            "WorkingDir": cfg.working_dir,
            "Labels": dict(cfg.labels) or None,
            "ExposedPorts": {p: {} for p in cfg.exposed_ports} or None,
            "Volumes": {v: {} for v in cfg.volumes} or None,
            "StopSignal": cfg.stop_signal or None,
            "OnBuild": list(cfg.on_build) or None,
            **({"Shell": list(cfg.shell)} if cfg.shell else {}),
            **({"Healthcheck": _healthcheck_json(cfg.healthcheck)} if cfg.HasField("healthcheck") else {}),
        },
        "RootFS": {"Type": "layers", "Layers": list(img.diff_ids)},
        "Metadata": {"LastTagTime": ZERO_TIME},
        "Descriptor": {"mediaType": img.target.media_type, "digest": img.target.digest,
                       "size": img.target.size},
    }


def render(template: str, obj: dict[str, Any]) -> str:
    """A subset of Go templates (see _template): {{.A.B}}, {{json .A}}, {{range .A}}...{{end}}, ..."""
    from pallet.client._template import render as _render

    return _render(template, obj)
