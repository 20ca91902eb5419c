from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyPolicy(_message.Message):
    __slots__ = ("rpm", "tpm", "daily_tokens", "weekly_tokens", "monthly_tokens", "monthly_cost_usd", "max_concurrent", "models", "pools", "weight", "expires_at")
    RPM_FIELD_NUMBER: _ClassVar[int]
    TPM_FIELD_NUMBER: _ClassVar[int]
    DAILY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WEEKLY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_COST_USD_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    rpm: int
    tpm: int
    daily_tokens: int
    weekly_tokens: int
    monthly_tokens: int
    monthly_cost_usd: float
    max_concurrent: int
    models: _containers.RepeatedScalarFieldContainer[str]
    pools: _containers.RepeatedScalarFieldContainer[str]
    weight: float
    expires_at: float
    def __init__(self, rpm: _Optional[int] = ..., tpm: _Optional[int] = ..., daily_tokens: _Optional[int] = ..., weekly_tokens: _Optional[int] = ..., monthly_tokens: _Optional[int] = ..., monthly_cost_usd: _Optional[float] = ..., max_concurrent: _Optional[int] = ..., models: _Optional[_Iterable[str]] = ..., pools: _Optional[_Iterable[str]] = ..., weight: _Optional[float] = ..., expires_at: _Optional[float] = ...) -> None: ...

class KeyUsage(_message.Message):
    __slots__ = ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "errors", "cost_usd")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    errors: int
    cost_usd: float
    def __init__(self, requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., errors: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class KeyInfo(_message.Message):
    __slots__ = ("id", "name", "role", "for_owner", "policy", "prefix", "created_at", "revoked_at", "last_used_at", "secret_sha256", "today", "this_week", "this_month")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    FOR_OWNER_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHA256_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    THIS_WEEK_FIELD_NUMBER: _ClassVar[int]
    THIS_MONTH_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    role: str
    for_owner: bool
    policy: KeyPolicy
    prefix: str
    created_at: float
    revoked_at: float
    last_used_at: float
    secret_sha256: str
    today: KeyUsage
    this_week: KeyUsage
    this_month: KeyUsage
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., for_owner: _Optional[bool] = ..., policy: _Optional[_Union[KeyPolicy, _Mapping]] = ..., prefix: _Optional[str] = ..., created_at: _Optional[float] = ..., revoked_at: _Optional[float] = ..., last_used_at: _Optional[float] = ..., secret_sha256: _Optional[str] = ..., today: _Optional[_Union[KeyUsage, _Mapping]] = ..., this_week: _Optional[_Union[KeyUsage, _Mapping]] = ..., this_month: _Optional[_Union[KeyUsage, _Mapping]] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("name", "role", "for_another_person", "policy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    FOR_ANOTHER_PERSON_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    for_another_person: bool
    policy: KeyPolicy
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ..., for_another_person: _Optional[bool] = ..., policy: _Optional[_Union[KeyPolicy, _Mapping]] = ...) -> None: ...

class CreateKeyResult(_message.Message):
    __slots__ = ("key", "secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key: KeyInfo
    secret: str
    def __init__(self, key: _Optional[_Union[KeyInfo, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class KeyRef(_message.Message):
    __slots__ = ("name", "id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class UpdateKeyRequest(_message.Message):
    __slots__ = ("key", "policy", "clear", "role", "new_name")
    KEY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    key: KeyRef
    policy: KeyPolicy
    clear: _containers.RepeatedScalarFieldContainer[str]
    role: str
    new_name: str
    def __init__(self, key: _Optional[_Union[KeyRef, _Mapping]] = ..., policy: _Optional[_Union[KeyPolicy, _Mapping]] = ..., clear: _Optional[_Iterable[str]] = ..., role: _Optional[str] = ..., new_name: _Optional[str] = ...) -> None: ...

class ListKeysRequest(_message.Message):
    __slots__ = ("include_revoked",)
    INCLUDE_REVOKED_FIELD_NUMBER: _ClassVar[int]
    include_revoked: bool
    def __init__(self, include_revoked: _Optional[bool] = ...) -> None: ...

class KeyList(_message.Message):
    __slots__ = ("keys", "version")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[KeyInfo]
    version: int
    def __init__(self, keys: _Optional[_Iterable[_Union[KeyInfo, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...

class WatchKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KeyLimits(_message.Message):
    __slots__ = ("limit_requests", "remaining_requests", "reset_requests_ms", "limit_tokens", "remaining_tokens", "reset_tokens_ms")
    LIMIT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    RESET_REQUESTS_MS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RESET_TOKENS_MS_FIELD_NUMBER: _ClassVar[int]
    limit_requests: int
    remaining_requests: int
    reset_requests_ms: int
    limit_tokens: int
    remaining_tokens: int
    reset_tokens_ms: int
    def __init__(self, limit_requests: _Optional[int] = ..., remaining_requests: _Optional[int] = ..., reset_requests_ms: _Optional[int] = ..., limit_tokens: _Optional[int] = ..., remaining_tokens: _Optional[int] = ..., reset_tokens_ms: _Optional[int] = ...) -> None: ...

class BudgetState(_message.Message):
    __slots__ = ("period", "unit", "limit", "used", "remaining", "renews_at")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    RENEWS_AT_FIELD_NUMBER: _ClassVar[int]
    period: str
    unit: str
    limit: float
    used: float
    remaining: float
    renews_at: float
    def __init__(self, period: _Optional[str] = ..., unit: _Optional[str] = ..., limit: _Optional[float] = ..., used: _Optional[float] = ..., remaining: _Optional[float] = ..., renews_at: _Optional[float] = ...) -> None: ...

class KeyUsageDay(_message.Message):
    __slots__ = ("day", "usage")
    DAY_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    day: str
    usage: KeyUsage
    def __init__(self, day: _Optional[str] = ..., usage: _Optional[_Union[KeyUsage, _Mapping]] = ...) -> None: ...

class KeyUsageReport(_message.Message):
    __slots__ = ("key", "budgets", "limits", "days")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    key: KeyInfo
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetState]
    limits: KeyLimits
    days: _containers.RepeatedCompositeFieldContainer[KeyUsageDay]
    def __init__(self, key: _Optional[_Union[KeyInfo, _Mapping]] = ..., budgets: _Optional[_Iterable[_Union[BudgetState, _Mapping]]] = ..., limits: _Optional[_Union[KeyLimits, _Mapping]] = ..., days: _Optional[_Iterable[_Union[KeyUsageDay, _Mapping]]] = ...) -> None: ...
