"""Pure fair queue: per-source FIFO (ordered by priority), true round-robin over sources.

Round-robin: sources with waiting entries sit in a ring in the order they last got a turn.
`select` walks the ring from the front and serves the first source that has an entry the
caller accepts; that source then moves to the back. Every other source with eligible work is
therefore served before the same source again, however the set of sources changes.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_LOW = 0, 1, 2
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


class FairQueue(Generic[T]):
    """Bounded waiting room; no clock of its own, the caller passes `now`."""

    def __init__(self, max_total: int, max_per_source: int) -> None:
        self.max_total = max_total
        self.max_per_source = max_per_source
        self._sources: OrderedDict[str, list[QueueEntry[T]]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, entry: QueueEntry[T]) -> None:
        if self._size >= self.max_total:
            raise QueueFull("total", f"the queue is full ({self.max_total} waiting)")
        waiting = self._sources.get(entry.source, [])
        if len(waiting) >= self.max_per_source:
            raise QueueFull("source", f"source queue is full ({self.max_per_source} waiting)")
        waiting.append(entry)
        waiting.sort(key=lambda e: e.order)  # stable FIFO within a priority
        self._sources.setdefault(entry.source, waiting)
        self._size += 1

    def remove(self, entry: QueueEntry[T]) -> bool:
        """Take an entry out (served elsewhere, cancelled or timed out); False if absent."""
        waiting = self._sources.get(entry.source)
        if not waiting or entry not in waiting:
            return False
        waiting.remove(entry)
        self._size -= 1
        if not waiting:
            del self._sources[entry.source]
        return True

    def select(self, eligible: Callable[[QueueEntry[T]], bool]) -> QueueEntry[T] | None:
        """Remove and return the next entry in fair order that `eligible` accepts."""
        for source in list(self._sources):
            for entry in self._sources[source]:
                if eligible(entry):
                    self.remove(entry)
                    if source in self._sources:
                        self._sources.move_to_end(source)
                    return entry
        return None

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
