"""Pure builders of OpenAI response JSON from internal events (chunks and whole completions)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii  # what json.dumps writes a str as
from typing import Any

from protos import common_pb2 as pb

FINISH_REASONS: dict[int, str] = {
    pb.FINISH_STOP: "stop",
    pb.FINISH_LENGTH: "length",
    pb.FINISH_TOOL_CALLS: "tool_calls",
    pb.FINISH_CONTENT_FILTER: "content_filter",
    pb.FINISH_STOP_SEQUENCE: "stop",
}


def usage_json(usage: pb.Usage) -> dict[str, Any]:
    """OpenAI counts cached input inside prompt_tokens and reports the cached part separately."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


class ChunkBuilder:
    """chat.completion.chunk objects for one streamed completion."""

    def __init__(
        self, completion_id: str, created: int, model: str, include_usage: bool = False
    ) -> None:
        self.completion_id = completion_id
        self.created = created
        self.model = model
        self.include_usage = include_usage  # every chunk then says `"usage": null`, as OpenAI's
        self._templates: dict[str, tuple[str, bytes, bytes]] = {}  # key -> (model, head, tail)

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        chunk = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        chunk.update(extra)
        return chunk

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return self._chunk(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )

    def text_sse(self, text: str) -> bytes:
        """sse_data(self.text(text)), the chunk's bytes spliced around the text."""
        return self._delta_sse("content", text)

    def reasoning_sse(self, text: str) -> bytes:
        """sse_data(self.reasoning(text)), the chunk's bytes spliced around the text."""
        return self._delta_sse("reasoning_content", text)

    def _delta_sse(self, key: str, text: str) -> bytes:
        """A text delta's SSE bytes from a template made once per key (and model): most events
        of a stream are text deltas, and only their text changes from one to the next."""
        template = self._templates.get(key)
        if template is None or template[0] != self.model:
            template = (self.model, *_template(sse_data(self._delta({key: _MARK}))))
            self._templates[key] = template
        _, head, tail = template
        return head + encode_basestring_ascii(text).encode() + tail

    def role(self, tool_call_first: bool = False) -> dict[str, Any]:
        """The opening delta: `content` is null when the answer starts with a tool call."""
        content = None if tool_call_first else ""
        return self._delta({"role": "assistant", "content": content, "refusal": None})

    def text(self, text: str) -> dict[str, Any]:
        return self._delta({"content": text})

    def reasoning(self, text: str) -> dict[str, Any]:
        """Thinking text as `reasoning_content` (what other OpenAI-compatible servers send)."""
        return self._delta({"reasoning_content": text})

    def tool_call(self, delta: pb.ToolCallDelta) -> dict[str, Any]:
        call: dict[str, Any] = {"index": delta.index}
        function: dict[str, Any] = {"arguments": delta.arguments_delta}
        if delta.id:
            call.update(id=delta.id, type="function")
            function["name"] = delta.name
        call["function"] = function
        return self._delta({"tool_calls": [call]})

    def finish(self, reason: int) -> dict[str, Any]:
        return self._delta({}, FINISH_REASONS.get(reason, "stop"))

    def usage(self, usage: pb.Usage) -> dict[str, Any]:
        return self._chunk([], usage=usage_json(usage))


class CompletionAccumulator:
    """Collects a run's events into one chat.completion object."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self.completion_id = completion_id
        self.created = created
        self.model = model
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.usage = pb.Usage()
        self.finish_reason = "stop"

    def add(self, event: pb.Event) -> None:
        kind = event.WhichOneof("kind")
        if kind == "text":
            self.text.append(event.text.text)
        elif kind == "thinking":
            self.reasoning.append(event.thinking.text)  # never the signature
        elif kind == "tool_call":
            self._add_tool_call(event.tool_call)
        elif kind == "usage":
            self.usage.CopyFrom(event.usage)
        elif kind == "model_info":
            self.model = event.model_info.model
        elif kind == "finish":
            self.finish_reason = FINISH_REASONS.get(event.finish.reason, "stop")
            self.model = event.finish.model or self.model

    def _add_tool_call(self, delta: pb.ToolCallDelta) -> None:
        while len(self.tool_calls) <= delta.index:
            self.tool_calls.append(
                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
        call = self.tool_calls[delta.index]
        if delta.id:
            call["id"] = delta.id
            call["function"]["name"] = delta.name
        call["function"]["arguments"] += delta.arguments_delta

    def response(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.text) if self.text or not self.tool_calls else None,
            "refusal": None,
        }
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": usage_json(self.usage),
        }


_MARK = "\x00delta text\x00"
"""Stands for the text in a template; the text is the chunk's last variable value, so the
mark's last occurrence is where it goes."""


def _template(data: bytes) -> tuple[bytes, bytes]:
    """The bytes before and after _MARK's JSON string in `data`."""
    head, found, tail = data.rpartition(encode_basestring_ascii(_MARK).encode())
    assert found, "the template holds the mark"
    return head, tail


def sse_data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"
