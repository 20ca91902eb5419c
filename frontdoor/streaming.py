"""SSE delivery of one completion: headers only once output exists, errors never disguised.

Before the first output, a failure is still an HTTP error status. After it (or after
STREAM_COMMIT_MS of silence, when the 200 is committed to keep the client waiting), a failure
is an SSE `error` event followed by `[DONE]`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from common.errors import make_error
from common.events import is_output
from frontdoor.errors import ApiError
from frontdoor.event_feed import EventFeed
from frontdoor.responses import SSE_DONE, ChunkBuilder, sse_data
from frontdoor.state import CONFIG
from protos import common_pb2 as pb

KEEPALIVE_S = 15.0


@dataclass
class StreamContext:
    """What a response needs besides the events."""

    request_id: str
    created: int
    model: str
    include_usage: bool


def response_headers(request_id: str, worker: str) -> dict[str, str]:
    headers = {"X-Request-Id": request_id}
    if worker:
        headers["X-Proxy-Worker"] = worker
    return headers


def with_response_headers(error: ApiError, request_id: str, worker: str) -> ApiError:
    """An error that still tells the client its request id and the worker that tried."""
    error.extra_headers.update(response_headers(request_id, worker))
    return error


class _Stream:
    """State of one SSE response while it is being written."""

    def __init__(self, request: web.Request, feed: EventFeed, context: StreamContext) -> None:
        self.request = request
        self.feed = feed
        self.context = context
        self.worker = ""
        self.chunks = ChunkBuilder(f"chatcmpl-{context.request_id}", context.created, context.model)
        self.usage: pb.Usage | None = None
        self.finished = False
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
                raise with_response_headers(error, self.context.request_id, self.worker)
            self.note(event)
            held.append(event)
            if is_output(event):
                return held

    def note(self, event: pb.Event) -> None:
        kind = event.WhichOneof("kind")
        if kind == "started":
            self.worker = event.started.worker
        elif kind == "model_info":
            self.chunks.model = event.model_info.model

    async def commit(self) -> web.StreamResponse:
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **response_headers(self.context.request_id, self.worker),
        }
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(self.request)
        await response.write(sse_data(self.chunks.role()))
        self.response = response
        return response

    async def send(self, event: pb.Event) -> bool:
        """Write one event; False once the stream must end."""
        assert self.response is not None
        kind = event.WhichOneof("kind")
        if kind == "text":
            await self.response.write(sse_data(self.chunks.text(event.text.text)))
        elif kind == "tool_call":
            await self.response.write(sse_data(self.chunks.tool_call(event.tool_call)))
        elif kind == "usage":
            self.usage = event.usage
        elif kind == "finish":
            if event.finish.model:
                self.chunks.model = event.finish.model
            if not self.finished:
                await self.response.write(sse_data(self.chunks.finish(event.finish.reason)))
            self.finished = True
        elif kind == "error":
            await self.response.write(sse_data(ApiError.from_event(event.error).body()))
            return False
        else:
            self.note(event)
        return True

    async def end(self, clean: bool) -> None:
        assert self.response is not None
        if clean and not self.finished:
            lost = ApiError(502, "the worker ended without a result", "worker_error")
            await self.response.write(sse_data(lost.body()))
        elif clean and self.context.include_usage and self.usage is not None:
            await self.response.write(sse_data(self.chunks.usage(self.usage)))
        await self.response.write(SSE_DONE)
        await self.response.write_eof()


async def stream_completion(
    request: web.Request, feed: EventFeed, context: StreamContext
) -> web.StreamResponse:
    stream = _Stream(request, feed, context)
    pending = await stream.wait_for_output()
    response = await stream.commit()
    clean = True
    for event in pending:
        clean = await stream.send(event)
    while clean:
        try:
            next_event = await feed.next(KEEPALIVE_S)
        except TimeoutError:
            await response.write(b": keepalive\n\n")
            continue
        if next_event is None:
            break
        clean = await stream.send(next_event)
    await stream.end(clean)
    return response
