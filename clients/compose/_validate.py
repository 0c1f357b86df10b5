"""The shape of a compose file, checked against the Compose Specification's schema.

A small schema language (objects with known keys, free-form mappings, lists, alternatives,
typed scalars) and the compose schema written in it. Unknown keys are errors except `x-*`
extensions at the top level and in objects that allow them; scalars may be strings that compose
would cast after interpolation (`"${REPLICAS:-2}"` for an integer, `"true"` for a boolean). A
null mapping value means "not set" and is always accepted. The first problem found is raised
as one error naming its place: `services.web.portz: unknown key`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from pallet.client.compose import _units
from pallet.client.compose._errors import ComposeFileError

NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fail(path: str, message: str) -> ComposeFileError:
    return ComposeFileError(f"{path or '(root)'}: {message}")


class V:
    """A value's schema: what it looks like (accepts) and whether it is right (check)."""

    desc = "a value"

    def accepts(self, value: Any) -> bool:
        return True

    def check(self, value: Any, path: str) -> None:
        if not self.accepts(value):
            raise _fail(path, f"must be {self.desc}")


class Str(V):
    def __init__(self, enum: Iterable[str] = (), numbers: bool = False,
                 fmt: Callable[[str], object] | None = None, desc: str = "") -> None:
        self.enum = tuple(enum)
        self.numbers = numbers
        self.fmt = fmt
        self.desc = desc or ("a string or a number" if numbers else "a string")

    def accepts(self, value: Any) -> bool:
        if isinstance(value, str):
            return True
        return self.numbers and isinstance(value, int | float) and not isinstance(value, bool)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        if self.enum and value not in self.enum:
            raise _fail(path, f"must be one of {', '.join(self.enum)}")
        if self.fmt is not None and isinstance(value, str):
            try:
                self.fmt(value)
            except ValueError as exc:
                raise _fail(path, str(exc)) from None


class Int(V):
    desc = "an integer"

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def accepts(self, value: Any) -> bool:
        return _units.is_int_like(value)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        number = _units.parse_int(value)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise _fail(path, f"must be between {self.low} and {self.high}")


class Num(V):
    desc = "a number"

    def accepts(self, value: Any) -> bool:
        return _units.is_number_like(value)


class Bool(V):
    desc = "a boolean"

    def accepts(self, value: Any) -> bool:
        return _units.is_bool_like(value)


class Null(V):
    desc = "null"

    def accepts(self, value: Any) -> bool:
        return value is None


class Obj(V):
    """A mapping with known keys (plus x-* extensions when ext)."""

    desc = "a mapping"

    def __init__(self, props: dict[str, V], required: Iterable[str] = (), ext: bool = True) -> None:
        self.props = props
        self.required = tuple(required)
        self.ext = ext

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        for key, item in value.items():
            here = _child(path, key)
            spec = self.props.get(key)
            if spec is None:
                if self.ext and key.startswith("x-"):
                    continue
                raise _fail(here, "unknown key")
            if item is not None:
                spec.check(item, here)
        for key in self.required:
            if value.get(key) is None:
                raise _fail(path, f'missing required key "{key}"')


class Map(V):
    """A mapping with free-form keys (names), every value of one schema."""

    desc = "a mapping"

    def __init__(self, values: V, names: re.Pattern[str] | None = None, what: str = "name") -> None:
        self.values = values
        self.names = names
        self.what = what

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        for key, item in value.items():
            here = _child(path, key)
            if self.names is not None and not self.names.match(key):
                raise _fail(here, f"invalid {self.what} (allowed characters: {self.names.pattern[2:-3]})")
            if item is not None:
                self.values.check(item, here)


class List(V):
    desc = "a list"

    def __init__(self, items: V) -> None:
        self.items = items

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        for i, item in enumerate(value):
            self.items.check(item, f"{path}[{i}]")


