"""Read-ahead of a stream from the controller in an owned task, so waits can time out safely:
a completion's events (EventFeed) or the event log's live feed (/stream)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterable, Callable, Sequence
from typing import Generic, TypeVar

from common.errors import make_error
from common.events import unbatched
from frontdoor.shutdown import Shutdown
from protos import common_pb2 as pb

T = TypeVar("T")
READ_AHEAD = 256


class ReadAhead(Generic[T]):
    """Items of `source`, read ahead by one task into a bounded buffer; `None` marks the end.

    The bound is the point: a slow reader slows the gRPC stream (flow control reaches the
    sender) instead of this process buffering everything in memory. A source that fails ends
    with `on_error(exc)` when given, else it just ends.

    The buffer is a deque with at most one waiter on each side rather than an asyncio.Queue,
    and a wait with a time limit is a timer on that waiter rather than asyncio.wait_for (a task
    per wait in Python 3.11): every event of every answer passes through here.
    """

    def __init__(
        self,
        source: AsyncIterable[T],
        size: int = READ_AHEAD,
        on_error: Callable[[Exception], T] | None = None,
        expand: Callable[[T], Sequence[T]] | None = None,
    ) -> None:
        self._items: deque[T | None] = deque()
        self._size = size
        self._reader: asyncio.Future[None] | None = None  # next() waiting for an item
        self._room: asyncio.Future[None] | None = None  # the pump waiting for room
        self._on_error = on_error
        self._expand = expand  # an item that stands for several (a batch of events)
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._pump(source))

    async def _pump(self, source: AsyncIterable[T]) -> None:
        try:
            async for item in source:
                if len(self._items) >= self._size:
                    await self._wait_for_room()
                if self._expand is None:
                    self._push(item)
                else:
                    for one in self._expand(item):
                        self._push(one)
        except asyncio.CancelledError:
            raise  # the reader is gone: nobody waits for the end marker
        except Exception as exc:  # a broken stream must still end its reader cleanly
            if self._on_error is not None:
                self._push(self._on_error(exc))
        self._push(None)

    def _push(self, item: T | None) -> None:
        self._items.append(item)
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def _wait_for_room(self) -> None:
        self._room = self._loop.create_future()
        await self._room

    async def next(self, within_s: float | None = None) -> T | None:
        """The next item, None at the end; raises TimeoutError when nothing came in time."""
        if not self._items:
            await self._wait_for_item(within_s)
        item = self._items.popleft()
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)
        return item

    def ready(self) -> list[T | None]:
        """Every item read ahead and not delivered yet, taken without waiting (the end marker
        among them, as the last, once the source ended)."""
        items = list(self._items)
        self._items.clear()
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)
        return items

    async def _wait_for_item(self, within_s: float | None) -> None:
        if within_s is not None and within_s <= 0:
            raise TimeoutError
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._reader = waiter
        timer = None if within_s is None else self._loop.call_later(within_s, _expire, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if self._reader is waiter:
                self._reader = None

    @property
    def buffered(self) -> int:
        """Items read ahead and not delivered yet (the end marker included)."""
        return len(self._items)

    def cut(self, last: T) -> None:
        """Stop reading: what was not delivered yet is dropped, `last` is the last item."""
        self._stop_reading()
        self._push(last)
        self._push(None)

    def end(self) -> None:
        """Stop reading: what was not delivered yet is dropped, the reader gets the end."""
        self._stop_reading()
        self._push(None)

    def _stop_reading(self) -> None:
        self._task.cancel()
        self._items.clear()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _expire(waiter: asyncio.Future[None]) -> None:
    """A wait's time limit: the waiter fails unless an item woke it first."""
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _stream_failed(exc: Exception) -> pb.Event:
    return make_error(pb.INTERNAL, f"event stream failed: {type(exc).__name__}")


class EventFeed(ReadAhead[pb.Event]):
    """A completion's events; cut with an error event when the frontdoor stops (shutdown.py)."""

    def __init__(self, events: AsyncIterable[pb.Event], shutdown: Shutdown | None = None) -> None:
        super().__init__(events, READ_AHEAD, _stream_failed, unbatched)
        self._shutdown = shutdown
        self.started: pb.Started | None = None
        """The call's Started event once its reader saw it (its key limits become headers)."""
        if shutdown is not None:
            shutdown.register(self)

    async def close(self) -> None:
        if self._shutdown is not None:
            self._shutdown.unregister(self)
        await super().close()
