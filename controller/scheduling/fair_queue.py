"""Pure fair queue: per-source FIFO (ordered by priority), true round-robin over sources.

Round-robin: `select` looks at the sources with waiting entries, least recently served first
(a source that was never served, or not since it last emptied and came back, before one served
after it), and serves the first that has an entry the caller accepts. A source's turn counts
even when its queue empties, so a source just served never goes again before another source
with eligible work, however the set of sources changes.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_LOW = 0, 1, 2
REMEMBERED_SOURCES = 10_000
_sequence = itertools.count()


class QueueFull(Exception):
    """No room: `scope` is "total" or "source"."""

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message)
        self.scope = scope


@dataclass(eq=False)
class QueueEntry(Generic[T]):
    """One waiting request; `item` is whatever the caller needs back."""

    source: str
    item: T
    enqueued_at: float
    deadline: float
    priority: int = PRIORITY_NORMAL
    seq: int = field(default_factory=lambda: next(_sequence))

    @property
    def order(self) -> tuple[int, int]:
        return (self.priority, self.seq)


def _order(entry: QueueEntry[T]) -> tuple[int, int]:
    return entry.order


class FairQueue(Generic[T]):
    """Bounded waiting room; no clock of its own, the caller passes `now`."""

    def __init__(self, max_total: int, max_per_source: int) -> None:
        self.max_total = max_total
        self.max_per_source = max_per_source
        self._sources: dict[str, list[QueueEntry[T]]] = {}
        self._last_turn: dict[str, int] = {}
        self._active_since: dict[str, int] = {}  # ties between never-served sources: arrival
        # Waiting sources by turn order, so a turn looks at the next source instead of sorting
        # them all; an entry whose source has emptied or been served since is skipped.
        self._round: list[tuple[tuple[int, int], str]] = []
        self._turns = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, entry: QueueEntry[T]) -> None:
        self.check_room(entry.source)
        self.add(entry)

    def check_room(self, source: str, extra: int = 0) -> None:
        """Raise QueueFull unless one more entry of `source` fits (`extra` already counted)."""
        if self._size - extra >= self.max_total:
            raise QueueFull("total", f"the queue is full ({self.max_total} waiting)")
        if len(self._sources.get(source, ())) - extra >= self.max_per_source:
            raise QueueFull("source", f"source queue is full ({self.max_per_source} waiting)")

    def add(self, entry: QueueEntry[T]) -> None:
        """Add without the caps: for a request that may still start at once."""
        waiting = self._sources.get(entry.source)
        if waiting is None:
            waiting = self._sources[entry.source] = []
            self._active_since[entry.source] = entry.seq
            self._join_round(entry.source)
        if waiting and entry.order < waiting[-1].order:
            bisect.insort(waiting, entry, key=_order)  # ahead of lower priorities (a retry)
        else:
            waiting.append(entry)  # the usual case: no sort of the whole source per arrival
        self._size += 1

    def remove(self, entry: QueueEntry[T]) -> bool:
        """Take an entry out (served elsewhere, cancelled or timed out); False if absent."""
        waiting = self._sources.get(entry.source)
        if not waiting:
            return False
        try:
            waiting.remove(entry)  # by identity, in C: no Python call per waiting entry
        except ValueError:
            return False
        self._size -= 1
        if not waiting:
            del self._sources[entry.source]
            del self._active_since[entry.source]
        return True

    def select(self, eligible: Callable[[QueueEntry[T]], bool]) -> QueueEntry[T] | None:
        """Remove and return the next entry in fair order that `eligible` accepts."""
        if len(self._round) > 2 * len(self._sources) + 64:
            self._round = [(self._turn_order(s), s) for s in self._sources]  # drop the stale
            heapq.heapify(self._round)
        passed: list[tuple[tuple[int, int], str]] = []  # looked at, nothing eligible: keep place
        try:
            while self._round:
                turn, source = heapq.heappop(self._round)
                if source not in self._sources or turn != self._turn_order(source):
                    continue  # emptied, served or back anew since this was queued
                entry = next((e for e in self._sources[source] if eligible(e)), None)
                if entry is None:
                    passed.append((turn, source))
                    continue
                self._serve(source, entry)
                return entry
            return None
        finally:
            for item in passed:
                heapq.heappush(self._round, item)

    def _serve(self, source: str, entry: QueueEntry[T]) -> None:
        self.remove(entry)
        self._last_turn.pop(source, None)  # re-insert: the dict stays in turn order
        self._last_turn[source] = next(self._turns)
        if source in self._sources:
            self._join_round(source)  # behind every source served before
        self._forget_idle_sources()

    def _join_round(self, source: str) -> None:
        heapq.heappush(self._round, (self._turn_order(source), source))

    def _turn_order(self, source: str) -> tuple[int, int]:
        return (self._last_turn.get(source, -1), self._active_since[source])

    def _forget_idle_sources(self) -> None:
        """Bound the memory of turns: the longest-idle sources are forgotten first.

        A forgotten source that comes back counts as new; it has been idle for at least
        REMEMBERED_SOURCES turns of others, so its place in the round barely matters.
        """
        excess = len(self._last_turn) - REMEMBERED_SOURCES
        if excess <= 0:
            return  # the usual case: no copy of every remembered source per turn
        for source in list(self._last_turn):
            if excess <= 0:
                break
            if source not in self._sources:
                del self._last_turn[source]
                excess -= 1

    def expired(self, now: float) -> list[QueueEntry[T]]:
        """Remove and return entries whose deadline has passed."""
        late = [entry for entry in self if entry.deadline <= now]
        for entry in late:
            self.remove(entry)
        return late

    def next_deadline(self) -> float | None:
        return min((entry.deadline for entry in self), default=None)

    def __iter__(self) -> Iterator[QueueEntry[T]]:
        for waiting in list(self._sources.values()):
            yield from list(waiting)

    def depth_by_source(self) -> dict[str, int]:
        return {source: len(waiting) for source, waiting in self._sources.items()}