class OneOf(V):
    def __init__(self, *alternatives: V, desc: str = "") -> None:
        self.alternatives = alternatives
        self.desc = desc or " or ".join(dict.fromkeys(a.desc for a in alternatives))

    def accepts(self, value: Any) -> bool:
        return any(a.accepts(value) for a in self.alternatives)

    def check(self, value: Any, path: str) -> None:
        for alternative in self.alternatives:
            if alternative.accepts(value):
                alternative.check(value, path)
                return
        raise _fail(path, f"must be {self.desc}")


class AnyValue(V):
    desc = "a value"


# -- formats ---------------------------------------------------------------------------------


def _duration(text: str) -> None:
    _units.parse_duration(text)


def _size(text: str) -> None:
    if text.strip() != "-1":
        _units.parse_size(text)


_PULL = re.compile(r"^(always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+)$")


def _pull_policy(text: str) -> None:
    if not _PULL.match(text):
        raise ValueError(f'invalid pull policy "{text}" '
                         "(always, never, missing, build, daily, weekly or every_<duration>)")


_RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:[0-9]+)?)$")


def _restart(text: str) -> None:
    if not _RESTART.match(text):
        raise ValueError(f'invalid restart policy "{text}" (no, always, on-failure[:max-retries] or unless-stopped)')


# -- the compose schema -----------------------------------------------------------------------

STR = Str()
STRNUM = Str(numbers=True)
INT = Int()
NUM = Num()
BOOL = Bool()
NULL = Null()
ANY = AnyValue()
ANY_MAP = Map(ANY)
LIST_STR = List(STR)
STR_OR_LIST = OneOf(STR, LIST_STR, desc="a string or a list of strings")
COMMAND = OneOf(STR, LIST_STR, desc="a string or a list of strings")
LIST_OR_DICT = OneOf(Map(OneOf(STRNUM, BOOL, NULL)), List(STRNUM), desc="a mapping or a list")
DURATION = Str(fmt=_duration, desc="a duration string")
SIZE = OneOf(INT, Str(fmt=_size), desc="a size (bytes, or a string like 512m)")
MODE = OneOf(INT, Str(), desc="a file mode")
ULIMITS = Map(OneOf(INT, Obj({"soft": INT, "hard": INT}, required=("soft", "hard"))), re.compile(r"^[a-z]+$"),
              what="ulimit name")
EXTRA_HOSTS = OneOf(List(STR), Map(STR_OR_LIST), desc="a mapping or a list")
MOUNTS = List(OneOf(STR, Obj({"source": STR, "target": STR, "uid": STRNUM, "gid": STRNUM, "mode": MODE},
                            required=("source",))))

BUILD = Obj({
    "context": STR, "dockerfile": STR, "dockerfile_inline": STR, "entitlements": LIST_STR,
    "args": LIST_OR_DICT, "ssh": LIST_OR_DICT, "labels": LIST_OR_DICT, "cache_from": LIST_STR,
    "cache_to": LIST_STR, "no_cache": BOOL, "additional_contexts": LIST_OR_DICT, "network": STR,
    "provenance": OneOf(BOOL, STR), "sbom": OneOf(BOOL, STR), "pull": BOOL, "target": STR, "shm_size": SIZE,
    "extra_hosts": EXTRA_HOSTS, "isolation": STR, "privileged": BOOL, "secrets": MOUNTS, "tags": LIST_STR,
    "ulimits": ULIMITS, "platforms": LIST_STR,
})

HEALTHCHECK = Obj({
    "disable": BOOL, "interval": DURATION, "retries": INT, "test": COMMAND, "timeout": DURATION,
    "start_period": DURATION, "start_interval": DURATION,
})

_UPDATE = Obj({
    "parallelism": INT, "delay": DURATION, "failure_action": STR, "monitor": DURATION,
    "max_failure_ratio": NUM, "order": Str(enum=("start-first", "stop-first")),
})
_RESOURCE = Obj({"cpus": NUM, "memory": SIZE, "pids": INT, "devices": List(ANY_MAP),
                 "generic_resources": List(ANY_MAP)})
