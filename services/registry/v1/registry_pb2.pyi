import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GarbageCollectRequest(_message.Message):
    __slots__ = ("dry_run", "delete_untagged", "grace_period", "upload_max_age")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    DELETE_UNTAGGED_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    delete_untagged: bool
    grace_period: _duration_pb2.Duration
    upload_max_age: _duration_pb2.Duration
    def __init__(self, dry_run: _Optional[bool] = ..., delete_untagged: _Optional[bool] = ..., grace_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., upload_max_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RemovedBlob(_message.Message):
    __slots__ = ("digest", "size")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    digest: str
    size: int
    def __init__(self, digest: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class RemovedManifest(_message.Message):
    __slots__ = ("repository", "digest")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    repository: str
    digest: str
    def __init__(self, repository: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class RemovedUpload(_message.Message):
    __slots__ = ("repository", "uuid", "size")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    repository: str
    uuid: str
    size: int
    def __init__(self, repository: _Optional[str] = ..., uuid: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class GCReport(_message.Message):
    __slots__ = ("dry_run", "started", "finished", "blobs", "blob_bytes", "manifests", "uploads", "upload_bytes", "links")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    BLOB_BYTES_FIELD_NUMBER: _ClassVar[int]
    MANIFESTS_FIELD_NUMBER: _ClassVar[int]
    UPLOADS_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    started: _timestamp_pb2.Timestamp
    finished: _timestamp_pb2.Timestamp
    blobs: _containers.RepeatedCompositeFieldContainer[RemovedBlob]
    blob_bytes: int
    manifests: _containers.RepeatedCompositeFieldContainer[RemovedManifest]
    uploads: _containers.RepeatedCompositeFieldContainer[RemovedUpload]
    upload_bytes: int
    links: int
    def __init__(self, dry_run: _Optional[bool] = ..., started: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., blobs: _Optional[_Iterable[_Union[RemovedBlob, _Mapping]]] = ..., blob_bytes: _Optional[int] = ..., manifests: _Optional[_Iterable[_Union[RemovedManifest, _Mapping]]] = ..., uploads: _Optional[_Iterable[_Union[RemovedUpload, _Mapping]]] = ..., upload_bytes: _Optional[int] = ..., links: _Optional[int] = ...) -> None: ...

class GarbageCollectResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: GCReport
    def __init__(self, report: _Optional[_Union[GCReport, _Mapping]] = ...) -> None: ...

class GCStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GCStatusResponse(_message.Message):
    __slots__ = ("running", "last", "last_error")
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    running: bool
    last: GCReport
    last_error: str
    def __init__(self, running: _Optional[bool] = ..., last: _Optional[_Union[GCReport, _Mapping]] = ..., last_error: _Optional[str] = ...) -> None: ...

class UsageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RepositoryUsage(_message.Message):
    __slots__ = ("repository", "blobs", "bytes", "manifests", "tags")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MANIFESTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    repository: str
    blobs: int
    bytes: int
    manifests: int
    tags: int
    def __init__(self, repository: _Optional[str] = ..., blobs: _Optional[int] = ..., bytes: _Optional[int] = ..., manifests: _Optional[int] = ..., tags: _Optional[int] = ...) -> None: ...

class UsageResponse(_message.Message):
    __slots__ = ("repositories", "total_blobs", "total_bytes", "deduplicated_blobs", "deduplicated_bytes", "stored_blobs", "stored_bytes")
    REPOSITORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BLOBS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_BLOBS_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORED_BLOBS_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    repositories: _containers.RepeatedCompositeFieldContainer[RepositoryUsage]
    total_blobs: int
    total_bytes: int
    deduplicated_blobs: int
    deduplicated_bytes: int
    stored_blobs: int
    stored_bytes: int
    def __init__(self, repositories: _Optional[_Iterable[_Union[RepositoryUsage, _Mapping]]] = ..., total_blobs: _Optional[int] = ..., total_bytes: _Optional[int] = ..., deduplicated_blobs: _Optional[int] = ..., deduplicated_bytes: _Optional[int] = ..., stored_blobs: _Optional[int] = ..., stored_bytes: _Optional[int] = ...) -> None: ...

class ListRepositoriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRepositoriesResponse(_message.Message):
    __slots__ = ("repositories",)
    REPOSITORIES_FIELD_NUMBER: _ClassVar[int]
    repositories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, repositories: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTagsRequest(_message.Message):
    __slots__ = ("repository",)
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    repository: str
    def __init__(self, repository: _Optional[str] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("name", "digest", "media_type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    digest: str
    media_type: str
    def __init__(self, name: _Optional[str] = ..., digest: _Optional[str] = ..., media_type: _Optional[str] = ...) -> None: ...

class ListTagsResponse(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    def __init__(self, tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ...) -> None: ...

class DeleteRepositoryRequest(_message.Message):
    __slots__ = ("repository",)
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    repository: str
    def __init__(self, repository: _Optional[str] = ...) -> None: ...

class DeleteRepositoryResponse(_message.Message):
    __slots__ = ("tags", "manifests", "blob_links", "uploads")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    MANIFESTS_FIELD_NUMBER: _ClassVar[int]
    BLOB_LINKS_FIELD_NUMBER: _ClassVar[int]
    UPLOADS_FIELD_NUMBER: _ClassVar[int]
    tags: int
    manifests: int
    blob_links: int
    uploads: int
    def __init__(self, tags: _Optional[int] = ..., manifests: _Optional[int] = ..., blob_links: _Optional[int] = ..., uploads: _Optional[int] = ...) -> None: ...
