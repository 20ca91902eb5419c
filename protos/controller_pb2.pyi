from google.protobuf import struct_pb2 as _struct_pb2
from protos import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoredResponse(_message.Message):
    __slots__ = ("id", "previous_id", "created", "source", "turns", "body_json", "history")
    ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    id: str
    previous_id: str
    created: float
    source: str
    turns: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    body_json: str
    history: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    def __init__(self, id: _Optional[str] = ..., previous_id: _Optional[str] = ..., created: _Optional[float] = ..., source: _Optional[str] = ..., turns: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ..., body_json: _Optional[str] = ..., history: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ...) -> None: ...

class GetResponseRequest(_message.Message):
    __slots__ = ("id", "with_history")
    ID_FIELD_NUMBER: _ClassVar[int]
    WITH_HISTORY_FIELD_NUMBER: _ClassVar[int]
    id: str
    with_history: bool
    def __init__(self, id: _Optional[str] = ..., with_history: _Optional[bool] = ...) -> None: ...

class PutResponseResult(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

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
    __slots__ = ("events", "counts", "last_id")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ProxyEvent]
    counts: _containers.ScalarMap[str, int]
    last_id: int
    def __init__(self, events: _Optional[_Iterable[_Union[ProxyEvent, _Mapping]]] = ..., counts: _Optional[_Mapping[str, int]] = ..., last_id: _Optional[int] = ...) -> None: ...

class WorkerRef(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListProcessesAdminRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CliProcess(_message.Message):
    __slots__ = ("pid", "worker", "request_id", "model", "state", "age_s", "idle_s", "stale", "stale_reason", "rss_bytes", "conversation")
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGE_S_FIELD_NUMBER: _ClassVar[int]
    IDLE_S_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    STALE_REASON_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    pid: int
    worker: str
    request_id: str
    model: str
    state: str
    age_s: float
    idle_s: float
    stale: bool
    stale_reason: str
    rss_bytes: int
    conversation: str
    def __init__(self, pid: _Optional[int] = ..., worker: _Optional[str] = ..., request_id: _Optional[str] = ..., model: _Optional[str] = ..., state: _Optional[str] = ..., age_s: _Optional[float] = ..., idle_s: _Optional[float] = ..., stale: _Optional[bool] = ..., stale_reason: _Optional[str] = ..., rss_bytes: _Optional[int] = ..., conversation: _Optional[str] = ...) -> None: ...

class ProcessReport(_message.Message):
    __slots__ = ("processes", "unreachable_workers", "max_process_age_ms", "max_idle_ms")
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROCESS_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_IDLE_MS_FIELD_NUMBER: _ClassVar[int]
    processes: _containers.RepeatedCompositeFieldContainer[CliProcess]
    unreachable_workers: _containers.RepeatedScalarFieldContainer[str]
    max_process_age_ms: int
    max_idle_ms: int
    def __init__(self, processes: _Optional[_Iterable[_Union[CliProcess, _Mapping]]] = ..., unreachable_workers: _Optional[_Iterable[str]] = ..., max_process_age_ms: _Optional[int] = ..., max_idle_ms: _Optional[int] = ...) -> None: ...

class KillProcessAdminRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class KillProcessResult(_message.Message):
    __slots__ = ("killed", "pid", "worker", "message")
    KILLED_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    killed: bool
    pid: int
    worker: str
    message: str
    def __init__(self, killed: _Optional[bool] = ..., pid: _Optional[int] = ..., worker: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("window",)
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    window: str
    def __init__(self, window: _Optional[str] = ...) -> None: ...

class HistoryPoint(_message.Message):
    __slots__ = ("ts", "requests", "errors", "input_tokens", "output_tokens", "avg_ttft_ms", "avg_duration_ms")
    TS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    AVG_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    AVG_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ts: float
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    avg_ttft_ms: float
    avg_duration_ms: float
    def __init__(self, ts: _Optional[float] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., avg_ttft_ms: _Optional[float] = ..., avg_duration_ms: _Optional[float] = ...) -> None: ...

class History(_message.Message):
    __slots__ = ("window", "bucket_seconds", "from_ts", "to_ts", "points")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_TS_FIELD_NUMBER: _ClassVar[int]
    TO_TS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    window: str
    bucket_seconds: int
    from_ts: float
    to_ts: float
    points: _containers.RepeatedCompositeFieldContainer[HistoryPoint]
    def __init__(self, window: _Optional[str] = ..., bucket_seconds: _Optional[int] = ..., from_ts: _Optional[float] = ..., to_ts: _Optional[float] = ..., points: _Optional[_Iterable[_Union[HistoryPoint, _Mapping]]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("since_id", "replay", "type", "include_chunks")
    SINCE_ID_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    since_id: int
    replay: int
    type: str
    include_chunks: bool
    def __init__(self, since_id: _Optional[int] = ..., replay: _Optional[int] = ..., type: _Optional[str] = ..., include_chunks: _Optional[bool] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("name", "mode", "state", "in_flight", "max_concurrent", "last_error", "requests", "errors", "address", "draining", "cooling_until", "cooling_reason", "quota_status", "quota_resets_at", "cli_version", "warm", "parked", "running_processes", "idle_rss_bytes", "warm_fallbacks", "served", "rebuilds", "quota", "credential", "cooling_basis")
    class ServedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class RebuildsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
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
    CLI_VERSION_FIELD_NUMBER: _ClassVar[int]
    WARM_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_PROCESSES_FIELD_NUMBER: _ClassVar[int]
    IDLE_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    WARM_FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    REBUILDS_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    COOLING_BASIS_FIELD_NUMBER: _ClassVar[int]
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
    cli_version: str
    warm: int
    parked: int
    running_processes: int
    idle_rss_bytes: int
    warm_fallbacks: _containers.RepeatedScalarFieldContainer[str]
    served: _containers.ScalarMap[str, int]
    rebuilds: _containers.ScalarMap[str, int]
    quota: _containers.RepeatedCompositeFieldContainer[_common_pb2.QuotaWindow]
    credential: str
    cooling_basis: str
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[str] = ..., state: _Optional[str] = ..., in_flight: _Optional[int] = ..., max_concurrent: _Optional[int] = ..., last_error: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., address: _Optional[str] = ..., draining: _Optional[bool] = ..., cooling_until: _Optional[int] = ..., cooling_reason: _Optional[str] = ..., quota_status: _Optional[str] = ..., quota_resets_at: _Optional[int] = ..., cli_version: _Optional[str] = ..., warm: _Optional[int] = ..., parked: _Optional[int] = ..., running_processes: _Optional[int] = ..., idle_rss_bytes: _Optional[int] = ..., warm_fallbacks: _Optional[_Iterable[str]] = ..., served: _Optional[_Mapping[str, int]] = ..., rebuilds: _Optional[_Mapping[str, int]] = ..., quota: _Optional[_Iterable[_Union[_common_pb2.QuotaWindow, _Mapping]]] = ..., credential: _Optional[str] = ..., cooling_basis: _Optional[str] = ...) -> None: ...

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
