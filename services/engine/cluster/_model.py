"""Cluster state as it is kept in etcd: nodes, services, tasks and task statuses.

Every record is a JSON document under the cluster's prefix (default `/pallet/cluster/`):

    nodes/<name>        NodeSpec      written by the node (join) and `node update`; survives the node
    alive/<name>        NodeAlive     written by the node with a lease: gone => the node is down
    services/<id>       Service       written by `service create|update|scale|rollback|rm`
    tasks/<id>          Task          written by the elected orchestrator (assignments)
    status/<task id>    TaskStatus    written by the node that runs the task (observed state)
    leader/...          election keys (pallet.engine.cluster._election.Election)

Writers own disjoint keys, and every change of a record someone else may change at the same
time is a compare-and-swap on its mod_revision, so no daemon needs to stay up for the others.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

AVAILABILITIES = ("active", "pause", "drain")
TASK_STATES = ("new", "assigned", "preparing", "starting", "running", "complete", "failed", "shutdown",
               "rejected", "orphaned")
TERMINAL = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned"})

T = TypeVar("T")


def new_id() -> str:
    return uuid.uuid4().hex[:25]


def _load(cls: type[T], raw: bytes | str) -> T:
    doc = json.loads(raw)
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in doc.items() if k in names})


def dump(obj: Any) -> bytes:
    return json.dumps(asdict(obj), sort_keys=True, separators=(",", ":")).encode()


@dataclass
class NodeSpec:
    name: str
    addr: str = ""
    availability: str = "active"
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    @classmethod
    def load(cls, raw: bytes | str) -> NodeSpec:
        return _load(cls, raw)


@dataclass
class NodeAlive:
    name: str
    addr: str = ""
    engine_version: str = ""
    hostname: str = ""
    ncpu: int = 0
    memory: int = 0
    since: float = field(default_factory=time.time)
    # palletd's API addresses (its -H values: unix:///path, tcp://host:port), for the other nodes'
    # palletd to reach this one (`service logs` gathers every node's task logs through them)
    endpoints: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, raw: bytes | str) -> NodeAlive:
        return _load(cls, raw)


@dataclass
class UpdateConfig:
    parallelism: int = 1
    delay: float = 0.0
    failure_action: str = "pause"       # pause | continue | rollback
    monitor: float = 5.0                # seconds a new task must stay running (and healthy)
    max_failure_ratio: float = 0.0
    order: str = "stop-first"           # stop-first | start-first


@dataclass
class ServiceSpec:
    """What the user asked for (`service create`), versioned by `service update`."""

    name: str
    image: str                          # pinned to a digest at create time when it came from a registry
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    container_labels: dict[str, str] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)      # {type, source, target, readonly}
    ports: list[dict[str, Any]] = field(default_factory=list)       # {target, published, protocol, mode}
    networks: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)            # node.name==x, node.labels.k!=v
    mode: str = "replicated"                                        # replicated | global
    replicas: int = 1
    workdir: str = ""
    user: str = ""
    health_cmd: list[str] = field(default_factory=list)
    health_interval: float = 0.0
    health_retries: int = 0
    restart_condition: str = "any"                                  # any | on-failure | none
    restart_delay: float = 5.0
    restart_max_attempts: int = 0
    stop_grace_period: float = 10.0
    update: UpdateConfig = field(default_factory=UpdateConfig)
    rollback: UpdateConfig = field(default_factory=lambda: UpdateConfig(failure_action="pause"))
    endpoint_mode: str = "vip"                                      # vip | dnsrr

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ServiceSpec:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in doc.items() if k in names}
        for key in ("update", "rollback"):
            if isinstance(kw.get(key), dict):
                kw[key] = UpdateConfig(**kw[key])
        return cls(**kw)


@dataclass
class Service:
    id: str
    spec: ServiceSpec
    version: int = 1                     # bumped by every update, tasks record the one they run
    previous: ServiceSpec | None = None  # for rollback
    update_state: str = ""               # updating | paused | completed | rollback_started | rollback_completed
    update_message: str = ""
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @classmethod
    def load(cls, raw: bytes | str) -> Service:
        doc = json.loads(raw)
        prev = doc.get("previous")
        return cls(id=doc["id"], spec=ServiceSpec.from_dict(doc["spec"]), version=int(doc.get("version", 1)),
                   previous=ServiceSpec.from_dict(prev) if prev else None,
                   update_state=doc.get("update_state", ""), update_message=doc.get("update_message", ""),
                   created_at=doc.get("created_at", 0.0), updated_at=doc.get("updated_at", 0.0))


@dataclass
class Task:
    """An assignment: run service `service_id` at `version` as slot `slot` on node `node`."""

    id: str
    service_id: str
    service_name: str
    slot: int                            # 1..replicas (replicated); 0 for global (one per node)
    node: str
    version: int
    desired_state: str = "running"       # running | shutdown
    created_at: float = field(default_factory=time.time)

    @classmethod
    def load(cls, raw: bytes | str) -> Task:
        return _load(cls, raw)

    @property
    def name(self) -> str:
        return f"{self.service_name}.{self.slot if self.slot else self.node}.{self.id}"


@dataclass
class TaskStatus:
    state: str = "assigned"
    message: str = ""
    container_id: str = ""
    exit_code: int = 0
    error: str = ""
    timestamp: float = field(default_factory=time.time)

    @classmethod
    def load(cls, raw: bytes | str) -> TaskStatus:
        return _load(cls, raw)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL
