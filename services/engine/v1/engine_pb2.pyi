import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pallet.images.v1 import images_pb2 as _images_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContainerConfig(_message.Message):
    __slots__ = ("image", "cmd", "entrypoint", "entrypoint_set", "env", "working_dir", "user", "hostname", "domainname", "labels", "network_mode", "auto_remove", "tty", "open_stdin", "stop_signal", "stop_timeout")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CMD_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_SET_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DOMAINNAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_MODE_FIELD_NUMBER: _ClassVar[int]
    AUTO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    OPEN_STDIN_FIELD_NUMBER: _ClassVar[int]
    STOP_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    STOP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    image: str
    cmd: _containers.RepeatedScalarFieldContainer[str]
    entrypoint: _containers.RepeatedScalarFieldContainer[str]
    entrypoint_set: bool
    env: _containers.RepeatedScalarFieldContainer[str]
    working_dir: str
    user: str
    hostname: str
    domainname: str
    labels: _containers.ScalarMap[str, str]
    network_mode: str
    auto_remove: bool
    tty: bool
    open_stdin: bool
    stop_signal: str
    stop_timeout: int
    def __init__(self, image: _Optional[str] = ..., cmd: _Optional[_Iterable[str]] = ..., entrypoint: _Optional[_Iterable[str]] = ..., entrypoint_set: _Optional[bool] = ..., env: _Optional[_Iterable[str]] = ..., working_dir: _Optional[str] = ..., user: _Optional[str] = ..., hostname: _Optional[str] = ..., domainname: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., network_mode: _Optional[str] = ..., auto_remove: _Optional[bool] = ..., tty: _Optional[bool] = ..., open_stdin: _Optional[bool] = ..., stop_signal: _Optional[str] = ..., stop_timeout: _Optional[int] = ...) -> None: ...

class ContainerState(_message.Message):
    __slots__ = ("status", "pid", "exit_code", "started_at", "finished_at", "error", "oom_killed")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[ContainerState.Status]
        STATUS_CREATED: _ClassVar[ContainerState.Status]
        STATUS_RUNNING: _ClassVar[ContainerState.Status]
        STATUS_PAUSED: _ClassVar[ContainerState.Status]
        STATUS_RESTARTING: _ClassVar[ContainerState.Status]
        STATUS_REMOVING: _ClassVar[ContainerState.Status]
        STATUS_EXITED: _ClassVar[ContainerState.Status]
        STATUS_DEAD: _ClassVar[ContainerState.Status]
    STATUS_UNSPECIFIED: ContainerState.Status
    STATUS_CREATED: ContainerState.Status
    STATUS_RUNNING: ContainerState.Status
    STATUS_PAUSED: ContainerState.Status
    STATUS_RESTARTING: ContainerState.Status
    STATUS_REMOVING: ContainerState.Status
    STATUS_EXITED: ContainerState.Status
    STATUS_DEAD: ContainerState.Status
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLED_FIELD_NUMBER: _ClassVar[int]
    status: ContainerState.Status
    pid: int
    exit_code: int
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    error: str
    oom_killed: bool
    def __init__(self, status: _Optional[_Union[ContainerState.Status, str]] = ..., pid: _Optional[int] = ..., exit_code: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., oom_killed: _Optional[bool] = ...) -> None: ...

