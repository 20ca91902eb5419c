"""Pure: each key's usage per UTC day, and its day, week and month totals, in memory.

Budgets are decided from here (no database read per request): the controller loads the recent
days at start and adds every finished request as its `complete`/`error` event is emitted. A
period's total is kept as requests finish and summed again from the days only when the period
has moved on, so a request costs the same however many keys or days there are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

from common.prices import request_cost_usd
from controller.keys.periods import PERIODS, bounds, day_of
from protos import keys_pb2

KEPT_DAYS = 62
"""Days kept in memory: a month's budget and GetKeyUsage's 31 days need no more."""


@dataclass(slots=True)
class Counts:
    """Requests and tokens of one key over some time; cost in estimated dollars."""

    requests: int = 0
    input_tokens: int = 0  # uncached input
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    errors: int = 0
    cost_usd: float = 0.0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def tokens(self) -> int:
        """What token budgets count: input, output, cache reads and writes, as the upstream
        counts them."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + (self.cache_write_tokens)
        )

    def to_pb(self) -> keys_pb2.KeyUsage:
        return keys_pb2.KeyUsage(
            requests=self.requests,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            errors=self.errors,
            cost_usd=round(self.cost_usd, 6),
        )

    @classmethod
    def of_request(
        cls,
        status: str,
        mode: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
    ) -> Counts:
        """One finished request: its tokens, an error unless ok, its cost on an api worker."""
        cost = request_cost_usd(
            mode, model, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens
        )
        return cls(
            1,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            int(status != "ok"),
            cost,
        )


@dataclass(slots=True)
class _Total:
    start: int  # the period's first day
    end: int
    counts: Counts


class UsageBook:
    """key id -> day -> Counts, with each key's period totals kept up to date."""

    def __init__(self) -> None:
        self._days: dict[str, dict[int, Counts]] = {}
        self._totals: dict[tuple[str, str], _Total] = {}

    def add(self, key_id: str, day: int, counts: Counts) -> None:
        days = self._days.setdefault(key_id, {})
        days.setdefault(day, Counts()).add(counts)
        for period in PERIODS:
            total = self._totals.get((key_id, period))
            if total is not None and total.start <= day < total.end:
                total.counts.add(counts)
        if len(days) > KEPT_DAYS + 7:
            for old in sorted(days)[: len(days) - KEPT_DAYS]:
                del days[old]

    def period(self, key_id: str, period: str, now: float) -> Counts:
        """The key's usage in the `period` (day, week, month) holding `now`."""
        if key_id not in self._days:
            return Counts()  # never used (most of many keys): nothing to keep
        start, end = bounds(period, day_of(now))
        total = self._totals.get((key_id, period))
        if total is None or total.start != start:
            counts = Counts()
            for day, day_counts in self._days.get(key_id, {}).items():
                if start <= day < end:
                    counts.add(day_counts)
            total = self._totals[(key_id, period)] = _Total(start, end, counts)
        return total.counts

    def used(self, key_id: str) -> bool:
        return key_id in self._days

    def keys_since(self, first: int) -> set[str]:
        """The keys with traffic on `first` or a later day."""
        return {key_id for key_id, days in self._days.items() if max(days) >= first}

    def days(self, key_id: str, first: int) -> Iterator[tuple[int, Counts]]:
        """The key's days from `first` on that had traffic, oldest first."""
        days = self._days.get(key_id, {})
        for day in sorted(d for d in days if d >= first):
            yield day, days[day]
