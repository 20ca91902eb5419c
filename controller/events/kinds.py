"""Every kind of event the controller logs: one frozen dataclass per kind, with exactly its fields.

A kind's `kind` is its name in the log (`ProxyEvent.type`); its JSON (`to_json`) is its fields by
name, in order: what the database keeps, Admin sends as `data_json`, /events and the live feed
show and the dashboard reads (tests/middle/controller/test_events_wire.py pins it for every kind).

Rows an older controller wrote are read back with `decode`, which never fails: a missing or
mistyped field takes its empty value ("", 0, 0.0, False, None), as the readers' `.get(key,
default)` did before the kinds were typed; an unknown key is ignored; a kind this controller
does not know becomes `Unrecognised`, which every reader passes over. The row's JSON itself is
kept as written (`ProxyEvent.data`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class Event:
    """What one event says; each kind is a frozen dataclass named by `kind`."""

    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The fields by name, in declaration order (the dataclass `__init__` sets them so)."""
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Leniently, from a persisted row (see the module docstring)."""
        fields = dataclasses.fields(cls)
        return cls(**{f.name: _READERS[str(f.type)](data.get(f.name)) for f in fields})


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestArrived(Event):
    """A completion reached the controller."""

    kind: ClassVar[str] = "request"
    request_id: str
    source: str
    model: str
    stream: bool
    priority: str  # high, normal, low
    user: str  # the client's own end-user id, when it sends one
    key_id: str  # the key it was made with ("": the bootstrap token)


@dataclass(frozen=True)
class Queued(Event):
    """A request waits for a worker; `reason` is capacity, cooldown or rate_limit."""

    kind: ClassVar[str] = "queued"
    request_id: str
    source: str
    depth: int
    reason: str


@dataclass(frozen=True)
class Routed(Event):
    """A new conversation got its worker, by the quota strategy."""

    kind: ClassVar[str] = "routed"
    request_id: str
    key: str  # the conversation key's first 12 characters
    worker: str
    strategy: str
    reason: str


@dataclass(frozen=True)
class Moved(Event):
    """A conversation left the worker it lived on."""

    kind: ClassVar[str] = "moved"
    request_id: str
    key: str
    from_worker: str
    to_worker: str
    reason: str


@dataclass(frozen=True)
class Started(Event):
    """An attempt of a request began on a worker."""

    kind: ClassVar[str] = "started"
    request_id: str
    worker: str
    attempt: int
    waited_ms: int
    prompt_tokens: int  # the admission estimate


@dataclass(frozen=True)
class Activity(Event):
    """Something an agent did, or a retry inside the worker."""

    kind: ClassVar[str] = "activity"
    request_id: str
    worker: str
    activity: str
    detail: str


@dataclass(frozen=True)
class TurnServed(Event):
    """How a CLI worker served the turn: live, warm or cold, and why it rebuilt."""

    kind: ClassVar[str] = "session"
    request_id: str
    worker: str
    served: str
    rebuild_reason: str
    pid: int
    bytes_written: int


@dataclass(frozen=True)
class Retry(Event):
    """An attempt failed before any output: the request goes to another worker."""

    kind: ClassVar[str] = "retry"
    request_id: str
    failed_worker: str
    error: str
    attempt: int


@dataclass(frozen=True)
class RequestEnd(Event):
    """The end of a request: its accounting row (one of the two kinds below)."""

    request_id: str
    source: str
    model: str
    worker: str
    mode: str
    status: str
    error_category: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    ttft_ms: int | None  # None: no output reached the client
    duration_ms: int
    retries: int
    key_id: str  # the key it was made with ("": the bootstrap token)


@dataclass(frozen=True)
class Completed(RequestEnd):
    """A request ended well."""

    kind: ClassVar[str] = "complete"


@dataclass(frozen=True)
class Failed(RequestEnd):
    """A request ended in an error (or was cut off by a crash: recovery)."""

    kind: ClassVar[str] = "error"


@dataclass(frozen=True)
class Chunk(Event):
    """Streamed text, for live watchers only: never logged or persisted."""

    kind: ClassVar[str] = "chunk"
    request_id: str
    worker: str
    text: str


# -- workers and accounts ------------------------------------------------------------------------


@dataclass(frozen=True)
class CooldownStarted(Event):
    """An account rests; `basis` says what the return time rests on."""

    kind: ClassVar[str] = "cooldown_start"
    worker: str
    seconds: float
    reason: str
    basis: str  # reset, retry_after or estimate
    until: float


@dataclass(frozen=True)
class CooldownEnded(Event):
    """An account's rest is over."""

    kind: ClassVar[str] = "cooldown_end"
    worker: str


@dataclass(frozen=True)
class QuotaChanged(Event):
    """An account's quota status changed (allowed, allowed_warning, rejected)."""

    kind: ClassVar[str] = "quota"
    worker: str
    status: str
    previous: str
    binding: str


@dataclass(frozen=True)
class WorkerStateChanged(Event):
    """A workerd's health changed: starting, up or down."""

    kind: ClassVar[str] = "worker_state"
    worker: str
    state: str
    previous: str


@dataclass(frozen=True)
class WorkerDrained(Event):
    """An operator drained a worker: it takes no new request."""

    kind: ClassVar[str] = "worker_drain"
    worker: str


@dataclass(frozen=True)
class WorkerResumed(Event):
    """An operator resumed a drained worker."""

    kind: ClassVar[str] = "worker_resume"
    worker: str


@dataclass(frozen=True)
class Kill(Event):
    """An operator asked to kill a CLI process; `killed` says whether it was."""

    kind: ClassVar[str] = "kill"
    pid: int
    worker: str
    request_id: str
    killed: bool
    manual: bool


@dataclass(frozen=True)
class Reaped(Event):
    """A workerd's reaper stopped a CLI process."""

    kind: ClassVar[str] = "reap"
    worker: str
    pid: int
    request_id: str
    model: str
    reason: str
    age_s: float
    idle_s: float


@dataclass(frozen=True)
class WarmFallback(Event):
    """A workerd's warm processes of one signature failed: it spawns that signature cold."""

    kind: ClassVar[str] = "warm_fallback"
    worker: str
    signature: str


# -- keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyCreated(Event):
    """An admin made a key (its id and name; never its secret)."""

    kind: ClassVar[str] = "key_created"
    key_id: str
    name: str
    role: str
    for_owner: bool


@dataclass(frozen=True)
class KeyUpdated(Event):
    """An admin changed a key; `changed` names what (policy fields, role, name), comma-separated."""

    kind: ClassVar[str] = "key_updated"
    key_id: str
    name: str
    changed: str


@dataclass(frozen=True)
class KeyRevoked(Event):
    """An admin revoked a key: it authenticates no more (its usage stays readable)."""

    kind: ClassVar[str] = "key_revoked"
    key_id: str
    name: str


# -- the controller ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Startup(Event):
    """The controller started; `restored` events came back from the database."""

    kind: ClassVar[str] = "startup"
    version: str
    restored: int


@dataclass(frozen=True)
class Unrecognised(Event):
    """A persisted event of a kind this controller does not know: kept, shown, never read."""


KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RequestArrived,
        Queued,
        Routed,
        Moved,
        Started,
        Activity,
        TurnServed,
        Retry,
        Completed,
        Failed,
        Chunk,
        CooldownStarted,
        CooldownEnded,
        QuotaChanged,
        WorkerStateChanged,
        WorkerDrained,
        WorkerResumed,
        Kill,
        Reaped,
        WarmFallback,
        KeyCreated,
        KeyUpdated,
        KeyRevoked,
        Startup,
    )
}
"""Every kind by its name in the log."""


def decode(kind: str, data: object) -> Event:
    """The typed event of a persisted row; never raises (see the module docstring)."""
    cls = KINDS.get(kind)
    if cls is None:
        return Unrecognised()
    return cls.from_json(data if isinstance(data, Mapping) else {})


def _text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _number(convert: Callable[[Any], Any], empty: object) -> Callable[[object], Any]:
    def read(value: object) -> Any:
        if isinstance(value, bool | int | float | str):
            try:
                return convert(value)
            except (ValueError, OverflowError):
                return empty
        return empty

    return read


# A field's value from a row, by its annotation (a string: `from __future__ import annotations`).
_READERS: dict[str, Callable[[object], Any]] = {
    "str": _text,
    "int": _number(int, 0),
    "float": _number(float, 0.0),
    "bool": lambda value: value if isinstance(value, bool) else False,
    "int | None": lambda value: None if value is None else _number(int, None)(value),
}
