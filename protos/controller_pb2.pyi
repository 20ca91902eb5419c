from protos import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListEventsRequest(_message.Message):
    __slots__ = ("since_id", "limit", "type")
    SINCE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    since_id: int
    limit: int
    type: str
    def __init__(self, since_id: _Optional[int] = ..., limit: _Optional[int] = ..., type: _Optional[str] = ...) -> None: ...

class ProxyEvent(_message.Message):
    __slots__ = ("id", "type", "ts", "data_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    type: str
    ts: float
    data_json: str
    def __init__(self, id: _Optional[int] = ..., type: _Optional[str] = ..., ts: _Optional[float] = ..., data_json: _Optional[str] = ...) -> None: ...

class EventList(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ProxyEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[ProxyEvent, _Mapping]]] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("name", "mode", "state", "in_flight", "max_concurrent", "last_error", "requests", "errors", "address", "draining", "cooling_until", "cooling_reason", "quota_status", "quota_resets_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    COOLING_UNTIL_FIELD_NUMBER: _ClassVar[int]
    COOLING_REASON_FIELD_NUMBER: _ClassVar[int]
    QUOTA_STATUS_FIELD_NUMBER: _ClassVar[int]
    QUOTA_RESETS_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: str
    state: str
    in_flight: int
    max_concurrent: int
    last_error: str
    requests: int
    errors: int
    address: str
    draining: bool
    cooling_until: int
    cooling_reason: str
    quota_status: str
    quota_resets_at: int
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[str] = ..., state: _Optional[str] = ..., in_flight: _Optional[int] = ..., max_concurrent: _Optional[int] = ..., last_error: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., address: _Optional[str] = ..., draining: _Optional[bool] = ..., cooling_until: _Optional[int] = ..., cooling_reason: _Optional[str] = ..., quota_status: _Optional[str] = ..., quota_resets_at: _Optional[int] = ...) -> None: ...

class WorkerList(_message.Message):
    __slots__ = ("workers", "max_concurrent", "in_flight", "queued")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    max_concurrent: int
    in_flight: int
    queued: int
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., max_concurrent: _Optional[int] = ..., in_flight: _Optional[int] = ..., queued: _Optional[int] = ...) -> None: ...
