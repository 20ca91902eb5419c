"""Pure accounting logic: request rows from events, error categories, windows and buckets.

No I/O: controller/storage/accounting.py stores and queries; this module decides what a row
is, which time ranges the windows and the history charts cover, and how latencies fall into
histogram buckets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.events.bus import ProxyEvent
from controller.events.kinds import RequestEnd
from controller.keys.periods import DAY_S, bounds, day_of

WEEK_S = 7 * DAY_S
USAGE_WINDOWS_S = {"1h": 3_600, "4h": 4 * 3_600, "8h": 8 * 3_600}
WEEK_WINDOW = "week"
TTFT_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DURATION_BUCKETS_S = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
HISTOGRAMS = {"ttft": TTFT_BUCKETS_S, "duration": DURATION_BUCKETS_S}
INF = "+Inf"
IDLE_BY_DESIGN = frozenset({"ready", "parked"})
"""CLI process states that wait for a request: silence is their job, never a sign of a hang."""
_CATEGORY_BY_STATUS = {
    "NO_WORKER_CONFIGURED": "no_worker",
    "NO_WORKER_AVAILABLE": "no_worker",
    "UPSTREAM_OVERLOADED": "upstream_overloaded",
    "CONTEXT_TOO_LONG": "context_overflow",
    "ERROR_CODE_UNSPECIFIED": "internal",
}


@dataclass(frozen=True)
class HistorySpec:
    """A chart window: how far back, in buckets of what size."""

    window_s: int
    bucket_s: int

    @property
    def buckets(self) -> int:
        return self.window_s // self.bucket_s


HISTORY = {
    "1h": HistorySpec(3_600, 60),
    "6h": HistorySpec(6 * 3_600, 300),
    "1d": HistorySpec(DAY_S, 900),
    "7d": HistorySpec(WEEK_S, 3_600),
}


@dataclass(frozen=True)
class RequestRow:
    """One finished request, as the database keeps it."""

    request_id: str
    ts: float
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
    ttft_ms: int | None
    duration_ms: int
    retries: int
    key_id: str = ""  # the key it was made with ("": the bootstrap token)

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


def error_category(status: str) -> str:
    """'' for ok; a stable lower-case category for every error status."""
    if status == "ok":
        return ""
    return _CATEGORY_BY_STATUS.get(status, status.lower())


def row_from_event(ts: float, end: RequestEnd) -> RequestRow:
    """The row of a `complete` or `error` event (a row read back from the database has its
    missing fields empty or zero: kinds.decode); no status counts as internal."""
    status = end.status or "internal"
    return RequestRow(
        request_id=end.request_id,
        ts=ts,
        source=end.source,
        model=end.model,
        worker=end.worker,
        mode=end.mode,
        status=status,
        error_category=end.error_category or error_category(status),
        input_tokens=end.input_tokens,
        output_tokens=end.output_tokens,
        cache_read_tokens=end.cache_read_tokens,
        cache_write_tokens=end.cache_write_tokens,
        ttft_ms=end.ttft_ms,
        duration_ms=end.duration_ms,
        retries=end.retries,
        key_id=end.key_id,
    )


def rows_of(events: Iterable[ProxyEvent]) -> list[RequestRow]:
    """The rows of the events that end a request."""
    return [row_from_event(e.ts, e.payload) for e in events if isinstance(e.payload, RequestEnd)]


def week_start(now: float) -> float:
    """Monday 00:00 UTC of the week containing `now`: the same week a key's budget runs over."""
    return float(bounds("week", day_of(now))[0] * DAY_S)


def window_starts(now: float) -> dict[str, float]:
    """Start of each usage window: 1h, 4h, 8h and week (since Monday 00:00 UTC)."""
    starts = {name: now - seconds for name, seconds in USAGE_WINDOWS_S.items()}
    starts[WEEK_WINDOW] = week_start(now)
    return starts


def history_range(spec: HistorySpec, now: float) -> tuple[float, float]:
    """[first bucket start, end of the current bucket): the last bucket holds `now`."""
    current = math.floor(now / spec.bucket_s) * spec.bucket_s
    first = current - (spec.buckets - 1) * spec.bucket_s
    return float(first), float(current + spec.bucket_s)


def empty_point(ts: float) -> dict[str, Any]:
    return {
        "ts": ts,
        "requests": 0,
        "errors": 0,
        "input": 0,
        "output": 0,
        "total": 0,
        "avgTtftMs": None,
        "avgDurationMs": None,
    }


def fill_buckets(
    spec: HistorySpec, first: float, found: Mapping[float, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One point per bucket, oldest first; buckets with no requests are zeros."""
    points = []
    for index in range(spec.buckets):
        ts = first + index * spec.bucket_s
        point = empty_point(ts)
        point.update(found.get(ts, {}))
        point["total"] = point["input"] + point["output"]
        points.append(point)
    return points


def bucket_label(bound: float) -> str:
    return INF if math.isinf(bound) else format(bound, "g")


def histogram_increments(rows: Iterable[RequestRow]) -> dict[tuple[str, str], int]:
    """(metric, upper bound label) -> how many of `rows` fall in that (non-cumulative) bucket."""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        for metric, ms in (("ttft", row.ttft_ms), ("duration", row.duration_ms)):
            if ms is None:
                continue
            key = (metric, bucket_label(_bucket_of(ms / 1000, HISTOGRAMS[metric])))
            counts[key] = counts.get(key, 0) + 1
    return counts


def _bucket_of(seconds: float, bounds: tuple[float, ...]) -> float:
    return next((bound for bound in bounds if seconds <= bound), math.inf)


def cumulative(metric: str, counts: Mapping[str, int]) -> list[tuple[float, int]]:
    """(upper bound in seconds, cumulative count) per bucket, from per-bucket counts keyed by
    label (the database's key); the last bound is infinity."""
    running = 0
    buckets = []
    for bound in (*HISTOGRAMS[metric], math.inf):
        running += counts.get(bucket_label(bound), 0)
        buckets.append((bound, running))
    return buckets


def stale_reason(
    age_s: float, idle_s: float, max_age_ms: int, max_idle_ms: int, state: str = "running"
) -> str:
    """Why a CLI child counts as stale ('age' or 'idle'), or '' while it is healthy.

    A warm (`ready`) or `parked` process waits for a request: silence is its job, so it is
    never stale for idle (workerd recycles those by their own limits); its age still counts.
    """
    if age_s * 1000 > max_age_ms:
        return "age"
    if state not in IDLE_BY_DESIGN and idle_s * 1000 > max_idle_ms:
        return "idle"
    return ""
