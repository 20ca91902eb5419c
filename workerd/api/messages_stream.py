"""Pure: the Messages API's stream events (its JSON, as dicts) -> neutral events.

`StreamTranslator` turns the raw stream events of one call into neutral events (thinking, text,
tool-call deltas, usage, finish). Failed calls are mapped in upstream_errors.py. No I/O here.
Fields are read with `.get` and defaults: an event the API extends tomorrow still translates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from common.errors import make_error, no_json_answer
from protos import common_pb2 as pb
from workerd.upstream_status import finish_reason

Event = dict[str, Any]


@dataclass
class _ToolBlock:
    """A tool_use content block being streamed."""

    tool_index: int  # OpenAI tool-call index; -1 for the forced JSON answer
    initial_input: object = field(default_factory=dict)
    streamed: bool = False


class StreamTranslator:
    """Feeds on the raw events of one streamed Messages API call."""

    def __init__(self, json_tool: str = "") -> None:
        self.json_tool = json_tool
        self.model = ""
        self.usage = pb.Usage()
        self.stop_reason = ""
        self.stop_sequence = ""
        self.complete = False
        self._started = False
        self._tool_calls = 0
        self._blocks: dict[int, _ToolBlock] = {}
        self._json_seen = False  # the forced JSON-answer tool was called
        self._prose: list[str] = []  # text the model wrote instead, with a JSON answer asked for

    def feed(self, event: Event) -> list[pb.Event]:
        kind = event.get("type")
        if kind == "content_block_delta":  # first: nearly every event is one
            return self._block_delta(event)
        if kind == "message_start":
            return self._message_start(event.get("message") or {})
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            return self._block_stop(event.get("index", 0))
        if kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self.complete = True
        return []  # citations, server tools, unknown events: not part of the answer

    def _message_start(self, message: Event) -> list[pb.Event]:
        self._started = True
        usage = message.get("usage") or {}
        self.usage = pb.Usage(
            input_tokens=usage.get("input_tokens") or 0,
            output_tokens=usage.get("output_tokens") or 0,
            cache_read_tokens=usage.get("cache_read_input_tokens") or 0,
            cache_write_tokens=usage.get("cache_creation_input_tokens") or 0,
        )
        model = message.get("model") or ""
        if model and not self.model:
            self.model = model
            return [pb.Event(model_info=pb.ModelInfo(model=model))]
        return []

    def _message_delta(self, event: Event) -> None:
        delta = event.get("delta") or {}
        self.stop_reason = delta.get("stop_reason") or self.stop_reason or "end_turn"
        self.stop_sequence = delta.get("stop_sequence") or self.stop_sequence
        usage = event.get("usage") or {}
        self.usage.output_tokens = usage.get("output_tokens") or 0
        for field_name, key in _USAGE_UPDATES:
            if usage.get(key) is not None:
                setattr(self.usage, field_name, usage[key])

    def _block_start(self, event: Event) -> list[pb.Event]:
        block = event.get("content_block") or {}
        kind = block.get("type")
        if kind == "text":
            return self._text(block.get("text") or "")
        if kind == "thinking":
            return self._thinking(block.get("thinking") or "", block.get("signature") or "")
        if kind == "redacted_thinking":
            data = block.get("data") or ""
            if not data or self.json_tool:
                return []
            return [pb.Event(thinking=pb.ThinkingDelta(redacted=data))]
        if kind != "tool_use":
            return []
        index, name, tool_input = event.get("index", 0), block.get("name") or "", block.get("input")
        if self.json_tool and name == self.json_tool:
            self._json_seen = True
            self._blocks[index] = _ToolBlock(-1, tool_input)
            return []
        call = self._tool_calls
        self._tool_calls += 1
        self._blocks[index] = _ToolBlock(call, tool_input)
        delta = pb.ToolCallDelta(index=call, id=block.get("id") or "", name=name)
        return [pb.Event(tool_call=delta)]

    def _block_delta(self, event: Event) -> list[pb.Event]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text") or "")
        if kind == "thinking_delta":
            return self._thinking(delta.get("thinking") or "", "")
        if kind == "signature_delta":
            return self._thinking("", delta.get("signature") or "")
        if kind == "input_json_delta":
            block = self._blocks.get(event.get("index", 0))
            partial = delta.get("partial_json") or ""
            if block is None or not partial:
                return []
            block.streamed = True
            return [self._arguments(block, partial)]
        return []

    def _block_stop(self, index: int) -> list[pb.Event]:
        block = self._blocks.pop(index, None)
        if block is None or block.streamed:
            return []
        # No input_json_delta at all: the input came whole with the block start (often `{}`).
        return [self._arguments(block, json.dumps(block.initial_input or {}))]

    def _arguments(self, block: _ToolBlock, text: str) -> pb.Event:
        if block.tool_index < 0:
            return pb.Event(text=pb.TextDelta(text=text))
        return pb.Event(tool_call=pb.ToolCallDelta(index=block.tool_index, arguments_delta=text))

    def _text(self, text: str) -> list[pb.Event]:
        if self.json_tool:
            self._prose.append(text)  # the content is the tool's input, never prose
            return []
        return [pb.Event(text=pb.TextDelta(text=text))] if text else []

    @staticmethod
    def _thinking(text: str, signature: str) -> list[pb.Event]:
        if not text and not signature:
            return []
        return [pb.Event(thinking=pb.ThinkingDelta(text=text, signature=signature))]

    def usage_so_far(self) -> list[pb.Event]:
        """Before an error: the usage the upstream already reported (input is billed anyway)."""
        return [pb.Event(usage=self.usage)] if self._started else []

    def finish(self) -> list[pb.Event]:
        """Called when the stream ended: Usage then Finish, or an error if it was cut short."""
        if not self.stop_reason:
            error = make_error(
                pb.UPSTREAM_ERROR, "the Anthropic API stream ended before the message was complete"
            )
            return [*self.usage_so_far(), error]
        reason = finish_reason(self.stop_reason)
        if self.json_tool and not self._json_seen and reason != pb.FINISH_LENGTH:
            return [pb.Event(usage=self.usage), no_json_answer("".join(self._prose))]
        if self.json_tool and reason == pb.FINISH_TOOL_CALLS:
            reason = pb.FINISH_STOP  # the forced tool's input is the answer
        finish = pb.Finish(reason=reason, model=self.model)
        if reason == pb.FINISH_STOP_SEQUENCE:
            finish.stop_sequence = self.stop_sequence
        return [pb.Event(usage=self.usage), pb.Event(finish=finish)]


_USAGE_UPDATES = (
    ("input_tokens", "input_tokens"),
    ("cache_read_tokens", "cache_read_input_tokens"),
    ("cache_write_tokens", "cache_creation_input_tokens"),
)
