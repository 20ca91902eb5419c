"""Writes the database could not take yet: kept in memory (bounded), retried with backoff.

Pure, with the time passed in. `Backlog` holds the items waiting for a write, oldest first, at
most `ceiling` of them: past it the oldest are dropped and counted, so a database that stays
locked or full costs a known amount of memory, never the process. `StorageHealth` says whether
the database takes writes and, while it does not, since when, why, and when to try again: the
delays double from `Backoff.first_s` up to `Backoff.max_s`, so a lock held for a moment is
retried at once and a full disk is not hammered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
OK = "ok"
BACKLOG_MAX = 20_000  # events: a few thousand requests' worth, some tens of MB at most
DEGRADED = "degraded"


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.25
    max_s: float = 10.0

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row (1 is the first)."""
        if failures <= 0:
            return 0.0
        return float(min(self.max_s, self.first_s * 2 ** min(failures - 1, 32)))


class Backlog(Generic[T]):
    """Items waiting to be written, oldest first; never more than `ceiling`."""

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError("a backlog needs room for at least one item")
        self.ceiling = ceiling
        self.dropped = 0
        """Items dropped since start because the ceiling was reached."""
        self._items: deque[T] = deque(maxlen=ceiling)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T) -> None:
        if len(self._items) == self.ceiling:
            self.dropped += 1  # the deque drops its oldest to make room
        self._items.append(item)

    def take(self) -> list[T]:
        """Everything waiting, for one write; `put_back` what it could not write."""
        items = list(self._items)
        self._items.clear()
        return items

    def put_back(self, items: Iterable[T]) -> int:
        """Return a failed write's items ahead of those added since; how many no longer fit."""
        combined = [*items, *self._items]
        excess = max(0, len(combined) - self.ceiling)
        self.dropped += excess
        self._items = deque(combined[excess:], maxlen=self.ceiling)
        return excess


class StorageHealth:
    """Whether the database takes writes, from the outcome of each attempt."""

    def __init__(self, backoff: Backoff = Backoff()) -> None:
        self.backoff = backoff
        self.failures = 0
        """Failed attempts in a row; 0 while the database takes writes."""
        self.failing_since = 0.0
        self.last_error = ""
        self.retry_at = 0.0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    @property
    def state(self) -> str:
        return DEGRADED if self.failing else OK

    def failed(self, error: str, now: float) -> bool:
        """Note a failed write; True when it is the first of a run (worth one log line)."""
        first = not self.failing
        if first:
            self.failing_since = now
        self.failures += 1
        self.last_error = error
        self.retry_at = now + self.backoff.delay(self.failures)
        return first

    def succeeded(self, now: float) -> float | None:
        """Note a write that went through; how long storage had been failing, None if it was
        not."""
        if not self.failing:
            return None
        failed_for = now - self.failing_since
        self.failures = 0
        self.failing_since = 0.0
        self.retry_at = 0.0
        return failed_for

    def retry_in(self, now: float) -> float:
        """Seconds until the next attempt is due (0: now)."""
        return max(0.0, self.retry_at - now)
