"""The controller's event log: every scheduling decision, in a bounded ring, fanned out live."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)
RING_SIZE = 2000
SUBSCRIBER_BUFFER = 1000


@dataclass(frozen=True)
class ProxyEvent:
    id: int
    type: str
    ts: float
    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "type": self.type, "ts": self.ts, "data": self.data})


class EventBus:
    """Append-only in memory; subscribers that fall behind lose events rather than block us."""

    def __init__(self, ring_size: int = RING_SIZE) -> None:
        self._ring: deque[ProxyEvent] = deque(maxlen=ring_size)
        self._ids = itertools.count(1)
        self._subscribers: set[asyncio.Queue[ProxyEvent]] = set()
        self.counts: dict[str, int] = {}

    def emit(self, kind: str, **data: Any) -> ProxyEvent:
        event = ProxyEvent(next(self._ids), kind, time.time(), data)
        self._ring.append(event)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        for queue in self._subscribers:
            if queue.full():
                continue
            queue.put_nowait(event)
        logger.debug("event %s %s", kind, data)
        return event

    def recent(self, since_id: int = 0, limit: int = 100, kind: str = "") -> list[ProxyEvent]:
        picked = [e for e in self._ring if e.id > since_id and (not kind or e.type == kind)]
        return picked[-limit:] if limit > 0 else []

    def subscribe(self) -> asyncio.Queue[ProxyEvent]:
        queue: asyncio.Queue[ProxyEvent] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ProxyEvent]) -> None:
        self._subscribers.discard(queue)