class Container(_message.Message):
    __slots__ = ("id", "name", "image", "image_id", "config", "state", "created", "path", "args", "log_path", "bundle_path", "hostname_path", "hosts_path", "resolv_conf_path", "restart_count", "driver", "env", "working_dir", "user")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    LOG_PATH_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_PATH_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_PATH_FIELD_NUMBER: _ClassVar[int]
    HOSTS_PATH_FIELD_NUMBER: _ClassVar[int]
    RESOLV_CONF_PATH_FIELD_NUMBER: _ClassVar[int]
    RESTART_COUNT_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    image: str
    image_id: str
    config: ContainerConfig
    state: ContainerState
    created: _timestamp_pb2.Timestamp
    path: str
    args: _containers.RepeatedScalarFieldContainer[str]
    log_path: str
    bundle_path: str
    hostname_path: str
    hosts_path: str
    resolv_conf_path: str
    restart_count: int
    driver: str
    env: _containers.RepeatedScalarFieldContainer[str]
    working_dir: str
    user: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., image: _Optional[str] = ..., image_id: _Optional[str] = ..., config: _Optional[_Union[ContainerConfig, _Mapping]] = ..., state: _Optional[_Union[ContainerState, _Mapping]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., path: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., log_path: _Optional[str] = ..., bundle_path: _Optional[str] = ..., hostname_path: _Optional[str] = ..., hosts_path: _Optional[str] = ..., resolv_conf_path: _Optional[str] = ..., restart_count: _Optional[int] = ..., driver: _Optional[str] = ..., env: _Optional[_Iterable[str]] = ..., working_dir: _Optional[str] = ..., user: _Optional[str] = ...) -> None: ...