DEPLOY = Obj({
    "mode": STR, "endpoint_mode": STR, "replicas": INT, "labels": LIST_OR_DICT,
    "rollback_config": _UPDATE, "update_config": _UPDATE,
    "resources": Obj({"limits": _RESOURCE, "reservations": _RESOURCE}),
    "restart_policy": Obj({"condition": Str(enum=("none", "on-failure", "any")), "delay": DURATION,
                           "max_attempts": INT, "window": DURATION}),
    "placement": Obj({"constraints": LIST_STR, "preferences": List(Obj({"spread": STR})),
                      "max_replicas_per_node": INT}),
})

VOLUME_MOUNT = Obj({
    "type": Str(enum=("bind", "volume", "tmpfs", "npipe", "cluster", "image")),
    "source": STR, "target": STR, "read_only": BOOL, "consistency": STR,
    "bind": Obj({"propagation": Str(enum=("private", "rprivate", "shared", "rshared", "slave", "rslave")),
                 "create_host_path": BOOL, "selinux": Str(enum=("z", "Z")), "recursive": STR}),
    "volume": Obj({"nocopy": BOOL, "subpath": STR, "labels": LIST_OR_DICT}),
    "tmpfs": Obj({"size": SIZE, "mode": MODE}),
    "image": Obj({"subpath": STR}),
}, required=("type", "target"))

PORT = Obj({"name": STR, "mode": Str(enum=("host", "ingress")), "host_ip": STR, "target": INT,
            "published": STRNUM, "protocol": STR, "app_protocol": STR}, required=("target",))

SERVICE_NETWORK = Obj({
    "aliases": LIST_STR, "ipv4_address": STR, "ipv6_address": STR, "link_local_ips": LIST_STR,
    "mac_address": STR, "driver_opts": Map(STRNUM), "priority": INT, "gw_priority": INT, "interface_name": STR,
})

DEPENDS_ON = OneOf(
    List(STR),
    Map(Obj({"condition": Str(enum=("service_started", "service_healthy", "service_completed_successfully")),
             "restart": BOOL, "required": BOOL}), NAME_RE, what="service name"),
    desc="a list or a mapping",
)

ENV_FILE = OneOf(STR, List(OneOf(STR, Obj({"path": STR, "required": BOOL, "format": STR}, required=("path",)))),
                 desc="a string or a list")

