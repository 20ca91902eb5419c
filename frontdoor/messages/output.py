"""Pure builders of Anthropic Messages API responses from the neutral events.

MessageAccumulator collects a whole `message` object; MessageStream renders Anthropic's SSE
(message_start, content_block_start / _delta / _stop, message_delta, message_stop, ping, error)
as a frontdoor.core.streaming SseWriter. `session`, `activity` and `rate_limit` events are not
shown.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from frontdoor.core.errors import ApiError
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)
STOP_REASONS: dict[int, str] = {
    pb.FINISH_STOP: "end_turn",
    pb.FINISH_LENGTH: "max_tokens",
    pb.FINISH_TOOL_CALLS: "tool_use",
    pb.FINISH_CONTENT_FILTER: "refusal",
    pb.FINISH_STOP_SEQUENCE: "stop_sequence",
}


def stop_reason(reason: int) -> str:
    return STOP_REASONS.get(reason, "end_turn")


def stop_of(finish: pb.Finish) -> tuple[str, str | None]:
    """A finish as Anthropic's stop_reason and stop_sequence (the sequence that matched, else
    null)."""
    reason = stop_reason(finish.reason)
    return reason, (finish.stop_sequence or None) if reason == "stop_sequence" else None


def usage_json(usage: pb.Usage | None) -> dict[str, int]:
    """Anthropic counts input_tokens without the cached part, as the neutral Usage does."""
    usage = usage or pb.Usage()
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def tool_input(arguments: str, call_id: str) -> dict[str, Any]:
    """A finished call's arguments as the `input` object (an empty object when there are none)."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        logger.warning("tool call %s arguments are not a JSON object; sent as {}", call_id)
        return {}
    return value


def message_json(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    reason: str | None,
    usage: pb.Usage | None,
    sequence: str | None = None,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_json(usage),
    }


class MessageAccumulator:
    """Collects a run's events into one Messages API `message` object."""

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.content: list[dict[str, Any]] = []
        self.arguments: dict[int, tuple[dict[str, Any], list[str]]] = {}  # call index -> block
        self.usage = pb.Usage()
        self.reason = "end_turn"
        self.sequence: str | None = None

    def add(self, event: pb.Event) -> None:
        kind = event.WhichOneof("kind")
        if kind == "text":
            if not event.text.text:
                return
            if self.content and self.content[-1]["type"] == "text":
                self.content[-1]["text"] += event.text.text
            else:
                self.content.append({"type": "text", "text": event.text.text})
        elif kind == "thinking":
            self._add_thinking(event.thinking)
        elif kind == "tool_call":
            self._add_tool_call(event.tool_call)
        elif kind == "usage":
            self.usage.CopyFrom(event.usage)
        elif kind == "model_info":
            self.model = event.model_info.model
        elif kind == "finish":
            self.reason, self.sequence = stop_of(event.finish)
            self.model = event.finish.model or self.model

    def _add_thinking(self, delta: pb.ThinkingDelta) -> None:
        """Thinking text, then its signature, in one thinking block; a text after a signature
        starts the next block. A redacted block comes whole, in a delta of its own."""
        if delta.redacted:
            self.content.append({"type": "redacted_thinking", "data": delta.redacted})
            return
        last = self.content[-1] if self.content else None
        if last is None or last["type"] != "thinking" or (last["signature"] and delta.text):
            last = {"type": "thinking", "thinking": "", "signature": ""}
            self.content.append(last)
        last["thinking"] += delta.text
        last["signature"] += delta.signature

    def _add_tool_call(self, delta: pb.ToolCallDelta) -> None:
        if delta.id or delta.index not in self.arguments:
            block: dict[str, Any] = {"type": "tool_use", "id": delta.id, "name": delta.name}
            self.content.append(block)
            self.arguments[delta.index] = (block, [])
        self.arguments[delta.index][1].append(delta.arguments_delta)

    def response(self) -> dict[str, Any]:
        for block, fragments in self.arguments.values():
            block["input"] = tool_input("".join(fragments), block["id"])
        return message_json(
            self.message_id, self.model, self.content, self.reason, self.usage, self.sequence
        )


