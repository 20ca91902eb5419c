from protos import common_pb2 as _common_pb2
from protos import keys_pb2 as _keys_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoredResponse(_message.Message):
    __slots__ = ("id", "owner", "previous_id", "created", "source", "turns", "body_json", "history")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner: str
    previous_id: str
    created: float
    source: str
    turns: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    body_json: str
    history: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    def __init__(self, id: _Optional[str] = ..., owner: _Optional[str] = ..., previous_id: _Optional[str] = ..., created: _Optional[float] = ..., source: _Optional[str] = ..., turns: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ..., body_json: _Optional[str] = ..., history: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ...) -> None: ...

class GetResponseRequest(_message.Message):
    __slots__ = ("id", "with_history", "owner")
    ID_FIELD_NUMBER: _ClassVar[int]
    WITH_HISTORY_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    id: str
    with_history: bool
    owner: str
    def __init__(self, id: _Optional[str] = ..., with_history: _Optional[bool] = ..., owner: _Optional[str] = ...) -> None: ...

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

class StatsSnapshot(_message.Message):
    __slots__ = ("version", "generated_at", "started_at", "tokens", "queue", "processes", "workers", "traffic", "affinity", "rate_usage", "latency", "config", "keys", "storage")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_FIELD_NUMBER: _ClassVar[int]
    RATE_USAGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    version: str
    generated_at: float
    started_at: float
    tokens: TokenStats
    queue: QueueFigures
    processes: ProcessReport
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    traffic: Traffic
    affinity: AffinityFigures
    rate_usage: _containers.RepeatedCompositeFieldContainer[RateUsage]
    latency: Latency
    config: EffectiveConfig
    keys: _containers.RepeatedCompositeFieldContainer[KeyStats]
    storage: StorageStatus
    def __init__(self, version: _Optional[str] = ..., generated_at: _Optional[float] = ..., started_at: _Optional[float] = ..., tokens: _Optional[_Union[TokenStats, _Mapping]] = ..., queue: _Optional[_Union[QueueFigures, _Mapping]] = ..., processes: _Optional[_Union[ProcessReport, _Mapping]] = ..., workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., traffic: _Optional[_Union[Traffic, _Mapping]] = ..., affinity: _Optional[_Union[AffinityFigures, _Mapping]] = ..., rate_usage: _Optional[_Iterable[_Union[RateUsage, _Mapping]]] = ..., latency: _Optional[_Union[Latency, _Mapping]] = ..., config: _Optional[_Union[EffectiveConfig, _Mapping]] = ..., keys: _Optional[_Iterable[_Union[KeyStats, _Mapping]]] = ..., storage: _Optional[_Union[StorageStatus, _Mapping]] = ...) -> None: ...

class KeyStats(_message.Message):
    __slots__ = ("id", "name", "role", "today", "this_week", "this_month", "budgets", "limits", "running", "queued", "last_used_at", "weight")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    THIS_WEEK_FIELD_NUMBER: _ClassVar[int]
    THIS_MONTH_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    role: str
    today: _keys_pb2.KeyUsage
    this_week: _keys_pb2.KeyUsage
    this_month: _keys_pb2.KeyUsage
    budgets: _containers.RepeatedCompositeFieldContainer[_keys_pb2.BudgetState]
    limits: _keys_pb2.KeyLimits
    running: int
    queued: int
    last_used_at: float
    weight: float
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., today: _Optional[_Union[_keys_pb2.KeyUsage, _Mapping]] = ..., this_week: _Optional[_Union[_keys_pb2.KeyUsage, _Mapping]] = ..., this_month: _Optional[_Union[_keys_pb2.KeyUsage, _Mapping]] = ..., budgets: _Optional[_Iterable[_Union[_keys_pb2.BudgetState, _Mapping]]] = ..., limits: _Optional[_Union[_keys_pb2.KeyLimits, _Mapping]] = ..., running: _Optional[int] = ..., queued: _Optional[int] = ..., last_used_at: _Optional[float] = ..., weight: _Optional[float] = ...) -> None: ...

