"""Pure: neutral ChatRequest -> Messages API keyword arguments; Anthropic stream -> events.

`build_call` turns a request into the keyword arguments of `client.messages.create` (api mode),
raising `UnsupportedRequest` (a 400 naming the field) for anything it cannot honour: nothing is
silently dropped. `StreamTranslator` turns the SDK's raw stream events into neutral events, and
`error_event` maps the SDK's exceptions onto the internal error codes. No I/O here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    TextBlock,
    TextDelta,
    ToolUseBlock,
)

from common.errors import make_error
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.cli_command import UnsupportedRequest
from workerd.stream_json import status_code

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "JSON_TOOL",
    "MODEL_IDS",
    "MessagesCall",
    "StreamTranslator",
    "UnsupportedRequest",
    "build_call",
    "error_event",
    "model_id",
]

# Family aliases -> the model the CLI would run for them (cli-protocol.md 5.1).
MODEL_IDS = {
    "sonnet": "claude-sonnet-5",
    "opus": "claude-opus-4-8",
    "haiku": "claude-haiku-4-5-20251001",
    "fable": "claude-fable-5",
}
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"
"""The tool forced for response_format json_object / json_schema; its input is the answer."""
JSON_TOOL_DESCRIPTION = (
    "Give your complete answer by calling this tool exactly once; its input is the answer, "
    "a JSON value that follows the input schema."
)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_CHOICES: dict[int, dict[str, str]] = {
    pb.TOOL_CHOICE_AUTO: {"type": "auto"},
    pb.TOOL_CHOICE_NONE: {"type": "none"},
    pb.TOOL_CHOICE_REQUIRED: {"type": "any"},
}
_STOP_REASONS = {
    "end_turn": pb.FINISH_STOP,
    "stop_sequence": pb.FINISH_STOP,
    "pause_turn": pb.FINISH_STOP,
    "max_tokens": pb.FINISH_LENGTH,
    "model_context_window_exceeded": pb.FINISH_LENGTH,
    "tool_use": pb.FINISH_TOOL_CALLS,
    "refusal": pb.FINISH_CONTENT_FILTER,
}
# An `error` event inside a 200 stream carries only its type: the status it stands for.
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class MessagesCall:
    """What to send: `client.messages.create(stream=True, **kwargs)`."""

    kwargs: JSONDict
    json_tool: str = ""
    """Set when the answer is the input of this forced tool (response_format)."""


def model_id(model: str) -> str:
    """Family alias -> full model id; full `claude-...` ids (and anything else) pass through."""
    return MODEL_IDS.get(model, model)


def build_call(request: pb.ChatRequest, *, fetch_remote_images: bool = False) -> MessagesCall:
    """The Messages API call for a request; UnsupportedRequest names what cannot be honoured."""
    system, messages = _conversation(request, fetch_remote_images)
    max_tokens = request.max_tokens if request.HasField("max_tokens") else DEFAULT_MAX_TOKENS
    if max_tokens < 1:
        raise UnsupportedRequest("max_tokens must be at least 1", "max_tokens")
    kwargs: JSONDict = {
        "model": model_id(request.model),
        "max_tokens": max_tokens,
        "messages": messages,
    }
    if system:
        kwargs["system"] = system
    if request.stop:
        kwargs["stop_sequences"] = list(request.stop)
    if request.user:
        kwargs["metadata"] = {"user_id": request.user}
    sampling = _sampling(request)
    if sampling:
        # This SDK no longer types the sampling knobs; the API still takes them in the body.
        kwargs["extra_body"] = sampling
    json_tool = ""
    if request.response_format != pb.RESPONSE_FORMAT_TEXT:
        kwargs.update(_json_answer(request))
        json_tool = JSON_TOOL
    else:
        tools = _tools(request)
        if tools:
            kwargs["tools"] = tools
        choice = _tool_choice(request, tools)
        if tools and request.HasField("parallel_tool_calls") and not request.parallel_tool_calls:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            kwargs["tool_choice"] = choice
    return MessagesCall(kwargs=kwargs, json_tool=json_tool)


def _sampling(request: pb.ChatRequest) -> JSONDict:
    sampling: JSONDict = {}
    if request.HasField("temperature"):
        if request.temperature > 1:
            raise UnsupportedRequest(
                "temperature above 1 is not available from Claude (its range is 0 to 1)",
                "temperature",
            )
        sampling["temperature"] = round(request.temperature, 4)
    if request.HasField("top_p"):
        sampling["top_p"] = round(request.top_p, 4)
    return sampling


# --- messages ------------------------------------------------------------------------------


def _conversation(request: pb.ChatRequest, fetch: bool) -> tuple[str, list[JSONDict]]:
    """System text, and user/assistant turns with consecutive same-role messages merged."""
    system: list[str] = []
    turns: list[JSONDict] = []
    for index, message in enumerate(request.messages):
        param = f"messages[{index}]"
        if message.role == pb.ROLE_SYSTEM:
            system.append(_system_text(message, param))
            continue
        if message.role == pb.ROLE_ASSISTANT:
            role, blocks = "assistant", _assistant_blocks(message, param)
        elif message.role == pb.ROLE_USER:
            role, blocks = "user", _user_blocks(message, param, fetch)
        elif message.role == pb.ROLE_TOOL:
            role, blocks = "user", _tool_blocks(message, param)
        else:
            raise UnsupportedRequest("message role is missing", f"{param}.role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not any(turn["role"] == "user" for turn in turns):
        raise UnsupportedRequest("the conversation needs at least one user message", "messages")
    return "\n\n".join(part for part in system if part), turns


def _system_text(message: pb.ChatMessage, param: str) -> str:
    parts = []
    for position, block in enumerate(message.content):
        if block.WhichOneof("kind") != "text":
            raise UnsupportedRequest(
                "system and developer messages can only hold text", f"{param}.content[{position}]"
            )
        parts.append(block.text)
    return "".join(parts)


def _user_blocks(message: pb.ChatMessage, param: str, fetch: bool) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for position, block in enumerate(message.content):
        kind = block.WhichOneof("kind")
        if kind == "text":
            if block.text:
                blocks.append({"type": "text", "text": block.text})
        elif kind == "image":
            blocks.append(_image(block.image, f"{param}.content[{position}]", fetch))
        else:
            raise UnsupportedRequest(f"a user message cannot carry a {kind} block", param)
    return blocks


def _image(image: pb.ImageBlock, param: str, fetch: bool) -> JSONDict:
    if image.url:
        if not fetch:
            raise UnsupportedRequest(
                "remote image URLs are not fetched by this deployment; send the image as a "
                "data: URL (or set FETCH_REMOTE_IMAGES=true on the proxy)",
                param,
            )
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    media_type = image.media_type.lower()
    if media_type not in IMAGE_TYPES:
        allowed = ", ".join(sorted(IMAGE_TYPES))
        raise UnsupportedRequest(f"image type {media_type!r} is not supported ({allowed})", param)
    if not image.data:
        raise UnsupportedRequest("the image is empty", param)
    data = base64.b64encode(image.data).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_blocks(message: pb.ChatMessage, param: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    calls = 0
    for block in message.content:
        kind = block.WhichOneof("kind")
        if kind == "text":
            if block.text:
                blocks.append({"type": "text", "text": block.text})
        elif kind == "tool_use":
            blocks.append(_tool_use(block.tool_use, f"{param}.tool_calls[{calls}]"))
            calls += 1
        else:
            raise UnsupportedRequest(f"an assistant message cannot carry a {kind} block", param)
    return blocks


def _tool_use(call: pb.ToolUseBlock, param: str) -> JSONDict:
    if not call.id or not call.name:
        raise UnsupportedRequest("a tool call needs an id and a function name", param)
    try:
        arguments = json.loads(call.arguments_json) if call.arguments_json.strip() else {}
    except json.JSONDecodeError as exc:
        raise UnsupportedRequest(
            f"tool call {call.id} arguments are not valid JSON ({exc.msg} at position {exc.pos})",
            f"{param}.function.arguments",
        ) from None
    if not isinstance(arguments, dict):
        raise UnsupportedRequest(
            f"tool call {call.id} arguments must be a JSON object", f"{param}.function.arguments"
        )
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def _tool_blocks(message: pb.ChatMessage, param: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for block in message.content:
        if block.WhichOneof("kind") != "tool_result":
            raise UnsupportedRequest("a tool message can only carry a tool result", param)
        result = block.tool_result
        if not result.tool_use_id:
            raise UnsupportedRequest("a tool message needs tool_call_id", f"{param}.tool_call_id")
        out: JSONDict = {"type": "tool_result", "tool_use_id": result.tool_use_id}
        if result.content:
            out["content"] = result.content
        if result.is_error:
            out["is_error"] = True
        blocks.append(out)
    return blocks


# --- tools and response formats -------------------------------------------------------------


def _tools(request: pb.ChatRequest) -> list[JSONDict]:
    tools: list[JSONDict] = []
    seen: set[str] = set()
    for index, spec in enumerate(request.tools):
        if spec.name in seen:
            raise UnsupportedRequest(
                f"tool {spec.name!r} is declared twice", f"tools[{index}].function.name"
            )
        seen.add(spec.name)
        schema = _object_schema(spec.parameters_json, f"tools[{index}].function.parameters")
        tool: JSONDict = {"name": spec.name, "input_schema": schema}
        if spec.description:
            tool["description"] = spec.description
        tools.append(tool)
    return tools


def _object_schema(raw: str, param: str) -> JSONDict:
    """A JSON schema whose root is an object, as the Messages API requires for tool input."""
    try:
        schema = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        raise UnsupportedRequest("the schema is not valid JSON", param) from None
    if not isinstance(schema, dict):
        raise UnsupportedRequest("the schema must be a JSON object", param)
    if schema.get("type", "object") != "object":
        raise UnsupportedRequest("Claude needs a schema whose root type is object", param)
    return {"type": "object", **schema}


def _tool_choice(request: pb.ChatRequest, tools: list[JSONDict]) -> JSONDict | None:
    choice = request.tool_choice
    if choice.mode == pb.TOOL_CHOICE_UNSPECIFIED:
        return None
    if not tools:
        if choice.mode in (pb.TOOL_CHOICE_AUTO, pb.TOOL_CHOICE_NONE):
            return None  # nothing to choose from: both mean "answer in text"
        raise UnsupportedRequest("tool_choice needs tools", "tool_choice")
    if choice.mode == pb.TOOL_CHOICE_NAMED:
        if not any(tool["name"] == choice.name for tool in tools):
            raise UnsupportedRequest(
                f"tool_choice names {choice.name!r}, which is not in tools", "tool_choice"
            )
        return {"type": "tool", "name": choice.name}
    if choice.mode not in _TOOL_CHOICES:
        raise UnsupportedRequest("unknown tool_choice", "tool_choice")
    return dict(_TOOL_CHOICES[choice.mode])


def _json_answer(request: pb.ChatRequest) -> JSONDict:
    """response_format as one forced tool whose input is the answer."""
    if request.tools:
        raise UnsupportedRequest(
            "response_format json_object/json_schema cannot be combined with tools in api mode",
            "response_format",
        )
    if request.tool_choice.mode in (pb.TOOL_CHOICE_REQUIRED, pb.TOOL_CHOICE_NAMED):
        raise UnsupportedRequest("tool_choice needs tools", "tool_choice")
    if request.response_format == pb.RESPONSE_FORMAT_JSON_SCHEMA:
        if not request.json_schema.strip():
            raise UnsupportedRequest("json_schema needs a schema", "response_format.json_schema")
        schema = _object_schema(request.json_schema, "response_format.json_schema")
    elif request.response_format == pb.RESPONSE_FORMAT_JSON_OBJECT:
        schema = {"type": "object"}
    else:
        raise UnsupportedRequest("unknown response_format", "response_format")
    tool = {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": schema}
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": JSON_TOOL}}


# --- stream -> events -----------------------------------------------------------------------


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
        self.complete = False
        self._started = False
        self._tool_calls = 0
        self._blocks: dict[int, _ToolBlock] = {}

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
        return []  # thinking, citations, server tools, unknown events: not part of the answer

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
        if not isinstance(block, ToolUseBlock):
            return []
        if self.json_tool and block.name == self.json_tool:
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
        if not text or self.json_tool:
            return []  # with a JSON answer the content is the tool input, never prose
        return [pb.Event(text=pb.TextDelta(text=text))]

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
        reason = _STOP_REASONS.get(self.stop_reason, pb.FINISH_STOP)
        if self.json_tool and reason == pb.FINISH_TOOL_CALLS:
            reason = pb.FINISH_STOP  # the forced tool's input is the answer
        finish = pb.Finish(reason=reason, model=self.model)
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
            status = _ERROR_TYPE_STATUS.get(kind, 500)
        detail = str(exc.api_message or kind or "no detail")
        text = mask_secrets(f"Anthropic API error {status} ({kind or 'error'}): {detail}", secrets)
        code = (
            pb.CONTEXT_TOO_LONG if "prompt is too long" in detail.lower() else status_code(status)
        )
        return make_error(
            code,
            text[:2000],
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