SERVICE = Obj({
    "annotations": LIST_OR_DICT, "attach": BOOL, "build": OneOf(STR, BUILD), "blkio_config": ANY_MAP,
    "cap_add": LIST_STR, "cap_drop": LIST_STR, "cgroup": Str(enum=("host", "private")), "cgroup_parent": STR,
    "command": COMMAND, "configs": MOUNTS, "container_name": STR,
    "cpu_count": Int(low=0), "cpu_percent": Int(low=0, high=100), "cpu_shares": INT, "cpu_quota": INT,
    "cpu_period": INT, "cpu_rt_period": INT, "cpu_rt_runtime": INT, "cpus": NUM, "cpuset": STR,
    "credential_spec": ANY_MAP, "depends_on": DEPENDS_ON, "deploy": DEPLOY, "develop": ANY_MAP,
    "device_cgroup_rules": LIST_STR,
    "devices": List(OneOf(STR, Obj({"source": STR, "target": STR, "permissions": STR}, required=("source",)))),
    "dns": STR_OR_LIST, "dns_opt": LIST_STR, "dns_search": STR_OR_LIST, "domainname": STR,
    "entrypoint": COMMAND, "env_file": ENV_FILE, "environment": LIST_OR_DICT, "expose": List(STRNUM),
    "extends": OneOf(STR, Obj({"service": STR, "file": STR}, required=("service",), ext=False)),
    "external_links": LIST_STR, "extra_hosts": EXTRA_HOSTS, "gpus": OneOf(STR, List(ANY_MAP)),
    "group_add": List(STRNUM), "healthcheck": HEALTHCHECK, "hostname": STR, "image": STR, "init": BOOL,
    "ipc": STR, "isolation": STR, "labels": LIST_OR_DICT, "links": LIST_STR,
    "logging": Obj({"driver": STR, "options": Map(OneOf(STRNUM, NULL))}),
    "mac_address": STR, "mem_limit": SIZE, "mem_reservation": SIZE, "mem_swappiness": Int(0, 100),
    "memswap_limit": SIZE, "network_mode": STR,
    "networks": OneOf(List(STR), Map(SERVICE_NETWORK, NAME_RE, what="network name"), desc="a list or a mapping"),
    "oom_kill_disable": BOOL, "oom_score_adj": Int(-1000, 1000), "pid": STR, "pids_limit": INT,
    "platform": STR, "ports": List(OneOf(INT, STR, PORT, desc="a port number, a string or a mapping")),
    "post_start": List(ANY_MAP), "pre_stop": List(ANY_MAP), "privileged": BOOL, "profiles": LIST_STR,
    "pull_policy": Str(fmt=_pull_policy), "read_only": BOOL, "restart": Str(fmt=_restart), "runtime": STR,
    "scale": Int(low=0), "secrets": MOUNTS, "security_opt": LIST_STR, "shm_size": SIZE, "stdin_open": BOOL,
    "stop_grace_period": DURATION, "stop_signal": STR, "storage_opt": ANY_MAP, "sysctls": LIST_OR_DICT,
    "tmpfs": STR_OR_LIST, "tty": BOOL, "ulimits": ULIMITS, "use_api_socket": BOOL, "user": STRNUM,
    "userns_mode": STR, "uts": STR, "volume_driver": STR,
    "volumes": List(OneOf(STR, VOLUME_MOUNT, desc="a string or a mapping")), "volumes_from": LIST_STR,
    "working_dir": STR,
})

_EXTERNAL = OneOf(BOOL, Obj({"name": STR}, ext=False), desc="a boolean or a mapping")
NETWORK = Obj({
    "name": STR, "driver": STR, "driver_opts": Map(STRNUM),
    "ipam": Obj({"driver": STR, "options": Map(STR),
                 "config": List(Obj({"subnet": STR, "ip_range": STR, "gateway": STR, "aux_addresses": Map(STR)}))}),
    "external": _EXTERNAL, "internal": BOOL, "enable_ipv4": BOOL, "enable_ipv6": BOOL, "attachable": BOOL,
    "labels": LIST_OR_DICT,
})
VOLUME = Obj({"name": STR, "driver": STR, "driver_opts": Map(STRNUM), "external": _EXTERNAL,
              "labels": LIST_OR_DICT})
SECRET = Obj({"name": STR, "environment": STR, "file": STR, "external": _EXTERNAL, "labels": LIST_OR_DICT,
              "driver": STR, "driver_opts": Map(STRNUM), "template_driver": STR})
CONFIG = Obj({"name": STR, "content": STR, "environment": STR, "file": STR, "external": _EXTERNAL,
              "labels": LIST_OR_DICT, "template_driver": STR})
INCLUDE = OneOf(STR, Obj({"path": STR_OR_LIST, "env_file": STR_OR_LIST, "project_directory": STR},
                         required=("path",), ext=False), desc="a string or a mapping")

TOP = Obj({
    "version": STRNUM, "name": STR, "include": List(INCLUDE),
    "services": Map(SERVICE, NAME_RE, what="service name"),
    "networks": Map(NETWORK, NAME_RE, what="network name"),
    "volumes": Map(VOLUME, NAME_RE, what="volume name"),
    "secrets": Map(SECRET, NAME_RE, what="secret name"),
    "configs": Map(CONFIG, NAME_RE, what="config name"),
})


def validate(model: Any) -> None:
    """Raise ComposeFileError for the first place where the file leaves the compose schema."""
    TOP.check(model, "")
