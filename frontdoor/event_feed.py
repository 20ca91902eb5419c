"""Read-ahead of a stream from the controller in an owned task, so waits can time out safely:
a completion's events (EventFeed) or the event log's live feed (/stream)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Callable
from typing import Generic, TypeVar

from common.errors import make_error
from frontdoor.shutdown import Shutdown
from protos import common_pb2 as pb

T = TypeVar("T")
READ_AHEAD = 256


class ReadAhead(Generic[T]):
    """Items of `source`, read ahead by one task into a bounded queue; `None` marks the end.

    The bound is the point: a slow reader slows the gRPC stream (flow control reaches the
    sender) instead of this process buffering everything in memory. A source that fails ends
    with `on_error(exc)` when given, else it just ends.
    """

    def __init__(
        self,
        source: AsyncIterable[T],
        size: int = READ_AHEAD,
        on_error: Callable[[Exception], T] | None = None,
    ) -> None:
        self._queue: asyncio.Queue[T | None] = asyncio.Queue(size)
        self._on_error = on_error
        self._task = asyncio.get_running_loop().create_task(self._pump(source))

    async def _pump(self, source: AsyncIterable[T]) -> None:
        try:
            async for item in source:
                await self._queue.put(item)
        except asyncio.CancelledError:
            raise  # the reader is gone: nobody waits for the end marker
        except Exception as exc:  # a broken stream must still end its reader cleanly
            if self._on_error is not None:
                await self._queue.put(self._on_error(exc))
        await self._queue.put(None)

    async def next(self, within_s: float | None = None) -> T | None:
        """The next item, None at the end; raises TimeoutError when nothing came in time."""
        return await asyncio.wait_for(self._queue.get(), within_s)

    def cut(self, last: T) -> None:
        """Stop reading: what was not delivered yet is dropped, `last` is the last item."""
        self._stop_reading()
        self._queue.put_nowait(last)
        self._queue.put_nowait(None)

    def end(self) -> None:
        """Stop reading: what was not delivered yet is dropped, the reader gets the end."""
        self._stop_reading()
        self._queue.put_nowait(None)

    def _stop_reading(self) -> None:
        self._task.cancel()
        while not self._queue.empty():
            self._queue.get_nowait()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _stream_failed(exc: Exception) -> pb.Event:
    return make_error(pb.INTERNAL, f"event stream failed: {type(exc).__name__}")


class EventFeed(ReadAhead[pb.Event]):
    """A completion's events; cut with an error event when the frontdoor stops (shutdown.py)."""

    def __init__(self, events: AsyncIterable[pb.Event], shutdown: Shutdown | None = None) -> None:
        super().__init__(events, READ_AHEAD, _stream_failed)
        self._shutdown = shutdown
        if shutdown is not None:
            shutdown.register(self)

    async def close(self) -> None:
        if self._shutdown is not None:
            self._shutdown.unregister(self)
        await super().close()