def sse_event(name: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {name}\ndata: {data}\n\n".encode()


class MessageStream:
    """Anthropic's SSE for one message (a frontdoor.core.streaming SseWriter).

    Thinking, text and tool calls become content blocks in the order they come; a block stops
    when the next one starts. message_delta (stop reason, usage) and message_stop are written at
    the end, when the usage is complete."""

    keepalive = sse_event("ping", {"type": "ping"})

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.blocks = 0  # content blocks started so far
        # ("text", "thinking" or "redacted_thinking", -1), ("tool_use", i)
        self.open: tuple[str, int] | None = None
        self.signed = False  # the open thinking block has its signature
        self.calls: dict[int, int] = {}  # tool call index -> content block index
        self.usage: pb.Usage | None = None
        self.reason: str | None = None
        self.sequence: str | None = None

    def note(self, event: pb.Event) -> None:
        kind = event.WhichOneof("kind")
        if kind == "model_info":
            self.model = event.model_info.model
        elif kind == "usage":
            self.usage = event.usage

    def opening(self) -> bytes:
        message = message_json(self.message_id, self.model, [], None, self.usage)
        return sse_event("message_start", {"type": "message_start", "message": message})

    def event(self, event: pb.Event) -> tuple[bytes, bool]:
        kind = event.WhichOneof("kind")
        if kind == "text":
            return self._text(event.text.text), True
        if kind == "thinking":
            return self._thinking(event.thinking), True
        if kind == "tool_call":
            return self._tool_call(event.tool_call), True
        if kind == "finish":
            self.reason, self.sequence = stop_of(event.finish)
            self.model = event.finish.model or self.model
        elif kind == "error":
            return self._stop() + self.error(ApiError.from_event(event.error)), False
        else:
            self.note(event)
        return b"", True

    def _start(self, kind: str, key: int, block: dict[str, Any]) -> bytes:
        out = self._stop()
        self.open = (kind, key)
        start = {"type": "content_block_start", "index": self.blocks, "content_block": block}
        self.blocks += 1
        return out + sse_event("content_block_start", start)

    def _stop(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return sse_event(
            "content_block_stop", {"type": "content_block_stop", "index": self.blocks - 1}
        )

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return sse_event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )

    def _text(self, text: str) -> bytes:
        if not text:
            return b""
        out = b""
        if self.open is None or self.open[0] != "text":
            out = self._start("text", -1, {"type": "text", "text": ""})
        return out + self._delta(self.blocks - 1, {"type": "text_delta", "text": text})

    def _thinking(self, delta: pb.ThinkingDelta) -> bytes:
        if delta.redacted:  # as Anthropic streams it: the whole block in its start, no delta
            block = {"type": "redacted_thinking", "data": delta.redacted}
            return self._start("redacted_thinking", -1, block)
        out = b""
        if self.open is None or self.open[0] != "thinking" or (self.signed and delta.text):
            block = {"type": "thinking", "thinking": "", "signature": ""}
            out = self._start("thinking", -1, block)
            self.signed = False
        if delta.text:
            out += self._delta(self.blocks - 1, {"type": "thinking_delta", "thinking": delta.text})
        if delta.signature:
            self.signed = True
            signature = {"type": "signature_delta", "signature": delta.signature}
            out += self._delta(self.blocks - 1, signature)
        return out

    def _tool_call(self, delta: pb.ToolCallDelta) -> bytes:
        out = b""
        if delta.id or delta.index not in self.calls:
            block = {"type": "tool_use", "id": delta.id, "name": delta.name, "input": {}}
            out = self._start("tool_use", delta.index, block)
            self.calls[delta.index] = self.blocks - 1
        if delta.arguments_delta:
            fragment = {"type": "input_json_delta", "partial_json": delta.arguments_delta}
            out += self._delta(self.calls[delta.index], fragment)
        return out

    def error(self, error: ApiError) -> bytes:
        return sse_event("error", error.anthropic_body())

    def closing(self, clean: bool) -> bytes:
        if not clean:
            return b""
        if self.reason is None:
            return self._stop() + self.error(
                ApiError(502, "the worker ended without a result", "worker_error")
            )
        delta = {"stop_reason": self.reason, "stop_sequence": self.sequence}
        end = {"type": "message_delta", "delta": delta, "usage": usage_json(self.usage)}
        return (
            self._stop()
            + sse_event("message_delta", end)
            + sse_event("message_stop", {"type": "message_stop"})
        )
