"""The controller's event log: every scheduling decision, in a bounded ring, fanned out live.

Sinks (the accounting database) see every logged event; `restore` reloads the persisted tail
at start-up so ids continue. Live-only events (`publish_live`, id 0: streamed text chunks) go
to subscribers that asked for them and are neither logged nor persisted. What an event says is
typed (controller/events/kinds.py); its JSON is worked out once, when it is emitted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from controller.events.kinds import Event, decode
from protos import controller_pb2

logger = logging.getLogger(__name__)
EVENT_LOG_SIZE = 5000
"""Events kept in memory and in the database (the rest of the log is dropped, oldest first)."""
RING_SIZE = EVENT_LOG_SIZE
SUBSCRIBER_BUFFER = 1000
"""Events a subscriber may fall behind by before it loses the oldest of them."""
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

    @cached_property
    def proto(self) -> controller_pb2.ProxyEvent:
        """The event on the wire (ListEvents, WatchEvents), built once however many
        subscribers it goes to; nobody changes it once built."""
        return controller_pb2.ProxyEvent(
            id=self.id, type=self.type, ts=self.ts, data_json=json.dumps(self.data)
        )


class Feed:
    """The last `size` events for one kind of subscriber, shared by all of them: an event is
    appended once whatever the number of readers, each reader keeps only its place."""

    def __init__(self, size: int) -> None:
        self.events: deque[ProxyEvent] = deque(maxlen=size)
        self.fed = 0  # events ever appended: the place just after the newest
        self.readers = 0
        self._arrived: asyncio.Event | None = None  # made by the first reader that waits
        self._waking = False

    def append(self, event: ProxyEvent) -> None:
        if not self.readers:
            return  # nobody could read it
        self.events.append(event)
        self.fed += 1
        if self._arrived is not None and not self._waking:
            # Readers wake on the loop's next turn, once for all the events appended until then:
            # the emitter pays one call, not one per reader.
            self._waking = True
            asyncio.get_running_loop().call_soon(self._wake)

    def _wake(self) -> None:
        self._waking = False
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None

    def at(self, place: int) -> ProxyEvent:
        """The event at `place` (fed - len(events) <= place < fed)."""
        return self.events[place - (self.fed - len(self.events))]

    async def arrival(self) -> None:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        await self._arrived.wait()


class Subscription:
    """One subscriber's place in a Feed (the asyncio.Queue calls its readers use: `get`,
    `get_nowait`, `empty`). A subscriber more than the feed's size behind loses the oldest
    events it had not read (counted in `missed`) rather than hold the bus up."""

    def __init__(self, feed: Feed, live: bool) -> None:
        self.feed = feed
        self.live = live
        self.place = feed.fed
        self.missed = 0
        self.closed = False

    def empty(self) -> bool:
        return self.place >= self.feed.fed

    def get_nowait(self) -> ProxyEvent:
        feed = self.feed
        if self.place >= feed.fed:
            raise asyncio.QueueEmpty
        oldest = feed.fed - len(feed.events)
        if self.place < oldest:
            self.missed += oldest - self.place
            self.place = oldest
        event = feed.at(self.place)
        self.place += 1
        return event

    async def get(self) -> ProxyEvent:
        while self.empty():
            await self.feed.arrival()
        return self.get_nowait()


class EventBus:
    """Append-only in memory; subscribers that fall behind lose events rather than block us.

    Subscribers read two shared feeds (logged events; logged and live-only ones), so an event
    costs the same whatever the number of subscribers (issue 21, item 11)."""

    def __init__(self, ring_size: int = RING_SIZE) -> None:
        self._ring: deque[ProxyEvent] = deque(maxlen=ring_size)
        self._ids = itertools.count(1)
        self._logged = Feed(SUBSCRIBER_BUFFER)
        self._live = Feed(SUBSCRIBER_BUFFER)
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
        self._logged.append(event)
        self._live.append(event)
        logger.debug("event %s %s", kind, event.data)
        return event

    def recent(self, since_id: int = 0, limit: int = 100, kind: str = "") -> list[ProxyEvent]:
        picked = [e for e in self._ring if e.id > since_id and (not kind or e.type == kind)]
        return picked[-limit:] if limit > 0 else []

    @property
    def wants_live(self) -> bool:
        """Someone listens for live-only events: only then are they worth building."""
        return bool(self._live.readers)

    @property
    def subscribers(self) -> int:
        return self._logged.readers + self._live.readers

    def publish_live(self, what: Event) -> None:
        """An event for live subscribers only (id 0): not logged, not persisted, not counted."""
        if self._live.readers:
            self._live.append(ProxyEvent.of(0, what))

    def subscribe(self, live: bool = False) -> Subscription:
        feed = self._live if live else self._logged
        feed.readers += 1
        return Subscription(feed, live)

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.closed:
            return  # counted out once, however often it is unsubscribed
        subscription.closed = True
        feed = subscription.feed
        feed.readers -= 1
        if not feed.readers:
            feed.events.clear()  # kept for readers only; `fed` goes on counting