class TokenFigures(_message.Message):
    __slots__ = ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    def __init__(self, requests: _Optional[int] = ..., errors: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ...) -> None: ...

class TokenWindow(_message.Message):
    __slots__ = ("window", "since", "figures")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    window: str
    since: float
    figures: TokenFigures
    def __init__(self, window: _Optional[str] = ..., since: _Optional[float] = ..., figures: _Optional[_Union[TokenFigures, _Mapping]] = ...) -> None: ...

class TokenStats(_message.Message):
    __slots__ = ("totals", "by_model", "windows")
    class ByModelEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TokenFigures
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TokenFigures, _Mapping]] = ...) -> None: ...
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    BY_MODEL_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    totals: TokenFigures
    by_model: _containers.MessageMap[str, TokenFigures]
    windows: _containers.RepeatedCompositeFieldContainer[TokenWindow]
    def __init__(self, totals: _Optional[_Union[TokenFigures, _Mapping]] = ..., by_model: _Optional[_Mapping[str, TokenFigures]] = ..., windows: _Optional[_Iterable[_Union[TokenWindow, _Mapping]]] = ...) -> None: ...

class WaitFigures(_message.Message):
    __slots__ = ("admitted", "samples", "mean_ms", "p50_ms", "p95_ms", "max_ms")
    ADMITTED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    admitted: int
    samples: int
    mean_ms: float
    p50_ms: int
    p95_ms: int
    max_ms: int
    def __init__(self, admitted: _Optional[int] = ..., samples: _Optional[int] = ..., mean_ms: _Optional[float] = ..., p50_ms: _Optional[int] = ..., p95_ms: _Optional[int] = ..., max_ms: _Optional[int] = ...) -> None: ...

class QueueFigures(_message.Message):
    __slots__ = ("depth_by_source", "in_flight", "waits", "timeouts", "rejected_by_source", "rate_limited")
    class DepthBySourceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class RejectedBySourceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DEPTH_BY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    WAITS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_BY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITED_FIELD_NUMBER: _ClassVar[int]
    depth_by_source: _containers.ScalarMap[str, int]
    in_flight: int
    waits: WaitFigures
    timeouts: int
    rejected_by_source: _containers.ScalarMap[str, int]
    rate_limited: int
    def __init__(self, depth_by_source: _Optional[_Mapping[str, int]] = ..., in_flight: _Optional[int] = ..., waits: _Optional[_Union[WaitFigures, _Mapping]] = ..., timeouts: _Optional[int] = ..., rejected_by_source: _Optional[_Mapping[str, int]] = ..., rate_limited: _Optional[int] = ...) -> None: ...

class WorkerTraffic(_message.Message):
    __slots__ = ("worker", "requests", "errors", "last_request_at", "errors_by_category")
    class ErrorsByCategoryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WORKER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LAST_REQUEST_AT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    worker: str
    requests: int
    errors: int
    last_request_at: float
    errors_by_category: _containers.ScalarMap[str, int]
    def __init__(self, worker: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., last_request_at: _Optional[float] = ..., errors_by_category: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RecentError(_message.Message):
    __slots__ = ("ts", "request_id", "worker", "model", "category", "status")
    TS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ts: float
    request_id: str
    worker: str
    model: str
    category: str
    status: str
    def __init__(self, ts: _Optional[float] = ..., request_id: _Optional[str] = ..., worker: _Optional[str] = ..., model: _Optional[str] = ..., category: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class RequestCount(_message.Message):
    __slots__ = ("model", "worker", "status", "requests")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    worker: str
    status: str
    requests: int
    def __init__(self, model: _Optional[str] = ..., worker: _Optional[str] = ..., status: _Optional[str] = ..., requests: _Optional[int] = ...) -> None: ...

class Traffic(_message.Message):
    __slots__ = ("workers", "errors_by_category", "recent_errors", "request_counts")
    class ErrorsByCategoryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    RECENT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COUNTS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerTraffic]
    errors_by_category: _containers.ScalarMap[str, int]
    recent_errors: _containers.RepeatedCompositeFieldContainer[RecentError]
    request_counts: _containers.RepeatedCompositeFieldContainer[RequestCount]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerTraffic, _Mapping]]] = ..., errors_by_category: _Optional[_Mapping[str, int]] = ..., recent_errors: _Optional[_Iterable[_Union[RecentError, _Mapping]]] = ..., request_counts: _Optional[_Iterable[_Union[RequestCount, _Mapping]]] = ...) -> None: ...

