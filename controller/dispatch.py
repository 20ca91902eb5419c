"""Admission and dispatch of one completion: wait for a slot, pick a worker, relay its events.

Exceptions raised inside and turned into error events here:

    DispatchError           carries the ErrorCode the client will see
     +-- (QUEUE_FULL, QUEUE_TIMEOUT, NO_WORKER_CONFIGURED, NO_WORKER_AVAILABLE)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from common.errors import make_error
from common.workers import NO_WORKER_HINT
from controller.config import ControllerConfig
from controller.routing import RoundRobin
from controller.worker_client import WorkerUnavailable
from controller.worker_pool import WorkerHandle, WorkerPool
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)


class DispatchError(Exception):
    """A request that cannot be dispatched; becomes an error event."""

    def __init__(self, code: int, message: str, retry_after_ms: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms

    def event(self) -> pb.Event:
        return make_error(self.code, self.message, retry_after_ms=self.retry_after_ms)


class Dispatcher:
    """Global concurrency cap, a bounded wait for capacity, round-robin choice, event relay."""

    def __init__(self, config: ControllerConfig, pool: WorkerPool) -> None:
        self._config = config
        self._pool = pool
        self._round_robin = RoundRobin()
        self._changed = asyncio.Condition()
        self.in_flight = 0
        self.waiting = 0

    async def notify(self) -> None:
        """Capacity or health changed: let waiting requests look again."""
        async with self._changed:
            self._changed.notify_all()

    async def complete(self, request: pb.ChatRequest) -> AsyncIterator[pb.Event]:
        try:
            handle = await self._admit()
        except DispatchError as exc:
            logger.info("request rejected: %s", exc.message)
            yield exc.event()
            return
        try:
            yield pb.Event(
                started=pb.Started(worker=handle.spec.name, mode=handle.spec.mode, attempt=1)
            )
            async for event in self._relay(handle, request):
                yield event
        finally:
            handle.in_flight -= 1
            self.in_flight -= 1
            await self.notify()

    async def _admit(self) -> WorkerHandle:
        if not self._pool.handles:
            raise DispatchError(pb.NO_WORKER_CONFIGURED, NO_WORKER_HINT, 30_000)
        if self.waiting >= self._config.max_queue_total:
            raise DispatchError(pb.QUEUE_FULL, "the request queue is full; retry shortly", 5_000)
        deadline = time.monotonic() + self._config.queue_timeout_ms / 1000
        self.waiting += 1
        try:
            async with self._changed:
                while (handle := self._try_reserve()) is None:
                    await self._wait_for_change(deadline)
            return handle
        finally:
            self.waiting -= 1

    def _try_reserve(self) -> WorkerHandle | None:
        if self.in_flight >= self._config.max_concurrent:
            return None
        handles = self._pool.handles.values()
        if all(h.seen_up and not h.up for h in handles):
            raise DispatchError(
                pb.NO_WORKER_AVAILABLE, "every worker is down; retry shortly", 5_000
            )
        name = self._round_robin.pick(self._pool.views())
        if name is None:
            return None
        handle = self._pool.handles[name]
        handle.in_flight += 1
        handle.requests += 1
        self.in_flight += 1
        return handle

    async def _wait_for_change(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            await asyncio.wait_for(self._changed.wait(), remaining)
        except TimeoutError:
            waited = self._config.queue_timeout_ms
            raise DispatchError(
                pb.QUEUE_TIMEOUT, f"no capacity within the queue timeout ({waited} ms)", 5_000
            ) from None

    async def _relay(
        self, handle: WorkerHandle, request: pb.ChatRequest
    ) -> AsyncIterator[pb.Event]:
        try:
            async for event in handle.client.run(request, attempt=1):
                if event.HasField("error"):
                    self._note_error(handle, event.error)
                yield event
        except WorkerUnavailable as exc:
            self._pool.mark_down(handle.spec.name, str(exc))
            error = make_error(pb.WORKER_CRASHED, f"worker {handle.spec.name} became unavailable")
            self._note_error(handle, error.error)
            yield error

    @staticmethod
    def _note_error(handle: WorkerHandle, error: pb.Error) -> None:
        handle.errors += 1
        handle.last_error = f"{pb.ErrorCode.Name(error.code)}: {error.message[:200]}"
