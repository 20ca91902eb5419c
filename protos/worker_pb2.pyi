from protos import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunRequest(_message.Message):
    __slots__ = ("chat", "attempt", "conversation_key", "conversation_opened_at")
    CHAT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_KEY_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    chat: _common_pb2.ChatRequest
    attempt: int
    conversation_key: str
    conversation_opened_at: float
    def __init__(self, chat: _Optional[_Union[_common_pb2.ChatRequest, _Mapping]] = ..., attempt: _Optional[int] = ..., conversation_key: _Optional[str] = ..., conversation_opened_at: _Optional[float] = ...) -> None: ...

class ProcessInfo(_message.Message):
    __slots__ = ("pid", "request_id", "model", "state", "age_s", "idle_s", "worker", "rss_bytes", "conversation", "signature")
    PID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGE_S_FIELD_NUMBER: _ClassVar[int]
    IDLE_S_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    pid: int
    request_id: str
    model: str
    state: str
    age_s: float
    idle_s: float
    worker: str
    rss_bytes: int
    conversation: str
    signature: str
    def __init__(self, pid: _Optional[int] = ..., request_id: _Optional[str] = ..., model: _Optional[str] = ..., state: _Optional[str] = ..., age_s: _Optional[float] = ..., idle_s: _Optional[float] = ..., worker: _Optional[str] = ..., rss_bytes: _Optional[int] = ..., conversation: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class ListProcessesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProcessList(_message.Message):
    __slots__ = ("processes",)
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    processes: _containers.RepeatedCompositeFieldContainer[ProcessInfo]
    def __init__(self, processes: _Optional[_Iterable[_Union[ProcessInfo, _Mapping]]] = ...) -> None: ...

class KillProcessRequest(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class KillProcessReply(_message.Message):
    __slots__ = ("killed", "message")
    KILLED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    killed: bool
    message: str
    def __init__(self, killed: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("reaps_after",)
    REAPS_AFTER_FIELD_NUMBER: _ClassVar[int]
    reaps_after: int
    def __init__(self, reaps_after: _Optional[int] = ...) -> None: ...

class WorkerStatus(_message.Message):
    __slots__ = ("name", "mode", "running", "version", "started_at", "recent_reaps", "cli_version", "warm", "parked", "idle_rss_bytes", "warm_fallbacks", "no_client_tools", "credential", "pool")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    RECENT_REAPS_FIELD_NUMBER: _ClassVar[int]
    CLI_VERSION_FIELD_NUMBER: _ClassVar[int]
    WARM_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    IDLE_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    WARM_FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    NO_CLIENT_TOOLS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: str
    running: int
    version: str
    started_at: float
    recent_reaps: _containers.RepeatedCompositeFieldContainer[ReapRecord]
    cli_version: str
    warm: int
    parked: int
    idle_rss_bytes: int
    warm_fallbacks: _containers.RepeatedScalarFieldContainer[str]
    no_client_tools: bool
    credential: str
    pool: _common_pb2.PoolFigures
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[str] = ..., running: _Optional[int] = ..., version: _Optional[str] = ..., started_at: _Optional[float] = ..., recent_reaps: _Optional[_Iterable[_Union[ReapRecord, _Mapping]]] = ..., cli_version: _Optional[str] = ..., warm: _Optional[int] = ..., parked: _Optional[int] = ..., idle_rss_bytes: _Optional[int] = ..., warm_fallbacks: _Optional[_Iterable[str]] = ..., no_client_tools: _Optional[bool] = ..., credential: _Optional[str] = ..., pool: _Optional[_Union[_common_pb2.PoolFigures, _Mapping]] = ...) -> None: ...

class ReapRecord(_message.Message):
    __slots__ = ("id", "pid", "request_id", "model", "reason", "age_s", "idle_s", "ts")
    ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGE_S_FIELD_NUMBER: _ClassVar[int]
    IDLE_S_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    id: int
    pid: int
    request_id: str
    model: str
    reason: str
    age_s: float
    idle_s: float
    ts: float
    def __init__(self, id: _Optional[int] = ..., pid: _Optional[int] = ..., request_id: _Optional[str] = ..., model: _Optional[str] = ..., reason: _Optional[str] = ..., age_s: _Optional[float] = ..., idle_s: _Optional[float] = ..., ts: _Optional[float] = ...) -> None: ...
