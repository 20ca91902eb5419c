"""The controller's event log: every scheduling decision, in a bounded ring, fanned out live.

Sinks (the accounting database) see every logged event; `restore` reloads the persisted tail
at start-up so ids continue. Live-only events (`publish_live`, id 0: streamed text chunks) go
to subscribers that asked for them and are neither logged nor persisted. What an event says is
typed (controller/events/kinds.py); its JSON is worked out once, when it is emitted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from controller.events.kinds import Event, decode

logger = logging.getLogger(__name__)
EVENT_LOG_SIZE = 5000
"""Events kept in memory and in the database (the rest of the log is dropped, oldest first)."""
RING_SIZE = EVENT_LOG_SIZE
SUBSCRIBER_BUFFER = 1000
_DECODE: Any = object()  # `payload` not given: decode it from `data`


@dataclass(frozen=True)
class ProxyEvent:
    """One event as the log keeps it: id (0: live only), kind, time, its JSON `data` (as
    persisted and sent) and `payload`, the typed event, decoded from `data` unless given."""

    id: int
    type: str
    ts: float
    data: dict[str, Any]
    payload: Event = field(default=_DECODE, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.payload is _DECODE:  # a persisted row: its data stays as it was written
            object.__setattr__(self, "payload", decode(self.type, self.data))

    @classmethod
    def of(cls, event_id: int, event: Event) -> ProxyEvent:
        """A new event, now."""
        return cls(event_id, event.kind, time.time(), event.to_json(), event)


class EventBus:
    """Append-only in memory; subscribers that fall behind lose events rather than block us."""

    def __init__(self, ring_size: int = RING_SIZE) -> None:
        self._ring: deque[ProxyEvent] = deque(maxlen=ring_size)
        self._ids = itertools.count(1)
        self._subscribers: set[asyncio.Queue[ProxyEvent]] = set()
        self._live: set[asyncio.Queue[ProxyEvent]] = set()
        self.counts: dict[str, int] = {}
        self.sinks: list[Callable[[ProxyEvent], None]] = []
        self.last_id = 0

    def restore(self, events: Iterable[ProxyEvent], counts: dict[str, int], last_id: int) -> None:
        """Start from a persisted log: its tail, its counts, ids continuing after `last_id`."""
        self._ring.extend(events)
        self.counts = dict(counts)
        self.last_id = max(last_id, self.last_id)
        self._ids = itertools.count(self.last_id + 1)

    def emit(self, what: Event) -> ProxyEvent:
        event = ProxyEvent.of(next(self._ids), what)
        kind = event.type
        self.last_id = event.id
        self._ring.append(event)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        for sink in self.sinks:
            sink(event)
        for queue in self._subscribers:
            if queue.full():
                continue
            queue.put_nowait(event)
        logger.debug("event %s %s", kind, event.data)
        return event

    def recent(self, since_id: int = 0, limit: int = 100, kind: str = "") -> list[ProxyEvent]:
        picked = [e for e in self._ring if e.id > since_id and (not kind or e.type == kind)]
        return picked[-limit:] if limit > 0 else []

    @property
    def wants_live(self) -> bool:
        """Someone listens for live-only events: only then are they worth building."""
        return bool(self._live)

    def publish_live(self, what: Event) -> None:
        """An event for live subscribers only (id 0): not logged, not persisted, not counted."""
        event = ProxyEvent.of(0, what)
        for queue in self._live:
            if not queue.full():
                queue.put_nowait(event)

    def subscribe(self, live: bool = False) -> asyncio.Queue[ProxyEvent]:
        queue: asyncio.Queue[ProxyEvent] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._subscribers.add(queue)
        if live:
            self._live.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ProxyEvent]) -> None:
        self._subscribers.discard(queue)
        self._live.discard(queue)
