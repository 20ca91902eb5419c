"""Pure: the Messages API's stream events -> neutral events, and SDK errors -> error events.

`StreamTranslator` turns the SDK's raw stream events of one call into neutral events (thinking,
text, tool-call deltas, usage, finish); `error_event` maps the SDK's exceptions onto the internal
error codes. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import anthropic
import httpx2
from anthropic.types import (
    InputJSONDelta,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RedactedThinkingBlock,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
)

from common.errors import ANTHROPIC_TYPE_STATUS, make_error, no_json_answer, without_addresses
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.upstream_status import finish_reason, status_code


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

    def feed(self, event: object) -> list[pb.Event]:
        if isinstance(event, RawMessageStartEvent):
            return self._message_start(event)
        if isinstance(event, RawContentBlockStartEvent):
            return self._block_start(event)
        if isinstance(event, RawContentBlockDeltaEvent):
            return self._block_delta(event)
        if isinstance(event, RawContentBlockStopEvent):
            return self._block_stop(event.index)
        if isinstance(event, RawMessageDeltaEvent):
            self.stop_reason = event.delta.stop_reason or self.stop_reason or "end_turn"
            self.stop_sequence = event.delta.stop_sequence or self.stop_sequence
            usage = event.usage
            self.usage.output_tokens = usage.output_tokens
            if usage.input_tokens is not None:
                self.usage.input_tokens = usage.input_tokens
            if usage.cache_read_input_tokens is not None:
                self.usage.cache_read_tokens = usage.cache_read_input_tokens
            if usage.cache_creation_input_tokens is not None:
                self.usage.cache_write_tokens = usage.cache_creation_input_tokens
            return []
        if isinstance(event, RawMessageStopEvent):
            self.complete = True
        return []  # citations, server tools, unknown events: not part of the answer

    def _message_start(self, event: RawMessageStartEvent) -> list[pb.Event]:
        self._started = True
        message = event.message
        usage = message.usage
        self.usage = pb.Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_tokens=usage.cache_creation_input_tokens or 0,
        )
        if message.model and not self.model:
            self.model = message.model
            return [pb.Event(model_info=pb.ModelInfo(model=message.model))]
        return []

    def _block_start(self, event: RawContentBlockStartEvent) -> list[pb.Event]:
        block = event.content_block
        if isinstance(block, TextBlock):
            return self._text(block.text)
        if isinstance(block, ThinkingBlock):
            return self._thinking(block.thinking, block.signature)
        if isinstance(block, RedactedThinkingBlock):
            if not block.data or self.json_tool:
                return []
            return [pb.Event(thinking=pb.ThinkingDelta(redacted=block.data))]
        if not isinstance(block, ToolUseBlock):
            return []
        if self.json_tool and block.name == self.json_tool:
            self._json_seen = True
            self._blocks[event.index] = _ToolBlock(-1, block.input)
            return []
        index = self._tool_calls
        self._tool_calls += 1
        self._blocks[event.index] = _ToolBlock(index, block.input)
        delta = pb.ToolCallDelta(index=index, id=block.id, name=block.name, arguments_delta="")
        return [pb.Event(tool_call=delta)]

    def _block_delta(self, event: RawContentBlockDeltaEvent) -> list[pb.Event]:
        delta = event.delta
        if isinstance(delta, TextDelta):
            return self._text(delta.text)
        if isinstance(delta, ThinkingDelta):
            return self._thinking(delta.thinking, "")
        if isinstance(delta, SignatureDelta):
            return self._thinking("", delta.signature)
        if isinstance(delta, InputJSONDelta):
            block = self._blocks.get(event.index)
            if block is None or not delta.partial_json:
                return []
            block.streamed = True
            return [self._arguments(block, delta.partial_json)]
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


# --- errors ---------------------------------------------------------------------------------


def error_event(exc: BaseException, secrets: Iterable[str] = ()) -> pb.Event:
    """An SDK exception as an error event; the message never carries a credential."""
    if isinstance(exc, anthropic.APITimeoutError):
        return make_error(pb.TIMEOUT, "the Anthropic API did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return make_error(pb.UPSTREAM_ERROR, "cannot reach the Anthropic API (connection error)")
    if isinstance(exc, anthropic.APIStatusError):
        kind = str(exc.type or "")
        status = exc.status_code
        if status < 400:  # an `error` event inside a 200 stream
            status = ANTHROPIC_TYPE_STATUS.get(kind, 500)
        detail = str(exc.api_message or kind or "no detail")
        text = mask_secrets(f"Anthropic API error {status} ({kind or 'error'}): {detail}", secrets)
        code = (
            pb.CONTEXT_TOO_LONG if "prompt is too long" in detail.lower() else status_code(status)
        )
        return make_error(
            code,
            without_addresses(text)[:2000],
            retry_after_ms=retry_after_ms(exc.response.headers),
            upstream_status=status,
        )
    if isinstance(exc, anthropic.APIResponseValidationError | ValueError):
        return make_error(pb.UPSTREAM_ERROR, "the Anthropic API sent a response that is not valid")
    if isinstance(exc, httpx2.TimeoutException):
        return make_error(pb.TIMEOUT, "the Anthropic API did not answer in time")
    if isinstance(exc, httpx2.HTTPError):  # raised as is while reading an open stream
        name = type(exc).__name__
        return make_error(pb.UPSTREAM_ERROR, f"the connection to the Anthropic API broke ({name})")
    return make_error(pb.UPSTREAM_ERROR, f"Anthropic API call failed ({type(exc).__name__})")


def retry_after_ms(headers: Mapping[str, str]) -> int:
    """`retry-after-ms` or `retry-after` (seconds); 0 when absent or not a number."""
    for name, scale in (("retry-after-ms", 1.0), ("retry-after", 1000.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if value >= 0:
            return int(value * scale)
    return 0
