"""The chat door's SSE: chat.completion.chunk events over the shared driver (core.streaming)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from common.events import is_output
from frontdoor.chat.output import SSE_DONE, ChunkBuilder, sse_data
from frontdoor.core.errors import ApiError
from frontdoor.core.event_feed import EventFeed
from frontdoor.core.streaming import stream_events
from protos import common_pb2 as pb


@dataclass
class StreamContext:
    """What a response needs besides the events."""

    request_id: str
    created: int
    model: str
    include_usage: bool


class OpenAIChunks:
    """chat.completion.chunk SSE: a role chunk, deltas, a finish chunk, usage, [DONE]."""

    keepalive = b": keepalive\n\n"

    def __init__(self, context: StreamContext) -> None:
        self.context = context
        self.chunks = ChunkBuilder(
            f"chatcmpl-{context.request_id}", context.created, context.model, context.include_usage
        )
        self.usage: pb.Usage | None = None
        self.finished = False
        self.first_output = ""  # the kind of the first output event seen before the opening

    def note(self, event: pb.Event) -> None:
        """Before the opening only: the model every chunk names (it never changes after)."""
        kind = event.WhichOneof("kind")
        if kind == "model_info":
            self.chunks.model = event.model_info.model
        elif is_output(event) and not self.first_output:
            self.first_output = kind or ""

    def opening(self) -> bytes:
        return sse_data(self.chunks.role(tool_call_first=self.first_output == "tool_call"))

    def event(self, event: pb.Event) -> tuple[bytes, bool]:
        kind = event.WhichOneof("kind")
        if kind == "text":
            return self.chunks.text_sse(event.text.text), True
        if kind == "thinking":
            if not event.thinking.text:
                return b"", True  # a signature: kept upstream of this door, never shown
            return self.chunks.reasoning_sse(event.thinking.text), True
        if kind == "tool_call":
            return sse_data(self.chunks.tool_call(event.tool_call)), True
        if kind == "usage":
            self.usage = event.usage
        elif kind == "finish":
            first = not self.finished
            self.finished = True
            if first:
                return sse_data(self.chunks.finish(event.finish.reason)), True
        elif kind == "error":
            return sse_data(ApiError.from_event(event.error).body()), False
        return b"", True

    def closing(self, clean: bool) -> bytes:
        out = b""
        if clean and not self.finished:
            lost = ApiError(502, "the worker ended without a result", "worker_error")
            out = sse_data(lost.body())
        elif clean and self.context.include_usage and self.usage is not None:
            out = sse_data(self.chunks.usage(self.usage))
        return out + SSE_DONE


async def stream_completion(
    request: web.Request, feed: EventFeed, context: StreamContext
) -> web.StreamResponse:
    """An OpenAI chat completion stream."""
    return await stream_events(request, feed, context.request_id, OpenAIChunks(context))
