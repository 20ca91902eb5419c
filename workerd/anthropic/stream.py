"""Pure: the Messages API's stream events (its JSON, as dicts) -> neutral events.

The one decoder for both worker kinds: an api worker feeds it the upstream's events, a cli
worker the `stream_event` payloads of the CLI's stream-json (cli/stream_json.py keeps the CLI's
own line types). `StreamTranslator` turns the events of one answer (one message, or the several
of a CLI turn) into neutral events: thinking, text, tool-call deltas, usage, finish. No I/O here.
Fields are read with `.get` and defaults: an event the API extends tomorrow still translates.

What only one kind needs is chosen when the translator is made, never tested per event (the
deltas are the per-token path):
- `json_tool` (api): the forced tool whose input is the answer (response_format); other text
  is kept aside as the prose of a model that did not answer in JSON.
- `calls`: the prefix of the tool names that are the client's calls (stripped on the way out):
  "" for an api worker (every tool), the MCP bridge's `mcp__c__` for a CLI run serving the
  client's tools, None for a CLI run without them (its tool_use blocks are the agent's own).
- `renamed` (cli): the client's names of the tools the MCP bridge lists under an alias.
- `quiet` (cli): no text or thinking; a structured answer comes whole in the CLI's result.
- `lines` (cli): every message also comes whole as `assistant` lines, so the messages whose
  content streamed are remembered (`streamed`) and `paragraphs` starts the text of a later
  message of the turn (an agent's) on a new paragraph, so messages never run together.
- `on_stop` (cli): called with each message's stop reason; the events it returns end the
  answer there (the CLI would go on by itself: a pause for client tools, a plain chat cut at
  max_tokens).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.errors import make_error, no_json_answer
from protos import common_pb2 as pb
from workerd.anthropic.status import finish_reason

Event = dict[str, Any]


def usage_of(usage: dict[str, Any]) -> pb.Usage:
    """The neutral usage of a message's (or a CLI result's) `usage` object."""

    def number(key: str) -> int:
        value = usage.get(key)
        return int(value) if isinstance(value, int | float) else 0

    return pb.Usage(
        input_tokens=number("input_tokens"),
        output_tokens=number("output_tokens"),
        cache_read_tokens=number("cache_read_input_tokens"),
        cache_write_tokens=number("cache_creation_input_tokens"),
    )


@dataclass
class _ToolBlock:
    """A tool_use content block being streamed."""

    tool_index: int  # OpenAI tool-call index, counted over the whole answer; -1 for json_tool
    initial_input: object = field(default_factory=dict)
    streamed: bool = False


class StreamTranslator:
    """Feeds on the raw stream events of one answer."""

    def __init__(
        self,
        json_tool: str = "",
        *,
        calls: str | None = "",
        renamed: Mapping[str, str] | None = None,
        quiet: bool = False,
        lines: bool = False,
        paragraphs: bool = False,
        on_stop: Callable[[object], list[pb.Event]] | None = None,
    ) -> None:
        self.json_tool = json_tool
        self.calls = calls
        self.renamed = renamed or {}
        self.model = ""
        self.message_id = ""
        self.message_calls: list[str] = []  # this message's client tool_use ids, in order
        self.streamed: set[str] = set()  # messages whose content came as stream events
        self.stop_reason = ""
        self.stop_sequence = ""  # the client's stop sequence the last message stopped on
        self.complete = False
        self._started = False
        self._usage: dict[str, Any] = {}  # this message's usage, updated by message_delta
        self._usages: list[dict[str, Any]] = []  # every message's usage, final figures
        self._tool_calls = 0
        self._blocks: dict[int, _ToolBlock] = {}  # this message's call blocks, by index
        self._json_seen = False  # the forced JSON-answer tool was called
        self._prose: list[str] = []  # text the model wrote instead, with a JSON answer asked for
        self._quiet = quiet
        self._paragraphs = paragraphs
        self._texted: set[str] = set()  # messages that gave text
        self._on_stop = on_stop
        # Chosen once: the per-token path below tests no flags.
        self._text: Callable[[str], list[pb.Event]] = self._plain_text
        self._thinking: Callable[[str, str], list[pb.Event]] = self._plain_thinking
        if json_tool:
            self._text = self._prose_text
        elif quiet:
            self._text, self._thinking = _no_text, _no_thinking
        elif lines:
            self._text = self._paragraph_text if paragraphs else self._streamed_text
            self._thinking = self._streamed_thinking

    def feed(self, event: Event) -> list[pb.Event]:
        kind = event.get("type")
        if kind == "content_block_delta":  # first: nearly every event is one
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":  # and nearly every delta: no call in between
                return self._text(delta.get("text") or "")
            return self._block_delta(event, delta)
        if kind == "message_start":
            return self._message_start(event.get("message") or {})
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            return self._block_stop(event.get("index", 0))
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            self.complete = True
        return []  # citations, server tools, unknown events: not part of the answer

    def _message_start(self, message: Event) -> list[pb.Event]:
        self._started = True
        self.message_id = str(message.get("id", ""))
        self._usage = dict(message.get("usage") or {})
        self._usages.append(self._usage)
        self._blocks = {}
        self.message_calls = []
        self.stop_sequence = ""
        model = message.get("model") or ""
        if model and not self.model:
            self.model = str(model)
            return [pb.Event(model_info=pb.ModelInfo(model=self.model))]
        return []

    def _message_delta(self, event: Event) -> list[pb.Event]:
        if not self._usages:  # no message_start seen: this is the only message there is
            self._usages.append(self._usage)
        usage = event.get("usage") or {}
        self._usage.update((k, v) for k, v in usage.items() if v is not None)
        delta = event.get("delta") or {}
        stop = delta.get("stop_reason")
        self.stop_reason = stop or self.stop_reason or "end_turn"
        sequence = delta.get("stop_sequence")
        if stop == "stop_sequence" and isinstance(sequence, str):
            self.stop_sequence = sequence
        return self._on_stop(stop) if self._on_stop is not None else []

    def _block_start(self, event: Event) -> list[pb.Event]:
        block = event.get("content_block") or {}
        kind = block.get("type")
        if kind == "text":
            return self._text(block.get("text") or "")
        if kind == "thinking":
            return self._thinking(block.get("thinking") or "", block.get("signature") or "")
        if kind == "redacted_thinking":
            return self._redacted(block.get("data") or "")
        if kind == "tool_use":
            return self._tool_start(event.get("index", 0), block)
        return []

    def _tool_start(self, index: object, block: Event) -> list[pb.Event]:
        name = block.get("name") or ""
        if not isinstance(index, int) or not isinstance(name, str):
            return []
        if self.json_tool and name == self.json_tool:
            self._json_seen = True
            self._blocks[index] = _ToolBlock(-1, block.get("input"))
            return []
        if self.calls is None or not name.startswith(self.calls):
            return []  # the agent's own tool: the CLI runs it; reported from assistant lines
        call = self._tool_calls
        self._tool_calls += 1
        self._blocks[index] = _ToolBlock(call, block.get("input"))
        call_id = str(block.get("id") or "")
        self.message_calls.append(call_id)
        self.streamed.add(self.message_id)
        name = name[len(self.calls) :]
        delta = pb.ToolCallDelta(index=call, id=call_id, name=self.renamed.get(name, name))
        return [pb.Event(tool_call=delta)]

    def _block_delta(self, event: Event, delta: Event) -> list[pb.Event]:
        kind = delta.get("type")
        if kind == "thinking_delta":
            return self._thinking(delta.get("thinking") or "", "")
        if kind == "signature_delta":
            return self._thinking("", delta.get("signature") or "")
        if kind == "input_json_delta":
            index = event.get("index", 0)
            block = self._blocks.get(index) if isinstance(index, int) else None
            partial = delta.get("partial_json") or ""
            if block is None or not partial:
                return []
            block.streamed = True
            return [self._arguments(block, partial)]
        return []

    def _block_stop(self, index: object) -> list[pb.Event]:
        block = self._blocks.pop(index, None) if isinstance(index, int) else None
        if block is None or block.streamed:
            return []
        # No input_json_delta at all: the input came whole with the block start (often `{}`).
        return [self._arguments(block, json.dumps(block.initial_input or {}))]

    @staticmethod
    def _arguments(block: _ToolBlock, text: str) -> pb.Event:
        if block.tool_index < 0:
            return pb.Event(text=pb.TextDelta(text=text))
        return pb.Event(tool_call=pb.ToolCallDelta(index=block.tool_index, arguments_delta=text))

    # --- text and thinking, as chosen in __init__ ---------------------------------------------

    @staticmethod
    def _plain_text(text: str) -> list[pb.Event]:
        return [pb.Event(text=pb.TextDelta(text=text))] if text else []

    def _prose_text(self, text: str) -> list[pb.Event]:
        self._prose.append(text)  # with json_tool the content is the tool's input, never prose
        return []

    def _streamed_text(self, text: str) -> list[pb.Event]:
        if not text:
            return []
        self.streamed.add(self.message_id)
        return [pb.Event(text=pb.TextDelta(text=text))]

    def _paragraph_text(self, text: str) -> list[pb.Event]:
        if not text:
            return []
        self.streamed.add(self.message_id)
        return self.message_text(self.message_id, text)

    def message_text(self, message_id: str, text: str) -> list[pb.Event]:
        """Text of message `message_id` (streamed, or from a CLI's assistant line)."""
        events = []
        if self._paragraphs and message_id not in self._texted and self._texted:
            events.append(pb.Event(text=pb.TextDelta(text="\n\n")))
        self._texted.add(message_id)
        events.append(pb.Event(text=pb.TextDelta(text=text)))
        return events

    @staticmethod
    def _plain_thinking(text: str, signature: str) -> list[pb.Event]:
        if not text and not signature:
            return []
        return [pb.Event(thinking=pb.ThinkingDelta(text=text, signature=signature))]

    def _streamed_thinking(self, text: str, signature: str) -> list[pb.Event]:
        if not text and not signature:
            return []
        self.streamed.add(self.message_id)
        return [pb.Event(thinking=pb.ThinkingDelta(text=text, signature=signature))]

    def _redacted(self, data: str) -> list[pb.Event]:
        """Redacted thinking comes whole with its block start; opaque, passed on as it came."""
        if not data or self._quiet or self.json_tool:
            return []
        self.streamed.add(self.message_id)
        return [pb.Event(thinking=pb.ThinkingDelta(redacted=data))]

    # --- the answer so far --------------------------------------------------------------------

    def usage(self) -> pb.Usage:
        """The usage of every message seen, each with its final figures."""
        total = pb.Usage()
        for usage in self._usages:
            one = usage_of(usage)
            total.input_tokens += one.input_tokens
            total.output_tokens += one.output_tokens
            total.cache_read_tokens += one.cache_read_tokens
            total.cache_write_tokens += one.cache_write_tokens
        return total

    def usage_so_far(self) -> list[pb.Event]:
        """Before an error: the usage the upstream already reported (input is billed anyway)."""
        return [pb.Event(usage=self.usage())] if self._started else []

    def finish(self) -> list[pb.Event]:
        """Called when the stream ended: Usage then Finish, or an error if it was cut short."""
        if not self.stop_reason:
            error = make_error(
                pb.UPSTREAM_ERROR, "the Anthropic API stream ended before the message was complete"
            )
            return [*self.usage_so_far(), error]
        reason = finish_reason(self.stop_reason)
        if self.json_tool and not self._json_seen and reason != pb.FINISH_LENGTH:
            return [pb.Event(usage=self.usage()), no_json_answer("".join(self._prose))]
        if self.json_tool and reason == pb.FINISH_TOOL_CALLS:
            reason = pb.FINISH_STOP  # the forced tool's input is the answer
        finish = pb.Finish(reason=reason, model=self.model)
        if reason == pb.FINISH_STOP_SEQUENCE:
            finish.stop_sequence = self.stop_sequence
        return [pb.Event(usage=self.usage()), pb.Event(finish=finish)]


def _no_text(text: str) -> list[pb.Event]:
    return []


def _no_thinking(text: str, signature: str) -> list[pb.Event]:
    return []
