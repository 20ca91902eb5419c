"""Reads a completion's event stream in an owned task, so waits can time out safely."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable

from common.errors import make_error
from frontdoor.shutdown import Shutdown
from protos import common_pb2 as pb

_END = None
READ_AHEAD = 256


class EventFeed:
    """Events from the controller, read ahead by one task; `None` marks the end.

    The read-ahead is bounded: a slow client slows the gRPC stream (flow control reaches the
    worker) instead of the frontdoor buffering a whole answer in memory.
    """

    def __init__(self, events: AsyncIterable[pb.Event], shutdown: Shutdown | None = None) -> None:
        self._queue: asyncio.Queue[pb.Event | None] = asyncio.Queue(READ_AHEAD)
        self._task = asyncio.get_running_loop().create_task(self._pump(events))
        self._shutdown = shutdown
        if shutdown is not None:
            shutdown.register(self)

    async def _pump(self, events: AsyncIterable[pb.Event]) -> None:
        try:
            async for event in events:
                await self._queue.put(event)
        except asyncio.CancelledError:
            raise  # the reader is gone: nobody waits for the end marker
        except Exception as exc:  # a broken stream must still end the response cleanly
            await self._queue.put(
                make_error(pb.INTERNAL, f"event stream failed: {type(exc).__name__}")
            )
        await self._queue.put(_END)

    async def next(self, within_s: float | None = None) -> pb.Event | None:
        """The next event, None at the end; raises TimeoutError when nothing came in time."""
        return await asyncio.wait_for(self._queue.get(), within_s)

    def cut(self, error: pb.Event) -> None:
        """Stop reading: what was not delivered yet is dropped, `error` is the last event."""
        self._task.cancel()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(error)
        self._queue.put_nowait(_END)

    async def close(self) -> None:
        if self._shutdown is not None:
            self._shutdown.unregister(self)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