class CreateContainerRequest(_message.Message):
    __slots__ = ("config", "name")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    config: ContainerConfig
    name: str
    def __init__(self, config: _Optional[_Union[ContainerConfig, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class CreateContainerResponse(_message.Message):
    __slots__ = ("id", "warnings")
    ID_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class StartContainerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class StartContainerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopContainerRequest(_message.Message):
    __slots__ = ("id", "timeout", "signal")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    timeout: int
    signal: str
    def __init__(self, id: _Optional[str] = ..., timeout: _Optional[int] = ..., signal: _Optional[str] = ...) -> None: ...

class StopContainerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KillContainerRequest(_message.Message):
    __slots__ = ("id", "signal")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    signal: str
    def __init__(self, id: _Optional[str] = ..., signal: _Optional[str] = ...) -> None: ...

class KillContainerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveContainerRequest(_message.Message):
    __slots__ = ("id", "force", "volumes")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    id: str
    force: bool
    volumes: bool
    def __init__(self, id: _Optional[str] = ..., force: _Optional[bool] = ..., volumes: _Optional[bool] = ...) -> None: ...

class RemoveContainerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WaitContainerRequest(_message.Message):
    __slots__ = ("id", "condition")
    class Condition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CONDITION_NOT_RUNNING: _ClassVar[WaitContainerRequest.Condition]
        CONDITION_NEXT_EXIT: _ClassVar[WaitContainerRequest.Condition]
        CONDITION_REMOVED: _ClassVar[WaitContainerRequest.Condition]
    CONDITION_NOT_RUNNING: WaitContainerRequest.Condition
    CONDITION_NEXT_EXIT: WaitContainerRequest.Condition
    CONDITION_REMOVED: WaitContainerRequest.Condition
    ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    id: str
    condition: WaitContainerRequest.Condition
    def __init__(self, id: _Optional[str] = ..., condition: _Optional[_Union[WaitContainerRequest.Condition, str]] = ...) -> None: ...

class WaitContainerResponse(_message.Message):
    __slots__ = ("exit_code", "error")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    error: str
    def __init__(self, exit_code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class ListContainersRequest(_message.Message):
    __slots__ = ("all", "filters", "limit")
    ALL_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    all: bool
    filters: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, all: _Optional[bool] = ..., filters: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListContainersResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[Container]
    def __init__(self, containers: _Optional[_Iterable[_Union[Container, _Mapping]]] = ...) -> None: ...

class InspectContainerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("id", "follow", "tail", "stdout", "stderr", "since", "until")
    ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    follow: bool
    tail: int
    stdout: bool
    stderr: bool
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ..., stdout: _Optional[bool] = ..., stderr: _Optional[bool] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("stream", "data", "time")
    class Stream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STREAM_UNSPECIFIED: _ClassVar[LogEntry.Stream]
        STREAM_STDOUT: _ClassVar[LogEntry.Stream]
        STREAM_STDERR: _ClassVar[LogEntry.Stream]
    STREAM_UNSPECIFIED: LogEntry.Stream
    STREAM_STDOUT: LogEntry.Stream
    STREAM_STDERR: LogEntry.Stream
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    stream: LogEntry.Stream
    data: bytes
    time: _timestamp_pb2.Timestamp
    def __init__(self, stream: _Optional[_Union[LogEntry.Stream, str]] = ..., data: _Optional[bytes] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AttachRequest(_message.Message):
    __slots__ = ("id", "stdout", "stderr", "logs")
    ID_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    stdout: bool
    stderr: bool
    logs: bool
    def __init__(self, id: _Optional[str] = ..., stdout: _Optional[bool] = ..., stderr: _Optional[bool] = ..., logs: _Optional[bool] = ...) -> None: ...

class AttachResponse(_message.Message):
    __slots__ = ("output", "exit")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXIT_FIELD_NUMBER: _ClassVar[int]
    output: LogEntry
    exit: WaitContainerResponse
    def __init__(self, output: _Optional[_Union[LogEntry, _Mapping]] = ..., exit: _Optional[_Union[WaitContainerResponse, _Mapping]] = ...) -> None: ...

class RemoveImageRequest(_message.Message):
    __slots__ = ("ref", "force", "no_prune")
    REF_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    NO_PRUNE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    force: bool
    no_prune: bool
    def __init__(self, ref: _Optional[str] = ..., force: _Optional[bool] = ..., no_prune: _Optional[bool] = ...) -> None: ...

class VersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VersionResponse(_message.Message):
    __slots__ = ("version", "api_version", "git_commit", "python_version", "os", "arch", "kernel_version", "runtime", "runtime_version", "build_time")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    GIT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    BUILD_TIME_FIELD_NUMBER: _ClassVar[int]
    version: str
    api_version: str
    git_commit: str
    python_version: str
    os: str
    arch: str
    kernel_version: str
    runtime: str
    runtime_version: str
    build_time: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[str] = ..., api_version: _Optional[str] = ..., git_commit: _Optional[str] = ..., python_version: _Optional[str] = ..., os: _Optional[str] = ..., arch: _Optional[str] = ..., kernel_version: _Optional[str] = ..., runtime: _Optional[str] = ..., runtime_version: _Optional[str] = ..., build_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("containers", "containers_running", "containers_paused", "containers_stopped", "images", "driver", "data_root", "exec_root", "runtime", "cgroup_driver", "cgroup_version", "kernel_version", "operating_system", "os_type", "architecture", "ncpu", "mem_total", "name", "server_version", "logging_driver", "services")
    class ServicesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_PAUSED_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_STOPPED_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    DATA_ROOT_FIELD_NUMBER: _ClassVar[int]
    EXEC_ROOT_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    CGROUP_DRIVER_FIELD_NUMBER: _ClassVar[int]
    CGROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATING_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    NCPU_FIELD_NUMBER: _ClassVar[int]
    MEM_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    LOGGING_DRIVER_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    images: int
    driver: str
    data_root: str
    exec_root: str
    runtime: str
    cgroup_driver: str
    cgroup_version: str
    kernel_version: str
    operating_system: str
    os_type: str
    architecture: str
    ncpu: int
    mem_total: int
    name: str
    server_version: str
    logging_driver: str
    services: _containers.ScalarMap[str, str]
    def __init__(self, containers: _Optional[int] = ..., containers_running: _Optional[int] = ..., containers_paused: _Optional[int] = ..., containers_stopped: _Optional[int] = ..., images: _Optional[int] = ..., driver: _Optional[str] = ..., data_root: _Optional[str] = ..., exec_root: _Optional[str] = ..., runtime: _Optional[str] = ..., cgroup_driver: _Optional[str] = ..., cgroup_version: _Optional[str] = ..., kernel_version: _Optional[str] = ..., operating_system: _Optional[str] = ..., os_type: _Optional[str] = ..., architecture: _Optional[str] = ..., ncpu: _Optional[int] = ..., mem_total: _Optional[int] = ..., name: _Optional[str] = ..., server_version: _Optional[str] = ..., logging_driver: _Optional[str] = ..., services: _Optional[_Mapping[str, str]] = ...) -> None: ...
