"""Pure: the CLI's stream-json output lines -> neutral internal events (docs/claude-cli.md).

This module reads the CLI's own line types (system, assistant, user tool results,
rate_limit_event, result); the `stream_event` lines carry the upstream's Messages API events,
which the one Anthropic decoder translates, as it does for an api worker
(workerd/anthropic/stream.py), with the CLI's hooks: the MCP bridge's tool-name prefix, a
structured answer that comes in the result, several messages per turn. Text and thinking reach
the client from those deltas as they arrive. `result` is authoritative for usage and success;
an `is_error` result becomes an Error event mapped from `api_error_status` and the synthetic
assistant message's `error` field.

With `client_tools`, the client's functions reach the model as MCP tools `mcp__c__<name>`
(docs/claude-cli.md "Client tools over MCP"). Their streamed tool_use blocks become tool-call
deltas as an api worker's, and a message that stops for them ends the response: the CLI now
waits for the results, which come with the client's next request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from common.errors import make_error, no_json_answer
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.anthropic.status import STOP_REASONS
from workerd.anthropic.stream import StreamTranslator, usage_of
from workerd.cli.bridge import PREFIX
from workerd.cli.rate_limits import quota_report, retry_delay_ms
from workerd.cli.results import result_error

logger = logging.getLogger(__name__)

BRIDGE_PREFIX = PREFIX  # the model's name for a client tool: MCP server "c"


def _wall_ms() -> int:
    return int(time.time() * 1000)


# `result.stop_reason` is `stop_sequence` for the CLI's own synthetic messages too (API errors,
# docs/claude-cli.md): a stop on the client's stop sequence is known from the upstream's
# message_delta, which names the sequence.
_STOP_REASONS = {**STOP_REASONS, "stop_sequence": pb.FINISH_STOP}


class StreamJsonParser:
    """Feeds on decoded lines of one CLI run; remembers what it needs to judge the end.

    `client_tools`: the run exposes the client's functions as `BRIDGE_PREFIX` MCP tools; their
    calls go to the client and a message stopping for them ends the response (`awaiting_tools`);
    `tool_names` gives the client's names of those the bridge lists under an alias.
    `resumed`: the run continues a CLI turn whose earlier part another response already billed,
    so the `result` usage (summed over the whole CLI turn) is replaced by this parser's messages.
    """

    def __init__(
        self,
        *,
        tools_allowed: bool,
        structured: bool = False,
        client_tools: bool = False,
        tool_names: Mapping[str, str] | None = None,
        resumed: bool = False,
        now_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.tools_allowed = tools_allowed
        self.structured = structured
        self.client_tools = client_tools
        self.resumed = resumed
        self.awaiting_tools: list[str] = []  # set at a tool pause: the calls the CLI now waits for
        self._now_ms = now_ms
        self.result_seen = False
        self.result_clean = False  # a plain success: the process may be given another turn
        self.done = False  # nothing more to read: the answer is complete
        self.garbage_lines = 0
        self._error_category = ""
        self._rate_limit_reset = 0
        self._retry_delay_ms = 0  # the CLI's last wait after a 429: the upstream's retry-after
        self._stream = StreamTranslator(
            calls=BRIDGE_PREFIX if client_tools else None,
            renamed=tool_names,
            quiet=structured,
            lines=True,
            paragraphs=tools_allowed,
            on_stop=self._message_stopped,
        )

    def feed_line(self, line: bytes) -> list[pb.Event]:
        line = line.strip()
        if not line:
            return []
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.garbage_lines += 1
            return []
        if not isinstance(obj, dict):
            self.garbage_lines += 1
            return []
        return self.feed(obj)

    def feed(self, obj: dict[str, Any]) -> list[pb.Event]:
        kind = obj.get("type")
        if obj.get("parent_tool_use_id") and kind in ("stream_event", "assistant"):
            return self._tool_activity(obj) if kind == "assistant" else []  # a sub-agent's turn
        if kind == "stream_event":
            return self._stream.feed(obj.get("event") or {})
        if kind == "assistant":
            return self._tool_activity(obj) + self._assistant(obj)
        if kind == "user":
            return self._tool_results(obj)
        if kind == "rate_limit_event":
            return self._rate_limit(obj.get("rate_limit_info") or {})
        if kind == "system" and obj.get("subtype") == "api_retry":
            self._retry_delay_ms = retry_delay_ms(obj) or self._retry_delay_ms
            detail = (
                f"attempt {obj.get('attempt')} after {obj.get('error_status') or obj.get('error')}"
            )
            return [pb.Event(activity=pb.Activity(kind="api_retry", detail=detail))]
        if kind == "result":
            return self._result(obj)
        return []  # unknown types and subtypes are ignored on purpose (docs/claude-cli.md)

    def _message_stopped(self, stop: object) -> list[pb.Event]:
        """A plain chat cut at the client's max_tokens ends here, with finish_reason length.

        Left alone, the CLI would ask the model to continue (several more upstream calls and
        more text than the client allowed); the run stops the CLI once `done` is set.

        A message that stops for client tool calls ends the response the same way, with finish
        reason tool_calls: the CLI now waits for their results (`awaiting_tools`), which come
        with the client's next request, and the usage is what this response consumed so far.
        """
        if stop == "tool_use" and self._stream.message_calls:
            self.done = True
            self.awaiting_tools = list(self._stream.message_calls)
            finish = pb.Finish(reason=pb.FINISH_TOOL_CALLS)
            return [pb.Event(usage=self._stream.usage()), pb.Event(finish=finish)]
        if stop != "max_tokens" or self.tools_allowed or self.structured:
            return []
        self.done = True
        return [
            pb.Event(usage=self._stream.usage()),
            pb.Event(finish=pb.Finish(reason=pb.FINISH_LENGTH)),
        ]

    def _tool_activity(self, obj: dict[str, Any]) -> list[pb.Event]:
        """What the agent did: each tool call, for the event log (never client content).

        A client tool's call is the client's, not the agent's: it is content, not activity.
        """
        blocks = (obj.get("message") or {}).get("content") or []
        return [
            pb.Event(activity=pb.Activity(kind="tool_use", detail=_tool_detail(block)))
            for block in blocks
            if isinstance(block, dict)
            and block.get("type") == "tool_use"
            and not self._is_client_tool(block.get("name"))
        ]

    def _is_client_tool(self, name: object) -> bool:
        return self.client_tools and isinstance(name, str) and name.startswith(BRIDGE_PREFIX)

    def _tool_results(self, obj: dict[str, Any]) -> list[pb.Event]:
        blocks = (obj.get("message") or {}).get("content") or []
        events = []
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                kind = "tool_error" if block.get("is_error") else "tool_result"
                detail = mask_secrets(str(block.get("content", "")))[:300]
                events.append(pb.Event(activity=pb.Activity(kind=kind, detail=detail)))
        return events

    def _assistant(self, obj: dict[str, Any]) -> list[pb.Event]:
        message = obj.get("message") or {}
        if obj.get("error"):
            self._error_category = str(obj["error"])
            return []  # the synthetic "API Error: ..." text is not content
        if message.get("id") in self._stream.streamed or message.get("model") == "<synthetic>":
            return []
        # Without partial deltas each assistant line carries one block: emit its text as is.
        if self.structured:
            return []
        message_id = str(message.get("id", ""))
        return [
            event
            for block in message.get("content") or []
            if isinstance(block, dict) and block.get("type") == "text" and block.get("text")
            for event in self._stream.message_text(message_id, str(block["text"]))
        ]

    def _rate_limit(self, info: dict[str, Any]) -> list[pb.Event]:
        """The account's windows (rate_limits.py); a plain rate limit reports none."""
        report = quota_report(info, self._now_ms() / 1000)
        if report is None:
            return []
        self._rate_limit_reset = report.resets_at
        return [pb.Event(rate_limit=report)]

    def _result(self, obj: dict[str, Any]) -> list[pb.Event]:
        self.result_seen = True
        self.result_clean = obj.get("subtype") == "success" and not obj.get("is_error")
        self.done = True
        # `result.usage` sums the whole CLI turn; a resumed run bills only its own messages.
        usage = self._stream.usage() if self.resumed else usage_of(obj.get("usage") or {})
        events = [pb.Event(usage=usage)]
        subtype = obj.get("subtype")
        if self.structured and not obj.get("is_error") and "structured_output" in obj:
            text = json.dumps(obj["structured_output"], ensure_ascii=False)
            events.insert(0, pb.Event(text=pb.TextDelta(text=text)))
            events.append(pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP)))
        elif self.structured and not obj.get("is_error"):
            events.append(no_json_answer(str(obj.get("result") or "")))
        elif (
            subtype == "error_max_turns"
            and not self.tools_allowed
            and not self.structured
            and not self.client_tools
        ):
            # The model tried a tool in plain chat; the CLI refused it and no command ran.
            detail = "no tools in cli mode"
            events.append(pb.Event(activity=pb.Activity(kind="tool_refused", detail=detail)))
            events.append(pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP)))
        elif subtype == "error_max_turns":
            # The agent used up its turns: what it said so far stands, cut short.
            events.append(pb.Event(finish=pb.Finish(reason=pb.FINISH_LENGTH)))
        elif obj.get("is_error"):
            events.append(self._error(obj))
        elif self._stream.stop_sequence:
            sequence = self._stream.stop_sequence
            finish = pb.Finish(reason=pb.FINISH_STOP_SEQUENCE, stop_sequence=sequence)
            events.append(pb.Event(finish=finish))
        else:
            reason = _STOP_REASONS.get(str(obj.get("stop_reason")), pb.FINISH_STOP)
            events.append(pb.Event(finish=pb.Finish(reason=reason)))
        return events

    def _error(self, obj: dict[str, Any]) -> pb.Event:
        if self._error_category == "max_output_tokens":
            return pb.Event(finish=pb.Finish(reason=pb.FINISH_LENGTH))
        return result_error(
            obj, self._error_category, self._rate_limit_reset, self._now_ms(), self._retry_delay_ms
        )

    def finish(self, returncode: int | None) -> list[pb.Event]:
        """Called once the CLI's stdout closed; an error if it never produced a result."""
        if self.done:
            return []
        detail = f"exit code {returncode}" if returncode is not None else "no exit code"
        if self.garbage_lines:
            detail += f", {self.garbage_lines} unparseable output lines"
        return [make_error(pb.WORKER_CRASHED, f"the Claude CLI ended without a result ({detail})")]


def _tool_detail(block: dict[str, Any]) -> str:
    arguments = json.dumps(block.get("input", {}), ensure_ascii=False)
    return mask_secrets(f"{block.get('name', '?')} {arguments}")[:300]
