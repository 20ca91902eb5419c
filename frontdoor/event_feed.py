"""Reads a completion's event stream in an owned task, so waits can time out safely."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable

from common.errors import make_error
from protos import common_pb2 as pb

_END = None


class EventFeed:
    """Events from the controller, read ahead by one task; `None` marks the end."""

    def __init__(self, events: AsyncIterable[pb.Event]) -> None:
        self._queue: asyncio.Queue[pb.Event | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump(events))

    async def _pump(self, events: AsyncIterable[pb.Event]) -> None:
        try:
            async for event in events:
                self._queue.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken stream must still end the response cleanly
            self._queue.put_nowait(
                make_error(pb.INTERNAL, f"event stream failed: {type(exc).__name__}")
            )
        finally:
            self._queue.put_nowait(_END)

    async def next(self, within_s: float | None = None) -> pb.Event | None:
        """The next event, None at the end; raises TimeoutError when nothing came in time."""
        return await asyncio.wait_for(self._queue.get(), within_s)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