class AffinityFigures(_message.Message):
    __slots__ = ("hits", "misses", "moves", "active")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    MOVES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    hits: int
    misses: int
    moves: int
    active: int
    def __init__(self, hits: _Optional[int] = ..., misses: _Optional[int] = ..., moves: _Optional[int] = ..., active: _Optional[int] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("rpm", "tpm")
    RPM_FIELD_NUMBER: _ClassVar[int]
    TPM_FIELD_NUMBER: _ClassVar[int]
    rpm: int
    tpm: int
    def __init__(self, rpm: _Optional[int] = ..., tpm: _Optional[int] = ...) -> None: ...

class RateUsage(_message.Message):
    __slots__ = ("worker", "family", "requests", "tokens", "limit")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    worker: str
    family: str
    requests: int
    tokens: int
    limit: RateLimit
    def __init__(self, worker: _Optional[str] = ..., family: _Optional[str] = ..., requests: _Optional[int] = ..., tokens: _Optional[int] = ..., limit: _Optional[_Union[RateLimit, _Mapping]] = ...) -> None: ...

class HistogramBucket(_message.Message):
    __slots__ = ("le_s", "count")
    LE_S_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    le_s: float
    count: int
    def __init__(self, le_s: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class Histogram(_message.Message):
    __slots__ = ("count", "sum_s", "buckets")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_S_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    count: int
    sum_s: float
    buckets: _containers.RepeatedCompositeFieldContainer[HistogramBucket]
    def __init__(self, count: _Optional[int] = ..., sum_s: _Optional[float] = ..., buckets: _Optional[_Iterable[_Union[HistogramBucket, _Mapping]]] = ...) -> None: ...

class Latency(_message.Message):
    __slots__ = ("ttft", "duration")
    TTFT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ttft: Histogram
    duration: Histogram
    def __init__(self, ttft: _Optional[_Union[Histogram, _Mapping]] = ..., duration: _Optional[_Union[Histogram, _Mapping]] = ...) -> None: ...

class ConfiguredWorker(_message.Message):
    __slots__ = ("name", "mode", "max_concurrent", "local")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: str
    max_concurrent: int
    local: bool
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[str] = ..., max_concurrent: _Optional[int] = ..., local: _Optional[bool] = ...) -> None: ...

class EffectiveConfig(_message.Message):
    __slots__ = ("max_concurrent", "max_queue_total", "max_queue_per_source", "queue_timeout_ms", "stream_timeout_ms", "sync_timeout_ms", "max_process_age_ms", "max_idle_ms", "primary_worker", "health_interval_ms", "affinity_ttl_ms", "max_attempts", "overflow_to_api", "retention_days", "workers", "rate_limits", "api_key_rate_limits", "quota_strategy", "quota_move_at")
    class RateLimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RateLimit
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RateLimit, _Mapping]] = ...) -> None: ...
    class ApiKeyRateLimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RateLimit
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RateLimit, _Mapping]] = ...) -> None: ...
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_PER_SOURCE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    STREAM_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    SYNC_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROCESS_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_IDLE_MS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_WORKER_FIELD_NUMBER: _ClassVar[int]
    HEALTH_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    OVERFLOW_TO_API_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    QUOTA_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    QUOTA_MOVE_AT_FIELD_NUMBER: _ClassVar[int]
    max_concurrent: int
    max_queue_total: int
    max_queue_per_source: int
    queue_timeout_ms: int
    stream_timeout_ms: int
    sync_timeout_ms: int
    max_process_age_ms: int
    max_idle_ms: int
    primary_worker: str
    health_interval_ms: int
    affinity_ttl_ms: int
    max_attempts: int
    overflow_to_api: bool
    retention_days: int
    workers: _containers.RepeatedCompositeFieldContainer[ConfiguredWorker]
    rate_limits: _containers.MessageMap[str, RateLimit]
    api_key_rate_limits: _containers.MessageMap[str, RateLimit]
    quota_strategy: str
    quota_move_at: float
    def __init__(self, max_concurrent: _Optional[int] = ..., max_queue_total: _Optional[int] = ..., max_queue_per_source: _Optional[int] = ..., queue_timeout_ms: _Optional[int] = ..., stream_timeout_ms: _Optional[int] = ..., sync_timeout_ms: _Optional[int] = ..., max_process_age_ms: _Optional[int] = ..., max_idle_ms: _Optional[int] = ..., primary_worker: _Optional[str] = ..., health_interval_ms: _Optional[int] = ..., affinity_ttl_ms: _Optional[int] = ..., max_attempts: _Optional[int] = ..., overflow_to_api: _Optional[bool] = ..., retention_days: _Optional[int] = ..., workers: _Optional[_Iterable[_Union[ConfiguredWorker, _Mapping]]] = ..., rate_limits: _Optional[_Mapping[str, RateLimit]] = ..., api_key_rate_limits: _Optional[_Mapping[str, RateLimit]] = ..., quota_strategy: _Optional[str] = ..., quota_move_at: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("name", "mode", "state", "in_flight", "max_concurrent", "last_error", "requests", "errors", "address", "draining", "cooling_until", "cooling_reason", "quota_status", "quota_resets_at", "cli_version", "warm", "parked", "running_processes", "idle_rss_bytes", "warm_fallbacks", "served", "rebuilds", "quota", "credential", "cooling_basis", "pool")
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
    POOL_FIELD_NUMBER: _ClassVar[int]
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
    pool: _common_pb2.PoolFigures
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[str] = ..., state: _Optional[str] = ..., in_flight: _Optional[int] = ..., max_concurrent: _Optional[int] = ..., last_error: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., address: _Optional[str] = ..., draining: _Optional[bool] = ..., cooling_until: _Optional[int] = ..., cooling_reason: _Optional[str] = ..., quota_status: _Optional[str] = ..., quota_resets_at: _Optional[int] = ..., cli_version: _Optional[str] = ..., warm: _Optional[int] = ..., parked: _Optional[int] = ..., running_processes: _Optional[int] = ..., idle_rss_bytes: _Optional[int] = ..., warm_fallbacks: _Optional[_Iterable[str]] = ..., served: _Optional[_Mapping[str, int]] = ..., rebuilds: _Optional[_Mapping[str, int]] = ..., quota: _Optional[_Iterable[_Union[_common_pb2.QuotaWindow, _Mapping]]] = ..., credential: _Optional[str] = ..., cooling_basis: _Optional[str] = ..., pool: _Optional[_Union[_common_pb2.PoolFigures, _Mapping]] = ...) -> None: ...

class WorkerList(_message.Message):
    __slots__ = ("workers", "max_concurrent", "in_flight", "queued", "storage")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    max_concurrent: int
    in_flight: int
    queued: int
    storage: StorageStatus
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., max_concurrent: _Optional[int] = ..., in_flight: _Optional[int] = ..., queued: _Optional[int] = ..., storage: _Optional[_Union[StorageStatus, _Mapping]] = ...) -> None: ...

class StorageStatus(_message.Message):
    __slots__ = ("state", "pending_writes", "ceiling", "dropped", "last_error", "failing_since")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PENDING_WRITES_FIELD_NUMBER: _ClassVar[int]
    CEILING_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILING_SINCE_FIELD_NUMBER: _ClassVar[int]
    state: str
    pending_writes: int
    ceiling: int
    dropped: int
    last_error: str
    failing_since: float
    def __init__(self, state: _Optional[str] = ..., pending_writes: _Optional[int] = ..., ceiling: _Optional[int] = ..., dropped: _Optional[int] = ..., last_error: _Optional[str] = ..., failing_since: _Optional[float] = ...) -> None: ...
