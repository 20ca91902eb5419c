"""Pure builders of Responses API output from the neutral events: the `response` object and the
typed SSE events (response.created ... response.completed), each with its sequence_number.

One ResponseBuilder serves both deliveries: `add` folds an event into the output items and
returns the stream events it caused; a non-streaming answer ignores those and asks `response()`.
Thinking becomes a `reasoning` item with its text as the summary (never the signature). A call
of a client tool is a `function_call` item (with `namespace` for a namespace member) or, for a
custom (freeform) tool, a `custom_tool_call` item whose `input` is sent whole when the call is
complete (the model writes it as JSON; responses/tools.py)."""

from __future__ import annotations

import json
from typing import Any

from frontdoor.core.errors import ApiError
from frontdoor.responses.tools import ClientTool, custom_input, table
from protos import common_pb2 as pb

JSONDict = dict[str, Any]
_INCOMPLETE: dict[int, str] = {
    pb.FINISH_LENGTH: "max_output_tokens",
    pb.FINISH_CONTENT_FILTER: "content_filter",
}


def usage_json(usage: pb.Usage) -> JSONDict:
    """Cached input counts inside input_tokens, as OpenAI reports it."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + usage.output_tokens,
    }


class ResponseBuilder:
    """The output items of one response, built event by event."""

    def __init__(self, response_id: str, created: int, model: str, echo: JSONDict) -> None:
        self.response_id = response_id
        self.created = created
        self.model = model
        self.echo = echo  # request fields the response object repeats
        self.items: list[JSONDict] = []
        self.open: int | None = None  # output index of the item still being written
        self.calls: dict[int, int] = {}  # neutral tool_call index -> output index
        self.tools: dict[str, ClientTool] = table(echo.get("tools") or ())
        self.arguments: dict[int, str] = {}  # output index of a custom call -> its arguments
        self.usage: pb.Usage | None = None
        self.finish: int | None = None
        self.sequence = 0

    # -- the response object

    def response(self, status: str | None = None, error: JSONDict | None = None) -> JSONDict:
        if status is None:
            status = "incomplete" if self.finish in _INCOMPLETE else "completed"
        incomplete = (
            {"reason": _INCOMPLETE[self.finish]}
            if status == "incomplete" and self.finish in _INCOMPLETE
            else None
        )
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": error,
            "incomplete_details": incomplete,
            "model": self.model,
            "output": [dict(item) for item in self.items] if status != "in_progress" else [],
            "usage": usage_json(self.usage) if self.usage is not None else None,
            **self.echo,
        }

    # -- stream events

    def _event(self, kind: str, **fields: Any) -> JSONDict:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def opening(self) -> list[JSONDict]:
        snapshot = self.response("in_progress")
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def ending(self) -> JSONDict:
        """response.completed (or response.incomplete) with the whole response."""
        response = self.response()
        return self._event(f"response.{response['status']}", response=response)

    def failed(self, error: ApiError) -> list[JSONDict]:
        events = self.close()
        body = {"code": error.code or error.error_type, "message": error.message}
        return [*events, self._event("response.failed", response=self.response("failed", body))]

    def collect(self, event: pb.Event) -> None:
        """`add` for a non-streaming answer (no stream events wanted)."""
        self.add(event)

    def add(self, event: pb.Event) -> list[JSONDict]:
        kind = event.WhichOneof("kind")
        if kind == "text" and event.text.text:
            return self._text(event.text.text)
        if kind == "thinking" and event.thinking.text:
            return self._thinking(event.thinking.text)
        if kind == "tool_call":
            return self._tool_call(event.tool_call)
        if kind == "usage":
            self.usage = pb.Usage()
            self.usage.CopyFrom(event.usage)
        elif kind == "model_info":
            self.model = event.model_info.model or self.model
        elif kind == "finish":
            self.model = event.finish.model or self.model
            self.finish = event.finish.reason
            return self.close()
        return []

    def _start(self, item: JSONDict) -> tuple[int, list[JSONDict]]:
        events = self.close()
        self.items.append(item)
        index = len(self.items) - 1
        self.open = index
        added = self._event("response.output_item.added", output_index=index, item=dict(item))
        return index, [*events, added]

    def _current(self, kind: str) -> int | None:
        if self.open is not None and self.items[self.open]["type"] == kind:
            return self.open
        return None

    def _thinking(self, text: str) -> list[JSONDict]:
        events: list[JSONDict] = []
        index = self._current("reasoning")
        if index is None:
            item = {"id": f"rs_{self.response_id[5:]}_{len(self.items)}", "type": "reasoning"}
            index, events = self._start({**item, "summary": []})
            self.items[index]["summary"] = [{"type": "summary_text", "text": ""}]
            events.append(self._summary_event("part.added", index, part=_summary("")))
        self.items[index]["summary"][0]["text"] += text
        return [*events, self._summary_event("text.delta", index, delta=text)]

    def _summary_event(self, what: str, index: int, **fields: Any) -> JSONDict:
        return self._event(
            f"response.reasoning_summary_{what}",
            item_id=self.items[index]["id"],
            output_index=index,
            summary_index=0,
            **fields,
        )

    def _text(self, text: str) -> list[JSONDict]:
        events: list[JSONDict] = []
        index = self._current("message")
        if index is None:
            item = {
                "id": f"msg_{self.response_id[5:]}_{len(self.items)}",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            index, events = self._start(item)
            self.items[index]["content"] = [_output_text("")]
            events.append(self._part_event("content_part.added", index, part=_output_text("")))
        self.items[index]["content"][0]["text"] += text
        return [*events, self._part_event("output_text.delta", index, delta=text, logprobs=[])]

    def _part_event(self, kind: str, index: int, **fields: Any) -> JSONDict:
        return self._event(
            f"response.{kind}",
            item_id=self.items[index]["id"],
            output_index=index,
            content_index=0,
            **fields,
        )

    def _tool_call(self, delta: pb.ToolCallDelta) -> list[JSONDict]:
        events: list[JSONDict] = []
        if delta.id or delta.index not in self.calls:
            self.calls[delta.index], events = self._start(self._call_item(delta))
        index = self.calls[delta.index]
        if index in self.arguments:
            self.arguments[index] += delta.arguments_delta
        elif delta.arguments_delta:
            self.items[index]["arguments"] += delta.arguments_delta
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=self.items[index]["id"],
                    output_index=index,
                    delta=delta.arguments_delta,
                )
            )
        return events

    def _call_item(self, delta: pb.ToolCallDelta) -> JSONDict:
        tool = self.tools.get(delta.name)
        suffix = f"{self.response_id[5:]}_{len(self.items)}"
        if tool is not None and tool.kind == "custom":
            self.arguments[len(self.items)] = ""
            item = {"id": f"ctc_{suffix}", "type": "custom_tool_call", "call_id": delta.id}
            item |= {"name": tool.name, "input": "", "status": "in_progress"}
        else:
            item = {"id": f"fc_{suffix}", "type": "function_call", "call_id": delta.id}
            name = tool.name if tool is not None else delta.name
            item |= {"name": name, "arguments": "", "status": "in_progress"}
        if tool is not None and tool.namespace:
            item["namespace"] = tool.namespace
        return item

    def close(self) -> list[JSONDict]:
        """The .done events of the item still open."""
        if self.open is None:
            return []
        index, self.open = self.open, None
        item = self.items[index]
        if item["type"] == "reasoning":
            events = self._reasoning_done(item, index)
        elif item["type"] == "message":
            events = self._message_done(item, index)
        elif item["type"] == "custom_tool_call":
            events = self._custom_call_done(item, index)
        else:
            events = self._function_call_done(item, index)
        events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    def _reasoning_done(self, item: JSONDict, index: int) -> list[JSONDict]:
        text = item["summary"][0]["text"]
        return [
            self._summary_event("text.done", index, text=text),
            self._summary_event("part.done", index, part=_summary(text)),
        ]

    def _message_done(self, item: JSONDict, index: int) -> list[JSONDict]:
        text = item["content"][0]["text"]
        item["status"] = "completed"
        return [
            self._part_event("output_text.done", index, text=text, logprobs=[]),
            self._part_event("content_part.done", index, part=_output_text(text)),
        ]

    def _custom_call_done(self, item: JSONDict, index: int) -> list[JSONDict]:
        # The model wrote the input as JSON: the client gets it whole, as one delta (tools.py).
        item["input"] = custom_input(self.arguments[index])
        item["status"] = "completed"
        fields = {"item_id": item["id"], "output_index": index}
        events: list[JSONDict] = []
        if item["input"]:
            delta = self._event(
                "response.custom_tool_call_input.delta", **fields, delta=item["input"]
            )
            events.append(delta)
        events.append(
            self._event("response.custom_tool_call_input.done", **fields, input=item["input"])
        )
        return events

    def _function_call_done(self, item: JSONDict, index: int) -> list[JSONDict]:
        item["status"] = "completed"
        return [
            self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        ]


def _summary(text: str) -> JSONDict:
    return {"type": "summary_text", "text": text}


def _output_text(text: str) -> JSONDict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def sse_event(event: JSONDict) -> bytes:
    data = json.dumps(event, separators=(",", ":")).encode()
    kind = str(event["type"]).encode()
    return b"event: " + kind + b"\ndata: " + data + b"\n\n"


class ResponsesSse:
    """The Responses API's typed SSE (an SseWriter for core.streaming.stream_events)."""

    keepalive = b": keepalive\n\n"

    def __init__(self, builder: ResponseBuilder) -> None:
        self.builder = builder

    def note(self, event: pb.Event) -> None:
        if event.WhichOneof("kind") == "model_info":
            self.builder.model = event.model_info.model or self.builder.model

    def opening(self) -> bytes:
        return b"".join(sse_event(e) for e in self.builder.opening())

    def event(self, event: pb.Event) -> tuple[bytes, bool]:
        if event.WhichOneof("kind") == "error":
            failed = self.builder.failed(ApiError.from_event(event.error))
            return b"".join(sse_event(e) for e in failed), False
        return b"".join(sse_event(e) for e in self.builder.add(event)), True

    def closing(self, clean: bool) -> bytes:
        if not clean:
            return b""
        if self.builder.finish is None:
            lost = ApiError(502, "the worker ended without a result", "worker_error")
            return b"".join(sse_event(e) for e in self.builder.failed(lost))
        return sse_event(self.builder.ending())
