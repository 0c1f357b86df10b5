"""A ServiceSpec (the model's dataclass) to and from the Cluster API's message: the daemon's servicer
and palletctl both use it, so that the CLI builds and edits the same dataclass the daemon validates."""

from __future__ import annotations

from pallet.engine.cluster._model import ServiceSpec, UpdateConfig
from pallet.engine.v1 import engine_pb2 as pb


def _update_to_pb(cfg: UpdateConfig) -> pb.UpdateConfig:
    return pb.UpdateConfig(parallelism=cfg.parallelism, delay=cfg.delay, failure_action=cfg.failure_action,
                           monitor=cfg.monitor, max_failure_ratio=cfg.max_failure_ratio, order=cfg.order)


def _update_from_pb(msg: pb.UpdateConfig, default: UpdateConfig) -> UpdateConfig:
    return UpdateConfig(
        parallelism=msg.parallelism if msg.HasField("parallelism") else default.parallelism,
        delay=msg.delay, failure_action=msg.failure_action or default.failure_action,
        monitor=msg.monitor if msg.HasField("monitor") else default.monitor,
        max_failure_ratio=msg.max_failure_ratio, order=msg.order or default.order)


def spec_to_pb(spec: ServiceSpec) -> pb.ServiceSpec:
    return pb.ServiceSpec(
        name=spec.name, image=spec.image, command=spec.command, args=spec.args, env=spec.env,
        labels=spec.labels, container_labels=spec.container_labels,
        mounts=[pb.ServiceMount(type=str(m.get("type", "")), source=str(m.get("source", "")),
                                target=str(m.get("target", "")), readonly=bool(m.get("readonly", False)))
                for m in spec.mounts],
        ports=[pb.ServicePort(target=int(p.get("target", 0)), published=int(p.get("published", 0) or 0),
                              protocol=str(p.get("protocol", "")), mode=str(p.get("mode", "")))
               for p in spec.ports],
        networks=spec.networks, constraints=spec.constraints, mode=spec.mode, replicas=spec.replicas,
        workdir=spec.workdir, user=spec.user, health_cmd=spec.health_cmd, health_interval=spec.health_interval,
        health_retries=spec.health_retries, restart_condition=spec.restart_condition,
        restart_delay=spec.restart_delay, restart_max_attempts=spec.restart_max_attempts,
        stop_grace_period=spec.stop_grace_period, update=_update_to_pb(spec.update),
        rollback=_update_to_pb(spec.rollback), endpoint_mode=spec.endpoint_mode)


def spec_from_pb(msg: pb.ServiceSpec) -> ServiceSpec:
    """The dataclass, with the model's defaults for what the message leaves unset."""
    d = ServiceSpec(name=msg.name, image=msg.image)
    return ServiceSpec(
        name=msg.name, image=msg.image, command=list(msg.command), args=list(msg.args), env=list(msg.env),
        labels=dict(msg.labels), container_labels=dict(msg.container_labels),
        mounts=[{"type": m.type or "volume", "source": m.source, "target": m.target, "readonly": m.readonly}
                for m in msg.mounts],
        ports=[{"target": p.target, "published": p.published, "protocol": p.protocol or "tcp",
                "mode": p.mode or "ingress"} for p in msg.ports],
        networks=list(msg.networks), constraints=list(msg.constraints), mode=msg.mode or d.mode,
        replicas=msg.replicas if msg.HasField("replicas") else d.replicas,
        workdir=msg.workdir, user=msg.user, health_cmd=list(msg.health_cmd), health_interval=msg.health_interval,
        health_retries=msg.health_retries, restart_condition=msg.restart_condition or d.restart_condition,
        restart_delay=msg.restart_delay if msg.HasField("restart_delay") else d.restart_delay,
        restart_max_attempts=msg.restart_max_attempts,
        stop_grace_period=msg.stop_grace_period if msg.HasField("stop_grace_period") else d.stop_grace_period,
        update=_update_from_pb(msg.update, d.update), rollback=_update_from_pb(msg.rollback, d.rollback),
        endpoint_mode=msg.endpoint_mode or d.endpoint_mode)
