"""SSE delivery of one call: headers only once output exists, errors never disguised.

Before the first output, a failure is still an HTTP error status. After it (or after
STREAM_COMMIT_MS of silence, when the 200 is committed to keep the client waiting), a failure
is an SSE error event in the door's shape (OpenAI: `data: {"error": ...}` then `[DONE]`).
Each door renders the events with its own SseWriter; the driver (stream_events) is shared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from common.errors import make_error
from common.events import is_output
from frontdoor.core.errors import ApiError
from frontdoor.core.event_feed import EventFeed
from frontdoor.state import CONFIG
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)
KEEPALIVE_S = 15.0
WRITE_TIMEOUT_S = 30.0  # a client that reads nothing for this long is dropped


class ClientGone(Exception):
    """The client closed its connection or stopped reading: the answer is abandoned."""


async def write_or_drop(
    request: web.Request, response: web.StreamResponse, data: bytes, last: bool = False
) -> None:
    """Write to a stream (`last`: and end it); a client that stopped reading for
    WRITE_TIMEOUT_S is dropped (its connection aborted, so nothing queued for it is kept) and
    raises ClientGone."""
    write = response.write_eof if last else response.write
    try:
        if _cannot_block(request, data):
            await write(data)  # no timer to arm and cancel for each event
            return
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await write(data)
    except TimeoutError:
        logger.info("dropping a stream client that stopped reading")
        if request.transport is not None:
            request.transport.abort()
        raise ClientGone from None
    except ConnectionError:
        raise ClientGone from None


FRAMING_BYTES = 32
"""What chunked encoding adds around a write, at most (its size line and CRLFs)."""


def _cannot_block(request: web.Request, data: bytes) -> bool:
    """A write waits only while the transport has paused writing (its buffer went above the
    high-water mark). When it is not paused and `data` cannot take its buffer there, the write
    returns at once, and needs no time limit."""
    transport = request.transport
    if transport is None or request.protocol.writing_paused:
        return False
    _, high = transport.get_write_buffer_limits()
    return transport.get_write_buffer_size() + len(data) + FRAMING_BYTES <= high


def response_headers(request_id: str, worker: str) -> dict[str, str]:
    headers = {"X-Request-Id": request_id}
    if worker:
        headers["X-Proxy-Worker"] = worker
    return headers


def with_response_headers(error: ApiError, request_id: str, worker: str) -> ApiError:
    """An error that still tells the client its request id and the worker that tried."""
    error.extra_headers.update(response_headers(request_id, worker))
    return error


class SseWriter(Protocol):
    """One client API's SSE rendering of the neutral events (the driver below does the rest)."""

    keepalive: bytes  # written after KEEPALIVE_S of silence

    def note(self, event: pb.Event) -> None:
        """An event seen before the response is committed (model_info names the model)."""

    def opening(self) -> bytes:
        """What the committed stream starts with."""

    def event(self, event: pb.Event) -> tuple[bytes, bool]:
        """The bytes for one event, and False once the stream must end (an error)."""

    def closing(self, clean: bool) -> bytes:
        """What ends the stream; `clean` is False after an error event was written."""


class _Stream:
    """State of one SSE response while it is being written."""

    def __init__(
        self, request: web.Request, feed: EventFeed, request_id: str, writer: SseWriter
    ) -> None:
        self.request = request
        self.feed = feed
        self.request_id = request_id
        self.writer = writer
        self.worker = ""
        self.response: web.StreamResponse | None = None

    async def wait_for_output(self) -> list[pb.Event]:
        """Events up to the first output; raises ApiError for an error that came first."""
        commit_at = time.monotonic() + self.request.app[CONFIG].stream_commit_ms / 1000
        held: list[pb.Event] = []
        while True:
            try:
                event = await self.feed.next(max(commit_at - time.monotonic(), 0))
            except TimeoutError:
                return held
            if event is None:
                event = make_error(pb.WORKER_CRASHED, "the worker ended without a result")
            if event.HasField("error"):
                error = ApiError.from_event(event.error)
                raise with_response_headers(error, self.request_id, self.worker)
            if event.WhichOneof("kind") == "started":
                self.worker = event.started.worker
                self.feed.started = event.started
            self.writer.note(event)
            held.append(event)
            if is_output(event):
                return held

    async def commit(self) -> web.StreamResponse:
        """The 200 and its headers (aiohttp sends them with the first write)."""
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **response_headers(self.request_id, self.worker),
        }
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(self.request)
        self.response = response
        return response

    async def next_events(self) -> tuple[list[pb.Event], bool]:
        """The next event and every one already read behind it (one write for all of them);
        True once the end came. TimeoutError after KEEPALIVE_S of silence."""
        events: list[pb.Event] = []
        for event in (await self.feed.next(KEEPALIVE_S), *self.feed.ready()):
            if event is None:
                return events, True
            events.append(event)
        return events, False

    def render(self, events: list[pb.Event]) -> tuple[bytes, bool]:
        """The bytes of `events`; False once one ends the stream (what follows it is dropped)."""
        out: list[bytes] = []
        for event in events:
            data, go_on = self.writer.event(event)
            out.append(data)
            if not go_on:
                return b"".join(out), False
        return b"".join(out), True

    async def write(self, data: bytes) -> None:
        assert self.response is not None
        await write_or_drop(self.request, self.response, data)

    async def end(self, clean: bool, before: bytes = b"") -> None:
        """`before`, the writer's closing and the end of the chunked body, in one write."""
        assert self.response is not None
        closing = before + self.writer.closing(clean)
        await write_or_drop(self.request, self.response, closing, last=True)


async def stream_events(
    request: web.Request,
    feed: EventFeed,
    request_id: str,
    writer: SseWriter,
    before_end: Callable[[bool], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Deliver one call's events as SSE in `writer`'s shape: HTTP errors until the first output
    (or STREAM_COMMIT_MS), then the writer's error event; keepalives in silences.
    `before_end(clean)` runs after the last event, before the writer's closing is written."""
    stream = _Stream(request, feed, request_id, writer)
    pending = await stream.wait_for_output()
    response = await stream.commit()
    try:
        opening = writer.opening()  # before the events: writers number what they write
        data, clean = stream.render(pending)
        await stream.write(opening + data)
        tail = b""
        ended = not clean
        while not ended:
            try:
                events, ended = await stream.next_events()
            except TimeoutError:
                await stream.write(writer.keepalive)
                continue
            data, clean = stream.render(events)
            ended = ended or not clean
            if ended and before_end is None:
                tail = data  # the last events go out with the closing, in one write
            elif data:
                await stream.write(data)
        if before_end is not None:
            await before_end(clean)
        await stream.end(clean, tail)
    except ClientGone:
        pass  # the route's cleanup cancels the call: the worker stops the run
    return response
