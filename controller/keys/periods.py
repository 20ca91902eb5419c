"""Pure: the UTC periods budgets run over, as day numbers (days since 1970-01-01, UTC).

A day runs from 00:00 UTC, a week from Monday 00:00 UTC (ISO), a month from its first day at
00:00 UTC; a budget renews when its next period starts.
"""

from __future__ import annotations

import datetime
import functools

DAY_S = 86_400
PERIODS = ("day", "week", "month")
_EPOCH = datetime.date(1970, 1, 1)
_THURSDAY = 3  # 1970-01-01 was a Thursday: Monday is 0


def day_of(ts: float) -> int:
    """The UTC day `ts` (unix seconds) falls on."""
    return int(ts // DAY_S)


def day_name(day: int) -> str:
    """YYYY-MM-DD."""
    return (_EPOCH + datetime.timedelta(days=day)).isoformat()


def day_from_name(name: str) -> int:
    return (datetime.date.fromisoformat(name) - _EPOCH).days


@functools.lru_cache(maxsize=64)
def bounds(period: str, day: int) -> tuple[int, int]:
    """[first day, first day of the next period) of the `period` holding `day`."""
    if period == "day":
        return day, day + 1
    if period == "week":
        start = day - (day + _THURSDAY) % 7
        return start, start + 7
    if period == "month":
        date = _EPOCH + datetime.timedelta(days=day)
        first = date.replace(day=1)
        following = (first + datetime.timedelta(days=32)).replace(day=1)
        return (first - _EPOCH).days, (following - _EPOCH).days
    raise ValueError(f"no period {period!r}")


def renews_at(period: str, now: float) -> float:
    """Unix seconds when the `period` holding `now` ends (its budget renews)."""
    return float(bounds(period, day_of(now))[1] * DAY_S)


def iso_utc(ts: float) -> str:
    """2025-01-06T00:00:00Z."""
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
